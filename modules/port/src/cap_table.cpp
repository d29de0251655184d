#include <exo/port/cap_table.hpp>

#include <fmt/format.h>

namespace exo {
namespace {
constexpr std::uint32_t index_mask = max_caps_per_actor - 1;
constexpr std::uint32_t generation_mask = (1u << (32 - cap_index_bits)) - 1;
}  // namespace

expected<capability> cap_table::lookup(cap_handle h) const {
  std::uint32_t index = h.index & index_mask, gen = h.index >> cap_index_bits;
  if (index >= slots_.size())
    return fail(errc::bad_capability, fmt::format("capability #{} is not in this actor's table", h.index));
  if (slots_[index].generation != gen)
    return fail(errc::bad_capability, fmt::format("capability #{} is stale: it was dropped (or never issued)", h.index));
  if (slots_[index].cap.kind == cap_kind::none)
    return fail(errc::bad_capability, fmt::format("capability #{} is not in this actor's table", h.index));
  return slots_[index].cap;
}

expected<capability> cap_table::callable(cap_handle h) const {
  auto c = lookup(h);
  if (!c) return c;
  if (c->kind != cap_kind::function && c->kind != cap_kind::egress)
    return fail(errc::wrong_kind, fmt::format("capability #{} names an {}, which cannot be called; "
                                              "derive a function capability from it", h.index, to_string(c->kind)));
  if (!has(c->rights, rights::call))
    return fail(errc::missing_right, fmt::format("capability #{} lacks the call right (it has {})", h.index, to_string(c->rights)));
  return c;
}

expected<capability> cap_table::transferable(cap_handle h) const {
  auto c = lookup(h);
  if (!c) return c;
  if (!has(c->rights, rights::transfer))
    return fail(errc::missing_right, fmt::format("capability #{} lacks the transfer right (it has {})", h.index, to_string(c->rights)));
  return c;
}

expected<capability> cap_table::reply_target(cap_handle h) const {
  auto c = callable(h);
  if (!c) return c;
  if (!has(c->rights, rights::transfer))
    return fail(errc::missing_right, fmt::format("capability #{} cannot be a reply target: it lacks the transfer right (it has {})",
                                                 h.index, to_string(c->rights)));
  return c;
}

expected<cap_table> cap_table::restore(std::vector<slot> slots, std::uint32_t free_head) {
  if (slots.size() > max_caps_per_actor)
    return fail(errc::malformed, fmt::format("a capability table of {} slots exceeds the limit of {}", slots.size(), max_caps_per_actor));
  cap_table t;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].generation > generation_mask)
      return fail(errc::malformed, fmt::format("capability slot {} has generation {}, beyond {}", i, slots[i].generation, generation_mask));
    if (slots[i].cap.kind != cap_kind::none) ++t.live_;
  }
  // Walk the free list: every link inside the table, on a free slot, visited once.
  std::vector<bool> seen(slots.size(), false);
  for (std::uint32_t i = free_head; i != no_free; i = slots[i].cap.target) {
    if (i >= slots.size())
      return fail(errc::malformed, fmt::format("the capability free list names slot {} of {}", i, slots.size()));
    if (seen[i]) return fail(errc::malformed, fmt::format("the capability free list loops at slot {}", i));
    if (slots[i].cap.kind != cap_kind::none)
      return fail(errc::malformed, fmt::format("the capability free list runs through live slot {}", i));
    seen[i] = true;
  }
  t.slots_ = std::move(slots);
  t.free_head_ = free_head;
  return t;
}

void cap_table::record(cap_journal* j, std::uint32_t index, bool appended) {
  if (!j || !j->active) return;
  cap_journal::entry e{index, {}, 0, free_head_, appended};
  if (!appended) {
    e.old_cap = slots_[index].cap;
    e.old_generation = slots_[index].generation;
  }
  j->entries.push_back(e);
}

expected<cap_handle> cap_table::insert(const capability& c, cap_journal* j) {
  std::uint32_t index;
  if (free_head_ != no_free) {
    index = free_head_;
    record(j, index, false);
    free_head_ = slots_[index].cap.target;
  } else {
    if (slots_.size() >= max_caps_per_actor)
      return fail(errc::limit_exceeded, fmt::format("capability table is full ({} entries); drop some first", max_caps_per_actor));
    index = static_cast<std::uint32_t>(slots_.size());
    record(j, index, true);
    slots_.emplace_back();
  }
  slots_[index].cap = c;
  ++live_;
  return make_handle(index, slots_[index].generation);
}

expected<void> cap_table::drop(cap_handle h, cap_journal* j) {
  auto c = lookup(h);
  if (!c) return unexpected(std::move(c).error());
  std::uint32_t index = h.index & index_mask;
  record(j, index, false);
  slot& s = slots_[index];
  s.cap = capability{cap_kind::none, rights::none, free_head_, 0};
  s.generation = (s.generation + 1) & generation_mask;
  // A slot whose generation wrapped is retired, never reused: an old handle must not come
  // back to life naming a new capability.
  if (s.generation != 0) free_head_ = index;
  else s.cap.target = no_free;
  --live_;
  return {};
}

void cap_table::rollback(cap_journal& j) noexcept {
  for (auto it = j.entries.rbegin(); it != j.entries.rend(); ++it) {
    bool was_live = slots_[it->index].cap.kind != cap_kind::none;
    if (it->appended) {
      slots_.pop_back();
    } else {
      slots_[it->index].cap = it->old_cap;
      slots_[it->index].generation = it->old_generation;
    }
    bool now_live = !it->appended && it->old_cap.kind != cap_kind::none;
    live_ = live_ - (was_live ? 1 : 0) + (now_live ? 1 : 0);
    free_head_ = it->old_free_head;
  }
  j.entries.clear();
}

expected<capability> derive(const capability& from, rights keep) {
  if (!has(from.rights, rights::derive))
    return fail(errc::missing_right, fmt::format("cannot derive: the capability lacks the derive right (it has {})", to_string(from.rights)));
  capability c = from;
  c.rights = from.rights & keep;
  return c;
}

expected<capability> derive_function(const capability& from, std::uint32_t function, rights keep) {
  if (from.kind != cap_kind::actor)
    return fail(errc::wrong_kind, fmt::format("cannot derive a function capability from a {} capability; "
                                              "an actor capability is needed", to_string(from.kind)));
  auto c = derive(from, keep);
  if (!c) return c;
  c->kind = cap_kind::function;
  c->function = function;
  return c;
}

}  // namespace exo
