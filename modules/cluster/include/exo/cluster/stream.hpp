#pragma once
/// \file
/// The streams between nodes (DESIGN.md section 9, issue 21): what one node sends another is
/// appended, in the sender's order, to a durable JetStream stream of that pair of nodes, and
/// the receiver reads it from wherever its own log says it got to.
///
/// One stream per ordered pair of nodes, on one subject: message i (from 1) of the stream is
/// the i-th thing the sender appended for that receiver, and its JetStream sequence is i, so a
/// reader asks for exactly the index it needs next. append(i, bytes) holds that in place:
/// - the next index is appended (JetStream checks that the stream's last sequence is i - 1, so
///   two writers cannot interleave and nothing is appended out of order);
/// - an index already there with the same bytes is a retry (after a lost acknowledgement, or a
///   sender that restarted): nothing is appended, whenever it comes (the message id, the pair and
///   the index, also lets JetStream drop a duplicate within its deduplication window);
/// - an index already there with other bytes, or one past the next, is refused (a gap or a
///   conflict: errc::invalid_argument naming both indices).
///
/// \code
/// auto nc = exo::cluster::connection::open({.url = "nats://127.0.0.1:4222"}).value();
/// auto out = exo::cluster::stream::open(nc, "a", "b").value();   // a -> b, created if missing
/// out.append(out.last().value() + 1, payload).value();
/// auto in = exo::cluster::stream::open(nc, "a", "b").value();    // on b
/// auto first = in.read(1).value();                                 // nullopt while not there
/// \endcode

#include <exo/core/id.hpp>
#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace exo::cluster {

struct connection_options {
  /// The NATS server, nats://HOST:PORT.
  std::string url = "nats://127.0.0.1:4222";
  /// How long connecting, and each request to JetStream, may take before it is an error.
  std::chrono::milliseconds timeout{2000};
  /// How long the connection keeps trying to reconnect to a server that went away (a restart)
  /// before its requests fail; meanwhile they wait, each within `timeout`.
  std::chrono::milliseconds reconnect_for{30'000};
};

/// A connection to a NATS server with JetStream. Movable; closed when destroyed.
class connection {
 public:
  /// Connects; a server that cannot be reached within the timeout is errc::internal (it may
  /// succeed if retried), naming the URL.
  static expected<connection> open(const connection_options& options);
  connection(connection&&) noexcept;
  connection& operator=(connection&&) noexcept;
  ~connection();
  const connection_options& options() const noexcept;

 private:
  friend class stream;
  friend class arrivals;
  friend class receipts;
  struct impl;
  explicit connection(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

/// The stream from node `from` to node `to` (see the file comment).
class stream {
 public:
  /// Opens it, creating it (file storage) if the server has none; the connection must outlive
  /// it. Names that cannot name nodes are errc::invalid_argument.
  static expected<stream> open(connection& c, std::string from, std::string to);
  /// The stream's name on the server (EXO_FROM_TO) and its subject (exo.stream.FROM.TO).
  const std::string& name() const noexcept { return name_; }
  const std::string& subject() const noexcept { return subject_; }
  /// How many messages it holds: the index of the last one (0: none).
  expected<std::uint64_t> last();
  /// Appends `payload` as message `index` (see the file comment). Returns true if it was
  /// appended, false if it was there already (a retry).
  expected<bool> append(std::uint64_t index, byte_view payload);
  /// Message `index` (from 1), or nullopt if the stream does not hold it yet.
  expected<std::optional<bytes>> read(std::uint64_t index);

 private:
  stream(connection& c, std::string from, std::string to);
  connection* c_;
  std::string from_, to_, name_, subject_;
};

/// Receipts (exo/call_log/envelope.hpp, seal_receipt): what each node says it took of each
/// stream to it, so that the sender can settle what it sent (exo/cluster/link.hpp). Kept in
/// one JetStream stream, EXO_RECEIPTS, on the subjects exo.receipt.TAKER.SENDER, holding only
/// the latest receipt of each subject (file storage: they survive a server restart).
class receipts {
 public:
  /// Opens it, creating the stream if the server has none; the connection must outlive it.
  static expected<receipts> open(connection& c);
  /// Publishes `receipt`, sealed by node `taker` for node `sender`, as the latest of that
  /// pair (waiting for the server's acknowledgement: a reader sees it next).
  expected<void> publish(std::string_view taker, std::string_view sender, byte_view receipt);
  /// The latest receipt node `taker` published for node `sender` (nullopt: none yet).
  expected<std::optional<bytes>> latest(std::string_view taker, std::string_view sender);

 private:
  explicit receipts(connection& c) : c_(&c) {}
  connection* c_;
};

/// A wake-up: `on_arrival` is called (on the NATS library's thread) each time something is
/// appended to a stream to node `to`, from any node, so that the node looks at its streams when
/// a message came rather than only every few milliseconds. What arrived is still read from the
/// streams, by index (a wake-up lost while the server restarts only delays it). Until destroyed
/// (which waits for a call in progress); the connection must outlive it.
class arrivals {
 public:
  static expected<arrivals> watch(connection& c, std::string_view to, std::function<void()> on_arrival);
  arrivals(arrivals&&) noexcept;
  arrivals& operator=(arrivals&&) noexcept;
  ~arrivals();

 private:
  struct impl;
  explicit arrivals(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

}  // namespace exo::cluster
