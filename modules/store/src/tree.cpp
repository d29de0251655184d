#include <exo/store/node.hpp>

#include <exo/core/encoding.hpp>
#include <exo/core/hash.hpp>

#include <fmt/format.h>
#include <zstd.h>

#include <bit>
#include <cstring>

namespace exo {

std::uint32_t crit_bit(byte_view a, byte_view b) noexcept {
  std::size_t n = std::min(a.size(), b.size());
  for (std::size_t j = 0; j < n; ++j) {
    if (a[j] != b[j]) {
      auto x = static_cast<std::uint8_t>(a[j] ^ b[j]);
      return static_cast<std::uint32_t>(j * 9 + 1 + static_cast<std::size_t>(std::countl_zero(x)));
    }
  }
  return static_cast<std::uint32_t>(n * 9);  // one key ends here, the other goes on
}

digest leaf_hash(byte_view key, const digest& value_hash) noexcept {
  thread_local sha256 h;
  std::uint8_t head[11];
  head[0] = 0x00;
  std::size_t len = 1;
  for (std::uint64_t v = key.size();; v >>= 7) {
    head[len++] = static_cast<std::uint8_t>(v >= 0x80 ? (v & 0x7f) | 0x80 : v);
    if (v < 0x80) break;
  }
  return h.update(byte_view(head, len)).update(key).update(value_hash.view()).finish();
}

digest branch_hash(std::uint32_t bit, const digest& left, const digest& right) noexcept {
  std::uint8_t buf[69];
  buf[0] = 0x01;
  for (int i = 0; i < 4; ++i) buf[1 + i] = static_cast<std::uint8_t>(bit >> (8 * i));
  std::memcpy(buf + 5, left.bytes.data(), 32);
  std::memcpy(buf + 37, right.bytes.data(), 32);
  return hash(byte_view(buf, sizeof buf));
}

digest node_hash(const tree_node& n) noexcept {
  return n.leaf ? leaf_hash(n.key, n.value_hash) : branch_hash(n.bit, n.left, n.right);
}

bytes encode_branch(std::uint32_t bit, const digest& left, const digest& right, node_pos pos, node_pos left_pos,
                    node_pos right_pos) {
  bytes out;
  out.reserve(69 + 20);
  out.push_back(0x01);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(bit >> (8 * i)));
  out.insert(out.end(), left.bytes.begin(), left.bytes.end());
  out.insert(out.end(), right.bytes.begin(), right.bytes.end());
  put_varint(out, pos - left_pos);
  put_varint(out, pos - right_pos);
  return out;
}

bytes encode_leaf(byte_view key, byte_view value) {
  bytes out;
  out.reserve(key.size() + value.size() + 12);
  out.push_back(0x00);
  put_varint(out, key.size());
  out.insert(out.end(), key.begin(), key.end());
  if (value.size() > compress_threshold) {
    bytes z(ZSTD_compressBound(value.size()));
    std::size_t zn = ZSTD_compress(z.data(), z.size(), value.data(), value.size(), 3);
    if (!ZSTD_isError(zn) && zn < value.size()) {
      out.push_back(1);
      put_varint(out, value.size());
      out.insert(out.end(), z.begin(), z.begin() + static_cast<std::ptrdiff_t>(zn));
      return out;
    }
  }
  out.push_back(0);
  put_varint(out, value.size());
  out.insert(out.end(), value.begin(), value.end());
  return out;
}

bytes encode_node(const tree_node& n, node_pos pos) {
  return n.leaf ? encode_leaf(n.key, n.value) : encode_branch(n.bit, n.left, n.right, pos, n.left_pos, n.right_pos);
}

namespace {
// Decodes the bytes stored at `pos`; `want` (when given) names the node in errors and must be
// its hash.
expected<tree_node> decode_at(const digest* want, node_pos pos, byte_view stored) {
  auto corrupt = [&](std::string_view why) -> unexpected<error> {
    if (want) return fail(errc::malformed, fmt::format("store node {} (at position {}) is corrupt: {}", to_hex(*want), pos, why));
    return fail(errc::malformed, fmt::format("the node at position {} is corrupt: {}", pos, why));
  };
  reader r(stored);
  auto tag = r.byte();
  if (!tag) return corrupt("it is empty");
  tree_node n;
  if (*tag == 0x01) {
    auto bit = r.fixed32();
    auto raw = r.raw(64);
    if (!bit || !raw) return corrupt("a branch node is cut short");
    auto dl = r.varint();
    auto dr = dl ? r.varint() : dl;
    if (!dl || !dr || !r.at_end()) return corrupt("a branch node's child positions are malformed");
    if (*dl == 0 || *dr == 0 || *dl >= pos || *dr >= pos)
      return corrupt("a branch node names a child stored at or after itself");
    n.bit = *bit;
    std::memcpy(n.left.bytes.data(), raw->data(), 32);
    std::memcpy(n.right.bytes.data(), raw->data() + 32, 32);
    n.left_pos = pos - *dl;
    n.right_pos = pos - *dr;
  } else if (*tag == 0x00) {
    n.leaf = true;
    auto klen = r.varint();
    if (!klen || *klen > max_key_size) return corrupt("bad key length");
    auto key = r.raw(*klen);
    auto flag = r.byte();
    auto vlen = r.varint();
    if (!key || !flag || !vlen || *flag > 1 || *vlen > max_value_size) return corrupt("bad leaf header");
    n.key.assign(key->begin(), key->end());
    auto data = r.raw(r.remaining());
    if (*flag == 0) {
      if (data->size() != *vlen) return corrupt("value length does not match");
      n.value.assign(data->begin(), data->end());
    } else {
      n.value.resize(*vlen);
      std::size_t got = ZSTD_decompress(n.value.data(), n.value.size(), data->data(), data->size());
      if (ZSTD_isError(got) || got != *vlen) return corrupt("its compressed value does not decompress");
    }
    n.value_hash = hash(n.value);
  } else {
    return corrupt(fmt::format("unknown node tag 0x{:02x}", *tag));
  }
  if (want) {
    digest got = node_hash(n);
    if (!(got == *want)) return corrupt(fmt::format("its bytes hash to {}", to_hex(got)));
  }
  return n;
}
}  // namespace

expected<tree_node> decode_node(const digest& want, node_pos pos, byte_view stored) { return decode_at(&want, pos, stored); }

expected<tree_node> decode_stored_node(node_pos pos, byte_view stored) { return decode_at(nullptr, pos, stored); }

bytes encode_proof(const proof& p) {
  bytes out;
  out.push_back(0x01);  // format version
  put_varint(out, p.path.size());
  for (auto& s : p.path) {
    put_varint(out, s.bit);
    out.insert(out.end(), s.sibling.bytes.begin(), s.sibling.bytes.end());
  }
  out.push_back(p.leaf_key ? 1 : 0);
  if (p.leaf_key) {
    put_varint(out, p.leaf_key->size());
    out.insert(out.end(), p.leaf_key->begin(), p.leaf_key->end());
    out.insert(out.end(), p.leaf_value_hash.bytes.begin(), p.leaf_value_hash.bytes.end());
  }
  return out;
}

expected<proof> decode_proof(byte_view b) {
  auto bad = [](std::string_view why) { return fail(errc::malformed, fmt::format("malformed proof: {}", why)); };
  reader r(b);
  auto version = r.byte();
  if (!version || *version != 0x01) return bad("unknown version");
  auto steps = r.varint();
  if (!steps || *steps > r.remaining() / 33) return bad("path longer than the proof");
  proof p;
  p.path.resize(*steps);
  for (auto& s : p.path) {
    auto bit = r.varint();
    auto sib = r.raw(32);
    if (!bit || !sib || *bit > 0xffffffffu) return bad("truncated step");
    s.bit = static_cast<std::uint32_t>(*bit);
    std::memcpy(s.sibling.bytes.data(), sib->data(), 32);
  }
  auto has_leaf = r.byte();
  if (!has_leaf || *has_leaf > 1) return bad("truncated leaf");
  if (*has_leaf) {
    auto klen = r.varint();
    if (!klen || *klen > max_key_size) return bad("bad key length");
    auto key = r.raw(*klen);
    auto vh = r.raw(32);
    if (!key || !vh) return bad("truncated leaf");
    p.leaf_key = bytes(key->begin(), key->end());
    std::memcpy(p.leaf_value_hash.bytes.data(), vh->data(), 32);
  }
  if (!r.at_end()) return bad("bytes follow the proof");
  return p;
}

expected<void> verify_proof(const digest& root, byte_view key, const std::optional<bytes>& value, const proof& p) {
  auto no = [](std::string why) { return fail(errc::invalid_argument, "proof does not hold: " + why); };
  if (root.is_zero()) {
    if (value) return no("the tree is empty, so the key has no value");
    if (!p.path.empty() || p.leaf_key) return no("a proof for the empty tree has no path and no leaf");
    return {};
  }
  if (!p.leaf_key) return no("it names no leaf");
  for (std::size_t i = 1; i < p.path.size(); ++i)
    if (p.path[i].bit <= p.path[i - 1].bit) return no("crit bits do not increase along the path");
  digest h = leaf_hash(*p.leaf_key, p.leaf_value_hash);
  for (auto it = p.path.rbegin(); it != p.path.rend(); ++it)
    h = key_bit(key, it->bit) ? branch_hash(it->bit, it->sibling, h) : branch_hash(it->bit, h, it->sibling);
  if (!(h == root)) return no("its path hashes to " + to_hex(h) + ", not to the root " + to_hex(root));
  bool same_key = p.leaf_key->size() == key.size() && std::equal(key.begin(), key.end(), p.leaf_key->begin());
  if (value) {
    if (!same_key) return no("the search for the key ends at another key's leaf, so the key is absent");
    if (!(hash(*value) == p.leaf_value_hash)) return no("the key has another value");
    return {};
  }
  if (same_key) return no("the key is present");
  return {};
}

expected<void> verify_proof(const digest& root, byte_view key, const std::optional<bytes>& value, byte_view encoded) {
  auto p = decode_proof(encoded);
  if (!p) return unexpected(std::move(p).error());
  return verify_proof(root, key, value, *p);
}

}  // namespace exo
