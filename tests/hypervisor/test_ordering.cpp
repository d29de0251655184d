#include <boost/test/unit_test.hpp>

#include "actors.hpp"

#include <exo/core/encoding.hpp>
#include <exo/core/hash.hpp>

using namespace exo;
using namespace test;

namespace {
struct arrival {
  id sender;
  std::uint64_t ticks;
};
// Records deliveries to one actor.
template <class H>
std::vector<arrival>& watch(H& hv, const id& receiver, std::vector<arrival>& out) {
  hv.on_deliver([&out, receiver](const delivery& d) {
    if (d.receiver == receiver) out.push_back({d.sender, d.ticks});
  });
  return out;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(ordering)

BOOST_AUTO_TEST_CASE(ticks_3_and_7_arrive_in_tick_order_whatever_the_send_order) {
  for (bool seven_first : {true, false}) {
    hypervisor<> hv;
    auto sink = hv.create(counter{});
    auto add = *hv.function_cap(sink, "add");
    auto a = hv.create(burner{}), b = hv.create(burner{});
    std::vector<arrival> got;
    watch(hv, *hv.actor_id(sink), got);
    auto fire_a = *hv.function_cap(a, "fire"), fire_b = *hv.function_cap(b, "fire");
    if (seven_first) {
      BOOST_REQUIRE(hv.call(fire_a, 7, add, 7));
      BOOST_REQUIRE(hv.call(fire_b, 3, add, 3));
    } else {
      BOOST_REQUIRE(hv.call(fire_b, 3, add, 3));
      BOOST_REQUIRE(hv.call(fire_a, 7, add, 7));
    }
    hv.run();
    BOOST_REQUIRE(got.size() == 2u);
    // each burner arrives at tick 1 (0 + its arrival tick) and charges 3 or 7 before sending
    BOOST_TEST(got[0].ticks == 4u);
    BOOST_TEST(got[1].ticks == 8u);
    BOOST_TEST(hv.state_of<counter>(*hv.actor_id(sink))->total == 10);
  }
}

BOOST_AUTO_TEST_CASE(equal_ticks_go_to_the_lower_sender_id) {
  for (bool low_first : {true, false}) {
    hypervisor<> hv;
    auto sink = hv.create(counter{});
    auto add = *hv.function_cap(sink, "add");
    auto x = hv.create(burner{}), y = hv.create(burner{});
    id lo = *hv.actor_id(x), hi = *hv.actor_id(y);
    if (hi < lo) std::swap(x, y), std::swap(lo, hi);
    std::vector<arrival> got;
    watch(hv, *hv.actor_id(sink), got);
    auto first = low_first ? x : y, second = low_first ? y : x;
    BOOST_REQUIRE(hv.call(*hv.function_cap(first, "fire"), 5, add, 1));
    BOOST_REQUIRE(hv.call(*hv.function_cap(second, "fire"), 5, add, 1));
    hv.run();
    BOOST_REQUIRE(got.size() == 2u);
    BOOST_TEST(got[0].ticks == got[1].ticks);
    BOOST_TEST((got[0].sender == lo));
    BOOST_TEST((got[1].sender == hi));
  }
}

BOOST_AUTO_TEST_CASE(clock_is_max_of_own_and_message_plus_cost) {
  hypervisor<> hv;
  auto sink = hv.create(counter{});
  auto add = *hv.function_cap(sink, "add");
  auto b = hv.create(burner{});
  BOOST_REQUIRE(hv.call(*hv.function_cap(b, "fire"), 40, add, 1));
  hv.run();
  // burner: arrives at max(0, 0) + 1 = 1, charges 40 (cost 0) -> clock 41; the send is stamped
  // 41; counter: arrives at max(0, 41) + 1 = 42, then costs 2 -> 44.
  BOOST_TEST(*hv.clock_of(*hv.actor_id(b)) == 41u);
  BOOST_TEST(*hv.clock_of(*hv.actor_id(sink)) == 44u);
  BOOST_TEST(hv.now() == 41u);  // the host's clock: the latest delivery's ticks
}

BOOST_AUTO_TEST_CASE(run_n_delivers_at_most_n) {
  hypervisor<> hv;
  auto add = *hv.function_cap(hv.create(counter{}), "add");
  for (int i = 0; i < 5; ++i) BOOST_REQUIRE(hv.call(add, 1));
  BOOST_TEST(hv.pending() == 5u);
  BOOST_TEST(hv.run(2) == 2u);
  BOOST_TEST(hv.pending() == 3u);
  BOOST_TEST(hv.run() == 3u);
  BOOST_TEST(hv.idle());
  BOOST_TEST(hv.run() == 0u);
}

BOOST_AUTO_TEST_CASE(actor_ids_derive_from_creator_and_nonce) {
  hypervisor<> hv(config{.name = "ids"});
  auto a = hv.create(counter{});
  auto b = hv.create(counter{});
  BOOST_TEST((*hv.actor_id(a) == derive_actor_id(hv.host_id(), 0)));
  BOOST_TEST((*hv.actor_id(b) == derive_actor_id(hv.host_id(), 1)));
  // the id is the hash of the canonical encoding of [creator, nonce]
  value enc = value::list{bytes(hv.host_id().bytes.begin(), hv.host_id().bytes.end()), std::int64_t{1}};
  BOOST_TEST((derive_actor_id(hv.host_id(), 1) == hash(encode(enc))));
  // the same name gives the same ids; another name other ids
  hypervisor<> same(config{.name = "ids"}), other(config{.name = "other"});
  BOOST_TEST((*same.actor_id(same.create(counter{})) == *hv.actor_id(a)));
  BOOST_TEST(!(*other.actor_id(other.create(counter{})) == *hv.actor_id(a)));
}

BOOST_AUTO_TEST_CASE(egress_messages_reach_the_host_in_order) {
  hypervisor<> hv;
  std::vector<std::int64_t> out;
  std::vector<id> senders;
  auto eg = hv.create_egress("out", [&](egress_message& m) {
    BOOST_TEST(m.egress == "out");
    out.push_back(*m.args[0].if_i64());
    senders.push_back(m.sender);
  });
  auto a = hv.create(burner{}), b = hv.create(burner{});
  BOOST_REQUIRE(hv.call(*hv.function_cap(a, "fire"), 9, eg, 9));
  BOOST_REQUIRE(hv.call(*hv.function_cap(b, "fire"), 4, eg, 4));
  hv.run();
  BOOST_TEST((out == std::vector<std::int64_t>{4, 9}));
  BOOST_TEST((senders[0] == *hv.actor_id(b)));
  BOOST_TEST(hv.stats().egress == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
