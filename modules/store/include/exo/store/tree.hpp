#pragma once
/// \file
/// exo's authenticated key-value tree over a store backend (the structure and its hashes are
/// described in exo/store/node.hpp).
///
/// The current version of the tree is held in memory as a tree of nodes, loaded from the
/// backend as paths are first read. Updates change the nodes on their path in place and mark
/// them unhashed and unstored; nothing is hashed until a root is asked for (root(), prove(),
/// commit()), and then each changed node is hashed once, however many updates touched it.
/// commit() writes the changed nodes in one backend commit, children before parents at
/// consecutive positions (exo/store/backend.hpp), and makes the root the head. Stored nodes are
/// never changed in the backend, so every earlier root stays readable and set_root() can go
/// back to any of them. After a commit, a tree holding more nodes than its
/// cache limit drops the deeper ones from memory (they are reloaded when needed).
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
  struct node;
  struct node_free {
    void operator()(node* n) const noexcept;
  };
  using node_ptr = std::unique_ptr<node, node_free>;

 public:
  /// Opens the tree at the backend's head.
  static expected<merkle_tree> open(Backend& backend) {
    auto head = backend.head();
    if (!head) return unexpected(std::move(head).error());
    return at(backend, *head);
  }

  /// The tree at `head`, a root the backend holds (its head(), read by the caller), without
  /// reading anything now.
  static merkle_tree at(Backend& backend, const root_ref& head) {
    merkle_tree t(backend);
    t.root_.hash = head.hash;
    t.root_.pos = head.pos;
    return t;
  }

  /// The current root (uncommitted changes included; hashes what changed since last asked).
  digest root() const { return hash_of(root_); }

  /// The value under `key`, or nullopt.
  expected<std::optional<bytes>> get(byte_view key) const {
    if (root_.empty()) return std::optional<bytes>{};
    auto leaf = best_leaf(key);
    if (!leaf) return unexpected(std::move(leaf).error());
    if (!equal((*leaf)->key(), key)) return std::optional<bytes>{};
    byte_view v = (*leaf)->value();
    return std::optional<bytes>{std::in_place, v.begin(), v.end()};
  }

  /// Sets `key` to `value`.
  expected<void> put(byte_view key, byte_view value) {
    if (key.size() > max_key_size)
      return fail(errc::limit_exceeded, fmt::format("key of {} bytes exceeds the limit of {}", key.size(), max_key_size));
    if (value.size() > max_value_size)
      return fail(errc::limit_exceeded, fmt::format("value of {} bytes exceeds the limit of {}", value.size(), max_value_size));
    if (root_.empty()) {
      root_.ptr = new_leaf(key, value);
      return {};
    }
    auto best = best_leaf(key);  // loads the whole path
    if (!best) return unexpected(std::move(best).error());
    leaf_node* leaf = *best;
    if (equal(leaf->key(), key)) {
      if (equal(leaf->value(), value)) return {};  // nothing changes
      for (ref* r = &root_;;) {
        node* n = r->ptr.get();
        n->touch();
        if (n->leaf) break;
        r = &as_branch(n)->kid[key_bit(key, n->bit)];
      }
      leaf->set_value(value);
      return {};
    }
    const std::uint32_t crit = crit_bit(key, leaf->key());
    ref* r = &root_;
    for (;;) {  // down to where the new branch goes: above the first node deciding a later bit
      node* n = r->ptr.get();
      if (n->leaf || n->bit > crit) break;
      n->touch();
      r = &as_branch(n)->kid[key_bit(key, n->bit)];
    }
    auto* branch = new branch_node;
    branch->bit = crit;
    ++loaded_;
    const bool right = key_bit(key, crit);
    branch->kid[right ? 0 : 1] = std::move(*r);
    branch->kid[right ? 1 : 0].ptr = new_leaf(key, value);
    r->ptr.reset(branch);
    r->hash = digest{};
    return {};
  }

  /// Removes `key`; false if it was absent.
  expected<bool> erase(byte_view key) {
    if (root_.empty()) return false;
    ref* r = &root_;
    ref* parent = nullptr;
    for (;;) {
      auto n = resolve(*r);
      if (!n) return unexpected(std::move(n).error());
      if ((*n)->leaf) break;
      parent = r;
      r = &as_branch(*n)->kid[key_bit(key, (*n)->bit)];
    }
    if (!equal(as_leaf(r->ptr.get())->key(), key)) return false;
    for (ref* p = &root_; p != r; p = &as_branch(p->ptr.get())->kid[key_bit(key, p->ptr->bit)]) p->ptr->touch();
    if (!parent) {
      root_ = ref{};
      loaded_ = 0;
      return true;
    }
    branch_node* p = as_branch(parent->ptr.get());
    ref sibling = std::move(p->kid[r == &p->kid[0] ? 1 : 0]);
    *parent = std::move(sibling);  // the branch collapses; it and the leaf are freed
    loaded_ -= std::min<std::size_t>(loaded_, 2);
    return true;
  }

  /// Writes every changed node, with `meta`, in one backend commit, and makes the root the
  /// backend's head. Returns the root.
  expected<digest> commit(commit_meta meta = {}) {
    commit_batch batch;
    hash_of(root_);
    batch.first = backend_.next_position();
    std::vector<node*> written;
    node_pos next = batch.first;
    place(root_, next, batch, written);
    batch.head = root_ref{root_.hash, root_.empty() ? 0 : root_.pos};
    batch.meta = std::move(meta);
    auto r = backend_.commit(std::move(batch));
    if (!r) return unexpected(std::move(r).error());
    for (node* n : written) n->stored = true;
    if (loaded_ > cache_limit_) prune();
    return root_.hash;
  }

  /// Drops uncommitted changes: back to the backend's head.
  expected<void> discard() {
    auto head = backend_.head();
    if (!head) return unexpected(std::move(head).error());
    root_ = ref{head->hash, head->pos, nullptr};
    loaded_ = 0;
    return {};
  }

  /// Makes `r` the current root (a root some commit made the head, or the zero id).
  /// Uncommitted changes are dropped. Any other hash is errc::invalid_argument.
  expected<void> set_root(const digest& r) {
    auto pos = locate_root(r);
    if (!pos) return unexpected(std::move(pos).error());
    ref next{r, *pos, nullptr};
    if (!r.is_zero()) {
      if (auto n = resolve(next); !n) return unexpected(std::move(n).error());
    }
    root_ = std::move(next);
    loaded_ = root_.ptr ? 1 : 0;
    return {};
  }

  /// Calls f(key, value) for every key that starts with `prefix`, in key order. f may return
  /// false to stop.
  template <class F>
  expected<void> for_each(byte_view prefix, F&& f) const {
    if (root_.empty()) return {};
    bool go = true;
    return walk_prefix(root_, prefix, f, go);
  }

  /// The keys that differ between two roots, in key order. Either may be the current
  /// (uncommitted) root; others must be roots some commit made the head.
  expected<std::vector<tree_change>> diff(const digest& a, const digest& b) const {
    std::vector<tree_change> out;
    auto ca = root_cursor(a), cb = root_cursor(b);
    if (!ca) return unexpected(std::move(ca).error());
    if (!cb) return unexpected(std::move(cb).error());
    if (auto r = diff_into(*ca, *cb, out); !r) return unexpected(std::move(r).error());
    std::sort(out.begin(), out.end(), [](auto& x, auto& y) { return x.key < y.key; });
    return out;
  }

  /// A proof of `key`'s value (or absence) under the current root; check it with
  /// exo::verify_proof.
  expected<proof> prove(byte_view key) const {
    proof p;
    if (root_.empty()) return p;
    hash_of(root_);
    for (const ref* r = &root_;;) {
      auto n = resolve(*r);
      if (!n) return unexpected(std::move(n).error());
      if ((*n)->leaf) {
        const leaf_node* l = as_leaf(*n);
        p.leaf_key = bytes(l->key().begin(), l->key().end());
        p.leaf_value_hash = l->value_hash;
        return p;
      }
      const branch_node* b = as_branch(*n);
      bool right = key_bit(key, b->bit);
      p.path.push_back({b->bit, b->kid[right ? 0 : 1].hash});
      r = &b->kid[right ? 1 : 0];
    }
  }

  /// Most nodes kept in memory after a commit; past it, the deeper ones are dropped.
  void set_cache_limit(std::size_t n) noexcept { cache_limit_ = n; }
  /// Nodes held in memory (roughly: updates count the nodes they add and remove).
  std::size_t loaded_nodes() const noexcept { return loaded_; }

 private:
  // A reference to a node: the node's hash (current when the node is not in memory, or is
  // and is `hashed`), its position (current when the node is `stored`) and the node, when it
  // is in memory. A node's hash lives only in the reference to it.
  struct ref {
    digest hash{};
    node_pos pos = 0;
    node_ptr ptr;
    bool empty() const noexcept { return !ptr && hash.is_zero(); }
  };
  // Nodes in memory are kept small (a branch is 104 bytes, a leaf 72 plus its key and value
  // in one buffer): a walk down the tree is a chain of cache misses, so size is speed.
  struct node {
    bool leaf = false;
    bool hashed = false;  // the hash in the reference to this node is current
    bool stored = false;  // this content is in the backend, at the reference's position
    std::uint32_t bit = 0;  // branch: the crit bit
    void touch() noexcept { hashed = stored = false; }
  };
  struct branch_node : node {
    ref kid[2];  // left and right
  };
  struct leaf_node : node {
    digest value_hash{};  // current when hashed
    std::uint32_t key_size = 0;
    bytes kv;  // the key, then the value
    byte_view key() const noexcept { return byte_view(kv.data(), key_size); }
    byte_view value() const noexcept { return byte_view(kv.data() + key_size, kv.size() - key_size); }
    void set_value(byte_view v) {
      kv.resize(key_size + v.size());
      std::copy(v.begin(), v.end(), kv.begin() + key_size);
    }
  };
  static branch_node* as_branch(node* n) noexcept { return static_cast<branch_node*>(n); }
  static const branch_node* as_branch(const node* n) noexcept { return static_cast<const branch_node*>(n); }
  static leaf_node* as_leaf(node* n) noexcept { return static_cast<leaf_node*>(n); }
  static const leaf_node* as_leaf(const node* n) noexcept { return static_cast<const leaf_node*>(n); }

  explicit merkle_tree(Backend& b) : backend_(b) {}

  static bool equal(byte_view a, byte_view b) noexcept {
    return a.size() == b.size() && std::equal(b.begin(), b.end(), a.begin());
  }

  node_ptr new_leaf(byte_view key, byte_view value) {
    auto* n = new leaf_node;
    n->leaf = true;
    n->key_size = static_cast<std::uint32_t>(key.size());
    n->kv.reserve(key.size() + value.size());
    n->kv.assign(key.begin(), key.end());
    n->kv.insert(n->kv.end(), value.begin(), value.end());
    ++loaded_;
    return node_ptr(n);
  }

  // The node behind r, loaded from the backend (and checked against its hash) if needed.
  expected<node*> resolve(ref& r) const {
    if (r.ptr) return r.ptr.get();
    auto d = read(r.hash, r.pos);
    if (!d) return unexpected(std::move(d).error());
    if (d->leaf) {
      auto* l = new leaf_node;
      r.ptr.reset(l);
      l->leaf = true;
      l->value_hash = d->value_hash;
      l->key_size = static_cast<std::uint32_t>(d->key.size());
      l->kv = std::move(d->key);
      l->kv.insert(l->kv.end(), d->value.begin(), d->value.end());
    } else {
      auto* b = new branch_node;
      r.ptr.reset(b);
      b->bit = d->bit;
      b->kid[0].hash = d->left;
      b->kid[0].pos = d->left_pos;
      b->kid[1].hash = d->right;
      b->kid[1].pos = d->right_pos;
    }
    r.ptr->hashed = r.ptr->stored = true;
    ++loaded_;
    return r.ptr.get();
  }
  expected<node*> resolve(const ref& r) const { return resolve(const_cast<ref&>(r)); }

  // Reads and checks the node with hash h stored at pos.
  expected<tree_node> read(const digest& h, node_pos pos) const {
    auto raw = backend_.read_node(pos);
    if (!raw) return unexpected(std::move(raw).error());
    if (!*raw)
      return fail(errc::malformed, fmt::format("store node {} is missing: nothing is stored at position {} (the store "
                                               "is incomplete or damaged)",
                                               to_hex(h), pos));
    return decode_node(h, pos, **raw);
  }

  // Where root r is stored (0 for the empty tree); errc::invalid_argument if no commit made
  // it the head.
  expected<node_pos> locate_root(const digest& r) const {
    if (r.is_zero()) return node_pos{0};
    // The current root, when it was committed (and its commit was not dropped since: a store
    // that writes behind may drop commits, and then its next position goes back before them).
    if (r == root_.hash && root_.pos != 0 && (!root_.ptr || root_.ptr->stored) && root_.pos < backend_.next_position())
      return root_.pos;
    auto pos = backend_.find_root(r);
    if (!pos) return unexpected(std::move(pos).error());
    if (!*pos)
      return fail(errc::invalid_argument,
                  fmt::format("root {} is not in this store (no commit made it the head, or it was pruned)", to_hex(r)));
    return **pos;
  }

  expected<leaf_node*> best_leaf(byte_view key) const {
    const ref* r = &root_;
    for (;;) {
      auto n = resolve(*r);
      if (!n) return unexpected(std::move(n).error());
      if ((*n)->leaf) return as_leaf(*n);
      r = &as_branch(*n)->kid[key_bit(key, (*n)->bit)];
    }
  }

  // Hashes what changed under r (each changed node once) and returns r's hash.
  static const digest& hash_of(const ref& cr) {
    ref& r = const_cast<ref&>(cr);
    if (!r.ptr || r.ptr->hashed) return r.hash;
    node* n = r.ptr.get();
    if (n->leaf) {
      leaf_node* l = as_leaf(n);
      l->value_hash = hash(l->value());
      r.hash = leaf_hash(l->key(), l->value_hash);
    } else {
      branch_node* b = as_branch(n);
      const digest& left = hash_of(b->kid[0]);
      r.hash = branch_hash(b->bit, left, hash_of(b->kid[1]));
    }
    n->hashed = true;
    return r.hash;
  }

  // Gives the unstored nodes under r the next positions, children first, and adds their
  // stored bytes to the batch (only changed subtrees need a visit). Everything is hashed.
  static void place(ref& r, node_pos& next, commit_batch& batch, std::vector<node*>& written) {
    if (!r.ptr || r.ptr->stored) return;
    node* n = r.ptr.get();
    if (n->leaf) {
      r.pos = next++;
      batch.nodes.push_back(encode_leaf(as_leaf(n)->key(), as_leaf(n)->value()));
    } else {
      branch_node* b = as_branch(n);
      place(b->kid[0], next, batch, written);
      place(b->kid[1], next, batch, written);
      r.pos = next++;
      batch.nodes.push_back(encode_branch(b->bit, b->kid[0].hash, b->kid[1].hash, r.pos, b->kid[0].pos, b->kid[1].pos));
    }
    written.push_back(n);
  }

  // Keeps the top levels in memory and drops the rest (everything is stored by now).
  void prune() {
    std::size_t kept = 0;
    std::size_t depth = 0;
    for (std::size_t budget = cache_limit_ / 2; (std::size_t{2} << depth) <= budget && depth < 40;) ++depth;
    prune_below(root_, 0, depth, kept);
    loaded_ = kept;
  }
  static void prune_below(ref& r, std::size_t level, std::size_t depth, std::size_t& kept) {
    if (!r.ptr) return;
    if (level >= depth) {
      r.ptr.reset();
      return;
    }
    ++kept;
    if (!r.ptr->leaf) {
      prune_below(as_branch(r.ptr.get())->kid[0], level + 1, depth, kept);
      prune_below(as_branch(r.ptr.get())->kid[1], level + 1, depth, kept);
    }
  }

  template <class F>
  expected<void> walk_prefix(const ref& r, byte_view prefix, F& f, bool& go) const {
    if (!go) return {};
    auto n = resolve(r);
    if (!n) return unexpected(std::move(n).error());
    if ((*n)->leaf) {
      const leaf_node* l = as_leaf(*n);
      byte_view k = l->key();
      if (k.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), k.begin())) go = f(k, l->value());
      return {};
    }
    const branch_node* b = as_branch(*n);
    if (b->bit < prefix.size() * 9)  // the prefix decides the side
      return walk_prefix(b->kid[key_bit(prefix, b->bit)], prefix, f, go);
    if (auto x = walk_prefix(b->kid[0], prefix, f, go); !x) return x;
    return walk_prefix(b->kid[1], prefix, f, go);
  }

  // A position for diffs: a hash, where it is stored, and the in-memory node when it is part
  // of the current tree (hashed: diff asks for the root first).
  struct cursor {
    digest h;
    node_pos pos = 0;
    const node* mem = nullptr;
  };
  expected<cursor> root_cursor(const digest& r) const {
    if (r == root()) return cursor{r, root_.pos, root_.ptr.get()};
    auto pos = locate_root(r);
    if (!pos) return unexpected(std::move(pos).error());
    return cursor{r, *pos, nullptr};
  }
  // The node at c, with its children's hashes and positions (a leaf's value is not needed).
  expected<tree_node> fetch(const cursor& c) const {
    if (!c.mem) return read(c.h, c.pos);
    tree_node d;
    if (c.mem->leaf) {
      const leaf_node* l = as_leaf(c.mem);
      d.leaf = true;
      d.key.assign(l->key().begin(), l->key().end());
      d.value_hash = l->value_hash;
    } else {
      const branch_node* b = as_branch(c.mem);
      d.bit = b->bit;
      d.left = b->kid[0].hash;
      d.right = b->kid[1].hash;
    }
    return d;
  }
  static cursor child(const cursor& c, const tree_node& d, int side) {
    if (c.mem) {
      const ref& k = as_branch(c.mem)->kid[side];
      return cursor{k.hash, k.pos, k.ptr.get()};
    }
    return cursor{side ? d.right : d.left, side ? d.right_pos : d.left_pos, nullptr};
  }

  expected<void> leaves(const cursor& c, std::unordered_map<std::string, digest>& out) const {
    if (c.h.is_zero()) return {};
    auto d = fetch(c);
    if (!d) return unexpected(std::move(d).error());
    if (d->leaf) {
      out.emplace(std::string(d->key.begin(), d->key.end()), d->value_hash);
      return {};
    }
    if (auto r = leaves(child(c, *d, 0), out); !r) return r;
    return leaves(child(c, *d, 1), out);
  }

  expected<void> diff_into(const cursor& a, const cursor& b, std::vector<tree_change>& out) const {
    if (a.h == b.h) return {};
    if (!a.h.is_zero() && !b.h.is_zero()) {
      auto na = fetch(a), nb = fetch(b);
      if (!na) return unexpected(std::move(na).error());
      if (!nb) return unexpected(std::move(nb).error());
      if (!na->leaf && !nb->leaf && na->bit == nb->bit) {  // same shape here: recurse
        if (auto r = diff_into(child(a, *na, 0), child(b, *nb, 0), out); !r) return r;
        return diff_into(child(a, *na, 1), child(b, *nb, 1), out);
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
  ref root_;
  mutable std::size_t loaded_ = 0;
  std::size_t cache_limit_ = std::size_t{1} << 21;
};

template <store_backend Backend>
void merkle_tree<Backend>::node_free::operator()(node* n) const noexcept {
  if (n->leaf) delete static_cast<leaf_node*>(n);
  else delete static_cast<branch_node*>(n);
}

}  // namespace exo
