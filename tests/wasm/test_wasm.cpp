// The wasm container through the real loaded plugin: Primea's scenarios, exact metering,
// rollback of traps, determinism, persistence, and a clean error for each kind of bad call.

#include "../support/temp_dir.hpp"
#include "support.hpp"

#include <exo/verifier/verify.hpp>

using namespace wasm_test;
using exo::cap_handle;
using exo::errc;

namespace {

using memory_hv = exo::hypervisor<exo::ordered_scheduler, exo::memory_store>;

cap_handle make(memory_hv& hv, const exo::bytes& code) {
  auto a = hv.create_code("wasm", code);
  BOOST_REQUIRE_MESSAGE(a, "create_code: " << (a ? "" : a.error().message));
  return *a;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(wasm)

BOOST_AUTO_TEST_CASE(the_counter_example_counts_in_its_storage) {
  registry r;
  memory_hv hv(r.config());
  auto c = make(hv, example("counter"));
  BOOST_TEST(as_int(call(hv, c, "add", args(std::int64_t{5}))) == 5);
  BOOST_TEST(as_int(call(hv, c, "add", args(std::int64_t{-2}))) == 3);
  BOOST_TEST(as_int(call(hv, c, "get")) == 3);
}

BOOST_AUTO_TEST_CASE(a_value_passed_to_a_receiver) {
  registry r;
  memory_hv hv(r.config());
  auto sender = make(hv, test_module("scenarios"));
  auto receiver = make(hv, test_module("scenarios"));
  auto receive = hv.function_cap(receiver, "receive");
  BOOST_REQUIRE(receive);
  auto o = call(hv, sender, "give", args(*receive, std::int64_t{1234}));
  BOOST_TEST(!o.failed.has_value());
  BOOST_TEST(as_int(call(hv, receiver, "value")) == 1234);
  BOOST_TEST(as_int(call(hv, sender, "value")) == -1);  // the sender's storage is its own
}

BOOST_AUTO_TEST_CASE(a_callback_through_a_capability) {
  registry r;
  memory_hv hv(r.config());
  auto asker = make(hv, test_module("scenarios"));
  auto answerer = make(hv, test_module("scenarios"));
  auto answer = hv.function_cap(answerer, "answer");
  BOOST_REQUIRE(answer);
  auto o = call(hv, asker, "ask", args(*answer));
  BOOST_TEST(!o.failed.has_value());
  BOOST_TEST(as_int(call(hv, asker, "value")) == 42);  // on_answer stored the reply
}

BOOST_AUTO_TEST_CASE(a_creation_chain_and_a_forwarding_chain) {
  registry r;
  memory_hv hv(r.config());
  auto root = make(hv, example("chain"));
  const auto before = hv.stats().actors_created;
  auto o = call(hv, root, "grow", args(std::int64_t{4}), 10'000'000);
  BOOST_TEST(!o.failed.has_value(), (o.failed ? exo::to_string(*o.failed) : ""));
  BOOST_TEST(hv.stats().actors_created - before == 4u);
  // A ping from the root runs down the chain; the fifth actor (the last) keeps 4.
  BOOST_TEST(!call(hv, root, "ping", args(std::int64_t{0}), 10'000'000).failed.has_value());
  BOOST_TEST(as_int(call(hv, root, "last")) == 0);
  // The last actor is the root's 4th descendant: find it by id (each creator's first child).
  exo::id last = *hv.actor_id(root);
  for (int i = 0; i < 4; ++i) last = exo::derive_actor_id(last, 0);
  auto last_actor = hv.lookup(last, "last");
  BOOST_REQUIRE_MESSAGE(last_actor, (last_actor ? "" : last_actor.error().message));
  std::optional<exo::value> seen;
  auto out = hv.create_egress("last", [&](exo::egress_message& m) { seen = std::move(m.args[0]); });
  BOOST_REQUIRE(hv.send(*last_actor, {}, exo::send_options{.budget = 100'000, .reply_to = out}));
  hv.run();
  BOOST_REQUIRE(seen && seen->if_i64());
  BOOST_TEST(*seen->if_i64() == 4);
}

BOOST_AUTO_TEST_CASE(passing_a_capability_to_egress_delivers_the_message) {
  registry r;
  memory_hv hv(r.config());
  auto a = make(hv, test_module("scenarios"));
  std::vector<std::int64_t> seen;
  auto out = hv.create_egress("out", [&](exo::egress_message& m) {
    BOOST_REQUIRE(m.args.size() == 1u);
    seen.push_back(*m.args[0].if_i64());
  });
  auto o = call(hv, a, "give", args(out, std::int64_t{77}));
  BOOST_TEST(!o.failed.has_value());
  BOOST_TEST(seen == std::vector<std::int64_t>{77});
}

BOOST_AUTO_TEST_CASE(an_infinite_loop_ends_out_of_ticks_with_the_state_unchanged) {
  registry r;
  memory_hv hv(r.config());
  auto a = make(hv, test_module("scenarios"));
  BOOST_TEST(!call(hv, a, "receive", args(std::int64_t{5})).failed.has_value());
  auto root = hv.state_root();
  BOOST_REQUIRE(root);
  auto o = call(hv, a, "spin", {}, 50'000);
  BOOST_REQUIRE(o.failed);
  BOOST_TEST(o.failed->cause() == errc::out_of_ticks, exo::to_string(*o.failed));
  BOOST_TEST(o.ticks == 50'000u);  // every tick of the budget, no more
  BOOST_TEST(as_int(call(hv, a, "value")) == 5);  // spin's storage write was rolled back
}

BOOST_AUTO_TEST_CASE(ticks_are_executed_instructions_exactly) {
  registry r;
  memory_hv hv(r.config());
  auto a = make(hv, test_module("scenarios"));
  // fib(n) executes a fixed number of instructions; the same call costs the same ticks, and
  // a budget one tick short of that runs out.
  auto o = call(hv, a, "fib", args(std::int64_t{15}), 10'000'000);
  BOOST_TEST(as_int(o) == 610);
  const std::uint64_t cost = o.ticks;
  BOOST_TEST(cost > 10'000u);
  BOOST_TEST(call(hv, a, "fib", args(std::int64_t{15}), 10'000'000).ticks == cost);
  BOOST_TEST(as_int(call(hv, a, "fib", args(std::int64_t{15}), cost)) == 610);
  auto short_one = call(hv, a, "fib", args(std::int64_t{15}), cost - 1);
  BOOST_REQUIRE(short_one.failed);
  BOOST_TEST(short_one.failed->cause() == errc::out_of_ticks);
  // A host call's own charge counts too.
  auto dear = call(hv, a, "expensive", {}, 500'000);
  BOOST_REQUIRE(dear.failed);
  BOOST_TEST(dear.failed->cause() == errc::out_of_ticks);
}

BOOST_AUTO_TEST_CASE(the_same_workload_twice_gives_the_same_ticks_trace_and_root) {
  auto workload = [](std::vector<std::string>& trace) {
    registry r;
    memory_hv hv(r.config());
    trace_deliveries(hv, trace);
    auto ledger = make(hv, example("ledger"));
    auto chain = make(hv, example("chain"));
    auto a = make(hv, test_module("scenarios"));
    auto b = make(hv, test_module("scenarios"));
    (void)call(hv, ledger, "init");
    (void)call(hv, ledger, "mint", args(std::int64_t{1000}));
    (void)call(hv, chain, "grow", args(std::int64_t{3}), 10'000'000);
    (void)call(hv, chain, "ping", args(std::int64_t{1}), 10'000'000);
    (void)call(hv, a, "ask", args(*hv.function_cap(b, "answer")));
    (void)call(hv, a, "spin", {}, 1000);
    (void)call(hv, b, "fib", args(std::int64_t{12}), 1'000'000);
    return std::make_pair(hv.stats().ticks, *hv.state_root());
  };
  check_same_twice(workload, 10u);
}

BOOST_AUTO_TEST_CASE(memory_and_globals_belong_to_one_message) {
  registry r;
  memory_hv hv(r.config());
  auto a = make(hv, test_module("scenarios"));
  for (int i = 0; i < 3; ++i) BOOST_TEST(as_int(call(hv, a, "scratch")) == 2);
  // A trapped message's memory writes are gone too.
  BOOST_TEST(call(hv, a, "fail_after_write").failed.has_value());
  BOOST_TEST(as_int(call(hv, a, "scratch")) == 2);
  BOOST_TEST(as_int(call(hv, a, "value")) == -1);  // fail_after_write's storage write was rolled back
}

BOOST_AUTO_TEST_CASE(bytes_arguments_and_results) {
  registry r;
  memory_hv hv(r.config());
  auto a = make(hv, test_module("scenarios"));
  auto o = call(hv, a, "reverse", args(exo::bytes{1, 2, 3, 4}));
  BOOST_REQUIRE(!o.failed);
  BOOST_REQUIRE(o.result && o.result->if_bytes());
  BOOST_TEST(*o.result->if_bytes() == (exo::bytes{4, 3, 2, 1}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(each_bad_call_is_a_clean_error_for_that_message) {
  registry r;
  memory_hv hv(r.config());
  auto a = make(hv, test_module("scenarios"));
  BOOST_TEST(!call(hv, a, "receive", args(std::int64_t{1})).failed.has_value());
  const auto caps = *hv.cap_count(*hv.actor_id(a));

  auto unknown = call(hv, a, "no_such_export");
  BOOST_REQUIRE(unknown.failed);
  BOOST_TEST(unknown.failed->cause() == errc::no_such_function);

  auto wrong_type = call(hv, a, "receive", args(std::string("five")));
  BOOST_REQUIRE(wrong_type.failed);
  BOOST_TEST(wrong_type.failed->cause() == errc::type_mismatch);
  BOOST_TEST(contains(wrong_type.failed->message, "an i64 parameter takes an integer, not a string"),
             wrong_type.failed->message);
  auto wrong_count = call(hv, a, "receive", args(std::int64_t{1}, std::int64_t{2}));
  BOOST_REQUIRE(wrong_count.failed);
  BOOST_TEST(wrong_count.failed->cause() == errc::type_mismatch);

  auto oob = call(hv, a, "oob");
  BOOST_REQUIRE(oob.failed);
  BOOST_TEST(oob.failed->cause() == errc::trap);
  BOOST_TEST(contains(oob.failed->message, "out of bounds"), oob.failed->message);

  auto bad_pointer = call(hv, a, "bad_pointer");
  BOOST_REQUIRE(bad_pointer.failed);
  BOOST_TEST(bad_pointer.failed->cause() == errc::trap);
  BOOST_TEST(contains(bad_pointer.failed->message, "outside the memory"), bad_pointer.failed->message);

  auto bad_cap = call(hv, a, "bad_cap", args(std::int64_t{4242}));
  BOOST_REQUIRE(bad_cap.failed);
  BOOST_TEST(bad_cap.failed->cause() == errc::bad_capability, exo::to_string(*bad_cap.failed));

  // None of it changed the actor's storage or capabilities (its clock moved on: failed
  // messages use ticks too), and the actor still works.
  BOOST_TEST(*hv.cap_count(*hv.actor_id(a)) == caps);
  BOOST_TEST(as_int(call(hv, a, "value")) == 1);
}

BOOST_AUTO_TEST_CASE(bad_code_is_refused_and_nothing_is_created) {
  registry r;
  memory_hv hv(r.config());
  auto root = *hv.state_root();
  exo::bytes garbage{0, 'a', 's', 'm', 9, 9, 9};
  auto bad = hv.create_code("wasm", garbage);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error().code == errc::malformed);
  // A data count section that declares 4 billion segments in a module of 15 bytes (as one
  // the fuzzer found did: wabt would reserve memory for all of them before reading one).
  exo::bytes huge_count = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x0c, 0x05, 0xfe, 0xff, 0xff, 0xff, 0x0f};
  auto huge = hv.create_code("wasm", huge_count);
  BOOST_REQUIRE(!huge);
  BOOST_TEST(huge.error().code == errc::malformed);
  BOOST_TEST(contains(huge.error().message, "data count section declares 4294967294 data segments"),
             huge.error().message);
  auto unknown = hv.create_code("lua", example("counter"));
  BOOST_REQUIRE(!unknown);
  BOOST_TEST(contains(unknown.error().message, "no container named 'lua'"), unknown.error().message);
  BOOST_TEST(*hv.state_root() == root);
  BOOST_TEST(hv.stats().actors_created == 0u);
}

BOOST_AUTO_TEST_CASE(memory_over_the_limit_is_refused) {
  registry r;
  exo::container_limits l;
  l.max_memory_pages = 0;  // the counter declares one page
  r.reg.set_limits(l);
  memory_hv hv(r.config());
  auto a = hv.create_code("wasm", example("counter"));
  BOOST_REQUIRE(!a);
  BOOST_TEST(contains(a.error().message, "over the limit of 0"), a.error().message);
}

BOOST_AUTO_TEST_CASE(the_ledger_moves_balances_between_wallets_through_capabilities) {
  registry r;
  memory_hv hv(r.config());
  auto ledger = make(hv, example("ledger"));
  auto alice = make(hv, example("wallet"));
  auto bob = make(hv, example("wallet"));
  auto id_of = [&](cap_handle h) {
    auto id = *hv.actor_id(h);
    return exo::bytes(id.bytes.begin(), id.bytes.end());
  };
  BOOST_TEST(!call(hv, ledger, "init").failed.has_value());
  BOOST_TEST(!call(hv, ledger, "mint", args(std::int64_t{100})).failed.has_value());
  // The host (the owner) pays alice 60; alice pays bob 25 through her cap to transfer.
  BOOST_TEST(!call(hv, ledger, "transfer", args(id_of(alice), std::int64_t{60})).failed.has_value());
  auto transfer = hv.function_cap(ledger, "transfer");
  BOOST_REQUIRE(transfer);
  BOOST_TEST(!call(hv, alice, "pay", args(*transfer, id_of(bob), std::int64_t{25})).failed.has_value());
  BOOST_TEST(as_int(call(hv, ledger, "balance_of", args(id_of(alice)))) == 35);
  BOOST_TEST(as_int(call(hv, ledger, "balance_of", args(id_of(bob)))) == 25);
  // Overspending fails in the ledger and moves nothing.
  (void)call(hv, bob, "pay", args(*hv.function_cap(ledger, "transfer"), id_of(alice), std::int64_t{26}));
  BOOST_TEST(hv.failures().back().cause() == errc::trap);
  BOOST_TEST(as_int(call(hv, ledger, "balance_of", args(id_of(bob)))) == 25);
  // Only the owner mints.
  auto mint = hv.function_cap(ledger, "mint");
  (void)call(hv, alice, "pay", args(*mint, id_of(bob), std::int64_t{1}));  // wrong function: arity
  BOOST_TEST(hv.failures().back().cause() == errc::type_mismatch);
}

BOOST_AUTO_TEST_CASE(wasm_actors_persist_through_storage_and_their_code_in_the_tree) {
  test::temp_dir dir;
  registry r;
  exo::digest root;
  exo::id counter;
  {
    auto hv = exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store>::open(exo::lmdb_store::open(dir.path, exo::lmdb_options{.create = true}).value(),
                                                                r.config()).value();
    auto c = hv.create_code("wasm", example("counter"));
    BOOST_REQUIRE(c);
    counter = *hv.actor_id(*c);
    BOOST_TEST(as_int(call(hv, *c, "add", args(std::int64_t{41}))) == 41);
    root = *hv.commit();
  }
  // A new process: the actor's code comes from the state tree, its count from its storage.
  registry r2;
  auto hv = exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store>::open(exo::lmdb_store::open(dir.path, exo::lmdb_options{.create = true}).value(), r2.config()).value();
  BOOST_TEST(*hv.state_root() == root);
  auto add = hv.lookup(counter, "add");
  BOOST_REQUIRE_MESSAGE(add, (add ? "" : add.error().message));
  BOOST_TEST(as_int(call_fn(hv, *add, args(std::int64_t{1}))) == 42);
}

BOOST_AUTO_TEST_CASE(an_actor_whose_container_is_missing_cannot_load_and_says_why) {
  test::temp_dir dir;
  exo::id counter;
  {
    registry r;
    auto hv = exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store>::open(exo::lmdb_store::open(dir.path, exo::lmdb_options{.create = true}).value(), r.config()).value();
    counter = *hv.actor_id(*hv.create_code("wasm", example("counter")));
    BOOST_REQUIRE(hv.commit());
  }
  exo::config bare;  // no container registry
  bare.name = "wasm-test";
  auto hv = exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store>::open(exo::lmdb_store::open(dir.path, exo::lmdb_options{.create = true}).value(), bare).value();
  auto add = hv.lookup(counter, "add");
  BOOST_REQUIRE(!add);
  BOOST_TEST(contains(add.error().message, "no container registry"), add.error().message);
}

BOOST_AUTO_TEST_CASE(a_logged_hypervisor_replays_wasm_actors_and_verifies) {
  registry r;
  exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log> hv(r.config());
  auto c = hv.create_code("wasm", example("counter"));
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  auto id = *hv.actor_id(*c);
  for (std::int64_t i = 1; i <= 3; ++i) {
    auto o = hv.invoke(id, "add", args(i));
    BOOST_REQUIRE(o);
    BOOST_TEST(!o->error);
  }
  auto spin = hv.invoke(id, "add", args(std::string("x")));
  BOOST_REQUIRE(spin);
  BOOST_TEST(spin->error.has_value());
  auto verdict = exo::verify(hv.log(), [&] {
    return std::make_unique<exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log>>(r.config());
  });
  BOOST_TEST(verdict.ok(), verdict.to_string());
}

BOOST_AUTO_TEST_CASE(a_wasm_actor_sees_the_signed_caller_and_entropy_from_the_log) {
  registry r;
  using logged = exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log>;
  logged hv(r.config());
  auto c = hv.create_code("wasm", test_module("scenarios"));
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  const exo::id a = *hv.actor_id(*c);
  auto alice = exo::node_key::generate().value();
  const auto& k = alice.public_key().bytes;
  auto signed_by_alice = hv.invoke(a, "whoami", {}, {.caller = alice.public_key(), .seq = 1}).value();
  BOOST_TEST((signed_by_alice.result == exo::value(exo::bytes(k.begin(), k.end()))));
  BOOST_TEST((hv.invoke(a, "whoami", {}).value().result == exo::value(std::int64_t{0})));
  auto d1 = hv.invoke(a, "draw", {}).value().result;
  auto d2 = hv.invoke(a, "draw", {}).value().result;
  BOOST_REQUIRE(d1.if_bytes());
  BOOST_TEST(d1.if_bytes()->size() == 32u);
  BOOST_TEST((d1 != d2));
  auto verdict = exo::verify(hv.log(), [&] { return std::make_unique<logged>(r.config()); });
  BOOST_TEST(verdict.ok(), verdict.to_string());
}

BOOST_AUTO_TEST_CASE(an_exported_import_calls_the_host_directly) {
  registry r;
  memory_hv hv(r.config());
  auto a = make(hv, test_module("reexport"));
  auto left = call(hv, a, "remaining", {}, 5'000);
  BOOST_TEST(as_int(left) == 5'000);  // no instruction of the actor ran before it
  BOOST_TEST(as_int(call(hv, a, "arg_count")) == 0);
}

BOOST_AUTO_TEST_CASE(a_trap_after_growing_memory_rebuilds_the_instance_cleanly) {
  registry r;
  memory_hv hv(r.config());
  auto a = make(hv, test_module("grow_trap"));
  for (int i = 0; i < 3; ++i) {
    auto o = call(hv, a, "grow_then_trap");
    BOOST_REQUIRE(o.failed.has_value());
    BOOST_TEST(o.failed->message.find("wasm trap") != std::string::npos, o.failed->message);
    BOOST_TEST(as_int(call(hv, a, "pages")) == 1);  // the next message starts from the initial memory
  }
}

BOOST_AUTO_TEST_CASE(a_module_with_an_empty_memory_runs_message_after_message) {
  registry r;
  memory_hv hv(r.config());
  auto a = make(hv, test_module("empty_memory"));
  for (int i = 0; i < 3; ++i) BOOST_TEST(as_int(call(hv, a, "one")) == 1);
  auto o = call(hv, a, "poke");  // a store into 0 pages is out of bounds
  BOOST_REQUIRE(o.failed.has_value());
  BOOST_TEST(as_int(call(hv, a, "one")) == 1);
}

BOOST_AUTO_TEST_CASE(actors_log_lines_to_the_host) {
  registry r;
  memory_hv hv(r.config());
  std::vector<std::string> lines;
  std::vector<exo::log_level> levels;
  hv.on_log([&](const exo::id&, exo::log_level level, std::string_view text) {
    lines.emplace_back(text);
    levels.push_back(level);
  });
  auto a = make(hv, test_module("scenarios"));
  BOOST_TEST(!call(hv, a, "hello").failed.has_value());
  BOOST_TEST(lines == std::vector<std::string>{"on_answer"});
  BOOST_TEST((levels == std::vector<exo::log_level>{exo::log_level::info}));  // exo.log is info
  BOOST_TEST(!call(hv, a, "log_at", {exo::value(std::int64_t{3})}).failed.has_value());
  BOOST_TEST((levels.back() == exo::log_level::warn));
  BOOST_TEST(!call(hv, a, "log_at", {exo::value(std::int64_t{0})}).failed.has_value());
  BOOST_TEST((levels.back() == exo::log_level::trace));
  // A level that is none of them traps, and the message is rolled back.
  auto bad = call(hv, a, "log_at", {exo::value(std::int64_t{9})});
  BOOST_REQUIRE(bad.failed.has_value());
  BOOST_TEST(bad.failed->message.find("level 9") != std::string::npos, bad.failed->message);
  BOOST_TEST(lines.size() == 3u);
}

BOOST_AUTO_TEST_CASE(log_lines_are_not_state) {
  // The same calls, with a hook and without: the same roots.
  registry r;
  auto run = [&](bool hooked) {
    memory_hv hv(r.config("logs"));
    std::size_t n = 0;
    if (hooked) hv.on_log([&](const exo::id&, exo::log_level, std::string_view) { ++n; });
    auto a = make(hv, test_module("scenarios"));
    for (std::int64_t level : {0, 2, 4}) BOOST_TEST(!call(hv, a, "log_at", {exo::value(level)}).failed.has_value());
    BOOST_TEST(n == (hooked ? 3u : 0u));
    return *hv.state_root();
  };
  BOOST_TEST((run(true) == run(false)));
}

BOOST_AUTO_TEST_CASE(every_operation_that_makes_a_nan_makes_the_canonical_one) {
  registry r;
  memory_hv hv(r.config());
  auto f = make(hv, test_module("floats"));
  constexpr std::int64_t nan64 = 0x7ff8000000000000, nan32 = 0x7fc00000;
  const std::int64_t expected[] = {
      nan64, nan64, nan64, nan64, nan64, nan64, nan64, nan64, nan64,
      nan64,  // f64.promote_f32 of -nan:0x200001 (a plain conversion gives 0xfff8000020000000)
      nan64, nan32, nan32, nan32,
      nan32,  // f32.demote_f64
      nan32,
      static_cast<std::int64_t>(0x7ff4000000000001),  // f64.neg only flips the sign, as the spec says
  };
  for (std::int32_t op = 0; op < static_cast<std::int32_t>(std::size(expected)); ++op) {
    auto o = call(hv, f, "nan_bits", args(op));
    BOOST_TEST(as_int(o) == expected[op], "operation " << op << ": 0x" << std::hex << as_int(o));
  }
}

BOOST_AUTO_TEST_CASE(a_float_heavy_workload_with_nans_gives_the_same_bits_and_root_every_run) {
  registry r;
  auto run = [&] {
    memory_hv hv(r.config());
    auto f = make(hv, test_module("floats"));
    std::vector<std::int64_t> hashes;
    for (std::int64_t seed : {1, 7, -3, 1'000'000'007})
      hashes.push_back(as_int(call(hv, f, "mix", args(seed, std::int32_t{2000}), 10'000'000)));
    return std::pair{hashes, *hv.state_root()};
  };
  auto [hashes, root] = run();
  auto [again, root_again] = run();
  BOOST_TEST(hashes == again);
  BOOST_TEST((root == root_again));
  // The bits themselves, as any machine must give them (IEEE 754 add, sub, mul, div and sqrt
  // are exact-rounded; every NaN is the canonical one).
  const std::vector<std::int64_t> bits{static_cast<std::int64_t>(0xad5a9b4de3079a37), static_cast<std::int64_t>(0xfcb607d47c5664b9),
                                       0x4293cf85e3b64201, 0x615cd1d99bf08378};
  BOOST_TEST(hashes == bits);
  BOOST_TEST(exo::to_hex(root) == "c320daff4e4b55b697e9cd8950b61e51bd5fc2eee3502be43fc57a409b4a8736");
}

// Wasm instances run on any thread (EXO_PLUGIN_ANY_THREAD): eight counters, each sent a
// burst of adds, give the ordered trace and root with every window run on two threads.
BOOST_AUTO_TEST_CASE(wasm_actors_in_parallel_windows_give_the_ordered_trace_and_root) {
  registry r;
  check_parallel_like_ordered(
      r,
      [](auto& hv) {
        auto a = hv.create_code("wasm", example("counter"));
        BOOST_REQUIRE(a);
        return *hv.function_cap(*a, "add");
      },
      8, 20);
}

BOOST_AUTO_TEST_SUITE_END()

