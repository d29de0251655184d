#pragma once
/// \file
/// exo values as JSON, for manifests, RPC and people.
///
/// null, bool, i64, f64, string, list and map map to their JSON counterparts. Bytes are
/// {"$bytes": "<hex>"}. Capabilities cannot come from outside as JSON; on the way out a
/// capability is {"$cap": <its description>}. A JSON integer outside i64 and an object
/// with another "$" key are errors, never silently changed values.

#include <exo/call_log/entry.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/value.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace exo {

using json = nlohmann::json;

/// `v` as JSON (capability handles shown as {"$cap": handle number}).
json to_json(const value& v);
/// The value `j` describes; errc::invalid_argument naming the place (`where`) otherwise.
expected<value> from_json(const json& j, std::string_view where = "value");

/// Does `v` fit the parameter type `type` ("i64", "f64", "bool", "string", "bytes", "list",
/// "map", "any")? An i64 fits "f64" too (and is converted by coerce_param).
bool fits_param_type(const value& v, std::string_view type);
/// The parameter types exo knows.
bool is_param_type(std::string_view type);

/// A call log entry for people and scripts: {index, hash, kind, caller (hex or null), actor
/// (hex), function, args, result, error ({code, name, message} or null), outputs, ticks,
/// budget, root (hex)}. `hash` is the entry's hash (entry_hash of its encoding).
json entry_to_json(const log_entry& e, const digest& hash);

}  // namespace exo
