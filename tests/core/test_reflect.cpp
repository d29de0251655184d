#include <boost/test/unit_test.hpp>

#include <exo/core/encoding.hpp>
#include <exo/core/reflect.hpp>

using namespace exo;

namespace {
struct inner {
  BOOST_HANA_DEFINE_STRUCT(inner, (std::string, label), (std::vector<std::int64_t>, values));
};
struct transfer {
  BOOST_HANA_DEFINE_STRUCT(transfer, (std::int64_t, amount), (cap_handle, to), (std::optional<std::string>, memo),
                           (inner, details), (std::uint8_t, priority), (double, rate), (bool, urgent));
};
}  // namespace

BOOST_AUTO_TEST_SUITE(reflection)

BOOST_AUTO_TEST_CASE(struct_round_trips_through_a_map) {
  transfer t{25, cap_handle{4}, std::string("rent"), inner{"x", {1, 2, 3}}, 9, 0.5, true};
  value v = to_value(t);
  BOOST_REQUIRE(v.if_map());
  BOOST_TEST(*v.find("amount")->if_i64() == 25);
  BOOST_TEST(v.find("details")->find("label")->if_string()->c_str() == std::string("x"));
  // and survives the wire
  auto back = from_value<transfer>(*decode(encode(v)));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->amount == 25);
  BOOST_TEST(back->to.index == 4u);
  BOOST_TEST(*back->memo == "rent");
  BOOST_TEST(back->details.values.size() == 3u);
  BOOST_TEST(back->priority == 9);
  BOOST_TEST(back->urgent);
}

BOOST_AUTO_TEST_CASE(optional_fields_may_be_absent_or_null) {
  value v = to_value(transfer{1, {}, std::nullopt, {}, 0, 0, false});
  BOOST_TEST(v.find("memo")->is_null());
  auto m = *v.if_map();
  m.erase(std::find_if(m.begin(), m.end(), [](auto& e) { return e.first == "memo"; }));
  auto back = from_value<transfer>(value{m});
  BOOST_REQUIRE(back);
  BOOST_TEST(!back->memo);
}

BOOST_AUTO_TEST_CASE(mismatches_name_the_field) {
  value v = to_value(transfer{1, {}, {}, {}, 0, 0, false});
  auto m = *v.if_map();
  for (auto& [k, e] : m)
    if (k == "details") e = value::make_map({{"label", 5}, {"values", value::list{}}});
  auto r = from_value<transfer>(value{m});
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::type_mismatch));
  BOOST_TEST(r.error().message.find("field 'details': field 'label': expected string, got i64") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(missing_and_unknown_fields_are_errors) {
  auto missing = from_value<inner>(value::make_map({{"label", "x"}}));
  BOOST_REQUIRE(!missing);
  BOOST_TEST(missing.error().message.find("missing field 'values'") != std::string::npos);
  auto extra = from_value<inner>(value::make_map({{"label", "x"}, {"values", value::list{}}, {"zzz", 1}}));
  BOOST_REQUIRE(!extra);
  BOOST_TEST(extra.error().message.find("unknown field") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(narrow_integers_are_range_checked) {
  auto r = from_value<std::uint8_t>(value{300});
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message.find("out of range") != std::string::npos);
  BOOST_TEST(*from_value<std::uint8_t>(value{255}) == 255);
  BOOST_TEST(!from_value<std::uint32_t>(value{-1}));
}

BOOST_AUTO_TEST_CASE(list_elements_are_named_by_index) {
  auto r = from_value<std::vector<std::int64_t>>(value{value::list{1, "two"}}, "argument 1: ");
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message.find("argument 1: [1]: expected i64") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(ids_travel_as_32_bytes) {
  id i;
  i.bytes[5] = 9;
  value v = to_value(i);
  BOOST_TEST(v.if_bytes()->size() == 32u);
  BOOST_TEST((*from_value<id>(v) == i));
  BOOST_TEST(!from_value<id>(value{bytes(3)}));
}

BOOST_AUTO_TEST_SUITE_END()
