// exo_test_forge_log IN OUT: what an attacker holding a node's exported log can do without its
// key: re-chain every entry and re-sign the head with a key of their own (tests/support/forge.hpp).
// Prints the attacker's public key. Used by e2e.sh to check that `exo verify --node-key` catches it.

#include "../support/forge.hpp"

#include <fmt/format.h>

int main(int argc, char** argv) {
  if (argc != 3) return fmt::print(stderr, "usage: exo_test_forge_log IN.exolog OUT.exolog\n"), 2;
  auto log = exo::import_log(std::string(argv[1]));
  if (!log) return fmt::print(stderr, "forge: {}\n", to_string(log.error())), 1;
  auto mallory = exo::node_key::generate();
  if (!mallory) return fmt::print(stderr, "forge: {}\n", to_string(mallory.error())), 1;
  if (auto w = exo::export_log(test::resign(*log, *mallory), std::string(argv[2])); !w)
    return fmt::print(stderr, "forge: {}\n", to_string(w.error())), 1;
  fmt::print("{}\n", exo::to_hex(mallory->public_key().view()));
  return 0;
}
