// The call log: signing keys, entries, logged hypervisors (memory and LMDB), and the
// verifier catching every kind of tampering with the right entry and field.

#include "../support/print.hpp"
#include "../support/temp_dir.hpp"

#include <exo/exo.hpp>

#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <fstream>
#include <future>
#include <random>

namespace {

using exo::cap_handle;
using exo::context;
using exo::expected;

/// Counts, stores a note, and pays through capabilities it is given.
struct till {
  BOOST_HANA_DEFINE_STRUCT(till, (std::int64_t, total));
  std::int64_t add(context&, std::int64_t n) { return total += n; }
  expected<void> refuse(context&, std::int64_t n) {
    total += n;
    return exo::fail(exo::errc::handler_failed, fmt::format("refused {}", n));
  }
  expected<void> pay(context& ctx, std::int64_t n, cap_handle to) { return ctx.call_with(to, exo::send_options{.budget = 50}, n); }
  expected<void> note(context& ctx, std::string k, std::string v) { return ctx.storage_put(exo::as_bytes(k), exo::as_bytes(v)); }
  // Hands out a capability to its own `add`.
  expected<cap_handle> adder(context& ctx) { return ctx.self_cap("add", exo::rights::call | exo::rights::transfer); }
  static constexpr std::string_view exo_name = "till";
  static constexpr auto exo_exports = exo::exports(exo::fn<&till::add>("add", 3), exo::fn<&till::refuse>("refuse", 2),
                                                   exo::fn<&till::pay>("pay", 5), exo::fn<&till::note>("note", 4),
                                                   exo::fn<&till::adder>("adder", 2));
};

/// Uses ambient randomness: not deterministic, so a replay must catch it.
struct dice {
  BOOST_HANA_DEFINE_STRUCT(dice, (std::int64_t, last));
  std::int64_t roll(context&) {
    static std::random_device rd;
    return last = static_cast<std::int64_t>(rd() % 1'000'000);
  }
  static constexpr std::string_view exo_name = "dice";
  static constexpr auto exo_exports = exo::exports(exo::fn<&dice::roll>("roll", 1));
};

using mem_hv = exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log>;
using disk_hv = exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store, exo::lmdb_log>;

/// A hypervisor the host can send to directly, bypassing any log.
template <class H>
concept sends_from_host = requires(H& h, cap_handle c, exo::byte_view b) {
  h.call(c, 1);
  h.send(c, exo::arg_list{});
  h.send_encoded(c, b);
};

std::unique_ptr<mem_hv> fresh() {
  auto hv = std::make_unique<mem_hv>(exo::config{.name = "shop"});
  hv->register_type<till>();
  hv->register_type<dice>();
  return hv;
}

// A small workload: two tills, calls that succeed, fail, pass capabilities and reach an egress.
void workload(mem_hv& hv) {
  auto a = hv.create(till{}).value();
  auto b = hv.create(till{5}).value();
  const exo::id ida = *hv.actor_id(a), idb = *hv.actor_id(b);
  BOOST_REQUIRE(hv.invoke(ida, "add", {7}));
  BOOST_REQUIRE(hv.invoke(idb, "add", {1}));
  BOOST_REQUIRE(hv.invoke(ida, "refuse", {3}));
  auto to_b = *hv.lookup(idb, "add", exo::rights::call | exo::rights::transfer);
  BOOST_REQUIRE(hv.invoke(ida, "pay", {4, to_b}));
  auto out = hv.create_egress("printer", [](exo::egress_message&) {});
  BOOST_REQUIRE(hv.invoke(ida, "pay", {9, out}));
  BOOST_REQUIRE(hv.invoke(ida, "note", {"k", "v"}));
  BOOST_REQUIRE(hv.invoke(idb, "no-such-function", {}));
}

/// A log held as plain bytes, to tamper with.
struct copied_log final : exo::log_reader {
  std::vector<exo::bytes> entries;
  std::optional<exo::bytes> head_bytes;
  explicit copied_log(const exo::log_reader& from) {
    for (std::uint64_t i = 0; i < from.size(); ++i) entries.push_back(*from.read(i));
    head_bytes = *from.head();
  }
  std::uint64_t size() const override { return entries.size(); }
  expected<exo::bytes> read(std::uint64_t i) const override { return entries.at(i); }
  expected<std::optional<exo::bytes>> head() const override { return head_bytes; }

  exo::log_entry entry(std::size_t i) const { return *exo::decode_entry(entries[i]); }
  void set(std::size_t i, const exo::log_entry& e) { entries[i] = exo::encode_entry(e); }
  exo::log_head head_rec() const { return *exo::decode_head(*head_bytes); }
  void set_head(const exo::log_head& h) { head_bytes = exo::encode_head(h); }
};

exo::verdict check(const exo::log_reader& log) { return exo::verify(log, fresh); }

void expect_divergence(const exo::verdict& v, std::uint64_t index, std::initializer_list<std::string_view> fields) {
  BOOST_TEST_MESSAGE(v.to_string());
  BOOST_REQUIRE_MESSAGE(!v.ok(), "tampering was not detected");
  BOOST_TEST(v.first->index == index);
  bool field_ok = false;
  for (auto f : fields) field_ok = field_ok || v.first->field == f;
  BOOST_TEST(field_ok, "field '" << v.first->field << "'");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(signing)

BOOST_AUTO_TEST_CASE(sign_and_verify) {
  auto k = exo::node_key::generate().value();
  auto s = k.sign(exo::as_bytes("head"));
  BOOST_TEST(exo::verify_signature(k.public_key(), exo::as_bytes("head"), s).has_value());
  BOOST_TEST(!exo::verify_signature(k.public_key(), exo::as_bytes("head!"), s));
  auto other = exo::node_key::generate().value();
  BOOST_TEST(!exo::verify_signature(other.public_key(), exo::as_bytes("head"), s));
  s.bytes[3] ^= 1;
  BOOST_TEST(!exo::verify_signature(k.public_key(), exo::as_bytes("head"), s));
  BOOST_TEST(!exo::node_key::from_private_bytes(exo::bytes(31, 1)));
}

BOOST_AUTO_TEST_CASE(key_file_is_made_once_and_private) {
  test::temp_dir t;
  auto path = t.sub("node.key");
  auto k1 = exo::node_key::load_or_create(path).value();
  struct stat st {};
  BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  auto k2 = exo::node_key::load_or_create(path).value();
  BOOST_TEST((k1.public_key() == k2.public_key()));
  ::chmod(path.c_str(), 0640);
  auto shared = exo::node_key::load_or_create(path);
  BOOST_REQUIRE(!shared);
  BOOST_TEST(shared.error().message.find("chmod 600") != std::string::npos);
  ::chmod(path.c_str(), 0600);
  { std::ofstream(path, std::ios::trunc) << "garbage"; }
  auto bad = exo::node_key::load_or_create(path);
  BOOST_REQUIRE(!bad);
  BOOST_TEST((bad.error().code == exo::errc::malformed));
  BOOST_TEST(bad.error().message.find(path) != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(call_log)

BOOST_AUTO_TEST_CASE(entries_round_trip_and_malformed_ones_are_refused) {
  exo::log_entry e{};
  e.index = 3;
  e.kind = "call";
  e.function = "add";
  e.args = exo::value(exo::value::list{1, "x"});
  e.caps = e.result_caps = e.outputs = exo::value(exo::value::list{});
  e.error = exo::log_error{5, "handler_failed", "no"};
  auto enc = exo::encode_entry(e);
  auto back = exo::decode_entry(enc);
  BOOST_REQUIRE(back);
  BOOST_TEST((exo::encode_entry(*back) == enc));
  for (std::size_t cut = 0; cut < enc.size(); cut += 7) {
    auto r = exo::decode_entry(exo::byte_view(enc.data(), cut));
    BOOST_TEST(!r);
  }
  auto wrong = e;
  wrong.kind = "teleport";
  auto r = exo::decode_entry(exo::encode_entry(wrong));
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message.find("kind") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(every_input_is_logged_with_its_outcome) {
  auto hv = fresh();
  auto a = hv->create(till{}).value();
  const exo::id id = *hv->actor_id(a);
  auto ok = hv->invoke(id, "add", {7});
  BOOST_REQUIRE(ok);
  BOOST_TEST((ok->result == exo::value(7)));
  BOOST_TEST(!ok->error);
  BOOST_TEST(ok->ticks == 3u);
  BOOST_TEST((ok->root == *hv->state_root()));
  auto failed = hv->invoke(id, "refuse", {3});
  BOOST_REQUIRE(failed);
  BOOST_REQUIRE(failed->error);
  BOOST_TEST(failed->error->message.find("refused 3") != std::string::npos);
  BOOST_TEST(hv->state_of<till>(id)->total == 7);  // rolled back (only the actor's clock moved)
  auto missing = hv->invoke(id, "nothing", {});
  BOOST_REQUIRE(missing && missing->error);
  BOOST_TEST((missing->error->code == exo::errc::no_such_function));
  BOOST_TEST(hv->log().size() == 5u);  // init, create, three calls
  auto e1 = exo::decode_entry(*hv->log().read(1)).value();
  BOOST_TEST(e1.kind == "create");
  BOOST_TEST(e1.function == "till");
  auto e4 = exo::decode_entry(*hv->log().read(4)).value();
  BOOST_TEST(e4.error->name == "no_such_function");
  BOOST_TEST((e4.prev == exo::entry_hash(*hv->log().read(3))));
  auto head = exo::decode_head(**hv->log().head()).value();
  BOOST_TEST(head.size == 5u);
  BOOST_TEST(exo::check_head_signature(head).has_value());
  // A capability in a result comes back as a usable host handle, and is logged as a description.
  auto handed = hv->invoke(id, "adder", {});
  BOOST_REQUIRE(handed && !handed->error);
  BOOST_REQUIRE(handed->result.if_cap());
  auto described = hv->describe_cap(*handed->result.if_cap());
  BOOST_REQUIRE(described);
  BOOST_TEST(*described->find("function")->if_string() == "add");
  auto logged = exo::decode_entry(*hv->log().read(hv->log().size() - 1)).value();
  BOOST_TEST((logged.result == exo::value(exo::cap_handle{0})));
  BOOST_TEST((logged.result_caps == exo::value(exo::value::list{*described})));
  BOOST_TEST(check(hv->log()).ok());
  // Sends that bypass the log do not exist: a logged hypervisor takes inputs through invoke().
  static_assert(!sends_from_host<mem_hv> && !sends_from_host<disk_hv>);
  static_assert(sends_from_host<exo::hypervisor<>>);
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
  {  // a re-chained, re-signed log from another key still fails at the init entry's key
    copied_log l = good;
    l.head_bytes.reset();
    expect_divergence(check(l), n, {"head"});
  }
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

BOOST_AUTO_TEST_CASE(state_and_log_commit_together_on_lmdb) {
  test::temp_dir t;
  exo::digest root;
  exo::id id;
  exo::public_key key;
  {
    // A small journal: a commit larger than it fails, as a full disk would make it fail.
    auto hv = disk_hv::open(exo::lmdb_store::open(t.sub("data"), {.create = true, .journal_limit = std::uint64_t{64} << 10}).value(),
               exo::config{.name = "shop"}).value();
    hv.register_type<till>();
    auto a = hv.create(till{}).value();
    id = *hv.actor_id(a);
    BOOST_REQUIRE(hv.invoke(id, "add", {2}));
    root = hv.invoke(id, "add", {3})->root;
    key = hv.node_public_key();
    BOOST_TEST((hv.store().head()->hash == root));  // committed with the entry
  }
  struct stat st {};
  BOOST_REQUIRE(::stat(t.sub("data/node.key").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  auto hv = disk_hv::open(exo::lmdb_store::open(t.sub("data")).value(), exo::config{.name = "shop"}).value();
  hv.register_type<till>();
  BOOST_TEST((hv.node_public_key() == key));
  BOOST_TEST(hv.log().size() == 4u);
  auto next = hv.invoke(id, "add", {4});
  BOOST_REQUIRE(next);
  BOOST_TEST(next->index == 4u);
  BOOST_TEST((next->result == exo::value(9)));
  auto v = exo::verify(hv.log(), fresh);
  BOOST_TEST_MESSAGE(v.to_string());
  BOOST_TEST(v.ok());
  BOOST_TEST((v.final_root == next->root));
}

BOOST_AUTO_TEST_CASE(a_batch_commits_many_entries_in_one_transaction) {
  test::temp_dir t;
  exo::id id;
  exo::digest last_root;
  std::uint64_t commits_before = 0;
  {
    // A small journal: a commit larger than it fails, as a full disk would make it fail.
    auto hv = disk_hv::open(exo::lmdb_store::open(t.sub("data"), {.create = true, .journal_limit = std::uint64_t{64} << 10}).value(),
               exo::config{.name = "shop"}).value();
    hv.register_type<till>();
    id = *hv.actor_id(hv.create(till{}).value());
    const exo::digest committed = hv.store().head()->hash;
    commits_before = hv.log().size();
    hv.begin_batch();
    std::vector<exo::call_outcome> outs;
    for (int i = 1; i <= 5; ++i) outs.push_back(*hv.invoke(id, "add", {i}));
    outs.push_back(*hv.invoke(id, "refuse", {1}));  // a failed call is its own entry too
    // Staged, not written: the log and the store still end where they did.
    BOOST_TEST(hv.log().size() == commits_before);
    BOOST_TEST((hv.store().head()->hash == committed));
    BOOST_REQUIRE(hv.end_batch());
    BOOST_TEST(hv.log().size() == commits_before + 6);
    for (std::size_t i = 0; i < outs.size(); ++i) BOOST_TEST(outs[i].index == commits_before + i);
    BOOST_TEST((outs[4].result == exo::value(15)));
    BOOST_TEST(!!outs[5].error);
    BOOST_TEST((outs[3].root != outs[4].root));  // each entry has its own root
    last_root = outs[5].root;
    BOOST_TEST((hv.store().head()->hash == last_root));
    // A batch that is never ended leaves nothing behind.
    hv.begin_batch();
    BOOST_REQUIRE(hv.invoke(id, "add", {100}));
  }
  auto hv = disk_hv::open(exo::lmdb_store::open(t.sub("data")).value(), exo::config{.name = "shop"}).value();
  hv.register_type<till>();
  BOOST_TEST(hv.log().size() == commits_before + 6);
  BOOST_TEST((hv.state_root().value() == last_root));
  auto v = exo::verify(hv.log(), fresh);
  BOOST_TEST_MESSAGE(v.to_string());
  BOOST_TEST(v.ok());
  BOOST_TEST((v.final_root == last_root));
}

BOOST_AUTO_TEST_CASE(written_behind_inputs_verify_and_a_failed_write_rolls_back_to_the_disk) {
  // The RPC server's way of committing: the store writes behind while the hypervisor goes on.
  test::temp_dir t;
  exo::id id;
  exo::digest durable_root;
  std::uint64_t durable_size = 0;
  auto on_disk = [](exo::lmdb_store& s) {
    std::promise<expected<void>> p;
    auto f = p.get_future();
    s.when_durable([&p](const expected<void>& r) { p.set_value(r); });
    return f.get();
  };
  {
    // A small journal: a commit larger than it fails, as a full disk would make it fail.
    auto hv = disk_hv::open(exo::lmdb_store::open(t.sub("data"), {.create = true, .journal_limit = std::uint64_t{64} << 10}).value(),
               exo::config{.name = "shop"}).value();
    hv.register_type<till>();
    id = *hv.actor_id(hv.create(till{}).value());
    BOOST_REQUIRE(hv.store().set_write_behind(true));
    for (int i = 1; i <= 10; ++i) BOOST_REQUIRE(hv.invoke(id, "add", {i}));
    hv.begin_batch();
    for (int i = 0; i < 5; ++i) BOOST_REQUIRE(hv.invoke(id, "add", {100}));
    BOOST_REQUIRE(hv.end_batch());
    BOOST_REQUIRE(on_disk(hv.store()));
    durable_root = *hv.state_root();
    durable_size = hv.log().size();
    BOOST_TEST(durable_size == 17u);  // init, create, 15 calls

    // This call is queued, and then its commit does not fit the journal.
    const std::string big(100'000, 'x');
    auto lost = hv.invoke(id, "note", {"big", big});
    BOOST_REQUIRE(lost);
    auto failed = on_disk(hv.store());
    BOOST_REQUIRE(!failed);
    BOOST_TEST_MESSAGE(to_string(failed.error()));
    // The next input is refused, and the hypervisor goes back to what is on disk by itself.
    auto refused = hv.invoke(id, "add", {1});
    BOOST_REQUIRE(!refused);
    BOOST_TEST_MESSAGE(to_string(refused.error()));
    BOOST_TEST((hv.state_root().value() == durable_root));
    BOOST_TEST(hv.log().size() == durable_size);
    auto again = hv.invoke(id, "add", {1});
    BOOST_REQUIRE(again);
    BOOST_TEST(again->index == durable_size);
    BOOST_TEST((again->result == exo::value(556)));  // 555 + 1: the dropped call left nothing

    BOOST_REQUIRE(on_disk(hv.store()));

    // rollback() does the same for a user who hears of the failure first.
    auto lost_again = hv.invoke(id, "note", {"big", big});
    BOOST_REQUIRE(lost_again);
    BOOST_TEST(!on_disk(hv.store()));
    BOOST_TEST(hv.store().take_failure().has_value());
    BOOST_REQUIRE(hv.rollback());
    BOOST_TEST(hv.log().size() == durable_size + 1);
    BOOST_TEST((hv.invoke(id, "add", {1})->result == exo::value(557)));
    BOOST_REQUIRE(hv.store().set_write_behind(false));
    durable_root = *hv.state_root();
  }
  auto hv = disk_hv::open(exo::lmdb_store::open(t.sub("data")).value(), exo::config{.name = "shop"}).value();
  hv.register_type<till>();
  BOOST_TEST(hv.log().size() == durable_size + 2);
  BOOST_TEST((hv.state_root().value() == durable_root));
  auto v = exo::verify(hv.log(), fresh);
  BOOST_TEST_MESSAGE(v.to_string());
  BOOST_TEST(v.ok());
  BOOST_TEST((v.final_root == durable_root));
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

BOOST_AUTO_TEST_SUITE(log_file)

BOOST_AUTO_TEST_CASE(export_and_import_round_trip) {
  auto hv = fresh();
  workload(*hv);
  test::temp_dir t;
  BOOST_REQUIRE(exo::export_log(hv->log(), t.sub("shop.exolog")));
  auto back = exo::import_log(t.sub("shop.exolog"));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->size() == hv->log().size());
  for (std::uint64_t i = 0; i < back->size(); ++i) BOOST_TEST((*back->read(i) == *hv->log().read(i)));
  BOOST_TEST((**back->head() == **hv->log().head()));
  auto v = check(*back);
  BOOST_TEST(v.ok(), v.to_string());
  // An empty log exports and imports too.
  exo::log_file empty;
  auto e = exo::import_log(*exo::export_log(empty));
  BOOST_REQUIRE(e);
  BOOST_TEST(e->size() == 0u);
}

BOOST_AUTO_TEST_CASE(every_flipped_byte_of_a_log_file_is_caught) {
  auto hv = fresh();
  auto a = hv->create(till{}).value();
  BOOST_REQUIRE(hv->invoke(*hv->actor_id(a), "add", {7}));
  BOOST_REQUIRE(hv->invoke(*hv->actor_id(a), "refuse", {1}));
  const exo::bytes file = *exo::export_log(hv->log());
  BOOST_TEST_MESSAGE("log file of " << file.size() << " bytes");
  std::size_t by_import = 0, by_verify = 0;
  for (std::size_t i = 0; i < file.size(); ++i) {
    for (std::uint8_t bit : {std::uint8_t{0x01}, std::uint8_t{0x80}}) {
      exo::bytes damaged = file;
      damaged[i] ^= bit;
      auto l = exo::import_log(damaged);
      if (!l) {
        ++by_import;
        continue;
      }
      auto v = check(*l);
      BOOST_REQUIRE_MESSAGE(!v.ok(), "flipping bit " << int(bit) << " of byte " << i << " went unnoticed");
      ++by_verify;
    }
  }
  BOOST_TEST_MESSAGE("caught on import: " << by_import << ", by the verifier: " << by_verify);
  BOOST_TEST(by_import + by_verify == 2 * file.size());

  // Someone who edits the log itself writes a file with a good checksum: then every changed
  // byte of an entry or of the signed head is caught by the import's checks or the verifier.
  auto original = exo::import_log(file).value();
  std::vector<exo::bytes> entries;
  for (std::uint64_t i = 0; i < original.size(); ++i) entries.push_back(*original.read(i));
  const exo::bytes head = **original.head();
  std::size_t edits = 0;
  for (std::size_t which = 0; which <= entries.size(); ++which) {
    const exo::bytes& target = which < entries.size() ? entries[which] : head;
    for (std::size_t i = 0; i < target.size(); ++i) {
      auto es = entries;
      auto h = head;
      (which < entries.size() ? es[which] : h)[i] ^= 0x01;
      auto edited = exo::import_log(*exo::export_log(exo::log_file(es, h)));
      ++edits;
      if (!edited) continue;
      auto v = check(*edited);
      BOOST_REQUIRE_MESSAGE(!v.ok(), "flipping byte " << i << " of " << (which < entries.size() ? "entry " : "the head ")
                                                       << which << " went unnoticed");
    }
  }
  BOOST_TEST_MESSAGE(edits << " edited logs, all caught");
}

BOOST_AUTO_TEST_CASE(truncated_oversized_and_garbage_files_are_clear_errors) {
  auto hv = fresh();
  workload(*hv);
  const exo::bytes file = *exo::export_log(hv->log());
  for (std::size_t cut : {std::size_t{0}, std::size_t{4}, std::size_t{8}, std::size_t{12}, file.size() / 2, file.size() - 1}) {
    auto r = exo::import_log(exo::byte_view(file.data(), cut));
    BOOST_REQUIRE_MESSAGE(!r, "cut at " << cut);
    BOOST_TEST((r.error().code == exo::errc::malformed));
    BOOST_TEST(r.error().message.find("not a valid exo log file") != std::string::npos, r.error().message);
  }
  auto big = exo::import_log(file, exo::log_file_limits{.max_file = 100});
  BOOST_REQUIRE(!big);
  BOOST_TEST((big.error().code == exo::errc::limit_exceeded));
  auto inflated = exo::import_log(file, exo::log_file_limits{.max_content = 100});
  BOOST_REQUIRE(!inflated);
  BOOST_TEST((inflated.error().code == exo::errc::limit_exceeded));
  std::mt19937_64 rng(3);
  for (std::size_t n : {std::size_t{1}, std::size_t{100}, std::size_t{5000}}) {
    exo::bytes junk(n);
    for (auto& x : junk) x = static_cast<std::uint8_t>(rng());
    BOOST_TEST(!exo::import_log(junk));
    exo::bytes with_magic = file;
    with_magic.resize(8);
    with_magic.insert(with_magic.end(), junk.begin(), junk.end());
    auto r = exo::import_log(with_magic);
    BOOST_REQUIRE(!r);
    BOOST_TEST((r.error().message.find("checksum") != std::string::npos || r.error().message.find("cut short") != std::string::npos),
               r.error().message);
  }
  exo::bytes extra = file;
  extra.push_back(0);
  BOOST_TEST(!exo::import_log(extra));
  test::temp_dir t;
  auto missing = exo::import_log(t.sub("none.exolog"));
  BOOST_REQUIRE(!missing);
  BOOST_TEST(missing.error().message.find("none.exolog") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

