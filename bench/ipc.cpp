// IPC benchmarks: exo's hot path against the C++ Actor Framework 0.17, same workloads,
// same process, both on one thread. Ends by printing `exo/caf <workload>: <ratio>` lines
// (how many times faster exo is), which scripts read.

#include "caf_workloads.hpp"
#include "ipc_actors.hpp"
#include "ratio_reporter.hpp"

#include <exo/hypervisor.hpp>

#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>

namespace {

using namespace ipc;

// ============================================================ (a) ping-pong

constexpr std::int64_t round_trips = 100'000;

template <class Scheduler>
void exo_ping_pong(benchmark::State& state) {
  exo::hypervisor<Scheduler> hv;
  auto a = hv.create(player{}), b = hv.create(player{});
  check(bool(hv.call(fn(hv, a, "meet"), fn(hv, b, "ball"))), "meet");
  check(bool(hv.call(fn(hv, b, "meet"), fn(hv, a, "ball"))), "meet");
  hv.run();
  auto serve = fn(hv, a, "ball");
  for (auto _ : state) {
    check(bool(hv.send(serve, context::make_args(2 * round_trips), {.budget = huge_budget})), "serve");
    benchmark::DoNotOptimize(hv.run());
  }
  check(hv.stats().failed == 0, "no failures");
  state.SetItemsProcessed(state.iterations() * 2 * round_trips);
}
BENCHMARK(exo_ping_pong<exo::ordered_scheduler>)->Name("exo/ping_pong")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(exo_ping_pong<exo::fifo_scheduler>)->Name("exo_fifo/ping_pong")->Unit(benchmark::kMillisecond)->UseRealTime();

void caf_ping_pong(benchmark::State& state) {
  auto sys = exo::bench::caf_side::make_system();
  for (auto _ : state) exo::bench::caf_side::ping_pong(*sys, round_trips);
  state.SetItemsProcessed(state.iterations() * 2 * round_trips);
}
BENCHMARK(caf_ping_pong)->Name("caf/ping_pong")->Unit(benchmark::kMillisecond)->UseRealTime();

// ============================================================ (b) one sender, one receiver

constexpr std::int64_t blast_size = 1'000'000;

// A million messages per iteration, in blasts of PerBlast: (b) is one blast of a million.
// In blasts of 1,000 the outbox stays in cache, so the difference from (b) is what a million
// queued messages cost in memory traffic (exo only; CAF's (b) is one blast). Both sides run
// one untimed round first: what is timed is a stream in a running system, not the first
// touch of the memory a million queued messages take (exo's outboxes, CAF's mailbox cells).
template <class Scheduler, std::int64_t PerBlast>
void exo_one_to_one(benchmark::State& state) {
  exo::hypervisor<Scheduler> hv;
  auto s = hv.create(sink{});
  auto take = fn(hv, s, "take");
  auto blast = fn(hv, hv.create(blaster{}), "blast");
  auto round = [&] {
    for (std::int64_t sent = 0; sent < blast_size; sent += PerBlast) {
      check(bool(hv.send(blast, context::make_args(PerBlast, take), {.budget = huge_budget})), "blast");
      benchmark::DoNotOptimize(hv.run());
    }
  };
  round();
  for (auto _ : state) round();
  check(hv.template state_of<sink>(*hv.actor_id(s))->received == blast_size * (state.iterations() + 1), "all received");
  state.SetItemsProcessed(state.iterations() * blast_size);
}
BENCHMARK(exo_one_to_one<exo::ordered_scheduler, blast_size>)
    ->Name("exo/one_to_one")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(exo_one_to_one<exo::fifo_scheduler, blast_size>)
    ->Name("exo_fifo/one_to_one")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(exo_one_to_one<exo::ordered_scheduler, 1000>)
    ->Name("exo/one_to_one_1k")->Unit(benchmark::kMillisecond)->UseRealTime();

void caf_one_to_one(benchmark::State& state) {
  auto sys = exo::bench::caf_side::make_system();
  exo::bench::caf_side::one_to_one(*sys, blast_size);  // the untimed round (see exo_one_to_one)
  for (auto _ : state) exo::bench::caf_side::one_to_one(*sys, blast_size);
  state.SetItemsProcessed(state.iterations() * blast_size);
}
BENCHMARK(caf_one_to_one)->Name("caf/one_to_one")->Unit(benchmark::kMillisecond)->UseRealTime();

// ============================================================ (c) fan-out 1 -> 1000 -> fan-in

constexpr std::int64_t fan_width = 1000;

template <class Scheduler>
void exo_fan(benchmark::State& state) {
  exo::hypervisor<Scheduler> hv;
  auto [c, go] = hire_fan(hv, fan_width);
  for (auto _ : state) {
    check(bool(hv.send(go, {}, {.budget = huge_budget})), "go");
    benchmark::DoNotOptimize(hv.run());
  }
  check(hv.template state_of<coordinator>(*hv.actor_id(c))->replies == fan_width * state.iterations(), "replies");
  state.SetItemsProcessed(state.iterations() * 2 * fan_width);
}
BENCHMARK(exo_fan<exo::ordered_scheduler>)->Name("exo/fan_out_in")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(exo_fan<exo::fifo_scheduler>)->Name("exo_fifo/fan_out_in")->Unit(benchmark::kMicrosecond)->UseRealTime();

void caf_fan(benchmark::State& state) {
  auto sys = exo::bench::caf_side::make_system();
  auto f = exo::bench::caf_side::prepare_fan(*sys, fan_width);
  for (auto _ : state) exo::bench::caf_side::fan_out_in(*f);
  state.SetItemsProcessed(state.iterations() * 2 * fan_width);
}
BENCHMARK(caf_fan)->Name("caf/fan_out_in")->Unit(benchmark::kMicrosecond)->UseRealTime();

// ============================================================ (d) spawning 100,000 actors

constexpr std::int64_t spawn_count = 100'000;

// Spawned by an actor (as CAF's are), then torn down with the hypervisor: spawn + teardown.
void exo_spawn(benchmark::State& state) {
  for (auto _ : state) {
    exo::hypervisor<> hv;
    check(bool(hv.send(fn(hv, hv.create(spawner{}), "spawn"), context::make_args(spawn_count),
                       {.budget = huge_budget})),
          "spawn");
    hv.run();
    check(hv.actor_count() == spawn_count + 1, "all spawned");
  }
  state.SetItemsProcessed(state.iterations() * spawn_count);
}
BENCHMARK(exo_spawn)->Name("exo/spawn")->Unit(benchmark::kMillisecond)->UseRealTime();

void caf_spawn(benchmark::State& state) {
  auto sys = exo::bench::caf_side::make_system();
  for (auto _ : state) exo::bench::caf_side::spawn(*sys, spawn_count);
  state.SetItemsProcessed(state.iterations() * spawn_count);
}
BENCHMARK(caf_spawn)->Name("caf/spawn")->Unit(benchmark::kMillisecond)->UseRealTime();

// ============================================================ memory of an idle actor

// Heap growth per idle actor: its record, state, id index entry and the creator's
// capability for it (all of it counted; CAF's figure excludes the caller's handle array).
double exo_idle_actor_bytes(std::int64_t n) {
  exo::hypervisor<> hv;
  auto sp = fn(hv, hv.create(spawner{}), "spawn");
  struct mallinfo2 before = mallinfo2();
  check(bool(hv.send(sp, context::make_args(n), {.budget = huge_budget})), "spawn");
  hv.run();
  struct mallinfo2 after = mallinfo2();
  return static_cast<double>(after.uordblks - before.uordblks) / static_cast<double>(n);
}

// ============================================================ the ratio lines

}  // namespace

int main(int argc, char** argv) {
  exo::bench::ratio_reporter reporter;
  if (!exo::bench::run_benchmarks(argc, argv, reporter)) return 1;

  auto& t = reporter.ns_per_item();
  std::printf("\nper message (per actor for spawn), one thread:\n");
  for (auto& [name, ns] : t) std::printf("  %-24s %9.1f ns\n", name.c_str(), ns);
  std::printf("\n");
  for (const char* w : {"ping_pong", "one_to_one", "fan_out_in", "spawn"}) {
    if (double r = reporter.ratio(std::string("caf/") + w, std::string("exo/") + w); r > 0)
      std::printf("exo/caf %s: %.2f\n", w, r);
  }
  // Idle memory is measured outside the timing loop, on 100,000 actors each.
  double exo_bytes = exo_idle_actor_bytes(spawn_count);
  auto sys = exo::bench::caf_side::make_system();
  double caf_bytes = exo::bench::caf_side::idle_actor_bytes(*sys, spawn_count);
  std::printf("idle actor memory: exo %.0f bytes, caf %.0f bytes\n", exo_bytes, caf_bytes);
  if (exo_bytes > 0 && caf_bytes > 0) std::printf("exo/caf idle_actor_memory: %.2f\n", caf_bytes / exo_bytes);
  return 0;
}
