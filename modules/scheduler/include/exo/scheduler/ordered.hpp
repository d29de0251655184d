#pragma once
/// \file
/// The ordered scheduler: deterministic delivery in ascending (sender ticks, sender id,
/// sequence), DESIGN.md section 4.1.
///
/// Every batch is already sorted (it is one sender's sends in one transaction), so this is a
/// k-way merge: a binary heap over the waiting batches keyed by their front message. Popping
/// is O(1) while the front batch keeps the lead and O(log k) for k waiting batches otherwise —
/// independent of how many messages wait, so a million queued sends cost no more than ten.
/// Heap entries cache the front's ticks and the first 8 bytes of its sender id, so sifting
/// compares integers and reads message memory only to break a tie on both.

#include <exo/scheduler/concept.hpp>

#include <cstdint>
#include <vector>

namespace exo {

class ordered_scheduler {
 public:
  static constexpr bool tick_ordered = true;

  /// Takes b's messages into a free slot and gives back the drained batch the slot held
  /// (its message slots, constructed, to be filled next): no batch is moved through a pool.
  void push(message_batch& b) {
    size_ += b.size();
    std::uint32_t slot;
    if (free_.empty()) {
      slot = static_cast<std::uint32_t>(batches_.size());
      batches_.push_back(std::move(b));
      b = message_batch{};
    } else {
      slot = free_.back();
      free_.pop_back();
      kept_ -= batches_[slot].capacity();
      batches_[slot].swap(b);
    }
    if (heap_.size() == 1) heap_.front() = key_of(heap_.front().slot);  // a lone root's key may be stale (pop)
    heap_.push_back(key_of(slot));
    sift_up(heap_.size() - 1);
  }
  void push(message_batch&& b) { push(b); }

  message* front() noexcept { return heap_.empty() ? nullptr : &batches_[heap_.front().slot].front(); }

  // Inline: a delivery loop calls it once per message (measured: out of line, it costs the
  // loop a call and spills).
  [[gnu::always_inline]] void pop() { (void)pop_next(); }

  /// pop(), then front(), for a loop that pushed nothing since front(): the front batch, when
  /// it is the only one waiting and not drained, gives its next message with no heap work.
  [[gnu::always_inline]] message* pop_next() {
    --size_;
    std::uint32_t slot = heap_.front().slot;
    message_batch& top = batches_[slot];
    top.pop_front();
    if (top.empty()) {
      // Drained: it stays in its slot for the next push to hand back, unless the drained
      // batches kept would hold more than detail::max_kept_slots message slots.
      if (kept_ + top.capacity() > detail::max_kept_slots) top = message_batch{};
      kept_ += top.capacity();
      free_.push_back(slot);
      heap_.front() = heap_.back();
      heap_.pop_back();
    } else if (heap_.size() == 1) {
      return &top.front();  // alone, its key is not compared: it is refreshed when a push needs it
    } else {
      heap_.front() = key_of(slot);
    }
    if (heap_.size() > 1) sift_down();
    return front();
  }

  std::size_t size() const noexcept { return size_; }

 private:
  struct entry {
    std::uint64_t ticks;
    std::uint64_t prefix;
    std::uint32_t slot;
  };
  entry key_of(std::uint32_t slot) const noexcept {
    const message& m = batches_[slot].front();
    return entry{m.ticks, m.sender_id->prefix(), slot};
  }
  bool before(const entry& a, const entry& b) const noexcept {
    if (a.ticks != b.ticks) return a.ticks < b.ticks;
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    return key_less(batches_[a.slot].front(), batches_[b.slot].front());
  }
  void sift_up(std::size_t i) noexcept {
    entry e = heap_[i];
    while (i > 0) {
      std::size_t parent = (i - 1) / 2;
      if (!before(e, heap_[parent])) break;
      heap_[i] = heap_[parent];
      i = parent;
    }
    heap_[i] = e;
  }
  [[gnu::always_inline]] void sift_down() noexcept {  // (pop's, inline with it)
    std::size_t n = heap_.size(), i = 0;
    entry e = heap_[0];
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
      if (!before(heap_[child], e)) break;
      heap_[i] = heap_[child];
      i = child;
    }
    heap_[i] = e;
  }

  std::vector<message_batch> batches_;  // waiting batches by slot; a free slot's is drained
  std::vector<std::uint32_t> free_;     // free slots of batches_
  std::vector<entry> heap_;
  std::size_t size_ = 0;
  std::size_t kept_ = 0;  // message slots held by the drained batches in free slots
};

static_assert(scheduler_policy<ordered_scheduler>,
              "ordered_scheduler must satisfy exo::scheduler_policy");

}  // namespace exo
