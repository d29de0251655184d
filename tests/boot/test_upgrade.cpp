// Upgrades verified by replay (exo/boot/upgrade.hpp): new code is checked against a node's
// history; a compatible image switches the node with one logged entry naming both images, and
// the log across the switch verifies, each segment on its own image; an incompatible one is
// refused with its first divergence and nothing changes; a migration runs once, logged; and
// SIGKILL at any moment of a switch leaves a node that resumes on one image or the other, its
// log verifying, nothing acknowledged lost.
//
// The crash test's child is this test binary again (/proc/self/exe) with EXO_UPGRADE_CHILD set,
// caught by a global constructor below.

#include "app.hpp"
#include "../support/child_process.hpp"

#include <exo/boot/prune.hpp>
#include <exo/boot/upgrade.hpp>
#include <exo/core/encoding.hpp>

#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>

namespace {

namespace fs = std::filesystem;
using app_test::make_app;
using app_test::notes_manifest;
using app_test::pack_to;

const std::string owner(64, 'a');

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// The notes application with counter.wasm replaced by the test module `wasm`, packed to
// NAME.exo; `manifest` defaults to the notes manifest.
exo::image variant(const test::temp_dir& t, const std::string& name, const std::string& wasm,
                   const std::string& manifest = notes_manifest(owner)) {
  const std::string dir = make_app(t, name, manifest);
  if (!wasm.empty())
    fs::copy_file(std::string(EXO_TEST_WASM_DIR) + "/" + wasm, dir + "/counter.wasm", fs::copy_options::overwrite_existing);
  pack_to(dir, t.sub(name + ".exo"));
  return exo::load_image(t.sub(name + ".exo")).value();
}

// The same code as a compatible upgrade, in an application of another name.
exo::image other_application(const test::temp_dir& t) {
  std::string renamed = notes_manifest(owner);
  renamed.replace(renamed.find("\"notes\""), 7, "\"other\"");
  return variant(t, "other", "upgrade_compatible.wasm", renamed);
}

// The notes manifest with "migrate" calls (a JSON list).
std::string migrating_manifest(const std::string& calls) {
  std::string m = notes_manifest(owner);
  m.replace(m.find("\"exports\""), 0, "\"migrate\": " + calls + ",\n  ");
  return m;
}

std::int64_t count_of(exo::node& n) {
  auto out = n.hypervisor().invoke(*n.actor("counter"), "get", {});
  BOOST_REQUIRE(out);
  BOOST_REQUIRE(!out->error);
  return *out->result.if_i64();
}

// What a data directory holds, to show that a refused upgrade changed nothing.
struct dir_state {
  exo::digest image, root;
  std::uint64_t entries = 0;
  std::optional<exo::digest> upgraded;
  friend bool operator==(const dir_state&, const dir_state&) = default;
};
dir_state state_of(const std::string& dir, exo::container_registry& reg) {
  auto n = exo::node::open(dir, reg);
  BOOST_REQUIRE_MESSAGE(n, (n ? "" : n.error().message));
  auto& hv = (*n)->hypervisor();
  return {(*n)->image().hash, hv.state_root().value(), hv.log().size(), exo::upgraded_image(hv.store()).value()};
}

// The child of the crash test: opens the node, says so, and switches it to the image it is
// given (the check was done by the parent), until killed.
constexpr std::string_view child_dir_var = "EXO_UPGRADE_CHILD";
constexpr std::string_view child_image_var = "EXO_UPGRADE_IMAGE";
constexpr std::string_view child_fd_var = "EXO_UPGRADE_FD";

[[noreturn]] void child_main(const char* dir, const char* image_path, int fd) {
  app_test::registry r;
  auto next = exo::load_image(image_path);
  auto n = next ? exo::node::open(dir, r.reg) : exo::unexpected(next.error());
  if (!n) {
    test::report(fd, "E " + to_string(n.error()) + "\n");
    ::_exit(2);
  }
  test::report(fd, "R\n");
  auto done = (*n)->upgrade(*next);
  test::report(fd, done ? "D\n" : "E " + to_string(done.error()) + "\n");
  ::_exit(done ? 0 : 2);
}

[[maybe_unused]] const bool upgrade_child_hook = [] {
  const char* dir = std::getenv(std::string(child_dir_var).c_str());
  if (!dir) return false;
  const char* image = std::getenv(std::string(child_image_var).c_str());
  const char* fd = std::getenv(std::string(child_fd_var).c_str());
  if (!image || !fd) ::_exit(4);
  child_main(dir, image, std::atoi(fd));
}();

}  // namespace

BOOST_AUTO_TEST_SUITE(upgrade)

BOOST_AUTO_TEST_CASE(an_upgrade_is_checked_by_replaying_the_log_against_the_new_code) {
  test::temp_dir t;
  pack_to(make_app(t, "a", notes_manifest(owner)), t.sub("a.exo"));
  const exo::image fixed = variant(t, "fixed", "upgrade_compatible.wasm");
  const exo::image broken = variant(t, "broken", "upgrade_incompatible.wasm");
  const exo::image other_app = other_application(t);
  app_test::registry r;
  auto n = exo::node::boot(t.sub("a.exo"), t.sub("d"), r.reg).value();
  for (int i = 0; i < 25; ++i) BOOST_REQUIRE(n->hypervisor().invoke(*n->actor("counter"), i % 5 ? "add" : "get", {i}));
  BOOST_REQUIRE(n->hypervisor().invoke(*n->actor("notes"), "put", {"k", "v"}));
  const auto& log = n->hypervisor().log();
  BOOST_TEST(!(fixed.hash == n->image().hash));
  // New code that reproduces history: every input, the same outcome.
  std::vector<std::uint64_t> progress;
  auto ok = exo::check_upgrade(log, n->image(), fixed, r.reg, [&](auto done, auto) { progress.push_back(done); });
  BOOST_REQUIRE_MESSAGE(ok, (ok ? "" : ok.error().message));
  BOOST_TEST(ok->ok(), (ok->first ? ok->first->to_string() : ""));
  BOOST_TEST(ok->entries == log.size() - 1);
  BOOST_TEST(!progress.empty());
  // New code that does not: the first input it changes, with both outcomes.
  auto bad = exo::check_upgrade(log, n->image(), broken, r.reg);
  BOOST_REQUIRE(bad);
  BOOST_REQUIRE(!bad->ok());
  BOOST_TEST_MESSAGE(bad->first->to_string());
  BOOST_TEST(bad->first->index == 3u);  // init message counter.add(10), after init and two creates
  BOOST_TEST(bad->first->field == "result");
  BOOST_TEST(bad->first->function == "add");
  BOOST_TEST(bad->first->logged == "10");
  BOOST_TEST(bad->first->upgraded == "20");
  BOOST_TEST((bad->first->actor == *n->actor("counter")));
  // Another application, or a log of another image: refused before anything is replayed.
  auto foreign = exo::check_upgrade(log, n->image(), other_app, r.reg);
  BOOST_REQUIRE(!foreign);
  BOOST_TEST(contains(foreign.error().message, "another application"), foreign.error().message);
  auto wrong_log = exo::check_upgrade(log, fixed, n->image(), r.reg);
  BOOST_REQUIRE(!wrong_log);
  BOOST_TEST(contains(wrong_log.error().message, "runs image"), wrong_log.error().message);
}

BOOST_AUTO_TEST_CASE(a_compatible_upgrade_switches_and_the_log_across_it_verifies) {
  test::temp_dir t;
  pack_to(make_app(t, "a", notes_manifest(owner)), t.sub("a.exo"));
  const exo::image first = exo::load_image(t.sub("a.exo")).value();
  const exo::image fixed = variant(t, "fixed", "upgrade_compatible.wasm");
  const exo::image broken = variant(t, "broken", "upgrade_incompatible.wasm");
  app_test::registry r;
  const std::string dir = t.sub("d");
  std::int64_t count = 0;
  {
    auto n = exo::node::boot(t.sub("a.exo"), dir, r.reg).value();
    for (int i = 0; i < 20; ++i) BOOST_REQUIRE(n->hypervisor().invoke(*n->actor("counter"), "add", {i}));
    count = count_of(*n);
  }
  auto out = exo::upgrade_directory(dir, fixed, r.reg);
  BOOST_REQUIRE_MESSAGE(out, (out ? "" : out.error().message));
  BOOST_TEST(out->check.ok());
  BOOST_TEST(out->check.entries > 20u);
  BOOST_REQUIRE(out->done);
  BOOST_TEST(out->done->from == first.hash);
  BOOST_TEST(out->done->to == fixed.hash);
  BOOST_TEST((out->done->changed == std::vector<std::string>{"counter"}));  // notes' code is the same
  BOOST_TEST((out->done->results == exo::value(exo::value::list{})));
  {
    auto n = exo::node::open(dir, r.reg);
    BOOST_REQUIRE_MESSAGE(n, (n ? "" : n.error().message));
    auto& hv = (*n)->hypervisor();
    // It runs the new image, keeps both, and its state went on: storage, ids and clocks kept.
    BOOST_TEST((*n)->image().hash == fixed.hash);
    BOOST_TEST(exo::load_image(dir + "/image.exo").value().hash == fixed.hash);
    BOOST_TEST(fs::exists(exo::kept_image_path(dir, first.hash)));
    BOOST_TEST(fs::exists(exo::kept_image_path(dir, fixed.hash)));
    BOOST_TEST((exo::upgraded_image(hv.store()).value() == std::optional<exo::digest>(fixed.hash)));
    BOOST_TEST(count_of(**n) == count);
    auto added = hv.invoke(*(*n)->actor("counter"), "add", {5});
    BOOST_REQUIRE(added);
    BOOST_TEST((added->result == exo::value(count + 5)));
    // The switch is an entry naming both images.
    auto e = exo::decode_entry(hv.log().read(out->done->index).value()).value();
    BOOST_TEST(e.kind == "upgrade");
    BOOST_TEST(e.function == "exo.upgrade");
    BOOST_TEST((*e.args.find("note") == exo::value::make_map({{"from", first.origin()}, {"to", fixed.origin()}})));
    // The log across it verifies, each segment on its own image, to the node's root.
    auto v = exo::verify_image_log(hv.log(), first, r.reg, {}, exo::directory_images(dir));
    BOOST_TEST(v.ok(), v.to_string());
    BOOST_TEST(v.final_root == hv.state_root().value());
    // Without the image it switched to, the verifier stops at the switch and names the image.
    auto blind = exo::verify_image_log(hv.log(), first, r.reg);
    BOOST_REQUIRE(!blind.ok());
    BOOST_TEST(blind.first->index == out->done->index);
    BOOST_TEST(blind.first->field == "upgrade");
    BOOST_TEST(contains(blind.first->expected, exo::short_hex(fixed.hash)), blind.first->expected);
    // An upgrade entry that names other code than its image's is refused before it is replayed.
    auto other = exo::verify_image_log(hv.log(), first, r.reg, {}, [&](const exo::digest& h) -> exo::expected<exo::image> {
      if (h == fixed.hash) {  // a source that hands out another image under this hash
        exo::image im = broken;
        im.hash = h;
        return im;
      }
      return exo::fail(exo::errc::invalid_argument, "no such image");
    });
    BOOST_REQUIRE(!other.ok());
    BOOST_TEST(other.first->field == "upgrade");
    BOOST_TEST(other.first->index == out->done->index);
    // From a checkpoint after the switch: only what follows is replayed.
    BOOST_REQUIRE(hv.invoke(*(*n)->actor("counter"), "add", {1}));
    auto cp = exo::record_checkpoint(hv.store(), hv.log());
    BOOST_REQUIRE_MESSAGE(cp, (cp ? "" : cp.error().message));
    BOOST_REQUIRE(hv.invoke(*(*n)->actor("counter"), "add", {1}));
    auto snap = exo::recorded_snapshot(hv.store(), hv.log()).value();
    auto from = exo::verify_image_log_from(hv.log(), first, snap, r.reg, {}, exo::directory_images(dir));
    BOOST_TEST(from.ok(), from.to_string());
    BOOST_TEST(from.final_root == hv.state_root().value());
  }
  // The node runs the new image: the old one is refused, naming both; the same one is no upgrade.
  auto old = exo::node::boot(t.sub("a.exo"), dir, r.reg);
  BOOST_REQUIRE(!old);
  BOOST_TEST(contains(old.error().message, "upgraded from " + exo::short_hex(first.hash)), old.error().message);
  BOOST_TEST(exo::node::boot(t.sub("fixed.exo"), dir, r.reg).has_value());
  auto again = exo::upgrade_directory(dir, fixed, r.reg);
  BOOST_REQUIRE(!again);
  BOOST_TEST(contains(again.error().message, "already"), again.error().message);
  // A second upgrade checks the history across the first, and is checked from the checkpoint too.
  auto back = exo::upgrade_directory(dir, first, r.reg, {.check_only = true});
  BOOST_REQUIRE_MESSAGE(back, (back ? "" : back.error().message));
  BOOST_TEST(back->check.ok(), (back->check.first ? back->check.first->to_string() : ""));
  BOOST_TEST(!back->done);
  auto back_cp = exo::upgrade_directory(dir, first, r.reg, {.check_only = true, .from_checkpoint = true});
  BOOST_REQUIRE_MESSAGE(back_cp, (back_cp ? "" : back_cp.error().message));
  BOOST_TEST(back_cp->check.ok(), (back_cp->check.first ? back_cp->check.first->to_string() : ""));
  BOOST_TEST(back_cp->from_checkpoint);
  BOOST_TEST(back_cp->check.entries < back->check.entries);
}

BOOST_AUTO_TEST_CASE(an_incompatible_upgrade_is_refused_with_its_first_divergence_and_changes_nothing) {
  test::temp_dir t;
  pack_to(make_app(t, "a", notes_manifest(owner)), t.sub("a.exo"));
  const exo::image broken = variant(t, "broken", "upgrade_incompatible.wasm");
  const exo::image reordered = variant(t, "reordered", "upgrade_reordered.wasm");
  const exo::image other_app = other_application(t);
  app_test::registry r;
  const std::string dir = t.sub("d");
  {
    auto n = exo::node::boot(t.sub("a.exo"), dir, r.reg).value();
    for (int i = 0; i < 10; ++i) BOOST_REQUIRE(n->hypervisor().invoke(*n->actor("counter"), "add", {i}));
  }
  const dir_state before = state_of(dir, r.reg);
  // Code that changes a past result: the first divergence, with both results.
  auto out = exo::upgrade_directory(dir, broken, r.reg);
  BOOST_REQUIRE_MESSAGE(out, (out ? "" : out.error().message));
  BOOST_REQUIRE(!out->check.ok());
  BOOST_TEST(!out->done);
  BOOST_TEST(out->check.first->index == 3u);
  BOOST_TEST(out->check.first->function == "add");
  BOOST_TEST(out->check.first->field == "result");
  BOOST_TEST(out->check.first->logged == "10");
  BOOST_TEST(out->check.first->upgraded == "20");
  BOOST_TEST((state_of(dir, r.reg) == before));
  BOOST_TEST(!fs::exists(dir + "/images"));
  // Code whose exports moved reproduces every result, but capabilities name functions by
  // position: the switch is refused, and the node is as it was.
  auto moved = exo::upgrade_directory(dir, reordered, r.reg);
  BOOST_REQUIRE(!moved);
  BOOST_TEST(contains(moved.error().message, "by position"), moved.error().message);
  BOOST_TEST((state_of(dir, r.reg) == before));
  // The switch itself refuses it too (without the check), and leaves no image behind.
  {
    auto n = exo::node::open(dir, r.reg).value();
    auto refused = n->upgrade(reordered);
    BOOST_REQUIRE(!refused);
    BOOST_TEST(contains(refused.error().message, "by position"), refused.error().message);
  }
  BOOST_TEST((state_of(dir, r.reg) == before));
  BOOST_TEST(!fs::exists(dir + "/images"));
  // An image of another application.
  auto foreign = exo::upgrade_directory(dir, other_app, r.reg);
  BOOST_REQUIRE(!foreign);
  BOOST_TEST(contains(foreign.error().message, "another application"), foreign.error().message);
  BOOST_TEST((state_of(dir, r.reg) == before));
}

BOOST_AUTO_TEST_CASE(a_migration_runs_once_at_the_switch_and_the_log_across_it_verifies) {
  test::temp_dir t;
  pack_to(make_app(t, "a", notes_manifest(owner)), t.sub("a.exo"));
  const exo::image first = exo::load_image(t.sub("a.exo")).value();
  const exo::image migrating = variant(t, "mig", "upgrade_migrate.wasm", migrating_manifest(R"([{"call": "counter.migrate", "args": [1000]}])"));
  const exo::image trapping = variant(t, "trap", "upgrade_migrate.wasm", migrating_manifest(R"([{"call": "counter.migrate", "args": [-1]}])"));
  BOOST_REQUIRE(migrating.manifest.migrate.size() == 1u);
  app_test::registry r;
  // Migration calls cannot hand actors over, and must name an exported function.
  {
    auto reg = app_test::registry{};
    const std::string bad = make_app(t, "bad", migrating_manifest(R"([{"call": "counter.migrate", "args": [{"$actor": "notes"}]}])"));
    fs::copy_file(std::string(EXO_TEST_WASM_DIR) + "/upgrade_migrate.wasm", bad + "/counter.wasm", fs::copy_options::overwrite_existing);
    auto packed = exo::pack_image(bad, reg.reg);
    BOOST_REQUIRE(!packed);
    BOOST_TEST(contains(packed.error().message, "only init messages hand actors over"), packed.error().message);
    const std::string missing = make_app(t, "missing", migrating_manifest(R"([{"call": "counter.migrate", "args": [1]}])"));
    auto unknown = exo::pack_image(missing, reg.reg);  // the example counter has no migrate
    BOOST_REQUIRE(!unknown);
    BOOST_TEST(contains(unknown.error().message, "migrate[0]"), unknown.error().message);
  }
  const std::string dir = t.sub("d");
  std::int64_t count = 0;
  {
    auto n = exo::node::boot(t.sub("a.exo"), dir, r.reg).value();
    for (int i = 0; i < 10; ++i) BOOST_REQUIRE(n->hypervisor().invoke(*n->actor("counter"), "add", {i}));
    count = count_of(*n);
  }
  // A migration that fails undoes the whole switch.
  const dir_state before = state_of(dir, r.reg);
  auto failed = exo::upgrade_directory(dir, trapping, r.reg);
  BOOST_REQUIRE(!failed);
  BOOST_TEST(contains(failed.error().message, "migration call"), failed.error().message);
  BOOST_TEST((state_of(dir, r.reg) == before));
  // One that succeeds runs once, in the upgrade entry.
  auto out = exo::upgrade_directory(dir, migrating, r.reg);
  BOOST_REQUIRE_MESSAGE(out, (out ? "" : out.error().message));
  BOOST_REQUIRE(out->done);
  BOOST_TEST((out->done->results == exo::value(exo::value::list{exo::value(count + 1000)})));
  for (int reopen = 0; reopen < 2; ++reopen) {
    auto n = exo::node::open(dir, r.reg).value();
    BOOST_TEST(count_of(*n) == count + 1000);
  }
  auto n = exo::node::open(dir, r.reg).value();
  auto& hv = n->hypervisor();
  auto e = exo::decode_entry(hv.log().read(out->done->index).value()).value();
  BOOST_TEST((e.result == exo::value(exo::value::list{exo::value(count + 1000)})));
  BOOST_TEST(e.ticks > 0u);
  auto v = exo::verify_image_log(hv.log(), first, r.reg, {}, exo::directory_images(dir));
  BOOST_TEST(v.ok(), v.to_string());
  BOOST_TEST(v.final_root == hv.state_root().value());
}

BOOST_AUTO_TEST_CASE(sigkill_during_an_upgrade_switch_loses_nothing) {
  using namespace std::chrono;
  test::temp_dir t;
  pack_to(make_app(t, "a", notes_manifest(owner)), t.sub("a.exo"));
  const exo::image first = exo::load_image(t.sub("a.exo")).value();
  const exo::image migrating = variant(t, "mig", "upgrade_migrate.wasm", migrating_manifest(R"([{"call": "counter.migrate", "args": [1000]}])"));
  app_test::registry r;
  const std::string origin_dir = t.sub("origin");
  std::int64_t count = 0;
  {
    auto n = exo::node::boot(t.sub("a.exo"), origin_dir, r.reg).value();
    for (int i = 0; i < 30; ++i) BOOST_REQUIRE(n->hypervisor().invoke(*n->actor("counter"), "add", {i}));
    count = count_of(*n);
  }
  const dir_state before = state_of(origin_dir, r.reg);
  std::mt19937_64 rng(20261204);
  int switched = 0, not_yet = 0;
  for (int round = 0; round < 12; ++round) {
    const std::string dir = t.sub("d" + std::to_string(round));
    fs::copy(origin_dir, dir, fs::copy_options::recursive);
    test::child ch = test::spawn_child("EXO_UPGRADE_", {{std::string(child_dir_var), dir}, {std::string(child_image_var), t.sub("mig.exo")}},
                                       child_fd_var);
    std::string out;
    BOOST_REQUIRE(test::read_until(ch.out, out, steady_clock::now() + seconds(60),
                                   [&] { return out.find("R\n") != std::string::npos || out.find("E ") != std::string::npos; }));
    BOOST_REQUIRE_MESSAGE(out.find("E ") == std::string::npos, out);
    test::read_until(ch.out, out, steady_clock::now() + microseconds(rng() % 40'000),
                     [&] { return out.find("D\n") != std::string::npos; });
    ::kill(ch.pid, SIGKILL);
    int status = 0;
    while (::waitpid(ch.pid, &status, 0) < 0 && errno == EINTR) {
    }
    ::close(ch.out);
    BOOST_REQUIRE_MESSAGE(out.find("E ") == std::string::npos, out);
    // It resumes on one image or the other, whole, and its log verifies.
    auto n = exo::node::open(dir, r.reg);
    BOOST_REQUIRE_MESSAGE(n, (n ? "" : n.error().message));
    auto& hv = (*n)->hypervisor();
    const bool upgraded = (*n)->image().hash == migrating.hash;
    if (upgraded) {
      ++switched;
      BOOST_TEST(hv.log().size() == before.entries + 1);
      BOOST_TEST(count_of(**n) == count + 1000);
    } else {
      ++not_yet;
      BOOST_TEST((*n)->image().hash == first.hash);
      BOOST_TEST(hv.log().size() == before.entries);
      BOOST_TEST(hv.state_root().value() == before.root);
      BOOST_TEST(count_of(**n) == count);
    }
    BOOST_TEST(exo::load_image(dir + "/image.exo").value().hash == (*n)->image().hash);
    auto v = exo::verify_image_log(hv.log(), first, r.reg, {}, exo::directory_images(dir));
    BOOST_TEST(v.ok(), v.to_string());
    BOOST_TEST(v.final_root == hv.state_root().value());
  }
  BOOST_TEST_MESSAGE(switched << " switches finished or committed before the kill, " << not_yet << " not");
  // Stopped right after the commit, before DIR/image.exo was replaced: resuming repairs it.
  const std::string dir = t.sub("late");
  fs::copy(origin_dir, dir, fs::copy_options::recursive);
  {
    auto n = exo::node::open(dir, r.reg).value();
    BOOST_REQUIRE(n->upgrade(migrating));
  }
  BOOST_REQUIRE(exo::write_file(dir + "/image.exo", first.file));
  auto n = exo::node::open(dir, r.reg);
  BOOST_REQUIRE_MESSAGE(n, (n ? "" : n.error().message));
  BOOST_TEST((*n)->image().hash == migrating.hash);
  BOOST_TEST(exo::load_image(dir + "/image.exo").value().hash == migrating.hash);
  BOOST_TEST(count_of(**n) == count + 1000);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(upgrade_entries)

// The switch without images: a logged hypervisor replaces an actor's code and runs a
// migration as one "upgrade" input, which exo::verify replays like any other.
BOOST_AUTO_TEST_CASE(an_upgrade_entry_replays_and_bad_ones_are_clear_errors) {
  app_test::registry r;
  auto load = [&](const std::string& dir, const std::string& file) { return exo::read_file(dir + "/" + file).value(); };
  const exo::bytes v1 = load(EXO_TEST_EXAMPLES_DIR, "counter.wasm");
  const exo::bytes v2 = load(EXO_TEST_WASM_DIR, "upgrade_migrate.wasm");
  const exo::bytes moved = load(EXO_TEST_WASM_DIR, "upgrade_reordered.wasm");
  BOOST_REQUIRE(r.reg.load_named("wasm").has_value());
  exo::replay_hypervisor hv(exo::config{.name = "up", .containers = &r.reg});
  auto cap = hv.create_code("wasm", v1);
  BOOST_REQUIRE_MESSAGE(cap, (cap ? "" : cap.error().message));
  const exo::id counter = *hv.actor_id(*cap);
  BOOST_REQUIRE(hv.invoke(counter, "add", {7}));
  const exo::digest before = hv.state_root().value();
  const std::uint64_t entries = hv.log().size();
  auto request = [&](exo::bytes code, exo::value args) {
    exo::upgrade_request q;
    q.note = exo::value("v2");
    q.changes.push_back({counter, "wasm", std::move(code)});
    q.migrate.push_back({counter, "migrate", std::move(args), 0});
    return q;
  };
  // Refused, and nothing of it stays: exports that moved, a migration that traps, one that
  // names no function, one that hands over a capability, code that does not compile.
  auto refused = [&](const exo::upgrade_request& q, std::string_view why) {
    auto e = hv.upgrade(q);
    BOOST_REQUIRE(!e);
    BOOST_TEST(contains(e.error().message, why), e.error().message);
    BOOST_TEST(hv.state_root().value() == before);
    BOOST_TEST(hv.log().size() == entries);
  };
  refused(request(moved, exo::value(exo::value::list{})), "by position");
  refused(request(v2, exo::value(exo::value::list{exo::value(-1)})), "migration call");
  auto nothing = request(v2, exo::value(exo::value::list{exo::value(1)}));
  nothing.migrate[0].function = "no_such_function";
  refused(nothing, "migration call");
  auto with_cap = request(v2, exo::value(exo::value::list{exo::value(*cap)}));
  refused(with_cap, "capabilities");
  refused(request(exo::bytes{0, 'a', 's', 'm'}, exo::value(exo::value::list{})), "");
  // Accepted: the count went on, the migration added to it, and the log verifies.
  auto e = hv.upgrade(request(v2, exo::value(exo::value::list{exo::value(100)})));
  BOOST_REQUIRE_MESSAGE(e, (e ? "" : e.error().message));
  BOOST_TEST(e->kind == "upgrade");
  BOOST_TEST((e->result == exo::value(exo::value::list{exo::value(107)})));
  auto got = hv.invoke(counter, "get", {});
  BOOST_REQUIRE(got);
  BOOST_TEST((got->result == exo::value(107)));
  auto fresh = [&] { return std::make_unique<exo::replay_hypervisor>(exo::config{.name = "up", .containers = &r.reg}); };
  auto v = exo::verify(hv.log(), fresh);
  BOOST_TEST(v.ok(), v.to_string());
  // Malformed upgrade entries are errors of the replay, and the replaying hypervisor goes on.
  auto logged = exo::decode_entry(hv.log().read(e->index).value()).value();
  exo::replay_hypervisor other(exo::config{.name = "up", .containers = &r.reg});
  auto other_cap = other.create_code("wasm", v1);
  BOOST_REQUIRE(other_cap);
  const exo::digest other_root = other.state_root().value();
  for (const exo::value& args :
       {exo::value(), exo::value("x"), exo::value::make_map({{"note", exo::value()}}),
        exo::value::make_map({{"note", exo::value()}, {"changes", exo::value(exo::value::list{exo::value(1)})}, {"migrate", exo::value(exo::value::list{})}}),
        // a good change, then a malformed one: neither is made
        exo::value::make_map({{"note", exo::value()},
                              {"changes", exo::value(exo::value::list{logged.args.find("changes")->if_list()->front(), exo::value("x")})},
                              {"migrate", exo::value(exo::value::list{})}}),
        exo::value::make_map({{"note", exo::value()}, {"changes", exo::value(exo::value::list{})},
                              {"migrate", exo::value(exo::value::list{exo::value::make_map({{"actor", exo::value(exo::bytes(3))}})})}})}) {
    exo::log_entry bad = logged;
    bad.args = args;
    auto replayed = other.replay(bad);
    BOOST_REQUIRE(!replayed);
    BOOST_TEST(replayed.error().code == exo::errc::malformed, replayed.error().message);
    BOOST_TEST(other.state_root().value() == other_root);
  }
  BOOST_TEST(other.invoke(*other.actor_id(*other_cap), "add", {1}).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
