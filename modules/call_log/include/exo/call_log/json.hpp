#pragma once
/// \file
/// Call log entries as JSON, for people and scripts (`exo log --json`, RPC's `exo.log`).

#include <exo/call_log/entry.hpp>
#include <exo/core/json.hpp>

namespace exo {

/// {index, hash, kind, caller (hex or null), actor (hex), function, args, result, error
/// ({code, name, message} or null), outputs, ticks, budget, root (hex)}. `hash` is the
/// entry's hash (entry_hash of its encoding).
json entry_to_json(const log_entry& e, const digest& hash);

}  // namespace exo
