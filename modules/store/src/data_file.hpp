#pragma once
// Internal to the LMDB store: checking a data directory and its data.mdb before LMDB maps the
// file. Not installed.

#include <exo/core/expected.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace exo::internal {

/// Checks data.mdb (at `path`) against LMDB 0.9's layout, so that a truncated or damaged
/// file is an error rather than a SIGBUS; true if it is empty (LMDB will initialise it).
expected<bool> check_data_file(const std::string& path);
/// The first entry of `dir` that a new store would not have made, if any (its node.key may be there).
std::optional<std::string> foreign_entry(const std::string& dir);
/// "DIR is not an exo data directory: WHY".
std::string not_exo(const std::string& dir, std::string_view why);

}  // namespace exo::internal
