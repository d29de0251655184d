#pragma once
/// \file
/// Per-actor capability tables (c-lists), modelled on Zircon handles: code holds a handle,
/// an index plus a generation; the table holds what it names and its rights; every use is
/// checked here, at the use site. A dropped slot is reused with the next generation, so a
/// stale or forged handle is refused rather than silently naming something else.
///
/// Changes made while a message runs are journaled so that a failed message can undo them
/// (DESIGN.md section 4.2): caps received or derived disappear again, dropped ones return.

#include <exo/core/expected.hpp>
#include <exo/core/value.hpp>
#include <exo/message/capability.hpp>

#include <cstdint>
#include <vector>

namespace exo {

/// Handles carry 20 bits of slot index and 12 bits of generation.
inline constexpr std::uint32_t cap_index_bits = 20;
inline constexpr std::uint32_t max_caps_per_actor = 1u << cap_index_bits;

/// Undo records of one transaction over one table. Owned by whoever runs the transaction.
struct cap_journal {
  struct entry {
    std::uint32_t index;
    capability old_cap;
    std::uint32_t old_generation;
    std::uint32_t old_free_head;
    bool appended;
  };
  std::vector<entry> entries;
  bool active = false;
};

/// One actor's capability table.
class cap_table {
 public:
  /// The capability behind a handle. Unknown, stale and empty handles are
  /// errc::bad_capability.
  expected<capability> lookup(cap_handle h) const;

  /// A handle that may be called: kind function or egress (else errc::wrong_kind) with the
  /// call right (else errc::missing_right).
  expected<capability> callable(cap_handle h) const;

  /// The hot path of callable(): the capability if the handle may be called, else nullptr
  /// (then callable() says why). No error is built on success.
  const capability* find_callable(cap_handle h) const noexcept {
    std::uint32_t index = h.index & (max_caps_per_actor - 1);
    if (index >= slots_.size()) return nullptr;
    const slot& s = slots_[index];
    if (s.generation != h.index >> cap_index_bits || !has(s.cap.rights, rights::call)) return nullptr;
    return s.cap.kind == cap_kind::function || s.cap.kind == cap_kind::egress ? &s.cap : nullptr;
  }

  /// A handle that may be sent to another actor: needs the transfer right.
  expected<capability> transferable(cap_handle h) const;

  /// A handle that may be given as a reply target: callable() and transferable() both.
  expected<capability> reply_target(cap_handle h) const;

  /// Stores a capability; returns its new handle. Journaled when `j` is active.
  /// errc::limit_exceeded when the table is full.
  expected<cap_handle> insert(const capability& c, cap_journal* j = nullptr);

  /// Removes a handle's capability; the handle becomes stale.
  expected<void> drop(cap_handle h, cap_journal* j = nullptr);

  /// Undoes everything recorded in `j` (newest first) and clears it.
  void rollback(cap_journal& j) noexcept;

  /// Live capabilities in the table.
  std::size_t size() const noexcept { return live_; }

  /// One slot as persistence sees it: the capability (kind none for a free or retired slot;
  /// a free slot's target links the free list) and the slot's generation.
  struct slot {
    capability cap;  // kind none: free; then cap.target links the free list
    std::uint32_t generation = 0;
  };
  /// Every slot, live or not, and the head of the free list (`no_free` when empty): with
  /// these a table is rebuilt exactly, so handles kept in an actor's state stay valid.
  const std::vector<slot>& slots() const noexcept { return slots_; }
  std::uint32_t free_head() const noexcept { return free_head_; }
  /// Rebuilds a table from slots() and free_head(). Input that no table could have produced
  /// (too many slots, a generation out of range, a free list that leaves the table, loops
  /// or runs through a live slot) is errc::malformed.
  static expected<cap_table> restore(std::vector<slot> slots, std::uint32_t free_head);
  static constexpr std::uint32_t no_free = 0xffffffffu;

  /// Visits every live (handle, capability) in slot order.
  template <class F>
  void for_each(F&& f) const {
    for (std::uint32_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].cap.kind != cap_kind::none) f(make_handle(i, slots_[i].generation), slots_[i].cap);
  }

 private:
  static cap_handle make_handle(std::uint32_t index, std::uint32_t gen) noexcept {
    return cap_handle{(gen << cap_index_bits) | index};
  }
  void record(cap_journal* j, std::uint32_t index, bool appended);

  std::vector<slot> slots_;
  std::uint32_t free_head_ = no_free;
  std::uint32_t live_ = 0;
};

/// A capability derived from `from` (which must carry the derive right): rights narrowed to
/// `keep & from.rights` (never more). From an actor cap with a function index, a function
/// cap for that function; from a function or egress cap, the same target with fewer rights.
expected<capability> derive(const capability& from, rights keep);
expected<capability> derive_function(const capability& from, std::uint32_t function, rights keep);

}  // namespace exo
