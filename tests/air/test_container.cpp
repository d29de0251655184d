// The AIR container (plugins/air/plugin.cpp) in a logged hypervisor: particles run, their
// local calls are answered by native actors bound as services (one input however many
// messages it takes), failures and unbound services come back as call results, other peers
// come back in next_peer_pks, and the log replays to the same results and roots. CTest runs
// this suite once per runner (EXO_AIR_RUNNER=inline, thread, process).

#include <exo/container/registry.hpp>
#include <exo/core/json.hpp>
#include <exo/hypervisor.hpp>
#include <exo/verifier/verify.hpp>

#include "interpreter/data.hpp"
#include "../support/deliveries.hpp"
#include "../support/print.hpp"

#include <boost/test/unit_test.hpp>

namespace {

struct greeter {
  BOOST_HANA_DEFINE_STRUCT(greeter, (std::int64_t, greeted));
  exo::expected<std::string> hello(exo::context&, std::string who) {
    ++greeted;
    return "hello, " + who;
  }
  exo::expected<std::int64_t> count(exo::context&) { return greeted; }
  exo::expected<std::int64_t> boom(exo::context&) { return exo::fail(exo::errc::handler_failed, "boom: it always fails"); }
  static constexpr std::string_view exo_name = "greeter";
  static constexpr auto exo_exports = exo::exports(exo::fn<&greeter::hello>("hello", 1), exo::fn<&greeter::count>("count", 0),
                                                   exo::fn<&greeter::boom>("boom", 0));
};

using logged_hv = exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log>;

struct world {
  exo::container_registry reg;
  std::unique_ptr<logged_hv> hv;
  exo::id air, greet;

  world() {
    reg.add_search_dir(EXO_TEST_PLUGIN_DIR);
    auto r = reg.load_named("air");
    BOOST_REQUIRE_MESSAGE(r, "loading the air plugin: " << (r ? "" : r.error().message));
    hv = make(reg);
    auto a = hv->create_code("air", exo::to_bytes(R"({"peer_id": "node"})"));
    BOOST_REQUIRE_MESSAGE(a, "create_code: " << (a ? "" : a.error().message));
    air = *hv->actor_id(*a);
    auto g = hv->create(greeter{});
    BOOST_REQUIRE(g);
    greet = *hv->actor_id(*g);
    auto b = hv->invoke(air, "bind", {exo::value("greet"), exo::value(*g)});
    BOOST_REQUIRE(b);
    BOOST_REQUIRE_MESSAGE(!b->error, b->error->message);
  }
  static std::unique_ptr<logged_hv> make(exo::container_registry& reg) {
    exo::config c;
    c.name = "air-test";
    c.containers = &reg;
    auto h = std::make_unique<logged_hv>(c);
    h->register_type<greeter>();
    if (std::getenv("AIR_DEBUG")) h->on_log([](const exo::id&, exo::log_level, std::string_view t) { BOOST_TEST_MESSAGE(t); });
    return h;
  }
  exo::call_outcome particle(const std::string& script, const std::string& data = "", const std::string& init = "alice") {
    auto out = hv->invoke(air, "particle", {exo::value(script), exo::value(data), exo::value(init)},
                          exo::invoke_options{.budget = 10'000'000});
    BOOST_REQUIRE(out);
    return *out;
  }
};

const exo::value& field(const exo::call_outcome& o, std::string_view k) {
  const exo::value* v = o.result.find(k);
  BOOST_REQUIRE_MESSAGE(v, "no " << k << " in the result");
  return *v;
}
std::int64_t ret_code(const exo::call_outcome& o) { return *field(o, "ret_code").if_i64(); }

std::vector<exo::air::executed_state> trace(const exo::call_outcome& o) {
  auto d = exo::air::decode_data(exo::as_bytes(*field(o, "data").if_string()));
  BOOST_REQUIRE(d);
  return d->trace;
}
exo::json scalar_at(const exo::call_outcome& o, std::size_t i) {
  auto t = trace(o);
  BOOST_REQUIRE(i < t.size());
  return std::get<exo::air::call_state>(t[i]).value->get();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(air_container)

BOOST_AUTO_TEST_CASE(services_answer_a_particles_calls_within_one_call) {
  world w;
  const std::string script = R"((seq (call "node" ("greet" "hello") [%init_peer_id%] greeting)
                                     (seq (call "node" ("greet" "count") [] n)
                                          (call "node" ("greet" "hello") [greeting] twice))))";
  auto o = w.particle(script);
  BOOST_REQUIRE_MESSAGE(!o.error, o.error->message);
  BOOST_TEST(ret_code(o) == 0, *field(o, "error_message").if_string());
  BOOST_TEST(scalar_at(o, 0) == "hello, alice");
  BOOST_TEST(scalar_at(o, 1) == 1);
  BOOST_TEST(scalar_at(o, 2) == "hello, hello, alice");
  BOOST_TEST(field(o, "next_peer_pks").if_list()->empty());
  // The same particle again merges with the data the actor kept: nothing to call.
  auto again = w.particle(script);
  BOOST_TEST(ret_code(again) == 0);
  BOOST_TEST(scalar_at(again, 1) == 1);  // the greeter was not called again
  // Under another particle id it starts afresh.
  auto other = w.hv->invoke(w.air, "particle", {exo::value(script), exo::value(""), exo::value("alice"), exo::value("p2")},
                            exo::invoke_options{.budget = 10'000'000});
  BOOST_REQUIRE(other);
  BOOST_TEST(scalar_at(*other, 1) == 3);
}

BOOST_AUTO_TEST_CASE(a_failing_service_is_a_catchable_error_and_an_unbound_one_too) {
  world w;
  auto o = w.particle(R"((xor (call "node" ("greet" "boom") [] x)
                              (call "node" ("greet" "hello") [%last_error%.$.message] y)))");
  BOOST_REQUIRE_MESSAGE(!o.error, o.error->message);
  BOOST_TEST(ret_code(o) == 0);
  auto t = trace(o);
  BOOST_REQUIRE(t.size() == 2u);
  const auto& f = std::get<exo::air::call_state>(t[0]);
  BOOST_TEST((f.what == exo::air::call_state::kind::failed));
  BOOST_TEST(f.text.find("boom: it always fails") != std::string::npos, f.text);
  const std::string said = std::get<exo::air::call_state>(t[1]).value->get().get<std::string>();
  BOOST_TEST(said.find("hello, Local service error") == 0u, said);
  // Unbound: the request's result is an error the script sees.
  auto u = w.particle(R"((call "node" ("nobody" "f") [] x))", "", "bob");
  BOOST_TEST(ret_code(u) == 10000);
  BOOST_TEST(field(u, "error_message").if_string()->find("no service 'nobody'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(other_peers_are_returned_to_the_caller) {
  world w;
  auto o = w.particle(R"((par (call "node" ("greet" "hello") ["carol"] x) (call "far_peer" ("s" "f") [] y)))");
  BOOST_TEST(ret_code(o) == 0);
  BOOST_REQUIRE(field(o, "next_peer_pks").if_list()->size() == 1u);
  BOOST_TEST(*(*field(o, "next_peer_pks").if_list())[0].if_string() == "far_peer");
}

// A next peer whose AIR actor is known (peer()) is passed the particle: here a second AIR
// actor, peer "far", in the same hypervisor (across nodes it is a route: tests/e2e/cluster.sh).
// It runs its part with the data as "node" left it, and passes the particle back.
BOOST_AUTO_TEST_CASE(a_particle_is_passed_on_to_the_actors_of_known_peers) {
  world w;
  auto f = w.hv->create_code("air", exo::to_bytes(R"({"peer_id": "far"})"));
  BOOST_REQUIRE(f);
  const exo::id far = *w.hv->actor_id(*f);
  auto g = w.hv->create(greeter{});
  BOOST_REQUIRE(g);
  auto bound = w.hv->invoke(far, "bind", {exo::value("greet"), exo::value(*g)});
  BOOST_REQUIRE(bound && !bound->error);
  auto told = w.hv->invoke(w.air, "peer", {exo::value("far"), exo::value(*f)});
  BOOST_REQUIRE(told);
  BOOST_REQUIRE_MESSAGE(!told->error, told->error->message);
  auto back = w.hv->invoke(far, "peer", {exo::value("node"), exo::value(*w.hv->actor_cap(w.air))});
  BOOST_REQUIRE(back && !back->error);
  // node greets alice, far greets what node said, node greets that again.
  const std::string script = R"((seq (call "node" ("greet" "hello") ["alice"] a)
                                     (seq (call "far" ("greet" "hello") [a] b)
                                          (call "node" ("greet" "hello") [b] c))))";
  auto o = w.particle(script);
  BOOST_REQUIRE_MESSAGE(!o.error, o.error->message);
  BOOST_TEST(ret_code(o) == 0);
  BOOST_REQUIRE(field(o, "next_peer_pks").if_list()->size() == 1u);  // far: the caller hears of it too
  // The particle went to far and came back: node's kept data holds all three calls.
  auto again = w.particle(script);
  BOOST_REQUIRE(trace(again).size() == 3u);
  BOOST_TEST(scalar_at(again, 1) == "hello, hello, alice");
  BOOST_TEST(scalar_at(again, 2) == "hello, hello, hello, alice");
  BOOST_TEST(w.hv->state_of<greeter>(*w.hv->actor_id(*g))->greeted == 1);  // far's greeter greeted once
  // Bad peers: not (string, capability), or this actor's own id.
  auto wrong = w.hv->invoke(w.air, "peer", {exo::value("far")});
  BOOST_REQUIRE(wrong && wrong->error);
  BOOST_TEST(wrong->error->message.find("peer takes") != std::string::npos);
  auto self = w.hv->invoke(w.air, "peer", {exo::value("node"), exo::value(*f)});
  BOOST_REQUIRE(self && self->error);
  BOOST_TEST(self->error->message.find("own peer id") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_particles_are_refused_and_the_actor_keeps_working) {
  world w;
  auto parse = w.particle("(seq (null)");
  BOOST_TEST(ret_code(parse) == 1);
  auto data = w.particle("(null)", "{not json");
  BOOST_TEST(ret_code(data) == 2);
  auto wrong = w.hv->invoke(w.air, "particle", {exo::value(1)});
  BOOST_REQUIRE(wrong);
  BOOST_REQUIRE(wrong->error);
  BOOST_TEST(wrong->error->message.find("particle takes") != std::string::npos);
  // A particle that would run forever runs out of its call's ticks.
  auto forever = w.hv->invoke(w.air, "particle",
                              {exo::value("(seq (ap 1 $s) (fold $s v (seq (ap v $s) (next v))))"), exo::value(""), exo::value("a")},
                              exo::invoke_options{.budget = 200'000});
  BOOST_REQUIRE(forever);
  BOOST_REQUIRE(forever->error);
  BOOST_TEST(forever->error->message.find("out of ticks") != std::string::npos, forever->error->message);
  auto fine = w.particle(R"((call "node" ("greet" "hello") ["dave"] x))", "", "erin");
  BOOST_TEST(ret_code(fine) == 0);
  BOOST_TEST(scalar_at(fine, 0) == "hello, dave");
  // Bad code is refused when created.
  BOOST_TEST(!w.hv->create_code("air", exo::to_bytes("[1]")));
  BOOST_TEST(!w.hv->create_code("air", exo::to_bytes(R"({"peer": "x"})")));
}

BOOST_AUTO_TEST_CASE(the_log_replays_to_the_same_results_and_roots) {
  world w;
  (void)w.particle(R"((seq (call "node" ("greet" "hello") [%init_peer_id%] g) (call "node" ("greet" "count") [] n)))");
  (void)w.particle(R"((xor (call "node" ("greet" "boom") [] x) (null)))", "", "zed");
  auto fresh = world::make(w.reg);
  auto verdict = exo::verify(w.hv->log(), [&] { return fresh.get(); });
  BOOST_TEST(verdict.ok(), verdict.to_string());
  BOOST_TEST(verdict.entries == w.hv->log().size());
}

// A runner that fails on its own, here a process runner's child that crashes (the test child
// aborts on a request holding "exo-test-crash"), is not the script's doing: the message fails
// as a fault, which the log records, the next particle gets a new child, and the log
// verifies (the replay gives the fault again without running the particle). On the inline
// and thread runners the same particle is an ordinary one.
BOOST_AUTO_TEST_CASE(a_crashed_runner_child_is_a_logged_fault) {
  const char* runner = std::getenv("EXO_AIR_RUNNER");
  const bool process = runner && std::string_view(runner) == "process";
  world w;
  auto crashed = w.particle(R"((call "node" ("greet" "hello") ["exo-test-crash"] g))");
  if (process) {
    BOOST_REQUIRE(crashed.error);
    BOOST_TEST(crashed.error->code == exo::errc::fault, crashed.error->message);
    BOOST_TEST(crashed.error->message.find("killed by signal 6") != std::string::npos, crashed.error->message);
    BOOST_TEST(exo::to_json(crashed.outputs).dump().find("\"fault\"") != std::string::npos, exo::to_json(crashed.outputs).dump());
    BOOST_TEST(crashed.ticks == 10'000'000u);  // a fault spends the budget
  } else {
    BOOST_REQUIRE_MESSAGE(!crashed.error, crashed.error->message);
    BOOST_TEST(ret_code(crashed) == 0);
  }
  auto next = w.particle(R"((call "node" ("greet" "count") [] n))");
  BOOST_REQUIRE_MESSAGE(!next.error, next.error->message);
  BOOST_TEST(ret_code(next) == 0);
  BOOST_TEST(scalar_at(next, 0) == exo::json(process ? 0 : 1));  // the crashed particle's greeting was rolled back
  auto fresh = world::make(w.reg);
  auto verdict = exo::verify(w.hv->log(), [&] { return fresh.get(); });
  BOOST_TEST(verdict.ok(), verdict.to_string());
}

// AIR actors may run on any thread: four of them, each with its own greeter bound, get
// particles from the host, one each a round, and parallel_scheduler<2> (every window on its
// threads) gives the deliveries and the state root of ordered_scheduler. (CTest runs it on
// each runner: the thread and process runners take one run at a time; inline runs go on at
// once.)
template <class S>
std::pair<std::vector<std::string>, std::string> particle_burst(exo::container_registry& reg) {
  exo::config c;
  c.name = "air-parallel";
  c.containers = &reg;
  exo::hypervisor<S, exo::memory_store> hv(c);
  if constexpr (exo::parallel_policy<S>) hv.scheduler().tuning.min_window_ns = 0;
  hv.template register_type<greeter>();
  std::vector<std::string> trace;
  exo_test::trace_deliveries(hv, trace);
  std::vector<exo::cap_handle> particles;
  for (int i = 0; i < 4; ++i) {
    auto a = hv.create_code("air", exo::to_bytes(R"({"peer_id": "node"})"));
    BOOST_REQUIRE(a);
    const exo::cap_handle g = hv.create(greeter{});
    auto bind = hv.function_cap(*a, "bind");
    BOOST_REQUIRE(bind);
    BOOST_REQUIRE(hv.call(*bind, std::string("greet"), g));
    particles.push_back(*hv.function_cap(*a, "particle"));
  }
  hv.run();
  const std::string script = R"((seq (call "node" ("greet" "hello") [%init_peer_id%] greeting)
                                     (seq (ap greeting $all)
                                          (call "node" ("greet" "count") [] n))))";
  for (int round = 0; round < 5; ++round) {  // (an actor takes one particle at a time: it waits for its services)
    for (std::size_t i = 0; i < particles.size(); ++i)
      BOOST_REQUIRE(hv.call(particles[i], script, std::string(), "peer" + std::to_string(i),
                            "particle-" + std::to_string(round)));
    hv.run();
  }
  BOOST_TEST(hv.failures().empty());
  for (const auto& f : hv.failures()) BOOST_TEST_MESSAGE(exo::to_string(f));
  if constexpr (exo::parallel_policy<S>) BOOST_TEST(hv.scheduler().counts.parallel_windows >= 10u);
  return {trace, exo::to_hex(*hv.state_root())};
}

BOOST_AUTO_TEST_CASE(air_actors_in_parallel_windows_give_the_ordered_trace_and_root) {
  exo::container_registry reg;
  reg.add_search_dir(EXO_TEST_PLUGIN_DIR);
  auto r = reg.load_named("air");
  BOOST_REQUIRE_MESSAGE(r, "loading the air plugin: " << (r ? "" : r.error().message));
  auto ordered = particle_burst<exo::ordered_scheduler>(reg);
  auto parallel = particle_burst<exo::parallel_scheduler<2>>(reg);
  BOOST_TEST(ordered.first.size() > 60u);  // bindings, particles, greeter calls and answers
  BOOST_TEST(ordered.first == parallel.first, boost::test_tools::per_element());
  BOOST_TEST(ordered.second == parallel.second);
}

BOOST_AUTO_TEST_SUITE_END()
