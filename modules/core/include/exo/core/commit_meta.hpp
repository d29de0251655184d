#pragma once
/// \file
/// Named records written together with a store commit: the call log's entries and signed
/// head, a booted image's record. The store (exo/store/backend.hpp) writes them in the same
/// atomic commit as the state, so the two always agree; the call log (exo/call_log) stages
/// its entries into them.

#include <exo/core/bytes.hpp>

#include <string>
#include <utility>
#include <vector>

namespace exo {

/// (name, bytes) records, in the order they are written (a later one of the same name wins).
using commit_meta = std::vector<std::pair<std::string, bytes>>;

}  // namespace exo
