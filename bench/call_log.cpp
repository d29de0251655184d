// Call log benchmarks: logged inputs per second (durable, unsynced, in memory), the cost of
// signing and checking a head, replay speed against the original run of the same workload
// (goal: replay at least as fast), export/import throughput, and verifying from a checkpoint
// against verifying a whole log (issue 20). Ends by printing `replay/original: <ratio>` (under
// 1 means the replay is faster) and `checkpoint/whole: <ratio>`.

#include "ratio_reporter.hpp"
#include "../tests/support/temp_dir.hpp"

#include <exo/exo.hpp>

#include <benchmark/benchmark.h>

#include <cstdio>

namespace {

using exo::context;

struct counter {
  BOOST_HANA_DEFINE_STRUCT(counter, (std::int64_t, total));
  std::int64_t add(context& ctx, std::int64_t n) {
    (void)ctx.storage_put(exo::as_bytes("last"), exo::as_bytes(std::to_string(n)));
    return total += n;
  }
  static constexpr std::string_view exo_name = "counter";
  static constexpr auto exo_exports = exo::exports(exo::fn<&counter::add>("add", 5));
};

// Keeps one value a call under one of 10,000 keys: a state that grows to 10,000 keys.
struct ledger {
  BOOST_HANA_DEFINE_STRUCT(ledger, (std::int64_t, calls));
  std::int64_t put(context& ctx, std::int64_t n) {
    (void)ctx.storage_put(exo::as_bytes("k" + std::to_string(n % 10'000)), exo::as_bytes("value " + std::to_string(n)));
    return ++calls;
  }
  static constexpr std::string_view exo_name = "ledger";
  static constexpr auto exo_exports = exo::exports(exo::fn<&ledger::put>("put", 5));
};

using mem_hv = exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log>;
using disk_hv = exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store, exo::lmdb_log>;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "benchmark setup failed: %s\n", what);
    std::abort();
  }
}

std::unique_ptr<mem_hv> fresh() {
  auto hv = std::make_unique<mem_hv>(exo::config{.name = "bench"});
  hv->register_type<counter>();
  hv->register_type<ledger>();
  return hv;
}

// Logged inputs on LMDB: each one a call, its state and its entry committed together.
void disk_invoke(benchmark::State& state) {
  test::temp_dir dir;
  auto hv = disk_hv::open(exo::lmdb_store::open(dir.path + "/d", {.create = true, .durable = state.range(0) != 0}).value(),
             exo::config{.name = "bench"}).value();
  auto c = hv.create(counter{}).value();
  const exo::id id = *hv.actor_id(c);
  std::int64_t i = 0;
  for (auto _ : state) check(hv.invoke(id, "add", {++i % 100}).has_value(), "invoke");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(disk_invoke)->Name("log/invoke_lmdb")->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond)->UseRealTime();

void memory_invoke(benchmark::State& state) {
  auto hv = fresh();
  auto c = hv->create(counter{}).value();
  const exo::id id = *hv->actor_id(c);
  std::int64_t i = 0;
  for (auto _ : state) check(hv->invoke(id, "add", {++i % 100}).has_value(), "invoke");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(memory_invoke)->Name("log/invoke_memory")->Unit(benchmark::kMicrosecond);

void sign_head(benchmark::State& state) {
  auto key = exo::node_key::generate().value();
  exo::digest last = exo::hash(exo::as_bytes("entry"));
  std::uint64_t n = 0;
  for (auto _ : state) benchmark::DoNotOptimize(exo::sign_head(++n, last, key));
}
BENCHMARK(sign_head)->Name("log/sign_head")->Unit(benchmark::kMicrosecond);

void check_head(benchmark::State& state) {
  auto key = exo::node_key::generate().value();
  auto head = exo::sign_head(1, exo::hash(exo::as_bytes("entry")), key);
  for (auto _ : state) check(exo::check_head_signature(head).has_value(), "signature");
}
BENCHMARK(check_head)->Name("log/check_head")->Unit(benchmark::kMicrosecond);

// The same workload run originally (a fresh hypervisor invoking n calls) and replayed by
// the verifier from its log, both in memory.
constexpr std::int64_t workload_calls = 2000;
void run_original(mem_hv& hv) {
  auto c = hv.create(counter{}).value();
  const exo::id id = *hv.actor_id(c);
  for (std::int64_t i = 0; i < workload_calls; ++i) check(hv.invoke(id, "add", {i % 100}).has_value(), "invoke");
}

void original(benchmark::State& state) {
  for (auto _ : state) {
    auto hv = fresh();
    run_original(*hv);
  }
  state.SetItemsProcessed(state.iterations() * workload_calls);
}
BENCHMARK(original)->Name("log/original_run")->Unit(benchmark::kMillisecond);

void replay(benchmark::State& state) {
  auto hv = fresh();
  run_original(*hv);
  for (auto _ : state) {
    auto v = exo::verify(hv->log(), fresh);
    check(v.ok(), "verify");
  }
  state.SetItemsProcessed(state.iterations() * workload_calls);
}
BENCHMARK(replay)->Name("log/replay")->Unit(benchmark::kMillisecond);

void export_import(benchmark::State& state) {
  auto hv = fresh();
  run_original(*hv);
  std::size_t size = 0;
  for (auto _ : state) {
    auto file = exo::export_log(hv->log());
    check(file.has_value(), "export");
    size = file->size();
    auto back = exo::import_log(*file);
    check(back.has_value() && back->size() == hv->log().size(), "import");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
  state.counters["file_bytes"] = static_cast<double>(size);
}
BENCHMARK(export_import)->Name("log/export_import")->Unit(benchmark::kMillisecond);

// A log of 20,000 calls into a ledger of 10,000 keys, with a snapshot taken at entry 18,000:
// verifying all of it against verifying from the snapshot (reading its file, checking every
// node, importing it and replaying the last 2,000).
struct checkpointed {
  std::unique_ptr<mem_hv> hv = fresh();
  exo::bytes snapshot_file;
  checkpointed() {
    auto c = hv->create(ledger{}).value();
    const exo::id id = *hv->actor_id(c);
    for (std::int64_t i = 0; i < 20'000; ++i) {
      check(hv->invoke(id, "put", {i}).has_value(), "invoke");
      if (hv->log().size() == 18'000)
        snapshot_file = exo::encode_snapshot(exo::take_snapshot(hv->store(), hv->log()).value()).value();
    }
  }
};
const checkpointed& long_log() {
  static const checkpointed c;
  return c;
}
exo::expected<std::unique_ptr<mem_hv>> reopen(exo::memory_store s) {
  auto h = mem_hv::open(std::move(s), exo::config{.name = "bench"});
  if (!h) return exo::unexpected(std::move(h).error());
  auto p = std::make_unique<mem_hv>(std::move(*h));
  p->register_type<counter>();
  p->register_type<ledger>();
  return p;
}

void verify_whole(benchmark::State& state) {
  const auto& c = long_log();
  for (auto _ : state) check(exo::verify(c.hv->log(), fresh).ok(), "verify");
  state.SetItemsProcessed(state.iterations());  // an item: one verification of the log
  state.counters["entries_replayed"] = static_cast<double>(c.hv->log().size() - 1);
}
BENCHMARK(verify_whole)->Name("log/verify_whole_20000")->Unit(benchmark::kMillisecond);

void verify_from_checkpoint(benchmark::State& state) {
  const auto& c = long_log();
  for (auto _ : state) {
    auto snap = exo::decode_snapshot(c.snapshot_file);
    check(snap.has_value(), "snapshot");
    check(exo::verify_from(c.hv->log(), *snap, reopen).ok(), "verify from the checkpoint");
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["entries_replayed"] = static_cast<double>(c.hv->log().size() - 18'000);
  state.counters["snapshot_bytes"] = static_cast<double>(c.snapshot_file.size());
}
BENCHMARK(verify_from_checkpoint)->Name("log/verify_from_checkpoint_at_18000")->Unit(benchmark::kMillisecond);

void take_snapshot(benchmark::State& state) {
  const auto& c = long_log();
  for (auto _ : state) {
    auto file = exo::encode_snapshot(exo::take_snapshot(c.hv->store(), c.hv->log()).value());
    check(file.has_value(), "snapshot");
    benchmark::DoNotOptimize(file->data());
  }
}
BENCHMARK(take_snapshot)->Name("log/take_snapshot_10000_keys")->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  exo::bench::ratio_reporter reporter;
  if (!exo::bench::run_benchmarks(argc, argv, reporter)) return 1;
  if (double r = reporter.ratio("log/replay", "log/original_run"); r > 0)
    std::printf("replay/original: %.2f (goal: at most 1.00)\n", r);
  if (double r = reporter.ratio("log/verify_from_checkpoint_at_18000", "log/verify_whole_20000"); r > 0)
    std::printf("checkpoint/whole: %.3f (replaying the last 10%% of the log, with the snapshot read and checked)\n", r);
  return 0;
}
