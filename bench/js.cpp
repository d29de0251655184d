// The js container against bare SpiderMonkey, in one process (bench_js prints the ratios): one
// message into a JS actor vs one JS::Call, fib(25) metered (as a message) vs unmetered (bare),
// a realm made and the script run in it (what each message pays today), and making an actor
// with the memory it holds.
//
// SpiderMonkey allows one context per thread, and the plugin keeps its own on the thread that
// runs messages (here the main thread), so the bare engine runs on a thread of its own: its
// benchmarks hand their whole timing loop to that thread and are timed in real time (so are
// exo's, for the ratios).
#include "ratio_reporter.hpp"

#include <exo/hypervisor.hpp>

#include <js/CompilationAndEvaluation.h>
#include <js/Initialization.h>
#include <js/PropertyAndElement.h>
#include <js/RealmOptions.h>
#include <js/SourceText.h>
#include <jsapi.h>

#include <fmt/format.h>

#include <cmath>
#include <dlfcn.h>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <tuple>
#include <thread>

namespace {

using hv_t = exo::hypervisor<exo::ordered_scheduler, exo::memory_store>;

// The same functions on both sides: exo's actor gets them metered, the bare engine as they are.
constexpr const char* script = R"(
exports.add = (a, b) => a + b
exports.regexps = (n) => {
  let k = 0
  for (let i = 0; i < n; i++) {
    const s = 'key' + (i & 255) + ',value,' + i
    k += s.split(/,/).length + s.replace(/e/g, 'E').length + s.match(/\d+/)[0].length + (/^key/.test(s) ? 1 : 0)
    for (const m of s.matchAll(/[a-z]+/g)) k += m[0].length
  }
  return k
}
const fib = (n) => n < 2 ? n : fib(n - 1) + fib(n - 2)
exports.fib = fib
const fibc = function (n) { return n < 2 ? n : fibc.call(this, n - 1) + fibc.call(this, n - 2) }
exports.fibc = fibc
const fibb = function (n) { return n < 2 ? n : bound(n - 1) + bound(n - 2) }
const bound = fibb.bind(null)
exports.fibb = fibb
exports.arrays = (n) => {
  const a = [3, 1, 4, 1, 5, 9, 2, 6]
  let s = 0
  for (let i = 0; i < n; i++) s += a.indexOf(i & 7) + a.includes(i & 15) + a.slice(1, 3).length + a.lastIndexOf(1)
  return s
}
)";
// A LibVMS-style backend's module: js/message is into an actor of it. (One whose script
// could reach RegExp, as the script above can, once paid for a reset of the legacy RegExp
// statics each message; none can reach them now: js/message_whole.)
constexpr const char* plain_script = "exports.add = (a, b) => a + b\n";
constexpr std::int64_t arrays_n = 100'000;
constexpr std::int64_t regexps_n = 20'000;
constexpr std::int64_t fib_n = 25;

template <class T>
T must(exo::expected<T> r, const char* what) {
  if (!r) {
    fmt::print(stderr, "bench_js: {}: {}\n", what, to_string(r.error()));
    std::abort();
  }
  return std::move(*r);
}
[[noreturn]] void die(const std::string& what) {
  fmt::print(stderr, "bench_js: {}\n", what);
  std::abort();
}

// exo's side: the plugin loaded, one hypervisor, one actor of the script.
struct exo_side {
  exo::container_registry reg;
  std::unique_ptr<hv_t> hv;
  exo::cap_handle actor{}, add{}, fib{}, fibc{}, fibb{}, arrays{}, regexps{}, plain_add{};
  exo_side() {
    reg.add_search_dir(EXO_BENCH_PLUGIN_DIR);
    must(reg.load_named("js"), "loading the js plugin");
    exo::config c;
    c.containers = &reg;
    hv = std::make_unique<hv_t>(c);
    actor = must(hv->create_code("js", exo::bytes(script, script + std::char_traits<char>::length(script))), "creating the actor");
    add = must(hv->function_cap(actor, "add"), "add");
    fib = must(hv->function_cap(actor, "fib"), "fib");
    fibc = must(hv->function_cap(actor, "fibc"), "fibc");
    fibb = must(hv->function_cap(actor, "fibb"), "fibb");
    arrays = must(hv->function_cap(actor, "arrays"), "arrays");
    regexps = must(hv->function_cap(actor, "regexps"), "regexps");
    auto plain = must(hv->create_code("js", exo::bytes(plain_script, plain_script + std::char_traits<char>::length(plain_script))),
                      "creating the plain actor");
    plain_add = must(hv->function_cap(plain, "add"), "add (plain)");
    message(plain_add, exo::context::make_args(std::int64_t{1}, std::int64_t{2}), 100'000);
    message(add, exo::context::make_args(std::int64_t{1}, std::int64_t{2}), 100'000);  // SpiderMonkey is up
  }
  void message(exo::cap_handle f, exo::arg_list args, std::uint64_t budget) {
    (void)hv->send(f, std::move(args), exo::send_options{.budget = budget});
    hv->run();
    if (!hv->failures().empty()) die("a message failed: " + to_string(hv->failures().front()));
  }
};
exo_side& exo_() {
  static exo_side s;
  return s;
}

// The bare engine: its own thread, context and global with the script run in it.
class bare_engine {
 public:
  bare_engine() {
    (void)exo_();  // the plugin has called JS_Init (once per process)
    thread_ = std::thread([this] { loop(); });
    run([this] { setup(); });
  }
  ~bare_engine() {
    run([this] {
      global_.reset();
      JS_DestroyContext(cx_);
    });
    {
      std::lock_guard l(m_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // Runs fn on the engine's thread and waits for it.
  void run(std::function<void()> fn) {
    std::unique_lock l(m_);
    task_ = std::move(fn);
    done_ = false;
    cv_.notify_all();
    cv_.wait(l, [this] { return done_; });
  }
  JSContext* cx() const { return cx_; }
  JS::HandleObject global() const { return *global_; }

  // A global with `exports` and the script run in it (as exo's realms, without the lockdown
  // and metering); `zone` makes it in the first global's zone, as the plugin does.
  JSObject* new_global(bool zone) {
    JS::RealmOptions options;
    if (zone && global_) options.creationOptions().setNewCompartmentInExistingZone(*global_);
    JS::RootedObject g(cx_, JS_NewGlobalObject(cx_, &global_class, nullptr, JS::FireOnNewGlobalHook, options));
    if (!g) die("JS_NewGlobalObject failed");
    JSAutoRealm in(cx_, g);
    JS::RootedObject exports(cx_, JS_NewPlainObject(cx_));
    if (!exports || !JS_DefineProperty(cx_, g, "exports", exports, JSPROP_ENUMERATE))
      die("setting up a global");
    JS::SourceText<mozilla::Utf8Unit> text;
    if (!text.init(cx_, script, std::char_traits<char>::length(script), JS::SourceOwnership::Borrowed)) die("source");
    JS::CompileOptions opts(cx_);
    opts.setFileAndLine("bench.js", 1);
    JS::RootedValue ignored(cx_);
    if (!JS::Evaluate(cx_, opts, text, &ignored)) die("evaluating the script");
    return g;
  }
  // exports[name] of the first global.
  JS::Value function(const char* name) {
    JSAutoRealm in(cx_, *global_);
    JS::RootedValue exports(cx_), fn(cx_);
    JS::RootedObject g(cx_, *global_);
    if (!JS_GetProperty(cx_, g, "exports", &exports) || !exports.isObject()) die("exports");
    JS::RootedObject e(cx_, &exports.toObject());
    if (!JS_GetProperty(cx_, e, name, &fn)) die(name);
    return fn;
  }

 private:
  static constexpr JSClass global_class = {"global", JSCLASS_GLOBAL_FLAGS, &JS::DefaultGlobalClassOps};

  void setup() {
    cx_ = JS_NewContext(512u << 20);
    if (!cx_ || !JS::InitSelfHostedCode(cx_)) die("a bare context");
    global_ = std::make_unique<JS::PersistentRootedObject>(cx_);
    JS::RootedObject g(cx_, new_global(false));
    *global_ = g;
  }
  void loop() {
    std::unique_lock l(m_);
    for (;;) {
      cv_.wait(l, [this] { return stop_ || task_; });
      if (stop_) return;
      auto t = std::move(task_);
      task_ = nullptr;
      l.unlock();
      t();
      l.lock();
      done_ = true;
      cv_.notify_all();
    }
  }

  std::thread thread_;
  std::mutex m_;
  std::condition_variable cv_;
  std::function<void()> task_;
  bool done_ = false, stop_ = false;
  JSContext* cx_ = nullptr;
  std::unique_ptr<JS::PersistentRootedObject> global_;
};
bare_engine& bare_() {
  static bare_engine b;
  return b;
}

// ---------------------------------------------------------------- one message vs one call

// One message into a JS actor: add(1, 2), delivered, run, its result to nobody (plain_script).
void js_message(benchmark::State& state) {
  auto& s = exo_();
  for (auto _ : state) s.message(s.plain_add, exo::context::make_args(std::int64_t{1}, std::int64_t{2}), 100'000);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(js_message)->Name("js/message")->UseRealTime();

// The same into an actor of the whole script, which reaches RegExp (a regex literal, fibc's
// `this`, which can be the global): what fib's, fibc's, fibb's, arrays' and regexps' measures subtract.
void js_message_whole(benchmark::State& state) {
  auto& s = exo_();
  for (auto _ : state) s.message(s.add, exo::context::make_args(std::int64_t{1}, std::int64_t{2}), 100'000);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(js_message_whole)->Name("js/message_whole")->UseRealTime();

// The same function through bare SpiderMonkey: JS::Call with two Int32s, the result read.
void bare_call(benchmark::State& state) {
  auto& b = bare_();
  b.run([&] {
    JSContext* cx = b.cx();
    JSAutoRealm in(cx, b.global());
    JS::RootedValue fn(cx, b.function("add")), result(cx);
    JS::RootedValueArray<2> argv(cx);
    std::int64_t sum = 0;
    for (auto _ : state) {
      argv[0].setInt32(1);
      argv[1].setInt32(2);
      if (!JS::Call(cx, JS::UndefinedHandleValue, fn, argv, &result)) die("JS::Call failed");
      sum += result.toInt32();
    }
    benchmark::DoNotOptimize(sum);
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bare_call)->Name("js/bare_call")->UseRealTime();

// One message into an actor whose code cannot keep a warm realm (it holds a Map): a realm
// made, the script loaded in it, the call, every message.
void js_cold_message(benchmark::State& state) {
  auto& s = exo_();
  static const exo::cap_handle add = [&] {
    constexpr std::string_view cold = "const seen = new Map()\nexports.add = (a, b) => a + b\n";
    const exo::cap_handle a = must(s.hv->create_code("js", exo::bytes(cold.begin(), cold.end())), "a cold actor");
    return must(s.hv->function_cap(a, "add"), "add");
  }();
  for (auto _ : state) s.message(add, exo::context::make_args(std::int64_t{1}, std::int64_t{2}), 100'000);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(js_cold_message)->Name("js/cold_message")->UseRealTime()->Unit(benchmark::kMicrosecond);

// What a message pays today before the call: a realm (in the shared zone) and the script run
// in it, bare.
void bare_realm(benchmark::State& state) {
  auto& b = bare_();
  b.run([&] {
    for (auto _ : state) benchmark::DoNotOptimize(b.new_global(true));
    JS_GC(b.cx());
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bare_realm)->Name("js/bare_realm")->UseRealTime()->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------- metering

// fib(25) as a message: every function body charges its ticks. fibc makes its calls through
// Function.prototype.call, fibb through a bound function (natives both: counting them as
// frames, in a wrapper, cost 10 to 20 times the call).
void js_metered(benchmark::State& state, exo::cap_handle exo_side::*fn, std::int64_t n) {
  auto& s = exo_();
  for (auto _ : state) s.message(s.*fn, exo::context::make_args(n), 1'000'000'000);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(js_metered, fib, &exo_side::fib, fib_n)->Name("js/fib_metered")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(js_metered, fibc, &exo_side::fibc, fib_n)->Name("js/fib_call_metered")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(js_metered, fibb, &exo_side::fibb, fib_n)->Name("js/fib_bound_metered")->UseRealTime()->Unit(benchmark::kMillisecond);
// The same through bare SpiderMonkey, not metered (the same JIT): exports[name](n), whose
// result must be `expected` (any number if NaN).
void bare_metered(benchmark::State& state, const char* name, std::int64_t n, double expected) {
  auto& b = bare_();
  b.run([&] {
    JSContext* cx = b.cx();
    JSAutoRealm in(cx, b.global());
    JS::RootedValue fn(cx, b.function(name)), result(cx);
    JS::RootedValueArray<1> argv(cx);
    for (auto _ : state) {
      argv[0].setInt32(static_cast<std::int32_t>(n));
      if (!JS::Call(cx, JS::UndefinedHandleValue, fn, argv, &result)) die(std::string(name) + " failed");
    }
    if (!result.isNumber() || (!std::isnan(expected) && result.toNumber() != expected))
      die(fmt::format("{}({}) is not {}", name, n, expected));
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(bare_metered, fib, "fib", fib_n, 75025)->Name("js/bare_fib")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bare_metered, fibc, "fibc", fib_n, 75025)->Name("js/bare_fib_call")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bare_metered, fibb, "fibb", fib_n, 75025)->Name("js/bare_fib_bound")->UseRealTime()->Unit(benchmark::kMillisecond);

// Small arrays' built-ins that search and copy (indexOf, includes, slice, lastIndexOf), in a
// loop of arrays_n rounds: metered (their charges by length) against bare.
BENCHMARK_CAPTURE(js_metered, arrays, &exo_side::arrays, arrays_n)->Name("js/arrays_metered")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bare_metered, arrays, "arrays", arrays_n, std::nan(""))->Name("js/bare_arrays")->UseRealTime()->Unit(benchmark::kMillisecond);

// Regexes through String's methods (split, replace, match, test, matchAll), in a loop of
// regexps_n rounds: metered (their charges by length; the realm's RegExp, exo's, which the
// engine's fast paths for split and matchAll must still take) against bare.
BENCHMARK_CAPTURE(js_metered, regexps, &exo_side::regexps, regexps_n)->Name("js/regexps_metered")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bare_metered, regexps, "regexps", regexps_n, std::nan(""))->Name("js/bare_regexps")->UseRealTime()->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------- actors

// Making an actor of installed code (the code compiled once, as the kernel keeps it).
void js_create(benchmark::State& state) {
  auto& s = exo_();
  static exo::code_ptr code = must(s.reg.compile(EXO_TYPE_JS, exo::bytes(script, script + std::char_traits<char>::length(script))), "compile");
  for (auto _ : state) {
    void* inst = must(code->load(*code, exo::value{}), "instantiate");
    code->destroy(inst);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(js_create)->Name("js/create")->UseRealTime()->Unit(benchmark::kMicrosecond);

// Heap bytes per live actor instance (1000 kept alive at once).
double bytes_per_actor() {
  auto& s = exo_();
  auto code = must(s.reg.compile(EXO_TYPE_JS, exo::bytes(script, script + std::char_traits<char>::length(script))), "compile");
  return exo::bench::bytes_per_instance([&] { return must(code->load(*code, exo::value{}), "instantiate"); },
                                        [&](void* p) { code->destroy(p); });
}

// Resident memory per actor, counted on 1000 actors each sent one message (300 of distinct
// code), against the process's resident size before them; after 200 (50) such actors first,
// so that the heap has grown past what earlier benchmarks left to collect (with fewer, a
// collection freeing their garbage could make the difference negative). `distinct`: each
// actor of a script of its own (the script and a comment with its number), so that each
// message warms a realm of its own (what a realm costs); else all of one script, whose actors
// share its warm realm (what an actor costs).
double rss_kib() {
  std::ifstream statm("/proc/self/statm");
  double pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * 4;
}
// The plugin's exo_js_heap_bytes: the collected heap of this thread's engine after a full
// collection.
std::uint64_t engine_heap_bytes() {
  static auto* heap_bytes = [] {
    void* lib = dlopen(EXO_BENCH_PLUGIN_DIR "/exo_js.so", RTLD_NOW | RTLD_NOLOAD);
    auto* f = lib ? reinterpret_cast<std::uint64_t (*)()>(dlsym(lib, "exo_js_heap_bytes")) : nullptr;
    if (!f) die("the js plugin has no exo_js_heap_bytes");
    return f;
  }();
  return heap_bytes();
}
struct per_actor {
  double rss_kib = 0;   // resident memory, grown over the actors' messages, per actor
  double heap_kib = 0;  // the engine's collected heap after full collections, per actor
};
per_actor kib_per_warm_actor(bool distinct) {
  auto& s = exo_();
  const int warm_up = distinct ? 50 : 200, n = distinct ? 300 : 1000;  // (a realm is over 100 KiB: 300 are plenty)
  std::vector<exo::cap_handle> adds;
  for (int i = 0; i < warm_up + n; ++i) {  // (code installed once is not compiled again)
    const std::string source = distinct ? fmt::format("{}// {}\n", script, i) : std::string(script);
    auto a = must(s.hv->create_code("js", exo::bytes(source.begin(), source.end())), "an actor");
    adds.push_back(must(s.hv->function_cap(a, "add"), "add"));
  }
  double rss = 0, heap = 0;
  for (int i = 0; i < warm_up + n; ++i) {
    if (i == warm_up) {
      heap = static_cast<double>(engine_heap_bytes());  // (garbage from earlier benchmarks collected first)
      rss = rss_kib();
    }
    s.message(adds[static_cast<std::size_t>(i)], exo::context::make_args(std::int64_t{1}, std::int64_t{2}), 100'000);
  }
  per_actor out;
  out.rss_kib = (rss_kib() - rss) / n;
  out.heap_kib = (static_cast<double>(engine_heap_bytes()) - heap) / 1024 / n;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  exo::bench::ratio_reporter reporter;
  if (!exo::bench::run_benchmarks(argc, argv, reporter)) return 1;
  auto ns = [&](const char* name) { return reporter.ns(name); };
  // exo's overhead is what a message costs beyond the call, against the call (as bench_wasm
  // reports it): the goal is at most 1.5.
  if (double msg = ns("js/message"), bare = ns("js/bare_call"); msg > 0 && bare > 0)
    fmt::print("js message/bare call: {:.2f} (exo {:.0f} ns, bare JS::Call {:.0f} ns); exo's overhead is {:.2f}x the bare "
               "call (goal at most 1.5)\n",
               msg / bare, msg, bare, (msg - bare) / bare);
  if (double msg = ns("js/message_whole"), bare = ns("js/bare_call"); msg > 0 && bare > 0)
    fmt::print("js message into an actor whose script reaches RegExp (a regex, a `this` that can be the global): {:.2f} (exo "
               "{:.0f} ns); exo's overhead is {:.2f}x the bare call (goal at most 1.5)\n",
               msg / bare, msg, (msg - bare) / bare);
  if (double realm = ns("js/bare_realm"); realm > 0)
    fmt::print("a bare realm with the script run in it (what a message without a warm realm pays): {:.0f} us\n", realm / 1000);
  if (double cold = ns("js/cold_message"); cold > 0)
    fmt::print("js message into an actor without a warm realm (a realm made and the script loaded each time): {:.0f} us\n",
               cold / 1000);
  // (fib, fibc, fibb, arrays and regexps run in the whole script's actor: less its empty message's cost)
  if (double f = ns("js/fib_metered"), b = ns("js/bare_fib"), m = ns("js/message_whole"); f > 0 && b > 0 && m > 0)
    fmt::print("js metering overhead (fib {} as a message less an empty message's cost, over bare unmetered): {:.1f}% "
               "(goal under 25%; with the message's cost: {:.1f}%)\n",
               fib_n, ((f - m) / b - 1) * 100, (f / b - 1) * 100);
  for (auto [metered, bare, how] : {std::tuple{"js/fib_call_metered", "js/bare_fib_call", "Function.prototype.call"},
                                     std::tuple{"js/fib_bound_metered", "js/bare_fib_bound", "a bound function"}})
    if (double f = ns(metered), b = ns(bare), m = ns("js/message_whole"); f > 0 && b > 0 && m > 0)
      fmt::print("js metering overhead, fib {} calling through {}: {:.1f}%\n", fib_n, how, ((f - m) / b - 1) * 100);
  if (double f = ns("js/arrays_metered"), b = ns("js/bare_arrays"), m = ns("js/message_whole"); f > 0 && b > 0 && m > 0)
    fmt::print("js small arrays' built-ins ({} rounds of indexOf, includes, slice and lastIndexOf on 8 elements), metered "
               "over bare: {:.1f}%\n",
               arrays_n, ((f - m) / b - 1) * 100);
  if (double f = ns("js/regexps_metered"), b = ns("js/bare_regexps"), m = ns("js/message_whole"); f > 0 && b > 0 && m > 0)
    fmt::print("js regexes through String's methods ({} rounds of split, replace, match, test and matchAll), metered over "
               "bare: {:.1f}%\n",
               regexps_n, ((f - m) / b - 1) * 100);
  if (double c = ns("js/create"); c > 0) {
    const per_actor shared = kib_per_warm_actor(false), distinct = kib_per_warm_actor(true);
    fmt::print("js actor creation: {:.2f} us and {:.2f} KiB per actor before its first message; after a message, its "
               "code's warm realm shared: {:.1f} KiB resident and {:.1f} KiB of collected heap per actor (goal under 100 "
               "KiB); a warm realm each (actors of distinct code): {:.0f} KiB of collected heap per actor, {:.0f} KiB "
               "resident (resident memory also moves with what collections give back)\n",
               c / 1000, bytes_per_actor() / 1024, shared.rss_kib, shared.heap_kib, distinct.heap_kib, distinct.rss_kib);
  }
  return 0;
}
