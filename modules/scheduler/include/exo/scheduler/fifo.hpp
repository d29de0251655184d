#pragma once
/// \file
/// The fifo scheduler: batches are delivered in the order they were committed, each front to
/// back, with no ordering work at all. Tick order is not promised (tick_ordered is false):
/// use it where throughput matters more than replayable order. It runs on the hypervisor's
/// thread; a multi-threaded policy needs actor-level locking and is not built yet.

#include <exo/scheduler/concept.hpp>

#include <deque>

namespace exo {

class fifo_scheduler {
 public:
  static constexpr bool tick_ordered = false;

  void push(message_batch& b) {
    size_ += b.size();
    queue_.push_back(std::move(b));
    b = pool_.take();
  }
  void push(message_batch&& b) { push(b); }
  message* front() noexcept { return queue_.empty() ? nullptr : &queue_.front().front(); }
  void pop() {
    --size_;
    queue_.front().pop_front();
    if (queue_.front().empty()) {
      pool_.give(std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  /// pop(), then front() (the loop pushed nothing in between).
  message* pop_next() {
    pop();
    return front();
  }
  std::size_t size() const noexcept { return size_; }

 private:
  std::deque<message_batch> queue_;
  std::size_t size_ = 0;
  detail::batch_pool pool_;
};

static_assert(scheduler_policy<fifo_scheduler>, "fifo_scheduler must satisfy exo::scheduler_policy");

}  // namespace exo
