#include <exo/core/json.hpp>
#include <exo/rpc/client.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <fmt/format.h>

#include <map>
#include <optional>

namespace exo::rpc {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct client::impl {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  std::string url;
  std::uint64_t next_id = 1;
  json info;
  digest image{};
  std::map<std::string, std::uint64_t, std::less<>> next_seq;  // by caller key (hex)

  rpc_error transport_error(std::string_view what, const beast::error_code& ec) const {
    return rpc_error{transport, fmt::format("{}: {}: {}", url, what, ec.message()), nullptr};
  }
  // Whether the server's close frame arrived, and what it said.
  std::optional<std::string> close_reason() const {
    if (ws.reason().code == websocket::close_code::none) return std::nullopt;
    return fmt::format("the server closed the connection (code {} {})", ws.reason().code,
                       std::string(ws.reason().reason.c_str()));
  }
  expected<std::string, rpc_error> exchange(const std::string& text) {
    beast::error_code ec;
    ws.text(true);
    ws.write(net::buffer(text), ec);
    beast::flat_buffer buf;
    if (ec) {
      // The server may have closed while we were sending (a frame over its limit): its
      // close frame, if it arrived, says why.
      beast::error_code rec;
      ws.read(buf, rec);
      if (auto why = close_reason()) return unexpected(rpc_error{transport, fmt::format("{}: {}", url, *why), nullptr});
      return unexpected(rpc_error{transport, fmt::format("{}: sending: {} (the server closed the connection; a "
                                                         "message over its size limit is closed with code 1009)",
                                                         url, ec.message()),
                                  nullptr});
    }
    ws.read(buf, ec);
    if (ec) {
      return unexpected(rpc_error{transport, fmt::format("{}: {}", url, close_reason().value_or(ec.message())), nullptr});
    }
    return beast::buffers_to_string(buf.data());
  }
};

client::client(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;
client::~client() = default;

expected<client, rpc_error> client::connect(const std::string& url, std::size_t max_frame) {
  auto u = parse_url(url);
  if (!u) return unexpected(rpc_error{transport, u.error().message, nullptr});
  auto p = std::make_unique<impl>();
  p->url = url;
  beast::error_code ec;
  tcp::resolver resolver(p->ioc);
  auto results = resolver.resolve(u->host, u->port, ec);
  if (ec) return unexpected(p->transport_error("cannot resolve", ec));
  net::connect(p->ws.next_layer(), results, ec);
  if (ec) return unexpected(p->transport_error("cannot connect", ec));
  beast::error_code ignored;
  p->ws.next_layer().set_option(tcp::no_delay(true), ignored);  // a request is small and awaited
  p->ws.read_message_max(max_frame);
  p->ws.handshake(u->host + ":" + u->port, u->path, ec);
  if (ec) return unexpected(p->transport_error("WebSocket handshake failed", ec));
  client c(std::move(p));
  auto hs = c.handshake();
  if (!hs) return unexpected(hs.error());
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
  beast::error_code ec;
  if (impl_ && impl_->ws.is_open()) impl_->ws.close(websocket::close_code::normal, ec);
}

}  // namespace exo::rpc
