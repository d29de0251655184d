// Store benchmarks: the merkle tree on LMDB against plain LMDB puts of the same data, in the
// same run. Ends by printing `tree/lmdb put_commit_<n>: <ratio>` (how many times slower the
// tree is) and the proof size.

#include "ratio_reporter.hpp"
#include "../tests/support/temp_dir.hpp"

#include <exo/core/hash.hpp>
#include <exo/store/lmdb_store.hpp>
#include <exo/store/tree.hpp>

#include <benchmark/benchmark.h>
#include <lmdb.h>

#include <cstdio>
#include <random>

namespace {

using exo::bytes;

using test::temp_dir;

std::vector<std::pair<bytes, bytes>> random_kv(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::pair<bytes, bytes>> kv(n);
  for (auto& [k, v] : kv) {
    k.resize(32);
    v.resize(100);
    for (auto& x : k) x = static_cast<std::uint8_t>(rng());
    for (auto& x : v) x = static_cast<std::uint8_t>(rng());
  }
  return kv;
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "benchmark setup failed: %s\n", what);
    std::abort();
  }
}

// ============================================================ put + commit: tree vs plain LMDB

// n random 32-byte keys with 100-byte values, put and committed durably into a new tree.
void tree_put_commit(benchmark::State& state) {
  auto n = static_cast<std::size_t>(state.range(0));
  auto kv = random_kv(n, 1);
  for (auto _ : state) {
    temp_dir dir;
    auto disk = exo::lmdb_store::open(dir.path + "/d", {.create = true});
    check(bool(disk), "open");
    auto tree = exo::merkle_tree<exo::lmdb_store>::open(*disk).value();
    for (auto& [k, v] : kv) check(bool(tree.put(k, v)), "put");
    check(bool(tree.commit()), "commit");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}
BENCHMARK(tree_put_commit)->Name("tree/put_commit")->Arg(1000)->Arg(100'000)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same puts into plain LMDB (one write transaction, synced): the baseline.
void lmdb_put_commit(benchmark::State& state) {
  auto n = static_cast<std::size_t>(state.range(0));
  auto kv = random_kv(n, 1);
  for (auto _ : state) {
    temp_dir dir;
    MDB_env* env = nullptr;
    check(mdb_env_create(&env) == 0, "env");
    mdb_env_set_mapsize(env, std::size_t{1} << 32);
    check(mdb_env_open(env, dir.path.c_str(), 0, 0600) == 0, "env open");
    MDB_txn* txn = nullptr;
    MDB_dbi dbi;
    check(mdb_txn_begin(env, nullptr, 0, &txn) == 0, "txn");
    check(mdb_dbi_open(txn, nullptr, 0, &dbi) == 0, "dbi");
    for (auto& [k, v] : kv) {
      MDB_val key{k.size(), k.data()}, val{v.size(), v.data()};
      check(mdb_put(txn, dbi, &key, &val, 0) == 0, "put");
    }
    check(mdb_txn_commit(txn) == 0, "commit");
    mdb_env_close(env);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}
BENCHMARK(lmdb_put_commit)->Name("lmdb/put_commit")->Arg(1000)->Arg(100'000)->Unit(benchmark::kMillisecond)->UseRealTime();

// ============================================================ incremental commit in a big tree

// Changes 100 keys of an n-key tree and commits (the tree is built once, outside the timing).
// The second argument is 1 for durable commits (fsync), 0 for MDB_NOSYNC.
void tree_incremental_commit(benchmark::State& state) {
  auto n = static_cast<std::size_t>(state.range(0));
  temp_dir dir;
  auto disk = exo::lmdb_store::open(dir.path + "/d", {.create = true, .durable = state.range(1) != 0});
  check(bool(disk), "open");
  auto tree = exo::merkle_tree<exo::lmdb_store>::open(*disk).value();
  auto kv = random_kv(n, 2);
  for (std::size_t i = 0; i < n; ++i) {
    check(bool(tree.put(kv[i].first, kv[i].second)), "put");
    if (i % 100'000 == 99'999) check(bool(tree.commit()), "commit");
  }
  check(bool(tree.commit()), "commit");
  std::mt19937_64 rng(3);
  for (auto _ : state) {
    for (int i = 0; i < 100; ++i) {
      auto& k = kv[rng() % n].first;
      bytes v(100, static_cast<std::uint8_t>(rng()));
      check(bool(tree.put(k, v)), "put");
    }
    check(bool(tree.commit()), "commit");
  }
  state.counters["keys"] = static_cast<double>(n);
}
BENCHMARK(tree_incremental_commit)->Name("tree/commit_100_changes")->Args({1'000'000, 1})->Args({1'000'000, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()->Iterations(50);

// ============================================================ reads and proofs

struct read_fixture {
  temp_dir dir;
  exo::lmdb_store disk = exo::lmdb_store::open(dir.path + "/d", {.create = true}).value();
  exo::merkle_tree<exo::lmdb_store> tree = exo::merkle_tree<exo::lmdb_store>::open(disk).value();
  std::vector<std::pair<bytes, bytes>> kv;
  explicit read_fixture(std::size_t n) : kv(random_kv(n, 4)) {
    for (auto& [k, v] : kv) check(bool(tree.put(k, v)), "put");
    check(bool(tree.commit()), "commit");
    // The commit freed millions of small buffers; glibc consolidates them on the next
    // allocations. Let that happen here, not in the first timed iterations.
    for (std::size_t i = 0; i < 1000 && i < kv.size(); ++i) check(bool(tree.prove(kv[i].first)), "prove");
  }
};

void tree_get(benchmark::State& state) {
  read_fixture f(static_cast<std::size_t>(state.range(0)));
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(f.tree.get(f.kv[i++ % f.kv.size()].first));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(tree_get)->Name("tree/get")->Arg(100'000)->Unit(benchmark::kMicrosecond);

std::size_t proof_bytes = 0;
void tree_prove_and_check(benchmark::State& state) {
  read_fixture f(static_cast<std::size_t>(state.range(0)));
  std::size_t i = 0, total = 0, count = 0;
  for (auto _ : state) {
    auto& [k, v] = f.kv[i++ % f.kv.size()];
    auto p = f.tree.prove(k);
    auto enc = exo::encode_proof(*p);
    total += enc.size();
    ++count;
    check(bool(exo::verify_proof(f.tree.root(), k, v, enc)), "verify");
  }
  proof_bytes = count ? total / count : 0;
  state.counters["proof_bytes"] = static_cast<double>(proof_bytes);
  state.counters["nodes_in_memory"] = static_cast<double>(f.tree.loaded_nodes());
}
BENCHMARK(tree_prove_and_check)->Name("tree/prove_and_verify")->Arg(1'000'000)->Unit(benchmark::kMicrosecond)
    ->Iterations(20000);

}  // namespace

int main(int argc, char** argv) {
  exo::bench::ratio_reporter reporter;
  if (!exo::bench::run_benchmarks(argc, argv, reporter)) return 1;
  for (const char* n : {"1000", "100000"}) {
    if (double r = reporter.ratio(std::string("tree/put_commit/") + n, std::string("lmdb/put_commit/") + n); r > 0)
      std::printf("tree/lmdb put_commit_%s: %.2f\n", n, r);
  }
  if (proof_bytes) std::printf("proof size at 1M keys: %zu bytes\n", proof_bytes);
  return 0;
}
