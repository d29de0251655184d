#include <exo/core/bytes.hpp>
#include <exo/core/id.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace exo {
namespace {
constexpr char digits[] = "0123456789abcdef";
int nibble(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string to_hex(byte_view b) {
  std::string s(b.size() * 2, '0');
  for (std::size_t i = 0; i < b.size(); ++i) {
    s[2 * i] = digits[b[i] >> 4];
    s[2 * i + 1] = digits[b[i] & 15];
  }
  return s;
}

expected<bytes> from_hex(std::string_view hex) {
  if (hex.size() % 2) return fail(errc::malformed, fmt::format("hex has odd length {}", hex.size()));
  bytes out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return fail(errc::malformed, fmt::format("not a hex digit at position {}", 2 * i + (hi < 0 ? 0 : 1)));
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::string to_hex(const id& i) { return to_hex(i.view()); }
std::string short_hex(const id& i) { return to_hex(byte_view(i.bytes.data(), 4)); }

bool valid_node_name(std::string_view name) noexcept {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

expected<id> id_from_bytes(byte_view b) {
  if (b.size() != 32) return fail(errc::malformed, fmt::format("an id is 32 bytes, got {}", b.size()));
  id r;
  std::memcpy(r.bytes.data(), b.data(), 32);
  return r;
}

expected<id> id_from_hex(std::string_view hex) {
  if (hex.size() != 64)
    return fail(errc::malformed, fmt::format("an id is 64 hex digits, got {}", hex.size()));
  auto b = from_hex(hex);
  if (!b) return unexpected(std::move(b).error());
  return id_from_bytes(*b);
}

}  // namespace exo
