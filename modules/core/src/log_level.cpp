#include <exo/core/log_level.hpp>

#include <fmt/format.h>

#include <array>

namespace exo {

namespace {
constexpr std::array<std::string_view, 6> names = {"trace", "debug", "info", "warn", "error", "off"};
}

std::string_view to_string(log_level l) noexcept {
  auto i = static_cast<std::size_t>(l);
  return i < names.size() ? names[i] : "unknown";
}

expected<log_level> parse_log_level(std::string_view name) {
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<log_level>(i);
  return fail(errc::invalid_argument,
              fmt::format("'{}' is not a log level: trace, debug, info, warn, error or off", name));
}

}  // namespace exo
