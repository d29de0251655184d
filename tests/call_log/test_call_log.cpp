// The call log: signing keys, entries, logged hypervisors (memory and LMDB) committing state
// and entries together, batches, writing behind, and the portable log file.

#include "../support/shop.hpp"
#include "../support/temp_dir.hpp"

#include <exo/exo.hpp>

#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <fstream>
#include <future>
#include <iterator>
#include <random>

using namespace shop;

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

// A data directory whose log was written under other tick rules (exo-log-1, before the
// arrival tick) is refused when opened, with what to do, and nothing of it is changed.
BOOST_AUTO_TEST_CASE(a_log_of_another_format_is_refused_when_opened) {
  test::temp_dir t;
  {
    auto hv = disk_hv::open(exo::lmdb_store::open(t.sub("data"), {.create = true}).value(), exo::config{.name = "shop"}).value();
    hv.register_type<till>();
    auto a = hv.create(till{}).value();
    BOOST_REQUIRE(hv.invoke(*hv.actor_id(a), "add", {2}));
  }
  // The init entry as an older exo wrote it: the format string is stored as it is.
  const std::string file = t.sub("data/data.mdb");
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::size_t found = 0;  // (earlier copies of the page too: LMDB writes pages anew)
  for (auto at = bytes.find("exo-log-2"); at != std::string::npos; at = bytes.find("exo-log-2", at), ++found)
    bytes.replace(at, 9, "exo-log-1");
  BOOST_REQUIRE(found > 0u);
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  auto hv = disk_hv::open(exo::lmdb_store::open(t.sub("data")).value(), exo::config{.name = "shop"});
  BOOST_REQUIRE(!hv);
  BOOST_TEST(hv.error().message.find("format \"exo-log-1\"") != std::string::npos, hv.error().message);
  BOOST_TEST(hv.error().message.find("start a new one") != std::string::npos, hv.error().message);
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

