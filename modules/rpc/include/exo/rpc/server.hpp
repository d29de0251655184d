#pragma once
/// \file
/// The RPC server: serves any service (exo/hypervisor/service.hpp), a composed hypervisor
/// behind exo::hypervisor_service or a booted image (exo::node::service()), over JSON-RPC 2.0
/// on WebSocket (exo/rpc/protocol.hpp), built on Boost.Beast.
///
/// Threads: one network thread runs every connection (Asio, asynchronous); one executor
/// thread owns the hypervisor. Requests are checked on the network thread (JSON, method,
/// parameter types, signature, caller rights) and only well-formed calls are queued. The
/// executor takes every queued request (up to max_batch), runs the calls one after another
/// (each its own log entry), commits them all in one transaction (group commit), and only
/// then answers them; reads are answered after that commit. Bad input gets its error and
/// the connection stays open; a frame over max_frame closes that connection (WebSocket
/// close code 1009), and no other.
///
/// \code
/// auto srv = exo::rpc::server::start(node->service(), {.listen = "127.0.0.1:0"}).value();
/// fmt::print("listening on {}\n", srv->url());
/// srv->stop();   // answers what was committed, then closes
/// \endcode

#include <exo/hypervisor/service.hpp>
#include <exo/rpc/protocol.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace exo::rpc {

struct server_options {
  /// HOST:PORT to listen on; port 0 picks a free one (see server::port()).
  std::string listen = "127.0.0.1:7420";
  /// Largest request accepted, in bytes; a larger frame closes its connection (code 1009).
  std::size_t max_frame = std::size_t{1} << 20;
  /// Most requests waiting for the executor; beyond it requests get `busy`.
  std::size_t max_queue = 65536;
  /// Most calls committed together.
  std::size_t max_batch = 1024;
  /// Most open connections; more are refused at the WebSocket handshake.
  std::size_t max_connections = 4096;
  /// Told notable events (connections refused, commits that failed), one line each, from the
  /// server's threads (one call at a time).
  std::function<void(std::string_view)> log;
  /// Upkeep between batches (a checkpoint and a prune, say: exo::node::maintain). Every
  /// `maintain_every` calls committed (0: never), the executor stops writing behind (what is
  /// queued reaches the disk and its replies go out), calls `maintain` with no batch in flight
  /// and no write behind, and writes behind again; requests queue meanwhile. What it returns
  /// (a line saying what it did, or an error) goes to `log`.
  std::function<expected<std::string>()> maintain;
  std::uint64_t maintain_every = 0;
  /// The node's own work beside its calls (a cluster's link: exo/cluster/link.hpp, taking
  /// what other nodes sent and sending what the log holds for them). Called on the executor
  /// once every batch so far is on disk, with the store writing behind again (what it commits
  /// is written behind, and it makes that durable itself before sending what it holds: the
  /// link's `durable`), once a batch is done and no request waits, and every `pump_every`
  /// while none come or while they keep coming; it may run logged inputs. Returns how many it
  /// ran; an error goes to `log`, and the server goes on.
  std::function<expected<std::size_t>()> pump;
  std::chrono::milliseconds pump_every{5};
};

struct server_stats {
  std::uint64_t calls = 0;    ///< calls committed
  std::uint64_t batches = 0;  ///< commits made for them
  std::uint64_t rejected = 0; ///< requests answered with an error before reaching the executor
};

class server {
 public:
  /// Binds and starts serving `s` (which must outlive the server) on two threads of its own.
  /// It turns the service's write-behind on while it runs.
  static expected<std::unique_ptr<server>> start(service& s, server_options opts = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  std::uint16_t port() const noexcept;
  /// "ws://HOST:PORT".
  std::string url() const;
  /// Stops accepting, answers every request already taken, closes connections and joins the
  /// threads. Idempotent; called by the destructor.
  void stop();
  server_stats stats() const;
  /// Runs server_options::pump as soon as the executor is free (from any thread: a message
  /// arrived for the node, say), not only every pump_every.
  void wake();

  struct impl;

 private:
  explicit server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace exo::rpc
