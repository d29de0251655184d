#pragma once
// The js container's SpiderMonkey side: the process's engine, each thread's context, metering
// by splicing, and realms locked down for determinism. plugin.cpp speaks exo over it.
//
// SpiderMonkey 102 (Debian's libmozjs-102; ../shared/notes/spidermonkey-102.md has the facts
// found by probing it): JS_Init once per process (JS_ShutDown at exit), one JSContext per
// thread that runs JS (an actor's realm lives on its thread), a job queue per context that
// the plugin drains inside each message.

#include <jsapi.h>

#include <js/Promise.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace exo_js {

/// Promise jobs of the message running on this thread, run by drain() inside it; whatever a
/// failed message left is dropped (a job never outlives its message).
class job_queue final : public JS::JobQueue {
 public:
  JSObject* getIncumbentGlobal(JSContext* cx) override;
  bool enqueuePromiseJob(JSContext* cx, JS::HandleObject promise, JS::HandleObject job, JS::HandleObject allocation_site,
                         JS::HandleObject incumbent_global) override;
  void runJobs(JSContext* cx) override;
  bool empty() const override { return jobs_.empty(); }
  js::UniquePtr<SavedJobQueue> saveJobQueue(JSContext* cx) override;

  /// Runs jobs until none is left; false when one failed (its exception pending, or none
  /// when the message was stopped).
  bool drain(JSContext* cx);
  void clear() { jobs_.clear(); }

 private:
  std::deque<JS::PersistentRootedObject> jobs_;
};

/// This thread's context (made on first use, with its job queue and the metering realm).
struct thread_engine {
  JSContext* cx = nullptr;
  job_queue jobs;
  std::uint64_t heap = 0;  // the bound on the collected heap last given to the engine
};
thread_engine& engine();
/// Whether this thread's engine is there (made, and not yet destroyed with the thread).
bool has_engine();

/// Ticks for the code running on this thread: the natives the splices call (__exo_tick)
/// draw from `left`; when it would go below zero the code stops, uncatchably.
///
/// The watchdog (a thread of the process) samples `left` of every thread running code: code
/// that spends no tick for `stall_limit_ms` is inside one built-in call the splices cannot
/// see (a regex backtracking, a sort, string or JSON work on a huge input), and is stopped
/// uncatchably through SpiderMonkey's interrupt (`stalled` set). Wall time is not
/// deterministic: such a stop is a safety net against a hung node, not a result a replay
/// is sure to reproduce (README, "The js container").
struct meter_state {
  /// The ticks left, in two parts: cells[0], which the splices subtract from in JS, and
  /// `reserve`, the rest. cells[0] is an Int32Array's element (each actor realm binds the
  /// view to the lexical `__exo_m`; no script can name it: names starting with __exo_ are
  /// refused), so the JIT compiles a charge to a few integer instructions; it holds at most
  /// cell_most ticks. When a charge takes it below zero, the splices call into the engine,
  /// which moves ticks from the reserve to the cell (refill()) and lets the code go on, or,
  /// with none left, stops it. The split changes no count: only where the ticks wait.
  /// (The watchdog reads cells[0] and `refills` from its thread.)
  ///
  /// cells[1] is the call depth of the code running (meter.js, "Call depth"), which the
  /// splices count in the same array (negated, less one, while a generator's throw or
  /// return resumes it: its catch or finally then takes its resumer's depth plus one).
  /// Integers, not doubles, and both in one array: a message's fib(25) takes about 14% less
  /// time (bench_js; README, "fib"), because a call's depth goes up and down through memory
  /// and an integer add is quicker than a floating one.
  alignas(8) std::int32_t cells[2] = {0, 0};
  std::uint64_t reserve = 0;
  std::atomic<std::uint32_t> refills{0};
  static constexpr std::int32_t cell_most = std::int32_t{1} << 30;
  static constexpr std::uint64_t max_ticks = std::uint64_t{1} << 53;
  std::uint64_t left() const {
    const std::int64_t n = static_cast<std::int64_t>(reserve) + cells[0];
    return n > 0 ? static_cast<std::uint64_t>(n) : 0;
  }
  void set_left(std::uint64_t n) {
    n = n < max_ticks ? n : max_ticks;
    cells[0] = static_cast<std::int32_t>(n < static_cast<std::uint64_t>(cell_most) ? n : cell_most);
    reserve = n - static_cast<std::uint64_t>(cells[0]);
  }
  /// The cell went below zero: true, with the cell refilled from the reserve, if the
  /// reserve covers what was overdrawn; false if the ticks ran out.
  bool refill() {
    const std::int64_t n = static_cast<std::int64_t>(reserve) + cells[0];
    if (n < 0) return false;
    set_left(static_cast<std::uint64_t>(n));
    refills.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  bool out_of_ticks = false;
  /// Why the code ran out of ticks, when not by spending them: the call depth went over
  /// max_depth, or the engine's own stack ran out ("" when it spent them).
  const char* runaway = "";
  /// SpiderMonkey ran out of memory while the code ran: stopped uncatchably (the engine's
  /// callback); like the watchdog's, not a deterministic result.
  bool out_of_memory = false;
  bool heap_full = false;  // a collection left the heap nearly full: out of memory at the next interrupt
  /// The engine's own stack ran out ("too much recursion"): a recursion the splices do not
  /// count (a chain of natives calling natives). Where that happens depends on the JIT, so
  /// it is a fault, as the watchdog's stop is.
  bool engine_overflow = false;
  bool stalled = false;
  bool slow = false;  // stalled by the tick floor (ticks spent, but too few), not by a call that never returned
  std::atomic<std::uint32_t> stall_ms{1000};  // this run's: the watchdog's bound (safety_nets)
  /// Bytes of buffers (ArrayBuffers and typed arrays, which the engine keeps outside its
  /// collected heap) the run may still make, and whether it asked for more: a deterministic
  /// limit, counted in the order the code asks (README, "Memory").
  std::uint64_t memory_left = 0;
  bool over_memory = false;
  std::uint64_t buffers_made = 0;  // constructions the counting constructors counted (never reset)
  bool in_message = false;  // a message runs (not a script's load)
  bool dirty = false;       // the message wrote state that outlives it (__exo_w)
  bool reseed = false;      // Math.random is to be reseeded (from the seed source) before it draws
  std::atomic<std::uint64_t> run{0};    // which run of code this is (0: none running)
  std::atomic<std::uint64_t> stop{0};   // the run the watchdog asked to stop
  std::atomic<std::uint32_t> stop_why{0};  // and why: stop_stalled or stop_slow
};
/// The safety nets' bounds (README, "Faults"): a live run is stopped, as a fault, when it
/// spends no tick for `stall_ms` (one built-in call the splices cannot see), when it spends
/// fewer than `tick_floor` ticks in a window of `stall_ms` (steps that each cost a tick or
/// two but run long: a BigInt's arithmetic on a million bits), or when the engine's
/// collected heap on its thread would pass `heap_bytes`. A message that runs in a replay
/// (exo_host_api::replaying) finished when it was logged, so it gets replay_factor times
/// the time and the heap (the heap at most the engine's 4 GiB; the floor is per window, so
/// its rate is replay_factor times lower): a verifier on a slower machine, or with a fuller
/// heap, does not stop what the node ran to its end. Defaults 1,000 ms, 1,000 ticks and
/// 512 MiB; the environment's EXO_JS_STALL_MS, EXO_JS_TICK_FLOOR (0: none) and
/// EXO_JS_HEAP_MB, read once, change them, and so do exo_js_set_safety_nets and
/// exo_js_set_tick_floor (plugin.cpp) at any time.
struct safety_nets {
  std::atomic<std::uint32_t> stall_ms{1000};
  std::atomic<std::uint32_t> tick_floor{1000};
  std::atomic<std::uint64_t> heap_bytes{std::uint64_t{512} << 20};
};
safety_nets& nets();
inline constexpr std::uint32_t stop_stalled = 1, stop_slow = 2;
inline constexpr std::uint32_t replay_factor = 30;
/// The deepest a call may be (counted by the splices: every JS function of the actor's
/// code is a frame, and so is every call of a wrapped built-in). Past it the code stops,
/// with the whole budget spent (out of ticks). It must stop there before the engine's own
/// stack runs out, JIT or not, or where a recursion stops would depend on the JIT. A frame
/// that the engine enters from its own C++ (a getter or setter, a toString, valueOf or
/// Symbol.toPrimitive the engine calls) costs up to 2.4 KB of native stack when the code
/// is not compiled (a setter's recursion ran out at 3,164 levels of the 7.5 MB the engine
/// may use), and as little as 130 bytes when it is (60,000 levels). 2,000 frames of the
/// worst kind measured take 4.8 MB; the rest is margin for kinds not measured.
inline constexpr unsigned max_depth = 2000;
/// Whether `v` is the engine's own "too much recursion": then the run is stopped
/// (engine_overflow and out_of_ticks set, the whole budget spent) and true is returned.
bool stop_if_runaway(JSContext* cx, JS::HandleValue v);
/// The same for the pending exception, if any (it stays pending).
bool stop_if_runaway(JSContext* cx);
meter_state& meter();
/// Starts metering a run of code with `budget` ticks and `memory` bytes of buffers (the
/// watchdog watches it), with the safety nets' live bounds or, in a `replay`, the replay's;
/// end_run() when it is over.
void begin_run(std::uint64_t budget, bool message, std::uint64_t memory, bool replay);
/// Gives this thread's engine `e` the safety nets' bound on its collected heap, live or for a
/// replay (before anything of the message is made: its realm too).
void bound_heap(thread_engine& e, bool replay);
void end_run();
/// Spends n ticks from meter(); false (out of ticks: the caller stops the code, returning
/// false with no exception) when they are not there.
bool spend(std::uint64_t n);
/// A buffer costs a tick per bytes_per_tick bytes, charged once it is made.
inline constexpr std::uint64_t bytes_per_tick = 64;

/// The source with tick charges spliced in (meter.js), or the reason it cannot be (a syntax
/// error with its line and column).
struct metered {
  std::string source;
  std::string error;
  std::string cold;  // why the script cannot have a warm instance ('' if it can)
};
metered instrument(std::string_view source);

/// A new global for one actor's script, locked down: no Date, Intl, WebAssembly,
/// SharedArrayBuffer, Atomics, WeakRef or FinalizationRegistry; Math.random deterministic
/// (seeded by `seed`); eval and the Function constructors refused; __exo_tick defined;
/// `exports` an empty object. Null on failure (an exception pending).
JSObject* new_actor_global(JSContext* cx, std::uint64_t seed);

/// A script compiled once for this thread's runtime (a stencil), run in any realm of it. The
/// same source compiled on another thread gets a stencil of its own there.
class compiled_script {
 public:
  explicit compiled_script(std::string source) : source_(std::move(source)) {}
  const std::string& source() const { return source_; }
  /// Runs the script in the current realm (compiling it for this thread the first time);
  /// false with the exception pending when it throws or does not compile.
  bool run(JSContext* cx, const char* name, JS::MutableHandleValue out) const;

 private:
  std::string source_;
  std::uint64_t serial_ = next_serial();
  static std::uint64_t next_serial();
};

/// The objects a realm makes only when code first needs them (the prototypes of iterators,
/// generators and async functions, %TypedArray%, %ThrowTypeError%...), made now (in the
/// current realm, before any actor code runs) and returned as an array for harden().
JSObject* make_intrinsics(JSContext* cx);
/// Makes what a realm holds immutable once its script has loaded, for a warm instance: every
/// object reachable from the global, from `intrinsics` and from the closures' environments
/// (found by tracing) is frozen, and so is the global. False, with nothing frozen and the
/// reason in `why`, when something reachable cannot be made immutable by freezing (a Map, a
/// Set, a typed array, a pending promise, a proxy, a generator...): the script then runs in
/// a fresh realm every message.
bool harden(JSContext* cx, JS::HandleObject global, JS::HandleObject intrinsics, std::string& why);

/// Reseeds a realm's Math.random (the function new_actor_global defined).
void seed_random(JSObject* random, std::uint64_t seed);
/// Where a message's Math.random seed comes from: called by the first Math.random of each
/// message (a run begun with message = true), so a message that draws nothing pays nothing.
using seed_source = std::uint64_t (*)();
void set_seed_source(seed_source f);

/// Runs `source` (already instrumented) in the current realm as a script named `name`.
bool evaluate(JSContext* cx, std::string_view source, const char* name, JS::MutableHandleValue out);
/// Whether `source` compiles (without running it); the SyntaxError pending when not.
bool compiles(JSContext* cx, std::string_view source, const char* name);

/// The pending exception as text ("TypeError: x is not a function (actor.js:3:7)"), cleared;
/// or a note that the code was stopped, when none is pending.
std::string take_exception(JSContext* cx);

/// A JS string as UTF-8 (unpaired surrogates become U+FFFD).
std::optional<std::string> utf8(JSContext* cx, JS::HandleString s);

}  // namespace exo_js
