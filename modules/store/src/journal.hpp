#pragma once
// Internal to the LMDB store: the journal (lmdb_store.hpp explains what it is for). Its state
// record in data.mdb, and its file's record format. Not installed.

#include "lmdb_env.hpp"

#include <exo/store/backend.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace exo::internal {

// ---------------------------------------------------------------------------------------------
// The journal's state record (lmdb_store::journal_key): 8 bytes little-endian, the sequence
// number of the last journal record applied to data.mdb, then one byte, 1 while a process
// writes through the journal (or stopped without applying all of it), 0 once it is all
// applied.

struct journal_state {
  std::uint64_t applied = 0;
  bool open = false;
};

/// The state record's bytes.
bytes encode_state(const journal_state& j);
/// Reads the journal's state in `txn` (absent: never journaled); an LMDB code, or
/// MDB_CORRUPTED for a record that is not one.
int read_state(MDB_txn* txn, MDB_dbi meta, journal_state& j);
unexpected<error> journal_state_damaged(const std::string& dir);
/// Why a commit is refused while another process writes through the journal.
std::string journal_in_use(const std::string& dir);

// ---------------------------------------------------------------------------------------------
// The journal file (lmdb_store::journal_file). A sequence of records from offset 0, each:
//   magic "EXOJ" (4) | payload length (4, LE) | sequence number (8, LE) | SHA-256 of the
//   sequence number's 8 bytes and the payload (32) | payload
// and the payload is one commit_batch:
//   first (8) | node count (4) | (length (4) | bytes)* | head hash (32) | head position (8) |
//   record count (4) | (name length (4) | name | value length (4) | value)*
// all little-endian. Sequence numbers go up by one from record to record; a journal that
// starts over writes from offset 0 again (with the numbers going on), so reading stops at the
// first record that is torn, zero, or does not follow (left from before). The file is kept
// written (with zeros) past its last record, so appending changes no file size and an
// fdatasync flushes only the records' pages.

constexpr std::uint64_t journal_start_size = std::uint64_t{4} << 20;
constexpr std::uint64_t journal_min_limit = std::uint64_t{64} << 10;
// When the writer applies the journal to data.mdb: this long after the oldest record it has
// not applied was written, or once this many commits wait, whichever comes first.
constexpr auto apply_after = std::chrono::milliseconds(20);
constexpr std::size_t apply_at_commits = 512;


/// Appends the record of commit `b`, numbered `seq`, to `out`; false if it would be longer
/// than `limit` bytes (nothing is appended then).
bool append_record(bytes& out, std::uint64_t seq, const commit_batch& b, std::uint64_t limit);
/// The commits in the journal (open as `fd`) that data.mdb does not have: those numbered past
/// `applied`, in order.
expected<std::vector<commit_batch>> read_journal(int fd, const std::string& path, std::uint64_t applied);
/// Opens (creating) the journal and takes its lock; nullopt if another process holds it.
expected<std::optional<int>> lock_journal(const std::string& path);

}  // namespace exo::internal
