#include <exo/container/native.hpp>
#include <exo/core/encoding.hpp>
#include <exo/core/hash.hpp>

#include <fmt/format.h>

namespace exo {

std::uint32_t actor_type::find(std::string_view function) const noexcept {
  for (std::size_t i = 0; i < functions.size(); ++i)
    if (functions[i].name == function) return static_cast<std::uint32_t>(i);
  return failure_function;
}

expected<void> keeps_exports(const actor_type& current, const actor_type& next, std::string_view who) {
  for (std::size_t i = 0; i < current.functions.size(); ++i)
    if (i >= next.functions.size() || next.functions[i].name != current.functions[i].name)
      return fail(errc::invalid_argument,
                  fmt::format("the new code of actor {} exports {} as function {}, where the old code exports '{}': "
                              "capabilities name functions by position, so new code keeps the old exports in their "
                              "order and adds new ones after them",
                              who, i < next.functions.size() ? "'" + std::string(next.functions[i].name) + "'" : "nothing",
                              i, current.functions[i].name));
  return {};
}

std::string to_string(const failure& f) {
  return fmt::format("actor {}: {}: {}: {}", short_hex(f.actor), f.function,
                     to_string(f.cause()), f.message);
}

namespace detail {

unexpected<error> arity_error(std::size_t want, std::size_t got) {
  return fail(errc::type_mismatch, fmt::format("expects {} argument{}, got {}", want, want == 1 ? "" : "s", got));
}

unexpected<error> threw(const char* what) {
  return fail(errc::handler_threw, fmt::format("handler threw: {}", what));
}

digest native_code_hash(std::string_view name, std::span<const exported_function> fns) {
  value::list list;
  for (auto& f : fns) list.push_back(value::list{value{f.name}, value{static_cast<std::int64_t>(f.cost)}});
  value code = value::make_map({{"container", "native"}, {"type", value{name}}, {"functions", std::move(list)}});
  return hash(encode(code));
}

}  // namespace detail
}  // namespace exo
