// Pruning an LMDB store (lmdb_store::prune): the kept roots and every node they reach stay
// readable, whatever else is freed; a dropped root is a clear error; a damaged store or a
// root it does not hold prunes nothing; and SIGKILL at any moment of a prune loses nothing
// that is kept (a child process prunes in tiny transactions and is killed, again and again).
//
// The child is this test binary again (/proc/self/exe) with EXO_PRUNE_CHILD set, caught by a
// global constructor below.

#include <boost/test/unit_test.hpp>

#include "../support/child_process.hpp"
#include "../support/print.hpp"
#include "../support/temp_dir.hpp"

#include <exo/core/hash.hpp>
#include <exo/store/lmdb_store.hpp>
#include <exo/store/tree.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace exo;

namespace {

constexpr std::string_view child_dir_var = "EXO_PRUNE_CHILD";
constexpr std::string_view child_fd_var = "EXO_PRUNE_FD";
constexpr std::string_view child_keep_var = "EXO_PRUNE_KEEP";  // the roots to keep, hex, comma separated

using content = std::map<std::string, std::string>;
using tree = merkle_tree<lmdb_store>;

// Commits `changes` random puts and erases over what `c` holds; returns the new root.
digest churn(tree& t, content& c, std::mt19937_64& rng, int changes) {
  for (int i = 0; i < changes; ++i) {
    std::string k = "key" + std::to_string(rng() % 3000);
    if (rng() % 5 == 0) {
      BOOST_REQUIRE(t.erase(as_bytes(k)));
      c.erase(k);
    } else {
      std::string v = "value " + std::to_string(rng()) + std::string(rng() % 400, 'x');  // some compressed
      BOOST_REQUIRE(t.put(as_bytes(k), as_bytes(v)));
      c[k] = v;
    }
  }
  return t.commit().value();
}

// Every key and value under the tree's current root, against `want`.
void expect_content(const tree& t, const content& want) {
  content got;
  auto r = t.for_each(byte_view{}, [&](byte_view k, byte_view v) {
    got.emplace(std::string(k.begin(), k.end()), std::string(v.begin(), v.end()));
    return true;
  });
  BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  BOOST_TEST((got == want));
}

// The child: prunes to the roots it is given, in transactions of 3 deletions, until killed.
[[noreturn]] void child_main(const char* dir, int fd, const char* keep) {
  auto store = lmdb_store::open(dir);
  if (!store) {
    test::report(fd, "E " + to_string(store.error()) + "\n");
    ::_exit(2);
  }
  prune_request req;
  for (std::string_view s(keep); !s.empty();) {
    auto comma = s.find(',');
    auto b = from_hex(s.substr(0, comma));
    digest d;
    std::copy(b->begin(), b->end(), d.bytes.begin());
    req.keep.push_back(d);
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
  }
  req.per_transaction = 3;
  req.progress = [fd](std::string_view line) {
    if (line.starts_with("keeping")) test::report(fd, "M\n");  // marked: deleting from here on
  };
  test::report(fd, "R\n");
  auto r = store->prune(req);
  test::report(fd, r ? "D\n" : "E " + to_string(r.error()) + "\n");
  ::_exit(r ? 0 : 2);
}

[[maybe_unused]] const bool prune_child_hook = [] {
  const char* dir = std::getenv(std::string(child_dir_var).c_str());
  if (!dir) return false;
  const char* fd = std::getenv(std::string(child_fd_var).c_str());
  const char* keep = std::getenv(std::string(child_keep_var).c_str());
  if (!fd || !keep) ::_exit(4);
  child_main(dir, std::atoi(fd), keep);
}();

}  // namespace

BOOST_AUTO_TEST_SUITE(prune)

BOOST_AUTO_TEST_CASE(pruning_keeps_the_kept_roots_whole_and_frees_the_rest) {
  test::temp_dir t;
  auto store = lmdb_store::open(t.path + "/s", {.create = true}).value();
  auto tr = tree::open(store).value();
  std::mt19937_64 rng(7);
  content c;
  std::vector<std::pair<digest, content>> versions;
  for (int i = 0; i < 12; ++i) {
    const digest r = churn(tr, c, rng, i == 0 ? 1500 : 60);
    versions.emplace_back(r, c);
  }
  const auto before = store.roots().value();
  BOOST_TEST(before.size() == 12u);
  BOOST_TEST((before.back().hash == versions.back().first));  // oldest first
  std::vector<std::string> steps;
  auto r = store.prune({.keep = {versions[9].first}, .progress = [&](std::string_view s) { steps.emplace_back(s); }});
  BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  BOOST_TEST(r->roots_kept == 2u);  // the one asked for and the head
  BOOST_TEST(r->roots_dropped == 10u);
  BOOST_TEST(r->nodes_freed > 0u);
  BOOST_TEST(r->bytes_freed > 0u);
  BOOST_TEST(!steps.empty());
  BOOST_TEST(store.roots().value().size() == 2u);
  // The kept roots read whole; a dropped one is a clear error.
  for (std::size_t i : {std::size_t{9}, std::size_t{11}}) {
    BOOST_REQUIRE(tr.set_root(versions[i].first));
    expect_content(tr, versions[i].second);
  }
  auto gone = tr.set_root(versions[3].first);
  BOOST_REQUIRE(!gone);
  BOOST_TEST(gone.error().message.find("pruned") != std::string::npos, gone.error().message);
  // Going on after a prune: commits, a reopen, and a second prune that finds nothing more.
  BOOST_REQUIRE(tr.set_root(versions[11].first));
  const digest later = churn(tr, c, rng, 40);
  auto again = store.prune({.keep = {later}});
  BOOST_REQUIRE(again);
  BOOST_TEST(again->roots_dropped == 2u);
  auto third = store.prune({.keep = {later}});
  BOOST_REQUIRE(third);
  BOOST_TEST(third->nodes_freed == 0u);
  BOOST_TEST(third->nodes_kept == again->nodes_kept);
  store = lmdb_store::open(t.path + "/other", {.create = true}).value();  // closes the first
  auto reopened = lmdb_store::open(t.path + "/s").value();
  auto tr2 = tree::open(reopened).value();
  BOOST_TEST(tr2.root() == later);
  expect_content(tr2, c);
}

BOOST_AUTO_TEST_CASE(a_root_the_store_does_not_hold_or_a_damaged_node_prunes_nothing) {
  test::temp_dir t;
  auto store = lmdb_store::open(t.path + "/s", {.create = true}).value();
  auto tr = tree::open(store).value();
  std::mt19937_64 rng(8);
  content c;
  const digest first = churn(tr, c, rng, 200);
  churn(tr, c, rng, 20);
  const std::size_t roots = store.roots().value().size();
  auto unknown = store.prune({.keep = {hash(as_bytes("no such root"))}});
  BOOST_REQUIRE(!unknown);
  BOOST_TEST(unknown.error().code == errc::invalid_argument);
  BOOST_TEST(unknown.error().message.find("nothing was pruned") != std::string::npos, unknown.error().message);
  // A damaged node under a kept root: reported, nothing deleted.
  const node_pos at = store.find_root(first).value().value();
  BOOST_REQUIRE(store.overwrite_node(at, as_bytes("garbage")));
  auto damaged = store.prune({.keep = {first}});
  BOOST_REQUIRE(!damaged);
  BOOST_TEST(damaged.error().code == errc::malformed);
  BOOST_TEST(damaged.error().message.find("nothing was pruned") != std::string::npos, damaged.error().message);
  BOOST_TEST(store.roots().value().size() == roots);
  // A store that writes behind is not pruned.
  BOOST_REQUIRE(store.set_write_behind(true));
  auto behind = store.prune({});
  BOOST_REQUIRE(!behind);
  BOOST_TEST(behind.error().message.find("write-behind") != std::string::npos, behind.error().message);
  BOOST_REQUIRE(store.set_write_behind(false));
}

BOOST_AUTO_TEST_CASE(sigkill_during_a_prune_loses_nothing_that_is_kept) {
  using namespace std::chrono;
  test::temp_dir t;
  const std::string dir = t.path + "/s";
  std::mt19937_64 rng(20261204);
  content c;
  std::vector<std::pair<digest, content>> versions;
  {
    auto store = lmdb_store::open(dir, {.create = true}).value();
    auto tr = tree::open(store).value();
    versions.emplace_back(churn(tr, c, rng, 2500), c);
  }
  int kills = 0, marking = 0, finished = 0;
  for (int round = 0; round < 16; ++round) {
    {  // new history to prune, then the child prunes to the last three roots
      auto store = lmdb_store::open(dir).value();
      auto tr = tree::open(store).value();
      BOOST_REQUIRE(tr.root() == versions.back().first);
      for (int i = 0; i < 4; ++i) versions.emplace_back(churn(tr, c, rng, 80), c);
    }
    std::string keep;
    for (std::size_t i = versions.size() - 3; i < versions.size(); ++i)
      keep += (keep.empty() ? "" : ",") + to_hex(versions[i].first);
    test::child ch = test::spawn_child("EXO_PRUNE_", {{std::string(child_dir_var), dir}, {std::string(child_keep_var), keep}},
                                       child_fd_var);
    std::string out;
    bool open = test::read_until(ch.out, out, steady_clock::now() + seconds(60),
                                 [&] { return out.find("R\n") != std::string::npos || out.find("E ") != std::string::npos; });
    BOOST_REQUIRE(open);
    BOOST_REQUIRE_MESSAGE(out.find("E ") == std::string::npos, out);
    test::read_until(ch.out, out, steady_clock::now() + milliseconds(rng() % 4 == 0 ? rng() % 20 : 20 + rng() % 400),
                     [&] { return out.find("D\n") != std::string::npos; });
    ::kill(ch.pid, SIGKILL);
    int status = 0;
    while (::waitpid(ch.pid, &status, 0) < 0 && errno == EINTR) {
    }
    ::close(ch.out);
    if (out.find("D\n") != std::string::npos) ++finished;
    else if (out.find("M\n") != std::string::npos) ++kills;  // killed while deleting
    else ++marking;
    BOOST_REQUIRE_MESSAGE(out.find("E ") == std::string::npos, out);
    // Whatever the prune got to: the kept roots read whole.
    auto store = lmdb_store::open(dir).value();
    auto tr = tree::open(store).value();
    for (std::size_t i = versions.size() - 3; i < versions.size(); ++i) {
      BOOST_REQUIRE(tr.set_root(versions[i].first));
      expect_content(tr, versions[i].second);
    }
    BOOST_REQUIRE(tr.set_root(versions.back().first));
  }
  BOOST_TEST_MESSAGE(kills << " prunes killed while deleting, " << marking << " before, " << finished << " finished");
  BOOST_TEST(kills > 0);
  // Finished at last: only the last three roots are left.
  auto store = lmdb_store::open(dir).value();
  std::vector<digest> keep;
  for (std::size_t i = versions.size() - 3; i < versions.size(); ++i) keep.push_back(versions[i].first);
  auto r = store.prune({.keep = keep});
  BOOST_REQUIRE(r);
  BOOST_TEST(store.roots().value().size() == 3u);
}

BOOST_AUTO_TEST_SUITE_END()
