// The RPC client against peers that do not answer: a port that listens but never accepts, a
// WebSocket server that takes the handshake and then goes silent. Every wait ends with
// timed_out, the client says so, and a timed-out client refuses further requests at once
// instead of taking a late reply for the next request's.

#include <exo/core/json.hpp>
#include <exo/rpc/client.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <string>
#include <thread>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using exo::json;
using exo::rpc::client;
using namespace std::chrono_literals;

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// A loopback port whose backlog completes TCP connections nobody ever accepts.
struct never_accepts {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)};
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/"; }
};

// A WebSocket server on its own thread that accepts one connection, answers the first
// `answered` requests with a handshake-shaped result, then reads and never replies until the
// client goes away.
struct goes_silent {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)};
  std::atomic<int> requests_seen{0};
  std::thread thread;
  explicit goes_silent(int answered) {
    thread = std::thread([this, answered] {
      try {
        tcp::socket sock(ioc);
        acceptor.accept(sock);
        websocket::stream<tcp::socket> ws(std::move(sock));
        ws.accept();
        for (int n = 0;; ++n) {
          beast::flat_buffer buf;
          ws.read(buf);  // ends with an error when the client closes
          ++requests_seen;
          if (n >= answered) continue;
          json req = json::parse(beast::buffers_to_string(buf.data()));
          json res{{"jsonrpc", "2.0"}, {"id", req["id"]}, {"result", {{"image", std::string(64, 'a')}}}};
          ws.text(true);
          ws.write(net::buffer(res.dump()));
        }
      } catch (const std::exception&) {  // the client went away: done
      }
    });
  }
  ~goes_silent() { thread.join(); }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/"; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(rpc_client)

BOOST_AUTO_TEST_CASE(connecting_to_a_port_that_never_accepts_times_out) {
  never_accepts peer;
  auto c = client::connect(peer.url(), {.timeout = 300ms});
  BOOST_REQUIRE(!c);
  BOOST_TEST(c.error().code == exo::rpc::timed_out);
  BOOST_TEST(contains(c.error().message, "no answer within 300 ms"), c.error().message);
  BOOST_TEST(contains(c.error().message, peer.url()), c.error().message);
}

BOOST_AUTO_TEST_CASE(a_server_that_never_answers_the_handshake_times_out_the_connect) {
  goes_silent peer(0);
  auto c = client::connect(peer.url(), {.timeout = 300ms});
  BOOST_REQUIRE(!c);
  BOOST_TEST(c.error().code == exo::rpc::timed_out);
  BOOST_TEST(peer.requests_seen.load() <= 1);
}

BOOST_AUTO_TEST_CASE(a_request_without_a_reply_times_out_and_spends_the_client) {
  goes_silent peer(1);  // answers the handshake, then nothing
  auto c = client::connect(peer.url(), {.timeout = 300ms});
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  auto r = c->call("counter.add", json::array({1}));
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().code == exo::rpc::timed_out);
  BOOST_TEST(contains(r.error().message, "waiting for the reply"), r.error().message);
  // The connection is closed: the next request fails at once, and says why.
  auto again = c->request("exo.handshake");
  BOOST_REQUIRE(!again);
  BOOST_TEST(again.error().code == exo::rpc::timed_out);
  BOOST_TEST(contains(again.error().message, "earlier request timed out"), again.error().message);
  c->close();
}

BOOST_AUTO_TEST_CASE(a_refused_port_is_a_transport_error_not_a_timeout) {
  std::uint16_t port = 0;
  {
    never_accepts closed;  // a port that was free a moment ago, now closed
    port = closed.acceptor.local_endpoint().port();
  }
  auto c = client::connect("ws://127.0.0.1:" + std::to_string(port) + "/", {.timeout = 5s});
  BOOST_REQUIRE(!c);
  BOOST_TEST(c.error().code == exo::rpc::transport);
  BOOST_TEST(contains(c.error().message, "cannot connect"), c.error().message);
}

BOOST_AUTO_TEST_SUITE_END()
