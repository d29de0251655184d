#pragma once
/// \file
/// Upgrades verified by replay (issue 20), the part built so far: checking that an image's
/// new code reproduces a node's history before anyone switches to it.
///
/// exo::check_upgrade replays every input of a node's log in a scratch hypervisor, with the
/// actors the image creates at boot created from the new image's code instead of the old,
/// and compares what each input did with what the log says it did: its actor, function,
/// result, the capabilities in the result, its error and its outputs. Not its ticks or
/// state root: the code is part of the state (each actor's record names its code hash, and
/// installed code is kept in the tree), and ticks count the instructions the code runs, so
/// both differ for any change of code, compatible or not. The first input whose outcome
/// differs is reported with both outcomes.
///
/// Not built yet: the switch itself (a logged entry naming both images, a migration
/// function, and a verifier that replays each segment of a log on its own image), and a
/// check from a checkpoint (the new code would have to be put into the snapshot's state).

#include <exo/boot/image.hpp>
#include <exo/call_log/entry.hpp>
#include <exo/container/registry.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace exo {

/// Whether `next` can replace `current` on a node: the same application (its name) with the
/// same actors (names and containers, in manifest order: the boot's creates, and so every
/// actor id, stay the same). Code, init messages' outcomes and exports may differ.
/// errc::invalid_argument naming what differs.
expected<void> check_same_application(const image& current, const image& next);

/// Where the new code first does something else than the log records.
struct upgrade_divergence {
  std::uint64_t index = 0;  ///< the log entry
  id actor{};               ///< the input's target
  std::string function;
  std::string field;        ///< "result", "result_caps", "error", "outputs", "actor", "replay"
  std::string logged;       ///< what the log says
  std::string upgraded;     ///< what the new code does
  std::string to_string() const;
};

struct upgrade_report {
  std::uint64_t entries = 0;  ///< inputs replayed and found the same
  std::optional<upgrade_divergence> first;
  bool ok() const noexcept { return !first; }
};

/// Replays `log` (a whole log of a node booted from `current`) against `next`'s code (see
/// the file comment). The containers both images need are loaded into `registry`.
/// `progress` is told (entries done, total) every 1,000 entries. Errors: images of two
/// applications, a log that is not `current`'s or was pruned before a checkpoint
/// (errc::invalid_argument), containers that cannot be loaded.
expected<upgrade_report> check_upgrade(const log_reader& log, const image& current, const image& next,
                                       container_registry& registry,
                                       const std::function<void(std::uint64_t, std::uint64_t)>& progress = {});

}  // namespace exo
