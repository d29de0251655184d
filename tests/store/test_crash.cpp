// Crash safety of lmdb_store: a child process commits random batches and is killed with SIGKILL
// at a random moment, again and again in the same directory. After every kill the store must
// hold exactly the commits the child finished: each reported commit whole, the commit in flight
// either whole or absent, and the head of the last of them.
//
// The child is this test binary again (/proc/self/exe) with EXO_CRASH_CHILD set in its
// environment. Boost.Test owns main, so the child is caught by a global constructor below,
// which commits until it is killed and never returns to main.

#include <boost/test/unit_test.hpp>

#include "../support/child_process.hpp"
#include "../support/temp_dir.hpp"

#include <exo/store/lmdb_store.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

using namespace exo;

namespace {

constexpr std::string_view child_dir_var = "EXO_CRASH_CHILD";  // the data directory
constexpr std::string_view child_fd_var = "EXO_CRASH_FD";      // where to report
constexpr std::string_view child_seed_var = "EXO_CRASH_SEED";  // what to commit
constexpr std::string_view batch_meta = "crash.batch";         // (seed, index) of the last commit

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

bytes batch_tag(std::uint64_t seed, std::uint64_t index) {
  bytes tag(16);
  std::memcpy(tag.data(), &seed, 8);
  std::memcpy(tag.data() + 8, &index, 8);
  return tag;
}

// Batch number `index` of the child started with `seed`, starting at position `first`: 1 to
// 50 random nodes (now and then a large one), a random head at one of them and the batch's
// tag as a meta record. Parent and child compute the same batch, so the child only reports
// numbers.
commit_batch make_batch(std::uint64_t seed, std::uint64_t index, node_pos first) {
  std::mt19937_64 rng(mix(seed ^ mix(index)));
  auto random_digest = [&] {
    digest d;
    for (auto& x : d.bytes) x = static_cast<std::uint8_t>(rng());
    return d;
  };
  commit_batch batch;
  batch.first = first;
  std::size_t n = 1 + rng() % 50;
  for (std::size_t i = 0; i < n; ++i) {
    bytes v(rng() % 50 == 0 ? 2000 + rng() % 4000 : rng() % 200);
    for (auto& x : v) x = static_cast<std::uint8_t>(rng());
    batch.nodes.push_back(std::move(v));
  }
  batch.head = root_ref{random_digest(), first + rng() % n};
  batch.meta.emplace_back(std::string(batch_meta), batch_tag(seed, index));
  return batch;
}

// --- the child ----------------------------------------------------------------------------------

// Commits batch after batch, announcing each ("A index head") before committing it and
// confirming it ("C index") after commit returned. Ends only when killed (or after very long).
[[noreturn]] void child_main(const char* dir, int fd, std::uint64_t seed) {
  auto store = lmdb_store::open(dir, {.create = false, .durable = true});
  if (!store) {
    test::report(fd, "E " + to_string(store.error()) + "\n");
    ::_exit(2);
  }
  test::report(fd, "R\n");
  auto batch = make_batch(seed, 0, store->next_position());
  for (std::uint64_t i = 0; i < 1'000'000; ++i) {
    test::report(fd, "A " + std::to_string(i) + " " + to_hex(batch.head.hash) + "\n");
    const node_pos next = batch.first + batch.nodes.size();
    if (auto r = store->commit(std::move(batch)); !r) {
      test::report(fd, "E " + to_string(r.error()) + "\n");
      ::_exit(2);
    }
    // The next batch is made before this one is confirmed, so that kills also land between a
    // commit's end and its report (the parent must then find it done).
    batch = make_batch(seed, i + 1, next);
    test::report(fd, "C " + std::to_string(i) + "\n");
  }
  ::_exit(0);
}

[[maybe_unused]] const bool crash_child_hook = [] {
  const char* dir = std::getenv(std::string(child_dir_var).c_str());
  if (!dir) return false;
  const char* fd = std::getenv(std::string(child_fd_var).c_str());
  const char* seed = std::getenv(std::string(child_seed_var).c_str());
  if (!fd || !seed) ::_exit(4);
  child_main(dir, std::atoi(fd), std::strtoull(seed, nullptr, 10));
}();

// --- the parent ---------------------------------------------------------------------------------

using test::temp_dir;


using test::child;
using test::read_until;

struct child_log {
  bool ready = false;
  std::string error;
  std::vector<std::pair<std::uint64_t, std::string>> announced;  // index, head hex
  std::vector<std::uint64_t> confirmed;
};

child_log parse(const std::string& out) {
  child_log log;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no newline: cut off by the kill (writes are atomic, so not expected)
    std::istringstream l(line);
    std::string kind;
    l >> kind;
    if (kind == "R") {
      log.ready = true;
    } else if (kind == "E") {
      log.error = line;
    } else if (kind == "A") {
      std::uint64_t i = 0;
      std::string head;
      l >> i >> head;
      log.announced.emplace_back(i, head);
    } else if (kind == "C") {
      std::uint64_t i = 0;
      l >> i;
      log.confirmed.push_back(i);
    }
  }
  return log;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(crash_safety)

BOOST_AUTO_TEST_CASE(sigkill_during_commits_keeps_every_reported_commit) {
  using namespace std::chrono;
  const auto started = steady_clock::now();
  temp_dir t;
  const std::string dir = t.path + "/store";
  { BOOST_REQUIRE(lmdb_store::open(dir, {.create = true})); }

  std::uint64_t base_seed = 20240611;
  if (const char* s = std::getenv("EXO_CRASH_TEST_SEED")) base_seed = std::strtoull(s, nullptr, 10);
  BOOST_TEST_MESSAGE("crash test seed " << base_seed << " (set EXO_CRASH_TEST_SEED to change it)");
  std::mt19937_64 rng(base_seed);

  std::map<node_pos, bytes> committed;      // every node of every commit known to be done
  root_ref head{};                          // the head after the last known commit
  node_pos next = 1;                        // where the next commit's nodes start
  std::optional<bytes> head_tag;            // that commit's batch tag
  int kills = 0, commits = 0, in_flight_done = 0, in_flight_absent = 0;

  constexpr int rounds = 64;
  for (int round = 0; round < rounds; ++round) {
    const std::uint64_t seed = rng();
    child c = test::spawn_child("EXO_CRASH_", {{std::string(child_dir_var), dir}, {std::string(child_seed_var), std::to_string(seed)}}, child_fd_var);
    std::string out;
    // Wait until the child has the store open, then let it commit for 1 to 30 ms.
    bool open = read_until(c.out, out, steady_clock::now() + seconds(60), [&] {
      return out.find("R\n") != std::string::npos || out.find("E ") != std::string::npos;
    });
    if (open && out.find("E ") == std::string::npos)
      read_until(c.out, out, steady_clock::now() + milliseconds(1 + rng() % 30), [] { return false; });
    ::kill(c.pid, SIGKILL);
    int status = 0;
    while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
    read_until(c.out, out, steady_clock::now() + seconds(10), [] { return false; });  // to EOF
    ::close(c.out);

    auto log = parse(out);
    BOOST_REQUIRE_MESSAGE(log.error.empty(), "round " << round << ": the child failed: " << log.error);
    BOOST_REQUIRE_MESSAGE(log.ready, "round " << round << ": the child never opened the store; it wrote: " << out);
    BOOST_TEST((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL), "round " << round << ": status " << status);
    ++kills;

    // Reported commits: numbered 0, 1, ... and each announced first with the head it sets.
    BOOST_REQUIRE(log.announced.size() == log.confirmed.size() || log.announced.size() == log.confirmed.size() + 1);
    auto keep = [&](commit_batch& batch) {
      for (auto& v : batch.nodes) committed.emplace(next++, std::move(v));
      head = batch.head;
    };
    for (std::size_t i = 0; i < log.confirmed.size(); ++i) {
      BOOST_REQUIRE(log.confirmed[i] == i);
      BOOST_REQUIRE(log.announced[i].first == i);
      auto batch = make_batch(seed, i, next);
      BOOST_REQUIRE(log.announced[i].second == to_hex(batch.head.hash));
      keep(batch);
      head_tag = batch_tag(seed, i);
      ++commits;
    }
    std::optional<commit_batch> pending;  // announced, not confirmed: done or not, whole or not at all
    if (log.announced.size() > log.confirmed.size()) pending = make_batch(seed, log.confirmed.size(), next);

    auto store = lmdb_store::open(dir);
    if (!store) BOOST_FAIL("round " << round << ": reopening after the kill: " << to_string(store.error()));
    auto now = store->head();
    BOOST_REQUIRE(now);
    if (pending && *now == pending->head) {
      ++in_flight_done;
      ++commits;
      keep(*pending);
      head_tag = batch_tag(seed, log.confirmed.size());
    } else {
      BOOST_REQUIRE_MESSAGE((*now == head), "round " << round << ": head " << short_hex(now->hash)
                                                      << " is neither the last reported commit's "
                                                      << short_hex(head.hash) << " nor the one in flight");
      if (pending) {
        ++in_flight_absent;
        for (node_pos p = next; p < next + pending->nodes.size(); ++p) {
          auto got = store->read_node(p);
          BOOST_REQUIRE(got);
          BOOST_TEST(!got->has_value(), "round " << round << ": position " << p
                                                 << " of the commit that did not happen is stored");
        }
      }
    }
    BOOST_REQUIRE(store->next_position() == next);
    auto found = store->find_root(head.hash);
    BOOST_REQUIRE(found);
    if (head.pos != 0) BOOST_TEST((*found == std::optional<node_pos>{head.pos}));
    auto tag = store->read_meta(batch_meta);
    BOOST_REQUIRE(tag);
    BOOST_TEST((*tag == head_tag), "round " << round << ": the meta record is not the last commit's");
    for (const auto& [p, v] : committed) {
      auto got = store->read_node(p);
      BOOST_REQUIRE(got);
      BOOST_REQUIRE_MESSAGE(got->has_value(), "round " << round << ": the node at " << p << " is lost");
      BOOST_REQUIRE_MESSAGE((**got == v), "round " << round << ": the node at " << p << " reads back changed");
    }
  }

  auto elapsed = duration_cast<milliseconds>(steady_clock::now() - started);
  BOOST_TEST_MESSAGE("crash test: " << kills << " kills, " << commits << " commits, " << committed.size()
                                    << " nodes; commit in flight at the kill: done " << in_flight_done
                                    << ", absent " << in_flight_absent << "; " << elapsed.count() << " ms");
  BOOST_TEST(kills >= 50);
  BOOST_TEST(commits > 0);
}

BOOST_AUTO_TEST_SUITE_END()
