#pragma once
/// \file
/// A fast reader of JSON text for AIR's data, in two passes: validate() checks the whole text
/// against RFC 8259 (strings UTF-8, escapes and surrogate pairs whole, numbers well formed,
/// nothing after the value, nesting within a limit) without building anything; then a
/// cursor walks the validated text and builds only what the caller asks for: its own
/// structures for the trace, nlohmann values for the values calls returned.
///
/// The values built are the ones nlohmann's parser builds from the same text (an integer
/// that fits is signed when negative, unsigned otherwise, a float otherwise; a repeated key
/// keeps its last value), so data reads the same through either; the tests compare them.

#include <exo/core/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace exo::air::json_text {

/// Nullopt when `text` is one valid JSON value nested at most `max_depth` deep (a UTF-8 BOM
/// before it is skipped, as nlohmann does); otherwise what is wrong: "not JSON (...)" or
/// "nested over N deep".
std::optional<std::string> validate(std::string_view text, std::size_t max_depth);

/// A position in text validate() accepted. Every function assumes validity.
class cursor {
 public:
  explicit cursor(std::string_view text);

  /// The next non-space character (without taking it), or '\0' at the end.
  char peek();
  /// Takes `c` (after spaces); false if the next character is another.
  bool take(char c);
  /// A string, unescaped (the cursor is at its opening quote).
  std::string string();
  /// Any value, built as nlohmann builds it.
  json value();
  /// Any value, skipped.
  void skip();
  /// An integer as JSON text spells it, if the next value is a number without fraction or
  /// exponent that fits: the fast path for sizes and positions.
  bool integer(std::int64_t& out);
  /// Where the cursor is, to come back to (a fast path that meets something unusual goes
  /// back and takes the general one).
  const char* mark() const { return p_; }
  void reset(const char* at) { p_ = at; }

 private:
  const char* p_;
  const char* end_;
};

}  // namespace exo::air::json_text
