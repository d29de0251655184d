// The parallel scheduler keeps the contract of the ordered one (issue 19): random workloads
// (random actors, sends, capabilities passed, failures and rollbacks, actors created, storage,
// egress, log lines) give the same trace, outputs, failures, counts and state root under
// ordered_scheduler and parallel_scheduler with 1, 2, 4 and 8 threads; a log written with
// one policy verifies with the other.

#include <boost/test/unit_test.hpp>

#include <exo/core/hash.hpp>
#include <exo/exo.hpp>
#include <exo/verifier/verify.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

using namespace exo;

namespace {

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

/// Does something different for every salt: charges, keeps notes in storage, creates an
/// actor, passes a capability on, writes to an egress, logs, fails after sending (rolled
/// back), and walks on to one or two peers.
struct rover {
  BOOST_HANA_DEFINE_STRUCT(rover, (std::vector<std::int64_t>, peers),
                           (std::vector<std::int64_t>, adopters), (std::int64_t, out), (std::int64_t, seen),
                           (std::int64_t, made), (std::int64_t, failures));

  void introduce(context&, std::vector<cap_handle> p, std::vector<cap_handle> a, cap_handle egress) {
    for (auto h : p) peers.push_back(h.index);
    for (auto h : a) adopters.push_back(h.index);
    out = egress.index;
  }
  void adopt(context&, cap_handle c) {
    if (peers.size() < 24) peers.push_back(c.index);
  }
  expected<void> step(context& ctx, std::int64_t hops, std::int64_t salt) {
    ++seen;
    const auto s = static_cast<std::uint64_t>(salt);
    if (auto r = ctx.charge(s % 40); !r) return r;
    const std::uint64_t op = (s >> 8) % 16;
    const bool walk = hops > 0 && !peers.empty();
    const cap_handle a{static_cast<std::uint32_t>(walk ? peers[(s >> 16) % peers.size()] : 0)};
    switch (op) {
      case 0: {  // sends, then fails: the send is rolled back with the message
        if (walk)
          if (auto r = ctx.call_with(a, send_options{.budget = 50}, std::int64_t{0}, salt + 1); !r) return r;
        return fail(errc::handler_failed, fmt::format("rover gave up at salt {}", s % 1000));
      }
      case 1: {
        const std::string k = fmt::format("k{}", s % 5);
        return ctx.storage_put(as_bytes(k), as_bytes(fmt::format("{}:{}", seen, s % 77)));
      }
      case 2: {
        auto v = ctx.storage_get(as_bytes(fmt::format("k{}", (s >> 4) % 5)));
        if (!v) return unexpected(v.error());
        if (*v) (void)ctx.charge((*v)->size());
        break;
      }
      case 3: {  // an actor made here walks on: a shared lane defers this to after its window
        if (made >= 3) break;
        auto child = ctx.create(rover{});
        if (!child) return unexpected(child.error());
        ++made;
        auto step_cap = ctx.derive(*child, rights::call, "step");
        if (!step_cap) return unexpected(step_cap.error());
        if (auto r = ctx.call_with(*step_cap, send_options{.budget = 2000}, std::int64_t{1},
                                   static_cast<std::int64_t>(mix(s) >> 2));
            !r)
          return r;
        break;
      }
      case 4: {  // a peer learns of another (a capability passed in a message)
        if (adopters.empty() || peers.empty()) break;
        const cap_handle to{static_cast<std::uint32_t>(adopters[(s >> 24) % adopters.size()])};
        auto b = ctx.derive(cap_handle{static_cast<std::uint32_t>(peers[(s >> 28) % peers.size()])},
                            rights::call | rights::transfer);
        if (!b) return unexpected(b.error());
        if (auto r = ctx.call_with(to, send_options{.budget = 20}, *b); !r) return r;
        break;
      }
      case 5:
        if (out) (void)ctx.call_with(cap_handle{static_cast<std::uint32_t>(out)}, send_options{.budget = 10},
                                     salt % 1000, seen);
        break;
      case 6: ctx.log(fmt::format("rover at salt {}", s % 1000)); break;
      case 7: return fail(errc::handler_failed, "rover refuses");
      default: break;
    }
    if (!walk) return {};
    const int fan = (s >> 32) % 5 == 0 ? 2 : 1;
    const std::int64_t left = fan == 2 ? (hops - 1) / 2 : hops - 1;
    const std::uint64_t budget = ctx.remaining() / 4;
    for (int i = 0; i < fan; ++i) {
      const std::uint64_t n = mix(s + 17 + static_cast<std::uint64_t>(i));
      const cap_handle to{static_cast<std::uint32_t>(peers[n % peers.size()])};
      if (auto r = ctx.call_with(to, send_options{.budget = budget}, left, static_cast<std::int64_t>(n >> 2)); !r)
        return r;
    }
    return {};
  }
  void on_failure(context&, const failure&) { ++failures; }
  static constexpr std::string_view exo_name = "rover";
  static constexpr auto exo_exports =
      exo::exports(exo::fn<&rover::introduce>("introduce", 1), exo::fn<&rover::adopt>("adopt", 1),
                   exo::fn<&rover::step>("step", 2));
};

struct outcome {
  digest root{};
  digest trace{};
  digest outputs{};
  std::uint64_t deliveries = 0;
  kernel_stats stats;
  std::vector<std::string> failures;
  std::vector<std::string> logs;
};

void add(sha256& h, std::uint64_t v) { h.update(byte_view(reinterpret_cast<const std::uint8_t*>(&v), sizeof v)); }

template <class Scheduler>
outcome run_random(std::uint64_t seed, int actors, int walks, std::int64_t hops,
                   parallel_counts* counts = nullptr, std::uint64_t min_window_ns = 0) {
  hypervisor<Scheduler> hv(config{.name = "parallel", .failure_budget = 200});
  // 0: every window of two or more receivers in parallel; else as timing decides, switching
  // between windows delivered in place and windows gathered for threads
  if constexpr (parallel_policy<Scheduler>) hv.scheduler().tuning.min_window_ns = min_window_ns;
  outcome o;
  sha256 outs;
  auto egress = hv.create_egress("out", [&](egress_message& m) {
    outs.update(m.sender.view());
    add(outs, m.ticks);
    add(outs, m.seq);
    for (auto& v : m.args) outs.update(encode(v));
  });
  std::vector<cap_handle> rs, steps, adopts;
  for (int i = 0; i < actors; ++i) rs.push_back(hv.create(rover{}));
  for (auto r : rs) steps.push_back(*hv.function_cap(r, "step"));
  for (auto r : rs) adopts.push_back(*hv.function_cap(r, "adopt"));
  for (auto r : rs) BOOST_REQUIRE(hv.call(*hv.function_cap(r, "introduce"), steps, adopts, egress));
  sha256 trace;
  hv.on_deliver([&](const delivery& d) {
    trace.update(d.receiver.view()).update(d.sender.view());
    add(trace, d.function);
    add(trace, d.ticks);
    add(trace, d.seq);
    add(trace, d.ok);
    ++o.deliveries;
  });
  hv.on_failure([&](const failure& f) { o.failures.push_back(f.message); });
  hv.on_log([&](const id& a, log_level, std::string_view text) { o.logs.push_back(to_hex(a).substr(0, 8) + std::string(text)); });
  std::uint64_t salt = seed;
  for (int i = 0; i < walks; ++i) {
    salt = mix(salt);
    BOOST_REQUIRE(hv.send(steps[salt % steps.size()], context::make_args(hops, static_cast<std::int64_t>(salt >> 2)),
                          send_options{.budget = 1'000'000}));
    if (i % 7 == 3) hv.run(static_cast<std::size_t>(salt % 50));  // partial runs: windows cut by run(n)
  }
  hv.run();
  BOOST_REQUIRE(hv.idle());
  o.root = *hv.state_root();
  o.trace = trace.finish();
  o.outputs = outs.finish();
  o.stats = hv.stats();
  if constexpr (parallel_policy<Scheduler>)
    if (counts) *counts = hv.scheduler().counts;
  return o;
}

void expect_same(const outcome& a, const outcome& b) {
  BOOST_TEST(to_hex(a.root) == to_hex(b.root));
  BOOST_TEST(to_hex(a.trace) == to_hex(b.trace));
  BOOST_TEST(to_hex(a.outputs) == to_hex(b.outputs));
  BOOST_TEST(a.deliveries == b.deliveries);
  BOOST_TEST(a.stats.delivered == b.stats.delivered);
  BOOST_TEST(a.stats.failed == b.stats.failed);
  BOOST_TEST(a.stats.ticks == b.stats.ticks);
  BOOST_TEST(a.stats.actors_created == b.stats.actors_created);
  BOOST_TEST(a.stats.egress == b.stats.egress);
  BOOST_TEST(a.failures == b.failures, boost::test_tools::per_element());
  BOOST_TEST(a.logs == b.logs, boost::test_tools::per_element());
}

template <class Scheduler>
using logged = hypervisor<Scheduler, memory_store, memory_log>;

template <class Scheduler>
std::unique_ptr<logged<Scheduler>> fresh_logged() {
  auto hv = std::make_unique<logged<Scheduler>>(config{.name = "parallel-log", .failure_budget = 200});
  hv->template register_type<rover>();
  if constexpr (parallel_policy<Scheduler>) hv->scheduler().tuning.min_window_ns = 0;
  return hv;
}

// Logged inputs: rovers created and introduced, then walks, each input run until idle.
template <class Scheduler>
std::unique_ptr<logged<Scheduler>> logged_workload(std::uint64_t seed) {
  auto hv = fresh_logged<Scheduler>();
  auto egress = hv->create_egress("out", [](egress_message&) {});
  std::vector<cap_handle> rs, steps, adopts;
  std::vector<id> ids;
  for (int i = 0; i < 8; ++i) {
    auto c = hv->create(rover{});
    BOOST_REQUIRE(c);
    rs.push_back(*c);
    ids.push_back(*hv->actor_id(*c));
    steps.push_back(*hv->function_cap(*c, "step"));
    adopts.push_back(*hv->function_cap(*c, "adopt"));
  }
  for (auto& a : ids) BOOST_REQUIRE(hv->invoke(a, "introduce", context::make_args(steps, adopts, egress)));
  std::uint64_t salt = seed;
  for (int i = 0; i < 12; ++i) {
    salt = mix(salt);
    auto r = hv->invoke(ids[salt % ids.size()], "step", context::make_args(std::int64_t{40}, static_cast<std::int64_t>(salt >> 2)));
    BOOST_REQUIRE(r);
  }
  return hv;
}

/// Hashes for a while per job (slow messages, as a parallel scheduler wants them).
struct hasher {
  digest acc{};
  void job(context& ctx, std::int64_t rounds) {
    for (std::int64_t i = 0; i < rounds; ++i) acc = hash(byte_view(acc.bytes.data(), acc.bytes.size()));
    (void)ctx.charge(static_cast<std::uint64_t>(rounds));
  }
  static constexpr std::string_view exo_name = "hasher";
  static constexpr auto exo_exports = exo::exports(exo::fn<&hasher::job>("job", 1));
};

/// Sends a job to each of its hashers per round.
struct scatterer {
  std::vector<cap_handle> to;
  void setup(context&, std::vector<cap_handle> t) { to = std::move(t); }
  void round(context& ctx, std::int64_t rounds) {
    for (auto h : to) (void)ctx.call_with(h, send_options{.budget = 1'000'000}, rounds);
  }
  static constexpr std::string_view exo_name = "scatterer";
  static constexpr auto exo_exports =
      exo::exports(exo::fn<&scatterer::setup>("setup", 1), exo::fn<&scatterer::round>("round", 1));
};

// Thread-boundness: a type whose actors must stay on the hypervisor's thread (as a JS realm
// must), and one whose actors may run anywhere. Each job notes whether it ran off the thread
// that runs the hypervisor.
std::thread::id hypervisor_thread;
std::atomic<int> bound_off_thread{0}, free_off_thread{0};

template <int Bound>
struct pinned_worker {
  digest acc{};
  void job(context& ctx, std::int64_t rounds) {
    if (std::this_thread::get_id() != hypervisor_thread) ++(Bound ? bound_off_thread : free_off_thread);
    for (std::int64_t i = 0; i < rounds; ++i) acc = hash(byte_view(acc.bytes.data(), acc.bytes.size()));
    (void)ctx.charge(static_cast<std::uint64_t>(rounds));
  }
  static constexpr std::string_view exo_name = Bound ? "bound_worker" : "free_worker";
  static constexpr auto exo_exports = exo::exports(exo::fn<&pinned_worker::job>("job", 1));
};

// The native type with any_thread cleared: what a thread-bound container declares.
const actor_type& bound_type() {
  static const actor_type t = [] {
    actor_type c = native_type<pinned_worker<1>>();
    c.any_thread = false;
    return c;
  }();
  return t;
}

/// Creates n bound and n free workers, then sends each a job per round.
struct foreman {
  std::vector<cap_handle> to;
  expected<void> hire(context& ctx, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
      auto b = ctx.create_actor(bound_type(), new pinned_worker<1>{});
      if (!b) return unexpected(b.error());
      auto f = ctx.create(pinned_worker<0>{});
      if (!f) return unexpected(f.error());
      for (auto a : {*b, *f}) {
        auto j = ctx.derive(a, rights::call, "job");
        if (!j) return unexpected(j.error());
        to.push_back(*j);
      }
    }
    return {};
  }
  void round(context& ctx, std::int64_t rounds) {
    for (auto h : to) (void)ctx.call_with(h, send_options{.budget = 1'000'000}, rounds);
  }
  static constexpr std::string_view exo_name = "foreman";
  static constexpr auto exo_exports =
      exo::exports(exo::fn<&foreman::hire>("hire", 1), exo::fn<&foreman::round>("round", 1));
};

}  // namespace

BOOST_AUTO_TEST_SUITE(parallel)

BOOST_AUTO_TEST_CASE(a_log_written_in_parallel_verifies_serially_and_the_other_way_round) {
  for (std::uint64_t seed : {11u, 12u}) {
    auto par = logged_workload<parallel_scheduler<2>>(seed);
    auto ord = logged_workload<ordered_scheduler>(seed);
    BOOST_TEST(par->scheduler().counts.parallel_windows > 0u);
    BOOST_TEST(to_hex(*par->state_root()) == to_hex(*ord->state_root()));
    auto serially = verify(par->log(), [] { return fresh_logged<ordered_scheduler>(); });
    BOOST_TEST_MESSAGE(serially.to_string());
    BOOST_TEST(serially.ok());
    auto in_parallel = verify(ord->log(), [] { return fresh_logged<parallel_scheduler<4>>(); });
    BOOST_TEST_MESSAGE(in_parallel.to_string());
    BOOST_TEST(in_parallel.ok());
    BOOST_TEST(to_hex(serially.final_root) == to_hex(in_parallel.final_root));
  }
}

// As tuned by default, the scheduler runs slow messages' windows on its threads (it decides
// by timing, which a loaded machine only makes slower: slower messages are more worth it);
// windows estimated under tuning.min_window_ns run in place. The root is the ordered one.
BOOST_AUTO_TEST_CASE(slow_windows_run_on_threads_and_the_rest_in_place) {
  parallel_counts last_rounds;  // the counts before the last 10 rounds
  auto run = [&](auto& hv, std::int64_t rounds) {
    std::vector<cap_handle> jobs;
    for (int i = 0; i < 8; ++i) jobs.push_back(*hv.function_cap(hv.create(hasher{}), "job"));
    auto s = hv.create(scatterer{});
    BOOST_REQUIRE(hv.call(*hv.function_cap(s, "setup"), jobs));
    hv.run();
    auto round = *hv.function_cap(s, "round");
    for (int r = 0; r < 30; ++r) {
      if (r == 20)
        if constexpr (parallel_policy<std::remove_reference_t<decltype(hv.scheduler())>>) last_rounds = hv.scheduler().counts;
      BOOST_REQUIRE(hv.send(round, context::make_args(rounds), send_options{.budget = std::uint64_t{1} << 40}));
      hv.run();
    }
    BOOST_TEST(hv.stats().failed == 0u);
    return to_hex(*hv.state_root());
  };
  hypervisor<ordered_scheduler> serial;
  const auto root = run(serial, 400);  // 400 hashes: 100-400 us a job
  hypervisor<parallel_scheduler<2>> slow;
  BOOST_TEST(run(slow, 400) == root);
  const parallel_counts& c = slow.scheduler().counts;
  BOOST_TEST_MESSAGE("windows " << c.windows << ", parallel " << c.parallel_windows << ", in them " << c.parallel_messages);
  BOOST_TEST(c.parallel_windows >= 10u);
  // Once the windows repeat, each round's window runs on threads whole, from its first job:
  // none of its jobs is delivered in place before the rest are gathered.
  BOOST_TEST(c.parallel_windows - last_rounds.parallel_windows == 10u);
  BOOST_TEST(c.parallel_messages - last_rounds.parallel_messages == 80u);
  hypervisor<parallel_scheduler<2>> in_place;
  in_place.scheduler().tuning.min_window_ns = 10'000'000'000;  // no window takes 10 s
  BOOST_TEST(run(in_place, 400) == root);
  BOOST_TEST(in_place.scheduler().counts.parallel_windows == 0u);
}

// Actors of a thread-bound type run only on the thread that runs the hypervisor, every
// window forced onto threads; actors of the other type do run on workers (so the check can
// fail), and the root is the ordered one.
BOOST_AUTO_TEST_CASE(thread_bound_actors_never_run_on_a_worker) {
  hypervisor_thread = std::this_thread::get_id();
  auto run = [](auto& hv) {
    auto f = hv.create(foreman{});
    BOOST_REQUIRE(hv.call(*hv.function_cap(f, "hire"), std::int64_t{4}));
    hv.run();
    auto round = *hv.function_cap(f, "round");
    for (int r = 0; r < 20; ++r) {
      BOOST_REQUIRE(hv.send(round, context::make_args(std::int64_t{1500}), send_options{.budget = std::uint64_t{1} << 40}));
      hv.run();
    }
    BOOST_TEST(hv.stats().failed == 0u);
    return to_hex(*hv.state_root());
  };
  hypervisor<ordered_scheduler> serial;
  const auto root = run(serial);
  BOOST_TEST(bound_off_thread.load() == 0);
  BOOST_TEST(free_off_thread.load() == 0);
  hypervisor<parallel_scheduler<4>> par;
  par.scheduler().tuning.min_window_ns = 0;  // every window with two receivers goes to threads
  BOOST_TEST(run(par) == root);
  BOOST_TEST(par.scheduler().counts.parallel_windows >= 20u);
  BOOST_TEST(bound_off_thread.load() == 0);
  BOOST_TEST(free_off_thread.load() > 0);  // workers ran the free ones
}

BOOST_AUTO_TEST_CASE(random_workloads_give_the_ordered_trace_outputs_and_root_on_1_2_4_and_8_threads) {
  parallel_counts totals;
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      const int actors = 6 + static_cast<int>(seed % 3) * 10;
      const auto ordered = run_random<ordered_scheduler>(seed, actors, 60, 40);
      BOOST_TEST(ordered.deliveries > 300u);
      BOOST_TEST(ordered.stats.failed > 0u);           // rollbacks happen
      BOOST_TEST(ordered.stats.actors_created > 0u);  // and creations
      BOOST_TEST(ordered.stats.egress > 0u);          // and outputs
      BOOST_TEST(!ordered.logs.empty());
      parallel_counts c1, c2, c4, c8;
      expect_same(ordered, run_random<parallel_scheduler<1>>(seed, actors, 60, 40, &c1));
      expect_same(ordered, run_random<parallel_scheduler<2>>(seed, actors, 60, 40, &c2));
      expect_same(ordered, run_random<parallel_scheduler<4>>(seed, actors, 60, 40, &c4));
      expect_same(ordered, run_random<parallel_scheduler<8>>(seed, actors, 60, 40, &c8));
      expect_same(ordered, run_random<parallel_scheduler<2>>(seed, actors, 60, 40, nullptr, 2'000));
      for (auto* c : {&c1, &c2, &c4, &c8}) {
        totals.parallel_windows += c->parallel_windows;
        totals.parallel_messages += c->parallel_messages;
        totals.deferred += c->deferred;
        totals.alone += c->alone;
      }
    }
  }
  BOOST_TEST_MESSAGE("parallel windows " << totals.parallel_windows << ", messages in them " << totals.parallel_messages
                                         << ", deferred " << totals.deferred << ", alone " << totals.alone);
  // The workload does exercise what is compared: windows, deferral, messages that run alone.
  BOOST_TEST(totals.parallel_windows > 0u);
  BOOST_TEST(totals.parallel_messages > totals.parallel_windows);
  BOOST_TEST(totals.deferred > 0u);
  BOOST_TEST(totals.alone > 0u);
}

BOOST_AUTO_TEST_SUITE_END()
