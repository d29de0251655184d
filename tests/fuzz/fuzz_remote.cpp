// libFuzzer target over the bodies of messages from other nodes (kernel::take_remote), the
// part of a node that reads what another node wrote. Node b holds a counter it gave node a;
// node a's caller asked it to add, with a reply capability, and the body it sent is the
// template. The input decodes (exo's canonical encoding) to a value: a map's entries replace
// or add fields of the template (so most inputs are near-valid bodies), anything else is the
// body itself. Properties: nothing crashes, leaks or hangs; whatever b takes runs; b goes on:
// after every input, the honest body is taken and delivered, and the counter counts it. Built
// with clang by `bash tools/dev.sh fuzz` and run by the test command.
#include <exo/container/native.hpp>
#include <exo/core/encoding.hpp>
#include <exo/hypervisor.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <string>

namespace {

using namespace exo;

struct tally {
  std::int64_t total = 0;
  std::int64_t add(context&, std::int64_t n) {  // (wrapping: the input picks n)
    total = static_cast<std::int64_t>(static_cast<std::uint64_t>(total) + static_cast<std::uint64_t>(n));
    return total;
  }
  static constexpr std::string_view exo_name = "tally";
  static constexpr auto exo_exports = exports(fn<&tally::add>("add", 2));
};

struct caller {
  std::int64_t answers = 0;
  expected<void> ask(context& ctx, cap_handle target, std::int64_t n) {
    auto back = ctx.self_cap("answer", rights::call | rights::transfer);
    if (!back) return unexpected(back.error());
    return ctx.call_with(target, send_options{.budget = 1000, .reply_to = *back}, n);
  }
  void answer(context&, std::int64_t) { ++answers; }
  static constexpr std::string_view exo_name = "caller";
  static constexpr auto exo_exports = exports(fn<&caller::ask>("ask", 5), fn<&caller::answer>("answer", 1));
};

struct outbox final : output_observer {
  std::deque<value> bodies;
  void on_egress(std::uint32_t, std::string_view, message&, bool) override {}
  void on_host_failure(const failure&) override {}
  void on_remote(std::string_view, std::uint64_t, value&& body) override { bodies.push_back(std::move(body)); }
};

[[noreturn]] void broken(const char* what) {
  fprintf(stderr, "fuzz_remote: %s\n", what);
  std::abort();
}

struct world {
  hypervisor<> a{config{.name = "a", .node = "a"}}, b{config{.name = "b", .node = "b"}};
  outbox from_a, from_b;
  id counter{};
  value honest;
  world() {
    a.observe(&from_a);
    b.observe(&from_b);
    const cap_handle c = b.create(tally{});
    counter = *b.actor_id(c);
    const cap_handle asker = a.create(caller{});
    if (!b.grant(*b.function_cap(c, "add"), "a") || !a.add_route(counter, "b", {"add"})) broken("setup: routes");
    if (!a.call(*a.function_cap(asker, "ask"), *a.lookup(counter, "add", rights::call | rights::transfer), 1)) broken("setup: ask");
    a.run();
    if (from_a.bodies.size() != 1) broken("setup: a sent no body");
    honest = from_a.bodies.front();
    if (!b.add_route(*a.actor_id(asker), "a", {"ask", "answer"})) broken("setup: a's route");
  }
};

world& w() {
  static world* one = new world();  // (never destroyed: the fuzzer exits without unwinding)
  return *one;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* input, std::size_t size) {
  world& s = w();
  auto v = decode(byte_view(input, size), {.max_depth = 32, .max_size = 1 << 14});
  if (!v) return 0;
  value body;
  if (const value::map* edits = v->if_map(); edits && s.honest.if_map()) {
    std::map<std::string, value> fields;
    for (const auto& [k, f] : *s.honest.if_map()) fields[k] = f;
    for (const auto& [k, f] : *edits) fields[k] = f;
    value::map m;
    for (auto& [k, f] : fields) m.emplace_back(k, std::move(f));
    body = value::make_map(std::move(m));
  } else {
    body = std::move(*v);
  }
  (void)s.b.take_remote("a", body);  // refused or queued: either is fine
  s.b.run();
  // b goes on: the honest body is taken and counted.
  const std::int64_t before = s.b.state_of<tally>(s.counter)->total;
  if (!s.b.take_remote("a", s.honest)) broken("the honest body was refused after an input");
  s.b.run();
  if (static_cast<std::uint64_t>(s.b.state_of<tally>(s.counter)->total) != static_cast<std::uint64_t>(before) + 1)
    broken("the honest body was not counted");
  s.from_b.bodies.clear();  // (what b sent back: answers and failure reports)
  return 0;
}
