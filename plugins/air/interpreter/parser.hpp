#pragma once
/// \file
/// The AIR parser: a script's text to its syntax tree (ast.hpp), or a clear error.
///
/// Recursive descent with a depth limit, so that no script, however nested, can overflow the
/// stack; the size and instruction limits are checked before the tree grows past them. The
/// checks AquaVM's parser makes are made here too: a fold's iterator may not shadow an
/// enclosing fold's, and `next` must name an enclosing fold's iterator. An error message
/// starts with "air can't be parsed:" (as AquaVM's), then the line and column and what was
/// expected.

#include "ast.hpp"

#include <exo/core/expected.hpp>

#include <string_view>

namespace exo::air {

struct parse_limits {
  std::size_t max_size = std::size_t{16} << 20;  ///< bytes of script
  std::size_t max_depth = 500;                   ///< instructions nested in each other
  std::size_t max_instructions = 1'000'000;
};

/// Parses `text`. Errors are errc::malformed (or errc::limit_exceeded for a limit).
expected<script> parse(std::string_view text, const parse_limits& limits = {});

/// The value as AIR writes it (a lens included), for messages.
std::string to_string(const value& v);

}  // namespace exo::air
