#pragma once
/// \file
/// exo's AIR interpreter: AquaVM v0.20's `invoke`, as a pure function.
///
///     run(air, prev_data, data, {init_peer_id, current_peer_id}, call_results)
///       -> {ret_code, error_message, data, next_peer_pks, call_requests}
///
/// with data in v0.20's JSON format (data.hpp), so that data made by AquaVM 0.20 and by exo
/// merge in either. What happens, in short (../shared/notes/aquavm-v0.20.md, section 4):
///
/// - The script runs against the merge of `prev_data` (what this peer had) and `data` (what
///   arrived); trace.hpp merges them state by state as instructions meet them.
/// - A call on another peer records `sent_by` and adds that peer to `next_peer_pks` (each
///   once, in the order first met). A call on this peer becomes a call request, numbered
///   from the data's `lcid`, with its arguments and their tetraplets; the host answers it in
///   `call_results` on the next run (prev_data = this run's data, data empty).
/// - Errors: preparation (1 AIRParseError, 2 DataDeFailed, 3 CallResultsDeFailed) and
///   uncatchable ones (20000-20005) give back `prev_data` unchanged, with no peers and no
///   requests; a catchable error (10000-10009) no xor caught gives its code and the trace
///   so far; call results left unused give 30000 with the data.
///
/// The interpreter never recurses on the machine stack while running: instructions are
/// frames on a heap stack, so `next` over a million elements or a script nested to the
/// parser's limit runs in constant machine stack. Scripts and data are bounded by size and
/// depth limits (parse_limits, data_limits), and the run by ticks: each instruction executed,
/// each state merged and each byte of input costs one; a run that would go on forever runs
/// out (errc::out_of_ticks, the only way run() fails).
///
/// The process keeps the last 32 scripts parsed, by their exact text (a node runs the same
/// script for many particles); ticks are the same whether a script was parsed or found.

#include "data.hpp"
#include "parser.hpp"

#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace exo::air {

/// AquaVM v0.20's error codes (start of each group + position in it).
namespace code {
inline constexpr std::int64_t success = 0;
inline constexpr std::int64_t air_parse_error = 1, data_de_failed = 2, call_results_de_failed = 3;
inline constexpr std::int64_t local_service_error = 10000, variable_not_found = 10001, incompatible_jvalue_type = 10002,
                              fold_iterates_over_non_array = 10003, match_values_not_equal = 10004,
                              mismatch_values_equal = 10005, user_error = 10006, lambda_applier_error = 10007,
                              stream_dont_have_such_generation = 10008, invalid_last_error_object = 10009;
inline constexpr std::int64_t trace_error = 20000, fold_state_not_found = 20001, iterable_shadowing = 20002,
                              multiple_iterable_values = 20003, ap_result_not_correspond_to_instr = 20004,
                              multiple_variables_found = 20005;
inline constexpr std::int64_t call_results_not_empty = 30000;
}  // namespace code

struct run_params {
  std::string init_peer_id;
  std::string current_peer_id;
  friend bool operator==(const run_params&, const run_params&) = default;
};

/// A local service call the host is asked to make: `arguments` is the JSON text of the
/// argument array, `tetraplets` that of their origins (one array per argument of
/// {peer_pk, service_id, function_name, json_path}).
struct call_request {
  std::string service_id, function_name, arguments, tetraplets;
  friend bool operator==(const call_request&, const call_request&) = default;
};

struct interpreter_result {
  std::int64_t ret_code = code::success;
  std::string error_message;
  bytes data;  ///< v0.20 JSON
  std::vector<std::string> next_peer_pks;
  std::map<std::uint32_t, call_request> call_requests;
  std::uint64_t ticks = 0;  ///< what the run cost
  friend bool operator==(const interpreter_result&, const interpreter_result&) = default;
};

struct run_limits {
  parse_limits parse;
  data_limits data;
  std::uint64_t max_ticks = 100'000'000;
};

/// Runs `air` (see the file comment). Fails only with errc::out_of_ticks.
expected<interpreter_result> run(std::string_view air, byte_view prev_data, byte_view data, const run_params& params,
                                 byte_view call_results, const run_limits& limits = {});

/// `{"<id>": {service_id, function_name, arguments, tetraplets}}`, as AquaVM 0.20 writes them.
json call_requests_json(const std::map<std::uint32_t, call_request>& requests);
/// The CLI's and the runner's form: `{ret_code, error_message, data (the trace's JSON
/// text), next_peer_pks, call_requests}`.
json to_json(const interpreter_result& r);
/// Back from to_json's form; errc::malformed naming what is wrong.
expected<interpreter_result> interpreter_result_from_json(const json& j);

}  // namespace exo::air
