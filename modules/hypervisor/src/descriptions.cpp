// Capabilities described without host handles, so that a log can name them and a replay
// can make them again.
#include "cap_walk.hpp"

#include <exo/hypervisor/kernel.hpp>

#include <fmt/format.h>

namespace exo {

expected<value> kernel::describe_cap(cap_handle h) {
  auto c = actors_[0].caps.lookup(h);
  if (!c) return unexpected(std::move(c).error());
  const auto r = static_cast<std::int64_t>(c->rights);
  switch (c->kind) {
    case cap_kind::actor:
      return value::make_map({{"cap", "actor"}, {"actor", to_value(actors_[c->target].self)}, {"rights", r}});
    case cap_kind::function: {
      if (const remote_actor* on = remote_of(c->target)) {
        // An actor of another node: its function by name if known here, else by index.
        const bool named = c->function < on->functions.size();
        return value::make_map({{"cap", "function"},
                                {"actor", to_value(actors_[c->target].self)},
                                {"function", named ? value(on->functions[c->function]) : value(std::int64_t{c->function})},
                                {"rights", r}});
      }
      if (!actors_[c->target].type)
        if (auto l = load(c->target); !l) return unexpected(std::move(l).error());
      const auto* type = actors_[c->target].type;
      if (c->function >= type->functions.size())
        return fail(errc::wrong_kind, fmt::format("capability #{} names no exported function", h.index));
      return value::make_map({{"cap", "function"},
                              {"actor", to_value(actors_[c->target].self)},
                              {"function", value(std::string(type->functions[c->function].name))},
                              {"rights", r}});
    }
    case cap_kind::egress:
      return value::make_map({{"cap", "egress"}, {"egress", value(egress_[c->target].name)}, {"rights", r}});
    default:
      return fail(errc::wrong_kind, fmt::format("capability #{} names nothing that can be described", h.index));
  }
}

expected<cap_handle> kernel::materialize_cap(const value& d) {
  auto bad = [&](std::string_view why) {
    return fail(errc::malformed, fmt::format("capability description {}: {}", to_string(d), why));
  };
  const value* kind = d.find("cap");
  const value* r = d.find("rights");
  if (!kind || !kind->if_string() || !r || !r->if_i64()) return bad("needs a 'cap' kind and 'rights'");
  if (*r->if_i64() < 0 || *r->if_i64() > static_cast<std::int64_t>(rights::all)) return bad("impossible rights");
  const auto keep = static_cast<rights>(*r->if_i64());
  const std::string& k = *kind->if_string();
  if (k == "egress") {
    const value* name = d.find("egress");
    if (!name || !name->if_string() || d.if_map()->size() != 3) return bad("an egress is named by 'egress'");
    return host_insert(capability{cap_kind::egress, keep, egress_named(*name->if_string()), 0});
  }
  const value* who = d.find("actor");
  if (!who || !who->if_bytes()) return bad("needs the 'actor' id");
  auto aid = id_from_bytes(*who->if_bytes());
  if (!aid) return bad(aid.error().message);
  auto slot = resolve_or_route(*aid);
  if (!slot) return unexpected(std::move(slot).error());
  if (*slot == 0) return bad("names the hypervisor itself");
  if (k == "actor") {
    if (d.if_map()->size() != 3) return bad("unknown fields");
    return host_insert(capability{cap_kind::actor, keep, *slot, 0});
  }
  if (k == "function") {
    const value* fn = d.find("function");
    if (fn && fn->if_i64() && d.if_map()->size() == 4 && remote_of(*slot)) {  // an actor of another node, by index
      if (*fn->if_i64() < 0 || *fn->if_i64() >= static_cast<std::int64_t>(failure_function)) return bad("a function index out of range");
      return host_insert(capability{cap_kind::function, keep, *slot, static_cast<std::uint32_t>(*fn->if_i64())});
    }
    if (!fn || !fn->if_string() || d.if_map()->size() != 4) return bad("a function is named by 'function'");
    auto f = function_index(*slot, *fn->if_string());
    if (!f) return unexpected(std::move(f).error());
    return host_insert(capability{cap_kind::function, keep, *slot, *f});
  }
  return bad("unknown kind");
}

expected<value> kernel::describe_caps(const value& v, value::list& caps) {
  auto describe = [&](cap_handle c) -> expected<value> {
    auto d = describe_cap(c);
    if (!d) return d;
    caps.push_back(std::move(*d));
    return value(cap_handle{static_cast<std::uint32_t>(caps.size() - 1)});
  };
  return internal::transform_caps(v, describe);
}

std::size_t kernel::release_caps(value& v) {
  std::uint32_t n = 0;
  auto release = [&](cap_handle& c) -> expected<void> {
    (void)drop(c);  // a handle already dropped leaves nothing to release
    c = cap_handle{n++};
    return {};
  };
  (void)internal::for_each_cap(v, release);
  return n;
}

expected<value> kernel::materialize_caps(const value& v, const value::list& caps, std::vector<cap_handle>& made) {
  auto materialize = [&](cap_handle c) -> expected<value> {
    if (c.index >= caps.size())
      return fail(errc::malformed, fmt::format("capability #{} is not among the {} described", c.index, caps.size()));
    auto h = materialize_cap(caps[c.index]);
    if (!h) return unexpected(std::move(h).error());
    made.push_back(*h);
    return value(*h);
  };
  return internal::transform_caps(v, materialize);
}

}  // namespace exo
