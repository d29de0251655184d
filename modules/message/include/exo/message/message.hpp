#pragma once
/// \file
/// The message: what one actor asks of another. Messages between native actors are built
/// in place in the sender's outbox, handed to the scheduler as whole batches, and read in
/// place by the receiver: no serialisation, no allocation per message (arguments up to
/// `inline_args` live inside the message), and arguments are moved, never copied.

#include <exo/core/id.hpp>
#include <exo/core/value.hpp>
#include <exo/message/capability.hpp>

#include <boost/container/small_vector.hpp>

#include <compare>
#include <cstdint>
#include <vector>

namespace exo {

/// Arguments kept inside a message without allocating.
inline constexpr std::size_t inline_args = 2;
/// A message's arguments.
using arg_list = boost::container::small_vector<value, inline_args>;
/// Capabilities carried by a message; its arguments' cap values index this list.
using cap_list = boost::container::small_vector<capability, 1>;

/// One message. Ordered by key(): (ticks, sender_id, seq) — DESIGN.md section 4.1.
struct message {
  /// What is called: a function cap or an egress (already resolved and rights-checked).
  capability target;
  /// Where the result goes (kind none: nowhere). Kept by forwards.
  capability reply_to;
  /// The sending actor's slot (0 is the host).
  std::uint32_t sender = 0;
  /// The actor told if this message fails: the sender, or the sender's origin on a forward.
  std::uint32_t origin = 0;
  /// The sender's clock when it sent this.
  std::uint64_t ticks = 0;
  /// The sender's own sequence number for this message (unique per sender).
  std::uint64_t seq = 0;
  /// Ticks the receiver may spend (execution plus the budgets of what it sends).
  std::uint64_t budget = 0;
  /// The sender's id: the scheduler's tie-breaker and what the receiver sees.
  id sender_id;
  arg_list args;
  cap_list caps;
};

/// The delivery order of the ordered scheduler: sender ticks, then sender id, then sequence.
inline bool key_less(const message& a, const message& b) noexcept {
  if (a.ticks != b.ticks) return a.ticks < b.ticks;
  if (auto c = a.sender_id <=> b.sender_id; c != 0) return c < 0;
  return a.seq < b.seq;
}

/// A run of messages from one transaction, in ascending key order, read front to back.
/// Batches are recycled with their capacity, so steady-state messaging does not allocate.
class message_batch {
 public:
  message_batch() = default;
  message_batch(message_batch&& o) noexcept : items_(std::move(o.items_)), head_(o.head_) { o.head_ = 0; o.items_.clear(); }
  message_batch& operator=(message_batch&& o) noexcept {
    items_ = std::move(o.items_);
    head_ = o.head_;
    o.items_.clear();
    o.head_ = 0;
    return *this;
  }
  bool empty() const noexcept { return head_ == items_.size(); }
  std::size_t size() const noexcept { return items_.size() - head_; }
  message& front() noexcept { return items_[head_]; }
  const message& front() const noexcept { return items_[head_]; }
  message& back() noexcept { return items_.back(); }
  /// Consumes the front message (its arguments are released now).
  void pop_front() noexcept {
    items_[head_].args.clear();
    if (++head_ == items_.size()) clear();
  }
  /// A new default message at the back, to be filled in place.
  message& emplace_back() { return items_.emplace_back(); }
  void pop_back() noexcept { items_.pop_back(); }
  void clear() noexcept {
    items_.clear();
    head_ = 0;
  }
  std::size_t capacity() const noexcept { return items_.capacity(); }
  auto begin() noexcept { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() noexcept { return items_.end(); }

 private:
  std::vector<message> items_;
  std::size_t head_ = 0;
};

}  // namespace exo
