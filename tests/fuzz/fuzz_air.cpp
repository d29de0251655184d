// libFuzzer target over what AIR reads from outside (plugins/air/interpreter): the parser
// (any text gives a tree within the limits, or an error starting "air can't be parsed:"),
// and the data and call results decoders (anything gives data, or an error; data decoded
// encodes to bytes that decode to the same data), and running scripts on previous and
// current data (any pair of byte strings gives a result: prev data back unchanged for a
// preparation or uncatchable error, data that decodes otherwise; or out of ticks). The
// input's first byte picks which. Built
// with clang by `bash tools/dev.sh fuzz` and run by the test command for a short time. Any
// crash, sanitizer report or hang is a bug.
#include "../../plugins/air/interpreter/data.hpp"
#include "../../plugins/air/interpreter/interpreter.hpp"
#include "../../plugins/air/interpreter/json_text.hpp"
#include "../../plugins/air/interpreter/parser.hpp"

#include <algorithm>
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

// Scripts the merge mode runs: every instruction that meets the trace, on two peers.
const char* const scripts[] = {
    R"((seq (par (call "A" ("s" "f") [] x) (call "B" ("s" "f") [] y)) (call "A" ("s" "f") [x y] z)))",
    R"((seq (seq (call "A" ("" "") [] $s) (call "B" ("" "") [] $s)) (fold $s v (seq (call "A" ("" "") [v] $o) (next v)))))",
    R"((seq (call "A" ("" "") [] xs) (fold xs x (par (call x ("" "") [x] $r) (next x)))))",
    R"((xor (seq (ap 1 $s) (call "B" ("" "") [$s] r)) (call "A" ("" "") [%last_error%] e)))",
    R"((new $t (seq (par (call "A" ("" "") [] $t) (call "B" ("" "") [] $t)) (fold $t i (seq (ap i $u) (next i))))))",
};

void run_merge(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return;
  const char* air = scripts[data[0] % (sizeof scripts / sizeof scripts[0])];
  const bool on_a = data[1] & 1;
  std::size_t cut = 2;
  while (cut < size && data[cut] != 0) ++cut;
  const exo::byte_view prev(data + 2, cut - 2);
  const exo::byte_view current = cut < size ? exo::byte_view(data + cut + 1, size - cut - 1) : exo::byte_view();
  exo::air::run_limits limits;
  limits.parse = {.max_size = 1 << 16, .max_depth = 32, .max_instructions = 2000};
  limits.data = {.max_size = 1 << 16, .max_depth = 32, .max_states = 2000};
  limits.max_ticks = 200'000;
  // The current data read against the previous one (as a run reads it) is the data read alone.
  {
    exo::air::value_pool pool;
    auto p = exo::air::decode_data(prev, limits.data, &pool);
    if (p) {
      auto against = exo::air::decode_data(current, limits.data, &pool, &*p);
      auto alone = exo::air::decode_data(current, limits.data);
      if (against.has_value() != alone.has_value()) std::abort();
      if (against ? !(*against == *alone) : against.error().message != alone.error().message) std::abort();
    }
  }
  auto r = exo::air::run(air, prev, current, {"A", on_a ? "A" : "B"}, {}, limits);
  if (!r) {
    if (r.error().code != exo::errc::out_of_ticks) std::abort();
    return;
  }
  const bool prev_back = (r->ret_code >= 1 && r->ret_code <= 3) || (r->ret_code >= 20000 && r->ret_code < 30000);
  if (prev_back) {
    if (!std::equal(r->data.begin(), r->data.end(), prev.begin(), prev.end())) std::abort();
  } else if (!exo::air::decode_data(r->data)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* input, std::size_t input_size) {
  if (input_size == 0) return 0;
  const std::uint8_t mode = input[0] % 4;
  if (mode == 3) {
    run_merge(input + 1, input_size - 1);
    return 0;
  }
  const std::uint8_t* data = input + 1;
  const std::size_t size = input_size - 1;
  if (mode == 1) {
    // exo's JSON reader against nlohmann's: the same texts accepted, the same values built.
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto why = exo::air::json_text::validate(text, 64);
    const exo::json theirs = exo::json::parse(text, nullptr, false);
    if (!why) {
      if (theirs.is_discarded()) std::abort();
      exo::air::json_text::cursor c(text);
      const auto h = exo::json::error_handler_t::replace;
      if (c.value().dump(-1, ' ', false, h) != theirs.dump(-1, ' ', false, h)) std::abort();
      // Text said to be canonical is the dump of its value, as the encoder writes it back.
      if (exo::air::json_text::canonical(text) && text != theirs.dump(-1, ' ', false, h)) std::abort();
      if (const char* end = exo::air::json_text::plain_value(text.data(), text.data() + text.size());
          end && !exo::air::json_text::canonical(std::string_view(text.data(), static_cast<std::size_t>(end - text.data()))))
        std::abort();
    } else if (why->starts_with("not JSON") && !theirs.is_discarded() && text.find('\0') == std::string_view::npos) {
      // (nlohmann takes a NUL byte for the end of the text and accepts "1\0junk"; exo, as
      // serde_json and AquaVM, refuses what follows the value.)
      std::abort();
    }
    auto d = exo::air::decode_data(exo::byte_view(data, size), {.max_size = 1 << 16, .max_depth = 32, .max_states = 2000});
    // The one pass and the careful reading give the same data, or the same error.
    auto careful = exo::air::decode_data(exo::byte_view(data, size),
                                         {.max_size = 1 << 16, .max_depth = 32, .max_states = 2000, .one_pass = false});
    if (d.has_value() != careful.has_value()) std::abort();
    if (d ? !(*d == *careful) : d.error().message != careful.error().message) std::abort();
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
