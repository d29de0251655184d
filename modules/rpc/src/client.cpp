#include <exo/core/json.hpp>
#include <exo/rpc/client.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

namespace exo::rpc {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Every operation is asynchronous and the io_context runs until it completes or the timeout
// passes; then the socket is closed, which ends the operation, and the client is spent.
struct client::impl {
  net::io_context ioc;
  tcp::resolver resolver{ioc};
  websocket::stream<tcp::socket> ws{ioc};
  std::string url;
  std::chrono::milliseconds timeout{};     // the current wait's bound
  std::chrono::milliseconds configured{};  // client_options::timeout, for messages
  bool timed_out_before = false;  // a request timed out: the connection is closed
  std::uint64_t next_id = 1;
  json info;
  digest image{};
  std::map<std::string, std::uint64_t, std::less<>> next_seq;  // by caller key (hex)

  rpc_error transport_error(std::string_view what, const beast::error_code& ec) const {
    if (ec == net::error::timed_out) return timeout_error(what);
    return rpc_error{transport, fmt::format("{}: {}: {}", url, what, ec.message()), nullptr};
  }
  rpc_error timeout_error(std::string_view what) const {
    return rpc_error{timed_out,
                     fmt::format("{}: {}: no answer within {} ms (the connection is closed; connect again)", url, what,
                                 configured.count()),
                     nullptr};
  }
  // Runs the io_context until `done()`, or the timeout: then the socket and resolver are
  // cancelled, what was started ends aborted, and the answer is false.
  template <class Done>
  bool run_until(Done&& done) {
    ioc.restart();
    if (timeout.count() > 0) {
      const auto deadline = std::chrono::steady_clock::now() + timeout;
      while (!done() && ioc.run_one_until(deadline) > 0) {
      }
    } else {
      while (!done() && ioc.run_one() > 0) {
      }
    }
    if (done()) return true;
    timed_out_before = true;
    resolver.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(ws).close(ignored);
    ioc.restart();
    while (!done() && ioc.run_one() > 0) {
    }
    return false;
  }
  // Runs the operation `start` begins (it is handed the completion handler) until it
  // completes, or the timeout (the result is then net::error::timed_out).
  template <class Start>
  beast::error_code await(Start&& start) {
    bool done = false;
    beast::error_code result;
    start([&](beast::error_code ec, auto&&...) {
      result = ec;
      done = true;
    });
    return run_until([&] { return done; }) ? result : beast::error_code(net::error::timed_out);
  }
  // Whether the server's close frame arrived, and what it said.
  std::optional<std::string> close_reason() const {
    if (ws.reason().code == websocket::close_code::none) return std::nullopt;
    return fmt::format("the server closed the connection (code {} {})", ws.reason().code,
                       std::string(ws.reason().reason.c_str()));
  }
  expected<std::string, rpc_error> exchange(const std::string& text) {
    if (timed_out_before)
      return unexpected(rpc_error{timed_out, url + ": an earlier request timed out and closed the connection; connect again", nullptr});
    // The request is written and its reply read in one wait: the read is started with the
    // write (one of each may be in flight on a WebSocket stream), which saves a round through
    // the io_context per request. A write that fails is answered by the read with the
    // server's close frame, if one came.
    ws.text(true);
    beast::flat_buffer buf;
    int pending = 2;
    beast::error_code wec, rec;
    ws.async_write(net::buffer(text), [&](beast::error_code ec, std::size_t) {
      wec = ec;
      --pending;
    });
    ws.async_read(buf, [&](beast::error_code ec, std::size_t) {
      rec = ec;
      --pending;
    });
    if (!run_until([&] { return pending == 0; }))
      return unexpected(timeout_error(wec ? "sending" : "waiting for the reply"));
    if (wec) {
      if (auto why = close_reason()) return unexpected(rpc_error{transport, fmt::format("{}: {}", url, *why), nullptr});
      return unexpected(rpc_error{transport, fmt::format("{}: sending: {} (the server closed the connection; a "
                                                         "message over its size limit is closed with code 1009)",
                                                         url, wec.message()),
                                  nullptr});
    }
    if (rec) {
      return unexpected(rpc_error{transport, fmt::format("{}: {}", url, close_reason().value_or(rec.message())), nullptr});
    }
    return beast::buffers_to_string(buf.data());
  }
};

client::client(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;
client::~client() = default;

expected<client, rpc_error> client::connect(const std::string& url, client_options opts) {
  auto u = parse_url(url);
  if (!u) return unexpected(rpc_error{transport, u.error().message, nullptr});
  auto p = std::make_unique<impl>();
  p->url = url;
  p->timeout = p->configured = opts.timeout;
  const auto deadline = std::chrono::steady_clock::now() + opts.timeout;
  auto left = [&] {
    if (opts.timeout.count() <= 0) return;
    p->timeout = std::max(std::chrono::milliseconds(1), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                            deadline - std::chrono::steady_clock::now()));
  };
  tcp::resolver::results_type results;
  beast::error_code ec = p->await([&](auto handler) {
    p->resolver.async_resolve(u->host, u->port, [&results, handler = std::move(handler)](beast::error_code e, tcp::resolver::results_type r) mutable {
      results = std::move(r);
      handler(e);
    });
  });
  if (ec) return unexpected(p->transport_error("cannot resolve", ec));
  left();
  ec = p->await([&](auto handler) { net::async_connect(p->ws.next_layer(), results, std::move(handler)); });
  if (ec) return unexpected(p->transport_error("cannot connect", ec));
  beast::error_code ignored;
  p->ws.next_layer().set_option(tcp::no_delay(true), ignored);  // a request is small and awaited
  p->ws.read_message_max(opts.max_frame);
  left();
  ec = p->await([&](auto handler) { p->ws.async_handshake(u->host + ":" + u->port, u->path, std::move(handler)); });
  if (ec) return unexpected(p->transport_error("WebSocket handshake", ec));
  left();
  client c(std::move(p));
  auto hs = c.handshake();
  if (!hs) return unexpected(hs.error());
  c.impl_->timeout = opts.timeout;  // from here, each request has the whole timeout
  c.impl_->info = *hs;
  auto img = from_hex(hs->value("image", std::string()));
  if (!img || img->size() != 32) return unexpected(rpc_error{transport, url + ": the handshake names no image", nullptr});
  std::copy(img->begin(), img->end(), c.impl_->image.bytes.begin());
  return c;
}

expected<json, rpc_error> client::request(const std::string& method, json params) {
  json req{{"jsonrpc", "2.0"}, {"id", impl_->next_id++}, {"method", method}};
  if (!params.is_null()) req["params"] = std::move(params);
  auto text = impl_->exchange(req.dump());
  if (!text) return unexpected(text.error());
  json res = json::parse(*text, nullptr, false);
  if (res.is_discarded() || !res.is_object())
    return unexpected(rpc_error{transport, impl_->url + ": the reply is not a JSON-RPC response", nullptr});
  if (auto e = res.find("error"); e != res.end())
    return unexpected(rpc_error{e->value("code", 0), e->value("message", std::string()), e->value("data", json())});
  return res.value("result", json());
}

expected<json, rpc_error> client::handshake() { return request("exo.handshake"); }

expected<json, rpc_error> client::call(const std::string& method, json args, const node_key* key) {
  if (!key) return request(method, std::move(args));
  auto v = from_json(args, "argument");
  if (!v) return unexpected(rpc_error{invalid_params, v.error().message, nullptr});
  const std::string caller = to_hex(key->public_key().view());
  auto seq = impl_->next_seq.find(caller);
  if (seq == impl_->next_seq.end()) {  // first signed call with this key: the node says where its sequence is
    auto hs = request("exo.handshake", json{{"caller", caller}});
    if (!hs) return unexpected(std::move(hs).error());
    if (!hs->contains("next_seq") || !(*hs)["next_seq"].is_number_unsigned())
      return unexpected(rpc_error{internal_error, "the server's handshake gives no next_seq for signed calls", nullptr});
    seq = impl_->next_seq.emplace(caller, (*hs)["next_seq"].get<std::uint64_t>()).first;
  }
  for (int attempt = 0;; ++attempt) {
    const std::uint64_t n = seq->second++;
    const signature s = key->sign(call_message(impl_->image, method, *v, n));
    auto r = request(method, json{{"args", args}, {"caller", caller}, {"seq", n}, {"signature", to_hex(s.view())}});
    // Another client with this key went ahead: sign the call again above it, once.
    if (!r && r.error().code == replayed && attempt == 0 && r.error().data.contains("next_seq") &&
        r.error().data["next_seq"].is_number_unsigned()) {
      seq->second = r.error().data["next_seq"].get<std::uint64_t>();
      continue;
    }
    return r;
  }
}

const json& client::info() const noexcept { return impl_->info; }

expected<std::string, rpc_error> client::raw(const std::string& text) { return impl_->exchange(text); }

void client::close() {
  if (impl_ && impl_->ws.is_open())
    impl_->await([&](auto handler) { impl_->ws.async_close(websocket::close_code::normal, std::move(handler)); });
}

}  // namespace exo::rpc
