// libFuzzer target over the AIR parser (plugins/air/interpreter/parser.cpp): any text gives
// a tree or an error starting "air can't be parsed:", within the limits, and a tree's values
// print. Built with clang by `bash tools/dev.sh fuzz` and run by the test command for a short
// time. Any crash, sanitizer report or hang is a bug.
#include "../../plugins/air/interpreter/parser.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

void walk(const exo::air::instruction& in, std::size_t depth) {
  if (depth > 40) std::abort();  // the limit below, plus slack: deeper means the limit failed
  for (const auto& v : in.args) (void)exo::air::to_string(v);
  (void)exo::air::to_string(in.peer);
  if (in.a) walk(*in.a, depth + 1);
  if (in.b) walk(*in.b, depth + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto s = exo::air::parse(text, {.max_size = 1 << 16, .max_depth = 32, .max_instructions = 2000});
  if (s) {
    if (!s->root || s->depth > 32 || s->instructions > 2000) std::abort();
    walk(*s->root, 1);
  } else if (!s.error().message.starts_with("air can't be parsed:")) {
    std::abort();
  }
  return 0;
}
