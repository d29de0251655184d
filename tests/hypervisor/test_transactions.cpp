#include <boost/test/unit_test.hpp>

#include "actors.hpp"

using namespace exo;
using namespace test;

namespace {
/// Changes its state, then fails or throws: the change must not survive.
struct fickle {
  std::int64_t value = 0;
  cap_handle spawned{};
  expected<void> set_then_fail(context&, std::int64_t v) {
    value = v;
    return fail(errc::handler_failed, "refusing after the write");
  }
  void set_then_throw(context&, std::int64_t v) {
    value = v;
    throw std::logic_error("thrown after the write");
  }
  void set(context&, std::int64_t v) { value = v; }
  expected<void> create_then_fail(context& ctx) {
    auto c = ctx.create(counter{});
    if (!c) return unexpected(c.error());
    spawned = *c;
    return fail(errc::handler_failed, "creation rolled back");
  }
  // Sends to itself with everything left, forever: must end with out of ticks.
  expected<void> loop(context& ctx, std::int64_t n) {
    auto me = ctx.self_cap("loop");
    if (!me) return unexpected(me.error());
    return ctx.call(*me, n + 1);
  }
  void spin(context& ctx) {
    for (;;)
      if (!ctx.charge(1000)) return;  // the trap fails the message even though we return
  }
  static constexpr std::string_view exo_name = "fickle";
  static constexpr auto exo_exports = exo::exports(
      exo::fn<&fickle::set_then_fail>("set_then_fail", 1), exo::fn<&fickle::set_then_throw>("set_then_throw", 1),
      exo::fn<&fickle::set>("set", 1), exo::fn<&fickle::create_then_fail>("create_then_fail", 1),
      exo::fn<&fickle::loop>("loop", 7), exo::fn<&fickle::spin>("spin", 1));
};

using fixture = hv_fixture;
}  // namespace

BOOST_FIXTURE_TEST_SUITE(transactions, fixture)

BOOST_AUTO_TEST_CASE(a_failing_handler_sends_nothing) {
  BOOST_REQUIRE(hv.call(fn(ag, "send_twice_then_fail"), fn(sink, "add")));
  hv.run();
  BOOST_TEST(sink_state().calls == 0);
  BOOST_REQUIRE(log.seen.size() == 1u);
  auto& f = log.seen[0];
  // the report names the actor, the function and the cause
  BOOST_TEST((f.actor == agent_id));
  BOOST_TEST(f.function == "send_twice_then_fail");
  BOOST_TEST((f.cause() == errc::handler_failed));
  BOOST_TEST(f.message == "changed my mind");
  BOOST_TEST((f.sender == hv.host_id()));
  BOOST_TEST(hv.stats().failed == 1u);
}

BOOST_AUTO_TEST_CASE(a_throwing_handler_sends_nothing_and_the_system_goes_on) {
  BOOST_REQUIRE(hv.call(fn(ag, "send_twice_then_throw"), fn(sink, "add")));
  BOOST_REQUIRE(hv.call(fn(sink, "add"), 40));
  hv.run();
  BOOST_TEST(sink_state().total == 40);
  BOOST_REQUIRE(log.seen.size() == 1u);
  BOOST_TEST((log.seen[0].cause() == errc::handler_threw));
  BOOST_TEST(log.seen[0].message.find("boom") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(state_written_before_a_failure_is_restored) {
  auto f = hv.create(fickle{});
  id fid = *hv.actor_id(f);
  BOOST_REQUIRE(hv.call(fn(f, "set"), 1));
  BOOST_REQUIRE(hv.call(fn(f, "set_then_fail"), 2));
  BOOST_REQUIRE(hv.call(fn(f, "set_then_throw"), 3));
  hv.run();
  BOOST_TEST(hv.state_of<fickle>(fid)->value == 1);
  BOOST_TEST(log.seen.size() == 2u);
}

BOOST_AUTO_TEST_CASE(actors_created_by_a_failed_handler_vanish) {
  auto f = hv.create(fickle{});
  std::size_t before = hv.actor_count();
  BOOST_REQUIRE(hv.call(fn(f, "create_then_fail")));
  hv.run();
  BOOST_TEST(hv.actor_count() == before);
  BOOST_TEST(!hv.contains(derive_actor_id(*hv.actor_id(f), 0)));
  BOOST_TEST(*hv.cap_count(*hv.actor_id(f)) == 0u);  // the cap grant is gone too
  // and the nonce was restored: the next creation gets nonce 0's id
  auto p = hv.create(parent{});
  BOOST_REQUIRE(hv.call(fn(p, "spawn")));
  hv.run();
  BOOST_TEST(hv.contains(derive_actor_id(*hv.actor_id(p), 0)));
}

BOOST_AUTO_TEST_CASE(caps_received_by_a_failed_message_are_discarded) {
  BOOST_REQUIRE(hv.call(fn(ag, "send_twice_then_fail"), fn(sink, "add")));
  hv.run();
  BOOST_TEST(*hv.cap_count(agent_id) == 0u);
  BOOST_REQUIRE(hv.call(fn(ag, "keep"), fn(sink, "add")));
  hv.run();
  BOOST_TEST(*hv.cap_count(agent_id) == 1u);
}

BOOST_AUTO_TEST_CASE(a_chain_of_forwards_ends_out_of_ticks_at_the_original_sender) {
  // origin -> f1 -> f2 -> ... (a ring): each hop costs 10 and forwards all that is left.
  constexpr int links = 4;
  std::vector<cap_handle> chain;
  for (int i = 0; i < links; ++i) chain.push_back(hv.create(forwarder{}));
  for (int i = 0; i < links; ++i) BOOST_REQUIRE(hv.call(fn(chain[i], "link"), fn(chain[(i + 1) % links], "hop")));
  hv.run();
  BOOST_REQUIRE(hv.call(fn(ag, "start_chain"), fn(chain[0], "hop"), 55));
  std::size_t delivered = hv.run();
  BOOST_TEST(delivered < 20u);  // it ended, quickly
  BOOST_TEST(log.seen.empty());  // the host did not hear of it: the origin did
  auto* st = hv.state_of<agent>(agent_id);
  BOOST_REQUIRE(st->failures.size() == 1u);
  auto& f = st->failures[0];
  BOOST_TEST((f.cause() == errc::out_of_ticks));
  BOOST_TEST(f.function == "hop");
  // 55 ticks pay for five hops of 10; the sixth (chain[5 % 4]) runs out
  BOOST_TEST((f.actor == *hv.actor_id(chain[5 % links])));
}

BOOST_AUTO_TEST_CASE(an_infinite_self_send_ends_as_an_error) {
  auto f = hv.create(fickle{});
  BOOST_REQUIRE(hv.send(fn(f, "loop"), context::make_args(0), send_options{.budget = 1000}));
  std::size_t delivered = hv.run();
  BOOST_TEST(delivered < 200u);
  BOOST_REQUIRE(log.seen.size() == 1u);
  BOOST_TEST((log.seen[0].cause() == errc::out_of_ticks));
}

BOOST_AUTO_TEST_CASE(an_infinite_loop_inside_a_handler_ends_out_of_ticks) {
  auto f = hv.create(fickle{});
  BOOST_REQUIRE(hv.send(fn(f, "spin"), {}, send_options{.budget = 50'000}));
  hv.run();
  BOOST_REQUIRE(log.seen.size() == 1u);
  BOOST_TEST((log.seen[0].cause() == errc::out_of_ticks));
  // the ticks it burned up to its budget still advanced its clock
  BOOST_TEST(*hv.clock_of(*hv.actor_id(f)) <= 50'000u);
  BOOST_TEST(*hv.clock_of(*hv.actor_id(f)) >= 49'000u);
}

BOOST_AUTO_TEST_CASE(a_cost_above_the_budget_fails_before_running) {
  auto f = hv.create(fickle{});
  id fid = *hv.actor_id(f);
  BOOST_REQUIRE(hv.send(fn(f, "loop"), context::make_args(0), send_options{.budget = 3}));  // loop costs 7
  hv.run();
  BOOST_REQUIRE(log.seen.size() == 1u);
  BOOST_TEST((log.seen[0].cause() == errc::out_of_ticks));
  BOOST_TEST(log.seen[0].message.find("costs 7") != std::string::npos);
  BOOST_TEST(*hv.clock_of(fid) == 4u);  // its arrival tick and the whole budget of 3
}

BOOST_AUTO_TEST_CASE(sends_charge_the_callee_budget_to_the_sender) {
  // burner hands 100 ticks to its callee; with a budget of 50 it cannot.
  auto b = hv.create(burner{});
  BOOST_REQUIRE(hv.send(fn(b, "fire"), context::make_args(0, fn(sink, "add"), 1), send_options{.budget = 50}));
  BOOST_REQUIRE(hv.send(fn(b, "fire"), context::make_args(0, fn(sink, "add"), 2), send_options{.budget = 100}));
  hv.run();
  BOOST_TEST(sink_state().total == 2);
  BOOST_REQUIRE(log.seen.size() == 1u);
  BOOST_TEST((log.seen[0].cause() == errc::out_of_ticks));
}

BOOST_AUTO_TEST_SUITE_END()

namespace {
/// Changes its state and returns a capability that cannot be transferred: the reply fails.
struct leaky {
  std::int64_t n = 0;
  cap_handle bump(context& ctx) {
    ++n;
    return *ctx.self_cap("bump", rights::call);
  }
  static constexpr std::string_view exo_name = "leaky";
  static constexpr auto exo_exports = exo::exports(exo::fn<&leaky::bump>("bump", 1));
};
/// Answers every failure report by sending an unaffordable message again.
struct stubborn {
  cap_handle target{};
  expected<void> start(context& ctx, cap_handle t) {
    target = t;
    return ctx.call_with(t, send_options{.budget = 0}, 1);
  }
  expected<void> on_failure(context& ctx, failure) { return ctx.call_with(target, send_options{.budget = 0}, 1); }
  static constexpr std::string_view exo_name = "stubborn";
  static constexpr auto exo_exports = exo::exports(exo::fn<&stubborn::start>("start", 1));
};
}  // namespace

BOOST_FIXTURE_TEST_SUITE(transactions_and_results, hv_fixture)

BOOST_AUTO_TEST_CASE(a_failed_reply_rolls_the_state_back) {
  auto l = hv.create(leaky{});
  auto eg = hv.create_egress("out", [](egress_message&) {});
  BOOST_REQUIRE(hv.send(fn(l, "bump"), {}, send_options{.reply_to = eg}));
  hv.run();
  BOOST_REQUIRE(log.seen.size() == 1u);
  BOOST_TEST((log.seen[0].cause() == errc::missing_right));
  BOOST_TEST(hv.state_of<leaky>(*hv.actor_id(l))->n == 0);
}

BOOST_AUTO_TEST_CASE(failure_reports_never_create_budget) {
  auto s = hv.create(stubborn{});
  BOOST_REQUIRE(hv.call(fn(s, "start"), fn(sink, "add")));
  std::size_t n = hv.run(10'000);
  BOOST_TEST(n < 10u);  // ended by itself
  BOOST_TEST(hv.idle());
  BOOST_REQUIRE(!log.seen.empty());
  BOOST_TEST((log.seen.back().cause() == errc::out_of_ticks));
  BOOST_TEST(log.seen.back().function == "on_failure");
}

BOOST_AUTO_TEST_CASE(clocks_saturate_instead_of_wrapping) {
  auto f = hv.create(burner{});
  std::uint64_t big = UINT64_MAX - 1;
  for (int i = 0; i < 3; ++i)  // 3 x (2^63 - 1) ticks: past 2^64
    BOOST_REQUIRE(hv.send(fn(f, "fire"), context::make_args(static_cast<std::int64_t>(INT64_MAX), fn(sink, "add"), 1),
                          send_options{.budget = big}));
  hv.run();
  BOOST_TEST(*hv.clock_of(*hv.actor_id(f)) == UINT64_MAX);  // saturated, not wrapped to a small value
  BOOST_TEST(hv.now() >= static_cast<std::uint64_t>(INT64_MAX));
}

BOOST_AUTO_TEST_CASE(host_sends_from_hooks_keep_their_own_batch) {
  // A host send made while an actor's sends are still uncommitted must not join its batch.
  bool sent = false;
  auto add = fn(sink, "add");
  std::vector<std::uint64_t> ticks;
  hv.on_deliver([&](const delivery& d) {
    ticks.push_back(d.ticks);
    if (!sent) {
      sent = true;
      (void)hv.call(add, 1);
    }
  });
  auto b = hv.create(burner{});
  BOOST_REQUIRE(hv.call(fn(b, "fire"), 50, add, 1));
  hv.run();
  BOOST_TEST(std::is_sorted(ticks.begin(), ticks.end()));
  BOOST_TEST(sink_state().calls == 2);
}

BOOST_AUTO_TEST_CASE(an_egress_sink_may_create_egresses) {
  int made = 0;
  auto eg = hv.create_egress("grow", [&](egress_message& m) {
    for (int i = 0; i < 100; ++i) (void)hv.create_egress("more", nullptr);  // reallocating storage
    ++made;
    BOOST_TEST(m.egress == "grow");
  });
  BOOST_REQUIRE(hv.call(eg, 1));
  BOOST_REQUIRE(hv.call(eg, 2));
  hv.run();
  BOOST_TEST(made == 2);
}

BOOST_AUTO_TEST_SUITE_END()
