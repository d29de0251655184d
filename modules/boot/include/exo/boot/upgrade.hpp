#pragma once
/// \file
/// Upgrades verified by replay (issue 20): checking that an image's new code reproduces a
/// node's history, and switching the node to it.
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
/// The switch (node::upgrade, upgrade_directory): one logged "upgrade" entry naming both
/// images, carrying the new code of the actors whose code changed and running the new image's
/// migration calls once; a verifier follows it, checking each segment of the log against its
/// own image (image_log_verifier::follow_upgrades).

#include <exo/boot/image.hpp>
#include <exo/boot/node.hpp>
#include <exo/call_log/entry.hpp>
#include <exo/container/registry.hpp>
#include <exo/hypervisor/ingress.hpp>

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

/// The upgrade from `current` to `next` for a hypervisor whose host id is `host` (an image's
/// actor i is the i-th actor its host created): note {from, to} (both images' origins), the
/// new code of every actor whose code differs, and `next`'s migration calls. The same
/// application only (check_same_application).
expected<upgrade_request> upgrade_plan(const image& current, const image& next, const id& host);

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

/// Replays `log` (the log of a node that runs `current`) against `next`'s code (see the file
/// comment), from its beginning, or with `from` from that checkpoint's state with the image's
/// actors pointed at the new code. An upgrade entry in the history replays as an entry that
/// changes nothing (the actors run the new code already; its migrations were for other code).
/// The containers both images need are loaded into `registry`. `progress` is told (entries
/// done, total) every 1,000 entries. Errors: images of two applications, a log of another
/// application or pruned before a checkpoint with none given (errc::invalid_argument), a
/// checkpoint of another log, containers that cannot be loaded.
expected<upgrade_report> check_upgrade(const log_reader& log, const image& current, const image& next,
                                       container_registry& registry,
                                       const std::function<void(std::uint64_t, std::uint64_t)>& progress = {},
                                       const snapshot* from = nullptr);

struct upgrade_options {
  /// Check only: report whether `next` reproduces the history, and switch to nothing.
  bool check_only = false;
  /// Check from the data directory's recorded checkpoint (exo checkpoint) instead of from the
  /// image's boot; a directory whose log was pruned before it is always checked from there.
  bool from_checkpoint = false;
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

struct upgrade_outcome {
  upgrade_report check;
  bool from_checkpoint = false;
  std::optional<node::switched> done;  ///< set if the node switched
  double check_seconds = 0, switch_seconds = 0;
};

/// `exo upgrade DIR NEW.exo`: opens the data directory (its node must be stopped), checks
/// that `next` reproduces its history (check_upgrade), and if it does, switches the node to
/// it (node::upgrade). If it does not, the first divergence is in the outcome and nothing
/// changes.
expected<upgrade_outcome> upgrade_directory(const std::string& dir, const image& next, container_registry& registry,
                                            const upgrade_options& options = {});

}  // namespace exo
