#pragma once
// Internal to the LMDB store: writing commits to data.mdb in one LMDB transaction (and what
// that needs: where to write, the checks of a batch's records, the head record, keeping the
// file written ahead), and applying a journal to it. Not installed.

#include "journal.hpp"
#include "lmdb_env.hpp"

#include <exo/store/backend.hpp>

#include <cstddef>
#include <shared_mutex>
#include <string>
#include <string_view>

namespace exo::internal {

// What a write needs of the environment (copied, so that a writer thread does not depend on
// the lmdb_store object, which may be moved).
struct target {
  MDB_env* env = nullptr;
  MDB_dbi nodes = 0, roots = 0, meta = 0;
  std::string dir;
  bool write_ahead = false;  // lmdb_options::write_ahead, for a durable store
  bool journal_owner = false;  // this process writes through the journal (it applies it)
};

/// Whether LMDB can hold a metadata record of this name.
bool valid_meta_name(std::string_view name);
/// The metadata records of a batch that no store may take: nothing of it is written.
expected<void> check_meta_names(const commit_batch& batch);
/// The head record's bytes: the root's hash, then its position.
bytes head_record(const root_ref& head);

/// Writes `n` consecutive batches in one write transaction: their nodes, records and roots,
/// and the last one's head. `next` is the first free position (updated: to what LMDB says if
/// the batches do not fit, else past them). `state`, when given, is written as the journal's
/// state record in the same transaction. A writer that does not own the journal is refused
/// while a process writes through it. `readers`, when given, is what readers on other threads
/// hold while their transactions are open (growing the map takes it alone).
expected<void> write_batches(const target& t, node_pos& next, const commit_batch* const* batches, std::size_t n,
                             std::shared_mutex* readers = nullptr, const journal_state* state = nullptr);

/// Applies what the journal (open and locked as `fd`) holds past data.mdb to it, in one
/// transaction that also records the journal's state as `open` (true: the caller goes on
/// writing through it). `next` becomes the first free position.
expected<journal_state> apply_journal(const target& t, int fd, const std::string& path, node_pos& next, bool open);

}  // namespace exo::internal
