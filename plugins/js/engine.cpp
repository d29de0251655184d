#include "engine.hpp"

#include <js/CharacterEncoding.h>
#include <js/CompilationAndEvaluation.h>
#include <js/Conversions.h>
#include <js/ErrorReport.h>
#include <js/Exception.h>
#include <js/Initialization.h>
#include <js/Interrupt.h>
#include <js/MapAndSet.h>
#include <js/Array.h>
#include <js/ArrayBuffer.h>
#include <js/Promise.h>
#include <js/Object.h>
#include <js/Proxy.h>
#include <js/GCHashTable.h>
#include <js/TracingAPI.h>
#include <js/experimental/JSStencil.h>
#include <js/friend/ErrorMessages.h>
#include <js/MemoryCallbacks.h>
#include <js/experimental/TypedData.h>
#include <js/LocaleSensitive.h>
#include <js/Principals.h>
#include <js/PropertyAndElement.h>
#include <js/SourceText.h>
#include <js/Realm.h>
#include <js/RegExp.h>
#include <js/RealmOptions.h>
#include <js/String.h>
#include <js/Symbol.h>
#include <js/WeakMap.h>
#include <jsfriendapi.h>

#include <fmt/format.h>

#include <pthread.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

namespace exo_js {

extern const char meter_js[];  // meter.js, embedded by the build (meter_js.cpp)

namespace {

// The standard classes an actor's realm never has: a wall clock, the host's locale, code
// from outside the splices, shared memory and what the collector's timing shows.
bool banned(JSProtoKey k) {
  switch (k) {
    case JSProto_Date:
    case JSProto_WebAssembly:
    case JSProto_SharedArrayBuffer:
    case JSProto_Atomics:
    case JSProto_WeakRef:
    case JSProto_FinalizationRegistry:
#ifdef JS_HAS_INTL_API
    case JSProto_Intl:
#endif
      return true;
    default: return false;
  }
}

// Standard classes are made when code first names them (making them all up front costs about
// a millisecond a realm), except the banned ones, which are never made.
bool resolve_global(JSContext* cx, JS::HandleObject obj, JS::HandleId id, bool* resolved) {
  if (banned(JS_IdToProtoKey(cx, id))) {
    *resolved = false;
    return true;
  }
  return JS_ResolveStandardClass(cx, obj, id, resolved);
}
bool enumerate_global(JSContext* cx, JS::HandleObject obj, JS::MutableHandleIdVector properties, bool enumerable_only) {
  if (!JS_NewEnumerateStandardClasses(cx, obj, properties, enumerable_only)) return false;
  JS::RootedId id(cx);
  std::size_t kept = 0;
  for (std::size_t i = 0; i < properties.length(); ++i) {
    id = properties[i];
    if (!banned(JS_IdToProtoKey(cx, id))) properties[kept++].set(properties[i]);
  }
  properties.shrinkBy(properties.length() - kept);
  return true;
}
const JSClassOps actor_global_ops = {nullptr, nullptr, nullptr, enumerate_global, resolve_global,
                                     JS_MayResolveStandardClass, nullptr, nullptr, nullptr, JS_GlobalObjectTraceHook};
const JSClass actor_global_class = {"global", JSCLASS_GLOBAL_FLAGS, &actor_global_ops};
const JSClass global_class = {"global", JSCLASS_GLOBAL_FLAGS, &JS::DefaultGlobalClassOps};

// eval, new Function and the async and generator function constructors: refused.
bool refuse_code_from_strings(JSContext*, JS::RuntimeCode, JS::HandleString) { return false; }
const JSSecurityCallbacks security = {refuse_code_from_strings, nullptr};

void init_process() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!JS_Init()) throw std::runtime_error("SpiderMonkey's JS_Init failed");
    // JS_ShutDown must run once, at exit, after every context is gone (the threads' contexts
    // go with their thread_local; the main thread's before atexit handlers run).
    std::atexit([] { JS_ShutDown(); });
  });
}

// ---- the watchdog ----

// Every thread's context and meter, sampled by one thread of the process. Never destroyed:
// the watchdog thread may outlive static destructors at exit.
struct watched {
  JSContext* cx;
  meter_state* meter;
  std::uint64_t run = 0;             // at the last sample: the run,
  std::int32_t cell = 0;             // the tick cell
  std::uint32_t refills = 0;         // and how often it was refilled
  unsigned still = 0;               // samples in a row with no tick spent
  unsigned window = 0;              // samples in this window (a stall bound long: the tick floor's)
  std::uint64_t window_ticks = 0;   // ticks spent in it, as the tick cell shows them
};
struct watchdog {
  std::mutex m;
  std::vector<watched> threads;
  static constexpr unsigned period_ms = 100;

  static watchdog& get() {
    static watchdog* w = [] {
      auto* d = new watchdog;
      std::thread([d] { d->loop(); }).detach();
      return d;
    }();
    return *w;
  }
  void add(JSContext* cx, meter_state* m) {
    std::lock_guard l(this->m);
    threads.push_back(watched{cx, m});
  }
  void remove(JSContext* cx) {
    std::lock_guard l(this->m);
    std::erase_if(threads, [&](const watched& w) { return w.cx == cx; });
  }
  [[noreturn]] void loop() {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(period_ms));
      std::lock_guard l(m);
      for (watched& w : threads) {
        const std::uint64_t run = w.meter->run.load(std::memory_order_acquire);
        const std::int32_t cell = std::atomic_ref<std::int32_t>(w.meter->cells[0]).load(std::memory_order_relaxed);
        const std::uint32_t refills = w.meter->refills.load(std::memory_order_relaxed);
        const std::uint32_t stall_ms = w.meter->stall_ms.load(std::memory_order_relaxed);
        if (run == 0 || run != w.run) {  // a new run (or none): its windows start now
          w.run = run;
          w.cell = cell;
          w.refills = refills;
          w.still = w.window = 0;
          w.window_ticks = 0;
          continue;
        }
        // Spent since the last sample: what the cell went down, or, refilled, a cell's worth
        // (a refill moves a cell of ticks from the reserve after the last was spent). (A
        // walker giving ticks back raises the cell: none spent.)
        const std::uint64_t spent = refills != w.refills ? meter_state::cell_most
                                    : cell < w.cell         ? static_cast<std::uint64_t>(w.cell - cell)
                                                            : 0;
        const bool moved = cell != w.cell || refills != w.refills;
        w.cell = cell;
        w.refills = refills;
        w.window_ticks += spent;
        std::uint32_t why = 0;
        if (moved) w.still = 0;
        else if (++w.still * period_ms >= stall_ms) why = stop_stalled;
        if (++w.window * period_ms >= stall_ms) {
          if (!why && w.window_ticks < nets().tick_floor.load(std::memory_order_relaxed)) why = stop_slow;
          w.window = 0;
          w.window_ticks = 0;
        }
        if (why) {
          w.meter->stop_why.store(why, std::memory_order_relaxed);
          w.meter->stop.store(run, std::memory_order_release);
          JS_RequestInterruptCallback(w.cx);
          w.still = w.window = 0;
          w.window_ticks = 0;
        }
      }
    }
  }
};

// holder.e once made: a trivial thread_local, read without the wrapper call (and lazy-init
// check) that every use of `holder`, which has a destructor, costs.
constinit thread_local thread_engine* engine_now = nullptr;

// Each thread's engine: its context is destroyed with the thread.
struct thread_holder {
  std::unique_ptr<thread_engine> e;
  std::unique_ptr<JS::PersistentRootedObject> meter_global;  // also the zone actors' realms are made in
  std::unique_ptr<JS::PersistentRootedValue> meter_fn;
  ~thread_holder() {
    if (!e) return;
    engine_now = nullptr;
    meter_fn.reset();
    meter_global.reset();
    e->jobs.clear();
    watchdog::get().remove(e->cx);
    JS_DestroyContext(e->cx);
  }
};
thread_local thread_holder holder;
thread_local meter_state meter_now;

// SpiderMonkey's interrupt, on the code's own thread: stops the code (false, no exception)
// if the watchdog asked to stop this run; a late request for a run already over is ignored.
bool on_interrupt(JSContext*) {
  meter_state& m = meter_now;
  const std::uint64_t run = m.run.load(std::memory_order_relaxed);
  if (run == 0) return true;
  if (m.heap_full) {  // (on_gc)
    m.out_of_memory = true;
    return false;
  }
  if (m.stop.load(std::memory_order_acquire) != run) return true;
  m.stalled = true;
  m.slow = m.stop_why.load(std::memory_order_relaxed) == stop_slow;
  return false;
}

// After each collection while code runs: a heap still more than 7/8 full of what the code
// keeps is running out. Left to go on, the engine collects again and again as the code adds
// to it (three million small objects took 0.4 s to run out of an 8 MiB bound, 11 s of 32 MiB
// and 53 s of 64 MiB), so the code is stopped now, as out of memory, through the interrupt.
void on_gc(JSContext* cx, JSGCStatus status, JS::GCReason, void*) {
  meter_state& m = meter_now;
  if (status != JSGC_END || m.run.load(std::memory_order_relaxed) == 0) return;
  const std::uint64_t used = JS_GetGCParameter(cx, JSGC_BYTES), most = JS_GetGCParameter(cx, JSGC_MAX_BYTES);
  if (used <= most - most / 8) return;
  m.heap_full = true;
  JS_RequestInterruptCallback(cx);
}

// __exo_tick(n): spends n ticks (at least 1, at most a million: the splices pass their body's
// size; code that reaches it some other way can only spend more). Out of ticks: stops the
// code, uncatchably (false with no exception pending).
bool tick(JSContext*, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  std::uint64_t n = 1;
  if (args.length() > 0 && args[0].isInt32() && args[0].toInt32() > 1) n = static_cast<std::uint64_t>(args[0].toInt32());
  if (n > 1'000'000) n = 1'000'000;
  if (!spend(n)) return false;
  // The run of code this call belongs to: a function whose variables inner functions write
  // keeps it, for __exo_w.
  args.rval().setNumber(static_cast<double>(meter_now.run.load(std::memory_order_relaxed)));
  return true;
}

// Stops the code out of ticks, uncatchably (false, no exception), the whole budget spent;
// `runaway` says why when the ticks were not spent (meter_state::runaway).
bool out_of_budget(const char* runaway = "") {
  meter_now.set_left(0);
  meter_now.out_of_ticks = true;
  meter_now.runaway = runaway;
  return false;
}

// __exo_out(): the splices' charge took the tick cell below zero: refilled from the reserve
// and on, or out of ticks, uncatchably.
bool out_of_ticks(JSContext*, unsigned argc, JS::Value* vp) {
  if (!meter_now.refill()) return out_of_budget();
  JS::CallArgsFromVp(argc, vp).rval().setUndefined();
  return true;
}
constexpr const char* too_deep = "the call depth went over the limit";
constexpr const char* engine_stack = "the engine's stack ran out (too much recursion)";

// __exo_deep(): the splices' depth went over max_depth.
bool too_deep_native(JSContext*, unsigned, JS::Value*) { return out_of_budget(too_deep); }

// __exo_x(): a function's entry found the tick cell below zero or the depth over max_depth:
// the cell refilled and on, or stopped (out of ticks first, then too deep).
bool entry_failed(JSContext*, unsigned argc, JS::Value* vp) {
  meter_state& m = meter_now;
  if (m.cells[0] < 0 && !m.refill()) return out_of_budget();
  if (m.cells[1] > static_cast<std::int32_t>(max_depth)) return out_of_budget(too_deep);
  JS::CallArgsFromVp(argc, vp).rval().setUndefined();
  return true;
}

// __exo_c(e), at the top of every catch: what no code may catch stops the code here (the
// engine's "too much recursion", and anything thrown once it ran out of memory).
bool catch_guard(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  if (meter_now.out_of_memory) return false;
  if (stop_if_runaway(cx, args.get(0))) return false;
  args.rval().setUndefined();
  return true;
}

// The engine ran out of memory: whatever the code does next, it is stopped (its catches
// check this first), and the message fails.
void on_out_of_memory(JSContext*, void*) {
  if (meter_now.run.load(std::memory_order_relaxed) != 0) meter_now.out_of_memory = true;
}

// The Int32Array over this thread's tick cell and call depth, bound to each actor realm's
// `__exo_m`.
JSObject* new_meter_view(JSContext* cx) {
  JS::RootedObject buffer(cx, JS::NewArrayBufferWithUserOwnedContents(cx, sizeof meter_now.cells, meter_now.cells));
  return buffer ? JS_NewInt32ArrayWithBuffer(cx, buffer, 0, 2) : nullptr;
}
bool meter_cell(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  JSObject* view = new_meter_view(cx);
  if (!view) return false;
  args.rval().setObject(*view);
  return true;
}

// __exo_w(epoch): a write to a variable of an environment made by the run `epoch` (0: the
// script's top level). In a message, an environment made by another run (the load or an
// earlier message) is state that would outlive the message: the instance is spent.
bool write_check(JSContext*, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  meter_state& m = meter_now;
  if (m.in_message && (!args.get(0).isNumber() ||
                       args.get(0).toNumber() != static_cast<double>(m.run.load(std::memory_order_relaxed))))
    m.dirty = true;
  args.rval().setUndefined();
  return true;
}

// Math.random, deterministic: xorshift64* over a state kept in the function's reserved slot
// (a double holding 53 bits would lose state: two int32 halves in two slots).
thread_local seed_source message_seed = nullptr;

bool seeded_random(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  JSObject* callee = &args.callee();
  if (meter_now.reseed && message_seed) {
    meter_now.reseed = false;
    seed_random(callee, message_seed());
  }
  const JS::Value hi = js::GetFunctionNativeReserved(callee, 0), lo = js::GetFunctionNativeReserved(callee, 1);
  std::uint64_t s = (static_cast<std::uint64_t>(static_cast<std::uint32_t>(hi.toInt32())) << 32) |
                    static_cast<std::uint32_t>(lo.toInt32());
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  js::SetFunctionNativeReserved(callee, 0, JS::Int32Value(static_cast<std::int32_t>(s >> 32)));
  js::SetFunctionNativeReserved(callee, 1, JS::Int32Value(static_cast<std::int32_t>(s & 0xffffffffu)));
  const std::uint64_t r = s * 0x2545F4914F6CDD1DULL;
  args.rval().setDouble(static_cast<double>(r >> 11) / 9007199254740992.0);  // 53 bits in [0, 1)
  (void)cx;
  return true;
}

// How much of this thread's stack the engine may use: all of it but a margin (for exo's
// frames below the code, and the engine's own work past its checks). An 8 MiB stack (glibc's
// default) holds max_depth frames of any kind with room to spare (engine.hpp).
std::size_t stack_quota() {
  constexpr std::size_t margin = 512 * 1024, least = 256 * 1024;
  pthread_attr_t attr;
  std::size_t size = 0;
  void* addr = nullptr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    if (pthread_attr_getstack(&attr, &addr, &size) != 0) size = 0;
    pthread_attr_destroy(&attr);
  }
  return size > margin + least ? size - margin : least;
}

// Built-ins wrapped in each realm by natives that call the original (kept in the wrapper's
// first reserved slot) and then do what the kind (second slot) says:
// - resume, abrupt: a generator's next, or its return or throw; the caller's call depth is
//   put back when the generator yields (meter.js, "Call depth"), and for return and throw
//   the depth is negated (less one) until then, which tells the catch or finally resumed
//   into to take the caller's depth plus one;
// - sized, sorted: a built-in whose work grows with its input and that the splices cannot
//   see inside (sort, join, JSON, String.prototype's repeat, pad, replace, split, match,
//   search, normalize and case). After it returns, it is charged a tick per 8 elements or
//   characters it took (`this` and the first argument) and made (sort: n log2 n / 8, n the
//   length), so its ticks follow the sizes, deterministically. The engine's own limits (a
//   string of at most 2^30 - 2 characters) bound what one call can take; work that no size
//   bounds (a regex backtracking) is left to the watchdog.
// - stringified, flat, parsed, bound: built-ins that recurse inside the engine over the
//   data they are given, with no frame the splices count (below, "Recursion inside the
//   engine").
// Every call of a wrapper (but a generator's) is a frame of the call depth.
// A native keeps the built-in's name and length and costs a realm about 100 bytes.
// - buffered: a built-in that makes a buffer through a species constructor a script can
//   point at the original (`t.constructor = undefined` makes %TypedArray%.prototype.slice
//   use the intrinsic): the result's bytes are counted as a buffer (see "Buffers") unless a
//   counting constructor ran during the call.
enum class wrap_kind : std::int32_t { resume, sized, sorted, abrupt, stringified, flat, parsed, bound, buffered };

// ---- Recursion inside the engine ----
//
// Some built-ins recurse in the engine's own (native) stack over the data they are given:
// join and toString (an array's elements' toString, which joins them in turn),
// toLocaleString, JSON.stringify, JSON.parse's reviver walk, flat, and calls through a
// function bound again and again. None of those levels is a frame the splices count, so the
// engine's stack can run out first, and where it does depends on the JIT (how big the
// frames below are): a 3,000-deep array would join in one run and not in another. So each
// level is made to count, deterministically:
// - join and toLocaleString: every level calls the wrapper again (an array's toString looks
//   `join` up), a frame of the depth (a level is about 2.5 KB of stack: engine.hpp,
//   max_depth);
// - JSON.stringify and flat: the levels do not come back through the wrapper. The wrapper
//   reserves half the depth left for them (code the call runs, toJSON, a getter, a
//   replacer, counts on from above the reservation); stringify's result says how deep it
//   went (its brackets), and flat is asked for at most the reserved depth, its result then
//   checked for arrays left to flatten. Deeper than the reservation: out of ticks, as too deep;
//   within it, the engine's stack always suffices (a level is at most 520 bytes);
// - JSON.parse with a reviver: the walk is exo's, over an explicit stack (no recursion);
// - bind: a function may be bound at most max_bound times over, proxies between bindings
//   or not (a call through the chain is a native level per binding); past that, bind throws.
// A call through a bound function also copies its bound arguments, in the engine, at every
// level of the chain below it (a level passes its own and those it was given; a proxy's
// trap is given them too): one tick bought a copy of 400,000 arguments. So what a call
// through the chain copies is counted when the chain is made (each binding's arguments
// times the levels from it down, kept per binding in a weak map of the realm's) and bounded
// by max_bound_copies; past that, bind throws.
// Where the engine's stack runs out inside one of these anyway, it is taken as too deep too
// (the same result, whichever JIT state got there).
constexpr unsigned max_bound = 1000;
constexpr double max_bound_copies = 1000;
// The realm's weak map from a bound function to the bound arguments a call through it copies
// (an application slot of the global's, made on first use; no script can reach it).
constexpr std::uint32_t bound_copies_slot = 0;
static_assert(bound_copies_slot < JSCLASS_GLOBAL_APPLICATION_SLOTS);
JSObject* bound_copies(JSContext* cx) {
  JS::RootedObject global(cx, JS::CurrentGlobalOrNull(cx));
  if (const JS::Value kept = JS::GetReservedSlot(global, bound_copies_slot); kept.isObject()) return &kept.toObject();
  JSObject* map = JS::NewWeakMapObject(cx);
  if (map) JS::SetReservedSlot(global, bound_copies_slot, JS::ObjectValue(*map));
  return map;
}

// The deepest nesting of arrays and objects in a JSON text (brackets outside strings).
template <class C>
std::int32_t json_depth(const C* p, std::size_t n) {
  std::int32_t depth = 0, most = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < n; ++i) {
    const C c = p[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      most = std::max(most, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return most;
}
std::int32_t json_depth(JSContext* cx, JSString* s) {
  JSLinearString* l = JS_EnsureLinearString(cx, s);
  if (!l) return -1;
  JS::AutoCheckCannotGC nogc;
  const std::size_t n = JS::GetLinearStringLength(l);
  if (JS::LinearStringHasLatin1Chars(l)) return json_depth(JS::GetLatin1LinearStringChars(nogc, l), n);
  return json_depth(JS::GetTwoByteLinearStringChars(nogc, l), n);
}

// Whether `v` is the engine's "too much recursion" (not an InternalError code made).
bool is_engine_overflow(JSContext* cx, JS::HandleValue v) {
  if (!v.isObject()) return false;
  JS::RootedObject o(cx, &v.toObject());
  JSErrorReport* report = JS_ErrorFromException(cx, o);
  return report && report->errorNumber == JSMSG_OVER_RECURSED;
}
// The same for the pending exception.
bool engine_overflowed(JSContext* cx) {
  if (!JS_IsExceptionPending(cx)) return false;
  JS::RootedValue v(cx);
  return JS_GetPendingException(cx, &v) && is_engine_overflow(cx, v);
}

// JSON.parse's reviver walk (InternalizeJSONProperty), over an explicit stack: each value's
// properties (an array's indices, an object's enumerable own string keys, taken when the walk
// reaches it) are walked first, then the reviver is called with the holder as `this`, and
// what it returns replaces the property (undefined deletes it).
bool internalize(JSContext* cx, JS::HandleObject root, JS::HandleValue reviver, JS::MutableHandleValue out) {
  // The walk's levels, one per value being walked: its holder and name, the value, and its
  // keys (a range of `keys`, which the levels above it share as a stack).
  struct level {
    std::size_t begin, end, next;
  };
  std::vector<level> levels;
  JS::RootedObjectVector holders(cx);
  JS::RootedIdVector names(cx), keys(cx);
  JS::RootedValueVector values(cx);
  // Starts the walk of holder[name].
  auto enter = [&](JS::HandleObject holder, JS::HandleId name) -> bool {
    JS::RootedValue v(cx);
    if (!JS_GetPropertyById(cx, holder, name, &v)) return false;
    const std::size_t begin = keys.length();
    if (v.isObject()) {
      JS::RootedObject o(cx, &v.toObject());
      bool array = false;
      if (!JS::IsArray(cx, o, &array)) return false;
      if (array) {
        std::uint32_t n = 0;
        if (!JS::GetArrayLength(cx, o, &n) || !keys.reserve(begin + n)) return false;
        JS::RootedId id(cx);
        for (std::uint32_t i = 0; i < n; ++i) {
          if (!JS_IndexToId(cx, i, &id)) return false;
          keys.infallibleAppend(id);
        }
      } else {
        JS::Rooted<JS::IdVector> ids(cx, JS::IdVector(cx));
        if (!JS_Enumerate(cx, o, &ids) || !keys.appendAll(ids)) return false;
      }
    }
    if (!holders.append(holder) || !names.append(name) || !values.append(v)) return false;
    levels.push_back(level{begin, keys.length(), begin});
    return true;
  };
  JS::RootedString empty_string(cx, JS_GetEmptyString(cx));
  JS::RootedId empty(cx);
  if (!JS_StringToId(cx, empty_string, &empty) || !enter(root, empty)) return false;
  JS::RootedValue result(cx), holder(cx), name(cx), v(cx);
  JS::RootedObject h(cx);
  JS::RootedId id(cx);
  while (!levels.empty()) {
    level& l = levels.back();
    if (l.next < l.end) {  // the next property of the value first
      h = &values.back().toObject();
      id = keys[l.next++];
      if (!enter(h, id)) return false;
      continue;
    }
    // Every property walked: the reviver's turn.
    h = holders.back();
    id = names.back();
    holder.setObject(*h);
    if (!JS_IdToValue(cx, id, &name)) return false;
    if (!name.isString()) {
      JS::RootedString s(cx, JS::ToString(cx, name));
      if (!s) return false;
      name.setString(s);
    }
    if (!JS_GetPropertyById(cx, h, id, &v)) return false;
    JS::RootedValueArray<2> argv(cx);
    argv[0].set(name);
    argv[1].set(v);
    if (!JS::Call(cx, holder, reviver, argv, &result)) return false;
    keys.shrinkBy(keys.length() - l.begin);
    levels.pop_back();
    holders.popBack();
    names.popBack();
    values.popBack();
    if (levels.empty()) break;  // the root's: the result
    if (result.isUndefined()) {
      JS::ObjectOpResult ignored;  // (a property that cannot be deleted stays)
      if (!JS_DeletePropertyById(cx, h, id, ignored)) return false;
    } else {
      // CreateDataProperty: a property that cannot be redefined stays as it is.
      JS::Rooted<JS::PropertyDescriptor> desc(cx, JS::PropertyDescriptor::Data(result, {JS::PropertyAttribute::Configurable, JS::PropertyAttribute::Enumerable, JS::PropertyAttribute::Writable}));
      JS::ObjectOpResult ignored;
      if (!JS_DefinePropertyById(cx, h, id, desc, ignored)) return false;
    }
  }
  out.set(result);
  return true;
}

// The elements or characters in v: a string's length, an array's (not a proxy's, whose
// length would run code), else 0.
std::uint64_t size_of(JSContext* cx, JS::HandleValue v) {
  if (v.isString()) return JS::GetStringLength(v.toString());
  if (!v.isObject() || js::IsProxy(&v.toObject())) return 0;
  JS::RootedObject o(cx, &v.toObject());
  bool array = false;
  std::uint32_t n = 0;
  if (!JS::IsArrayObject(cx, o, &array) || !array || !JS::GetArrayLength(cx, o, &n)) {
    JS_ClearPendingException(cx);
    return 0;
  }
  return n;
}

// A wrapper's arguments, to pass on to the original.
bool copy_args(const JS::CallArgs& args, JS::MutableHandleValueVector argv) {
  if (!argv.reserve(args.length())) return false;
  for (unsigned i = 0; i < args.length(); ++i) argv.infallibleAppend(args[i]);
  return true;
}

// The charge of a sized or sorted built-in's call, after it returned.
bool charge_by_size(JSContext* cx, wrap_kind kind, const JS::CallArgs& args) {
  std::uint64_t n = size_of(cx, args.thisv());
  if (kind == wrap_kind::sorted) {
    n = n > 1 ? static_cast<std::uint64_t>(std::ceil(static_cast<double>(n) * std::log2(static_cast<double>(n)))) : 0;
  } else {
    n += size_of(cx, args.get(0)) + size_of(cx, args.rval());
  }
  return spend((n + 7) / 8);
}

// The call failed: the engine's stack running out inside a wrapped built-in is the call depth
// going over (engine.hpp, max_depth: within it, the stack suffices).
bool failed_call(JSContext* cx) {
  if (!engine_overflowed(cx)) return false;
  JS_ClearPendingException(cx);
  return out_of_budget(too_deep);
}

// stringify, flat, JSON.parse and bind ("Recursion inside the engine"), apart from the
// wrapper so that their locals do not make the wrapper's own frame, which a join recursion
// repeats at every level, any bigger.
[[gnu::noinline]] bool wrapped_recursive(JSContext* cx, const JS::CallArgs& args, JS::HandleValue original, wrap_kind kind,
                                         std::int32_t depth) {
  constexpr auto max = static_cast<std::int32_t>(max_depth);
  JS::RootedValueVector argv(cx);
  if (!copy_args(args, &argv)) return false;
  // stringify and flat reserve half the depth left for the levels they recurse.
  const std::int32_t reserved = kind == wrap_kind::stringified || kind == wrap_kind::flat ? (max - depth - 1) / 2 : 0;
  bool flat_checks = false;  // flat was asked for more levels than were reserved
  if (kind == wrap_kind::flat) {
    double levels = 1;
    if (!args.get(0).isUndefined() && !JS::ToNumber(cx, args.get(0), &levels)) return false;
    if (std::isnan(levels)) levels = 0;
    if (levels > reserved) {
      levels = reserved;
      flat_checks = true;
    }
    if (argv.empty() && !argv.append(JS::UndefinedValue())) return false;
    argv[0].setNumber(std::trunc(levels));
  }
  double copies = 0;  // (bind: the bound arguments a call through the new function copies)
  if (kind == wrap_kind::bound && args.thisv().isObject() && JS::IsCallable(&args.thisv().toObject())) {
    // The levels a call through the new binding passes its arguments down: its own, and below
    // it each binding and each proxy (its trap is given them; a proxy's target is never a
    // proxy in exo) down to the function called.
    unsigned chain = 0, levels = 1;
    JS::RootedObject first_bound(cx);  // the first binding below (what it copies is kept for it)
    for (JSObject* at = &args.thisv().toObject(); at;) {
      if (js::IsProxy(at)) {
        at = js::GetProxyTargetObject(at);
        ++levels;
        continue;
      }
      JSFunction* f = JS_ObjectIsFunction(at) ? JS_GetObjectFunction(at) : nullptr;
      if (!f || !JS_IsFunctionBound(f)) break;
      if (chain >= max_bound) {
        JS_ReportErrorASCII(cx, "exo: a function may be bound at most %u times over (a call through the bindings recurses in the engine)", max_bound);
        return false;
      }
      if (!first_bound) first_bound = at;
      ++chain;
      ++levels;
      at = JS_GetBoundFunctionTarget(f);
    }
    // This binding's arguments (after `this`), copied at every level, and what the bindings
    // below copy of their own.
    copies = static_cast<double>(args.length() > 1 ? args.length() - 1 : 0) * levels;
    if (first_bound) {
      JS::RootedObject map(cx, bound_copies(cx));
      JS::RootedValue below(cx);
      if (!map || !JS::GetWeakMapEntry(cx, map, first_bound, &below)) return false;
      if (below.isNumber()) copies += below.toNumber();
    }
    if (copies > max_bound_copies) {
      JS_ReportErrorASCII(cx,
                          "exo: a call through this bound function would copy %.0f bound arguments (at most %.0f: the engine "
                          "copies a binding's arguments at every level of the chain below it, uncharged)",
                          copies, max_bound_copies);
      return false;
    }
  }
  meter_now.cells[1] = depth + 1 + reserved;
  bool ok = false;
  if (kind == wrap_kind::parsed && args.length() > 1 && args[1].isObject() && JS::IsCallable(&args[1].toObject())) {
    // JSON.parse(text, reviver): the text parsed bare, then exo's walk.
    argv.shrinkBy(argv.length() - 1);
    JS::RootedValue parsed(cx);
    JS::RootedObject root(cx, JS_NewPlainObject(cx));
    ok = root && JS::Call(cx, args.thisv(), original, argv, &parsed) && JS_DefineProperty(cx, root, "", parsed, JSPROP_ENUMERATE) &&
         internalize(cx, root, args[1], args.rval());
  } else {
    ok = JS::Call(cx, args.thisv(), original, argv, args.rval());
  }
  meter_now.cells[1] = depth;
  if (!ok) return failed_call(cx);
  if (kind == wrap_kind::bound) {
    if (copies == 0 || !args.rval().isObject()) return true;
    JS::RootedObject map(cx, bound_copies(cx)), made(cx, &args.rval().toObject());
    JS::RootedValue n(cx, JS::NumberValue(copies));
    return map && JS::SetWeakMapEntry(cx, map, made, n);
  }
  if (kind == wrap_kind::stringified && args.rval().isString()) {  // how deep it went: the result's brackets
    const std::int32_t levels = json_depth(cx, args.rval().toString());
    if (levels < 0) return false;
    if (levels > reserved) return out_of_budget(too_deep);
  }
  if (flat_checks && args.rval().isObject()) {  // any array left is a level more than reserved
    JS::RootedObject a(cx, &args.rval().toObject());
    std::uint32_t n = 0;
    bool array = false;
    if (!JS::IsArrayObject(cx, a, &array)) return false;
    if (array && !JS::GetArrayLength(cx, a, &n)) return false;
    JS::RootedValue e(cx);
    JS::RootedObject eo(cx);
    for (std::uint32_t i = 0; i < n; ++i) {
      if (!JS_GetElement(cx, a, i, &e)) return false;
      if (!e.isObject()) continue;
      eo = &e.toObject();
      if (!JS::IsArray(cx, eo, &array)) return false;
      if (array) return out_of_budget(too_deep);
    }
  }
  return charge_by_size(cx, kind, args);
}

// ---- Built-ins that walk their input ----
//
// Array.prototype's indexOf, includes, slice, fill, forEach, ... (and the typed arrays',
// Array.from, Object.keys, String.prototype's searches) do work in proportion to the size
// of what they are given, inside the engine or in its self-hosted code, where no splice
// charges: one tick bought a search of a million elements. They are wrapped in the prelude
// by JS functions (the prelude's "walkers") that charge a tick per 8 elements of the work
// they may let the built-in do, before it runs (a search gives back what it did not walk).
// They learn sizes from __exo_walk, which reads them without running code where the engine
// keeps them (strings, arrays, typed arrays, a proxy's target, a Map's or Set's size, a
// `length` data property on an object or its prototypes); an accessor `length` is called (so
// such an object's getter runs once more than the built-in alone would run it); a proxy
// found on the prototypes, or a length that is an object, counts 0 (its elements run code,
// which is charged as it runs). A charge too big for the ticks left stops the code,
// uncatchably. What a size is depends on what the built-in walks:
enum class walk_mode : std::int32_t {
  lengths,    // indexOf, forEach, Array.from, Reflect.apply: a length, an array-like's too
  iterables,  // spreads, new Set, Object.fromEntries: what iterating gives (no array-like)
  elements,   // Object.keys and kin, before the call: the indexed elements (arrays, typed arrays, strings)
  arrays,     // concat's arguments: only arrays are spread into the result
  ones,       // unshift's and splice's items: one element each
  keys,       // assign's sources, freeze, seal: the indexed elements, or another object's own keys
  spreads,    // spreads: what iterating gives, or (an object spread) another object's own keys
};
static_assert(static_cast<int>(walk_mode::spreads) == 6, "the prelude's __exo_sp names it by number");
// The own keys (names and symbols, enumerable or not) of `o`, which is no proxy: read from
// its shape, no code runs.
bool own_keys(JSContext* cx, JS::HandleObject o, std::uint64_t& n) {
  JS::RootedIdVector ids(cx);
  if (!js::GetPropertyKeys(cx, o, JSITER_OWNONLY | JSITER_HIDDEN | JSITER_SYMBOLS, &ids)) return false;
  n = ids.length();
  return true;
}
bool walk_length(JSContext* cx, JS::HandleValue v, std::uint64_t& n, walk_mode mode = walk_mode::lengths) {
  n = 0;
  if (mode == walk_mode::ones) {
    n = 1;
    return true;
  }
  if (v.isString()) {
    if (mode != walk_mode::arrays) n = JS::GetStringLength(v.toString());
    return true;
  }
  if (!v.isObject()) return true;
  JS::RootedObject o(cx, &v.toObject());
  if (js::IsProxy(o)) {  // its target's (a proxy's target is never a proxy in exo)
    o = js::GetProxyTargetObject(o);
    if (!o || js::IsProxy(o)) return true;
  }
  bool array = false;
  if (!JS::IsArrayObject(cx, o, &array)) return false;
  if (array) {
    std::uint32_t length = 0;
    if (!JS::GetArrayLength(cx, o, &length)) return false;
    n = length;
    return true;
  }
  if (mode == walk_mode::arrays) return true;
  if (JS_IsTypedArrayObject(o)) {
    n = JS_GetTypedArrayLength(o);
    return true;
  }
  if (mode == walk_mode::elements) return true;
  if (mode == walk_mode::keys) return own_keys(cx, o, n);
  bool map = false, set = false;
  if (!JS::IsMapObject(cx, o, &map) || !JS::IsSetObject(cx, o, &set)) return false;
  if (map || set) {  // (Array.from of one, a Set made of one)
    n = map ? JS::MapSize(cx, o) : JS::SetSize(cx, o);
    return true;
  }
  if (mode == walk_mode::iterables) return true;
  if (mode == walk_mode::spreads) return own_keys(cx, o, n);
  // An array-like: `length` on it or its prototypes.
  JS::Rooted<mozilla::Maybe<JS::PropertyDescriptor>> desc(cx);
  JS::RootedObject at(cx, o);
  while (at && !js::IsProxy(at)) {
    if (!JS_GetOwnPropertyDescriptor(cx, at, "length", &desc)) return false;
    if (desc.isSome()) break;
    if (!JS_GetPrototype(cx, at, &at)) return false;
  }
  if (!at || js::IsProxy(at) || desc.isNothing()) return true;
  JS::RootedValue length(cx);
  if (desc->isAccessorDescriptor()) {
    if (!JS_GetProperty(cx, o, "length", &length)) return false;
  } else {
    length = desc->value();
  }
  if (!length.isNumber() && !length.isString() && !length.isBoolean()) return true;
  double d = 0;
  if (!JS::ToNumber(cx, length, &d)) return false;
  if (!(d > 0)) return true;  // (NaN too)
  n = d >= 9007199254740991.0 ? std::uint64_t{9007199254740991} : static_cast<std::uint64_t>(d);
  return true;
}

// __exo_walk(o, mode[, more, mode of more[, from]]): o's size (a walk_mode, 0 if absent),
// plus, given `more` (an arguments object), each of its elements' from index `from` by the
// second mode (concat's arrays, splice's items, assign's sources).
bool walk_native(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  const auto mode = [&](unsigned i) {
    const std::int32_t m = args.get(i).isInt32() ? args[i].toInt32() : 0;
    return m >= 0 && m <= static_cast<std::int32_t>(walk_mode::spreads) ? static_cast<walk_mode>(m) : walk_mode::lengths;
  };
  std::uint64_t n = 0;
  if (!walk_length(cx, args.get(0), n, mode(1))) return false;
  if (args.get(2).isObject()) {
    JS::RootedObject more(cx, &args[2].toObject());
    std::uint32_t count = 0;
    if (!JS::GetArrayLength(cx, more, &count)) return false;
    JS::RootedValue e(cx);
    const std::int32_t from = args.get(4).isInt32() ? args[4].toInt32() : 0;
    for (std::uint32_t i = from > 0 ? static_cast<std::uint32_t>(from) : 0; i < count; ++i) {
      std::uint64_t m = 0;
      if (!JS_GetElement(cx, more, i, &e) || !walk_length(cx, e, m, mode(3))) return false;
      n += m;
    }
  }
  args.rval().setNumber(static_cast<double>(std::min<std::uint64_t>(n, std::uint64_t{1} << 53)));
  return true;
}

// __exo_spend(t): spends t ticks, or gives -t back (a walker's charge, too big for the cell).
bool spend_native(JSContext*, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  const double d = args.get(0).isNumber() ? args[0].toNumber() : 0;
  const double most = static_cast<double>(meter_state::max_ticks);
  const std::uint64_t t = static_cast<std::uint64_t>(std::min(std::fabs(d), most));
  if (d < 0) meter_now.set_left(meter_now.left() + t);
  else if (!spend(t)) return false;
  args.rval().setUndefined();
  return true;
}

// The walkers, by the built-ins they wrap: where each built-in is (a global's property, or
// its prototype; an array method is both Array.prototype's and the typed arrays'), and the
// prelude's factory that makes its walker.
struct walker_site {
  std::initializer_list<const char*> holders;  // "Array", "Array.prototype", "%TypedArray%.prototype", ...
  const char* factory;
  std::initializer_list<const char*> names;
  walk_mode mode = walk_mode::lengths, more = walk_mode::lengths;  // how the factory's walker sizes its input and arguments
};
const walker_site walker_sites[] = {
    {{"Array.prototype", "%TypedArray%.prototype"}, "whole",
     {"forEach", "map", "filter", "some", "every", "find", "findIndex", "findLast", "findLastIndex", "flatMap"}},
    {{"%TypedArray%.prototype"}, "whole", {"join"}},
    {{"Array.prototype", "%TypedArray%.prototype"}, "whole0", {"reverse"}},
    {{"Array.prototype"}, "likes", {"shift"}},
    {{"%TypedArray%.prototype"}, "whole0", {"toLocaleString"}},
    {{"Array.prototype", "%TypedArray%.prototype"}, "folds", {"reduce", "reduceRight"}},
    {{"Array.prototype", "%TypedArray%.prototype"}, "span", {"fill"}},
    {{"Array.prototype", "%TypedArray%.prototype"}, "span2", {"copyWithin"}},
    {{"Array.prototype", "%TypedArray%.prototype"}, "search", {"indexOf"}},
    {{"Array.prototype", "%TypedArray%.prototype"}, "contains", {"includes"}},
    {{"Array.prototype", "%TypedArray%.prototype", "String.prototype"}, "backward", {"lastIndexOf"}},
    {{"Array.prototype"}, "range", {"slice"}},
    {{"Array.prototype"}, "all", {"concat"}, walk_mode::lengths, walk_mode::arrays},
    {{"Array.prototype"}, "all", {"unshift"}, walk_mode::lengths, walk_mode::ones},
    {{"Array.prototype"}, "all2", {"splice"}, walk_mode::lengths, walk_mode::ones},
    {{"%TypedArray%.prototype"}, "sorts", {"sort"}},
    {{"%TypedArray%.prototype"}, "first", {"set"}},
    {{"Array"}, "first", {"from"}},
    {{"Object"}, "keyed", {"keys", "values", "entries", "getOwnPropertyNames", "getOwnPropertySymbols"}, walk_mode::elements},
    {{"Object"}, "first", {"getOwnPropertyDescriptors", "freeze", "seal"}, walk_mode::keys},
    {{"Object"}, "first", {"fromEntries"}, walk_mode::iterables},
    {{"Object"}, "sources", {"assign"}, walk_mode::keys},
    {{"Reflect"}, "keyed", {"ownKeys"}, walk_mode::elements},
    {{"Reflect"}, "second", {"construct"}},
    {{"Reflect"}, "third", {"apply"}},
    {{"String.prototype"}, "text", {"indexOf", "includes"}},
    {{"String.prototype"}, "affix", {"startsWith", "endsWith"}},
    {{"String.prototype"}, "collate", {"localeCompare"}},
};

// __exo_install(factories), from the prelude: each built-in of walker_sites gets, as own
// properties out of scripts' reach, the original `call` (and `apply`, for the walkers that
// pass their arguments on whole), which its walker calls it through, and is replaced where
// it is by the walker its factory makes of it and its name (writable, configurable, not
// enumerable, as built-ins are). A built-in this engine lacks
// (findLast) is left out.
bool walk_install(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  if (!args.get(0).isObject()) {
    JS_ReportErrorASCII(cx, "__exo_install(factories)");
    return false;
  }
  JS::RootedObject factories(cx, &args[0].toObject()), global(cx, JS::CurrentGlobalOrNull(cx)), fp(cx), holder(cx);
  JS::RootedValue v(cx), call(cx), apply(cx), factory(cx), original(cx), made(cx);
  const auto get_object = [&](JS::HandleObject from, const char* name, JS::MutableHandleObject out) {
    if (!JS_GetProperty(cx, from, name, &v)) return false;
    if (!v.isObject()) {
      JS_ReportErrorASCII(cx, "__exo_install: %s is not an object", name);
      return false;
    }
    out.set(&v.toObject());
    return true;
  };
  if (!get_object(global, "Function", &fp) || !get_object(fp, "prototype", &fp) || !JS_GetProperty(cx, fp, "call", &call) ||
      !JS_GetProperty(cx, fp, "apply", &apply))
    return false;
  for (const walker_site& site : walker_sites) {
    if (!JS_GetProperty(cx, factories, site.factory, &factory)) return false;
    const std::string_view made_by = site.factory;
    const bool applies = made_by == "whole0" || made_by == "all" || made_by == "all2" || made_by == "sources";  // (the others only call)
    for (const std::string_view path : site.holders) {
      const bool typed = path.starts_with('%');
      if (typed) {  // %TypedArray%: Int8Array's [[Prototype]]
        JS::RootedObject int8(cx);
        if (!get_object(global, "Int8Array", &int8) || !JS_GetPrototype(cx, int8, &holder)) return false;
      } else if (!get_object(global, std::string(path.substr(0, path.find('.'))).c_str(), &holder)) {
        return false;
      }
      if (path.ends_with(".prototype") && !get_object(holder, "prototype", &holder)) return false;
      for (const char* name : site.names) {
        if (!JS_GetProperty(cx, holder, name, &original)) return false;
        if (!original.isObject() || !JS_ObjectIsFunction(&original.toObject())) continue;
        JS::RootedObject f(cx, &original.toObject());
        if (!JS_DefineProperty(cx, f, "call", call, JSPROP_READONLY | JSPROP_PERMANENT) ||
            (applies && !JS_DefineProperty(cx, f, "apply", apply, JSPROP_READONLY | JSPROP_PERMANENT)))
          return false;
        JS::RootedValueArray<4> in(cx);
        in[0].set(original);
        JSString* s = JS_NewStringCopyZ(cx, name);
        if (!s) return false;
        in[1].setString(s);
        in[2].setInt32(static_cast<std::int32_t>(site.mode));
        in[3].setInt32(static_cast<std::int32_t>(site.more));
        if (!JS::Call(cx, JS::UndefinedHandleValue, factory, in, &made) || !JS_DefineProperty(cx, holder, name, made, 0))
          return false;
      }
    }
  }
  args.rval().setUndefined();
  return true;
}

bool charge_made_buffer(JS::HandleValue v);  // (Buffers, below)

bool wrapped(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  JSObject* callee = &args.callee();
  JS::RootedValue original(cx, js::GetFunctionNativeReserved(callee, 0));
  const auto kind = static_cast<wrap_kind>(js::GetFunctionNativeReserved(callee, 1).toInt32());
  std::int32_t depth = meter_now.cells[1];
  if (depth < 0) depth = -depth - 1;  // inside another throw or return (a yield* passing it on)
  if (kind != wrap_kind::resume && kind != wrap_kind::abrupt) {
    // The call is a frame of the depth.
    if (depth + 1 > static_cast<std::int32_t>(max_depth)) return out_of_budget(too_deep);
    if (kind != wrap_kind::sized && kind != wrap_kind::sorted && kind != wrap_kind::buffered)
      return wrapped_recursive(cx, args, original, kind, depth);
  }
  JS::RootedValueVector argv(cx);
  if (!copy_args(args, &argv)) return false;
  const std::uint64_t made = meter_now.buffers_made;
  if (kind == wrap_kind::abrupt) meter_now.cells[1] = -(depth + 1);  // (meter.js, resync)
  else if (kind != wrap_kind::resume) meter_now.cells[1] = depth + 1;
  const bool ok = JS::Call(cx, args.thisv(), original, argv, args.rval());
  meter_now.cells[1] = depth;
  if (kind == wrap_kind::resume || kind == wrap_kind::abrupt) return ok;
  if (!ok) return failed_call(cx);
  if (kind == wrap_kind::buffered) return meter_now.buffers_made != made || charge_made_buffer(args.rval());
  return charge_by_size(cx, kind, args);
}

// __exo_isproxy(v): whether v is a proxy (for the prelude, which keeps it).
bool is_proxy_native(JSContext*, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  args.rval().setBoolean(args.get(0).isObject() && js::IsProxy(&args[0].toObject()));
  return true;
}

// `Proxy` as scripts see it: `new Proxy(t, h)` is the original constructor (reserved slot 0)
// given the handler that the prelude's function (slot 1) makes of h; a call without `new`
// goes to the original, which refuses it.
bool counted_proxy(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  JS::RootedValue original(cx, js::GetFunctionNativeReserved(&args.callee(), 0));
  if (!args.isConstructing()) return JS::Call(cx, JS::UndefinedHandleValue, original, JS::HandleValueArray::empty(), args.rval());
  JS::RootedValue make(cx, js::GetFunctionNativeReserved(&args.callee(), 1));
  JS::RootedValueArray<2> in(cx);
  in[0].set(args.get(0));
  in[1].set(args.get(1));
  JS::RootedValue handler(cx);
  if (!JS::Call(cx, JS::UndefinedHandleValue, make, in, &handler)) return false;
  in[1].set(handler);
  JS::RootedObject made(cx);
  if (!JS::Construct(cx, original, in, &made)) return false;
  args.rval().setObject(*made);
  return true;
}

// __exo_proxy(original, makeHandler, revocable): the `Proxy` constructor for scripts.
bool make_proxy_constructor(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  JSFunction* f = js::NewFunctionWithReserved(cx, counted_proxy, 2, JSFUN_CONSTRUCTOR, "Proxy");
  if (!f) return false;
  JS::RootedObject fo(cx, JS_GetFunctionObject(f));
  js::SetFunctionNativeReserved(fo, 0, args.get(0));
  js::SetFunctionNativeReserved(fo, 1, args.get(1));
  if (!JS_DefineProperty(cx, fo, "revocable", args.get(2), 0)) return false;
  args.rval().setObject(*fo);
  return true;
}

// ---- Buffers ----
//
// ArrayBuffers and typed arrays keep their bytes outside the collected heap, where the
// engine's heap limit does not see them, and a buffer of any size costs the code one
// operation: `new Uint8Array(4e9)` took 30 ticks, and 200 buffers of 16 MiB 2,044. So the
// constructors scripts see are natives that call the original and count what it made:
// its bytes cost a tick per bytes_per_tick, and a run may make at most meter_state's
// memory_left bytes of them (the code's exo_limits memory); past that it stops,
// uncatchably, the whole budget spent (over_memory). The count follows the code's own
// requests, in order, so where it stops is the same on every run. A view of a buffer that
// exists (`new Uint8Array(buffer, offset, n)`) makes no bytes. The species of slice, map,
// filter and ArrayBuffer.prototype.slice reach the same natives, through the prototypes'
// `constructor`; %TypedArray%.from and of through `this`.

// What a buffer of n bytes costs: false (the code stopped) when over the limit or the ticks.
bool charge_buffer(std::uint64_t n) {
  meter_state& m = meter_now;
  if (n > m.memory_left) {
    m.over_memory = true;
    return out_of_budget();
  }
  m.memory_left -= n;
  return spend((n + bytes_per_tick - 1) / bytes_per_tick);
}

// The bytes of a buffer or typed array `v` that no counting constructor counted.
bool charge_made_buffer(JS::HandleValue v) {
  if (!v.isObject()) return true;
  JSObject* o = &v.toObject();
  if (JS::IsArrayBufferObject(o)) return charge_buffer(JS::GetArrayBufferByteLength(o));
  if (JS_IsTypedArrayObject(o)) return charge_buffer(JS_GetTypedArrayByteLength(o));
  return true;
}

// A counting constructor's call (counted_buffer, counted_collection): `before(args)` may
// stop the code (false), then the original (reserved slot 0) constructs with the new.target
// given (a subclass's prototype is kept), and `after(args, made)` counts what it made; a call
// without `new` goes to the original, which refuses it.
template <class Before, class After>
bool count_construction(JSContext* cx, unsigned argc, JS::Value* vp, Before before, After after) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  JS::RootedValue original(cx, js::GetFunctionNativeReserved(&args.callee(), 0));
  JS::RootedValueVector argv(cx);
  if (!copy_args(args, &argv)) return false;
  if (!args.isConstructing()) return JS::Call(cx, JS::UndefinedHandleValue, original, argv, args.rval());
  if (!before(args)) return false;
  JS::RootedObject target(cx, &args.newTarget().toObject());
  JS::RootedObject made(cx);
  if (!JS::Construct(cx, original, target, argv, &made) || !after(args, made)) return false;
  args.rval().setObject(*made);
  return true;
}

// ArrayBuffer and the typed arrays as scripts see them (count_construction): the bytes made
// are counted.
bool counted_buffer(JSContext* cx, unsigned argc, JS::Value* vp) {
  return count_construction(
      cx, argc, vp,
      [](const JS::CallArgs& args) {
        // A length asked for as a number is checked before the bytes are taken (the engine
        // would take them, zeroed, and the count refuse them after).
        if (args.get(0).isNumber() && args[0].toNumber() > 0) {
          const double asked = args[0].toNumber() * js::GetFunctionNativeReserved(&args.callee(), 1).toInt32();
          if (asked > static_cast<double>(meter_now.memory_left)) return charge_buffer(meter_now.memory_left + 1);
        }
        return true;
      },
      [](const JS::CallArgs& args, JS::HandleObject made) {
        ++meter_now.buffers_made;
        std::uint64_t bytes = 0;
        if (JS::IsArrayBufferObject(made)) bytes = JS::GetArrayBufferByteLength(made);
        else if (JS_IsTypedArrayObject(made) && !(args.get(0).isObject() && JS::IsArrayBufferObject(&args[0].toObject())))
          bytes = JS_GetTypedArrayByteLength(made);
        return charge_buffer(bytes);
      });
}

// Replaces the global constructor `name` by the native `counting` (the original in its first
// reserved slot, `slot` in its second), in the realm's global, before any script runs: the
// native has the original's name, length, prototype, own statics (BYTES_PER_ELEMENT; isView
// and the species getters) and [[Prototype]] (%TypedArray%, with from, of and the species
// getter; Function.prototype for the others), and is its prototype's `constructor`. No
// script can reach an original: it is only in the native's slot. Without `statics`, the
// native gets none of the original's own properties but those three. Returns the native
// (null when the engine failed).
JSObject* replace_constructor(JSContext* cx, JS::HandleObject global, const char* name, JSNative counting,
                              JS::HandleValue slot, bool statics = true) {
  JS::RootedValue original(cx), proto(cx), length(cx);
  if (!JS_GetProperty(cx, global, name, &original) || !original.isObject()) return nullptr;
  JS::RootedObject c(cx, &original.toObject());
  if (!JS_GetProperty(cx, c, "prototype", &proto) || !proto.isObject() || !JS_GetProperty(cx, c, "length", &length))
    return nullptr;
  JSFunction* f = js::NewFunctionWithReserved(cx, counting, length.isInt32() ? length.toInt32() : 0, JSFUN_CONSTRUCTOR, name);
  if (!f) return nullptr;
  JS::RootedObject w(cx, JS_GetFunctionObject(f));
  js::SetFunctionNativeReserved(w, 0, original);
  js::SetFunctionNativeReserved(w, 1, slot);
  JS::RootedObject p(cx, &proto.toObject()), parent(cx);
  JS::RootedValue wv(cx, JS::ObjectValue(*w));
  if (!JS_GetPrototype(cx, c, &parent) || !JS_SetPrototype(cx, w, parent) ||
      !JS_DefineProperty(cx, w, "prototype", p, JSPROP_READONLY | JSPROP_PERMANENT))
    return nullptr;
  JS::RootedIdVector keys(cx);
  if (statics && !js::GetPropertyKeys(cx, c, JSITER_OWNONLY | JSITER_HIDDEN | JSITER_SYMBOLS, &keys)) return nullptr;
  JS::Rooted<mozilla::Maybe<JS::PropertyDescriptor>> desc(cx);
  for (std::size_t i = 0; i < keys.length(); ++i) {
    bool has = false;  // (its own prototype, length and name)
    if (!JS_HasOwnPropertyById(cx, w, keys[i], &has)) return nullptr;
    if (has) continue;
    if (!JS_GetOwnPropertyDescriptorById(cx, c, keys[i], &desc)) return nullptr;
    if (desc.isNothing()) continue;
    JS::Rooted<JS::PropertyDescriptor> d(cx, *desc);
    if (!JS_DefinePropertyById(cx, w, keys[i], d)) return nullptr;
  }
  if (!JS_DefineProperty(cx, p, "constructor", wv, 0) || !JS_DefineProperty(cx, global, name, wv, 0)) return nullptr;
  return w;
}

// The counting constructors of buffers (above).
bool count_buffers(JSContext* cx, JS::HandleObject global) {
  for (const char* name : {"ArrayBuffer", "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
                           "Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array"}) {
    JS::RootedValue each(cx, JS::Int32Value(1));  // bytes per element (1: ArrayBuffer)
    if (std::string_view(name) != "ArrayBuffer") {
      JS::RootedValue c(cx);
      if (!JS_GetProperty(cx, global, name, &c) || !c.isObject()) return false;
      JS::RootedObject co(cx, &c.toObject());
      if (!JS_GetProperty(cx, co, "BYTES_PER_ELEMENT", &each)) return false;
      if (!each.isInt32()) each.setInt32(1);
    }
    if (!replace_constructor(cx, global, name, counted_buffer, each)) return false;
  }
  return true;
}

// Map, Set, WeakMap and WeakSet as scripts see them: natives that charge what the iterable
// they are given holds, a tick per 8 elements (an array's, a string's, a Map's or Set's, as a
// spread does), before they call the original with the same new.target; without `new`, the
// original, which refuses the call.
bool counted_collection(JSContext* cx, unsigned argc, JS::Value* vp) {
  return count_construction(
      cx, argc, vp,
      [cx](const JS::CallArgs& args) {
        std::uint64_t n = 0;
        return walk_length(cx, args.get(0), n, walk_mode::iterables) && spend((n + 7) / 8);
      },
      [](const JS::CallArgs&, JS::HandleObject) { return true; });
}
bool count_collections(JSContext* cx, JS::HandleObject global) {
  for (const char* name : {"Map", "Set", "WeakMap", "WeakSet"})
    if (!replace_constructor(cx, global, name, counted_collection, JS::UndefinedHandleValue)) return false;
  return true;
}

// RegExp as scripts see it: a native constructor without the legacy statics (RegExp.$1...
// $9, input ($_), lastMatch ($&), lastParen ($+), leftContext ($`), rightContext ($')),
// which the original's accessors read from the realm: what the last match left, in this
// message or in an earlier one, were the realm kept warm. They cannot be removed from the
// original (they are not configurable) and resetting them cost a message about 50 ns (an
// empty match: JS::ClearRegExpStatics and JS::SetRegExpInput leave them in a state whose
// getters crash SpiderMonkey 102); replaced, they are out of every script's reach, as the
// original is (it is in this native's first slot). What the constructor does is the
// original's: with `new`, the original constructs with the same new.target (a subclass's
// prototype is kept); without, `RegExp(r)` gives r back when r is a regex whose
// `constructor` is RegExp and no flags are given, and otherwise constructs (as the standard
// says). Its prototype is the original's, whose `constructor` it is, so `/a/.constructor ===
// RegExp` and `instanceof` hold.
bool regexp_constructor(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  JS::RootedValue original(cx, js::GetFunctionNativeReserved(&args.callee(), 0));
  JS::RootedObject target(cx, &args.callee());
  if (args.isConstructing()) {
    target = &args.newTarget().toObject();
  } else if (args.get(0).isObject() && args.get(1).isUndefined()) {
    JS::RootedObject pattern(cx, &args[0].toObject());
    JS::RootedId match(cx, JS::GetWellKnownSymbolKey(cx, JS::SymbolCode::match));
    JS::RootedValue v(cx);
    bool is = false;  // IsRegExp: @@match when it is there, else whether it is a regex
    if (!JS_GetPropertyById(cx, pattern, match, &v)) return false;
    if (!v.isUndefined()) is = JS::ToBoolean(v);
    else if (!JS::ObjectIsRegExp(cx, pattern, &is)) return false;
    if (is && !JS_GetProperty(cx, pattern, "constructor", &v)) return false;
    if (is && v.isObject() && &v.toObject() == &args.callee()) {
      args.rval().set(args[0]);
      return true;
    }
  }
  JS::RootedValueVector argv(cx);
  if (!copy_args(args, &argv)) return false;
  JS::RootedObject made(cx);
  if (!JS::Construct(cx, original, target, argv, &made)) return false;
  args.rval().setObject(*made);
  return true;
}

// RegExp[Symbol.species]: undefined for RegExp itself, and a subclass's own constructor for
// it (`this`, as the original's getter gives). split and matchAll construct with the species
// of the regex's constructor, or the original when there is none: RegExp's own `this` would
// give them this native, which is not the original, and the engine's fast paths for them
// would be lost (split took 2.3 times as long; measured in bare SpiderMonkey 102).
bool regexp_species(JSContext*, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  const JS::Value& regexp = js::GetFunctionNativeReserved(&args.callee(), 0);
  if (args.thisv().isObject() && &args.thisv().toObject() == &regexp.toObject()) args.rval().setUndefined();
  else args.rval().set(args.thisv());
  return true;
}

// Replaces the realm's RegExp (above), before any script runs.
bool hide_regexp_statics(JSContext* cx, JS::HandleObject global) {
  JS::RootedObject regexp(cx);
  regexp = replace_constructor(cx, global, "RegExp", regexp_constructor, JS::UndefinedHandleValue, false);
  if (!regexp) return false;
  JSFunction* species = js::NewFunctionWithReserved(cx, regexp_species, 0, 0, "get [Symbol.species]");
  if (!species) return false;
  JS::RootedObject getter(cx, JS_GetFunctionObject(species));
  js::SetFunctionNativeReserved(getter, 0, JS::ObjectValue(*regexp));
  JS::RootedId id(cx, JS::GetWellKnownSymbolKey(cx, JS::SymbolCode::species));
  return JS_DefinePropertyById(cx, regexp, id, getter, nullptr, 0);
}

// __exo_wrap(object, name, kind): replaces object[name] with a wrapper of that kind.
bool wrap_native(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  if (!args.get(0).isObject() || !args.get(1).isString() || !args.get(2).isInt32()) {
    JS_ReportErrorASCII(cx, "__exo_wrap(object, name, kind)");
    return false;
  }
  JS::RootedObject o(cx, &args[0].toObject());
  JS::RootedString name(cx, args[1].toString());
  JS::RootedId id(cx);
  JS::RootedValue original(cx);
  if (!JS_StringToId(cx, name, &id) || !JS_GetPropertyById(cx, o, id, &original)) return false;
  if (!original.isObject() || !JS_ObjectIsFunction(&original.toObject())) {
    JS_ReportErrorASCII(cx, "__exo_wrap: not a function");
    return false;
  }
  JS::RootedObject fn(cx, &original.toObject());
  JS::RootedValue length(cx);
  if (!JS_GetProperty(cx, fn, "length", &length)) return false;
  const unsigned nargs = length.isInt32() && length.toInt32() >= 0 ? static_cast<unsigned>(length.toInt32()) : 0;
  JSFunction* w = js::NewFunctionByIdWithReserved(cx, wrapped, nargs, 0, id);
  if (!w) return false;
  JSObject* wo = JS_GetFunctionObject(w);
  js::SetFunctionNativeReserved(wo, 0, original);
  js::SetFunctionNativeReserved(wo, 1, args[2]);
  JS::RootedValue wv(cx, JS::ObjectValue(*wo));
  if (!JS_DefinePropertyById(cx, o, id, wv, 0)) return false;
  args.rval().setUndefined();
  return true;
}

// Each actor realm's first script (new_actor_global): the depth cell, what the splices call
// around code outside function bodies (meter.js), the wrappers, and proxies that count.
//
// A proxy with no trap for an operation does it on its target in the engine's C++, so a
// proxy of a proxy of ... (as a target, a prototype's target or a handler) recursed on the
// engine's stack with no frame the splices see, and where that stack ran out depended on
// the JIT (a chain of 12,283 proxies read a property cold and failed at 12,156 from 1000
// frames down, warm). So every proxy a script makes has exo's handler: each trap is two
// frames of the depth (a level of a chain through prototypes took 4.3 KB of native stack,
// cold, where max_depth allows 2.4 KB a frame), looks the script's trap up on the script's
// handler when the operation happens (as the engine would) and calls it, or does the
// operation on the target with Reflect. Descriptors it passes on have no prototype, so that
// properties added to Object.prototype cannot change them. A proxy's target cannot be a
// proxy: the engine checks a trap's result against its target, and a trap on each level of
// such a chain would check each level below again, for a time exponential in the chain's
// length. `Proxy` itself is a native constructor (__exo_proxy) that gives the original exo's
// handler; its length, name, `revocable` and checks are the original's.
constexpr const char* prelude_text = R"js(const __exo_m = __exo_cell(), __exo_d = 0, __exo_l = (_, v) => (__exo_m[1]--, v),
  __exo_la = (_, f) => { const d = __exo_m[1]; try { return f() } catch (e) { __exo_c(e); throw e } finally { __exo_m[1] = d - 1 } };
{
  const P = Proxy, R = Reflect, apply = R.apply, revocable = P.revocable, bare = Object.setPrototypeOf, isProxy = __exo_isproxy;
  const base = Object.create(null);
  for (const name of ['getPrototypeOf', 'setPrototypeOf', 'isExtensible', 'preventExtensions', 'getOwnPropertyDescriptor',
                      'defineProperty', 'has', 'get', 'set', 'deleteProperty', 'ownKeys', 'apply', 'construct']) {
    const op = R[name];
    base[name] = {[name](...args) {
      const d = (__exo_m[1] += 2);
      d > MAX_DEPTH && __exo_deep();
      (__exo_m[0] -= 1) < 0 && __exo_out();
      try {
        const h = this.u, trap = h[name];
        if (trap !== undefined && trap !== null) return apply(trap, h, args);
        if (name === 'defineProperty') bare(args[2], null);
        const r = apply(op, undefined, args);
        return name === 'getOwnPropertyDescriptor' && r !== undefined ? bare(r, null) : r;
      } finally {
        __exo_m[1] = d - 2;
      }
    }}[name];
  }
  Object.freeze(base);
  const handler = (t, h) => {
    if ((typeof h !== 'object' && typeof h !== 'function') || h === null) throw new TypeError("a proxy's handler must be an object");
    if (isProxy(t)) throw new TypeError("a proxy's target cannot be a proxy in exo (the engine would recurse on its own stack)");
    return {__proto__: base, u: h};
  };
  globalThis.Proxy = __exo_proxy(P, handler, {revocable(t, h) { return apply(revocable, P, [t, handler(t, h)]) }}.revocable);
})js"
                                   R"js(
for (const proto of [Object.getPrototypeOf(function* () {}).prototype, Object.getPrototypeOf(async function* () {}).prototype])
  for (const name of ['next', 'return', 'throw']) __exo_wrap(proto, name, name === 'next' ? 0 : 3);
__exo_wrap(Array.prototype, 'sort', 2);
__exo_wrap(Array.prototype, 'join', 1);
__exo_wrap(Array.prototype, 'toLocaleString', 1);
__exo_wrap(Array.prototype, 'flat', 5);
__exo_wrap(JSON, 'parse', 6);
__exo_wrap(JSON, 'stringify', 4);
__exo_wrap(Function.prototype, 'bind', 7);
for (const name of ['slice', 'map', 'filter']) __exo_wrap(Object.getPrototypeOf(Int8Array.prototype), name, 8);
__exo_wrap(ArrayBuffer.prototype, 'slice', 8);
for (const name of ['repeat', 'padStart', 'padEnd', 'replace', 'replaceAll', 'split', 'match', 'matchAll', 'search',
                    'normalize', 'toUpperCase', 'toLowerCase'])
  __exo_wrap(String.prototype, name, 1);
const [__exo_sp, __exo_ap, __exo_k, __exo_ps] = (function (walk, spend, install, call, apply) {
  'use strict';
  const define = Object.defineProperty, trunc = Math.trunc, ceil = Math.ceil, log2 = Math.log2, isArray = Array.isArray;
  // The elements in o (an array's length read in JS, by the JIT, for speed).
  const len = (o) => isArray(o) ? o.length : walk(o);
  // The ticks of n elements' work (a tick per 8); charge(n) spends them (inline while the cell
  // can take them) and returns them; back(t) gives t ticks back.
  const ticks = (n) => n > 0 ? (n < 0x4000000 ? (n + 7) >>> 3 : ceil(n / 8)) : 0;
  const charge = (n) => { const t = ticks(n); t && (t < 0x800000 ? (__exo_m[0] -= t) < 0 && __exo_out() : spend(t)); return t };
  const back = (t) => { t > 0 && (t < 0x800000 ? __exo_m[0] += t : spend(-t)) };
  // A relative index (a negative one counts from the end) into n elements; d when absent, w
  // (the worst case) when it is not a number (converting it may run code).
  const at = (x, n, d, w) => {
    if (x === undefined) return d;
    if (typeof x !== 'number') return w;
    x = trunc(x) || 0;
    return x < 0 ? (x + n > 0 ? x + n : 0) : x < n ? x : n;
  };
  // The walkers: each charges, counts a frame of the call depth, and calls the built-in with
  // the arguments it was given: by `call` with as many as the built-in tells apart (an
  // argument it treats as absent when undefined is passed as undefined), which the JIT
  // optimizes as a direct call, else by `apply` (both the built-in's own properties, out of
  // scripts' reach). The charge is taken before the call, for the whole of the work the
  // call may do (a length need not have elements behind it: `{length: 2 ** 40}`, or an
  // array's length set by hand); a search gives back, after it, what it did not walk.
  // Each is made by a factory given the built-in and its name, which names the walker (a
  // computed key), and whose parameters give it the built-in's length (a parameter with a
  // default does not count): defining a made function's name and length took a cold realm
  // 235 us more.
  const whole = (f, n) => ({[n](a, b = undefined) {  // forEach, map, ...: the callback and its this
    charge(len(this)); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.call(this, a, b); __exo_m[1]--; return r }})[n];
  const whole0 = (f, n) => ({[n]() {  // reverse, toLocaleString
    charge(len(this)); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = arguments.length ? f.apply(this, arguments) : f.call(this); __exo_m[1]--; return r }})[n];
  // shift: an array-like's moves it index by index; an array's is the engine's own (constant
  // time when it is dense; a proxy's, which is an array too here, pays for its traps).
  const likes = (f, n) => ({[n]() {
    isArray(this) || charge(walk(this)); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.call(this); __exo_m[1]--; return r }})[n];
  const folds = (f, n) => ({[n](a, b = undefined) {  // reduce: an initial value or none
    charge(len(this)); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = arguments.length < 2 ? f.call(this, a) : f.call(this, a, b); __exo_m[1]--; return r }})[n];
  const all = (f, n, m, mm) => ({[n](a) {  // the input and the arguments (concat, unshift), by their modes
    charge(walk(this, m, arguments, mm)); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.apply(this, arguments); __exo_m[1]--; return r }})[n];
  const all2 = (f, n, m, mm) => ({[n](a, b) {  // (splice)
    charge(walk(this, m, arguments, mm)); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.apply(this, arguments); __exo_m[1]--; return r }})[n];
  const first = (f, n, m) => ({[n](a, b = undefined, c = undefined) {  // the first argument (Array.from, Object.keys, set)
    charge(m ? walk(a, m) : len(a)); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.call(this, a, b, c); __exo_m[1]--; return r }})[n];
  // Object.keys and kin: the indexed elements before the call, and the other keys after it,
  // by the list it made (an object's named keys have no count to read without walking them;
  // what is walked uncharged is one call's worth, of an object whose keys were paid for).
  const keyed = (f, n, m) => ({[n](a) {
    const k = walk(a, m); charge(k); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.call(this, a); __exo_m[1]--; isArray(r) && charge(r.length - k); return r }})[n];
  const sources = (f, n, m) => ({[n](a, b) {  // Object.assign: each source (not the target: it may be large, and kept)
    charge(walk(undefined, 0, arguments, m, 1)); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.apply(this, arguments); __exo_m[1]--; return r }})[n];
  const second = (f, n) => ({[n](a, b, c = undefined) {  // the second argument (Reflect.construct's arguments)
    charge(len(b)); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = arguments.length < 3 ? f.call(this, a, b) : f.call(this, a, b, c); __exo_m[1]--; return r }})[n];
  const third = (f, n) => ({[n](a, b, c) {  // the third argument (Reflect.apply's arguments)
    charge(len(c)); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.call(this, a, b, c); __exo_m[1]--; return r }})[n];
  const sorts = (f, n) => ({[n](a) {  // n log2 n
    const k = walk(this); charge(k > 1 ? k * log2(k) : 0); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.call(this, a); __exo_m[1]--; return r }})[n];
  const span = (f, n) => ({[n](a, b = undefined, c = undefined) {  // fill(v, start, end): from start to end
    const k = len(this); charge(at(c, k, k, k) - at(b, k, 0, 0)); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.call(this, a, b, c); __exo_m[1]--; return r }})[n];
  const span2 = (f, n) => ({[n](a, b, c = undefined) {  // copyWithin(to, start, end)
    const k = len(this); charge(at(c, k, k, k) - at(b, k, 0, 0)); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.call(this, a, b, c); __exo_m[1]--; return r }})[n];
  const range = (f, n) => ({[n](a, b) {  // slice(start, end)
    const k = len(this); charge(at(b, k, k, k) - at(a, k, 0, 0)); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.call(this, a, b); __exo_m[1]--; return r }})[n];
  const search = (f, n) => ({[n](x, from = undefined) {  // indexOf: from its start to its hit
    const k = len(this), s = at(from, k, 0, 0), t = charge(k - s); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.call(this, x, from); __exo_m[1]--; r >= 0 && back(t - ticks(r - s + 1)); return r }})[n];
  const contains = (f, n) => ({[n](x, from = undefined) {  // includes: from its start to the end
    const k = len(this); charge(k - at(from, k, 0, 0)); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.call(this, x, from); __exo_m[1]--; return r }})[n];
  const backward = (f, n) => ({[n](x, from = undefined) {  // lastIndexOf: from the end to its hit
    const k = len(this), t = charge(k); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = arguments.length < 2 ? f.call(this, x) : f.call(this, x, from); __exo_m[1]--; r >= 0 && back(t - ticks(k - r));
    return r }})[n];
  // The length of a string method's this (a String object or any other is converted).
  const own = (s) => typeof s === 'string' ? s.length : walk(s);
  const text = (f, n) => ({[n](x, from = undefined) {  // a string's indexOf and includes: from the position to the hit and the searched
    const k = own(this), s = typeof from === 'number' ? (from > 0 ? (from < k ? trunc(from) : k) : 0) : 0,
          m = typeof x === 'string' ? x.length : 0, t = charge(k - s + m);
    ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.call(this, x, from); __exo_m[1]--; typeof r === 'number' && r >= 0 && back(t - ticks(r - s + m)); return r }})[n];
  const affix = (f, n) => ({[n](x, p = undefined) {  // startsWith, endsWith: the affix, at most the string
    const k = own(this), m = typeof x === 'string' ? x.length : k; charge(m < k ? m : k); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.call(this, x, p); __exo_m[1]--; return r }})[n];
  const collate = (f, n) => ({[n](x, a = undefined, b = undefined) {  // localeCompare: both strings
    const k = own(this); charge(k + (typeof x === 'string' ? x.length : k)); ++__exo_m[1] > MAX_DEPTH && __exo_deep();
    const r = f.call(this, x, a, b); __exo_m[1]--; return r }})[n];
  // Put in place by walk_install (engine.cpp), natively: the same loop in JS, run once per
  // realm in the interpreter, took a cold realm 400 us.
  install({whole, whole0, likes, folds, all, all2, first, keyed, sources, second, third, sorts, span, span2, range, search, contains, backward, text,
           affix, collate});
  // __exo_sp(x): a spread (`[...x]`, `f(...x)`, `{...x}`; meter.js) charges for the elements
  // it copies: an array's, a typed array's, a string's, a Map's or Set's, and any other
  // object's own keys (what an object spread copies; an iterator that is code charges as it
  // runs; an array-like that is not iterable is not walked by a spread). (6: walk_mode::spreads.)
  // __exo_ap(x): the arguments of `f.apply(t, x)` (meter.js), which apply copies: x's
  // length, an array-like's too, at most the engine's 500,000 arguments (past them, apply
  // throws).
  // __exo_k(v, ...): v, once the rest is evaluated (an assignment whose nested rests are
  // charged after it, meter.js).
  // __exo_ps(set).v = x: a rest into a property (meter.js): charges for x as a spread does,
  // then sets it through `set`, the script's arrow (a frame of the depth, with it).
  const spread = (x) => charge(isArray(x) ? x.length : walk(x, 6));
  return [(x) => (spread(x), x), (x) => { const n = len(x); charge(n < 500001 ? n : 500001); return x }, (v) => v,
          (set) => ({set v(x) { spread(x); ++__exo_m[1] > MAX_DEPTH && __exo_deep(); set(x); __exo_m[1]-- }})];
})(__exo_walk, __exo_spend, __exo_install, Function.prototype.call, Function.prototype.apply);
)js";

// The prelude with max_depth in it.
const std::string& prelude() {
  static const std::string text = [] {
    std::string t = prelude_text;
    const std::string_view key = "MAX_DEPTH";
    for (auto at = t.find(key); at != std::string::npos; at = t.find(key, at)) t.replace(at, key.size(), std::to_string(max_depth));
    return t;
  }();
  return text;
}

}  // namespace

bool stop_if_runaway(JSContext* cx, JS::HandleValue v) {
  if (!is_engine_overflow(cx, v)) return false;
  meter_now.engine_overflow = true;
  (void)out_of_budget(engine_stack);
  return true;
}

bool stop_if_runaway(JSContext* cx) {
  if (!engine_overflowed(cx)) return false;
  meter_now.engine_overflow = true;
  (void)out_of_budget(engine_stack);
  return true;
}

// ---- the job queue ----

JSObject* job_queue::getIncumbentGlobal(JSContext* cx) { return JS::CurrentGlobalOrNull(cx); }

bool job_queue::enqueuePromiseJob(JSContext* cx, JS::HandleObject, JS::HandleObject job, JS::HandleObject,
                                  JS::HandleObject) {
  jobs_.emplace_back(cx, job);
  return true;
}

void job_queue::runJobs(JSContext* cx) { (void)drain(cx); }

js::UniquePtr<JS::JobQueue::SavedJobQueue> job_queue::saveJobQueue(JSContext* cx) {
  JS_ReportOutOfMemory(cx);  // only the Debugger asks, and exo runs none
  return nullptr;
}

bool job_queue::drain(JSContext* cx) {
  while (!jobs_.empty()) {
    JS::RootedValue job(cx, JS::ObjectValue(*jobs_.front()));
    jobs_.pop_front();
    JS::RootedValue ignored(cx);
    meter_now.cells[1] = 0;  // a job starts the stack afresh (meter.js, "Call depth")
    if (!JS::Call(cx, JS::UndefinedHandleValue, job, JS::HandleValueArray::empty(), &ignored)) {
      jobs_.clear();
      return false;
    }
  }
  return true;
}

// ---- the thread's engine ----

thread_engine& engine() {
  if (engine_now) [[likely]]
    return *engine_now;
  if (holder.e) return *holder.e;
  init_process();
  auto e = std::make_unique<thread_engine>();
  e->cx = JS_NewContext(512u << 20);
  if (!e->cx) throw std::runtime_error("SpiderMonkey could not make a context");
  e->heap = 512u << 20;  // (begin_run gives it the safety nets' bound)
  JS::SetJobQueue(e->cx, &e->jobs);
  if (!JS::InitSelfHostedCode(e->cx)) {
    JS_DestroyContext(e->cx);
    throw std::runtime_error("SpiderMonkey could not initialise its self-hosted code");
  }
  JS_SetDefaultLocale(JS_GetRuntime(e->cx), "en-US");  // not the machine's LANG
  JS_SetSecurityCallbacks(e->cx, &security);
  if (!JS_AddInterruptCallback(e->cx, on_interrupt)) {
    JS_DestroyContext(e->cx);
    throw std::runtime_error("SpiderMonkey could not add an interrupt callback");
  }
  JS::SetOutOfMemoryCallback(e->cx, on_out_of_memory, nullptr);
  JS_SetGCCallback(e->cx, on_gc, nullptr);
  // A last-ditch collection before every report of running out (the engine's default is one
  // a minute): else code that finds the heap full of garbage another message left runs out
  // where a collection would have made room. (on_gc stops code that fills the heap itself.)
  JS_SetGCParameter(e->cx, JSGC_MIN_LAST_DITCH_GC_PERIOD, 0);
  JS_SetNativeStackQuota(e->cx, stack_quota());
  watchdog::get().add(e->cx, &meter_now);
  holder.e = std::move(e);
  engine_now = holder.e.get();
  // The metering realm: Reflect.parse and meter.js, never seen by actors.
  JSContext* cx = holder.e->cx;
  JS::RealmOptions options;
  JS::RootedObject g(cx, JS_NewGlobalObject(cx, &global_class, nullptr, JS::FireOnNewGlobalHook, options));
  if (!g) throw std::runtime_error("SpiderMonkey could not make the metering realm");
  JSAutoRealm in(cx, g);
  JS::RootedValue fn(cx);
  if (!JS::InitRealmStandardClasses(cx) || !JS_InitReflectParse(cx, g) || !evaluate(cx, meter_js, "meter.js", &fn) ||
      !fn.isObject())
    throw std::runtime_error("the metering realm: " + take_exception(cx));
  holder.meter_global = std::make_unique<JS::PersistentRootedObject>(cx, g);
  holder.meter_fn = std::make_unique<JS::PersistentRootedValue>(cx, fn);
  return *holder.e;
}

bool has_engine() { return engine_now != nullptr; }

meter_state& meter() { return meter_now; }

safety_nets& nets() {
  static safety_nets* n = [] {
    auto* s = new safety_nets;
    const auto read = [](const char* name) -> std::uint64_t {
      const char* v = std::getenv(name);
      if (!v || !*v) return 0;
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v, &end, 10);
      return *end ? 0 : n;
    };
    if (const std::uint64_t ms = read("EXO_JS_STALL_MS")) s->stall_ms = static_cast<std::uint32_t>(std::min<std::uint64_t>(ms, 1u << 30));
    if (const std::uint64_t mb = read("EXO_JS_HEAP_MB")) s->heap_bytes = std::min<std::uint64_t>(mb, 4095) << 20;
    if (const char* v = std::getenv("EXO_JS_TICK_FLOOR"); v && *v) s->tick_floor = static_cast<std::uint32_t>(std::min<std::uint64_t>(read("EXO_JS_TICK_FLOOR"), 1u << 30));
    return s;
  }();
  return *n;
}

void bound_heap(thread_engine& e, bool replay) {
  const std::uint64_t live = nets().heap_bytes.load(std::memory_order_relaxed);
  const std::uint64_t heap = std::min<std::uint64_t>(replay ? live * replay_factor : live, 0xffffffffu);
  if (e.heap == heap) return;
  // Down from a replay's bound: what the replay left may be over the live one.
  if (heap < e.heap && JS_GetGCParameter(e.cx, JSGC_BYTES) > heap - heap / 8) JS_GC(e.cx);
  JS_SetGCParameter(e.cx, JSGC_MAX_BYTES, static_cast<std::uint32_t>(heap));
  e.heap = heap;
}

void begin_run(std::uint64_t budget, bool message, std::uint64_t memory, bool replay) {
  // Runs are told apart within a thread (a realm, and so every run of code it holds, belongs
  // to one thread; the watchdog watches each thread's meter on its own): no atomic counter.
  static thread_local std::uint64_t runs = 0;
  meter_state& m = meter_now;
  m.set_left(budget);
  m.cells[1] = 0;
  m.out_of_ticks = false;
  m.runaway = "";
  m.out_of_memory = false;
  m.heap_full = false;
  m.engine_overflow = false;
  m.stalled = false;
  m.slow = false;
  m.memory_left = memory;
  m.over_memory = false;
  const std::uint32_t stall = nets().stall_ms.load(std::memory_order_relaxed);
  m.stall_ms.store(replay ? static_cast<std::uint32_t>(std::min<std::uint64_t>(std::uint64_t{stall} * replay_factor, 1u << 30)) : stall,
                   std::memory_order_relaxed);
  m.in_message = message;
  m.dirty = false;
  m.reseed = message;
  m.run.store(++runs, std::memory_order_release);
}
void end_run() { meter_now.run.store(0, std::memory_order_release); }

bool spend(std::uint64_t n) {
  meter_state& m = meter_now;
  const std::uint64_t left = m.left();
  if (left < n) return out_of_budget();
  m.set_left(left - n);
  return true;
}

metered instrument(std::string_view source) {
  thread_engine& e = engine();
  JSContext* cx = e.cx;
  JSAutoRealm in(cx, *holder.meter_global);
  metered out;
  JS::RootedString text(cx, JS_NewStringCopyUTF8N(cx, JS::UTF8Chars(source.data(), source.size())));
  if (!text) {
    out.error = "the script is not UTF-8: " + take_exception(cx);
    return out;
  }
  JS::RootedValueArray<2> args(cx);
  args[0].setString(text);
  args[1].setInt32(static_cast<std::int32_t>(max_depth));
  JS::RootedValue result(cx);
  // meter.js returns [the metered source, why it cannot have a warm instance ('' if it can)]
  JS::RootedValue metered_source(cx), cold(cx);
  bool is_array = false;
  if (!JS::Call(cx, JS::UndefinedHandleValue, *holder.meter_fn, args, &result) || !result.isObject() ||
      !JS::IsArrayObject(cx, result, &is_array) || !is_array) {
    out.error = take_exception(cx);
    return out;
  }
  JS::RootedObject pair(cx, &result.toObject());
  if (!JS_GetElement(cx, pair, 0, &metered_source) || !JS_GetElement(cx, pair, 1, &cold) || !metered_source.isString() ||
      !cold.isString()) {
    out.error = "meter.js returned something else than [source, why]";
    return out;
  }
  JS::RootedString s(cx, metered_source.toString()), c(cx, cold.toString());
  auto text_out = utf8(cx, s);
  auto cold_out = utf8(cx, c);
  if (!text_out || !cold_out) {
    out.error = take_exception(cx);
    return out;
  }
  out.source = std::move(*text_out);
  out.cold = std::move(*cold_out);
  return out;
}

void set_seed_source(seed_source f) { message_seed = f; }

void seed_random(JSObject* random, std::uint64_t seed) {
  if (seed == 0) seed = 0x9E3779B97F4A7C15ULL;  // xorshift's state is never zero
  js::SetFunctionNativeReserved(random, 0, JS::Int32Value(static_cast<std::int32_t>(seed >> 32)));
  js::SetFunctionNativeReserved(random, 1, JS::Int32Value(static_cast<std::int32_t>(seed & 0xffffffffu)));
}

// The prelude, compiled once per thread (a stencil each realm instantiates).
const compiled_script& prelude_script() {
  static const compiled_script script(prelude());
  return script;
}

JSObject* new_actor_global(JSContext* cx, std::uint64_t seed) {
  // One zone for every actor realm of the thread (a zone each costs 3-4 times the memory and
  // time), a compartment each (realms never share objects).
  JS::RealmOptions options;
  options.creationOptions().setNewCompartmentInExistingZone(*holder.meter_global);
  JS::RootedObject g(cx, JS_NewGlobalObject(cx, &actor_global_class, nullptr, JS::FireOnNewGlobalHook, options));
  if (!g) {  // the heap is full of realms past messages left: collect them, and try once more
    JS_ClearPendingException(cx);
    JS_GC(cx);
    g = JS_NewGlobalObject(cx, &actor_global_class, nullptr, JS::FireOnNewGlobalHook, options);
    if (!g) return nullptr;
  }
  JSAutoRealm in(cx, g);
  // __exo_tick: read only, not configurable (a script cannot redefine it, and names
  // starting with __exo_ are refused in scripts).
  if (!JS_DefineFunction(cx, g, "__exo_tick", tick, 1, JSPROP_READONLY | JSPROP_PERMANENT) ||
      !JS_DefineFunction(cx, g, "__exo_out", out_of_ticks, 0, JSPROP_READONLY | JSPROP_PERMANENT) ||
      !JS_DefineFunction(cx, g, "__exo_deep", too_deep_native, 0, JSPROP_READONLY | JSPROP_PERMANENT) ||
      !JS_DefineFunction(cx, g, "__exo_x", entry_failed, 0, JSPROP_READONLY | JSPROP_PERMANENT) ||
      !JS_DefineFunction(cx, g, "__exo_c", catch_guard, 1, JSPROP_READONLY | JSPROP_PERMANENT) ||
      !JS_DefineFunction(cx, g, "__exo_w", write_check, 1, JSPROP_READONLY | JSPROP_PERMANENT))
    return nullptr;
  // `__exo_m`, the tick cell and the call depth as the splices see them: a lexical binding
  // of the realm (not a property of the global, which code could reach by a computed name),
  // made by a script that calls a native defined for that moment only; `__exo_d`, the depth
  // of the top level (0), for its catches and finallys. The generators' next, return and
  // throw put back their caller's depth when the generator yields (meter.js, "Call depth").
  {
    JS::RootedValue ignored(cx);
    if (!JS_DefineFunction(cx, g, "__exo_cell", meter_cell, 0, 0) || !JS_DefineFunction(cx, g, "__exo_wrap", wrap_native, 3, 0) ||
        !JS_DefineFunction(cx, g, "__exo_isproxy", is_proxy_native, 1, 0) || !JS_DefineFunction(cx, g, "__exo_walk", walk_native, 2, 0) ||
        !JS_DefineFunction(cx, g, "__exo_spend", spend_native, 1, 0) ||
        !JS_DefineFunction(cx, g, "__exo_install", walk_install, 1, 0) ||
        !JS_DefineFunction(cx, g, "__exo_proxy", make_proxy_constructor, 3, 0) || !prelude_script().run(cx, "exo-meter.js", &ignored))
      return nullptr;
    for (const char* name : {"__exo_cell", "__exo_wrap", "__exo_isproxy", "__exo_proxy", "__exo_walk", "__exo_spend", "__exo_install"})
      if (!JS_DeleteProperty(cx, g, name)) return nullptr;
  }
  if (!count_buffers(cx, g) || !count_collections(cx, g) || !hide_regexp_statics(cx, g)) return nullptr;
  JS::RootedValue math(cx);
  if (!JS_GetProperty(cx, g, "Math", &math) || !math.isObject()) return nullptr;
  JS::RootedObject m(cx, &math.toObject());
  JSFunction* random = js::DefineFunctionWithReserved(cx, m, "random", seeded_random, 0, JSPROP_READONLY | JSPROP_PERMANENT);
  if (!random) return nullptr;
  seed_random(JS_GetFunctionObject(random), seed);
  JS::RootedObject exports(cx, JS_NewPlainObject(cx));
  if (!exports || !JS_DefineProperty(cx, g, "exports", exports, JSPROP_ENUMERATE)) return nullptr;
  return g;
}

namespace {

// An actor's script is compiled from UTF-16, never from UTF-8: SpiderMonkey 102's UTF-8
// tokenizer never returns on a numeric separator followed by a non-ASCII character (`1_\u00e9`
// written as UTF-8; found by fuzz_js), where its UTF-16 tokenizer reports the SyntaxError.
// The source is checked to be UTF-8 here (no overlong forms, no surrogates, nothing past
// U+10FFFF) and decoded into `units`, which `text` borrows.
bool source_text(JSContext* cx, std::string_view source, std::u16string& units, JS::SourceText<char16_t>& text) {
  units.clear();
  units.reserve(source.size());
  std::size_t i = 0;
  while (i < source.size()) {
    const auto c = static_cast<unsigned char>(source[i]);
    if (c < 0x80) {
      units.push_back(c);
      ++i;
      continue;
    }
    const std::size_t n = c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : 0;
    bool good = n != 0 && i + n < source.size();
    char32_t cp = n == 1 ? c & 0x1F : n == 2 ? c & 0x0F : c & 0x07;
    for (std::size_t k = 1; good && k <= n; ++k) {
      const auto ck = static_cast<unsigned char>(source[i + k]);
      good = (ck & 0xC0) == 0x80;
      cp = (cp << 6) | (ck & 0x3F);
    }
    good = good && !(n == 2 && cp < 0x800) && !(n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) &&
           !(cp >= 0xD800 && cp <= 0xDFFF);
    if (!good) {
      JS_ReportErrorASCII(cx, "the script is not UTF-8 (a malformed sequence at byte %zu)", i);
      return false;
    }
    if (cp >= 0x10000) {
      units.push_back(static_cast<char16_t>(0xD800 + ((cp - 0x10000) >> 10)));
      units.push_back(static_cast<char16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF)));
    } else {
      units.push_back(static_cast<char16_t>(cp));
    }
    i += n + 1;
  }
  return text.init(cx, units.data(), units.size(), JS::SourceOwnership::Borrowed);
}

}  // namespace

bool evaluate(JSContext* cx, std::string_view source, const char* name, JS::MutableHandleValue out) {
  JS::CompileOptions options(cx);
  options.setFileAndLine(name, 1);
  JS::SourceText<mozilla::Utf8Unit> text;
  if (!text.init(cx, source.data(), source.size(), JS::SourceOwnership::Borrowed)) return false;
  return JS::Evaluate(cx, options, text, out);
}

std::uint64_t compiled_script::next_serial() {
  static std::atomic<std::uint64_t> n{0};
  return ++n;
}

bool compiled_script::run(JSContext* cx, const char* name, JS::MutableHandleValue out) const {
  // This thread's stencils, by script serial (a stencil belongs to the runtime it was
  // compiled for; a thread has one). Scripts are few and long-lived, so entries stay.
  thread_local std::unordered_map<std::uint64_t, RefPtr<JS::Stencil>> stencils;
  JS::CompileOptions options(cx);
  options.setFileAndLine(name, 1);
  RefPtr<JS::Stencil>& stencil = stencils[serial_];
  if (!stencil) {
    std::u16string units;
    JS::SourceText<char16_t> text;
    if (!source_text(cx, source_, units, text)) return false;
    stencil = JS::CompileGlobalScriptToStencil(cx, options, text);
    if (!stencil) return false;
  }
  JS::InstantiateOptions instantiate(options);
  JS::RootedScript script(cx, JS::InstantiateGlobalStencil(cx, instantiate, stencil));
  return script && JS_ExecuteScript(cx, script, out);
}

JSObject* make_intrinsics(JSContext* cx) {
  static constexpr char snippet[] = R"((() => {
    const gp = Object.getPrototypeOf, it = [][Symbol.iterator]();
    const gen = function* () {}, agen = async function* () {}, afn = async function () {};
    return [gp(it), gp(gp(it)), gp(''[Symbol.iterator]()), gp(new Map().entries()), gp(new Set().values()),
            gp(/a/[Symbol.matchAll]('')), gp(gen), gp(gen.prototype), gp(afn), gp(agen), gp(agen.prototype),
            gp(gp(agen.prototype)), gp(Int8Array), Array.prototype[Symbol.unscopables],
            (function () { 'use strict'; return Object.getOwnPropertyDescriptor(arguments, 'callee').get })()];
  })())";
  JS::RootedValue out(cx);
  if (!evaluate(cx, snippet, "exo-intrinsics.js", &out) || !out.isObject()) return nullptr;
  return &out.toObject();
}

namespace {

// Collects the objects one cell points to (through its shape and accessors, not its script).
struct object_edges final : JS::CallbackTracer {
  std::vector<JSObject*> out;
  explicit object_edges(JSContext* cx) : JS::CallbackTracer(cx, JS::TracerKind::Callback) {}
  void onChild(JS::GCCellPtr thing) override {
    switch (thing.kind()) {
      case JS::TraceKind::Object: out.push_back(&thing.as<JSObject>()); break;
      case JS::TraceKind::Shape:
      case JS::TraceKind::BaseShape:
      case JS::TraceKind::GetterSetter: JS::TraceChildren(this, thing); break;
      default: break;
    }
  }
};

enum class hold { freeze, traverse, skip, refuse };

// What harden() does with an object: environments (closures' variables) are followed but
// cannot be frozen (a write to one is checked by the splices instead, __exo_w); objects whose
// state freezing does not fix refuse a warm instance.
hold classify(JSContext* cx, JS::HandleObject o, bool intrinsic, std::string& what) {
  if (js::IsProxy(o)) return what = "a Proxy", hold::refuse;
  {  // the tick cell's view and buffer (no script can reach them)
    JS::AutoCheckCannotGC nogc;
    bool shared = false;
    if (JS_IsArrayBufferViewObject(o) && JS_GetArrayBufferViewData(o, &shared, nogc) == meter_now.cells) return hold::skip;
    if (JS::IsArrayBufferObject(o) && JS::GetArrayBufferData(o, &shared, nogc) == reinterpret_cast<std::uint8_t*>(meter_now.cells))
      return hold::skip;
  }
  js::ESClass c{};
  if (!JS::GetBuiltinClass(cx, o, &c)) return what = "an object exo could not classify", hold::refuse;
  const std::string_view name = JS::GetClass(o)->name;
  switch (c) {
    case js::ESClass::Object:
    case js::ESClass::Array:
    case js::ESClass::Number:
    case js::ESClass::String:
    case js::ESClass::Boolean:
    case js::ESClass::BigInt:
    case js::ESClass::RegExp:  // (lastIndex becomes read-only: a global regex made while loading throws when used)
    case js::ESClass::Arguments:
    case js::ESClass::Error:
    case js::ESClass::Function: return hold::freeze;
    case js::ESClass::Promise:
      if (JS::GetPromiseState(o) != JS::PromiseState::Pending) return hold::freeze;
      return what = "a pending Promise", hold::refuse;
    case js::ESClass::ArrayBuffer:
      if (JS::GetArrayBufferByteLength(o) == 0) return hold::freeze;
      return what = "an ArrayBuffer", hold::refuse;
    case js::ESClass::Other:
      if (name == "Call" || name == "LexicalEnvironment" || name == "Var" || name == "NonSyntacticVariablesObject")
        return hold::traverse;
      if (name == "SavedFrame") return hold::skip;  // an Error's stack: immutable
      if (intrinsic || name == "Math" || name == "JSON" || name == "TypedArrayPrototype" || name.ends_with(".prototype"))
        return hold::freeze;
      break;
    default: break;
  }
  what = fmt::format("a {}", name);
  return hold::refuse;
}

}  // namespace

bool harden(JSContext* cx, JS::HandleObject global, JS::HandleObject intrinsics, std::string& why) {
  using object_set = JS::GCHashSet<JSObject*, js::MovableCellHasher<JSObject*>, js::SystemAllocPolicy>;
  JS::Rooted<object_set> seen(cx), roots(cx);
  JS::RootedObjectVector work(cx);
  auto add = [&](JSObject* o) {
    if (!o || seen.has(o) || JS::GetCompartment(o) != JS::GetCompartment(global)) return true;
    return seen.put(o) && work.append(o);
  };
  if (!seen.put(global)) return false;
  // The global's own properties (all of them: this makes every standard class) and prototype.
  JS::RootedIdVector ids(cx);
  if (!js::GetPropertyKeys(cx, global, JSITER_OWNONLY | JSITER_HIDDEN | JSITER_SYMBOLS, &ids)) return false;
  JS::Rooted<mozilla::Maybe<JS::PropertyDescriptor>> desc(cx);
  for (std::size_t i = 0; i < ids.length(); ++i) {
    if (!JS_GetOwnPropertyDescriptorById(cx, global, ids[i], &desc)) return false;
    if (desc.isNothing()) continue;
    if (desc->hasValue() && desc->value().isObject() && !add(&desc->value().toObject())) return false;
    if (desc->hasGetter() && !add(desc->getter())) return false;
    if (desc->hasSetter() && !add(desc->setter())) return false;
  }
  JS::RootedObject proto(cx);
  if (!JS_GetPrototype(cx, global, &proto) || !add(proto)) return false;
  std::uint32_t n = 0;
  if (!JS::GetArrayLength(cx, intrinsics, &n)) return false;
  JS::RootedValue v(cx);
  for (std::uint32_t i = 0; i < n; ++i) {
    if (!JS_GetElement(cx, intrinsics, i, &v)) return false;
    if (v.isObject() && (!roots.put(&v.toObject()) || !add(&v.toObject()))) return false;
  }
  // Everything reachable, classified; nothing is frozen unless all of it can be.
  JS::RootedObjectVector freeze(cx);
  JS::RootedObject o(cx);
  for (std::size_t i = 0; i < work.length(); ++i) {
    o = work[i];
    std::string what;
    switch (classify(cx, o, roots.has(o), what)) {
      case hold::refuse:
        why = what + " made while the script loads can change after it is frozen";
        return false;
      case hold::skip: continue;
      case hold::freeze:
        if (!freeze.append(o)) return false;
        break;
      case hold::traverse: break;
    }
    std::vector<JSObject*> edges;
    {
      object_edges tracer(cx);
      JS::AutoAssertNoGC nogc(cx);
      JS::TraceChildren(&tracer, JS::GCCellPtr(o.get()));
      edges = std::move(tracer.out);
    }
    // (no collection between the trace and here: the pointers are still good)
    for (JSObject* e : edges)
      if (!add(e)) return false;
  }
  for (std::size_t i = 0; i < freeze.length(); ++i) {
    o = freeze[i];
    if (!JS_FreezeObject(cx, o)) return false;
  }
  return JS_FreezeObject(cx, global);
}

bool compiles(JSContext* cx, std::string_view source, const char* name) {
  JS::CompileOptions options(cx);
  options.setFileAndLine(name, 1);
  std::u16string units;
  JS::SourceText<char16_t> text;
  if (!source_text(cx, source, units, text)) return false;
  return JS::Compile(cx, options, text) != nullptr;
}

std::string take_exception(JSContext* cx) {
  if (!JS_IsExceptionPending(cx)) return meter_now.out_of_ticks ? "out of ticks" : "the code was stopped";
  // Reading an exception needs a realm: the metering realm when the code is in none (a realm
  // that could not be made).
  std::optional<JSAutoRealm> in;
  if (!JS::GetCurrentRealmOrNull(cx)) in.emplace(cx, *holder.meter_global);
  JS::ExceptionStack stack(cx);
  if (!JS::StealPendingExceptionStack(cx, &stack)) return "an exception that could not be read";
  JS::ErrorReportBuilder report(cx);
  if (!report.init(cx, stack, JS::ErrorReportBuilder::NoSideEffects)) {
    JS_ClearPendingException(cx);
    return "an exception that could not be read";
  }
  std::string out = report.toStringResult().c_str() ? report.toStringResult().c_str() : "an exception";
  if (const JSErrorReport* r = report.report(); r && r->filename)
    out += fmt::format(" ({}:{})", r->filename, r->lineno);  // (columns move where ticks are spliced in; lines do not)
  return out;
}

std::optional<std::string> utf8(JSContext* cx, JS::HandleString s) {
  JSLinearString* linear = JS_EnsureLinearString(cx, s);
  if (!linear) return std::nullopt;
  std::string out(JS::GetDeflatedUTF8StringLength(linear), '\0');
  const std::size_t n = JS::DeflateStringToUTF8Buffer(linear, mozilla::Span<char>(out.data(), out.size()));
  out.resize(n);
  return out;
}

}  // namespace exo_js
