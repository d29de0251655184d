#pragma once
/// \file
/// The kernel: the part of a hypervisor that does not depend on its policies — the actor
/// table, capability tables, transactions, ticks, failure reports and the host API.
/// exo::hypervisor<Scheduler, ...> (include/exo/hypervisor.hpp) adds a scheduler and the
/// delivery loop. Users normally name only exo::hypervisor.

#include <exo/container/context.hpp>
#include <exo/container/failure.hpp>
#include <exo/container/native.hpp>
#include <exo/container/registry.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/id.hpp>
#include <exo/message/message.hpp>
#include <exo/port/cap_table.hpp>
#include <exo/store/state.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <functional>
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
  /// The container types code can be installed for (wasm and other plugins); not owned,
  /// must outlive the hypervisor. Without one only native types registered with
  /// register_type<T>() can run.
  container_registry* containers = nullptr;
  /// What the hypervisor was booted from, recorded in the call log's init entry (e.g. an
  /// image's {hash, name, plugins}, see exo/boot/image.hpp); null for none. A verifier
  /// replays only into a hypervisor with the same value.
  value origin;
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
  const id& receiver;  ///< the actor (or the host's id for egress and host failures)
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
  /// Ticks used by every delivery, summed (what each handler executed, within its budget).
  std::uint64_t ticks = 0;
};

class kernel_context;

class kernel {
 public:
  /// A kernel over `state` (which must outlive it). It resumes from what `state` holds: the
  /// host's clock and counters are read now, actors when first needed. `durable` kernels
  /// refuse actor types whose state cannot be saved. A state written by a hypervisor of
  /// another name, or a damaged host record, throws std::runtime_error.
  kernel(config cfg, state_store& state, bool durable);
  ~kernel();
  kernel(const kernel&) = delete;
  kernel& operator=(const kernel&) = delete;

  /// The hypervisor's own id: the sender of host messages and creator of root actors.
  const id& host_id() const noexcept { return actors_[0].self; }
  /// The host's clock: the ticks of the latest delivery.
  std::uint64_t now() const noexcept { return actors_[0].clock; }
  const config& settings() const noexcept { return cfg_; }
  const kernel_stats& stats() const noexcept { return stats_; }

  // ---- host API: the host holds capabilities in a table of its own, like an actor ----

  /// Creates a root actor of native type T; returns an actor capability (all rights) in the
  /// host's table.
  template <native_actor T>
  cap_handle create(T state) {
    return create_root(native_type<T>(), new T(std::move(state)));
  }
  /// Makes actors of type T loadable from the store (creating one registers its type too).
  /// A resumed hypervisor must register every type its stored actors have.
  template <native_actor T>
  void register_type() {
    register_type(native_type<T>());
  }
  void register_type(const actor_type& type);
  /// Creates an egress: messages sent through it reach `sink` at their turn in the schedule.
  cap_handle create_egress(std::string name, egress_sink sink, rights r = rights::call | rights::transfer);
  /// A function capability for an exported function of the actor `actor` names.
  expected<cap_handle> function_cap(cap_handle actor, std::string_view function, rights keep = rights::all);
  /// The host is the root of authority: a function capability for any actor by id.
  expected<cap_handle> lookup(const id& actor, std::string_view function, rights keep = rights::all);
  /// Narrows a host capability's rights (needs the derive right).
  expected<cap_handle> derive(cap_handle from, rights keep);
  /// Removes a capability from the host's table.
  expected<void> drop(cap_handle h) { return actors_[0].caps.drop(h); }
  /// What a host handle names.
  expected<capability> inspect(cap_handle h) const { return actors_[0].caps.lookup(h); }
  /// The id of the actor a host capability names.
  expected<id> actor_id(cap_handle h) const;

  // ---- state: actors, their capability tables and storage live in the state tree ----

  /// The root of the state tree: every actor's metadata (type, code hash, clock, counters,
  /// saved state), capability table and storage, and the host's counters. Messages not yet
  /// delivered are not part of it. Depends only on the content (DESIGN.md section 5).
  expected<digest> state_root();
  /// The key under which `actor`'s storage keeps `key` in the state tree (for proofs).
  static bytes storage_key(const id& actor, byte_view key);
  /// The key of an actor's metadata record in the state tree.
  static bytes meta_key(const id& actor);
  /// The state tree, read-only (for proofs, iteration and diffs through the hypervisor's tree()).
  const state_store& state() const noexcept { return *store_; }

  /// Sends from the host. Caps in args are host handles (transfer right needed).
  expected<void> send(cap_handle target, arg_list args, const send_options& opts = {});
  template <class... A>
  expected<void> call(cap_handle target, A&&... a) {
    return send(target, context::make_args(std::forward<A>(a)...));
  }
  /// Sends arguments given in the canonical encoding (a list); malformed input is an error
  /// here, before anything is queued.
  expected<void> send_encoded(cap_handle target, byte_view encoded_args, const send_options& opts = {});

  /// Reports of failed host messages (and failures nobody else handles). Without a hook they
  /// are kept in failures().
  void on_failure(std::function<void(const failure&)> hook) { failure_hook_ = std::move(hook); }
  const std::vector<failure>& failures() const noexcept { return failures_; }
  /// Called after every delivery (for traces and tests).
  void on_deliver(std::function<void(const delivery&)> hook) { deliver_hook_ = std::move(hook); }

  // ---- inspection (actors still in the store are loaded on demand) ----
  /// Actors loaded in memory (a resumed hypervisor loads actors as they are needed).
  std::size_t actor_count() const noexcept { return loaded_; }
  bool contains(const id& a) const noexcept { return const_cast<kernel*>(this)->resolve(a).has_value(); }
  expected<std::uint64_t> clock_of(const id& a) const;
  /// The native state of an actor, if it exists and is of type T.
  template <native_actor T>
  const T* state_of(const id& a) const {
    auto slot = const_cast<kernel*>(this)->resolve(a);
    if (!slot || *slot == 0 || actors_[*slot].type != &native_type<T>()) return nullptr;
    return static_cast<const T*>(actors_[*slot].state);
  }
  /// The type name and code hash of an actor.
  expected<const actor_type*> type_of(const id& a) const;
  /// Live capabilities in an actor's table.
  expected<std::size_t> cap_count(const id& a) const;

  // ---- inputs from outside, as the call log records them ----

  /// A description of what a host capability names that does not depend on host handles,
  /// so that a log can name it and a replay can make it again: a map {kind: "actor" |
  /// "function" | "egress", rights, and actor (id bytes) and function (name), or egress
  /// (name)}.
  expected<value> describe_cap(cap_handle h) const;
  /// The host capability a description names, added to the host's table. The host is the
  /// root of authority, so any actor, function or egress may be named; a description that
  /// is malformed or names nothing is an error.
  expected<cap_handle> materialize_cap(const value& description);
  /// `v` with every capability (a host handle) replaced by cap #i, where i indexes the
  /// description appended to `caps`. Logs store values this way: unambiguous, and free of
  /// host handles.
  expected<value> describe_caps(const value& v, value::list& caps) const;
  /// The reverse: `v` with every cap #i replaced by a host capability made from caps[i];
  /// the handles made are appended to `made` (for the caller to drop).
  expected<value> materialize_caps(const value& v, const value::list& caps, std::vector<cap_handle>& made);
  /// Creates a root actor of a registered type from its saved state (what a log's "create"
  /// entry records). Unknown code or state that does not load is an error.
  expected<cap_handle> create_saved(const digest& code, value state);
  /// The saved state of an actor of type `type` (for a log's "create" entry); null for
  /// types that cannot save their state.
  static value saved_state(const actor_type& type, const void* state);
  /// The types this hypervisor can load, as [{name, code}] sorted by name, then code.
  value type_list() const;

  // ---- code: actors of plugin containers (wasm, ...) run code installed here ----

  /// Compiles `code` with the container named `container` (from config::containers) and
  /// keeps it in the state tree (so a resumed hypervisor can load its actors); returns its
  /// code hash. Installing code again is harmless. Code that does not compile is an error
  /// saying why, and nothing changes.
  /// `added` (optional) is set if the code was new here.
  expected<digest> install(std::string_view container, byte_view code, bool* added = nullptr);
  /// The type of installed or registered code, compiling stored code when first needed.
  expected<const actor_type*> type_for(const digest& code);
  /// Lines actors write to the hypervisor's log (exo_host_api::log); dropped without a hook.
  void on_log(std::function<void(const id& actor, std::string_view text)> hook) { log_hook_ = std::move(hook); }

 protected:
  /// Runs one message to completion (commit or rollback). Its sends are left in outbox_.
  void deliver(message& m);
  /// Messages committed but not yet handed to the scheduler: the running transaction's (and
  /// the host's between deliveries), and the host's made during a delivery, kept apart so
  /// that each batch stays one sender's sorted sends.
  message_batch outbox_;
  message_batch host_outbox_;
  bool delivering_ = false;
  /// Writes what changed since the last flush into the state tree, then commits the tree
  /// with `meta` (the hypervisor checks it is idle first).
  expected<digest> commit_state(commit_meta meta);
  /// Goes back to an earlier committed root: every actor is unloaded and reloaded from
  /// there when next needed; the host's capabilities keep naming the same actor ids.
  expected<void> reset_state(const digest& root);
  /// What one input from outside produced, collected while it runs (see hypervisor::invoke).
  struct call_capture {
    std::uint32_t reply_egress = 0;  // the egress that receives the called function's result
    std::uint64_t seq = 0;           // the host's sequence number of the call's message
    value result;                    // as logged: caps are cap #i of result_caps
    value::list result_caps;         // descriptions of the caps in result
    value host_result;               // the same result with caps as host handles
    std::optional<failure> error;    // the call's own failure
    value::list outputs;             // egress deliveries and other failures reaching the host
  };
  /// Forgets code installed by a create that then failed (its record and compiled type),
  /// so that a failed input leaves nothing in the state.
  void discard_code(const digest& code);
  /// While set, egress deliveries and host failures are recorded into it as well.
  call_capture* capture_ = nullptr;
  /// In a logged hypervisor every input is logged: host sends outside an input are refused,
  /// and an egress without a sink is no failure (its output is in the log).
  bool logged_ = false;
  bool inputting_ = false;  // an input is sending its message
  /// Sends an input's message: `args` to `target` (host handles) with `budget`, its result
  /// going to the reply egress; sets c.seq and c.reply_egress. Drops `target` afterwards.
  expected<void> send_input(cap_handle target, arg_list args, std::uint64_t budget, call_capture& c);
  static constexpr std::string_view reply_egress_name = "exo.reply";
  /// What a failure report's on_failure costs: at least a tick, so report chains end.
  static constexpr std::uint64_t failure_cost = 1;

 private:
  friend class kernel_context;
  static constexpr std::uint32_t npos = 0xffffffffu;

  struct actor {
    id self;
    /// nullptr: not loaded yet (a stub that only knows its id), or a rolled-back creation.
    const actor_type* type = nullptr;
    void* state = nullptr;
    cap_table caps;
    std::uint64_t clock = 0;
    std::uint64_t nonce = 0;
    std::uint64_t seq = 0;
    bool dirty = false;       // changed since the last flush to the state tree
    bool caps_dirty = false;  // its capability table too
  };

  // Actors by slot, in chunks of 256 that never move (handlers hold references while they
  // create more actors); indexing is a shift and a mask.
  class actor_table {
   public:
    actor& operator[](std::size_t i) noexcept { return chunks_[i >> chunk_bits][i & chunk_mask]; }
    const actor& operator[](std::size_t i) const noexcept { return chunks_[i >> chunk_bits][i & chunk_mask]; }
    std::size_t size() const noexcept { return size_; }
    actor& emplace_back() {
      if (size_ == chunks_.size() << chunk_bits) chunks_.push_back(std::make_unique<actor[]>(chunk_size));
      return (*this)[size_++];
    }
    void pop_back() noexcept { (*this)[--size_] = actor{}; }
    template <class F>
    void for_each(F&& f) {
      for (std::size_t i = 0; i < size_; ++i) f((*this)[i]);
    }

   private:
    static constexpr std::size_t chunk_bits = 8, chunk_size = std::size_t{1} << chunk_bits,
                                 chunk_mask = chunk_size - 1;
    std::vector<std::unique_ptr<actor[]>> chunks_;
    std::size_t size_ = 0;
  };

  // Open-addressing index id -> slot (linear probing, backward-shift deletion).
  class id_index {
   public:
    std::uint32_t find(const id& key, const actor_table& actors) const noexcept;
    void insert(const id& key, std::uint32_t slot, const actor_table& actors);
    void erase(const id& key, const actor_table& actors) noexcept;

   private:
    std::vector<std::uint32_t> table_;  // slot + 1; 0 = empty
    std::size_t count_ = 0;
  };

  std::uint32_t find(const id& a) const noexcept { return index_.find(a, actors_); }
  cap_handle create_root(const actor_type& type, void* state);
  cap_handle host_insert(const capability& c);
  std::uint32_t add_actor(const id& creator, std::uint64_t nonce, const actor_type& type,
                          void* state, std::uint64_t clock);
  void remove_created(std::uint32_t slot) noexcept;
  void mark_dirty(std::uint32_t slot) {
    actor& a = actors_[slot];
    if (!a.dirty) {
      a.dirty = true;
      dirty_.push_back(slot);
    }
  }
  // Loading from and saving to the state tree.
  expected<std::uint32_t> resolve(const id& a);  // the slot of an actor, loading it if needed
  std::uint32_t stub_for(const id& a);           // a slot for an id, loaded later
  expected<void> load(std::uint32_t slot);
  [[gnu::noinline]] bool load_for_delivery(message& m, std::uint32_t slot);  // the cold path of deliver
  expected<void> load_host();
  expected<void> flush_state();
  value save_caps(const cap_table& t) const;
  expected<cap_table> load_caps(value&& v);
  std::uint32_t egress_named(std::string_view name);
  void undo_storage() noexcept;
  expected<void> export_caps(actor& from, message& m);
  expected<void> import_caps(actor& to, message& m, cap_journal* j);
  expected<void> run_handler(kernel_context& ctx, actor& a, message& m, invoke_fn invoke,
                             std::string_view fname, std::uint64_t cost);
  void deliver_egress(message& m);
  void deliver_host_failure(message& m);
  void host_failure(failure&& f);  // a failure reaching the host: captured, then hook or list
  void report(std::uint32_t origin, actor& a, const message& m, std::string_view function, error e);
  void notify(const id& receiver, std::uint32_t function, const message& m, bool ok);

  config cfg_;
  actor_table actors_;  // slot 0 is the host
  id_index index_;
  struct egress_rec {
    std::string name;
    egress_sink sink;
  };
  std::deque<egress_rec> egress_;  // stable: a sink may create egresses while it runs
  cap_journal journal_;
  state_store* store_;
  bool durable_;
  std::unordered_map<digest, const actor_type*> types_;  // by code hash
  std::unordered_map<digest, code_ptr> codes_;           // compiled code this kernel owns
  std::function<void(const id&, std::string_view)> log_hook_;
  const actor_type* last_type_ = nullptr;                // the last one added to types_
  std::vector<std::uint32_t> dirty_;    // slots with dirty set
  std::vector<std::uint32_t> created_;  // actors created by the running message
  // Storage writes of the running message: (tree key, value before), to undo on failure.
  std::vector<std::pair<bytes, std::optional<bytes>>> storage_undo_;
  std::size_t loaded_ = 0;
  // Set if undoing a failed message's storage writes failed (a damaged store): the tree no
  // longer matches the actors, so flushing and committing refuse from then on.
  std::optional<error> broken_;
  std::vector<failure> failures_;
  std::function<void(const failure&)> failure_hook_;
  std::function<void(const delivery&)> deliver_hook_;
  kernel_stats stats_;
};

/// The id of the n-th actor created by `creator`: SHA-256 of the canonical encoding of the
/// list [creator id as bytes, n as i64] (DESIGN.md section 2).
id derive_actor_id(const id& creator, std::uint64_t nonce) noexcept;

}  // namespace exo
