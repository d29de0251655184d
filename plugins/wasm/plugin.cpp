// The wasm container plugin: exo's plugin ABI (plugin/abi.h) over the engine (engine.hpp).
// This half speaks exo: it decodes message arguments, maps them onto the exported function's
// parameters, and implements the "exo" import module over the host API table.
#include "engine.hpp"

#include <exo/core/encoding.hpp>
#include <exo/core/value.hpp>
#include <exo/plugin/abi.h>
#include <exo/plugin/errors.hpp>

#include <boost/dll/alias.hpp>

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace wasm_plugin {
// One argument of the message, read in place from its encoding (no copies): scalars as
// bits, bytes and strings as views into the encoded arguments.
struct arg_view {
  exo::kind kind = exo::kind::null;
  std::uint64_t bits = 0;
  exo::byte_view data;
};
}  // namespace wasm_plugin

struct exo_code {
  std::unique_ptr<exo_wasm::module_code> module;
};
struct exo_instance {
  const exo_code* code;
  std::unique_ptr<exo_wasm::instance> inst;
  // Reused by every message (an instance runs one message at a time).
  std::vector<wasm_plugin::arg_view> views;
  exo::bytes result;
};

namespace {

using exo::plugin::failed;
using exo::plugin::guarded;
using exo::plugin::set_error;

using wasm_plugin::arg_view;
using exo_wasm::import_id;
using exo_wasm::memory_view;
using exo_wasm::val_type;

const char* kind_name(exo::kind k) {
  switch (k) {
    case exo::kind::null: return "null";
    case exo::kind::boolean: return "a bool";
    case exo::kind::i64: return "an integer";
    case exo::kind::f64: return "a float";
    case exo::kind::bytes: return "bytes";
    case exo::kind::string: return "a string";
    case exo::kind::list: return "a list";
    case exo::kind::map: return "a map";
    case exo::kind::cap: return "a capability";
  }
  return "a value";
}


// Reads the encoded argument list into views, in place (this is on every message's path, so
// it reads the canonical encoding directly). False if it is not a list of scalars, bytes and
// strings; then the caller decodes it fully, to say what is wrong.
bool read_args(exo::byte_view encoded, std::vector<arg_view>& out) {
  const std::uint8_t* p = encoded.data();
  const std::uint8_t* const end = p + encoded.size();
  auto varint = [&](std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p == end) return false;
      std::uint8_t b = *p++;
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  };
  auto fixed = [&](std::uint64_t& v, int n) {
    if (end - p < n) return false;
    v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    p += n;
    return true;
  };
  std::uint64_t n = 0;
  if (p == end || *p++ != static_cast<std::uint8_t>(exo::kind::list) || !varint(n) ||
      n > static_cast<std::uint64_t>(end - p))
    return false;
  out.resize(n);
  for (auto& a : out) {
    if (p == end) return false;
    a.kind = static_cast<exo::kind>(*p++);
    switch (a.kind) {
      case exo::kind::boolean:
        if (!fixed(a.bits, 1) || a.bits > 1) return false;
        break;
      case exo::kind::i64:
      case exo::kind::f64:
        if (!fixed(a.bits, 8)) return false;
        break;
      case exo::kind::cap:
        if (!fixed(a.bits, 4)) return false;
        break;
      case exo::kind::bytes:
      case exo::kind::string: {
        std::uint64_t len = 0;
        if (!varint(len) || len > static_cast<std::uint64_t>(end - p)) return false;
        a.data = exo::byte_view(p, len);
        p += len;
        break;
      }
      default: return false;  // null, lists and maps cannot be parameters
    }
  }
  return p == end;
}

// The "exo" import module, over the host API, for one message.
class bridge final : public exo_wasm::import_host {
 public:
  bridge(const exo_host_api* api, exo_call* call, const std::vector<arg_view>& args) : api_(api), call_(call), args_(args) {}

  bool charge(std::uint64_t ticks) override {
    if (ticks == 0) return true;
    return check(api_->charge(call_, ticks));
  }
  std::uint64_t remaining() override { return api_->remaining(call_); }

  bool call(import_id id, const std::uint64_t* p, std::uint64_t* r, memory_view mem) override {
    try {
      return dispatch(id, p, r, mem);
    } catch (const std::exception& e) {
      return trap(EXO_ERR_INTERNAL, std::string("exo.") + name(id) + ": " + e.what());
    }
  }

  std::optional<exo::value> result;  // what set_result gave

 private:
  static const char* name(import_id id) { return exo_wasm::imports()[static_cast<std::size_t>(id)].name; }

  bool trap(std::int32_t code, std::string msg) {
    status = code;
    error = std::move(msg);
    return false;
  }
  // A host API status: true if it succeeded, else the host's message becomes the trap's.
  bool check(exo_status st) {
    if (st == EXO_OK) return true;
    exo_span m = api_->last_error(call_);
    return trap(st, std::string(reinterpret_cast<const char*>(m.data), m.size));
  }
  // Bounds-checked memory: [ptr, ptr+len) must lie inside memory 0.
  std::uint8_t* at(memory_view mem, std::uint64_t ptr, std::uint64_t len, import_id id) {
    if (ptr > mem.size || len > mem.size - ptr) {
      trap(EXO_ERR_TRAP, std::string("exo.") + name(id) + ": bytes [" + std::to_string(ptr) + ", " +
                             std::to_string(ptr + len) + ") are outside the memory of " + std::to_string(mem.size) +
                             " bytes");
      return nullptr;
    }
    return mem.data ? mem.data + ptr : reinterpret_cast<std::uint8_t*>(this);  // len 0 with no memory: a valid empty span
  }
  static std::uint32_t u32(std::uint64_t v) { return static_cast<std::uint32_t>(v); }
  bool send_pushed(import_id id, std::uint32_t cap, std::uint64_t budget, exo_cap reply) {
    // (Handing on "all that is left" is not offered: the sender's own next instructions
    // would then run out of ticks.)
    if (static_cast<std::int64_t>(budget) < 0)
      return trap(EXO_ERR_INVALID_ARGUMENT, std::string("exo.") + name(id) + ": the budget " +
                                                std::to_string(static_cast<std::int64_t>(budget)) +
                                                " is negative; give the callee a number of ticks");
    exo::bytes enc = exo::encode(exo::value(std::move(pushed_)));
    pushed_.clear();
    return check(api_->send(call_, cap, exo_span{enc.data(), enc.size()}, budget, reply));
  }

  bool dispatch(import_id id, const std::uint64_t* p, std::uint64_t* r, memory_view mem) {
    switch (id) {
      case import_id::charge: return check(api_->charge(call_, p[0]));
      case import_id::remaining: r[0] = api_->remaining(call_); return true;
      case import_id::now: r[0] = api_->now(call_); return true;
      case import_id::self_id:
      case import_id::sender_id:
      case import_id::code_hash: {
        auto* dst = at(mem, u32(p[0]), 32, id);
        if (!dst) return false;
        if (id == import_id::self_id) api_->self_id(call_, dst);
        else if (id == import_id::sender_id) api_->sender_id(call_, dst);
        else api_->code_hash(call_, dst);
        return true;
      }
      case import_id::arg_count: r[0] = args_.size(); return true;
      case import_id::arg_read: {
        std::uint32_t i = u32(p[0]);
        if (i >= args_.size())
          return trap(EXO_ERR_INVALID_ARGUMENT, "exo.arg_read: argument " + std::to_string(i) + " does not exist (the "
                                                "message has " + std::to_string(args_.size()) + ")");
        if (args_[i].kind != exo::kind::bytes && args_[i].kind != exo::kind::string)
          return trap(EXO_ERR_TYPE_MISMATCH, "exo.arg_read: argument " + std::to_string(i) + " is " +
                                                 kind_name(args_[i].kind) + ", not bytes or a string");
        exo::byte_view src = args_[i].data;
        std::uint64_t n = std::min<std::uint64_t>(src.size(), u32(p[2]));
        auto* dst = at(mem, u32(p[1]), n, id);
        if (!dst) return false;
        if (n) std::memcpy(dst, src.data(), n);
        r[0] = src.size();
        return true;
      }
      case import_id::push_i64: pushed_.emplace_back(static_cast<std::int64_t>(p[0])); return true;
      case import_id::push_f64: {
        double d;
        std::memcpy(&d, &p[0], 8);
        pushed_.emplace_back(d);
        return true;
      }
      case import_id::push_bytes:
      case import_id::push_string: {
        auto* src = at(mem, u32(p[0]), u32(p[1]), id);
        if (!src) return false;
        if (id == import_id::push_bytes) {
          pushed_.emplace_back(exo::bytes(src, src + u32(p[1])));
        } else {
          pushed_.emplace_back(std::string(reinterpret_cast<const char*>(src), u32(p[1])));
        }
        return true;
      }
      case import_id::push_cap: pushed_.emplace_back(exo::cap_handle{u32(p[0])}); return true;
      case import_id::send: return send_pushed(id, u32(p[0]), p[1], EXO_NO_CAP);
      case import_id::call: return send_pushed(id, u32(p[0]), p[1], u32(p[2]));
      case import_id::set_result: {
        if (pushed_.size() != 1)
          return trap(EXO_ERR_INVALID_ARGUMENT, "exo.set_result: push exactly one value first (pushed " +
                                                    std::to_string(pushed_.size()) + ")");
        if (result) return trap(EXO_ERR_INVALID_ARGUMENT, "exo.set_result: the result was already set");
        result = std::move(pushed_.front());
        pushed_.clear();
        return true;
      }
      case import_id::create: {
        auto* src = at(mem, u32(p[0]), 32, id);
        if (!src) return false;
        exo_cap out = EXO_NO_CAP;
        if (!check(api_->create(call_, exo_span{src, 32}, &out))) return false;
        r[0] = out;
        return true;
      }
      case import_id::storage_get: {
        auto* key = at(mem, u32(p[0]), u32(p[1]), id);
        if (!key) return false;
        exo_span v{};
        exo_status st = api_->storage_get(call_, exo_span{key, u32(p[1])}, &v);
        if (st == EXO_ABSENT) {
          r[0] = 0xffffffffu;  // -1
          return true;
        }
        if (!check(st)) return false;
        std::uint64_t n = std::min<std::uint64_t>(v.size, u32(p[3]));
        auto* dst = at(mem, u32(p[2]), n, id);
        if (!dst) return false;
        if (n) std::memcpy(dst, v.data, n);
        r[0] = v.size;
        return true;
      }
      case import_id::storage_put: {
        auto* key = at(mem, u32(p[0]), u32(p[1]), id);
        if (!key) return false;
        auto* val = at(mem, u32(p[2]), u32(p[3]), id);
        if (!val) return false;
        return check(api_->storage_put(call_, exo_span{key, u32(p[1])}, exo_span{val, u32(p[3])}));
      }
      case import_id::storage_delete: {
        auto* key = at(mem, u32(p[0]), u32(p[1]), id);
        if (!key) return false;
        std::int32_t existed = 0;
        if (!check(api_->storage_delete(call_, exo_span{key, u32(p[1])}, &existed))) return false;
        r[0] = static_cast<std::uint32_t>(existed);
        return true;
      }
      case import_id::self_cap: {
        auto* fn = at(mem, u32(p[0]), u32(p[1]), id);
        if (!fn) return false;
        exo_cap out = EXO_NO_CAP;
        if (!check(api_->self_cap(call_, exo_span{fn, u32(p[1])}, u32(p[2]), &out))) return false;
        r[0] = out;
        return true;
      }
      case import_id::derive: {
        auto* fn = at(mem, u32(p[2]), u32(p[3]), id);
        if (!fn) return false;
        exo_cap out = EXO_NO_CAP;
        if (!check(api_->derive(call_, u32(p[0]), u32(p[1]), exo_span{fn, u32(p[3])}, &out))) return false;
        r[0] = out;
        return true;
      }
      case import_id::drop: return check(api_->drop(call_, u32(p[0])));
      case import_id::log: {
        auto* txt = at(mem, u32(p[0]), u32(p[1]), id);
        if (!txt) return false;
        api_->log(call_, exo_span{txt, u32(p[1])});
        return true;
      }
      case import_id::log_at: {
        auto* txt = at(mem, u32(p[1]), u32(p[2]), id);
        if (!txt) return false;
        if (api_->struct_size < offsetof(exo_host_api, log_at) + sizeof api_->log_at || !api_->log_at) {
          api_->log(call_, exo_span{txt, u32(p[2])});  // a host of ABI 1.0: every line at info
          return true;
        }
        return check(api_->log_at(call_, u32(p[0]), exo_span{txt, u32(p[2])}));
      }
      case import_id::caller_id:
      case import_id::entropy: {
        auto* dst = at(mem, u32(p[0]), 32, id);
        if (!dst) return false;
        if (api_->struct_size < offsetof(exo_host_api, entropy) + sizeof api_->entropy)
          return trap(EXO_ERR_INCOMPATIBLE, std::string("exo.") + name(id) + ": the host is older than ABI 1.3");
        if (id == import_id::entropy) api_->entropy(call_, dst);
        else r[0] = static_cast<std::uint32_t>(api_->caller_id(call_, dst));
        return true;
      }
      case import_id::count: break;
    }
    return trap(EXO_ERR_INTERNAL, "unknown import");
  }

  const exo_host_api* api_;
  exo_call* call_;
  const std::vector<arg_view>& args_;
  exo::value::list pushed_;
};

// Maps the message's arguments onto the function's parameters (raw bits).
bool map_args(const exo_wasm::function_info& fi, const std::vector<arg_view>& args, std::uint64_t* out,
              std::string& why) {
  if (args.size() != fi.params.size()) {
    why = "'" + fi.name + "' takes " + std::to_string(fi.params.size()) + " argument" +
          (fi.params.size() == 1 ? "" : "s") + ", got " + std::to_string(args.size());
    return false;
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const arg_view& a = args[i];
    auto where = [&] { return "'" + fi.name + "' argument " + std::to_string(i + 1) + ": "; };
    switch (fi.params[i]) {
      case val_type::i32:
        switch (a.kind) {
          case exo::kind::i64: {
            auto n = static_cast<std::int64_t>(a.bits);
            if (n < std::numeric_limits<std::int32_t>::min() || n > std::numeric_limits<std::uint32_t>::max()) {
              why = where() + "the integer " + std::to_string(n) + " does not fit an i32";
              return false;
            }
            out[i] = static_cast<std::uint32_t>(n);
            break;
          }
          case exo::kind::boolean:
          case exo::kind::cap: out[i] = a.bits; break;
          case exo::kind::bytes:
          case exo::kind::string: out[i] = static_cast<std::uint32_t>(a.data.size()); break;  // read with exo.arg_read
          default:
            why = where() + "an i32 parameter takes an integer, a bool, a capability, bytes or a string, not " +
                  kind_name(a.kind);
            return false;
        }
        break;
      case val_type::i64:
        if (a.kind != exo::kind::i64) {
          why = where() + "an i64 parameter takes an integer, not " + kind_name(a.kind);
          return false;
        }
        out[i] = a.bits;
        break;
      case val_type::f32:
      case val_type::f64:
        if (a.kind != exo::kind::f64) {
          why = where() + "a float parameter takes a float, not " + kind_name(a.kind);
          return false;
        }
        if (fi.params[i] == val_type::f64) {
          out[i] = a.bits;
        } else {
          double d;
          std::memcpy(&d, &a.bits, 8);
          float f = static_cast<float>(d);
          std::uint32_t b;
          std::memcpy(&b, &f, 4);
          out[i] = b;
        }
        break;
      case val_type::other:
        why = where() + "the parameter's type (v128 or a reference) cannot be passed from exo";
        return false;
    }
  }
  return true;
}

exo::value result_value(val_type t, std::uint64_t bits) {
  switch (t) {
    case val_type::i32: return exo::value(static_cast<std::int64_t>(static_cast<std::int32_t>(bits)));
    case val_type::i64: return exo::value(static_cast<std::int64_t>(bits));
    case val_type::f32: {
      float f;
      auto b = static_cast<std::uint32_t>(bits);
      std::memcpy(&f, &b, 4);
      return exo::value(static_cast<double>(f));
    }
    case val_type::f64: {
      double d;
      std::memcpy(&d, &bits, 8);
      return exo::value(d);
    }
    case val_type::other: break;
  }
  return exo::value{};
}

// ------------------------------------------------------------------ the ABI entry points

exo_status wasm_compile(exo_span code, const exo_limits* limits, exo_code** out, exo_error* err) {
  return guarded(err, "wasm compile", [&] {
    exo_wasm::limits l;
    if (limits && limits->struct_size >= offsetof(exo_limits, max_table_size) + sizeof(std::uint32_t)) {
      l.max_memory_pages = limits->max_memory_pages;
      l.max_table_size = limits->max_table_size;
    }
    std::string why;
    auto m = exo_wasm::compile(code.data, code.size, l, why);
    if (!m) return failed(err, EXO_ERR_MALFORMED, why);
    *out = new exo_code{std::move(m)};
    return EXO_OK;
  });
}

void wasm_free_code(exo_code* c) { delete c; }

std::uint32_t wasm_export_count(const exo_code* c) {
  return static_cast<std::uint32_t>(exo_wasm::exports(*c->module).size());
}

exo_span wasm_export_name(const exo_code* c, std::uint32_t i) {
  auto& e = exo_wasm::exports(*c->module);
  if (i >= e.size()) return exo_span{nullptr, 0};
  return exo_span{reinterpret_cast<const std::uint8_t*>(e[i].name.data()), e[i].name.size()};
}

exo_status wasm_instantiate(exo_code* c, exo_instance** out, exo_error* err) {
  return guarded(err, "wasm instantiate", [&] {
    std::string why;
    auto inst = exo_wasm::instantiate(*c->module, why);
    if (!inst) return failed(err, EXO_ERR_TRAP, why);
    *out = new exo_instance{c, std::move(inst), {}, {}};
    return EXO_OK;
  });
}

void wasm_destroy(exo_instance* i) { delete i; }

exo_status wasm_run(exo_instance* inst, std::uint32_t function, exo_span args, std::uint64_t budget,
                    const exo_host_api* host, exo_call* call, exo_error* err) {
  return guarded(err, "wasm run", [&]() -> exo_status {
    auto& fns = exo_wasm::exports(*inst->code->module);
    if (function >= fns.size()) {
      return failed(err, EXO_ERR_NO_SUCH_FUNCTION, "no exported function number " + std::to_string(function));
    }
    const auto& fi = fns[function];
    std::vector<arg_view>& views = inst->views;
    const exo::byte_view encoded(args.data, args.size);
    if (!read_args(encoded, views)) {
      // Not a flat list: decode it fully to say what is wrong.
      auto decoded = exo::decode(encoded);
      const exo::value::list* list = decoded ? decoded->if_list() : nullptr;
      if (!list) {
        return failed(err, EXO_ERR_MALFORMED, decoded ? "the arguments are not a list" : decoded.error().message);
      }
      std::string why = list->size() != fi.params.size()
                            ? "'" + fi.name + "' takes " + std::to_string(fi.params.size()) + " arguments, got " +
                                  std::to_string(list->size())
                            : "'" + fi.name + "': an argument is a list, a map or null, which no wasm parameter takes";
      set_error(err, EXO_ERR_TYPE_MISMATCH, why);
      return EXO_ERR_TYPE_MISMATCH;
    }
    const std::vector<arg_view>& list_views = views;
    std::uint64_t params[16] = {};
    std::vector<std::uint64_t> big;
    std::uint64_t* pp = params;
    if (fi.params.size() > 16) {
      big.resize(fi.params.size());
      pp = big.data();
    }
    std::string why;
    if (!map_args(fi, list_views, pp, why)) {
      return failed(err, EXO_ERR_TYPE_MISMATCH, why);
    }
    for (auto t : fi.results)
      if (t == val_type::other) {
        return failed(err, EXO_ERR_TYPE_MISMATCH, "'" + fi.name + "' returns a type (v128 or a reference) exo cannot take");
      }
    bridge b(host, call, list_views);
    std::uint64_t results[16] = {};
    if (fi.results.size() > 16) {
      return failed(err, EXO_ERR_TYPE_MISMATCH, "'" + fi.name + "' returns more than 16 values");
    }
    std::string message;
    switch (exo_wasm::run(*inst->inst, function, pp, results, budget, b, message)) {
      case exo_wasm::run_status::ok: break;
      case exo_wasm::run_status::trap: return failed(err, EXO_ERR_TRAP, message);
      case exo_wasm::run_status::out_of_ticks: return failed(err, EXO_ERR_OUT_OF_TICKS, message);
      case exo_wasm::run_status::host_error: return failed(err, b.status ? b.status : EXO_ERR_TRAP, message);
    }
    std::optional<exo::value> result;
    if (!b.result && !host->wants_result(call)) return EXO_OK;  // nobody receives it
    if (b.result) {
      if (!fi.results.empty()) {
        return failed(err, EXO_ERR_INVALID_ARGUMENT, "'" + fi.name + "' both returned values and called exo.set_result");
      }
      result = std::move(b.result);
    } else if (fi.results.size() == 1) {
      result = result_value(fi.results[0], results[0]);
    } else if (fi.results.size() > 1) {
      exo::value::list l;
      for (std::size_t i = 0; i < fi.results.size(); ++i) l.push_back(result_value(fi.results[i], results[i]));
      result = exo::value(std::move(l));
    }
    if (result) {
      exo::bytes& enc = inst->result;
      enc.clear();
      exo::encode(*result, enc);
      if (exo_status st = host->set_result(call, exo_span{enc.data(), enc.size()}); st != EXO_OK) {
        exo_span m = host->last_error(call);
        return failed(err, st, std::string_view(reinterpret_cast<const char*>(m.data), m.size));
      }
    }
    return EXO_OK;
  });
}

}  // namespace

/// The descriptor exo loads (plugin/abi.h).
extern "C" const exo_plugin exo_wasm_plugin = {
    EXO_PLUGIN_ABI_MAJOR, EXO_PLUGIN_ABI_MINOR, sizeof(exo_plugin), EXO_TYPE_WASM, "wasm", "0.1.0 (wabt 1.0.32)",
    &wasm_compile, &wasm_free_code, &wasm_export_count, &wasm_export_name,
    &wasm_instantiate, &wasm_destroy, &wasm_run,
    EXO_PLUGIN_ANY_THREAD};  // each instance has its own wabt store; compiled modules are read-only

BOOST_DLL_ALIAS(exo_wasm_plugin, exo_plugin_v1)
