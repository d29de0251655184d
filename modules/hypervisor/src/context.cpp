// The host API as actors see it: exo::context for one running message (context.hpp).
#include "context.hpp"
#include "post.hpp"

#include <exo/core/hash.hpp>

#include <fmt/format.h>

#include <cstring>

namespace exo {

using internal::sat_add;

digest kernel_context::entropy() const noexcept {
  // seed, receiver, sender, then the order key's ticks and seq (big-endian)
  std::uint8_t in[32 * 3 + 16];
  std::memcpy(in, k_.input_.seed.bytes.data(), 32);
  std::memcpy(in + 32, a_.self.bytes.data(), 32);
  std::memcpy(in + 64, m_.sender_id->bytes.data(), 32);
  for (int i = 0; i < 8; ++i) {
    in[96 + i] = static_cast<std::uint8_t>(m_.ticks >> (56 - 8 * i));
    in[104 + i] = static_cast<std::uint8_t>(m_.seq >> (56 - 8 * i));
  }
  return hash(byte_view(in, sizeof in));
}

expected<void> kernel_context::charge(std::uint64_t ticks) {
  if (trapped_) [[unlikely]]
    return trapped_before();
  if (ticks > remaining()) [[unlikely]]
    return charge_over(ticks);
  exec_ = sat_add(exec_, ticks);
  return {};
}
// (Out of line, as the send's cold ends below: a plugin charges at the end of every message.)
[[gnu::noinline, gnu::cold]] expected<void> kernel_context::charge_over(std::uint64_t ticks) {
  return trap(errc::out_of_ticks, fmt::format("out of ticks: charging {} ticks with {} of the budget of {} left", ticks,
                                              remaining(), m_.budget));
}

// The cold ends of a send, out of line: the hot path builds no string and spills less
// (with the delivery's cold ends, (b) went from 500 to 470 instructions a message).
[[gnu::noinline, gnu::cold]] expected<void> kernel_context::trapped_before() const { return unexpected(*trap_); }
[[gnu::noinline, gnu::cold]] expected<void> kernel_context::not_callable(cap_handle target) {
  return trap(a_.caps.callable(target).error());
}
[[gnu::noinline, gnu::cold]] expected<void> kernel_context::over_budget(std::uint64_t budget, std::uint64_t left) {
  return trap(errc::out_of_ticks, fmt::format("out of ticks: sending with a budget of {} when {} of {} are left",
                                              budget, left, m_.budget));
}
[[gnu::noinline, gnu::cold]] expected<void> kernel_context::refused(error&& e) { return trap(std::move(e)); }

// Inline: every send goes through it, and it is small.
[[gnu::always_inline]] inline expected<void> kernel_context::emit(const capability& target, const capability& reply, std::uint32_t origin,
                                    std::uint64_t budget, arg_list&& args) {
  std::uint64_t left = remaining();
  if (budget == send_options::remaining) budget = left;
  if (budget > left) [[unlikely]]
    return over_budget(budget, left);
  if (auto r = k_.post(l_.outbox, a_, now(), target, reply, origin, budget, std::move(args)); !r) [[unlikely]]
    return refused(std::move(r).error());
  handed_ = sat_add(handed_, budget);
  return {};
}

expected<void> kernel_context::send(cap_handle target, arg_list&& args, const send_options& opts) {
  if (trapped_) [[unlikely]]
    return trapped_before();
  const capability* c = a_.caps.find_callable(target);
  if (!c) [[unlikely]]
    return not_callable(target);
  capability reply{};
  if (opts.reply_to) {
    auto rc = a_.caps.reply_target(*opts.reply_to);
    if (!rc) return refused(std::move(rc).error());
    reply = *rc;
  }
  return emit(*c, reply, slot_, opts.budget, std::move(args));
}

expected<void> kernel_context::reply(arg_list&& args) {
  if (trapped_) return unexpected(*trap_);
  if (m_.reply_to.kind == cap_kind::none) return {};
  return emit(m_.reply_to, capability{}, slot_, send_options::remaining, std::move(args));
}

expected<void> kernel_context::forward(cap_handle target, arg_list&& args) {
  if (trapped_) return unexpected(*trap_);
  const capability* c = a_.caps.find_callable(target);
  if (!c) return trap(a_.caps.callable(target).error());
  return emit(*c, m_.reply_to, m_.origin, send_options::remaining, std::move(args));
}

expected<cap_handle> kernel_context::reply_cap() {
  if (trapped_) return unexpected(*trap_);
  if (m_.reply_to.kind == cap_kind::none)
    return trap(errc::invalid_argument, "reply_cap: the message has no reply target");
  capability c = m_.reply_to;
  c.rights = rights::call;  // to answer through, never to hand on or narrow
  auto h = a_.caps.insert(c, &l_.journal);
  if (!h) return trap(std::move(h).error());
  return h;
}

expected<void> kernel_context::send_result(value&& result) {
  if (m_.reply_to.kind == cap_kind::none || trapped_) return {};
  arg_list args;
  args.emplace_back(std::move(result));
  return emit(m_.reply_to, capability{}, slot_, send_options::remaining, std::move(args));
}

unexpected<error> kernel_context::defer(std::string_view what) {
  l_.defer = true;
  return trap(errc::fault, fmt::format("{} waits for the end of the parallel window", what));
}

expected<capability> kernel_context::derive_fn(const capability& c, std::string_view function, rights keep) {
  if (c.kind != cap_kind::actor)
    return fail(errc::wrong_kind, fmt::format("cannot derive function '{}' from a {} capability; an actor "
                                              "capability is needed", function, to_string(c.kind)));
  if (l_.shared && !k_.actors_[c.target].type) [[unlikely]]
    return defer("loading an actor");
  auto f = k_.function_index(c.target, function);
  if (!f) return unexpected(std::move(f).error());
  return derive_function(c, *f, keep);
}

expected<cap_handle> kernel_context::derive(cap_handle from, rights keep, std::string_view function) {
  if (trapped_) return unexpected(*trap_);
  auto c = a_.caps.lookup(from);
  if (!c) return trap(std::move(c).error());
  expected<capability> d = function.empty() ? exo::derive(*c, keep) : derive_fn(*c, function, keep);
  if (!d) return trap(std::move(d).error());
  auto h = a_.caps.insert(*d, &l_.journal);
  if (!h) return trap(std::move(h).error());
  return h;
}

expected<cap_handle> kernel_context::self_cap(std::string_view function, rights keep) {
  if (trapped_) return unexpected(*trap_);
  auto d = derive_fn(capability{cap_kind::actor, rights::all, slot_, 0}, function, keep);
  if (!d) return trap(std::move(d).error());
  auto h = a_.caps.insert(*d, &l_.journal);
  if (!h) return trap(std::move(h).error());
  return h;
}

expected<void> kernel_context::drop(cap_handle h) {
  if (trapped_) return unexpected(*trap_);
  auto r = a_.caps.drop(h, &l_.journal);
  if (!r) return trap(std::move(r).error());
  return {};
}

expected<cap_handle> kernel_context::create_actor(const actor_type& type, void* state) {
  if (trapped_) {
    type.destroy(state);
    return unexpected(*trap_);
  }
  if (l_.shared) [[unlikely]] {
    type.destroy(state);
    return defer("creating an actor");
  }
  if (k_.state_->durable() && !type.load) {
    type.destroy(state);
    return trap(errc::invalid_argument,
                fmt::format("cannot create an actor of type '{}' in a durable hypervisor: its state cannot be saved "
                            "(declare it with BOOST_HANA_DEFINE_STRUCT)", type.name));
  }
  std::uint32_t slot = k_.add_actor(a_.self, a_.nonce++, type, state, now());
  l_.created.push_back(slot);
  auto h = a_.caps.insert(capability{cap_kind::actor, rights::all, slot, 0}, &l_.journal);
  if (!h) return trap(std::move(h).error());
  return h;
}

expected<cap_handle> kernel_context::create_from_code(const digest& code) {
  if (trapped_) return unexpected(*trap_);
  if (l_.shared) [[unlikely]]
    return defer("creating an actor");
  auto t = k_.type_for(code);
  if (!t) return trap(std::move(t).error());
  if (!(*t)->load)
    return trap(errc::invalid_argument, fmt::format("actors of type '{}' cannot be created from their code alone",
                                                    (*t)->name));
  auto st = (*t)->load(**t, value{});
  if (!st) return trap(errc::invalid_argument, fmt::format("creating an actor of code {} ({}): {}", short_hex(code),
                                                           (*t)->name, st.error().message));
  return create_actor(**t, *st);
}

void kernel_context::log(log_level level, std::string_view text) {
  if (!k_.log_hook_ || level >= log_level::off) return;
  if (l_.entry) [[unlikely]]
    l_.entry->logs.emplace_back(level, std::string(text));  // told when the window reports
  else
    k_.log_hook_(a_.self, level, text);
}

expected<void> kernel_context::storage_begin(byte_view key, std::size_t value_size) {
  if (trapped_) return unexpected(*trap_);
  if (key.empty() || key.size() > max_storage_key)
    return trap(errc::invalid_argument, fmt::format("a storage key must have 1 to {} bytes, not {}", max_storage_key,
                                                    key.size()));
  return charge(storage_cost_base + (key.size() + value_size) / 32);
}

expected<std::optional<bytes>> kernel_context::storage_get(byte_view key) {
  if (auto r = storage_begin(key, 0); !r) return unexpected(std::move(r).error());
  std::unique_lock lock(k_.storage_mu_, std::defer_lock);
  if (l_.shared) lock.lock();
  auto v = k_.state_->get(storage_key(a_.self, key));
  if (!v) return trap(std::move(v).error());
  return v;
}

expected<void> kernel_context::storage_put(byte_view key, byte_view value) {
  if (value.size() > max_value_size)
    return trap(errc::limit_exceeded, fmt::format("a storage value of {} bytes exceeds the limit of {}", value.size(),
                                                  max_value_size));
  if (auto r = storage_begin(key, value.size()); !r) return r;
  bytes full = storage_key(a_.self, key);
  std::unique_lock lock(k_.storage_mu_, std::defer_lock);
  if (l_.shared) lock.lock();
  auto old = k_.state_->get(full);
  if (!old) return trap(std::move(old).error());
  if (auto r = k_.state_->put(full, value); !r) return trap(std::move(r).error());
  l_.storage_undo.emplace_back(std::move(full), std::move(*old));
  return {};
}

expected<bool> kernel_context::storage_erase(byte_view key) {
  if (auto r = storage_begin(key, 0); !r) return unexpected(std::move(r).error());
  bytes full = storage_key(a_.self, key);
  std::unique_lock lock(k_.storage_mu_, std::defer_lock);
  if (l_.shared) lock.lock();
  auto old = k_.state_->get(full);
  if (!old) return trap(std::move(old).error());
  if (!*old) return false;
  if (auto r = k_.state_->erase(full); !r) return trap(std::move(r).error());
  l_.storage_undo.emplace_back(std::move(full), std::move(*old));
  return true;
}

}  // namespace exo
