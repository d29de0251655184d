// The AIR interpreter: one particle run on each runner, against AquaVM's published figures.
//
// AquaVM 0.63's wasm interpreter takes 0.55 ms for a null script and 1.8 ms / 3.56 ms for its
// network_explore / dashboard benchmarks (../shared/notes/aquavm-v0.20.md, section 6); AquaVM
// is not runnable here, so the figures are constants. The workloads are the same shape: a
// null script on empty data; the relay's merge in a five-peer network exploration after the
// particle went around (examples/air/network_explore.air); the client's merge of a dashboard
// gathered from a relay and seven peers (examples/air/dashboard.air). main() prints
// `aquavm/exo <workload>: <ratio>` (aim: 100 or more) and each runner's hand-off per run,
// each from the median of five repetitions.

#include "interpreter/session.hpp"

#include <exo/runner/process.hpp>
#include <exo/runner/runner.hpp>
#include <exo/runner/thread.hpp>

#include "ratio_reporter.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>

namespace {

using namespace exo::air;
using exo::json;

std::string read_example(const std::string& name) {
  std::ifstream in(std::string(EXO_AIR_EXAMPLES) + "/" + name);
  if (!in) throw std::runtime_error("cannot read " + name);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

exo::bytes host(peer& p, const std::string& air, const std::string& init, const exo::bytes& data) {
  auto r = host_call(p, air, init, data, inline_run());
  if (!r) throw std::runtime_error(r.error().message);
  if (r->ret_code != 0) throw std::runtime_error(p.id + ": " + r->error_message);
  return r->data;
}

// The relay's run in network exploration after the particle went around the five peers.
run_request network_explore() {
  const std::string air = read_example("network_explore.air");
  const std::string relay_id = "relay_id", client_id = "client_id";
  auto lists = [](json v) { return set_variable_service(std::move(v)); };
  peer client{client_id, [&](const call_request& q) {
                auto a = parse_value(q.arguments);
                const std::string first = a && a->is_array() && !a->empty() && (*a)[0].is_string() ? (*a)[0].get<std::string>() : "";
                return call_result{0, json(first == "relay" ? relay_id : first == "client" ? client_id : "").dump()};
              }, {}};
  peer relay{relay_id, lists({"client_1_id", "client_2_id", "client_3_id", relay_id}), {}};
  peer c1{"client_1_id", lists({"client_1_id", "client_3_id", relay_id, "client_2_id"}), {}};
  peer c2{"client_2_id", lists({relay_id, "client_3_id", "client_1_id", "client_2_id"}), {}};
  peer c3{"client_3_id", lists({relay_id, "client_3_id", "client_1_id", "client_2_id"}), {}};
  exo::bytes d = host(client, air, "", {});
  for (peer* p : {&relay, &c1, &c2, &c3, &relay, &c1, &c3, &relay, &c2}) d = host(*p, air, "", d);
  d = host(c3, air, "", d);
  run_request q;
  q.air = air;
  q.prev_data = relay.data;
  q.data = d;
  q.params = {"", relay_id};
  return q;
}

// The client's run in the dashboard after the relay and seven peers answered.
run_request dashboard() {
  const std::string air = read_example("dashboard.air");
  std::vector<std::string> known;
  for (int i = 0; i < 7; ++i) known.push_back(fmt::format("peer_{}", i));
  const std::string relay_id = "relay_id", client_id = "client_id";
  auto peer_service = [&](const std::string& id) -> service {
    return [id, known](const call_request& q) {
      json v = nullptr;
      if (q.function_name == "identity" || q.function_name == "identify") v = id + "_ident";
      else if (q.function_name == "get_blueprints") v = {id + "_blueprint_0", id + "_blueprint_1", id + "_blueprint_2"};
      else if (q.function_name == "get_modules") v = {id + "_module_0", id + "_module_1", id + "_module_2"};
      else if (q.function_name == "get_interfaces") v = {id + "_interface_0", id + "_interface_1", id + "_interface_2"};
      else if (q.function_name == "neighborhood") v = known;
      return call_result{0, v.dump()};
    };
  };
  std::map<std::string, peer> peers;
  peers[client_id] = peer{client_id, [&](const call_request& q) {
                            auto a = parse_value(q.arguments);
                            const std::string what = a && a->size() == 1 && (*a)[0].is_string() ? (*a)[0].get<std::string>() : "";
                            json v = nullptr;
                            if (q.function_name == "load") v = what == "relayId" ? json(relay_id) : what == "knownPeers" ? json(known) : json(client_id);
                            return call_result{0, v.dump()};
                          }, {}};
  peers[relay_id] = peer{relay_id, peer_service(relay_id), {}};
  for (const auto& k : known) peers[k] = peer{k, peer_service(k), {}};
  // Everyone gets what the client sent; each answers to the relay, which passes it on to the
  // client; the last client run is the workload.
  exo::bytes first = host(peers[client_id], air, client_id, {});
  exo::bytes relay_out = host(peers[relay_id], air, client_id, first);
  exo::bytes last_in;
  (void)host(peers[client_id], air, client_id, relay_out);
  for (const auto& k : known) {
    exo::bytes out = host(peers[k], air, client_id, first);
    relay_out = host(peers[relay_id], air, client_id, out);
    last_in = relay_out;
    (void)host(peers[client_id], air, client_id, relay_out);
  }
  run_request q;
  q.air = air;
  q.prev_data = peers[client_id].data;
  q.data = last_in;
  q.params = {client_id, client_id};
  // The client's data before the last merge: run it again from the one before.
  return q;
}

run_request null_run() {
  run_request q;
  q.air = "(null)";
  q.params = {"", "peer"};
  return q;
}

const run_request& workload(int which) {
  static const run_request w[] = {null_run(), network_explore(), dashboard()};
  return w[which];
}
const char* const names[] = {"null", "network_explore", "dashboard"};
const double aquavm_us[] = {550, 1800, 3560};

void set_label(benchmark::State& state, const run_request& q) {
  state.SetLabel(fmt::format("{}: {} B of data in, {} B prev", names[state.range(0)], q.data.size(), q.prev_data.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_air_inline(benchmark::State& state) {
  const run_request& q = workload(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto r = run(q.air, q.prev_data, q.data, q.params, q.call_results);
    if (!r || r->ret_code != 0) {
      state.SkipWithError("the run failed");
      return;
    }
    benchmark::DoNotOptimize(r->data.data());
  }
  set_label(state, q);
}

template <class Runner>
void through(benchmark::State& state, Runner& runner) {
  const run_request& q = workload(static_cast<int>(state.range(0)));
  const exo::bytes req = encode_request(q);
  for (auto _ : state) {
    auto out = runner.run(req);
    if (!out) {
      state.SkipWithError(out.error().message.c_str());
      return;
    }
    auto r = decode_result(*out);
    benchmark::DoNotOptimize(r->data.data());
  }
  set_label(state, q);
}

void BM_air_thread(benchmark::State& state) {
  exo::thread_runner r(air_engine());
  (void)r.init(exo::log_level::warn);
  through(state, r);
}

void BM_air_process(benchmark::State& state) {
  exo::process_options o;
  o.command = {EXO_BENCH_AIR_SELF, "--child"};
  exo::process_runner r(o);
  if (auto e = r.init(exo::log_level::warn); !e) {
    state.SkipWithError(e.error().message.c_str());
    return;
  }
  through(state, r);
}

// Five repetitions each, and the ratios from their median: the machines are shared, and one
// repetition can be a third off.
BENCHMARK(BM_air_inline)->DenseRange(0, 2)->Repetitions(5)->DisplayAggregatesOnly(true);
BENCHMARK(BM_air_thread)->DenseRange(0, 2)->UseRealTime()->Repetitions(5)->DisplayAggregatesOnly(true);
BENCHMARK(BM_air_process)->DenseRange(0, 2)->UseRealTime()->Repetitions(5)->DisplayAggregatesOnly(true);


}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--child") return exo::serve_runner(air_engine());
  if (argc > 2 && std::string(argv[1]) == "--dump") {  // the workloads as files, for exo air run
    for (int i = 0; i < 3; ++i) {
      const run_request& q = workload(i);
      const std::string base = fmt::format("{}/{}", argv[2], names[i]);
      std::ofstream(base + ".air") << q.air;
      std::ofstream(base + ".prev", std::ios::binary).write(reinterpret_cast<const char*>(q.prev_data.data()),
                                                            static_cast<std::streamsize>(q.prev_data.size()));
      std::ofstream(base + ".data", std::ios::binary).write(reinterpret_cast<const char*>(q.data.data()),
                                                            static_cast<std::streamsize>(q.data.size()));
      fmt::print("{}: --init-peer '{}' --current-peer '{}'\n", base, q.params.init_peer_id, q.params.current_peer_id);
    }
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  exo::bench::real_time_reporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  // A benchmark's median over its repetitions (`suffix` is "/real_time" for those timed so).
  auto median = [&rep](const std::string& name, const char* suffix) {
    return rep.ns.find(fmt::format("{}/repeats:5{}_median", name, suffix));
  };
  for (int i = 0; i < 3; ++i) {
    auto in = median(fmt::format("BM_air_inline/{}", i), "");
    if (in == rep.ns.end()) continue;
    fmt::print("aquavm/exo {}: {:.1f} (AquaVM 0.63 published {:.0f} us, exo inline {:.2f} us, median of 5)\n", names[i],
               aquavm_us[i] * 1000.0 / in->second, aquavm_us[i], in->second / 1000.0);
    for (const char* kind : {"thread", "process"}) {
      auto it = median(fmt::format("BM_air_{}/{}", kind, i), "/real_time");
      if (it != rep.ns.end())
        fmt::print("air {} runner, {}: {:.2f} us/run ({:+.2f} us hand-off)\n", kind, names[i], it->second / 1000.0,
                   (it->second - in->second) / 1000.0);
    }
  }
  benchmark::Shutdown();
  return 0;
}
