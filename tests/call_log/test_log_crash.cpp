// A logged hypervisor killed with SIGKILL while it works: every input commits its state and
// its log entry in one LMDB transaction, so after every restart the log's last entry names
// the store's state root, nothing reported committed is missing, and the log still verifies.
//
// The child is this test binary again (see tests/support/child_process.hpp), caught by a
// global constructor below.

#include <boost/test/unit_test.hpp>

#include "../support/child_process.hpp"
#include "../support/temp_dir.hpp"

#include <exo/exo.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <map>
#include <random>
#include <sstream>

namespace {

using exo::context;

struct meter {
  BOOST_HANA_DEFINE_STRUCT(meter, (std::int64_t, total));
  std::int64_t add(context& ctx, std::int64_t n) {
    (void)ctx.storage_put(exo::as_bytes("last"), exo::as_bytes(std::to_string(n)));
    return total += n;
  }
  static constexpr std::string_view exo_name = "meter";
  static constexpr auto exo_exports = exo::exports(exo::fn<&meter::add>("add", 7));
};

using disk_hv = exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store, exo::lmdb_log>;
using mem_hv = exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log>;
constexpr std::string_view dir_var = "EXO_LOGCRASH_DIR", fd_var = "EXO_LOGCRASH_FD";

// Invokes until killed, reporting "C index root" after each input is committed.
[[noreturn]] void child_main(const char* dir, int fd) {
  try {
    auto hv = disk_hv::open(exo::lmdb_store::open(dir, {.create = true}).value(), exo::config{.name = "meters"}).value();
    hv.register_type<meter>();
    if (hv.log().size() == 0) (void)hv.create(meter{}).value();
    const exo::id m = exo::derive_actor_id(hv.host_id(), 0);
    test::report(fd, "R " + std::to_string(hv.log().size()) + "\n");
    for (std::int64_t i = 1;; ++i) {
      auto out = hv.invoke(m, "add", {i % 97});
      if (!out) {
        test::report(fd, "E " + to_string(out.error()) + "\n");
        ::_exit(2);
      }
      test::report(fd, "C " + std::to_string(out->index) + " " + exo::to_hex(out->root) + "\n");
    }
  } catch (const std::exception& e) {
    test::report(fd, std::string("E ") + e.what() + "\n");
    ::_exit(2);
  }
}

[[maybe_unused]] const bool log_crash_child = [] {
  const char* dir = std::getenv(std::string(dir_var).c_str());
  if (!dir) return false;
  const char* fd = std::getenv(std::string(fd_var).c_str());
  if (!fd) ::_exit(4);
  child_main(dir, std::atoi(fd));
}();

}  // namespace

BOOST_AUTO_TEST_SUITE(log_crash_safety)

BOOST_AUTO_TEST_CASE(sigkill_never_separates_the_log_from_the_state) {
  using namespace std::chrono;
  test::temp_dir t;
  const std::string dir = t.sub("data");
  std::mt19937_64 rng(20261121);
  std::map<std::uint64_t, std::string> committed;  // index -> root, as the children reported
  int kills = 0;
  for (int round = 0; round < 50; ++round) {
    auto c = test::spawn_child("EXO_LOGCRASH_", {{std::string(dir_var), dir}}, fd_var);
    std::string out;
    test::read_until(c.out, out, steady_clock::now() + seconds(60),
                     [&] { return out.find("R ") != std::string::npos || out.find("E ") != std::string::npos; });
    if (out.find("E ") == std::string::npos)
      test::read_until(c.out, out, steady_clock::now() + milliseconds(2 + rng() % 40), [] { return false; });
    ::kill(c.pid, SIGKILL);
    int status = 0;
    while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
    test::read_until(c.out, out, steady_clock::now() + seconds(10), [] { return false; });
    ::close(c.out);
    BOOST_REQUIRE_MESSAGE(out.find("E ") == std::string::npos, "round " << round << ": the child failed: " << out);
    ++kills;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof() || !line.starts_with("C ")) continue;
      std::istringstream l(line.substr(2));
      std::uint64_t index = 0;
      std::string root;
      l >> index >> root;
      committed[index] = root;
    }
    // Reopening checks that the log's last entry names the store's root (it throws if not).
    auto hv = disk_hv::open(exo::lmdb_store::open(dir).value(), exo::config{.name = "meters"}).value();
    hv.register_type<meter>();
    const std::uint64_t n = hv.log().size();
    BOOST_REQUIRE(n > 0);
    auto last = exo::decode_entry(*hv.log().read(n - 1)).value();
    BOOST_REQUIRE_MESSAGE((last.root == *hv.state_root()), "round " << round << ": log and state disagree");
    for (auto& [index, root] : committed) {  // nothing reported committed is lost
      BOOST_REQUIRE_MESSAGE(index < n, "round " << round << ": entry " << index << " was reported committed but is gone");
      BOOST_REQUIRE(exo::to_hex(exo::decode_entry(*hv.log().read(index)).value().root) == root);
    }
  }
  auto hv = disk_hv::open(exo::lmdb_store::open(dir).value(), exo::config{.name = "meters"}).value();
  hv.register_type<meter>();
  auto v = exo::verify(hv.log(), [] {
    auto fresh = std::make_unique<mem_hv>(exo::config{.name = "meters"});
    fresh->register_type<meter>();
    return fresh;
  });
  BOOST_TEST_MESSAGE(kills << " kills, " << committed.size() << " inputs reported committed; " << v.to_string());
  BOOST_TEST(v.ok(), v.to_string());
  BOOST_TEST(kills >= 50);
  BOOST_TEST(committed.size() > 50u);
}

BOOST_AUTO_TEST_SUITE_END()
