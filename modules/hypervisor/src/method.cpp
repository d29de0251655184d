#include <exo/hypervisor/method.hpp>

#include <fmt/format.h>

#include <array>

namespace exo {

bool is_param_type(std::string_view t) {
  static constexpr std::array<std::string_view, 8> known = {"i64", "f64", "bool", "string", "bytes", "list", "map", "any"};
  for (auto k : known)
    if (k == t) return true;
  return false;
}

bool fits_param_type(const value& v, std::string_view t) {
  if (t == "any") return !v.if_cap();
  if (t == "i64") return v.if_i64();
  if (t == "f64") return v.if_f64() || v.if_i64();
  if (t == "bool") return v.if_bool();
  if (t == "string") return v.if_string();
  if (t == "bytes") return v.if_bytes();
  if (t == "list") return v.if_list();
  if (t == "map") return v.if_map();
  return false;
}

expected<arg_list> bind_args(const method& m, const value& args) {
  static const value::list none;
  const value::list* given = args.is_null() ? &none : args.if_list();
  if (!given) return fail(errc::invalid_argument, fmt::format("{} takes a list of arguments", m.name()));
  if (given->size() > m.params.size())
    return fail(errc::invalid_argument,
                fmt::format("{} takes at most {} argument{}, got {}", m.name(), m.params.size(),
                            m.params.size() == 1 ? "" : "s", given->size()));
  arg_list out;
  out.reserve(m.params.size());
  for (std::size_t i = 0; i < m.params.size(); ++i) {
    const method_param& p = m.params[i];
    if (i >= given->size()) {
      if (!p.fallback)
        return fail(errc::invalid_argument, fmt::format("{}: missing argument {} '{}' ({})", m.name(), i + 1, p.name, p.type));
      out.push_back(*p.fallback);
      continue;
    }
    const value& v = (*given)[i];
    if (!fits_param_type(v, p.type))
      return fail(errc::invalid_argument, fmt::format("{}: argument {} '{}' must be {}, got {}", m.name(), i + 1, p.name,
                                                      p.type, to_string(v.type())));
    if (p.type == "f64" && v.if_i64()) out.push_back(value(static_cast<double>(*v.if_i64())));
    else out.push_back(v);
  }
  return out;
}

bool allowed(const method& m, const std::optional<public_key>& caller) {
  if (m.callers.empty()) return true;
  if (!caller) return false;
  for (auto& k : m.callers)
    if (k == *caller) return true;
  return false;
}

}  // namespace exo
