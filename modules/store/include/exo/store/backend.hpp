#pragma once
/// \file
/// Where the store's nodes live. A backend keeps the tree's nodes in an append-only sequence
/// of positions, the current head root, an index from committed roots to their positions, and
/// a few named metadata records, and it applies a commit atomically: after a crash, either all
/// of a commit is there or none of it.
///
/// Nodes are named by their hash and found by their position. Every reference to a node, in
/// its parent or in a root record, carries both; reading a node checks its bytes against the
/// hash (exo/store/node.hpp), so a position that holds the wrong bytes is reported as that
/// node being corrupt, never trusted. Positions only make storage local: a commit's nodes get
/// consecutive positions after the last stored one, so a commit writes a few sequential pages
/// instead of one random page per node (which is what keying nodes by hash costs on a B-tree).
/// Positions are not part of any hash, so the same content gives the same root on every
/// backend and history.
///
/// Backends are policies checked by the `store_backend` concept: `memory_store` (here) and
/// `lmdb_store` (exo/store/lmdb_store.hpp).

#include <exo/core/bytes.hpp>
#include <exo/core/commit_meta.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/id.hpp>

#include <fmt/format.h>

#include <concepts>
#include <functional>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace exo {

/// The position of a stored node: 1, 2, ... in the order nodes were stored; 0 is "none".
using node_pos = std::uint64_t;

/// A reference to a root: its hash and the position of its node (0 for the empty tree).
struct root_ref {
  digest hash{};
  node_pos pos = 0;
  friend bool operator==(const root_ref&, const root_ref&) = default;
};

/// Everything one commit writes, applied atomically.
struct commit_batch {
  /// The position of nodes[0]; nodes[i] goes to first + i. It must be the backend's
  /// next_position() (a backend refuses any other: it would leave a gap or overwrite).
  node_pos first = 0;
  /// New nodes' stored bytes, in position order.
  std::vector<bytes> nodes;
  /// The root this commit makes current (the zero hash and position 0 for an empty store).
  /// A non-empty head's position must be stored already or be in this batch.
  root_ref head;
  /// Named records written with the commit (the call log's entries and head, for one).
  commit_meta meta;
};

/// What a store backend provides:
/// - `static constexpr bool durable`: whether what it holds outlives the process (a
///   hypervisor over a durable store keeps only actors whose state it can save);
/// - `read_node(pos)`: the stored bytes, nullopt if nothing is stored there, or an error (I/O);
/// - `next_position()`: where the next commit's nodes start;
/// - `commit(commit_batch&&)`: applies a batch atomically (durably, for persistent backends);
/// - `head()`: the root of the last commit (zero before any);
/// - `find_root(hash)`: the position of a root some commit made the head, or nullopt;
/// - `read_meta(name)`: a metadata record, or nullopt.
template <class B>
concept store_backend = requires(B& b, const B& cb, node_pos pos, const digest& h, commit_batch&& batch,
                                 std::string_view name) {
  { B::durable } -> std::convertible_to<bool>;
  { cb.read_node(pos) } -> std::same_as<expected<std::optional<bytes>>>;
  { cb.next_position() } -> std::same_as<node_pos>;
  { b.commit(std::move(batch)) } -> std::same_as<expected<void>>;
  { cb.head() } -> std::same_as<expected<root_ref>>;
  { cb.find_root(h) } -> std::same_as<expected<std::optional<node_pos>>>;
  { cb.read_meta(name) } -> std::same_as<expected<std::optional<bytes>>>;
};

/// Checks a batch against a backend whose next free position is `next`: the first shared
/// part of both backends' commit validation. errc::invalid_argument says what is wrong.
inline expected<void> check_batch(const commit_batch& batch, node_pos next) {
  if (batch.first != next)
    return fail(errc::invalid_argument,
                fmt::format("a commit's nodes start at position {}, but the store's next position is {} (another "
                            "writer committed since this one looked, or the batch is stale); nothing was committed",
                            batch.first, next));
  if (batch.head.hash.is_zero() != (batch.head.pos == 0) || batch.head.pos >= next + batch.nodes.size())
    return fail(errc::invalid_argument,
                fmt::format("a commit's head names position {}, which neither is stored nor is in the commit; "
                            "nothing was committed",
                            batch.head.pos));
  return {};
}

/// A backend that keeps its files in a data directory: a hypervisor over it keeps its node
/// key there too (node.key), so the log it signs is signed by the same key after a restart.
template <class B>
concept directory_store = store_backend<B> && requires(const B& b) {
  { b.directory() } -> std::convertible_to<std::string_view>;
};

/// A backend that can write behind (lmdb_store::set_write_behind): commit() returns before
/// the commit is on disk, when_durable(fn) says when it is (or that it failed), and
/// take_failure() reports a failed one once.
template <class B>
concept write_behind_store = store_backend<B> && requires(B& b, std::function<void(const expected<void>&)> fn) {
  { b.set_write_behind(true) } -> std::same_as<expected<void>>;
  { b.when_durable(std::move(fn)) } -> std::same_as<void>;
  { b.take_failure() } -> std::same_as<std::optional<error>>;
};

/// Nodes in memory: for tests, benchmarks and hypervisors that need no durability.
class memory_store {
 public:
  static constexpr bool durable = false;
  expected<std::optional<bytes>> read_node(node_pos pos) const {
    if (pos == 0 || pos > nodes_.size()) return std::optional<bytes>{};
    return std::optional<bytes>{nodes_[pos - 1]};
  }
  node_pos next_position() const noexcept { return nodes_.size() + 1; }
  expected<void> commit(commit_batch&& batch) {
    if (auto ok = check_batch(batch, next_position()); !ok) return ok;
    for (auto& b : batch.nodes) nodes_.push_back(std::move(b));
    for (auto& [k, v] : batch.meta) meta_[k] = std::move(v);
    head_ = batch.head;
    if (head_.pos != 0) roots_[head_.hash] = head_.pos;
    return {};
  }
  expected<root_ref> head() const { return head_; }
  expected<std::optional<node_pos>> find_root(const digest& h) const {
    if (h.is_zero()) return std::optional<node_pos>{0};
    auto it = roots_.find(h);
    if (it == roots_.end()) return std::optional<node_pos>{};
    return std::optional<node_pos>{it->second};
  }
  expected<std::optional<bytes>> read_meta(std::string_view name) const {
    auto it = meta_.find(name);
    if (it == meta_.end()) return std::optional<bytes>{};
    return std::optional<bytes>{it->second};
  }
  /// Nodes stored (tests and benchmarks look at it).
  std::size_t node_count() const noexcept { return nodes_.size(); }
  /// Direct access to a stored node's bytes, so tests can corrupt them.
  bytes* raw_node(node_pos pos) { return pos == 0 || pos > nodes_.size() ? nullptr : &nodes_[pos - 1]; }

 private:
  std::vector<bytes> nodes_;
  std::unordered_map<digest, node_pos> roots_;
  std::map<std::string, bytes, std::less<>> meta_;
  root_ref head_{};
};

static_assert(store_backend<memory_store>, "memory_store must satisfy exo::store_backend");
static_assert(!directory_store<memory_store> && !write_behind_store<memory_store>,
              "memory_store keeps no files and writes nothing behind");

}  // namespace exo
