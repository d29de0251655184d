#pragma once
/// \file
/// The parts an exo::hypervisor holds, and how they are put together (exo/hypervisor.hpp).
/// They live in one heap block that never moves, since they refer to each other (the tree to
/// the store, the kernel to the tree, the ingress to the kernel, the log and the loop); the
/// hypervisor is a handle to it, so it can be returned by value.

#include <exo/call_log/store_log.hpp>
#include <exo/core/sign.hpp>
#include <exo/hypervisor/ingress.hpp>
#include <exo/hypervisor/detail/window.hpp>
#include <exo/hypervisor/kernel.hpp>
#include <exo/scheduler/concept.hpp>
#include <exo/scheduler/parallel.hpp>
#include <exo/store/backend.hpp>
#include <exo/store/state.hpp>

#include <concepts>
#include <limits>
#include <string>
#include <utility>

namespace exo {

/// The Log policy of a hypervisor that logs nothing.
struct no_log {};

/// A hypervisor's Log policy over `Store`: no_log, or a log_backend kept in that Store.
template <class Log, class Store>
concept log_policy = std::same_as<Log, no_log> || (log_backend<Log> && std::same_as<typename Log::store_type, Store>);

/// The key that signs a hypervisor's log: kept in the store's data directory (node.key,
/// readable only by its owner) for a directory_store, a new one for a store without files.
template <store_backend Store>
expected<node_key> node_key_for(const Store& s) {
  if constexpr (directory_store<Store>) return node_key::load_or_create(std::string(s.directory()) + "/node.key");
  else return node_key::generate();
}

namespace detail {

/// What runs a parallel policy's windows (none for a serial policy).
struct no_runner {};
template <class Scheduler>
struct runner_for {
  using type = no_runner;
};
template <parallel_policy Scheduler>
struct runner_for<Scheduler> {
  struct type : window_runner {
    type() : window_runner(Scheduler::threads) {}
  };
};

/// The kernel and its delivery loop: the scheduler, fed with what the kernel sends, decides
/// what the kernel delivers next. (The two sit side by side in one object, so the loop reaches
/// both at fixed offsets from one pointer: it runs once per message.)
template <scheduler_policy Scheduler>
class dispatcher final : public message_pump {
 public:
  dispatcher(config cfg, state_tree& state) : k(std::move(cfg), state) {}

  /// Delivers up to `max_messages` messages (each one transaction); returns how many.
  std::size_t run(std::size_t max_messages) {
    if constexpr (parallel_policy<Scheduler>)
      return runner_.run(k, scheduler_.queue(), max_messages, scheduler_.tuning, scheduler_.counts);
    k.hand_over(scheduler_);
    std::size_t n = 0;
    for (message* m = scheduler_.front(); m && n < max_messages; ++n) {
      k.deliver(*m);
      if constexpr (has_pop_next<Scheduler>) {
        if (k.unscheduled() == 0) {  // it sent nothing: the scheduler's order is as it was
          m = scheduler_.pop_next();
          continue;
        }
      }
      scheduler_.pop();
      k.hand_over(scheduler_);
      m = scheduler_.front();
    }
    return n;
  }
  std::size_t run_until_idle() override { return run(std::numeric_limits<std::size_t>::max()); }
  /// Hands what the kernel sent to the scheduler now: a batch must be one sender's sorted
  /// sends, so a host that queues messages of several senders hands over after each.
  void hand_over() {
    if constexpr (parallel_policy<Scheduler>) k.hand_over(scheduler_.queue());
    else k.hand_over(scheduler_);
  }
  std::size_t pending() const noexcept override { return scheduler_.size() + k.unscheduled(); }

  Scheduler& scheduler() noexcept { return scheduler_; }

  kernel k;

 private:
  Scheduler scheduler_;
  [[no_unique_address]] typename runner_for<Scheduler>::type runner_;
};

/// Store, state tree, kernel and delivery loop: every hypervisor has these.
template <class Scheduler, class Store>
struct core_parts {
  Store store;
  merkle_state<Store> state;
  dispatcher<Scheduler> loop;
  kernel& k = loop.k;
  core_parts(Store&& s, const root_ref& head, config cfg)
      : store(std::move(s)), state(store, head), loop(std::move(cfg), state) {}
  /// Reads the host's counters from the store.
  expected<void> resume() {
    if (auto r = k.resume(); !r) return fail(r.error().code, "cannot resume the hypervisor: " + r.error().message);
    return {};
  }
};

template <class Scheduler, class Store, class Log>
struct parts : core_parts<Scheduler, Store> {
  Log log;
  exo::ingress in;
  parts(Store&& s, const root_ref& head, config cfg, node_key key)
      : core_parts<Scheduler, Store>(std::move(s), head, std::move(cfg)),
        log(this->store),
        in(this->k, this->state, this->loop, log, std::move(key)) {}
  /// Reads what the store holds: the host's counters, the log, and checks that they agree.
  expected<void> open() {
    if (auto r = this->resume(); !r) return r;
    if (auto r = log.reload(); !r) return fail(r.error().code, "cannot open the call log: " + r.error().message);
    return in.resume(directory_store<Store>);
  }
};

template <class Scheduler, class Store>
struct parts<Scheduler, Store, no_log> : core_parts<Scheduler, Store> {
  parts(Store&& s, const root_ref& head, config cfg)
      : core_parts<Scheduler, Store>(std::move(s), head, std::move(cfg)) {}
  expected<void> open() { return this->resume(); }
};

}  // namespace detail
}  // namespace exo
