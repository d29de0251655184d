#include <boost/test/unit_test.hpp>

#include <exo/core/value.hpp>

using namespace exo;

BOOST_AUTO_TEST_SUITE(value_model)

BOOST_AUTO_TEST_CASE(kinds_of_each_alternative) {
  BOOST_TEST((value{}.type() == kind::null));
  BOOST_TEST((value{true}.type() == kind::boolean));
  BOOST_TEST((value{42}.type() == kind::i64));
  BOOST_TEST((value{std::uint8_t{7}}.type() == kind::i64));
  BOOST_TEST((value{1.5}.type() == kind::f64));
  BOOST_TEST((value{bytes{1, 2}}.type() == kind::bytes));
  BOOST_TEST((value{"hi"}.type() == kind::string));
  BOOST_TEST((value{value::list{1, 2}}.type() == kind::list));
  BOOST_TEST((value::make_map({{"a", 1}}).type() == kind::map));
  BOOST_TEST((value{cap_handle{3}}.type() == kind::cap));
}

BOOST_AUTO_TEST_CASE(typed_access_returns_null_for_other_kinds) {
  value v{42};
  BOOST_REQUIRE(v.if_i64());
  BOOST_TEST(*v.if_i64() == 42);
  BOOST_TEST(!v.if_string());
  BOOST_TEST(!v.if_f64());
}

BOOST_AUTO_TEST_CASE(maps_are_sorted_and_searchable) {
  value m = value::make_map({{"zeta", 1}, {"alpha", 2}, {"mid", 3}});
  auto& entries = *m.if_map();
  BOOST_TEST(entries[0].first == "alpha");
  BOOST_TEST(entries[2].first == "zeta");
  BOOST_REQUIRE(m.find("mid"));
  BOOST_TEST(*m.find("mid")->if_i64() == 3);
  BOOST_TEST(!m.find("nope"));
}

BOOST_AUTO_TEST_CASE(duplicate_map_keys_are_a_bug) {
  BOOST_CHECK_THROW(value::make_map({{"a", 1}, {"a", 2}}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(unsigned_above_i64_is_refused) {
  BOOST_CHECK_THROW(value{std::uint64_t{1} << 63}, std::out_of_range);
  BOOST_TEST(*value{std::uint64_t{5}}.if_i64() == 5);
}

BOOST_AUTO_TEST_CASE(equality_is_structural) {
  BOOST_TEST((value{value::list{1, "x"}} == value{value::list{1, "x"}}));
  BOOST_TEST(!(value{1} == value{1.0}));
  BOOST_TEST(!(value{"1"} == value{1}));
}

BOOST_AUTO_TEST_CASE(rendering_for_people) {
  value v = value::make_map({{"n", 1}, {"s", "a\"b"}, {"l", value::list{true, value{}, cap_handle{2}}}});
  BOOST_TEST(to_string(v) == R"({"l": [true, null, #2], "n": 1, "s": "a\"b"})");
  BOOST_TEST(to_string(value{bytes{0xab, 0x01}}) == "0xab01");
}

BOOST_AUTO_TEST_SUITE_END()
