#pragma once
// The console reporter, plus each benchmark's time per item by name (with Google Benchmark's
// "/real_time" and "_median" suffixes removed), so a benchmark's main() can print ratio lines scripts read.

#include <benchmark/benchmark.h>
#include <malloc.h>

#include <map>
#include <string>
#include <vector>

namespace exo::bench {

class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (auto& r : runs) {
      // Iterations, and with --benchmark_repetitions the medians, under the benchmark's own
      // name (without "_median").
      if (r.error_occurred || (r.run_type != Run::RT_Iteration && r.aggregate_name != "median")) continue;
      auto it = r.counters.find("items_per_second");
      if (it == r.counters.end() || it->second.value <= 0) continue;
      std::string name = r.benchmark_name();
      if (r.run_type != Run::RT_Iteration && name.ends_with("_median")) name.erase(name.size() - 7);
      if (auto cut = name.find("/real_time"); cut != std::string::npos) name.erase(cut);
      ns_per_item_[name] = 1e9 / it->second.value;
    }
  }
  /// Nanoseconds per item, by benchmark name.
  const std::map<std::string, double>& ns_per_item() const { return ns_per_item_; }
  /// One benchmark's nanoseconds per item, or 0 if it did not run.
  double ns(const std::string& name) const {
    auto it = ns_per_item_.find(name);
    return it == ns_per_item_.end() ? 0 : it->second;
  }
  /// a's time per item over b's, or 0 if either did not run.
  double ratio(const std::string& a, const std::string& b) const {
    auto x = ns_per_item_.find(a), y = ns_per_item_.find(b);
    return x == ns_per_item_.end() || y == ns_per_item_.end() ? 0 : x->second / y->second;
  }

 private:
  std::map<std::string, double> ns_per_item_;
};

/// The console reporter, plus each benchmark's real time per iteration by its full name (for
/// benchmarks whose cost is wall time, such as a hand-off to another thread or process).
class real_time_reporter : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> ns;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (!r.error_occurred && r.iterations > 0) ns[r.benchmark_name()] = r.GetAdjustedRealTime();
    ConsoleReporter::ReportRuns(runs);
  }
};

/// Heap bytes per live instance: `make()` called 1000 times with all kept alive, measured
/// by malloc's count of bytes in use, then each freed with `free(p)`.
template <class Make, class Free>
double bytes_per_instance(Make make, Free free) {
  constexpr int n = 1000;
  std::vector<void*> live;
  live.reserve(n);
  malloc_trim(0);
  const auto before = mallinfo2().uordblks;
  for (int i = 0; i < n; ++i) live.push_back(make());
  const auto after = mallinfo2().uordblks;
  for (void* p : live) free(p);
  return static_cast<double>(after - before) / n;
}

/// A benchmark main()'s common part: parses the flags and runs the selected benchmarks
/// through `reporter`. False if a flag was not understood.
inline bool run_benchmarks(int argc, char** argv, ratio_reporter& reporter) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return false;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return true;
}

}  // namespace exo::bench
