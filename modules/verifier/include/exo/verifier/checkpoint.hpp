#pragma once
/// \file
/// Checkpoints and snapshots: a verifier that starts at log entry K instead of at the image
/// (DESIGN.md section 5).
///
/// A checkpoint is a log entry K with what a verifier needs to start there without replaying
/// what came before:
/// - the entry itself: like every entry, it commits the state root after input K;
/// - the log's init entry (entry 0): what the node is, its image (origin), its log format and
///   its node key;
/// - the head the node signed when its log ended at K (size K+1, last = the entry's hash): the
///   node key vouches for the entry, so for its root.
/// A snapshot is a checkpoint with the state at that root: every node of the merkle tree,
/// children before parents. Reading one checks every node against the signed root (a node
/// changed, added, dropped or swapped, or a state of another root, is refused), so what a
/// verifier starts from is exactly the state the node signed.
///
/// What a verification from a checkpoint proves: that every entry after K follows from the
/// state the node signed at K. For entries up to K it takes the node's signature instead of a
/// replay (a verifier that replays from the image checks those too).
///
/// The snapshot file (`exo checkpoint DIR -o FILE`): the sealed envelope of
/// exo/core/sealed_file.hpp with magic "EXOSNAP1" and content {format: "exo-snapshot-1",
/// init, entry, head (the three encoded as in the log), nodes: [bytes...]}. Node i (from 1) is
/// stored as a store keeps it at position i (exo/store/node.hpp): a branch names its children
/// by distance back, so the nodes import at any position of any store unchanged. The file is
/// read and written whole, in memory (limit: sealed_limits, 1 GiB by default).
///
/// \code
/// auto snap = exo::take_snapshot(store, log).value();    // at the log's last entry
/// exo::write_snapshot(snap, "at-5000.snap").value();
/// // elsewhere:
/// auto got = exo::read_snapshot("at-5000.snap").value(); // every node checked
/// auto v = exo::verify_from(log, got, make_replay_hypervisor);  // replays 5001.. only
/// \endcode

#include <exo/call_log/entry.hpp>
#include <exo/call_log/store_log.hpp>
#include <exo/core/sealed_file.hpp>
#include <exo/store/backend.hpp>
#include <exo/store/node.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace exo {

/// The format a snapshot file declares.
inline constexpr std::string_view snapshot_format = "exo-snapshot-1";

/// Log entry K and what vouches for it (see the file comment), as encoded bytes.
struct checkpoint {
  bytes init;   ///< entry 0
  bytes entry;  ///< entry K
  bytes head;   ///< the head signed when the log had K + 1 entries
};

/// A checkpoint, decoded and checked on its own.
struct checkpoint_info {
  std::uint64_t index = 0;  ///< K
  digest root{};            ///< the state root after entry K
  digest entry_hash{};      ///< entry K's hash
  log_entry init;           ///< the init entry
  bytes node_key;           ///< the key the init entry declares and the head is signed with
};

/// Checks what a checkpoint can show without a log: each part decodes; the init entry is
/// entry 0 of kind init and declares a node key; the head counts K + 1 entries, names entry
/// K's hash, carries the init entry's key, and its signature holds. errc::malformed for parts
/// that do not decode, errc::invalid_argument for parts that do not fit together.
expected<checkpoint_info> check_checkpoint(const checkpoint& cp);

/// The checkpoint at the end of `log` (its last entry, entry 0 and its signed head).
/// errc::invalid_argument for an empty log.
expected<checkpoint> checkpoint_at_end(const log_reader& log);

/// A checkpoint and the state at its root.
struct snapshot {
  checkpoint cp;
  /// The tree's nodes as stored at positions 1, 2, ... (children before parents; the last
  /// one is the root). Empty for the empty state.
  std::vector<bytes> nodes;
};

/// Checks that `nodes` are exactly one tree, as a snapshot holds it, whose root is `root`:
/// every node decodes, names children stored before it whose hashes are the ones it names,
/// each node but the last is the child of exactly one node, and the last hashes to `root`.
/// errc::malformed saying which node and what is wrong.
expected<void> check_snapshot_nodes(const std::vector<bytes>& nodes, const digest& root);

/// The nodes of the tree at `root` in `store` (a root some commit made the head), in snapshot
/// order. Each node read is checked against its hash, so a damaged store is reported, never
/// exported. A root the store does not hold is errc::invalid_argument.
template <store_backend B>
expected<std::vector<bytes>> collect_nodes(const B& store, const digest& root);

/// The snapshot of `store` at the end of `log` (the log kept in that store).
template <store_backend B>
expected<snapshot> take_snapshot(const B& store, const log_reader& log) {
  auto cp = checkpoint_at_end(log);
  if (!cp) return unexpected(std::move(cp).error());
  auto info = check_checkpoint(*cp);
  if (!info) return unexpected(std::move(info).error());
  auto nodes = collect_nodes(store, info->root);
  if (!nodes) return unexpected(std::move(nodes).error());
  return snapshot{std::move(*cp), std::move(*nodes)};
}

/// The snapshot file's bytes.
expected<bytes> encode_snapshot(const snapshot& s);
/// Writes a snapshot file (through a temporary file renamed into place, so a crash leaves
/// the old file or the new one, never half of one).
expected<void> write_snapshot(const snapshot& s, const std::string& path);
/// Reads a snapshot from a file's bytes and checks it: the envelope, the format, the
/// checkpoint (check_checkpoint) and the nodes against its root (check_snapshot_nodes).
/// Anything else is errc::malformed (or errc::limit_exceeded, or errc::invalid_argument for a
/// checkpoint whose parts do not fit together), saying what is wrong.
expected<snapshot> decode_snapshot(byte_view file, const sealed_limits& limits = {});
/// Reads and checks a snapshot file; errors name the file.
expected<snapshot> read_snapshot(const std::string& path, const sealed_limits& limits = {});

/// Puts a snapshot's state into an empty store, in one commit, with the log records a
/// replay from it needs (entry 0, entry K and the signed head, where exo::store_log keeps
/// them): a logged hypervisor opened over the store is at entry K, and its next input is
/// logged as entry K + 1. The nodes are checked first (check_snapshot_nodes); a store that is
/// not empty is errc::invalid_argument, and nothing is written.
template <store_backend B>
expected<void> import_snapshot(B& store, const snapshot& s);

// ---- templates ----

template <store_backend B>
expected<std::vector<bytes>> collect_nodes(const B& store, const digest& root) {
  std::vector<bytes> out;
  if (root.is_zero()) return out;
  auto at = store.find_root(root);
  if (!at) return unexpected(std::move(at).error());
  if (!*at) return fail(errc::invalid_argument, fmt::format("root {} is not in this store", to_hex(root)));
  // Depth first, children before parents, with a stack of its own (a trie over chosen keys
  // can be as deep as its longest key).
  struct frame {
    digest hash;
    node_pos pos;
    tree_node node;
    bytes raw;
    int next = 0;  // children placed so far
    node_pos placed[2] = {0, 0};
  };
  auto load = [&](const digest& h, node_pos pos) -> expected<frame> {
    auto raw = store.read_node(pos);
    if (!raw) return unexpected(std::move(raw).error());
    if (!*raw)
      return fail(errc::malformed, fmt::format("store node {} is missing: nothing is stored at position {} (the store "
                                               "is incomplete or damaged)",
                                               to_hex(h), pos));
    auto n = decode_node(h, pos, **raw);
    if (!n) return unexpected(std::move(n).error());
    return frame{h, pos, std::move(*n), std::move(**raw)};
  };
  std::vector<frame> stack;
  auto first = load(root, **at);
  if (!first) return unexpected(std::move(first).error());
  stack.push_back(std::move(*first));
  while (!stack.empty()) {
    frame& f = stack.back();
    if (!f.node.leaf && f.next < 2) {
      const int side = f.next++;
      auto child = load(side ? f.node.right : f.node.left, side ? f.node.right_pos : f.node.left_pos);
      if (!child) return unexpected(std::move(child).error());
      stack.push_back(std::move(*child));
      continue;
    }
    const node_pos mine = out.size() + 1;
    if (f.node.leaf) out.push_back(std::move(f.raw));
    else out.push_back(encode_branch(f.node.bit, f.node.left, f.node.right, mine, f.placed[0], f.placed[1]));
    stack.pop_back();
    if (!stack.empty()) stack.back().placed[stack.back().next - 1] = mine;
  }
  return out;
}

template <store_backend B>
expected<void> import_snapshot(B& store, const snapshot& s) {
  auto info = check_checkpoint(s.cp);
  if (!info) return unexpected(std::move(info).error());
  if (auto r = check_snapshot_nodes(s.nodes, info->root); !r) return r;
  auto head = store.head();
  if (!head) return unexpected(std::move(head).error());
  const node_pos first = store.next_position();
  if (first != 1 || !head->hash.is_zero())
    return fail(errc::invalid_argument, "a snapshot is imported into an empty store, and this one holds state");
  commit_batch batch;
  batch.first = first;
  batch.nodes = s.nodes;
  batch.head = s.nodes.empty() ? root_ref{} : root_ref{info->root, first + s.nodes.size() - 1};
  using log = store_log<B>;
  batch.meta.emplace_back(log::entry_record(0), s.cp.init);
  if (info->index != 0) batch.meta.emplace_back(log::entry_record(info->index), s.cp.entry);
  batch.meta.emplace_back(std::string(log::head_record), s.cp.head);
  return store.commit(std::move(batch));
}

}  // namespace exo
