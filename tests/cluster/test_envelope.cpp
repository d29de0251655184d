// Signed envelopes of the messages between nodes (exo/call_log/envelope.hpp): one opens to what
// was sealed; moved to another stream or index, signed by another key, or changed in any
// byte, it does not; bad bytes of every kind are clear errors.

#include "../support/print.hpp"

#include <exo/call_log/envelope.hpp>
#include <exo/core/encoding.hpp>
#include <exo/core/value.hpp>

#include <boost/test/unit_test.hpp>

#include <string>

namespace {

using namespace exo;

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

exo::bytes text(const std::string& s) { return exo::bytes(s.begin(), s.end()); }

// The envelope `sealed` with `field` set to `x`, everything else (the signature too) as it was.
exo::bytes replaced(const exo::bytes& sealed, std::string_view field, exo::value x) {
  exo::value::map m = *exo::decode(sealed).value().if_map();
  for (auto& [k, val] : m)
    if (k == field) val = std::move(x);
  return exo::encode(exo::value::make_map(std::move(m)));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cluster_envelope)

BOOST_AUTO_TEST_CASE(an_envelope_opens_only_where_and_as_it_was_sealed) {
  auto a = exo::node_key::generate().value();
  auto b = exo::node_key::generate().value();
  const envelope e{"a", "b", 7, text("a message body")};
  const exo::bytes sealed = seal_envelope(e, a);
  auto opened = open_envelope(sealed, {.from = "a", .to = "b", .index = 7, .key = a.public_key()});
  BOOST_REQUIRE_MESSAGE(opened, (opened ? "" : opened.error().message));
  BOOST_TEST(opened->e.from == "a");
  BOOST_TEST(opened->e.to == "b");
  BOOST_TEST(opened->e.index == 7u);
  BOOST_TEST((opened->e.body == e.body));
  BOOST_TEST((opened->key == a.public_key()));
  BOOST_TEST(open_envelope(sealed).has_value());  // nothing expected: only the signature
  // Not the one expected: another place, another sender, another key.
  for (const auto& [expect, why] : std::vector<std::pair<envelope_expectation, std::string>>{
           {{.index = 8}, "message 8 was expected"},
           {{.to = "c"}, "not to c"},
           {{.from = "c"}, "not from c"},
           {{.key = b.public_key()}, "not by node a's key"}}) {
    auto r = open_envelope(sealed, expect);
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().code == exo::errc::invalid_argument);
    BOOST_TEST(contains(r.error().message, why), r.error().message);
  }
  // Resealed with another place but the old signature, or signed by one key naming another.
  auto with = [&](std::string_view field, exo::value x) { return replaced(sealed, field, std::move(x)); };
  for (const exo::bytes& forged : {with("index", exo::value(std::int64_t{8})), with("to", exo::value("c")),
                                   with("body", exo::value(text("another body"))),
                                   with("key", exo::value(exo::bytes(b.public_key().bytes.begin(), b.public_key().bytes.end())))}) {
    auto r = open_envelope(forged);
    BOOST_REQUIRE(!r);
    BOOST_TEST(contains(r.error().message, "not signed by the key it names"), r.error().message);
  }
}

BOOST_AUTO_TEST_CASE(bad_bytes_are_clear_errors) {
  auto a = exo::node_key::generate().value();
  const exo::bytes sealed = seal_envelope({"a", "b", 1, text("x")}, a);
  auto with = [&](std::string_view field, exo::value x) { return replaced(sealed, field, std::move(x)); };
  auto without = [&](std::string_view field) {
    exo::value::map m = *exo::decode(sealed).value().if_map();
    std::erase_if(m, [&](const auto& kv) { return kv.first == field; });
    return exo::encode(exo::value::make_map(std::move(m)));
  };
  const std::vector<std::pair<exo::bytes, std::string>> bad = {
      {exo::bytes{}, "not a stream envelope"},
      {exo::bytes(sealed.begin(), sealed.begin() + static_cast<long>(sealed.size() / 2)), "not a stream envelope"},
      {exo::encode(exo::value("a string")), "expected the map"},
      {without("sig"), "expected the map"},
      {with("format", exo::value("exo-stream-9")), "format"},
      {with("from", exo::value("a.b")), "must name nodes"},
      {with("to", exo::value(std::int64_t{3})), "must name nodes"},
      {with("index", exo::value(std::int64_t{0})), "from 1"},
      {with("body", exo::value("text")), "'body' must be bytes"},
      {with("key", exo::value(exo::bytes(31))), "32 bytes"},
      {with("sig", exo::value(exo::bytes(63))), "64 bytes"},
  };
  for (const auto& [bytes, why] : bad) {
    auto r = open_envelope(bytes);
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().code == exo::errc::malformed);
    BOOST_TEST(contains(r.error().message, why), r.error().message);
  }
  // A body over the bound.
  const exo::bytes big = seal_envelope({"a", "b", 1, exo::bytes(5000, 1)}, a);
  auto r = open_envelope(big, {}, 1000);
  BOOST_REQUIRE(!r);
  BOOST_TEST(contains(r.error().message, "accepted"), r.error().message);
  BOOST_TEST(open_envelope(big, {}, 5000).has_value());
}

BOOST_AUTO_TEST_CASE(a_receipt_is_never_an_envelope_nor_an_envelope_a_receipt) {
  auto b = exo::node_key::generate().value();
  const exo::bytes receipt = seal_receipt("b", "a", 12, b);
  auto opened = open_receipt(receipt, {.from = "b", .to = "a", .key = b.public_key()});
  BOOST_REQUIRE(opened);
  BOOST_TEST(opened->e.index == 12u);
  BOOST_TEST(opened->e.body.empty());
  // The format is the signature's domain: relabelled as an envelope, its signature fails.
  auto as_envelope = open_envelope(receipt);
  BOOST_REQUIRE(!as_envelope);
  BOOST_TEST(as_envelope.error().code == errc::malformed);
  auto relabelled = open_envelope(replaced(receipt, "format", exo::value(std::string(envelope_format))));
  BOOST_REQUIRE(!relabelled);
  BOOST_TEST(contains(relabelled.error().message, "not signed by the key it names"), relabelled.error().message);
  auto envelope_as_receipt = open_receipt(seal_envelope({"b", "a", 12, {}}, b));
  BOOST_REQUIRE(!envelope_as_receipt);
  BOOST_TEST(contains(envelope_as_receipt.error().message, "not a receipt"), envelope_as_receipt.error().message);
  // Its count and its pair are what was signed.
  BOOST_TEST(!open_receipt(replaced(receipt, "index", exo::value(std::int64_t{13}))));
  BOOST_TEST(!open_receipt(receipt, {.to = "c"}));
  BOOST_TEST(!open_receipt(replaced(receipt, "body", exo::value(text("x")))));
}

BOOST_AUTO_TEST_SUITE_END()
