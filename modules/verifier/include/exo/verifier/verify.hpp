#pragma once
/// \file
/// The verifier: anyone holding a call log can replay it into a fresh hypervisor and prove,
/// or disprove, every result and every state root (DESIGN.md sections 4.5, 4.6 and 5).
///
/// \code
/// auto v = exo::verify(hv.log(), [] {
///   auto fresh = std::make_unique<exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log>>(
///       exo::config{.name = "bank"});
///   fresh->register_type<account>();   // the same native types the log's init entry names
///   return fresh;
/// });
/// fmt::print("{}\n", v.to_string());   // "verified 12 entries, final root 5f3c..." or the divergence
/// \endcode
///
/// What is checked, in order, for every entry: that it decodes; its index; that it names
/// the previous entry's hash; for entry 0, that it is the init entry of a hypervisor like
/// the one the factory builds (name, format, node key, native types and code hashes, an
/// empty starting state); for every other entry, that replaying its input gives the same
/// actor, function, result, error (code and full message), outputs, ticks and state root.
/// Then the signed head: it counts every entry, names the last one's hash, carries the key
/// the init entry declares, and its Ed25519 signature holds. With a pinned node key
/// (verify_options::node_key), the init entry must declare that key. The first thing that
/// does not match is reported with the entry index, the field, and both sides. An "upgrade"
/// entry is replayed like a call: its code is installed, the actors switched to it and its
/// migration calls run, and the outcome and root compared.

#include <exo/call_log/entry.hpp>
#include <exo/core/encoding.hpp>
#include <exo/core/sign.hpp>
#include <exo/hypervisor.hpp>
#include <exo/store/tree.hpp>
#include <exo/verifier/checkpoint.hpp>

#include <fmt/format.h>

#include <concepts>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace exo {

/// Where a log and its replay (or the checks) first disagree.
struct divergence {
  /// The entry; the log's size for the signed head.
  std::uint64_t index = 0;
  /// What differs: "checkpoint" (a checkpoint to start from that does not hold or is of
  /// another log), "entry" (does not decode), "index", "prev", "kind", "hypervisor", "origin", "format",
  /// "key", "types", "actor", "function", "result", "result_caps", "error", "outputs",
  /// "ticks", "root", "replay" (the input could not be made), "head" (missing or malformed),
  /// "head.size", "head.last", "head.key", "head.signature".
  std::string field;
  /// What the log says.
  std::string expected;
  /// What the check or the replay gives.
  std::string got;
  /// For a replay divergence: whether the entry's own bytes are the ones the log chained
  /// and signed (the next entry, or the head, names their hash). False means the entry was
  /// changed after it was logged (e.g. its arguments); true means the log is intact and the
  /// replay behaves differently (non-deterministic code, or other code than was logged).
  std::optional<bool> entry_intact;
  std::string to_string() const;
};

/// The verifier's answer.
struct verdict {
  std::uint64_t entries = 0;       ///< entries verified (all of them when ok())
  digest final_root{};             ///< the state root after the last verified entry
  std::optional<divergence> first; ///< the first divergence, if any
  bool ok() const noexcept { return !first; }
  /// "verified N entries, final root R" or "entry I, field F: the log says X, ... gives Y".
  std::string to_string() const;
};

struct verify_options {
  /// The node key the log must be signed by. Without one, the verifier takes the key the
  /// log's own init entry declares: a log re-chained and re-signed end to end by another key
  /// is then internally consistent and verifies. Pin the node's key (from its handshake, or
  /// out of band) to catch that.
  std::optional<public_key> node_key;
  /// Called every `progress_every` entries and at the end with (entries done, total).
  std::function<void(std::uint64_t, std::uint64_t)> progress;
  std::uint64_t progress_every = 1000;
};

namespace detail {
std::string show(const value& v);
std::string show(const std::optional<log_error>& e);
// The init entry's checks against the hypervisor the factory built: nullopt if they hold.
std::optional<divergence> check_init(const log_entry& e, std::string_view name, const value& types,
                                     const value& origin, const log_head& head,
                                     const std::optional<public_key>& pinned = std::nullopt);
// The first field in which a replayed entry differs from the logged one.
std::optional<divergence> compare_entries(const log_entry& logged, const log_entry& replayed);
std::optional<divergence> check_head(const log_head& h, std::uint64_t size, const digest& last, const bytes& init_key);
}  // namespace detail

/// What the verifier needs of the hypervisor it replays a log into: its name, origin and
/// declared types (to check the init entry against), a way to turn off signing for its
/// scratch log, and replay(), which makes a logged input again and returns the entry it logs.
/// Every logged exo::hypervisor is one.
template <class H>
concept replay_target = requires(H& h, const H& ch, const log_entry& e) {
  { ch.settings() } -> std::same_as<const config&>;
  { ch.type_list() } -> std::same_as<value>;
  { h.sign_log(false) } -> std::same_as<void>;
  { h.replay(e) } -> std::same_as<expected<log_entry>>;
};
static_assert(replay_target<hypervisor<ordered_scheduler, memory_store, memory_log>>,
              "a logged in-memory hypervisor must be something a log can be replayed into");
static_assert(!replay_target<hypervisor<>>, "a hypervisor that logs nothing has no replay");

/// Verifies a log that grows: each advance() checks the entries appended since the last one,
/// replaying them into the same hypervisor, and then the log's new signed head, so following
/// a live node costs only its new entries. An entry verified once is never read again; the
/// first entry of each advance must name the hash of the last one verified before, so a log
/// rewritten behind the verifier's back diverges at "prev". After a divergence, advance()
/// returns it and checks nothing more. exo::verify is one advance over a fresh hypervisor.
///
/// \code
/// replay_hv fresh(exo::config{.name = "bank"});
/// exo::log_verifier follow(fresh, {.node_key = pinned});
/// while (follow.advance(remote).ok()) { sleep(1); remote.refresh(); }
/// \endcode
template <replay_target H>
class log_verifier {
 public:
  /// `hv`: a fresh hypervisor like the one the log was made by; it outlives the verifier.
  explicit log_verifier(H& hv, verify_options opts = {}) : hv_(hv), opts_(std::move(opts)) {
    hv_.sign_log(false);  // its log is a scratch copy for comparing entries
  }
  log_verifier(const log_verifier&) = delete;
  log_verifier& operator=(const log_verifier&) = delete;

  /// Verifies `log` beyond what was verified before (see the class comment) and returns the
  /// verdict so far: entries verified in all, the root after the last, or the first divergence.
  const verdict& advance(const log_reader& log);
  const verdict& result() const noexcept { return v_; }
  /// Starts at a checkpoint instead of entry 0 (exo/verifier/checkpoint.hpp): the hypervisor
  /// holds the checkpoint's state (a snapshot imported into its store, then opened). Checks
  /// the checkpoint (its signed head, with the pinned key if there is one), its init entry
  /// against the hypervisor as entry 0 is checked, and the hypervisor's state root against the
  /// checkpoint's; then advance() checks that the log is the one the checkpoint is of (its
  /// entries 0 and K, where it still has them) and replays only the entries after K. Before
  /// any advance(); a checkpoint that does not hold is the divergence "checkpoint".
  const verdict& start_at(const checkpoint& cp)
    requires requires(H& h) {
      { h.state_root() } -> std::same_as<expected<digest>>;
    };
  /// Adds a check of every entry after the init entry, run before it is replayed (an image's
  /// upgrade entries must name code the image holds): what it returns is the divergence.
  void check_entries(std::function<std::optional<divergence>(const log_entry&)> check) {
    entry_check_ = std::move(check);
  }
  /// Records a divergence found by another check (e.g. an image's boot entries); advance()
  /// does nothing more after it.
  void fail(divergence d) {
    if (v_.ok()) v_.first = std::move(d);
  }

 private:
  const verdict& diverge(std::uint64_t i, std::string field, std::string expected, std::string got) {
    v_.first = divergence{i, std::move(field), std::move(expected), std::move(got), {}};
    return v_;
  }
  H& hv_;
  verify_options opts_;
  verdict v_;
  digest prev_{};  // the hash of the last entry verified
  bytes init_key_;
  std::optional<checkpoint> from_;  // the checkpoint started from, until the log is matched with it
  std::function<std::optional<divergence>(const log_entry&)> entry_check_;
};

template <replay_target H>
const verdict& log_verifier<H>::start_at(const checkpoint& cp)
  requires requires(H& h) {
    { h.state_root() } -> std::same_as<expected<digest>>;
  }
{
  if (!v_.ok()) return v_;
  if (v_.entries != 0) return diverge(v_.entries, "checkpoint", "a checkpoint given before any entry is verified", "a verifier already under way");
  auto info = check_checkpoint(cp);
  if (!info) return diverge(0, "checkpoint", "a checkpoint whose parts fit together", info.error().message);
  auto head = decode_head(cp.head);  // check_checkpoint decoded it
  if (auto d = detail::check_init(info->init, hv_.settings().name, hv_.type_list(), hv_.settings().origin, *head,
                                  opts_.node_key)) {
    v_.first = std::move(d);
    return v_;
  }
  auto root = hv_.state_root();
  if (!root) return diverge(info->index, "checkpoint", "the checkpoint's state", root.error().message);
  if (!(*root == info->root))
    return diverge(info->index, "checkpoint", "state root " + to_hex(info->root), "a hypervisor at " + to_hex(*root));
  from_ = cp;
  init_key_ = info->node_key;
  prev_ = info->entry_hash;
  v_.entries = info->index + 1;
  v_.final_root = info->root;
  return v_;
}

template <replay_target H>
const verdict& log_verifier<H>::advance(const log_reader& log) {
  if (!v_.ok()) return v_;
  const std::uint64_t n = log.size();
  if (from_ && n < v_.entries)
    return diverge(n, "checkpoint", fmt::format("a log that reaches the checkpoint's entry {}", v_.entries - 1),
                   fmt::format("a log of {} entries", n));
  if (n < v_.entries)
    return diverge(n, "head.size", fmt::format("at least the {} entries verified before", v_.entries), std::to_string(n));
  auto raw_head = log.head();
  if (!raw_head) return diverge(n, "head", "a readable signed head", raw_head.error().message);
  if (!*raw_head) {
    if (n == 0) return v_;  // an empty log: nothing to verify
    return diverge(n, "head", "a signed head", "none");
  }
  auto head = decode_head(**raw_head);
  if (!head) return diverge(n, "head", "a signed head", head.error().message);
  if (from_) {  // started at a checkpoint: is this its log? (a pruned log still has entries 0 and K)
    const std::uint64_t k = v_.entries - 1;
    const std::pair<std::uint64_t, const bytes*> mine[2] = {{0, &from_->init}, {k, &from_->entry}};
    for (const auto& [i, want] : mine) {
      auto raw = log.read(i);
      if (raw && *raw != *want)
        return diverge(i, "checkpoint", fmt::format("the checkpoint's entry {} ({})", i, short_hex(entry_hash(*want))),
                       fmt::format("a log whose entry {} is {}: the checkpoint is of another log", i, short_hex(entry_hash(*raw))));
    }
    from_.reset();
  }

  for (std::uint64_t i = v_.entries; i < n; ++i) {
    auto raw = log.read(i);
    if (!raw) return diverge(i, "entry", "a readable entry", raw.error().message);
    auto e = decode_entry(*raw);
    if (!e) return diverge(i, "entry", "a well-formed entry", e.error().message);
    if (e->index != i) return diverge(i, "index", std::to_string(i), std::to_string(e->index));
    if (!(e->prev == prev_)) return diverge(i, "prev", to_hex(prev_), to_hex(e->prev));
    if (i == 0) {
      if (e->kind != "init") return diverge(0, "kind", "init", e->kind);
      if (auto d = detail::check_init(*e, hv_.settings().name, hv_.type_list(), hv_.settings().origin, *head,
                                      opts_.node_key)) {
        v_.first = std::move(d);
        return v_;
      }
      init_key_ = *e->args.find("node_key")->if_bytes();
    } else {
      if (e->kind != "create" && e->kind != "call" && e->kind != "upgrade" && e->kind != "route" && e->kind != "take" &&
          e->kind != "settle")
        return diverge(i, "kind", "create, call, upgrade, route, take or settle", e->kind);
      if (entry_check_)
        if (auto d = entry_check_(*e)) {
          v_.first = std::move(d);
          return v_;
        }
      auto got = hv_.replay(*e);
      std::optional<divergence> d =
          got ? detail::compare_entries(*e, *got)
              : divergence{i, "replay", "an input this hypervisor can make", to_string(got.error()), {}};
      if (d) {
        // Is this entry the one the log chained? The next entry (or the head) says.
        digest linked = head->last;
        if (i + 1 < n) {
          auto next = log.read(i + 1);
          auto ne = next ? decode_entry(*next) : unexpected(next.error());
          if (ne) linked = ne->prev;
        }
        d->entry_intact = linked == entry_hash(*raw);
        v_.first = std::move(d);
        return v_;
      }
    }
    prev_ = entry_hash(*raw);
    v_.entries = i + 1;
    v_.final_root = e->root;
    if (opts_.progress && (v_.entries % opts_.progress_every == 0 || v_.entries == n)) opts_.progress(v_.entries, n);
  }
  if (auto d = detail::check_head(*head, n, prev_, init_key_)) v_.first = std::move(d);
  return v_;
}

/// Replays `log` into the hypervisor `make()` returns (a fresh, logged hypervisor with the
/// native types the log names registered, by value or through a pointer such as
/// std::unique_ptr) and checks everything (see the file comment).
template <class Factory>
verdict verify(const log_reader& log, Factory&& make, const verify_options& opts = {}) {
  auto made = make();
  auto& hv = [&]() -> auto& {
    if constexpr (requires { *made; }) return *made;
    else return made;
  }();
  static_assert(replay_target<std::remove_reference_t<decltype(hv)>>,
                "exo::verify replays into what the factory makes: a logged hypervisor (see exo::replay_target)");
  log_verifier<std::remove_reference_t<decltype(hv)>> lv(hv, opts);
  return lv.advance(log);
}

/// Verifies the entries of `log` after the checkpoint of `snap` (exo/verifier/checkpoint.hpp):
/// imports the snapshot's state into a memory_store and replays into the hypervisor
/// `make(std::move(store))` opens over it (an expected of a logged hypervisor, by value or
/// through a pointer, with the native types the log names registered). The verdict counts
/// every entry up to the checkpoint as verified by its signature; a snapshot that cannot be
/// imported, or a hypervisor that cannot be opened over it, is the divergence "checkpoint".
template <class Factory>
verdict verify_from(const log_reader& log, const snapshot& snap, Factory&& make, const verify_options& opts = {}) {
  memory_store store;
  auto failed = [](std::string got) {
    verdict v;
    v.first = divergence{0, "checkpoint", "a snapshot to start from", std::move(got), {}};
    return v;
  };
  if (auto r = import_snapshot(store, snap); !r) return failed(r.error().message);
  auto made = make(std::move(store));
  if (!made) return failed(made.error().message);
  auto& hv = [&]() -> auto& {
    if constexpr (requires { **made; }) return **made;
    else return *made;
  }();
  log_verifier<std::remove_reference_t<decltype(hv)>> lv(hv, opts);
  if (!lv.start_at(snap.cp).ok()) return lv.result();
  return lv.advance(log);
}

/// How two stores' states compare.
struct store_comparison {
  digest root_a{}, root_b{};
  /// Keys whose values differ, or that only one side has, in key order (empty when equal).
  std::vector<tree_change> changes;
  bool equal() const noexcept { return root_a == root_b; }
};

/// Compares the current states of two trees (over any backends): equal roots, or the keys
/// that differ ("added" = only in b, "removed" = only in a, "changed" = both, other values).
template <class A, class B>
expected<store_comparison> compare_stores(const merkle_tree<A>& a, const merkle_tree<B>& b) {
  store_comparison c{a.root(), b.root(), {}};
  if (c.equal()) return c;
  std::map<bytes, bytes> left;
  if (auto r = a.for_each(byte_view{}, [&](byte_view k, byte_view v) {
        left.emplace(bytes(k.begin(), k.end()), bytes(v.begin(), v.end()));
        return true;
      });
      !r)
    return unexpected(std::move(r).error());
  if (auto r = b.for_each(byte_view{}, [&](byte_view k, byte_view v) {
        auto it = left.find(bytes(k.begin(), k.end()));
        if (it == left.end()) {
          c.changes.push_back({bytes(k.begin(), k.end()), tree_change::kind::added});
        } else {
          if (!std::equal(v.begin(), v.end(), it->second.begin(), it->second.end()))
            c.changes.push_back({it->first, tree_change::kind::changed});
          left.erase(it);
        }
        return true;
      });
      !r)
    return unexpected(std::move(r).error());
  for (auto& [k, v] : left) c.changes.push_back({k, tree_change::kind::removed});
  std::sort(c.changes.begin(), c.changes.end(), [](auto& x, auto& y) { return x.key < y.key; });
  return c;
}

}  // namespace exo
