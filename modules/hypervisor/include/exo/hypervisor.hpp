#pragma once
/// \file
/// exo::hypervisor: exo's modules composed through compile-time policies.
///
/// \code
/// exo::hypervisor<> hv;                              // ordered scheduler, state in memory
/// exo::hypervisor<exo::fifo_scheduler> fast;         // no order promised, less work
/// auto bank = hv.create(bank_actor{});               // a capability in the host's table
/// hv.call(*hv.function_cap(bank, "open"), "alice", 100);
/// hv.run();                                          // until idle
/// auto root = hv.state_root();                       // the merkle root of all actors
///
/// // Durable: state in an LMDB data directory, resumed when opened again.
/// using disk_hv = exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store>;
/// auto disk = disk_hv::open(exo::lmdb_store::open("data", {.create = true}).value()).value();
/// disk.register_type<bank_actor>();                  // so stored bank actors can be loaded
/// disk.commit();                                     // one LMDB transaction
///
/// // Audited: every input from outside is logged with its outcome, hash-chained and signed,
/// // and can be replayed by exo::verify (exo/verifier/verify.hpp).
/// using audited_hv = exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store, exo::lmdb_log>;
/// auto audited = audited_hv::open(exo::lmdb_store::open("data", {.create = true}).value()).value();
/// auto b = audited.create(bank_actor{}).value();            // logged: a "create" entry
/// auto out = audited.invoke(*audited.actor_id(b), "open", {"alice", 100}).value();
/// \endcode
///
/// The policies: Scheduler (exo::scheduler_policy) orders deliveries; Store
/// (exo::store_backend) keeps the state tree's nodes, and its `durable` says whether state
/// outlives the process; Log (exo::log_policy) is exo::no_log or a call log kept in that
/// Store. What a policy decides is decided here, at compile time: a logged hypervisor has no
/// send() from the host (its inputs go through invoke()), and a durable one refuses actor
/// types whose state it cannot save.
///
/// The hypervisor holds its parts (exo/hypervisor/detail/parts.hpp): the store and its
/// merkle tree, the kernel (exo/hypervisor/kernel.hpp), the scheduler loop and, when it logs,
/// the call log and the ingress (exo/hypervisor/ingress.hpp). It is a handle to them: it
/// moves, and a moved-from hypervisor must not be used.

#include <exo/hypervisor/detail/parts.hpp>
#include <exo/scheduler/fifo.hpp>
#include <exo/scheduler/ordered.hpp>
#include <exo/scheduler/parallel.hpp>
#include <exo/store/lmdb_store.hpp>

#include <concepts>
#include <limits>
#include <memory>
#include <stdexcept>

namespace exo {

/// The call log kept with the state in a memory_store / an lmdb_store (one commit for both).
using memory_log = store_log<memory_store>;
using lmdb_log = store_log<lmdb_store>;
static_assert(log_backend<memory_log> && log_backend<lmdb_log>, "exo's log backends must satisfy exo::log_backend");

template <scheduler_policy Scheduler = ordered_scheduler, store_backend Store = memory_store,
          log_policy<Store> Log = no_log>
class hypervisor {
  using parts_type = detail::parts<Scheduler, Store, Log>;

 public:
  using scheduler_type = Scheduler;
  using store_type = Store;
  using log_type = Log;
  /// True if every input from outside is logged.
  static constexpr bool logged = !std::same_as<Log, no_log>;
  /// True if this composition promises the same deliveries, results and roots on every run.
  static constexpr bool deterministic = Scheduler::tick_ordered;
  /// True if the state outlives the process (then every actor type must be persistable).
  static constexpr bool durable = Store::durable;

  /// A hypervisor with a fresh store of its own (a memory_store, say). A logged one signs
  /// with a new node key: a fresh store has no files to keep one in.
  explicit hypervisor(config cfg = {}) requires std::default_initializable<Store> {
    if constexpr (logged) {
      auto key = node_key::generate();
      if (!key) throw std::runtime_error("exo: cannot make a node key: " + to_string(key.error()));
      p_ = std::make_unique<parts_type>(Store{}, root_ref{}, std::move(cfg), std::move(*key));
    } else {
      p_ = std::make_unique<parts_type>(Store{}, root_ref{}, std::move(cfg));
    }
    if (auto r = p_->open(); !r) throw std::logic_error("exo: a fresh store did not open: " + to_string(r.error()));
  }

  /// A hypervisor over `store`, resuming from its last commit. An error if the store cannot
  /// be read, holds another hypervisor's state (another config name) or, for a logged
  /// hypervisor, a call log that does not end at its state root or was signed by another key
  /// than the store's node key.
  static expected<hypervisor> open(Store store, config cfg = {}) {
    auto head = store.head();
    if (!head) return unexpected(std::move(head).error());
    std::unique_ptr<parts_type> p;
    if constexpr (logged) {
      auto key = node_key_for(store);
      if (!key) return unexpected(std::move(key).error());
      p = std::make_unique<parts_type>(std::move(store), *head, std::move(cfg), std::move(*key));
    } else {
      p = std::make_unique<parts_type>(std::move(store), *head, std::move(cfg));
    }
    if (auto r = p->open(); !r) return unexpected(std::move(r).error());
    return hypervisor(std::move(p));
  }

  hypervisor(hypervisor&&) noexcept = default;
  hypervisor& operator=(hypervisor&&) noexcept = default;

  /// The hypervisor's own id: the sender of host messages and creator of root actors.
  const id& host_id() const noexcept { return p_->k.host_id(); }
  /// The host's clock: the ticks of the latest delivery.
  std::uint64_t now() const noexcept { return p_->k.now(); }
  const config& settings() const noexcept { return p_->k.settings(); }
  const kernel_stats& stats() const noexcept { return p_->k.stats(); }

  // ---- actors ----

  /// Creates a root actor of native type T; returns an actor capability (all rights) in the
  /// host's table. A logged hypervisor logs it as a "create" input: then the result is an
  /// expected, an error if the input could not be logged (nothing of it remains).
  template <native_actor T>
  auto create(T state) {
    static_assert(!durable || detail::persistable_state<T>,
                  "a durable hypervisor keeps actors' state in the store: declare this actor type with "
                  "BOOST_HANA_DEFINE_STRUCT (or make it empty)");
    if constexpr (logged) return p_->in.create(native_type<T>(), new T(std::move(state)));
    else return p_->k.create(std::move(state));
  }
  /// Installs `code` for the container named `container` ("wasm"; see kernel::install) and
  /// creates a root actor running it; returns an actor capability in the host's table. A
  /// logged hypervisor logs it as a create input that carries the code. Code that does not
  /// compile or instantiate is an error, and nothing of it remains.
  expected<cap_handle> create_code(std::string_view container, byte_view code) {
    if constexpr (logged) return p_->in.create_code(container, code);
    else return p_->k.create_code(container, code);
  }
  /// Makes native type T known: actors of it load from the store (a resumed hypervisor must
  /// register every type its stored actors have), code can create it by name, and a call
  /// log's init entry declares it. It goes to the container registry's native container.
  template <native_actor T>
  void register_type() {
    p_->k.template register_type<T>();
  }
  /// Creates an egress: messages sent through it reach `sink` at their turn in the schedule.
  cap_handle create_egress(std::string name, egress_sink sink, rights r = rights::call | rights::transfer) {
    return p_->k.create_egress(std::move(name), std::move(sink), r);
  }
  /// A function capability for an exported function of the actor `actor` names.
  expected<cap_handle> function_cap(cap_handle actor, std::string_view function, rights keep = rights::all) {
    return p_->k.function_cap(actor, function, keep);
  }
  /// The host is the root of authority: a function capability for any actor by id.
  expected<cap_handle> lookup(const id& actor, std::string_view function, rights keep = rights::all) {
    return p_->k.lookup(actor, function, keep);
  }
  /// The same for the whole actor: an actor capability (one of another node's, through its route).
  expected<cap_handle> actor_cap(const id& actor, rights keep = rights::all) { return p_->k.actor_cap(actor, keep); }
  /// Narrows a host capability's rights (needs the derive right).
  expected<cap_handle> derive(cap_handle from, rights keep) { return p_->k.derive(from, keep); }
  /// Removes a capability from the host's table.
  expected<void> drop(cap_handle h) { return p_->k.drop(h); }
  /// Drops every host handle in `v` and numbers the caps in place as the log records them
  /// (the i-th met is cap #i): for a call_outcome::result the host does not keep.
  std::size_t release_caps(value& v) { return p_->k.release_caps(v); }
  /// What a host handle names, and the id of the actor it names.
  expected<capability> inspect(cap_handle h) const { return p_->k.inspect(h); }
  expected<id> actor_id(cap_handle h) const { return p_->k.actor_id(h); }
  /// What a host handle names, described without host handles (as a call log does).
  expected<value> describe_cap(cap_handle h) { return p_->k.describe_cap(h); }

  // ---- sends from the host (a logged hypervisor takes inputs through invoke()) ----

  /// Sends from the host. Caps in args are host handles (transfer right needed).
  expected<void> send(cap_handle target, arg_list args, const send_options& opts = {}) requires(!logged) {
    return p_->k.send(target, std::move(args), opts);
  }
  template <class... A>
  expected<void> call(cap_handle target, A&&... a) requires(!logged) {
    return p_->k.send(target, context::make_args(std::forward<A>(a)...));
  }
  /// Sends arguments given in the canonical encoding (a list); malformed input is an error
  /// here, before anything is queued.
  expected<void> send_encoded(cap_handle target, byte_view encoded_args, const send_options& opts = {}) requires(!logged) {
    return p_->k.send_encoded(target, encoded_args, opts);
  }

  // ---- several nodes (see kernel::add_route; config::node names this one) ----

  /// Routes actor `a` to node `node`: messages to it become outputs (on_remote).
  expected<void> add_route(const id& a, std::string_view node, std::vector<std::string> functions = {}) requires(!logged) {
    return p_->k.add_route(a, node, std::move(functions));
  }
  std::optional<std::string> route_of(const id& a) { return p_->k.route_of(a); }
  /// Gives node `node` the host capability `h` (kernel::grant).
  expected<void> grant(cap_handle h, std::string_view node) requires(!logged) { return p_->k.grant(h, node); }
  /// Takes a message node `from` sent (kernel::take_remote) and queues it; run() delivers it.
  expected<void> take_remote(std::string_view from, const value& body) requires(!logged) {
    auto r = p_->k.take_remote(from, body);
    p_->loop.hand_over();  // its own batch: its sender is its own
    return r;
  }
  /// Logged: peers, routes and grants as one "route" entry (ingress::route).
  expected<log_entry> route(const route_request& r) requires logged { return p_->in.route(r); }
  /// Logged: takes an envelope another node sealed for this one, as a "take" entry
  /// (ingress::take).
  expected<log_entry> take(byte_view envelope) requires logged { return p_->in.take(envelope); }
  /// Logged: settles what this node sent node `node` with its receipt, telling the origins of
  /// those that expired unconfirmed, as a "settle" entry (ingress::settle).
  expected<log_entry> settle(std::string_view node, std::optional<bytes> receipt, std::uint64_t expired) requires logged {
    return p_->in.settle(node, std::move(receipt), expired);
  }
  /// How many messages this node sent node `node` (kernel::sent_to).
  expected<std::uint64_t> sent_to(std::string_view node) { return p_->k.sent_to(node); }
  /// The index of the next envelope to take from `node`, and a peer's key (ingress).
  expected<std::uint64_t> next_take(std::string_view node) const requires logged { return p_->in.next_take(node); }
  expected<std::optional<public_key>> peer_key(std::string_view node) const requires logged {
    return p_->in.peer_key(node);
  }
  /// Tells `o` what reaches the host (nullptr: nobody); an unlogged hypervisor that is a
  /// node of a cluster needs one to carry its messages to other nodes.
  void observe(output_observer* o) noexcept requires(!logged) { p_->k.observe(o); }

  /// Reports of failed host messages (and failures nobody else handles). Without a hook they
  /// are kept in failures().
  void on_failure(std::function<void(const failure&)> hook) { p_->k.on_failure(std::move(hook)); }
  const std::vector<failure>& failures() const noexcept { return p_->k.failures(); }
  /// Called after every delivery (for traces and tests).
  void on_deliver(std::function<void(const delivery&)> hook) { p_->k.on_deliver(std::move(hook)); }
  /// Lines actors write for the operator, with their level; dropped without a hook. They are
  /// not state: a hook changes no root.
  void on_log(std::function<void(const id& actor, log_level level, std::string_view text)> hook) {
    p_->k.on_log(std::move(hook));
  }

  // ---- inspection: actors still in the store are loaded as they are asked for ----

  /// Actors loaded in memory (a resumed hypervisor loads actors as they are needed).
  std::size_t actor_count() const noexcept { return p_->k.actor_count(); }
  bool contains(const id& a) { return p_->k.contains(a); }
  expected<std::uint64_t> clock_of(const id& a) { return p_->k.clock_of(a); }
  /// The native state of an actor, if it exists and is of type T.
  template <native_actor T>
  const T* state_of(const id& a) {
    return p_->k.template state_of<T>(a);
  }
  /// The type (name and code hash) of an actor.
  expected<const actor_type*> type_of(const id& a) { return p_->k.type_of(a); }
  /// Live capabilities in an actor's table.
  expected<std::size_t> cap_count(const id& a) { return p_->k.cap_count(a); }
  /// The native types registered, as [{name, code}]: what a call log's init entry declares.
  value type_list() const { return p_->k.type_list(); }

  // ---- delivery ----

  /// Delivers up to `max_messages` messages (each one transaction); returns how many. Stops
  /// early when nothing is left to deliver.
  std::size_t run(std::size_t max_messages = std::numeric_limits<std::size_t>::max()) {
    return p_->loop.run(max_messages);
  }
  /// Messages waiting to be delivered.
  std::size_t pending() const noexcept { return p_->loop.pending(); }
  /// The scheduler: for a parallel_scheduler, its tuning and counts. (What it queues is the
  /// hypervisor's; do not push or pop.)
  Scheduler& scheduler() noexcept { return p_->loop.scheduler(); }
  bool idle() const noexcept { return pending() == 0; }

  // ---- state ----

  /// The root of the state tree: every actor's record, capability table and storage, and the
  /// host's counters. Messages not yet delivered are not part of it. Writes what changed
  /// into the tree (no disk write).
  expected<digest> state_root() { return p_->k.state_root(); }
  /// Writes every change since the last commit, and `meta`, to the store in one backend
  /// commit (one LMDB transaction) and returns the new root. Needs an idle hypervisor:
  /// messages in flight are not part of the state.
  expected<digest> commit(commit_meta meta = {}) {
    if (!idle()) return busy("commit");
    return p_->k.commit(std::move(meta));
  }
  /// Goes back to an earlier committed root (needs an idle hypervisor). Actors are reloaded
  /// from that state when next used; host capabilities keep naming the same actor ids.
  expected<void> set_state_root(const digest& root) {
    if (!idle()) return busy("set_state_root");
    return p_->k.reset_state(root);
  }
  /// Drops every change the store does not hold: the state goes back to the store's head and
  /// (logged) the log to the store's log head. For after a failed commit of a store that
  /// writes behind (lmdb_store::set_write_behind): its commit() returned before the commit
  /// reached the disk, and the hypervisor went on from there. Needs an idle hypervisor,
  /// outside a batch. (A failed commit of this hypervisor's own inputs does this itself.)
  expected<void> rollback() {
    if (!idle()) return busy("rollback");
    if constexpr (logged) {
      if (p_->in.batching()) throw std::logic_error("exo: rollback inside a batch");
      return p_->in.rollback();
    } else {
      auto head = p_->state.head();
      if (!head) return unexpected(std::move(head).error());
      return p_->k.reset_state(*head);
    }
  }
  /// The backend and the merkle tree (for proofs, iteration, diffs and snapshots).
  Store& store() noexcept { return p_->store; }
  merkle_tree<Store>& tree() noexcept { return p_->state.tree(); }

  // ---- the call log (logged hypervisors) ----

  /// Calls `function` of `actor` from outside, runs until idle, and logs the call with its
  /// outcome, committing the state and the entry together. Failures of the call itself (no
  /// such actor or function, bad arguments, a failed handler) are outcomes, logged and
  /// returned in call_outcome::error. The expected holds an error only if the input could not
  /// be logged (a busy hypervisor, a host handle that is not valid, a failed commit; then
  /// nothing of the input remains).
  expected<call_outcome> invoke(const id& actor, std::string_view function, arg_list args = {},
                                const invoke_options& opts = {}) requires logged {
    return p_->in.invoke(actor, function, std::move(args), opts);
  }
  /// Makes the input `original` records (a create or a call) on this hypervisor and returns
  /// the entry it logs for it, to be compared with `original` (what exo::verify does). An
  /// init entry is not an input: it is refused.
  expected<log_entry> replay(const log_entry& original) requires logged { return p_->in.replay(original); }
  /// Replaces running actors' code and runs migration calls once, as one logged "upgrade"
  /// input (exo::upgrade_request, ingress::upgrade); the entry logged is returned. Capabilities
  /// name functions by position: new code keeps the old exports in their order.
  expected<log_entry> upgrade(const upgrade_request& r) requires logged { return p_->in.upgrade(r); }
  /// Points an actor at other code (installed for `container`, see kernel::replace_code)
  /// without logging anything: for a hypervisor that logs nothing, or a scratch one that
  /// checks what new code would do; a node's own upgrades are logged (upgrade()).
  expected<void> replace_code(const id& actor, std::string_view container, byte_view code) {
    auto h = p_->k.install(container, code);
    if (!h) return unexpected(std::move(h).error());
    return p_->k.replace_code(actor, *h);
  }
  /// The sequence number of the last signed call accepted from `caller` (0: none yet); a
  /// signed call needs a greater one (invoke_options::seq).
  expected<std::uint64_t> last_seq(const public_key& caller) const requires logged { return p_->in.last_seq(caller); }
  /// The call log (read access; entries are added by the inputs).
  const Log& log() const noexcept requires logged { return p_->log; }
  /// Whether heads are signed (the default). exo::verify turns it off for the hypervisor it
  /// replays into: that log is a scratch copy, compared entry by entry and then dropped.
  void sign_log(bool on) noexcept requires logged { p_->in.sign(on); }
  /// Group commit. Between begin_batch() and end_batch(), logged inputs run and get their
  /// own log entries, each with the state root after it, but nothing is written:
  /// end_batch() commits all of their state changes and entries in one backend commit under
  /// one signed head. Until end_batch() returns, nothing of the batch is durable; tell no
  /// one its outcomes before. If the commit fails, every input of the batch is undone (state
  /// and log go back to the last commit) and the error is returned.
  void begin_batch() requires logged { p_->in.begin_batch(); }
  expected<void> end_batch() requires logged { return p_->in.end_batch(); }
  /// Reads the call log's records from the store again, after something else changed them
  /// (a prune that dropped entries before a checkpoint: exo/boot/prune.hpp). Not while
  /// batching.
  expected<void> reload_log() requires logged {
    if (p_->in.batching()) return fail(errc::invalid_argument, "reload_log while a batch is open");
    return p_->log.reload();
  }
  /// True between begin_batch() and end_batch().
  bool batching() const noexcept requires logged { return p_->in.batching(); }
  /// The public key that signs this hypervisor's log.
  const public_key& node_public_key() const noexcept requires logged { return p_->in.node_public_key(); }

 private:
  explicit hypervisor(std::unique_ptr<parts_type> p) : p_(std::move(p)) {}
  unexpected<error> busy(std::string_view what) const {
    return unexpected(error{errc::invalid_argument,
                            fmt::format("{} needs an idle hypervisor: {} messages are pending (run() first)", what,
                                        pending())});
  }

  std::unique_ptr<parts_type> p_;
};

}  // namespace exo
