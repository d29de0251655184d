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
#include <type_traits>
#include <cstdint>
#include <vector>

namespace exo {

/// Arguments kept inside a message without allocating.
inline constexpr std::size_t inline_args = 2;
/// A message's arguments.
using arg_list = boost::container::small_vector<value, inline_args>;
/// Capabilities carried by a message; its arguments' cap values index this list. (A plain
/// vector: message slots are reused, so its capacity is kept and it allocates only the first
/// time a slot carries a capability.)
using cap_list = std::vector<capability>;

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

  message() = default;
  // small_vector's move never allocates (it steals a heap buffer or moves inline elements),
  // so moving a message cannot throw; saying so lets batches move rather than copy on growth.
  message(message&&) noexcept = default;
  message& operator=(message&&) noexcept = default;
  message(const message&) = default;
  message& operator=(const message&) = default;
  ~message() = default;
};
static_assert(std::is_nothrow_move_constructible_v<message>);

/// The delivery order of the ordered scheduler: sender ticks, then sender id, then sequence.
inline bool key_less(const message& a, const message& b) noexcept {
  if (a.ticks != b.ticks) return a.ticks < b.ticks;
  if (auto c = a.sender_id <=> b.sender_id; c != 0) return c < 0;
  return a.seq < b.seq;
}

/// A run of messages from one transaction, in ascending key order, read front to back.
/// Message slots are reused: consuming a message clears its arguments but keeps the slot
/// (and its capacity) for the next message written into this batch, and batches themselves
/// are recycled by the scheduler, so steady-state messaging neither allocates nor runs
/// message constructors and destructors.
class message_batch {
 public:
  message_batch() = default;
  message_batch(message_batch&& o) noexcept
      : items_(std::move(o.items_)), head_(o.head_), size_(o.size_) {
    o.items_.clear();
    o.head_ = o.size_ = 0;
  }
  message_batch& operator=(message_batch&& o) noexcept {
    items_ = std::move(o.items_);
    head_ = o.head_;
    size_ = o.size_;
    o.items_.clear();
    o.head_ = o.size_ = 0;
    return *this;
  }

  bool empty() const noexcept { return head_ == size_; }
  std::size_t size() const noexcept { return size_ - head_; }
  message& front() noexcept { return items_[head_]; }
  const message& front() const noexcept { return items_[head_]; }
  message& back() noexcept { return items_[size_ - 1]; }
  /// Consumes the front message (its arguments are released now).
  void pop_front() noexcept {
    release(items_[head_]);
    if (++head_ == size_) head_ = size_ = 0;
  }
  /// A message at the back with every field reset, to be filled in place.
  message& emplace_back() {
    if (size_ == items_.size()) return items_.emplace_back(), items_[size_++];
    message& m = items_[size_++];
    m.target = {};
    m.reply_to = {};
    m.sender = m.origin = 0;
    m.ticks = m.seq = m.budget = 0;
    m.sender_id = {};
    return m;
  }
  /// Discards the back message (a send that was refused half-way).
  void pop_back() noexcept { release(items_[--size_]); }
  /// Discards every unconsumed message.
  void clear() noexcept {
    for (std::size_t i = head_; i < size_; ++i) release(items_[i]);
    head_ = size_ = 0;
  }
  /// Message slots this batch holds (constructed, reusable).
  std::size_t capacity() const noexcept { return items_.size(); }
  message* begin() noexcept { return items_.data() + head_; }
  message* end() noexcept { return items_.data() + size_; }

 private:
  static void release(message& m) noexcept {
    m.args.clear();
    m.caps.clear();
  }
  std::vector<message> items_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace exo
