#pragma once
/// \file
/// exo's authenticated key-value tree over a store backend (the structure and its hashes are
/// described in exo/store/node.hpp). Updates copy the path they change and keep the new
/// nodes in memory; commit() writes the nodes reachable from the new root in one backend
/// commit and makes that root the head. Older roots stay readable (nodes are never deleted),
/// so set_root() can go back to any of them.
///
/// \code
/// exo::memory_store backend;
/// auto tree = exo::merkle_tree<exo::memory_store>::open(backend).value();
/// tree.put(exo::as_bytes("k"), exo::as_bytes("v"));
/// auto root = tree.commit().value();
/// \endcode

#include <exo/core/hash.hpp>
#include <exo/store/backend.hpp>
#include <exo/store/node.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <unordered_map>

namespace exo {

/// One key that differs between two roots.
struct tree_change {
  enum class kind : std::uint8_t { added, removed, changed };
  bytes key;
  kind what;
};

template <store_backend Backend>
class merkle_tree {
 public:
  /// Opens the tree at the backend's head.
  static expected<merkle_tree> open(Backend& backend) {
    auto head = backend.head();
    if (!head) return unexpected(std::move(head).error());
    merkle_tree t(backend);
    t.root_ = *head;
    return t;
  }

  /// The current root (uncommitted changes included).
  const digest& root() const noexcept { return root_; }

  /// The value under `key`, or nullopt.
  expected<std::optional<bytes>> get(byte_view key) const {
    if (root_.is_zero()) return std::optional<bytes>{};
    auto leaf = best_leaf(key);
    if (!leaf) return unexpected(std::move(leaf).error());
    if (equal((*leaf)->key, key)) return std::optional<bytes>{(*leaf)->value};
    return std::optional<bytes>{};
  }

  /// Sets `key` to `value`.
  expected<void> put(byte_view key, byte_view value) {
    if (key.size() > max_key_size)
      return fail(errc::limit_exceeded, fmt::format("key of {} bytes exceeds the limit of {}", key.size(), max_key_size));
    if (value.size() > max_value_size)
      return fail(errc::limit_exceeded, fmt::format("value of {} bytes exceeds the limit of {}", value.size(), max_value_size));
    auto leaf = std::make_shared<tree_node>();
    leaf->leaf = true;
    leaf->key.assign(key.begin(), key.end());
    leaf->value.assign(value.begin(), value.end());
    leaf->value_hash = hash(leaf->value);
    digest lh = remember(std::move(leaf));
    if (root_.is_zero()) {
      root_ = lh;
      return {};
    }
    auto best = best_leaf(key);  // the leaf a search for key reaches
    if (!best) return unexpected(std::move(best).error());
    if (equal((*best)->key, key)) {
      auto r = replace(root_, key, lh);
      if (!r) return unexpected(std::move(r).error());
      root_ = *r;
      return {};
    }
    auto r = insert(root_, key, crit_bit(key, (*best)->key), lh);
    if (!r) return unexpected(std::move(r).error());
    root_ = *r;
    return {};
  }

  /// Removes `key`; false if it was absent.
  expected<bool> erase(byte_view key) {
    if (root_.is_zero()) return false;
    bool found = false;
    auto r = remove(root_, key, found);
    if (!r) return unexpected(std::move(r).error());
    root_ = *r;
    return found;
  }

  /// Writes every node reachable from the root that is not stored yet, with `meta`, in one
  /// backend commit, and makes the root the backend's head. Returns the root.
  expected<digest> commit(std::vector<std::pair<std::string, bytes>> meta = {}) {
    commit_batch batch;
    batch.head = root_;
    batch.meta = std::move(meta);
    if (!root_.is_zero()) collect(root_, batch);
    auto r = backend_.commit(std::move(batch));
    if (!r) return unexpected(std::move(r).error());
    // What was just written stays decoded in memory: the next reads and updates of these
    // paths must not go back to the backend.
    trim_cache();
    for (auto& [h, n] : dirty_) cache_.insert_or_assign(h, std::move(n));
    dirty_.clear();
    return root_;
  }

  /// Drops uncommitted changes: back to the backend's head.
  expected<void> discard() {
    auto head = backend_.head();
    if (!head) return unexpected(std::move(head).error());
    dirty_.clear();
    root_ = *head;
    return {};
  }

  /// Makes `r` the current root (an earlier committed root, or the zero id). Uncommitted
  /// changes are dropped. A root whose node is not in the store is errc::invalid_argument.
  expected<void> set_root(const digest& r) {
    if (!r.is_zero()) {
      auto n = load(r);
      if (!n) {
        if (n.error().code == errc::malformed) return unexpected(std::move(n).error());
        return fail(errc::invalid_argument, fmt::format("root {} is not in this store", to_hex(r)));
      }
    }
    dirty_.clear();
    root_ = r;
    return {};
  }

  /// Calls f(key, value) for every key that starts with `prefix`, in key order. f may return
  /// false to stop.
  template <class F>
  expected<void> for_each(byte_view prefix, F&& f) const {
    if (root_.is_zero()) return {};
    bool go = true;
    return walk_prefix(root_, prefix, f, go);
  }

  /// The keys that differ between two roots, in key order.
  expected<std::vector<tree_change>> diff(const digest& a, const digest& b) const {
    std::vector<tree_change> out;
    if (auto r = diff_into(a, b, out); !r) return unexpected(std::move(r).error());
    std::sort(out.begin(), out.end(), [](auto& x, auto& y) { return x.key < y.key; });
    return out;
  }

  /// A proof of `key`'s value (or absence) under the current root; check it with
  /// exo::verify_proof.
  expected<proof> prove(byte_view key) const {
    proof p;
    if (root_.is_zero()) return p;
    digest h = root_;
    for (;;) {
      auto n = load(h);
      if (!n) return unexpected(std::move(n).error());
      const tree_node& node = **n;
      if (node.leaf) {
        p.leaf_key = node.key;
        p.leaf_value_hash = node.value_hash;
        return p;
      }
      bool right = key_bit(key, node.bit);
      p.path.push_back({node.bit, right ? node.left : node.right});
      h = right ? node.right : node.left;
    }
  }

  /// Decoded nodes kept in memory; clean ones are dropped past this many after a commit.
  void set_cache_limit(std::size_t n) noexcept { cache_limit_ = n; }

 private:
  using node_ptr = std::shared_ptr<const tree_node>;

  explicit merkle_tree(Backend& b) : backend_(b) {}

  static bool equal(const bytes& a, byte_view b) noexcept {
    return a.size() == b.size() && std::equal(b.begin(), b.end(), a.begin());
  }

  digest remember(std::shared_ptr<tree_node> n) {
    digest h = node_hash(*n);
    dirty_.insert_or_assign(h, std::move(n));
    return h;
  }
  // An uncommitted node that an update replaced is referenced by nothing (keys are unique, so
  // no subtree appears twice, and uncommitted roots are not kept): drop it at once, so a
  // batch of puts keeps only live nodes in memory and commit writes only those.
  void forget(const digest& h) { dirty_.erase(h); }

  digest make_branch(std::uint32_t bit, const digest& l, const digest& r) {
    auto n = std::make_shared<tree_node>();
    n->bit = bit;
    n->left = l;
    n->right = r;
    return remember(std::move(n));
  }

  expected<node_ptr> load(const digest& h) const {
    if (auto it = dirty_.find(h); it != dirty_.end()) return node_ptr(it->second);
    if (auto it = cache_.find(h); it != cache_.end()) return it->second;
    auto raw = backend_.read_node(h);
    if (!raw) return unexpected(std::move(raw).error());
    if (!*raw) return fail(errc::internal, fmt::format("store node {} is missing (the store is incomplete)", to_hex(h)));
    auto n = decode_node(h, **raw);
    if (!n) return unexpected(std::move(n).error());
    auto p = std::make_shared<const tree_node>(std::move(*n));
    cache_.emplace(h, p);
    return p;
  }

  expected<node_ptr> best_leaf(byte_view key) const {
    digest h = root_;
    for (;;) {
      auto n = load(h);
      if (!n) return n;
      if ((*n)->leaf) return n;
      h = key_bit(key, (*n)->bit) ? (*n)->right : (*n)->left;
    }
  }

  expected<digest> replace(const digest& h, byte_view key, const digest& leaf) {
    auto n = load(h);
    if (!n) return unexpected(std::move(n).error());
    node_ptr node = *n;
    if (node->leaf) {
      if (!(h == leaf)) forget(h);
      return leaf;
    }
    bool right = key_bit(key, node->bit);
    auto child = replace(right ? node->right : node->left, key, leaf);
    if (!child) return child;
    forget(h);
    return right ? make_branch(node->bit, node->left, *child) : make_branch(node->bit, *child, node->right);
  }

  expected<digest> insert(const digest& h, byte_view key, std::uint32_t crit, const digest& leaf) {
    auto n = load(h);
    if (!n) return unexpected(std::move(n).error());
    node_ptr node = *n;
    if (!node->leaf && node->bit < crit) {
      bool right = key_bit(key, node->bit);
      auto child = insert(right ? node->right : node->left, key, crit, leaf);
      if (!child) return child;
      forget(h);
      return right ? make_branch(node->bit, node->left, *child) : make_branch(node->bit, *child, node->right);
    }
    return key_bit(key, crit) ? make_branch(crit, h, leaf) : make_branch(crit, leaf, h);
  }

  expected<digest> remove(const digest& h, byte_view key, bool& found) {
    auto n = load(h);
    if (!n) return unexpected(std::move(n).error());
    node_ptr node = *n;
    if (node->leaf) {
      found = equal(node->key, key);
      if (found) forget(h);
      return found ? digest{} : h;
    }
    bool right = key_bit(key, node->bit);
    const digest& side = right ? node->right : node->left;
    auto child = remove(side, key, found);
    if (!child) return child;
    if (!found) return h;
    forget(h);
    if (child->is_zero()) return right ? node->left : node->right;  // the branch collapses
    return right ? make_branch(node->bit, node->left, *child) : make_branch(node->bit, *child, node->right);
  }

  // Adds the not-yet-stored nodes under h (only dirty subtrees need a visit).
  void collect(const digest& h, commit_batch& batch) const {
    auto it = dirty_.find(h);
    if (it == dirty_.end()) return;
    const tree_node& n = *it->second;
    batch.nodes.emplace_back(h, encode_node(n));
    if (!n.leaf) {
      collect(n.left, batch);
      collect(n.right, batch);
    }
  }

  void trim_cache() {
    if (cache_.size() > cache_limit_) cache_.clear();
  }

  template <class F>
  expected<void> walk_prefix(const digest& h, byte_view prefix, F& f, bool& go) const {
    if (!go) return {};
    auto n = load(h);
    if (!n) return unexpected(std::move(n).error());
    node_ptr node = *n;
    if (node->leaf) {
      if (node->key.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), node->key.begin()))
        go = f(byte_view(node->key), byte_view(node->value));
      return {};
    }
    if (node->bit < prefix.size() * 9)  // the prefix decides the side
      return walk_prefix(key_bit(prefix, node->bit) ? node->right : node->left, prefix, f, go);
    if (auto r = walk_prefix(node->left, prefix, f, go); !r) return r;
    return walk_prefix(node->right, prefix, f, go);
  }

  expected<void> leaves(const digest& h, std::unordered_map<std::string, digest>& out) const {
    if (h.is_zero()) return {};
    auto n = load(h);
    if (!n) return unexpected(std::move(n).error());
    node_ptr node = *n;
    if (node->leaf) {
      out.emplace(std::string(node->key.begin(), node->key.end()), node->value_hash);
      return {};
    }
    if (auto r = leaves(node->left, out); !r) return r;
    return leaves(node->right, out);
  }

  expected<void> diff_into(const digest& a, const digest& b, std::vector<tree_change>& out) const {
    if (a == b) return {};
    if (!a.is_zero() && !b.is_zero()) {
      auto na = load(a), nb = load(b);
      if (!na) return unexpected(std::move(na).error());
      if (!nb) return unexpected(std::move(nb).error());
      if (!(*na)->leaf && !(*nb)->leaf && (*na)->bit == (*nb)->bit) {  // same shape here: recurse
        if (auto r = diff_into((*na)->left, (*nb)->left, out); !r) return r;
        return diff_into((*na)->right, (*nb)->right, out);
      }
    }
    std::unordered_map<std::string, digest> la, lb;
    if (auto r = leaves(a, la); !r) return r;
    if (auto r = leaves(b, lb); !r) return r;
    for (auto& [k, v] : la) {
      auto it = lb.find(k);
      if (it == lb.end()) out.push_back({bytes(k.begin(), k.end()), tree_change::kind::removed});
      else if (!(it->second == v)) out.push_back({bytes(k.begin(), k.end()), tree_change::kind::changed});
    }
    for (auto& [k, v] : lb)
      if (!la.count(k)) out.push_back({bytes(k.begin(), k.end()), tree_change::kind::added});
    return {};
  }

  Backend& backend_;
  digest root_{};
  std::unordered_map<digest, std::shared_ptr<tree_node>> dirty_;
  mutable std::unordered_map<digest, node_ptr> cache_;
  std::size_t cache_limit_ = std::size_t{1} << 22;
};

}  // namespace exo
