#pragma once
/// \file
/// The persistent store backend: nodes, head and metadata in an LMDB environment, one per data
/// directory (DESIGN.md section 5). A commit is one LMDB write transaction, so after a crash
/// either all of a commit is on disk or none of it.
///
/// Layout of a data directory: LMDB's `data.mdb` and `lock.mdb`. Inside, three named
/// databases:
/// - "nodes" maps positions (8-byte big-endian, so LMDB's key order is position order) to
///   stored node bytes. A commit appends its nodes after the last one, so it fills a few
///   fresh pages in order instead of touching a random page per node;
/// - "roots" maps every root a commit made the head (32-byte hash) to its position;
/// - "meta" maps names to records. It holds two reserved records: `exo.format` (the format
///   marker, "exo-store-2", written when the directory is created) and `exo.head` (the
///   current root: its hash and position).
///
/// LMDB forbids opening one environment twice in the same process (closing the second copy
/// silently drops the first one's locks), so `open` refuses a directory this process already
/// has open. Other processes may open it at the same time; LMDB arbitrates.

#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/id.hpp>
#include <exo/store/backend.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

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
  /// The size of the memory map, in bytes: the most the store can hold before it has to grow.
  /// It reserves address space, not disk. `commit` grows it when it fills up.
  std::size_t map_size = std::size_t{1} << 36;
};

/// Nodes, head and metadata in an LMDB environment. Move-only; closing (destruction) closes
/// the environment. Reads use their own read-only transactions, so they never see a commit
/// half-done. Not for concurrent use from several threads on one object.
class lmdb_store {
 public:
  /// The format marker a data directory of this version carries under `format_key`.
  static constexpr std::string_view format_marker = "exo-store-2";
  /// Reserved metadata name of the format marker.
  static constexpr std::string_view format_key = "exo.format";
  /// Reserved metadata name under which the head root is kept.
  static constexpr std::string_view head_key = "exo.head";
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
  /// Where the next commit's nodes start.
  node_pos next_position() const noexcept { return next_; }
  /// Applies `batch` in one write transaction: the nodes (appended at their positions), the
  /// metadata records, the head, and the head in the roots index. Durable before it returns
  /// when the store was opened with `durable`. A full map is grown; if it cannot grow,
  /// errc::limit_exceeded. A batch that does not start at next_position() (another process
  /// committed meanwhile), a head that is not stored, and metadata names that are not 1 to
  /// `max_meta_name` bytes or are reserved are errc::invalid_argument, and nothing is written.
  expected<void> commit(commit_batch&& batch);
  /// The root of the last commit; zero before any commit.
  expected<root_ref> head() const;
  /// The position of root `h` if some commit made it the head (0 for the zero hash).
  expected<std::optional<node_pos>> find_root(const digest& h) const;
  /// Metadata record `name`, or nullopt. The reserved records can be read too.
  expected<std::optional<bytes>> read_meta(std::string_view name) const;
  /// For tests and repair tools: replaces the bytes stored at `pos`, in a transaction of its
  /// own. Nodes are otherwise immutable; this is how a test puts a damaged node on disk. A
  /// position where nothing is stored is errc::invalid_argument.
  expected<void> overwrite_node(node_pos pos, byte_view data);

  /// The data directory, as given to `open`.
  const std::string& directory() const noexcept { return dir_; }

 private:
  lmdb_store() = default;
  void close() noexcept;

  MDB_env* env_ = nullptr;
  unsigned int nodes_dbi_ = 0;
  unsigned int roots_dbi_ = 0;
  unsigned int meta_dbi_ = 0;
  node_pos next_ = 1;
  std::string dir_;
  bool durable_ = true;
  // data.mdb's (device, inode), recorded in this process's list of open environments once
  // open() has succeeded, to refuse a second open of the same directory.
  bool registered_ = false;
  unsigned long long dev_ = 0;
  unsigned long long ino_ = 0;
};

static_assert(store_backend<lmdb_store>, "lmdb_store must satisfy exo::store_backend");

}  // namespace exo
