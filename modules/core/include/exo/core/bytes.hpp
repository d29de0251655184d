#pragma once
/// \file
/// Bytes and byte views, and the hex form people read them in.

#include <exo/core/expected.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace exo {

/// An owned byte string.
using bytes = std::vector<std::uint8_t>;
/// A borrowed view of bytes; never outlives what it views.
using byte_view = std::span<const std::uint8_t>;

/// The bytes of a string, viewed (no copy).
inline byte_view as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
/// A copy of a string's bytes.
inline bytes to_bytes(std::string_view s) { return bytes(s.begin(), s.end()); }

/// Lower-case hex, two digits per byte.
std::string to_hex(byte_view b);
/// Parses hex (either case); an odd length or a non-hex digit is errc::malformed.
expected<bytes> from_hex(std::string_view hex);

}  // namespace exo
