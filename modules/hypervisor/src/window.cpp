// Parallel windows (exo/hypervisor/detail/window.hpp): the kernel's side (horizon, reports
// in order, lanes joined) and the loop that builds windows and hands them to threads.
#include "records.hpp"

#include <exo/hypervisor/detail/window.hpp>

#include <algorithm>
#include <chrono>

namespace exo {

using internal::arrival;
using internal::sat_add;

[[gnu::always_inline]] inline std::optional<std::uint64_t> kernel::horizon(message& m) {
  if (m.target.kind == cap_kind::egress) return std::nullopt;  // the host's: its code may send at once
  const std::uint32_t slot = m.target.target;
  if (slot == 0) return std::nullopt;
  actor& a = actors_[slot];
  if (!a.type) [[unlikely]]
    if (!load(slot)) return std::nullopt;  // the serial loop reports why
  std::uint64_t cost;
  if (m.target.function == failure_function) {
    if (!a.type->on_failure) return std::nullopt;  // goes on to the host
    cost = failure_cost;
  } else {
    cost = a.type->functions[m.target.function].cost;
  }
  const std::uint64_t start = arrival(a.clock, m.ticks);
  if (start <= m.ticks) return std::nullopt;  // a saturated clock: no lookahead left
  return sat_add(start, std::min(cost, m.budget));
}

void kernel::report_entry(detail::window_entry& e) {
  const message& m = e.msg;
  actor& host = actors_[0];
  if (m.ticks > host.clock) host.clock = m.ticks;
  const id& receiver = actors_[m.target.target].self;
  if (log_hook_)
    for (auto& [level, text] : e.logs) log_hook_(receiver, level, text);
  e.logs.clear();
  if (e.fault) {
    if (observer_) observer_->on_fault(e.ordinal, *e.fault);
    e.fault.reset();
  }
  if (deliver_hook_) deliver_hook_(delivery{receiver, m.target.function, *m.sender_id, m.ticks, m.seq, e.ok});
}

void kernel::join(detail::lane& l) {
  kernel_stats& s = main_.stats;
  s.delivered += l.stats.delivered;
  s.failed += l.stats.failed;
  s.ticks = sat_add(s.ticks, l.stats.ticks);
  l.stats = {};
  main_.dirty.insert(main_.dirty.end(), l.dirty.begin(), l.dirty.end());
  l.dirty.clear();
}

namespace detail {
namespace {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

constexpr std::uint64_t low_mask = 0xffffffffu;
constexpr std::size_t untimed_stretch = 4096;  // messages run() delivers in place before it times them anyway
bool has_work(std::uint64_t w) noexcept { return (w & low_mask) < (w >> 32); }

}  // namespace

window_runner::window_runner(unsigned threads) : threads_(threads), lanes_(threads) {
  for (auto& l : lanes_) l.shared = true;
  workers_.reserve(threads - 1);
  for (unsigned i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker(i); });
}

window_runner::~window_runner() {
  stop_.store(true, std::memory_order_seq_cst);
  generation_.fetch_add(1, std::memory_order_seq_cst);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

void window_runner::worker(unsigned index) {
  lane& l = lanes_[index];
  for (;;) {
    // Spin a while for the next window: waking a sleeping thread costs tens of microseconds.
    const std::uint64_t until = now_ns() + spin_ns_.load(std::memory_order_relaxed);
    for (unsigned i = 0;; ++i) {
      if (stop_.load(std::memory_order_acquire)) return;
      if (has_work(work_.load(std::memory_order_acquire))) {
        claim_groups(*k_.load(std::memory_order_relaxed), l);
        break;
      }
      if ((i & 63) == 63 && now_ns() > until) {
        // Sleep. The caller publishes work, then looks for sleepers; this thread counts
        // itself a sleeper, then looks for work: one of the two sees the other.
        const std::uint32_t g = generation_.load(std::memory_order_seq_cst);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        if (!stop_.load(std::memory_order_seq_cst) && !has_work(work_.load(std::memory_order_seq_cst)))
          generation_.wait(g, std::memory_order_seq_cst);
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
        break;
      }
      cpu_relax();
    }
  }
}

void window_runner::claim_groups(kernel& k, lane& l) {
  for (;;) {
    const std::uint64_t w = work_.fetch_add(1, std::memory_order_acq_rel);
    if (!has_work(w)) return;
    run_group(k, anywhere_[w & low_mask], l);
    done_.fetch_add(1, std::memory_order_release);
  }
}

void window_runner::deliver_entry(kernel& k, window_entry& e, lane& l) {
  l.entry = &e;
  k.deliver<true>(e.msg, l);
  l.entry = nullptr;
  if (!e.deferred) e.out.swap(l.outbox);  // its sends; the lane keeps e.out's empty buffer
}

void window_runner::run_group(kernel& k, std::uint32_t g, lane& l) {
  const group& gr = groups_[g];
  bool deferred = false;
  for (std::uint32_t j = gr.first; j < gr.first + gr.count; ++j) {
    window_entry& e = entries_[order_[j] & low_mask];
    if (deferred) {  // an earlier message of this receiver waits: so do the later ones
      e.deferred = true;
      continue;
    }
    deliver_entry(k, e, l);
    deferred = e.deferred;
  }
}

void window_runner::remember(std::uint32_t first, double ns) {
  if (history_.size() <= first) history_.resize(first + 1, 0.0f);
  history_[first] = static_cast<float>(ns);
}

bool window_runner::worth(std::size_t n, const parallel_tuning& tuning) const noexcept {
  if (n < 2) return false;
  if (tuning.min_window_ns == 0) return true;
  return threads_ > 1 && ns_per_message_ > 0 &&
         static_cast<double>(n) * ns_per_message_ >= static_cast<double>(tuning.min_window_ns);
}

void window_runner::measured(std::uint64_t ns, std::size_t messages) noexcept {
  const double per = static_cast<double>(ns) / static_cast<double>(messages);
  ns_per_message_ = ns_per_message_ == 0 ? per : 0.75 * ns_per_message_ + 0.25 * per;
}

std::size_t window_runner::run(kernel& k, ordered_scheduler& q, std::size_t max, const parallel_tuning& tuning,
                               parallel_counts& counts) {
  spin_ns_.store(tuning.spin_ns, std::memory_order_relaxed);
  k.hand_over(q);
  if (tuning.min_window_ns == 0) gather_ = true;
  std::size_t done = 0;
  // Serial mode delivers in place, as the ordered loop does. Whatever a message sends sorts
  // after its window, so delivering a window message by message is the order the window would
  // give, and gathering may start at any message: what was delivered before is queued
  // already, in key order. Two things decide when to gather, neither of which changes a result:
  // - a message to an actor whose last window of several receivers (it came first) was worth
  //   threads: windows repeat, so its window is gathered;
  // - every few dozen messages, a probe follows one window (approximated by its first
  //   message's horizon): if it has several receivers and becomes worth threads, the rest of
  //   it is gathered; when it ends, what it took is remembered for its first receiver.
  const auto threshold = static_cast<float>(tuning.min_window_ns);
  const bool any_threads = threads_ > 1;
  std::size_t in_window = 0;  // the probe: messages of its window so far (0: not probing)
  std::uint64_t bound = 0;
  std::uint32_t first = 0;     // the window's first receiver
  // A receiver whose window the next gather continues: a probe's first, or the receiver of
  // the message delivered in place just before, stamped alike (so in the same window).
  // Without this, a window whose first receiver's history said "in place" (from some earlier,
  // cheaper window) started in place every time, its first messages delivered before the
  // rest were gathered.
  constexpr std::uint32_t no_slot = ~std::uint32_t{0};
  std::uint32_t joined = no_slot;
  std::uint32_t prev_slot = no_slot;  // the last message delivered in place, if it was the last delivered
  std::uint64_t prev_ticks = 0;
  bool mixed = false;          // another receiver came (one receiver's stream needs no threads)
  bool probe_timed = false;    // the probe reads the clock (in a timed run, as stretches do)
  std::uint64_t mixed_at = 0;  // when it became mixed, and messages delivered since
  std::size_t since_mixed = 0;
  // The time per message is measured over stretches of serial deliveries (two clock reads
  // each): in one run() in 8, and in any run once it has delivered 4,096 messages untimed. A
  // host that calls run() for every few messages would otherwise pay the clock for each call
  // (two reads cost about as much as a fine-grained message). A probe times its window only
  // in a timed run too.
  bool timed = (runs_++ & 7) == 0;
  std::uint64_t stretch_began = timed ? now_ns() : 0;
  std::size_t stretch = 0;
  auto stretch_ended = [&] {
    if (timed && stretch > 0) measured(now_ns() - stretch_began, stretch);
    stretch = 0;
  };
  // Kept in locals while the loop runs (a delivery is opaque to the compiler: members would
  // be read again for every message).
  std::uint32_t to_probe = to_probe_;
  const float* history = nullptr;
  std::size_t history_size = 0;
  auto reload_history = [&] {  // after remember() may have moved it
    history = history_.data();
    history_size = any_threads ? history_.size() : 0;
  };
  reload_history();
  auto probe_ended = [&] {
    if (in_window >= 2) ++counts.windows;
    if (mixed && since_mixed > 0 && probe_timed) {
      remember(first, static_cast<double>(now_ns() - mixed_at) * static_cast<double>(in_window) /
                          static_cast<double>(since_mixed));
      reload_history();
    }
    in_window = 0;
    mixed = false;
    // The next probe in 16 to 79 messages, varied so that it does not fall on the same
    // message of a repeating pattern every time.
    probe_seed_ = probe_seed_ * 6364136223846793005ULL + 1442695040888963407ULL;
    to_probe = 16 + static_cast<std::uint32_t>(probe_seed_ >> 58);
  };
  bool gather = gather_;
  while (done < max) {
    message* f = q.front();
    if (!f) break;
    if (gather) [[unlikely]] {
      stretch_ended();
      done += this->gather(k, q, max - done, tuning, counts);
      gather = gather_;
      if (joined != no_slot) {
        // The window ran on threads: what it took is remembered for the receiver it went on
        // from too, so that the next such window is gathered from there.
        if (gather) remember(joined, last_parallel_ns_);
        joined = no_slot;
      }
      prev_slot = no_slot;
      reload_history();
      if (timed) stretch_began = now_ns();
      continue;
    }
    const std::uint32_t slot = f->target.target;
    if (slot < history_size && history[slot] >= threshold) [[unlikely]] {
      if (in_window) {
        if (f->ticks < bound && slot != first) joined = first;  // the probe's window goes on
        probe_ended();
      }
      if (joined == no_slot && prev_slot != no_slot && prev_slot != slot && prev_ticks == f->ticks) joined = prev_slot;
      gather = true;
      continue;
    }
    if (in_window > 0) [[unlikely]] {
      if (f->ticks < bound) {
        if (slot != first && !mixed) [[unlikely]] {
          mixed = true;
          probe_timed = timed;
          mixed_at = timed ? now_ns() : 0;
          since_mixed = 0;
        }
        if (mixed && worth(in_window + 1, tuning)) {
          joined = first;
          probe_ended();
          gather = true;
          continue;  // f and the rest of its window
        }
        ++in_window;
        since_mixed += mixed;
      } else {
        probe_ended();
      }
    } else if (--to_probe == 0) [[unlikely]] {
      if (auto h = k.horizon(*f)) {
        in_window = 1;
        bound = *h;
        first = slot;
      } else {
        to_probe = 1;  // a message that would run alone: probe the next one
      }
    }
    prev_slot = slot;
    prev_ticks = f->ticks;
    k.deliver(*f);
    q.pop();
    k.hand_over(q);
    ++done;
    if (++stretch == untimed_stretch && !timed) [[unlikely]] {
      timed = true;
      stretch = 0;
      stretch_began = now_ns();
    }
  }
  if (in_window) probe_ended();  // (a window may go on in the next run(), unprobed)
  to_probe_ = to_probe;
  gather_ = gather;
  stretch_ended();
  return done;
}

std::size_t window_runner::gather(kernel& k, ordered_scheduler& q, std::size_t max, const parallel_tuning& tuning,
                                  parallel_counts& counts) {
  // The window: messages in key order, each stamped below the horizon of those before it.
  std::size_t n = 0, done = 0;
  std::uint64_t bound = 0;
  message* f = q.front();
  while (f && done + n < max) {
    if (n > 0 && f->ticks >= bound) break;
    auto h = k.horizon(*f);
    if (!h) {
      if (n > 0) break;
      k.deliver(*f);  // alone, in the serial loop's way
      q.pop();
      k.hand_over(q);
      ++done;
      ++counts.alone;
      f = q.front();
      continue;
    }
    bound = n == 0 ? *h : std::min(bound, *h);
    if (entries_.size() == n) entries_.emplace_back();
    entries_[n++].msg = std::move(*f);
    q.pop();
    f = q.front();
  }
  bool parallel = false;
  if (n == 1) {
    k.deliver(entries_[0].msg);
    k.hand_over(q);
  } else if (n > 1) {
    ++counts.windows;
    parallel = run_window(k, q, n, tuning, counts);
  }
  // Gather the next window too only while windows run in parallel.
  gather_ = tuning.min_window_ns == 0 || parallel;
  return done + n;
}

bool window_runner::run_window(kernel& k, ordered_scheduler& q, std::size_t n, const parallel_tuning& tuning,
                               parallel_counts& counts) {
  bool parallel = false;
  bool receivers = false;  // more than one (a stream to one actor is common and needs no sort)
  if (worth(n, tuning))
    for (std::size_t i = 1; i < n && !receivers; ++i) receivers = entries_[i].msg.target.target != entries_[0].msg.target.target;
  if (receivers) {
    // One group per receiver, its messages in key order.
    order_.clear();
    for (std::size_t i = 0; i < n; ++i)
      order_.push_back(std::uint64_t{entries_[i].msg.target.target} << 32 | static_cast<std::uint32_t>(i));
    std::sort(order_.begin(), order_.end());
    groups_.clear();
    anywhere_.clear();
    here_.clear();
    for (std::uint32_t j = 0; j < n;) {
      std::uint32_t end = j + 1;
      while (end < n && order_[end] >> 32 == order_[j] >> 32) ++end;
      const auto g = static_cast<std::uint32_t>(groups_.size());
      groups_.push_back(group{j, end - j});
      (k.actors_[order_[j] >> 32].type->any_thread ? anywhere_ : here_).push_back(g);
      j = end;
    }
    parallel = groups_.size() >= 2 && (tuning.min_window_ns == 0 || !anywhere_.empty());
  }
  const std::uint64_t t0 = now_ns();
  if (!parallel) {
    for (std::size_t i = 0; i < n; ++i) {
      k.deliver(entries_[i].msg);
      k.hand_over(q);
    }
    const std::uint64_t took = now_ns() - t0;
    measured(took, n);
    // Not worth threads this time: the next window that starts here runs in place.
    remember(entries_[0].msg.target.target, receivers ? static_cast<double>(took) : 0.0);
    return false;
  }
  ++counts.parallel_windows;
  counts.parallel_messages += n;
  run_parallel(k, n);
  // Its time per message, as if serial: spread over the threads that had work.
  const std::uint64_t serially = (now_ns() - t0) * std::min<std::size_t>(threads_, groups_.size());
  measured(serially, n);
  // Every receiver of it: the next such window is gathered whole, whichever comes first.
  last_parallel_ns_ = static_cast<double>(serially);
  for (const group& g : groups_) remember(static_cast<std::uint32_t>(order_[g.first] >> 32), last_parallel_ns_);

  // What needed the kernel's tables runs now, alone and in key order (its receiver's other
  // messages after it too); then the window's reports, in key order, and its sends queued.
  lane& l0 = lanes_[0];
  l0.shared = false;
  for (std::size_t i = 0; i < n; ++i) {
    window_entry& e = entries_[i];
    if (!e.deferred) continue;
    e.deferred = false;
    ++counts.deferred;
    deliver_entry(k, e, l0);  // (an exclusive lane defers nothing)
  }
  l0.shared = true;
  for (auto& l : lanes_) k.join(l);
  k.reporting_ = true;
  for (std::size_t i = 0; i < n; ++i) {
    window_entry& e = entries_[i];
    k.report_entry(e);
    if (!e.out.empty()) q.push(e.out);  // e.out comes back empty, for the next window
  }
  k.reporting_ = false;
  k.input_deliveries_ += n;
  return true;
}

void window_runner::run_parallel(kernel& k, std::size_t n) {
  const std::uint64_t base = k.input_deliveries_;
  for (std::size_t i = 0; i < n; ++i) entries_[i].ordinal = base + i;
  k_.store(&k, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  const auto shared = static_cast<std::uint32_t>(anywhere_.size());
  work_.store(std::uint64_t{shared} << 32, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    generation_.fetch_add(1, std::memory_order_seq_cst);
    generation_.notify_all();
  }
  lane& l0 = lanes_[0];
  for (std::uint32_t g : here_) run_group(k, g, l0);
  claim_groups(k, l0);
  for (unsigned i = 0; done_.load(std::memory_order_acquire) < shared; ++i) cpu_relax();
  work_.store(0, std::memory_order_relaxed);
}

}  // namespace detail
}  // namespace exo
