#pragma once
/// \file
/// exo::hypervisor — the composition of exo's modules through compile-time policies.
///
/// \code
/// exo::hypervisor<> hv;                              // ordered (deterministic) scheduler
/// exo::hypervisor<exo::fifo_scheduler> fast;         // no order promised, less work
/// auto bank = hv.create(bank_actor{});               // a capability in the host's table
/// hv.call(*hv.function_cap(bank, "open"), "alice", 100);
/// hv.run();                                          // until idle
/// \endcode
///
/// Later policies (store, call log, runner) are added as further template parameters with
/// defaults, so `exo::hypervisor<exo::ordered_scheduler>` keeps compiling as they arrive.

#include <exo/hypervisor/kernel.hpp>
#include <exo/scheduler/concept.hpp>
#include <exo/scheduler/fifo.hpp>
#include <exo/scheduler/ordered.hpp>

#include <cstddef>
#include <limits>

namespace exo {

template <scheduler_policy Scheduler = ordered_scheduler>
class hypervisor : public kernel {
 public:
  using scheduler_type = Scheduler;
  /// True if this composition promises the same deliveries, results and roots on every run.
  static constexpr bool deterministic = Scheduler::tick_ordered;

  explicit hypervisor(config cfg = {}) : kernel(std::move(cfg)) {}

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

 private:
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
