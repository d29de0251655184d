// Fixed workloads for counting instructions: run one under callgrind, twice with different
// message counts, and divide the difference by the difference in messages. Unlike timings on
// a shared machine, the count is the same on every run (valgrind counts instructions, not
// seconds), so a change of a few instructions per message on a hot path shows.
//
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null ./bench/bench_count one_to_one 100000
//   (and 200000; `bash tools/dev.sh count` does it for every workload)
//
// Workloads: ping_pong, one_to_one, fan_out_in (N messages each), spawn (N actors),
// wasm_message (N messages into a wasm actor, add(1, 2)), js_message (N messages into a JS
// actor, add(1, 2); its realm warm: the same script as bench_js's), logged_invoke (N logged inputs in
// memory, heads unsigned so that signing does not drown the rest), fan16 (fan_out_in with 16
// workers). "par_" before ping_pong, one_to_one, fan_out_in or fan16: the same on
// parallel_scheduler<2> with every window delivered in place.

#include "ipc_actors.hpp"

#include <exo/hypervisor.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string_view>
#include <vector>

namespace {

using namespace ipc;

/// A persistable counter, for logged inputs.
struct tally {
  BOOST_HANA_DEFINE_STRUCT(tally, (std::int64_t, n));
  std::int64_t add(context&, std::int64_t by) { return n += by; }
  static constexpr std::string_view exo_name = "tally";
  static constexpr auto exo_exports = exo::exports(exo::fn<&tally::add>("add", 1));
};

}  // namespace

/// The IPC workloads, on a hypervisor with scheduler S; false for an unknown workload.
template <class S>
bool ipc_workload(std::string_view w, std::int64_t n) {
  exo::hypervisor<S> hv;
  // Never a parallel window: what is counted is the loop's cost to a message that runs
  // serially (the choice is made by timing, which valgrind slows down 50 times).
  if constexpr (exo::parallel_policy<S>) hv.scheduler().tuning.min_window_ns = UINT64_MAX;
  if (w == "ping_pong") {
    auto a = hv.create(player{}), b = hv.create(player{});
    check(bool(hv.call(fn(hv, a, "meet"), fn(hv, b, "ball"))), "meet");
    check(bool(hv.call(fn(hv, b, "meet"), fn(hv, a, "ball"))), "meet");
    hv.run();
    check(bool(hv.send(fn(hv, a, "ball"), context::make_args(n), {.budget = huge_budget})), "serve");
  } else if (w == "one_to_one") {
    // Blasts of 1,000 (bench_ipc's (b) is one blast of a million): the batch is reused, as in
    // any steady state, so what is counted is a message, not the outbox growing.
    auto s = hv.create(sink{});
    auto take = fn(hv, s, "take");
    auto blast = fn(hv, hv.create(blaster{}), "blast");
    for (std::int64_t i = 0; i < n / 1000; ++i) {
      check(bool(hv.send(blast, context::make_args(std::int64_t{1000}, take), {.budget = huge_budget})), "blast");
      hv.run();
    }
  } else if (w == "fan_out_in" || w == "fan16") {
    // fan16: 16 workers, each go a run() of its own (bench_parallel's fine-grained point)
    const int workers = w == "fan16" ? 16 : 1000;
    auto go = hire_fan(hv, workers).second;
    for (std::int64_t i = 0; i < n / (2 * workers); ++i) {  // each go is 2 x workers messages: out and back
      check(bool(hv.send(go, {}, {.budget = huge_budget})), "go");
      hv.run();
    }
  } else if (w == "spawn") {
    check(bool(hv.send(fn(hv, hv.create(spawner{}), "spawn"), context::make_args(n), {.budget = huge_budget})), "spawn");
  } else {
    return false;
  }
  hv.run();
  check(hv.stats().failed == 0, "no failures");
  return true;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: bench_count WORKLOAD N\n");
    return 2;
  }
  const std::string_view w = argv[1];
  const std::int64_t n = std::atoll(argv[2]);
  if (w == "logged_invoke") {
    exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log> hv(exo::config{.name = "count"});
    hv.sign_log(false);
    hv.register_type<tally>();
    const exo::id id = *hv.actor_id(hv.create(tally{}).value());
    for (std::int64_t i = 0; i < n; ++i) check(hv.invoke(id, "add", {i % 100}).has_value(), "invoke");
    return 0;
  }
  if (w == "wasm_message") {
    exo::container_registry reg;
    reg.add_search_dir(EXO_BENCH_PLUGIN_DIR);
    check(reg.load_named("wasm").has_value(), "loading the wasm plugin");
    std::ifstream in(EXO_BENCH_WASM, std::ios::binary);
    exo::bytes code((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    exo::hypervisor<> hv(exo::config{.containers = &reg});
    auto add = fn(hv, hv.create_code("wasm", code).value(), "add");
    for (std::int64_t i = 0; i < n; ++i) {
      check(bool(hv.send(add, context::make_args(std::int64_t{1}, std::int64_t{2}), {.budget = 1000})), "send");
      hv.run();
    }
    check(hv.failures().empty(), "no failures");
    return 0;
  }
#ifdef EXO_BENCH_JS
  if (w == "js_message") {
    exo::container_registry reg;
    reg.add_search_dir(EXO_BENCH_PLUGIN_DIR);
    check(reg.load_named("js").has_value(), "loading the js plugin");
    const std::string_view script = "exports.add = (a, b) => a + b\n";
    exo::hypervisor<> hv(exo::config{.containers = &reg});
    auto add = fn(hv, hv.create_code("js", exo::bytes(script.begin(), script.end())).value(), "add");
    for (std::int64_t i = 0; i < n; ++i) {
      check(bool(hv.send(add, context::make_args(std::int64_t{1}, std::int64_t{2}), {.budget = 100'000})), "send");
      hv.run();
    }
    check(hv.failures().empty(), "no failures");
    return 0;
  }
#endif
  // "par_" before a workload: the same on parallel_scheduler<2>, every window serial.
  const bool ok = w.starts_with("par_") ? ipc_workload<exo::parallel_scheduler<2>>(w.substr(4), n)
                                        : ipc_workload<exo::ordered_scheduler>(w, n);
  if (!ok) {
    std::fprintf(stderr, "bench_count: no workload '%s'\n", argv[1]);
    return 2;
  }
  return 0;
}