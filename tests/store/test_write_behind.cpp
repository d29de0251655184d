// The LMDB backend writing behind: reads see queued commits, failures drop what follows and
// are reported once, and the journal: a process that dies leaves it and the next open applies
// it, a torn record ends it, other processes read but do not commit, a failed apply keeps
// everything.

#include "lmdb_support.hpp"

using namespace lmdb_test;

BOOST_AUTO_TEST_SUITE(write_behind)

namespace {
// Waits for when_durable's answer on everything queued so far.
expected<void> durable(lmdb_store& s) {
  std::promise<expected<void>> p;
  auto f = p.get_future();
  s.when_durable([&p](const expected<void>& r) { p.set_value(r); });
  return f.get();
}
}  // namespace

BOOST_AUTO_TEST_CASE(write_behind_reads_see_queued_commits_and_everything_reaches_the_disk) {
  temp_dir t;
  std::mt19937_64 rng(21);
  std::map<node_pos, bytes> all;
  std::vector<root_ref> heads;
  std::vector<int> told;  // the order callbacks ran in (-1000 - i: told of a failure)
  {
    auto s = open_new(t.path);
    BOOST_REQUIRE(s.set_write_behind(true));
    BOOST_TEST(s.write_behind());
    for (int i = 0; i < 40; ++i) {
      auto batch = random_batch(rng, 1 + rng() % 60, s.next_position());
      batch.meta = {{"counter", b(std::to_string(i))}, {fmt::format("only/{}", i), b("x")}};
      remember(batch, all);
      heads.push_back(batch.head);
      const node_pos end = batch.first + batch.nodes.size();
      BOOST_REQUIRE(s.commit(std::move(batch)));
      // Queued or written, it reads back at once, as if it were on disk.
      BOOST_TEST(s.next_position() == end);
      BOOST_TEST((*s.head() == heads.back()));
      BOOST_TEST((*s.read_meta("counter") == b(std::to_string(i))));
      // (Boost.Test is not for other threads: the callback only records; durable() below
      // waits for the writer thread, which orders its writes before the checks.)
      if (i % 10 == 0) s.when_durable([&told, i](const expected<void>& r) { told.push_back(r ? i : -1000 - i); });
    }
    check_nodes(s, all);
    for (const auto& h : heads) BOOST_TEST((*s.find_root(h.hash) == std::optional<node_pos>{h.pos}));
    BOOST_TEST(!s.read_node(s.next_position())->has_value());
    BOOST_REQUIRE(durable(s));
    BOOST_TEST((told == std::vector<int>{0, 10, 20, 30}));
    auto st = s.stats();
    BOOST_TEST(st.commits == 40u);
    // Durable in the journal, in fewer writes than commits; applied to data.mdb in fewer still.
    BOOST_TEST(st.journal_writes >= 1u);
    BOOST_TEST(st.journal_writes <= 40u);
    BOOST_TEST(st.transactions <= st.journal_writes);
    BOOST_TEST_MESSAGE("40 commits written in " << st.journal_writes << " journal writes and applied in "
                                                << st.transactions << " transactions");
    BOOST_TEST(!s.overwrite_node(1, b("no")));  // only with write-behind off
    BOOST_REQUIRE(s.set_write_behind(false));
    BOOST_TEST(!s.write_behind());
    st = s.stats();
    BOOST_TEST(st.commits == 40u);
    BOOST_TEST(st.transactions >= 1u);  // stopping applied the rest
    // With write-behind off, commits are written before commit() returns again.
    auto more = random_batch(rng, 5, s.next_position());
    remember(more, all);
    heads.push_back(more.head);
    BOOST_REQUIRE(s.commit(std::move(more)));
    BOOST_TEST(s.stats().transactions == st.transactions + 1);
    // A store closed in write-behind writes what it has queued first.
    BOOST_REQUIRE(s.set_write_behind(true));
    auto last = random_batch(rng, 7, s.next_position());
    remember(last, all);
    heads.push_back(last.head);
    BOOST_REQUIRE(s.commit(std::move(last)));
  }
  auto s = lmdb_store::open(t.path);
  BOOST_REQUIRE(s);
  BOOST_TEST((*s->head() == heads.back()));
  check_nodes(*s, all);
  BOOST_TEST((*s->read_meta("only/39") == b("x")));
  BOOST_TEST((*s->read_meta("counter") == b("39")));
}

namespace {
// Write-behind with a commit that cannot be written (`big` is its one metadata record's
// size): it and the commit after it are dropped, the store reads as if they were never made,
// and the failure is reported once.
void a_failing_commit_is_dropped(lmdb_options o, std::size_t big_size, errc code) {
  temp_dir t;
  std::mt19937_64 rng(5);
  std::map<node_pos, bytes> kept;
  o.create = true;
  auto s = open_new(t.path, o);
  BOOST_REQUIRE(s.set_write_behind(true));
  auto a = random_batch(rng, 20, s.next_position());
  remember(a, kept);
  const root_ref head_a = a.head;
  BOOST_REQUIRE(s.commit(std::move(a)));
  BOOST_REQUIRE(durable(s));
  const node_pos after_a = s.next_position();

  auto big = random_batch(rng, 3, after_a);
  big.meta = {{"big", bytes(big_size, 7)}};
  BOOST_REQUIRE(s.commit(std::move(big)));  // queued: the failure comes later
  auto c = random_batch(rng, 4, s.next_position());
  const node_pos c_first = c.first;
  // Queued after it, it builds on it and is dropped with it; unless the writer was quicker,
  // and this commit is the one that hears of the failure.
  auto refused = s.commit(std::move(c));
  if (refused) {
    auto r = durable(s);  // told of the failure
    BOOST_REQUIRE(!r);
    BOOST_TEST_MESSAGE(to_string(r.error()));
    BOOST_TEST(to_string(r.error().code) == to_string(code));
    BOOST_TEST(r.error().message.find("dropped") != std::string::npos);
  }
  // Back where the disk is: reads no longer see the dropped commits.
  BOOST_TEST((*s.head() == head_a));
  BOOST_TEST(s.next_position() == after_a);
  BOOST_TEST(!s.read_node(c_first)->has_value());
  BOOST_TEST(!s.read_meta("big")->has_value());
  check_nodes(s, kept);
  // The next commit hears of it, once, and the one after is taken.
  if (refused) refused = s.commit(random_batch(rng, 2, after_a));
  BOOST_REQUIRE(!refused);
  BOOST_TEST(to_string(refused.error().code) == to_string(code));
  BOOST_TEST(refused.error().message.find("dropped") != std::string::npos);
  BOOST_TEST(refused.error().message.find("refused as well") != std::string::npos);
  BOOST_TEST(!s.take_failure().has_value());
  auto e = random_batch(rng, 6, s.next_position());
  remember(e, kept);
  const root_ref head_e = e.head;
  BOOST_REQUIRE(s.commit(std::move(e)));
  BOOST_REQUIRE(durable(s));
  BOOST_REQUIRE(s.set_write_behind(false));
  BOOST_TEST((*s.head() == head_e));
  check_nodes(s, kept);
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_commit_larger_than_the_journal_is_dropped_with_what_follows_and_reported_once) {
  a_failing_commit_is_dropped({.journal_limit = std::uint64_t{64} << 10}, std::size_t{100} << 10, errc::limit_exceeded);
}

BOOST_AUTO_TEST_CASE(without_a_journal_a_failed_write_behind_drops_what_follows_and_is_reported_once) {
  // A small map that may grow 2^10 times (to 64 MiB): a commit larger than that fails.
  a_failing_commit_is_dropped({.map_size = std::size_t{64} << 10, .journal = false}, std::size_t{80} << 20,
                              errc::limit_exceeded);
}

namespace {
// Runs `child` in another process (which opens the store itself: LMDB environments do not
// survive a fork) and returns its exit status.
template <class F>
int in_another_process(F&& child) {
  pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) ::_exit(child());
  int status = 0;
  BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  BOOST_REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

// The journal's state record as data.mdb holds it (read with LMDB directly): 1 while a
// process writes through the journal or stopped before applying it, 0 when all is applied.
int journal_open_flag(const std::string& dir) {
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  MDB_dbi dbi = 0;
  MDB_val k{lmdb_store::journal_key.size(), const_cast<char*>(lmdb_store::journal_key.data())}, v{};
  int flag = -1;
  if (mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 8) == 0 &&
      mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0600) == 0 && mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0 &&
      mdb_dbi_open(txn, "meta", 0, &dbi) == 0 && mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == 9)
    flag = static_cast<const std::uint8_t*>(v.mv_data)[8];
  if (txn) mdb_txn_abort(txn);
  if (env) mdb_env_close(env);
  return flag;
}

// The commits a crashing writer makes: `n` random batches from position 1, each with records.
std::vector<commit_batch> crash_batches(int n) {
  std::mt19937_64 rng(77);
  std::vector<commit_batch> out;
  node_pos next = 1;
  for (int i = 0; i < n; ++i) {
    auto batch = random_batch(rng, 1 + rng() % 30, next);
    batch.meta = {{"counter", b(std::to_string(i))}};
    next += batch.nodes.size();
    out.push_back(std::move(batch));
  }
  return out;
}

// Another process commits `batches` through the journal, waits until they are durable and
// dies without closing the store (exit status 0 if all that went well).
int commit_and_crash(const std::string& dir, std::vector<commit_batch> batches) {
  return in_another_process([&] {
    auto s = lmdb_store::open(dir, {.create = true});
    if (!s || !s->set_write_behind(true)) return 10;
    for (auto& batch : batches)
      if (!s->commit(std::move(batch))) return 11;
    if (!durable(*s)) return 12;
    std::_Exit(0);  // no destructors: the store is never closed, the journal never applied
  });
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_process_that_dies_leaves_its_journal_and_the_next_open_applies_it) {
  temp_dir t;
  auto batches = crash_batches(40);
  std::map<node_pos, bytes> all;
  for (const auto& batch : batches) remember(batch, all);
  BOOST_REQUIRE(commit_and_crash(t.path, batches) == 0);
  // The writer died between applies: data.mdb says its journal is open.
  BOOST_TEST(journal_open_flag(t.path) == 1);
  {
    auto s = lmdb_store::open(t.path);
    BOOST_REQUIRE_MESSAGE(s, (s ? "" : to_string(s.error())));
    BOOST_TEST((*s->head() == batches.back().head));
    BOOST_TEST((*s->read_meta("counter") == b("39")));
    check_nodes(*s, all);
    for (const auto& batch : batches) BOOST_TEST((*s->find_root(batch.head.hash) == std::optional<node_pos>{batch.head.pos}));
    // Applied and closed: plain commits go through again.
    std::mt19937_64 rng(3);
    auto more = random_batch(rng, 4, s->next_position());
    remember(more, all);
    BOOST_REQUIRE(s->commit(std::move(more)));
  }
  BOOST_TEST(journal_open_flag(t.path) == 0);
  auto s = lmdb_store::open(t.path);
  BOOST_REQUIRE(s);
  check_nodes(*s, all);
}

BOOST_AUTO_TEST_CASE(a_torn_journal_record_ends_what_is_applied_and_a_missing_journal_is_reported) {
  temp_dir t;
  auto batches = crash_batches(10);
  BOOST_REQUIRE(commit_and_crash(t.path, batches) == 0);
  const std::string journal = t.path + "/" + std::string(lmdb_store::journal_file);
  // Damage the last record, as a write the crash cut short would leave it.
  bytes j = read_file(journal);
  std::size_t at = 0, last = 0;
  for (int i = 0; i < 10; ++i) {
    last = at;
    std::uint32_t len = 0;
    std::memcpy(&len, j.data() + at + 4, 4);
    at += 48 + len;
  }
  j[last + 60] ^= 0xff;
  {
    temp_dir copy;
    fs::copy(t.path, copy.path, fs::copy_options::recursive);
    fs::remove(copy.path + "/" + std::string(lmdb_store::journal_file));
    check_error(lmdb_store::open(copy.path), errc::malformed, {"journal.wal is missing", "restore"});
  }
  write_file(journal, j);
  auto s = lmdb_store::open(t.path);
  BOOST_REQUIRE_MESSAGE(s, (s ? "" : to_string(s.error())));
  BOOST_TEST((*s->head() == batches[8].head));
  BOOST_TEST((*s->read_meta("counter") == b("8")));
  BOOST_TEST(s->next_position() == batches[9].first);
  std::map<node_pos, bytes> kept;
  for (int i = 0; i < 9; ++i) remember(batches[static_cast<std::size_t>(i)], kept);
  check_nodes(*s, kept);
}

BOOST_AUTO_TEST_CASE(while_a_process_writes_through_the_journal_others_read_but_cannot_commit) {
  temp_dir t;
  { auto s = open_new(t.path); }
  int to_child[2], to_parent[2];
  BOOST_REQUIRE(::pipe(to_child) == 0);
  BOOST_REQUIRE(::pipe(to_parent) == 0);
  pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {  // the writer: commits through its journal until told to stop
    auto s = lmdb_store::open(t.path);
    char c = 0;
    bool ok = s && s->set_write_behind(true);
    std::mt19937_64 rng(8);
    if (ok) ok = bool(s->commit(random_batch(rng, 5, s->next_position()))) && bool(durable(*s));
    ok = ::write(to_parent[1], ok ? "y" : "n", 1) == 1 && ok;
    ok = ::read(to_child[0], &c, 1) == 1 && ok;
    ok = ok && s->set_write_behind(false);
    std::_Exit(ok ? 0 : 1);
  }
  char c = 0;
  BOOST_REQUIRE(::read(to_parent[0], &c, 1) == 1);
  BOOST_REQUIRE(c == 'y');
  {
    auto s = lmdb_store::open(t.path);
    BOOST_REQUIRE(s);
    std::mt19937_64 rng(9);
    check_error(s->commit(random_batch(rng, 2, s->next_position())), errc::invalid_argument,
                {"journal by another process", "nothing was committed"});
    check_error(s->set_write_behind(true), errc::invalid_argument, {"journal by another process"});
  }
  BOOST_REQUIRE(::write(to_child[1], "x", 1) == 1);
  int status = 0;
  BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  BOOST_REQUIRE(WIFEXITED(status));
  BOOST_REQUIRE(WEXITSTATUS(status) == 0);
  for (int fd : {to_child[0], to_child[1], to_parent[0], to_parent[1]}) ::close(fd);
  // It stopped and applied everything: this one may commit now, and sees the writer's commit.
  auto s = lmdb_store::open(t.path);
  BOOST_REQUIRE(s);
  BOOST_TEST(s->next_position() == 6u);
  std::mt19937_64 rng(9);
  BOOST_REQUIRE(s->commit(random_batch(rng, 2, s->next_position())));
}

BOOST_AUTO_TEST_CASE(when_applying_the_journal_fails_the_store_refuses_commits_and_keeps_everything) {
  // A map that may grow only to 64 MiB: the journal takes an 80 MiB commit, data.mdb cannot.
  temp_dir t;
  std::mt19937_64 rng(6);
  std::map<node_pos, bytes> all;
  root_ref last_head;
  {
    auto s = open_new(t.path, {.create = true, .map_size = std::size_t{64} << 10});
    BOOST_REQUIRE(s.set_write_behind(true));
    auto big = random_batch(rng, 3, s.next_position());
    big.meta = {{"big", bytes(std::size_t{80} << 20, 7)}};
    remember(big, all);
    last_head = big.head;
    BOOST_REQUIRE(s.commit(std::move(big)));
    auto in_journal = durable(s);
    BOOST_REQUIRE_MESSAGE(in_journal, (in_journal ? "" : to_string(in_journal.error())));
    // Applying it fails some time later; commits the journal takes until then are kept too.
    // (A commit queued when it fails is dropped: its when_durable says so.)
    expected<void> refused;
    for (int i = 0; i < 1000 && refused; ++i) {
      auto more = random_batch(rng, 2, s.next_position());
      commit_batch copy = more;
      refused = s.commit(std::move(more));
      if (!refused) break;
      refused = durable(s);
      if (!refused) break;
      remember(copy, all);
      last_head = copy.head;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    check_error(refused, errc::limit_exceeded, {"applying the journal", "nothing it acknowledged is lost"});
    // From then on, commits are refused.
    check_error(s.commit(random_batch(rng, 2, s.next_position())), errc::limit_exceeded,
                {"takes no more commits"});
    // It still serves everything it took.
    BOOST_TEST((*s.head() == last_head));
    BOOST_TEST((*s.read_meta("big"))->size() == std::size_t{80} << 20);
    check_nodes(s, all);
    check_error(s.set_write_behind(false), errc::limit_exceeded, {"applying the journal"});
  }
  BOOST_TEST(journal_open_flag(t.path) == 1);
  // Reopened with a map that can hold it, the store applies what the journal kept. (With the
  // same map it may fail again, or not: LMDB may have spilled pages of the failed transaction
  // into data.mdb, and a file that large gets a map as large.)
  auto s = lmdb_store::open(t.path, {.map_size = std::size_t{1} << 30});
  BOOST_REQUIRE_MESSAGE(s, (s ? "" : to_string(s.error())));
  BOOST_TEST((*s->head() == last_head));
  BOOST_TEST((*s->read_meta("big"))->size() == std::size_t{80} << 20);
  check_nodes(*s, all);
  BOOST_TEST(journal_open_flag(t.path) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
