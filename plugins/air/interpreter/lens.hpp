#pragma once
/// \file
/// Applying a lens (`.$.field.[3].[var]`) to a JSON value, as AIR v0.20 does for
/// `x.$.a.[0]`, `%last_error%.$.message` and the rest. A failure is AIR's catchable
/// LambdaApplierError (10007), with a message naming the value and the step.

#include "ast.hpp"

#include <exo/core/expected.hpp>
#include <exo/core/json.hpp>

#include <functional>
#include <string>

namespace exo::air {

/// AIR's catchable error for a lens that does not fit its value.
inline constexpr std::int64_t lambda_applier_error = 10007;

/// A lens failure: AIR's code and message.
struct lens_error {
  std::int64_t code = lambda_applier_error;
  std::string message;
};

/// What a `.[name]` step reads (the step names the scalar, by name and number): the scalar's
/// value, or nullptr when there is none (AIR's join: the caller decides).
using scalar_lookup = std::function<const json*(const lens_step& step)>;

/// `v` seen through `l`. A `.[name]` step takes the scalar's value as an array index (a
/// non-negative integer) or a field (a string). A missing scalar is the join: nullopt.
expected<std::optional<json>, lens_error> apply_lens(const json& v, const lens& l, const scalar_lookup& scalars);

}  // namespace exo::air
