#pragma once
// `exo air run` and `exo air session` (tools/exo/air_cmd.cpp), and the hidden mode in which
// exo serves the AIR interpreter as a process runner's child.

#include <string>
#include <vector>

namespace exo_cli {

struct air_run_args {
  std::string air, init_peer, current_peer, prev, data, call_results, runner = "inline";
  std::uint64_t ticks = 100'000'000;
};
/// Prints the InterpreterResult as JSON {ret_code, error_message, data, next_peer_pks,
/// call_requests}; exit 0 when the run gave a result (whatever its ret_code), 3 for input
/// that cannot be read, 2 for usage, 5 when the runner failed (out of ticks, a dead child).
int air_run(const air_run_args& a);

struct air_session_args {
  std::string air, peers, init_peer, runner = "inline";
  std::vector<std::string> services;  ///< [PEER=]NAME[:ARG]
  bool as_json = false;
};
int air_session(const air_session_args& a);

/// `exo --runner-child air`: serve the interpreter on fd 3.
int air_runner_child();

}  // namespace exo_cli
