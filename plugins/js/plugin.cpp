// The js container plugin (EXO_TYPE_JS): actors written as scripts that assign functions to
// `exports` (LibVMS's backends: `exports.foo = (x) => ...`), run by SpiderMonkey 102 over the
// plugin ABI (plugin/abi.h). engine.hpp is the SpiderMonkey side; this file speaks exo.
//
// - Code: the script, checked when the code is made (UTF-8, its size, no name starting with
//   __exo_, it parses), metered (engine.hpp: tick charges spliced into every function and
//   loop body), and run once in a scratch realm to find its exports (the functions on
//   `exports`, in the order they were set).
// - A message runs in the actor's realm, the script loaded in it: the export is called with
//   the message's arguments, then the promise jobs it queued run, all inside the message and
//   its budget, which is also charged what the load costs. The realm is kept warm from one
//   message to the next when nothing a message does can outlive it there ("warm instances"
//   below); else each message gets a new one. So no JS state survives a message: what an
//   actor keeps, it keeps in storage. A thrown exception or running out of ticks fails the
//   message, and the host rolls back everything it did.
// - Values cross in exo's model (README, "JS"): null (undefined too), booleans, numbers (an
//   integer in the safe range is an i64, any other number an f64; an i64 outside the safe
//   range comes as a BigInt, and a BigInt goes as an i64), Uint8Array for bytes, strings,
//   arrays for lists, plain objects for maps, and capabilities as opaque frozen objects code
//   cannot make or change.
// - The host API is the frozen global `exo` (and `console`, whose lines go to the actor's log).
#include "engine.hpp"

#include <exo/core/encoding.hpp>
#include <exo/core/value.hpp>
#include <exo/plugin/abi.h>
#include <exo/plugin/errors.hpp>

#include <boost/dll/alias.hpp>

#include <js/Array.h>
#include <js/BigInt.h>
#include <js/Conversions.h>
#include <js/Object.h>
#include <js/PropertyAndElement.h>
#include <js/String.h>
#include <js/experimental/TypedData.h>
#include <jsfriendapi.h>
#include <mozilla/Utf8.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

struct exo_code {
  exo_code(exo_js::compiled_script s, std::string why_cold, std::uint64_t n)
      : script(std::move(s)), cold(std::move(why_cold)), serial(n) {}
  exo_js::compiled_script script;    // as metered
  std::vector<std::string> exports;  // in the order the script set them
  std::uint64_t load_ticks = 0;      // what loading the script costs: charged to every message
  std::uint64_t memory = 0;          // bytes of buffers a run may make (exo_limits' memory)
  std::string cold;                  // why each message needs a fresh realm ('' : a warm one is kept)
  bool force_cold = false;           // EXO_JS_COLD was set when the code was made (for tests)
  std::uint64_t serial = 0;          // its warm realm in each thread's table
  mutable std::mutex threads_mutex;
  mutable std::vector<std::thread::id> threads;  // the threads whose table has had a realm of it (guarded)
};
struct exo_instance {
  const exo_code* code;  // the host frees an instance before its code
};

namespace {

using exo::plugin::failed;
using exo::plugin::fault_status;
using exo::plugin::guarded;
using exo::plugin::set_error;

constexpr std::uint64_t load_budget = 10'000'000;  // ticks a script may take to load when code is made
constexpr int max_depth = 64;                     // lists and maps nested in a value that crosses

// ---- the message running on this thread ----

struct message {
  const exo_host_api* host = nullptr;
  exo_call* call = nullptr;
  std::uint64_t budget = 0;    // ticks the message may use
  std::uint64_t charged = 0;   // ticks already charged to the host
  exo_status failure = EXO_OK;  // a host call that failed: the message fails with it
  std::string failure_text;
  bool result_set = false;
};
thread_local message* running = nullptr;

// Ticks spent by the code since the last charge, charged to the host (before any other host
// call, so that budgets handed on are exact).
bool flush_ticks(JSContext* cx) {
  if (!running) {
    JS_ReportErrorUTF8(cx, "the host API (exo, console) is there only while a message runs, not while a script loads");
    return false;
  }
  message& m = *running;
  exo_js::meter_state& meter = exo_js::meter();
  const std::uint64_t used = m.budget - m.charged - meter.left();
  if (used == 0) return true;
  m.charged += used;
  if (exo_status s = m.host->charge(m.call, used); s != EXO_OK) {
    m.failure = s;
    m.failure_text = "out of ticks";
    meter.out_of_ticks = s == EXO_ERR_OUT_OF_TICKS;
    (void)cx;
    return false;
  }
  return true;
}

// A host call's status: EXO_OK goes on; anything else stops the code uncatchably (the message
// is rolled back whatever the script does next).
bool host_ok(exo_status s) {
  if (s == EXO_OK) return true;
  message& m = *running;
  m.failure = s;
  const exo_span e = m.host->last_error(m.call);
  m.failure_text = std::string(reinterpret_cast<const char*>(e.data), e.size);
  return false;
}

bool type_error(JSContext* cx, const std::string& what) {
  JS_ReportErrorUTF8(cx, "%s", what.c_str());
  return false;
}

// ---- capabilities ----

const JSClass cap_class = {"Capability", JSCLASS_HAS_RESERVED_SLOTS(1)};

JSObject* new_cap(JSContext* cx, exo_cap handle) {
  JS::RootedObject o(cx, JS_NewObjectWithGivenProto(cx, &cap_class, nullptr));
  if (!o) return nullptr;
  JS::SetReservedSlot(o, 0, JS::NumberValue(static_cast<double>(handle)));
  if (!JS_FreezeObject(cx, o)) return nullptr;
  return o;
}
std::optional<exo_cap> cap_of(JSObject* o) {
  if (JS::GetClass(o) != &cap_class) return std::nullopt;
  return static_cast<exo_cap>(JS::GetReservedSlot(o, 0).toNumber());
}

// ---- values ----

constexpr double max_safe = 9007199254740991.0;  // 2^53 - 1

bool to_js(JSContext* cx, const exo::value& v, JS::MutableHandleValue out);

bool list_to_js(JSContext* cx, const exo::value::list& l, JS::MutableHandleValue out) {
  JS::RootedObject a(cx, JS::NewArrayObject(cx, l.size()));
  if (!a) return false;
  JS::RootedValue e(cx);
  for (std::size_t i = 0; i < l.size(); ++i)
    if (!to_js(cx, l[i], &e) || !JS_SetElement(cx, a, static_cast<std::uint32_t>(i), e)) return false;
  out.setObject(*a);
  return true;
}

bool to_js(JSContext* cx, const exo::value& v, JS::MutableHandleValue out) {
  switch (v.type()) {
    case exo::kind::null: out.setNull(); return true;
    case exo::kind::boolean: out.setBoolean(*v.if_bool()); return true;
    case exo::kind::i64: {
      const std::int64_t i = *v.if_i64();
      if (std::abs(static_cast<double>(i)) <= max_safe) {
        out.setNumber(static_cast<double>(i));
        return true;
      }
      JS::BigInt* b = JS::NumberToBigInt(cx, i);
      if (!b) return false;
      out.setBigInt(b);
      return true;
    }
    case exo::kind::f64: out.setDouble(*v.if_f64()); return true;
    case exo::kind::bytes: {
      const exo::bytes& b = *v.if_bytes();
      JS::RootedObject a(cx, JS_NewUint8Array(cx, b.size()));
      if (!a) return false;
      if (!b.empty()) {
        JS::AutoCheckCannotGC nogc;
        bool shared = false;
        std::memcpy(JS_GetUint8ArrayData(a, &shared, nogc), b.data(), b.size());
      }
      out.setObject(*a);
      return true;
    }
    case exo::kind::string: {
      const std::string& s = *v.if_string();
      JSString* str = JS_NewStringCopyUTF8N(cx, JS::UTF8Chars(s.data(), s.size()));
      if (!str) return false;
      out.setString(str);
      return true;
    }
    case exo::kind::list: return list_to_js(cx, *v.if_list(), out);
    case exo::kind::map: {
      JS::RootedObject o(cx, JS_NewPlainObject(cx));
      if (!o) return false;
      JS::RootedValue e(cx);
      for (const auto& [key, value] : *v.if_map()) {
        JS::RootedString k(cx, JS_NewStringCopyUTF8N(cx, JS::UTF8Chars(key.data(), key.size())));
        JS::RootedId id(cx);
        if (!k || !JS_StringToId(cx, k, &id) || !to_js(cx, value, &e) || !JS_DefinePropertyById(cx, o, id, e, JSPROP_ENUMERATE))
          return false;
      }
      out.setObject(*o);
      return true;
    }
    case exo::kind::cap: {
      JSObject* c = new_cap(cx, v.if_cap()->index);
      if (!c) return false;
      out.setObject(*c);
      return true;
    }
  }
  return type_error(cx, "a value of an unknown kind");
}

// A JS value in exo's model; a TypeError naming what has none.
bool from_js(JSContext* cx, JS::HandleValue v, exo::value& out, int depth = 0) {
  if (depth > max_depth) return type_error(cx, fmt::format("a value nested more than {} deep", max_depth));
  if (v.isNullOrUndefined()) {
    out = exo::null;
    return true;
  }
  if (v.isBoolean()) {
    out = v.toBoolean();
    return true;
  }
  if (v.isNumber()) {
    const double d = v.toNumber();
    if (std::trunc(d) == d && std::abs(d) <= max_safe && !(d == 0 && std::signbit(d))) out = static_cast<std::int64_t>(d);
    else out = d;
    return true;
  }
  if (v.isBigInt()) {
    std::int64_t i = 0;
    if (!JS::BigIntFits(v.toBigInt(), &i)) return type_error(cx, "a BigInt outside the 64-bit signed range");
    out = i;
    return true;
  }
  if (v.isString()) {
    JS::RootedString s(cx, v.toString());
    auto text = exo_js::utf8(cx, s);
    if (!text) return false;
    out = std::move(*text);
    return true;
  }
  if (!v.isObject()) return type_error(cx, "a symbol has no exo form");
  JS::RootedObject o(cx, &v.toObject());
  if (auto c = cap_of(o)) {
    out = exo::cap_handle{*c};
    return true;
  }
  if (JS_IsUint8Array(o)) {
    JS::AutoCheckCannotGC nogc;
    bool shared = false;
    const std::size_t n = JS_GetArrayBufferViewByteLength(o);
    const std::uint8_t* data = JS_GetUint8ArrayData(o, &shared, nogc);
    out = exo::bytes(data, data + n);
    return true;
  }
  bool is_array = false;
  if (!JS::IsArrayObject(cx, o, &is_array)) return false;
  if (is_array) {
    std::uint32_t n = 0;
    if (!JS::GetArrayLength(cx, o, &n)) return false;
    exo::value::list l(n);
    JS::RootedValue e(cx);
    for (std::uint32_t i = 0; i < n; ++i)
      if (!JS_GetElement(cx, o, i, &e) || !from_js(cx, e, l[i], depth + 1)) return false;
    out = std::move(l);
    return true;
  }
  if (JS_ObjectIsFunction(o)) return type_error(cx, "a function has no exo form");
  JS::RootedObject proto(cx);
  if (!JS_GetPrototype(cx, o, &proto)) return false;
  JS::RootedObject object_proto(cx, JS::GetRealmObjectPrototype(cx));
  if (proto && proto != object_proto)
    return type_error(cx, "only plain objects cross as maps (not Map, Date, class instances, ...)");
  JS::Rooted<JS::IdVector> ids(cx, JS::IdVector(cx));
  if (!JS_Enumerate(cx, o, &ids)) return false;
  exo::value::map m;
  JS::RootedValue e(cx);
  JS::RootedValue key(cx);
  for (std::size_t i = 0; i < ids.length(); ++i) {
    if (!JS_IdToValue(cx, ids[i], &key)) return false;
    JS::RootedString ks(cx, JS::ToString(cx, key));
    if (!ks) return false;
    auto k = exo_js::utf8(cx, ks);
    if (!k || !JS_GetPropertyById(cx, o, ids[i], &e)) return false;
    exo::value item;
    if (!from_js(cx, e, item, depth + 1)) return false;
    m.emplace_back(std::move(*k), std::move(item));
  }
  out = exo::value::make_map(std::move(m));
  return true;
}

// ---- the host API (the global `exo`) ----

message& msg(JSContext* cx) {
  (void)cx;
  return *running;
}

exo::bytes key_bytes(JSContext* cx, JS::HandleValue v, bool& ok) {
  exo::value k;
  ok = from_js(cx, v, k);
  if (!ok) return {};
  if (const std::string* s = k.if_string()) return exo::bytes(s->begin(), s->end());
  if (const exo::bytes* b = k.if_bytes()) return *b;
  ok = type_error(cx, "a storage key is a string or a Uint8Array");
  return {};
}
exo_span span(const exo::bytes& b) { return exo_span{b.data(), b.size()}; }
exo_span span(std::string_view s) { return exo_span{reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

// exo.storage.get(key): the value stored under key, or undefined.
bool storage_get(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  bool ok = false;
  const exo::bytes key = key_bytes(cx, args.get(0), ok);
  if (!ok || !flush_ticks(cx)) return false;
  message& m = msg(cx);
  exo_span got{};
  const exo_status s = m.host->storage_get(m.call, span(key), &got);
  if (s == EXO_ABSENT) {
    args.rval().setUndefined();
    return true;
  }
  if (!host_ok(s)) return false;
  auto v = exo::decode(exo::byte_view(got.data, got.size));
  if (!v) return type_error(cx, "storage holds bytes that are not an exo value: " + v.error().message);
  return to_js(cx, *v, args.rval());
}

// exo.storage.put(key, value)
bool storage_put(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  bool ok = false;
  const exo::bytes key = key_bytes(cx, args.get(0), ok);
  exo::value v;
  if (!ok || !from_js(cx, args.get(1), v) || !flush_ticks(cx)) return false;
  message& m = msg(cx);
  const exo::bytes value = exo::encode(v);
  if (!host_ok(m.host->storage_put(m.call, span(key), span(value)))) return false;
  args.rval().setUndefined();
  return true;
}

// exo.storage.delete(key): whether it was there.
bool storage_delete(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  bool ok = false;
  const exo::bytes key = key_bytes(cx, args.get(0), ok);
  if (!ok || !flush_ticks(cx)) return false;
  message& m = msg(cx);
  std::int32_t existed = 0;
  if (!host_ok(m.host->storage_delete(m.call, span(key), &existed))) return false;
  args.rval().setBoolean(existed != 0);
  return true;
}

std::optional<exo_cap> cap_arg(JSContext* cx, JS::HandleValue v, const char* what) {
  if (v.isObject())
    if (auto c = cap_of(&v.toObject())) return c;
  (void)type_error(cx, fmt::format("{}: expected a capability", what));
  return std::nullopt;
}

// exo.send(cap, args = [], {budget, reply}): sends the values in args through cap; budget
// (ticks handed on) defaults to all that is left; reply is a capability that gets the result.
bool send(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  auto target = cap_arg(cx, args.get(0), "exo.send");
  if (!target) return false;
  exo::value list = exo::value::list{};
  if (!args.get(1).isUndefined()) {
    if (!from_js(cx, args.get(1), list)) return false;
    if (!list.if_list()) return type_error(cx, "exo.send: the arguments are an array");
  }
  std::uint64_t budget = UINT64_MAX;
  exo_cap reply = EXO_NO_CAP;
  if (args.get(2).isObject()) {
    JS::RootedObject o(cx, &args.get(2).toObject());
    JS::RootedValue b(cx), r(cx);
    if (!JS_GetProperty(cx, o, "budget", &b) || !JS_GetProperty(cx, o, "reply", &r)) return false;
    if (!b.isUndefined()) {
      if (!b.isNumber() || b.toNumber() < 0 || b.toNumber() > max_safe || std::trunc(b.toNumber()) != b.toNumber())
        return type_error(cx, "exo.send: budget is a whole number of ticks");
      budget = static_cast<std::uint64_t>(b.toNumber());
    }
    if (!r.isUndefined()) {
      auto c = cap_arg(cx, r, "exo.send: reply");
      if (!c) return false;
      reply = *c;
    }
  }
  if (!flush_ticks(cx)) return false;
  message& m = msg(cx);
  exo::bytes encoded;
  exo::encode(list, encoded);
  if (!host_ok(m.host->send(m.call, *target, span(encoded), budget, reply))) return false;
  args.rval().setUndefined();
  return true;
}

// exo.reply(value): the message's result now (else the function's return value is).
bool reply(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  exo::value v;
  if (!from_js(cx, args.get(0), v) || !flush_ticks(cx)) return false;
  message& m = msg(cx);
  const exo::bytes encoded = exo::encode(v);
  if (!host_ok(m.host->set_result(m.call, span(encoded)))) return false;
  m.result_set = true;
  args.rval().setUndefined();
  return true;
}

bool rights_arg(JSContext* cx, JS::HandleValue v, std::uint32_t& out) {
  if (v.isUndefined()) {
    out = EXO_RIGHT_CALL | EXO_RIGHT_TRANSFER | EXO_RIGHT_DERIVE;
    return true;
  }
  if (!v.isInt32() || v.toInt32() < 0 || v.toInt32() > 7) return type_error(cx, "rights are a number from 0 to 7 (exo.rights)");
  out = static_cast<std::uint32_t>(v.toInt32());
  return true;
}

// A host call that makes a capability: (after the ticks are charged) calls `make(out)` and
// returns the new capability as the native's result.
template <class Make>
bool returns_cap(JSContext* cx, JS::CallArgs& args, Make&& make) {
  if (!flush_ticks(cx)) return false;
  exo_cap out = EXO_NO_CAP;
  if (!host_ok(make(msg(cx), &out))) return false;
  JSObject* c = new_cap(cx, out);
  if (!c) return false;
  args.rval().setObject(*c);
  return true;
}

// exo.self(function, rights): a capability to one of this actor's own functions.
bool self_cap(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  exo::value name;
  std::uint32_t rights = 0;
  if (!from_js(cx, args.get(0), name) || !rights_arg(cx, args.get(1), rights)) return false;
  if (!name.if_string()) return type_error(cx, "exo.self: a function's name");
  return returns_cap(cx, args, [&](message& m, exo_cap* out) { return m.host->self_cap(m.call, span(*name.if_string()), rights, out); });
}

// exo.derive(cap, rights, function?): a narrowed copy (a function capability of an actor
// capability when function is given).
bool derive(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  auto from = cap_arg(cx, args.get(0), "exo.derive");
  std::uint32_t rights = 0;
  if (!from || !rights_arg(cx, args.get(1), rights)) return false;
  std::string function;
  if (!args.get(2).isUndefined()) {
    exo::value f;
    if (!from_js(cx, args.get(2), f)) return false;
    if (!f.if_string()) return type_error(cx, "exo.derive: a function's name");
    function = *f.if_string();
  }
  return returns_cap(cx, args, [&](message& m, exo_cap* out) { return m.host->derive(m.call, *from, rights, span(function), out); });
}

// exo.drop(cap)
bool drop(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  auto c = cap_arg(cx, args.get(0), "exo.drop");
  if (!c || !flush_ticks(cx)) return false;
  message& m = msg(cx);
  if (!host_ok(m.host->drop(m.call, *c))) return false;
  args.rval().setUndefined();
  return true;
}

// exo.create(codeHash): a new actor from code the hypervisor holds (a 32-byte Uint8Array).
bool create(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  exo::value h;
  if (!from_js(cx, args.get(0), h)) return false;
  if (!h.if_bytes() || h.if_bytes()->size() != 32) return type_error(cx, "exo.create: a code hash (32 bytes, a Uint8Array)");
  return returns_cap(cx, args, [&](message& m, exo_cap* out) { return m.host->create(m.call, span(*h.if_bytes()), out); });
}

// exo.replyCap(): the message's reply target as a capability, to answer from a later message.
bool reply_cap(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  if (running && running->host->struct_size < offsetof(exo_host_api, reply_cap) + sizeof running->host->reply_cap)
    return type_error(cx, "exo.replyCap: the host is older than ABI 1.2");
  return returns_cap(cx, args, [&](message& m, exo_cap* out) { return m.host->reply_cap(m.call, out); });
}

// exo.charge(ticks)
bool charge(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  const JS::Value n = args.get(0);
  if (!n.isNumber() || n.toNumber() < 0 || n.toNumber() > max_safe || std::trunc(n.toNumber()) != n.toNumber())
    return type_error(cx, "exo.charge: a whole number of ticks");
  if (!exo_js::spend(static_cast<std::uint64_t>(n.toNumber()))) return false;
  args.rval().setUndefined();
  return true;
}

// exo.now(): the message's logical time.
bool now(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  if (!flush_ticks(cx)) return false;
  message& m = msg(cx);
  args.rval().setNumber(static_cast<double>(m.host->now(m.call)));
  return true;
}

// exo.self_id(), exo.sender(), exo.code_hash(): 32 bytes each.
template <void (*exo_host_api::*Which)(exo_call*, std::uint8_t*)>
bool id_of(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  if (!flush_ticks(cx)) return false;
  message& m = msg(cx);
  std::uint8_t id[32];
  (m.host->*Which)(m.call, id);
  return to_js(cx, exo::bytes(id, id + 32), args.rval());
}

bool host_has_1_3(const exo_host_api* host) {
  return host->struct_size >= offsetof(exo_host_api, entropy) + sizeof host->entropy;
}

// exo.caller(): the logged input's caller (a signed call's key, 32 bytes), or null.
bool caller(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  if (!flush_ticks(cx)) return false;
  message& m = msg(cx);
  if (!host_has_1_3(m.host)) return type_error(cx, "exo.caller: the host is older than ABI 1.3");
  std::uint8_t key[32];
  if (!m.host->caller_id(m.call, key)) {
    args.rval().setNull();
    return true;
  }
  return to_js(cx, exo::bytes(key, key + 32), args.rval());
}

// console.log and friends, and exo.log: the arguments as strings, joined by spaces.
template <std::uint32_t Level>
bool log_line(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  std::string line;
  for (unsigned i = 0; i < args.length(); ++i) {
    JS::RootedString s(cx, JS::ToString(cx, args[i]));
    if (!s) return false;
    auto text = exo_js::utf8(cx, s);
    if (!text) return false;
    if (i) line += ' ';
    line += *text;
  }
  if (!flush_ticks(cx)) return false;
  message& m = msg(cx);
  if (m.host->struct_size >= offsetof(exo_host_api, log_at) + sizeof m.host->log_at)
    (void)m.host->log_at(m.call, Level, span(line));
  else
    m.host->log(m.call, span(line));
  args.rval().setUndefined();
  return true;
}

// A frozen object with these functions.
JSObject* frozen_object(JSContext* cx, const JSFunctionSpec* fns) {
  JS::RootedObject o(cx, JS_NewPlainObject(cx));
  if (!o || !JS_DefineFunctions(cx, o, fns) || !JS_FreezeObject(cx, o)) return nullptr;
  return o;
}

bool define_host_api(JSContext* cx, JS::HandleObject global) {
  static const JSFunctionSpec storage_fns[] = {JS_FN("get", storage_get, 1, 0), JS_FN("put", storage_put, 2, 0),
                                               JS_FN("delete", storage_delete, 1, 0), JS_FS_END};
  static const JSFunctionSpec exo_fns[] = {
      JS_FN("send", send, 3, 0),           JS_FN("reply", reply, 1, 0),
      JS_FN("self", self_cap, 2, 0),       JS_FN("derive", derive, 3, 0),
      JS_FN("drop", drop, 1, 0),           JS_FN("create", create, 1, 0),
      JS_FN("replyCap", reply_cap, 0, 0),  JS_FN("charge", charge, 1, 0),
      JS_FN("now", now, 0, 0),             JS_FN("id", (id_of<&exo_host_api::self_id>), 0, 0),
      JS_FN("sender", (id_of<&exo_host_api::sender_id>), 0, 0),
      JS_FN("codeHash", (id_of<&exo_host_api::code_hash>), 0, 0), JS_FN("caller", caller, 0, 0),
      JS_FN("log", log_line<EXO_LOG_INFO>, 1, 0), JS_FS_END};
  static const JSFunctionSpec console_fns[] = {
      JS_FN("log", log_line<EXO_LOG_INFO>, 1, 0), JS_FN("info", log_line<EXO_LOG_INFO>, 1, 0),
      JS_FN("debug", log_line<EXO_LOG_DEBUG>, 1, 0), JS_FN("warn", log_line<EXO_LOG_WARN>, 1, 0),
      JS_FN("error", log_line<EXO_LOG_ERROR>, 1, 0), JS_FS_END};
  JS::RootedObject exo_obj(cx, JS_NewPlainObject(cx));
  if (!exo_obj || !JS_DefineFunctions(cx, exo_obj, exo_fns)) return false;
  JS::RootedObject storage(cx, frozen_object(cx, storage_fns));
  JS::RootedObject rights(cx, JS_NewPlainObject(cx));
  if (!storage || !rights || !JS_DefineProperty(cx, rights, "call", EXO_RIGHT_CALL, JSPROP_ENUMERATE) ||
      !JS_DefineProperty(cx, rights, "transfer", EXO_RIGHT_TRANSFER, JSPROP_ENUMERATE) ||
      !JS_DefineProperty(cx, rights, "derive", EXO_RIGHT_DERIVE, JSPROP_ENUMERATE) || !JS_FreezeObject(cx, rights) ||
      !JS_DefineProperty(cx, exo_obj, "storage", storage, JSPROP_ENUMERATE) ||
      !JS_DefineProperty(cx, exo_obj, "rights", rights, JSPROP_ENUMERATE) || !JS_FreezeObject(cx, exo_obj))
    return false;
  JS::RootedObject console(cx, frozen_object(cx, console_fns));
  return console && JS_DefineProperty(cx, global, "exo", exo_obj, JSPROP_READONLY | JSPROP_PERMANENT) &&
         JS_DefineProperty(cx, global, "console", console, JSPROP_READONLY | JSPROP_PERMANENT);
}

// ---- loading a script into a realm ----

// The actor's global with the script run in it, and the promise jobs it queued (the current
// realm must be the global's). False with the reason in `why`.
bool load(JSContext* cx, const exo_js::compiled_script& script, JS::HandleObject global, std::string& why) {
  if (!define_host_api(cx, global)) {
    why = "setting up the host API: " + exo_js::take_exception(cx);
    return false;
  }
  JS::RootedValue ignored(cx);
  if (!script.run(cx, "actor.js", &ignored) || !exo_js::engine().jobs.drain(cx)) {
    (void)exo_js::stop_if_runaway(cx);
    why = exo_js::take_exception(cx);
    return false;
  }
  return true;
}

// Math.random's seed while a script loads: fixed, so that a load gives the same realm every
// time (each message then reseeds it from its own entropy).
constexpr std::uint64_t load_seed = 0x6578'6f2e'6a73'2e31;

// An actor's realm with its script loaded (and, for a script that may be warm, hardened).
struct realm {
  JS::PersistentRootedObject global;
  JS::PersistentRootedObject exports_object;  // `exports` once the script has loaded
  std::vector<std::unique_ptr<JS::PersistentRootedValue>> exports;  // by export number, as looked up
  explicit realm(JSContext* cx) : global(cx), exports_object(cx) {}
};

// How a load went.
struct loaded {
  std::unique_ptr<realm> r;
  std::uint64_t ticks = 0;  // what the load spent
  std::string cold;         // (warm requested) why the realm could not be hardened
  exo_status status = EXO_OK;
  std::string why;
};

// Makes a realm and loads `script` in it, metered by a run of its own (not a message's: a
// message is charged what the load costs, whether it ran the load or found the realm warm).
// With `warm`, the realm's lazily made built-ins are made first and the whole realm is
// hardened after the load (engine.hpp); if it cannot be, `cold` says why and the realm is
// left as it is.
loaded load_realm(JSContext* cx, const exo_js::compiled_script& script, bool warm, std::uint64_t memory, bool replay = false) {
  loaded out;
  auto r = std::make_unique<realm>(cx);
  r->global = exo_js::new_actor_global(cx, load_seed);
  if (!r->global) {
    out.status = EXO_ERR_INTERNAL;
    out.why = "making a realm: " + exo_js::take_exception(cx);
    return out;
  }
  JSAutoRealm in(cx, r->global);
  JS::RootedObject intrinsics(cx);
  if (warm && !(intrinsics = exo_js::make_intrinsics(cx))) {
    out.status = EXO_ERR_INTERNAL;
    out.why = "making the realm's built-ins: " + exo_js::take_exception(cx);
    return out;
  }
  exo_js::begin_run(load_budget, false, memory, replay);
  {
    struct run_t {
      ~run_t() { exo_js::end_run(); }
    } run;
    if (!load(cx, script, r->global, out.why)) {
      exo_js::engine().jobs.clear();
      out.status = EXO_ERR_MALFORMED;
      if (exo_js::meter().stalled)
        out.why = exo_js::meter().slow
                      ? fmt::format("the script did not finish loading: it spent fewer than {} ticks in {} ms (the "
                                    "watchdog stopped it)",
                                    exo_js::nets().tick_floor.load(), exo_js::meter().stall_ms.load())
                      : fmt::format("the script did not finish loading: one built-in call ran for over {} ms without "
                                    "returning (the watchdog stopped it)", exo_js::meter().stall_ms.load());
      else if (exo_js::meter().over_memory)
        out.why = fmt::format("the script asked for more than {} bytes of buffers while loading", memory);
      else if (exo_js::meter().out_of_ticks)
        out.why = fmt::format("the script did not finish loading in {} ticks", load_budget);
      else
        out.why = "the script threw while loading: " + out.why;
      return out;
    }
    out.ticks = load_budget - exo_js::meter().left();
  }
  JS::RootedValue exports(cx);
  if (!JS_GetProperty(cx, r->global, "exports", &exports) || !exports.isObject()) {
    out.status = EXO_ERR_MALFORMED;
    out.why = "the script replaced `exports` with something that is not an object";
    return out;
  }
  r->exports_object = &exports.toObject();
  if (warm && !exo_js::harden(cx, r->global, intrinsics, out.cold) && JS_IsExceptionPending(cx)) {
    out.status = EXO_ERR_INTERNAL;
    out.why = "hardening the realm: " + exo_js::take_exception(cx);
    return out;
  }
  out.r = std::move(r);
  return out;
}

// Math.random's seed: the message's entropy (from the logged input's place in the log and
// the message, exo_host_api::entropy), so the same inputs give the same numbers, on replay too.
std::uint64_t seed_of(const exo_host_api* host, exo_call* call) {
  std::uint8_t e[32] = {};
  if (host_has_1_3(host)) host->entropy(call, e);
  std::uint64_t s = 0;
  for (int i = 0; i < 8; ++i) s = s << 8 | e[i];
  return s;
}

// ---- warm realms ----
//
// A script that may be warm (meter.js found nothing that rules it out, and its realm could be
// hardened when the code was made) keeps one realm per thread, shared by every actor of the
// code: loaded once, hardened, and reused by each message, which reseeds Math.random (the
// legacy RegExp statics, which would carry a match over, no script can reach). Nothing a
// message does can outlive it in that realm: what the load made is frozen, and a write to a
// variable of an environment the load or an earlier message made marks the realm spent
// (__exo_w), so the next message gets a new one. A failed message spends it too. So a
// message sees the same realm as in a fresh one, and its results, ticks and the state root
// do not depend on whether the realm was warm (tested: EXO_JS_COLD=1 when code is made runs
// every message in a fresh realm). Nor on which actor used it last: the load cannot tell
// which actor it runs for (the host API is there only in a message), so a fresh realm is the
// same for every actor of the code, and what a message leaves behind is what it would leave
// in a fresh one.
//
// Realms belong to the thread whose context made them: each thread keeps its own table, by
// code serial. Code freed on another thread leaves its serial in that thread's `dead` list,
// for the thread to drop the next time it runs a message.
constexpr std::size_t max_warm = 1024;
std::mutex dead_mutex;
std::unordered_set<std::thread::id> warm_threads;  // the threads with a table (guarded by dead_mutex)
std::unordered_map<std::thread::id, std::vector<std::uint64_t>> dead;  // by thread, guarded by dead_mutex
std::atomic<std::size_t> dead_count{0};
struct warm_table {
  bool listed = false;  // in warm_threads
  // The code's realm on this thread, or null: the parked one (enter) without hashing, as an
  // actor's messages in a row (the common case) find it.
  realm* find(std::uint64_t serial) {
    if (parked_ && serial == parked_serial_) return parked_;
    auto it = realms_.find(serial);
    return it == realms_.end() ? nullptr : it->second.get();
  }
  void erase(std::uint64_t serial) {
    if (auto it = realms_.find(serial); it != realms_.end()) {
      if (it->second.get() == parked_) unpark();
      realms_.erase(it);
    }
  }
  // Enters `r` (one of the table's) for a message and stays in it after: entering and leaving
  // a realm cost a message about 80 instructions, and an actor's messages in a row find their
  // realm entered already. The context leaves it before the realm is let go (erase, keep's
  // eviction, the thread's end) or another is parked in.
  // False (nothing entered: the caller enters for the message alone) if an earlier parked
  // realm could not be left yet.
  bool enter(JSContext* cx, realm* r, std::uint64_t serial) {
    if (r == parked_) return true;
    unpark();
    settle();
    if (owed_) return false;
    parked_prev_ = JS::EnterRealm(cx, r->global);
    parked_ = r;
    parked_serial_ = serial;
    parked_realm_ = js::GetContextRealm(cx);
    parked_cx_ = cx;
    return true;
  }
  // Leaves the parked realm; if another realm is entered above it (a realm let go while a
  // fresh realm's message runs), once that one is left (settle: the engine keeps an entered
  // realm alive, so its pointer stays good).
  void unpark() {
    if (!parked_) return;
    parked_ = nullptr;
    owed_ = true;
    settle();
  }
  void settle() {
    if (owed_ && js::GetContextRealm(parked_cx_) == parked_realm_) {
      JS::LeaveRealm(parked_cx_, parked_prev_);
      owed_ = false;
    }
  }
  // Keeps `r` as the code's realm on this thread, and notes the thread in the table list and
  // in the code's (for js_free_code).
  void keep(const exo_code& code, std::unique_ptr<realm> r) {
    const std::thread::id self = std::this_thread::get_id();
    if (!listed) {
      std::lock_guard l(dead_mutex);
      warm_threads.insert(self);
      listed = true;
    }
    if (realms_.size() >= max_warm) erase(realms_.begin()->first);  // (one is let go: which does not matter)
    erase(code.serial);  // (there is none: a fresh realm is kept only where the table had none)
    realms_[code.serial] = std::move(r);
    std::lock_guard l(code.threads_mutex);
    if (std::find(code.threads.begin(), code.threads.end(), self) == code.threads.end()) code.threads.push_back(self);
  }
  ~warm_table() {  // (the thread is ending: nothing more will be dropped for it, or kept)
    if (exo_js::has_engine()) unpark();
    if (!listed) return;
    std::lock_guard l(dead_mutex);
    warm_threads.erase(std::this_thread::get_id());
    if (auto it = dead.find(std::this_thread::get_id()); it != dead.end()) {
      dead_count.fetch_sub(it->second.size(), std::memory_order_release);
      dead.erase(it);
    }
  }

 private:
  std::unordered_map<std::uint64_t, std::unique_ptr<realm>> realms_;
  realm* parked_ = nullptr;  // the realm the context stays in between messages (enter), and its code's
  std::uint64_t parked_serial_ = 0;
  bool owed_ = false;        // a parked realm is still entered, to be left (settle)
  JS::Realm* parked_realm_ = nullptr;  // the engine's realm entered, and the one entered before
  JS::Realm* parked_prev_ = nullptr;
  JSContext* parked_cx_ = nullptr;
};
thread_local warm_table warm_realms;

void drop_dead_realms() {
  if (dead_count.load(std::memory_order_acquire) == 0) return;
  std::lock_guard l(dead_mutex);
  auto it = dead.find(std::this_thread::get_id());
  if (it == dead.end()) return;
  for (std::uint64_t serial : it->second) warm_realms.erase(serial);
  dead_count.fetch_sub(it->second.size(), std::memory_order_release);
  dead.erase(it);
}

// ---- the ABI ----

exo_status js_compile(exo_span code, const exo_limits* limits, exo_code** out, exo_error* err) {
  return guarded(err, "js compile", [&]() -> exo_status {
    const std::string_view source(reinterpret_cast<const char*>(code.data), code.size);
    const std::uint64_t most = limits && limits->max_code_size ? limits->max_code_size : 16u << 20;
    if (source.size() > most)
      return failed(err, EXO_ERR_LIMIT_EXCEEDED, fmt::format("the script is {} bytes, over the {} accepted", source.size(), most));
    // (What SpiderMonkey's UTF-8 tokenizer once hung on here was not invalid UTF-8 but a
    // numeric separator before a non-ASCII byte, valid or not: scripts are compiled from
    // UTF-16 now, see exo_js::compiles.)
    if (!mozilla::IsUtf8(mozilla::Span<const char>(source.data(), source.size()))) return failed(err, EXO_ERR_MALFORMED, "the script is not UTF-8");
    if (source.find("__exo_") != std::string_view::npos)
      return failed(err, EXO_ERR_MALFORMED, "names starting with __exo_ are exo's (the script uses one)");
    // The script is compiled as it is (the compiler's early errors are stricter than
    // Reflect.parse), metered, compiled again (metering must never break a script), and
    // loaded once, as each message will, to find its exports, what loading costs, and
    // whether it may be warm.
    exo_js::thread_engine& engine = exo_js::engine();
    JSContext* cx = engine.cx;
    exo_js::bound_heap(engine, false);
    struct collect_t {
      JSContext* cx;
      ~collect_t() { JS_MaybeGC(cx); }  // the scratch realms are garbage once this returns
    } collect{cx};
    exo_js::metered m;
    {
      JS::RootedObject scratch(cx, exo_js::new_actor_global(cx, load_seed));
      if (!scratch) return failed(err, EXO_ERR_INTERNAL, "making a realm: " + exo_js::take_exception(cx));
      JSAutoRealm in(cx, scratch);
      if (!exo_js::compiles(cx, source, "actor.js")) return failed(err, EXO_ERR_MALFORMED, exo_js::take_exception(cx));
      m = exo_js::instrument(source);
      if (!m.error.empty()) return failed(err, EXO_ERR_MALFORMED, m.error);
      if (!exo_js::compiles(cx, m.source, "actor.js"))
        return failed(err, EXO_ERR_INTERNAL, "exo's metering broke the script (a bug): " + exo_js::take_exception(cx));
    }
    static std::atomic<std::uint64_t> serials{0};
    auto c = std::make_unique<exo_code>(exo_js::compiled_script(std::move(m.source)), std::move(m.cold),
                                        serials.fetch_add(1, std::memory_order_relaxed) + 1);
    // Buffers a run may make: the memory a wasm instance may have (16 MiB by default).
    c->memory = std::uint64_t{limits && limits->max_memory_pages ? limits->max_memory_pages : 256u} << 16;
    const char* force = std::getenv("EXO_JS_COLD");
    c->force_cold = force && *force && std::string_view(force) != "0";
    // No message runs: the host API throws if the script uses it while loading.
    loaded l = load_realm(cx, c->script, c->cold.empty(), c->memory);
    if (!l.r) return failed(err, l.status, l.why);
    if (c->cold.empty()) c->cold = std::move(l.cold);
    c->load_ticks = l.ticks;
    JSAutoRealm in(cx, l.r->global);
    JS::RootedObject e(cx, l.r->exports_object);
    JS::Rooted<JS::IdVector> ids(cx, JS::IdVector(cx));
    if (!JS_Enumerate(cx, e, &ids)) return failed(err, EXO_ERR_INTERNAL, exo_js::take_exception(cx));
    JS::RootedValue v(cx), key(cx);
    for (std::size_t i = 0; i < ids.length(); ++i) {
      if (!JS_GetPropertyById(cx, e, ids[i], &v) || !JS_IdToValue(cx, ids[i], &key))
        return failed(err, EXO_ERR_INTERNAL, exo_js::take_exception(cx));
      if (!v.isObject() || !JS_ObjectIsFunction(&v.toObject())) continue;
      JS::RootedString ks(cx, JS::ToString(cx, key));
      auto name = ks ? exo_js::utf8(cx, ks) : std::nullopt;
      if (!name) return failed(err, EXO_ERR_INTERNAL, exo_js::take_exception(cx));
      c->exports.push_back(std::move(*name));
    }
    if (c->exports.empty()) return failed(err, EXO_ERR_MALFORMED, "the script exports no functions (exports.name = function ...)");
    *out = c.release();
    return EXO_OK;
  });
}

void js_free_code(exo_code* c) {
  {
    std::scoped_lock l(c->threads_mutex, dead_mutex);
    for (std::thread::id t : c->threads) {
      if (!warm_threads.contains(t)) continue;  // (a thread whose table is gone took its realms with it)
      if (t == std::this_thread::get_id()) {
        warm_realms.erase(c->serial);
      } else {
        dead[t].push_back(c->serial);
        dead_count.fetch_add(1, std::memory_order_release);
      }
    }
  }
  delete c;
}
uint32_t js_export_count(const exo_code* c) { return static_cast<std::uint32_t>(c->exports.size()); }
exo_span js_export_name(const exo_code* c, uint32_t i) {
  if (i >= c->exports.size()) return exo_span{nullptr, 0};
  return span(c->exports[i]);
}

exo_status js_instantiate(exo_code* c, exo_instance** out, exo_error* err) {
  return guarded(err, "js instantiate", [&]() -> exo_status {
    *out = new exo_instance{c};
    return EXO_OK;
  });
}
void js_destroy(exo_instance* i) { delete i; }

exo_status js_run(exo_instance* inst, uint32_t function, exo_span args, uint64_t budget, const exo_host_api* host,
                  exo_call* call, exo_error* err) {
  return guarded(err, "js run", [&]() -> exo_status {
    const exo_code& code = *inst->code;
    if (function >= code.exports.size()) return failed(err, EXO_ERR_NO_SUCH_FUNCTION, fmt::format("no function #{}", function));
    exo_js::thread_engine& e = exo_js::engine();
    JSContext* cx = e.cx;
    drop_dead_realms();
    // A replay of a message that finished when it was logged: the safety nets' looser bounds.
    const bool replay = host->struct_size >= offsetof(exo_host_api, replaying) + sizeof host->replaying && host->replaying(call);
    exo_js::bound_heap(e, replay);
    // The code's warm realm on this thread, or a new one (kept after the message if the script
    // may be warm). (The table is named once: each use of a thread_local with a destructor
    // is a call.)
    warm_table& warm = warm_realms;
    const bool keep = code.cold.empty() && !code.force_cold;
    std::unique_ptr<realm> fresh;
    realm* r = nullptr;
    if (keep) r = warm.find(code.serial);
    if (!r) {
      loaded l = load_realm(cx, code.script, code.cold.empty(), code.memory, replay);
      // The script loaded, deterministically, when its code was made: only resources (the
      // heap, the watchdog's time, the engine's stack) fail it here, which a replay would not
      // meet, so a failure is a fault the log records ("Faults" in the README).
      if (!l.r) return failed(err, fault_status(host), "the actor's realm could not be made this time: " + l.why);
      if (code.cold.empty() && !l.cold.empty())
        return failed(err, fault_status(host), "the realm could not be hardened this time: " + l.cold);
      fresh = std::move(l.r);
      r = fresh.get();
    }
    // (A budget past 2^53 ticks is metered as 2^53: engine.hpp, meter_state.)
    budget = std::min<std::uint64_t>(budget, exo_js::meter_state::max_ticks);
    message m{host, call, budget, 0, EXO_OK, {}, false};
    running = &m;
    struct done_t {
      ~done_t() {
        running = nullptr;
        exo_js::end_run();
      }
    } done;
    exo_js::begin_run(budget, true, code.memory, replay);
    exo_js::set_seed_source([]() -> std::uint64_t { return running ? seed_of(running->host, running->call) : 0; });
    const exo_status status = [&]() -> exo_status {
      // A warm realm is entered and stays entered after the message (warm_table::enter); a
      // fresh one, for the message.
      std::optional<JSAutoRealm> in;
      if (fresh || !warm.enter(cx, r, code.serial)) in.emplace(cx, r->global);
      // (The realm's objects are rooted by the realm: handles to them need no Rooted each.)
      // Ends the message: charges what was used, and says how it went.
      auto end = [&](exo_status status, std::string_view text) -> exo_status {
        if (!e.jobs.empty()) e.jobs.clear();
        // Let the collector run if the heap grew: after a message that made a realm (it
        // leaves one behind), and now and then after the others.
        // After running out of memory, collect at once: the engine allows itself a last-ditch
        // collection once a minute, so the next message would find the garbage still there.
        thread_local unsigned since_gc = 0;
        if (exo_js::meter().out_of_memory) JS_GC(cx);
        else if (fresh || ++since_gc % 64 == 0) JS_MaybeGC(cx);
        if (JS_IsExceptionPending(cx)) JS_ClearPendingException(cx);
        const exo_js::meter_state& mt = exo_js::meter();
        if (m.failure != EXO_OK) return failed(err, m.failure, m.failure_text);
        if (mt.out_of_ticks || mt.stalled || mt.out_of_memory) {  // everything the budget held was spent
          // What the host has left of the budget, not the meter's count: host calls (a storage
          // write) charge the host's own costs too.
          exo_js::meter().set_left(0);
          if (const std::uint64_t rest = m.host->remaining(m.call)) (void)m.host->charge(m.call, rest);
          if (mt.stalled && mt.slow)
            return failed(err, fault_status(m.host),
                          fmt::format("stopped by the watchdog: the code spent fewer than {} ticks in {} ms (steps that "
                                      "each cost a tick or two but run long, such as arithmetic on huge BigInts); wall "
                                      "time is not deterministic, so a replay may not stop at the same point",
                                      exo_js::nets().tick_floor.load(), mt.stall_ms.load()));
          if (mt.stalled)
            return failed(err, fault_status(m.host),
                          fmt::format("stopped by the watchdog: one built-in call (a regex, a sort, string or JSON work) ran "
                                      "for over {} ms without returning; wall time is not deterministic, so a replay may "
                                      "not stop at the same point",
                                      mt.stall_ms.load()));
          if (mt.out_of_memory)
            return failed(err, fault_status(m.host),
                          "out of memory: the engine's heap is full; how full depends on what the thread ran before, so a "
                          "replay may not stop at the same point");
          if (mt.engine_overflow)
            return failed(err, fault_status(m.host),
                          "the engine's stack ran out (too much recursion) in a recursion exo does not count (natives calling "
                          "natives: call, apply, bound functions); where it runs out depends on the JIT, so a "
                          "replay may not stop at the same point");
          if (mt.over_memory)
            return failed(err, EXO_ERR_LIMIT_EXCEEDED,
                          fmt::format("out of memory: the message asked for more than {} bytes of buffers (ArrayBuffers and "
                                      "typed arrays, counted as it made them), the limit of its code",
                                      code.memory));
          if (*mt.runaway)
            return failed(err, EXO_ERR_OUT_OF_TICKS,
                          fmt::format("out of ticks: {} ({} frames), and a runaway recursion spends the whole budget of {}",
                                      mt.runaway, exo_js::max_depth, budget));
          return failed(err, EXO_ERR_OUT_OF_TICKS, fmt::format("out of ticks: the budget of {} ran out", budget));
        }
        if (!flush_ticks(cx)) return failed(err, m.failure, m.failure_text);
        if (status != EXO_OK) return failed(err, status, text);
        return EXO_OK;
      };
      // The arguments, decoded straight into JS values (each item of the encoded list in turn,
      // with no list of exo values made first).
      JS::RootedValueVector argv(cx);
      {
        const exo::decode_limits limits;
        if (args.size > limits.max_size)
          return end(EXO_ERR_MALFORMED, fmt::format("the arguments are {} bytes, over the limit of {}", args.size, limits.max_size));
        // The list's tag and its count: one byte each for fewer than 128 items (a varint).
        const std::uint8_t* p = args.data;
        const std::uint8_t* const last = args.data + args.size;
        std::uint64_t n = 0;
        if (args.size >= 2 && p[0] == static_cast<std::uint8_t>(exo::kind::list) && p[1] < 0x80) {
          n = p[1];
          p += 2;
        } else {
          exo::reader in(exo::byte_view(args.data, args.size), limits);
          const auto tag = in.byte();
          if (!tag || *tag != static_cast<std::uint8_t>(exo::kind::list)) return end(EXO_ERR_MALFORMED, "the arguments are not an encoded list");
          const auto count = in.varint();
          if (!count) return end(EXO_ERR_MALFORMED, "the arguments are not an encoded list: a bad item count");
          n = *count;
          p += in.offset();
        }
        if (n > static_cast<std::uint64_t>(last - p))
          return end(EXO_ERR_MALFORMED, "the arguments are not an encoded list: a bad item count");
        // Scalars are decoded in place (no exo::value made for each; a small integer straight
        // to an Int32); any other item through a reader over what is left.
        JS::RootedValue a(cx);
        exo::value scalar;
        for (std::uint64_t i = 0; i < n; ++i) {
          if (const std::size_t took = exo::decode_scalar(exo::byte_view(p, last), scalar)) {
            p += took;
            const std::int64_t* small = scalar.if_i64();
            if (small && *small == static_cast<std::int32_t>(*small)) a.setInt32(static_cast<std::int32_t>(*small));
            else if (!to_js(cx, scalar, &a)) return end(EXO_ERR_INTERNAL, exo_js::take_exception(cx));
          } else {
            exo::reader item(exo::byte_view(p, last), limits);
            auto v = item.read_value();
            if (!v)
              return end(EXO_ERR_MALFORMED, fmt::format("the arguments are not an encoded list: item {} (at byte {}): {}", i,
                                                        p - args.data, v.error().message));
            p += item.offset();
            if (!to_js(cx, *v, &a)) return end(EXO_ERR_INTERNAL, exo_js::take_exception(cx));
          }
          if (!argv.append(a)) return end(EXO_ERR_INTERNAL, exo_js::take_exception(cx));
        }
        if (p != last) return end(EXO_ERR_MALFORMED, "the arguments are not an encoded list: bytes follow the list");
      }
      // What loading costs, charged whether the load ran now or before. (The legacy RegExp
      // statics, which a match leaves in the realm, are out of every script's reach:
      // engine.cpp, regexp_constructor.)
      if (!exo_js::spend(code.load_ticks)) return end(EXO_ERR_OUT_OF_TICKS, {});
      JS::RootedValue fn(cx);
      JS::HandleObject eo = r->exports_object;
      const std::string& name = code.exports[function];
      // The function, looked up once per realm (a warm realm's exports are frozen).
      if (r->exports.size() <= function) r->exports.resize(code.exports.size());
      if (r->exports[function]) {
        fn = *r->exports[function];
      } else {
        JS::RootedString name_str(cx, JS_NewStringCopyUTF8N(cx, JS::UTF8Chars(name.data(), name.size())));
        JS::RootedId id(cx);
        if (!name_str || !JS_StringToId(cx, name_str, &id) || !JS_GetPropertyById(cx, eo, id, &fn))
          return end(EXO_ERR_INTERNAL, exo_js::take_exception(cx));
        if (!fn.isObject() || !JS_ObjectIsFunction(&fn.toObject()))
          return end(EXO_ERR_NO_SUCH_FUNCTION, fmt::format("exports.{} is not a function in this run", name));
        if (code.cold.empty()) r->exports[function] = std::make_unique<JS::PersistentRootedValue>(cx, fn);
      }
      JS::RootedValue result(cx);
      // (The engine's "too much recursion", thrown to the end: a runaway, exo_js::stop_if_runaway.)
      if (!JS::Call(cx, eo, fn, argv, &result))
        return exo_js::stop_if_runaway(cx) ? end(EXO_ERR_OUT_OF_TICKS, {})
                                           : end(EXO_ERR_HANDLER_THREW, "exports." + name + " threw: " + exo_js::take_exception(cx));
      if (!e.jobs.drain(cx))
        return exo_js::stop_if_runaway(cx) ? end(EXO_ERR_OUT_OF_TICKS, {})
                                           : end(EXO_ERR_HANDLER_THREW, "a promise job threw: " + exo_js::take_exception(cx));
      // An async function's promise: settled by now, or never within this message.
      if (result.isObject()) {
        JS::RootedObject p(cx, &result.toObject());
        if (JS::IsPromiseObject(p)) {
          switch (JS::GetPromiseState(p)) {
            case JS::PromiseState::Pending:
              return end(EXO_ERR_HANDLER_FAILED, "exports." + name + "'s promise did not settle within the message");
            case JS::PromiseState::Rejected: {
              JS::RootedValue reason(cx, JS::GetPromiseResult(p));
              if (exo_js::stop_if_runaway(cx, reason)) return end(EXO_ERR_OUT_OF_TICKS, {});
              JS_SetPendingException(cx, reason);
              return end(EXO_ERR_HANDLER_THREW, "exports." + name + " rejected: " + exo_js::take_exception(cx));
            }
            case JS::PromiseState::Fulfilled: result.set(JS::GetPromiseResult(p)); break;
          }
        }
      }
      if (!m.result_set && m.host->wants_result(m.call)) {
        exo::value out;
        if (!from_js(cx, result, out)) return end(EXO_ERR_TYPE_MISMATCH, "exports." + name + "'s result: " + exo_js::take_exception(cx));
        if (!flush_ticks(cx)) return end(EXO_OK, {});
        std::uint8_t scalar[exo::max_scalar_encoding];  // a scalar result is encoded in place
        exo::bytes encoded;
        exo_span result_span;
        if (const std::uint8_t* at = exo::encode_scalar(out, scalar)) {
          result_span = exo_span{scalar, static_cast<std::size_t>(at - scalar)};
        } else {
          encoded = exo::encode(out);
          result_span = span(encoded);
        }
        if (!host_ok(m.host->set_result(m.call, result_span))) return end(EXO_OK, {});
      }
      return end(EXO_OK, {});
    }();
    // Out of the realm: keep it warm, or let it go.
    if (keep) {
      if (status != EXO_OK || exo_js::meter().dirty) {
        if (!fresh) warm.erase(code.serial);
      } else if (fresh) {
        // (At most max_warm realms a thread, about 120 KiB each: past that, keep() lets one
        // go; which one does not matter: a message sees the same in a new realm.)
        warm.keep(code, std::move(fresh));
      }
    }
    warm.settle();
    return status;
  });
}

}  // namespace

/// The descriptor exo loads (plugin/abi.h).
extern "C" const exo_plugin exo_js_plugin = {
    EXO_PLUGIN_ABI_MAJOR, EXO_PLUGIN_ABI_MINOR, sizeof(exo_plugin), EXO_TYPE_JS, "js", "0.1.0 (SpiderMonkey 102)",
    &js_compile, &js_free_code, &js_export_count, &js_export_name, &js_instantiate, &js_destroy, &js_run,
    0};  // no EXO_PLUGIN_ANY_THREAD: a realm lives in its thread's JSContext

BOOST_DLL_ALIAS(exo_js_plugin, exo_plugin_v1)

/// The js plugin's own tuning, beside the descriptor (exo_js::safety_nets): the watchdog's
/// bound in milliseconds and the collected heap's in bytes a thread may hold, for runs that
/// start after the call; 0 leaves one as it is. A host finds it by name (Boost.DLL's
/// `get<void(uint32_t, uint64_t)>("exo_js_set_safety_nets")`).
extern "C" BOOST_SYMBOL_EXPORT void exo_js_set_safety_nets(std::uint32_t stall_ms, std::uint64_t heap_bytes) {
  exo_js::safety_nets& n = exo_js::nets();
  if (stall_ms) n.stall_ms.store(stall_ms, std::memory_order_relaxed);
  if (heap_bytes) n.heap_bytes.store(std::min<std::uint64_t>(heap_bytes, 0xffffffffu), std::memory_order_relaxed);
}
/// The watchdog's tick floor (exo_js::safety_nets): the fewest ticks a run must spend in a
/// window of the watchdog's bound; 0 turns the floor off.
extern "C" BOOST_SYMBOL_EXPORT void exo_js_set_tick_floor(std::uint32_t ticks) {
  exo_js::nets().tick_floor.store(ticks, std::memory_order_relaxed);
}
/// The collected heap of the calling thread's engine, in bytes, after a full collection (0
/// if the thread has none): what the realms and objects it keeps alive take, for measuring
/// (bench_js's bytes per warm realm). Not for a thread that is running a message.
extern "C" BOOST_SYMBOL_EXPORT std::uint64_t exo_js_heap_bytes() {
  if (!exo_js::has_engine()) return 0;
  JSContext* cx = exo_js::engine().cx;
  JS_GC(cx);
  return JS_GetGCParameter(cx, JSGC_BYTES);
}
