#pragma once
/// \file
/// The state tree as the kernel sees it: a key-value tree with a root, behind a small virtual
/// interface so that the kernel (which is not a template) can use any backend. The virtual
/// calls are on the paths that load, save and commit actors, never on message delivery.
///
/// The layers, bottom up: a `store_backend` keeps nodes (exo/store/backend.hpp);
/// `merkle_tree<Backend>` is the authenticated tree over it (exo/store/tree.hpp);
/// `state_tree` is what the kernel needs of that tree, and `merkle_state<Backend>` provides
/// it. exo::hypervisor builds one from its Store policy.

#include <exo/core/commit_meta.hpp>
#include <exo/store/backend.hpp>
#include <exo/store/tree.hpp>

#include <utility>

namespace exo {

class state_tree {
 public:
  virtual ~state_tree() = default;
  virtual expected<std::optional<bytes>> get(byte_view key) const = 0;
  virtual expected<void> put(byte_view key, byte_view value) = 0;
  virtual expected<bool> erase(byte_view key) = 0;
  /// The current root, uncommitted changes included.
  virtual digest root() const = 0;
  /// Writes everything to the backend in one commit, with `meta`; returns the root.
  virtual expected<digest> commit(commit_meta meta) = 0;
  /// Goes to an earlier committed root, dropping uncommitted changes.
  virtual expected<void> set_root(const digest& r) = 0;
  /// The root of the backend's last commit (what it holds, whatever was changed since).
  virtual expected<digest> head() const = 0;
  /// Whether what the backend holds outlives the process (its Store's `durable`).
  virtual bool durable() const noexcept = 0;
};

/// exo::merkle_tree over `Backend`, as a state_tree.
template <store_backend Backend>
class merkle_state final : public state_tree {
 public:
  /// The tree over `backend` (which must outlive it) at `head`, the backend's head.
  merkle_state(Backend& backend, const root_ref& head) : backend_(backend), tree_(merkle_tree<Backend>::at(backend, head)) {}

  expected<std::optional<bytes>> get(byte_view key) const override { return tree_.get(key); }
  expected<void> put(byte_view key, byte_view value) override { return tree_.put(key, value); }
  expected<bool> erase(byte_view key) override { return tree_.erase(key); }
  digest root() const override { return tree_.root(); }
  expected<digest> commit(commit_meta meta) override { return tree_.commit(std::move(meta)); }
  expected<void> set_root(const digest& r) override { return tree_.set_root(r); }
  expected<digest> head() const override {
    auto h = backend_.head();
    if (!h) return unexpected(std::move(h).error());
    return h->hash;
  }
  bool durable() const noexcept override { return Backend::durable; }

  merkle_tree<Backend>& tree() noexcept { return tree_; }
  const merkle_tree<Backend>& tree() const noexcept { return tree_; }

 private:
  Backend& backend_;
  merkle_tree<Backend> tree_;
};

}  // namespace exo
