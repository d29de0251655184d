#include <boost/test/unit_test.hpp>

#include "actors.hpp"

using namespace exo;
using namespace test;

namespace {
struct fixture : hv_fixture {
  cap_handle& target_actor = sink;
  cap_handle& agent_actor = ag;
  std::int64_t total() { return sink_state().total; }
};
}  // namespace

BOOST_FIXTURE_TEST_SUITE(capabilities, fixture)

BOOST_AUTO_TEST_CASE(a_received_cap_can_be_called) {
  BOOST_REQUIRE(hv.call(fn(agent_actor, "call_cap"), fn(target_actor, "add"), 5));
  hv.run();
  BOOST_TEST(total() == 5);
  BOOST_TEST(log.seen.empty());
}

BOOST_AUTO_TEST_CASE(a_never_received_cap_cannot_be_called) {
  // The agent guesses handle numbers it was never given: each is refused and reported.
  for (std::int64_t guess : {0, 1, 2, 1 << 20, 12345678}) BOOST_REQUIRE(hv.call(fn(agent_actor, "call_raw"), guess));
  hv.run();
  BOOST_TEST(total() == 0);
  BOOST_REQUIRE(log.seen.size() == 5u);
  for (auto& f : log.seen) {
    BOOST_TEST((f.cause() == errc::bad_capability));
    BOOST_TEST((f.actor == agent_id));
    BOOST_TEST(f.function == "call_raw");
  }
}

BOOST_AUTO_TEST_CASE(a_stale_handle_is_refused) {
  BOOST_REQUIRE(hv.call(fn(agent_actor, "keep"), fn(target_actor, "add")));
  BOOST_REQUIRE(hv.call(fn(agent_actor, "call_kept"), 1));
  BOOST_REQUIRE(hv.call(fn(agent_actor, "drop_kept")));
  BOOST_REQUIRE(hv.call(fn(agent_actor, "call_kept"), 10));
  hv.run();
  BOOST_TEST(total() == 1);
  BOOST_REQUIRE(log.seen.size() == 1u);
  BOOST_TEST((log.seen[0].cause() == errc::bad_capability));
  BOOST_TEST(log.seen[0].message.find("stale") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_cap_without_call_cannot_be_called) {
  auto no_call = *hv.function_cap(target_actor, "add", rights::transfer);
  BOOST_REQUIRE(hv.call(fn(agent_actor, "call_cap"), no_call, 5));
  hv.run();
  BOOST_TEST(total() == 0);
  BOOST_REQUIRE(log.seen.size() == 1u);
  BOOST_TEST((log.seen[0].cause() == errc::missing_right));
}

BOOST_AUTO_TEST_CASE(a_cap_without_transfer_cannot_be_passed_on) {
  // The host cannot send it...
  auto no_transfer = *hv.function_cap(target_actor, "add", rights::call);
  auto r = hv.call(fn(agent_actor, "call_cap"), no_transfer, 5);
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::missing_right));
  // ...and an actor that narrowed a cap to call-only cannot pass the narrowed one on.
  auto other = hv.create(agent{});
  BOOST_REQUIRE(hv.call(fn(agent_actor, "pass_narrowed"), fn(target_actor, "add"), static_cast<std::int64_t>(rights::call),
                        fn(other, "call_cap")));
  hv.run();
  BOOST_REQUIRE(log.seen.size() == 1u);
  BOOST_TEST((log.seen[0].cause() == errc::missing_right));
  BOOST_TEST(log.seen[0].function == "pass_narrowed");
  BOOST_TEST(total() == 0);
}

BOOST_AUTO_TEST_CASE(narrowing_keeps_what_is_left_usable) {
  auto other = hv.create(agent{});
  // call|transfer kept: the receiver can call it
  BOOST_REQUIRE(hv.call(fn(agent_actor, "pass_narrowed"), fn(target_actor, "add"),
                        static_cast<std::int64_t>(rights::call | rights::transfer), fn(other, "call_cap")));
  hv.run();
  BOOST_TEST(log.seen.empty());
  BOOST_TEST(total() == 1);
}

BOOST_AUTO_TEST_CASE(derive_cannot_add_rights) {
  auto call_only = *hv.function_cap(target_actor, "add", rights::call | rights::transfer);
  auto r = hv.derive(call_only, rights::all);  // no derive right: refused
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::missing_right));
  auto with_derive = *hv.function_cap(target_actor, "add", rights::call | rights::derive);
  auto d = hv.derive(with_derive, rights::all);
  BOOST_REQUIRE(d);
  BOOST_TEST((hv.inspect(*d)->rights == (rights::call | rights::derive)));  // never more
}

BOOST_AUTO_TEST_CASE(an_actor_cap_is_the_wrong_kind_to_call) {
  BOOST_REQUIRE(hv.call(fn(agent_actor, "call_cap"), target_actor, 5));
  hv.run();
  BOOST_REQUIRE(log.seen.size() == 1u);
  BOOST_TEST((log.seen[0].cause() == errc::wrong_kind));
  auto r = hv.call(target_actor, 1);  // nor can the host call it
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::wrong_kind));
}

BOOST_AUTO_TEST_CASE(a_sent_cap_becomes_a_new_handle_in_the_receiver) {
  auto other = hv.create(agent{});
  id other_id = *hv.actor_id(other);
  BOOST_TEST(*hv.cap_count(other_id) == 0u);
  // agent receives add and other.call_cap, and passes add on to other, which calls it.
  BOOST_REQUIRE(hv.call(fn(agent_actor, "pass"), fn(target_actor, "add"), fn(other, "call_cap")));
  hv.run();
  BOOST_TEST(log.seen.empty());
  BOOST_TEST(total() == 1);
  BOOST_TEST(*hv.cap_count(agent_id) == 2u);  // both caps it received
  BOOST_TEST(*hv.cap_count(other_id) == 1u);  // its own new handle for add
}

BOOST_AUTO_TEST_CASE(derive_a_named_function_in_a_handler) {
  BOOST_REQUIRE(hv.call(fn(agent_actor, "call_named"), target_actor, "add"));
  BOOST_REQUIRE(hv.call(fn(agent_actor, "call_named"), target_actor, "no_such"));
  hv.run();
  BOOST_TEST(total() == 1);
  BOOST_REQUIRE(log.seen.size() == 1u);
  BOOST_TEST((log.seen[0].cause() == errc::no_such_function));
  BOOST_TEST(log.seen[0].message.find("no_such") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(parent_creates_child_and_hears_its_reply) {
  auto p = hv.create(parent{});
  id pid = *hv.actor_id(p);
  BOOST_REQUIRE(hv.call(fn(p, "spawn")));
  hv.run();
  BOOST_TEST(log.seen.empty());
  auto* st = hv.state_of<parent>(pid);
  BOOST_REQUIRE(st->heard.size() == 1u);
  BOOST_TEST(st->heard[0] == "hello from kid");
  BOOST_TEST((st->child_id == derive_actor_id(pid, 0)));  // the child's id: parent id + nonce 0
  BOOST_TEST(hv.contains(st->child_id));
  BOOST_TEST((*hv.type_of(st->child_id))->name == "child");
}

BOOST_AUTO_TEST_CASE(a_returned_value_goes_to_reply_to) {
  std::vector<std::string> got;
  auto eg = hv.create_egress("replies", [&](egress_message& m) { got.push_back(*m.args[0].if_string()); });
  auto kid = hv.create(child{"solo"});
  BOOST_REQUIRE(hv.send(fn(kid, "greet"), {}, send_options{.reply_to = eg}));
  BOOST_REQUIRE(hv.send(fn(kid, "greet"), {}));  // no reply target: the result goes nowhere
  hv.run();
  BOOST_TEST((got == std::vector<std::string>{"greetings from solo"}));
}

BOOST_AUTO_TEST_CASE(a_reply_target_must_be_callable) {
  // Otherwise the callee's reply would invoke something the sender could not call itself.
  auto kid = hv.create(child{"solo"});
  auto greet = fn(kid, "greet");
  auto actor_only = hv.send(greet, {}, send_options{.reply_to = target_actor});
  BOOST_REQUIRE(!actor_only);
  BOOST_TEST((actor_only.error().code == errc::wrong_kind));
  auto no_call = *hv.function_cap(target_actor, "add", rights::transfer);
  auto uncallable = hv.send(greet, {}, send_options{.reply_to = no_call});
  BOOST_REQUIRE(!uncallable);
  BOOST_TEST((uncallable.error().code == errc::missing_right));
  auto no_transfer = *hv.function_cap(target_actor, "add", rights::call);
  BOOST_TEST((hv.send(greet, {}, send_options{.reply_to = no_transfer}).error().code == errc::missing_right));
  BOOST_TEST(hv.pending() == 0u);
  hv.run();
  BOOST_TEST(total() == 0);
}

BOOST_AUTO_TEST_CASE(caps_passed_to_egress_land_in_the_host_table) {
  std::optional<cap_handle> received;
  auto eg = hv.create_egress("caps", [&](egress_message& m) { received = *m.args[0].if_cap(); });
  BOOST_REQUIRE(hv.call(fn(agent_actor, "pass"), fn(target_actor, "add"), eg));
  hv.run();
  BOOST_REQUIRE(received);
  auto c = hv.inspect(*received);
  BOOST_REQUIRE(c);
  BOOST_TEST((c->kind == cap_kind::function));
  BOOST_REQUIRE(hv.call(*received, 3));  // and the host can use it
  hv.run();
  BOOST_TEST(total() == 3);
}

BOOST_AUTO_TEST_SUITE_END()
