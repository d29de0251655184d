#pragma once
/// \file
/// C++ types to and from the value model, without hand-written code: structs declared with
/// BOOST_HANA_DEFINE_STRUCT become maps keyed by member name, and back. Native actors use
/// this to take typed arguments (see exo/container/native.hpp).
///
/// Supported: exo::value itself, bool, integers (range-checked when narrower than i64),
/// float/double, std::string, exo::bytes, exo::cap_handle, exo::id (as 32 bytes),
/// std::vector<T> (a list), std::optional<T> (null when empty) and Hana structs of these.

#include <exo/core/id.hpp>
#include <exo/core/value.hpp>

#include <boost/hana/accessors.hpp>
#include <boost/hana/define_struct.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/keys.hpp>
#include <boost/hana/size.hpp>
#include <boost/hana/core/to.hpp>
#include <boost/hana/first.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/string.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

namespace exo {

template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

/// True for a struct declared with BOOST_HANA_DEFINE_STRUCT.
template <class T>
concept reflected_struct = boost::hana::Struct<T>::value;

namespace detail {
inline unexpected<error> mismatch(std::string_view what, kind want, const value& got) {
  return fail(errc::type_mismatch,
              fmt::format("{}expected {}, got {} {}", what, to_string(want), to_string(got.type()),
                          to_string(got)));
}
}  // namespace detail

/// T as a value.
template <class T>
value to_value(const T& t) {
  if constexpr (std::is_same_v<T, value>) return t;
  else if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::string> ||
                     std::is_same_v<T, bytes> || std::is_same_v<T, cap_handle>)
    return value{t};
  else if constexpr (std::is_convertible_v<const T&, std::string_view>) return value{std::string_view(t)};
  else if constexpr (std::is_integral_v<T>) return value{t};
  else if constexpr (std::is_floating_point_v<T>) return value{static_cast<double>(t)};
  else if constexpr (std::is_same_v<T, id>) return value{bytes(t.bytes.begin(), t.bytes.end())};
  else if constexpr (is_optional<T>::value) return t ? to_value(*t) : value{};
  else if constexpr (is_vector<T>::value) {
    value::list l;
    l.reserve(t.size());
    for (auto& e : t) l.push_back(to_value(e));
    return value{std::move(l)};
  } else if constexpr (reflected_struct<T>) {
    value::map m;
    m.reserve(boost::hana::value(boost::hana::size(boost::hana::accessors<T>())));
    boost::hana::for_each(boost::hana::accessors<T>(), [&](auto pair) {
      m.emplace_back(boost::hana::to<char const*>(boost::hana::first(pair)),
                     to_value(boost::hana::second(pair)(t)));
    });
    return value{std::move(m)};
  } else {
    static_assert(sizeof(T) == 0, "exo::to_value: no mapping of this type to the value model");
  }
}

/// A value as T; a wrong kind, a missing or extra struct field, or an integer out of T's
/// range is errc::type_mismatch naming what was expected and what came. `what` prefixes
/// the message (e.g. "argument 2: ").
template <class T>
expected<T> from_value(value&& v, std::string_view what = {}) {
  if constexpr (std::is_same_v<T, value>) {
    return std::move(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    if (auto* b = v.if_bool()) return *b;
    return detail::mismatch(what, kind::boolean, v);
  } else if constexpr (std::is_integral_v<T>) {
    auto* i = v.if_i64();
    if (!i) return detail::mismatch(what, kind::i64, v);
    if constexpr (!std::is_same_v<T, std::int64_t>) {
      if (!std::in_range<T>(*i))
        return fail(errc::type_mismatch, fmt::format("{}{} is out of range for this parameter", what, *i));
    }
    return static_cast<T>(*i);
  } else if constexpr (std::is_floating_point_v<T>) {
    if (auto* d = v.if_f64()) return static_cast<T>(*d);
    return detail::mismatch(what, kind::f64, v);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (auto* s = v.if_string()) return std::move(*s);
    return detail::mismatch(what, kind::string, v);
  } else if constexpr (std::is_same_v<T, bytes>) {
    if (auto* b = v.if_bytes()) return std::move(*b);
    return detail::mismatch(what, kind::bytes, v);
  } else if constexpr (std::is_same_v<T, cap_handle>) {
    if (auto* c = v.if_cap()) return *c;
    return detail::mismatch(what, kind::cap, v);
  } else if constexpr (std::is_same_v<T, id>) {
    auto* b = v.if_bytes();
    if (!b) return detail::mismatch(what, kind::bytes, v);
    auto r = id_from_bytes(*b);
    if (!r) return fail(errc::type_mismatch, fmt::format("{}{}", what, r.error().message));
    return *r;
  } else if constexpr (is_optional<T>::value) {
    if (v.is_null()) return T{};
    auto r = from_value<typename T::value_type>(std::move(v), what);
    if (!r) return unexpected(std::move(r).error());
    return T{std::move(*r)};
  } else if constexpr (is_vector<T>::value) {
    auto* l = v.if_list();
    if (!l) return detail::mismatch(what, kind::list, v);
    T out;
    out.reserve(l->size());
    for (std::size_t i = 0; i < l->size(); ++i) {
      auto r = from_value<typename T::value_type>(std::move((*l)[i]), fmt::format("{}[{}]: ", what, i));
      if (!r) return unexpected(std::move(r).error());
      out.push_back(std::move(*r));
    }
    return out;
  } else if constexpr (reflected_struct<T>) {
    auto* m = v.if_map();
    if (!m) return detail::mismatch(what, kind::map, v);
    T out{};
    std::optional<error> err;
    std::size_t found = 0;
    boost::hana::for_each(boost::hana::accessors<T>(), [&](auto pair) {
      if (err) return;
      const char* name = boost::hana::to<char const*>(boost::hana::first(pair));
      auto it = std::find_if(m->begin(), m->end(), [&](auto& e) { return e.first == name; });
      auto& field = boost::hana::second(pair)(out);
      using F = std::remove_cvref_t<decltype(field)>;
      if (it == m->end()) {
        if constexpr (is_optional<F>::value) return;
        err = error{errc::type_mismatch, fmt::format("{}missing field '{}'", what, name)};
        return;
      }
      ++found;
      auto r = from_value<F>(std::move(it->second), fmt::format("{}field '{}': ", what, name));
      if (!r) err = std::move(r).error();
      else field = std::move(*r);
    });
    if (err) return unexpected(std::move(*err));
    if (found != m->size())
      return fail(errc::type_mismatch, fmt::format("{}{} unknown field(s) in {}", what, m->size() - found, to_string(v)));
    return out;
  } else {
    static_assert(sizeof(T) == 0, "exo::from_value: no mapping of this type from the value model");
  }
}

/// from_value of a copy.
template <class T>
expected<T> from_value(const value& v, std::string_view what = {}) {
  return from_value<T>(value(v), what);
}

}  // namespace exo
