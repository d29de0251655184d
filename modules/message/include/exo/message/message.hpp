#pragma once
/// \file
/// The message: what one actor asks of another. Messages between native actors are built
/// in place in the sender's outbox, handed to the scheduler as whole batches, and read in
/// place by the receiver: no serialisation, no allocation per message (arguments up to
/// `inline_args` live inside the message), and arguments are moved, never copied.

#include <exo/core/id.hpp>
#include <exo/core/value.hpp>
#include <exo/message/capability.hpp>

#include <compare>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <cstdint>
#include <utility>
#include <vector>

namespace exo {

/// Arguments kept inside a message without allocating.
inline constexpr std::size_t inline_args = 2;

/// A message's arguments: a vector of values that keeps up to inline_args of them inside
/// itself (48 bytes). Values own at most one pointer and none points into the value itself,
/// so moving the list moves its values' bits, with nothing else to do: a send of a few scalars
/// costs a few stores, where a general small vector spends about 40 instructions (measured).
class arg_list {
 public:
  using value_type = value;
  using size_type = std::size_t;
  using iterator = value*;
  using const_iterator = const value*;

  arg_list() noexcept = default;
  arg_list(std::initializer_list<value> l) {
    reserve(l.size());
    for (const value& v : l) push_back(v);
  }
  arg_list(const arg_list& o) {
    reserve(o.size_);
    for (const value& v : o) push_back(v);
  }
  arg_list(arg_list&& o) noexcept { take(o); }
  arg_list& operator=(const arg_list& o) {
    if (this != &o) *this = arg_list(o);
    return *this;
  }
  arg_list& operator=(arg_list&& o) noexcept {
    if (this != &o) {
      clear();
      free_heap();
      take(o);
    }
    return *this;
  }
  [[gnu::always_inline]] ~arg_list() {
    clear();
    free_heap();
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t capacity() const noexcept { return cap_; }
  value* data() noexcept { return data_; }
  const value* data() const noexcept { return data_; }
  value& operator[](std::size_t i) noexcept { return data_[i]; }
  const value& operator[](std::size_t i) const noexcept { return data_[i]; }
  value& front() noexcept { return data_[0]; }
  value& back() noexcept { return data_[size_ - 1]; }
  iterator begin() noexcept { return data_; }
  iterator end() noexcept { return data_ + size_; }
  const_iterator begin() const noexcept { return data_; }
  const_iterator end() const noexcept { return data_ + size_; }

  template <class... A>
  [[gnu::always_inline]] value& emplace_back(A&&... a) {
    if (size_ == cap_) [[unlikely]]
      grow(cap_ * 2);
    return *new (data_ + size_++) value(std::forward<A>(a)...);
  }
  void push_back(const value& v) { emplace_back(v); }
  void push_back(value&& v) { emplace_back(std::move(v)); }
  void pop_back() noexcept { data_[--size_].~value(); }
  /// Destroys the values and keeps the capacity.
  void clear() noexcept {
    for (std::uint32_t i = 0; i < size_; ++i) data_[i].~value();
    size_ = 0;
  }
  void reserve(std::size_t n) {
    if (n > cap_) grow(n);
  }
  /// Destroys the values if one of them owns memory (bytes, a string, a list or a map); values
  /// that own none are left in place, for forget(): a message slot consumed in a burst is then
  /// read and not written (each write is memory traffic: the line goes back to memory).
  void release() noexcept {
    for (std::uint32_t i = 0; i < size_; ++i)
      if (data_[i].owns_memory()) {
        clear();
        return;
      }
  }
  /// Empties a list whose values own no memory (what release() leaves): nothing to destroy.
  void forget() noexcept { size_ = 0; }
  /// Moves `from`'s values to the end of this list, `from` left empty: their bits are copied
  /// when they fit (nothing is constructed, destroyed or checked); an empty list too small
  /// for them takes `from`'s buffer; else this list grows. A reused message slot has room for
  /// inline_args at least (and keeps a larger buffer it once needed), so a send of a few
  /// arguments into it is a few stores.
  [[gnu::always_inline]] void append(arg_list&& from) {
    if (size_ + from.size_ > cap_) [[unlikely]] {
      if (empty()) {
        *this = std::move(from);
        return;
      }
      grow(size_ + from.size_);
    }
    relocate_n(from.data_, from.size_, data_ + size_);
    size_ += from.size_;
    from.size_ = 0;
  }

  /// Whether `v` is a capability or a container (list or map) that may hold one: only such
  /// arguments are walked for capabilities.
  static bool may_hold_cap(const value& v) noexcept {
    const kind t = v.type();
    return t == kind::cap || t == kind::list || t == kind::map;
  }
  /// append(), and whether a value moved is a capability or a container (list or map) that
  /// may hold one, noted in the same pass over the values (a send walks its arguments for
  /// capabilities only then). For a list that was empty (a message slot being filled).
  [[gnu::always_inline]] bool append_noting_caps(arg_list&& from) {
    if (size_ + from.size_ > cap_) [[unlikely]] {
      append(std::move(from));
      bool any = false;
      for (std::uint32_t i = 0; i < size_; ++i) any |= may_hold_cap(data_[i]);
      return any;
    }
    bool any = false;
    value* to = data_ + size_;
    for (std::uint32_t i = 0; i < from.size_; ++i) {
      any |= may_hold_cap(from.data_[i]);
      std::memcpy(static_cast<void*>(to + i), static_cast<const void*>(from.data_ + i), sizeof(value));
    }
    size_ += from.size_;
    from.size_ = 0;
    return any;
  }

  friend bool operator==(const arg_list& a, const arg_list& b) noexcept {
    if (a.size_ != b.size_) return false;
    for (std::uint32_t i = 0; i < a.size_; ++i)
      if (!(a.data_[i] == b.data_[i])) return false;
    return true;
  }

 private:
  value* inline_data() noexcept { return reinterpret_cast<value*>(buf_); }
  bool on_heap() const noexcept { return data_ != reinterpret_cast<const value*>(buf_); }
  // Takes o's values (its buffer, or its inline values' bits); o is left empty and inline.
  void take(arg_list& o) noexcept {
    if (o.on_heap()) {
      data_ = o.data_;
      cap_ = o.cap_;
      o.data_ = o.inline_data();
      o.cap_ = inline_args;
    } else {  // relocated, as in append
      relocate_n(o.data_, o.size_, data_);
    }
    size_ = o.size_;
    o.size_ = 0;
  }
  // Relocation: copies n values' bits to `to`, and the values at `from` are forgotten there,
  // not destroyed, so each is in one place. A value is its kind and one word (a scalar or
  // the pointer it owns), and none points into itself. (A constant-size copy each: no
  // library call.)
  static void relocate_n(const value* from, std::uint32_t n, value* to) noexcept {
    for (std::uint32_t i = 0; i < n; ++i)
      std::memcpy(static_cast<void*>(to + i), static_cast<const void*>(from + i), sizeof(value));
  }
  [[gnu::noinline]] void grow(std::size_t n) {
    if (n > UINT32_MAX) throw std::length_error("exo::arg_list: too many arguments");
    auto* fresh = static_cast<value*>(::operator new(n * sizeof(value), std::align_val_t{alignof(value)}));
    relocate_n(data_, size_, fresh);
    free_heap();
    data_ = fresh;
    cap_ = static_cast<std::uint32_t>(n);
  }
  void free_heap() noexcept {
    if (on_heap()) [[unlikely]] {
      ::operator delete(data_, std::align_val_t{alignof(value)});
      data_ = inline_data();
      cap_ = inline_args;
    }
  }

  value* data_ = inline_data();
  std::uint32_t size_ = 0;
  std::uint32_t cap_ = inline_args;
  alignas(value) unsigned char buf_[inline_args * sizeof(value)];
};
static_assert(sizeof(arg_list) == 16 + inline_args * sizeof(value));
/// Capabilities carried by a message; its arguments' cap values index this list. One pointer
/// (most messages carry none): the list is made the first time a message slot carries a
/// capability and kept, cleared, for the slot's later messages, so it allocates once per slot.
class cap_list {
 public:
  cap_list() noexcept = default;
  cap_list(const cap_list& o) : v_(o.empty() ? nullptr : std::make_unique<std::vector<capability>>(*o.v_)) {}
  cap_list& operator=(const cap_list& o) {
    if (this != &o) *this = cap_list(o);
    return *this;
  }
  cap_list(cap_list&&) noexcept = default;
  cap_list& operator=(cap_list&&) noexcept = default;
  ~cap_list() = default;

  bool empty() const noexcept { return !v_ || v_->empty(); }
  std::size_t size() const noexcept { return v_ ? v_->size() : 0; }
  const capability& operator[](std::size_t i) const noexcept { return (*v_)[i]; }
  const capability* begin() const noexcept { return v_ ? v_->data() : nullptr; }
  const capability* end() const noexcept { return v_ ? v_->data() + v_->size() : nullptr; }
  void push_back(const capability& c) {
    if (!v_) v_ = std::make_unique<std::vector<capability>>();
    v_->push_back(c);
  }
  void clear() noexcept {
    if (v_) v_->clear();
  }

 private:
  std::unique_ptr<std::vector<capability>> v_;
};

/// One message. Ordered by key(): (ticks, sender_id, seq) — DESIGN.md section 4.1.
struct message {
  /// What is called: a function cap or an egress (already resolved and rights-checked).
  capability target;
  /// Where the result goes (kind none: nowhere). Kept by forwards.
  capability reply_to;
  /// The actor told if this message fails: the sender, or the sender's origin on a forward.
  std::uint32_t origin = 0;
  /// The sender's clock when it sent this.
  std::uint64_t ticks = 0;
  /// The sender's own sequence number for this message (unique per sender).
  std::uint64_t seq = 0;
  /// Ticks the receiver may spend (execution plus the budgets of what it sends).
  std::uint64_t budget = 0;
  /// The sender's id: the scheduler's tie-breaker and what the receiver sees. It points at
  /// the id where the hypervisor keeps it, in the sender's actor record, which stays in place
  /// while any message it sent exists (a pointer, not a copy: 24 bytes less in every message,
  /// and a burst of a million messages is bound by memory traffic).
  const id* sender_id = nullptr;
  arg_list args;
  cap_list caps;

  message() = default;
  // arg_list's move never allocates (it steals a heap buffer or moves inline values), so
  // moving a message cannot throw; saying so lets batches move rather than copy on growth.
  message(message&&) noexcept = default;
  message& operator=(message&&) noexcept = default;
  message(const message&) = default;
  message& operator=(const message&) = default;
  ~message() = default;
};
static_assert(std::is_nothrow_move_constructible_v<message>);
// Every byte of a message is memory traffic in a burst (written by the send, read by the
// delivery): keep an eye on its size.
static_assert(sizeof(message) <= 120);

/// The delivery order of the ordered scheduler: sender ticks, then sender id, then sequence.
inline bool key_less(const message& a, const message& b) noexcept {
  if (a.ticks != b.ticks) return a.ticks < b.ticks;
  if (a.sender_id != b.sender_id)
    if (auto c = *a.sender_id <=> *b.sender_id; c != 0) return c < 0;
  return a.seq < b.seq;
}

namespace detail {

/// Storage for message batches. A burst of a million messages fills over 100 MB of slots,
/// and the first touch of each 4 KiB page is a page fault (in these VMs about 5 us each: a
/// burst's faults cost more than its deliveries). So a block of at least `huge_block` bytes
/// is mapped 2 MiB-aligned and advised to use transparent huge pages, 512 times fewer
/// faults where the system has them (advice only: without them it works as before).
/// Smaller blocks are operator new's.
inline constexpr std::size_t huge_block = std::size_t{2} << 20;
void* batch_allocate(std::size_t bytes);
void batch_deallocate(void* p, std::size_t bytes) noexcept;

template <class T>
struct batch_allocator {
  using value_type = T;
  batch_allocator() noexcept = default;
  template <class U>
  batch_allocator(const batch_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > std::size_t(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(batch_allocate(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { batch_deallocate(p, n * sizeof(T)); }
  friend bool operator==(const batch_allocator&, const batch_allocator&) noexcept { return true; }
};

}  // namespace detail

/// A run of messages from one transaction, in ascending key order, read front to back.
/// Message slots are reused: consuming a message clears its arguments but keeps the slot
/// (and its capacity) for the next message written into this batch, and batches themselves
/// are recycled by the scheduler, so steady-state messaging neither allocates nor runs
/// message constructors and destructors.
class message_batch {
 public:
  message_batch() = default;
  message_batch(message_batch&& o) noexcept
      : items_(std::move(o.items_)), head_(o.head_), size_(o.size_), slots_(o.slots_) {
    o.items_.clear();
    o.head_ = o.size_ = o.slots_ = 0;
  }
  message_batch& operator=(message_batch&& o) noexcept {
    items_ = std::move(o.items_);
    head_ = o.head_;
    size_ = o.size_;
    slots_ = o.slots_;
    o.items_.clear();
    o.head_ = o.size_ = o.slots_ = 0;
    return *this;
  }

  void swap(message_batch& o) noexcept {
    items_.swap(o.items_);
    std::swap(head_, o.head_);
    std::swap(size_, o.size_);
    std::swap(slots_, o.slots_);
  }

  bool empty() const noexcept { return head_ == size_; }
  std::size_t size() const noexcept { return size_ - head_; }
  message& front() noexcept { return items_[head_]; }
  const message& front() const noexcept { return items_[head_]; }
  message& back() noexcept { return items_[size_ - 1]; }
  /// Consumes the front message (arguments that own memory are released now).
  void pop_front() noexcept {
    prefetch(head_ + prefetch_ahead);
    release(items_[head_]);
    if (++head_ == size_) head_ = size_ = 0;
  }
  /// A message at the back with every field reset, to be filled in place.
  message& emplace_back() {
    if (size_ == slots_) return grow();
    message& m = items_[size_++];
    m.args.forget();
    m.target = {};
    m.reply_to = {};
    m.origin = 0;
    m.ticks = m.seq = m.budget = 0;
    m.sender_id = nullptr;
    return m;
  }
  /// A message slot at the back with empty arguments and capabilities and every other field
  /// left as the slot's last message had it: for a writer that sets each one (kernel::post),
  /// which saves resetting a slot it overwrites.
  message& append_slot() {
    if (size_ == slots_) [[unlikely]]
      return grow();
    prefetch(size_ + prefetch_ahead);
    message& m = items_[size_++];
    m.args.forget();
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
  std::size_t capacity() const noexcept { return slots_; }
  message* begin() noexcept { return items_.data() + head_; }
  message* end() noexcept { return items_.data() + size_; }

 private:
  // A new slot at the back (every slot is in use).
  message& grow() {
    items_.emplace_back();
    slots_ = items_.size();
    return items_[size_++];
  }
  // A burst's slots are more than the inner caches hold (a million messages fill 120 MB),
  // and each is written by the send and read by the delivery, in order: asking for the slot
  // some messages ahead hides the wait for it. Measured on (b), a million messages queued,
  // interleaved: 34-38 ns a message without, 31-35 ns 8 ahead, 28.4-29.7 ns 32 ahead (16: 30-31,
  // 64 and 128 no better than 32); a burst that fits in the cache is unchanged.
  static constexpr std::size_t prefetch_ahead = 32;
  // (The address is computed as an integer: past the end is harmless, a prefetch never faults.)
  void prefetch(std::size_t i) const noexcept {
    __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(items_.data()) + i * sizeof(message)),
                       1);
  }
  // A consumed message's arguments are destroyed if they own memory and otherwise forgotten
  // when its slot is next written (emplace_back, append_slot): see arg_list::release.
  static void release(message& m) noexcept {
    m.args.release();
    m.caps.clear();
  }
  std::vector<message, detail::batch_allocator<message>> items_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  std::size_t slots_ = 0;  // items_.size(), kept: a vector's size is a division by sizeof(message)
};

}  // namespace exo
