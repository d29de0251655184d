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

class validator {
 public:
  validator(std::string_view text, std::size_t max_depth)
      : p_(skip_bom(text)), end_(text.data() + text.size()), max_depth_(max_depth) {}

  std::optional<std::string> run() {
    // Iterative: a stack of open containers, so no text can overflow the machine stack.
    std::vector<char> open;  // '[' or '{'
    ws();
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
    ++p_;  // the quote
    while (p_ < end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return std::nullopt;
      }
      if (c < 0x20) return fail("a control character inside a string");
      if (c == '\\') {
        if (end_ - p_ < 2) break;
        const char e = p_[1];
        if (e == 'u') {
          auto cp = u4(p_ + 2);
          if (cp < 0) return fail("a \\u escape without four hex digits");
          p_ += 6;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u') return fail("a high surrogate without its low one");
            auto lo = u4(p_ + 2);
            if (lo < 0xDC00 || lo > 0xDFFF) return fail("a high surrogate without its low one");
            p_ += 6;
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return fail("a low surrogate alone");
          }
          continue;
        }
        if (!std::strchr("\"\\/bfnrt", e) || e == '\0') return fail("an unknown escape");
        p_ += 2;
        continue;
      }
      if (c >= 0x80) {
        const std::size_t n = utf8_length(reinterpret_cast<const unsigned char*>(p_), reinterpret_cast<const unsigned char*>(end_));
        if (n == 0) return fail("a string that is not UTF-8");
        p_ += n;
        continue;
      }
      ++p_;
    }
    return fail("a string that does not end");
  }
  int u4(const char* at) const {
    if (end_ - at < 4) return -1;
    int v = 0;
    for (int i = 0; i < 4; ++i) {
      const int h = hex(at[i]);
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    return v;
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

cursor::cursor(std::string_view text) : p_(skip_bom(text)), end_(text.data() + text.size()) {}

char cursor::peek() {
  while (p_ < end_ && space(*p_)) ++p_;
  return p_ < end_ ? *p_ : '\0';
}

bool cursor::take(char c) {
  if (peek() != c) return false;
  ++p_;
  return true;
}

std::string cursor::string() {
  (void)peek();
  ++p_;  // the quote
  const char* start = p_;
  while (*p_ != '"' && *p_ != '\\') ++p_;
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
        auto u4 = [](const char* at) {
          std::uint32_t v = 0;
          for (int i = 0; i < 4; ++i) v = v * 16 + static_cast<std::uint32_t>(hex(at[i]));
          return v;
        };
        std::uint32_t cp = u4(p_);
        p_ += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          const std::uint32_t lo = u4(p_ + 2);
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
  const char* q = p_ + (c == '-');
  while (q < end_ && digit(*q)) ++q;
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

void cursor::skip() {
  const char c = peek();
  switch (c) {
    case '"': (void)string(); return;
    case '[':
    case '{': {
      ++p_;
      const char close = c == '[' ? ']' : '}';
      if (take(close)) return;
      do {
        if (c == '{') {
          (void)peek();
          (void)string();
          take(':');
        }
        skip();
      } while (take(','));
      take(close);
      return;
    }
    default: (void)value(); return;
  }
}

}  // namespace exo::air::json_text
