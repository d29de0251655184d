// The wasm container against bare wabt, in one process (bench_wasm prints the ratios):
// one message into a wasm actor vs one Func::Call on a reused thread, a wasm-to-host call,
// metering (fib with a budget vs without), and instantiating an actor.
#include "ratio_reporter.hpp"
#include "wasm_bare.hpp"

#include <exo/hypervisor.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

namespace {

using hv_t = exo::hypervisor<exo::ordered_scheduler, exo::memory_store>;

exo::bytes bench_module() {
  std::ifstream in(EXO_BENCH_WASM, std::ios::binary);
  if (!in) {
    fmt::print(stderr, "bench_wasm: cannot read {}\n", EXO_BENCH_WASM);
    std::abort();
  }
  return exo::bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

template <class T>
T must(exo::expected<T> r, const char* what) {
  if (!r) {
    fmt::print(stderr, "bench_wasm: {}: {}\n", what, to_string(r.error()));
    std::abort();
  }
  return std::move(*r);
}

// exo's side: the plugin loaded, one hypervisor, one actor of bench.wasm.
struct exo_side {
  exo::container_registry reg;
  std::unique_ptr<hv_t> hv;
  exo::cap_handle actor{}, add{}, host_calls{}, loop{}, fib{};
  exo_side() {
    reg.add_search_dir(EXO_BENCH_PLUGIN_DIR);
    must(reg.load_named("wasm"), "loading the wasm plugin");
    exo::config c;
    c.containers = &reg;
    hv = std::make_unique<hv_t>(c);
    actor = must(hv->create_code("wasm", bench_module()), "creating the actor");
    add = must(hv->function_cap(actor, "add"), "add");
    host_calls = must(hv->function_cap(actor, "host_calls"), "host_calls");
    loop = must(hv->function_cap(actor, "loop"), "loop");
    fib = must(hv->function_cap(actor, "fib"), "fib");
  }
  // Sends one message and runs it; aborts if it failed (a failure would be measured instead).
  void message(exo::cap_handle f, exo::arg_list args, std::uint64_t budget) {
    (void)hv->send(f, std::move(args), exo::send_options{.budget = budget});
    hv->run();
    if (!hv->failures().empty()) {
      fmt::print(stderr, "bench_wasm: a message failed: {}\n", to_string(hv->failures().front()));
      std::abort();
    }
  }
};
exo_side& exo_() {
  static exo_side s;
  return s;
}
bare::module* bare_() {
  static const exo::bytes code = bench_module();
  static bare::module* m = bare::load(code.data(), code.size());
  return m;
}

// ---------------------------------------------------------------- one message vs one call

// One message into a wasm actor: add(1, 2), delivered, run, committed to the actor.
void wasm_message(benchmark::State& state) {
  auto& s = exo_();
  for (auto _ : state) s.message(s.add, exo::context::make_args(std::int64_t{1}, std::int64_t{2}), 1'000);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(wasm_message)->Name("wasm/message");

// For scale: one message into a native actor doing the same (the kernel's own cost).
struct native_adder {
  std::int64_t add(exo::context&, std::int64_t a, std::int64_t b) { return a + b; }
  static constexpr std::string_view exo_name = "adder";
  static constexpr auto exo_exports = exo::exports(exo::fn<&native_adder::add>("add", 1));
};
void native_message(benchmark::State& state) {
  auto& s = exo_();
  static exo::cap_handle add = must(s.hv->function_cap(s.hv->create(native_adder{}), "add"), "native add");
  for (auto _ : state) s.message(add, exo::context::make_args(std::int64_t{1}, std::int64_t{2}), 1'000);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(native_message)->Name("wasm/native_message");

// The same function through bare wabt: Func::Call on a thread reused for every call.
void bare_call(benchmark::State& state) {
  auto* m = bare_();
  std::uint64_t x = 0;
  for (auto _ : state) x = bare::add(m, x, 1);
  benchmark::DoNotOptimize(x);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bare_call)->Name("wasm/bare_call");

// ---------------------------------------------------------------- calls into the host

constexpr std::uint32_t host_calls_per_message = 1000;

// A loop calling exo.now 1000 times, and the same loop without the call (subtracted).
void wasm_host_calls(benchmark::State& state) {
  auto& s = exo_();
  for (auto _ : state)
    s.message(s.host_calls, exo::context::make_args(std::int64_t{host_calls_per_message}), 1'000'000);
  state.SetItemsProcessed(state.iterations() * host_calls_per_message);
}
BENCHMARK(wasm_host_calls)->Name("wasm/host_calls");
void wasm_loop(benchmark::State& state) {
  auto& s = exo_();
  for (auto _ : state) s.message(s.loop, exo::context::make_args(std::int64_t{host_calls_per_message}), 1'000'000);
  state.SetItemsProcessed(state.iterations() * host_calls_per_message);
}
BENCHMARK(wasm_loop)->Name("wasm/loop");
void bare_host_calls(benchmark::State& state) {
  auto* m = bare_();
  for (auto _ : state) bare::host_calls(m, host_calls_per_message);
  state.SetItemsProcessed(state.iterations() * host_calls_per_message);
}
BENCHMARK(bare_host_calls)->Name("wasm/bare_host_calls");
void bare_loop(benchmark::State& state) {
  auto* m = bare_();
  for (auto _ : state) bare::loop(m, host_calls_per_message);
  state.SetItemsProcessed(state.iterations() * host_calls_per_message);
}
BENCHMARK(bare_loop)->Name("wasm/bare_loop");

// ---------------------------------------------------------------- metering

constexpr std::int64_t fib_n = 20;

// fib(20) as a message with a budget: every instruction counted, the run bounded.
void wasm_fib(benchmark::State& state) {
  auto& s = exo_();
  for (auto _ : state) s.message(s.fib, exo::context::make_args(fib_n), 100'000'000);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(wasm_fib)->Name("wasm/fib_metered")->Unit(benchmark::kMicrosecond);
// fib(20) through bare wabt, without a budget.
void bare_fib(benchmark::State& state) {
  auto* m = bare_();
  for (auto _ : state) benchmark::DoNotOptimize(bare::fib(m, static_cast<std::uint64_t>(fib_n)));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bare_fib)->Name("wasm/bare_fib")->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------- instantiation

// A new instance of compiled code, as the kernel makes one per actor (and frees it).
void wasm_instantiate(benchmark::State& state) {
  auto& s = exo_();
  static exo::code_ptr code = must(s.reg.compile(EXO_TYPE_WASM, bench_module()), "compile");
  for (auto _ : state) {
    void* inst = must(code->load(*code, exo::value{}), "instantiate");
    code->destroy(inst);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(wasm_instantiate)->Name("wasm/instantiate")->Unit(benchmark::kMicrosecond);
void bare_instantiate(benchmark::State& state) {
  auto* m = bare_();
  for (auto _ : state) bare::destroy(bare::instantiate(m));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bare_instantiate)->Name("wasm/bare_instantiate")->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  exo::bench::ratio_reporter reporter;
  if (!exo::bench::run_benchmarks(argc, argv, reporter)) return 1;
  auto ns = [&](const char* name) { return reporter.ns(name); };
  if (double msg = ns("wasm/message"), bare = ns("wasm/bare_call"); msg > 0 && bare > 0)
    fmt::print("wasm message/bare call: {:.2f} (exo {:.0f} ns, bare wabt {:.0f} ns; exo's overhead is {:.2f}x the bare "
               "call; a message into a native actor costs {:.0f} ns)\n",
               msg / bare, msg, bare, (msg - bare) / bare, ns("wasm/native_message"));
  if (double h = ns("wasm/host_calls"), l = ns("wasm/loop"), bh = ns("wasm/bare_host_calls"), bl = ns("wasm/bare_loop");
      h > 0 && l > 0 && bh > 0 && bl > 0)
    fmt::print("wasm-to-host call: exo {:.1f} ns, bare wabt {:.1f} ns (the loop around it subtracted)\n", h - l, bh - bl);
  if (double f = ns("wasm/fib_metered"), b = ns("wasm/bare_fib"); f > 0 && b > 0)
    fmt::print("metering overhead (fib {} as a message with a budget, over bare wabt without): {:.1f}%\n", fib_n,
               (f / b - 1) * 100);
  if (double i = ns("wasm/instantiate"), b = ns("wasm/bare_instantiate"); i > 0 && b > 0) {
    auto& s = exo_();
    auto code = must(s.reg.compile(EXO_TYPE_WASM, bench_module()), "compile");
    double exo_bytes = exo::bench::bytes_per_instance([&] { return must(code->load(*code, exo::value{}), "instantiate"); },
                                          [&](void* p) { code->destroy(p); });
    double bare_bytes = exo::bench::bytes_per_instance([] { return bare::instantiate(bare_()); }, [](void* p) { bare::destroy(p); });
    fmt::print("instantiation: exo {:.1f} us and {:.1f} KiB per actor, bare wabt {:.1f} us and {:.1f} KiB\n", i / 1000,
               exo_bytes / 1024, b / 1000, bare_bytes / 1024);
  }
  return 0;
}
