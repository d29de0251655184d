#pragma once
/// \file
/// 32-byte identifiers: actor ids and SHA-256 digests share this type.

#include <exo/core/bytes.hpp>

#include <array>
#include <bit>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

namespace exo {

/// 32 bytes, ordered bytewise (the order the scheduler uses to break tick ties).
struct id {
  std::array<std::uint8_t, 32> bytes{};

  byte_view view() const noexcept { return {bytes.data(), bytes.size()}; }
  /// True for the all-zero id (no actor has it: ids are hashes).
  bool is_zero() const noexcept {
    for (auto b : bytes)
      if (b) return false;
    return true;
  }
  /// The first 8 bytes as a big-endian integer: orders like the whole id where it differs.
  std::uint64_t prefix() const noexcept {
    std::uint64_t v;
    std::memcpy(&v, bytes.data(), sizeof v);  // one load and a byte swap on little-endian hosts
    if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
    return v;
  }

  friend bool operator==(const id& a, const id& b) noexcept {
    return std::memcmp(a.bytes.data(), b.bytes.data(), 32) == 0;
  }
  friend std::strong_ordering operator<=>(const id& a, const id& b) noexcept {
    int c = std::memcmp(a.bytes.data(), b.bytes.data(), 32);
    return c < 0 ? std::strong_ordering::less
                 : (c > 0 ? std::strong_ordering::greater : std::strong_ordering::equal);
  }
};

/// A SHA-256 digest.
using digest = id;

/// 64 hex digits.
std::string to_hex(const id& i);
/// The first 8 hex digits, for logs and messages people read.
std::string short_hex(const id& i);
/// Parses 64 hex digits; anything else is errc::malformed.
expected<id> id_from_hex(std::string_view hex);
/// An id from exactly 32 bytes; another length is errc::malformed.
expected<id> id_from_bytes(byte_view b);

/// Whether `name` can name a node of a cluster: 1 to 64 letters, digits, '_' or '-' (it goes
/// into subject and stream names, exo/cluster).
bool valid_node_name(std::string_view name) noexcept;

}  // namespace exo

template <>
struct std::hash<exo::id> {
  std::size_t operator()(const exo::id& i) const noexcept {
    std::size_t h;
    std::memcpy(&h, i.bytes.data(), sizeof h);  // ids are hashes: any 8 bytes are uniform
    return h;
  }
};
