#include <boost/test/unit_test.hpp>

#include <exo/port/cap_table.hpp>

using namespace exo;

namespace {
capability fn_cap(std::uint32_t actor, rights r = rights::all) {
  return capability{cap_kind::function, r, actor, 0};
}
}  // namespace

BOOST_AUTO_TEST_SUITE(capability_tables)

BOOST_AUTO_TEST_CASE(insert_then_lookup) {
  cap_table t;
  auto h = t.insert(fn_cap(5));
  BOOST_REQUIRE(h);
  auto c = t.lookup(*h);
  BOOST_REQUIRE(c);
  BOOST_TEST(c->target == 5u);
  BOOST_TEST(t.size() == 1u);
}

BOOST_AUTO_TEST_CASE(unknown_handle_is_bad_capability) {
  cap_table t;
  auto r = t.lookup(cap_handle{7});
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::bad_capability));
  BOOST_TEST(r.error().message.find("#7") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(dropped_handle_is_stale_even_after_slot_reuse) {
  cap_table t;
  auto h = *t.insert(fn_cap(1));
  BOOST_REQUIRE(t.drop(h));
  auto h2 = *t.insert(fn_cap(2));  // reuses the slot with a new generation
  BOOST_TEST(h.index != h2.index);
  auto r = t.lookup(h);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message.find("stale") != std::string::npos);
  BOOST_TEST(t.lookup(h2)->target == 2u);
  BOOST_TEST(!t.drop(h));  // double drop is refused
}

BOOST_AUTO_TEST_CASE(forged_generation_is_refused) {
  cap_table t;
  auto h = *t.insert(fn_cap(1));
  cap_handle forged{h.index + (1u << cap_index_bits)};
  BOOST_TEST(!t.lookup(forged));
}

BOOST_AUTO_TEST_CASE(callable_checks_kind_and_right) {
  cap_table t;
  auto actor = *t.insert(capability{cap_kind::actor, rights::all, 1, 0});
  auto no_call = *t.insert(fn_cap(1, rights::transfer));
  auto ok = *t.insert(fn_cap(1, rights::call));
  BOOST_TEST((t.callable(actor).error().code == errc::wrong_kind));
  BOOST_TEST((t.callable(no_call).error().code == errc::missing_right));
  BOOST_TEST(bool(t.callable(ok)));
  BOOST_TEST((t.transferable(ok).error().code == errc::missing_right));
  BOOST_TEST(bool(t.transferable(no_call)));
}

BOOST_AUTO_TEST_CASE(derive_only_narrows) {
  capability full = fn_cap(1, rights::call | rights::derive);
  auto d = derive(full, rights::all);  // asking for more gets no more
  BOOST_REQUIRE(d);
  BOOST_TEST((d->rights == (rights::call | rights::derive)));
  auto narrow = derive(*d, rights::call);
  BOOST_TEST((narrow->rights == rights::call));
  auto again = derive(*narrow, rights::all);
  BOOST_REQUIRE(!again);  // lost the derive right
  BOOST_TEST((again.error().code == errc::missing_right));
}

BOOST_AUTO_TEST_CASE(function_caps_derive_only_from_actor_caps) {
  capability actor{cap_kind::actor, rights::all, 3, 0};
  auto f = derive_function(actor, 2, rights::call);
  BOOST_REQUIRE(f);
  BOOST_TEST((f->kind == cap_kind::function));
  BOOST_TEST(f->function == 2u);
  BOOST_TEST((f->rights == rights::call));
  BOOST_TEST((derive_function(*f, 1, rights::all).error().code == errc::wrong_kind));
}

BOOST_AUTO_TEST_CASE(rollback_undoes_inserts_and_drops) {
  cap_table t;
  auto keep = *t.insert(fn_cap(1));
  auto gone = *t.insert(fn_cap(2));
  cap_journal j;
  j.active = true;
  auto added = *t.insert(fn_cap(3), &j);
  BOOST_REQUIRE(t.drop(keep, &j));
  auto reused = *t.insert(fn_cap(4), &j);  // reuses keep's slot
  BOOST_REQUIRE(t.drop(gone, &j));
  BOOST_TEST(t.size() == 2u);
  t.rollback(j);
  BOOST_TEST(t.size() == 2u);
  BOOST_TEST(t.lookup(keep)->target == 1u);
  BOOST_TEST(t.lookup(gone)->target == 2u);
  BOOST_TEST(!t.lookup(added));
  BOOST_TEST(!t.lookup(reused));
  // and the table works normally afterwards
  auto h = *t.insert(fn_cap(9));
  BOOST_TEST(t.lookup(h)->target == 9u);
  BOOST_TEST(t.size() == 3u);
}

BOOST_AUTO_TEST_CASE(inactive_journal_records_nothing) {
  cap_table t;
  cap_journal j;
  auto h = *t.insert(fn_cap(1), &j);
  BOOST_TEST(j.entries.empty());
  t.rollback(j);
  BOOST_TEST(bool(t.lookup(h)));
}

BOOST_AUTO_TEST_CASE(for_each_visits_live_caps) {
  cap_table t;
  auto a = *t.insert(fn_cap(1));
  auto b = *t.insert(fn_cap(2));
  (void)t.drop(a);
  int n = 0;
  t.for_each([&](cap_handle h, const capability& c) {
    ++n;
    BOOST_TEST(h.index == b.index);
    BOOST_TEST(c.target == 2u);
  });
  BOOST_TEST(n == 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(capability_table_generations)

BOOST_AUTO_TEST_CASE(a_slot_is_retired_before_its_generation_wraps) {
  // 4096 drop/insert cycles on one slot would bring the first handle's generation back;
  // the slot is retired instead, so the old handle stays refused.
  cap_table t;
  cap_handle first = *t.insert(fn_cap(1));
  cap_handle h = first;
  for (int i = 0; i < 5000; ++i) {
    BOOST_REQUIRE(t.drop(h));
    h = *t.insert(fn_cap(static_cast<std::uint32_t>(i)));
    BOOST_REQUIRE(!(h.index == first.index));
  }
  BOOST_TEST(!t.lookup(first));
  BOOST_TEST(t.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
