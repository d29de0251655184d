#pragma once
/// \file
/// A data directory over time: its recorded checkpoint, and pruning (DESIGN.md section 5).
///
/// A data directory records one checkpoint (`exo checkpoint DIR`): the log entry it was
/// taken at and the head the node signed there, in the metadata record `exo.checkpoint`.
/// Entry 0 and the checkpoint's entry stay in the log, and pruning keeps the checkpoint's
/// root, so the directory can always hand out the snapshot a verifier starts from
/// (exo/verifier/checkpoint.hpp).
///
/// Pruning (`exo prune DIR --keep-roots N [--before-checkpoint]`) frees the store's nodes
/// that only old roots use: it keeps the N newest roots (the head among them), the
/// checkpoint's root, and every node they reach. With `before_checkpoint`, it also drops the
/// log entries between entry 0 and the checkpoint's entry and records the log's new base
/// (exo.log.base): the hash chain is checkable from the checkpoint on, and `exo verify DIR`
/// starts from the checkpoint by itself. Every step is a bounded LMDB transaction, and
/// nothing kept is ever deleted, so a prune killed at any point loses nothing: running it
/// again finishes it. The node must not be running (its journal's lock keeps a prune out,
/// and a prune keeps it out).

#include <exo/call_log/store_log.hpp>
#include <exo/store/lmdb_store.hpp>
#include <exo/verifier/checkpoint.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace exo {

/// The metadata record of a data directory's checkpoint: {index, head}.
inline constexpr std::string_view checkpoint_record = "exo.checkpoint";

/// Records the checkpoint at the end of the log kept in `store` (one commit of the record:
/// nothing else changes). Refused while a node writes the directory.
expected<checkpoint_info> record_checkpoint(lmdb_store& store, const store_log<lmdb_store>& log);
/// The checkpoint `store` records, if any (its entries read from `log`).
expected<std::optional<checkpoint>> recorded_checkpoint(const lmdb_store& store, const log_reader& log);
/// The snapshot at the checkpoint `store` records: errc::invalid_argument if it records none.
expected<snapshot> recorded_snapshot(const lmdb_store& store, const log_reader& log);

struct prune_options {
  /// How many of the newest roots to keep (at least 1: the head). The checkpoint's root is
  /// kept besides.
  std::uint64_t keep_roots = 1;
  /// Also drop the log entries before the recorded checkpoint (but entry 0).
  bool before_checkpoint = false;
  /// Told each step, one line for people.
  std::function<void(std::string_view)> progress;
  /// Most deletions per LMDB transaction.
  std::size_t per_transaction = 100'000;
};

struct prune_report {
  prune_result store;
  std::uint64_t entries_dropped = 0;  ///< log entries dropped
  std::uint64_t base = 0;             ///< the log's base afterwards (0: a whole log)
};

/// Prunes the data directory `dir` (see the file comment).
expected<prune_report> prune_directory(const std::string& dir, const prune_options& options);
/// The same on an open store and its log (a running node does this between batches, with
/// write-behind off: exo::node::maintain). The log must be reloaded afterwards.
expected<prune_report> prune_store(lmdb_store& store, const store_log<lmdb_store>& log, const prune_options& options);

}  // namespace exo
