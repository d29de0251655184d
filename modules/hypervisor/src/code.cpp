// Code: installing code for plugin containers, the types actors run, and creating root
// actors from code or saved state.
#include "records.hpp"

#include <exo/core/encoding.hpp>
#include <exo/hypervisor/kernel.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace exo {

namespace {
bytes code_key(const digest& code) {
  bytes k;
  k.reserve(33);
  k.push_back('k');
  k.insert(k.end(), code.bytes.begin(), code.bytes.end());
  return k;
}
struct code_record {
  BOOST_HANA_DEFINE_STRUCT(code_record, (std::string, container), (bytes, code));
};
}  // namespace

expected<digest> kernel::install(std::string_view container_name, byte_view code, bool* added) {
  if (added) *added = false;
  const container* c = containers_->find(container_name);
  if (!c && own_containers_ && container_name != "native")
    return fail(errc::invalid_argument, "this hypervisor has no container registry (set config::containers)");
  if (!c)
    return fail(errc::invalid_argument, fmt::format("no container named '{}' is registered; load its plugin first",
                                                    container_name));
  auto compiled = c->compile(code, containers_->limits());
  if (!compiled) return unexpected(std::move(compiled).error());
  const digest h = (*compiled)->code_hash;
  // Compiled before is not installed in this state: a rollback (a failed batch, an upgrade
  // undone) takes the record out of the tree and leaves the compiled code here.
  if (c->type_id() != EXO_TYPE_NATIVE) {  // native code is a type name, known to every build that registers it
    auto key = code_key(h);
    auto have = state_->get(key);
    if (!have) return unexpected(std::move(have).error());
    if (!*have) {
      if (auto r = state_->put(key, encode(to_value(code_record{std::string(c->name()), bytes(code.begin(), code.end())}))); !r)
        return unexpected(std::move(r).error());
      if (added) *added = true;  // only a new record may be discarded again
    }
  }
  if (codes_.contains(h)) return h;
  types_.emplace(h, compiled->get());
  codes_.emplace(h, std::move(*compiled));
  return h;
}

void kernel::discard_code(const digest& code) {
  auto it = codes_.find(code);
  if (it == codes_.end()) return;
  (void)state_->erase(code_key(code));
  types_.erase(code);
  if (last_type_ == it->second.get()) last_type_ = nullptr;
  codes_.erase(it);
}

expected<const actor_type*> kernel::type_for(const digest& code) {
  if (auto t = types_.find(code); t != types_.end()) return t->second;
  if (const actor_type* native = containers_->native().find(code)) {
    types_.emplace(code, native);
    return native;
  }
  auto raw = state_->get(code_key(code));
  if (!raw) return unexpected(std::move(raw).error());
  if (!*raw)
    return fail(errc::no_such_actor, fmt::format("no type with code {} is registered or installed; register native "
                                                 "types with register_type<T>() and install code with install()",
                                                 short_hex(code)));
  auto v = decode(**raw);
  auto rec = v ? from_value<code_record>(std::move(*v), "code record: ") : unexpected(std::move(v).error());
  if (!rec) return fail(errc::malformed, fmt::format("the stored code {}: {}", short_hex(code), rec.error().message));
  auto h = install(rec->container, rec->code);
  if (!h) return fail(h.error().code, fmt::format("the stored code {} ({}): {}", short_hex(code), rec->container,
                                                  h.error().message));
  if (!(*h == code))
    return fail(errc::malformed, fmt::format("the stored code {} compiles to code {}: the record is damaged",
                                             short_hex(code), short_hex(*h)));
  return types_.at(code);
}

void kernel::register_type(const actor_type& type) {
  containers_->native().add(type);
  if (std::find(declared_.begin(), declared_.end(), &type) == declared_.end()) declared_.push_back(&type);
}

value kernel::type_list() const {
  std::vector<const actor_type*> all = declared_;
  std::sort(all.begin(), all.end(), [](const actor_type* a, const actor_type* b) {
    return a->name != b->name ? a->name < b->name : a->code_hash.bytes < b->code_hash.bytes;
  });
  value::list out;
  for (const actor_type* t : all) out.push_back(value::make_map({{"name", value(std::string(t->name))}, {"code", to_value(t->code_hash)}}));
  return value(std::move(out));
}

expected<cap_handle> kernel::create_saved(const digest& code, value state) {
  auto t = type_for(code);
  if (!t) return unexpected(std::move(t).error());
  const actor_type& type = **t;
  if (!type.load)
    return fail(errc::invalid_argument, fmt::format("type '{}' cannot load saved state", type.name));
  auto s = type.load(type, std::move(state));
  if (!s) return unexpected(std::move(s).error());
  return create(type, *s);
}

expected<cap_handle> kernel::create_code(std::string_view container, byte_view code) {
  bool added = false;
  auto h = install(container, code, &added);
  if (!h) return unexpected(std::move(h).error());
  auto cap = create_saved(*h, value{});
  if (!cap && added) discard_code(*h);
  return cap;
}

expected<void> kernel::replace_code(const id& a, const digest& code) {
  if (delivering_) return fail(errc::invalid_argument, "replace_code during a delivery");
  auto slot = resolve(a);
  if (!slot) return unexpected(std::move(slot).error());
  if (*slot == 0) return fail(errc::no_such_actor, fmt::format("{} is the hypervisor's own id, not an actor", to_hex(a)));
  auto t = type_for(code);
  if (!t) return unexpected(std::move(t).error());
  actor& act = actors_[*slot];
  const actor_type& from = *act.type;
  const actor_type& to = **t;
  if (&from == &to) return {};
  const std::string who = short_hex(a);
  if (auto kept = keeps_exports(from, to, who); !kept) return kept;
  if (!from.save || !to.load)
    return fail(errc::invalid_argument, fmt::format("actor {}: type '{}' cannot hand its state to type '{}' (a type "
                                                    "without save or load keeps its state only in memory)",
                                                    who, from.name, to.name));
  auto s = to.load(to, from.save(act.state));
  if (!s) return fail(s.error().code, fmt::format("actor {}: the new code does not load its state: {}", who, s.error().message));
  from.destroy(act.state);
  act.type = &to;
  act.state = *s;
  mark_dirty(*slot, main_);
  return {};
}

expected<value> kernel::saved_state(const id& a) {
  auto slot = resolve(a);
  if (!slot) return unexpected(std::move(slot).error());
  const actor& act = actors_[*slot];
  if (*slot == 0 || !act.type)
    return fail(errc::no_such_actor, fmt::format("{} is the hypervisor's own id, not an actor", to_hex(a)));
  return act.type->save ? act.type->save(act.state) : value{};
}

}  // namespace exo
