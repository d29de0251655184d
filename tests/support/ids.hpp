#pragma once
// Ids for tests that build messages by hand: a message points at its sender's id, which must
// outlive it, so these live for the whole test program.

#include <exo/core/id.hpp>

#include <array>
#include <cstddef>
#include <cstdint>

namespace exo::test {

/// An id whose first byte is `s` and the rest zero (ids order bytewise, so by `s`).
inline const id& small_id(std::uint8_t s) {
  static const std::array<id, 256> ids = [] {
    std::array<id, 256> a{};
    for (std::size_t i = 0; i < a.size(); ++i) a[i].bytes[0] = static_cast<std::uint8_t>(i);
    return a;
  }();
  return ids[s];
}

}  // namespace exo::test
