#include <exo/core/encoding.hpp>

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>

namespace exo {
namespace {
constexpr std::uint64_t canonical_nan = 0x7ff8000000000000ULL;

std::uint8_t* put_le(std::uint8_t* p, std::uint64_t v, int n) noexcept {
  for (int i = 0; i < n; ++i) *p++ = static_cast<std::uint8_t>(v >> (8 * i));
  return p;
}
void put_len_data(bytes& out, const void* p, std::size_t n) {
  put_varint(out, n);
  auto* b = static_cast<const std::uint8_t*>(p);
  out.insert(out.end(), b, b + n);
}
}  // namespace

void put_varint(bytes& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}

std::uint8_t* encode_scalar(const value& v, std::uint8_t* out) noexcept {
  switch (v.type()) {
    case kind::null: *out = static_cast<std::uint8_t>(kind::null); return out + 1;
    case kind::boolean:
      out[0] = static_cast<std::uint8_t>(kind::boolean);
      out[1] = *v.if_bool() ? 1 : 0;
      return out + 2;
    case kind::i64:
      *out = static_cast<std::uint8_t>(kind::i64);
      return put_le(out + 1, static_cast<std::uint64_t>(*v.if_i64()), 8);
    case kind::f64: {
      double d = *v.if_f64();
      *out = static_cast<std::uint8_t>(kind::f64);
      return put_le(out + 1, std::isnan(d) ? canonical_nan : std::bit_cast<std::uint64_t>(d), 8);
    }
    case kind::cap:
      *out = static_cast<std::uint8_t>(kind::cap);
      return put_le(out + 1, v.if_cap()->index, 4);
    default: return nullptr;
  }
}

std::size_t decode_scalar(byte_view in, value& out) noexcept {
  if (in.empty()) return 0;
  auto le = [&](std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(in[1 + i]) << (8 * i);
    return v;
  };
  switch (static_cast<kind>(in[0])) {
    case kind::null: out = value{}; return 1;
    case kind::boolean:
      if (in.size() < 2 || in[1] > 1) return 0;
      out = value{in[1] == 1};
      return 2;
    case kind::i64:
      if (in.size() < 9) return 0;
      out = value{static_cast<std::int64_t>(le(8))};
      return 9;
    case kind::f64: {
      if (in.size() < 9) return 0;
      const std::uint64_t bits = le(8);
      const double d = std::bit_cast<double>(bits);
      if (std::isnan(d) && bits != canonical_nan) return 0;
      out = value{d};
      return 9;
    }
    case kind::cap:
      if (in.size() < 5) return 0;
      out = value{cap_handle{static_cast<std::uint32_t>(le(4))}};
      return 5;
    default: return 0;
  }
}

void encode(const value& v, bytes& out) {
  std::uint8_t scalar[max_scalar_encoding];
  if (std::uint8_t* end = encode_scalar(v, scalar)) {  // one insert for a scalar
    out.insert(out.end(), scalar, end);
    return;
  }
  out.push_back(static_cast<std::uint8_t>(v.type()));
  switch (v.type()) {
    case kind::bytes: put_len_data(out, v.if_bytes()->data(), v.if_bytes()->size()); break;
    case kind::string: put_len_data(out, v.if_string()->data(), v.if_string()->size()); break;
    case kind::list:
      put_varint(out, v.if_list()->size());
      for (auto& e : *v.if_list()) encode(e, out);
      break;
    case kind::map:
      put_varint(out, v.if_map()->size());
      for (auto& [k, e] : *v.if_map()) {
        put_len_data(out, k.data(), k.size());
        encode(e, out);
      }
      break;
    default: break;  // (the scalars, above)
  }
}

bytes encode(const value& v) {
  bytes out;
  encode(v, out);
  return out;
}

unexpected<error> reader::bad(std::string what) const {
  return fail(errc::malformed, fmt::format("malformed encoding at byte {}: {}", pos_, what));
}

unexpected<error> reader::ends_before_byte() const { return bad("input ends where a byte was expected"); }
unexpected<error> reader::ends_inside_number(std::size_t n) const {
  return bad(fmt::format("input ends inside a {}-byte number", n));
}

expected<std::uint64_t> reader::varint() {
  std::uint64_t v = 0;
  std::size_t start = pos_;
  for (int shift = 0;; shift += 7) {
    if (pos_ >= in_.size()) return bad("input ends inside a varint");
    std::uint8_t b = in_[pos_++];
    if (shift == 63 && b > 1) return bad("varint overflows 64 bits");
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      if (b == 0 && pos_ - start > 1) { pos_ = start; return bad("varint is not in its shortest form"); }
      return v;
    }
  }
}

expected<byte_view> reader::raw(std::size_t n) {
  if (remaining() < n) return bad(fmt::format("length {} exceeds the {} bytes that remain", n, remaining()));
  byte_view v = in_.subspan(pos_, n);
  pos_ += n;
  return v;
}

#define EXO_TRY(var, expr)                                  \
  auto var##_r = (expr);                                    \
  if (!var##_r) return unexpected(std::move(var##_r).error()); \
  auto var = std::move(*var##_r)

expected<value> reader::read_value(std::size_t depth) {
  if (depth > limits_.max_depth)
    return fail(errc::limit_exceeded, fmt::format("nesting deeper than {} at byte {}", limits_.max_depth, pos_));
  std::size_t at = pos_;
  EXO_TRY(tag, byte());
  switch (static_cast<kind>(tag)) {
    case kind::null: return value{};
    case kind::boolean: {
      EXO_TRY(b, byte());
      if (b > 1) { pos_ = at + 1; return bad(fmt::format("bool byte is {}, not 0 or 1", b)); }
      return value{b == 1};
    }
    case kind::i64: {
      EXO_TRY(v, fixed64());
      return value{static_cast<std::int64_t>(v)};
    }
    case kind::f64: {
      EXO_TRY(v, fixed64());
      double d = std::bit_cast<double>(v);
      if (std::isnan(d) && v != canonical_nan) { pos_ = at; return bad("f64 NaN is not the canonical NaN"); }
      return value{d};
    }
    case kind::bytes: {
      EXO_TRY(n, varint());
      EXO_TRY(data, raw(n));
      return value{bytes(data.begin(), data.end())};
    }
    case kind::string: {
      EXO_TRY(n, varint());
      EXO_TRY(data, raw(n));
      return value{std::string(data.begin(), data.end())};
    }
    case kind::list: {
      EXO_TRY(n, varint());
      if (n > remaining()) return bad(fmt::format("list of {} items cannot fit in {} bytes", n, remaining()));
      value::list items;
      items.reserve(n);
      for (std::uint64_t i = 0; i < n; ++i) {
        EXO_TRY(item, read_value(depth + 1));
        items.push_back(std::move(item));
      }
      return value{std::move(items)};
    }
    case kind::map: {
      EXO_TRY(n, varint());
      if (n > remaining() / 2) return bad(fmt::format("map of {} entries cannot fit in {} bytes", n, remaining()));
      value::map entries;
      entries.reserve(n);
      for (std::uint64_t i = 0; i < n; ++i) {
        std::size_t key_at = pos_;
        EXO_TRY(klen, varint());
        EXO_TRY(kdata, raw(klen));
        std::string key(kdata.begin(), kdata.end());
        if (!entries.empty() && !(entries.back().first < key)) {
          pos_ = key_at;
          return bad(fmt::format("map key \"{}\" is not above the previous key (keys must be sorted and unique)", key));
        }
        EXO_TRY(item, read_value(depth + 1));
        entries.emplace_back(std::move(key), std::move(item));
      }
      return value{std::move(entries)};
    }
    case kind::cap: {
      EXO_TRY(h, fixed32());
      return value{cap_handle{h}};
    }
  }
  pos_ = at;
  return bad(fmt::format("unknown tag 0x{:02x}", tag));
}

#undef EXO_TRY

expected<value> decode(byte_view in, const decode_limits& limits) {
  if (in.size() > limits.max_size)
    return fail(errc::limit_exceeded, fmt::format("encoded value of {} bytes exceeds the limit of {}", in.size(), limits.max_size));
  reader r(in, limits);
  auto v = r.read_value();
  if (!v) return v;
  if (!r.at_end()) return fail(errc::malformed, fmt::format("malformed encoding at byte {}: {} bytes follow the value", r.offset(), r.remaining()));
  return v;
}

}  // namespace exo
