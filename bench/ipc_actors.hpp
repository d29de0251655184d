#pragma once
// The exo actors of the IPC workloads, and setup helpers: shared by bench_ipc (timed,
// against CAF) and bench_count (instructions counted under callgrind).

#include <exo/hypervisor.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace ipc {

using exo::cap_handle;
using exo::context;
using exo::expected;

constexpr std::uint64_t huge_budget = std::uint64_t{1} << 62;

/// Bounces a counter to its peer until it reaches zero.
struct player {
  cap_handle peer{};
  void meet(context&, cap_handle p) { peer = p; }
  expected<void> ball(context& ctx, std::int64_t n) {
    if (n <= 0) return {};
    return ctx.call(peer, n - 1);
  }
  static constexpr std::string_view exo_name = "player";
  static constexpr auto exo_exports =
      exo::exports(exo::fn<&player::meet>("meet", 1), exo::fn<&player::ball>("ball", 1));
};

/// Receives small messages and counts them.
struct sink {
  std::int64_t received = 0;
  void take(context&, std::int64_t) { ++received; }
  static constexpr std::string_view exo_name = "sink";
  static constexpr auto exo_exports = exo::exports(exo::fn<&sink::take>("take", 1));
};

/// Sends n small messages to one target in one handler.
struct blaster {
  expected<void> blast(context& ctx, std::int64_t n, cap_handle target) {
    const exo::send_options opts{.budget = 1};
    for (std::int64_t i = 0; i < n; ++i)
      if (auto r = ctx.call_with(target, opts, i); !r) return r;
    return {};
  }
  static constexpr std::string_view exo_name = "blaster";
  static constexpr auto exo_exports = exo::exports(exo::fn<&blaster::blast>("blast", 1));
};

/// Replies to whoever asks (the reply goes to the message's reply_to).
struct worker {
  std::int64_t work(context&, std::int64_t x) const { return x; }
  static constexpr std::string_view exo_name = "worker";
  static constexpr auto exo_exports = exo::exports(exo::fn<&worker::work>("work", 1));
};

/// Sends one message to each worker and counts the replies. The worker list never changes
/// after hire, so it is shared, not copied by each message's state snapshot.
struct coordinator {
  std::shared_ptr<const std::vector<cap_handle>> workers;
  cap_handle done_cap{};
  std::int64_t replies = 0;
  expected<void> hire(context& ctx, std::vector<cap_handle> w) {
    workers = std::make_shared<const std::vector<cap_handle>>(std::move(w));
    auto d = ctx.self_cap("done", exo::rights::call | exo::rights::transfer);
    if (!d) return exo::unexpected(d.error());
    done_cap = *d;
    return {};
  }
  expected<void> go(context& ctx) {
    const exo::send_options opts{.budget = 10, .reply_to = done_cap};
    for (auto w : *workers)
      if (auto r = ctx.call_with(w, opts, 1); !r) return r;
    return {};
  }
  void done(context&, std::int64_t) { ++replies; }
  static constexpr std::string_view exo_name = "coordinator";
  static constexpr auto exo_exports =
      exo::exports(exo::fn<&coordinator::hire>("hire", 1), exo::fn<&coordinator::go>("go", 1),
                   exo::fn<&coordinator::done>("done", 1));
};

/// An idle actor, and one that spawns many of them.
struct idle {
  void poke(context&) {}
  static constexpr std::string_view exo_name = "idle";
  static constexpr auto exo_exports = exo::exports(exo::fn<&idle::poke>("poke", 1));
};
struct spawner {
  expected<void> spawn(context& ctx, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i)
      if (auto r = ctx.create(idle{}); !r) return exo::unexpected(r.error());
    return {};
  }
  static constexpr std::string_view exo_name = "spawner";
  static constexpr auto exo_exports = exo::exports(exo::fn<&spawner::spawn>("spawn", 1));
};

template <class H>
cap_handle fn(H& hv, cap_handle actor, std::string_view name) {
  return *hv.function_cap(actor, name);
}
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "benchmark setup failed: %s\n", what);
    std::abort();
  }
}

/// Fan-out/fan-in: a coordinator that has hired `workers` workers (and run until idle).
/// Returns the coordinator and its "go" capability; each go is 2 x workers messages.
template <class H>
std::pair<cap_handle, cap_handle> hire_fan(H& hv, std::int64_t workers) {
  auto c = hv.create(coordinator{});
  std::vector<cap_handle> ws;
  for (std::int64_t i = 0; i < workers; ++i) ws.push_back(fn(hv, hv.create(worker{}), "work"));
  check(bool(hv.call(fn(hv, c, "hire"), ws)), "hire");
  hv.run();
  return {c, fn(hv, c, "go")};
}

}  // namespace ipc
