#include <boost/test/unit_test.hpp>

#include <exo/core/encoding.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <utility>

using namespace exo;

namespace {
value sample() {
  return value::list{value{}, true, false, std::int64_t{-1}, std::numeric_limits<std::int64_t>::max(),
                     3.25, -0.0, bytes{0, 255, 7}, "héllo", value::list{}, value::make_map({}),
                     value::make_map({{"b", value::list{1, 2}}, {"a", cap_handle{9}}})};
}
value random_value(std::mt19937_64& rng, int depth) {
  switch (rng() % (depth > 3 ? 7 : 9)) {
    case 0: return value{};
    case 1: return value{rng() % 2 == 0};
    case 2: return value{static_cast<std::int64_t>(rng())};
    case 3: return value{static_cast<double>(rng() % 1000) / 7.0};
    case 4: { bytes b(rng() % 40); for (auto& x : b) x = static_cast<std::uint8_t>(rng()); return value{b}; }
    case 5: return value{std::string(rng() % 20, static_cast<char>('a' + rng() % 26))};
    case 6: return value{cap_handle{static_cast<std::uint32_t>(rng())}};
    case 7: { value::list l; for (auto n = rng() % 5; n--;) l.push_back(random_value(rng, depth + 1)); return value{l}; }
    default: {
      value::map m;
      for (auto n = rng() % 5; n--;) m.emplace_back("k" + std::to_string(rng() % 1000), random_value(rng, depth + 1));
      std::sort(m.begin(), m.end(), [](auto& a, auto& b) { return a.first < b.first; });
      m.erase(std::unique(m.begin(), m.end(), [](auto& a, auto& b) { return a.first == b.first; }), m.end());
      return value{m};
    }
  }
}
}  // namespace

BOOST_AUTO_TEST_SUITE(canonical_encoding)

BOOST_AUTO_TEST_CASE(round_trip_every_kind) {
  value v = sample();
  auto b = encode(v);
  auto back = decode(b);
  BOOST_REQUIRE(back);
  BOOST_TEST((*back == v));
  BOOST_TEST((encode(*back) == b));
}

BOOST_AUTO_TEST_CASE(known_bytes) {
  // The format is persisted and hashed: pin it.
  BOOST_TEST((encode(value{}) == bytes{0x00}));
  BOOST_TEST((encode(value{true}) == bytes{0x01, 0x01}));
  BOOST_TEST((encode(value{1}) == bytes{0x03, 1, 0, 0, 0, 0, 0, 0, 0}));
  BOOST_TEST((encode(value{"ab"}) == bytes{0x06, 2, 'a', 'b'}));
  BOOST_TEST((encode(value{value::list{value{}}}) == bytes{0x07, 1, 0x00}));
  BOOST_TEST((encode(value::make_map({{"b", value{}}, {"a", value{}}})) == bytes{0x08, 2, 1, 'a', 0, 1, 'b', 0}));
  BOOST_TEST((encode(value{cap_handle{0x01020304}}) == bytes{0x09, 4, 3, 2, 1}));
}

BOOST_AUTO_TEST_CASE(same_value_same_bytes_whatever_the_construction_order) {
  value a = value::make_map({{"x", 1}, {"y", 2}, {"z", 3}});
  value b = value::make_map({{"z", 3}, {"x", 1}, {"y", 2}});
  BOOST_TEST((encode(a) == encode(b)));
}

// The in-place writer of scalars (which encode() uses too) writes the pinned bytes, NaN
// canonical included, and leaves other kinds alone.
BOOST_AUTO_TEST_CASE(scalars_written_in_place_are_their_canonical_encoding) {
  const std::uint8_t ff = 0xff;
  const std::pair<value, bytes> cases[] = {
      {value{}, {0x00}},
      {value{true}, {0x01, 0x01}},
      {value{false}, {0x01, 0x00}},
      {value{std::int64_t{-1}}, {0x03, ff, ff, ff, ff, ff, ff, ff, ff}},
      {value{std::numeric_limits<std::int64_t>::min()}, {0x03, 0, 0, 0, 0, 0, 0, 0, 0x80}},
      {value{3.25}, {0x04, 0, 0, 0, 0, 0, 0, 0x0a, 0x40}},
      {value{-0.0}, {0x04, 0, 0, 0, 0, 0, 0, 0, 0x80}},
      {value{std::numeric_limits<double>::quiet_NaN()}, {0x04, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f}},
      {value{-std::numeric_limits<double>::quiet_NaN()}, {0x04, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f}},
      {value{cap_handle{0xdeadbeef}}, {0x09, 0xef, 0xbe, 0xad, 0xde}},
  };
  for (const auto& [v, want] : cases) {
    std::uint8_t buf[max_scalar_encoding + 1];
    buf[max_scalar_encoding] = 0xa5;  // a guard: nothing is written past the room promised
    std::uint8_t* end = encode_scalar(v, buf);
    BOOST_REQUIRE(end != nullptr);
    BOOST_TEST((bytes(buf, end) == want));
    BOOST_TEST((encode(v) == want));
    BOOST_TEST(buf[max_scalar_encoding] == 0xa5);
  }
  for (const value& v : {value{bytes{1}}, value{"s"}, value{value::list{}}, value::make_map({})}) {
    std::uint8_t buf[max_scalar_encoding] = {0x5a};
    BOOST_TEST(encode_scalar(v, buf) == nullptr);
    BOOST_TEST(buf[0] == 0x5a);
  }
}

// decode_scalar reads back what encode_scalar writes (with bytes after it left alone), and
// takes nothing from another kind, a cut scalar or bytes that are not canonical (a reader
// says what is wrong with those), leaving its output as it was.
BOOST_AUTO_TEST_CASE(decode_scalar_is_encode_scalar_s_inverse) {
  for (const value& v : {value{}, value{true}, value{false}, value{std::int64_t{-1}},
                         value{std::numeric_limits<std::int64_t>::min()}, value{3.25}, value{-0.0},
                         value{std::numeric_limits<double>::quiet_NaN()}, value{cap_handle{0xdeadbeef}}}) {
    bytes b = encode(v);
    const std::size_t n = b.size();
    b.push_back(0x03);  // the start of the next item
    value out{"unchanged"};
    BOOST_TEST(decode_scalar(byte_view(b), out) == n);
    BOOST_TEST((encode(out) == encode(v)));
  }
  const bytes refused[] = {
      {},                                        // nothing
      {0x01, 0x02},                              // a bool byte that is not 0 or 1
      {0x01},                                    // a cut bool
      {0x03, 1, 2, 3, 4, 5, 6, 7},               // a cut i64
      {0x04, 1, 0, 0, 0, 0, 0, 0xf8, 0x7f},      // a NaN that is not the canonical one
      {0x09, 1, 2, 3},                           // a cut cap
      {0x05, 0x01, 0x07},                        // bytes
      {0x06, 0x00},                              // a string
      {0x07, 0x00},                              // a list
      {0x08, 0x00},                              // a map
      {0x42},                                    // no kind at all
  };
  for (const bytes& b : refused) {
    value out{"unchanged"};
    BOOST_TEST(decode_scalar(byte_view(b), out) == 0u);
    BOOST_TEST((out == value{"unchanged"}));
  }
}

BOOST_AUTO_TEST_CASE(nan_is_canonical) {
  double n1 = std::numeric_limits<double>::quiet_NaN();
  double n2 = -std::numeric_limits<double>::quiet_NaN();
  BOOST_TEST((encode(value{n1}) == encode(value{n2})));
  bytes odd = {0x04, 1, 0, 0, 0, 0, 0, 0xf8, 0x7f};  // a NaN with a payload
  auto r = decode(odd);
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::malformed));
}

BOOST_AUTO_TEST_CASE(random_values_round_trip) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    value v = random_value(rng, 0);
    auto b = encode(v);
    auto back = decode(b);
    BOOST_REQUIRE(back);
    BOOST_REQUIRE((encode(*back) == b));
  }
}

BOOST_AUTO_TEST_CASE(every_truncation_is_rejected) {
  auto b = encode(sample());
  for (std::size_t n = 0; n < b.size(); ++n) {
    auto r = decode(byte_view(b.data(), n));
    BOOST_REQUIRE_MESSAGE(!r, "prefix of " << n << " bytes was accepted");
    BOOST_TEST((r.error().code == errc::malformed));
  }
}

BOOST_AUTO_TEST_CASE(non_canonical_forms_are_rejected) {
  auto expect_bad = [](bytes b, std::string_view needle) {
    auto r = decode(b);
    BOOST_REQUIRE(!r);
    BOOST_TEST_INFO(r.error().message);
    BOOST_TEST(r.error().message.find(needle) != std::string::npos);
  };
  expect_bad({0x01, 0x02}, "bool byte");
  expect_bad({0x06, 0x81, 0x00}, "shortest form");                     // varint padded
  expect_bad({0x08, 2, 1, 'b', 0, 1, 'a', 0}, "not above");              // unsorted keys
  expect_bad({0x08, 2, 1, 'a', 0, 1, 'a', 0}, "not above");              // duplicate keys
  expect_bad({0x0a}, "unknown tag");
  expect_bad({0x00, 0x00}, "follow the value");                          // trailing bytes
  expect_bad({0x05, 0xff, 0xff, 0xff, 0xff, 0x0f}, "exceeds");           // length past the end
}

BOOST_AUTO_TEST_CASE(huge_counts_do_not_allocate) {
  // A list claiming 2^62 items in 10 bytes must fail fast, not try to reserve memory.
  bytes b = {0x07, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40};
  auto r = decode(b);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message.find("cannot fit") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(varint_overflow_is_rejected) {
  bytes b = {0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
  auto r = decode(b);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message.find("overflows") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(nesting_is_bounded) {
  bytes deep;
  for (int i = 0; i < 100; ++i) { deep.push_back(0x07); deep.push_back(1); }
  deep.push_back(0x00);
  auto r = decode(deep);
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::limit_exceeded));
  BOOST_TEST(bool(decode(deep, decode_limits{.max_depth = 200})));
}

BOOST_AUTO_TEST_CASE(size_is_bounded) {
  auto b = encode(value{bytes(100, 1)});
  auto r = decode(b, decode_limits{.max_size = 50});
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::limit_exceeded));
}

BOOST_AUTO_TEST_CASE(random_garbage_never_crashes) {
  std::mt19937_64 rng(11);
  auto valid = encode(sample());
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    bytes b = valid;
    for (int k = 0; k < 3; ++k) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
    if (auto r = decode(b)) {
      ++accepted;
      BOOST_REQUIRE((encode(*r) == b));  // whatever is accepted is canonical
    }
  }
  for (int i = 0; i < 20000; ++i) {
    bytes b(rng() % 64);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    if (auto r = decode(b)) BOOST_REQUIRE((encode(*r) == b));
  }
  BOOST_TEST_MESSAGE(accepted << " mutated encodings were still valid values");
}

BOOST_AUTO_TEST_SUITE_END()
