#pragma once
/// \file
/// AIR's interpreter data in AquaVM v0.20's format (UTF-8 JSON), so that data made by
/// AquaVM 0.20 and by exo can be merged by either:
///
///     {"trace": [STATE...], "streams": {"$s": generations}, "version": "0.2.2", "lcid": N,
///      "r_streams": {"$s": {"<new's position>": [generations per iteration]}}}
///
/// with each STATE one of
///
///     {"par": [left size, right size]}
///     {"call": {"executed": {"scalar": VALUE}}}
///     {"call": {"executed": {"stream": {"value": VALUE, "generation": g}}}}
///     {"call": {"sent_by": "peer"}}        {"call": {"sent_by": "peer: request id"}}
///     {"call": {"failed": [ret_code, "JSON text"]}}
///     {"fold": {"lore": [{"pos": value position, "desc": [{"pos": p, "len": l}, {"pos": p, "len": l}]}]}}
///     {"ap": {"gens": [g...]}}
///
/// Empty bytes are empty data. Decoding checks everything it reads and names the place of
/// the first thing wrong (AIR's DataDeFailed and CallResultsDeFailed); encoding is
/// deterministic (keys in sorted order).

#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace exo::air {

struct par_state {
  std::uint32_t left = 0, right = 0;
  friend bool operator==(const par_state&, const par_state&) = default;
};

struct call_state {
  enum class kind : std::uint8_t { scalar, stream, sent_by, failed } what = kind::scalar;
  json value;                   ///< scalar, stream
  std::uint32_t generation = 0;  ///< stream
  std::string sender;           ///< sent_by: "peer", or "peer: id" for a local call request
  std::int32_t ret_code = 0;    ///< failed
  std::string message;          ///< failed: JSON text
  friend bool operator==(const call_state&, const call_state&) = default;
};

struct fold_subtrace {
  std::uint32_t pos = 0, len = 0;
  friend bool operator==(const fold_subtrace&, const fold_subtrace&) = default;
};
/// One iteration: the position of its value's state, and its subtraces before and after next.
struct fold_lore {
  std::uint32_t value_pos = 0;
  fold_subtrace before, after;
  friend bool operator==(const fold_lore&, const fold_lore&) = default;
};
struct fold_state {
  std::vector<fold_lore> lore;
  friend bool operator==(const fold_state&, const fold_state&) = default;
};

struct ap_state {
  std::vector<std::uint32_t> gens;
  friend bool operator==(const ap_state&, const ap_state&) = default;
};

using executed_state = std::variant<par_state, call_state, fold_state, ap_state>;

struct interpreter_data {
  std::vector<executed_state> trace;
  std::map<std::string, std::uint32_t> streams;
  std::string version = "0.2.2";
  std::uint32_t lcid = 0;
  std::map<std::string, std::map<std::uint32_t, std::vector<std::uint32_t>>> r_streams;
  friend bool operator==(const interpreter_data&, const interpreter_data&) = default;
};

/// A call's result from the host: ret_code 0 and the result as JSON text, or the failure.
struct call_result {
  std::int32_t ret_code = 0;
  std::string result;
  friend bool operator==(const call_result&, const call_result&) = default;
};
using call_results = std::map<std::uint32_t, call_result>;

struct data_limits {
  std::size_t max_size = std::size_t{64} << 20;  ///< bytes of JSON
  std::size_t max_depth = 128;                   ///< arrays and objects nested in a value
  std::size_t max_states = 1'000'000;
};

/// Data as AquaVM 0.20 writes it; empty bytes are empty data. errc::malformed (or
/// limit_exceeded) with "data can't be deserialized: WHERE: WHAT".
expected<interpreter_data> decode_data(byte_view bytes, const data_limits& limits = {});
bytes encode_data(const interpreter_data& d);

/// `{"<id>": {"ret_code": n, "result": "JSON text"}}`; empty bytes are none. errc::malformed
/// with "call results can't be deserialized: ...".
expected<call_results> decode_call_results(byte_view bytes, const data_limits& limits = {});
bytes encode_call_results(const call_results& r);

/// JSON equality as AIR sees it: an integer never equals a float (1 and 1.0 differ), as in
/// serde_json, which AquaVM compares with.
bool same_value(const json& a, const json& b);

/// One JSON value (a service's result text), with the same size and depth limits as data.
expected<json> parse_value(std::string_view text, const data_limits& limits = {});

}  // namespace exo::air
