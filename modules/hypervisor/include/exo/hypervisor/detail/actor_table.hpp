#pragma once
/// \file
/// The kernel's table of actors and its index by id (exo::kernel's private parts; in a
/// header because the kernel holds them by value).

#include <exo/container/actor_type.hpp>
#include <exo/core/id.hpp>
#include <exo/port/cap_table.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace exo::detail {

/// One actor as the kernel keeps it. Slot 0 of the table is the host.
struct actor {
  id self;
  /// nullptr: not loaded yet (a stub that only knows its id), or a rolled-back creation.
  const actor_type* type = nullptr;
  void* state = nullptr;
  cap_table caps;
  std::uint64_t clock = 0;
  std::uint64_t nonce = 0;
  std::uint64_t seq = 0;
  bool dirty = false;       ///< changed since it was last written to the state tree
  bool caps_dirty = false;  ///< its capability table too
};

/// Actors by slot, in chunks of 256 that never move (handlers hold references while they
/// create more actors); indexing is a shift and a mask.
class actor_table {
 public:
  actor& operator[](std::size_t i) noexcept { return chunks_[i >> chunk_bits][i & chunk_mask]; }
  const actor& operator[](std::size_t i) const noexcept { return chunks_[i >> chunk_bits][i & chunk_mask]; }
  std::size_t size() const noexcept { return size_; }
  actor& emplace_back() {
    if (size_ == chunks_.size() << chunk_bits) chunks_.push_back(std::make_unique<actor[]>(chunk_size));
    return (*this)[size_++];
  }
  void pop_back() noexcept { (*this)[--size_] = actor{}; }
  template <class F>
  void for_each(F&& f) {
    for (std::size_t i = 0; i < size_; ++i) f((*this)[i]);
  }

 private:
  static constexpr std::size_t chunk_bits = 8, chunk_size = std::size_t{1} << chunk_bits,
                               chunk_mask = chunk_size - 1;
  std::vector<std::unique_ptr<actor[]>> chunks_;
  std::size_t size_ = 0;
};

/// Slot of an actor by id: open addressing, linear probing, backward-shift deletion.
class id_index {
 public:
  static constexpr std::uint32_t npos = 0xffffffffu;
  /// The slot of `key`, or npos.
  std::uint32_t find(const id& key, const actor_table& actors) const noexcept;
  void insert(const id& key, std::uint32_t slot, const actor_table& actors);
  void erase(const id& key, const actor_table& actors) noexcept;

 private:
  std::vector<std::uint32_t> table_;  // slot + 1; 0 = empty
  std::size_t count_ = 0;
};

}  // namespace exo::detail
