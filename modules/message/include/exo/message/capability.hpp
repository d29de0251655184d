#pragma once
/// \file
/// What a capability names, as data: a target plus rights. Code inside an actor never sees
/// this, only a cap_handle into its own table (exo/port/cap_table.hpp); the hypervisor
/// resolves handles to capabilities when a message leaves an actor and back when it arrives.

#include <cstdint>
#include <string_view>

namespace exo {

/// Rights a capability carries (a bit set). Deriving or sending can only drop rights.
enum class rights : std::uint8_t {
  none = 0,
  /// May send messages through it.
  call = 1,
  /// May pass it to another actor inside a message.
  transfer = 2,
  /// May derive new capabilities from it (fewer rights; a function cap from an actor cap).
  derive = 4,
  all = 7,
};
constexpr rights operator|(rights a, rights b) noexcept {
  return static_cast<rights>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}
constexpr rights operator&(rights a, rights b) noexcept {
  return static_cast<rights>(static_cast<std::uint8_t>(a) & static_cast<std::uint8_t>(b));
}
/// True if `set` includes every right in `r`.
constexpr bool has(rights set, rights r) noexcept { return (set & r) == r; }
/// "call|transfer|derive", "none".
std::string_view to_string(rights r) noexcept;

/// What a capability names.
enum class cap_kind : std::uint8_t {
  /// Not a capability (an empty table slot, or no reply target).
  none = 0,
  /// An actor as a whole: cannot be called, but function caps derive from it.
  actor = 1,
  /// One exported function of one actor: can be called.
  function = 2,
  /// An egress: messages sent through it leave the hypervisor to the host.
  egress = 3,
};
std::string_view to_string(cap_kind k) noexcept;

/// The function index that names an actor's failure handler (Primea's execution:error).
inline constexpr std::uint32_t failure_function = 0xffffffffu;

/// A resolved capability. `target` is the actor's slot in its hypervisor (actor and function
/// kinds) or the egress index; `function` the exported function's index (function kind).
struct capability {
  cap_kind kind = cap_kind::none;
  exo::rights rights = exo::rights::none;
  std::uint32_t target = 0;
  std::uint32_t function = 0;

  friend bool operator==(const capability&, const capability&) = default;
};

}  // namespace exo
