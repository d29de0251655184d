#pragma once
/// \file
/// The RPC client: a blocking JSON-RPC 2.0 client over WebSocket (Boost.Beast) for exo's
/// server (exo/rpc/protocol.hpp). One request at a time per client; use one client per
/// thread for concurrency. Every wait is bounded by client_options::timeout.
///
/// \code
/// auto c = exo::rpc::client::connect("ws://127.0.0.1:7420").value();
/// auto hs = c.handshake().value();                 // methods, root, log head
/// auto r = c.call("counter.add", {5});             // expected<json, rpc_error>
/// if (r) fmt::print("{}\n", (*r)["result"].dump());
/// else fmt::print("error {}: {}\n", r.error().code, r.error().message);
/// auto key = exo::node_key::load_or_create("me.key").value();
/// c.call("notes.put", {"k", "v"}, &key);          // signed: the key is the caller in the log
/// \endcode

#include <exo/rpc/protocol.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace exo::rpc {

struct client_options {
  /// The largest reply accepted (an exo.export_log of a long log is big).
  std::size_t max_frame = std::size_t{256} << 20;
  /// How long connecting (TCP, WebSocket handshake, the exo handshake) may take, and then
  /// each request from sending it to its reply; zero waits forever. A request that times out
  /// is answered timed_out and closes the connection (a late reply would be taken for the
  /// next request's), so later requests on this client fail at once: connect again. The node
  /// may still have executed the call: ask it (exo.log, or the handshake's next_seq).
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
};

class client {
 public:
  /// Connects and, to learn the image hash signed calls name, asks for the handshake.
  /// The error is a transport error naming the URL, or timed_out.
  static expected<client, rpc_error> connect(const std::string& url, client_options opts = {});
  client(client&&) noexcept;
  client& operator=(client&&) noexcept;
  ~client();

  /// Sends one request and waits for its response: the result, or the error it carries.
  expected<json, rpc_error> request(const std::string& method, json params = nullptr);
  /// The handshake (fetched again).
  expected<json, rpc_error> handshake();
  /// Calls an exported function "actor.function" with `args` (a JSON array); signed by
  /// `key` if given, with the key's next sequence number (asked of the node's handshake on
  /// the first signed call with a key, then counted here; if another client with the same key
  /// went ahead, the call is signed again above it, once).
  expected<json, rpc_error> call(const std::string& method, json args, const node_key* key = nullptr);
  /// The handshake received at connect.
  const json& info() const noexcept;
  /// Sends raw text as one message and returns the raw reply (for tests of bad input).
  expected<std::string, rpc_error> raw(const std::string& text);
  void close();

  struct impl;

 private:
  explicit client(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace exo::rpc
