#include <boost/test/unit_test.hpp>

#include "actors.hpp"

#include <exo/core/hash.hpp>

using namespace exo;
using namespace test;

namespace {
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

/// Walks a random path among its peers. The path depends only on the message (so every
/// policy does the same work); some steps fan out to two peers, some fail and roll back.
struct walker {
  std::vector<cap_handle> peers;
  std::int64_t seen = 0;
  std::int64_t sent = 0;
  void introduce(context&, std::vector<cap_handle> p) { peers = std::move(p); }
  expected<void> step(context& ctx, std::int64_t hops, std::int64_t salt) {
    ++seen;
    auto s = static_cast<std::uint64_t>(salt);
    if (s % 997 == 5) return fail(errc::handler_failed, "unlucky salt");
    if (auto r = ctx.charge(s % 7); !r) return r;
    if (hops <= 0 || peers.empty()) return {};
    std::uint64_t next = mix(s + 1);
    int fan = s % 11 == 0 ? 2 : 1;  // a fan-out splits the remaining hops, so work stays linear
    std::int64_t left = fan == 2 ? (hops - 1) / 2 : hops - 1;
    std::uint64_t share = ctx.remaining() / static_cast<std::uint64_t>(fan);
    for (int i = 0; i < fan; ++i) {
      std::uint64_t n = mix(next + static_cast<std::uint64_t>(i));
      if (auto r = ctx.call_with(peers[n % peers.size()], send_options{.budget = share}, left,
                                 static_cast<std::int64_t>(n >> 1));
          !r)
        return r;
      ++sent;
    }
    return {};
  }
  static constexpr std::string_view exo_name = "walker";
  static constexpr auto exo_exports =
      exo::exports(exo::fn<&walker::introduce>("introduce", 1), exo::fn<&walker::step>("step", 1));
};

struct outcome {
  digest trace;
  std::uint64_t deliveries = 0;
  std::uint64_t failures = 0;
  std::vector<std::int64_t> seen;
  bool ticks_monotonic = true;
  bool per_receiver_monotonic = true;
};

template <class Scheduler>
outcome run_workload(int actors, int walks, int hops, std::uint64_t seed) {
  hypervisor<Scheduler> hv(config{.name = "determinism", .failure_budget = 10});
  std::vector<cap_handle> ws, steps;
  for (int i = 0; i < actors; ++i) ws.push_back(hv.create(walker{}));
  for (auto w : ws) steps.push_back(*hv.function_cap(w, "step"));
  for (auto w : ws) BOOST_REQUIRE(hv.call(*hv.function_cap(w, "introduce"), steps));
  hv.run();
  outcome o;
  sha256 h;
  std::uint64_t last = 0;
  std::unordered_map<id, std::uint64_t> last_at;
  hv.on_deliver([&](const delivery& d) {
    h.update(d.receiver.view()).update(d.sender.view());
    std::uint64_t fields[] = {d.function, d.ticks, d.seq, d.ok};
    h.update(byte_view(reinterpret_cast<const std::uint8_t*>(fields), sizeof fields));
    ++o.deliveries;
    if (d.ticks < last) o.ticks_monotonic = false;
    last = d.ticks;
    auto& prev = last_at[d.receiver];
    if (d.ticks < prev) o.per_receiver_monotonic = false;
    prev = d.ticks;
  });
  std::uint64_t salt = seed;
  for (int i = 0; i < walks; ++i) {
    salt = mix(salt);
    BOOST_REQUIRE(hv.send(steps[salt % steps.size()], context::make_args(hops, static_cast<std::int64_t>(salt >> 1)),
                          send_options{.budget = std::uint64_t{1} << 40}));
  }
  hv.run();
  o.trace = h.finish();
  o.failures = hv.stats().failed;
  for (int i = 0; i < actors; ++i) o.seen.push_back(hv.template state_of<walker>(*hv.actor_id(ws[i]))->seen);
  return o;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(determinism)

BOOST_AUTO_TEST_CASE(ten_actors_forwarding_random_messages_see_non_decreasing_ticks) {
  auto o = run_workload<ordered_scheduler>(10, 20, 200, 1);
  BOOST_TEST(o.deliveries > 2000u);
  BOOST_TEST(o.ticks_monotonic);
  BOOST_TEST(o.per_receiver_monotonic);
}

BOOST_AUTO_TEST_CASE(the_same_100k_workload_twice_gives_the_identical_trace) {
  auto a = run_workload<ordered_scheduler>(64, 300, 600, 42);
  auto b = run_workload<ordered_scheduler>(64, 300, 600, 42);
  BOOST_TEST_MESSAGE("deliveries: " << a.deliveries << ", failures: " << a.failures << ", trace " << to_hex(a.trace));
  BOOST_TEST(a.deliveries >= 100'000u);
  BOOST_TEST(a.failures > 0u);  // the workload exercises rollbacks too
  BOOST_TEST((a.trace == b.trace));
  BOOST_TEST(a.deliveries == b.deliveries);
  BOOST_TEST((a.seen == b.seen));
  BOOST_TEST(a.ticks_monotonic);
  // and another seed is another trace: the hash does depend on what happened
  auto c = run_workload<ordered_scheduler>(64, 300, 600, 43);
  BOOST_TEST(!(c.trace == a.trace));
}

BOOST_AUTO_TEST_CASE(fifo_does_the_same_work_in_another_order) {
  auto o = run_workload<ordered_scheduler>(16, 30, 200, 9);
  auto f = run_workload<fifo_scheduler>(16, 30, 200, 9);
  BOOST_TEST(f.deliveries == o.deliveries);
  BOOST_TEST((f.seen == o.seen));
  BOOST_TEST(!(f.trace == o.trace));  // order is not promised, and here it differs
}

BOOST_AUTO_TEST_SUITE_END()
