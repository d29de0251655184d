#pragma once
// Native actors shared by the hypervisor tests.

#include <exo/hypervisor.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace test {

using exo::cap_handle;
using exo::context;
using exo::expected;

/// Counts what it is given.
struct counter {
  std::int64_t total = 0;
  std::int64_t calls = 0;
  void add(context&, std::int64_t n) {
    total += n;
    ++calls;
  }
  std::int64_t get(context&) { return total; }
  static constexpr std::string_view exo_name = "counter";
  static constexpr auto exo_exports = exo::exports(exo::fn<&counter::add>("add", 2), exo::fn<&counter::get>("get", 1));
};

/// Spends `burn` ticks, then sends `n` to `target` (used to send at a chosen clock).
struct burner {
  void fire(context& ctx, std::int64_t burn, cap_handle target, std::int64_t n) {
    (void)ctx.charge(static_cast<std::uint64_t>(burn));
    (void)ctx.call_with(target, exo::send_options{.budget = 100}, n);
  }
  static constexpr std::string_view exo_name = "burner";
  static constexpr auto exo_exports = exo::exports(exo::fn<&burner::fire>("fire", 0));
};

/// Uses capabilities in every way a test needs, and remembers failures reported to it.
struct agent {
  cap_handle kept{};
  std::vector<exo::failure> failures;
  std::vector<std::string> replies;

  // call a cap that arrived in this message
  expected<void> call_cap(context& ctx, cap_handle target, std::int64_t n) {
    return ctx.call_with(target, exo::send_options{.budget = 100}, n);
  }
  // call a raw handle number (forged unless it happens to be in the table)
  expected<void> call_raw(context& ctx, std::int64_t handle) {
    return ctx.call_with(cap_handle{static_cast<std::uint32_t>(handle)}, exo::send_options{.budget = 100}, 1);
  }
  void keep(context&, cap_handle c) { kept = c; }
  expected<void> call_kept(context& ctx, std::int64_t n) {
    return ctx.call_with(kept, exo::send_options{.budget = 100}, n);
  }
  expected<void> drop_kept(context& ctx) { return ctx.drop(kept); }
  // pass a cap on to `to` (needs the transfer right)
  expected<void> pass(context& ctx, cap_handle what, cap_handle to) {
    return ctx.call_with(to, exo::send_options{.budget = 1000}, what, 1);
  }
  // narrow a cap to `keep` rights then pass it on
  expected<void> pass_narrowed(context& ctx, cap_handle what, std::int64_t keep, cap_handle to) {
    auto d = ctx.derive(what, static_cast<exo::rights>(keep));
    if (!d) return exo::unexpected(d.error());
    return ctx.call_with(to, exo::send_options{.budget = 1000}, *d, 1);
  }
  // send twice, then fail
  expected<void> send_twice_then_fail(context& ctx, cap_handle target) {
    if (auto r = ctx.call_with(target, exo::send_options{.budget = 100}, 1); !r) return r;
    if (auto r = ctx.call_with(target, exo::send_options{.budget = 100}, 2); !r) return r;
    return exo::fail(exo::errc::handler_failed, "changed my mind");
  }
  void send_twice_then_throw(context& ctx, cap_handle target) {
    (void)ctx.call_with(target, exo::send_options{.budget = 100}, 1);
    (void)ctx.call_with(target, exo::send_options{.budget = 100}, 2);
    throw std::runtime_error("boom");
  }
  // start a forwarding chain with a budget
  expected<void> start_chain(context& ctx, cap_handle first, std::int64_t budget) {
    return ctx.call_with(first, exo::send_options{.budget = static_cast<std::uint64_t>(budget)}, 0);
  }
  // call a function by name on an actor cap (derive in the handler)
  expected<void> call_named(context& ctx, cap_handle actor, std::string function) {
    auto f = ctx.derive(actor, exo::rights::call, function);
    if (!f) return exo::unexpected(f.error());
    return ctx.call_with(*f, exo::send_options{.budget = 100}, 1);
  }
  void on_reply(context&, std::string text) { replies.push_back(std::move(text)); }
  void on_failure(context&, exo::failure f) { failures.push_back(std::move(f)); }

  static constexpr std::string_view exo_name = "agent";
  static constexpr auto exo_exports = exo::exports(
      exo::fn<&agent::call_cap>("call_cap", 1), exo::fn<&agent::call_raw>("call_raw", 1),
      exo::fn<&agent::keep>("keep", 1), exo::fn<&agent::call_kept>("call_kept", 1),
      exo::fn<&agent::drop_kept>("drop_kept", 1), exo::fn<&agent::pass>("pass", 1),
      exo::fn<&agent::pass_narrowed>("pass_narrowed", 1),
      exo::fn<&agent::send_twice_then_fail>("send_twice_then_fail", 1),
      exo::fn<&agent::send_twice_then_throw>("send_twice_then_throw", 1),
      exo::fn<&agent::start_chain>("start_chain", 1), exo::fn<&agent::call_named>("call_named", 1),
      exo::fn<&agent::on_reply>("on_reply", 1));
};

/// Forwards whatever it gets to `next`, keeping the origin (a link in a chain).
struct forwarder {
  cap_handle next{};
  bool has_next = false;
  void link(context&, cap_handle n) {
    next = n;
    has_next = true;
  }
  expected<void> hop(context& ctx, std::int64_t hops) {
    if (!has_next) return {};
    return ctx.forward(next, context::make_args(hops + 1));
  }
  static constexpr std::string_view exo_name = "forwarder";
  static constexpr auto exo_exports =
      exo::exports(exo::fn<&forwarder::link>("link", 1), exo::fn<&forwarder::hop>("hop", 10));
};

/// Creates a child, passes it a capability back to itself, and records the child's reply.
struct parent {
  std::vector<std::string> heard;
  exo::id child_id{};
  expected<void> spawn(context& ctx);
  void on_reply(context&, std::string text, exo::id from) {
    heard.push_back(text);
    child_id = from;
  }
  static constexpr std::string_view exo_name = "parent";
  static constexpr auto exo_exports =
      exo::exports(exo::fn<&parent::spawn>("spawn", 5), exo::fn<&parent::on_reply>("on_reply", 1));
};

struct child {
  std::string name;
  expected<void> hello(context& ctx, cap_handle reply_to) {
    return ctx.call_with(reply_to, exo::send_options{.budget = 10}, "hello from " + name, ctx.self());
  }
  std::string greet(context&) { return "greetings from " + name; }
  static constexpr std::string_view exo_name = "child";
  static constexpr auto exo_exports =
      exo::exports(exo::fn<&child::hello>("hello", 2), exo::fn<&child::greet>("greet", 1));
};

inline expected<void> parent::spawn(context& ctx) {
  auto kid = ctx.create(child{"kid"});
  if (!kid) return exo::unexpected(kid.error());
  auto hello = ctx.derive(*kid, exo::rights::call, "hello");
  if (!hello) return exo::unexpected(hello.error());
  auto me = ctx.self_cap("on_reply", exo::rights::call | exo::rights::transfer);
  if (!me) return exo::unexpected(me.error());
  return ctx.call_with(*hello, exo::send_options{.budget = 100}, *me);
}

/// Records every failure reported to the host.
struct failure_log {
  std::vector<exo::failure> seen;
  template <class H>
  void attach(H& hv) {
    hv.on_failure([this](const exo::failure& f) { seen.push_back(f); });
  }
};

/// A hypervisor whose host failures are logged, plus a counter and an agent actor.
struct hv_fixture {
  exo::hypervisor<> hv;
  failure_log log;
  cap_handle sink = hv.create(counter{});
  exo::id sink_id = *hv.actor_id(sink);
  cap_handle ag = hv.create(agent{});
  exo::id agent_id = *hv.actor_id(ag);
  hv_fixture() { log.attach(hv); }
  cap_handle fn(cap_handle a, std::string_view f) { return *hv.function_cap(a, f); }
  const counter& sink_state() { return *hv.state_of<counter>(sink_id); }
};

}  // namespace test
