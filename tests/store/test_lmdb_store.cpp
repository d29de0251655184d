// The LMDB backend: nodes, records and the head round-trip and persist; directories that are
// missing, foreign, empty, truncated or garbage are clear errors; the map grows; one open per
// directory per process.

#include "lmdb_support.hpp"

using namespace lmdb_test;

BOOST_AUTO_TEST_SUITE(lmdb_backend)

BOOST_AUTO_TEST_CASE(round_trip_of_nodes_meta_and_head) {
  temp_dir t;
  auto s = open_new(t.path);
  BOOST_TEST((*s.head() == root_ref{}));
  BOOST_TEST(s.next_position() == 1u);
  BOOST_TEST(!s.read_node(1)->has_value());
  BOOST_TEST(!s.read_node(0)->has_value());
  BOOST_TEST(!s.read_meta("log")->has_value());

  commit_batch batch;
  batch.first = 1;
  batch.nodes = {b("node a"), b(""), bytes(100000, 7)};
  batch.head = {hash("root 1"), 3};
  batch.meta = {{"log", b("log head 1")}};
  BOOST_REQUIRE(s.commit(std::move(batch)));
  BOOST_TEST((*s.head() == root_ref{hash("root 1"), 3}));
  BOOST_TEST(s.next_position() == 4u);
  BOOST_TEST((**s.read_node(1) == b("node a")));
  BOOST_TEST((**s.read_node(2) == b("")));  // empty nodes are nodes
  BOOST_TEST((**s.read_node(3) == bytes(100000, 7)));
  BOOST_TEST(!s.read_node(4)->has_value());
  BOOST_TEST((**s.read_meta("log") == b("log head 1")));
  BOOST_TEST((*s.find_root(hash("root 1")) == std::optional<node_pos>{3}));
  BOOST_TEST((*s.find_root(digest{}) == std::optional<node_pos>{0}));  // the empty tree
  BOOST_TEST(!s.find_root(hash("never a head"))->has_value());

  // Stored nodes are immutable: a batch that does not start at the next position is refused.
  commit_batch again;
  again.first = 1;
  again.nodes = {b("other bytes")};
  again.head = {hash("root 2"), 1};
  check_error(s.commit(std::move(again)), errc::invalid_argument, {"next position is 4", "nothing was committed"});
  BOOST_TEST((**s.read_node(1) == b("node a")));
  // A head must name a stored node (or one of the batch), and only the zero hash is at 0.
  for (root_ref bad : {root_ref{hash("x"), 5}, root_ref{hash("x"), 0}, root_ref{digest{}, 2}}) {
    commit_batch c;
    c.first = 4;
    c.nodes = {b("d")};
    c.head = bad;
    check_error(s.commit(std::move(c)), errc::invalid_argument, {"head", "nothing was committed"});
  }
  BOOST_TEST(!s.read_node(4)->has_value());
  BOOST_TEST((*s.head() == root_ref{hash("root 1"), 3}));

  // Meta records and the head change; the head may be an earlier node.
  commit_batch later;
  later.first = 4;
  later.nodes = {b("d")};
  later.head = {hash("root 2"), 2};
  later.meta = {{"log", b("log head 2")}, {"log", b("log head 3")}};  // the later one wins
  BOOST_REQUIRE(s.commit(std::move(later)));
  BOOST_TEST((**s.read_node(4) == b("d")));
  BOOST_TEST((*s.head() == root_ref{hash("root 2"), 2}));
  BOOST_TEST((**s.read_meta("log") == b("log head 3")));
  BOOST_TEST((*s.find_root(hash("root 1")) == std::optional<node_pos>{3}));  // earlier roots stay found

  BOOST_TEST((**s.read_meta(lmdb_store::format_key) == to_bytes(lmdb_store::format_marker)));
  BOOST_TEST(s.directory() == t.path);
}

BOOST_AUTO_TEST_CASE(persists_across_close_and_reopen) {
  for (bool durable : {true, false}) {
    temp_dir t;
    root_ref head;
    auto all = fill_store(t.path, durable ? 1 : 2, 5, &head);
    node_pos next = 0;
    {
      auto s = lmdb_store::open(t.path, {.durable = durable});
      BOOST_REQUIRE(s);
      BOOST_TEST((*s->head() == head));
      BOOST_TEST(s->next_position() == all.size() + 1);
      check_nodes(*s, all);
      commit_batch more;
      more.first = s->next_position();
      more.head = {hash("later"), 1};
      more.meta = {{"m", b("v")}};
      BOOST_REQUIRE(s->commit(std::move(more)));
      next = s->next_position();
    }
    auto s = lmdb_store::open(t.path);
    BOOST_REQUIRE(s);
    BOOST_TEST((*s->head() == root_ref{hash("later"), 1}));
    BOOST_TEST(s->next_position() == next);
    BOOST_TEST((**s->read_meta("m") == b("v")));
    check_nodes(*s, all);
  }
}

BOOST_AUTO_TEST_CASE(a_commit_from_another_process_is_noticed) {
  // Another process appends to the store behind this one's back; this one's next commit is
  // refused with a clear error (never overwriting), and the one after it goes through.
  temp_dir t;
  auto s = open_new(t.path);
  std::mt19937_64 rng(12);
  std::map<node_pos, bytes> all;
  auto first = random_batch(rng, 10, 1);
  remember(first, all);
  BOOST_REQUIRE(s.commit(std::move(first)));
  pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {  // the other process: a store of its own on the same directory
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    MDB_dbi dbi = 0;
    std::uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, 11};
    MDB_val k{8, key}, v{5, const_cast<char*>("other")};
    bool ok = mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 8) == 0 &&
              mdb_env_open(env, t.path.c_str(), 0, 0600) == 0 && mdb_txn_begin(env, nullptr, 0, &txn) == 0 &&
              mdb_dbi_open(txn, "nodes", 0, &dbi) == 0 && mdb_put(txn, dbi, &k, &v, 0) == 0 &&
              mdb_txn_commit(txn) == 0;
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  BOOST_REQUIRE(WIFEXITED(status));
  BOOST_REQUIRE(WEXITSTATUS(status) == 0);
  BOOST_TEST(s.next_position() == 11u);  // stale
  auto stale = random_batch(rng, 5, 11);
  check_error(s.commit(std::move(stale)), errc::invalid_argument, {"another writer", "nothing was committed"});
  BOOST_TEST(s.next_position() == 12u);  // refreshed by the refusal
  BOOST_TEST((**s.read_node(11) == b("other")));
  auto retry = random_batch(rng, 5, s.next_position());
  remember(retry, all);
  BOOST_REQUIRE(s.commit(std::move(retry)));
  check_nodes(s, all);
}

BOOST_AUTO_TEST_CASE(create_makes_a_private_directory_one_level_deep) {
  temp_dir t;
  auto dir = t.sub("data");
  { auto s = open_new(dir); }
  struct stat st {};
  BOOST_REQUIRE(::stat(dir.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0700u);
  BOOST_TEST(fs::exists(dir + "/data.mdb"));
  BOOST_TEST(lmdb_store::open(dir).has_value());          // now an exo data directory
  BOOST_TEST(lmdb_store::open(dir, {.create = true}).has_value());  // create on an existing store opens it
  check_error(lmdb_store::open(t.sub("a/b"), {.create = true}), errc::internal, {t.sub("a/b"), "parent"});
}

BOOST_AUTO_TEST_CASE(missing_directory_without_create_names_it) {
  temp_dir t;
  auto dir = t.sub("nowhere");
  check_error(lmdb_store::open(dir), errc::invalid_argument, {dir, "does not exist", "create = true"});
  BOOST_TEST(!fs::exists(dir));  // nothing was made
  write_file(t.sub("plain"), b("x"));
  check_error(lmdb_store::open(t.sub("plain")), errc::invalid_argument, {t.sub("plain"), "not a directory"});
  check_error(lmdb_store::open(""), errc::invalid_argument, {"empty"});
}

BOOST_AUTO_TEST_CASE(directory_with_unrelated_files_is_not_exos) {
  temp_dir t;
  write_file(t.sub("notes.txt"), b("hello"));
  check_error(lmdb_store::open(t.path), errc::invalid_argument, {t.path, "not an exo data directory", "no data.mdb"});
  check_error(lmdb_store::open(t.path, {.create = true}), errc::invalid_argument,
              {t.path, "not an exo data directory", "notes.txt"});
  BOOST_TEST(!fs::exists(t.sub("data.mdb")));  // and nothing was written there
  temp_dir empty;
  check_error(lmdb_store::open(empty.path), errc::invalid_argument, {empty.path, "no data.mdb"});
  BOOST_TEST(!fs::exists(empty.sub("data.mdb")));
}

BOOST_AUTO_TEST_CASE(foreign_lmdb_database_and_other_format_are_refused) {
  // An LMDB environment someone else wrote, without exo's format marker.
  auto raw_put = [](const std::string& dir, const char* db, std::string_view key, std::string_view value) {
    MDB_env* env = nullptr;
    BOOST_REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 4);
    BOOST_REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0600) == 0);
    MDB_txn* txn = nullptr;
    BOOST_REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi dbi = 0;
    BOOST_REQUIRE(mdb_dbi_open(txn, db, MDB_CREATE, &dbi) == 0);
    MDB_val k{key.size(), const_cast<char*>(key.data())}, v{value.size(), const_cast<char*>(value.data())};
    BOOST_REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
    BOOST_REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  };
  temp_dir foreign;
  raw_put(foreign.path, nullptr, "user", "alice");
  check_error(lmdb_store::open(foreign.path), errc::invalid_argument,
              {foreign.path, "not an exo data directory", "format marker"});
  check_error(lmdb_store::open(foreign.path, {.create = true}), errc::invalid_argument,
              {foreign.path, "not an exo data directory"});

  temp_dir other_meta;  // a "meta" table but no marker
  raw_put(other_meta.path, "meta", "something", "else");
  check_error(lmdb_store::open(other_meta.path), errc::invalid_argument, {other_meta.path, "format marker"});

  temp_dir future;  // an exo store of another format version
  { auto s = open_new(future.path); }
  raw_put(future.path, "meta", lmdb_store::format_key, "exo-store-9");
  check_error(lmdb_store::open(future.path), errc::invalid_argument, {future.path, "exo-store-9", "exo-store-2"});

  temp_dir odd;  // a marker that is not exo's at all
  { auto s = open_new(odd.path); }
  raw_put(odd.path, "meta", lmdb_store::format_key, "\x01garbage");
  check_error(lmdb_store::open(odd.path), errc::invalid_argument, {odd.path, "not an exo data directory", "\\x01"});
}

BOOST_AUTO_TEST_CASE(empty_data_file_needs_create) {
  temp_dir t;
  write_file(t.sub("data.mdb"), {});
  check_error(lmdb_store::open(t.path), errc::invalid_argument, {t.path, "empty", "create = true"});
  auto s = lmdb_store::open(t.path, {.create = true});  // an interrupted creation is finished
  BOOST_REQUIRE(s);
  BOOST_TEST((*s->head() == root_ref{}));
}

BOOST_AUTO_TEST_CASE(truncated_data_file_is_a_clear_error) {
  temp_dir t;
  auto all = fill_store(t.path, 3, 20);
  auto data = t.sub("data.mdb");
  auto full = fs::file_size(data);
  BOOST_TEST_MESSAGE("data.mdb is " << full << " bytes");
  fs::copy_file(data, t.sub("backup"));
  for (std::uintmax_t size : {std::uintmax_t{100}, std::uintmax_t{4100}, full / 2, full - 4096 * 8}) {
    fs::copy_file(t.sub("backup"), data, fs::copy_options::overwrite_existing);
    fs::resize_file(data, size);
    check_error(lmdb_store::open(t.path), errc::malformed, {data, "truncated", "backup"});
    check_error(lmdb_store::open(t.path, {.create = true}), errc::malformed, {data, "truncated"});
  }
  // Restored, the directory opens again (no state of the failed opens lingers).
  fs::copy_file(t.sub("backup"), data, fs::copy_options::overwrite_existing);
  auto s = lmdb_store::open(t.path);
  BOOST_REQUIRE(s);
  check_nodes(*s, all);
}

BOOST_AUTO_TEST_CASE(cut_short_by_any_number_of_pages_never_crashes) {
  // LMDB may legitimately leave free pages unwritten at the end of data.mdb, so a short file
  // is not always damaged. Whatever the cut: either open reports the damage, or every node
  // reads back as it was. (A wrong answer here would crash the test with SIGBUS.)
  temp_dir t;
  root_ref head;
  auto all = fill_store(t.path, 4, 30, &head);
  auto data = t.sub("data.mdb");
  auto full = fs::file_size(data);
  fs::copy_file(data, t.sub("backup"));
  int refused = 0, opened = 0;
  for (std::uintmax_t cut = 4096; cut < full; cut += cut < 4096 * 16 ? 4096 : full / 13) {
    fs::copy_file(t.sub("backup"), data, fs::copy_options::overwrite_existing);
    fs::resize_file(data, full - cut);
    auto s = lmdb_store::open(t.path);
    if (!s) {
      ++refused;
      BOOST_TEST((s.error().code == errc::malformed));
      BOOST_TEST_MESSAGE("cut " << cut << ": " << s.error().message);
      continue;
    }
    ++opened;
    BOOST_TEST((*s->head() == head));
    check_nodes(*s, all);
  }
  BOOST_TEST_MESSAGE("cuts refused: " << refused << ", opened intact: " << opened);
  BOOST_TEST(refused > 0);
}

BOOST_AUTO_TEST_CASE(garbage_data_file_is_a_clear_error) {
  temp_dir t;
  std::mt19937_64 rng(5);
  for (std::size_t size : {std::size_t{1}, std::size_t{152}, std::size_t{5000}, std::size_t{1} << 20}) {
    write_file(t.sub("data.mdb"), random_bytes(rng, size));
    auto r = lmdb_store::open(t.path);
    check_error(r, errc::malformed, {t.sub("data.mdb")});
  }
  // A valid store whose meta pages were overwritten with garbage.
  temp_dir v;
  fill_store(v.path, 6, 2);
  {
    std::fstream f(v.sub("data.mdb"), std::ios::in | std::ios::out | std::ios::binary);
    auto junk = random_bytes(rng, 8192);
    f.write(reinterpret_cast<const char*>(junk.data()), static_cast<std::streamsize>(junk.size()));
  }
  check_error(lmdb_store::open(v.path), errc::malformed, {v.sub("data.mdb"), "not an LMDB database", "backup"});
}

BOOST_AUTO_TEST_CASE(reopening_a_valid_directory_after_errors_works) {
  temp_dir good, bad;
  root_ref head;
  auto all = fill_store(good.path, 7, 3, &head);
  write_file(bad.sub("data.mdb"), bytes(300, 0xab));
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(!lmdb_store::open(bad.path));
    BOOST_TEST(!lmdb_store::open(good.sub("missing")));
    auto s = lmdb_store::open(good.path);
    BOOST_REQUIRE(s);
    BOOST_TEST((*s->head() == head));
    check_nodes(*s, all);
  }
}

BOOST_AUTO_TEST_CASE(memory_and_lmdb_agree_on_the_same_commits) {
  temp_dir t;
  memory_store mem;
  auto lmdb = open_new(t.path);
  std::mt19937_64 rng(8);
  std::vector<digest> heads;
  for (int round = 0; round < 40; ++round) {
    BOOST_REQUIRE(mem.next_position() == lmdb.next_position());
    auto batch = random_batch(rng, 1 + rng() % 30, mem.next_position());
    if (round % 5 == 4) batch.head.pos = 1 + rng() % batch.head.pos;  // now and then an earlier node
    batch.meta.emplace_back("meta." + std::to_string(rng() % 5), random_bytes(rng, rng() % 50));
    heads.push_back(batch.head.hash);
    commit_batch copy = batch;
    BOOST_REQUIRE(mem.commit(std::move(batch)));
    BOOST_REQUIRE(lmdb.commit(std::move(copy)));
    BOOST_TEST((*mem.head() == *lmdb.head()));
  }
  BOOST_TEST(mem.next_position() == lmdb.next_position());
  for (node_pos p = 0; p < mem.next_position() + 5; ++p) BOOST_TEST((*mem.read_node(p) == *lmdb.read_node(p)));
  for (const auto& h : heads) BOOST_TEST((*mem.find_root(h) == *lmdb.find_root(h)));
  BOOST_TEST((*mem.find_root(random_digest(rng)) == *lmdb.find_root(random_digest(rng))));  // both nullopt
  for (int i = 0; i < 6; ++i) {
    auto name = "meta." + std::to_string(i);
    BOOST_TEST((*mem.read_meta(name) == *lmdb.read_meta(name)));
  }
  BOOST_TEST(mem.node_count() > 0u);
}

BOOST_AUTO_TEST_CASE(a_full_map_grows) {
  temp_dir t;
  std::mt19937_64 rng(9);
  std::map<node_pos, bytes> all;
  {
    auto s = open_new(t.path, {.create = true, .map_size = std::size_t{1} << 20});
    for (int i = 0; i < 3; ++i) {
      commit_batch batch;
      batch.first = s.next_position();
      for (int n = 0; n < 400; ++n) batch.nodes.push_back(random_bytes(rng, 5000));
      batch.head = {random_digest(rng), batch.first};
      remember(batch, all);
      auto r = s.commit(std::move(batch));  // about 2.4 MB into a 1 MiB map
      BOOST_REQUIRE_MESSAGE(r, (r ? "" : to_string(r.error())));
    }
    check_nodes(s, all);
  }
  auto s = lmdb_store::open(t.path, {.map_size = std::size_t{1} << 20});  // smaller than the data
  BOOST_REQUIRE(s);
  check_nodes(*s, all);
}

BOOST_AUTO_TEST_CASE(a_map_that_cannot_grow_enough_is_reported) {
  temp_dir t;
  auto s = open_new(t.path, {.create = true, .map_size = 64 * 1024});
  commit_batch small;
  small.first = 1;
  small.nodes = {b("kept")};
  small.head = {hash("h1"), 1};
  BOOST_REQUIRE(s.commit(std::move(small)));
  // 80 MiB in one commit: more than ten doublings of a 64 KiB map.
  commit_batch huge;
  huge.first = 2;
  huge.nodes = {bytes(std::size_t{80} << 20, 0x5a)};
  huge.head = {hash("h2"), 2};
  check_error(s.commit(std::move(huge)), errc::limit_exceeded, {t.path, "full", "map_size"});
  BOOST_TEST(!s.read_node(2)->has_value());  // nothing of it was written
  BOOST_TEST((*s.head() == root_ref{hash("h1"), 1}));
  BOOST_TEST(s.next_position() == 2u);
  commit_batch after;  // and the store goes on
  after.first = 2;
  after.nodes = {b("next")};
  after.head = {hash("h3"), 2};
  BOOST_REQUIRE(s.commit(std::move(after)));
  BOOST_TEST((**s.read_node(1) == b("kept")));
  BOOST_TEST((**s.read_node(2) == b("next")));
}

BOOST_AUTO_TEST_CASE(overwrite_node_replaces_stored_bytes) {
  temp_dir t;
  auto s = open_new(t.path);
  commit_batch batch;
  batch.first = 1;
  batch.nodes = {b("good")};
  batch.head = {hash("n"), 1};
  BOOST_REQUIRE(s.commit(std::move(batch)));
  BOOST_REQUIRE(s.overwrite_node(1, b("damaged")));
  BOOST_TEST((**s.read_node(1) == b("damaged")));
  check_error(s.overwrite_node(2, b("x")), errc::invalid_argument, {"position 2", t.path});
  BOOST_TEST(!s.read_node(2)->has_value());
  BOOST_TEST(s.next_position() == 2u);
}

BOOST_AUTO_TEST_CASE(bad_meta_names_commit_nothing) {
  temp_dir t;
  auto s = open_new(t.path);
  for (std::string name : {std::string(lmdb_store::head_key), std::string(lmdb_store::format_key), std::string(),
                           std::string(lmdb_store::max_meta_name + 1, 'x')}) {
    commit_batch batch;
    batch.first = 1;
    batch.nodes = {b("v")};
    batch.head = {hash("h"), 1};
    batch.meta = {{"fine", b("1")}, {name, b("2")}};
    check_error(s.commit(std::move(batch)), errc::invalid_argument, {"nothing was committed"});
  }
  BOOST_TEST(!s.read_node(1)->has_value());
  BOOST_TEST(s.next_position() == 1u);
  BOOST_TEST(!s.read_meta("fine")->has_value());
  BOOST_TEST((*s.head() == root_ref{}));
  BOOST_TEST(!s.read_meta("")->has_value());
  commit_batch ok;
  ok.first = s.next_position();
  ok.meta = {{std::string(lmdb_store::max_meta_name, 'y'), b("long name")}};
  BOOST_REQUIRE(s.commit(std::move(ok)));
  BOOST_TEST((**s.read_meta(std::string(lmdb_store::max_meta_name, 'y')) == b("long name")));
}

BOOST_AUTO_TEST_CASE(one_open_per_directory_per_process_and_moves) {
  temp_dir t;
  auto s = open_new(t.path);
  check_error(lmdb_store::open(t.path), errc::invalid_argument, {t.path, "already open"});
  lmdb_store moved = std::move(s);
  commit_batch batch;
  batch.first = 1;
  batch.nodes = {b("n")};
  batch.head = {hash("h"), 1};
  BOOST_REQUIRE(moved.commit(std::move(batch)));
  BOOST_TEST(!s.head());  // NOLINT(bugprone-use-after-move): a moved-from store reports errors
  {
    lmdb_store gone = std::move(moved);
  }  // closed here
  auto again = lmdb_store::open(t.path);
  BOOST_REQUIRE(again);
  BOOST_TEST((again->head()->hash == hash("h")));
  // Move assignment closes the store it replaces.
  temp_dir u;
  auto other = open_new(u.path);
  other = std::move(*again);
  BOOST_TEST((other.head()->hash == hash("h")));
  BOOST_TEST(lmdb_store::open(u.path).has_value());  // u's environment was closed by the assignment
}

BOOST_AUTO_TEST_CASE(a_short_file_missing_only_free_pages_opens) {
  // What LMDB itself can leave behind (pages allocated and freed within one transaction are
  // never written): a data.mdb shorter than its last page number says, where every page still
  // in use is inside the file. Made here by freeing a large record at the end of the file.
  temp_dir t;
  root_ref head;
  auto all = fill_store(t.path, 10, 3, &head);
  {
    auto s = open_new(t.path, {.create = true, .write_ahead = false});
    for (auto v : {bytes(std::size_t{2} << 20, 1), b("small"), b("small again")}) {
      commit_batch c;
      c.first = s.next_position();
      c.head = head;
      c.meta = {{"big", v}};
      BOOST_REQUIRE(s.commit(std::move(c)));
    }
  }
  auto data = t.sub("data.mdb");
  fs::resize_file(data, fs::file_size(data) - 128 * 4096);  // a quarter of the freed 2 MiB
  {
    auto s = lmdb_store::open(t.path);
    if (!s) BOOST_FAIL(to_string(s.error()));
    BOOST_TEST((*s->head() == head));
    check_nodes(*s, all);
    std::mt19937_64 rng(11);
    auto more = random_batch(rng, 300, s->next_position());  // LMDB reuses the free pages and writes the file out again
    remember(more, all);
    head = more.head;
    BOOST_REQUIRE(s->commit(std::move(more)));
  }
  auto s = lmdb_store::open(t.path);
  BOOST_REQUIRE(s);
  BOOST_TEST((*s->head() == head));
  check_nodes(*s, all);
}

BOOST_AUTO_TEST_SUITE_END()
