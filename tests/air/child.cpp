// The process runner's child for the AIR tests: serves the AIR interpreter on fd 3.
#include "interpreter/wire.hpp"

#include <exo/runner/process.hpp>

int main() { return exo::serve_runner(exo::air::air_engine()); }
