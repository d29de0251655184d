// Persistence: actors, their capability tables and the host's counters in the state tree;
// loading actors as they are needed and writing back those that changed.
#include "records.hpp"

#include <exo/core/encoding.hpp>
#include <exo/hypervisor/kernel.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace exo {

using internal::actor_key;
using internal::bits;

bytes record_key(const id& a) { return actor_key(a, 'm'); }

bytes storage_key(const id& a, byte_view key) {
  bytes k = actor_key(a, 's');
  k.insert(k.end(), key.begin(), key.end());
  return k;
}

std::uint32_t kernel::stub_for(const id& a) {
  std::uint32_t slot = find(a);
  if (slot != npos) return slot;
  slot = static_cast<std::uint32_t>(actors_.size());
  actors_.emplace_back().self = a;
  index_.insert(a, slot, actors_);
  return slot;
}

expected<std::uint32_t> kernel::resolve(const id& a) {
  std::uint32_t slot = find(a);
  if (slot == 0 || (slot != npos && actors_[slot].type)) return slot;
  const bool fresh = slot == npos;
  if (fresh) slot = stub_for(a);
  if (auto r = load(slot); !r) {
    // An id that named nothing leaves no trace (host lookups of arbitrary ids must not grow
    // the table); a stub that capabilities refer to stays.
    if (fresh && slot + 1 == actors_.size()) {
      index_.erase(a, actors_);
      actors_.pop_back();
    }
    return unexpected(std::move(r).error());
  }
  return slot;
}

expected<void> kernel::load(std::uint32_t slot) {
  actor& a = actors_[slot];
  const std::string who = short_hex(a.self);
  auto raw = state_->get(record_key(a.self));
  if (!raw) return unexpected(std::move(raw).error());
  if (!*raw) return fail(errc::no_such_actor, fmt::format("no actor has id {} in this state", to_hex(a.self)));
  auto v = decode(**raw);
  if (!v) return fail(errc::malformed, fmt::format("actor {}'s record: {}", who, v.error().message));
  auto rec = from_value<internal::actor_record>(std::move(*v), "actor record: ");
  if (!rec) return fail(errc::malformed, fmt::format("actor {}: {}", who, rec.error().message));
  if (rec->code.size() != 32) return fail(errc::malformed, fmt::format("actor {}'s code hash is not 32 bytes", who));
  digest code;
  std::copy(rec->code.begin(), rec->code.end(), code.bytes.begin());
  auto t = type_for(code);
  if (!t)
    return fail(errc::no_such_actor, fmt::format("actor {} has type '{}': {}", who, rec->type, t.error().message));
  const actor_type& type = **t;
  if (!rec->saved || !type.load)
    return fail(errc::invalid_argument, fmt::format("actor {} of type '{}' kept its state only in memory (declare the "
                                                    "type with BOOST_HANA_DEFINE_STRUCT to persist it)", who, rec->type));
  auto caps_raw = state_->get(actor_key(a.self, 'c'));
  if (!caps_raw) return unexpected(std::move(caps_raw).error());
  cap_table caps;
  if (*caps_raw) {
    auto cv = decode(**caps_raw);
    if (!cv) return fail(errc::malformed, fmt::format("actor {}'s capability table: {}", who, cv.error().message));
    auto t2 = load_caps(std::move(*cv));
    if (!t2) return fail(errc::malformed, fmt::format("actor {}'s capability table: {}", who, t2.error().message));
    caps = std::move(*t2);
  }
  auto state = type.load(type, std::move(rec->state));
  if (!state) return fail(errc::malformed, fmt::format("actor {} ({}): {}", who, rec->type, state.error().message));
  // (load_caps may have added stubs; slots never move, so `a` is still this actor)
  a.type = &type;
  a.state = *state;
  a.caps = std::move(caps);
  a.clock = bits(rec->clock);
  a.nonce = bits(rec->nonce);
  a.seq = bits(rec->seq);
  ++loaded_;
  return {};
}

expected<void> kernel::resume() {
  auto raw = state_->get(as_bytes(internal::host_key));
  if (!raw) return unexpected(std::move(raw).error());
  if (!*raw) return {};  // a new state
  auto v = decode(**raw);
  if (!v) return fail(errc::malformed, fmt::format("the host record: {}", v.error().message));
  auto rec = from_value<internal::host_record>(std::move(*v), "host record: ");
  if (!rec) return unexpected(std::move(rec).error());
  actor& host = actors_[0];
  if (!(rec->self == host.self))
    return fail(errc::invalid_argument, fmt::format("this state belongs to hypervisor {}, not to {} (config name '{}'); "
                                                    "open it with the name it was created with",
                                                    short_hex(rec->self), short_hex(host.self), cfg_.name));
  host.clock = bits(rec->clock);
  host.nonce = bits(rec->nonce);
  host.seq = bits(rec->seq);
  return {};
}

value kernel::save_caps(const cap_table& t) const {
  value::list slots;
  slots.reserve(t.slots().size());
  for (const auto& s : t.slots()) {
    value target;
    switch (s.cap.kind) {
      case cap_kind::actor:
      case cap_kind::function: target = value(bytes(actors_[s.cap.target].self.bytes.begin(),
                                                    actors_[s.cap.target].self.bytes.end())); break;
      case cap_kind::egress: target = value(egress_[s.cap.target].name); break;
      default: target = value(bits(std::uint64_t{s.cap.target})); break;
    }
    slots.emplace_back(value::list{value(std::int64_t{s.generation}), value(static_cast<std::int64_t>(s.cap.kind)),
                                   value(static_cast<std::int64_t>(s.cap.rights)), std::move(target),
                                   value(std::int64_t{s.cap.function})});
  }
  return value::list{value(std::int64_t{t.free_head()}), value(std::move(slots))};
}

expected<cap_table> kernel::load_caps(value&& v) {
  auto* top = v.if_list();
  if (!top || top->size() != 2 || !(*top)[0].if_i64() || !(*top)[1].if_list())
    return fail(errc::malformed, "expected [free head, [slots...]]");
  auto u32 = [](const value& x, std::uint64_t max) -> std::optional<std::uint32_t> {
    auto* i = x.if_i64();
    if (!i || *i < 0 || static_cast<std::uint64_t>(*i) > max) return std::nullopt;
    return static_cast<std::uint32_t>(*i);
  };
  auto head = u32((*top)[0], 0xffffffffu);
  if (!head) return fail(errc::malformed, "bad free list head");
  std::vector<cap_table::slot> slots;
  auto& in = *(*top)[1].if_list();
  slots.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    auto* f = in[i].if_list();
    auto bad = [&](std::string_view what) { return fail(errc::malformed, fmt::format("slot {}: {}", i, what)); };
    if (!f || f->size() != 5) return bad("expected [generation, kind, rights, target, function]");
    auto gen = u32((*f)[0], 0xffffffffu), k = u32((*f)[1], 3), r = u32((*f)[2], 7), fn = u32((*f)[4], 0xffffffffu);
    if (!gen || !k || !r || !fn) return bad("a field is out of range");
    cap_table::slot s;
    s.generation = *gen;
    s.cap.kind = static_cast<cap_kind>(*k);
    s.cap.rights = static_cast<rights>(*r);
    s.cap.function = *fn;
    const value& target = (*f)[3];
    switch (s.cap.kind) {
      case cap_kind::actor:
      case cap_kind::function: {
        auto* b = target.if_bytes();
        if (!b || b->size() != 32) return bad("an actor target must be a 32-byte id");
        id a;
        std::copy(b->begin(), b->end(), a.bytes.begin());
        s.cap.target = stub_for(a);
        break;
      }
      case cap_kind::egress: {
        auto* name = target.if_string();
        if (!name) return bad("an egress target must be a name");
        s.cap.target = egress_named(*name);
        break;
      }
      default: {
        auto link = u32(target, 0xffffffffu);
        if (!link) return bad("a free slot's link is out of range");
        s.cap.target = *link;
      }
    }
    slots.push_back(s);
  }
  return cap_table::restore(std::move(slots), *head);
}

expected<void> kernel::write_back() {
  if (broken_) return unexpected(*broken_);
  auto put = [&](const bytes& key, const value& v) { return state_->put(key, encode(v)); };
  // The host's clock and counters move with nearly every delivery and send: it is always
  // written (the tree ignores a put of the value it already has); a host that has done
  // nothing yet leaves the tree empty.
  const actor& host = actors_[0];
  if (host.clock | host.nonce | host.seq) {
    internal::host_record hrec{host.self, bits(host.clock), bits(host.nonce), bits(host.seq)};
    if (auto r = put(bytes(internal::host_key.begin(), internal::host_key.end()), to_value(hrec)); !r) return r;
  }
  for (std::size_t done = 0; done < main_.dirty.size(); ++done) {
    std::uint32_t slot = main_.dirty[done];
    actor& a = actors_[slot];
    if (a.type) {
      internal::actor_record rec{std::string(a.type->name), bytes(a.type->code_hash.bytes.begin(), a.type->code_hash.bytes.end()),
                       bits(a.clock), bits(a.nonce), bits(a.seq), a.type->save != nullptr,
                       a.type->save ? a.type->save(a.state) : value{}};
      if (auto r = put(record_key(a.self), to_value(rec)); !r) return r;
      if (a.caps_dirty) {
        if (auto r = put(actor_key(a.self, 'c'), save_caps(a.caps)); !r) return r;
        a.caps_dirty = false;
      }
    }
    a.dirty = false;
  }
  main_.dirty.clear();
  return {};
}

void kernel::undo_storage(detail::lane& l) noexcept {
  if (l.storage_undo.empty()) return;
  std::unique_lock lock(storage_mu_, std::defer_lock);
  if (l.shared) lock.lock();
  for (auto it = l.storage_undo.rbegin(); it != l.storage_undo.rend(); ++it) {
    expected<void> r;
    if (it->second) r = state_->put(it->first, *it->second);
    else if (auto e = state_->erase(it->first); !e) r = unexpected(std::move(e).error());
    if (!r && !broken_)
      broken_ = error{errc::internal, "undoing a failed message's storage writes failed, so the state no longer "
                                      "matches the actors: " + r.error().message};
  }
  l.storage_undo.clear();
}

expected<digest> kernel::state_root() {
  if (auto r = write_back(); !r) return unexpected(std::move(r).error());
  return state_->root();
}

expected<digest> kernel::commit(commit_meta meta) {
  if (auto r = write_back(); !r) return unexpected(std::move(r).error());
  return state_->commit(std::move(meta));
}

expected<void> kernel::reset_state(const digest& root) {
  if (auto r = state_->set_root(root); !r) return r;
  for (std::size_t i = 1; i < actors_.size(); ++i) {
    actor& a = actors_[i];
    if (a.type) {
      a.type->destroy(a.state);
      --loaded_;
    }
    id self = a.self;
    a = actor{};
    a.self = self;
  }
  for (auto slot : main_.dirty) actors_[slot].dirty = false;
  main_.dirty.clear();
  remote_.clear();  // routes are state: read again from the root
  broken_.reset();
  actor& host = actors_[0];
  host.clock = host.nonce = host.seq = 0;
  return resume();
}

}  // namespace exo
