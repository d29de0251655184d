#include "lens.hpp"

#include <fmt/format.h>

#include <limits>

namespace exo::air {

namespace {

unexpected<lens_error> bad(std::string message) { return unexpected(lens_error{lambda_applier_error, std::move(message)}); }

// A value in a message: its JSON, cut short when long.
std::string shown(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 200) s = s.substr(0, 197) + "...";
  return s;
}

}  // namespace

expected<std::optional<json>, lens_error> apply_lens(const json& v, const lens& l, const scalar_lookup& scalars) {
  const json* at = &v;
  for (const lens_step& step : l.steps) {
    std::optional<std::uint64_t> index;
    std::string field;
    switch (step.what) {
      case lens_step::kind::index: index = step.index; break;
      case lens_step::kind::field: field = step.name; break;
      case lens_step::kind::variable: {
        const json* by = scalars ? scalars(step) : nullptr;
        if (!by) return std::optional<json>{};  // the join: the scalar is not there yet
        if (by->is_number_unsigned() || (by->is_number_integer() && by->get<std::int64_t>() >= 0)) {
          index = by->get<std::uint64_t>();
        } else if (by->is_string()) {
          field = by->get<std::string>();
        } else {
          return bad(fmt::format("the scalar '{}' used as an accessor is {}: it must be a non-negative integer or a string",
                                 step.name, shown(*by)));
        }
        break;
      }
    }
    if (index) {
      if (!at->is_array())
        return bad(fmt::format("value '{}' is not an array, so [{}] cannot be applied to it", shown(*at), *index));
      if (*index >= at->size())
        return bad(fmt::format("value '{}' does not contain an element at index {}", shown(*at), *index));
      at = &(*at)[static_cast<std::size_t>(*index)];
    } else {
      if (!at->is_object())
        return bad(fmt::format("value '{}' is not an object, so the field '{}' cannot be read from it", shown(*at), field));
      auto it = at->find(field);
      if (it == at->end()) return bad(fmt::format("value '{}' does not contain the field '{}'", shown(*at), field));
      at = &*it;
    }
  }
  return std::optional<json>(*at);
}

}  // namespace exo::air
