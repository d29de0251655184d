#include <exo/verifier/checkpoint.hpp>

#include <exo/core/encoding.hpp>
#include <exo/core/hash.hpp>

namespace exo {
namespace {

constexpr std::string_view magic = "EXOSNAP1";

unexpected<error> bad_snapshot(std::string_view why) {
  return fail(errc::malformed, fmt::format("not a valid exo snapshot: {}", why));
}

}  // namespace

expected<checkpoint_info> check_checkpoint(const checkpoint& cp) {
  auto init = decode_entry(cp.init);
  if (!init) return fail(errc::malformed, "a checkpoint's init entry: " + init.error().message);
  auto entry = decode_entry(cp.entry);
  if (!entry) return fail(errc::malformed, "a checkpoint's entry: " + entry.error().message);
  auto head = decode_head(cp.head);
  if (!head) return fail(errc::malformed, "a checkpoint's signed head: " + head.error().message);
  if (init->index != 0 || init->kind != "init" || !init->prev.is_zero())
    return fail(errc::invalid_argument, fmt::format("a checkpoint's first entry must be the log's init entry (entry 0 of "
                                                    "kind init), not entry {} of kind {}",
                                                    init->index, init->kind));
  const value* key = init->args.find("node_key");
  if (!key || !key->if_bytes() || key->if_bytes()->size() != 32)
    return fail(errc::invalid_argument, "a checkpoint's init entry declares no node key");
  if (entry->index == 0 && cp.entry != cp.init)
    return fail(errc::invalid_argument, "a checkpoint at entry 0 must name the init entry itself");
  const digest h = entry_hash(cp.entry);
  if (head->size != entry->index + 1 || !(head->last == h))
    return fail(errc::invalid_argument,
                fmt::format("a checkpoint's signed head must end at its entry {} (size {}, last {}), but it ends at "
                            "size {}, last {}",
                            entry->index, entry->index + 1, short_hex(h), head->size, short_hex(head->last)));
  if (head->key != *key->if_bytes())
    return fail(errc::invalid_argument, fmt::format("a checkpoint's head is signed by {}, but its init entry declares "
                                                    "node key {}",
                                                    to_hex(head->key).substr(0, 16), to_hex(*key->if_bytes()).substr(0, 16)));
  if (auto s = check_head_signature(*head); !s)
    return fail(errc::invalid_argument, "a checkpoint's signed head: " + s.error().message);
  checkpoint_info out;
  out.index = entry->index;
  out.root = entry->root;
  out.entry_hash = h;
  out.node_key = *key->if_bytes();
  out.init = std::move(*init);
  return out;
}

expected<checkpoint> checkpoint_at_end(const log_reader& log) {
  const std::uint64_t n = log.size();
  if (n == 0) return fail(errc::invalid_argument, "the log is empty: there is no entry to take a checkpoint at");
  auto head = log.head();
  if (!head) return unexpected(std::move(head).error());
  if (!*head) return fail(errc::malformed, "the log has entries but no signed head");
  auto init = log.read(0);
  if (!init) return unexpected(std::move(init).error());
  auto last = log.read(n - 1);
  if (!last) return unexpected(std::move(last).error());
  return checkpoint{std::move(*init), std::move(*last), std::move(**head)};
}

expected<void> check_snapshot_nodes(const std::vector<bytes>& nodes, const digest& root) {
  const std::size_t n = nodes.size();
  if (n == 0) {
    if (!root.is_zero())
      return bad_snapshot(fmt::format("it holds no state, but its checkpoint's root is {}", to_hex(root)));
    return {};
  }
  std::vector<digest> hashes(n + 1);
  std::vector<bool> used(n + 1, false);
  // The trie's order, so that what imports is a tree the store can search: a branch's
  // children are split at its bit (left 0, right 1) and agree before it, and a branch below
  // decides a later bit. rep[i] is a leaf under node i, bit[i] its bit (-1 for a leaf).
  std::vector<bytes> keys(n + 1);
  std::vector<std::size_t> rep(n + 1);
  std::vector<std::int64_t> bit(n + 1, -1);
  for (std::size_t i = 1; i <= n; ++i) {
    auto d = decode_stored_node(i, nodes[i - 1]);
    if (!d) return bad_snapshot(d.error().message);
    if (d->leaf) {
      hashes[i] = node_hash(*d);
      keys[i] = std::move(d->key);
      rep[i] = i;
      continue;
    }
    const std::pair<node_pos, digest> kids[2] = {{d->left_pos, d->left}, {d->right_pos, d->right}};
    for (const auto& [pos, h] : kids) {
      if (used[pos])
        return bad_snapshot(fmt::format("node {} names node {} as a child, which another node already has", i, pos));
      if (!(hashes[pos] == h))
        return bad_snapshot(fmt::format("node {} names a child with hash {}, but node {} hashes to {}", i, short_hex(h), pos,
                                        short_hex(hashes[pos])));
      used[pos] = true;
    }
    const bytes& left = keys[rep[d->left_pos]];
    const bytes& right = keys[rep[d->right_pos]];
    const std::int64_t b = d->bit;
    if (key_bit(left, d->bit) || !key_bit(right, d->bit) || crit_bit(left, right) != d->bit ||
        (bit[d->left_pos] >= 0 && bit[d->left_pos] <= b) || (bit[d->right_pos] >= 0 && bit[d->right_pos] <= b))
      return bad_snapshot(fmt::format("node {} is a branch at bit {} whose children are not split there", i, b));
    hashes[i] = node_hash(*d);
    rep[i] = rep[d->left_pos];
    bit[i] = b;
  }
  for (std::size_t i = 1; i < n; ++i)
    if (!used[i]) return bad_snapshot(fmt::format("node {} is not part of the tree (no node names it)", i));
  if (!(hashes[n] == root))
    return bad_snapshot(fmt::format("its state has root {}, not the root its checkpoint signs ({})", to_hex(hashes[n]),
                                    to_hex(root)));
  return {};
}

expected<bytes> encode_snapshot(const snapshot& s) {
  value::list nodes;
  nodes.reserve(s.nodes.size());
  for (const bytes& b : s.nodes) nodes.emplace_back(b);
  return seal(magic, value::make_map({{"format", value(std::string(snapshot_format))},
                                      {"init", value(s.cp.init)},
                                      {"entry", value(s.cp.entry)},
                                      {"head", value(s.cp.head)},
                                      {"nodes", value(std::move(nodes))}}));
}

expected<void> write_snapshot(const snapshot& s, const std::string& path) {
  auto b = encode_snapshot(s);
  if (!b) return unexpected(std::move(b).error());
  if (auto w = write_file(path, *b); !w) return fail(w.error().code, "snapshot: " + w.error().message);
  return {};
}

expected<snapshot> decode_snapshot(byte_view file, const sealed_limits& limits) {
  auto v = unseal(file, magic, "exo snapshot", limits);
  if (!v) return unexpected(std::move(v).error());
  const value* format = v->find("format");
  const value* init = v->find("init");
  const value* entry = v->find("entry");
  const value* head = v->find("head");
  const value* nodes = v->find("nodes");
  if (!v->if_map() || v->if_map()->size() != 5 || !format || !init || !entry || !head || !nodes)
    return bad_snapshot("its content is not {format, init, entry, head, nodes}");
  if (!format->if_string() || *format->if_string() != snapshot_format)
    return bad_snapshot(fmt::format("it is of format {}, and this exo reads '{}'", to_string(*format), snapshot_format));
  if (!init->if_bytes() || !entry->if_bytes() || !head->if_bytes()) return bad_snapshot("its init, entry and head must be bytes");
  if (!nodes->if_list()) return bad_snapshot("its nodes are not a list");
  snapshot s;
  s.cp = checkpoint{*init->if_bytes(), *entry->if_bytes(), *head->if_bytes()};
  s.nodes.reserve(nodes->if_list()->size());
  for (std::size_t i = 0; i < nodes->if_list()->size(); ++i) {
    const bytes* b = (*nodes->if_list())[i].if_bytes();
    if (!b) return bad_snapshot(fmt::format("node {} is not bytes", i + 1));
    s.nodes.push_back(*b);
  }
  auto info = check_checkpoint(s.cp);
  if (!info) return fail(info.error().code, "not a valid exo snapshot: " + info.error().message);
  if (auto r = check_snapshot_nodes(s.nodes, info->root); !r) return unexpected(std::move(r).error());
  return s;
}

expected<snapshot> read_snapshot(const std::string& path, const sealed_limits& limits) {
  auto b = read_file(path, limits.max_file);
  if (!b) return unexpected(std::move(b).error());
  auto s = decode_snapshot(*b, limits);
  if (!s) return fail(s.error().code, fmt::format("{}: {}", path, s.error().message));
  return s;
}

}  // namespace exo
