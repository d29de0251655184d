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
/// Later policies (call log, runner) are added as further template parameters with
/// defaults, so existing spellings keep compiling as they arrive.

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

namespace exo {

namespace detail {
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

template <scheduler_policy Scheduler = ordered_scheduler, store_backend Store = memory_store>
class hypervisor : private detail::state_holder<Store>, public kernel {
  using holder = detail::state_holder<Store>;

 public:
  using scheduler_type = Scheduler;
  using store_type = Store;
  /// True if this composition promises the same deliveries, results and roots on every run.
  static constexpr bool deterministic = Scheduler::tick_ordered;
  /// True if the state outlives the process (then every actor type must be persistable).
  static constexpr bool durable = backend_durable<Store>;

  /// A hypervisor with a fresh store of its own (memory_store).
  explicit hypervisor(config cfg = {}) requires std::default_initializable<Store>
      : holder(), kernel(std::move(cfg), this->tree_view, durable) {}
  /// A hypervisor over `store`, resuming from its last commit. Throws std::runtime_error if
  /// the store holds another hypervisor's state (another config name) or cannot be read.
  explicit hypervisor(Store store, config cfg = {})
      : holder(std::move(store)), kernel(std::move(cfg), this->tree_view, durable) {}

  /// Creates a root actor (see kernel::create). A durable hypervisor takes only types whose
  /// state it can save: Hana structs and empty types.
  template <native_actor T>
  cap_handle create(T state) {
    static_assert(!durable || detail::persistable_state<T>,
                  "a durable hypervisor keeps actors' state in the store: declare this actor type with "
                  "BOOST_HANA_DEFINE_STRUCT (or make it empty)");
    return kernel::create(std::move(state));
  }

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

  /// The backend and the merkle tree (for proofs, iteration, diffs and snapshots).
  Store& store() noexcept { return this->backend; }
  merkle_tree<Store>& tree() noexcept { return this->tree_view.tree(); }

 private:
  unexpected<error> busy(std::string_view what) const {
    return unexpected(error{errc::invalid_argument,
                            fmt::format("{} needs an idle hypervisor: {} messages are pending (run() first)", what,
                                        pending())});
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
};

}  // namespace exo
