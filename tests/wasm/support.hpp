#pragma once
// Shared by the wasm container's tests: a registry with the real plugin loaded, modules read
// from the build tree, and a helper that calls an actor's function and returns its result.

#include "../support/deliveries.hpp"
#include "../support/print.hpp"

#include <exo/container/registry.hpp>
#include <exo/hypervisor.hpp>

#include <boost/test/unit_test.hpp>

#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace wasm_test {

inline exo::bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  BOOST_REQUIRE_MESSAGE(in, "cannot open " << path);
  return exo::bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
inline exo::bytes test_module(const std::string& name) { return read_file(std::string(EXO_TEST_WASM_DIR) + "/" + name + ".wasm"); }
inline exo::bytes example(const std::string& name) { return read_file(std::string(EXO_TEST_EXAMPLES_DIR) + "/" + name + ".wasm"); }

/// A registry with a container plugin (by default wasm) loaded from the build tree.
struct registry {
  exo::container_registry reg;
  std::string plugin;
  explicit registry(std::string name = "wasm") : plugin(std::move(name)) {
    reg.add_search_dir(EXO_TEST_PLUGIN_DIR);
    auto r = reg.load_named(plugin);
    BOOST_REQUIRE_MESSAGE(r, "loading the " << plugin << " plugin: " << (r ? "" : r.error().message));
  }
  exo::config config() { return config(plugin + "-test"); }
  exo::config config(std::string name) {
    exo::config c;
    c.name = std::move(name);
    c.containers = &reg;
    return c;
  }
};

using exo_test::trace_deliveries;

/// Runs `workload(trace)` twice (it makes its own hypervisor, records its deliveries in trace
/// and returns {ticks, state root}) and checks both runs agree, with over `min_deliveries`.
template <class W>
void check_same_twice(W&& workload, std::size_t min_deliveries) {
  std::vector<std::string> t1, t2;
  auto [ticks1, root1] = workload(t1);
  auto [ticks2, root2] = workload(t2);
  BOOST_TEST(ticks1 == ticks2);
  BOOST_TEST(root1 == root2);
  BOOST_TEST(t1 == t2, boost::test_tools::per_element());
  BOOST_TEST(t1.size() > min_deliveries);
}

/// What a call produced: its result, or the failure report.
struct outcome {
  std::optional<exo::value> result;
  std::optional<exo::failure> failed;
  std::uint64_t ticks = 0;  // ticks the hypervisor used for it (all deliveries)
};

/// Sends `args` through the function capability `fn`, runs until idle, and returns the
/// result (sent to an egress) or the failure.
template <class H>
outcome call_fn(H& hv, exo::cap_handle fn, exo::arg_list args = {}, std::uint64_t budget = 100'000) {
  outcome o;
  auto out = hv.create_egress("result", [&](exo::egress_message& m) {
    o.result = m.args.empty() ? exo::value{} : std::move(m.args[0]);
  });
  const std::size_t before = hv.failures().size();
  const std::uint64_t ticks = hv.stats().ticks;
  auto s = hv.send(fn, std::move(args), exo::send_options{.budget = budget, .reply_to = out});
  BOOST_REQUIRE_MESSAGE(s, "send: " << (s ? "" : s.error().message));
  hv.run();
  if (hv.failures().size() > before) o.failed = hv.failures().back();
  o.ticks = hv.stats().ticks - ticks;
  (void)hv.drop(out);
  return o;
}

/// Calls `function` of the actor `actor` (an actor capability) names.
template <class H>
outcome call(H& hv, exo::cap_handle actor, std::string_view function, exo::arg_list args = {},
             std::uint64_t budget = 100'000) {
  auto f = hv.function_cap(actor, function);
  if (!f) {
    outcome o;
    o.failed = exo::failure{{}, std::string(function), static_cast<std::int64_t>(f.error().code), f.error().message, {}, 0};
    return o;
  }
  auto o = call_fn(hv, *f, std::move(args), budget);
  (void)hv.drop(*f);
  return o;
}

template <class... A>
exo::arg_list args(A&&... a) {
  return exo::context::make_args(std::forward<A>(a)...);
}

inline std::int64_t as_int(const outcome& o) {
  BOOST_REQUIRE_MESSAGE(!o.failed, "the call failed: " << (o.failed ? exo::to_string(*o.failed) : ""));
  BOOST_REQUIRE(o.result);
  BOOST_REQUIRE_MESSAGE(o.result->if_i64(), "the result is " << exo::to_string(o.result->type()));
  return *o.result->if_i64();
}

/// `actors` actors made by `make(hv)` (a function capability each), each sent `rounds` calls
/// with an i64 in one burst from the host, on a hypervisor with scheduler S (a parallel one
/// with every window on its threads): the trace and the state root.
template <class S, class Make>
std::pair<std::vector<std::string>, std::string> burst(registry& r, Make make, int actors, int rounds) {
  exo::hypervisor<S, exo::memory_store> hv(r.config("parallel"));
  if constexpr (exo::parallel_policy<S>) hv.scheduler().tuning.min_window_ns = 0;
  std::vector<std::string> trace;
  trace_deliveries(hv, trace);
  std::vector<exo::cap_handle> fns;
  for (int i = 0; i < actors; ++i) fns.push_back(make(hv));
  for (int round = 0; round < rounds; ++round)
    for (int i = 0; i < actors; ++i) BOOST_REQUIRE(hv.call(fns[static_cast<std::size_t>(i)], std::int64_t{round * actors + i}));
  hv.run();
  BOOST_TEST(hv.failures().empty());
  return {trace, exo::to_hex(*hv.state_root())};
}

/// The same burst under ordered_scheduler and parallel_scheduler<2> gives the same trace and root.
template <class Make>
void check_parallel_like_ordered(registry& r, Make make, int actors, int rounds) {
  auto ordered = burst<exo::ordered_scheduler>(r, make, actors, rounds);
  auto parallel = burst<exo::parallel_scheduler<2>>(r, make, actors, rounds);
  BOOST_TEST(ordered.first.size() == static_cast<std::size_t>(actors * rounds));
  BOOST_TEST(ordered.first == parallel.first, boost::test_tools::per_element());
  BOOST_TEST(ordered.second == parallel.second);
}

}  // namespace wasm_test
