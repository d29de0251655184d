#include <exo/core/value.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace exo {

std::string_view to_string(kind k) noexcept {
  switch (k) {
    case kind::null: return "null";
    case kind::boolean: return "bool";
    case kind::i64: return "i64";
    case kind::f64: return "f64";
    case kind::bytes: return "bytes";
    case kind::string: return "string";
    case kind::list: return "list";
    case kind::map: return "map";
    case kind::cap: return "cap";
  }
  return "unknown";
}

value::value(map m) {
  std::stable_sort(m.begin(), m.end(), [](auto& a, auto& b) { return a.first < b.first; });
  auto dup = std::adjacent_find(m.begin(), m.end(), [](auto& a, auto& b) { return a.first == b.first; });
  if (dup != m.end()) throw std::invalid_argument("exo::value: duplicate map key '" + dup->first + "'");
  v_ = std::move(m);
}

const value* value::find(std::string_view key) const noexcept {
  auto* m = if_map();
  if (!m) return nullptr;
  auto it = std::lower_bound(m->begin(), m->end(), key,
                             [](const auto& e, std::string_view k) { return e.first < k; });
  return it != m->end() && it->first == key ? &it->second : nullptr;
}

namespace {
void quote(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') { out += '\\'; out += c; }
    else if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", c);
    else out += c;
  }
  out += '"';
}
void render(std::string& out, const value& v) {
  switch (v.type()) {
    case kind::null: out += "null"; break;
    case kind::boolean: out += *v.if_bool() ? "true" : "false"; break;
    case kind::i64: out += fmt::format("{}", *v.if_i64()); break;
    case kind::f64: out += fmt::format("{}", *v.if_f64()); break;
    case kind::bytes: out += "0x" + to_hex(*v.if_bytes()); break;
    case kind::string: quote(out, *v.if_string()); break;
    case kind::list: {
      out += '[';
      bool first = true;
      for (auto& e : *v.if_list()) {
        if (!first) out += ", ";
        first = false;
        render(out, e);
      }
      out += ']';
      break;
    }
    case kind::map: {
      out += '{';
      bool first = true;
      for (auto& [k, e] : *v.if_map()) {
        if (!first) out += ", ";
        first = false;
        quote(out, k);
        out += ": ";
        render(out, e);
      }
      out += '}';
      break;
    }
    case kind::cap: out += fmt::format("#{}", v.if_cap()->index); break;
  }
}
}  // namespace

std::string to_string(const value& v) {
  std::string s;
  render(s, v);
  return s;
}

}  // namespace exo
