#pragma once
// Internal to the kernel: visiting the capabilities inside values (message arguments,
// results). Not installed.

#include <exo/core/expected.hpp>
#include <exo/core/value.hpp>
#include <exo/message/message.hpp>

namespace exo::internal {

/// Calls f(cap_handle&) for every capability in `v`, at any depth; f's first error stops it.
template <class F>
expected<void> for_each_cap(value& v, F& f) {
  switch (v.type()) {
    case kind::cap: return f(*v.if_cap());
    case kind::list:
      for (auto& e : *v.if_list())
        if (auto r = for_each_cap(e, f); !r) return r;
      return {};
    case kind::map:
      for (auto& [k, e] : *v.if_map())
        if (auto r = for_each_cap(e, f); !r) return r;
      return {};
    default: return {};
  }
}

/// for_each_cap over a message's arguments; arguments that cannot hold a capability are skipped
/// without a call.
template <class F>
expected<void> for_each_cap(arg_list& args, F&& f) {
  for (auto& v : args) {
    if (!arg_list::may_hold_cap(v)) continue;
    if (auto r = for_each_cap(v, f); !r) return r;
  }
  return {};
}

/// `v` with every capability replaced by null.
inline void null_caps(value& v) {
  if (v.if_cap()) v = value{};
  else if (auto* l = v.if_list()) for (auto& e : *l) null_caps(e);
  else if (auto* m = v.if_map()) for (auto& [k, e] : *m) null_caps(e);
}

/// `v` with every capability c replaced by f(c) (an expected<value>); f's first error is the
/// result.
template <class F>
expected<value> transform_caps(const value& v, F& f) {
  if (auto* c = v.if_cap()) return f(*c);
  if (auto* l = v.if_list()) {
    value::list out;
    out.reserve(l->size());
    for (auto& e : *l) {
      auto d = transform_caps(e, f);
      if (!d) return d;
      out.push_back(std::move(*d));
    }
    return value(std::move(out));
  }
  if (auto* m = v.if_map()) {
    value::map out;
    out.reserve(m->size());
    for (auto& [k, e] : *m) {
      auto d = transform_caps(e, f);
      if (!d) return d;
      out.emplace_back(k, std::move(*d));
    }
    return value(std::move(out));
  }
  return v;
}

}  // namespace exo::internal
