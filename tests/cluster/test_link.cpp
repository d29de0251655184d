// Two logged nodes linked over a real nats-server (exo/cluster/link.hpp): a call crosses and
// its answer comes back through the streams; the log is the outbox (a node that committed and
// crashed before sending sends on recover(), once); a server restart and a SIGKILL of the
// server are survived with nothing lost or taken twice; each node's log verifies alone and
// the two logs agree (check_pair); a forged capability sent over the stream is refused; a
// peer that is down is an error to the sending actor after the bound (settle entries with the
// peer's receipts), one that takes in time is settled quietly, and bad receipts are refused.
#include "../support/nats_server.hpp"
#include "../support/two_nodes.hpp"

#include <exo/cluster/link.hpp>

#include <boost/test/unit_test.hpp>

using namespace test::nodes;
using exo::cluster::check_pair;
using exo::cluster::connection;

namespace {

struct linked : pair_fixture {
  test::temp_dir t;
  test::nats_server server{t.sub("nats")};
  connection nc_a = connection::open({.url = server.url()}).value();
  connection nc_b = connection::open({.url = server.url()}).value();
  exo::cluster::link<disk_hv> la{*a.hv, nc_a, "a", a.key, {"b"}};
  exo::cluster::link<disk_hv> lb{*b.hv, nc_b, "b", b.key, {"a"}};

  // a's caller asks; the entry's outputs go out on a's link.
  void send(std::int64_t n) {
    auto p = la.publish(ask_entry(n));
    BOOST_REQUIRE_MESSAGE(p, (p ? "" : p.error().message));
    BOOST_TEST(*p == 1u);
  }
  std::size_t pull(exo::cluster::link<disk_hv>& l) {
    auto r = l.pull();
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    return *r;
  }
  void check_both() {
    for (member* m : {&a, &b}) {
      auto v = m->verify_alone();
      BOOST_TEST(v.ok(), m->name << ": " << v.to_string());
    }
    auto ab = check_pair(a.hv->log(), "a", b.hv->log(), "b");
    auto ba = check_pair(b.hv->log(), "b", a.hv->log(), "a");
    BOOST_REQUIRE_MESSAGE(ab, (ab ? "" : ab.error().message));
    BOOST_REQUIRE_MESSAGE(ba, (ba ? "" : ba.error().message));
  }
};

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A node's last log entry.
log_entry last_entry(member& m) { return decode_entry(*m.hv->log().read(m.hv->log().size() - 1)).value(); }

}  // namespace

BOOST_FIXTURE_TEST_SUITE(cluster_link, linked)

BOOST_AUTO_TEST_CASE(a_call_crosses_and_its_answer_comes_back_over_nats) {
  for (std::int64_t i = 1; i <= 3; ++i) send(i);
  BOOST_TEST(pull(lb) == 3u);  // b takes the three calls, and publishes three answers
  BOOST_TEST(b.hv->state_of<tally>(counter)->total == 6);
  BOOST_TEST(pull(la) == 3u);
  BOOST_TEST((asker_state().answers == std::vector<std::int64_t>{1, 3, 6}));
  BOOST_TEST(pull(lb) == 0u);  // nothing more
  check_both();
  BOOST_TEST(*check_pair(a.hv->log(), "a", b.hv->log(), "b") == 3u);
}

BOOST_AUTO_TEST_CASE(the_log_is_the_outbox_a_crash_before_sending_loses_nothing) {
  send(1);
  // a commits a call and "crashes" before publishing it: the entry is in the log only.
  auto target = a.hv->lookup(counter, "add", rights::call | rights::transfer).value();
  BOOST_REQUIRE(a.hv->invoke(asker, "ask", {value(target), value(std::int64_t{10})}));
  a.open();  // restarted on the same directory
  exo::cluster::link<disk_hv> again{*a.hv, nc_a, "a", a.key, {"b"}};
  auto sent = again.recover();
  BOOST_REQUIRE_MESSAGE(sent, (sent ? "" : sent.error().message));
  BOOST_TEST(*sent == 1u);                 // only what the stream lacked
  BOOST_TEST(*again.recover() == 0u);      // and once
  BOOST_TEST(pull(lb) == 2u);
  BOOST_TEST(b.hv->state_of<tally>(counter)->total == 11);
  // b crashes after taking, before publishing its answers: recover() sends them.
  b.open();
  exo::cluster::link<disk_hv> lb2{*b.hv, nc_b, "b", b.key, {"a"}};
  BOOST_REQUIRE(lb2.recover());
  BOOST_TEST(pull(lb2) == 0u);  // nothing taken twice
  BOOST_TEST(pull(again) == 2u);
  BOOST_TEST(asker_state().answers.size() == 2u);
  check_both();
}

BOOST_AUTO_TEST_CASE(a_server_restart_and_a_server_kill_lose_nothing) {
  send(1);
  server.stop();   // a clean stop while a message waits on the stream
  server.start();
  send(2);         // the connection came back
  BOOST_TEST(pull(lb) == 2u);
  server.stop(true);  // SIGKILL
  server.start();
  BOOST_TEST(pull(la) == 2u);
  send(3);
  BOOST_TEST(pull(lb) == 1u);
  BOOST_TEST(pull(la) == 1u);
  BOOST_TEST(b.hv->state_of<tally>(counter)->total == 6);
  BOOST_TEST(asker_state().answers.size() == 3u);
  check_both();
}

// The forged-capability attack over a real nats-server: node a misbehaves, pointing its call's
// message at an actor of b's that b never gave it, sealed with a's key and appended to the
// stream a -> b by hand. b takes it (its index is used up, the take logged with the refusal),
// runs nothing of it, and tells the origin on a; both logs still verify alone, and the pair
// check shows that a sent what its log does not hold.
BOOST_AUTO_TEST_CASE(a_forged_capability_over_nats_is_refused_logged_and_told) {
  const id secret = *b.hv->actor_id(*b.hv->create(tally{}));  // never given to a
  log_entry e = ask_entry(5);
  value body;
  for (const value& o : *e.outputs.if_list())
    if (const value* b_body = o.find("body")) body = *b_body;
  BOOST_REQUIRE(body.if_map());
  for (auto& [k, v] : *body.if_map())
    if (k == "to") v = to_value(secret);
  auto out = exo::cluster::stream::open(nc_a, "a", "b");
  BOOST_REQUIRE(out);
  auto appended = out->append(1, exo::seal_envelope({"a", "b", 1, exo::encode(body)}, a.key));
  BOOST_REQUIRE_MESSAGE(appended, (appended ? "" : appended.error().message));
  BOOST_TEST(pull(lb) == 1u);  // taken: the index is used up
  BOOST_TEST(b.hv->state_of<tally>(secret)->total == 0);
  BOOST_TEST(b.hv->state_of<tally>(counter)->total == 0);
  auto took = decode_entry(*b.hv->log().read(b.hv->log().size() - 1));
  BOOST_REQUIRE(took);
  BOOST_TEST(took->kind == "take");
  BOOST_REQUIRE(took->error.has_value());
  BOOST_TEST(took->error->message.find("never gave it") != std::string::npos, took->error->message);
  // The origin on a hears of it: a's link takes the failure report that crossed back, and
  // then will not send over the forged message (a's log says message 1 was another).
  auto honest = la.pull();
  BOOST_REQUIRE(!honest);
  BOOST_TEST(honest.error().message.find("holds other bytes as message 1") != std::string::npos, honest.error().message);
  BOOST_REQUIRE(asker_state().failures.size() == 1u);
  BOOST_TEST(asker_state().answers.empty());
  for (member* m : {&a, &b}) {
    auto v = m->verify_alone();
    BOOST_TEST(v.ok(), m->name << ": " << v.to_string());
  }
  auto ab = check_pair(a.hv->log(), "a", b.hv->log(), "b");
  BOOST_REQUIRE(!ab);
  BOOST_TEST(ab.error().message.find("differs from what node a's entry") != std::string::npos, ab.error().message);
}

BOOST_AUTO_TEST_CASE(a_peer_that_is_down_is_an_error_to_the_sender_after_the_bound) {
  la.expire_after(milliseconds(1000));
  const auto t0 = clock_type::now();
  send(1);
  send(2);
  const auto logged = a.hv->log().size();
  auto early = la.settle(t0 + milliseconds(100));  // younger than half the bound: nothing asked, nothing logged
  BOOST_REQUIRE_MESSAGE(early, (early ? "" : early.error().message));
  BOOST_TEST(*early == 0u);
  BOOST_TEST(a.hv->log().size() == logged);
  // b is down (it never pulls): after the bound, both messages expire and the asker is told.
  auto told = la.settle(t0 + milliseconds(2000));
  BOOST_REQUIRE_MESSAGE(told, (told ? "" : told.error().message));
  BOOST_TEST(*told == 2u);
  BOOST_REQUIRE(asker_state().failures.size() == 2u);
  BOOST_TEST(asker_state().failures[0].find("node b did not confirm taking message 1 from node a") != std::string::npos,
             asker_state().failures[0]);
  const log_entry settled = last_entry(a);
  BOOST_TEST(settled.kind == "settle");
  BOOST_TEST((settled.result.if_i64() && *settled.result.if_i64() == 2));
  BOOST_TEST((settled.args.find("receipt")->type() == exo::kind::null));  // b never said it took anything
  // Each is settled once: later looks tell nobody again and log nothing.
  BOOST_TEST(*la.settle(t0 + milliseconds(4000)) == 0u);
  BOOST_TEST(a.hv->log().size() == logged + 1);
  // b comes back and takes them after all (their outcome was unknown): the answers come late.
  BOOST_TEST(pull(lb) == 2u);
  BOOST_TEST(pull(la) == 2u);
  BOOST_TEST((asker_state().answers == std::vector<std::int64_t>{1, 3}));
  BOOST_TEST(asker_state().failures.size() == 2u);
  check_both();  // a's settle entry replays; the receipts it holds (none) agree with b's log
}

BOOST_AUTO_TEST_CASE(a_peer_that_takes_in_time_is_settled_quietly_with_its_receipt) {
  la.expire_after(milliseconds(1000));
  lb.receipt_every(milliseconds(0));  // (a receipt after every pull: the test's clock runs ahead of the real one)
  const auto t0 = clock_type::now();
  send(1);
  send(2);
  BOOST_TEST(pull(lb) == 2u);  // b takes both and publishes its receipt
  auto told = la.settle(t0 + milliseconds(2000));
  BOOST_REQUIRE_MESSAGE(told, (told ? "" : told.error().message));
  BOOST_TEST(*told == 0u);
  BOOST_TEST(asker_state().failures.empty());
  const log_entry settled = last_entry(a);
  BOOST_TEST(settled.kind == "settle");
  BOOST_REQUIRE(settled.args.find("receipt")->if_bytes());
  auto receipt = exo::open_receipt(*settled.args.find("receipt")->if_bytes(), {.from = "b", .to = "a", .key = b.key.public_key()});
  BOOST_REQUIRE(receipt);
  BOOST_TEST(receipt->e.index == 2u);
  // A third message sent later is not old enough to expire yet; b takes it in time too.
  const auto t1 = clock_type::now();
  send(3);
  BOOST_TEST(*la.settle(t1 + milliseconds(300)) == 0u);
  BOOST_TEST(pull(lb) == 1u);
  BOOST_TEST(*la.settle(t1 + milliseconds(3000)) == 0u);
  BOOST_TEST(pull(la) == 3u);
  BOOST_TEST((asker_state().answers == std::vector<std::int64_t>{1, 3, 6}));
  BOOST_TEST(asker_state().failures.empty());
  check_both();
}

BOOST_AUTO_TEST_CASE(without_a_bound_nothing_expires_and_receipts_still_settle) {
  const auto t0 = clock_type::now();
  send(1);
  const auto logged = a.hv->log().size();
  BOOST_TEST(*la.settle(t0 + std::chrono::minutes(1)) == 0u);  // b is down: nobody is told, nothing logged
  BOOST_TEST(asker_state().failures.empty());
  BOOST_TEST(a.hv->log().size() == logged);
  BOOST_TEST(pull(lb) == 1u);
  BOOST_TEST(*la.settle(t0 + std::chrono::minutes(2)) == 0u);  // b's receipt settles it
  BOOST_TEST(last_entry(a).kind == "settle");
  BOOST_TEST(asker_state().failures.empty());
  BOOST_TEST(pull(la) == 1u);
  check_both();
}

BOOST_AUTO_TEST_CASE(bad_receipts_are_refused_and_nothing_is_logged) {
  send(1);
  send(2);
  const auto logged = a.hv->log().size();
  auto refused = [&](std::string_view node, std::optional<bytes> receipt, std::uint64_t expired, std::string_view says) {
    auto r = a.hv->settle(node, std::move(receipt), expired);
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().message.find(says) != std::string::npos, r.error().message);
    BOOST_TEST(a.hv->log().size() == logged);
  };
  refused("b", exo::seal_receipt("b", "a", 1, a.key), 0, "not by node b's key");           // signed by another key
  refused("b", exo::seal_receipt("b", "c", 1, b.key), 0, "an envelope to c, not to a");   // for another node
  refused("b", exo::seal_receipt("b", "a", 3, b.key), 0, "confirms taking 3 messages");    // more than was sent
  refused("b", bytes{1, 2, 3}, 0, "not a receipt");
  refused("b", exo::seal_envelope({"b", "a", 1, {}}, b.key), 0, "this exo reads 'exo-receipt-1'");  // an envelope is no receipt
  refused("b", std::nullopt, 3, "message 3 to node b cannot expire");
  refused("z", std::nullopt, 1, "node z is no peer of node a");
  BOOST_TEST(asker_state().failures.empty());
  // A receipt b signed for more than b's log took passes on a (a sent 2), but the pair check
  // holds it against b's log.
  BOOST_REQUIRE(a.hv->settle("b", exo::seal_receipt("b", "a", 2, b.key), 0));
  auto ab = check_pair(a.hv->log(), "a", b.hv->log(), "b");
  BOOST_REQUIRE(!ab);
  BOOST_TEST(ab.error().message.find("carries node b's receipt for 2 messages, where node b's log took 0") != std::string::npos,
             ab.error().message);
  // The node goes on: b takes both, and the pair agrees.
  BOOST_TEST(pull(lb) == 2u);
  BOOST_TEST(pull(la) == 2u);
  check_both();
}

BOOST_AUTO_TEST_CASE(logs_that_disagree_are_told) {
  send(1);
  BOOST_TEST(pull(lb) == 1u);
  // b's log checked against another node's log (c never sent it anything): refused.
  member c{"c"};
  auto r = check_pair(c.hv->log(), "a", b.hv->log(), "b");
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message.find("does not hold") != std::string::npos, r.error().message);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// Three nodes on one nats-server: a passer on a, the counter on b, a relay (a caller) on c.
// b gave a the counter's add with the right to pass it on; c gave a its relay's ask.
struct trio {
  test::temp_dir t;
  test::nats_server server{t.sub("nats")};
  member a{"a"}, b{"b"}, c{"c"};
  id counter{}, relay{}, passer_id{};
  connection nc = connection::open({.url = server.url()}).value();
  // (b looks at c's stream before a's: c's message comes first, and needs a's notice)
  exo::cluster::link<disk_hv> la{*a.hv, nc, "a", a.key, {"b", "c"}}, lb{*b.hv, nc, "b", b.key, {"c", "a"}},
      lc{*c.hv, nc, "c", c.key, {"a", "b"}};
  trio() {
    passer_id = *a.hv->actor_id(*a.hv->create(passer{}));
    counter = *b.hv->actor_id(*b.hv->create(tally{}));
    relay = *c.hv->actor_id(*c.hv->create(caller{}));
    auto peers = [](member& x, member& y) {
      return std::vector<exo::route_request::peer>{{x.name, x.key.public_key()}, {y.name, y.key.public_key()}};
    };
    must(a.hv->route({.peers = peers(b, c), .routes = {{counter, "b", {"add"}}, {relay, "c", {"ask", "answer"}}}}).has_value(),
         "a's route entry");
    must(b.hv->route({.peers = peers(a, c), .grants = {{counter, "add", "a", rights::call | rights::transfer}}}).has_value(),
         "b's route entry");
    must(c.hv->route({.peers = peers(a, b), .grants = {{relay, "ask", "a", rights::call}}}).has_value(), "c's route entry");
  }
  // a's passer hands c's relay the counter (b's), with n: the relay calls it.
  void pass(std::int64_t n, rights r = rights::call | rights::transfer) {
    auto x = a.hv->lookup(counter, "add", r);
    auto to = a.hv->lookup(relay, "ask", rights::call | rights::transfer);
    BOOST_REQUIRE(x && to);
    auto out = a.hv->invoke(passer_id, "pass", {value(*to), value(*x), value(n)});
    (void)a.hv->drop(*x);
    (void)a.hv->drop(*to);
    BOOST_REQUIRE_MESSAGE(out && !out->error, (out ? (out->error ? out->error->message : "") : out.error().message));
    BOOST_REQUIRE(la.publish_new());
  }
  static std::size_t pull(exo::cluster::link<disk_hv>& l) {
    auto r = l.pull();
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    return *r;
  }
  const caller& relay_state() { return *c.hv->state_of<caller>(relay); }
  void check_all() {
    for (member* m : {&a, &b, &c}) {
      auto v = m->verify_alone();
      BOOST_TEST(v.ok(), m->name << ": " << v.to_string());
    }
    for (member* x : {&a, &b, &c})
      for (member* y : {&a, &b, &c})
        if (x != y) {
          auto r = check_pair(x->hv->log(), x->name, y->hv->log(), y->name);
          BOOST_TEST(r.has_value(), x->name << " -> " << y->name << ": " << (r ? "" : r.error().message));
        }
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(cluster_handoff, trio)

BOOST_AUTO_TEST_CASE(a_capability_to_a_third_nodes_actor_is_handed_over_and_used) {
  pass(4);
  BOOST_TEST(pull(lc) == 1u);  // c takes the relay's ask, with the counter (b's) in it, and calls it
  {
    const log_entry took = last_entry(c);
    BOOST_TEST(!took.error.has_value(), (took.error ? took.error->message : ""));
    BOOST_TEST(took.outputs.if_list()->size() == 1u, exo::to_string(took.outputs));
  }
  BOOST_TEST(pull(lb) == 2u);  // b takes a's hand-off notice first, then c's call
  BOOST_TEST(b.hv->state_of<tally>(counter)->total == 4);
  BOOST_TEST(pull(lc) == 1u);  // the answer, straight from b to c
  BOOST_TEST((relay_state().answers == std::vector<std::int64_t>{4}));
  BOOST_TEST(relay_state().failures.empty());
  // c keeps it: its later uses go straight to b (a's notice is taken already).
  pass(5);
  BOOST_TEST(pull(lc) == 1u);
  BOOST_TEST(pull(lb) == 2u);
  BOOST_TEST(pull(lc) == 1u);
  BOOST_TEST((relay_state().answers == std::vector<std::int64_t>{4, 9}));
  check_all();
}

BOOST_AUTO_TEST_CASE(a_node_cannot_hand_over_what_it_was_not_given_to_pass_on) {
  // The host's call with a capability that lacks the transfer right is refused, and says so
  // the same way when replayed (its handles differ there).
  auto x = a.hv->lookup(counter, "add", rights::call);
  auto to = a.hv->lookup(relay, "ask", rights::call | rights::transfer);
  BOOST_REQUIRE(x && to);
  auto out = a.hv->invoke(passer_id, "pass", {value(*to), value(*x), value(std::int64_t{1})});
  BOOST_REQUIRE(out);
  BOOST_REQUIRE(out->error.has_value());
  BOOST_TEST(out->error->message.find("the arguments' capability 1 lacks the transfer right") != std::string::npos,
             out->error->message);
  // a misbehaves: a notice for an actor of b's that b never gave it, sealed and appended by hand.
  const id secret = *b.hv->actor_id(*b.hv->create(tally{}));
  value notice = value::make_map(
      {{"handoff", value::make_map({{"actor", to_value(secret)}, {"kind", value("function")}, {"function", value(std::int64_t{0})},
                                    {"rights", value(static_cast<std::int64_t>(rights::call))}, {"to", value("c")}})},
       {"after", value::make_map({})}});
  auto stream = exo::cluster::stream::open(nc, "a", "b");
  BOOST_REQUIRE(stream);
  const std::uint64_t next = *stream->last() + 1;
  BOOST_REQUIRE(stream->append(next, exo::seal_envelope({"a", "b", next, exo::encode(notice)}, a.key)));
  BOOST_TEST(pull(lb) == 1u);  // taken (its index used up), and refused
  auto took = decode_entry(*b.hv->log().read(b.hv->log().size() - 1));
  BOOST_REQUIRE(took && took->error.has_value());
  BOOST_TEST(took->error->message.find("never gave it, with the right to pass it on") != std::string::npos, took->error->message);
  // And the counter's add, handed over with more rights than b gave a, is refused too.
  notice = value::make_map(
      {{"handoff", value::make_map({{"actor", to_value(counter)}, {"kind", value("actor")},
                                    {"rights", value(static_cast<std::int64_t>(rights::all))}, {"to", value("c")}})}});
  BOOST_REQUIRE(stream->append(next + 1, exo::seal_envelope({"a", "b", next + 1, exo::encode(notice)}, a.key)));
  BOOST_TEST(pull(lb) == 1u);
  took = decode_entry(*b.hv->log().read(b.hv->log().size() - 1));
  BOOST_REQUIRE(took && took->error.has_value());
  BOOST_TEST(took->error->message.find("never gave it") != std::string::npos, took->error->message);
  for (member* m : {&a, &b, &c}) {
    auto v = m->verify_alone();
    BOOST_TEST(v.ok(), m->name << ": " << v.to_string());
  }
}

BOOST_AUTO_TEST_SUITE_END()
