// The streams between nodes (exo/cluster/stream.hpp) on a real nats-server with JetStream,
// started and stopped by the tests: messages in the sender's order, read by index; a retry of
// an index is not appended twice, whenever it comes; a gap or other bytes at an index are
// refused; what was appended survives a server restart and a SIGKILL of the server; an
// unreachable server is an error after a bound, not a hang.

#include "../support/nats_server.hpp"
#include "../support/print.hpp"
#include "../support/temp_dir.hpp"

#include <exo/cluster/stream.hpp>
#include <exo/core/bytes.hpp>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <optional>
#include <thread>
#include <string>

namespace {

using namespace exo::cluster;

exo::bytes text(const std::string& s) { return exo::bytes(s.begin(), s.end()); }
exo::bytes payload(int i) { return text("message " + std::to_string(i) + std::string(i % 7, '.')); }

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(cluster_stream)

BOOST_AUTO_TEST_CASE(messages_are_read_by_index_in_the_senders_order_and_a_retry_is_not_appended_twice) {
  test::temp_dir t;
  test::nats_server server(t.sub("nats"));
  auto nc = connection::open({.url = server.url()});
  BOOST_REQUIRE_MESSAGE(nc, (nc ? "" : nc.error().message));
  auto out = stream::open(*nc, "a", "b");
  BOOST_REQUIRE_MESSAGE(out, (out ? "" : out.error().message));
  BOOST_TEST(out->name() == "EXO_a_b");
  BOOST_TEST(out->last().value() == 0u);
  BOOST_TEST(!out->read(1).value().has_value());
  for (int i = 1; i <= 20; ++i) {
    auto r = out->append(static_cast<std::uint64_t>(i), payload(i));
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    BOOST_TEST(*r);
  }
  BOOST_TEST(out->last().value() == 20u);
  // Another opener (the receiver) reads the same messages by index.
  auto nc2 = connection::open({.url = server.url()}).value();
  auto in = stream::open(nc2, "a", "b").value();
  for (int i = 1; i <= 20; ++i) BOOST_TEST((in.read(static_cast<std::uint64_t>(i)).value() == payload(i)));
  BOOST_TEST(!in.read(21).value().has_value());
  // Retries: the same bytes at an index already there append nothing, the latest or an old one.
  for (std::uint64_t i : {20u, 1u, 7u}) {
    auto again = out->append(i, payload(static_cast<int>(i)));
    BOOST_REQUIRE_MESSAGE(again, (again ? "" : again.error().message));
    BOOST_TEST(!*again);
  }
  BOOST_TEST(out->last().value() == 20u);
  // Other bytes at an index, or an index past the next: refused, nothing appended.
  auto conflict = out->append(5, text("something else"));
  BOOST_REQUIRE(!conflict);
  BOOST_TEST(contains(conflict.error().message, "other bytes as message 5"), conflict.error().message);
  auto gap = out->append(22, payload(22));
  BOOST_REQUIRE(!gap);
  BOOST_TEST(contains(gap.error().message, "would leave a gap"), gap.error().message);
  BOOST_TEST(out->last().value() == 20u);
  // The other direction is another stream.
  auto back = stream::open(nc2, "b", "a").value();
  BOOST_TEST(back.last().value() == 0u);
  BOOST_TEST(back.append(1, payload(100)).value());
  BOOST_TEST(out->last().value() == 20u);
}

BOOST_AUTO_TEST_CASE(bad_names_and_an_unreachable_server_are_clear_errors) {
  test::temp_dir t;
  test::nats_server server(t.sub("nats"));
  auto nc = connection::open({.url = server.url()}).value();
  for (const char* bad : {"", "a.b", "a b", "*", ">"}) {
    auto s = stream::open(nc, bad, "b");
    BOOST_REQUIRE(!s);
    BOOST_TEST(s.error().code == exo::errc::invalid_argument);
  }
  BOOST_TEST(!stream::open(nc, "a", "a"));
  BOOST_TEST(!stream::open(nc, "a", "b").value().read(0));
  // Nobody listens: an error within the timeout, naming the server.
  const int port = server.port();
  server.stop();
  const auto t0 = std::chrono::steady_clock::now();
  auto none = connection::open({.url = "nats://127.0.0.1:" + std::to_string(port), .timeout = std::chrono::milliseconds(500)});
  BOOST_REQUIRE(!none);
  BOOST_TEST(contains(none.error().message, std::to_string(port)), none.error().message);
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10)));  // a bound, not a hang
}

BOOST_AUTO_TEST_CASE(what_was_appended_survives_a_server_restart_and_a_sigkill_of_the_server) {
  test::temp_dir t;
  test::nats_server server(t.sub("nats"));
  auto nc = connection::open({.url = server.url(), .timeout = std::chrono::milliseconds(5000)}).value();
  auto out = stream::open(nc, "a", "b").value();
  for (int i = 1; i <= 10; ++i) BOOST_REQUIRE(out.append(static_cast<std::uint64_t>(i), payload(i)));
  for (bool kill : {false, true}) {
    server.stop(kill);
    server.start();
    // The same connection reconnects; what was acknowledged is there, and appending goes on.
    std::optional<exo::expected<bool>> r;
    for (int attempt = 0; attempt < 40; ++attempt) {  // until the client has reconnected
      r = out.append(out.last().value_or(0) + 1, payload(0));
      if (*r) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    BOOST_REQUIRE_MESSAGE(*r, (*r ? "" : r->error().message));
    for (int i = 1; i <= 10; ++i) BOOST_TEST((out.read(static_cast<std::uint64_t>(i)).value() == payload(i)));
  }
  BOOST_TEST(out.last().value() == 12u);
}

BOOST_AUTO_TEST_SUITE_END()
