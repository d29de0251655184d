// Actors in the state tree: roots that depend only on content, resuming from a data
// directory, going back to earlier roots, storage inside transactions, and damaged or
// foreign state.

#include "../support/print.hpp"
#include "../support/temp_dir.hpp"

#include <exo/hypervisor.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <random>

namespace {

using exo::cap_handle;
using exo::context;
using exo::expected;

exo::byte_view view(const std::string& s) { return exo::as_bytes(s); }

/// A persistable actor: a counter in its state, key-value pairs in its storage, and
/// capabilities it keeps (their handles are part of its state).
struct vault {
  BOOST_HANA_DEFINE_STRUCT(vault, (std::int64_t, total), (std::vector<cap_handle>, held));

  void add(context&, std::int64_t n) { total += n; }
  std::int64_t sum(context&) const { return total; }
  expected<void> put(context& ctx, std::string key, std::string value) { return ctx.storage_put(view(key), view(value)); }
  expected<std::string> get(context& ctx, std::string key) {
    auto v = ctx.storage_get(view(key));
    if (!v) return exo::unexpected(v.error());
    return *v ? std::string((*v)->begin(), (*v)->end()) : std::string("<none>");
  }
  expected<bool> erase(context& ctx, std::string key) { return ctx.storage_erase(view(key)); }
  expected<void> put_then_fail(context& ctx, std::string key, std::string value) {
    if (auto r = ctx.storage_put(view(key), view(value)); !r) return r;
    total += 1000;
    return exo::fail(exo::errc::handler_failed, "changed my mind");
  }
  void keep(context&, cap_handle c) { held.push_back(c); }
  // Sends n through every kept capability.
  expected<void> ping(context& ctx, std::int64_t n) {
    for (auto c : held)
      if (auto r = ctx.call_with(c, exo::send_options{.budget = 100}, n); !r) return r;
    return {};
  }
  // Creates a child vault and keeps its `add` capability.
  expected<void> spawn(context& ctx) {
    auto child = ctx.create(vault{});
    if (!child) return exo::unexpected(child.error());
    auto add = ctx.derive(*child, exo::rights::call | exo::rights::transfer, "add");
    if (!add) return exo::unexpected(add.error());
    held.push_back(*add);
    return {};
  }

  static constexpr std::string_view exo_name = "vault";
  static constexpr auto exo_exports = exo::exports(
      exo::fn<&vault::add>("add", 2), exo::fn<&vault::sum>("sum", 1), exo::fn<&vault::put>("put", 5),
      exo::fn<&vault::get>("get", 5), exo::fn<&vault::erase>("erase", 5), exo::fn<&vault::put_then_fail>("put_then_fail", 5),
      exo::fn<&vault::keep>("keep", 3), exo::fn<&vault::ping>("ping", 3), exo::fn<&vault::spawn>("spawn", 10));
};

/// Not persistable: its state is a plain member, not a Hana struct.
struct scratch {
  std::int64_t n = 0;
  void bump(context&) { ++n; }
  expected<void> make(context& ctx) {
    auto c = ctx.create(scratch{});
    if (!c) return exo::unexpected(c.error());
    return {};
  }
  static constexpr std::string_view exo_name = "scratch";
  static constexpr auto exo_exports = exo::exports(exo::fn<&scratch::bump>("bump", 1), exo::fn<&scratch::make>("make", 5));
};
/// Makes scratch actors from inside a durable hypervisor (which must refuse).
struct maker {
  expected<void> make(context& ctx) {
    auto c = ctx.create(scratch{});
    if (!c) return exo::unexpected(c.error());
    return {};
  }
  static constexpr std::string_view exo_name = "maker";
  static constexpr auto exo_exports = exo::exports(exo::fn<&maker::make>("make", 5));
};

using disk_hv = exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store>;

exo::lmdb_store open_dir(const std::string& dir) {
  auto s = exo::lmdb_store::open(dir, {.create = true});
  BOOST_REQUIRE_MESSAGE(s, (s ? "" : to_string(s.error())));
  return std::move(*s);
}

/// Calls `fn` on actor `a` with `args` and returns the reply (through an egress), after
/// running to idle. Failures land in hv.failures().
template <class HV, class... A>
exo::value ask(HV& hv, const exo::id& a, std::string_view fn, A&&... args) {
  exo::value got;
  auto out = hv.create_egress("test-replies", [&](exo::egress_message& m) { got = m.args.empty() ? exo::value{} : m.args[0]; });
  auto f = hv.lookup(a, fn);
  BOOST_REQUIRE_MESSAGE(f, (f ? "" : to_string(f.error())));
  BOOST_REQUIRE(hv.send(*f, context::make_args(std::forward<A>(args)...), exo::send_options{.reply_to = out}));
  hv.run();
  BOOST_REQUIRE(hv.drop(*f));
  BOOST_REQUIRE(hv.drop(out));
  return got;
}

template <class HV>
std::string last_failure(HV& hv) {
  return hv.failures().empty() ? std::string() : hv.failures().back().message;
}

// The same content through a given order of operations: three vaults, adds and storage
// writes applied in `order`.
template <class HV>
exo::digest build(HV& hv, const std::vector<int>& order) {
  std::vector<cap_handle> v;
  for (int i = 0; i < 3; ++i) v.push_back(hv.create(vault{}));
  for (int op : order) {
    auto target = v[static_cast<std::size_t>(op % 3)];
    if (op % 2) BOOST_REQUIRE(hv.call(*hv.function_cap(target, "add"), op));
    else BOOST_REQUIRE(hv.call(*hv.function_cap(target, "put"), "k" + std::to_string(op), "v" + std::to_string(op)));
  }
  hv.run();
  BOOST_REQUIRE(hv.failures().empty());
  return hv.state_root().value();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(state)

BOOST_AUTO_TEST_CASE(the_root_depends_only_on_content) {
  std::vector<int> order(60);
  for (int i = 0; i < 60; ++i) order[static_cast<std::size_t>(i)] = i;
  exo::digest first;
  {
    exo::hypervisor<> hv;
    first = build(hv, order);
  }
  BOOST_TEST(!first.is_zero());
  std::mt19937 rng(7);
  for (int round = 0; round < 5; ++round) {  // other orders of the same writes
    std::shuffle(order.begin(), order.end(), rng);
    exo::hypervisor<> hv;
    BOOST_TEST(build(hv, order) == first);
  }
  {  // another policy
    exo::hypervisor<exo::fifo_scheduler> hv;
    BOOST_TEST(build(hv, order) == first);
  }
  {  // another backend
    test::temp_dir dir;
    auto hv = disk_hv::open(open_dir(dir.sub("d"))).value();
    BOOST_TEST(build(hv, order) == first);
    BOOST_TEST(hv.commit().value() == first);
  }
  {  // different content, different root
    exo::hypervisor<> hv;
    order.pop_back();
    BOOST_TEST(!(build(hv, order) == first));
  }
}

BOOST_AUTO_TEST_CASE(a_data_directory_resumes_from_its_last_commit) {
  test::temp_dir dir;
  exo::id a, b;
  exo::digest committed;
  {
    auto hv = disk_hv::open(open_dir(dir.sub("d"))).value();
    auto va = hv.create(vault{});
    auto vb = hv.create(vault{});
    a = *hv.actor_id(va);
    b = *hv.actor_id(vb);
    BOOST_REQUIRE(hv.call(*hv.function_cap(va, "add"), 5));
    BOOST_REQUIRE(hv.call(*hv.function_cap(va, "put"), "colour", "green"));
    BOOST_REQUIRE(hv.call(*hv.function_cap(va, "keep"), *hv.function_cap(vb, "add")));  // a holds a cap to b
    BOOST_REQUIRE(hv.call(*hv.function_cap(va, "spawn")));
    hv.run();
    BOOST_REQUIRE(hv.failures().empty());
    committed = hv.commit().value();
    BOOST_REQUIRE(hv.call(*hv.function_cap(va, "add"), 1000));  // never committed
    hv.run();
  }
  auto hv = disk_hv::open(open_dir(dir.sub("d"))).value();
  hv.register_type<vault>();
  BOOST_TEST(hv.actor_count() == 0u);  // nothing is loaded until it is needed
  BOOST_TEST(hv.state_root().value() == committed);
  BOOST_TEST(*ask(hv, a, "sum").if_i64() == 5);
  BOOST_TEST(*ask(hv, a, "get", "colour").if_string() == "green");
  BOOST_TEST(hv.actor_count() == 1u);
  // The kept capabilities still work: b and the child are loaded when a's pings reach them.
  BOOST_REQUIRE(hv.call(*hv.lookup(a, "ping"), 7));
  hv.run();
  BOOST_TEST(hv.failures().empty());
  BOOST_TEST(*ask(hv, b, "sum").if_i64() == 7);
  BOOST_TEST(hv.actor_count() == 3u);
  // New actors get new ids: the host's counters were resumed too.
  auto c = hv.create(vault{});
  BOOST_TEST(!(*hv.actor_id(c) == a));
  BOOST_TEST(!(*hv.actor_id(c) == b));
}

BOOST_AUTO_TEST_CASE(commits_write_back_only_what_changed) {
  exo::hypervisor<> hv;
  auto va = hv.create(vault{});
  auto vb = hv.create(vault{});
  BOOST_REQUIRE(hv.call(*hv.function_cap(va, "put"), "x", "1"));
  BOOST_REQUIRE(hv.call(*hv.function_cap(vb, "put"), "y", "1"));
  hv.run();
  auto r1 = hv.commit().value();
  BOOST_REQUIRE(hv.call(*hv.function_cap(va, "put"), "x", "2"));
  hv.run();
  auto r2 = hv.commit().value();
  auto changes = hv.tree().diff(r1, r2).value();
  auto a = *hv.actor_id(va), b = *hv.actor_id(vb);
  std::vector<exo::bytes> keys;
  for (auto& c : changes) keys.push_back(c.key);
  auto has = [&](const exo::bytes& k) { return std::find(keys.begin(), keys.end(), k) != keys.end(); };
  BOOST_TEST(has(exo::storage_key(a, exo::as_bytes("x"))));
  BOOST_TEST(has(exo::record_key(a)));  // its clock moved
  BOOST_TEST(!has(exo::record_key(b)));
  BOOST_TEST(!has(exo::storage_key(b, exo::as_bytes("y"))));
  BOOST_TEST(changes.size() == 3u);  // a's record, a's key, and the host's counters
  // Storage values are provable under the root.
  auto p = hv.tree().prove(exo::storage_key(a, exo::as_bytes("x"))).value();
  BOOST_TEST(bool(exo::verify_proof(r2, exo::storage_key(a, exo::as_bytes("x")), exo::bytes{'2'}, p)));
}

BOOST_AUTO_TEST_CASE(set_state_root_goes_back_and_forth) {
  test::temp_dir dir;
  auto hv = disk_hv::open(open_dir(dir.sub("d"))).value();
  auto va = hv.create(vault{});
  auto a = *hv.actor_id(va);
  BOOST_REQUIRE(hv.call(*hv.function_cap(va, "add"), 1));
  BOOST_REQUIRE(hv.call(*hv.function_cap(va, "put"), "k", "old"));
  hv.run();
  auto r1 = hv.commit().value();
  BOOST_REQUIRE(hv.call(*hv.function_cap(va, "add"), 10));
  BOOST_REQUIRE(hv.call(*hv.function_cap(va, "put"), "k", "new"));
  BOOST_REQUIRE(hv.call(*hv.function_cap(va, "spawn")));
  hv.run();
  auto r2 = hv.commit().value();

  BOOST_REQUIRE(hv.set_state_root(r1));
  BOOST_TEST(hv.state_root().value() == r1);
  BOOST_TEST(*ask(hv, a, "sum").if_i64() == 1);
  BOOST_TEST(*ask(hv, a, "get", "k").if_string() == "old");
  BOOST_REQUIRE(hv.set_state_root(r2));
  BOOST_TEST(*ask(hv, a, "sum").if_i64() == 11);
  BOOST_TEST(*ask(hv, a, "get", "k").if_string() == "new");
  // An actor that did not exist at r1 is an error for the message, not for the hypervisor.
  auto child = exo::derive_actor_id(a, 0);
  BOOST_TEST(*ask(hv, child, "sum").if_i64() == 0);
  BOOST_REQUIRE(hv.set_state_root(r1));
  BOOST_TEST(!hv.contains(child));
  BOOST_TEST(!hv.lookup(child, "sum"));
  // Roots the store never had, and a busy hypervisor, are refused.
  auto bogus = exo::hash(exo::as_bytes("nope"));
  auto r = hv.set_state_root(bogus);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message.find("not in this store") != std::string::npos);
  BOOST_REQUIRE(hv.call(*hv.function_cap(va, "add"), 1));
  auto busy = hv.commit();
  BOOST_REQUIRE(!busy);
  BOOST_TEST(busy.error().message.find("idle") != std::string::npos);
  BOOST_TEST(!hv.set_state_root(r2));
  hv.run();
  BOOST_TEST(bool(hv.commit()));
}

BOOST_AUTO_TEST_CASE(a_failed_message_leaves_storage_as_it_was) {
  exo::hypervisor<> hv;
  auto va = hv.create(vault{});
  auto a = *hv.actor_id(va);
  BOOST_REQUIRE(hv.call(*hv.function_cap(va, "put"), "k", "before"));
  hv.run();
  BOOST_REQUIRE(hv.call(*hv.function_cap(va, "put_then_fail"), "k", "after"));
  BOOST_REQUIRE(hv.call(*hv.function_cap(va, "put_then_fail"), "fresh", "x"));
  hv.run();
  BOOST_TEST(hv.failures().size() == 2u);
  BOOST_TEST(*ask(hv, a, "get", "k").if_string() == "before");
  BOOST_TEST(*ask(hv, a, "get", "fresh").if_string() == "<none>");
  BOOST_TEST(*ask(hv, a, "sum").if_i64() == 0);
  BOOST_TEST(*ask(hv, a, "erase", "k").if_bool() == true);
  BOOST_TEST(*ask(hv, a, "erase", "k").if_bool() == false);
  BOOST_TEST(*ask(hv, a, "get", "k").if_string() == "<none>");
}

BOOST_AUTO_TEST_CASE(bad_storage_calls_fail_the_message) {
  exo::hypervisor<> hv;
  auto va = hv.create(vault{});
  auto a = *hv.actor_id(va);
  (void)ask(hv, a, "put", "", "v");
  BOOST_TEST(last_failure(hv).find("storage key must have 1 to 1024 bytes") != std::string::npos);
  (void)ask(hv, a, "put", std::string(2000, 'k'), "v");
  BOOST_TEST(last_failure(hv).find("not 2000") != std::string::npos);
  // Out of ticks: a put's cost grows with its size.
  auto f = *hv.lookup(a, "put");
  BOOST_REQUIRE(hv.send(f, context::make_args("k", std::string(100'000, 'v')), exo::send_options{.budget = 50}));
  hv.run();
  BOOST_TEST(last_failure(hv).find("out of ticks") != std::string::npos);
  BOOST_TEST(*ask(hv, a, "get", "k").if_string() == "<none>");
}

BOOST_AUTO_TEST_CASE(unknown_types_and_damaged_records_are_errors_for_the_message) {
  test::temp_dir dir;
  exo::id a, b;
  {
    auto hv = disk_hv::open(open_dir(dir.sub("d"))).value();
    a = *hv.actor_id(hv.create(vault{}));
    b = *hv.actor_id(hv.create(vault{}));
    BOOST_REQUIRE(hv.commit());
  }
  auto hv = disk_hv::open(open_dir(dir.sub("d"))).value();
  // Without register_type the stored actors cannot be loaded.
  auto f = hv.lookup(a, "sum");
  BOOST_REQUIRE(!f);
  BOOST_TEST(f.error().message.find("register_type") != std::string::npos);
  hv.register_type<vault>();
  // Damage a's record (through the tree, as a buggy or hostile writer would), then reload.
  BOOST_REQUIRE(hv.tree().put(exo::record_key(a), exo::as_bytes("garbage")));
  auto damaged = hv.tree().commit().value();
  BOOST_REQUIRE(hv.set_state_root(damaged));
  auto g = hv.lookup(a, "sum");
  BOOST_REQUIRE(!g);
  BOOST_TEST(g.error().code == exo::errc::malformed);
  BOOST_TEST(g.error().message.find(short_hex(a)) != std::string::npos);
  // The other actor is unaffected.
  BOOST_TEST(*ask(hv, b, "sum").if_i64() == 0);
}

BOOST_AUTO_TEST_CASE(a_state_is_opened_only_by_its_own_hypervisor) {
  test::temp_dir dir;
  {
    auto hv = disk_hv::open(open_dir(dir.sub("d")), exo::config{.name = "first"}).value();
    (void)hv.create(vault{});
    BOOST_REQUIRE(hv.commit());
  }
  auto other = disk_hv::open(open_dir(dir.sub("d")), exo::config{.name = "second"});
  BOOST_REQUIRE_MESSAGE(!other, "opened another hypervisor's state");
  BOOST_TEST(other.error().message.find("open it with the name it was created with") != std::string::npos);
  auto hv = disk_hv::open(open_dir(dir.sub("d")), exo::config{.name = "first"}).value();
  BOOST_TEST(!hv.state_root().value().is_zero());
}

BOOST_AUTO_TEST_CASE(durable_hypervisors_refuse_state_they_cannot_save) {
  test::temp_dir dir;
  auto hv = disk_hv::open(open_dir(dir.sub("d"))).value();
  auto m = hv.create(maker{});
  BOOST_REQUIRE(hv.call(*hv.function_cap(m, "make")));
  hv.run();
  BOOST_TEST(last_failure(hv).find("BOOST_HANA_DEFINE_STRUCT") != std::string::npos);
  BOOST_TEST(hv.actor_count() == 1u);
  // In memory such actors work; their records say their state was not saved, so they
  // cannot come back after set_state_root.
  exo::hypervisor<> mem;
  auto s = mem.create(scratch{});
  auto id = *mem.actor_id(s);
  BOOST_REQUIRE(mem.call(*mem.function_cap(s, "bump")));
  mem.run();
  auto root = mem.commit().value();
  BOOST_REQUIRE(mem.set_state_root(root));
  auto again = mem.lookup(id, "bump");
  BOOST_REQUIRE(!again);
  BOOST_TEST(again.error().message.find("only in memory") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(stored_egress_capabilities_reach_the_sink_created_after_resuming) {
  test::temp_dir dir;
  exo::id a;
  {
    auto hv = disk_hv::open(open_dir(dir.sub("d"))).value();
    auto va = hv.create(vault{});
    a = *hv.actor_id(va);
    auto out = hv.create_egress("audit", [](exo::egress_message&) {});
    BOOST_REQUIRE(hv.call(*hv.function_cap(va, "keep"), out));
    hv.run();
    BOOST_REQUIRE(hv.commit());
  }
  auto hv = disk_hv::open(open_dir(dir.sub("d"))).value();
  hv.register_type<vault>();
  BOOST_REQUIRE(hv.call(*hv.lookup(a, "ping"), 1));
  hv.run();
  BOOST_TEST(last_failure(hv).find("egress 'audit' has no sink") != std::string::npos);
  std::vector<std::int64_t> seen;
  (void)hv.create_egress("audit", [&](exo::egress_message& m) { seen.push_back(*m.args[0].if_i64()); });
  BOOST_REQUIRE(hv.call(*hv.lookup(a, "ping"), 2));
  hv.run();
  BOOST_TEST(seen == std::vector<std::int64_t>{2});
}

BOOST_AUTO_TEST_SUITE_END()
