// The kernel's actor table and the host's API: creating root actors and egresses, the host's
// capabilities and sends, and inspecting actors.
#include "post.hpp"

#include <exo/core/encoding.hpp>
#include <exo/core/hash.hpp>
#include <exo/hypervisor/kernel.hpp>

#include <fmt/format.h>

#include <stdexcept>

namespace exo {

kernel::kernel(config cfg, state_tree& state) : cfg_(std::move(cfg)), containers_(cfg_.containers), state_(&state) {
  if (!containers_) {
    own_containers_ = std::make_unique<container_registry>();
    containers_ = own_containers_.get();
  }
  actor& host = actors_.emplace_back();
  host.self = hypervisor_id(cfg_.name);
  index_.insert(host.self, 0, actors_);
}

kernel::~kernel() {
  actors_.for_each([](actor& a) {
    if (a.type) a.type->destroy(a.state);
  });
}

std::uint32_t kernel::add_actor(const id& creator, std::uint64_t nonce, const actor_type& type, void* state,
                                std::uint64_t clock) {
  auto slot = static_cast<std::uint32_t>(actors_.size());
  actor& a = actors_.emplace_back();
  a.self = derive_actor_id(creator, nonce);
  a.type = &type;
  a.state = state;
  a.clock = clock;
  index_.insert(a.self, slot, actors_);
  if (&type != last_type_) [[unlikely]] {  // spawning many of one type looks it up once
    types_.emplace(type.code_hash, &type);
    last_type_ = &type;
  }
  ++main_.stats.actors_created;
  ++loaded_;
  return slot;
}

void kernel::remove_created(std::uint32_t slot) noexcept {
  actor& a = actors_[slot];
  index_.erase(a.self, actors_);
  a.type->destroy(a.state);
  --main_.stats.actors_created;
  --loaded_;
  // Usually the newest slot; if actors were loaded after it, it stays as an empty slot.
  if (slot + 1 == actors_.size()) actors_.pop_back();
  else a = actor{};
}

cap_handle kernel::host_insert(const capability& c) {
  auto h = actors_[0].caps.insert(c);
  // The host's own table is full: a bug in the host program (it never drops caps), not input.
  if (!h) throw std::length_error("exo: the host's capability table is full; drop unused host capabilities");
  return *h;
}

cap_handle kernel::create(const actor_type& type, void* state) {
  actor& host = actors_[0];
  if (host.caps.size() >= max_caps_per_actor) {
    type.destroy(state);
    (void)host_insert(capability{});  // throws
  }
  std::uint32_t slot = add_actor(host.self, host.nonce++, type, state, host.clock);
  mark_dirty(slot, main_);
  return host_insert(capability{cap_kind::actor, rights::all, slot, 0});
}

std::uint32_t kernel::egress_named(std::string_view name) {
  for (std::uint32_t i = 0; i < egress_.size(); ++i)
    if (egress_[i].name == name) return i;
  egress_.push_back({std::string(name), nullptr});
  return static_cast<std::uint32_t>(egress_.size() - 1);
}

cap_handle kernel::create_egress(std::string name, egress_sink sink, rights r) {
  std::uint32_t index = egress_named(name);
  egress_[index].sink = std::move(sink);
  return host_insert(capability{cap_kind::egress, r, index, 0});
}

expected<std::uint32_t> kernel::function_index(std::uint32_t slot, std::string_view function) {
  actor& target = actors_[slot];
  if (!target.type) {
    if (const remote_actor* r = remote_of(slot)) {  // an actor of another node: by the names it is known by
      auto at = std::find(r->functions.begin(), r->functions.end(), function);
      if (at == r->functions.end())
        return fail(errc::no_such_function, fmt::format("actor {} (on node {}) is not known here to export a function "
                                                        "'{}'",
                                                        short_hex(target.self), r->node, function));
      return static_cast<std::uint32_t>(at - r->functions.begin());
    }
    if (auto r = load(slot); !r) return unexpected(std::move(r).error());
  }
  std::uint32_t f = target.type->find(function);
  if (f == failure_function)
    return fail(errc::no_such_function, fmt::format("actor {} ({}) exports no function '{}'", short_hex(target.self),
                                                    target.type->name, function));
  return f;
}

expected<cap_handle> kernel::function_cap(cap_handle actor_cap, std::string_view function, rights keep) {
  auto c = actors_[0].caps.lookup(actor_cap);
  if (!c) return unexpected(std::move(c).error());
  if (c->kind != cap_kind::actor)
    return fail(errc::wrong_kind, fmt::format("capability #{} names an {}, not an actor", actor_cap.index, to_string(c->kind)));
  auto f = function_index(c->target, function);
  if (!f) return unexpected(std::move(f).error());
  auto d = derive_function(*c, *f, keep);
  if (!d) return unexpected(std::move(d).error());
  return actors_[0].caps.insert(*d);
}

expected<std::uint32_t> kernel::host_named(const id& a) {
  auto r = resolve_or_route(a);
  if (!r) return unexpected(std::move(r).error());
  if (*r == 0) return fail(errc::no_such_actor, fmt::format("{} is the hypervisor's own id, not an actor", to_hex(a)));
  return *r;
}

expected<cap_handle> kernel::lookup(const id& a, std::string_view function, rights keep) {
  auto slot = host_named(a);
  if (!slot) return unexpected(std::move(slot).error());
  auto f = function_index(*slot, function);
  if (!f) return unexpected(std::move(f).error());
  return actors_[0].caps.insert(capability{cap_kind::function, keep, *slot, *f});
}

expected<cap_handle> kernel::actor_cap(const id& a, rights keep) {
  auto slot = host_named(a);
  if (!slot) return unexpected(std::move(slot).error());
  return actors_[0].caps.insert(capability{cap_kind::actor, keep, *slot, 0});
}

expected<cap_handle> kernel::derive(cap_handle from, rights keep) {
  auto c = actors_[0].caps.lookup(from);
  if (!c) return unexpected(std::move(c).error());
  auto d = exo::derive(*c, keep);
  if (!d) return unexpected(std::move(d).error());
  return actors_[0].caps.insert(*d);
}

expected<id> kernel::actor_id(cap_handle h) const {
  auto c = actors_[0].caps.lookup(h);
  if (!c) return unexpected(std::move(c).error());
  if (c->kind != cap_kind::actor && c->kind != cap_kind::function)
    return fail(errc::wrong_kind, fmt::format("capability #{} names an {}, not an actor", h.index, to_string(c->kind)));
  return actors_[c->target].self;
}

expected<void> kernel::send(cap_handle target, arg_list&& args, const send_options& opts) {
  if (reporting_) [[unlikely]]
    return fail(errc::invalid_argument, "the host cannot send from a hook while a parallel window's deliveries are "
                                        "reported (its message could sort before ones already run); send after run()");
  actor& host = actors_[0];
  auto c = host.caps.callable(target);
  if (!c) return unexpected(std::move(c).error());
  capability reply{};
  if (opts.reply_to) {
    auto rc = host.caps.reply_target(*opts.reply_to);
    if (!rc) return unexpected(std::move(rc).error());
    reply = *rc;
  }
  return post(delivering_ ? host_outbox_ : main_.outbox, host, host.clock, *c, reply, 0, opts.budget == send_options::remaining ? cfg_.default_budget : opts.budget,
              std::move(args));
}

expected<void> kernel::send_encoded(cap_handle target, byte_view encoded, const send_options& opts) {
  auto v = decode(encoded);
  if (!v) return unexpected(std::move(v).error());
  auto* l = v->if_list();
  if (!l) return fail(errc::malformed, fmt::format("arguments must encode a list, not a {}", to_string(v->type())));
  arg_list args;
  for (auto& e : *l) args.push_back(std::move(e));
  return send(target, std::move(args), opts);
}

expected<std::uint64_t> kernel::clock_of(const id& a) {
  auto slot = resolve(a);
  if (!slot) return unexpected(std::move(slot).error());
  return actors_[*slot].clock;
}

expected<const actor_type*> kernel::type_of(const id& a) {
  auto slot = resolve(a);
  if (!slot) return unexpected(std::move(slot).error());
  if (*slot == 0) return fail(errc::no_such_actor, fmt::format("{} is the hypervisor's own id, not an actor", to_hex(a)));
  return actors_[*slot].type;
}

expected<std::size_t> kernel::cap_count(const id& a) {
  auto slot = resolve(a);
  if (!slot) return unexpected(std::move(slot).error());
  return actors_[*slot].caps.size();
}

}  // namespace exo
