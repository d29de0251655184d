// Bad code never hurts the host: every truncated prefix of a valid module, 10,000 random
// mutations of one, and random byte strings are each refused or run to an error.

#include "support.hpp"

#include <algorithm>
#include <random>
#include <vector>

using namespace wasm_test;

namespace {

struct tally {
  std::size_t refused = 0, compiled = 0, ran = 0;
};

// Where a wasm module's sections end: after the 8-byte header, each section is an id byte and
// a LEB128 size. A prefix of a valid module can itself be valid only where it ends at one.
std::vector<std::size_t> section_ends(const exo::bytes& m) {
  std::vector<std::size_t> ends{8};
  for (std::size_t at = 8; at < m.size();) {
    std::size_t size = 0, shift = 0, i = at + 1;
    for (; i < m.size(); ++i, shift += 7) {
      size |= std::size_t{m[i] & 0x7fu} << shift;
      if (!(m[i] & 0x80)) break;
    }
    at = i + 1 + size;
    ends.push_back(at);
  }
  return ends;
}

// After everything: the plugin and the registry still work, and give the right answer.
void still_serves(registry& r) {
  exo::config c;
  c.containers = &r.reg;
  exo::hypervisor<exo::ordered_scheduler, exo::memory_store> hv(c);
  auto a = hv.create_code("wasm", example("counter"));
  BOOST_REQUIRE(a);
  BOOST_TEST(as_int(call(hv, *a, "add", args(std::int64_t{5}))) == 5);
  BOOST_TEST(as_int(call(hv, *a, "add", args(std::int64_t{2}))) == 7);
}

// Compiles `code`; if it compiles, instantiates it and calls every export with zero-ish
// arguments and a small budget. Any outcome is fine but a crash (the sanitizers watch).
void exercise(const exo::container_registry& reg, const exo::bytes& code, tally& t) {
  auto compiled = reg.compile(EXO_TYPE_WASM, code);
  if (!compiled) {
    BOOST_TEST(!compiled.error().message.empty());
    ++t.refused;
    return;
  }
  ++t.compiled;
  exo::config c;
  c.containers = const_cast<exo::container_registry*>(&reg);
  exo::hypervisor<exo::ordered_scheduler, exo::memory_store> hv(c);
  auto a = hv.create_code("wasm", code);
  if (!a) return;
  for (auto& f : (*compiled)->functions) {
    auto fn = hv.function_cap(*a, f.name);
    if (!fn) continue;
    // Arguments of each kind; most will not fit the signature, which is an error too.
    (void)hv.send(*fn, args(std::int64_t{1}), exo::send_options{.budget = 5'000});
    (void)hv.send(*fn, {}, exo::send_options{.budget = 5'000});
    (void)hv.send(*fn, args(std::int64_t{0}, std::int64_t{0}), exo::send_options{.budget = 5'000});
    hv.run();
    ++t.ran;
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bad_modules)

BOOST_AUTO_TEST_CASE(every_truncated_prefix_is_refused) {
  registry r;
  for (auto name : {"counter", "ledger", "chain"}) {
    const exo::bytes full = example(name);
    const auto ends = section_ends(full);
    BOOST_REQUIRE(ends.back() == full.size());
    tally t;
    for (std::size_t n = 0; n < full.size(); ++n) {
      const std::size_t compiled_before = t.compiled;
      exercise(r.reg, exo::bytes(full.begin(), full.begin() + n), t);
      // A module cut short cannot be valid, except where it ends between sections.
      if (t.compiled > compiled_before)
        BOOST_TEST((std::find(ends.begin(), ends.end(), n) != ends.end()), name << ": a prefix of " << n << " bytes compiled");
    }
    BOOST_TEST(t.refused > full.size() * 9 / 10, name << ": " << t.refused << " of " << full.size());
    BOOST_REQUIRE(r.reg.compile(EXO_TYPE_WASM, full));
  }
  still_serves(r);
}

BOOST_AUTO_TEST_CASE(ten_thousand_mutations_are_refused_or_run_to_an_error) {
  registry r;
  const exo::bytes base = test_module("scenarios");
  std::mt19937_64 rng(20261121);
  tally t;
  for (int i = 0; i < 10'000; ++i) {
    exo::bytes m = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      std::size_t at = rng() % m.size();
      switch (rng() % 4) {
        case 0: m[at] = static_cast<std::uint8_t>(rng()); break;            // overwrite a byte
        case 1: m[at] ^= static_cast<std::uint8_t>(1u << (rng() % 8)); break;  // flip a bit
        case 2: m.erase(m.begin() + static_cast<std::ptrdiff_t>(at)); break;   // delete a byte
        default: m.insert(m.begin() + static_cast<std::ptrdiff_t>(at), static_cast<std::uint8_t>(rng())); break;
      }
    }
    exercise(r.reg, m, t);
  }
  BOOST_TEST_MESSAGE("mutations: " << t.refused << " refused, " << t.compiled << " compiled, " << t.ran
                                   << " functions run");
  // Both ways are taken: some mutations are refused, and some compile and run (to an error or
  // not), so the run path is exercised too.
  BOOST_TEST(t.refused > 0u);
  BOOST_TEST(t.compiled > 0u);
  BOOST_TEST(t.ran > 0u);
  still_serves(r);
}

BOOST_AUTO_TEST_CASE(random_byte_strings_are_refused) {
  registry r;
  std::mt19937_64 rng(7);
  tally t;
  for (int i = 0; i < 2'000; ++i) {
    exo::bytes b(rng() % 256);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    if (i % 2 && b.size() >= 8) {  // half of them with a valid header, to get past the first check
      const std::uint8_t header[] = {0, 'a', 's', 'm', 1, 0, 0, 0};
      std::copy(std::begin(header), std::end(header), b.begin());
    }
    exercise(r.reg, b, t);
  }
  BOOST_TEST(t.refused >= 1'990u);
  still_serves(r);
}

BOOST_AUTO_TEST_SUITE_END()
