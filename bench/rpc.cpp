// The RPC server end to end: durable calls per second over one connection and over 16, the
// latency of one call, how long packing and booting the example application take, and an
// upgrade of a node with 10,000 calls in its log (exo upgrade: the check and the switch).
//
// Every call is a logged input whose reply is sent only after its commit is on disk. One
// connection waits for each reply, so it pays a commit's syncs per call. With 16 connections
// the server runs every call that arrived meanwhile as one batch (group commit, each call
// still its own log entry), and the store writes batches behind, while the next one runs:
// everything queued goes to the store's journal in one write and one fdatasync, and to
// data.mdb in bulk about every 20 ms. Goal: at least 10,000 durable calls/s with 16
// connections. main() prints `rpc 16 connections: N calls/s (goal 10000): ratio R`, the calls
// per batch, the calls per disk write (journal write) and the calls per LMDB transaction.
//
// The data directory is made under EXO_BENCH_DIR (default: the current directory), so that
// fsync hits a real disk, not a tmpfs.

#include "ratio_reporter.hpp"

#include <exo/boot/node.hpp>
#include <exo/boot/upgrade.hpp>
#include <exo/core/sealed_file.hpp>
#include <exo/rpc/client.hpp>
#include <exo/rpc/server.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace {

namespace fs = std::filesystem;
using exo::rpc::json;

void check(bool ok, const std::string& what) {
  if (!ok) {
    fmt::print(stderr, "benchmark setup failed: {}\n", what);
    std::abort();
  }
}

// A scratch directory beside the benchmark (on disk), removed at the end.
struct scratch {
  std::string path;
  scratch() {
    const char* base = std::getenv("EXO_BENCH_DIR");
    std::string tmpl = std::string(base ? base : ".") + "/exo-bench-rpc-XXXXXX";
    check(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp in " + tmpl);
    path = tmpl;
  }
  ~scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

struct registry {
  exo::container_registry reg;
  registry() {
    reg.add_search_dir(EXO_BENCH_PLUGIN_DIR);
    exo::add_builtin_types(reg);
  }
};

// The example application packed once.
const std::string& image_path() {
  static scratch dir;
  static std::string path = [] {
    registry r;
    auto file = exo::pack_image(EXO_BENCH_APP_DIR, r.reg);
    check(file.has_value(), file ? "" : file.error().message);
    std::string p = dir.path + "/app.exo";
    check(exo::write_file(p, *file).has_value(), "write image");
    return p;
  }();
  return path;
}

// A server on a fresh data directory, for one benchmark.
struct served {
  scratch dir;
  registry r;
  std::unique_ptr<exo::node> n;
  std::unique_ptr<exo::rpc::server> srv;
  served() {
    auto nd = exo::node::boot(image_path(), dir.path + "/data", r.reg);
    check(nd.has_value(), nd ? "" : nd.error().message);
    n = std::move(*nd);
    auto s = exo::rpc::server::start(n->service(), {.listen = "127.0.0.1:0"});
    check(s.has_value(), s ? "" : s.error().message);
    srv = std::move(*s);
  }
};

exo::rpc::client connect(const served& s) {
  auto c = exo::rpc::client::connect(s.srv->url());
  check(c.has_value(), c ? "" : c.error().message);
  return std::move(*c);
}

double calls_per_batch = 0, calls_per_write = 0, calls_per_transaction = 0;

// One connection: each iteration is one durable call, so its time is a call's latency.
void rpc_call_1_connection(benchmark::State& state) {
  served s;
  auto c = connect(s);
  const json args = json::array({1});
  for (auto _ : state) {
    auto r = c.call("counter.add", args);
    if (!r) {
      state.SkipWithError(r.error().message.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(rpc_call_1_connection)->UseRealTime()->Unit(benchmark::kMicrosecond);

// 16 connections, each on its own thread, each waiting for its reply before the next call.
void rpc_calls_16_connections(benchmark::State& state) {
  constexpr int conns = 16, per_round = 50;
  served s;
  const auto before = s.n->hypervisor().store().stats();
  std::vector<exo::rpc::client> clients;
  for (int i = 0; i < conns; ++i) clients.push_back(connect(s));
  const json args = json::array({1});
  std::atomic<int> errors{0};
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (auto& c : clients)
      threads.emplace_back([&] {
        for (int k = 0; k < per_round; ++k)
          if (!c.call("counter.add", args)) ++errors;
      });
    for (auto& t : threads) t.join();
  }
  if (errors) state.SkipWithError("calls failed");
  state.SetItemsProcessed(state.iterations() * conns * per_round);
  auto st = s.srv->stats();
  const auto after = s.n->hypervisor().store().stats();
  const auto writes = after.journal_writes - before.journal_writes;
  const auto transactions = after.transactions - before.transactions;
  calls_per_batch = st.batches ? static_cast<double>(st.calls) / static_cast<double>(st.batches) : 0;
  calls_per_write = writes ? static_cast<double>(st.calls) / static_cast<double>(writes) : 0;
  calls_per_transaction = transactions ? static_cast<double>(st.calls) / static_cast<double>(transactions) : 0;
  state.counters["calls_per_batch"] = calls_per_batch;
  state.counters["calls_per_write"] = calls_per_write;
  state.counters["calls_per_transaction"] = calls_per_transaction;
}
BENCHMARK(rpc_calls_16_connections)->UseRealTime()->Unit(benchmark::kMillisecond);

void pack_example(benchmark::State& state) {
  registry r;
  for (auto _ : state) {
    auto file = exo::pack_image(EXO_BENCH_APP_DIR, r.reg);
    if (!file) state.SkipWithError(file.error().message.c_str());
    benchmark::DoNotOptimize(file);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(pack_example)->Unit(benchmark::kMicrosecond);

// A fresh boot: plugins checked, actors created, init messages run, each committed.
void boot_example(benchmark::State& state) {
  scratch dir;
  registry r;
  int i = 0;
  for (auto _ : state) {
    auto n = exo::node::boot(image_path(), fmt::format("{}/d{}", dir.path, i++), r.reg);
    if (!n) state.SkipWithError(n.error().message.c_str());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(boot_example)->UseRealTime()->Unit(benchmark::kMillisecond);

// exo upgrade on a node with 10,000 calls in its log (EXO_BENCH_UPGRADE_CALLS: another number,
// for a quick smoke run): the check (the whole log replayed on the
// new code) and the switch (both images kept, the upgrade entry committed, image.exo
// replaced). The two images differ in the JS actor's source only (a comment), so each is a
// compatible upgrade of the other: the iterations switch back and forth, each on a log one
// entry longer. Counters: check_ms and switch_ms, each iteration's mean.
void upgrade_example(benchmark::State& state) {
  const char* env = std::getenv("EXO_BENCH_UPGRADE_CALLS");
  const int calls = env ? std::max(1, std::atoi(env)) : 10'000;
  scratch dir;
  registry r;
  const std::string variant = dir.path + "/app2";
  fs::copy(EXO_BENCH_APP_DIR, variant, fs::copy_options::recursive);
  {
    std::ofstream js(variant + "/files.js", std::ios::app);
    js << "\n// the same code, another image\n";
  }
  auto packed = exo::pack_image(variant, r.reg);
  check(packed.has_value(), packed ? "" : packed.error().message);
  const exo::image first = exo::load_image(image_path()).value();
  const exo::image second = exo::read_image(*packed).value();
  const std::string data = dir.path + "/d";
  {
    auto n = exo::node::boot(image_path(), data, r.reg);
    check(n.has_value(), n ? "" : n.error().message);
    auto& hv = (*n)->hypervisor();
    for (int done = 0; done < calls;) {
      hv.begin_batch();
      for (int i = 0; i < 1000 && done < calls; ++i, ++done)
        check(hv.invoke(*(*n)->actor("counter"), "add", {1}).has_value(), "a call");
      check(hv.end_batch().has_value(), "a batch");
    }
  }
  double check_s = 0, switch_s = 0;
  int i = 0;
  for (auto _ : state) {
    auto out = exo::upgrade_directory(data, i++ % 2 ? first : second, r.reg);
    check(out && out->check.ok() && out->done, out ? "the check diverged" : out.error().message);
    check_s += out->check_seconds;
    switch_s += out->switch_seconds;
  }
  state.counters["check_ms"] = benchmark::Counter(check_s * 1000 / static_cast<double>(state.iterations()));
  state.counters["switch_ms"] = benchmark::Counter(switch_s * 1000 / static_cast<double>(state.iterations()));
  state.counters["calls"] = calls;
}
BENCHMARK(upgrade_example)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(4);

}  // namespace

int main(int argc, char** argv) {
  exo::bench::ratio_reporter reporter;
  if (!exo::bench::run_benchmarks(argc, argv, reporter)) return 1;
  auto& t = reporter.ns_per_item();
  if (auto it = t.find("rpc_calls_16_connections"); it != t.end()) {
    const double per_s = 1e9 / it->second;
    fmt::print("rpc 16 connections: {:.0f} durable calls/s (goal 10000): ratio {:.2f}, {:.1f} calls per batch, "
               "{:.1f} per disk write (journal), {:.0f} per LMDB transaction\n",
               per_s, per_s / 10000, calls_per_batch, calls_per_write, calls_per_transaction);
  }
  if (auto it = t.find("rpc_call_1_connection"); it != t.end())
    fmt::print("rpc 1 connection: {:.0f} durable calls/s, {:.0f} us per call\n", 1e9 / it->second, it->second / 1000);
  return 0;
}
