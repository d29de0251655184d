#include <exo/message/capability.hpp>

namespace exo {

std::string_view to_string(rights r) noexcept {
  static constexpr std::string_view names[] = {
      "none", "call", "transfer", "call|transfer", "derive", "call|derive", "transfer|derive",
      "call|transfer|derive"};
  return names[static_cast<std::uint8_t>(r) & 7];
}

std::string_view to_string(cap_kind k) noexcept {
  switch (k) {
    case cap_kind::none: return "none";
    case cap_kind::actor: return "actor";
    case cap_kind::function: return "function";
    case cap_kind::egress: return "egress";
  }
  return "unknown";
}

}  // namespace exo
