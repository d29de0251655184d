#pragma once
/// \file
/// The parallel scheduler: the order of ordered_scheduler, with messages to different actors
/// run at the same time on `Threads` threads (the one that calls run() and Threads - 1 more).
/// It gives the same deliveries, results, traces and state roots as ordered_scheduler, on
/// every run (README: "Several cores, one order").
///
/// How (conservative windowed execution, as in parallel discrete-event simulation): every
/// delivery takes its arrival tick, so whatever a message sends is stamped at least
/// max(receiver clock, message ticks) + 1 + min(declared cost, budget) — its horizon. Every
/// queued message stamped below the smallest horizon of the messages before it is safe: no
/// message not yet sent can sort before it. The hypervisor takes such a window off the queue,
/// runs each receiver's messages in key order on some thread, and then, in key order, tells
/// the host what they did and queues what they sent. A message to the host (an egress, a
/// failure report) or to an actor that cannot load runs alone. Windows too small to pay for
/// handing work to a thread run serially, in place (parallel_tuning).
///
/// The policy itself is the queue; the hypervisor's loop (exo/hypervisor/detail/window.hpp)
/// does the rest.

#include <exo/scheduler/ordered.hpp>

#include <cstdint>

namespace exo {

/// How a parallel scheduler decides between a parallel and a serial window. Neither choice
/// changes a result; only the time.
struct parallel_tuning {
  /// A window runs in parallel only if its messages are estimated (from the time recent
  /// windows took per message) to take at least this long serially. 0: every window of two
  /// or more receivers runs in parallel (for tests).
  std::uint64_t min_window_ns = 50'000;
  /// How long an idle thread spins for the next window before it sleeps.
  std::uint64_t spin_ns = 50'000;
};

/// What the parallel loop did, since construction.
struct parallel_counts {
  std::uint64_t windows = 0;            ///< windows of two or more messages gathered, or seen by a probe
  std::uint64_t parallel_windows = 0;   ///< of them, run on several threads
  std::uint64_t parallel_messages = 0;  ///< messages in those
  std::uint64_t deferred = 0;           ///< messages that needed the kernel's tables and ran after their window
  std::uint64_t alone = 0;              ///< messages that had to run alone (to the host, ...)
};

template <unsigned Threads>
class parallel_scheduler {
  static_assert(Threads >= 1, "a parallel scheduler needs at least one thread");

 public:
  static constexpr bool tick_ordered = true;
  static constexpr unsigned threads = Threads;

  void push(message_batch& b) { q_.push(b); }
  void push(message_batch&& b) { q_.push(b); }
  message* front() noexcept { return q_.front(); }
  void pop() { q_.pop(); }
  std::size_t size() const noexcept { return q_.size(); }

  /// The queue, in key order (for the hypervisor's loop).
  ordered_scheduler& queue() noexcept { return q_; }
  parallel_tuning tuning;
  parallel_counts counts;

 private:
  ordered_scheduler q_;
};

/// A policy the hypervisor runs in parallel windows.
template <class S>
concept parallel_policy = scheduler_policy<S> && requires(S s) {
  { S::threads } -> std::convertible_to<unsigned>;
  { s.queue() } -> std::same_as<ordered_scheduler&>;
  { s.tuning } -> std::convertible_to<parallel_tuning>;
  { s.counts } -> std::convertible_to<parallel_counts>;
};

static_assert(parallel_policy<parallel_scheduler<2>>, "parallel_scheduler must satisfy exo::parallel_policy");

}  // namespace exo
