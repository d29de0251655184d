#pragma once
/// \file
/// The canonical binary encoding of values: the same value always encodes to the same
/// bytes, and decoding accepts only canonical input, so bytes and values correspond 1:1
/// (hashes of encodings are hashes of values).
///
/// Format: one tag byte (exo::kind) then the payload.
///   null 0x00 | bool 0x01 + 0x00/0x01 | i64 0x03 + 8 bytes LE | f64 0x04 + 8 bytes LE (NaN is
///   always 0x7ff8000000000000) | bytes 0x05 + varint length + data | string 0x06 + varint
///   length + UTF-8 | list 0x07 + varint count + items | map 0x08 + varint count + (varint key
///   length + key + value)*, keys strictly ascending | cap 0x09 + u32 LE handle.
/// Varints are unsigned LEB128 in their shortest form.
///
/// Decoding never trusts a length: every count is checked against the bytes that remain
/// before anything is allocated, nesting is bounded, and errors say where and why.

#include <exo/core/value.hpp>

#include <cstddef>

namespace exo {

/// Bounds on what decode() accepts.
struct decode_limits {
  /// Deepest nesting of lists and maps.
  std::size_t max_depth = 64;
  /// Largest encoded input, in bytes.
  std::size_t max_size = std::size_t{64} << 20;
};

/// Appends the canonical encoding of v to out.
void encode(const value& v, bytes& out);

/// Room the encoding of a scalar takes at most (a tag and 8 bytes).
inline constexpr std::size_t max_scalar_encoding = 9;
/// Writes the canonical encoding of `v` at `out` if it is a scalar (null, bool, i64, f64,
/// cap) and returns where it ends; nullptr for other kinds, with nothing written. `out` has
/// room for max_scalar_encoding bytes. (For a writer that sized its buffer once: a message's
/// arguments.)
std::uint8_t* encode_scalar(const value& v, std::uint8_t* out) noexcept;
/// The inverse of encode_scalar: if `in` starts with the canonical encoding of a scalar
/// (null, bool, i64, f64, cap), sets `out` to it and returns how many bytes it took; 0 for
/// anything else (another kind, or bytes that are not canonical: a reader says what is
/// wrong), with `out` unchanged. (For a reader of a message's arguments that wants no
/// exo::value of its own for each.)
std::size_t decode_scalar(byte_view in, value& out) noexcept;
/// The canonical encoding of v.
bytes encode(const value& v);

/// Decodes exactly one value occupying all of `in`; anything else is errc::malformed
/// (or errc::limit_exceeded), with the byte offset in the message.
expected<value> decode(byte_view in, const decode_limits& limits = {});

/// Appends v as an unsigned LEB128 varint.
void put_varint(bytes& out, std::uint64_t v);

/// A cursor over encoded input for formats built on this encoding (messages, log entries).
class reader {
 public:
  explicit reader(byte_view in, decode_limits limits = {}) : in_(in), limits_(limits) {}
  std::size_t offset() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return in_.size() - pos_; }
  bool at_end() const noexcept { return pos_ == in_.size(); }

  // byte, fixed64 and fixed32 are inline (a message's arguments are read with them); their
  // errors are built out of line.
  expected<std::uint8_t> byte() {
    if (pos_ >= in_.size()) [[unlikely]]
      return ends_before_byte();
    return in_[pos_++];
  }
  expected<std::uint64_t> varint();
  expected<std::uint64_t> fixed64() { return little_endian(8); }
  expected<std::uint32_t> fixed32() {
    auto v = little_endian(4);
    if (!v) [[unlikely]]
      return unexpected(std::move(v).error());
    return static_cast<std::uint32_t>(*v);
  }
  /// n raw bytes (a view into the input).
  expected<byte_view> raw(std::size_t n);
  /// One encoded value.
  expected<value> read_value() { return read_value(0); }

 private:
  expected<value> read_value(std::size_t depth);
  expected<std::uint64_t> little_endian(std::size_t n) {
    if (remaining() < n) [[unlikely]]
      return ends_inside_number(n);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(in_[pos_ + i]) << (8 * i);
    pos_ += n;
    return v;
  }
  [[gnu::cold]] unexpected<error> ends_before_byte() const;
  [[gnu::cold]] unexpected<error> ends_inside_number(std::size_t n) const;
  unexpected<error> bad(std::string what) const;

  byte_view in_;
  decode_limits limits_;
  std::size_t pos_ = 0;
};

}  // namespace exo
