#pragma once
/// \file
/// The scheduler policy concept. A scheduler holds committed batches of messages and says
/// which message the hypervisor delivers next. Every batch it is given is in ascending key
/// order (one transaction's sends), which a policy may rely on.

#include <exo/message/message.hpp>

#include <concepts>
#include <cstddef>

namespace exo {

/// What a scheduler policy provides:
/// - `static constexpr bool tick_ordered`: delivers in (ticks, sender id, seq) order, so the
///   same inputs give the same deliveries and state root (DESIGN.md section 4.1);
/// - `push(message_batch&&)`: takes a non-empty, key-ordered batch;
/// - `front() -> message*`: the next message to deliver, or nullptr when idle;
/// - `pop()`: that message is done;
/// - `size()`: messages waiting;
/// - `spare() -> message_batch`: an empty batch to fill next (recycled, keeps capacity).
template <class S>
concept scheduler_policy =
    std::default_initializable<S> && requires(S s, const S cs, message_batch&& b) {
      { S::tick_ordered } -> std::convertible_to<bool>;
      { s.push(std::move(b)) } -> std::same_as<void>;
      { s.front() } -> std::same_as<message*>;
      { s.pop() } -> std::same_as<void>;
      { cs.size() } -> std::same_as<std::size_t>;
      { s.spare() } -> std::same_as<message_batch>;
    };

namespace detail {
/// Keeps drained batches for reuse so steady-state messaging does not allocate. Batches that
/// grew large are freed instead, so one burst does not pin its memory.
class batch_pool {
 public:
  static constexpr std::size_t max_kept = 256;
  static constexpr std::size_t max_capacity = 1024;
  message_batch take() {
    if (pool_.empty()) return {};
    message_batch b = std::move(pool_.back());
    pool_.pop_back();
    return b;
  }
  void give(message_batch&& b) {
    if (pool_.size() < max_kept && b.capacity() <= max_capacity) {
      b.clear();
      pool_.push_back(std::move(b));
    }
  }

 private:
  std::vector<message_batch> pool_;
};
}  // namespace detail

}  // namespace exo
