// The js container through the real loaded plugin (plugins/js): LibVMS-style backends
// (exports.f = ...) as actors; values across; storage as the only state that survives a
// message; failures rolled back; metering that stops every runaway uncatchably; the
// environment locked down for determinism; bad scripts refused with a clear error.

#include "../wasm/support.hpp"

#include <exo/core/json.hpp>
#include <exo/verifier/verify.hpp>

#include <dlfcn.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>

using namespace wasm_test;
using exo::cap_handle;

namespace {

using memory_hv = exo::hypervisor<exo::ordered_scheduler, exo::memory_store>;

// A registry with the js plugin loaded from the build tree.
struct js_registry : registry {
  js_registry() : registry("js") {}
};

exo::bytes js(std::string_view s) { return exo::bytes(s.begin(), s.end()); }

template <class H>
cap_handle make_in(H& hv, std::string_view code) {
  auto a = hv.create_code("js", js(code));
  BOOST_REQUIRE_MESSAGE(a, "create_code: " << (a ? "" : a.error().message));
  return *a;
}

cap_handle make(memory_hv& hv, std::string_view code) {
  auto a = hv.create_code("js", js(code));
  BOOST_REQUIRE_MESSAGE(a, "create_code: " << (a ? "" : a.error().message));
  return *a;
}

template <class H>
std::string refused(H& hv, std::string_view code) {
  auto a = hv.create_code("js", js(code));
  BOOST_REQUIRE_MESSAGE(!a, "created: " << code);
  return a.error().message;
}

// Arguments of any kind, as values.
template <class... A>
exo::arg_list vals(A&&... a) {
  exo::arg_list out;
  (out.emplace_back(exo::value(std::forward<A>(a))), ...);
  return out;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Calls `fn` twice: both times it ends out of ticks with the whole budget spent; the first
// failure's message.
std::string runs_out_at_the_budget(memory_hv& hv, cap_handle a, const char* fn, const exo::arg_list& in, std::uint64_t budget) {
  std::string message;
  for (int run = 0; run < 2; ++run) {
    auto o = call(hv, a, fn, in, budget);
    BOOST_REQUIRE(o.failed);
    BOOST_TEST(o.failed->code == static_cast<std::int64_t>(exo::errc::out_of_ticks), o.failed->message);
    BOOST_TEST(o.ticks == budget);
    if (run == 0) message = o.failed->message;
  }
  return message;
}

exo::value result(const outcome& o) {
  BOOST_REQUIRE_MESSAGE(!o.failed, "failed: " << (o.failed ? o.failed->message : ""));
  BOOST_REQUIRE(o.result);
  return *o.result;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(js_container)

// LibVMS's backend: func1() is 1, func1(5) is 6; the exports are listed in order.
BOOST_AUTO_TEST_CASE(a_libvms_backend_runs_as_an_actor) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, "exports.func1 = (x = 0) => x + 1\nexports.foo = () => 'bar'\nexports.notAFunction = 3\n");
  BOOST_TEST(as_int(call(hv, a, "func1")) == 1);
  BOOST_TEST(as_int(call(hv, a, "func1", args(std::int64_t{5}))) == 6);
  BOOST_TEST(*result(call(hv, a, "foo")).if_string() == "bar");
  BOOST_TEST(call(hv, a, "notAFunction").failed.has_value());
}

// Every kind of value crosses both ways as the README says.
BOOST_AUTO_TEST_CASE(values_cross_in_exo_s_model) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, R"(
    exports.echo = (v) => v
    exports.kinds = (...vs) => vs.map(v => v === null ? 'null' : v instanceof Uint8Array ? 'bytes'
                                             : Array.isArray(v) ? 'array' : typeof v)
    exports.big = () => 2n ** 62n
    exports.half = () => 0.5
    exports.bad = () => () => 1
    exports.strict = function () { 'use strict'; try { undeclared = 1; return false } catch (e) { return e instanceof ReferenceError } }
  )");
  BOOST_TEST(*result(call(hv, a, "strict")).if_bool());  // metering keeps 'use strict' a directive
  const exo::value m = exo::value::make_map({{"b", exo::value::list{std::int64_t{1}, "x"}}, {"a", exo::bytes{1, 2, 3}}});
  BOOST_TEST((result(call(hv, a, "echo", vals(m))) == m));
  BOOST_TEST((result(call(hv, a, "echo", vals(std::int64_t{1} << 60))) == exo::value(std::int64_t{1} << 60)));  // as a BigInt
  BOOST_TEST((result(call(hv, a, "echo", vals(2.5))) == exo::value(2.5)));
  BOOST_TEST((result(call(hv, a, "big")) == exo::value(std::int64_t{1} << 62)));
  BOOST_TEST((result(call(hv, a, "half")) == exo::value(0.5)));
  const exo::value kinds = result(call(hv, a, "kinds", vals(exo::null, true, std::int64_t{3}, std::int64_t{1} << 60, 1.5, "s",
                                                            exo::bytes{7}, exo::value::list{}, m)));
  const exo::value expected = exo::value::list{"null", "boolean", "number", "bigint", "number", "string", "bytes", "array", "object"};
  BOOST_TEST((kinds == expected));
  auto bad = call(hv, a, "bad");
  BOOST_REQUIRE(bad.failed);
  BOOST_TEST(contains(bad.failed->message, "a function has no exo form"), bad.failed->message);
}

// Storage is what survives: writes in one call are seen by the next; JS globals are not.
BOOST_AUTO_TEST_CASE(storage_survives_a_message_and_globals_do_not) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, R"(
    let calls = 0
    exports.put = (k, v) => { calls++; exo.storage.put(k, v); return calls }
    exports.get = (k) => exo.storage.get(k) ?? null
    exports.del = (k) => exo.storage.delete(k)
  )");
  BOOST_TEST(as_int(call(hv, a, "put", args("x", std::int64_t{41}))) == 1);
  BOOST_TEST(as_int(call(hv, a, "put", vals("y", exo::value::list{"a"}))) == 1);  // a fresh realm each message
  BOOST_TEST(as_int(call(hv, a, "get", args("x"))) == 41);
  BOOST_TEST((result(call(hv, a, "get", args("y"))) == exo::value(exo::value::list{"a"})));
  BOOST_TEST(*result(call(hv, a, "del", args("x"))).if_bool());
  BOOST_TEST(result(call(hv, a, "get", args("x"))).is_null());
}

// A throw rolls back what the message did and reports the failure.
BOOST_AUTO_TEST_CASE(a_throw_rolls_the_message_back) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, R"(
    exports.put_then_throw = () => { exo.storage.put('k', 1); throw new RangeError('no') }
    exports.get = () => exo.storage.get('k') ?? 'absent'
    exports.reject = async () => { exo.storage.put('k', 2); await null; throw new Error('later') }
    exports.later = async (x) => { await null; return x * 2 }
    Promise.resolve().then(() => { exports.queued = () => 'set by a job the script queued' })
  )");
  // A job the script queued while loading runs before the export, as when its exports were
  // found: the export it sets is there in every message.
  BOOST_TEST(*result(call(hv, a, "queued")).if_string() == "set by a job the script queued");
  auto o = call(hv, a, "put_then_throw");
  BOOST_REQUIRE(o.failed);
  BOOST_TEST(contains(o.failed->message, "RangeError: no"), o.failed->message);
  BOOST_TEST(*result(call(hv, a, "get")).if_string() == "absent");
  auto rj = call(hv, a, "reject");
  BOOST_REQUIRE(rj.failed);
  BOOST_TEST(contains(rj.failed->message, "later"), rj.failed->message);
  BOOST_TEST(*result(call(hv, a, "get")).if_string() == "absent");
  BOOST_TEST(as_int(call(hv, a, "later", args(std::int64_t{21}))) == 42);  // promise jobs run inside the message
}

// Runaways stop as out of ticks, uncatchably, at the budget, the same on every run.
BOOST_AUTO_TEST_CASE(runaways_run_out_of_ticks_uncatchably) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, R"(
    exports.loop = () => { exo.storage.put('k', 1); for (;;) {} }
    exports.caught = () => { for (;;) { try { while (true) {} } catch (e) {} finally { } } }
    exports.promises = () => { const go = () => Promise.resolve().then(go); go() }
    exports.gen = () => { function* g() { let i = 0; for (;;) yield i++ } for (const x of g()) {} }
    exports.arrow = () => { const f = (n) => n ? f(n - 1) : 0; for (;;) f(3) }
    exports.get = () => exo.storage.get('k') ?? 'absent'
  )");
  for (const char* fn : {"loop", "caught", "promises", "gen", "arrow"}) {
    BOOST_TEST_CONTEXT(fn) {
      auto o = call(hv, a, fn, {}, 50'000);
      BOOST_REQUIRE(o.failed);
      BOOST_TEST(o.failed->code == static_cast<std::int64_t>(exo::errc::out_of_ticks), o.failed->message);
      BOOST_TEST(o.ticks == 50'000u);  // the whole budget, a storage write's cost (loop) included
      auto again = call(hv, a, fn, {}, 50'000);
      BOOST_TEST(again.ticks == o.ticks);
    }
  }
  BOOST_TEST(*result(call(hv, a, "get")).if_string() == "absent");
}

// A budget larger than the tick cell the splices subtract from (2^30 ticks, engine.hpp) is
// spent in full and counted exactly: the cell is refilled from the reserve each time it runs
// out, and the code stops only when both are spent. A loop whose body costs about 20,000
// ticks (a big array literal that never runs) crosses the cell's size in 54,000 rounds.
BOOST_AUTO_TEST_CASE(a_budget_past_the_tick_cell_is_spent_exactly) {
  js_registry r;
  memory_hv hv(r.config());
  std::string big = "[";
  for (int i = 0; i < 20'000; ++i) big += "z,";
  big += "z]";
  auto a = make(hv, "const z = 0\n"
                    "exports.rounds = (n) => { let i = 0; while (i < n) { i++; if (z) " + big + " } return i }\n"
                    "exports.forever = (first) => { exo.charge(first); for (;;) { if (z) " + big + " } }\n");
  const auto ticks = [&](std::int64_t n) {
    auto o = call(hv, a, "rounds", args(n), std::uint64_t{1} << 34);
    BOOST_TEST(as_int(o) == n);
    return o.ticks;
  };
  const std::uint64_t none = ticks(0), some = ticks(10'000), many = ticks(100'000);
  BOOST_TEST(many > (std::uint64_t{1} << 30));  // the cell was refilled
  BOOST_TEST(many - some == 9 * (some - none));  // every round costs the same, before and after
  const std::uint64_t budget = (std::uint64_t{3} << 30) + 12'345;
  (void)runs_out_at_the_budget(hv, a, "forever", args(std::int64_t{0}), budget);
  (void)runs_out_at_the_budget(hv, a, "forever", args((std::int64_t{1} << 31) + 7), budget);  // exo.charge, then the splices
  (void)runs_out_at_the_budget(hv, a, "forever", args(std::int64_t{0}), std::uint64_t{1} << 30);  // the cell's size exactly
}

// The call depth is counted by the splices, the same with the JIT in any state: a recursion
// up to the limit runs, one past it stops as out of ticks with the whole budget spent, on
// every run; so does every way of recursing that skips the count (through class fields,
// default parameters, a catch or a finally that would swallow the engine's own "too much
// recursion", an async rejection). Calls of every kind, many times over, leave the count
// where it was.
BOOST_AUTO_TEST_CASE(the_call_depth_is_counted_deterministically) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, R"(
    const down = (n) => n === 0 ? 0 : 1 + down(n - 1)
    exports.down = (n) => down(n)
    function plain(x) { return x + 1 }
    function noReturn(o) { o.x++ }
    const arrow = (x) => x * 2
    function thrower() { throw new Error('x') }
    function finallyReturns() { try { return 1 } finally { plain(1) } }
    function* gen() { yield 1; yield plain(1) }
    async function later(x) { await null; return x }
    async function* agen() { yield 1 }
    async function throwsNow() { throw new Error('now') }
    async function throwsInParams(x = (() => { throw new Error('params') })()) { return x }
    function withDefaults(a = plain(1), {b = plain(2), [String(plain(3))]: c = 4} = {}) { return a + b + c }
    class Fielded { x = plain(1); static y = plain(2); [String(plain(3))] = 1 }
    exports.many = (n) => {
      let s = 0
      const o = {x: 0}
      for (let i = 0; i < n; i++) {
        s += plain(i) + arrow(i) + finallyReturns()
        noReturn(o)
        try { thrower() } catch (e) { s++ }
        try { thrower() } catch { s++ }
        try { thrower() } catch ({message}) { s += message.length }
        for (const v of gen()) s += v
        const g = gen(); g.next(); g.return(5)
        const h = gen(); h.next(); try { h.throw(new Error('in')) } catch (e) { s++ }
        later(i).then(plain)
        agen().next()
        throwsNow().catch(plain)
        throwsInParams().catch(plain)
        s += withDefaults() + new Fielded().x
      }
      return down(1990) + s + o.x
    }
    // (No catch here to set the count again.)
    exports.async_throws = (n) => { for (let i = 0; i < n; i++) { throwsNow().catch(plain); throwsInParams().catch(plain) } return down(1990) }
    exports.async_many = async (n) => { let s = 0; for (let i = 0; i < n; i++) s += await later(i); return down(1990) + s }
    exports.async_deep = async (n) => { const r = async (k) => k === 0 ? 0 : 1 + await r(k - 1); return r(n) }
    exports.catch_all = () => { const r = () => { try { return r() } catch (e) { return r() } }; return r() }
    exports.finally_returns = () => { const r = (n) => { try { r(n + 1) } finally { return n } }; return r(0) }
    exports.fields = () => { class A { x = new A() }; try { new A() } catch (e) { return 'caught ' + e } }
    exports.defaults = () => { function f(a = f()) { return a } try { return f() } catch (e) { return 'caught ' + e } }
    exports.defaults_finally = () => { function f(a = f()) { return a } try { return f() } finally { return 'swallowed' } }
    exports.fields_finally = () => { class A { x = new A() }; try { new A() } finally { return 'swallowed' } }
    exports.rejected = async () => { const r = async () => r(); return r().catch(() => 'swallowed') }
    // Code that runs outside any function body: parameter lists (defaults, at any level of a
    // pattern, and computed keys), class fields (static too), a class's heritage, computed
    // keys and static blocks. A class expression as a default is not wrapped (its name comes
    // from the parameter), so what runs inside it counts by itself.
    exports.rejected_default = () => { let n = 0; async function r(x = r().catch(() => { n++ })) {} r(); return n }
    exports.pattern_default = () => { function f({a = f()} = {}) {} f() }
    exports.pattern_key = () => { function f({[f()]: a} = {}) {} f() }
    exports.array_default = () => { function f([a = f()] = []) {} f() }
    exports.static_block = () => { function f(x = class { static { f() } }) {} f() }
    exports.static_field = () => { function f(x = class { static y = f() }) {} f() }
    exports.heritage = () => { function f(x = class extends f() {}) {} f() }
    exports.class_key = () => { function f(x = class { [f()]() {} }) {} f() }
    exports.derived = () => { class A { x = new B() } class B extends A {} new B() }
    // A default that recurses is a frame of its own, held while the call inside it runs: f's
    // bodies start only when the innermost default is done, so f(k) is k + 1 frames.
    exports.through_defaults = (n) => { function f(k, a = k ? f(k - 1) : 0) { return k } return f(n) }
    // Wrapping keeps what a default or a field sees: its name, this, arguments, new.target, super.
    exports.names = () => {
      function f(g = function () {}, h = () => 1, C = class {}, D = (class extends Object {}), [x = function () {}] = []) { return [g.name, h.name, C.name, D.name, x.name].join() }
      class A { m = function () {}; static s = () => 1; [('k' + 1)] = function () {} }
      const a = new A()
      return f() + ',' + [a.m.name, A.s.name, a.k1.name].join()
    }
    exports.scope = () => {
      const o = {f(a, b = arguments.length, c = this) { return b * 10 + (c === o ? 1 : 0) }}
      function F(t = new.target) { this.t = t === F }
      class B { get v() { return 2 } }
      class C extends B { w = super.v + 1; static z = this.name }
      return [o.f(1), new F().t, new C().w, C.z].join()
    }
    // A generator started shallow and resumed from deep counts from where it is resumed.
    function climb(n) { return n === 0 ? 0 : 1 + climb(n - 1) }
    function at(depth, f) { return depth === 0 ? f() : at(depth - 1, f) }
    function* catcher() { for (;;) { try { yield } catch (n) { yield climb(n) } } }
    function* finisher(n) { try { yield 1 } finally { climb(n) } }
    function* nexter() { let n = 0; for (;;) { try { n = yield n } catch (e) {} ; n = climb(n) } }
    exports.thrown_into = (k) => { const g = catcher(); g.next(); return at(1000, () => g.throw(k).value) }
    exports.returned_into = (k) => { const g = finisher(k); g.next(); return at(1000, () => g.return(7).value) }
    exports.next_into = (k) => { const g = nexter(); g.next(); return at(1000, () => g.next(k).value) }
    exports.delegated = (k) => { function* outer() { yield* catcher() } const g = outer(); g.next(); return at(1000, () => g.throw(k).value) }
  )");
  BOOST_TEST(as_int(call(hv, a, "thrown_into", args(std::int64_t{500}), 10'000'000)) == 500);
  BOOST_TEST(as_int(call(hv, a, "returned_into", args(std::int64_t{500}), 10'000'000)) == 7);
  BOOST_TEST(as_int(call(hv, a, "next_into", args(std::int64_t{500}), 10'000'000)) == 500);
  BOOST_TEST(as_int(call(hv, a, "delegated", args(std::int64_t{500}), 10'000'000)) == 500);
  for (const char* fn : {"thrown_into", "returned_into", "next_into", "delegated"}) {
    BOOST_TEST_CONTEXT(fn) {
      const std::string why = runs_out_at_the_budget(hv, a, fn, args(std::int64_t{3000}), 10'000'000);
      BOOST_TEST(contains(why, "call depth"), why);
    }
  }
  BOOST_TEST(as_int(call(hv, a, "down", args(std::int64_t{1998}), 1'000'000)) == 1998);  // exports.down is frame 1
  const std::string deep = runs_out_at_the_budget(hv, a, "down", args(std::int64_t{1999}), 1'000'000);
  BOOST_TEST(contains(deep, "call depth"), deep);
  BOOST_TEST(as_int(call(hv, a, "many", args(std::int64_t{3000}), 100'000'000)) > 1990);
  BOOST_TEST(as_int(call(hv, a, "async_many", args(std::int64_t{3000}), 100'000'000)) > 1990);
  BOOST_TEST(as_int(call(hv, a, "async_throws", args(std::int64_t{3000}), 100'000'000)) == 1990);
  BOOST_TEST(as_int(call(hv, a, "async_deep", args(std::int64_t{1500}), 10'000'000)) == 1500);
  for (const char* fn : {"async_deep", "catch_all", "finally_returns", "rejected"}) {
    BOOST_TEST_CONTEXT(fn) { (void)runs_out_at_the_budget(hv, a, fn, args(std::int64_t{6000}), 10'000'000); }
  }
  // Recursions outside function bodies are counted too: they stop at the limit, not where
  // the engine's stack runs out.
  for (const char* fn : {"fields", "defaults", "defaults_finally", "fields_finally", "rejected_default", "pattern_default",
                         "pattern_key", "array_default", "static_block", "static_field", "heritage", "class_key", "derived"}) {
    BOOST_TEST_CONTEXT(fn) {
      const std::string why = runs_out_at_the_budget(hv, a, fn, {}, 10'000'000);
      BOOST_TEST(contains(why, "call depth"), why);
    }
  }
  BOOST_TEST(as_int(call(hv, a, "through_defaults", args(std::int64_t{1998}), 10'000'000)) == 1998);
  const std::string defaults_deep = runs_out_at_the_budget(hv, a, "through_defaults", args(std::int64_t{1999}), 10'000'000);
  BOOST_TEST(contains(defaults_deep, "call depth"), defaults_deep);
  BOOST_TEST(*result(call(hv, a, "names")).if_string() == "g,h,C,D,x,m,s,k1");
  BOOST_TEST(*result(call(hv, a, "scope")).if_string() == "11,true,3,C");
}

// Built-ins that recurse inside the engine over nested data (join and toString,
// toLocaleString, JSON.stringify, flat, JSON.parse's reviver, calls through bindings of
// bindings) count their levels in the call depth, so where they stop does not depend on the
// engine's stack (which the JIT changes): a join level is a frame; stringify and flat may go
// as deep as half the depth left; the reviver walk has no recursion; a function may be bound
// at most 1000 times over. Past a limit: out of ticks at exactly the budget, as too deep,
// every time; within it, the same result every time, also from 1000 frames down.
BOOST_AUTO_TEST_CASE(recursion_inside_the_engine_is_counted) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, R"(
    const nest = (n) => { let a = []; for (let i = 0; i < n; i++) a = [a]; return a }
    function at(depth, f) { return depth === 0 ? f() : at(depth - 1, f) }
    exports.join = (n, down) => at(down, () => String(nest(n)).length + nest(n).join().length)
    exports.locale = (n) => nest(n).toLocaleString().length
    exports.stringify = (n, down) => at(down, () => JSON.stringify(nest(n)).length)
    exports.flat = (n, levels) => { const a = nest(n); a.push(1, [2, [3]]); return a.flat(levels).length }
    exports.deep_parse = (n) => { let seen = 0; JSON.parse('['.repeat(n) + ']'.repeat(n), () => { seen++ }); return seen }
    exports.revive = () => JSON.stringify([
      JSON.parse('{"a":1,"b":[1,2,{"c":3}]}', (k, v) => k === 'c' ? undefined : typeof v === 'number' ? v * 10 : v),
      JSON.parse('{"x":1,"y":2}', function (k, v) { return k === 'x' ? this.y : v }),
      JSON.parse('[1,[2]]', (k, v) => k === '' ? v : Array.isArray(v) ? 'list' : k)])
    // Frames the engine enters from its own C++ (a setter, a getter, a toString), when not
    // compiled the costliest in native stack: two frames a level.
    exports.setter = (n) => { const f = (k) => { if (k) Object.defineProperty({}, 'x', {set(v) { f(k - 1) }}).x = 1 }; f(n); return n }
    exports.getter = (n) => { const f = (k) => k ? Object.defineProperty({}, 'x', {get() { return f(k - 1) }}).x : 0; f(n); return n }
    exports.to_string = (n) => { const f = (k) => k ? String({toString() { return f(k - 1) }}) : ''; f(n); return n }
    exports.bind = (n) => { let f = function () { return 7 }; for (let i = 0; i < n; i++) f = f.bind(null); return f() }
    exports.bind_caught = () => { let f = () => 1; try { for (let i = 0; ; i++) f = f.bind(null) } catch (e) { return e.message } }
    // A call through a bound function copies its bound arguments at each level of the chain
    // below it: at most 1,000 copies a call, counted when the chain is made.
    exports.bound_copies = () => {
      const f = (...r) => r.length, g = f.bind(null, 1), out = [g(2), f.bind(null, ...new Array(1000))(0), g.bind(null, ...new Array(499))(0)]
      let h = f.bind(null, 1); for (let i = 1; i < 1000; i++) h = h.bind(null); out.push(h(0))
      for (const make of [() => f.bind(null, ...new Array(1001)), () => g.bind(null, ...new Array(500)), () => h.bind(null, 1),
                          () => new Proxy(f, {}).bind(null, ...new Array(1001)), () => new Proxy(g, {}).bind(null, ...new Array(332)).bind(null, 1),
                          () => { let k = f.bind(null, 1, 2); for (let i = 1; ; i++) k = k.bind(null, i) }])
        try { make(); out.push('made') } catch (e) { out.push(e.message.match(/copy (\d+) bound arguments/)?.[1] ?? e.message) }
      return out.join('/') }
    // A proxy with no trap for an operation does it on its target, in the engine's C++: a
    // prototype or a handler that is a proxy nests that. Each proxy's operation is two
    // frames; a proxy's target cannot be a proxy.
    exports.protos = (n, down) => { let o = {x: 1}; for (let i = 0; i < n; i++) o = Object.create(new Proxy(o, {})); return at(down, () => o.x) }
    exports.handlers = (n) => { let h = {}; for (let i = 0; i < n; i++) h = new Proxy({}, h); return new Proxy({x: 1}, h).x }
    exports.nested = () => [() => new Proxy(new Proxy({}, {}), {}), () => Proxy.revocable(Proxy.revocable({}, {}).proxy, {}),
                            () => new Proxy(new Proxy(() => 1, {}), {})].map((f) => { try { f() } catch (e) { return e.name + ': ' + e.message } }).join('|')
  )");
  const auto i = [](std::int64_t v) { return exo::value(v); };
  const auto ok = [&](const char* fn, const exo::arg_list& in) {
    BOOST_TEST_CONTEXT(fn) {
      const std::int64_t first = as_int(call(hv, a, fn, in, 100'000'000));
      BOOST_TEST(as_int(call(hv, a, fn, in, 100'000'000)) == first);
      return first;
    }
    return std::int64_t{0};
  };
  const auto too_deep = [&](const char* fn, const exo::arg_list& in) {
    BOOST_TEST_CONTEXT(fn) {
      const std::string why = runs_out_at_the_budget(hv, a, fn, in, 100'000'000);
      BOOST_TEST(contains(why, "call depth"), why);
    }
  };
  // (The export, `at` and its function are frames 1 to 3; a level is a frame from there.)
  BOOST_TEST(ok("join", vals(i(1990), i(0))) == 0);
  too_deep("join", vals(i(2000), i(0)));
  BOOST_TEST(ok("join", vals(i(990), i(1000))) == 0);
  too_deep("join", vals(i(1000), i(1000)));
  too_deep("join", vals(i(100'000), i(0)));  // where the engine's stack would run out
  BOOST_TEST(ok("locale", vals(i(1990))) == 0);
  too_deep("locale", vals(i(2000)));
  // (Half the depth left: 998 levels, 498 from 1000 frames down; the result's brackets.)
  BOOST_TEST(ok("stringify", vals(i(997), i(0))) == 1996);
  too_deep("stringify", vals(i(998), i(0)));
  BOOST_TEST(ok("stringify", vals(i(497), i(1000))) == 996);
  too_deep("stringify", vals(i(498), i(1000)));
  too_deep("stringify", vals(i(100'000), i(0)));
  BOOST_TEST(ok("flat", vals(i(990), exo::value(1e308))) == 3);  // [1, 2, 3] under all the empty ones
  BOOST_TEST(ok("flat", vals(i(100'000), i(1))) == 4);            // one level: [[...], 1, 2, [3]]
  too_deep("flat", vals(i(1200), exo::value(1e308)));
  BOOST_TEST(ok("deep_parse", vals(i(100'000))) == 100'000);  // a call per array: the walk is not a recursion
  BOOST_TEST(*result(call(hv, a, "revive")).if_string() == R"([{"a":10,"b":[10,20,{}]},{"x":2,"y":2},["0","list"]])");
  for (const char* fn : {"setter", "getter", "to_string"}) {
    BOOST_TEST(ok(fn, vals(i(999))) == 999);  // the export, two frames a level, and the last f: 2000
    too_deep(fn, vals(i(1000)));
    too_deep(fn, vals(i(100'000)));
  }
  BOOST_TEST(ok("protos", vals(i(998), i(0))) == 1);  // the export, `at`, its function, then two frames a proxy
  too_deep("protos", vals(i(999), i(0)));
  BOOST_TEST(ok("protos", vals(i(498), i(1000))) == 1);
  too_deep("protos", vals(i(499), i(1000)));
  too_deep("protos", vals(i(100'000), i(0)));
  BOOST_TEST(ok("handlers", vals(i(998))) == 1);
  too_deep("handlers", vals(i(999)));
  too_deep("handlers", vals(i(100'000)));
  const std::string nested = *result(call(hv, a, "nested", {}, 100'000'000)).if_string();
  const std::string refusal = "TypeError: a proxy's target cannot be a proxy in exo (the engine would recurse on its own stack)";
  BOOST_TEST(nested == refusal + "|" + refusal + "|" + refusal);
  BOOST_TEST(ok("bind", vals(i(1000))) == 7);
  const std::string bound = *result(call(hv, a, "bind_caught", {}, 100'000'000)).if_string();
  BOOST_TEST(contains(bound, "bound at most 1000 times"), bound);
  // (g's binding copies 499 twice, and g's 1; the chain of 1,000 bindings copies its one
  // argument 1,000 times, and a binding of one more argument on top of it copies that 1,001
  // times; a proxy is a level, and the chain below it counts: 1,001 arguments bound on a
  // proxy of f are copied twice, 332 on one of g three times (with g's own, 997), and one
  // more on top of that four times; the last chain copies 2, then 2 + 2, 4 + 3, ..., 991 + 45.)
  BOOST_TEST(*result(call(hv, a, "bound_copies", {}, 100'000'000)).if_string() == "2/1001/501/2/1001/1001/1002/2002/1001/1036");
}

// Proxies behave as the language says, though exo counts each one's operations as frames:
// traps get their handler as `this` and the target, the receiver and the arguments; a trap
// added to the handler later is used; no trap does the operation on the target; invariants
// are enforced; revoked proxies throw; the constructor's checks and shape are kept.
BOOST_AUTO_TEST_CASE(proxies_keep_their_semantics) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, R"(
    exports.traps = () => {
      const seen = []
      const target = function (x) { return x + 1 }
      const h = {
        get(t, k, rcv) { seen.push(`get ${String(k)} ${this === h} ${t === target} ${rcv === p}`); return Reflect.get(t, k, rcv) },
        apply(t, self, args) { seen.push(`apply ${self} ${args}`); return t.apply(self, args) * 10 },
      }
      const p = new Proxy(target, h)
      seen.push(p.length, p(1))
      h.has = (t, k) => k === 'magic'
      seen.push('magic' in p, 'length' in p, 'other' in p)
      delete h.apply
      seen.push(p(2), typeof p, Object.keys(new Proxy({a: 1, b: 2}, {})).join(''))
      class C { constructor(v) { this.v = v } }
      seen.push(new (new Proxy(C, {construct(t, args, nt) { return {v: args[0] * 2, same: nt === t} }}))(4).v)
      seen.push(new (new Proxy(C, {}))(5).v)
      return seen.join('|')
    }
    const name = (f) => { try { f(); return 'ok' } catch (e) { return e.name } }
    exports.checks = () => {
      const frozen = Object.freeze({x: 1})
      const liar = new Proxy(frozen, {get() { return 2 }})
      const {proxy, revoke} = Proxy.revocable({x: 1}, {})
      const before = proxy.x
      revoke()
      return [name(() => liar.x), name(() => Proxy({}, {})), name(() => new Proxy(1, {})), name(() => new Proxy({}, null)),
              before, name(() => proxy.x), Proxy.length, Proxy.name, 'prototype' in Proxy, typeof Proxy,
              Proxy.revocable.length, name(() => new Proxy.revocable({}, {})), Object.getPrototypeOf(new Proxy([], {})) === Array.prototype,
              Array.isArray(new Proxy([], {})), JSON.stringify(new Proxy({a: [1]}, {}))].join()
    }
  )");
  BOOST_TEST(*result(call(hv, a, "traps")).if_string() ==
             "get length true true true|apply undefined 1|1|20|true|false|false|3|function|ab|8|5");
  BOOST_TEST(*result(call(hv, a, "checks")).if_string() ==
             "TypeError,TypeError,TypeError,TypeError,1,TypeError,2,Proxy,false,function,2,TypeError,true,true,{\"a\":[1]}");
}

// Built-ins whose work grows with their input (sort, join, JSON, string work) charge by the
// sizes they took and made, the same on every run; a call too big for the budget ends out of
// ticks at exactly the budget. The wrapped built-ins keep their names and lengths.
BOOST_AUTO_TEST_CASE(built_ins_are_charged_by_size) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, R"(
    exports.repeat = (n) => 'ab'.repeat(n).length
    exports.sort = (n) => { const a = []; for (let i = 0; i < n; i++) a.push(n - i); a.sort(); return a[0] }
    exports.json = (n) => JSON.parse(JSON.stringify('x'.repeat(n))).length
    exports.join = (n) => new Array(n).join('-').length
    exports.shape = () => [String.prototype.padStart.length, Array.prototype.sort.name, JSON.stringify.length,
                           String.prototype.replace.name, 'a-b'.split('-').length, [3, 1, 2].sort().join()].join()
  )");
  const auto ticks = [&](const char* fn, std::int64_t n) {
    auto o = call(hv, a, fn, args(n), 100'000'000);
    BOOST_REQUIRE_MESSAGE(!o.failed, fn << ": " << o.failed->message);
    return o.ticks;
  };
  BOOST_TEST(ticks("repeat", 1'000'000) >= ticks("repeat", 1) + 2'000'000 / 8);
  BOOST_TEST(ticks("repeat", 1'000'000) == ticks("repeat", 1'000'000));
  BOOST_TEST(ticks("sort", 10'000) >= ticks("sort", 10) + 10'000 * 13 / 8);  // n log2 n / 8, log2(10000) > 13
  BOOST_TEST(ticks("json", 800'000) >= ticks("json", 8) + 299'990);  // made, read, and the repeat: 100,000 each
  BOOST_TEST(ticks("join", 800'000) >= ticks("join", 8) + 199'990);  // taken and made
  BOOST_TEST(*result(call(hv, a, "shape")).if_string() == "1,sort,3,replace,2,1,2,3");
  (void)runs_out_at_the_budget(hv, a, "repeat", args(std::int64_t{1} << 27), 1'000'000);
}

// Built-ins that walk their input (indexOf, includes, slice, forEach, ..., Array.from,
// Object.keys, a typed array's sort) are charged a tick per 8 elements of the work they may
// do, before they run (a length need not have elements behind it), a search giving back
// what it did not walk: a loop of searches over a big array runs out of ticks at the
// budget, where it once spent one tick a search (1,000 indexOf over a million elements:
// 8,036 ticks and 1.4 s).
BOOST_AUTO_TEST_CASE(walking_built_ins_are_charged_by_what_they_walk) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, R"(
    const cb = () => false
    // Each op on `a` (n holes: no element for a callback to be called on, nothing made to fill it).
    const ops = {
      none: (a) => 0,
      indexOf: (a) => a.indexOf(1), lastIndexOf: (a) => a.lastIndexOf(1), includes: (a) => a.includes(1),
      slice: (a) => a.slice().length, fill: (a) => a.fill(0).length, copyWithin: (a) => a.copyWithin(0, 1).length,
      reverse: (a) => a.reverse().length, forEach: (a) => a.forEach(cb), map: (a) => a.map(cb).length,
      filter: (a) => a.filter(cb).length, some: (a) => a.some(cb), every: (a) => a.every(() => true),
      reduce: (a) => a.reduce(cb, 0), reduceRight: (a) => a.reduceRight(cb, 0), flatMap: (a) => a.flatMap(cb).length,
      concat: (a) => [].concat(a).length, splice: (a) => a.splice(0, 0, 1).length, unshift: (a) => a.unshift(1),
      from: (a) => Array.from(a).length, keys: (a) => Object.keys(a).length, freeze: (a) => Object.isFrozen(Object.freeze(a)),
      find: (a) => a.find(cb), findIndex: (a) => a.findIndex(cb),
      typedIndexOf: (a) => new Uint8Array(a.length).indexOf(1), typedIncludes: (a) => new Uint8Array(a.length).includes(1),
      typedSort: (a) => new Uint8Array(a.length).sort().length, typedJoin: (a) => new Uint8Array(a.length).join().length,
      typedSet: (a) => new Uint8Array(a.length).set(a), typedFill: (a) => new Uint8Array(a.length).fill(1).length,
      typedNone: (a) => new Uint8Array(a.length).length,
      stringIndexOf: (a) => ' '.repeat(a.length).indexOf('x'), stringIncludes: (a) => ' '.repeat(a.length).includes('x'),
      stringLastIndexOf: (a) => ' '.repeat(a.length).lastIndexOf('x'), stringNone: (a) => ' '.repeat(a.length).length,
      stringStartsWith: (a) => { const s = ' '.repeat(a.length); return s.startsWith(s) },
      stringEndsWith: (a) => { const s = ' '.repeat(a.length); return s.endsWith(s) },
      stringLocaleCompare: (a) => { const s = ' '.repeat(a.length); return s.localeCompare(s) },
      spread: (a) => [...a].length, spreadCall: (a) => ((...r) => r.length)(...a), spreadObject: (a) => ({...a}) && 0,
      stringSpread: (a) => [...' '.repeat(a.length)].length, rest: (a) => { const [x, ...r] = a; return r.length },
      restAssigned: (a) => { let x, r; [x, ...r] = a; return r.length },
      // rests that bind a name elsewhere: a parameter's (here through apply reached by call, which copies uncharged), a
      // nested pattern's, a loop head's
      restParam: (a) => Function.prototype.apply.call((x, ...r) => r.length, null, a), restParamNested: (a) => (([x, ...r]) => r.length)(a),
      restNested: (a) => { const {v: [x, ...r]} = {v: a}; return r.length },
      restHead: (a) => { let s = 0; for (const [x, ...r] of [a]) s += r.length; return s },
      namedRest: (a) => { const {k0, ...r} = named(a.length); return 0 },
      // an assignment's nested rest, and its object rest
      restAssignedNested: (a) => { let x, r; ({v: [x, ...r]} = {v: a}); return r.length },
      namedRestAssigned: (a) => { let k0, r; ({k0, ...r} = named(a.length)); return 0 },
      // rests into a property: an assignment's nested one, an object rest, a loop head's
      restIntoProperty: (a) => { const o = {}; let x; [x, [...o.p]] = [0, a]; return o.p.length },
      namedRestIntoProperty: (a) => { const o = {}; ({k0: o.k, ...o.r} = named(a.length)); return 0 },
      restIntoPropertyHead: (a) => { const o = {}; let s = 0; for ([...o.p] of [a]) s += o.p.length; return s },
      // rests whose target is a pattern (an array no name holds): a parameter's own, nested in a parameter's,
      // a declaration's, an assignment's, a loop head's
      unnamedRestParam: (a) => Function.prototype.apply.call((...[x, y]) => 0, null, a),
      unnamedRestParamNested: (a) => (([x, ...[y]]) => 0)(a),
      unnamedRestNested: (a) => { const {v: [x, ...[y]]} = {v: a}; return 0 },
      unnamedRestAssigned: (a) => { let x, y; ({v: [x, ...[y]]} = {v: a}); return 0 },
      unnamedRestHead: (a) => { let s = 0, x, y; for ([x, ...[y]] of [a]) s++; return s },
      // apply copies its array, or an array-like's length of undefineds, into arguments
      apply: (a) => (function () { return 0 }).apply(null, a), applyLike: (a) => (function () { return 0 }).apply(null, {length: a.length}),
      // an array-like's shift moves it index by index (an array's own is the engine's: not charged; a proxy's pays for its traps)
      shiftLike: (a) => Array.prototype.shift.call({length: a.length}), shiftProxy: (a) => new Proxy(a, {}).shift(), shiftArray: (a) => a.shift(),
      set: (a) => new Set(a).size, map: (a) => new Map(a.fill([0, 0])).size,
      mapFilledNone: (a) => a.fill([0, 0]) && 0, assign: (a) => Object.assign({}, a) && 0,
      reflectApply: (a) => Reflect.apply(() => 0, null, a), reflectConstruct: (a) => Reflect.construct(Array, a).length,
      ownKeys: (a) => Reflect.ownKeys(a).length, descriptors: (a) => Object.getOwnPropertyDescriptors(a) && 0,
      // an object of a.length named keys and as many symbols: keys with no count behind them
      namedNone: (a) => named(a.length) && 0, namedKeys: (a) => Object.keys(named(a.length)).length,
      namedValues: (a) => Object.values(named(a.length)).length, namedEntries: (a) => Object.entries(named(a.length)).length,
      namedNames: (a) => Object.getOwnPropertyNames(named(a.length)).length,
      namedSymbols: (a) => Object.getOwnPropertySymbols(named(a.length)).length, namedOwnKeys: (a) => Reflect.ownKeys(named(a.length)).length,
      namedFreeze: (a) => Object.isFrozen(Object.freeze(named(a.length))), namedSeal: (a) => Object.isSealed(Object.seal(named(a.length))),
      namedDescriptors: (a) => Object.getOwnPropertyDescriptors(named(a.length)) && 0, namedAssign: (a) => Object.assign({}, named(a.length)) && 0,
      namedSpread: (a) => ({...named(a.length)}) && 0,
      // the target's keys are not walked: an object that grows by assign is not charged its size each time
      namedAssignInto: (a) => Object.assign(named(a.length), {x: 1}, [2]) && 0,
    }
    const named = (n) => { const o = {}; for (let i = 0; i < n; i++) { o['k' + i] = i; o[Symbol()] = i } return o }
    exports.op = (name, n) => { ops[name](new Array(n)); return 0 }
    exports.search = (n, k, from) => { const a = new Array(n).fill(0); let s = 0; a[n >> 1] = 1; for (let i = 0; i < k; i++) s += a.indexOf(1, from); return s }
    exports.fake = (kind) => {
      const a = []
      a.length = 2 ** 32 - 1
      if (kind === 'array') return a.indexOf(1)
      if (kind === 'forEach') return a.forEach(cb)
      if (kind === 'like') return Array.prototype.includes.call({length: 2 ** 40}, 1)
      if (kind === 'getter') return Array.prototype.lastIndexOf.call({get length() { return 2 ** 40 }}, 1)
      let reads = 0  // a proxy that gives a small length to the first read, a huge one after: pays for each trap
      return new Proxy([], {get: (t, k) => k === 'length' ? (reads++ ? 2 ** 32 - 1 : 8) : t[k]}).indexOf(1)
    }
    exports.shape = () => [
      [1, 2, 3].indexOf(2), [1, 2, 3].lastIndexOf(3), [1, 2, 3].lastIndexOf(3, 1), [1, 2, 3].lastIndexOf(3, undefined),
      [1, 2, 3].reduce((x, y) => x + y), [].reduce((x) => x, 5), (() => { try { [].reduce((x) => x) } catch (e) { return e instanceof TypeError } })(),
      [1, 2, 3].splice(1).length, [1, 2, 3].splice(1, undefined).length, [1, 2, 3].slice(-2).join('+'), [1, 2].concat([3], 4).join('+'),
      'abcabc'.indexOf('c', 3), 'abc'.lastIndexOf('c', undefined), [''.startsWith.name + ''.startsWith.length, 'abc'.startsWith('b', 1),
       'abc'.endsWith('b', 2), 'abc'.endsWith('c'), 'abc'.startsWith('a', undefined), 'a'.localeCompare('b'), 'b'.localeCompare('a', 'en'),
       ''.localeCompare.length, (() => { try { 'a'.startsWith(/a/) } catch (e) { return e instanceof TypeError } })()].join('/'), 'abc'.includes('b'), [NaN].includes(NaN), [NaN].indexOf(NaN),
      Array.prototype.indexOf.name, Array.prototype.indexOf.length, Array.prototype.lastIndexOf.length, Array.prototype.splice.length,
      Array.from.length, (() => { try { Array.prototype.indexOf.call(null, 1) } catch (e) { return e instanceof TypeError } })(),
      (() => { try { new [].indexOf(); return 'made' } catch (e) { return e instanceof TypeError } })(),
      Array.prototype.indexOf.call({get length() { return 3 }, 0: 'a', 1: 'b', 2: 'c'}, 'c'), new Proxy([1, 2, 3], {}).indexOf(3),
      Array.prototype.indexOf.call('abc', 'b'), new Uint8Array([5, 6]).indexOf(6), Object.keys({x: 1, y: 2}).join('+'),
      Array.from(new Set([1, 1, 2])).length, [3, 1, 2].map((x) => x * 2).join('+'), typeof Array.prototype.indexOf.call,
      [...'ab', ...[1, 2]].join('+'), Math.max(...[1, 5], ...(0, [3])), Object.keys({...[7, 8], ...'x'}).join('+'),
      (() => { try { return [...{length: 2 ** 40}] } catch (e) { return e instanceof TypeError } })(),
      (() => { const [p, ...q] = (0, [1, 2, 3]); let u, v; [u, ...v] = 'xyz'; return q.join('') + v.join('') })(),
      (() => { class S extends Set { has2() { return this.has(2) } }; const s = new S([2]); return [s.has2(), s instanceof Set, Set.name, Set.length,
        new Map([[1, 2]]).get(1), new WeakSet([{}]) instanceof WeakSet, typeof Map[Symbol.species], Object.getPrototypeOf(new Set()) === Set.prototype,
        (() => { try { Set() } catch (e) { return e instanceof TypeError } })()].join('/') })(),
      [Reflect.apply(Math.max, null, [1, 3]), Reflect.construct(Map, [[[1, 2]]]).get(1), Reflect.construct(Object, [], Array) instanceof Array,
       (() => { try { Reflect.construct(Object, [], undefined) } catch (e) { return e instanceof TypeError } })(),
       Reflect.ownKeys({b: 1, a: 2}).join('+'), Object.assign({}, {x: 1}, 'ab', null)[1], Reflect.apply.length, Reflect.construct.length].join('/'),
      // the walkers' names and lengths are the built-ins'
      [[].forEach, [].reverse, [].reduce, [].fill, [].copyWithin, [].slice, [].concat, Object.assign, new Uint8Array(1).toLocaleString,
       new Uint8Array(1).set, ''.indexOf, ''.lastIndexOf, Reflect.ownKeys, Object.getOwnPropertyDescriptors, [].findIndex, [].shift].map((f) => f.name + f.length).join(' '),
      // sized by what each walks: an object's length is no count of its keys, an array
      // passed to unshift or splice is one element, concat spreads only arrays
      (() => { const huge = {length: 2 ** 40}, big = new Array(2 ** 30), a = [1, 2]
        return [Object.keys(huge).length, Object.isFrozen(Object.freeze({length: 2 ** 40})), Object.assign({}, huge).length === huge.length,
                [].concat(huge, 'abc').length, a.unshift(big), a.splice(0, 0, big, big).length, Object.fromEntries({length: 2 ** 40, * [Symbol.iterator]() { yield ['k', 'x'] }}).k,
                Reflect.ownKeys(huge).length].join('/') })(),
      // rests charged once made keep their meaning (a loop's body may declare the name again)
      (() => { let s = ''; for (const [x, ...r] of [[1, 2, 3]]) { const r2 = r; { const r = 9; s += r } s += r2.join('') }
        const f = (...r) => r.length, g = function ([a, ...b], {c, ...d}) { return b.length + Object.keys(d).join('') }
        const {p: [q, ...w], ...z} = {p: [1, 2, 3], y: 1}
        for (let {m: [...n]} = {m: [4]}, i = 0; i < 1; i++) s += n
        for (const [...v] of [[5]]) { let v = 6; s += v }
        let x2, u; for ([x2, ...u] of ['ab']) s += u
        return [s, f(1, 2), g([1, 2], {c: 1, e: 2}), w.join(''), Object.keys(z).join('')].join('/') })(),
      // apply's arguments charged keep their meaning (parentheses, comments, optional calls, a method of that name)
      [Math.max.apply(null, (0, [1, 5])), Math.max.apply(null, /* c */ [3]), Math.max?.apply(null, [2]), Math.max.apply?.(null, [4]),
       ({apply: (t, x) => x.length}).apply(null, [1, 2]), (function () { return arguments.length }).apply(null, 'ab'.split('')),
       (function () { return (function () { return arguments.length }).apply(this, arguments) })(1, 2, 3)].join('/'),
      // an assignment's nested rests charged keep their meaning (its value, chained, in a loop's head)
      (() => { let a, r, o, q, s = ''; const v = ({k: [a, ...r]} = {k: [1, 2, 3]}); s += Object.keys(v) + r.join('')
        const w = [q, {...o}] = [7, {x: 1, y: 2}]; s += w.length + Object.keys(o).join('')
        for ([a, [...r]] = [0, [8, 9]]; a < 1; [a, [...r]] = [a + 1, [5]]) s += r.join('')
        return s })(),
      // rests into a property keep their meaning: setters in order, a sloppy failed set ignored and
      // a strict one thrown, private names and super, object rests, loop heads, parentheses
      (() => { const o = {}, log = [], t = {set p(v) { log.push(o.a + v.join('')) }}; [o.a, [...t.p]] = [1, [2, 3]]
        const f = Object.freeze({}); [...f.p] = [1]
        const strict = (() => { 'use strict'; try { [...f.p] = [1]; return 'set' } catch (e) { return e instanceof TypeError } })()
        class B { set q(v) { this.got = v.length } }
        class A extends B { #p; m(x) { [...this.#p] = x; [...super.q] = x; return this.#p.length + this.got } }
        ({a: o.b, ...o.r} = {a: 1, b: 2, c: 3}); let s = ''; for ([o.h, ...o.t] of ['xyz']) s += o.h + o.t.join('+')
        const k = {}; let i = 0; [...(k[i++])] = [4]; [...(k).q] = [5]
        return [log.join(), String(f.p), strict, new A().m([1, 2]), o.b + Object.keys(o.r).join(''), s, k[0] + k.q, i].join('/') })(),
      // rests whose target is a pattern keep their meaning
      (() => { const {p: [a, ...[b, c]]} = {p: [1, 2, 3, 4]}; let d, e, s = ''; ({p: [d, ...[e, ]]} = {p: [5, 6, 7]})
        for (const [m, ...[n]] of [[8, 9, 10]]) s += m + n
        return [((...[x, y]) => x + y)(1, 2, 3), (function (...{length}) { return length })(1, 2), (function (...[]) { return arguments.length })(1, 2),
                (([x, ...[y /* , */]]) => x + y)([3, 4, 5]), a + b + c + d + e, s].join('/') })(),
      // shift keeps its meaning: an array's, an array-like's, a proxy's, an empty one's
      [[1, 2, 3].shift(), Array.prototype.shift.call({length: 2, 0: 'a', 1: 'b'}), new Proxy([4, 5], {}).shift(), [].shift()].join('/')].join()
  )");
  BOOST_TEST(*result(call(hv, a, "shape")).if_string() ==
             "1,2,-1,-1,6,5,true,2,0,2+3,1+2+3+4,5,2,startsWith1/true/true/true/true/-1/1/1/true,true,true,-1,indexOf,1,1,2,1,true,true,2,2,1,1,x+y,2,6+2+4,function,a+b+1+2,5,0+1,true,23yz,true/true/Set/0/2/true/function/true/true,3/2/true/true/b+a/b/3/2,"
             "forEach1 reverse0 reduce1 fill1 copyWithin2 slice2 concat1 assign2 toLocaleString0 set1 indexOf1 lastIndexOf1 ownKeys1 "
             "getOwnPropertyDescriptors1 findIndex1 shift0,1/true/true/2/3/0/x/1,92346b/2/1e/23/y,5/3/2/4/2/2/3,k232xy89,123/undefined/true/4/1bc/xy+z/45/1,3/2/2/7/17/17,1/a/4/");
  const auto ticks = [&](const char* name, std::int64_t n) {
    auto o = call(hv, a, "op", vals(std::string(name), n), 100'000'000);
    BOOST_REQUIRE_MESSAGE(!o.failed, name << ": " << o.failed->message);
    return static_cast<std::int64_t>(o.ticks);
  };
  constexpr std::int64_t n = 80'000;
  for (const char* name : {"indexOf", "lastIndexOf", "includes", "slice", "fill", "copyWithin", "reverse", "forEach", "map", "filter",
                           "some", "every", "reduce", "reduceRight", "flatMap", "concat", "splice", "unshift", "from", "keys",
                           "freeze", "find", "findIndex", "typedIndexOf", "typedIncludes", "typedSort", "typedJoin", "typedSet",
                           "typedFill", "stringIndexOf", "stringIncludes", "stringLastIndexOf", "stringStartsWith", "stringEndsWith", "stringLocaleCompare", "spread", "spreadCall",
                           "spreadObject", "stringSpread", "rest", "restAssigned", "restParam", "restParamNested", "restNested",
                           "restHead", "namedRest", "restAssignedNested", "namedRestAssigned", "restIntoProperty", "namedRestIntoProperty", "restIntoPropertyHead",
                           "unnamedRestParam", "unnamedRestParamNested", "unnamedRestNested", "unnamedRestAssigned", "unnamedRestHead", "apply", "applyLike", "shiftLike", "shiftProxy", "set", "map", "assign", "reflectApply", "reflectConstruct",
                           "ownKeys", "descriptors", "namedKeys", "namedValues", "namedEntries", "namedNames", "namedSymbols",
                           "namedOwnKeys", "namedFreeze", "namedSeal", "namedDescriptors", "namedAssign", "namedSpread"}) {
    const std::string_view op(name);
    const char* none = op.starts_with("typed")    ? "typedNone"
                       : op.starts_with("string") ? "stringNone"
                       : op.starts_with("named")  ? "namedNone"
                       : op == "map"              ? "mapFilledNone"
                                                  : "none";
    BOOST_TEST(ticks(name, n) - ticks(none, n) >= n / 8, name);
    BOOST_TEST(ticks(name, 8) - ticks(none, 8) < 64, name);
    BOOST_TEST(ticks(name, n) == ticks(name, n), name);
  }
  BOOST_TEST(ticks("namedAssignInto", n) - ticks("namedNone", n) < 64);
  BOOST_TEST(ticks("shiftArray", n) - ticks("none", n) < 64);
  // A search is charged for what it walked: to its hit, from where it started.
  const auto search = [&](std::int64_t from) {
    auto o = call(hv, a, "search", vals(std::int64_t{80'000}, std::int64_t{100}, from), 100'000'000);
    BOOST_REQUIRE_MESSAGE(!o.failed, o.failed->message);
    return static_cast<std::int64_t>(o.ticks);
  };
  BOOST_TEST(search(0) - search(40'000) >= 100 * 40'000 / 8);
  BOOST_TEST(search(0) - search(40'000) < 100 * 40'000 / 8 + 200);
  BOOST_TEST(search(40'001) - search(40'000) >= 100 * (39'999 / 8 - 1));  // just past the hit: a miss to the end
  // The loop that once spent 8,036 ticks: out of ticks at the budget, the same on every run.
  (void)runs_out_at_the_budget(hv, a, "search", vals(std::int64_t{1'000'000}, std::int64_t{1'000}, std::int64_t{0}), 10'000'000);
  // Lengths with no elements behind them: charged before the walk, so never walked.
  for (const char* kind : {"array", "forEach", "like", "getter", "proxy"})
    (void)runs_out_at_the_budget(hv, a, "fake", vals(std::string(kind)), 10'000'000);
}

// Buffers (ArrayBuffers and typed arrays) keep their bytes outside the engine's heap, so
// their constructors count them: a tick per 64 bytes, and at most the code's memory limit
// (the registry's, 16 MiB by default) a message, counted as the code asks, the same on every
// run. Past it: out of memory, uncatchably, the whole budget spent, everything rolled back.
BOOST_AUTO_TEST_CASE(buffers_are_counted_against_a_deterministic_limit) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, R"(
    exports.make = (n) => new Uint8Array(n).length
    exports.buffer = (n) => new ArrayBuffer(n).byteLength
    exports.many = (n) => { exo.storage.put('k', n); const keep = []; for (let i = 0; i < n; i++) keep.push(new Float64Array(1 << 17)); return keep.length }
    exports.caught = () => { try { new ArrayBuffer(1 << 30) } catch (e) { return 'caught' } finally { return 'finally' } }
    exports.views = (n) => { const b = new ArrayBuffer(1 << 20); let s = 0; for (let i = 0; i < n; i++) s += new Uint32Array(b, 0, 1 << 18).length; return s }
    exports.sliced = (n) => { const t = new Uint8Array(1 << 22); const keep = []; for (let i = 0; i < n; i++) keep.push(t.slice()); return keep.length }
    exports.bufferSliced = (n) => { const b = new ArrayBuffer(1 << 22); const keep = []; for (let i = 0; i < n; i++) keep.push(b.slice(0)); return keep.length }
    exports.mapped = (n) => { const t = new Int32Array(1 << 20); const keep = []; for (let i = 0; i < n; i++) keep.push(t.map((x) => x)); return keep.length }
    exports.from = () => { let s = 0; for (let i = 0; i < 40; i++) s += Uint8Array.from({length: 1 << 19}).length; return s }
    // a species pointed back at the originals: counted all the same
    // (defined, not assigned: the realm's built-ins are frozen, so `t.constructor = x` does nothing)
    const unspecies = (o) => Object.defineProperty(o, 'constructor', {value: undefined})
    exports.unspecies = (n) => { const t = unspecies(new Uint8Array(1 << 22)), b = unspecies(new ArrayBuffer(1 << 22))
      const keep = []; for (let i = 0; i < n; i++) keep.push(t.slice(), t.map((x) => x), t.filter(() => true), b.slice(0)); return keep.length }
    exports.slices = (n, undef) => { const t = new Uint8Array(1 << 16); if (undef) unspecies(t); for (let i = 0; i < n; i++) t.slice(); return 0 }
    exports.shape = () => {
      class Mine extends Uint8Array { first() { return this[0] } }
      const m = new Mine([7, 8]), t = new Int16Array(2), f = Uint8Array.of(1, 2, 3)
      return [m.first(), m instanceof Mine, m instanceof Uint8Array, t instanceof Int16Array, f instanceof Uint8Array,
              Object.getPrototypeOf(t).constructor === Int16Array, Uint8Array.name, Uint8Array.length, Uint8Array.BYTES_PER_ELEMENT,
              ArrayBuffer.isView(t), t.slice() instanceof Int16Array, new ArrayBuffer(8).slice(2).byteLength,
              (() => { try { Uint8Array(1) } catch (e) { return e instanceof TypeError } })(),
              Object.getPrototypeOf(Uint8Array) === Object.getPrototypeOf(Float64Array), typeof Uint8Array.from,
              Object.getPrototypeOf(ArrayBuffer) === Function.prototype, Object.keys(Object.getOwnPropertyDescriptors(Int32Array)).join('/'),
              // the originals cannot be reached: the parent is abstract
              (() => { try { new (Object.getPrototypeOf(Uint8Array))(8); return 'made' } catch (e) { return e instanceof TypeError } })()].join()
    }
    exports.get = () => exo.storage.get('k') ?? 'absent'
  )");
  BOOST_TEST(*result(call(hv, a, "shape")).if_string() ==
             "7,true,true,true,true,true,Uint8Array,3,1,true,true,6,true,true,function,true,prototype/BYTES_PER_ELEMENT/length/name,true");
  const auto ticks = [&](const char* fn, std::int64_t n) {
    auto o = call(hv, a, fn, args(n), 10'000'000);
    BOOST_REQUIRE_MESSAGE(!o.failed, fn << ": " << o.failed->message);
    return o.ticks;
  };
  BOOST_TEST(ticks("make", 1 << 20) == ticks("make", 1) - 1 + (1 << 20) / 64);  // (a byte costs a tick)
  BOOST_TEST(ticks("buffer", 1 << 20) == ticks("buffer", 1) - 1 + (1 << 20) / 64);
  BOOST_TEST(ticks("make", 1 << 20) == ticks("make", 1 << 20));
  BOOST_TEST(as_int(call(hv, a, "views", args(std::int64_t{1000}), 10'000'000)) == 1000 * (1 << 18));  // views make no bytes
  BOOST_TEST(as_int(call(hv, a, "many", args(std::int64_t{16}), 10'000'000)) == 16);  // 16 MiB: the limit, just
  const auto over = [&](const char* fn, std::int64_t n) {
    for (int run = 0; run < 2; ++run) {
      auto o = call(hv, a, fn, args(n), 10'000'000);
      BOOST_REQUIRE_MESSAGE(o.failed, fn << " did not fail");
      BOOST_TEST(o.failed->code == static_cast<std::int64_t>(exo::errc::limit_exceeded), o.failed->message);
      BOOST_TEST(contains(o.failed->message, "more than 16777216 bytes of buffers"), o.failed->message);
      BOOST_TEST(o.ticks == 10'000'000u, fn << "(" << n << ")");
    }
  };
  over("make", 4'000'000'000);
  over("make", (1 << 24) + 1);
  over("buffer", std::int64_t{1} << 40);
  over("many", 17);
  over("sliced", 4);  // the species of slice, map and ArrayBuffer's slice count too
  over("bufferSliced", 4);
  over("mapped", 4);
  over("from", 0);
  over("unspecies", 1);
  BOOST_TEST(as_int(call(hv, a, "unspecies", args(std::int64_t{0}), 10'000'000)) == 0);
  // A slice is counted once, whether through the counting constructor or after the call.
  const auto slices = [&](std::int64_t n, bool undef) {
    auto o = call(hv, a, "slices", vals(n, undef), 10'000'000);
    BOOST_REQUIRE_MESSAGE(!o.failed, o.failed->message);
    return o.ticks;
  };
  const std::uint64_t counted = slices(3, false) - slices(1, false), after = slices(3, true) - slices(1, true);
  BOOST_TEST(counted == after);
  BOOST_TEST(counted >= 2 * (1 << 16) / 64);
  BOOST_TEST(counted < 2 * 2 * (1 << 16) / 64);
  BOOST_TEST(as_int(call(hv, a, "get")) == 16);  // many(17)'s write rolled back
  auto caught = call(hv, a, "caught", {}, 1'000'000);  // neither catch nor finally runs
  BOOST_REQUIRE(caught.failed);
  BOOST_TEST(caught.failed->code == static_cast<std::int64_t>(exo::errc::limit_exceeded), caught.failed->message);
  // The limit is the registry's memory limit (what a wasm instance may have).
  r.reg.set_limits({.max_memory_pages = 1024});
  auto big = make(hv, "exports.make = (n) => new Uint8Array(n).length");
  BOOST_TEST(as_int(call(hv, big, "make", args(std::int64_t{48} << 20), 10'000'000)) == std::int64_t{48} << 20);
  // A script that makes too much while it loads is refused when it is made.
  r.reg.set_limits({});
  BOOST_TEST(contains(refused(hv, "const b = new ArrayBuffer(1 << 25); exports.f = () => 1"), "bytes of buffers while loading"));
}

// A built-in call the splices cannot see that never returns (a regex backtracking
// exponentially) is stopped by the watchdog, the message rolled back and the actor usable;
// at create time the script is refused. (Wall time: a safety net, not a deterministic result.)
BOOST_AUTO_TEST_CASE(a_built_in_that_never_returns_is_stopped_by_the_watchdog) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, R"(
    exports.redos = () => { exo.storage.put('k', 1); return /(a+)+$/.test('a'.repeat(40) + 'b') }
    exports.get = () => exo.storage.get('k') ?? 'absent'
  )");
  auto o = call(hv, a, "redos", {}, 1'000'000);
  BOOST_REQUIRE(o.failed);
  BOOST_TEST(o.failed->code == static_cast<std::int64_t>(exo::errc::fault), o.failed->message);
  BOOST_TEST(contains(o.failed->message, "watchdog"), o.failed->message);
  BOOST_TEST(o.ticks == 1'000'000u);
  BOOST_TEST(*result(call(hv, a, "get")).if_string() == "absent");
  BOOST_TEST(contains(refused(hv, "/(a+)+$/.test('a'.repeat(40) + 'b'); exports.f = () => 1"), "watchdog"));
}

// A watchdog's stop is a fault: logged with the input, and reproduced by the replay from the
// log (which does not run the regex again), so the log verifies.
BOOST_AUTO_TEST_CASE(a_watchdog_stop_is_logged_and_replayed_as_a_fault) {
  js_registry r;
  using logged = exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log>;
  logged hv(r.config());
  auto c = hv.create_code("js", js(R"(
    exports.redos = (n) => { exo.storage.put('k', n); return /(a+)+$/.test('a'.repeat(n) + 'b') }
    exports.get = () => exo.storage.get('k') ?? 'absent'
  )"));
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  const exo::id a = *hv.actor_id(*c);
  BOOST_TEST(!hv.invoke(a, "redos", exo::context::make_args(std::int64_t{3})).value().error);
  auto o = hv.invoke(a, "redos", exo::context::make_args(std::int64_t{40}), {.budget = 1'000'000}).value();
  BOOST_REQUIRE(o.error);
  BOOST_TEST(o.error->code == exo::errc::fault, o.error->message);
  BOOST_TEST(o.ticks == 1'000'000u);
  BOOST_TEST(contains(exo::to_json(o.outputs).dump(), "\"fault\""), exo::to_json(o.outputs).dump());
  BOOST_TEST(*hv.invoke(a, "get", {}).value().result.if_i64() == 3);
  auto verdict = exo::verify(hv.log(), [&] { return std::make_unique<logged>(r.config()); });
  BOOST_TEST(verdict.ok(), verdict.to_string());
}

// A setting of the js plugin (an exported setter), set for one test and put back to its
// default after it.
template <class Fn, auto... Defaults>
struct plugin_setting {
  void* lib = dlopen((std::string(EXO_TEST_PLUGIN_DIR) + "/exo_js.so").c_str(), RTLD_NOW);
  Fn* set = nullptr;
  explicit plugin_setting(const char* name) : set(lib ? reinterpret_cast<Fn*>(dlsym(lib, name)) : nullptr) {
    BOOST_REQUIRE_MESSAGE(set, name << ": " << dlerror());
  }
  ~plugin_setting() {
    set(Defaults...);
    dlclose(lib);
  }
  plugin_setting(const plugin_setting&) = delete;
  plugin_setting& operator=(const plugin_setting&) = delete;
};
// The safety nets' bounds (exo_js_set_safety_nets: the watchdog's, in ms, and the heap's).
struct safety_nets : plugin_setting<void(std::uint32_t, std::uint64_t), std::uint32_t{1000}, std::uint64_t{512} << 20> {
  safety_nets() : plugin_setting("exo_js_set_safety_nets") {}
};
// The watchdog's tick floor (exo_js_set_tick_floor).
struct tick_floor : plugin_setting<void(std::uint32_t), std::uint32_t{1000}> {
  tick_floor() : plugin_setting("exo_js_set_tick_floor") {}
};

// Steps that each cost a tick or two but run long (arithmetic on BigInts of half a million
// bits: tens of milliseconds a step) spend ticks, so "no tick for a second" never holds; the
// watchdog's tick floor stops them: fewer than 1,000 ticks in a window of its bound is a
// fault, logged, the message rolled back, and the log verifies. A message of many host calls
// that runs past a window spends far more than the floor and is not stopped.
BOOST_AUTO_TEST_CASE(code_that_spends_too_few_ticks_is_stopped_by_the_tick_floor) {
  js_registry r;
  tick_floor floor;
  using logged = exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log>;
  logged hv(r.config());
  auto c = hv.create_code("js", js(R"(
    exports.bigints = () => { exo.storage.put('k', 1); const m = 3n ** 300000n + 1n; let x = m - 2n; for (;;) x = x * x % m }
    exports.puts = (n) => { for (let i = 0; i < n; i++) exo.storage.put('p' + (i % 64), i); return n }
    exports.get = () => exo.storage.get('k') ?? 'absent'
  )"));
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  const exo::id a = *hv.actor_id(*c);
  // The BigInt loop spends about ten ticks a step of tens of milliseconds here; a floor of
  // 50,000 a second stops it as surely on a machine a hundred times faster. The default
  // floor (1,000) is tested with the writes below, which must not be stopped.
  floor.set(50'000);
  auto o = hv.invoke(a, "bigints", {}, {.budget = 1'000'000'000}).value();
  BOOST_REQUIRE(o.error);
  BOOST_TEST(o.error->code == exo::errc::fault, o.error->message);
  BOOST_TEST(contains(o.error->message, "fewer than 50000 ticks in 1000 ms"), o.error->message);
  BOOST_TEST(o.ticks == 1'000'000'000u);
  BOOST_TEST(*hv.invoke(a, "get", {}).value().result.if_string() == "absent");
  BOOST_TEST(contains(refused(hv, "const m = 3n ** 300000n + 1n; let x = m - 2n; for (;;) x = x * x % m"), "fewer than 50000 ticks"));
  floor.set(1000);
  // Host calls for over a window (200,000 writes: seconds in this build), not stopped.
  auto puts = hv.invoke(a, "puts", exo::context::make_args(std::int64_t{200'000}), {.budget = 1'000'000'000}).value();
  BOOST_TEST(!puts.error, (puts.error ? puts.error->message : ""));
  auto verdict = exo::verify(hv.log(), [&] { return std::make_unique<logged>(r.config()); });
  BOOST_TEST(verdict.ok(), verdict.to_string());
}

// The length n at which `redos(n)` (a regex backtracking over 2^n steps) first takes `ms` or
// more on this machine, now (each step up doubles the time); under a loose watchdog bound.
template <class H>
std::int64_t regex_length(H& hv, const exo::id& a, int ms) {
  std::int64_t n = 16;
  for (;; ++n) {
    const auto t0 = std::chrono::steady_clock::now();
    auto o = hv.invoke(a, "redos", exo::context::make_args(n), {.budget = 1'000'000}).value();
    BOOST_REQUIRE_MESSAGE(!o.error, o.error->message);
    if (std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(ms) || n == 34) return n;
  }
}

// Where a safety net stops code is machine state (a clock, a heap's fullness), so a replay
// does not decide it again: a message that finished when it was logged runs, in a replay,
// with 30 times the live bounds (context::replaying). Here a regex that outlasts the
// watchdog's live bound now, and a message whose heap outgrows the live bound now, both ran
// to their end under looser bounds when they were logged; the log verifies under the tight
// ones, where a live run of each is stopped as a fault.
BOOST_AUTO_TEST_CASE(a_replay_runs_to_its_end_what_finished_when_it_was_logged) {
  js_registry r;
  safety_nets nets;
  using logged = exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log>;
  logged hv(r.config());
  auto c = hv.create_code("js", js(R"(
    exports.redos = (n) => /(a+)+$/.test('a'.repeat(n) + 'b')
    exports.heap = (n) => { const keep = []; for (let i = 0; i < n; i++) keep.push({a: i, b: i, c: i, d: i}); return keep.length }
  )"));
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  const exo::id a = *hv.actor_id(*c);
  // The watchdog: a regex of 0.3 to 0.6 s (its length found here) finishes under a 20 s
  // bound. Under a 200 ms bound it is stopped live (within 300 ms: the watchdog looks every
  // 100 ms; on a machine suddenly much faster, a longer one is tried), and a replay gets 6 s,
  // ten times what it took (a CI run of this suite beside a build once slowed a replay more
  // than the five times a 0.6-1.2 s regex left).
  nets.set(20'000, 0);
  std::int64_t n = regex_length(hv, a, 300);
  nets.set(200, 0);
  for (int tries = 0;; ++tries, ++n) {
    auto stopped = hv.invoke(a, "redos", exo::context::make_args(n), {.budget = 1'000'000}).value();
    if (!stopped.error && tries < 3) continue;  // (it finished: the replay runs it too)
    BOOST_REQUIRE(stopped.error);
    BOOST_TEST(stopped.error->code == exo::errc::fault, stopped.error->message);
    break;
  }
  // The heap: three million small objects (about 190 MiB) finish under a 1 GiB bound, and
  // under 64 MiB they run out, soon (a collection that leaves the heap nearly full stops the
  // code), as a fault; the thread goes on: the same actor and new code run after it.
  nets.set(0, std::uint64_t{1} << 30);
  auto big = hv.invoke(a, "heap", exo::context::make_args(std::int64_t{3'000'000}), {.budget = 1'000'000'000}).value();
  BOOST_REQUIRE_MESSAGE(!big.error, big.error->message);
  BOOST_TEST(*big.result.if_i64() == 3'000'000);
  nets.set(0, std::uint64_t{64} << 20);
  auto full = hv.invoke(a, "heap", exo::context::make_args(std::int64_t{3'000'000}), {.budget = 1'000'000'000}).value();
  BOOST_REQUIRE(full.error);
  BOOST_TEST(full.error->code == exo::errc::fault, full.error->message);
  BOOST_TEST(contains(full.error->message, "out of memory"), full.error->message);
  BOOST_TEST(full.ticks == 1'000'000'000u);
  BOOST_TEST(*hv.invoke(a, "heap", exo::context::make_args(std::int64_t{1000})).value().result.if_i64() == 1000);
  auto other = hv.create_code("js", js("exports.f = () => 1"));
  BOOST_REQUIRE_MESSAGE(other, (other ? "" : other.error().message));
  BOOST_TEST(*hv.invoke(*hv.actor_id(*other), "f", {}).value().result.if_i64() == 1);
  // The log verifies under the tight bounds: the finished messages run to their end, the
  // stopped ones are failed with their logged faults.
  auto verdict = exo::verify(hv.log(), [&] { return std::make_unique<logged>(r.config()); });
  BOOST_TEST(verdict.ok(), verdict.to_string());
}

// A message whose realm cannot be made this time fails as a fault, logged: the script loaded
// when its code was made, so only resources fail it then (the heap, the engine's stack, the
// watchdog's time), which a replay would not meet. Here a script that needs a new realm every
// message (it holds a Map) and keeps two million objects (about 100 MiB; parsed in a hundred
// pieces, each well within the watchdog's bound) at its top level loads under the default
// heap bound and not under 32 MiB. With the bound back the actor
// runs, and the log verifies.
BOOST_AUTO_TEST_CASE(a_realm_that_cannot_be_made_this_time_is_a_logged_fault) {
  js_registry r;
  safety_nets nets;
  using logged = exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log>;
  logged hv(r.config());
  auto c = hv.create_code("js", js("const seen = new Map(), chunk = '[' + '{\"a\":1},'.repeat(19999) + '{}]', kept = []\n"
                                   "for (let i = 0; i < 100; i++) kept.push(JSON.parse(chunk))\n"
                                   "exports.f = () => kept.length * kept[0].length\n"));
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  const exo::id a = *hv.actor_id(*c);
  nets.set(0, std::uint64_t{32} << 20);
  auto o = hv.invoke(a, "f", {}, {.budget = 50'000}).value();
  BOOST_REQUIRE(o.error);
  BOOST_TEST(o.error->code == exo::errc::fault, o.error->message);
  BOOST_TEST(contains(o.error->message, "could not be made this time"), o.error->message);
  BOOST_TEST(o.ticks == 50'000u);
  nets.set(0, std::uint64_t{512} << 20);
  auto ok = hv.invoke(a, "f", {}, {.budget = 100'000'000}).value();  // (a message is charged the load's ticks)
  BOOST_REQUIRE_MESSAGE(!ok.error, ok.error->message);
  BOOST_TEST(*ok.result.if_i64() == 2'000'000);
  auto verdict = exo::verify(hv.log(), [&] { return std::make_unique<logged>(r.config()); });
  BOOST_TEST(verdict.ok(), verdict.to_string());
}

// A chain of natives calling natives, each taking the next from its arguments (call, apply,
// bound functions), has no frame the splices count: it recurses on the engine's stack until
// that runs out, at a point the JIT moves. Such a stop is a fault, as the watchdog's is:
// logged, rolled back, and replayed from the log. (Through Reflect.apply, a walker and so a
// frame of the depth, the same chain ends deterministically, too deep.)
BOOST_AUTO_TEST_CASE(the_engine_s_own_overflow_is_logged_as_a_fault) {
  js_registry r;
  using logged = exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log>;
  logged hv(r.config());
  auto c = hv.create_code("js", js(R"(
    exports.bound = (n) => { exo.storage.put('k', n); let f = () => 1; for (let i = 0; i < n; i++) f = Function.prototype.call.bind(f); return f() }
    exports.reflected = (n) => { let f = () => 1; for (let i = 0; i < n; i++) f = Reflect.apply.bind(null, f, null, []); return f() }
    exports.get = () => exo.storage.get('k') ?? 'absent'
  )"));
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  const exo::id a = *hv.actor_id(*c);
  BOOST_TEST(*hv.invoke(a, "bound", exo::context::make_args(std::int64_t{100})).value().result.if_i64() == 1);
  auto o = hv.invoke(a, "bound", exo::context::make_args(std::int64_t{400'000}), {.budget = 100'000'000}).value();
  BOOST_REQUIRE(o.error);
  BOOST_TEST(o.error->code == exo::errc::fault, o.error->message);
  BOOST_TEST(contains(o.error->message, "engine's stack ran out"), o.error->message);
  BOOST_TEST(o.ticks == 100'000'000u);
  BOOST_TEST(*hv.invoke(a, "get", {}).value().result.if_i64() == 100);
  for (int run = 0; run < 2; ++run) {
    auto deep = hv.invoke(a, "reflected", exo::context::make_args(std::int64_t{400'000}), {.budget = 100'000'000}).value();
    BOOST_REQUIRE(deep.error);
    BOOST_TEST(deep.error->code == exo::errc::out_of_ticks, deep.error->message);
    BOOST_TEST(contains(deep.error->message, "call depth"), deep.error->message);
    BOOST_TEST(deep.ticks == 100'000'000u);
  }
  auto verdict = exo::verify(hv.log(), [&] { return std::make_unique<logged>(r.config()); });
  BOOST_TEST(verdict.ok(), verdict.to_string());
}

// The splices keep every form of syntax valid, where SpiderMonkey's positions are off:
// parenthesized assignment targets and operands of ++, arrow bodies in parentheses, a
// closure writing a variable of an arrow with an expression body.
BOOST_AUTO_TEST_CASE(metering_keeps_tricky_syntax) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, R"(
    exports.f = (x) => { let p; (p) = x; (p)++; return ((p)) }
    exports.g = (x) => (/* => */ ( { set: (v) => { x = v }, get: () => x } ))
    exports.h = (x) => { const o = exports.g(x); o.set(x + 1); return o.get() + (1234.5).toFixed(0).length }
    exports.r = (x) => { if (x) return; else if (x === 0) return /* ; */ (x) ; else return (x) + (1) }
    exports.w = async (x) => { try { return await (x) } catch { return } finally { x++ } }
    exports.p = (n) => { let s = 0; for (let i = 0; i < n; i++)(s) += i; let k = n; while (k-- > 0)(s)++; do (s)--
      ; while (++k < n) return (s) }
    // Empty bodies: their entry and their end are at one place.
    exports.e = async () => { await (async () => {})(); await (async function () { 'use strict' })(); for (const x of (function* () {})()) {}
      (() => {})(); (function () {})(); for await (const x of (async function* () {})()) {} class A { static {} } return 3 }
    // A body that would not keep its declarations in a block: an async function declaring a
    // function twice, or one that is also a var.
    exports.twice = async () => { return g(); function g() { return 1 } function g() { return 2 } }
    exports.var_too = async () => { var g; return typeof g; function g() {} }
    // A body moved into a try: its functions are still hoisted, its lets still its own.
    exports.hoisted = async (x) => { const y = g(x); let z = 1; { let z = 2 } return y + z; function g(v) { return v * 10 } }
    // A spread or a rest's value that ends where a function's body does (found by fuzzing).
    const [h, ...t] = [1, 2].length ? [1, 2] : () => 0
    exports.rest = () => [h, ...t]
    // A ( in a string where an expression is wrapped, before a newline the statement ends at.
    class Fields { x = '('
      y = 1 }
    let p, q
    ;[p, ...q] = 'a(b'
    exports.fields = () => new Fields().x + new Fields().y + q.join('')
    exports.spread = () => { try { return [...() => 1] } catch (e) { return t.length + h + (e instanceof TypeError) } }
  )");
  BOOST_TEST(as_int(call(hv, a, "spread")) == 3);
  BOOST_TEST(*result(call(hv, a, "fields")).if_string() == "(1(b");
  // HTML-like comments of scripts: `-->` first on a line, and `<!--` anywhere.
  auto html = make(hv, "\f--> a comment\n  --> another\nexports.f = () =>\n--> one more\n /* x\n */ --> and\n  7 <!-- and this\n");
  BOOST_TEST(as_int(call(hv, html, "f")) == 7);
  BOOST_TEST((result(call(hv, a, "rest")) == exo::value(exo::value::list{std::int64_t{1}, std::int64_t{2}})));
  BOOST_TEST(as_int(call(hv, a, "hoisted", args(std::int64_t{4}))) == 41);
  BOOST_TEST(as_int(call(hv, a, "e")) == 3);
  BOOST_TEST(as_int(call(hv, a, "twice")) == 2);
  BOOST_TEST(*result(call(hv, a, "var_too")).if_string() == "function");
  BOOST_TEST(as_int(call(hv, a, "r", args(std::int64_t{0}))) == 0);
  BOOST_TEST(as_int(call(hv, a, "p", args(std::int64_t{4}))) == 5);  // 6, then 10, then 5 down
  BOOST_TEST(as_int(call(hv, a, "w", args(std::int64_t{7}))) == 7);
  BOOST_TEST(as_int(call(hv, a, "f", args(std::int64_t{4}))) == 5);
  BOOST_TEST(as_int(call(hv, a, "h", args(std::int64_t{1}))) == 6);
}

// The script's top level runs again in every message, and charges for its size.
BOOST_AUTO_TEST_CASE(the_top_level_is_charged_in_every_message) {
  js_registry r;
  memory_hv hv(r.config());
  std::string big = "'use strict'\nlet x = 0\n";
  for (int i = 0; i < 2000; ++i) big += "x = x + 1\n";
  auto small = make(hv, "'use strict'\nlet x = 0\nexports.f = () => x");
  auto large = make(hv, big + "exports.f = () => x");
  const auto s = call(hv, small, "f");
  const auto l = call(hv, large, "f");
  BOOST_TEST(as_int(l) == 2000);
  BOOST_TEST(l.ticks >= s.ticks + 2000 * 5);  // each `x = x + 1` is 5 syntax nodes
  // And 'use strict' stays the directive it was.
  auto strict = make(hv, "'use strict'\nexports.f = () => { try { undeclared = 1 } catch (e) { return e.name } }");
  BOOST_TEST(*result(call(hv, strict, "f")).if_string() == "ReferenceError");
}

// No wall clock, no ambient randomness, no locale, no code from strings.
BOOST_AUTO_TEST_CASE(the_environment_is_deterministic) {
  const std::string script = R"(
    exports.absent = () => [typeof Date, typeof Intl, typeof WebAssembly, typeof SharedArrayBuffer, typeof Atomics,
                            typeof WeakRef, typeof FinalizationRegistry, 'Date' in globalThis,
                            Object.getOwnPropertyNames(globalThis).filter((n) => ['Date', 'Intl', 'WebAssembly',
                              'SharedArrayBuffer', 'Atomics', 'WeakRef', 'FinalizationRegistry'].includes(n)).length,
                            typeof Map, typeof Proxy].join()
    exports.random = () => [Math.random(), Math.random()]
    exports.locale = () => (1234.5).toLocaleString() + ' ' + 'a'.localeCompare('b')
    exports.evil = (how) => {
      try { return how === 'eval' ? eval('1') : how === 'Function' ? new Function('return 1')()
                 : (async function () {}).constructor('return 1') } catch (e) { return String(e) }
    }
  )";
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, script);
  BOOST_TEST(*result(call(hv, a, "absent")).if_string() ==
             "undefined,undefined,undefined,undefined,undefined,undefined,undefined,false,0,function,function");
  // Math.random is seeded by the message's entropy (the logged input, the receiver, the
  // sender and the order key): the same run again gives the same numbers.
  const exo::value first = result(call(hv, a, "random"));
  const auto& nums = *first.if_list();
  BOOST_REQUIRE(nums.size() == 2u);
  BOOST_TEST((nums[0] != nums[1]));
  for (const exo::value& n : nums) BOOST_TEST((*n.if_f64() >= 0 && *n.if_f64() < 1));
  memory_hv again(r.config());
  auto b = make(again, R"(exports.absent = () => 0
    exports.random = () => [Math.random(), Math.random()])");
  BOOST_TEST(as_int(call(again, b, "absent")) == 0);  // the same history up to here
  BOOST_TEST((result(call(again, b, "random")) != first));   // another actor (another code): other numbers
  memory_hv same(r.config());
  auto c = make(same, script);
  (void)call(same, c, "absent");
  BOOST_TEST((result(call(same, c, "random")) == first));  // the same history: the same numbers
  BOOST_TEST(*result(call(hv, a, "locale")).if_string() == "1,234.5 -1");
  for (const char* how : {"eval", "Function", "async"})
    BOOST_TEST(contains(*result(call(hv, a, "evil", args(how))).if_string(), "EvalError"), how);
}

// LibVMS's System.caller.id: each signed caller sees its own key; Math.random draws from the
// log; a replay gives every result again.
BOOST_AUTO_TEST_CASE(calls_from_two_signed_callers_see_their_own_identities) {
  js_registry r;
  using logged = exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log>;
  logged hv(r.config());
  auto c = hv.create_code("js", js(R"(
    const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
    exports.whoami = () => { const k = exo.caller(); return k === null ? null : hex(k) }
    exports.roll = () => Math.floor(Math.random() * 1e9)
  )"));
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  const exo::id a = *hv.actor_id(*c);
  auto alice = exo::node_key::generate().value();
  auto bob = exo::node_key::generate().value();
  auto by = [&](const exo::node_key& k, std::uint64_t seq) {
    auto o = hv.invoke(a, "whoami", {}, {.caller = k.public_key(), .seq = seq});
    BOOST_REQUIRE(o);
    BOOST_REQUIRE_MESSAGE(!o->error, o->error->message);
    return *o->result.if_string();
  };
  BOOST_TEST(by(alice, 1) == exo::to_hex(alice.public_key().view()));
  BOOST_TEST(by(bob, 1) == exo::to_hex(bob.public_key().view()));
  BOOST_TEST(by(alice, 2) == exo::to_hex(alice.public_key().view()));
  BOOST_TEST(hv.invoke(a, "whoami", {}).value().result.is_null());
  // Two rolls in two inputs differ (their entries differ), and the replay rolls the same.
  auto r1 = hv.invoke(a, "roll", {}).value().result;
  auto r2 = hv.invoke(a, "roll", {}).value().result;
  BOOST_TEST((r1 != r2));
  auto verdict = exo::verify(hv.log(), [&] { return std::make_unique<logged>(r.config()); });
  BOOST_TEST(verdict.ok(), verdict.to_string());
}

// What a message does that could outlive it, were the realm kept: writes to what the load
// made (objects, and a variable of a closure the load made), to built-ins, the RegExp
// statics, Math.random.
const char* const leaky = R"(
  'use strict'
  const items = []
  const counter = (() => { let c = 0; return () => ++c })()
  const box = { n: 0 }
  exports.push = (x) => { try { items.push(x); return items.length } catch (e) { return e.name } }
  exports.inc = () => counter()
  exports.poke = () => { try { box.n++ } catch (e) { return e.name } return box.n }
  exports.proto = () => { try { Array.prototype.evil = 1 } catch (e) { return e.name } return 'set' }
  exports.evil = () => typeof [].evil
  exports.match = () => /a(b)/.exec('ab')[1]
  exports.dollar = () => typeof RegExp.$1 + typeof /a/.constructor.lastMatch
  const keyed = (() => { let k = 0; return () => { const {[k++]: v} = [5, 6]; return k } })()
  exports.keyed = () => keyed()
  exports.sum = (xs) => { let t = 0; xs.forEach((x) => { t += x }); return t }
  exports.roll = () => Math.random()
  exports.count = () => counter() - 1
)";

// A realm kept warm from one message to the next shows each message what a fresh realm
// would: what the load made is frozen, a write to a variable the load made spends the realm.
BOOST_AUTO_TEST_CASE(a_warm_realm_keeps_nothing_a_message_did) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, leaky);
  for (std::int64_t i = 0; i < 3; ++i) {
    BOOST_TEST_CONTEXT("round " << i) {
      BOOST_TEST(*result(call(hv, a, "push", args(i))).if_string() == "TypeError");
      BOOST_TEST(as_int(call(hv, a, "inc")) == 1);
      BOOST_TEST(as_int(call(hv, a, "count")) == 0);
      BOOST_TEST(as_int(call(hv, a, "keyed")) == 1);  // a write in a destructuring's computed key
      BOOST_TEST(*result(call(hv, a, "poke")).if_string() == "TypeError");
      BOOST_TEST(*result(call(hv, a, "proto")).if_string() == "TypeError");
      BOOST_TEST(*result(call(hv, a, "evil")).if_string() == "undefined");
      BOOST_TEST(*result(call(hv, a, "match")).if_string() == "b");
      BOOST_TEST(*result(call(hv, a, "dollar")).if_string() == "undefinedundefined");
      BOOST_TEST(as_int(call(hv, a, "sum", vals(exo::value::list{std::int64_t{1}, std::int64_t{2}, std::int64_t{3}}))) == 6);
    }
  }
}

// No script can read the legacy RegExp statics (RegExp.$1...$9, input, lastMatch,
// lastParen, leftContext, rightContext, and $_ $& $+ $` $'), which carry what the last match
// left from one message to the next in a warm realm: RegExp is a constructor of exo's without
// them, however a script reaches it (its name, the global object by name or as a `this`, a
// regex's constructor or its prototype's, a subclass's parent), and the original, which has
// them, is out of reach. Each way shows a match of its own and finds nothing of it.
BOOST_AUTO_TEST_CASE(no_script_can_reach_the_regexp_statics) {
  js_registry r;
  memory_hv hv(r.config());
  const std::string tail =
      "\nconst statics = ['$1', '$9', 'input', 'lastMatch', 'lastParen', 'leftContext', 'rightContext', '$_', '$&', '$+', "
      "'$`', \"$'\", 'multiline', '$*']\n"
      "exports.read = () => { /a(b)/.exec('xab'); const R = get()\n"
      "  return statics.map((k) => typeof R[k] + (k in R)).join() + '|' + Reflect.ownKeys(R).map(String).join() }\n";
  const std::vector<std::pair<const char*, std::string>> scripts = {
      {"its name", "const get = () => RegExp" + tail},
      {"globalThis", "const get = () => globalThis['Reg' + 'Exp']" + tail},
      {"a sloppy function's this", "function f() { return this }\nconst get = () => f()['Reg' + 'Exp']" + tail},
      {"the top level's this", "const G = this\nconst get = () => G['Reg' + 'Exp']" + tail},
      {"a regex's constructor", "const get = () => /x/.constructor" + tail},
      {"its prototype's", "const get = () => Object.getPrototypeOf(/x/).constructor" + tail},
      {"a subclass's parent", "const get = () => Object.getPrototypeOf(class extends (/x/.constructor) {})" + tail},
      {"a regex made by its constructor", "const get = () => new (/x/.constructor)('y').constructor" + tail},
      {"its name, deleted from the global (not resolved again)",
       "delete globalThis.RegExp\nconst get = () => { try { return RegExp } catch (e) { return /x/.constructor } }" + tail}};
  const std::string none = "undefinedfalse,undefinedfalse,undefinedfalse,undefinedfalse,undefinedfalse,undefinedfalse,"
                           "undefinedfalse,undefinedfalse,undefinedfalse,undefinedfalse,undefinedfalse,undefinedfalse,"
                           "undefinedfalse,undefinedfalse|prototype,length,name,Symbol(Symbol.species)";
  for (const auto& [how, source] : scripts) {
    auto a = make(hv, source);
    for (int i = 0; i < 2; ++i)
      BOOST_TEST_CONTEXT(how << ", round " << i) BOOST_TEST(*result(call(hv, a, "read")).if_string() == none);
  }
}

// What RegExp does without its statics is what the standard's does: it constructs with and
// without `new`, gives a regex back when called with one alone (not a subclass's), keeps a
// subclass's prototype and species (split constructs the subclass), is every regex's
// constructor, and looks like the engine's own (its name, length and source text). What differs: RegExp[Symbol.species]
// is undefined (split and matchAll then use the original, and keep the engine's fast paths).
BOOST_AUTO_TEST_CASE(regexp_without_its_statics_is_the_standard_one) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, R"(
    'use strict'
    exports.build = () => {
      const re = /a(b)/g
      const made = new RegExp('a+', 'g'), called = RegExp('q', 'i'), copied = RegExp(re, 'y')
      let built = 0
      class Sub extends RegExp { constructor(...a) { super(...a); built++ } }
      const sub = new Sub(',')
      return [made.exec('baa')[0], made.lastIndex, called.flags, called instanceof RegExp, RegExp(re) === re,
              RegExp(sub) === sub, copied !== re && copied.source === 'a(b)' && copied.flags === 'y', String(new RegExp(re)),
              /x/.constructor === RegExp, re instanceof RegExp, sub instanceof Sub, sub instanceof RegExp,
              Object.getPrototypeOf(sub) === Sub.prototype, 'a,b,c'.split(sub).join('/'), built, Sub[Symbol.species] === Sub,
              RegExp[Symbol.species], RegExp.name, RegExp.length, String(RegExp), Object.getPrototypeOf(RegExp) === Function.prototype,
              RegExp.prototype.constructor === RegExp, [...'a1b22'.matchAll(/\d+/g)].join(), 'x-y'.replace(/-/, '+'),
              typeof RegExp(), new RegExp().source].join(' ')
    }
    exports.bad = (p) => { try { return String(new RegExp(p)) } catch (e) { return e.name } }
  )");
  const char* want =
      "aa 3 i true true false true /a(b)/g true true true true true a/b/c 2 true  RegExp 2 function RegExp() {\n"
      "    [native code]\n} true true 1,22 x+y object (?:)";
  for (int i = 0; i < 2; ++i) {
    BOOST_TEST(*result(call(hv, a, "build")).if_string() == want);
    BOOST_TEST(*result(call(hv, a, "bad", args("("))).if_string() == "SyntaxError");
  }
}

// A warm realm stays entered between messages (plugin.cpp, warm_table::enter). Messages that
// go from one code's realm to another's, that spend the realm they run in (a throw, a write
// to a variable the load made), and that make a fresh realm while another is entered each
// leave the context where the next one expects it: every result is what a fresh realm gives.
BOOST_AUTO_TEST_CASE(messages_go_from_one_warm_realm_to_another) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, "exports.f = (x) => x + 1\nexports.boom = () => { throw new Error('no') }");
  auto b = make(hv, "const inc = (() => { let c = 0; return () => ++c })()\n"
                   "exports.f = (x) => x * 2\nexports.spend = () => inc() + 4");
  auto cold = make(hv, "const m = new Map()\nexports.f = (x) => { m.set(x, x); return m.size }");
  for (std::int64_t i = 0; i < 4; ++i) {
    BOOST_TEST_CONTEXT("round " << i) {
      BOOST_TEST(as_int(call(hv, a, "f", args(i))) == i + 1);
      BOOST_TEST(as_int(call(hv, b, "f", args(i))) == 2 * i);
      BOOST_TEST(as_int(call(hv, cold, "f", args(i))) == 1);  // a fresh realm, made while b's is entered
      BOOST_TEST(as_int(call(hv, b, "f", args(i))) == 2 * i);
      BOOST_TEST(call(hv, a, "boom").failed.has_value());  // spends a's realm while it is entered
      BOOST_TEST(as_int(call(hv, a, "f", args(i))) == i + 1);
      BOOST_TEST(as_int(call(hv, b, "spend")) == 5);  // spends b's (a write to a variable the load made)
      BOOST_TEST(as_int(call(hv, b, "f", args(i))) == 2 * i);
    }
  }
}

// Actors of one code share its warm realm on a thread (the load cannot tell them apart: the
// host API is there only in a message). Each still sees what a fresh realm would show it,
// and its own storage; a message that spends the realm spends it for none but itself.
BOOST_AUTO_TEST_CASE(actors_of_one_code_share_a_warm_realm_and_nothing_else) {
  js_registry r;
  memory_hv hv(r.config());
  auto a = make(hv, leaky), b = make(hv, leaky);
  const char* const mine = R"(
    let seen = 0
    exports.mine = (v) => { if (v !== undefined) exo.storage.put('v', v); return exo.storage.get('v') ?? null }
    exports.spend = () => ++seen
  )";
  auto c = make(hv, mine), d = make(hv, mine);
  for (std::int64_t i = 0; i < 3; ++i) {
    BOOST_TEST_CONTEXT("round " << i) {
      BOOST_TEST(as_int(call(hv, a, "inc")) == 1);
      BOOST_TEST(as_int(call(hv, b, "inc")) == 1);
      BOOST_TEST(*result(call(hv, a, "match")).if_string() == "b");
      BOOST_TEST(*result(call(hv, b, "dollar")).if_string() == "undefinedundefined");
      BOOST_TEST(*result(call(hv, b, "proto")).if_string() == "TypeError");
      BOOST_TEST(*result(call(hv, a, "evil")).if_string() == "undefined");
      BOOST_TEST(as_int(call(hv, c, "mine", args(i))) == i);
      BOOST_TEST(as_int(call(hv, d, "mine", args(i + 10))) == i + 10);
      BOOST_TEST(as_int(call(hv, c, "mine")) == i);
      BOOST_TEST(as_int(call(hv, c, "spend")) == 1);
      BOOST_TEST(as_int(call(hv, d, "spend")) == 1);
      BOOST_TEST(as_int(call(hv, d, "mine")) == i + 10);
    }
  }
}

// A warm realm belongs to the thread that ran the message (SpiderMonkey's contexts are per
// thread). Code freed on another thread leaves its realm to that thread, which drops it at
// its next message; a thread that has ended took its realms with it. Messages go on working
// through each case (under ASan, which would see a realm freed twice).
BOOST_AUTO_TEST_CASE(a_warm_realm_is_dropped_by_its_own_thread) {
  js_registry r;
  const char* const script = "exports.f = (x) => x + 1";
  auto hv = std::make_unique<memory_hv>(r.config());
  auto a = make(*hv, script);
  outcome first;
  std::thread([&] { first = call(*hv, a, "f", args(std::int64_t{1})); }).join();
  BOOST_TEST(as_int(first) == 2);
  hv.reset();  // the code is freed here; its thread has ended
  // A thread that lives on: its realm of freed code is dropped there, at its next message.
  std::mutex m;
  std::condition_variable cv;
  std::function<void()> job;
  bool stop = false;
  std::thread worker([&] {
    std::unique_lock l(m);
    for (;;) {
      cv.wait(l, [&] { return job || stop; });
      if (stop) return;
      job();
      job = nullptr;
      cv.notify_all();
    }
  });
  auto on_worker = [&](std::function<void()> f) {
    std::unique_lock l(m);
    job = std::move(f);
    cv.notify_all();
    cv.wait(l, [&] { return !job; });
  };
  std::vector<outcome> got(3);
  hv = std::make_unique<memory_hv>(r.config());
  a = make(*hv, script);
  on_worker([&] { got[0] = call(*hv, a, "f", args(std::int64_t{2})); });
  hv.reset();  // freed on this thread: its realm is the worker's to drop
  auto hv2 = std::make_unique<memory_hv>(r.config());
  auto b = make(*hv2, "exports.g = (x) => x * 2");
  on_worker([&] { got[1] = call(*hv2, b, "g", args(std::int64_t{3})); });
  on_worker([&] { got[2] = call(*hv2, b, "g", args(std::int64_t{4})); });
  {
    std::lock_guard l(m);
    stop = true;
  }
  cv.notify_all();
  worker.join();
  BOOST_TEST(as_int(got[0]) == 3);
  BOOST_TEST(as_int(got[1]) == 6);
  BOOST_TEST(as_int(got[2]) == 8);
}

// What freezing cannot make immutable (a Map, a private field) keeps the script in a fresh
// realm every message, where it works as before; so does a function writing a top-level
// variable.
BOOST_AUTO_TEST_CASE(a_script_whose_load_leaves_mutable_state_gets_a_fresh_realm_each_message) {
  js_registry r;
  memory_hv hv(r.config());
  auto m = make(hv, "const m = new Map(); exports.f = (k) => { m.set(k, 1); return m.size }");
  auto p = make(hv, "class C { #n = 0; inc() { return ++this.#n } }\nconst c = new C()\nexports.f = () => c.inc()");
  // (and a function that writes a top-level variable, which would spend a warm realm each time)
  auto t = make(hv, "const items = []; let n = 0\nexports.f = () => { items.push(1); return ++n + items.length }");
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(as_int(call(hv, m, "f", args(std::to_string(i)))) == 1);
    BOOST_TEST(as_int(call(hv, p, "f")) == 1);
    BOOST_TEST(as_int(call(hv, t, "f")) == 2);
  }
}

// Primea's scenarios (the ones the wasm tests run), with JS actors.
const char* const scenarios = R"(
  exports.receive = (v) => { exo.storage.put('value', v) }
  exports.value = () => exo.storage.get('value') ?? -1
  exports.give = (cap, v) => exo.send(cap, [v])
  exports.answer = () => 42
  exports.ask = (cap) => exo.send(cap, [], {reply: exo.self('on_answer', exo.rights.call | exo.rights.transfer)})
  exports.on_answer = (v) => exo.storage.put('value', v)
  exports.grow = (n) => {
    if (n <= 0) return
    const child = exo.create(exo.codeHash())
    exo.storage.put('child', child)
    exo.send(exo.derive(child, exo.rights.call, 'grow'), [n - 1])
  }
  exports.ping = (depth) => {
    const child = exo.storage.get('child')
    if (child === undefined) return exo.storage.put('last', depth)
    exo.send(exo.derive(child, exo.rights.call, 'ping'), [depth + 1])
  }
  exports.last = () => exo.storage.get('last') ?? -1
  exports.forge = (how) => exo.send(how === 'object' ? {index: 0} : 0, [1])
  exports.inspect = () => {
    const c = exo.self('value')
    return [Object.isFrozen(c), Object.getPrototypeOf(c) === null, Object.keys(c).length, Reflect.set(c, 'index', 5)]
  }
  exports.stale = () => { const c = exo.self('value'); exo.drop(c); exo.send(c, []) }
)";

BOOST_AUTO_TEST_CASE(primea_s_scenarios_with_js_actors) {
  js_registry r;
  memory_hv hv(r.config());
  // A value to a receiver.
  auto sender = make(hv, scenarios), receiver = make(hv, scenarios);
  auto receive = hv.function_cap(receiver, "receive");
  BOOST_REQUIRE(receive);
  BOOST_TEST(!call(hv, sender, "give", args(*receive, std::int64_t{1234})).failed.has_value());
  BOOST_TEST(as_int(call(hv, receiver, "value")) == 1234);
  BOOST_TEST(as_int(call(hv, sender, "value")) == -1);
  // A callback through a capability: the answer comes back to on_answer.
  auto answer = hv.function_cap(receiver, "answer");
  BOOST_REQUIRE(answer);
  auto asked = call(hv, sender, "ask", args(*answer));
  BOOST_TEST(!asked.failed.has_value(), (asked.failed ? asked.failed->message : ""));
  BOOST_TEST(as_int(call(hv, sender, "value")) == 42);
  // A creation chain, then a ping down it to the last actor.
  const auto before = hv.stats().actors_created;
  auto grown = call(hv, sender, "grow", args(std::int64_t{4}), 10'000'000);
  BOOST_TEST(!grown.failed.has_value(), (grown.failed ? grown.failed->message : ""));
  BOOST_TEST(hv.stats().actors_created - before == 4u);
  BOOST_TEST(!call(hv, sender, "ping", args(std::int64_t{0}), 10'000'000).failed.has_value());
  exo::id last = *hv.actor_id(sender);
  for (int i = 0; i < 4; ++i) last = exo::derive_actor_id(last, 0);
  auto last_actor = hv.lookup(last, "last");
  BOOST_REQUIRE(last_actor);
  BOOST_TEST(as_int(call_fn(hv, *last_actor)) == 4);
  // A capability to egress: the message leaves.
  std::vector<std::int64_t> seen;
  auto out = hv.create_egress("out", [&](exo::egress_message& m) { seen.push_back(*m.args[0].if_i64()); });
  BOOST_TEST(!call(hv, sender, "give", args(out, std::int64_t{77})).failed.has_value());
  BOOST_TEST(seen == std::vector<std::int64_t>{77});
  // Forged and stale capabilities are refused; a capability cannot be read or changed.
  for (const char* how : {"object", "number"}) {
    auto f = call(hv, sender, "forge", args(how));
    BOOST_REQUIRE(f.failed);
    BOOST_TEST(contains(f.failed->message, "expected a capability"), f.failed->message);
  }
  const exo::value seen_cap = result(call(hv, sender, "inspect"));
  const exo::value expected = exo::value::list{true, true, std::int64_t{0}, false};
  BOOST_TEST((seen_cap == expected), exo::to_string(seen_cap));
  auto stale = call(hv, sender, "stale");
  BOOST_REQUIRE(stale.failed);
  BOOST_TEST(stale.failed->code == static_cast<std::int64_t>(exo::errc::bad_capability), stale.failed->message);
}

// The same workload twice: the same deliveries with the same ticks, and the same root (the JIT
// warms up in between: nothing may depend on it).
BOOST_AUTO_TEST_CASE(the_same_workload_twice_gives_the_same_ticks_trace_and_root) {
  auto workload = [](std::vector<std::string>& trace) {
    js_registry r;
    memory_hv hv(r.config());
    trace_deliveries(hv, trace);
    auto a = make(hv, scenarios), b = make(hv, scenarios);
    auto c = make(hv, "exports.work = (n) => { let s = 0; for (let i = 0; i < n; i++) s += Math.random() < 0.5 ? i : -i;"
                      " exo.storage.put('s', s); return s }\nexports.spin = () => { for (;;) {} }");
    (void)call(hv, a, "grow", args(std::int64_t{3}), 10'000'000);
    (void)call(hv, a, "ping", args(std::int64_t{1}), 10'000'000);
    (void)call(hv, a, "ask", args(*hv.function_cap(b, "answer")));
    for (int i = 0; i < 20; ++i) (void)call(hv, c, "work", args(std::int64_t{2000}), 10'000'000);
    (void)call(hv, c, "spin", {}, 5000);
    return std::make_pair(hv.stats().ticks, *hv.state_root());
  };
  check_same_twice(workload, 20u);
}

// Bad scripts are refused when the code is made, each with a clear error.
BOOST_AUTO_TEST_CASE(bad_scripts_are_refused_with_a_clear_error) {
  js_registry r;
  memory_hv hv(r.config());
  BOOST_TEST(contains(refused(hv, "exports.f = () => {"), "SyntaxError"));
  // An early error Reflect.parse lets through and the compiler does not (the fuzzer found it).
  BOOST_TEST(contains(refused(hv, "exports.f = (o) => o.#x"), "SyntaxError"));
  BOOST_TEST(contains(refused(hv, "throw new Error('at load')"), "at load"));
  BOOST_TEST(contains(refused(hv, "var x = 1"), "exports no functions"));
  BOOST_TEST(contains(refused(hv, "for (;;) {}"), "did not finish loading"));
  BOOST_TEST(contains(refused(hv, "exports.f = () => __exo_tick(-5)"), "__exo_"));
  BOOST_TEST(contains(refused(hv, "exo.storage.put('k', 1); exports.f = () => 1"), "only while a message runs"));
  BOOST_TEST(contains(refused(hv, "exports.f = () => '\xff'"), "UTF-8"));
  BOOST_TEST(contains(refused(hv, "exports.f = () => '\xed\xa0\x80'"), "UTF-8"));  // a surrogate
  BOOST_TEST(contains(refused(hv, "exports.f = () => '\xe0\x80\xaf'"), "UTF-8"));  // overlong
  // A numeric separator before a non-ASCII character: SpiderMonkey's UTF-8 tokenizer never
  // returned on it (the fuzzer found it); the script is compiled from UTF-16.
  BOOST_TEST(contains(refused(hv, "1_\xcf\x9c" "as;"), "SyntaxError"));
  BOOST_TEST(contains(refused(hv, "exports.f = () => 0x1_\xce\xb1"), "SyntaxError"));
  // Characters past the BMP (surrogate pairs in UTF-16) are read as they are.
  auto astral = make(hv, "exports.f = () => '\xf0\x9f\x98\x80'.length");
  BOOST_TEST(as_int(call(hv, astral, "f")) == 2);
  // The system goes on: a good script after the bad ones.
  auto a = make(hv, "exports.ok = () => 'ok'");
  BOOST_TEST(*result(call(hv, a, "ok")).if_string() == "ok");
}

// The state root does not depend on whether realms were warm: the same workload with every
// message in a fresh realm (EXO_JS_COLD=1 when the code is made) gives the same results,
// ticks, deliveries and root.
BOOST_AUTO_TEST_CASE(warm_and_cold_realms_give_the_same_results_ticks_trace_and_root) {
  auto workload = [](bool cold, std::vector<std::string>& trace) {
    if (cold) ::setenv("EXO_JS_COLD", "1", 1);
    js_registry r;
    memory_hv hv(r.config());
    trace_deliveries(hv, trace);
    auto a = make(hv, scenarios), b = make(hv, scenarios), l = make(hv, leaky);
    auto w = make(hv, "exports.work = (n) => { let s = 0; for (let i = 0; i < n; i++) s += Math.random() < 0.5 ? i : -i;"
                      " exo.storage.put('s', s); return s }");
    ::unsetenv("EXO_JS_COLD");
    auto note = [&](const outcome& o) {
      trace.push_back(o.failed ? "failed: " + o.failed->message : o.result ? exo::to_json(*o.result).dump() : "none");
    };
    note(call(hv, a, "grow", args(std::int64_t{3}), 10'000'000));
    note(call(hv, a, "ping", args(std::int64_t{1}), 10'000'000));
    note(call(hv, a, "ask", args(*hv.function_cap(b, "answer"))));
    for (int i = 0; i < 3; ++i)
      for (const char* f : {"push", "inc", "count", "poke", "proto", "evil", "match", "dollar", "roll"})
        note(call(hv, l, f, args(std::int64_t{i})));
    for (int i = 0; i < 10; ++i) note(call(hv, w, "work", args(std::int64_t{500}), 10'000'000));
    note(call(hv, w, "work", args(std::int64_t{100'000}), 20'000));  // out of ticks
    return std::make_pair(hv.stats().ticks, *hv.state_root());
  };
  std::vector<std::string> warm, cold;
  auto [ticks_warm, root_warm] = workload(false, warm);
  auto [ticks_cold, root_cold] = workload(true, cold);
  BOOST_TEST(ticks_warm == ticks_cold);
  BOOST_TEST(root_warm == root_cold);
  BOOST_TEST(warm == cold, boost::test_tools::per_element());
  BOOST_TEST(warm.size() > 50u);
}

// A JS realm lives in its thread's context, so JS actors stay on the thread that runs the
// hypervisor when windows run in parallel: the trace and root are the ordered ones.
BOOST_AUTO_TEST_CASE(js_actors_stay_on_the_hypervisors_thread_in_parallel_windows) {
  js_registry r;
  check_parallel_like_ordered(
      r,
      [](auto& hv) {
        return *hv.function_cap(make_in(hv, R"(
          exports.add = (n) => { const t = (exo.storage.get('t') ?? 0) + n; exo.storage.put('t', t); return t }
        )"), "add");
      },
      4, 10);
}

BOOST_AUTO_TEST_SUITE_END()
