#pragma once
/// \file
/// A node's link to the other nodes of its cluster: what moves messages between a node's log
/// and the streams (stream.hpp), so that the log is the outbox and the inbox's record.
///
/// - **Out.** A committed log entry's remote outputs ({remote: node, index, body}, see
///   kernel::take_remote) are sealed with the node's key (exo/call_log/envelope.hpp) and
///   appended to the stream to that node as message `index`: `publish(entry)`, after the
///   commit. Nothing is sent that the log does not hold, and nothing the log holds is lost:
///   after a crash between the commit and the append, `recover()` appends every output the
///   log holds that its stream lacks (a retry of one already there appends nothing).
/// - **In.** `pull()` reads the next messages of each peer's stream to this node, from the
///   index the node's state says it got to, and takes each as a logged input
///   (ingress::take), publishing what it sends in turn.
///
/// `check_pair` checks two nodes' logs against each other without the streams: every
/// message the receiver took is, byte for byte, the output the sender logged at that index,
/// taken in order from 1.

#include <exo/call_log/entry.hpp>
#include <exo/call_log/envelope.hpp>
#include <exo/cluster/stream.hpp>
#include <exo/core/encoding.hpp>
#include <exo/core/sign.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <tuple>
#include <string>
#include <vector>

namespace exo::cluster {

/// The remote outputs a log entry records, sealed by `from` with `key`: (destination, index,
/// envelope) in the entry's order. A malformed output is an error.
expected<std::vector<std::tuple<std::string, std::uint64_t, bytes>>> sealed_outputs(const log_entry& e,
                                                                                    const std::string& from,
                                                                                    const node_key& key);

/// Checks node `from`'s log against node `to`'s (see the file comment): each "take" entry of
/// `to` whose envelope comes from `from` carries the body `from` logged at that index, and
/// they run 1, 2, 3... Returns how many messages were checked; a mismatch is an error naming
/// both entries.
expected<std::uint64_t> check_pair(const log_reader& from_log, const std::string& from, const log_reader& to_log,
                                   const std::string& to);

/// A node's streams to and from its peers. `Node` is a logged hypervisor (exo::hypervisor with
/// a Log policy): take(), next_take() and log(). The connection and the node outlive it.
template <class Node>
class link {
 public:
  /// `durable`, for a node whose store writes behind (group commit): makes every commit so far
  /// durable (lmdb_store::set_write_behind(false), then true again). pull() calls it once after
  /// its takes, before sending what they hold, so the takes of one pull share a disk write.
  link(Node& node, connection& nc, std::string me, const node_key& key, std::vector<std::string> peers,
       std::function<expected<void>()> durable = {})
      : node_(node), nc_(nc), me_(std::move(me)), key_(key), peers_(std::move(peers)), durable_(std::move(durable)) {}

  /// Appends `e`'s remote outputs to their streams; returns how many were appended (a retry
  /// of one already there does not count).
  expected<std::size_t> publish(const log_entry& e) {
    auto out = sealed_outputs(e, me_, key_);
    if (!out) return unexpected(std::move(out).error());
    std::size_t n = 0;
    for (auto& [to, index, env] : *out) {
      auto s = out_to(to);
      if (!s) return unexpected(std::move(s).error());
      auto r = (*s)->append(index, env);
      if (!r) return fail(r.error().code, fmt::format("node {}: sending message {} to node {}: {}", me_, index, to, r.error().message));
      n += *r ? 1 : 0;
    }
    return n;
  }

  /// Appends every remote output the log holds that its stream lacks (after a restart).
  /// Returns how many were appended.
  expected<std::size_t> recover() {
    published_ = 0;
    return publish_new();
  }

  /// Publishes the entries the log gained since the last publish_new (or recover): what a
  /// node's other inputs (its RPC calls) sent. Every entry must be on disk. Returns how many
  /// messages were appended.
  expected<std::size_t> publish_new() {
    const log_reader& log = node_.log();
    std::size_t n = 0;
    published_ = std::max(published_, log.base());  // (entries before a pruned log's base are gone)
    for (; published_ < log.size(); ++published_) {
      auto raw = log.read(published_);
      if (!raw) return unexpected(std::move(raw).error());
      auto e = decode_entry(*raw);
      if (!e) return unexpected(std::move(e).error());
      auto p = publish(*e);
      if (!p) return unexpected(std::move(p).error());
      n += *p;
    }
    return n;
  }

  /// Takes up to `max` messages that peers appended for this node, in each peer's order
  /// (peers in turn); returns how many were taken. What a take sends is published (with
  /// what else the log gained: publish_new).
  expected<std::size_t> pull(std::size_t max = std::numeric_limits<std::size_t>::max()) {
    std::size_t n = 0;
    for (bool more = true; more && n < max;) {
      more = false;
      for (const std::string& peer : peers_) {
        if (n >= max) break;
        auto s = in_from(peer);
        if (!s) return unexpected(std::move(s).error());
        auto next = node_.next_take(peer);
        if (!next) return unexpected(std::move(next).error());
        auto msg = (*s)->read(*next);
        if (!msg) return unexpected(std::move(msg).error());
        if (!*msg) continue;
        auto took = node_.take(**msg);
        if (!took)
          return fail(took.error().code, fmt::format("node {}: taking message {} from node {}: {}", me_, *next, peer,
                                                     took.error().message));
        ++n;
        more = true;
      }
    }
    if (n && durable_)
      if (auto d = durable_(); !d) return fail(d.error().code, fmt::format("node {}: making its takes durable: {}", me_, d.error().message));
    if (auto p = publish_new(); !p) return unexpected(std::move(p).error());
    return n;
  }

  /// What a node's RPC server runs between batches (rpc::server_options::pump): pull(max), so
  /// that calls are not kept waiting behind a long backlog. The link must outlive it.
  std::function<expected<std::size_t>()> pump(std::size_t max = 256) {
    return [this, max]() -> expected<std::size_t> {
      auto took = pull(max);
      if (!took) return fail(took.error().code, "cluster: " + took.error().message);
      return took;
    };
  }

 private:
  expected<stream*> open_in(std::map<std::string, stream>& m, const std::string& from, const std::string& to,
                            const std::string& key) {
    auto it = m.find(key);
    if (it != m.end()) return &it->second;
    auto s = stream::open(nc_, from, to);
    if (!s) return unexpected(std::move(s).error());
    return &m.emplace(key, std::move(*s)).first->second;
  }
  expected<stream*> out_to(const std::string& to) { return open_in(out_, me_, to, to); }
  expected<stream*> in_from(const std::string& from) { return open_in(in_, from, me_, from); }

  Node& node_;
  connection& nc_;
  std::string me_;
  const node_key& key_;
  std::vector<std::string> peers_;
  std::map<std::string, stream> out_, in_;
  std::function<expected<void>()> durable_;
  std::uint64_t published_ = 0;  // entries before it were published
};

}  // namespace exo::cluster
