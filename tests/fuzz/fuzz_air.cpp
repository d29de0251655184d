// libFuzzer target over what AIR reads from outside (plugins/air/interpreter): the parser
// (any text gives a tree within the limits, or an error starting "air can't be parsed:"),
// and the data and call results decoders (anything gives data, or an error; data decoded
// encodes to bytes that decode to the same data). The input's first byte picks which. Built
// with clang by `bash tools/dev.sh fuzz` and run by the test command for a short time. Any
// crash, sanitizer report or hang is a bug.
#include "../../plugins/air/interpreter/data.hpp"
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

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* input, std::size_t input_size) {
  if (input_size == 0) return 0;
  const std::uint8_t mode = input[0] % 3;
  const std::uint8_t* data = input + 1;
  const std::size_t size = input_size - 1;
  if (mode == 1) {
    auto d = exo::air::decode_data(exo::byte_view(data, size), {.max_size = 1 << 16, .max_depth = 32, .max_states = 2000});
    if (d) {
      auto again = exo::air::decode_data(exo::air::encode_data(*d));
      if (!again || !(*again == *d)) std::abort();
    } else if (!d.error().message.starts_with("data can't be deserialized") && d.error().code != exo::errc::limit_exceeded) {
      std::abort();
    }
    return 0;
  }
  if (mode == 2) {
    auto r = exo::air::decode_call_results(exo::byte_view(data, size), {.max_size = 1 << 16, .max_depth = 32});
    if (r) {
      auto again = exo::air::decode_call_results(exo::air::encode_call_results(*r));
      if (!again || !(*again == *r)) std::abort();
    }
    return 0;
  }
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
