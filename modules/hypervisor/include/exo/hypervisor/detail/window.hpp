#pragma once
/// \file
/// The delivery loop of a parallel scheduler (exo/scheduler/parallel.hpp): it takes windows
/// of safe messages off the queue and runs them on several threads, each receiver's messages
/// in key order on one thread, then tells the host what they did in key order.

#include <exo/hypervisor/kernel.hpp>
#include <exo/scheduler/parallel.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

namespace exo::detail {

class window_runner {
 public:
  /// `threads`: the caller's and threads - 1 more, started here and stopped by the destructor.
  explicit window_runner(unsigned threads);
  ~window_runner();
  window_runner(const window_runner&) = delete;
  window_runner& operator=(const window_runner&) = delete;

  /// Delivers up to `max` messages of `q`; returns how many.
  std::size_t run(kernel& k, ordered_scheduler& q, std::size_t max, const parallel_tuning& tuning,
                  parallel_counts& counts);

 private:
  struct group {
    std::uint32_t first;  // into order_
    std::uint32_t count;
  };
  // Takes one window off the queue and runs it (or a message that must run alone); returns
  // how many messages it delivered, at most `max`.
  std::size_t gather(kernel& k, ordered_scheduler& q, std::size_t max, const parallel_tuning& tuning,
                     parallel_counts& counts);
  // Runs a window of n gathered messages; true if it ran on threads.
  bool run_window(kernel& k, ordered_scheduler& q, std::size_t n, const parallel_tuning& tuning,
                  parallel_counts& counts);
  // Whether a window of n messages is estimated to take long enough serially for threads.
  bool worth(std::size_t n, const parallel_tuning& tuning) const noexcept;
  void measured(std::uint64_t ns, std::size_t messages) noexcept;  // updates ns_per_message_
  // What a window of several receivers that started with a message to `first` took (as if
  // serial): windows repeat, and run() gathers the next one that starts there if it was
  // worth threads.
  void remember(std::uint32_t first, double ns);
  void run_parallel(kernel& k, std::size_t n);
  void run_group(kernel& k, std::uint32_t g, lane& l);
  // Delivers e in lane l; its sends go to e.out unless it was deferred.
  void deliver_entry(kernel& k, window_entry& e, lane& l);
  void claim_groups(kernel& k, lane& l);
  void worker(unsigned index);

  unsigned threads_;
  std::vector<std::thread> workers_;
  std::vector<lane> lanes_;             // lanes_[i] is thread i's; 0 is the caller's
  std::vector<window_entry> entries_;   // the window, in key order (kept for their buffers)
  std::vector<std::uint64_t> order_;    // (receiver slot << 32 | entry index), sorted
  std::vector<group> groups_;           // one per receiver
  std::vector<std::uint32_t> anywhere_; // groups any thread may run
  std::vector<std::uint32_t> here_;     // groups only the caller's thread may run
  double ns_per_message_ = 0;           // recent time per message, as if serial (0: unknown)
  double last_parallel_ns_ = 0;         // what the last window on threads took, as if serial
  bool gather_ = false;                 // gather windows for threads (else deliver in place)
  std::vector<float> history_;          // by first receiver's slot: its last mixed window's ns
  std::uint32_t to_probe_ = 1;          // messages until the serial loop's next probe
  std::uint64_t probe_seed_ = 1;
  std::uint32_t runs_ = 0;              // calls of run() (one in 8 times its serial stretch)

  // Hand-off to the worker threads. work_: (groups in the window << 32) | next group to claim;
  // done_: groups finished; generation_ wakes sleeping workers.
  std::atomic<kernel*> k_{nullptr};
  std::atomic<std::uint64_t> work_{0};
  std::atomic<std::uint32_t> done_{0};
  std::atomic<std::uint32_t> generation_{0};
  std::atomic<std::uint32_t> sleepers_{0};
  std::atomic<std::uint64_t> spin_ns_{50'000};
  std::atomic<bool> stop_{false};
};

}  // namespace exo::detail
