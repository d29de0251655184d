// The wasm engine over wabt 1.0.32's interpreter. Compiled as C++17: wabt's headers do not
// compile as C++20 under GCC 12. Nothing of exo is included here (see engine.hpp).
#include "engine.hpp"

#include "wabt/binary-reader.h"
#include "wabt/error.h"
#include "wabt/feature.h"
#include "wabt/interp/binary-reader-interp.h"
#include "wabt/interp/interp.h"

#include <cstring>
#include <string_view>

namespace exo_wasm {

namespace wi = wabt::interp;

namespace {

val_type map_type(wabt::Type t) {
  switch (t) {
    case wabt::Type::I32: return val_type::i32;
    case wabt::Type::I64: return val_type::i64;
    case wabt::Type::F32: return val_type::f32;
    case wabt::Type::F64: return val_type::f64;
    default: return val_type::other;
  }
}

std::vector<val_type> map_types(const wabt::TypeVector& v) {
  std::vector<val_type> out;
  out.reserve(v.size());
  for (auto t : v) out.push_back(map_type(t));
  return out;
}

const char* type_name(val_type t) {
  switch (t) {
    case val_type::i32: return "i32";
    case val_type::i64: return "i64";
    case val_type::f32: return "f32";
    case val_type::f64: return "f64";
    default: return "other";
  }
}

std::string signature(const std::vector<val_type>& params, const std::vector<val_type>& results) {
  std::string s = "(";
  auto list = [&s](const std::vector<val_type>& v) {
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i) s.push_back(' ');
      s.append(type_name(v[i]));
    }
  };
  list(params);
  s.append(") -> (");
  list(results);
  s.push_back(')');
  return s;
}

wabt::Features exo_features() {
  wabt::Features f;  // wabt's defaults: MVP plus bulk memory, reference types, multi-value, ...
  f.disable_simd();  // v128 values cannot cross to exo, and NaN lanes are where machines differ
  return f;
}

wi::Value to_value(val_type t, std::uint64_t bits) {
  switch (t) {
    case val_type::i32: return wi::Value::Make(static_cast<wi::u32>(bits));
    case val_type::i64: return wi::Value::Make(static_cast<wi::u64>(bits));
    case val_type::f32: {
      float f;
      auto b = static_cast<std::uint32_t>(bits);
      std::memcpy(&f, &b, 4);
      return wi::Value::Make(f);
    }
    case val_type::f64: {
      double d;
      std::memcpy(&d, &bits, 8);
      return wi::Value::Make(d);
    }
    default: return wi::Value::Make(static_cast<wi::u64>(0));
  }
}

std::uint64_t to_bits(val_type t, const wi::Value& v) {
  switch (t) {
    case val_type::i32: return v.Get<wi::u32>();
    case val_type::i64: return v.Get<wi::u64>();
    case val_type::f32: {
      float f = v.Get<float>();
      std::uint32_t b;
      std::memcpy(&b, &f, 4);
      return b;
    }
    case val_type::f64: {
      double d = v.Get<double>();
      std::uint64_t b;
      std::memcpy(&b, &d, 8);
      return b;
    }
    default: return 0;
  }
}

// Imports that write into linear memory (the instance must be reset after them).
bool writes_memory(import_id id) {
  return id == import_id::self_id || id == import_id::sender_id || id == import_id::code_hash ||
         id == import_id::arg_read || id == import_id::storage_get || id == import_id::caller_id ||
         id == import_id::entropy;
}

std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) { return a > ~std::uint64_t{0} - b ? ~std::uint64_t{0} : a + b; }

}  // namespace

const std::vector<import_signature>& imports() {
  using v = val_type;
  static const std::vector<import_signature> all = {
      {"charge", {v::i64}, {}},
      {"remaining", {}, {v::i64}},
      {"now", {}, {v::i64}},
      {"self_id", {v::i32}, {}},
      {"sender_id", {v::i32}, {}},
      {"code_hash", {v::i32}, {}},
      {"arg_count", {}, {v::i32}},
      {"arg_read", {v::i32, v::i32, v::i32}, {v::i32}},
      {"push_i64", {v::i64}, {}},
      {"push_f64", {v::f64}, {}},
      {"push_bytes", {v::i32, v::i32}, {}},
      {"push_string", {v::i32, v::i32}, {}},
      {"push_cap", {v::i32}, {}},
      {"send", {v::i32, v::i64}, {}},
      {"call", {v::i32, v::i64, v::i32}, {}},
      {"set_result", {}, {}},
      {"create", {v::i32}, {v::i32}},
      {"storage_get", {v::i32, v::i32, v::i32, v::i32}, {v::i32}},
      {"storage_put", {v::i32, v::i32, v::i32, v::i32}, {}},
      {"storage_delete", {v::i32, v::i32}, {v::i32}},
      {"self_cap", {v::i32, v::i32, v::i32}, {v::i32}},
      {"derive", {v::i32, v::i32, v::i32, v::i32}, {v::i32}},
      {"drop", {v::i32}, {}},
      {"log", {v::i32, v::i32}, {}},
      {"log_at", {v::i32, v::i32, v::i32}, {}},
      {"caller_id", {v::i32}, {v::i32}},
      {"entropy", {v::i32}, {}},
  };
  return all;
}

// ------------------------------------------------------------------ compiled code

class module_code {
 public:
  wi::ModuleDesc desc;
  std::vector<function_info> exports;
  std::vector<wabt::Index> export_slots;  // each function's index in the instance's exports()
  std::vector<import_id> import_ids;      // for each of the module's imports
  bool writes_memory = false;             // has store, memory.fill/copy/init instructions
  bool changes_tables = false;            // table.set/grow/fill/copy/init, elem.drop, data.drop
};

// Reads an unsigned LEB128 of at most 32 bits at data[at]; false if it does not fit.
bool read_u32(const std::uint8_t* data, std::size_t size, std::size_t& at, std::uint32_t& out) {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (at >= size) return false;
    const std::uint8_t b = data[at++];
    v |= std::uint64_t{b & 0x7fu} << shift;
    if (!(b & 0x80)) {
      if (v > 0xffffffffu) return false;
      out = static_cast<std::uint32_t>(v);
      return true;
    }
  }
  return false;
}

// wabt reserves memory for the data segments a data count section declares before any of
// them is read (it checks the other sections' counts against their sizes first), so a
// module of a few bytes could make it allocate hundreds of GiB. Each segment takes at least
// three bytes of the module: a count the module cannot hold is refused here. Anything else
// malformed is left to wabt, which reports it.
bool data_count_fits(const std::uint8_t* data, std::size_t size, std::string& error) {
  std::size_t at = 8;  // magic and version
  while (at < size) {
    const std::uint8_t id = data[at++];
    std::uint32_t length = 0;
    if (!read_u32(data, size, at, length) || length > size - at) return true;
    if (id == 12) {
      std::size_t in = at;
      std::uint32_t count = 0;
      if (read_u32(data, at + length, in, count) && count > size / 3) {
        error = "invalid module at byte " + std::to_string(at) + ": the data count section declares " +
                std::to_string(count) + " data segments, more than a module of " + std::to_string(size) +
                " bytes can hold";
        return false;
      }
    }
    at += length;
  }
  return true;
}

std::unique_ptr<module_code> compile(const std::uint8_t* data, std::size_t size, const limits& l, std::string& error) {
  auto m = std::make_unique<module_code>();
  wabt::Errors errors;
  wabt::ReadBinaryOptions options(exo_features(), nullptr, /*read_debug_names*/ false,
                                  /*stop_on_first_error*/ true, /*fail_on_custom_section_error*/ false);
  if (size == 0 || !data) {
    error = "empty module: a wasm module starts with \\0asm";
    return nullptr;
  }
  if (!data_count_fits(data, size, error)) return nullptr;
  if (wabt::Failed(wi::ReadBinaryInterp("module", data, size, options, &errors, &m->desc))) {
    if (errors.empty()) {
      error = "the module does not decode or validate";
    } else {
      const auto& e = errors.front();
      error = "invalid module at byte " + std::to_string(e.loc.offset) + ": " + e.message;
    }
    return nullptr;
  }
  auto& d = m->desc;
  if (!d.starts.empty()) {
    error = "the module has a start function; exo runs code only in messages (export an init function instead)";
    return nullptr;
  }
  const auto& known = imports();
  for (auto& imp : d.imports) {
    const auto& t = imp.type;
    std::string what = "import " + t.module + "." + t.name;
    if (t.module != "exo") {
      error = what + ": exo provides imports only in the module \"exo\"";
      return nullptr;
    }
    if (t.type->kind != wabt::ExternalKind::Func) {
      error = what + ": exo provides only functions";
      return nullptr;
    }
    std::size_t k = 0;
    while (k < known.size() && t.name != known[k].name) ++k;
    if (k == known.size()) {
      error = what + ": exo has no such function";
      return nullptr;
    }
    auto* ft = wabt::cast<wi::FuncType>(t.type.get());
    auto params = map_types(ft->params), results = map_types(ft->results);
    if (params != known[k].params || results != known[k].results) {
      error = what + ": declared " + signature(params, results) + ", but exo's is " +
              signature(known[k].params, known[k].results);
      return nullptr;
    }
    m->import_ids.push_back(static_cast<import_id>(k));
  }
  for (auto& mem : d.memories) {
    auto& lim = mem.type.limits;
    if (lim.is_shared || lim.is_64) {
      error = "shared and 64-bit memories are not supported";
      return nullptr;
    }
    if (lim.initial > l.max_memory_pages) {
      error = "the memory starts with " + std::to_string(lim.initial) + " pages, over the limit of " +
              std::to_string(l.max_memory_pages) + " (64 KiB each)";
      return nullptr;
    }
    if (!lim.has_max || lim.max > l.max_memory_pages) {  // memory.grow stops at the limit
      lim.max = l.max_memory_pages;
      lim.has_max = true;
    }
  }
  for (auto& tab : d.tables) {
    auto& lim = tab.type.limits;
    if (lim.initial > l.max_table_size) {
      error = "a table starts with " + std::to_string(lim.initial) + " elements, over the limit of " +
              std::to_string(l.max_table_size);
      return nullptr;
    }
    if (!lim.has_max || lim.max > l.max_table_size) {
      lim.max = l.max_table_size;
      lim.has_max = true;
    }
  }
  for (wabt::Index i = 0; i < d.exports.size(); ++i) {
    auto& e = d.exports[i];
    if (e.type.type->kind != wabt::ExternalKind::Func) continue;
    auto* ft = wabt::cast<wi::FuncType>(e.type.type.get());
    m->exports.push_back(function_info{e.type.name, map_types(ft->params), map_types(ft->results)});
    m->export_slots.push_back(i);
  }
  // What the code can change beyond one message, found once here so that resetting an
  // instance costs only what is needed.
  wi::Istream::Offset off = 0;
  const wi::Istream::Offset end = d.istream.end();
  while (off < end) {
    std::string_view n = d.istream.Read(&off).op.GetName();
    if (n.find("store") != std::string_view::npos || n.find("rmw") != std::string_view::npos ||
        n.find("cmpxchg") != std::string_view::npos || n == "memory.fill" || n == "memory.copy" ||
        n == "memory.init")
      m->writes_memory = true;
    if ((n.substr(0, 6) == "table." && n != "table.get" && n != "table.size") || n == "elem.drop" || n == "data.drop")
      m->changes_tables = true;
  }
  return m;
}

void destroy(module_code* m) noexcept { delete m; }
const std::vector<function_info>& exports(const module_code& m) { return m.exports; }

// ------------------------------------------------------------------ instances

class instance {
 public:
  explicit instance(const module_code& c) : code(&c), store(std::make_unique<wi::Store>(exo_features())) {}

  bool build(std::string& error);
  wabt::Result on_import(import_id id, const wi::Values& params, wi::Values& results, wi::Trap::Ptr* out_trap);
  void reset();

  const module_code* code;
  std::unique_ptr<wi::Store> store;  // destroyed last: everything below refers to it
  wi::Module::Ptr module;
  wi::Instance::Ptr inst;
  std::unique_ptr<wi::Thread> thread;
  std::vector<wi::Func::Ptr> funcs;  // exported functions, as module_code::exports
  wi::Memory::Ptr memory;            // memory 0, if any
  std::vector<std::uint8_t> initial_memory;
  std::uint64_t initial_pages = 0;
  std::vector<std::pair<wi::Global::Ptr, wi::Value>> globals;  // mutable globals, initial values
  wi::Values params, results;  // reused by every call

  // While a function runs:
  import_host* host = nullptr;
  std::uint64_t charged = 0;  // thread steps charged so far
  bool host_failed = false;
  bool host_wrote = false;
  bool broken = false;  // a reset failed: the instance refuses to run
  std::string broken_why;
};

bool instance::build(std::string& error) {
  module = wi::Module::New(*store, code->desc);
  wi::RefVec imports_refs;
  const auto& known = imports();
  for (auto id : code->import_ids) {
    const auto& sig = known[static_cast<std::size_t>(id)];
    wabt::TypeVector ps, rs;
    auto wt = [](val_type t) {
      switch (t) {
        case val_type::i32: return wabt::Type(wabt::Type::I32);
        case val_type::i64: return wabt::Type(wabt::Type::I64);
        case val_type::f32: return wabt::Type(wabt::Type::F32);
        default: return wabt::Type(wabt::Type::F64);
      }
    };
    for (auto t : sig.params) ps.push_back(wt(t));
    for (auto t : sig.results) rs.push_back(wt(t));
    auto f = wi::HostFunc::New(*store, wi::FuncType(ps, rs),
                               [this, id](wi::Thread&, const wi::Values& p, wi::Values& r, wi::Trap::Ptr* trap) {
                                 return on_import(id, p, r, trap);
                               });
    imports_refs.push_back(f.ref());
  }
  wi::Trap::Ptr trap;
  inst = wi::Instance::Instantiate(*store, module.ref(), imports_refs, &trap);
  if (!inst) {
    error = "instantiation failed: " + (trap ? trap->message() : std::string("unknown reason"));
    return false;
  }
  funcs.clear();
  for (auto slot : code->export_slots) funcs.push_back(store->UnsafeGet<wi::Func>(inst->exports()[slot]));
  memory.reset();
  initial_memory.clear();
  if (!inst->memories().empty()) {
    memory = store->UnsafeGet<wi::Memory>(inst->memories()[0]);
    initial_pages = memory->PageSize();
    initial_memory.assign(memory->UnsafeData(), memory->UnsafeData() + memory->ByteSize());
  }
  globals.clear();
  for (auto ref : inst->globals()) {
    auto g = store->UnsafeGet<wi::Global>(ref);
    if (g->type().mut == wi::Mutability::Var) globals.emplace_back(g, g->Get());
  }
  thread = std::make_unique<wi::Thread>(*store);
  return true;
}

wabt::Result instance::on_import(import_id id, const wi::Values& params, wi::Values& results, wi::Trap::Ptr* out_trap) {
  // Charge what ran so far first, so that budgets handed on and the clock are exact.
  const std::uint64_t now = thread->steps();
  if (!host->charge(now - charged)) {
    host_failed = true;
    *out_trap = wi::Trap::New(*store, host->error);
    return wabt::Result::Error;
  }
  charged = now;
  const auto& sig = imports()[static_cast<std::size_t>(id)];
  std::uint64_t p[4] = {}, r[1] = {};
  for (std::size_t i = 0; i < sig.params.size(); ++i) p[i] = to_bits(sig.params[i], params[i]);
  memory_view mv;
  if (memory) {
    mv.data = memory->UnsafeData();
    mv.size = memory->ByteSize();
  }
  if (writes_memory(id)) host_wrote = true;
  if (!host->call(id, p, r, mv)) {
    host_failed = true;
    *out_trap = wi::Trap::New(*store, host->error);
    return wabt::Result::Error;
  }
  for (std::size_t i = 0; i < sig.results.size(); ++i) results[i] = to_value(sig.results[i], r[i]);
  // The host may have charged ticks of its own: the rest of the run gets what is left.
  thread->set_step_limit(sat_add(thread->steps(), host->remaining()));
  return wabt::Result::Ok;
}

void instance::reset() {
  host = nullptr;
  const bool grew = memory && memory->PageSize() != initial_pages;
  if (code->changes_tables || grew) {  // cannot be undone in place: a fresh instance
    std::string why;
    globals.clear();
    memory.reset();
    funcs.clear();
    thread.reset();
    inst.reset();
    module.reset();
    store = std::make_unique<wi::Store>(exo_features());
    if (!build(why)) {
      broken = true;
      broken_why = why;
    }
    return;
  }
  // A memory of 0 pages has no data at all (memcpy must not see its null pointer).
  if (memory && !initial_memory.empty() && (code->writes_memory || host_wrote))
    std::memcpy(memory->UnsafeData(), initial_memory.data(), initial_memory.size());
  host_wrote = false;
  for (auto& [g, v] : globals) g->UnsafeSet(v);
}

std::unique_ptr<instance> instantiate(const module_code& m, std::string& error) {
  auto in = std::make_unique<instance>(m);
  if (!in->build(error)) return nullptr;
  return in;
}

void destroy(instance* i) noexcept { delete i; }

run_status run(instance& in, std::uint32_t function, const std::uint64_t* params, std::uint64_t* results,
               std::uint64_t budget, import_host& host, std::string& message) {
  if (in.broken) {
    message = "the instance could not be reset after its last message: " + in.broken_why;
    return run_status::trap;
  }
  const function_info& fi = in.code->exports[function];
  wi::Thread& t = *in.thread;
  in.host = &host;
  in.host_failed = false;
  const std::uint64_t start = t.steps();
  in.charged = start;
  t.set_step_limit(sat_add(start, budget));
  wi::Values& ps = in.params;
  wi::Values& rs = in.results;
  ps.clear();
  for (std::size_t i = 0; i < fi.params.size(); ++i) ps.push_back(to_value(fi.params[i], params[i]));
  // Sized for the results: a re-exported import (a host function) writes them in place.
  rs.assign(fi.results.size(), wi::Value::Make(wi::u64{0}));
  wi::Trap::Ptr trap;
  const bool ok = wabt::Succeeded(in.funcs[function]->Call(t, ps, rs, &trap));
  const std::uint64_t end = t.steps();
  run_status st = run_status::ok;
  if (!ok) {
    if (in.host_failed) {
      st = run_status::host_error;
      message = host.error;
    } else if (end >= t.step_limit()) {
      st = run_status::out_of_ticks;
      message = "out of ticks: the function executed " + std::to_string(end - start) +
                " instructions, all of its budget of " + std::to_string(budget) + " ticks";
    } else {
      st = run_status::trap;
      message = "wasm trap: " + (trap ? trap->message() : std::string("unknown"));
    }
  }
  if (st != run_status::host_error && !host.charge(end - in.charged)) {
    st = run_status::host_error;
    message = host.error;
  }
  if (st == run_status::ok)
    for (std::size_t i = 0; i < fi.results.size(); ++i) results[i] = to_bits(fi.results[i], rs[i]);
  // The trap is a reference into the store, which reset() may replace: release it first.
  trap.reset();
  // A failed call can leave frames on the thread: the next message gets a new one.
  if (st != run_status::ok) in.thread = std::make_unique<wi::Thread>(*in.store);
  in.reset();
  return st;
}

}  // namespace exo_wasm
