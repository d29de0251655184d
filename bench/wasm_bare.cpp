// Bare wabt for bench_wasm (see wasm_bare.hpp). C++17: wabt's headers need it.
#include "wasm_bare.hpp"

#include "wabt/binary-reader.h"
#include "wabt/error.h"
#include "wabt/feature.h"
#include "wabt/interp/binary-reader-interp.h"
#include "wabt/interp/interp.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace wi = wabt::interp;

namespace bare {

struct instance {
  std::unique_ptr<wi::Store> store;
  wi::Module::Ptr mod;
  wi::Instance::Ptr inst;
  std::unique_ptr<wi::Thread> thread;
};

struct module {
  wi::ModuleDesc desc;
  instance one;
  wi::Func::Ptr add, host_calls, loop, fib;
};

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "bench_wasm (bare wabt): %s\n", why.c_str());
  std::abort();
}

instance make(const wi::ModuleDesc& desc) {
  instance in;
  in.store = std::make_unique<wi::Store>();
  in.mod = wi::Module::New(*in.store, desc);
  wi::RefVec imports;
  for (auto& imp : desc.imports) {
    auto* ft = wabt::cast<wi::FuncType>(imp.type.type.get());
    auto f = wi::HostFunc::New(*in.store, *ft, [](wi::Thread&, const wi::Values&, wi::Values& r, wi::Trap::Ptr*) {
      for (auto& v : r) v = wi::Value::Make(wi::u64{0});
      return wabt::Result::Ok;
    });
    imports.push_back(f.ref());
  }
  wi::Trap::Ptr trap;
  in.inst = wi::Instance::Instantiate(*in.store, in.mod.ref(), imports, &trap);
  if (!in.inst) die("instantiation failed");
  in.thread = std::make_unique<wi::Thread>(*in.store);
  return in;
}

wi::Func::Ptr find(module& m, const std::string& name) {
  for (std::size_t i = 0; i < m.desc.exports.size(); ++i)
    if (m.desc.exports[i].type.name == name) return m.one.store->UnsafeGet<wi::Func>(m.one.inst->exports()[i]);
  die("no export " + name);
}

wi::Values call(module& m, wi::Func::Ptr& f, const wi::Values& params) {
  wi::Values results;
  wi::Trap::Ptr trap;
  if (wabt::Failed(f->Call(*m.one.thread, params, results, &trap))) die("call trapped");
  return results;
}

}  // namespace

module* load(const std::uint8_t* data, std::size_t size) {
  auto m = std::make_unique<module>();
  wabt::Errors errors;
  wabt::ReadBinaryOptions options;
  if (wabt::Failed(wi::ReadBinaryInterp("bench.wasm", data, size, options, &errors, &m->desc)))
    die("bench.wasm does not load");
  m->one = make(m->desc);
  m->add = find(*m, "add");
  m->host_calls = find(*m, "host_calls");
  m->loop = find(*m, "loop");
  m->fib = find(*m, "fib");
  return m.release();
}

void unload(module* m) { delete m; }

std::uint64_t add(module* m, std::uint64_t a, std::uint64_t b) {
  return call(*m, m->add, {wi::Value::Make(wi::u64{a}), wi::Value::Make(wi::u64{b})})[0].Get<wi::u64>();
}
void host_calls(module* m, std::uint32_t n) { call(*m, m->host_calls, {wi::Value::Make(wi::u32{n})}); }
void loop(module* m, std::uint32_t n) { call(*m, m->loop, {wi::Value::Make(wi::u32{n})}); }
std::uint64_t fib(module* m, std::uint64_t n) {
  return call(*m, m->fib, {wi::Value::Make(wi::u64{n})})[0].Get<wi::u64>();
}

void* instantiate(module* m) { return new instance(make(m->desc)); }
void destroy(void* i) { delete static_cast<instance*>(i); }

}  // namespace bare
