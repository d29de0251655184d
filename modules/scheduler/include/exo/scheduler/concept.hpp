#pragma once
/// \file
/// The scheduler policy concept. A scheduler holds committed batches of messages and says
/// which message the hypervisor delivers next. Every batch it is given is in ascending key
/// order (one transaction's sends), which a policy may rely on.

#include <exo/message/message.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>

namespace exo {

/// What a scheduler policy provides:
/// - `static constexpr bool tick_ordered`: delivers in (ticks, sender id, seq) order, so the
///   same inputs give the same deliveries and state root (DESIGN.md section 4.1);
/// - `push(message_batch& b)`: takes the messages of `b`, a non-empty, key-ordered batch, and
///   leaves `b` empty: the sender's next outbox, which may be a drained batch given back so
///   that its message slots are reused (steady-state messaging then allocates nothing);
/// - `front() -> message*`: the next message to deliver, or nullptr when idle;
/// - `pop()`: that message is done;
/// - `size()`: messages waiting.
///
/// And, optionally, `pop_next() -> message*`: pop(), then front(), where nothing was pushed
/// in between (a delivery that sent nothing): a policy can often answer it with less work
/// than the two calls (the hypervisor's loop uses it when present).
template <class S>
concept scheduler_policy =
    std::default_initializable<S> && requires(S s, const S cs, message_batch& b) {
      { S::tick_ordered } -> std::convertible_to<bool>;
      { s.push(b) } -> std::same_as<void>;
      { s.front() } -> std::same_as<message*>;
      { s.pop() } -> std::same_as<void>;
      { cs.size() } -> std::same_as<std::size_t>;
    };

/// A policy with pop_next() (see scheduler_policy).
template <class S>
concept has_pop_next = requires(S s) {
  { s.pop_next() } -> std::same_as<message*>;
};

namespace detail {
/// What a scheduler keeps of drained batches for reuse, at most, in message slots (about
/// 125 MB of 120-byte messages); beyond it drained batches are freed.
inline constexpr std::size_t max_kept_slots = std::size_t{1} << 20;

/// Keeps drained batches (with their constructed message slots) for reuse, so steady-state
/// messaging neither allocates nor touches fresh memory. Last in, first out: the batch just
/// drained is the one in cache, and a burst's large batch comes back for the next burst.
/// (Handing out the largest batch instead was measured 25-60% slower on ping-pong and fan.)
/// What is kept is bounded by max_kept_slots.
class batch_pool {
 public:
  static constexpr std::size_t max_kept = 4096;

  message_batch take() {
    if (pool_.empty()) return {};
    message_batch b = std::move(pool_.back());
    pool_.pop_back();
    slots_ -= b.capacity();
    return b;
  }
  void give(message_batch&& b) {
    std::size_t c = b.capacity();
    if (pool_.size() >= max_kept || slots_ + c > max_kept_slots) return;  // b is freed
    b.clear();
    slots_ += c;
    pool_.push_back(std::move(b));
  }

 private:
  std::vector<message_batch> pool_;
  std::size_t slots_ = 0;
};
}  // namespace detail

}  // namespace exo
