// Checkpoints and snapshots (exo/verifier/checkpoint.hpp): a verifier that starts from a
// snapshot reaches the root of one that replays everything, replaying only what follows the
// checkpoint; a snapshot survives its file form; and every kind of bad snapshot is refused
// with a clear error: a node changed, dropped, swapped or added, the state of another root, a
// head that is not signed, a truncated or foreign file, the checkpoint of another node.

#include "../support/shop.hpp"

#include <exo/verifier/verify.hpp>

#include <boost/test/unit_test.hpp>

using namespace shop;

namespace {

// A replay hypervisor over a store holding a snapshot (what exo::verify_from opens).
exo::expected<std::unique_ptr<mem_hv>> reopen(exo::memory_store s) {
  auto h = mem_hv::open(std::move(s), exo::config{.name = "shop"});
  if (!h) return exo::unexpected(std::move(h).error());
  auto p = std::make_unique<mem_hv>(std::move(*h));
  p->register_type<till>();
  p->register_type<dice>();
  return p;
}

// Two tills and `calls` inputs: adds, refusals, payments through a capability, notes.
void trade(mem_hv& hv, const exo::id& a, const exo::id& b, int calls, int from = 0) {
  for (int i = from; i < from + calls; ++i) {
    switch (i % 4) {
      case 0: BOOST_REQUIRE(hv.invoke(a, "add", {i})); break;
      case 1: BOOST_REQUIRE(hv.invoke(b, "refuse", {i})); break;
      case 2: BOOST_REQUIRE(hv.invoke(a, "pay", {i, *hv.lookup(b, "add", exo::rights::call | exo::rights::transfer)})); break;
      default: BOOST_REQUIRE(hv.invoke(b, "note", {fmt::format("k{}", i % 7), fmt::format("v{}", i)})); break;
    }
  }
}

struct traded {
  std::unique_ptr<mem_hv> hv = fresh();
  exo::id a, b;
  traded() {
    auto ca = hv->create(till{}).value();
    auto cb = hv->create(till{5}).value();
    a = *hv->actor_id(ca);
    b = *hv->actor_id(cb);
  }
};

exo::snapshot snap_of(mem_hv& hv) { return exo::take_snapshot(hv.store(), hv.log()).value(); }

// The snapshot's file form, read back (every check of decode_snapshot on the way).
exo::expected<exo::snapshot> round_trip(const exo::snapshot& s) { return exo::decode_snapshot(exo::encode_snapshot(s).value()); }

void expect_refused(const exo::expected<exo::snapshot>& s, std::string_view says) {
  BOOST_REQUIRE_MESSAGE(!s, "a bad snapshot was accepted");
  BOOST_TEST_MESSAGE(s.error().message);
  BOOST_TEST(s.error().message.find(says) != std::string::npos, s.error().message);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(checkpoint)

BOOST_AUTO_TEST_CASE(a_verifier_from_a_checkpoint_reaches_the_root_of_a_full_replay_replaying_only_what_follows) {
  traded t;
  trade(*t.hv, t.a, t.b, 40);
  const exo::snapshot snap = snap_of(*t.hv);
  const std::uint64_t k = t.hv->log().size() - 1;
  const auto info = exo::check_checkpoint(snap.cp).value();
  BOOST_TEST(info.index == k);
  BOOST_TEST(info.root == t.hv->state_root().value());
  trade(*t.hv, t.a, t.b, 25, 40);
  const std::uint64_t n = t.hv->log().size();

  std::uint64_t replayed_full = 0, replayed_from = 0;
  auto full = exo::verify(t.hv->log(), fresh, {.progress = [&](auto, auto) { ++replayed_full; }, .progress_every = 1});
  auto from = exo::verify_from(t.hv->log(), round_trip(snap).value(), reopen,
                               {.progress = [&](auto, auto) { ++replayed_from; }, .progress_every = 1});
  BOOST_TEST_MESSAGE(from.to_string());
  BOOST_REQUIRE(full.ok());
  BOOST_REQUIRE(from.ok());
  BOOST_TEST(from.final_root == full.final_root);
  BOOST_TEST(from.final_root == t.hv->state_root().value());
  BOOST_TEST(from.entries == n);
  BOOST_TEST(replayed_full == n);
  BOOST_TEST(replayed_from == n - k - 1);  // only what follows the checkpoint
}

BOOST_AUTO_TEST_CASE(a_checkpoint_at_the_end_of_the_log_verifies_with_nothing_to_replay) {
  traded t;
  trade(*t.hv, t.a, t.b, 9);
  auto v = exo::verify_from(t.hv->log(), snap_of(*t.hv), reopen);
  BOOST_TEST_MESSAGE(v.to_string());
  BOOST_REQUIRE(v.ok());
  BOOST_TEST(v.entries == t.hv->log().size());
  BOOST_TEST(v.final_root == t.hv->state_root().value());
}

BOOST_AUTO_TEST_CASE(a_snapshot_holds_the_whole_state_and_survives_its_file_form) {
  traded t;
  trade(*t.hv, t.a, t.b, 30);
  const exo::snapshot snap = snap_of(*t.hv);
  BOOST_TEST(snap.nodes.size() > 10u);
  auto back = round_trip(snap);
  BOOST_REQUIRE(back);
  BOOST_TEST(back->nodes == snap.nodes);
  BOOST_TEST(back->cp.entry == snap.cp.entry);
  // Imported into an empty store, it is the same tree: every key and value.
  exo::memory_store store;
  BOOST_REQUIRE(exo::import_snapshot(store, *back));
  auto copy = exo::merkle_tree<exo::memory_store>::open(store).value();
  auto diff = exo::compare_stores(t.hv->tree(), copy).value();
  BOOST_TEST(diff.equal());
  BOOST_TEST(diff.changes.empty());
  // Taking it twice gives the same bytes.
  BOOST_TEST(exo::encode_snapshot(snap_of(*t.hv)).value() == exo::encode_snapshot(snap).value());
}

BOOST_AUTO_TEST_CASE(a_snapshot_with_a_node_changed_dropped_swapped_or_added_is_refused) {
  traded t;
  trade(*t.hv, t.a, t.b, 30);
  const exo::snapshot snap = snap_of(*t.hv);
  // A leaf's value changed: its parent names another hash.
  {
    exo::snapshot bad = snap;
    std::size_t leaf = 0;
    while (bad.nodes[leaf][0] != 0x00) ++leaf;
    bad.nodes[leaf].back() ^= 0x01;
    expect_refused(round_trip(bad), "names a child with hash");
  }
  // A state of another root (the same tills, one more call).
  {
    traded other;
    trade(*other.hv, other.a, other.b, 31);
    exo::snapshot bad = snap;
    bad.nodes = snap_of(*other.hv).nodes;
    expect_refused(round_trip(bad), "not the root its checkpoint signs");
  }
  // The root's crit bit changed: its children are not split where it says.
  {
    exo::snapshot bad = snap;
    bad.nodes.back()[1] ^= 0x01;
    expect_refused(round_trip(bad), "not split there");
  }
  // A node dropped.
  {
    exo::snapshot bad = snap;
    bad.nodes.erase(bad.nodes.begin());
    BOOST_TEST(!round_trip(bad));
  }
  // Two nodes swapped.
  {
    exo::snapshot bad = snap;
    std::swap(bad.nodes[0], bad.nodes[1]);
    BOOST_TEST(!round_trip(bad));
  }
  // A node no one names.
  {
    exo::snapshot bad = snap;
    bad.nodes.insert(bad.nodes.begin(), exo::encode_leaf(exo::as_bytes("extra"), exo::as_bytes("value")));
    expect_refused(round_trip(bad), "is not part of the tree");
  }
  // No state at all, for a checkpoint that signs one.
  {
    exo::snapshot bad = snap;
    bad.nodes.clear();
    expect_refused(round_trip(bad), "holds no state");
  }
  // Bytes that are no node.
  {
    exo::snapshot bad = snap;
    bad.nodes[0] = {0x07, 0x01};
    expect_refused(round_trip(bad), "unknown node tag");
  }
}

BOOST_AUTO_TEST_CASE(a_checkpoint_whose_head_does_not_vouch_for_it_is_refused) {
  traded t;
  trade(*t.hv, t.a, t.b, 12);
  const exo::snapshot snap = snap_of(*t.hv);
  auto head = exo::decode_head(snap.cp.head).value();
  {  // a signature that does not hold
    exo::snapshot bad = snap;
    auto h = head;
    h.signature[5] ^= 0x01;
    bad.cp.head = exo::encode_head(h);
    expect_refused(round_trip(bad), "signed head");
  }
  {  // the head of another point of the log (one entry later)
    trade(*t.hv, t.a, t.b, 1, 12);
    exo::snapshot bad = snap;
    bad.cp.head = *t.hv->log().head().value();
    expect_refused(round_trip(bad), "must end at its entry");
  }
  {  // signed by another key than the init entry declares
    exo::snapshot bad = snap;
    auto other = exo::node_key::generate().value();
    bad.cp.head = exo::encode_head(exo::sign_head(head.size, head.last, other));
    expect_refused(round_trip(bad), "its init entry declares");
  }
  {  // an entry changed after it was signed
    exo::snapshot bad = snap;
    auto e = exo::decode_entry(bad.cp.entry).value();
    e.ticks += 1;
    bad.cp.entry = exo::encode_entry(e);
    expect_refused(round_trip(bad), "must end at its entry");
  }
}

BOOST_AUTO_TEST_CASE(a_truncated_or_foreign_snapshot_file_is_refused) {
  traded t;
  trade(*t.hv, t.a, t.b, 8);
  const exo::bytes file = exo::encode_snapshot(snap_of(*t.hv)).value();
  for (std::size_t cut : {std::size_t{0}, std::size_t{5}, file.size() / 2, file.size() - 1}) {
    auto s = exo::decode_snapshot(exo::byte_view(file.data(), cut));
    BOOST_REQUIRE(!s);
    BOOST_TEST(s.error().code == exo::errc::malformed);
    BOOST_TEST(s.error().message.find("snapshot") != std::string::npos, s.error().message);
  }
  // A log file is not a snapshot.
  expect_refused(exo::decode_snapshot(exo::export_log(t.hv->log()).value()), "snapshot");
  // Nor is a sealed value of another shape.
  expect_refused(exo::decode_snapshot(exo::seal("EXOSNAP1", exo::value::make_map({{"format", exo::value(std::string("x"))}})).value()),
                 "its content is not");
}

BOOST_AUTO_TEST_CASE(the_checkpoint_of_another_node_or_past_the_log_is_refused) {
  traded t;
  trade(*t.hv, t.a, t.b, 20);
  // Another node with the same code and the same inputs: another key, so another log.
  traded other;
  trade(*other.hv, other.a, other.b, 10);
  auto v = exo::verify_from(t.hv->log(), snap_of(*other.hv), reopen);
  BOOST_TEST_MESSAGE(v.to_string());
  BOOST_REQUIRE(!v.ok());
  BOOST_TEST(v.first->field == "checkpoint");
  BOOST_TEST(v.first->got.find("another log") != std::string::npos);
  // A checkpoint later than the log's end.
  traded longer;
  trade(*longer.hv, longer.a, longer.b, 20);
  const exo::snapshot late = snap_of(*longer.hv);
  copied_log cut(longer.hv->log());
  cut.entries.resize(cut.entries.size() - 5);
  auto w = exo::verify_from(cut, late, reopen);
  BOOST_REQUIRE(!w.ok());
  BOOST_TEST(w.first->field == "checkpoint");
  // With the node's key pinned, a checkpoint signed by any other key is refused.
  exo::public_key pinned;
  const auto key = exo::decode_head(*t.hv->log().head().value()).value().key;
  std::copy(key.begin(), key.end(), pinned.bytes.begin());
  auto p = exo::verify_from(t.hv->log(), snap_of(*other.hv), reopen, {.node_key = pinned});
  BOOST_REQUIRE(!p.ok());
  BOOST_TEST(p.first->field == "key");
  BOOST_TEST(exo::verify_from(t.hv->log(), snap_of(*t.hv), reopen, {.node_key = pinned}).ok());
}

BOOST_AUTO_TEST_CASE(a_snapshot_goes_into_an_empty_store_only) {
  traded t;
  trade(*t.hv, t.a, t.b, 6);
  const exo::snapshot snap = snap_of(*t.hv);
  exo::memory_store store;
  BOOST_REQUIRE(exo::import_snapshot(store, snap));
  const std::size_t held = store.node_count();
  auto again = exo::import_snapshot(store, snap);
  BOOST_REQUIRE(!again);
  BOOST_TEST(again.error().code == exo::errc::invalid_argument);
  BOOST_TEST(store.node_count() == held);  // nothing written
  // A hypervisor opened over it is at entry K: its next input is entry K + 1, and the replay
  // of the real entry K + 1 gives the same entry.
  trade(*t.hv, t.a, t.b, 1, 6);
  auto hv = reopen(std::move(store)).value();
  BOOST_TEST(hv->log().size() == exo::check_checkpoint(snap.cp).value().index + 1);
  hv->sign_log(false);
  const auto logged = exo::decode_entry(t.hv->log().read(t.hv->log().size() - 1).value()).value();
  auto replayed = hv->replay(logged);
  BOOST_REQUIRE(replayed);
  BOOST_TEST(replayed->index == logged.index);
  BOOST_TEST(replayed->root == logged.root);
}

BOOST_AUTO_TEST_SUITE_END()
