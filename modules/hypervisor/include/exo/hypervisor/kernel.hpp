#pragma once
/// \file
/// The kernel: the part of a hypervisor that does not depend on its policies. It keeps the
/// actor table and every actor's capability table, delivers a message as one transaction
/// (ticks, rollback, failure reports), offers the host API (actors reach it through
/// exo::context, the host program through the functions below), loads and saves actors in
/// the state tree, and installs code.
///
/// exo::hypervisor (exo/hypervisor.hpp) holds a kernel together with a scheduler, which
/// decides the order of deliveries, and, when it logs its inputs, an ingress
/// (exo/hypervisor/ingress.hpp). Users name exo::hypervisor; the kernel's API is for the
/// parts composed with it.
///
/// Its source is one file per job: kernel.cpp (the actor table and the host's API),
/// delivery.cpp (delivery and transactions, the one path every message is sent by),
/// context.cpp (the host API actors call), persistence.cpp (the state tree), code.cpp
/// (installing code, types), descriptions.cpp (capabilities described for logs), ids.cpp.

#include <exo/container/context.hpp>
#include <exo/container/failure.hpp>
#include <exo/container/native.hpp>
#include <exo/container/registry.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/id.hpp>
#include <exo/hypervisor/detail/actor_table.hpp>
#include <exo/message/message.hpp>
#include <exo/port/cap_table.hpp>
#include <exo/store/state.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace exo {

/// How a hypervisor is set up.
struct config {
  /// Names the hypervisor; its id (the creator of root actors) is derived from it, so the
  /// same name gives the same actor ids.
  std::string name = "exo";
  /// Budget of a host send that names none.
  std::uint64_t default_budget = 1'000'000;
  /// Budget a failure report runs with in its receiver's on_failure.
  std::uint64_t failure_budget = 100'000;
  /// The container types code can be installed for (wasm and other plugins), and the native
  /// types known by name; not owned, must outlive the hypervisor. Without one the hypervisor
  /// has a registry of its own that knows only the native types registered with it.
  container_registry* containers = nullptr;
  /// What the hypervisor was booted from, recorded in the call log's init entry (e.g. an
  /// image's {hash, name, plugins}, see exo/boot/image.hpp); null for none. A verifier
  /// replays only into a hypervisor with the same value.
  value origin;
  /// The node this hypervisor is in a cluster (exo/cluster; valid_node_name): actors routed
  /// to other nodes are reached through outputs (output_observer::on_remote) and messages
  /// from them are taken with take_remote. Empty: a single node, with no routes.
  std::string node;
  /// The most ticks a message taken from another node may spend (a node names the budget
  /// of what it sends; this bounds what a peer can make this node run).
  std::uint64_t remote_budget = 1'000'000;
};

/// A message arriving at an egress: output to the host. Caps in `args` were moved into the
/// host's table; their handles are host handles.
struct egress_message {
  std::string_view egress;
  const id& sender;
  std::uint64_t ticks;
  std::uint64_t seq;
  arg_list& args;
};
using egress_sink = std::function<void(egress_message&)>;

/// One delivery, as the trace hook sees it.
struct delivery {
  const id& receiver;      ///< the actor (or the host's id for egress and host failures)
  std::uint32_t function;  ///< exported function index; failure_function for failure reports
  const id& sender;
  std::uint64_t ticks;
  std::uint64_t seq;
  bool ok;  ///< false if the message failed and was rolled back
};

/// Counters since construction.
struct kernel_stats {
  std::uint64_t delivered = 0;
  std::uint64_t failed = 0;
  std::uint64_t actors_created = 0;
  std::uint64_t egress = 0;
  /// Messages that left for actors on other nodes (output_observer::on_remote).
  std::uint64_t remote = 0;
  /// Ticks used by every delivery, summed (what each handler executed, within its budget).
  std::uint64_t ticks = 0;
};

/// Told what reaches the host, for whoever records a hypervisor's outputs (the ingress, which
/// logs them with the input that caused them).
class output_observer {
 public:
  /// `m` reached egress number `egress`, named `name`; the capabilities it carried are in
  /// the host's table already (its arguments hold host handles). `has_sink`: the egress has
  /// a sink, which gets the message (and its handles) next; without one, the handles are the
  /// observer's to drop.
  virtual void on_egress(std::uint32_t egress, std::string_view name, message& m, bool has_sink) = 0;
  /// A failure reached the host.
  virtual void on_host_failure(const failure& f) = 0;
  /// A message left for an actor on node `node` (kernel::add_route): `body` is what that
  /// node's kernel::take_remote takes (its format is described in remote.cpp); `index`
  /// numbers the messages to `node` from 1 (state: the count is in the tree), so that
  /// message i is envelope i of this node's stream to it (exo/cluster). The observer carries
  /// it there; without an observer the message fails as undeliverable.
  virtual void on_remote(std::string_view node, std::uint64_t index, value&& body) = 0;
  /// Delivery number `delivery` of the input (counted from 0 at set_input) ended in a fault
  /// (errc::fault: a stop that is not deterministic), run or injected.
  virtual void on_fault(std::uint64_t delivery, const error& e) {
    (void)delivery;
    (void)e;
  }

 protected:
  ~output_observer() = default;
};

/// The key under which `actor`'s storage keeps `key` in the state tree (for proofs).
bytes storage_key(const id& actor, byte_view key);
/// The key of an actor's record (type, code hash, clock, counters, saved state) in the state tree.
bytes record_key(const id& actor);
/// The id of the n-th actor created by `creator`: SHA-256 of the canonical encoding of the
/// list [creator id as bytes, n as i64] (DESIGN.md section 2).
id derive_actor_id(const id& creator, std::uint64_t nonce) noexcept;
/// The id of a hypervisor named `name` (config::name): the creator of its root actors.
id hypervisor_id(std::string_view name);

class kernel_context;
class kernel;

namespace detail {
class window_runner;

/// One message of a parallel window (exo/scheduler/parallel.hpp), and what its delivery did
/// that the host must hear of in the serial order: the window reports them after it has run.
struct window_entry {
  message msg;
  std::uint64_t ordinal = 0;  ///< its place among the input's deliveries
  message_batch out;          ///< what it sent: one sender's sends, in key order
  std::vector<std::pair<log_level, std::string>> logs;
  std::optional<error> fault;
  bool ok = false;
  bool deferred = false;  ///< it needed the kernel's tables: it runs again after the window
};

/// What deliveries change outside their receivers' records, kept apart so that deliveries to
/// different actors can run at once, each thread in a lane of its own. The kernel's own lane
/// serves the serial loop and the host.
struct lane {
  message_batch outbox;  ///< the running transaction's sends (and the host's between deliveries)
  cap_journal journal;
  std::vector<std::uint32_t> created;  ///< actors created by the running message
  /// Storage writes of the running message: (tree key, value before), to undo on failure.
  std::vector<std::pair<bytes, std::optional<bytes>>> storage_undo;
  std::vector<std::uint32_t> dirty;  ///< slots with dirty set
  kernel_stats stats;
  /// The window entry being delivered: its reports are kept in it instead of told at once.
  window_entry* entry = nullptr;
  /// Other lanes run at the same time: what needs the kernel's tables (creating actors,
  /// loading one, compiling code) is not done here but deferred, and storage is locked.
  bool shared = false;
  bool defer = false;  ///< the running message asked for what a shared lane defers
};
}  // namespace detail

class kernel {
 public:
  /// A kernel over `state` (which must outlive it); resume() reads what `state` holds.
  kernel(config cfg, state_tree& state);
  ~kernel();
  kernel(const kernel&) = delete;
  kernel& operator=(const kernel&) = delete;

  /// Reads the host's clock and counters from the state (actors are read when first needed).
  /// A state written by a hypervisor of another name, or a damaged host record, is an error.
  expected<void> resume();

  /// The hypervisor's own id: the sender of host messages and creator of root actors.
  const id& host_id() const noexcept { return actors_[0].self; }
  /// The host's clock: the ticks of the latest delivery.
  std::uint64_t now() const noexcept { return actors_[0].clock; }
  const config& settings() const noexcept { return cfg_; }
  const kernel_stats& stats() const noexcept { return main_.stats; }
  /// The container registry: config::containers, or the kernel's own.
  container_registry& containers() noexcept { return *containers_; }

  // ---- the host: it holds capabilities in a table of its own, like an actor ----

  /// Creates a root actor of `type` owning `state`; returns an actor capability (all rights)
  /// in the host's table.
  cap_handle create(const actor_type& type, void* state);
  template <native_actor T>
  cap_handle create(T state) {
    return create(native_type<T>(), new T(std::move(state)));
  }
  /// Installs `code` for the container named `container` (see install) and creates a root
  /// actor running it. Code that does not compile or instantiate is an error, and nothing of
  /// it remains.
  expected<cap_handle> create_code(std::string_view container, byte_view code);
  /// Creates a root actor of a known type from its saved state (what a log's "create" entry
  /// records). Unknown code or state that does not load is an error.
  expected<cap_handle> create_saved(const digest& code, value state);
  /// The saved state of an actor (null for types that cannot save theirs).
  expected<value> saved_state(const id& a);
  /// Registers a native type with the container registry's native container (so actors of
  /// it load by code hash, and code can create them by name) and declares it in type_list().
  void register_type(const actor_type& type);
  template <native_actor T>
  void register_type() {
    register_type(native_type<T>());
  }
  /// Creates an egress: messages sent through it reach `sink` at their turn in the schedule.
  cap_handle create_egress(std::string name, egress_sink sink, rights r = rights::call | rights::transfer);
  /// A function capability for an exported function of the actor `actor` names.
  expected<cap_handle> function_cap(cap_handle actor, std::string_view function, rights keep = rights::all);
  /// The host is the root of authority: a function capability for any actor by id.
  expected<cap_handle> lookup(const id& actor, std::string_view function, rights keep = rights::all);
  /// The same for the whole actor: an actor capability (to one of another node's, through its
  /// route: add_route).
  expected<cap_handle> actor_cap(const id& actor, rights keep = rights::all);
  /// Narrows a host capability's rights (needs the derive right).
  expected<cap_handle> derive(cap_handle from, rights keep);
  /// Removes a capability from the host's table.
  expected<void> drop(cap_handle h) { return actors_[0].caps.drop(h); }
  /// What a host handle names.
  expected<capability> inspect(cap_handle h) const { return actors_[0].caps.lookup(h); }
  /// The id of the actor a host capability names.
  expected<id> actor_id(cap_handle h) const;
  /// Sends from the host. Caps in args are host handles (transfer right needed).
  expected<void> send(cap_handle target, arg_list&& args, const send_options& opts = {});
  /// Sends arguments given in the canonical encoding (a list); malformed input is an error
  /// here, before anything is queued.
  expected<void> send_encoded(cap_handle target, byte_view encoded_args, const send_options& opts = {});
  /// The sequence number the host's next send gets.
  std::uint64_t next_host_seq() const noexcept { return actors_[0].seq; }

  /// The logged input that the messages about to run serve (context::caller and
  /// context::entropy): who made it (nullopt: anonymous) and a seed from its place in the
  /// log. The ingress sets it for each input and clears it after; a kernel without a log
  /// has none (no caller, a zero seed).
  /// `faults`: deliveries of the input (by number, from 0) that faulted when it was logged;
  /// a replay gives them the same fault (their budget spent) instead of running them.
  /// `replay`: the input is a logged one run again (a verifier's or a recovery's), so every
  /// delivery that runs finished when it was logged (context::replaying).
  struct input_info {
    std::optional<public_key> caller;
    digest seed{};
    std::vector<std::pair<std::uint64_t, error>> faults;
    bool replay = false;
  };
  void set_input(input_info in) noexcept {
    input_ = std::move(in);
    input_deliveries_ = 0;
  }

  /// Reports of failed host messages (and failures nobody else handles). Without a hook they
  /// are kept in failures().
  void on_failure(std::function<void(const failure&)> hook) { failure_hook_ = std::move(hook); }
  const std::vector<failure>& failures() const noexcept { return failures_; }
  /// Called after every delivery (for traces and tests).
  void on_deliver(std::function<void(const delivery&)> hook) { deliver_hook_ = std::move(hook); }
  /// Lines actors write for the operator, with their level (context::log, exo_host_api::log
  /// and log_at); dropped without a hook. Not state: a hook changes no root.
  void on_log(std::function<void(const id& actor, log_level level, std::string_view text)> hook) {
    log_hook_ = std::move(hook);
  }
  /// Tells `o` (nullptr: nobody) what reaches the host. An observer records the outputs, so
  /// an egress without a sink is no failure while one is set.
  void observe(output_observer* o) noexcept { observer_ = o; }

  // ---- inspection: actors still in the store are loaded as they are asked for ----

  /// Actors loaded in memory (a resumed hypervisor loads actors as they are needed).
  std::size_t actor_count() const noexcept { return loaded_; }
  bool contains(const id& a) { return resolve(a).has_value(); }
  expected<std::uint64_t> clock_of(const id& a);
  /// The native state of an actor, if it exists and is of type T.
  template <native_actor T>
  const T* state_of(const id& a) {
    auto slot = resolve(a);
    if (!slot || *slot == 0 || actors_[*slot].type != &native_type<T>()) return nullptr;
    return static_cast<const T*>(actors_[*slot].state);
  }
  /// The type (name and code hash) of an actor.
  expected<const actor_type*> type_of(const id& a);
  /// Live capabilities in an actor's table.
  expected<std::size_t> cap_count(const id& a);

  // ---- capabilities described without host handles (descriptions.cpp) ----

  /// A description of what a host capability names that does not depend on host handles,
  /// so that a log can name it and a replay can make it again: a map {cap: "actor" |
  /// "function" | "egress", rights, and actor (id bytes) and function (name), or egress
  /// (name)}.
  expected<value> describe_cap(cap_handle h);
  /// The host capability a description names, added to the host's table. The host is the
  /// root of authority, so any actor, function or egress may be named; a description that
  /// is malformed or names nothing is an error.
  expected<cap_handle> materialize_cap(const value& description);
  /// `v` with every capability (a host handle) replaced by cap #i, where i indexes the
  /// description appended to `caps`.
  expected<value> describe_caps(const value& v, value::list& caps);
  /// The reverse: `v` with every cap #i replaced by a host capability made from caps[i];
  /// the handles made are appended to `made` (for the caller to drop).
  expected<value> materialize_caps(const value& v, const value::list& caps, std::vector<cap_handle>& made);
  /// Drops every capability in `v` (host handles) from the host's table and numbers them in
  /// place, the i-th one met becoming cap #i: the form the log records a result in (the
  /// order describe_caps gives them). Returns how many there were.
  std::size_t release_caps(value& v);

  // ---- several nodes (remote.cpp; exo/cluster carries the messages) ----

  /// Routes the actor `a` to node `node`: messages to it become outputs (on_remote).
  /// `functions`: its exported functions' names, if known (so that function capabilities
  /// can be derived from an actor capability by name, and logs can name them). A route is
  /// state (in the tree). An actor of this node, the host, a route to another node, or a
  /// node name that is not valid is an error; the same route again adds the names it lacks.
  expected<void> add_route(const id& a, std::string_view node, std::vector<std::string> functions = {});
  /// The host gives node `node` the capability `h` (to an actor of this node): messages
  /// from `node` may then use it, as if it had crossed in a message (the boot layer gives
  /// what an image's placement hands over). State, like every export.
  expected<void> grant(cap_handle h, std::string_view node);
  /// The node an actor is routed to (nullopt: not routed, i.e. here or unknown).
  std::optional<std::string> route_of(const id& a);
  /// Takes a message that node `from` sent (the body its kernel gave on_remote) and queues
  /// it, from the remote sender, for its receiver here. Checked before anything is queued:
  /// the receiver is an actor of this node and the function exists; the sender is an actor
  /// of `from`; every capability it carries names an actor of `from` or one of this node's
  /// that this node gave `from` (with at least those rights), so a node cannot mint a
  /// capability it was never given. A message refused is an error and, where its origin can
  /// be told, a failure report goes back to it. Queued in the outbox (hand_over next; one
  /// message per batch, since each has a sender of its own).
  expected<void> take_remote(std::string_view from, const value& body);
  /// How many messages this node sent node `node` (the index of the last one; 0: none).
  expected<std::uint64_t> sent_to(std::string_view node);
  /// Settles what this node sent node `node`: every message up to `confirmed` was taken
  /// there (the peer's signed receipt says so, see ingress::settle), and every one after it up
  /// to `expired` was not confirmed within the bound. Each message sent with an origin here
  /// to tell keeps a record until it is settled; settling one past `confirmed` sends its
  /// origin a failure report, errc::unreachable (its outcome is unknown: the peer may still
  /// take it). Each message is settled once: what was settled before is skipped. More than
  /// was sent is an error. Returns how many origins were told.
  expected<std::uint64_t> settle_remote(std::string_view node, std::uint64_t confirmed, std::uint64_t expired);

  // ---- state: actors, their capability tables and storage live in the state tree ----

  /// The root of the state tree: every actor's record, capability table and storage, and the
  /// host's counters. Messages not yet delivered are not part of it.
  expected<digest> state_root();
  /// Writes what changed since the last commit to the state tree, then commits the tree with
  /// `meta` (the hypervisor checks that no message is in flight first).
  expected<digest> commit(commit_meta meta);
  /// Goes back to an earlier committed root: every actor is unloaded and reloaded from there
  /// when next needed; the host's capabilities keep naming the same actor ids.
  expected<void> reset_state(const digest& root);
  /// The state tree, read-only.
  const state_tree& state() const noexcept { return *state_; }

  // ---- code: actors of plugin containers (wasm, ...) run code installed here ----

  /// Compiles `code` with the container named `container` and keeps it in the state tree (so
  /// a resumed hypervisor can load its actors); returns its code hash. Installing code again
  /// is harmless. Code that does not compile is an error saying why, and nothing changes.
  /// `added` (optional) is set if the code was new here.
  expected<digest> install(std::string_view container, byte_view code, bool* added = nullptr);
  /// The type of installed or registered code, compiling stored code when first needed.
  expected<const actor_type*> type_for(const digest& code);
  /// Points the actor `a` at the code `code` (installed or registered), keeping everything
  /// else of it: id, storage, clock, counters and capabilities; its in-memory state passes
  /// through the old type's save and the new type's load (compiled code keeps its state in
  /// storage, so a new instance starts). Capabilities name functions by position, so the new
  /// code must export every function of the old at the same position (it may add functions
  /// after them). Not during a delivery. Errors: an actor that does not exist, a type that
  /// cannot save or load, exports that moved, a state the new type does not load; nothing
  /// changes then.
  expected<void> replace_code(const id& a, const digest& code);
  /// The types registered with this kernel, as [{name, code}] sorted by name, then code: what
  /// a call log's init entry declares.
  value type_list() const;

  // ---- delivery, for the scheduler loop (delivery.cpp) ----

  /// Runs one message to completion (commit or rollback). What it sends waits in the outbox
  /// until hand_over().
  void deliver(message& m) { deliver<false>(m, main_); }
  /// Hands what was sent since the last hand-over to scheduler `s`: the latest transaction's
  /// batch (and the host's sends between deliveries), then the host's sends made during
  /// deliveries, kept apart so that each batch stays one sender's sorted sends.
  template <class Scheduler>
  void hand_over(Scheduler& s) {
    if (!main_.outbox.empty()) s.push(main_.outbox);  // it comes back empty, to fill next
    if (!host_outbox_.empty()) s.push(host_outbox_);
  }
  /// Messages sent and not handed over yet.
  std::size_t unscheduled() const noexcept { return main_.outbox.size() + host_outbox_.size(); }

 private:
  friend class kernel_context;
  friend class detail::window_runner;
  using actor = detail::actor;
  static constexpr std::uint32_t npos = detail::id_index::npos;
  /// What a failure report's on_failure costs: at least a tick, so report chains end.
  static constexpr std::uint64_t failure_cost = 1;

  std::uint32_t find(const id& a) const noexcept { return index_.find(a, actors_); }
  cap_handle host_insert(const capability& c);
  // The slot of an actor the host names by id (a route for one of another node's), not slot 0.
  expected<std::uint32_t> host_named(const id& a);
  std::uint32_t add_actor(const id& creator, std::uint64_t nonce, const actor_type& type, void* state,
                          std::uint64_t clock);
  void remove_created(std::uint32_t slot) noexcept;
  void mark_dirty(std::uint32_t slot, detail::lane& l) { mark_dirty(actors_[slot], slot, l); }
  void mark_dirty(actor& a, std::uint32_t slot, detail::lane& l) {  // a is actors_[slot]
    if (!a.dirty) {
      a.dirty = true;
      l.dirty.push_back(slot);
    }
  }
  std::uint32_t egress_named(std::string_view name);
  expected<std::uint32_t> function_index(std::uint32_t slot, std::string_view function);
  void discard_code(const digest& code);

  // Delivery (delivery.cpp; post is inline, in src/post.hpp: it is on every send's path).
  [[gnu::always_inline]] inline expected<void> post(message_batch& out, actor& sender, std::uint64_t ticks,
                                                    const capability& target, const capability& reply,
                                                    std::uint32_t origin, std::uint64_t budget, arg_list&& args);
  expected<void> export_caps(actor& from, message& m);
  expected<void> import_caps(actor& to, message& m, cap_journal* j);
  // In the serial loop (Window false: the kernel's lane) or in a window's lane (delivery.cpp).
  template <bool Window>
  void deliver(message& m, detail::lane& l);
  // Inline: both deliveries (serial and window) run it once per message.
  [[gnu::always_inline]] inline expected<void> run_handler(kernel_context& ctx, actor& a, message& m, invoke_fn invoke,
                                                           std::uint64_t cost, cap_journal& j);
  [[gnu::noinline]] bool load_for_delivery(message& m, std::uint32_t slot);  // the cold path of deliver
  [[gnu::noinline, gnu::cold]] void roll_back(message& m, std::uint32_t slot, detail::lane& l, std::size_t saved_outbox,
                                              std::uint64_t saved_nonce, std::uint64_t saved_seq, bool tell, error&& e);
  [[gnu::noinline]] expected<void> injected_fault(std::uint64_t ordinal, kernel_context& ctx, actor& a, message& m,
                                                  invoke_fn invoke, std::uint64_t cost, cap_journal& j);
  void deliver_egress(message& m);
  // Several nodes (remote.cpp): a message to an actor routed elsewhere, made an output.
  struct remote_actor {
    std::string node;
    std::vector<std::string> functions;  // names, if known
  };
  const remote_actor* remote_of(std::uint32_t slot);
  [[gnu::noinline, gnu::cold]] void deliver_remote(message& m, std::uint32_t slot, std::string node);
  void report_from_host(std::uint32_t origin, failure&& f, std::uint64_t budget);
  expected<value> describe_remote(const capability& c);
  expected<capability> import_remote(const value& d, std::string_view from);
  expected<void> take_handoff(std::string_view from, const value& handoff, std::size_t fields);
  // The slot of this node's actor `aid` if node `from` was given the capability `c` to it with
  // the rights `need`; else an error saying that `from` `act` (passed, handed on) it, then `why`.
  expected<std::uint32_t> held_by(const id& aid, const capability& c, std::string_view from, rights need,
                                  std::string_view act, std::string_view why);
  expected<void> note_export(std::uint32_t slot, std::uint32_t function, std::string_view node, rights r);
  expected<bool> exported(std::uint32_t slot, std::uint32_t function, std::string_view node, rights r);
  expected<std::uint32_t> remote_slot(const id& a, std::string_view node);
  void deliver_host_failure(message& m);
  void host_failure(failure&& f);
  void report(std::uint32_t origin, std::uint32_t slot, const message& m, std::string_view function, error e,
              detail::lane& l);
  void notify(const id& receiver, std::uint32_t function, const message& m, bool ok);
  // Undoes a deferred delivery in a shared lane (delivery.cpp).
  void undo_deferred(std::uint32_t slot, std::uint64_t clock, std::uint64_t nonce, std::uint64_t seq,
                     std::size_t outbox, detail::lane& l);

  // Parallel windows (window.cpp): a lower bound on the ticks of whatever delivering `m`
  // sends, or nullopt if `m` must run alone, in the serial loop; it loads m's receiver.
  // (Inline in window.cpp, its only user: the loop asks it once per window.)
  [[gnu::always_inline]] inline std::optional<std::uint64_t> horizon(message& m);
  // What a window's deliveries did, told to the host in their order; then the lanes' counts
  // and dirty slots join the kernel's.
  void report_entry(detail::window_entry& e);
  void join(detail::lane& l);

  // The state tree (persistence.cpp).
  expected<std::uint32_t> resolve(const id& a);  // the slot of an actor, loading it if needed
  expected<std::uint32_t> resolve_or_route(const id& a);  // resolve, or an actor routed to another node (remote.cpp)
  std::uint32_t stub_for(const id& a);           // a slot for an id, loaded later
  expected<void> load(std::uint32_t slot);
  expected<void> write_back();                   // dirty actors and the host into the tree
  value save_caps(const cap_table& t) const;
  expected<cap_table> load_caps(value&& v);
  void undo_storage(detail::lane& l) noexcept;

  config cfg_;
  std::unique_ptr<container_registry> own_containers_;  // when config::containers is null
  container_registry* containers_;
  detail::actor_table actors_;  // slot 0 is the host
  detail::id_index index_;
  struct egress_rec {
    std::string name;
    egress_sink sink;
  };
  std::deque<egress_rec> egress_;  // stable: a sink may create egresses while it runs
  state_tree* state_;
  /// Types by code hash: compiled code this kernel owns, and native types it has met.
  std::unordered_map<digest, const actor_type*> types_;
  std::unordered_map<digest, code_ptr> codes_;
  std::vector<const actor_type*> declared_;  // register_type's, for type_list()
  const actor_type* last_type_ = nullptr;    // the last one added to types_
  /// The serial loop's and the host's lane: its outbox holds the messages sent and not
  /// handed to the scheduler yet (the running transaction's, and the host's between
  /// deliveries); host_outbox_ the host's made during a delivery.
  detail::lane main_;
  message_batch host_outbox_;
  bool delivering_ = false;
  bool reporting_ = false;  // a parallel window's deliveries are being reported to the hooks
  std::mutex storage_mu_;   // the state tree, while shared lanes run
  std::size_t loaded_ = 0;
  // Set if undoing a failed message's storage writes failed (a damaged store): the tree no
  // longer matches the actors, so writing back and committing refuse from then on.
  std::optional<error> broken_;
  std::vector<failure> failures_;
  std::function<void(const failure&)> failure_hook_;
  std::function<void(const delivery&)> deliver_hook_;
  std::function<void(const id&, log_level, std::string_view)> log_hook_;
  output_observer* observer_ = nullptr;
  std::unordered_map<std::uint32_t, remote_actor> remote_;  // routed actors met so far, by slot
  input_info input_;
  std::uint64_t input_deliveries_ = 0;  // deliveries to actors since set_input
};

}  // namespace exo
