#pragma once
/// \file
/// exo::hypervisor — the composition of exo's modules through compile-time policies.
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
/// exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store> disk(
///     exo::lmdb_store::open("data", {.create = true}).value());
/// disk.register_type<bank_actor>();                  // so stored bank actors can be loaded
/// disk.commit();                                     // one LMDB transaction
/// \endcode
///
/// With a call log (the third parameter), every input from outside is logged with its
/// outcome, hash-chained and signed, and can be replayed by exo::verify:
///
/// \code
/// exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store, exo::lmdb_log> audited(
///     exo::lmdb_store::open("data", {.create = true}).value());
/// auto bank = audited.create(bank_actor{});                     // logged: a "create" entry
/// auto out = audited.invoke(*audited.actor_id(bank), "open", {"alice", 100}).value();
/// // out.result, out.error, out.outputs, out.ticks, out.root: the entry's outcome, committed
/// \endcode
///
/// Later policies (runner) are added as further template parameters with defaults, so
/// existing spellings keep compiling as they arrive.

#include <exo/call_log/entry.hpp>
#include <exo/call_log/store_log.hpp>
#include <exo/core/sign.hpp>
#include <exo/hypervisor/kernel.hpp>
#include <exo/scheduler/concept.hpp>
#include <exo/scheduler/fifo.hpp>
#include <exo/scheduler/ordered.hpp>
#include <exo/store/backend.hpp>
#include <exo/store/lmdb_store.hpp>
#include <exo/store/state.hpp>

#include <concepts>
#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>

namespace exo {

/// The default Log policy: nothing is logged.
struct no_log {};
/// The call log kept with the state in a memory_store / an lmdb_store (one commit for both).
using memory_log = store_log<memory_store>;
using lmdb_log = store_log<lmdb_store>;
static_assert(log_backend<memory_log> && log_backend<lmdb_log>, "exo's log backends must satisfy exo::log_backend");

/// How a logged input is made.
struct invoke_options {
  /// The caller's public key, recorded in the entry; absent for an anonymous caller.
  std::optional<public_key> caller;
  /// The call's tick budget; 0 means the config's default_budget.
  std::uint64_t budget = 0;
};

/// What a logged input did: the outcome its log entry records (and the entry's index).
struct call_outcome {
  std::uint64_t index = 0;
  value result;                  ///< what the called function returned; caps in it are host handles
  std::optional<exo::error> error;  ///< the call's own failure, if it failed
  value outputs;                 ///< what reached egresses and the host meanwhile (as logged)
  std::uint64_t ticks = 0;
  digest root{};
};

namespace detail {
// The node key of a hypervisor over a store: kept in an LMDB data directory (node.key,
// readable only by its owner), a new one for each memory store.
inline node_key key_for(const memory_store&) {
  auto k = node_key::generate();
  if (!k) throw std::runtime_error("exo: " + to_string(k.error()));
  return std::move(*k);
}
inline node_key key_for(const lmdb_store& s) {
  auto k = node_key::load_or_create(s.directory() + "/node.key");
  if (!k) throw std::runtime_error("exo: " + to_string(k.error()));
  return std::move(*k);
}

template <class Store, class Log>
struct log_holder {
  Log log;
  node_key key;
  explicit log_holder(const Store& s) : log(open(s)), key(key_for(s)) {}
  static Log open(const Store& s) {
    auto l = Log::open(s);
    if (!l) throw std::runtime_error("exo: cannot open the call log: " + to_string(l.error()));
    return std::move(*l);
  }
};
template <class Store>
struct log_holder<Store, no_log> {
  explicit log_holder(const Store&) {}
};

// Owns the store backend and the tree over it; a base class so that both exist before the
// kernel (which reads the host record from them) is constructed.
template <class Store>
struct state_holder {
  Store backend;
  tree_state<Store> tree_view{backend};
  state_holder() requires std::default_initializable<Store> = default;
  explicit state_holder(Store&& s) : backend(std::move(s)) {}
};
}  // namespace detail

template <scheduler_policy Scheduler = ordered_scheduler, store_backend Store = memory_store, class Log = no_log>
class hypervisor : private detail::state_holder<Store>, private detail::log_holder<Store, Log>, public kernel {
  using holder = detail::state_holder<Store>;
  using log_part = detail::log_holder<Store, Log>;
  static_assert(std::same_as<Log, no_log> || log_backend<Log>, "Log must be exo::no_log or satisfy exo::log_backend");

 public:
  using scheduler_type = Scheduler;
  using store_type = Store;
  using log_type = Log;
  /// True if every input from outside is logged.
  static constexpr bool logged = !std::same_as<Log, no_log>;
  /// True if this composition promises the same deliveries, results and roots on every run.
  static constexpr bool deterministic = Scheduler::tick_ordered;
  /// True if the state outlives the process (then every actor type must be persistable).
  static constexpr bool durable = backend_durable<Store>;

  /// A hypervisor with a fresh store of its own (memory_store).
  explicit hypervisor(config cfg = {}) requires std::default_initializable<Store>
      : holder(), log_part(this->backend), kernel(std::move(cfg), this->tree_view, durable) {
    start_log();
  }
  /// A hypervisor over `store`, resuming from its last commit. Throws std::runtime_error if
  /// the store holds another hypervisor's state (another config name) or cannot be read, or
  /// (logged) if its call log does not end at its state root or was signed by another key.
  explicit hypervisor(Store store, config cfg = {})
      : holder(std::move(store)), log_part(this->backend), kernel(std::move(cfg), this->tree_view, durable) {
    start_log();
  }

  /// Creates a root actor (see kernel::create). A durable hypervisor takes only types whose
  /// state it can save: Hana structs and empty types.
  template <native_actor T>
  cap_handle create(T state) {
    static_assert(!durable || detail::persistable_state<T>,
                  "a durable hypervisor keeps actors' state in the store: declare this actor type with "
                  "BOOST_HANA_DEFINE_STRUCT (or make it empty)");
    if constexpr (!logged) {
      return kernel::create(std::move(state));
    } else {
      if (!idle()) throw std::logic_error("exo: create needs an idle hypervisor (run() first): it is a logged input");
      if (auto r = ensure_init(); !r) throw std::runtime_error("exo: " + to_string(r.error()));
      cap_handle h = kernel::create(std::move(state));
      log_entry e = next_entry("create");
      e.actor = *actor_id(h);
      const actor_type& type = native_type<T>();
      e.function = std::string(type.name);
      e.args = value::make_map({{"code", to_value(type.code_hash)}, {"state", saved_state(type, state_of<T>(e.actor))}});
      if (auto r = append(e); !r) throw std::runtime_error("exo: " + to_string(r.error()));
      return h;
    }
  }

  /// Installs `code` for the container named `container` ("wasm"; see kernel::install) and
  /// creates a root actor running it; returns an actor capability in the host's table.
  /// Logged hypervisors log it as a create input that carries the code, so that a replay
  /// installs it too. Code that does not compile or instantiate is an error, and nothing
  /// of it remains.
  expected<cap_handle> create_code(std::string_view container, byte_view code) {
    if constexpr (logged) {
      if (!idle()) return busy("create_code");
      if (auto r = ensure_init(); !r) return unexpected(std::move(r).error());
    }
    bool added = false;
    auto h = install(container, code, &added);
    if (!h) return unexpected(std::move(h).error());
    auto cap = create_saved(*h, value{});
    if (!cap) {
      if (added) discard_code(*h);
      return unexpected(std::move(cap).error());
    }
    if constexpr (logged) {
      log_entry e = next_entry("create");
      e.actor = *actor_id(*cap);
      e.function = std::string((*type_of(e.actor))->name);  // as apply() logs it
      e.args = value::make_map({{"code", to_value(*h)}, {"state", value{}}, {"container", value(container)},
                                {"source", value(bytes(code.begin(), code.end()))}});
      if (auto r = append(e); !r) return unexpected(std::move(r).error());
    }
    return cap;
  }

  /// Logged hypervisors: calls `function` of `actor` from outside, runs until idle, and
  /// logs the call with its outcome, committing the state and the entry together. Failures
  /// of the call itself (no such actor or function, bad arguments, a failed handler) are
  /// outcomes, logged and returned in call_outcome::error. The expected holds an error only
  /// if the input could not be logged (a busy hypervisor, a host handle that is not valid, a
  /// failed commit; then nothing of the input remains).
  expected<call_outcome> invoke(const id& actor, std::string_view function, arg_list args = {},
                                const invoke_options& opts = {}) requires logged {
    if (!idle()) return busy("invoke");
    if (auto r = ensure_init(); !r) return unexpected(std::move(r).error());
    log_entry e = next_entry("call");
    e.actor = actor;
    e.function = std::string(function);
    if (opts.caller) e.caller = bytes(opts.caller->bytes.begin(), opts.caller->bytes.end());
    e.budget = opts.budget ? opts.budget : settings().default_budget;
    value::list caps, described;
    for (auto& a : args) {
      auto d = describe_caps(a, caps);
      if (!d) return unexpected(std::move(d).error());
      described.push_back(std::move(*d));
    }
    e.args = value(std::move(described));
    e.caps = value(std::move(caps));
    value host_result;
    auto logged_entry = run_call(std::move(e), std::move(args), host_result);
    if (!logged_entry) return unexpected(std::move(logged_entry).error());
    call_outcome out;
    out.index = logged_entry->index;
    out.result = std::move(host_result);
    if (logged_entry->error) out.error = error{static_cast<errc>(logged_entry->error->code), logged_entry->error->message};
    out.outputs = std::move(logged_entry->outputs);
    out.ticks = logged_entry->ticks;
    out.root = logged_entry->root;
    return out;
  }

  /// Logged hypervisors: makes the input `original` records (a create or a call) on this
  /// hypervisor and returns the entry it logs for it, to be compared with `original` (what
  /// exo::verify does). An init entry is not an input: it is refused.
  expected<log_entry> apply(const log_entry& original) requires logged {
    if (!idle()) return busy("apply");
    if (original.kind == "init") return fail(errc::invalid_argument, "an init entry is not an input to apply");
    if (auto r = ensure_init(); !r) return unexpected(std::move(r).error());
    if (original.kind == "create") {
      const value* code = original.args.find("code");
      const value* st = original.args.find("state");
      auto c = code ? from_value<digest>(*code) : fail(errc::malformed, "a create entry names no code");
      if (!c || !st) return fail(errc::malformed, "a create entry needs args {code, state}");
      if (const value* src = original.args.find("source")) {  // code installed with it
        const value* cn = original.args.find("container");
        if (!cn || !cn->if_string() || !src->if_bytes())
          return fail(errc::malformed, "a create entry's source needs a container name and code bytes");
        auto installed = install(*cn->if_string(), *src->if_bytes());
        if (!installed) return unexpected(std::move(installed).error());
      }
      auto h = create_saved(*c, *st);
      if (!h) return unexpected(std::move(h).error());
      log_entry e = next_entry("create");
      e.actor = *actor_id(*h);
      e.function = std::string((*type_of(e.actor))->name);
      e.args = original.args;
      if (auto r = append(e); !r) return unexpected(std::move(r).error());
      return e;
    }
    std::vector<cap_handle> made;
    auto* caps = original.caps.if_list();
    auto* list = original.args.if_list();
    if (!caps || !list) return fail(errc::malformed, "a call entry's args and caps must be lists");
    arg_list args;
    for (auto& a : *list) {
      auto m = materialize_caps(a, *caps, made);
      if (!m) {
        for (auto h : made) (void)drop(h);
        return unexpected(std::move(m).error());
      }
      args.push_back(std::move(*m));
    }
    log_entry e = next_entry("call");
    e.actor = original.actor;
    e.function = original.function;
    e.caller = original.caller;
    e.budget = original.budget;
    e.args = original.args;
    e.caps = original.caps;
    value host_result;
    auto r = run_call(std::move(e), std::move(args), host_result);
    for (auto h : made) (void)drop(h);
    return r;
  }

  /// The call log (read access; entries are added by create, invoke and apply).
  const Log& log() const noexcept requires logged { return this->log_part::log; }
  /// Whether heads are signed (the default). exo::verify turns it off for the hypervisor it
  /// replays into: that log is a scratch copy, compared entry by entry and then dropped.
  void sign_log(bool on) noexcept requires logged { sign_log_ = on; }
  /// Group commit. Between begin_batch() and end_batch(), logged inputs (invoke, create,
  /// create_code, apply) run and get their own log entries, each with the state root after
  /// it, but nothing is written: end_batch() commits all of their state changes and entries
  /// in one backend commit (one LMDB transaction, one fsync) under one signed head. Until
  /// end_batch() returns, nothing of the batch is durable; tell no one its outcomes before.
  /// If the commit fails, every input of the batch is undone (state and log go back to the
  /// last commit) and the error is returned.
  void begin_batch() requires logged {
    if (batching_) throw std::logic_error("exo: begin_batch inside a batch");
    batching_ = true;
  }
  expected<void> end_batch() requires logged {
    if (!batching_) throw std::logic_error("exo: end_batch without begin_batch");
    batching_ = false;
    if (batch_error_) {
      error e = std::move(*batch_error_);
      batch_error_.reset();
      (void)back_to_store_head();
      return unexpected(std::move(e));
    }
    if (this->log_part::log.next_index() == this->log_part::log.size()) return {};  // nothing staged
    return commit_staged();
  }
  /// True between begin_batch() and end_batch().
  bool batching() const noexcept { return batching_; }

  /// The public key that signs this hypervisor's log.
  const public_key& node_public_key() const noexcept requires logged { return this->log_part::key.public_key(); }

  /// Delivers up to `max_messages` messages (each one transaction); returns how many. Stops
  /// early when nothing is left to deliver.
  std::size_t run(std::size_t max_messages = std::numeric_limits<std::size_t>::max()) {
    flush();
    std::size_t n = 0;
    while (n < max_messages) {
      message* m = scheduler_.front();
      if (!m) break;
      deliver(*m);
      scheduler_.pop();
      ++n;
      flush();
    }
    return n;
  }

  /// Messages waiting to be delivered.
  std::size_t pending() const noexcept { return scheduler_.size() + outbox_.size() + host_outbox_.size(); }
  bool idle() const noexcept { return pending() == 0; }

  /// Writes every change since the last commit, and `meta`, to the store in one backend
  /// commit (one LMDB transaction) and returns the new root. Needs an idle hypervisor:
  /// messages in flight are not part of the state.
  expected<digest> commit(commit_meta meta = {}) {
    if (!idle()) return busy("commit");
    return commit_state(std::move(meta));
  }
  /// Goes back to an earlier committed root (needs an idle hypervisor). Actors are reloaded
  /// from that state when next used; host capabilities keep naming the same actor ids.
  expected<void> set_state_root(const digest& root) {
    if (!idle()) return busy("set_state_root");
    return reset_state(root);
  }

  /// Drops every change the store does not hold: the state goes back to the store's head and
  /// (logged) the log to the store's log head. For after a failed commit of a store that
  /// writes behind (lmdb_store::set_write_behind): its commit() returned before the commit
  /// reached the disk, and the hypervisor went on from there. Needs an idle hypervisor,
  /// outside a batch. (A failed commit() of this hypervisor's own inputs does this itself.)
  expected<void> rollback() {
    if (!idle()) return busy("rollback");
    if (batching_) throw std::logic_error("exo: rollback inside a batch");
    return back_to_store_head();
  }

  /// The backend and the merkle tree (for proofs, iteration, diffs and snapshots).
  Store& store() noexcept { return this->backend; }
  merkle_tree<Store>& tree() noexcept { return this->tree_view.tree(); }

 private:
  unexpected<error> busy(std::string_view what) const {
    return unexpected(error{errc::invalid_argument,
                            fmt::format("{} needs an idle hypervisor: {} messages are pending (run() first)", what,
                                        pending())});
  }

  // The state and the log as the store has them (see rollback).
  expected<void> back_to_store_head() {
    if constexpr (logged) {
      batch_meta_.clear();
      this->log_part::log.abandoned();
      if (auto r = this->log_part::log.reload(); !r) return r;
    }
    auto back = this->backend.head();
    if (!back) return unexpected(std::move(back).error());
    return reset_state(back->hash);
  }

  // ---- the call log ----

  void start_log() {
    if constexpr (logged) {
      logged_ = true;
      Log& l = this->log_part::log;
      if (l.size() == 0) return;
      auto last = l.read(l.size() - 1);
      auto e = last ? decode_entry(*last) : unexpected(last.error());
      if (!e) throw std::runtime_error("exo: the call log's last entry cannot be read: " + to_string(e.error()));
      const digest root = this->tree_view.root();
      if (!(e->root == root))
        throw std::runtime_error(fmt::format("exo: the call log ends at state root {} (entry {}), but the store is at {}; "
                                             "the data directory is damaged",
                                             to_hex(e->root), l.size() - 1, to_hex(root)));
      auto head = l.head();
      auto h = head && *head ? decode_head(**head) : fail(errc::malformed, "the call log has entries but no head");
      if (!h) throw std::runtime_error("exo: " + to_string(h.error()));
      if (h->key != bytes(node_public_key().bytes.begin(), node_public_key().bytes.end()))
        throw std::runtime_error("exo: the call log was signed by another node key than this data directory's "
                                 "node.key; restore the original node.key");
    }
  }

  log_entry next_entry(std::string kind) {
    log_entry e{};
    e.index = this->log_part::log.next_index();
    e.prev = this->log_part::log.tip();
    e.kind = std::move(kind);
    e.args = value{};
    e.caps = value(value::list{});
    e.result_caps = value(value::list{});
    e.outputs = value(value::list{});
    return e;
  }

  // Writes the init entry if the log is empty.
  expected<void> ensure_init() {
    if (this->log_part::log.next_index() != 0) return {};
    log_entry e = next_entry("init");
    e.function = settings().name;
    const auto& k = node_public_key();
    value::map args{{"format", value(std::string(log_format))},
                    {"node_key", value(bytes(k.bytes.begin(), k.bytes.end()))},
                    {"types", type_list()}};
    if (!settings().origin.is_null()) args.emplace_back("origin", settings().origin);
    e.args = value::make_map(std::move(args));
    return append(e);
  }

  // Sends the call in `e` with `args` (host handles), runs it, logs it with its outcome and
  // returns the entry; `host_result` gets the result with its caps as host handles.
  expected<log_entry> run_call(log_entry e, arg_list args, value& host_result) {
    const std::uint64_t ticks0 = stats().ticks;
    call_capture cap;
    auto target = lookup(e.actor, e.function, rights::call | rights::transfer);
    std::optional<error> refused;
    if (!target) {
      refused = std::move(target).error();
    } else if (auto s = send_input(*target, std::move(args), e.budget, cap); !s) {
      refused = std::move(s).error();
    } else {
      capture_ = &cap;
      run();
      capture_ = nullptr;
    }
    e.result = std::move(cap.result);
    e.result_caps = value(std::move(cap.result_caps));
    e.outputs = value(std::move(cap.outputs));
    if (refused) e.error = log_error{static_cast<std::int64_t>(refused->code), std::string(to_string(refused->code)), refused->message};
    else if (cap.error) e.error = log_error{cap.error->code, std::string(to_string(cap.error->cause())), cap.error->message};
    e.ticks = stats().ticks - ticks0;
    if (auto r = append(e); !r) return unexpected(std::move(r).error());
    host_result = std::move(cap.host_result);
    return e;
  }

  // Sets the entry's root and stages it; outside a batch, commits the state and the entry
  // together. If the commit fails, the state goes back to the last commit: the input leaves
  // nothing behind.
  expected<void> append(log_entry& e) {
    auto root = state_root();
    if (!root) {
      if (batching_ && !batch_error_) batch_error_ = root.error();
      return unexpected(std::move(root).error());
    }
    e.root = *root;
    bytes enc = encode_entry(e);
    const digest h = entry_hash(enc);
    this->log_part::log.stage(std::move(enc), h, batch_meta_);
    if (batching_) return {};
    return commit_staged();
  }

  // Commits everything staged (state and entries) with one signed head.
  expected<void> commit_staged() {
    auto& l = this->log_part::log;
    l.seal(sign_log_ ? &this->log_part::key : nullptr, batch_meta_);
    auto c = commit_state(std::exchange(batch_meta_, {}));
    if (!c) {
      (void)back_to_store_head();
      return unexpected(std::move(c).error());
    }
    l.committed();
    return {};
  }

  void flush() {
    if (!outbox_.empty()) {
      scheduler_.push(std::move(outbox_));
      outbox_ = scheduler_.spare();
    }
    if (!host_outbox_.empty()) {
      // Host sends made during a delivery (from hooks and sinks): rare, so a fresh batch.
      scheduler_.push(std::move(host_outbox_));
      host_outbox_ = message_batch{};
    }
  }

  Scheduler scheduler_;
  bool sign_log_ = true;
  bool batching_ = false;
  commit_meta batch_meta_;             // the staged entries (and, when sealed, the head)
  std::optional<error> batch_error_;   // a batch input that could not be staged
};

}  // namespace exo
