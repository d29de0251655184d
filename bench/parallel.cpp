// bench_parallel: parallel_scheduler<2> against ordered_scheduler, in one process (issue 19).
//
// The workload is scatter/gather: the host asks a coordinator for a round, the coordinator
// sends one job to each of 16 workers (one window: the jobs are stamped alike), and each
// worker does real work, SHA-256 chained `rounds` times, and tells a collector. The work per
// message is swept from none (a fine-grained message, well under a microsecond) to 100 us.
// Three policies run each point: ordered_scheduler, parallel_scheduler<2> as tuned by
// default (windows estimated under 50 us run in place), and parallel_scheduler<2> forced to
// run every window in parallel (min_window_ns = 0), which shows where parallel windows start
// to pay: the break-even, printed at the end with every speedup.
//
// Before timing, each policy runs the same 20 rounds of every point from scratch, and the
// state roots must be equal (the program fails otherwise).

#include "ratio_reporter.hpp"

#include <exo/core/hash.hpp>
#include <exo/exo.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using exo::cap_handle;
using exo::context;

/// Chains SHA-256 `rounds` times per job and charges a tick per round.
struct worker {
  exo::digest acc{};
  std::int64_t jobs = 0;
  cap_handle collector{};
  void attach(context&, cap_handle c) { collector = c; }
  void job(context& ctx, std::int64_t rounds) {
    exo::digest h = acc;
    for (std::int64_t i = 0; i < rounds; ++i) h = exo::hash(exo::byte_view(h.bytes.data(), h.bytes.size()));
    acc = h;
    ++jobs;
    (void)ctx.charge(static_cast<std::uint64_t>(rounds));
    (void)ctx.call_with(collector, exo::send_options{.budget = 10}, static_cast<std::int64_t>(h.bytes[0]));
  }
  static constexpr std::string_view exo_name = "worker";
  static constexpr auto exo_exports = exo::exports(exo::fn<&worker::attach>("attach", 1), exo::fn<&worker::job>("job", 2));
};

struct collector {
  std::int64_t sum = 0;
  void got(context&, std::int64_t v) { sum += v; }
  static constexpr std::string_view exo_name = "collector";
  static constexpr auto exo_exports = exo::exports(exo::fn<&collector::got>("got", 1));
};

struct coordinator {
  std::vector<cap_handle> workers;
  void setup(context&, std::vector<cap_handle> w) { workers = std::move(w); }
  void round(context& ctx, std::int64_t rounds) {
    for (auto w : workers) (void)ctx.call_with(w, exo::send_options{.budget = 1'000'000}, rounds);
  }
  static constexpr std::string_view exo_name = "coordinator";
  static constexpr auto exo_exports =
      exo::exports(exo::fn<&coordinator::setup>("setup", 1), exo::fn<&coordinator::round>("round", 1));
};

constexpr int workers = 16;

template <class Scheduler>
struct scatter {
  exo::hypervisor<Scheduler> hv;
  cap_handle round;
  explicit scatter(bool forced) {
    if constexpr (exo::parallel_policy<Scheduler>)
      if (forced) hv.scheduler().tuning.min_window_ns = 0;
    (void)forced;
    std::vector<cap_handle> jobs;
    auto got = *hv.function_cap(hv.create(collector{}), "got");
    for (int i = 0; i < workers; ++i) {
      auto w = hv.create(worker{});
      jobs.push_back(*hv.function_cap(w, "job"));
      (void)hv.call(*hv.function_cap(w, "attach"), got);
    }
    auto c = hv.create(coordinator{});
    (void)hv.call(*hv.function_cap(c, "setup"), jobs);
    hv.run();
    round = *hv.function_cap(c, "round");
  }
  void run_round(std::int64_t rounds) {
    (void)hv.send(round, context::make_args(rounds), exo::send_options{.budget = std::uint64_t{1} << 40});
    hv.run();
  }
};

/// SHA-256 chain rounds that take about `us` microseconds on this machine.
std::int64_t rounds_for(double us) {
  static const double ns_per_round = [] {
    exo::digest h{};
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 200'000; ++i) h = exo::hash(exo::byte_view(h.bytes.data(), h.bytes.size()));
    benchmark::DoNotOptimize(h);
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / 200'000;
  }();
  return static_cast<std::int64_t>(us * 1000 / ns_per_round);
}

template <class Scheduler>
void bm_scatter(benchmark::State& state, double us, bool forced) {
  scatter<Scheduler> s(forced);
  const std::int64_t rounds = rounds_for(us);
  for (auto _ : state) s.run_round(rounds);
  state.SetItemsProcessed(state.iterations() * workers);
  state.counters["rounds"] = static_cast<double>(rounds);
  if constexpr (exo::parallel_policy<Scheduler>) {
    const auto& c = s.hv.scheduler().counts;
    state.counters["parallel_windows"] =
        c.windows ? static_cast<double>(c.parallel_windows) / static_cast<double>(c.windows) : 0;
  }
}

template <class Scheduler>
exo::digest root_after(double us, bool forced) {
  scatter<Scheduler> s(forced);
  for (int i = 0; i < 20; ++i) s.run_round(rounds_for(us));
  if (!s.hv.failures().empty())
    throw std::runtime_error("bench_parallel: a message failed: " + s.hv.failures().front().message);
  if (s.hv.stats().failed != 0)
    throw std::runtime_error(fmt::format("bench_parallel: {} messages failed", s.hv.stats().failed));
  if (s.hv.stats().delivered < 20u * (2 * workers + 1))
    throw std::runtime_error("bench_parallel: fewer deliveries than the workload makes");
  return *s.hv.state_root();
}

const std::vector<double> work_us = {0, 0.5, 1, 2, 5, 10, 25, 50, 100};

std::string name(const char* policy, double us) { return fmt::format("scatter/{}/{}us", policy, us); }

}  // namespace

int main(int argc, char** argv) {
  using par = exo::parallel_scheduler<2>;
  bool same = true;
  for (double us : work_us) {
    const auto a = root_after<exo::ordered_scheduler>(us, false);
    const auto b = root_after<par>(us, false);
    const auto c = root_after<par>(us, true);
    if (!(a == b) || !(a == c)) {
      std::fprintf(stderr, "bench_parallel: roots differ at %g us: ordered %s, parallel %s, forced %s\n", us,
                   exo::to_hex(a).c_str(), exo::to_hex(b).c_str(), exo::to_hex(c).c_str());
      same = false;
    }
  }
  if (!same) return 1;
  std::printf("roots: ordered, parallel and forced parallel agree at every point\n");
  for (double us : work_us) {
    benchmark::RegisterBenchmark(name("ordered", us).c_str(), [us](benchmark::State& s) {
      bm_scatter<exo::ordered_scheduler>(s, us, false);
    })->UseRealTime();
    benchmark::RegisterBenchmark(name("parallel", us).c_str(), [us](benchmark::State& s) {
      bm_scatter<par>(s, us, false);
    })->UseRealTime();
    benchmark::RegisterBenchmark(name("forced", us).c_str(), [us](benchmark::State& s) {
      bm_scatter<par>(s, us, true);
    })->UseRealTime();
  }
  exo::bench::ratio_reporter reporter;
  if (!exo::bench::run_benchmarks(argc, argv, reporter)) return 1;
  double break_even = -1;
  for (double us : work_us) {
    const double serial = reporter.ns(name("ordered", us));
    if (serial == 0) continue;
    const double p = reporter.ns(name("parallel", us)), f = reporter.ns(name("forced", us));
    std::printf("parallel/serial %gus: %.2fx (forced: %.2fx)\n", us, p > 0 ? serial / p : 0, f > 0 ? serial / f : 0);
    if (break_even < 0 && f > 0 && serial / f >= 1.0) break_even = us;
  }
  if (break_even >= 0)
    std::printf("break-even: forced parallel windows pay from %g us of work per message (16 per window)\n", break_even);
  return 0;
}
