#pragma once
/// \file
/// The persistent store backend: nodes, head and metadata in an LMDB environment, one per data
/// directory (DESIGN.md section 5). A commit is one LMDB write transaction, so after a crash
/// either all of a commit is on disk or none of it.
///
/// Layout of a data directory: LMDB's `data.mdb` and `lock.mdb`, and `journal.wal` once the
/// store has written behind (see below). Inside data.mdb, three named databases:
/// - "nodes" maps positions (8-byte big-endian, so LMDB's key order is position order) to
///   stored node bytes. A commit appends its nodes after the last one, so it fills a few
///   fresh pages in order instead of touching a random page per node;
/// - "roots" maps every root a commit made the head (32-byte hash) to its position;
/// - "meta" maps names to records. It holds three reserved records: `exo.format` (the format
///   marker, "exo-store-2", written when the directory is created), `exo.head` (the current
///   root: its hash and position) and `exo.journal` (the journal's state).
///
/// LMDB forbids opening one environment twice in the same process (closing the second copy
/// silently drops the first one's locks), so `open` refuses a directory this process already
/// has open. Other processes may open it at the same time; LMDB arbitrates.
///
/// Write-behind: a durable commit waits for the disk (two fsyncs), and a caller that waits
/// with it cannot do anything else meanwhile. With set_write_behind(true), commit() checks the
/// batch, queues it and returns; a writer thread of the store's own writes everything queued
/// while the caller goes on, and when_durable() says when (or whether) it got to disk. Reads
/// see queued commits as if they were written, so to its user the store is simply ahead of
/// its disk. If a queued commit fails, it and every commit queued after it (they build on it)
/// are dropped; the next commit() reports the failure once, and the user goes back to head()
/// (exo::hypervisor::rollback).
///
/// The journal: a durable store in write-behind makes its commits durable by appending them
/// to `journal.wal` in the data directory (one write and one fdatasync for everything queued,
/// into a file kept written ahead, so the sync flushes only those pages) instead of an LMDB
/// transaction (two syncs of scattered pages). About every 20 ms the writer applies what the
/// journal holds to data.mdb in one LMDB transaction, which also records (in the reserved
/// record `exo.journal`) how far the journal has been applied; then the journal starts over.
/// Opening a store applies whatever a process that stopped without doing so left in its
/// journal. While a process writes a store through its journal, other processes may read it
/// (they see data.mdb, up to one apply behind) but not commit to it: their commits are refused
/// with errc::invalid_argument. Records carry a sequence number and a SHA-256; reading a
/// journal stops at the first record that is torn (never acknowledged: its sync had not
/// returned). If applying to data.mdb fails after the journal took a commit (a full map, an
/// I/O error), the store refuses further commits, keeps serving what it holds, and the journal
/// keeps everything: reopening the store (with a larger map, if that was the problem) applies
/// it.
///
/// \code
/// store.set_write_behind(true);
/// tree.put(k, v);
/// tree.commit();                                     // queued: returns before the fsync
/// store.when_durable([](const exo::expected<void>& ok) { /* on disk, or failed */ });
/// store.set_write_behind(false);                     // waits for everything queued
/// \endcode

#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/id.hpp>
#include <exo/store/backend.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct MDB_env;  // <lmdb.h> stays out of this header

namespace exo {

/// How `lmdb_store::open` treats a data directory.
struct lmdb_options {
  /// Create the directory (one level, mode 0700) and initialise a new store if there is none.
  /// A directory that holds other files, or an LMDB database that is not exo's, is still
  /// refused.
  bool create = false;
  /// Flush every commit to disk before `commit` returns (LMDB's default). When false the
  /// environment is opened with MDB_NOSYNC: a crash of the process loses nothing, but an
  /// operating system crash or power loss may lose recent commits and, as LMDB documents for
  /// MDB_NOSYNC, may damage the file. Closing the store flushes it.
  bool durable = true;
  /// Keep data.mdb written with zeros past the pages LMDB uses (about as much again as it
  /// uses, 256 KiB to 32 MiB). LMDB appends pages as the store grows, and a file system
  /// (ext4, for one) has to journal a file's new size and blocks before a sync returns: a
  /// commit that grows the file pays for a journal commit on top of its own pages. Written
  /// ahead, a commit's sync writes only its pages. Durable stores only.
  bool write_ahead = true;
  /// The size of the memory map, in bytes: the most the store can hold before it has to grow.
  /// It reserves address space, not disk. `commit` grows it when it fills up.
  std::size_t map_size = std::size_t{1} << 36;
  /// In write-behind, make commits durable in the journal (journal.wal, see above) and apply
  /// them to data.mdb in bulk. When false, the writer thread commits each round of queued
  /// commits as its own LMDB transaction. Durable stores only.
  bool journal = true;
  /// The largest the journal may grow to, in bytes (at least 64 KiB). A commit that does not fit
  /// it fails (errc::limit_exceeded) as any failed write behind does. It starts at 4 MiB or
  /// this, if less, and grows only for a round of commits larger than it is.
  std::uint64_t journal_limit = std::uint64_t{1} << 30;
};

/// What an lmdb_store has written since it was opened.
struct lmdb_stats {
  std::uint64_t commits = 0;       ///< commits made (in write-behind, queued and written)
  std::uint64_t transactions = 0;  ///< LMDB write transactions they took (fewer, in write-behind)
  std::uint64_t journal_writes = 0;  ///< writes (each one fdatasync) to the journal
};

/// What lmdb_store::prune is asked to do.
struct prune_request {
  /// Roots to keep, with every node they reach (the head is always kept; the zero root is
  /// ignored). Each must be a root the store holds.
  std::vector<digest> keep;
  /// Metadata records written in the first transaction, before anything is deleted (what
  /// says what was pruned).
  commit_meta meta;
  /// Metadata records to delete: every name in [from, to) (names sort as bytes), after the
  /// roots and before the nodes. Reserved records are never deleted.
  std::optional<std::pair<std::string, std::string>> drop_meta;
  /// Most deletions per write transaction (each transaction is atomic; a prune stopped
  /// between two is finished by running it again).
  std::size_t per_transaction = 100'000;
  /// Told each step, one line for people.
  std::function<void(std::string_view)> progress;
};

/// What lmdb_store::prune did.
struct prune_result {
  std::uint64_t roots_kept = 0;
  std::uint64_t roots_dropped = 0;
  std::uint64_t nodes_kept = 0;
  std::uint64_t nodes_freed = 0;
  std::uint64_t bytes_freed = 0;  ///< of node data (LMDB reuses the pages; data.mdb does not shrink)
  std::uint64_t meta_dropped = 0;
};

/// Nodes, head and metadata in an LMDB environment. Move-only; closing (destruction) closes
/// the environment. Reads use their own read-only transactions, so they never see a commit
/// half-done. Not for concurrent use from several threads on one object (the writer thread of
/// write-behind is the store's own).
class lmdb_store {
 public:
  /// What it holds outlives the process (even with lmdb_options::durable false, which only
  /// gives up the protection against an operating system crash).
  static constexpr bool durable = true;
  /// The format marker a data directory of this version carries under `format_key`.
  static constexpr std::string_view format_marker = "exo-store-2";
  /// Reserved metadata name of the format marker.
  static constexpr std::string_view format_key = "exo.format";
  /// Reserved metadata name under which the head root is kept.
  static constexpr std::string_view head_key = "exo.head";
  /// Reserved metadata name of the journal's state: how far it is applied, and whether a
  /// process writes through it (or stopped without applying it).
  static constexpr std::string_view journal_key = "exo.journal";
  /// The journal's file name in the data directory.
  static constexpr std::string_view journal_file = "journal.wal";
  /// The longest metadata name LMDB accepts as a key, in bytes.
  static constexpr std::size_t max_meta_name = 511;

  /// Opens the store in data directory `dir`. Errors name the directory and say what to do:
  /// errc::invalid_argument for a missing directory (without `create`), a directory that is
  /// not exo's or one this process already has open; errc::malformed for a truncated or
  /// damaged data.mdb; errc::internal for I/O and LMDB failures.
  static expected<lmdb_store> open(const std::string& dir, lmdb_options options = {});

  /// Takes over `other`'s environment; `other` is left closed.
  lmdb_store(lmdb_store&& other) noexcept;
  /// Closes this store's environment and takes over `other`'s.
  lmdb_store& operator=(lmdb_store&& other) noexcept;
  /// Not copyable: one object owns the environment.
  lmdb_store(const lmdb_store&) = delete;
  /// Not copyable: one object owns the environment.
  lmdb_store& operator=(const lmdb_store&) = delete;
  /// Closes the environment (flushing it first when the store is not durable).
  ~lmdb_store();

  /// The bytes stored at position `pos`, nullopt if there are none.
  expected<std::optional<bytes>> read_node(node_pos pos) const;
  /// Where the next commit's nodes start (after the queued ones, in write-behind).
  node_pos next_position() const;
  /// Applies `batch` in one write transaction: the nodes (appended at their positions), the
  /// metadata records, the head, and the head in the roots index. Durable before it returns
  /// when the store was opened with `durable`. A full map is grown; if it cannot grow,
  /// errc::limit_exceeded. A batch that does not start at next_position() (another process
  /// committed meanwhile), a head that is not stored, and metadata names that are not 1 to
  /// `max_meta_name` bytes or are reserved are errc::invalid_argument, and nothing is written.
  /// So is a commit while another process writes the store through its journal (or died
  /// before applying it: reopening applies it).
  ///
  /// In write-behind, the batch is checked and queued, and the writer thread writes it later
  /// (with whatever else is queued then, in one transaction). If an earlier queued commit
  /// failed, this one is refused with that failure's error (reported once: the commit after
  /// it is accepted again, so go back to head() first).
  expected<void> commit(commit_batch&& batch);

  /// Turns write-behind on (starts the writer thread) or off (waits until everything queued
  /// is written, then stops it). For a durable store with a journal, turning it on takes
  /// the journal (errc::invalid_argument if another process has it, or committed since this
  /// store last looked) and turning it off applies it all to data.mdb. Turning it off
  /// returns the error of a queued commit that failed and was not yet reported, or of an
  /// apply that failed. Not while another thread uses the store.
  expected<void> set_write_behind(bool on);
  /// True while write-behind is on.
  bool write_behind() const noexcept { return writer_ != nullptr; }
  /// Calls `fn` once every commit queued so far is on disk, with success, or with the error of
  /// the queued commit that failed (then none of those after the last durable one are on
  /// disk). It runs on the writer thread, in the order given, after each write, so it must be
  /// quick; with nothing queued (or write-behind off) it runs at once, on this thread.
  void when_durable(std::function<void(const expected<void>&)> fn);
  /// Write-behind: takes the failure of a queued commit if there is one that commit() has not
  /// reported yet (so a caller can go back to head() before making more commits).
  std::optional<error> take_failure();
  /// Commits and write transactions so far.
  lmdb_stats stats() const;
  /// The root of the last commit; zero before any commit.
  expected<root_ref> head() const;
  /// The position of root `h` if some commit made it the head (0 for the zero hash).
  expected<std::optional<node_pos>> find_root(const digest& h) const;
  /// Metadata record `name`, or nullopt. The reserved records can be read too.
  expected<std::optional<bytes>> read_meta(std::string_view name) const;
  /// Every root some commit made the head that the store still holds, oldest first (in the
  /// order of their positions, which is the order they were first committed in).
  expected<std::vector<root_ref>> roots() const;
  /// Frees what only other roots use (see prune_request): marks every node the kept roots and
  /// the head reach (reading each one and checking it against its hash, so a damaged store
  /// is reported and nothing is deleted), then deletes, in write transactions of at most
  /// `per_transaction` deletions, every other root from the roots index (first: no root is
  /// ever left with nodes missing), the metadata records asked for, and every node no kept
  /// root reaches. SIGKILL at any point loses nothing that is kept. LMDB reuses the freed
  /// pages for later commits (data.mdb does not shrink). Refused with errc::invalid_argument
  /// while this store writes behind or another process writes it through its journal, and
  /// for a root to keep that the store does not hold (then nothing is deleted).
  expected<prune_result> prune(const prune_request& request);
  /// For tests and repair tools: replaces the bytes stored at `pos`, in a transaction of its
  /// own. Nodes are otherwise immutable; this is how a test puts a damaged node on disk. A
  /// position where nothing is stored is errc::invalid_argument.
  expected<void> overwrite_node(node_pos pos, byte_view data);

  /// The data directory, as given to `open`.
  const std::string& directory() const noexcept { return dir_; }

 private:
  lmdb_store() = default;
  // The steps of open(): the environment, the format marker and database handles (true: a new
  // store, to initialise; a journal a stopped process left is applied here), initialising.
  expected<void> open_env(const lmdb_options& options);
  expected<bool> read_layout(bool create);
  expected<void> recover_journal();
  expected<void> initialise();
  void close() noexcept;
  struct writer;  // the write-behind queue and writer thread (it owns what the thread uses)

  MDB_env* env_ = nullptr;
  unsigned int nodes_dbi_ = 0;
  unsigned int roots_dbi_ = 0;
  unsigned int meta_dbi_ = 0;
  node_pos next_ = 1;
  std::string dir_;
  bool durable_ = true;
  bool write_ahead_ = true;
  bool journal_ = true;
  std::uint64_t journal_limit_ = 0;
  lmdb_stats stats_;  // without write-behind (the writer thread counts its own)
  // data.mdb's (device, inode), recorded in this process's list of open environments once
  // open() has succeeded, to refuse a second open of the same directory.
  bool registered_ = false;
  unsigned long long dev_ = 0;
  unsigned long long ino_ = 0;
  std::unique_ptr<writer> writer_;
};

static_assert(store_backend<lmdb_store>, "lmdb_store must satisfy exo::store_backend");
static_assert(directory_store<lmdb_store> && write_behind_store<lmdb_store>,
              "lmdb_store keeps a data directory and can write behind");

}  // namespace exo
