#pragma once
/// \file
/// The ordered scheduler: deterministic delivery in ascending (sender ticks, sender id,
/// sequence), DESIGN.md section 4.1.
///
/// Every batch is already sorted (it is one sender's sends in one transaction), so this is a
/// k-way merge: a binary heap of batches keyed by their front message. Popping is O(1) while
/// the front batch keeps the lead and O(log k) for k waiting batches otherwise — independent
/// of how many messages wait, so a million queued sends cost no more than ten.

#include <exo/scheduler/concept.hpp>

#include <algorithm>
#include <vector>

namespace exo {

class ordered_scheduler {
 public:
  static constexpr bool tick_ordered = true;

  void push(message_batch&& b) {
    size_ += b.size();
    heap_.push_back(std::move(b));
    std::push_heap(heap_.begin(), heap_.end(), later);
  }

  message* front() noexcept { return heap_.empty() ? nullptr : &heap_.front().front(); }

  void pop() {
    --size_;
    message_batch& top = heap_.front();
    top.pop_front();
    if (top.empty()) {
      message_batch done = std::move(top);
      if (heap_.size() > 1) heap_.front() = std::move(heap_.back());
      heap_.pop_back();
      pool_.give(std::move(done));
      if (heap_.size() > 1) sift_down();
    } else if (heap_.size() > 1) {
      sift_down();
    }
  }

  std::size_t size() const noexcept { return size_; }
  message_batch spare() { return pool_.take(); }

 private:
  // Heap order: the batch whose front message comes first is on top.
  static bool later(const message_batch& a, const message_batch& b) noexcept {
    return key_less(b.front(), a.front());
  }
  // The top batch's key grew: restore the heap from the root.
  void sift_down() noexcept {
    std::size_t n = heap_.size(), i = 0;
    for (;;) {
      std::size_t l = 2 * i + 1, r = l + 1, best = i;
      if (l < n && later(heap_[best], heap_[l])) best = l;
      if (r < n && later(heap_[best], heap_[r])) best = r;
      if (best == i) return;
      std::swap(heap_[i], heap_[best]);
      i = best;
    }
  }

  std::vector<message_batch> heap_;
  std::size_t size_ = 0;
  detail::batch_pool pool_;
};

static_assert(scheduler_policy<ordered_scheduler>,
              "ordered_scheduler must satisfy exo::scheduler_policy");

}  // namespace exo
