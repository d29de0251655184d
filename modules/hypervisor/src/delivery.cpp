// Delivery: one message at a time, each a transaction (DESIGN.md section 4), and the one
// path by which every message is sent (kernel::post).
#include "cap_walk.hpp"
#include "context.hpp"
#include "post.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace exo {

using internal::sat_add;
using internal::arrival;

expected<void> kernel::export_caps(actor& from, message& m) {
  return internal::for_each_cap(m.args, [&](cap_handle& h) -> expected<void> {
    auto c = from.caps.transferable(h);
    if (!c) [[unlikely]] {
      if (&from != &actors_[0]) return unexpected(std::move(c).error());
      // The host's handles differ from run to run (a replay makes its own): its error names
      // the capability's place among the arguments instead, so that a replay says the same.
      auto held = from.caps.lookup(h);
      const std::size_t k = m.caps.size();
      if (!held) return fail(held.error().code, fmt::format("the arguments' capability {} is not one of the host's", k));
      return fail(errc::missing_right, fmt::format("the arguments' capability {} lacks the transfer right (it has {})", k,
                                                   to_string(held->rights)));
    }
    m.caps.push_back(*c);
    h.index = static_cast<std::uint32_t>(m.caps.size() - 1);
    return {};
  });
}

expected<void> kernel::import_caps(actor& to, message& m, cap_journal* j) {
  return internal::for_each_cap(m.args, [&](cap_handle& h) -> expected<void> {
    if (h.index >= m.caps.size())
      return fail(errc::malformed, fmt::format("argument names carried capability {} of {}", h.index, m.caps.size()));
    auto nh = to.caps.insert(m.caps[h.index], j);
    if (!nh) return unexpected(std::move(nh).error());
    h = *nh;
    return {};
  });
}

void kernel::notify(const id& receiver, std::uint32_t function, const message& m, bool ok) {
  if (deliver_hook_) deliver_hook_(delivery{receiver, function, *m.sender_id, m.ticks, m.seq, ok});
}

// The failure of message `m` to the actor in `slot`, reported to `origin` as a message.
void kernel::report(std::uint32_t origin, std::uint32_t slot, const message& m, std::string_view function, error e,
                    detail::lane& l) {
  ++l.stats.failed;
  actor& a = actors_[slot];
  failure f{a.self, std::string(function), static_cast<std::int64_t>(e.code), std::move(e.message), *m.sender_id, m.seq};
  // A failed failure report goes to the host, so reports never loop.
  if (m.target.function == failure_function) origin = 0;
  arg_list args;
  args.emplace_back(to_value(f));
  // Never more than the failed message had: with on_failure costing a tick, a chain of
  // failures and reports always ends. A report carries no capability, so posting it cannot fail.
  (void)post(l.outbox, a, a.clock, capability{cap_kind::function, rights::call, origin, failure_function}, capability{}, 0,
             std::min(cfg_.failure_budget, m.budget), std::move(args));
}

void kernel::deliver_egress(message& m) {
  ++main_.stats.egress;
  actor& host = actors_[0];
  if (!m.caps.empty()) {
    if (max_caps_per_actor - host.caps.size() >= m.caps.size()) {
      (void)import_caps(host, m, nullptr);  // cannot fail: there is room for every cap
    } else {
      // No room: the caps arrive as null rather than as untranslated (meaningless) handles,
      // and the host hears why.
      for (auto& v : m.args) internal::null_caps(v);
      host_failure(failure{*m.sender_id, std::string(egress_[m.target.target].name),
                           static_cast<std::int64_t>(errc::limit_exceeded),
                           fmt::format("the host's capability table is full: {} capabilities sent to this egress were "
                                       "dropped",
                                       m.caps.size()),
                           *m.sender_id, m.seq});
    }
  }
  auto& e = egress_[m.target.target];
  if (observer_) [[unlikely]]
    observer_->on_egress(m.target.target, e.name, m, static_cast<bool>(e.sink));
  if (e.sink) {
    egress_message out{e.name, *m.sender_id, m.ticks, m.seq, m.args};
    e.sink(out);
  } else if (!observer_) {
    // An egress named in a stored capability table that this run has not created: the
    // output cannot be handed to anyone, and the host hears so. (An observer records it.)
    for (auto& v : m.args) (void)release_caps(v);
    host_failure(failure{*m.sender_id, e.name, static_cast<std::int64_t>(errc::no_such_function),
                         fmt::format("egress '{}' has no sink in this hypervisor (create_egress it after resuming); the "
                                     "message was dropped",
                                     e.name),
                         *m.sender_id, m.seq});
  }
  notify(host.self, m.target.target, m, true);
}

void kernel::host_failure(failure&& f) {
  if (observer_) [[unlikely]]
    observer_->on_host_failure(f);
  if (failure_hook_) failure_hook_(f);
  else failures_.push_back(std::move(f));
}

void kernel::deliver_host_failure(message& m) {
  auto f = m.args.size() == 1 ? from_value<failure>(std::move(m.args[0])) : fail(errc::malformed, "bad failure report");
  if (f) host_failure(std::move(*f));
  notify(actors_[0].self, failure_function, m, true);
}

// The name a failure report gives the function a message called (looked up only then).
static std::string_view function_name(const detail::actor& a, std::uint32_t function) noexcept {
  return function == failure_function ? std::string_view("on_failure") : a.type->functions[function].name;
}

[[gnu::always_inline]] inline expected<void> kernel::run_handler(kernel_context& ctx, actor& a, message& m,
                                                                  invoke_fn invoke, std::uint64_t cost,
                                                                  cap_journal& j) {
  if (cost > m.budget) [[unlikely]]
    return fail(errc::out_of_ticks, fmt::format("out of ticks: '{}' costs {} ticks but the message's budget is {}",
                                                function_name(a, m.target.function), cost, m.budget));
  if (!m.caps.empty())
    if (auto r = import_caps(a, m, &j); !r) return r;
  if (auto r = invoke(a.state, m.target.function, ctx, m.args); !r) return r;
  if (ctx.trapped()) [[unlikely]]
    return unexpected(ctx.trap_error());
  return {};
}

bool kernel::load_for_delivery(message& m, std::uint32_t slot) {
  if (!cfg_.node.empty())
    if (const remote_actor* to = remote_of(slot)) {  // an actor of another node: the message leaves
      deliver_remote(m, slot, to->node);
      return false;
    }
  auto r = load(slot);
  if (r) return true;
  // Not in the store, or the store is damaged: the message fails, the system goes on.
  actor& a = actors_[slot];
  a.clock = arrival(a.clock, m.ticks);
  notify(a.self, m.target.function, m, false);
  report(m.origin, slot, m, "(loading the actor)", std::move(r).error(), main_);
  return false;
}

void kernel::undo_deferred(std::uint32_t slot, std::uint64_t clock, std::uint64_t nonce, std::uint64_t seq,
                           std::size_t outbox, detail::lane& l) {
  actor& a = actors_[slot];
  while (l.outbox.size() > outbox) l.outbox.pop_back();
  undo_storage(l);
  a.caps.rollback(l.journal);
  a.clock = clock;
  a.nonce = nonce;
  a.seq = seq;
  l.defer = false;
  l.entry->deferred = true;
}

// A delivery in the serial loop (the kernel's own lane), or in a window's lane (then l.entry
// is set and its reports wait there; in a shared lane, what needs the kernel's tables is
// deferred: the message is undone without a trace and runs again after the window). A
// template, so that the serial loop's delivery carries none of the window's checks.
template <bool Window>
void kernel::deliver(message& m, detail::lane& window_lane) {
  detail::lane& l = Window ? window_lane : main_;
  struct scope {  // host sends made meanwhile go to host_outbox_ (no host code runs in a shared lane)
    bool* flag;
    explicit scope(bool* f) : flag(f) {
      if (flag) *flag = true;
    }
    ~scope() {
      if (flag) *flag = false;
    }
  } during(Window && l.shared ? nullptr : &delivering_);
  const std::uint32_t slot = m.target.target;
  if constexpr (!Window) {
    actor& host = actors_[0];
    if (m.ticks > host.clock) host.clock = m.ticks;
    ++l.stats.delivered;
    if (m.target.kind == cap_kind::egress) return deliver_egress(m);
    if (slot == 0) return deliver_host_failure(m);
  }
  actor& a = actors_[slot];
  if constexpr (!Window)
    if (!a.type) [[unlikely]]
      if (!load_for_delivery(m, slot)) return;  // (a window's receivers were loaded by horizon())
  [[maybe_unused]] const std::uint64_t saved_clock = a.clock;
  a.clock = arrival(a.clock, m.ticks);

  invoke_fn invoke;
  std::uint64_t cost = 0;
  if (m.target.function == failure_function) {
    if constexpr (!Window)
      if (!a.type->on_failure) {  // nobody handles it here: the host hears of it (never in a window)
        m.target.target = 0;
        return deliver_host_failure(m);
      }
    invoke = a.type->on_failure;
    cost = failure_cost;
  } else {
    const exported_function& fn = a.type->functions[m.target.function];
    invoke = fn.invoke;
    cost = fn.cost;
  }
  auto tell = [&](bool ok) {
    if constexpr (Window) l.entry->ok = ok;  // told when the window reports
    else notify(a.self, m.target.function, m, ok);
  };

  // The transaction: remember what to restore if the message fails.
  const std::uint64_t saved_nonce = a.nonce, saved_seq = a.seq;
  const std::size_t saved_outbox = l.outbox.size();
  l.journal.active = true;
  kernel_context ctx(*this, l, a, slot, m, cost);
  // A delivery that faulted when its input was logged faults again, without running.
  const std::uint64_t ordinal = Window ? l.entry->ordinal : input_deliveries_++;
  expected<void> r = input_.faults.empty() ? run_handler(ctx, a, m, invoke, cost, l.journal)
                                           : injected_fault(ordinal, ctx, a, m, invoke, cost, l.journal);
  l.journal.active = false;
  if constexpr (Window) {
    if (l.defer) [[unlikely]]
      return undo_deferred(slot, saved_clock, saved_nonce, saved_seq, saved_outbox, l);
    ++l.stats.delivered;
  }
  const bool faulted = !r && r.error().code == errc::fault;
  const std::uint64_t used = faulted ? m.budget : std::min(ctx.executed(), m.budget);
  if (faulted) [[unlikely]] {
    if constexpr (Window) l.entry->fault = r.error();
    else if (observer_) observer_->on_fault(ordinal, r.error());
  }
  a.clock = sat_add(a.clock, used);
  l.stats.ticks = sat_add(l.stats.ticks, used);
  mark_dirty(a, slot, l);
  if (r) [[likely]] {
    if (!l.journal.entries.empty()) {
      a.caps_dirty = true;
      l.journal.entries.clear();
    }
    if (!l.created.empty()) [[unlikely]] {
      for (auto c : l.created) mark_dirty(c, l);
      l.created.clear();
    }
    if (!l.storage_undo.empty()) l.storage_undo.clear();
    tell(true);
    return;
  }
  if constexpr (Window) l.entry->ok = false;  // told when the window reports
  roll_back(m, slot, l, saved_outbox, saved_nonce, saved_seq, !Window, std::move(r).error());
}

// The failed end of a delivery (out of line: the hot path keeps its registers). Rolls back
// sends, created actors, storage writes, capability changes and counters (the state itself
// was restored by the native entry point), tells the hook if `tell`, and reports.
void kernel::roll_back(message& m, std::uint32_t slot, detail::lane& l, std::size_t saved_outbox,
                       std::uint64_t saved_nonce, std::uint64_t saved_seq, bool tell, error&& e) {
  actor& a = actors_[slot];
  while (l.outbox.size() > saved_outbox) l.outbox.pop_back();
  for (auto it = l.created.rbegin(); it != l.created.rend(); ++it) remove_created(*it);
  l.created.clear();
  undo_storage(l);
  a.caps.rollback(l.journal);
  a.nonce = saved_nonce;
  a.seq = saved_seq;
  if (tell) notify(a.self, m.target.function, m, false);
  report(m.origin, slot, m, function_name(a, m.target.function), std::move(e), l);
}

// A delivery while the input being replayed names faulted deliveries: the one at `ordinal`
// faults again without running; others run.
expected<void> kernel::injected_fault(std::uint64_t ordinal, kernel_context& ctx, actor& a, message& m,
                                      invoke_fn invoke, std::uint64_t cost, cap_journal& j) {
  const error* injected = nullptr;
  for (const auto& [at, e] : input_.faults)
    if (at == ordinal) injected = &e;  // the last entry for it wins
  if (injected) return unexpected(*injected);
  return run_handler(ctx, a, m, invoke, cost, j);
}

template void kernel::deliver<false>(message&, detail::lane&);
template void kernel::deliver<true>(message&, detail::lane&);

}  // namespace exo
