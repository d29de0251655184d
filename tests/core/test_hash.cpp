#include <boost/test/unit_test.hpp>

#include <exo/core/bytes.hpp>
#include <exo/core/hash.hpp>
#include <exo/core/id.hpp>

using namespace exo;

BOOST_AUTO_TEST_SUITE(hashing_and_ids)

BOOST_AUTO_TEST_CASE(sha256_known_answers) {
  BOOST_TEST(to_hex(hash("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  BOOST_TEST(to_hex(hash("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

BOOST_AUTO_TEST_CASE(incremental_equals_one_shot_and_resets) {
  sha256 h;
  h.update("ab").update("c");
  BOOST_TEST((h.finish() == hash("abc")));
  BOOST_TEST((h.update("abc").finish() == hash("abc")));  // finish() started over
}

BOOST_AUTO_TEST_CASE(hex_round_trip_and_errors) {
  auto d = hash("x");
  auto back = id_from_hex(to_hex(d));
  BOOST_REQUIRE(back);
  BOOST_TEST((*back == d));
  BOOST_TEST(short_hex(d).size() == 8u);
  BOOST_TEST(!id_from_hex("abc"));
  BOOST_TEST(!id_from_hex(std::string(64, 'g')));
  BOOST_TEST((from_hex("0g").error().code == errc::malformed));
  BOOST_TEST(!from_hex("abc"));
  BOOST_TEST(!id_from_bytes(bytes(31)));
}

BOOST_AUTO_TEST_CASE(ids_order_bytewise_and_prefix_agrees) {
  id a, b;
  a.bytes[0] = 1;
  b.bytes[0] = 2;
  BOOST_TEST((a < b));
  BOOST_TEST(a.prefix() < b.prefix());
  id c = a;
  c.bytes[31] = 1;
  BOOST_TEST((a < c));
  BOOST_TEST(a.prefix() == c.prefix());
  id d;  // the first 8 bytes, big-endian, on any host
  for (std::size_t i = 0; i < 8; ++i) d.bytes[i] = static_cast<std::uint8_t>(i + 1);
  d.bytes[8] = 0xff;
  BOOST_TEST(d.prefix() == 0x0102030405060708u);
  d.bytes[7] = 0x09;  // a later byte larger than an earlier one's step: still bytewise
  id e = d;
  e.bytes[6] = 0x08;
  BOOST_TEST((d < e));
  BOOST_TEST(d.prefix() < e.prefix());
  BOOST_TEST(id{}.is_zero());
  BOOST_TEST(!a.is_zero());
}

BOOST_AUTO_TEST_CASE(errors_render_code_and_message) {
  error e{errc::out_of_ticks, "spent 10 of 5"};
  BOOST_TEST(to_string(e) == "out_of_ticks: spent 10 of 5");
  BOOST_TEST(to_string(errc::missing_right) == "missing_right");
  expected<int> bad = fail(errc::malformed, "x");
  BOOST_CHECK_THROW((void)bad.value(), bad_expected_access);
  BOOST_TEST(bad.value_or(3) == 3);
}

BOOST_AUTO_TEST_SUITE_END()
