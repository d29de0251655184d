// The process runner's child for the AIR tests: serves the AIR interpreter on fd 3. A request
// whose bytes hold "exo-test-crash" (in a script's string) makes it abort, as a crashing
// interpreter would (tests/air/test_container.cpp).
#include "interpreter/wire.hpp"

#include <exo/runner/process.hpp>

#include <algorithm>
#include <cstdlib>
#include <string_view>

int main() {
  const exo::engine air = exo::air::air_engine();
  return exo::serve_runner([&](exo::byte_view in, const exo::run_log& log) {
    constexpr std::string_view marker = "exo-test-crash";
    if (std::search(in.begin(), in.end(), marker.begin(), marker.end()) != in.end()) std::abort();
    return air(in, log);
  });
}
