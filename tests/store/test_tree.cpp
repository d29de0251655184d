#include <boost/test/unit_test.hpp>

#include <exo/core/hash.hpp>
#include <exo/store/tree.hpp>

#include <algorithm>
#include <map>
#include <random>

using namespace exo;

namespace {
bytes b(std::string_view s) { return to_bytes(s); }
bytes random_bytes(std::mt19937_64& rng, std::size_t n) {
  bytes out(n);
  for (auto& x : out) x = static_cast<std::uint8_t>(rng());
  return out;
}
struct mem_tree {
  memory_store backend;
  merkle_tree<memory_store> tree = merkle_tree<memory_store>::open(backend).value();
};
}  // namespace

BOOST_AUTO_TEST_SUITE(merkle_tree_ops)

BOOST_AUTO_TEST_CASE(put_get_erase_round_trip) {
  mem_tree t;
  BOOST_TEST(t.tree.root().is_zero());
  BOOST_REQUIRE(t.tree.put(b("alpha"), b("1")));
  BOOST_REQUIRE(t.tree.put(b("beta"), b("2")));
  BOOST_TEST((*t.tree.get(b("alpha")) == b("1")));
  BOOST_TEST((*t.tree.get(b("beta")) == b("2")));
  BOOST_TEST(!t.tree.get(b("gamma"))->has_value());
  BOOST_REQUIRE(t.tree.put(b("alpha"), b("one")));  // overwrite
  BOOST_TEST((*t.tree.get(b("alpha")) == b("one")));
  BOOST_TEST(*t.tree.erase(b("alpha")));
  BOOST_TEST(!*t.tree.erase(b("alpha")));  // already gone
  BOOST_TEST(!t.tree.get(b("alpha"))->has_value());
  BOOST_TEST(*t.tree.erase(b("beta")));
  BOOST_TEST(t.tree.root().is_zero());  // empty again
}

BOOST_AUTO_TEST_CASE(keys_that_prefix_each_other_coexist) {
  mem_tree t;
  for (auto k : {"", "a", "ab", "abc", "b"}) BOOST_REQUIRE(t.tree.put(b(k), b(std::string("v") + k)));
  for (auto k : {"", "a", "ab", "abc", "b"}) BOOST_TEST((**t.tree.get(b(k)) == b(std::string("v") + k)));
  std::vector<std::string> keys;
  BOOST_REQUIRE(t.tree.for_each(byte_view{}, [&](byte_view k, byte_view) {
    keys.emplace_back(k.begin(), k.end());
    return true;
  }));
  BOOST_TEST((keys == std::vector<std::string>{"", "a", "ab", "abc", "b"}));  // key order
}

BOOST_AUTO_TEST_CASE(the_same_content_in_20_orders_gives_one_root) {
  std::mt19937_64 rng(5);
  std::vector<std::pair<bytes, bytes>> kv;
  for (int i = 0; i < 300; ++i) kv.emplace_back(random_bytes(rng, 1 + rng() % 40), random_bytes(rng, rng() % 600));
  std::sort(kv.begin(), kv.end());
  kv.erase(std::unique(kv.begin(), kv.end(), [](auto& x, auto& y) { return x.first == y.first; }), kv.end());
  std::optional<digest> root;
  for (int order = 0; order < 20; ++order) {
    std::shuffle(kv.begin(), kv.end(), rng);
    mem_tree t;
    // some noise that is undone: writes of other values and keys that are later removed
    for (std::size_t i = 0; i < 20; ++i) BOOST_REQUIRE(t.tree.put(kv[i].first, b("temporary")));
    BOOST_REQUIRE(t.tree.put(b("doomed"), b("x")));
    for (auto& [k, v] : kv) BOOST_REQUIRE(t.tree.put(k, v));
    BOOST_REQUIRE(*t.tree.erase(b("doomed")));
    if (order % 2) BOOST_REQUIRE(t.tree.commit());
    if (!root) root = t.tree.root();
    BOOST_REQUIRE((t.tree.root() == *root));
  }
}

BOOST_AUTO_TEST_CASE(large_values_are_compressed_and_read_back) {
  mem_tree t;
  bytes big(100'000, 'z');
  BOOST_REQUIRE(t.tree.put(b("big"), big));
  digest root = *t.tree.commit();
  // stored smaller than the value (zstd), and reads back whole through a fresh tree
  std::size_t stored = 0;
  BOOST_REQUIRE(t.tree.for_each(byte_view{}, [&](byte_view, byte_view v) { stored = v.size(); return true; }));
  BOOST_TEST(stored == big.size());
  auto fresh = merkle_tree<memory_store>::open(t.backend).value();
  BOOST_TEST((fresh.root() == root));
  BOOST_TEST((**fresh.get(b("big")) == big));
  auto node = t.backend.raw_node(t.backend.head()->pos);
  BOOST_REQUIRE(node);
  BOOST_TEST(node->size() < 1000u);
}

BOOST_AUTO_TEST_CASE(earlier_roots_stay_readable) {
  mem_tree t;
  BOOST_REQUIRE(t.tree.put(b("k"), b("v1")));
  digest r1 = *t.tree.commit();
  BOOST_REQUIRE(t.tree.put(b("k"), b("v2")));
  BOOST_REQUIRE(t.tree.put(b("other"), b("x")));
  digest r2 = *t.tree.commit();
  BOOST_REQUIRE(t.tree.set_root(r1));
  BOOST_TEST((**t.tree.get(b("k")) == b("v1")));
  BOOST_TEST(!t.tree.get(b("other"))->has_value());
  BOOST_REQUIRE(t.tree.set_root(r2));
  BOOST_TEST((**t.tree.get(b("k")) == b("v2")));
  auto unknown = t.tree.set_root(hash("no such root"));
  BOOST_REQUIRE(!unknown);
  BOOST_TEST((unknown.error().code == errc::invalid_argument));
}

BOOST_AUTO_TEST_CASE(uncommitted_changes_can_be_discarded) {
  mem_tree t;
  BOOST_REQUIRE(t.tree.put(b("k"), b("v")));
  digest r = *t.tree.commit();
  BOOST_REQUIRE(t.tree.put(b("k"), b("changed")));
  BOOST_REQUIRE(t.tree.discard());
  BOOST_TEST((t.tree.root() == r));
  BOOST_TEST((**t.tree.get(b("k")) == b("v")));
}

BOOST_AUTO_TEST_CASE(prefix_iteration_visits_exactly_the_prefix_in_order) {
  mem_tree t;
  std::map<std::string, std::string> model;
  std::mt19937_64 rng(9);
  for (int i = 0; i < 500; ++i) {
    std::string k = std::string(1, "abc"[rng() % 3]) + std::string(1, "xyz"[rng() % 3]) + std::to_string(rng() % 50);
    model[k] = std::to_string(i);
    BOOST_REQUIRE(t.tree.put(b(k), b(model[k])));
  }
  for (std::string prefix : {"", "a", "by", "cz1", "q"}) {
    std::vector<std::string> got, want;
    BOOST_REQUIRE(t.tree.for_each(as_bytes(prefix), [&](byte_view k, byte_view v) {
      got.emplace_back(k.begin(), k.end());
      BOOST_TEST(model[got.back()] == std::string(v.begin(), v.end()));
      return true;
    }));
    for (auto& [k, v] : model)
      if (k.rfind(prefix, 0) == 0) want.push_back(k);
    BOOST_TEST((got == want), "prefix '" << prefix << "'");
  }
  int seen = 0;  // stopping early
  BOOST_REQUIRE(t.tree.for_each(byte_view{}, [&](byte_view, byte_view) { return ++seen < 3; }));
  BOOST_TEST(seen == 3);
}

BOOST_AUTO_TEST_CASE(diff_lists_added_removed_and_changed_keys) {
  mem_tree t;
  for (int i = 0; i < 100; ++i) BOOST_REQUIRE(t.tree.put(b("k" + std::to_string(i)), b("v")));
  digest a = *t.tree.commit();
  BOOST_REQUIRE(t.tree.put(b("k5"), b("changed")));
  BOOST_REQUIRE(*t.tree.erase(b("k50")));
  BOOST_REQUIRE(t.tree.put(b("new"), b("v")));
  digest c = *t.tree.commit();
  auto d = t.tree.diff(a, c);
  BOOST_REQUIRE(d);
  BOOST_REQUIRE(d->size() == 3u);
  BOOST_TEST((d->at(0).key == b("k5")));
  BOOST_TEST((d->at(0).what == tree_change::kind::changed));
  BOOST_TEST((d->at(1).key == b("k50")));
  BOOST_TEST((d->at(1).what == tree_change::kind::removed));
  BOOST_TEST((d->at(2).key == b("new")));
  BOOST_TEST((d->at(2).what == tree_change::kind::added));
  BOOST_TEST(t.tree.diff(a, a)->empty());
  BOOST_TEST(t.tree.diff(digest{}, a)->size() == 100u);
}

BOOST_AUTO_TEST_CASE(limits_are_clear_errors) {
  mem_tree t;
  auto r = t.tree.put(bytes(max_key_size + 1, 'k'), b("v"));
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::limit_exceeded));
  BOOST_TEST(t.tree.root().is_zero());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(merkle_proofs)

namespace {
struct proof_fixture {
  mem_tree t;
  std::mt19937_64 rng{17};
  std::vector<bytes> keys;
  proof_fixture() {
    for (int i = 0; i < 2000; ++i) {
      keys.push_back(random_bytes(rng, 32));
      BOOST_REQUIRE(t.tree.put(keys.back(), b("value" + std::to_string(i))));
    }
    BOOST_REQUIRE(t.tree.commit());
  }
};
}  // namespace

BOOST_FIXTURE_TEST_CASE(present_and_absent_keys_verify, proof_fixture) {
  for (int i = 0; i < 50; ++i) {
    auto p = t.tree.prove(keys[static_cast<std::size_t>(i)]);
    BOOST_REQUIRE(p);
    auto enc = encode_proof(*p);
    BOOST_TEST(enc.size() < 1024u);
    BOOST_TEST(bool(verify_proof(t.tree.root(), keys[static_cast<std::size_t>(i)], b("value" + std::to_string(i)), enc)));
    bytes absent = random_bytes(rng, 32);
    auto pa = t.tree.prove(absent);
    BOOST_TEST(bool(verify_proof(t.tree.root(), absent, std::nullopt, encode_proof(*pa))));
    // an absence proof cannot claim a value, and a presence proof cannot claim absence
    BOOST_TEST(!verify_proof(t.tree.root(), absent, b("x"), *pa));
    BOOST_TEST(!verify_proof(t.tree.root(), keys[static_cast<std::size_t>(i)], std::nullopt, *p));
  }
}

BOOST_FIXTURE_TEST_CASE(tampered_proofs_fail, proof_fixture) {
  const bytes& key = keys[7];
  bytes value = b("value7");
  auto p = *t.tree.prove(key);
  auto enc = encode_proof(p);
  // a changed value
  auto r = verify_proof(t.tree.root(), key, b("value8"), enc);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message.find("another value") != std::string::npos);
  // a changed key
  bytes other = key;
  other[31] ^= 1;
  BOOST_TEST(!verify_proof(t.tree.root(), other, value, enc));
  // every truncation
  for (std::size_t n = 0; n < enc.size(); ++n)
    BOOST_REQUIRE_MESSAGE(!verify_proof(t.tree.root(), key, value, byte_view(enc.data(), n)), "prefix " << n);
  // another root
  digest root = t.tree.root();
  BOOST_REQUIRE(t.tree.put(b("one more"), b("x")));
  BOOST_TEST(!verify_proof(t.tree.root(), key, value, enc));
  BOOST_TEST(bool(verify_proof(root, key, value, enc)));
  // a flipped sibling, and a flipped byte anywhere
  auto bad = p;
  bad.path[0].sibling.bytes[0] ^= 1;
  BOOST_TEST(!verify_proof(root, key, value, bad));
  for (std::size_t i = 0; i < enc.size(); ++i) {
    bytes e = enc;
    e[i] ^= 0x20;
    BOOST_REQUIRE_MESSAGE(!verify_proof(root, key, value, e), "flipped byte " << i);
  }
}

BOOST_AUTO_TEST_CASE(empty_tree_proves_absence_only) {
  mem_tree t;
  auto p = *t.tree.prove(b("k"));
  BOOST_TEST(bool(verify_proof(digest{}, b("k"), std::nullopt, p)));
  BOOST_TEST(!verify_proof(digest{}, b("k"), b("v"), p));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(store_corruption)

BOOST_AUTO_TEST_CASE(a_corrupted_node_is_an_error_naming_it) {
  mem_tree t;
  for (int i = 0; i < 50; ++i) BOOST_REQUIRE(t.tree.put(b("k" + std::to_string(i)), b("v" + std::to_string(i))));
  digest root = *t.tree.commit();
  // flip one byte of the root node (a branch) as stored
  bytes* raw = t.backend.raw_node(t.backend.head()->pos);
  BOOST_REQUIRE(raw);
  (*raw)[10] ^= 0x01;
  auto fresh = merkle_tree<memory_store>::open(t.backend).value();
  auto r = fresh.get(b("k1"));
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::malformed));
  BOOST_TEST(r.error().message.find(to_hex(root)) != std::string::npos);
  // A damaged child position leads to a node whose hash is not the one the parent holds:
  // also an error, never another node's content.
  (*raw)[10] ^= 0x01;
  BOOST_REQUIRE(raw->back() == 1);  // the right child is stored just before its parent
  for (std::uint8_t delta : {std::uint8_t{2}, std::uint8_t{3}, std::uint8_t{0x7f}}) {
    bytes saved = *raw;
    raw->back() = delta;  // the right child's distance (one varint byte)
    auto walk = merkle_tree<memory_store>::open(t.backend).value().for_each(byte_view{}, [](byte_view, byte_view) { return true; });
    BOOST_REQUIRE(!walk);
    BOOST_TEST((walk.error().code == errc::malformed));
    *raw = saved;
  }
  // garbage and truncated node bytes too
  *raw = bytes{0x07};
  BOOST_TEST(!merkle_tree<memory_store>::open(t.backend).value().get(b("k1")));
  *raw = bytes{};
  BOOST_TEST(!merkle_tree<memory_store>::open(t.backend).value().get(b("k1")));
}

BOOST_AUTO_TEST_SUITE_END()

#include <exo/store/lmdb_store.hpp>

#include "../support/temp_dir.hpp"

using test::temp_dir;

BOOST_AUTO_TEST_SUITE(tree_on_lmdb)

BOOST_AUTO_TEST_CASE(the_same_content_gives_the_same_root_on_both_backends) {
  temp_dir dir;
  auto disk = lmdb_store::open(dir.path + "/data", lmdb_options{.create = true});
  BOOST_REQUIRE(disk);
  auto on_disk = merkle_tree<lmdb_store>::open(*disk).value();
  mem_tree in_memory;
  std::mt19937_64 rng(23);
  for (int i = 0; i < 500; ++i) {
    bytes k = random_bytes(rng, 32), v = random_bytes(rng, rng() % 400);
    BOOST_REQUIRE(on_disk.put(k, v));
    BOOST_REQUIRE(in_memory.tree.put(k, v));
  }
  digest r = *on_disk.commit();
  BOOST_TEST((r == *in_memory.tree.commit()));
  // and it survives closing and reopening the directory
  { auto closing = std::move(*disk); }  // closes the environment
  auto again = lmdb_store::open(dir.path + "/data");
  BOOST_REQUIRE(again);
  auto reopened = merkle_tree<lmdb_store>::open(*again).value();
  BOOST_TEST((reopened.root() == r));
  std::size_t n = 0;
  BOOST_REQUIRE(reopened.for_each(byte_view{}, [&](byte_view, byte_view) { return ++n, true; }));
  BOOST_TEST(n == 500u);
}

BOOST_AUTO_TEST_CASE(a_byte_flipped_on_disk_is_an_error_naming_the_node) {
  temp_dir dir;
  digest root;
  {
    auto disk = lmdb_store::open(dir.path + "/data", lmdb_options{.create = true});
    BOOST_REQUIRE(disk);
    auto t = merkle_tree<lmdb_store>::open(*disk).value();
    for (int i = 0; i < 50; ++i) BOOST_REQUIRE(t.put(b("k" + std::to_string(i)), b("v" + std::to_string(i))));
    root = *t.commit();
    const node_pos pos = disk->head()->pos;
    auto stored = disk->read_node(pos);
    BOOST_REQUIRE(stored && *stored);
    bytes flipped = **stored;
    flipped[20] ^= 0x80;
    BOOST_REQUIRE(disk->overwrite_node(pos, flipped));
  }
  auto disk = lmdb_store::open(dir.path + "/data");
  BOOST_REQUIRE(disk);
  auto t = merkle_tree<lmdb_store>::open(*disk).value();
  auto r = t.get(b("k3"));
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::malformed));
  BOOST_TEST(r.error().message.find(to_hex(root)) != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
