// A runner child for the tests: serves tests/runner/engines.hpp's engine on fd 3.
#include "engines.hpp"

#include <exo/runner/process.hpp>

int main() { return exo::serve_runner(runner_test::test_engine()); }
