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
///   (ingress::take), publishing what it sends in turn. A message whose body names messages of
///   other peers it depends on (`after`: a three-party hand-off, see remote.cpp) waits until
///   those are taken, and they are taken first.
///
/// - **Receipts.** After it takes messages from a peer, a node publishes its signed receipt
///   (seal_receipt: how many of that peer's messages it took) to the peer, at most every
///   `receipt_every` per peer (and once at recover()).
/// - **Settling** (with expire_after(bound)). A node remembers when it sent each message. Once
///   a message it sent a peer is older than half the bound, it reads the peer's latest
///   receipt and logs a "settle" entry (ingress::settle) with it: what the receipt confirms is
///   settled quietly, and every message older than the bound that it does not confirm expires,
///   its origin told errc::unreachable. So an actor that sent to a node that is down (or cut
///   off) hears of it after the bound, not never; its outcome is unknown, since the peer may
///   still take the message when it is back (a late answer comes as any message does).
///
/// `check_pair` checks two nodes' logs against each other without the streams: every
/// message the receiver took is, byte for byte, the output the sender logged at that index,
/// taken in order from 1; and no receipt the sender's "settle" entries carry confirms more
/// than the receiver's log took.

#include <exo/call_log/entry.hpp>
#include <exo/call_log/envelope.hpp>
#include <exo/cluster/stream.hpp>
#include <exo/core/encoding.hpp>
#include <exo/core/sign.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
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

  /// Settles what this node sends after `bound` (see the file comment); 0, the default,
  /// never expires anything (what receipts confirm is still settled, every 10 s or so).
  void expire_after(std::chrono::milliseconds bound) noexcept { bound_ = bound; }
  /// How often at most a receipt goes to each peer (default 100 ms).
  void receipt_every(std::chrono::milliseconds every) noexcept { receipt_every_ = every; }

  /// Appends `e`'s remote outputs to their streams; returns how many were appended (a retry
  /// of one already there does not count).
  expected<std::size_t> publish(const log_entry& e) {
    auto out = sealed_outputs(e, me_, key_);
    if (!out) return unexpected(std::move(out).error());
    std::size_t n = 0;
    for (auto& [to, index, env] : *out) note_sent(to, index);
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
    for (const std::string& p : peers_) receipt_due_.insert(p);
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
        auto took = take_next(peer, 0, n);
        if (!took) return unexpected(std::move(took).error());
        more = more || *took;
      }
    }
    if (n && durable_)
      if (auto d = durable_(); !d) return fail(d.error().code, fmt::format("node {}: making its takes durable: {}", me_, d.error().message));
    if (auto p = publish_new(); !p) return unexpected(std::move(p).error());
    if (auto r = send_receipts(); !r) return unexpected(std::move(r).error());
    return n;
  }

  /// Publishes the receipts that are due (what pull() took; after recover(), to every peer),
  /// each peer's at most every `receipt_every`. Every take must be on disk. Returns how many
  /// were published.
  expected<std::size_t> send_receipts() {
    if (receipt_due_.empty()) return 0;
    if (auto r = open_receipts(); !r) return unexpected(std::move(r).error());
    const auto now = std::chrono::steady_clock::now();
    std::size_t n = 0;
    for (auto it = receipt_due_.begin(); it != receipt_due_.end();) {
      auto& last = receipt_sent_[*it];
      if (last.time_since_epoch().count() != 0 && now - last < receipt_every_) {
        ++it;
        continue;
      }
      auto next = node_.next_take(*it);
      if (!next) return unexpected(std::move(next).error());
      if (*next > 1) {
        auto r = rc_->publish(me_, *it, seal_receipt(me_, *it, *next - 1, key_));
        if (!r) return fail(r.error().code, fmt::format("node {}: its receipt to node {}: {}", me_, *it, r.error().message));
        ++n;
      }
      last = now;
      it = receipt_due_.erase(it);
    }
    return n;
  }

  /// Settles what this node sent (see the file comment): for each peer with a message older
  /// than half the bound, at most every quarter of it, a "settle" entry with the peer's latest
  /// receipt, expiring what is older than the bound and unconfirmed; `now` is the time to
  /// judge by. Returns how many origins were told (none without expire_after).
  expected<std::size_t> settle(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) {
    // Without a bound nothing expires, but what the receipts confirm is still settled (every
    // 10 s), so that the records of messages sent do not pile up.
    const auto bound = bound_.count() > 0 ? bound_ : std::chrono::milliseconds(20'000);
    std::size_t told = 0, entries = 0;
    for (auto& [peer, out] : sent_) {
      if (out.marks.empty() || now - out.marks.front().second < bound / 2) continue;
      if (out.checked.time_since_epoch().count() != 0 && now - out.checked < bound / 4) continue;
      out.checked = now;
      // The peer's latest receipt (if the server cannot be reached: the last one read).
      if (auto r = open_receipts(); r) {
        if (auto latest = rc_->latest(peer, me_); latest && *latest) {
          auto key = node_.peer_key(peer);
          if (!key) return unexpected(std::move(key).error());
          if (*key)
            if (auto opened = open_receipt(**latest, {.from = peer, .to = me_, .key = **key}); opened)
              if (opened->e.index > out.confirmed) {
                out.confirmed = opened->e.index;
                out.receipt = std::move(**latest);
              }
        }
      }
      std::uint64_t expired = 0;
      if (bound_.count() > 0)
        for (const auto& [index, when] : out.marks)
          if (now - when >= bound_ && index > out.confirmed) expired = index;
      if (std::max(out.confirmed, expired) > out.settled) {
        std::optional<bytes> receipt;
        if (out.confirmed > 0) receipt = out.receipt;
        auto e = node_.settle(peer, std::move(receipt), expired);
        if (!e)
          return fail(e.error().code, fmt::format("node {}: settling what it sent node {}: {}", me_, peer, e.error().message));
        ++entries;
        if (auto* t = e->result.if_i64()) told += static_cast<std::size_t>(*t);
        out.settled = std::max(out.confirmed, expired);
      }
      while (!out.marks.empty() && out.marks.front().first <= out.settled) out.marks.pop_front();
    }
    if (entries && durable_)
      if (auto d = durable_(); !d) return fail(d.error().code, fmt::format("node {}: making its settling durable: {}", me_, d.error().message));
    if (entries)
      if (auto p = publish_new(); !p) return unexpected(std::move(p).error());
    return told;
  }

  /// What a node's RPC server runs between batches (rpc::server_options::pump): pull(max), so
  /// that calls are not kept waiting behind a long backlog (and the receipts it owes), then
  /// settle(). The link must outlive it.
  std::function<expected<std::size_t>()> pump(std::size_t max = 256) {
    return [this, max]() -> expected<std::size_t> {
      auto took = pull(max);
      if (!took) return fail(took.error().code, "cluster: " + took.error().message);
      if (auto t = settle(); !t) return fail(t.error().code, "cluster: " + t.error().message);
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

  // Takes the next message `peer` appended for this node, if it is there, after the messages
  // it depends on (take_after): false if there is nothing to take yet. Counts takes in `n`.
  expected<bool> take_next(const std::string& peer, int depth, std::size_t& n) {
    auto s = in_from(peer);
    if (!s) return unexpected(std::move(s).error());
    auto next = node_.next_take(peer);
    if (!next) return unexpected(std::move(next).error());
    auto msg = (*s)->read(*next);
    if (!msg) return unexpected(std::move(msg).error());
    if (!*msg) return false;
    auto first = take_after(**msg, depth, n);  // (what it depends on: three-party hand-off)
    if (!first) return unexpected(std::move(first).error());
    if (!*first) return false;  // it waits for a message not on its stream yet
    auto took = node_.take(**msg);
    if (!took)
      return fail(took.error().code, fmt::format("node {}: taking message {} from node {}: {}", me_, *next, peer,
                                                 took.error().message));
    receipt_due_.insert(peer);
    ++n;
    return true;
  }

  // Takes, before `envelope`, the messages of other peers its body says it depends on
  // ({after: {node: index}}, kernel::take_remote): false if one is not on its stream yet, so
  // that the envelope waits. Only the order is decided here: a dependency that lies only
  // delays the liar's own stream, and the take checks everything else.
  expected<bool> take_after(const bytes& envelope, int depth, std::size_t& n) {
    auto env = decode(envelope, {.max_depth = 2});
    const value* raw = env ? env->find("body") : nullptr;
    const value* from = env ? env->find("from") : nullptr;
    if (!raw || !raw->if_bytes() || !from || !from->if_string()) return true;  // (the take says what is wrong)
    auto body = decode(*raw->if_bytes());
    const value* after = body ? body->find("after") : nullptr;
    if (!after || !after->if_map()) return true;
    for (const auto& [node, index] : *after->if_map()) {
      if (!index.if_i64() || *index.if_i64() < 1 || node == *from->if_string() ||
          std::find(peers_.begin(), peers_.end(), node) == peers_.end())
        continue;
      for (;;) {
        auto next = node_.next_take(node);
        if (!next) return unexpected(std::move(next).error());
        if (*next > static_cast<std::uint64_t>(*index.if_i64()) || depth >= 8) break;
        auto took = take_next(node, depth + 1, n);
        if (!took) return unexpected(std::move(took).error());
        if (!*took) return false;
      }
    }
    return true;
  }

  // What was sent to a peer and when: (highest index, when it was sent), oldest first.
  struct sent_record {
    std::deque<std::pair<std::uint64_t, std::chrono::steady_clock::time_point>> marks;
    std::uint64_t confirmed = 0, settled = 0;  // by the latest receipt read; by this link's settle entries
    bytes receipt;                             // the receipt that confirmed `confirmed`
    std::chrono::steady_clock::time_point checked{};
  };
  void note_sent(const std::string& to, std::uint64_t index) {
    auto& marks = sent_[to].marks;
    const auto now = std::chrono::steady_clock::now();
    if (!marks.empty() && index <= marks.back().first) return;  // sent before (a retry)
    if (!marks.empty() && now - marks.back().second < std::chrono::milliseconds(10)) marks.back().first = index;
    else marks.emplace_back(index, now);
  }
  expected<void> open_receipts() {
    if (rc_) return {};
    auto r = receipts::open(nc_);
    if (!r) return fail(r.error().code, fmt::format("node {}: {}", me_, r.error().message));
    rc_.emplace(std::move(*r));
    return {};
  }

  Node& node_;
  connection& nc_;
  std::string me_;
  const node_key& key_;
  std::vector<std::string> peers_;
  std::map<std::string, stream> out_, in_;
  std::function<expected<void>()> durable_;
  std::uint64_t published_ = 0;  // entries before it were published
  std::optional<receipts> rc_;
  std::chrono::milliseconds bound_{0}, receipt_every_{100};
  std::map<std::string, sent_record> sent_;
  std::set<std::string> receipt_due_;
  std::map<std::string, std::chrono::steady_clock::time_point> receipt_sent_;
};

}  // namespace exo::cluster
