#pragma once
/// \file
/// exo values as JSON, for manifests, RPC and people.
///
/// null, bool, i64, f64, string, list and map map to their JSON counterparts. Bytes are
/// {"$bytes": "<hex>"}; a float JSON cannot hold (NaN, infinities) is {"$f64": "nan"}.
/// Capabilities cannot come from outside as JSON; on the way out a capability is
/// {"$cap": <its handle number>}. A JSON integer outside i64 and an object with another "$"
/// key are errors, never silently changed values.

#include <exo/core/expected.hpp>
#include <exo/core/value.hpp>

#include <nlohmann/json.hpp>

#include <string_view>

namespace exo {

using json = nlohmann::json;

/// `v` as JSON (capability handles shown as {"$cap": handle number}).
json to_json(const value& v);
/// The value `j` describes; errc::invalid_argument naming the place (`where`) otherwise.
expected<value> from_json(const json& j, std::string_view where = "value");

}  // namespace exo
