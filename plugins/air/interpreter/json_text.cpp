#include "json_text.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace exo::air::json_text {

namespace {

bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool digit(char c) { return c >= '0' && c <= '9'; }

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The length of the UTF-8 sequence at p (p < end, *p >= 0x80), or 0 if it is not one.
std::size_t utf8_length(const unsigned char* p, const unsigned char* end) {
  const unsigned char c = *p;
  std::size_t n = c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : 0;
  if (n == 0 || static_cast<std::size_t>(end - p) <= n) return 0;
  const unsigned char c1 = p[1];
  if ((c1 & 0xC0) != 0x80) return 0;
  if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F)) return 0;
  for (std::size_t k = 2; k <= n; ++k)
    if ((p[k] & 0xC0) != 0x80) return 0;
  return n + 1;
}

const char* skip_bom(std::string_view text) {
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF && static_cast<unsigned char>(text[1]) == 0xBB &&
      static_cast<unsigned char>(text[2]) == 0xBF)
    return text.data() + 3;
  return text.data();
}

// Four hex digits at `at` (within end), or -1.
int u4(const char* at, const char* end) {
  if (end - at < 4) return -1;
  int v = 0;
  for (int i = 0; i < 4; ++i) {
    const int h = hex(at[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

class validator {
 public:
  validator(std::string_view text, std::size_t max_depth)
      : p_(skip_bom(text)), end_(text.data() + text.size()), max_depth_(max_depth) {}
  // Prefix mode: one value at `p`, which may be followed by anything.
  validator(const char* p, const char* end, std::size_t max_depth) : p_(p), end_(end), max_depth_(max_depth), prefix_(true) {}
  const char* position() const { return p_; }

  std::optional<std::string> run() {
    // Iterative: a stack of open containers, so no text can overflow the machine stack.
    std::vector<char> open;  // '[' or '{'
    if (!prefix_) ws();
    for (;;) {
      // A value is expected here.
      if (p_ == end_) return fail("the text ends where a value was expected");
      const char c = *p_;
      if (c == '[' || c == '{') {
        if (open.size() >= max_depth_) return std::string(fmt::format("nested over {} deep", max_depth_));
        open.push_back(c);
        ++p_;
        ws();
        if (p_ < end_ && *p_ == (c == '[' ? ']' : '}')) {
          ++p_;
          open.pop_back();
        } else {
          if (c == '{') {
            if (auto e = key(); e) return e;
          }
          continue;
        }
      } else if (c == '"') {
        if (auto e = string(); e) return e;
      } else if (c == '-' || digit(c)) {
        if (auto e = number(); e) return e;
      } else if (!word("true") && !word("false") && !word("null")) {
        return fail(fmt::format("unexpected character '{}'", printable(c)));
      }
      // After a value: a comma and the next, or the end of containers.
      for (;;) {
        if (prefix_ && open.empty()) return std::nullopt;
        ws();
        if (open.empty()) {
          if (p_ != end_) return fail("text goes on after the value");
          return std::nullopt;
        }
        if (p_ == end_) return fail("the text ends inside an array or object");
        const char close = open.back() == '[' ? ']' : '}';
        if (*p_ == close) {
          ++p_;
          open.pop_back();
          continue;
        }
        if (*p_ != ',') return fail(fmt::format("expected ',' or '{}', not '{}'", close, printable(*p_)));
        ++p_;
        ws();
        if (open.back() == '{') {
          if (auto e = key(); e) return e;
        }
        break;
      }
    }
  }

 private:
  static std::string printable(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u >= 0x7F ? fmt::format("\\x{:02x}", u) : std::string(1, c);
  }
  std::string fail(const std::string& why) const { return "not JSON (" + why + ")"; }
  void ws() {
    while (p_ < end_ && space(*p_)) ++p_;
  }
  bool word(std::string_view w) {
    if (static_cast<std::size_t>(end_ - p_) >= w.size() && std::memcmp(p_, w.data(), w.size()) == 0) {
      p_ += w.size();
      return true;
    }
    return false;
  }
  std::optional<std::string> key() {
    if (p_ == end_ || *p_ != '"') return fail("expected a key (a string)");
    if (auto e = string(); e) return e;
    ws();
    if (p_ == end_ || *p_ != ':') return fail("expected ':' after a key");
    ++p_;
    ws();
    return std::nullopt;
  }
  std::optional<std::string> string() {
    if (const char* e = check_string(p_, end_)) return fail(e);
    return std::nullopt;
  }
  std::optional<std::string> number() {
    const char* start = p_;
    if (*p_ == '-') ++p_;
    if (p_ == end_ || !digit(*p_)) return fail("a number without digits");
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !digit(*p_)) return fail("a number without digits after '.'");
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !digit(*p_)) return fail("a number without digits in its exponent");
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    // A number no double holds is refused, as nlohmann does (an underflow to zero is not).
    if (p_ - start > 18) {
      std::int64_t i = 0;
      std::uint64_t u = 0;
      auto fits = [&](auto r) { return r.ec == std::errc() && r.ptr == p_; };
      if (!fits(std::from_chars(start, p_, i)) && !fits(std::from_chars(start, p_, u)) &&
          !std::isfinite(std::strtod(std::string(start, p_).c_str(), nullptr)))
        return fail("a number too large for a double");
    } else {
      for (const char* q = start; q < p_; ++q)
        if (*q == 'e' || *q == 'E') {
          if (!std::isfinite(std::strtod(std::string(start, p_).c_str(), nullptr))) return fail("a number too large for a double");
          break;
        }
    }
    return std::nullopt;
  }

  const char* p_;
  const char* end_;
  std::size_t max_depth_;
  bool prefix_ = false;
};

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::optional<std::string> validate(std::string_view text, std::size_t max_depth) { return validator(text, max_depth).run(); }

std::optional<std::string> validate_value(const char*& p, const char* end, std::size_t max_depth) {
  validator v(p, end, max_depth);
  auto e = v.run();
  p = v.position();
  return e;
}

const char* check_string(const char*& p, const char* end) {
  ++p;  // the quote
  while (p < end) {
    p = to_special(p, end);
    if (p == end) break;
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"') {
      ++p;
      return nullptr;
    }
    if (c < 0x20) return "a control character inside a string";
    if (c == '\\') {
      if (end - p < 2) break;
      const char e = p[1];
      if (e == 'u') {
        const int cp = u4(p + 2, end);
        if (cp < 0) return "a \\u escape without four hex digits";
        p += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return "a high surrogate without its low one";
          const int lo = u4(p + 2, end);
          if (lo < 0xDC00 || lo > 0xDFFF) return "a high surrogate without its low one";
          p += 6;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return "a low surrogate alone";
        }
        continue;
      }
      if (e == '\0' || !std::strchr("\"\\/bfnrt", e)) return "an unknown escape";
      p += 2;
      continue;
    }
    // c >= 0x80
    const std::size_t n = utf8_length(reinterpret_cast<const unsigned char*>(p), reinterpret_cast<const unsigned char*>(end));
    if (n == 0) return "a string that is not UTF-8";
    p += n;
  }
  return "a string that does not end";
}

namespace {

// Past the string at `p` (at its opening quote) if it has no escape and is valid; else nullptr.
const char* plain_string(const char* p, const char* end) {
  ++p;
  for (;;) {
    p = to_special(p, end);
    if (p == end) return nullptr;
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"') return p + 1;
    if (c < 0x80) return nullptr;  // an escape or a control character
    const std::size_t n = utf8_length(reinterpret_cast<const unsigned char*>(p), reinterpret_cast<const unsigned char*>(end));
    if (n == 0) return nullptr;
    p += n;
  }
}

}  // namespace

const char* plain_value(const char* p, const char* end) {
  if (p < end && *p == '"') return plain_string(p, end);
  if (p == end || *p != '[') return nullptr;
  ++p;
  if (p < end && *p == ']') return p + 1;
  for (;;) {
    if (p == end || *p != '"' || (p = plain_string(p, end)) == nullptr || p == end) return nullptr;
    if (*p == ']') return p + 1;
    if (*p != ',') return nullptr;
    ++p;
  }
}

bool canonical(std::string_view text) {
  const char* p = text.data();
  const char* const end = p + text.size();
  // A string's content as nlohmann escapes it (the cursor at its opening quote, then past the
  // closing one): only \" \\ \b \f \n \r \t and \u00xx, lower-case, for the other controls.
  auto string = [&](std::string_view& raw) {
    const char* start = ++p;
    for (;;) {
      p = to_special(p, end);
      if (p == end) return false;
      if (*p == '"') break;
      if (*p != '\\') {
        ++p;  // a byte of a UTF-8 sequence
        continue;
      }
      if (end - p < 2) return false;
      const char e = p[1];
      if (e == '"' || e == '\\' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
        p += 2;
        continue;
      }
      if (e != 'u' || end - p < 6 || p[2] != '0' || p[3] != '0' || (p[4] != '0' && p[4] != '1')) return false;
      const int low = p[5] >= '0' && p[5] <= '9' ? p[5] - '0' : p[5] >= 'a' && p[5] <= 'f' ? p[5] - 'a' + 10 : -1;
      const int cp = (p[4] - '0') * 16 + low;
      if (low < 0 || cp == '\b' || cp == '\t' || cp == '\n' || cp == '\f' || cp == '\r') return false;
      p += 6;
    }
    raw = std::string_view(start, static_cast<std::size_t>(p - start));
    ++p;
    return true;
  };
  auto number = [&] {
    const char* start = p;
    const bool negative = *p == '-';
    if (negative) ++p;
    if (p == end || !digit(*p) || (negative && *p == '0')) return false;  // "-0" is written "0"
    while (p < end && digit(*p)) ++p;
    if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) return false;  // a float
    std::int64_t i = 0;
    std::uint64_t u = 0;
    auto fits = [&](auto r) { return r.ec == std::errc() && r.ptr == p; };
    return negative ? fits(std::from_chars(start, p, i)) : fits(std::from_chars(start, p, u));
  };
  struct level {
    bool object = false;
    std::string_view last_key;
    bool keyed = false;
  };
  std::vector<level> open;
  // `"key":` with keys in strictly increasing order (std::map's, byte by byte), none escaped.
  auto key = [&] {
    std::string_view k;
    if (p == end || *p != '"' || !string(k) || k.find('\\') != std::string_view::npos) return false;
    level& l = open.back();
    if (l.keyed && !(l.last_key < k)) return false;
    l.last_key = k;
    l.keyed = true;
    if (p == end || *p != ':') return false;
    ++p;
    return true;
  };
  for (;;) {
    if (p == end) return false;
    const char c = *p;
    if (c == '[' || c == '{') {
      open.push_back(level{c == '{', {}, false});
      ++p;
      if (p < end && *p == (c == '[' ? ']' : '}')) {
        ++p;
        open.pop_back();
      } else {
        if (c == '{' && !key()) return false;
        continue;
      }
    } else if (c == '"') {
      std::string_view ignored;
      if (!string(ignored)) return false;
    } else if (c == 't' || c == 'n') {
      p += 4;
    } else if (c == 'f') {
      p += 5;
    } else if (!number()) {
      return false;  // a float, or a space, or a BOM
    }
    for (;;) {
      if (open.empty()) return p == end;
      if (p == end) return false;
      const char close = open.back().object ? '}' : ']';
      if (*p == close) {
        ++p;
        open.pop_back();
        continue;
      }
      if (*p != ',') return false;
      ++p;
      if (open.back().object && !key()) return false;
      break;
    }
  }
}

cursor::cursor(std::string_view text) : p_(skip_bom(text)), end_(text.data() + text.size()) {}

std::string cursor::string() {
  (void)peek();
  ++p_;  // the quote
  const char* start = p_;
  for (;;) {
    p_ = to_special(p_, end_);
    if (*p_ == '"' || *p_ == '\\') break;
    ++p_;
  }
  std::string out(start, p_);
  while (*p_ != '"') {
    if (*p_ != '\\') {
      const char* run = p_;
      while (*p_ != '"' && *p_ != '\\') ++p_;
      out.append(run, p_);
      continue;
    }
    const char e = p_[1];
    p_ += 2;
    switch (e) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        auto cp = static_cast<std::uint32_t>(u4(p_, end_));
        p_ += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          const auto lo = static_cast<std::uint32_t>(u4(p_ + 2, end_));
          p_ += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        append_utf8(out, cp);
        break;
      }
      default: out += e; break;  // " \ /
    }
  }
  ++p_;
  return out;
}

bool cursor::integer(std::int64_t& out) {
  const char c = peek();
  if (c != '-' && !digit(c)) return false;
  const char* digits = p_ + (c == '-');
  const char* q = digits;
  while (q < end_ && digit(*q)) ++q;
  if (q == digits || (*digits == '0' && q - digits > 1)) return false;  // no digits, or a leading zero
  if (q < end_ && (*q == '.' || *q == 'e' || *q == 'E')) return false;
  auto [end, ec] = std::from_chars(p_, q, out);
  if (ec != std::errc() || end != q) return false;
  p_ = q;
  return true;
}

json cursor::value() {
  const char c = peek();
  switch (c) {
    case '"': return json(string());
    case 't': p_ += 4; return json(true);
    case 'f': p_ += 5; return json(false);
    case 'n': p_ += 4; return json(nullptr);
    case '[': {
      ++p_;
      json a = json::array();
      if (take(']')) return a;
      do a.push_back(value());
      while (take(','));
      take(']');
      return a;
    }
    case '{': {
      ++p_;
      json o = json::object();
      if (take('}')) return o;
      do {
        (void)peek();
        std::string k = string();
        take(':');
        o[std::move(k)] = value();  // a repeated key keeps its last value, as nlohmann's parser
      } while (take(','));
      take('}');
      return o;
    }
    default: {
      // A number: an integer that fits (signed when negative, as nlohmann), else a double.
      const char* start = p_;
      const char* q = p_ + (c == '-');
      while (q < end_ && digit(*q)) ++q;
      bool is_float = false;
      if (q < end_ && *q == '.') {
        is_float = true;
        ++q;
        while (q < end_ && digit(*q)) ++q;
      }
      if (q < end_ && (*q == 'e' || *q == 'E')) {
        is_float = true;
        ++q;
        if (q < end_ && (*q == '+' || *q == '-')) ++q;
        while (q < end_ && digit(*q)) ++q;
      }
      p_ = q;
      if (!is_float) {
        if (c == '-') {
          std::int64_t v = 0;
          auto [end, ec] = std::from_chars(start, q, v);
          if (ec == std::errc() && end == q) return json(v);
        } else {
          std::uint64_t v = 0;
          auto [end, ec] = std::from_chars(start, q, v);
          if (ec == std::errc() && end == q) return json(v);
        }
      }
      double d = 0;
      auto [end, ec] = std::from_chars(start, q, d);
      (void)end;
      if (ec == std::errc::result_out_of_range) {
        // nlohmann keeps what strtod gives: infinity, or zero for an underflow
        return json(std::strtod(std::string(start, q).c_str(), nullptr));
      }
      return json(d);
    }
  }
}

}  // namespace exo::air::json_text
