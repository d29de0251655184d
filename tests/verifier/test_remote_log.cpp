// Several logged nodes (on LMDB) in one process, the envelopes carried by hand: a "route"
// entry names peers, routes and grants; a message to another node is a logged output, sealed
// and taken there as a "take" entry; envelopes open only from the right peer, in order, once;
// and each node's log verifies on its own, replaying to its roots without the other node.
#include "../support/two_nodes.hpp"

#include <boost/test/unit_test.hpp>

using namespace exo;
using namespace test::nodes;

BOOST_FIXTURE_TEST_SUITE(remote_log, pair_fixture)

BOOST_AUTO_TEST_CASE(a_call_and_its_answer_cross_as_logged_outputs_and_takes) {
  auto sent = ask(5);
  BOOST_REQUIRE(sent.size() == 1u);
  BOOST_TEST(sent[0].first == "b");
  BOOST_TEST(*b.hv->next_take("a") == 1u);
  auto took = b.hv->take(sent[0].second);
  BOOST_REQUIRE(took);
  BOOST_TEST(took->kind == "take");
  BOOST_TEST(!took->error);
  BOOST_TEST(*b.hv->next_take("a") == 2u);
  BOOST_TEST(b.hv->state_of<tally>(counter)->total == 5);
  // The answer went back as b's output, taken by a.
  auto back = b.sealed(*took);
  BOOST_REQUIRE(back.size() == 1u);
  BOOST_TEST(back[0].first == "a");
  BOOST_REQUIRE(a.hv->take(back[0].second));
  BOOST_REQUIRE(asker_state().answers.size() == 1u);
  BOOST_TEST(asker_state().answers[0] == 5);
}

BOOST_AUTO_TEST_CASE(an_envelope_is_taken_once_in_order_and_only_from_its_peer) {
  auto one = ask(1), two = ask(2);
  BOOST_REQUIRE(one.size() == 1u);
  BOOST_REQUIRE(two.size() == 1u);
  const std::uint64_t before = b.hv->log().size();
  // Out of order: the second before the first is refused, nothing logged.
  auto early = b.hv->take(two[0].second);
  BOOST_REQUIRE(!early);
  BOOST_TEST(early.error().message.find("message 2 of the stream, where message 1 was expected") != std::string::npos,
             early.error().message);
  BOOST_TEST(b.hv->log().size() == before);
  BOOST_REQUIRE(b.hv->take(one[0].second));
  // Again: refused (its index is used up).
  BOOST_TEST(!b.hv->take(one[0].second));
  BOOST_REQUIRE(b.hv->take(two[0].second));
  BOOST_TEST(b.hv->state_of<tally>(counter)->total == 3);
  // Sealed by another key (an impostor of a), or garbage: refused, nothing logged.
  auto impostor = node_key::generate().value();
  auto forged = seal_envelope({"a", "b", 3, encode(value::make_map({}))}, impostor);
  auto r = b.hv->take(forged);
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::invalid_argument));
  BOOST_TEST(!b.hv->take(bytes{1, 2, 3}));
  // From a node that is no peer.
  auto stranger = seal_envelope({"c", "b", 1, encode(value::make_map({}))}, impostor);
  auto s = b.hv->take(stranger);
  BOOST_REQUIRE(!s);
  BOOST_TEST(s.error().message.find("no peer") != std::string::npos);
  BOOST_TEST(*b.hv->next_take("a") == 3u);
}

BOOST_AUTO_TEST_CASE(a_signed_body_the_kernel_refuses_is_logged_and_used_up) {
  // a's peer signs a body that calls the counter's function a was never given... it was
  // given add; here the body names a function index out of range. The take is logged with
  // the error (its index is used up, so the stream goes on), and a failure goes back.
  auto sent = ask(4);
  auto body = decode(open_envelope(sent[0].second).value().e.body).value();
  for (auto& [k, v] : *body.if_map())
    if (k == "function") v = value(std::int64_t{7});
  auto bad = seal_envelope({"a", "b", 1, encode(body)}, a.key);
  auto took = b.hv->take(bad);
  BOOST_REQUIRE(took);
  BOOST_REQUIRE(took->error);
  BOOST_TEST(took->error->message.find("#7") != std::string::npos);
  BOOST_TEST(*b.hv->next_take("a") == 2u);
  BOOST_TEST(b.hv->state_of<tally>(counter)->total == 0);
  auto back = b.sealed(*took);
  BOOST_REQUIRE(back.size() == 1u);  // the failure report, to a's caller
  BOOST_REQUIRE(a.hv->take(back[0].second));
  BOOST_REQUIRE(asker_state().failures.size() == 1u);
  BOOST_TEST(asker_state().failures[0].find("#7") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(each_node_log_verifies_on_its_own_and_resumes) {
  for (std::int64_t i = 1; i <= 5; ++i) {
    for (auto& [to, env] : ask(i)) {
      auto took = b.hv->take(env);
      BOOST_REQUIRE(took);
      for (auto& [back_to, back] : b.sealed(*took)) BOOST_REQUIRE(a.hv->take(back));
    }
  }
  BOOST_TEST(b.hv->state_of<tally>(counter)->total == 15);
  BOOST_TEST(asker_state().answers.size() == 5u);
  for (member* m : {&a, &b}) {
    auto v = m->verify_alone();
    BOOST_TEST_MESSAGE(m->name << ": " << v.to_string());
    BOOST_TEST(v.ok());
    BOOST_TEST((v.final_root == *m->hv->state_root()));
  }
  // Reopened, a node knows what it took and from whom.
  const digest root = *b.hv->state_root();
  b.open();
  BOOST_TEST((*b.hv->state_root() == root));
  BOOST_TEST(*b.hv->next_take("a") == 6u);
  BOOST_TEST((b.hv->peer_key("a")->value() == a.key.public_key()));
  BOOST_TEST(!b.hv->peer_key("zed")->has_value());
}

BOOST_AUTO_TEST_CASE(a_route_entry_that_cannot_be_made_leaves_nothing) {
  const std::uint64_t before = a.hv->log().size();
  const digest root = *a.hv->state_root();
  // The second route names an actor of a itself: the whole entry is undone.
  auto r = a.hv->route({.routes = {{id{}, "b", {}}, {asker, "b", {}}}});
  BOOST_REQUIRE(!r);
  BOOST_TEST(a.hv->log().size() == before);
  BOOST_TEST((*a.hv->state_root() == root));
  BOOST_TEST(!a.hv->route_of(id{}));
  BOOST_TEST(!a.hv->route({.peers = {{"a", a.key.public_key()}}}));  // itself
  BOOST_TEST(!a.hv->route({.grants = {{counter, "add", "b", rights::call}}}));  // not an actor of a
}

BOOST_AUTO_TEST_SUITE_END()
