// Golden values: a fixed workload whose state roots, log entries, log head and delivery trace
// are recorded here as literal hashes. They pin exo's observable behaviour byte for byte: a
// change that moves code must leave every one of them as it is. If one of them changes, the
// change altered what exo computes (an entry, a root, an order), and that needs a reason and
// a new format, not a new literal.
//
// The workload: native actors (a Hana struct type), a wasm actor, logged calls on LMDB with a
// fixed node key, capabilities passed into and returned from calls, an egress output, a
// failed call rolled back, sends rolled back with their failing message, a missing function,
// storage, a group-committed batch; and an unlogged hypervisor (ordered and fifo) with
// failures, rollbacks, forwarding and a creation chain, traced delivery by delivery.

#include "../support/temp_dir.hpp"

#include <exo/exo.hpp>

#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using exo::cap_handle;
using exo::context;
using exo::expected;

// The node key every golden log is signed with (a fixed Ed25519 private key).
constexpr std::string_view golden_key =
    "exo-node-key-ed25519\n5f0c1e8a2b7d4c9f3a6e1b0d8c7f2e4a9b3d6c1f0e8a7b2c4d9e3f6a1b0c8d7e\n";

/// Counts, keeps notes in storage, pays through capabilities it is given.
struct till {
  BOOST_HANA_DEFINE_STRUCT(till, (std::int64_t, total));
  std::int64_t add(context&, std::int64_t n) { return total += n; }
  expected<void> refuse(context&, std::int64_t n) {
    total += n;
    return exo::fail(exo::errc::handler_failed, fmt::format("refused {}", n));
  }
  expected<void> pay(context& ctx, std::int64_t n, cap_handle to) { return ctx.call_with(to, exo::send_options{.budget = 50}, n); }
  expected<void> pay_then_fail(context& ctx, std::int64_t n, cap_handle to) {
    if (auto r = ctx.call_with(to, exo::send_options{.budget = 50}, n); !r) return r;
    total += n;
    return exo::fail(exo::errc::handler_failed, "paid, then changed its mind");
  }
  expected<void> note(context& ctx, std::string k, std::string v) { return ctx.storage_put(exo::as_bytes(k), exo::as_bytes(v)); }
  expected<cap_handle> adder(context& ctx) { return ctx.self_cap("add", exo::rights::call | exo::rights::transfer); }
  static constexpr std::string_view exo_name = "till";
  static constexpr auto exo_exports = exo::exports(
      exo::fn<&till::add>("add", 3), exo::fn<&till::refuse>("refuse", 2), exo::fn<&till::pay>("pay", 5),
      exo::fn<&till::pay_then_fail>("pay_then_fail", 5), exo::fn<&till::note>("note", 4),
      exo::fn<&till::adder>("adder", 2));
};

exo::bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  BOOST_REQUIRE_MESSAGE(in, "cannot open " << path);
  return exo::bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// ---- the logged workload ----

struct logged_result {
  std::vector<std::string> entries;  // every entry's hash
  std::string head;                  // the hash of the encoded signed head
  std::string root;
  std::uint64_t size = 0;
};

logged_result run_logged(const std::string& dir) {
  using disk_hv = exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store, exo::lmdb_log>;
  exo::container_registry reg;
  reg.add_search_dir(EXO_TEST_PLUGIN_DIR);
  BOOST_REQUIRE(reg.load_named("wasm"));
  auto store = exo::lmdb_store::open(dir, {.create = true});
  BOOST_REQUIRE(store);
  { std::ofstream(dir + "/node.key") << golden_key; }
  ::chmod((dir + "/node.key").c_str(), 0600);
  auto hv = disk_hv::open(std::move(*store), exo::config{.name = "golden", .containers = &reg}).value();
  hv.register_type<till>();

  auto a = hv.create(till{}).value();
  auto b = hv.create(till{5}).value();
  const exo::id ida = *hv.actor_id(a), idb = *hv.actor_id(b);
  auto counter = hv.create_code("wasm", read_file(std::string(EXO_TEST_EXAMPLES_DIR) + "/counter.wasm"));
  BOOST_REQUIRE(counter);
  const exo::id idc = *hv.actor_id(*counter);

  auto must = [](auto r) {
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    return std::move(*r);
  };
  must(hv.invoke(ida, "add", {7}));
  must(hv.invoke(idb, "add", {1}));
  BOOST_TEST(must(hv.invoke(ida, "refuse", {3})).error.has_value());  // rolled back
  auto to_b = *hv.lookup(idb, "add", exo::rights::call | exo::rights::transfer);
  must(hv.invoke(ida, "pay", {4, to_b}));                              // a capability passed
  BOOST_TEST(must(hv.invoke(ida, "pay_then_fail", {6, to_b})).error.has_value());  // its send undone
  auto out = hv.create_egress("printer", [](exo::egress_message&) {});
  must(hv.invoke(ida, "pay", {9, out}));                               // output to an egress
  must(hv.invoke(ida, "note", {"k", "v"}));                            // storage
  BOOST_TEST(must(hv.invoke(idb, "no-such-function", {})).error.has_value());
  must(hv.invoke(idc, "add", {5}));                                    // wasm
  must(hv.invoke(idc, "add", {2}));
  BOOST_TEST(must(hv.invoke(ida, "adder", {})).result.if_cap() != nullptr);  // a capability returned
  hv.begin_batch();                                                    // group commit
  must(hv.invoke(ida, "add", {1}));
  must(hv.invoke(idc, "get", {}));
  BOOST_REQUIRE(hv.end_batch());

  logged_result r;
  r.size = hv.log().size();
  for (std::uint64_t i = 0; i < r.size; ++i) r.entries.push_back(exo::to_hex(exo::entry_hash(*hv.log().read(i))));
  r.head = exo::to_hex(exo::hash(**hv.log().head()));
  r.root = exo::to_hex(*hv.state_root());
  return r;
}

// ---- the unlogged workload ----

struct relay {
  cap_handle next{};
  bool linked = false;
  std::int64_t seen = 0;
  void link(context&, cap_handle n) {
    next = n;
    linked = true;
  }
  expected<void> hop(context& ctx, std::int64_t hops) {
    seen += hops;
    if (!linked) return {};
    return ctx.forward(next, context::make_args(hops + 1));
  }
  expected<void> burn_then_fail(context& ctx, std::int64_t ticks) {
    if (auto r = ctx.charge(static_cast<std::uint64_t>(ticks)); !r) return r;
    if (linked)
      if (auto r = ctx.call_with(next, exo::send_options{.budget = 20}, 1); !r) return r;
    seen += 1000;
    return exo::fail(exo::errc::handler_failed, "burnt");
  }
  expected<void> spawn(context& ctx, std::int64_t n) {
    if (n <= 0) return {};
    auto kid = ctx.create(relay{});
    if (!kid) return exo::unexpected(kid.error());
    auto hop = ctx.derive(*kid, exo::rights::call, "spawn");
    if (!hop) return exo::unexpected(hop.error());
    return ctx.call(*hop, n - 1);
  }
  static constexpr std::string_view exo_name = "relay";
  static constexpr auto exo_exports =
      exo::exports(exo::fn<&relay::link>("link", 1), exo::fn<&relay::hop>("hop", 4),
                   exo::fn<&relay::burn_then_fail>("burn_then_fail", 2), exo::fn<&relay::spawn>("spawn", 3));
};

struct unlogged_result {
  std::string root;
  std::string trace;  // hash of every delivery, in order
  std::uint64_t delivered = 0, failed = 0, ticks = 0;
};

template <class Scheduler>
unlogged_result run_unlogged() {
  exo::hypervisor<Scheduler> hv(exo::config{.name = "golden-ipc"});
  exo::sha256 trace;
  std::uint64_t n = 0;
  hv.on_deliver([&](const exo::delivery& d) {
    exo::value rec = exo::value::list{exo::to_value(d.receiver), exo::value(static_cast<std::int64_t>(d.function)),
                                      exo::to_value(d.sender), exo::value(static_cast<std::int64_t>(d.ticks)),
                                      exo::value(static_cast<std::int64_t>(d.seq)), exo::value(d.ok)};
    trace.update(exo::encode(rec));
    ++n;
  });
  std::vector<cap_handle> relays;
  for (int i = 0; i < 4; ++i) relays.push_back(hv.create(relay{}));
  for (int i = 0; i + 1 < 4; ++i) {
    auto next = *hv.function_cap(relays[i + 1], "hop");
    BOOST_REQUIRE(hv.call(*hv.function_cap(relays[i], "link"), next));
  }
  BOOST_REQUIRE(hv.call(*hv.function_cap(relays[0], "hop"), 1));
  BOOST_REQUIRE(hv.call(*hv.function_cap(relays[2], "hop"), 10));
  BOOST_REQUIRE(hv.call(*hv.function_cap(relays[1], "burn_then_fail"), 5));   // rolled back
  BOOST_REQUIRE(hv.call(*hv.function_cap(relays[3], "burn_then_fail"), 50));
  BOOST_REQUIRE(hv.call(*hv.function_cap(relays[3], "spawn"), 6));             // a creation chain
  BOOST_REQUIRE(hv.send(*hv.function_cap(relays[0], "hop"), context::make_args(100), {.budget = 3}));  // out of ticks
  hv.run();
  BOOST_TEST(hv.failures().size() == 3u);
  unlogged_result r;
  r.root = exo::to_hex(*hv.state_root());
  r.trace = exo::to_hex(trace.finish()) + "/" + std::to_string(n);
  r.delivered = hv.stats().delivered;
  r.failed = hv.stats().failed;
  r.ticks = hv.stats().ticks;
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(golden)

BOOST_AUTO_TEST_CASE(a_logged_workload_gives_the_recorded_entries_head_and_root) {
  test::temp_dir t;
  auto r = run_logged(t.sub("data"));
  for (std::size_t i = 0; i < r.entries.size(); ++i) BOOST_TEST_MESSAGE("entry " << i << ": " << r.entries[i]);
  BOOST_TEST_MESSAGE("head " << r.head << " root " << r.root << " size " << r.size);
  const std::vector<std::string> expected_entries = {
      "674156822f24b3a90e61b389bd3af4b8650e1db3a8492fe27688672ef190281c",
      "b8e2c9523759e4a1ba489c9d5eb5df88470573f2c56d7f1e080f627f10747b70",
      "e68cff83879f2c6903a0100a960ebad22686f0be71cdcb3d4ad21dcfb9c30ea6",
      "024bc053354ab7bf181efa38c026fdb095c193b8aa43fb3e1a8f93fc26f9ddd5",
      "580b422a4464c321eddb27f156474e65955441d8ee4b1577df869c82c23a2677",
      "e0d2d0bd0de7c79f6d49ebbb9fc17c1c7475d007e8077d2741945a0503d4e4d7",
      "d5f5b356e5a2ec6b54fdfc67e1b5950d5b986999498379ba03dfd392d3546a2b",
      "e1f97554b9a3e136b3e98ff3b83fa32f92f1ee8510c549e8fd7dece2de309db9",
      "8fa65c7bf1e4be7619a09328793111ea658e25e2a4e4a0c28741804aaa518a95",
      "90b4d9b04fa92c53b806cf475c1fb7dd378e39e3a3ec83f3d9ecdb82c1517ea2",
      "bf773acca25885b36991877db05e774933526eb5e1a71f6b62ce9e5e3c31c014",
      "54de5b23b4d5f33cebfaea62242427a58b9477b491678e22e1b5111718c76918",
      "040209a30585b3df6489a42635ac348d36aa6bb3fb37a42a765cfc97173b71c4",
      "6149a4132d482294c08ea0b7961994f81cdbcc43a49309ae1ccbd4d53e051984",
      "6740ca05cf544d290906633ee670c1b1df50ab85d8b8fe2ae24c9820d6995c1e",
      "5ddff1fd2de88ea7ddc6e3d9de35f4c8e0960f6ef31c6b9ca785469decab0f35",
      "bb469443fc9a1ff4da7786dab3729915a44966a5879514256db60c9837a5772d",
  };
  BOOST_TEST(r.size == expected_entries.size());
  for (std::size_t i = 0; i < r.entries.size() && i < expected_entries.size(); ++i)
    BOOST_TEST(r.entries[i] == expected_entries[i], "entry " << i);
  BOOST_TEST(r.head == "670da6840a3c84285fdf8af6ba230511b2c78f85f4288737a37775d7f1f87eec");
  BOOST_TEST(r.root == "2d0126dddbfd0ccc84e4540dce1c3cc5c93cd832d89333c507a57df8b1110293");
}

BOOST_AUTO_TEST_CASE(an_unlogged_workload_gives_the_recorded_roots_and_traces) {
  auto ordered = run_unlogged<exo::ordered_scheduler>();
  auto fifo = run_unlogged<exo::fifo_scheduler>();
  BOOST_TEST_MESSAGE("ordered " << ordered.root << " " << ordered.trace << " " << ordered.delivered << " "
                                << ordered.failed << " " << ordered.ticks);
  BOOST_TEST_MESSAGE("fifo " << fifo.root << " " << fifo.trace << " " << fifo.delivered << " " << fifo.failed << " "
                             << fifo.ticks);
  BOOST_TEST(ordered.root == "bf8778255cb7d674ee6c3e7d19a110e904952f43d283d7698d4c50e61e6c86b6");
  BOOST_TEST(ordered.trace == "a7b92a6965fdad38adae3a083446b985544fd156ffda51b7ea59d55970937054/22");
  BOOST_TEST(fifo.root == "bf8778255cb7d674ee6c3e7d19a110e904952f43d283d7698d4c50e61e6c86b6");
  BOOST_TEST(fifo.trace == "125931785240b7c0b7a0ebeac25a6169a82dc6c33011eee5022988ecfc938639/22");
  BOOST_TEST(ordered.delivered == 22u);
  BOOST_TEST(ordered.failed == 3u);
  BOOST_TEST(ordered.ticks == 110u);
  BOOST_TEST(fifo.delivered == ordered.delivered);
  BOOST_TEST(fifo.failed == ordered.failed);
  BOOST_TEST(fifo.ticks == ordered.ticks);
}

BOOST_AUTO_TEST_SUITE_END()
