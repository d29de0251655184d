#pragma once
// The wasm plugin's engine: wabt's interpreter behind a small interface. This header is
// shared by engine.cpp (C++17, the only file that includes wabt) and plugin.cpp (C++20, exo's
// side: values, the host API), so it uses nothing newer than C++17.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace exo_wasm {

/// A wasm value type as exo maps it; `other` (v128, references) cannot cross to exo.
enum class val_type : std::uint8_t { i32, i64, f32, f64, other };

/// An exported function: its name and signature.
struct function_info {
  std::string name;
  std::vector<val_type> params;
  std::vector<val_type> results;
};

struct limits {
  std::uint32_t max_memory_pages = 256;
  std::uint32_t max_table_size = 10000;
};

/// The host functions a module may import from the "exo" module (the contract for wasm
/// code; README "The wasm container"). Pointers and lengths are i32 into memory 0.
enum class import_id : std::uint8_t {
  charge,          // (i64 ticks)
  remaining,       // () -> i64
  now,             // () -> i64
  self_id,         // (i32 ptr): 32 bytes
  sender_id,       // (i32 ptr): 32 bytes
  code_hash,       // (i32 ptr): this actor's code hash, 32 bytes
  arg_count,       // () -> i32
  arg_read,        // (i32 index, i32 ptr, i32 len) -> i32: copies a bytes/string argument
  push_i64,        // (i64)
  push_f64,        // (f64)
  push_bytes,      // (i32 ptr, i32 len)
  push_string,     // (i32 ptr, i32 len)
  push_cap,        // (i32 cap)
  send,            // (i32 cap, i64 budget): sends the pushed arguments with `budget` ticks
  call,            // (i32 cap, i64 budget, i32 reply_cap)
  set_result,      // (): the one pushed value is the function's result
  create,          // (i32 code_hash_ptr) -> i32 cap
  storage_get,     // (i32 key, i32 key_len, i32 dst, i32 cap) -> i32 size, or -1 if absent
  storage_put,     // (i32 key, i32 key_len, i32 val, i32 val_len)
  storage_delete,  // (i32 key, i32 key_len) -> i32 existed
  self_cap,        // (i32 name, i32 name_len, i32 rights) -> i32 cap
  derive,          // (i32 cap, i32 rights, i32 name, i32 name_len) -> i32 cap
  drop,            // (i32 cap)
  log,             // (i32 ptr, i32 len): a line at level info
  log_at,          // (i32 level, i32 ptr, i32 len): a line at a level (0 trace .. 4 error)
  caller_id,       // (i32 ptr) -> i32: 1 and the logged input's caller key (32 bytes), or 0
  entropy,         // (i32 ptr): this message's 32 bytes of deterministic entropy
  count
};

struct import_signature {
  const char* name;
  std::vector<val_type> params;
  std::vector<val_type> results;
};
/// The signature of every import, indexed by import_id.
const std::vector<import_signature>& imports();

/// Linear memory 0 of the running instance (data is null if the module has none).
struct memory_view {
  std::uint8_t* data = nullptr;
  std::uint64_t size = 0;
};

/// What a running function asks of exo (implemented by plugin.cpp over exo_host_api).
class import_host {
 public:
  virtual ~import_host() = default;
  /// Spends ticks; false (with error()) when the budget cannot cover them.
  virtual bool charge(std::uint64_t ticks) = 0;
  virtual std::uint64_t remaining() = 0;
  /// Runs an import; false is a trap (error() says why). Values are raw bits (i32 in the
  /// low half).
  virtual bool call(import_id id, const std::uint64_t* params, std::uint64_t* results, memory_view memory) = 0;
  /// Why the last failing call failed, and its exo status (EXO_ERR_*).
  std::string error;
  std::int32_t status = 0;
};

class module_code;
class instance;

/// Decodes, validates and checks a module against exo's rules (its imports, memory and
/// table limits). On failure returns null and sets `error`.
std::unique_ptr<module_code> compile(const std::uint8_t* data, std::size_t size, const limits& l, std::string& error);
void destroy(module_code*) noexcept;
const std::vector<function_info>& exports(const module_code& m);

/// A new instance: memory and tables initialized from the module's segments. (Modules with
/// a start function are refused by compile: code runs only in metered messages.)
std::unique_ptr<instance> instantiate(const module_code& m, std::string& error);
void destroy(instance*) noexcept;

enum class run_status { ok, trap, out_of_ticks, host_error };

/// Calls exported function `function` with `params` (raw bits, already checked against the
/// signature), metering every executed instruction through `host` (charged before each
/// import and at the end) and stopping at `budget`. After the call, success or not, the
/// instance is reset to its state right after instantiation: memory, globals and tables
/// belong to one message. On failure `message` says what happened.
run_status run(instance& inst, std::uint32_t function, const std::uint64_t* params, std::uint64_t* results,
               std::uint64_t budget, import_host& host, std::string& message);

}  // namespace exo_wasm

namespace std {
template <>
struct default_delete<exo_wasm::module_code> {
  void operator()(exo_wasm::module_code* p) const noexcept { exo_wasm::destroy(p); }
};
template <>
struct default_delete<exo_wasm::instance> {
  void operator()(exo_wasm::instance* p) const noexcept { exo_wasm::destroy(p); }
};
}  // namespace std
