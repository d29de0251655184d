#pragma once
/// \file
/// Nodes of exo's merkle tree, their hashes, their stored form, and proofs.
///
/// The tree is a crit-bit (binary Patricia) trie over the keys themselves. A key's bits are
/// read through an "extended" form: before each byte comes a flag bit that says the key goes
/// on (1), and a 0 flag ends it. That way no key is a prefix of another, and the bit order is
/// the keys' byte order, so an in-order walk lists keys sorted and a prefix names one subtree.
/// Why this structure:
/// - The shape depends only on the set of keys, so the root depends only on the content,
///   never on the order of writes.
/// - A lookup, insert or delete touches one path: about log2(n) nodes for hashed keys, so
///   roughly 20 at a million keys.
/// - A proof is that path's siblings: about 20 x 33 bytes, under 1 KiB at a million keys.
/// - Prefix iteration and diffs fall out of the trie order. A 16-ary Patricia tree has
///   shorter paths but 15 siblings per level in a proof; a sparse merkle tree over hashed
///   keys loses prefix order.
///
/// Hashes (SHA-256) are over the logical content, not the stored bytes, so compression does
/// not change roots:
///   leaf   = H(0x00 || varint(len key) || key || H(value))
///   branch = H(0x01 || u32le(bit) || left || right)
/// The empty tree's root is the zero id.

#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/id.hpp>
#include <exo/store/backend.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace exo {

/// Largest key and value the store accepts.
inline constexpr std::size_t max_key_size = 4096;
inline constexpr std::size_t max_value_size = std::size_t{64} << 20;
/// Values larger than this are stored zstd-compressed (when that makes them smaller).
inline constexpr std::size_t compress_threshold = 256;

/// Bit `i` of a key's extended form (see the file comment).
inline bool key_bit(byte_view key, std::uint32_t i) noexcept {
  std::size_t byte = i / 9, within = i % 9;
  if (within == 0) return byte < key.size();
  if (byte >= key.size()) return false;
  return (key[byte] >> (8 - within)) & 1;
}
/// The first extended bit where two different keys differ.
std::uint32_t crit_bit(byte_view a, byte_view b) noexcept;

/// A decoded node.
struct tree_node {
  bool leaf = false;
  // leaf
  bytes key;
  bytes value;
  digest value_hash{};
  // branch
  std::uint32_t bit = 0;
  digest left{}, right{};
  node_pos left_pos = 0, right_pos = 0;  // where the children are stored (not hashed)
};

digest leaf_hash(byte_view key, const digest& value_hash) noexcept;
digest branch_hash(std::uint32_t bit, const digest& left, const digest& right) noexcept;
/// The node's hash (its id in the store).
digest node_hash(const tree_node& n) noexcept;

/// The stored form of a node stored at position `pos`: leaf 0x00 varint(keylen) key
/// flag(0 raw | 1 zstd) varint(rawlen) data; branch 0x01 u32le(bit) left right
/// varint(pos - left_pos) varint(pos - right_pos). Children are always stored before their
/// parent, so the distances are positive, and small for the children a commit writes with it.
bytes encode_node(const tree_node& n, node_pos pos);
/// The stored form of a leaf, from its parts.
bytes encode_leaf(byte_view key, byte_view value);
/// The stored form of a branch at `pos`, from its parts.
bytes encode_branch(std::uint32_t bit, const digest& left, const digest& right, node_pos pos, node_pos left_pos,
                    node_pos right_pos);
/// Decodes the bytes stored at `pos` and checks them against the hash the reference to them
/// carries: bytes that do not decode, or decode to a node with another hash, are
/// errc::malformed naming the node.
expected<tree_node> decode_node(const digest& expected_hash, node_pos pos, byte_view stored);
/// Decodes the bytes stored at `pos` without a hash to check them against (a node whose
/// parent has not been read yet, as in a snapshot: exo/verifier/checkpoint.hpp); the caller
/// computes node_hash() and checks it where the node is referenced. Bytes that do not decode
/// are errc::malformed naming the position.
expected<tree_node> decode_stored_node(node_pos pos, byte_view stored);

/// A proof that a key has a value, or is absent, under a root: the path from the root to the
/// leaf a search for the key reaches, as (crit bit, sibling hash) steps, and that leaf.
struct proof {
  struct step {
    std::uint32_t bit = 0;
    digest sibling{};
  };
  std::vector<step> path;
  /// The leaf reached; absent only for the empty tree.
  std::optional<bytes> leaf_key;
  digest leaf_value_hash{};
};

/// The portable form of a proof (what travels to a verifier).
bytes encode_proof(const proof& p);
expected<proof> decode_proof(byte_view b);

/// Checks, with nothing but the proof, the key and the root, that `key` has `value` under
/// `root` (or, with value == nullopt, that it is absent). An error says what does not hold.
expected<void> verify_proof(const digest& root, byte_view key, const std::optional<bytes>& value, const proof& p);
/// The same over an encoded proof.
expected<void> verify_proof(const digest& root, byte_view key, const std::optional<bytes>& value, byte_view encoded);

}  // namespace exo
