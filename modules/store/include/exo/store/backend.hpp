#pragma once
/// \file
/// Where the store's nodes live. A backend keeps content-addressed nodes (hash -> stored
/// bytes), the current head root and a few named metadata records, and applies a commit
/// atomically: after a crash, either all of a commit is there or none of it.
///
/// Backends are policies checked by the `store_backend` concept: `memory_store` (here) and
/// `lmdb_store` (exo/store/lmdb_store.hpp). The merkle tree (exo/store/tree.hpp) works the same
/// over either, so the same content gives the same root on both.

#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/id.hpp>

#include <concepts>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace exo {

/// Everything one commit writes, applied atomically.
struct commit_batch {
  /// New nodes: hash -> the bytes to store. Nodes are immutable; writing one that exists is a
  /// no-op.
  std::vector<std::pair<digest, bytes>> nodes;
  /// The root this commit makes current (the zero id for an empty store).
  digest head;
  /// Named records written with the commit (e.g. the call log head, later).
  std::vector<std::pair<std::string, bytes>> meta;
};

/// What a store backend provides:
/// - `read_node(hash)`: the stored bytes, nullopt if there is no such node, or an error (I/O);
/// - `commit(commit_batch&&)`: applies a batch atomically (durably, for persistent backends);
/// - `head()`: the root of the last commit (the zero id before any);
/// - `read_meta(name)`: a metadata record, or nullopt.
template <class B>
concept store_backend = requires(B& b, const B& cb, const digest& h, commit_batch&& batch, std::string_view name) {
  { cb.read_node(h) } -> std::same_as<expected<std::optional<bytes>>>;
  { b.commit(std::move(batch)) } -> std::same_as<expected<void>>;
  { cb.head() } -> std::same_as<expected<digest>>;
  { cb.read_meta(name) } -> std::same_as<expected<std::optional<bytes>>>;
};

/// Nodes in memory: for tests, benchmarks and hypervisors that need no durability.
class memory_store {
 public:
  expected<std::optional<bytes>> read_node(const digest& h) const {
    auto it = nodes_.find(h);
    if (it == nodes_.end()) return std::optional<bytes>{};
    return std::optional<bytes>{it->second};
  }
  expected<void> commit(commit_batch&& batch) {
    for (auto& [h, b] : batch.nodes) nodes_.try_emplace(h, std::move(b));
    for (auto& [k, v] : batch.meta) meta_[k] = std::move(v);
    head_ = batch.head;
    return {};
  }
  expected<digest> head() const { return head_; }
  expected<std::optional<bytes>> read_meta(std::string_view name) const {
    auto it = meta_.find(std::string(name));
    if (it == meta_.end()) return std::optional<bytes>{};
    return std::optional<bytes>{it->second};
  }
  /// Nodes stored (tests and benchmarks look at it).
  std::size_t node_count() const noexcept { return nodes_.size(); }
  /// Direct access to a stored node's bytes, so tests can corrupt them.
  bytes* raw_node(const digest& h) {
    auto it = nodes_.find(h);
    return it == nodes_.end() ? nullptr : &it->second;
  }

 private:
  std::unordered_map<digest, bytes> nodes_;
  std::map<std::string, bytes, std::less<>> meta_;
  digest head_{};
};

static_assert(store_backend<memory_store>, "memory_store must satisfy exo::store_backend");

}  // namespace exo
