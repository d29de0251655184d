// Golden values: a fixed workload whose state roots, log entries, log head and delivery trace
// are recorded here as literal hashes. They pin exo's observable behaviour byte for byte: a
// change that moves code must leave every one of them as it is. If one of them changes, the
// change altered what exo computes (an entry, a root, an order), and that needs a reason and
// a new format, not a new literal.
//
// History: issue 19 gave every delivery an arrival tick (DESIGN.md section 4.1) and the log
// format exo-log-2; every literal below was recorded again then, and the counts (deliveries,
// failures, ticks used) stayed as they were.
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
      "f13b363aa43718d3111e610bed675af1eb1b06f5e48338c576d8fec3f4c26548",
      "1e31a1b40d66a4f7d9da96186077a2d3ee1ea7cb37ff497ed313ec5fea081694",
      "be931292ba088dcd7393760fcaad87f2b5a25ed98dacd4926f46521323b87ae6",
      "ad5afc601813b5ea3b4a2a852b955580f1846c3c6b9963fac52487f9d8be3a5a",
      "cb67cf1f1788823ccd40db9f1d5dfa8b8528cf28b3f20588d5e5980ad48afe8b",
      "3ab325d5961a0ee8254319b23955e57c0590922db33a8c0a5611a4c9e094e502",
      "da6507eb602420ec574f4d59c34beda24087e00be84d39489a2e1239f97e2643",
      "22c62c0d1c743c108a476d6ab2f7b8987841b2be6d79a6de3d95ea0a05196c46",
      "a3c63342ece32fee13a1808281c07197e58ac588182c10b813e1ac67260c50be",
      "f7191e5e0284d99a7f514187c3f100a20ab1713f01766d6eadb0a328fb4b2114",
      "300d31445c46b156f6be456091a4ecb86c8e9d4250ebc69569ae19652041892c",
      "fffa9c950ec1b0938126a458a9a3e4af37287bbbfb406d1dbcbcbb0cf49810b6",
      "53f45ef99bbaa5280633697032e3166d449292045c7201501577b72b1c870d0e",
      "2e206200d887bb0e9a245b1421ccbfbb31b4249f1def1f3644429707f0e04793",
      "21192b43abb3d694074d584faaced94fa124b207d0d8b72070fe0a0acf291d09",
      "3e0b3e8f879fac03478fdc3fd452921ea7185a4aeeea3198e86e58cd0ee9de46",
      "55ff37252e1e2bdda58b5b29805d773b3de650c66f0ce9c8ece52765e6c688ad",
  };
  BOOST_TEST(r.size == expected_entries.size());
  for (std::size_t i = 0; i < r.entries.size() && i < expected_entries.size(); ++i)
    BOOST_TEST(r.entries[i] == expected_entries[i], "entry " << i);
  BOOST_TEST(r.head == "d81127544916fa15469f7118da5241a0c3069c82043ea17acef9242027563f8a");
  BOOST_TEST(r.root == "aee79e342e0d3553475fa453459c6684d4775b3ca5233d38476210b0850ecea5");
}

BOOST_AUTO_TEST_CASE(an_unlogged_workload_gives_the_recorded_roots_and_traces) {
  auto ordered = run_unlogged<exo::ordered_scheduler>();
  auto fifo = run_unlogged<exo::fifo_scheduler>();
  BOOST_TEST_MESSAGE("ordered " << ordered.root << " " << ordered.trace << " " << ordered.delivered << " "
                                << ordered.failed << " " << ordered.ticks);
  BOOST_TEST_MESSAGE("fifo " << fifo.root << " " << fifo.trace << " " << fifo.delivered << " " << fifo.failed << " "
                             << fifo.ticks);
  BOOST_TEST(ordered.root == "5e85638f5bfd5451cf34f595f7696076ec8d765a573c28c98ebe6e26bafaf12e");
  BOOST_TEST(ordered.trace == "5c7bebebbe6bb7d72c5df48c0c9653e51260d8831e92b132250222f567d8c331/22");
  BOOST_TEST(fifo.root == "5e85638f5bfd5451cf34f595f7696076ec8d765a573c28c98ebe6e26bafaf12e");
  BOOST_TEST(fifo.trace == "35e35561b981b64f3d65bbdd8cec0e737442ec9d68c3f70dcc771abca54a24fe/22");
  BOOST_TEST(ordered.delivered == 22u);
  BOOST_TEST(ordered.failed == 3u);
  BOOST_TEST(ordered.ticks == 110u);
  BOOST_TEST(fifo.delivered == ordered.delivered);
  BOOST_TEST(fifo.failed == ordered.failed);
  BOOST_TEST(fifo.ticks == ordered.ticks);
}

BOOST_AUTO_TEST_SUITE_END()
