#pragma once
/// \file
/// A fast reader of JSON text for AIR's data. validate() checks a text against RFC 8259
/// (strings UTF-8, escapes and surrogate pairs whole, numbers well formed, nothing after the
/// value, nesting within a limit) without building anything; a cursor walks text and builds
/// only what the caller asks for: its own structures for the trace, nlohmann values for the
/// values calls returned. Data of the common shape is read in one pass: the cursor's
/// structural reads (peek, take, raw, integer) are safe on any text, and the reader checks
/// each string and value it takes (check_string, validate_value) as it goes; anything else
/// is validated whole first, then read.
///
/// The values built are the ones nlohmann's parser builds from the same text (an integer
/// that fits is signed when negative, unsigned otherwise, a float otherwise; a repeated key
/// keeps its last value), so data reads the same through either; the tests compare them.

#include <exo/core/json.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace exo::air::json_text {

/// Nullopt when `text` is one valid JSON value nested at most `max_depth` deep (a UTF-8 BOM
/// before it is skipped, as nlohmann does); otherwise what is wrong: "not JSON (...)" or
/// "nested over N deep".
std::optional<std::string> validate(std::string_view text, std::size_t max_depth);

/// The bytes among the 8 at `p` that end or escape a JSON string or need a check there ('"',
/// '\\', a control character, a byte of a UTF-8 sequence), as a mask with the high bit of
/// each such byte set. Only its lowest set bit is exact (a false one can sit above a true
/// one): the first special byte is at countr_zero(mask) / 8.
inline std::uint64_t special8(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  const std::uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
  // A byte below n shows as its high bit in (x - n) & ~x.
  const std::uint64_t low = ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) | ((w - ones * 0x20) & ~w);
  return (low | w) & highs;
}

/// Moves `p` to the first special byte of a string (see special8) at or after it, or to
/// `end` when there is none.
inline const char* to_special(const char* p, const char* end) {
  while (end - p >= 8) {
    if (const std::uint64_t m = special8(p)) return p + (std::countr_zero(m) >> 3);
    p += 8;
  }
  while (p < end) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) return p;
    ++p;
  }
  return p;
}

/// Checks the one JSON value that starts at `p` (no space before it) and ends before `end`,
/// nested at most `max_depth` deep, and moves `p` just past it; otherwise what is wrong.
std::optional<std::string> validate_value(const char*& p, const char* end, std::size_t max_depth);

/// Checks the JSON string whose opening quote is at `p` and moves `p` past its closing quote;
/// otherwise what is wrong (a static text).
const char* check_string(const char*& p, const char* end);

/// The end of the value at `p` when it has the shape most values in AIR's data have, a string
/// without escapes or an array of such strings, without spaces: valid and canonical, found in
/// one scan. nullptr for anything else (which may well be valid too).
const char* plain_value(const char* p, const char* end);

/// True when `text`, which validate() accepted, is exactly what nlohmann's compact dump()
/// of its value gives: no spaces, object keys in order and each once, integers only (a float's
/// shortest form is left to the encoder), strings escaped as nlohmann escapes them.
bool canonical(std::string_view text);

/// A position in a text. peek, take, raw, integer, mark, reset and at_end are safe on any
/// text; string and value assume the string or value at the cursor is valid.
class cursor {
 public:
  explicit cursor(std::string_view text);

  /// The next non-space character (without taking it), or '\0' at the end.
  [[gnu::always_inline]] char peek() {
    if (p_ < end_ && static_cast<unsigned char>(*p_) > ' ') [[likely]]
      return *p_;  // no space: the usual case
    return skip_spaces();
  }
  /// Takes `c` (after spaces); false if the next character is another.
  [[gnu::always_inline]] bool take(char c) {
    if (peek() != c) return false;
    ++p_;
    return true;
  }
  /// Takes `text` if the text goes on with exactly it (after spaces).
  bool literal(std::string_view text) {
    (void)peek();
    if (static_cast<std::size_t>(end_ - p_) < text.size() || std::memcmp(p_, text.data(), text.size()) != 0) return false;
    p_ += text.size();
    return true;
  }
  /// A string, unescaped (the cursor is at its opening quote).
  std::string string();
  /// A string as the text spells it, escapes and all, between its quotes (the cursor is at
  /// its opening quote): to compare with a name that needs no escape. False if the text ends
  /// first. The only reading that is safe on text not validated, with integer().
  bool raw(std::string_view& out) {
    (void)peek();
    const char* start = ++p_;
    for (;;) {
      p_ = to_special(p_, end_);
      if (p_ == end_) return false;
      if (*p_ == '"') break;
      if (*p_ == '\\' && ++p_ == end_) return false;
      ++p_;
    }
    out = std::string_view(start, static_cast<std::size_t>(p_ - start));
    ++p_;
    return true;
  }
  /// Any value, built as nlohmann builds it.
  json value();
  /// An integer as JSON text spells it (no leading zero), if the next value is a number
  /// without fraction or exponent that fits: the fast path for sizes and positions.
  bool integer(std::int64_t& out);
  /// Where the cursor is, to come back to (a fast path that meets something unusual goes
  /// back and takes the general one).
  const char* mark() const { return p_; }
  const char* end() const { return end_; }
  /// Nothing but spaces left.
  bool at_end() {
    (void)peek();
    return p_ == end_;
  }
  void reset(const char* at) { p_ = at; }

 private:
  char skip_spaces() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\t' || *p_ == '\r')) ++p_;
    return p_ < end_ ? *p_ : '\0';
  }
  const char* p_;
  const char* end_;
};

}  // namespace exo::air::json_text
