// Several nodes in one process: each a hypervisor with config::node set, the messages between
// them carried by hand (what exo/cluster does over NATS), so that what the kernel promises
// is checked on its own: calls and replies across nodes, capabilities passed and attenuated,
// a capability a node was never given refused, a third node's capability handed over with a
// notice, failure reports going back, bad bodies.
#include <boost/test/unit_test.hpp>

#include "actors.hpp"

#include <deque>
#include <map>
#include <random>

using namespace exo;
using namespace test;

namespace {

// What one node sent to others, in order.
struct outbox final : output_observer {
  struct sent {
    std::string to;
    std::uint64_t index;
    value body;
  };
  std::deque<sent> out;
  std::vector<failure> host_failures;
  void on_egress(std::uint32_t, std::string_view, message&, bool) override {}
  void on_host_failure(const failure& f) override { host_failures.push_back(f); }
  void on_remote(std::string_view node, std::uint64_t index, value&& body) override {
    out.push_back({std::string(node), index, std::move(body)});
  }
};

template <class Scheduler>
struct basic_node {
  std::string name;
  hypervisor<Scheduler> hv;
  outbox box;
  std::vector<error> refused;  // what take_remote refused
  explicit basic_node(std::string n) : name(n), hv(config{.name = n, .node = n}) { hv.observe(&box); }
};

// Three nodes: a holds a parent and two agents, b a counter and a child, c a counter.
template <class Scheduler>
struct basic_cluster {
  using node = basic_node<Scheduler>;
  std::map<std::string, std::unique_ptr<node>> nodes;
  node& a = add("a");
  node& b = add("b");
  node& c = add("c");
  cap_handle parent_a = a.hv.create(parent{});
  cap_handle agent_a = a.hv.create(agent{});
  cap_handle agent2_a = a.hv.create(agent{});
  cap_handle counter_b = b.hv.create(counter{});
  cap_handle child_b = b.hv.create(child{"bee"});
  cap_handle counter_c = c.hv.create(counter{});
  id counter_b_id = *b.hv.actor_id(counter_b), child_b_id = *b.hv.actor_id(child_b);
  id counter_c_id = *c.hv.actor_id(counter_c);

  node& add(const std::string& n) { return *nodes.emplace(n, std::make_unique<node>(n)).first->second; }
  // Carries every message sent until no node has anything left to send or deliver.
  void settle() {
    for (bool moved = true; moved;) {
      moved = false;
      for (auto& [name, n] : nodes) {
        n->hv.run();
        while (!n->box.out.empty()) {
          auto s = std::move(n->box.out.front());
          n->box.out.pop_front();
          node& to = *nodes.at(s.to);
          if (auto r = to.hv.take_remote(name, s.body); !r) to.refused.push_back(r.error());
          moved = true;
        }
      }
    }
  }
  std::int64_t total(node& n, const id& counter_id) { return n.hv.template state_of<counter>(counter_id)->total; }
  // b gives a its counter (the whole actor) and a learns where it is.
  cap_handle counter_b_on_a() {
    BOOST_REQUIRE(b.hv.grant(counter_b, "a"));
    BOOST_REQUIRE(a.hv.add_route(counter_b_id, "b", {"add", "get"}));
    return *a.hv.lookup(counter_b_id, "add");
  }
};

using cluster = basic_cluster<ordered_scheduler>;

}  // namespace

BOOST_FIXTURE_TEST_SUITE(remote, cluster)

BOOST_AUTO_TEST_CASE(a_call_crosses_to_the_node_that_owns_the_actor) {
  cap_handle add = counter_b_on_a();
  BOOST_REQUIRE(a.hv.call(add, 5));
  settle();
  BOOST_TEST(total(b, counter_b_id) == 5);
  BOOST_TEST(a.hv.route_of(counter_b_id).value_or("") == "b");
  BOOST_TEST(!b.hv.route_of(counter_b_id));
  BOOST_TEST(b.refused.empty());
  // Messages to a node are numbered from 1 in the order they leave.
  BOOST_REQUIRE(a.hv.call(add, 1));
  BOOST_REQUIRE(a.hv.call(add, 2));
  a.hv.run();
  BOOST_REQUIRE(a.box.out.size() == 2u);
  BOOST_TEST(a.box.out[0].index == 2u);
  BOOST_TEST(a.box.out[1].index == 3u);
  settle();
  BOOST_TEST(total(b, counter_b_id) == 8);
}

BOOST_AUTO_TEST_CASE(a_reply_comes_back_through_a_capability_that_crossed) {
  // a's parent is handed b's child: hello(reply_to) answers through the reply capability,
  // which crossed from a to b with the message and back from b to a with the answer.
  BOOST_REQUIRE(b.hv.grant(child_b, "a"));
  BOOST_REQUIRE(a.hv.add_route(child_b_id, "b", {"hello", "greet"}));
  cap_handle hello = *a.hv.lookup(child_b_id, "hello");
  cap_handle on_reply = *a.hv.function_cap(parent_a, "on_reply");
  BOOST_REQUIRE(a.hv.call(hello, on_reply));
  settle();
  const parent* p = a.hv.state_of<parent>(*a.hv.actor_id(parent_a));
  BOOST_REQUIRE(p->heard.size() == 1u);
  BOOST_TEST(p->heard[0] == "hello from bee");
  BOOST_TEST((p->child_id == child_b_id));  // the sender a's actor sees is b's child
  BOOST_TEST(a.refused.empty());
  BOOST_TEST(b.refused.empty());
  // A result goes to the reply target a send names.
  cap_handle greet = *a.hv.lookup(child_b_id, "greet");
  BOOST_REQUIRE(a.hv.send(greet, {}, send_options{.reply_to = *a.hv.function_cap(agent_a, "on_reply")}));
  settle();
  const agent* ag = a.hv.state_of<agent>(*a.hv.actor_id(agent_a));
  BOOST_REQUIRE(ag->replies.size() == 1u);
  BOOST_TEST(ag->replies[0] == "greetings from bee");
}

BOOST_AUTO_TEST_CASE(a_capability_is_passed_attenuated_and_used_across_nodes) {
  // b's host hands its own counter to a's agent, in a message: a may use what b gave it.
  BOOST_REQUIRE(b.hv.add_route(*a.hv.actor_id(agent_a), "a", {"call_cap"}));
  BOOST_REQUIRE(a.hv.grant(*a.hv.function_cap(agent_a, "call_cap"), "b"));
  BOOST_REQUIRE(b.hv.call(*b.hv.lookup(*a.hv.actor_id(agent_a), "call_cap"), *b.hv.function_cap(counter_b, "add"), 7));
  settle();
  BOOST_TEST(total(b, counter_b_id) == 7);
  // On a, the remote capability is narrowed and passed to another actor, which uses it.
  cap_handle add = counter_b_on_a();
  BOOST_REQUIRE(a.hv.call(*a.hv.function_cap(agent_a, "pass_narrowed"), add,
                          static_cast<std::int64_t>(rights::call | rights::transfer), *a.hv.function_cap(agent2_a, "call_cap")));
  settle();
  BOOST_TEST(total(b, counter_b_id) == 8);
  BOOST_TEST(a.refused.empty());
  BOOST_TEST(b.refused.empty());
}

BOOST_AUTO_TEST_CASE(a_node_cannot_mint_a_capability_it_was_never_given) {
  a.hv.run();
  // The attack: a knows the id of b's counter (ids are not secret) and forges a route and a
  // capability to it, which b never gave. a's kernel lets its host do that (the host is the
  // root of authority on its node), so the message leaves a, and b refuses it.
  BOOST_REQUIRE(a.hv.add_route(counter_b_id, "b", {"add", "get"}));
  BOOST_REQUIRE(a.hv.call(*a.hv.lookup(counter_b_id, "add"), 100));
  settle();
  BOOST_TEST(total(b, counter_b_id) == 0);
  BOOST_REQUIRE(b.refused.size() == 1u);
  BOOST_TEST((b.refused[0].code == errc::bad_capability));
  BOOST_TEST(b.refused[0].message.find("never gave it") != std::string::npos);
  // a's host (the origin) hears of the refusal: the report came back across.
  BOOST_REQUIRE(a.box.host_failures.size() == 1u);
  BOOST_TEST((a.box.host_failures[0].actor == counter_b_id));
  BOOST_TEST(a.box.host_failures[0].function == "add");

  // The same in a message body made by hand: the call is to a function b gave, but a
  // capability it carries names b's counter, which b never gave a.
  BOOST_REQUIRE(b.hv.grant(child_b, "a"));
  BOOST_REQUIRE(a.hv.add_route(child_b_id, "b", {"hello", "greet"}));
  BOOST_REQUIRE(a.hv.call(*a.hv.lookup(child_b_id, "hello"), *a.hv.function_cap(parent_a, "on_reply")));
  a.hv.run();
  BOOST_REQUIRE(a.box.out.size() == 1u);
  value forged = a.box.out.front().body;
  a.box.out.clear();
  auto& m = *forged.if_map();
  for (auto& [k, v] : m)
    if (k == "reply")
      v = value::make_map({{"actor", to_value(counter_b_id)}, {"function", std::int64_t{0}}, {"kind", "function"},
                           {"names", value::list{}}, {"node", "b"}, {"rights", std::int64_t{7}}});
  auto r = b.hv.take_remote("a", forged);
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::bad_capability));
  settle();
  BOOST_TEST(total(b, counter_b_id) == 0);
  // An honest message after it still goes through.
  BOOST_REQUIRE(b.hv.grant(counter_b, "a"));
  BOOST_REQUIRE(a.hv.call(*a.hv.lookup(counter_b_id, "add"), 3));
  settle();
  BOOST_TEST(total(b, counter_b_id) == 3);
}

BOOST_AUTO_TEST_CASE(a_failure_over_there_is_reported_back_to_the_origin) {
  cap_handle add = counter_b_on_a();
  // add() of a string: the counter's handler refuses it on b; a's agent, which sent it, hears.
  BOOST_REQUIRE(a.hv.call(*a.hv.function_cap(agent_a, "call_cap"), add, 1));  // fine
  BOOST_REQUIRE(a.hv.call(*a.hv.function_cap(agent_a, "send_twice_then_fail"), add));  // rolled back on a
  settle();
  BOOST_TEST(total(b, counter_b_id) == 1);  // the failed handler's sends never left a
  BOOST_REQUIRE(a.hv.call(add, "not a number"));
  settle();
  // (the first report is the agent's own failure, on a)
  BOOST_REQUIRE(a.box.host_failures.size() == 2u);
  BOOST_TEST(a.box.host_failures[0].function == "send_twice_then_fail");
  BOOST_TEST((a.box.host_failures[1].cause() == errc::type_mismatch));
  BOOST_TEST((a.box.host_failures[1].actor == counter_b_id));
  BOOST_TEST(a.box.host_failures[1].function == "add");
  // A call to a function the actor does not export: refused on b, reported back to a.
  BOOST_REQUIRE(a.hv.add_route(counter_b_id, "b", {"add", "get", "nope"}));  // names already known: unchanged
  auto nope = a.hv.lookup(counter_b_id, "nope");
  BOOST_TEST(!nope);
}

BOOST_AUTO_TEST_CASE(a_third_nodes_capability_leaves_with_a_hand_off_and_egresses_do_not_leave) {
  // a holds a capability to c's counter and passes it to b: a sends c a hand-off notice first
  // (c notes that b holds it), and the description b gets names that notice.
  BOOST_REQUIRE(c.hv.grant(counter_c, "a"));
  BOOST_REQUIRE(a.hv.add_route(counter_c_id, "c", {"add", "get"}));
  cap_handle add_c = *a.hv.lookup(counter_c_id, "add");
  BOOST_REQUIRE(b.hv.grant(child_b, "a"));
  BOOST_REQUIRE(a.hv.add_route(child_b_id, "b", {"hello", "greet"}));
  cap_handle hello = *a.hv.lookup(child_b_id, "hello");
  BOOST_REQUIRE(a.hv.call(*a.hv.function_cap(agent_a, "pass"), add_c, hello));
  a.hv.run();
  BOOST_REQUIRE(a.box.out.size() == 2u);
  BOOST_TEST(a.box.out[0].to == "c");  // the notice, before the message that needs it
  BOOST_REQUIRE(a.box.out[0].body.find("handoff"));
  BOOST_TEST(*a.box.out[0].body.find("handoff")->find("to")->if_string() == "b");
  BOOST_TEST(a.box.out[1].to == "b");
  const value* d = a.box.out[1].body.find("caps")->if_list()->data();
  BOOST_TEST(*d->find("node")->if_string() == "c");
  BOOST_TEST(*d->find("handoff")->find("node")->if_string() == "a");
  // b's child calls it back with its greeting: the call goes straight to c, which takes it
  // as b's (the counter refuses a string, and says so to b's child's origin on a).
  settle();
  BOOST_TEST(c.refused.empty());
  BOOST_TEST(b.refused.empty());
  const agent* ag = a.hv.state_of<agent>(*a.hv.actor_id(agent_a));
  BOOST_REQUIRE(ag->failures.size() == 1u);
  BOOST_TEST(ag->failures[0].message.find("never gave it") == std::string::npos, ag->failures[0].message);
  BOOST_TEST(ag->failures[0].code == static_cast<std::int64_t>(errc::type_mismatch), ag->failures[0].message);
  // An egress names its node's host: it does not leave either.
  cap_handle out = a.hv.create_egress("out", [](egress_message&) {});
  BOOST_REQUIRE(a.hv.call(*a.hv.function_cap(agent_a, "pass"), out, hello));
  settle();
  BOOST_REQUIRE(ag->failures.size() == 2u);
  BOOST_TEST(ag->failures[1].message.find("egress") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(routes_that_cannot_be_are_refused) {
  BOOST_TEST(!a.hv.add_route(*a.hv.actor_id(agent_a), "b"));  // lives here
  BOOST_TEST(!a.hv.add_route(counter_b_id, "a"));              // this node itself
  BOOST_TEST(!a.hv.add_route(counter_b_id, "no such/node"));   // not a node name
  BOOST_REQUIRE(a.hv.add_route(counter_b_id, "b"));
  BOOST_TEST(!a.hv.add_route(counter_b_id, "c"));  // already on b
  hypervisor<> single;                              // not a node of a cluster
  BOOST_TEST(!single.add_route(counter_b_id, "b"));
  BOOST_TEST(!single.take_remote("b", value::make_map({})));
}

BOOST_AUTO_TEST_CASE(malformed_bodies_are_refused_and_the_node_goes_on) {
  cap_handle add = counter_b_on_a();
  BOOST_REQUIRE(a.hv.call(add, 2));
  a.hv.run();
  BOOST_REQUIRE(a.box.out.size() == 1u);
  const value good = a.box.out.front().body;
  a.box.out.clear();
  auto with = [&](std::string_view key, value v) {
    value x = good;
    for (auto& [k, e] : *x.if_map())
      if (k == key) e = v;
    return x;
  };
  const std::vector<value> bad = {
      value(std::int64_t{1}),
      value::make_map({}),
      with("to", value(bytes(5, 1))),
      with("function", value(std::int64_t{-7})),
      with("function", value(std::int64_t{9})),  // counter exports 2 functions
      with("sender", value("x")),
      with("sender", to_value(counter_b_id)),  // b's own actor, claimed by a
      with("budget", value(std::int64_t{-1})),
      with("seq", value(std::int64_t{-1})),  // (found by the random bodies below: a failure report cannot name it)
      with("ticks", value(std::int64_t{-5})),
      with("caps", value::list{value("not a description")}),
      with("args", value::list{value(cap_handle{3})}),  // names a cap not carried
      with("to", to_value(*a.hv.actor_id(agent_a))),    // not an actor of b
  };
  for (const value& v : bad) {
    auto r = b.hv.take_remote("a", v);
    BOOST_TEST(!r, "accepted: " << to_string(v));
  }
  BOOST_TEST(!b.hv.take_remote("b", good));     // from itself
  BOOST_TEST(!b.hv.take_remote("a b", good));   // not a node name
  settle();
  BOOST_TEST(total(b, counter_b_id) == 0);
  BOOST_REQUIRE(b.hv.take_remote("a", good));
  settle();
  BOOST_TEST(total(b, counter_b_id) == 2);
}

BOOST_AUTO_TEST_CASE(bodies_mutated_at_random_are_refused_or_taken_and_the_node_goes_on) {
  // 3000 bodies made from a valid one by replacing, removing or adding fields, at any depth
  // of the capability descriptions too, with values of every kind (a fixed seed: the same
  // bodies every run). Each is refused with an error or taken; none crashes the node or
  // breaks what it holds (ASan and UBSan watch).
  cap_handle add = counter_b_on_a();
  BOOST_REQUIRE(b.hv.grant(*b.hv.function_cap(counter_b, "get"), "a"));
  BOOST_REQUIRE(a.hv.call(*a.hv.function_cap(agent_a, "pass"), add, *a.hv.lookup(counter_b_id, "add")));
  a.hv.run();
  BOOST_REQUIRE(a.box.out.size() == 1u);
  const value good = a.box.out.front().body;
  a.box.out.clear();
  std::mt19937_64 rng(21);
  auto any_value = [&](auto& self, int depth) -> value {
    switch (rng() % (depth > 0 ? 9 : 7)) {
      case 0: return value{};
      case 1: return value(rng() % 2 == 0);
      case 2: return value(static_cast<std::int64_t>(rng() % 5) - 2);
      case 3: return value(static_cast<std::int64_t>(rng()));
      case 4: return value(bytes(rng() % 2 ? 32 : rng() % 40, static_cast<std::uint8_t>(rng())));
      case 5: return value(std::string(rng() % 3 ? "function" : "b"));
      case 6: return value(cap_handle{static_cast<std::uint32_t>(rng() % 4)});
      case 7: return value(value::list{self(self, depth - 1), self(self, depth - 1)});
      default: return value::make_map({{"kind", self(self, depth - 1)}, {"actor", self(self, depth - 1)}});
    }
  };
  auto mutate = [&](auto& self, value& v, int depth) -> void {
    if (auto* m = v.if_map(); m && !m->empty()) {
      const std::size_t i = rng() % m->size();
      const auto what = rng() % 5;
      if (what == 0) {
        m->erase(m->begin() + static_cast<std::ptrdiff_t>(i));
        return;
      }
      if (what == 1) {
        m->emplace_back("extra", any_value(any_value, 2));
        return;
      }
      value& e = (*m)[i].second;
      if (what == 2 && depth > 0) self(self, e, depth - 1);
      else e = any_value(any_value, 2);
      return;
    }
    if (auto* l = v.if_list(); l && !l->empty() && depth > 0) return self(self, (*l)[rng() % l->size()], depth - 1);
    v = any_value(any_value, 2);
  };
  std::size_t taken = 0;
  for (int i = 0; i < 3000; ++i) {
    value body = good;
    for (int n = 1 + static_cast<int>(rng() % 3); n > 0; --n) mutate(mutate, body, 3);
    if (b.hv.take_remote("a", body)) ++taken;
    b.hv.run();
  }
  BOOST_TEST_MESSAGE(taken << " of 3000 mutated bodies were taken");
  a.box.out.clear();
  b.box.out.clear();
  const std::int64_t before = total(b, counter_b_id);
  BOOST_REQUIRE(a.hv.call(add, 2));
  settle();
  BOOST_TEST(total(b, counter_b_id) == before + 2);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(remote_the_same_traffic_gives_the_same_roots_under_every_policy) {
  auto run = []<class Scheduler>(Scheduler*) {
    basic_cluster<Scheduler> cl;
    cap_handle add = cl.counter_b_on_a();
    for (std::int64_t i = 0; i < 20; ++i) BOOST_REQUIRE(cl.a.hv.call(add, i));
    BOOST_REQUIRE(cl.b.hv.grant(cl.child_b, "a"));
    BOOST_REQUIRE(cl.a.hv.add_route(cl.child_b_id, "b", {"hello", "greet"}));
    BOOST_REQUIRE(cl.a.hv.call(*cl.a.hv.lookup(cl.child_b_id, "hello"), *cl.a.hv.function_cap(cl.parent_a, "on_reply")));
    // Local work beside the remote: a's agents pass the remote capability between them.
    BOOST_REQUIRE(cl.a.hv.call(*cl.a.hv.function_cap(cl.agent_a, "pass_narrowed"), add,
                               static_cast<std::int64_t>(rights::call | rights::transfer),
                               *cl.a.hv.function_cap(cl.agent2_a, "call_cap")));
    cl.settle();
    BOOST_TEST(cl.total(cl.b, cl.counter_b_id) == 191);
    return std::pair{*cl.a.hv.state_root(), *cl.b.hv.state_root()};
  };
  auto one = run(static_cast<ordered_scheduler*>(nullptr)), two = run(static_cast<ordered_scheduler*>(nullptr));
  auto par = run(static_cast<parallel_scheduler<2>*>(nullptr));
  BOOST_TEST((one.first == two.first));
  BOOST_TEST((one.second == two.second));
  BOOST_TEST((one.first == par.first));
  BOOST_TEST((one.second == par.second));
}
