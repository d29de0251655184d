#pragma once
/// \file
/// The AIR interpreter as a runner engine (exo/runner/runner.hpp): a run's arguments and its
/// result as bytes, so the same run goes through the inline, thread and process runners and
/// comes back byte for byte the same.
///
/// Both are length-checked binary frames (little-endian): a 4-byte magic ("AIRQ" for a
/// request, "AIRR" for a result), then fixed fields and u32-length-prefixed byte strings.
/// Data crosses as bytes, not JSON text, so malformed data reaches the interpreter (and its
/// DataDeFailed) exactly as the caller gave it.

#include "interpreter.hpp"

#include <exo/runner/runner.hpp>

namespace exo::air {

struct run_request {
  std::string air;
  bytes prev_data, data;
  run_params params;
  bytes call_results;
  std::uint64_t max_ticks = run_limits{}.max_ticks;
  friend bool operator==(const run_request&, const run_request&) = default;
};

bytes encode_request(const run_request& r);
/// errc::malformed naming what is wrong.
expected<run_request> decode_request(byte_view b);
bytes encode_result(const interpreter_result& r);
expected<interpreter_result> decode_result(byte_view b);

/// Decodes a request, runs it, encodes the result; out of ticks is the engine's error. Debug
/// lines name the run's size and outcome.
engine air_engine(const run_limits& limits = {});

}  // namespace exo::air
