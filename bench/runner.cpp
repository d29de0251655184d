// The runners' hand-off: the same engine (it copies the request) run inline, on a worker
// thread, and in a child process, for a small and a 64 KiB request. What the thread and the
// process add over inline is the price of their isolation; main() prints it per run:
// `runner thread hand-off: N us/run` and `runner process hand-off: N us/run`.

#include <exo/runner/process.hpp>
#include <exo/runner/thread.hpp>

#include "ratio_reporter.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdlib>
#include <map>
#include <string>

namespace {

exo::engine copy_engine() {
  return [](exo::byte_view in, const exo::run_log&) -> exo::expected<exo::bytes> { return exo::bytes(in.begin(), in.end()); };
}

template <class Runner>
void run_loop(benchmark::State& state, Runner& r) {
  const exo::bytes request(static_cast<std::size_t>(state.range(0)), 0x5a);
  if (!r.init(exo::log_level::info)) {
    state.SkipWithError("init failed");
    return;
  }
  for (auto _ : state) {
    auto out = r.run(request);
    if (!out || out->size() != request.size()) {
      state.SkipWithError("run failed");
      break;
    }
    benchmark::DoNotOptimize(out->data());
  }
  (void)r.terminate();
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void BM_runner_inline(benchmark::State& state) {
  exo::inline_runner r(copy_engine());
  run_loop(state, r);
}
void BM_runner_thread(benchmark::State& state) {
  exo::thread_runner r(copy_engine());
  run_loop(state, r);
}
void BM_runner_process(benchmark::State& state) {
  exo::process_runner r({.command = {EXO_BENCH_RUNNER_CHILD, "--child"}});
  run_loop(state, r);
}
BENCHMARK(BM_runner_inline)->Arg(16)->Arg(65536);
BENCHMARK(BM_runner_thread)->Arg(16)->Arg(65536)->UseRealTime();
BENCHMARK(BM_runner_process)->Arg(16)->Arg(65536)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--child") return exo::serve_runner(copy_engine());
  benchmark::Initialize(&argc, argv);
  exo::bench::real_time_reporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  for (const char* size : {"16", "65536"}) {
    auto in = rep.ns.find(fmt::format("BM_runner_inline/{}", size));
    if (in == rep.ns.end()) continue;
    for (const char* kind : {"thread", "process"}) {
      auto it = rep.ns.find(fmt::format("BM_runner_{}/{}/real_time", kind, size));
      if (it != rep.ns.end())
        fmt::print("runner {} hand-off, {} B request: {:.2f} us/run\n", kind, size, (it->second - in->second) / 1000.0);
    }
  }
  benchmark::Shutdown();
  return 0;
}
