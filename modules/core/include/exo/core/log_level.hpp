#pragma once
/// \file
/// Levels of the lines actors write for the operator (exo::context::log), as Fluence's AVM
/// runner interface has them. Lines are diagnostics: not part of any state, never in a root.

#include <exo/core/expected.hpp>

#include <cstdint>
#include <string_view>

namespace exo {

/// From the most to the least verbose; `off` shows nothing (a threshold, not a line's level).
/// The numbers are the plugin ABI's EXO_LOG_* (plugin/abi.h).
enum class log_level : std::uint8_t { trace = 0, debug = 1, info = 2, warn = 3, error = 4, off = 5 };

/// "trace", "debug", "info", "warn", "error", "off".
std::string_view to_string(log_level l) noexcept;
/// The level named `name`; errc::invalid_argument listing the names otherwise.
expected<log_level> parse_log_level(std::string_view name);

}  // namespace exo
