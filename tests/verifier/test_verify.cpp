// The verifier: a log replays to the same results and roots; every kind of tampering is
// caught at the right entry and field; non-deterministic code is told from a changed entry;
// the init entry's origin is checked; and what exo::verify needs of a hypervisor.

#include "../support/forge.hpp"
#include "../support/shop.hpp"

#include <exo/verifier/verify.hpp>

#include <boost/test/unit_test.hpp>

using namespace shop;

namespace {

/// Has all a replay needs but signing control.
struct no_sign_log {
  const exo::config& settings() const;
  exo::value type_list() const;
  exo::expected<exo::log_entry> replay(const exo::log_entry&);
};
/// Replays, but returns what it made in another shape.
struct wrong_replay {
  const exo::config& settings() const;
  exo::value type_list() const;
  void sign_log(bool);
  exo::expected<void> replay(const exo::log_entry&);
};
/// All of it.
struct replayer {
  const exo::config& settings() const;
  exo::value type_list() const;
  void sign_log(bool);
  exo::expected<exo::log_entry> replay(const exo::log_entry&);
};

}  // namespace

BOOST_AUTO_TEST_SUITE(verifier)

BOOST_AUTO_TEST_CASE(what_a_log_is_replayed_into) {
  // Every logged hypervisor, whatever its scheduler and store; none that logs nothing.
  BOOST_TEST((exo::replay_target<mem_hv>));
  BOOST_TEST((exo::replay_target<disk_hv>));
  BOOST_TEST((exo::replay_target<exo::hypervisor<exo::fifo_scheduler, exo::memory_store, exo::memory_log>>));
  BOOST_TEST((!exo::replay_target<exo::hypervisor<>>));
  BOOST_TEST((!exo::replay_target<exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store>>));
  // A type of one's own: it needs every part.
  BOOST_TEST((exo::replay_target<replayer>));
  BOOST_TEST((!exo::replay_target<no_sign_log>));
  BOOST_TEST((!exo::replay_target<wrong_replay>));
}

BOOST_AUTO_TEST_CASE(a_log_verifies_and_replays_to_the_same_root) {
  auto hv = fresh();
  workload(*hv);
  std::vector<std::uint64_t> progress;
  auto v = exo::verify(hv->log(), fresh, exo::verify_options{.progress = [&](auto done, auto) { progress.push_back(done); }, .progress_every = 3});
  BOOST_TEST_MESSAGE(v.to_string());
  BOOST_REQUIRE(v.ok());
  BOOST_TEST(v.entries == hv->log().size());
  BOOST_TEST((v.final_root == *hv->state_root()));
  BOOST_TEST(!progress.empty());
  BOOST_TEST(progress.back() == hv->log().size());
  // Outputs were logged: the egress delivery and the failure reports.
  bool egress_seen = false;
  for (std::uint64_t i = 0; i < hv->log().size(); ++i) {
    auto e = exo::decode_entry(*hv->log().read(i)).value();
    for (auto& o : *e.outputs.if_list()) egress_seen = egress_seen || o.find("egress");
  }
  BOOST_TEST(egress_seen);
}

BOOST_AUTO_TEST_CASE(a_growing_log_is_verified_a_piece_at_a_time) {
  auto hv = fresh();
  workload(*hv);
  const copied_log first(hv->log());  // the log as a follower first sees it
  const exo::id ida = exo::decode_entry(*hv->log().read(1)).value().actor;  // the first till
  for (int i = 0; i < 5; ++i) BOOST_REQUIRE(hv->invoke(ida, "add", {i}));
  const copied_log second(hv->log());

  std::vector<std::uint64_t> progress;
  auto replay = fresh();
  exo::log_verifier follow(*replay, {.progress = [&](auto done, auto) { progress.push_back(done); }, .progress_every = 1});
  BOOST_REQUIRE(follow.advance(first).ok());
  BOOST_TEST(follow.result().entries == first.size());
  const std::size_t replayed_first = progress.size();
  BOOST_TEST(follow.advance(first).ok());  // nothing new: nothing replayed
  BOOST_TEST(progress.size() == replayed_first);
  auto& v = follow.advance(second);
  BOOST_REQUIRE_MESSAGE(v.ok(), v.to_string());
  BOOST_TEST(v.entries == second.size());
  BOOST_TEST(progress.size() - replayed_first == 5u);  // only the five new entries
  BOOST_TEST((v.final_root == *hv->state_root()));
  BOOST_TEST((v.final_root == exo::verify(second, fresh).final_root));

  {  // history rewritten behind the follower: an entry it verified is not the one the next names
    auto replay2 = fresh();
    exo::log_verifier f(*replay2);
    BOOST_REQUIRE(f.advance(first).ok());
    copied_log rewritten = second;
    auto e = rewritten.entry(first.size() - 1);
    e.ticks += 1;
    rewritten.set(first.size() - 1, e);
    auto next = rewritten.entry(first.size());
    next.prev = exo::entry_hash(rewritten.entries[first.size() - 1]);
    rewritten.set(first.size(), next);
    auto& d = f.advance(rewritten);
    BOOST_REQUIRE(!d.ok());
    BOOST_TEST(d.first->index == first.size());
    BOOST_TEST(d.first->field == "prev");
    BOOST_TEST(f.advance(second).first->field == "prev");  // a divergence is final
  }
  {  // a log that shrank
    auto replay3 = fresh();
    exo::log_verifier f(*replay3);
    BOOST_REQUIRE(f.advance(second).ok());
    auto& d = f.advance(first);
    BOOST_REQUIRE(!d.ok());
    BOOST_TEST(d.first->field == "head.size");
  }
}

BOOST_AUTO_TEST_CASE(ranges_of_entries_and_comparing_stores) {
  auto hv = fresh();
  workload(*hv);
  auto r = hv->log().read_range(2, 3);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->size() == 3u);
  BOOST_TEST((*r)[0].index == 2u);
  BOOST_TEST(hv->log().read_range(8, 100)->size() == hv->log().size() - 8);
  BOOST_TEST(hv->log().read_range(1000, 5)->empty());
  // A replay ends in a store equal to the original; a changed one shows the key that differs.
  auto replayed = fresh();
  for (std::uint64_t i = 1; i < hv->log().size(); ++i)
    BOOST_REQUIRE(replayed->replay(exo::decode_entry(*hv->log().read(i)).value()));
  auto same = exo::compare_stores(hv->tree(), replayed->tree());
  BOOST_REQUIRE(same);
  BOOST_TEST(same->equal());
  BOOST_REQUIRE(replayed->tree().put(exo::as_bytes("extra"), exo::as_bytes("x")));
  auto differ = exo::compare_stores(hv->tree(), replayed->tree());
  BOOST_REQUIRE(differ);
  BOOST_TEST(!differ->equal());
  BOOST_REQUIRE(differ->changes.size() == 1u);
  BOOST_TEST((differ->changes[0].key == exo::to_bytes("extra")));
  BOOST_TEST((differ->changes[0].what == exo::tree_change::kind::added));
}

BOOST_AUTO_TEST_CASE(tampering_is_caught_at_the_right_entry_and_field) {
  auto hv = fresh();
  workload(*hv);
  const copied_log good(hv->log());
  BOOST_REQUIRE(check(good).ok());
  const std::size_t n = good.size();

  {  // a result
    copied_log l = good;
    auto e = l.entry(3);
    e.result = exo::value(1000);
    l.set(3, e);
    expect_divergence(check(l), 3, {"result"});
  }
  {  // an argument: the replay of the changed input does not give the logged outcome
    copied_log l = good;
    auto e = l.entry(3);
    e.args = exo::value(exo::value::list{8});
    l.set(3, e);
    auto v = check(l);
    expect_divergence(v, 3, {"result", "root"});
    BOOST_TEST((v.first->entry_intact == std::optional<bool>{false}));
  }
  {  // the error message only
    copied_log l = good;
    auto e = l.entry(5);
    BOOST_REQUIRE(e.error);
    e.error->message += ".";
    l.set(5, e);
    expect_divergence(check(l), 5, {"error"});
  }
  {  // dropping an entry
    copied_log l = good;
    l.entries.erase(l.entries.begin() + 4);
    expect_divergence(check(l), 4, {"index"});
  }
  {  // inserting one (a copy of another entry, renumbered)
    copied_log l = good;
    auto e = l.entry(3);
    e.index = 4;
    l.entries.insert(l.entries.begin() + 4, exo::encode_entry(e));
    expect_divergence(check(l), 4, {"prev"});
  }
  {  // swapping two
    copied_log l = good;
    std::swap(l.entries[3], l.entries[4]);
    expect_divergence(check(l), 3, {"index"});
  }
  {  // the init entry: another hypervisor name, another type list
    copied_log l = good;
    auto e = l.entry(0);
    e.function = "other";
    l.set(0, e);
    expect_divergence(check(l), 0, {"hypervisor"});
    e = good.entry(0);
    auto types = *e.args.if_map();
    for (auto& [k, v] : types)
      if (k == "types") v = exo::value(exo::value::list{exo::value::make_map({{"name", "till"}, {"code", exo::bytes(32, 1)}})});
    e.args = exo::value(std::move(types));
    l.set(0, e);
    expect_divergence(check(l), 0, {"types"});
  }
  {  // the signature, and the key (re-signed with another key)
    copied_log l = good;
    auto h = l.head_rec();
    h.signature[10] ^= 0x40;
    l.set_head(h);
    expect_divergence(check(l), n, {"head.signature"});
    auto mallory = exo::node_key::generate().value();
    l.set_head(exo::sign_head(good.head_rec().size, good.head_rec().last, mallory));
    expect_divergence(check(l), 0, {"key"});
  }
  {  // a log without its head
    copied_log l = good;
    l.head_bytes.reset();
    expect_divergence(check(l), n, {"head"});
  }
}

BOOST_AUTO_TEST_CASE(a_log_resigned_end_to_end_by_another_key_fails_against_the_pinned_key) {
  auto hv = fresh();
  workload(*hv);
  const exo::public_key node = hv->node_public_key();
  auto mallory = exo::node_key::generate().value();
  const exo::log_file forged = test::resign(hv->log(), mallory);
  // Re-chained and re-signed, the forged log is consistent in itself: a verifier that takes the
  // key from the log's own init entry cannot tell it from the node's.
  BOOST_TEST(check(forged).ok());
  BOOST_TEST(exo::verify(hv->log(), fresh, {.node_key = node}).ok());
  auto v = exo::verify(forged, fresh, {.node_key = node});
  expect_divergence(v, 0, {"key"});
  BOOST_TEST(v.first->expected == exo::to_hex(mallory.public_key().view()));
  BOOST_TEST(v.first->got.find(exo::to_hex(node.view())) != std::string::npos, v.first->got);
  // Pinning mallory's key, the node's own log is refused.
  expect_divergence(exo::verify(hv->log(), fresh, {.node_key = mallory.public_key()}), 0, {"key"});
}

BOOST_AUTO_TEST_CASE(a_log_with_the_same_signed_call_twice_does_not_verify) {
  auto hv = fresh();
  auto alice = exo::node_key::generate().value();
  const exo::id a = *hv->actor_id(hv->create(till{}).value());
  const exo::invoke_options signed_call{.caller = alice.public_key(), .seq = 1};
  BOOST_REQUIRE(hv->invoke(a, "add", {5}, signed_call));
  BOOST_REQUIRE(hv->invoke(a, "add", {1}));
  // The hypervisor itself accepts a signed call once, and logs nothing of the second try.
  const std::uint64_t size = hv->log().size();
  auto again = hv->invoke(a, "add", {5}, signed_call);
  BOOST_REQUIRE(!again);
  BOOST_TEST(again.error().message.find("replayed") != std::string::npos, again.error().message);
  BOOST_TEST(hv->log().size() == size);
  BOOST_TEST(*hv->last_seq(alice.public_key()) == 1u);
  BOOST_TEST(check(hv->log()).ok());
  // A node that logs it twice anyway (here: a copy of the entry put back into the log, which
  // is re-chained and re-signed end to end) is caught where the copy replays.
  auto entries = test::entries_of(hv->log());
  BOOST_REQUIRE(entries[2].seq.has_value());
  entries.push_back(entries[2]);
  auto mallory = exo::node_key::generate().value();
  auto v = check(test::forge(entries, mallory));
  expect_divergence(v, entries.size() - 1, {"replay"});
  BOOST_TEST(v.first->got.find("replayed") != std::string::npos, v.first->got);
  // As does one that logs a signed call with a lower number after a higher one.
  entries.pop_back();
  entries[3].caller = entries[2].caller;
  entries[3].seq = 1;
  expect_divergence(check(test::forge(entries, mallory)), 3, {"replay"});
}

BOOST_AUTO_TEST_CASE(an_actor_sees_who_made_the_input_and_entropy_from_the_log_the_same_on_replay) {
  auto make = fresh_with<oracle>;
  auto hv = make();
  auto alice = exo::node_key::generate().value();
  auto bob = exo::node_key::generate().value();
  const exo::id o = *hv->actor_id(hv->create(oracle{}).value());
  auto key_bytes = [](const exo::node_key& k) {
    return exo::value(exo::bytes(k.public_key().bytes.begin(), k.public_key().bytes.end()));
  };
  // Each signed caller sees its own key; an anonymous caller sees none.
  auto by_alice = hv->invoke(o, "who", {}, {.caller = alice.public_key(), .seq = 1}).value();
  auto by_bob = hv->invoke(o, "who", {}, {.caller = bob.public_key(), .seq = 1}).value();
  auto by_nobody = hv->invoke(o, "who", {}).value();
  BOOST_TEST((by_alice.result == key_bytes(alice)));
  BOOST_TEST((by_bob.result == key_bytes(bob)));
  BOOST_TEST(by_nobody.result.is_null());
  // Entropy: 32 bytes, different for every input, by whoever it is made.
  auto d1 = hv->invoke(o, "draw", {}).value().result;
  auto d2 = hv->invoke(o, "draw", {}).value().result;
  auto d3 = hv->invoke(o, "draw", {}, {.caller = alice.public_key(), .seq = 2}).value().result;
  BOOST_REQUIRE(d1.if_bytes());
  BOOST_TEST(d1.if_bytes()->size() == 32u);
  BOOST_TEST((d1 != d2));
  BOOST_TEST((d2 != d3));
  // The replay gives every result again (the verifier compares each one) and the same root.
  auto v = exo::verify(hv->log(), make);
  BOOST_TEST_MESSAGE(v.to_string());
  BOOST_TEST(v.ok());
  BOOST_TEST((v.final_root == *hv->state_root()));
  // The same inputs into another hypervisor give the same entropy (it comes from the log,
  // not from the machine or the run).
  auto again = make();
  const exo::id o2 = *again->actor_id(again->create(oracle{}).value());
  BOOST_REQUIRE((o2 == o));
  (void)again->invoke(o, "who", {}, {.caller = alice.public_key(), .seq = 1});
  (void)again->invoke(o, "who", {}, {.caller = bob.public_key(), .seq = 1});
  (void)again->invoke(o, "who", {});
  BOOST_TEST((again->invoke(o, "draw", {}).value().result == d1));
}

// A fault (a stop that is not deterministic, like the js container's watchdog) is logged with
// the input, and the replay gives the same fault at the same delivery without running it:
// the verifier accepts the log though the replayed actor would not fault. A log whose fault
// is malformed is refused with a clear error.
BOOST_AUTO_TEST_CASE(a_fault_is_logged_and_the_replay_reproduces_it) {
  auto make = fresh_with<flaky>;
  auto hv = make();
  const exo::id f = *hv->actor_id(hv->create(flaky{}).value());
  BOOST_TEST(*hv->invoke(f, "work", exo::context::make_args(std::int64_t{1})).value().result.if_i64() == 1);
  flaky::faulting = true;
  auto faulted = hv->invoke(f, "work", exo::context::make_args(std::int64_t{2}), {.budget = 5'000}).value();
  flaky::faulting = false;
  BOOST_REQUIRE(faulted.error);
  BOOST_TEST(faulted.error->code == exo::errc::fault);
  BOOST_TEST(faulted.ticks == 5'000u);  // the whole budget
  BOOST_TEST(*hv->invoke(f, "work", exo::context::make_args(std::int64_t{3})).value().result.if_i64() == 2);  // the fault was rolled back
  // The entry records the fault among its outputs.
  auto entry = exo::decode_entry(hv->log().read(faulted.index).value()).value();
  bool logged = false;
  for (const auto& o : *entry.outputs.if_list())
    if (const exo::value* fault = o.find("fault"))
      logged = fault->find("delivery") && *fault->find("delivery")->if_i64() == 0 && fault->find("message") &&
               *fault->find("message")->if_string() == "stopped by a watchdog";
  BOOST_TEST(logged);
  // The replay does not run the faulted delivery (flaky would not fault now) and agrees. The
  // two deliveries it runs know they are replays (context::replaying), which the live ones
  // did not: a container lets them run to their end (they finished when they were logged).
  flaky::live = flaky::replayed = 0;
  BOOST_TEST(*hv->invoke(f, "work", exo::context::make_args(std::int64_t{4})).value().result.if_i64() == 3);
  BOOST_TEST(flaky::live == 1);
  BOOST_TEST(flaky::replayed == 0);
  auto v = exo::verify(hv->log(), make);
  BOOST_TEST(flaky::live == 1);
  BOOST_TEST(flaky::replayed == 3);
  BOOST_TEST_MESSAGE(v.to_string());
  BOOST_TEST(v.ok());
  BOOST_TEST((v.final_root == *hv->state_root()));
  // A replay of the entry with its fault malformed is refused, and the hypervisor goes on.
  auto again = make();
  (void)again->create(flaky{});
  (void)again->invoke(f, "work", exo::context::make_args(std::int64_t{1}));
  exo::log_entry bad = entry;
  bad.outputs = exo::value(exo::value::list{exo::value::make_map({{"fault", exo::value::make_map({{"delivery", exo::value(std::int64_t{-1})}})}})});
  auto r = again->replay(bad);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().code == exo::errc::malformed);
  BOOST_TEST(*again->invoke(f, "work", exo::context::make_args(std::int64_t{4})).value().result.if_i64() == 2);
}

BOOST_AUTO_TEST_CASE(a_non_deterministic_actor_is_caught_at_its_first_call) {
  auto hv = fresh();
  auto t = hv->create(till{}).value();
  BOOST_REQUIRE(hv->invoke(*hv->actor_id(t), "add", {1}));
  auto d = hv->create(dice{}).value();
  BOOST_REQUIRE(hv->invoke(*hv->actor_id(d), "roll", {}));
  BOOST_REQUIRE(hv->invoke(*hv->actor_id(d), "roll", {}));
  auto v = check(hv->log());
  // Entry 4 is the first roll (0 init, 1 create till, 2 add, 3 create dice). One roll in a
  // million repeats itself; then the second roll (entry 5) is caught.
  BOOST_TEST_MESSAGE(v.to_string());
  BOOST_REQUIRE(!v.ok());
  BOOST_TEST((v.first->index == 4u || v.first->index == 5u));
  BOOST_TEST(v.first->field == "result");
  BOOST_TEST(v.entries == v.first->index);
  BOOST_TEST((v.first->entry_intact == std::optional<bool>{true}));  // the log is intact; the code is not deterministic
}

BOOST_AUTO_TEST_CASE(an_init_entry_names_the_origin_and_the_verifier_checks_it) {
  const exo::value origin = exo::value::make_map({{"image", exo::value("abc")}});
  mem_hv hv(exo::config{.name = "shop", .origin = origin});
  hv.register_type<till>();
  BOOST_REQUIRE(hv.invoke(*hv.actor_id(hv.create(till{}).value()), "add", {1}));
  auto e = exo::decode_entry(hv.log().read(0).value()).value();
  BOOST_TEST((*e.args.find("origin") == origin));
  auto same = [&] {
    auto f = std::make_unique<mem_hv>(exo::config{.name = "shop", .origin = origin});
    f->register_type<till>();
    return f;
  };
  BOOST_TEST(exo::verify(hv.log(), same).ok());
  auto v = exo::verify(hv.log(), fresh);  // a hypervisor started from nothing in particular
  BOOST_REQUIRE(!v.ok());
  BOOST_TEST(v.first->field == "origin");
  BOOST_TEST(v.first->index == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
