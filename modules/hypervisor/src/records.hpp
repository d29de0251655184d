#pragma once
// Internal to the kernel: what the state tree keeps of actors and the host, and small helpers
// the kernel's files share. Not installed.

#include <exo/core/bytes.hpp>
#include <exo/core/id.hpp>
#include <exo/core/reflect.hpp>
#include <exo/core/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace exo::internal {

/// What the state tree keeps of an actor under record_key(id).
struct actor_record {
  BOOST_HANA_DEFINE_STRUCT(actor_record, (std::string, type), (bytes, code), (std::int64_t, clock),
                           (std::int64_t, nonce), (std::int64_t, seq), (bool, saved), (value, state));
};
/// What it keeps of the host, under host_key.
struct host_record {
  BOOST_HANA_DEFINE_STRUCT(host_record, (id, self), (std::int64_t, clock), (std::int64_t, nonce), (std::int64_t, seq));
};
inline constexpr std::string_view host_key = "h";

/// Counters are u64; the records keep their bits in i64 fields.
inline std::int64_t bits(std::uint64_t v) noexcept { return static_cast<std::int64_t>(v); }
inline std::uint64_t bits(std::int64_t v) noexcept { return static_cast<std::uint64_t>(v); }

/// 'a', the actor's id, then a tag: 'm' its record, 'c' its capability table, 's' its storage.
inline bytes actor_key(const id& a, char tag) {
  bytes k;
  k.reserve(34);
  k.push_back('a');
  k.insert(k.end(), a.bytes.begin(), a.bytes.end());
  k.push_back(static_cast<std::uint8_t>(tag));
  return k;
}

/// A key of the host's own records: a tag byte, then `rest` (a name or a key).
inline bytes tagged_key(char tag, byte_view rest) {
  bytes k;
  k.reserve(1 + rest.size());
  k.push_back(static_cast<std::uint8_t>(tag));
  k.insert(k.end(), rest.begin(), rest.end());
  return k;
}

/// Clocks saturate instead of wrapping: a wrapped clock would reorder later messages.
inline std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) noexcept {
  std::uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

/// An actor's clock when a message stamped `ticks` arrives: one tick after the later of the
/// two (DESIGN.md section 4.1). The tick of arrival is the delivery's own, paid by no budget;
/// it means that whatever a delivery sends is stamped after the message it runs, which gives
/// a parallel scheduler its lookahead (exo/scheduler/parallel.hpp).
inline std::uint64_t arrival(std::uint64_t clock, std::uint64_t ticks) noexcept {
  return sat_add(clock > ticks ? clock : ticks, 1);
}

}  // namespace exo::internal
