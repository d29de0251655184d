#pragma once
/// \file
/// The hypervisor's view of the store: a key-value tree with a root, behind a small virtual
/// interface so that the kernel (which is not a template) can use any backend. The virtual
/// calls are on the paths that load, save and commit actors, never on message delivery.
///
/// `tree_state<Backend>` adapts exo::merkle_tree over a store backend; exo::hypervisor
/// builds one from its Store policy.

#include <exo/store/backend.hpp>
#include <exo/store/tree.hpp>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace exo {

/// Metadata records written with a commit (name, bytes).
using commit_meta = std::vector<std::pair<std::string, bytes>>;

class state_store {
 public:
  virtual ~state_store() = default;
  virtual expected<std::optional<bytes>> get(byte_view key) const = 0;
  virtual expected<void> put(byte_view key, byte_view value) = 0;
  virtual expected<bool> erase(byte_view key) = 0;
  /// The current root, uncommitted changes included.
  virtual digest root() const = 0;
  /// Writes everything to the backend in one commit; returns the root.
  virtual expected<digest> commit(commit_meta meta) = 0;
  /// Goes to an earlier committed root, dropping uncommitted changes.
  virtual expected<void> set_root(const digest& r) = 0;
};

/// Whether a backend keeps its data past the process (memory_store does not). Hypervisors
/// over durable backends refuse actors whose state they could not save.
template <class B>
inline constexpr bool backend_durable = true;
template <>
inline constexpr bool backend_durable<memory_store> = false;

/// exo::merkle_tree over `Backend`, as a state_store.
template <store_backend Backend>
class tree_state final : public state_store {
 public:
  /// Opens the tree at the backend's head. A backend that cannot say its head (I/O, damage)
  /// throws std::runtime_error with the store's message.
  explicit tree_state(Backend& backend) : tree_(open(backend)) {}

  expected<std::optional<bytes>> get(byte_view key) const override { return tree_.get(key); }
  expected<void> put(byte_view key, byte_view value) override { return tree_.put(key, value); }
  expected<bool> erase(byte_view key) override { return tree_.erase(key); }
  digest root() const override { return tree_.root(); }
  expected<digest> commit(commit_meta meta) override { return tree_.commit(std::move(meta)); }
  expected<void> set_root(const digest& r) override { return tree_.set_root(r); }

  merkle_tree<Backend>& tree() noexcept { return tree_; }
  const merkle_tree<Backend>& tree() const noexcept { return tree_; }

 private:
  static merkle_tree<Backend> open(Backend& backend) {
    auto t = merkle_tree<Backend>::open(backend);
    if (!t) throw std::runtime_error("exo: cannot open the state tree: " + to_string(t.error()));
    return std::move(*t);
  }
  merkle_tree<Backend> tree_;
};

}  // namespace exo
