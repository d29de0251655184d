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

value::value(map m) : k_(kind::null) {
  u_.i = 0;
  std::stable_sort(m.begin(), m.end(), [](auto& a, auto& b) { return a.first < b.first; });
  auto dup = std::adjacent_find(m.begin(), m.end(), [](auto& a, auto& b) { return a.first == b.first; });
  if (dup != m.end()) throw std::invalid_argument("exo::value: duplicate map key '" + dup->first + "'");
  u_.m = new map(std::move(m));
  k_ = kind::map;
}

void value::copy_heap(const value& o) {
  switch (o.k_) {
    case kind::bytes: u_.by = new bytes(*o.u_.by); break;
    case kind::string: u_.s = new std::string(*o.u_.s); break;
    case kind::list: u_.l = new list(*o.u_.l); break;
    case kind::map: u_.m = new map(*o.u_.m); break;
    default: break;
  }
}

void value::free_heap() noexcept {
  switch (k_) {
    case kind::bytes: delete u_.by; break;
    case kind::string: delete u_.s; break;
    case kind::list: delete u_.l; break;
    case kind::map: delete u_.m; break;
    default: break;
  }
}

bool operator==(const value& a, const value& b) noexcept {
  if (a.k_ != b.k_) return false;
  switch (a.k_) {
    case kind::null: return true;
    case kind::boolean: return a.u_.b == b.u_.b;
    case kind::i64: return a.u_.i == b.u_.i;
    case kind::f64: return a.u_.d == b.u_.d;
    case kind::bytes: return *a.u_.by == *b.u_.by;
    case kind::string: return *a.u_.s == *b.u_.s;
    case kind::list: return *a.u_.l == *b.u_.l;
    case kind::map: return *a.u_.m == *b.u_.m;
    case kind::cap: return a.u_.c == b.u_.c;
  }
  return false;
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
