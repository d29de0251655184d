// libFuzzer target over wasm module loading: decoding, validation, exo's checks, then
// instantiating what passes and calling every export with a small budget, metered as in exo.
// Built with clang by `bash tools/dev.sh fuzz` (against a wabt built with coverage), run by
// the test command for a short time. Any crash, sanitizer report or hang is a bug.
#include "../../plugins/wasm/engine.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

// The host side of the imports: every import succeeds and returns zeros; ticks come from a
// fixed budget, as a message's would.
struct fuzz_host final : exo_wasm::import_host {
  std::uint64_t left = 0;
  bool charge(std::uint64_t ticks) override {
    if (ticks > left) {
      error = "out of ticks";
      status = 3;
      return false;
    }
    left -= ticks;
    return true;
  }
  std::uint64_t remaining() override { return left; }
  bool call(exo_wasm::import_id, const std::uint64_t*, std::uint64_t* results, exo_wasm::memory_view) override {
    results[0] = 0;
    return true;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  exo_wasm::limits limits;
  limits.max_memory_pages = 16;
  limits.max_table_size = 1000;
  std::string error;
  auto code = exo_wasm::compile(data, size, limits, error);
  if (!code) {
    if (error.empty()) __builtin_trap();  // a refusal must say why
    return 0;
  }
  auto inst = exo_wasm::instantiate(*code, error);
  if (!inst) return 0;
  const auto& exports = exo_wasm::exports(*code);
  for (std::uint32_t f = 0; f < exports.size() && f < 8; ++f) {
    bool passable = exports[f].results.size() <= 16 && exports[f].params.size() <= 16;
    for (auto t : exports[f].params) passable = passable && t != exo_wasm::val_type::other;
    for (auto t : exports[f].results) passable = passable && t != exo_wasm::val_type::other;
    if (!passable) continue;
    std::uint64_t params[16] = {}, results[16] = {};
    fuzz_host host;
    host.left = 20'000;
    std::string message;
    (void)exo_wasm::run(*inst, f, params, results, host.left, host, message);
  }
  return 0;
}
