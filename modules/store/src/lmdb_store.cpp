#include <exo/store/lmdb_store.hpp>

#include <exo/core/hash.hpp>

#include <fmt/format.h>
#include <lmdb.h>

#include <algorithm>
#include <array>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace exo {
namespace {

// ---------------------------------------------------------------------------------------------
// Errors

std::string errno_text(int e) { return std::error_code(e, std::generic_category()).message(); }

// An LMDB failure while `doing` something in `dir`, with a code and advice that fit it.
error lmdb_failure(int rc, std::string_view doing, const std::string& dir) {
  std::string what = fmt::format("{} in data directory {} failed: {}", doing, dir, mdb_strerror(rc));
  switch (rc) {
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
      return {errc::malformed, what + "; the store is damaged: restore the data directory from a backup"};
    case MDB_VERSION_MISMATCH:
      return {errc::invalid_argument,
              what + "; its files were written by an incompatible LMDB version: use the exo build that "
                     "wrote them (if no process is using the store, deleting lock.mdb may also help)"};
    case MDB_MAP_FULL:
      return {errc::limit_exceeded, what + "; reopen the store with a larger lmdb_options::map_size"};
    case MDB_TXN_FULL:
      return {errc::limit_exceeded, what + "; the commit is too large for one transaction: commit less at once"};
    case MDB_READERS_FULL:
      return {errc::limit_exceeded, what + "; too many processes or threads are reading the store: close some"};
    case MDB_BAD_VALSIZE:
      return {errc::invalid_argument, what + "; a key or value is too large for LMDB"};
    case ENOSPC:
      return {errc::internal, what + "; the disk is full: free space and retry"};
    case EACCES:
    case EPERM:
    case EROFS:
      return {errc::internal, what + "; check the permissions of the directory and its files"};
    default:
      return {errc::internal, what + "; it may succeed if retried"};
  }
}

// A short, printable rendering of bytes found on disk, for messages.
std::string printable(byte_view b) {
  std::string s;
  for (std::size_t i = 0; i < b.size() && i < 40; ++i) {
    auto c = b[i];
    if (c >= 0x20 && c < 0x7f && c != '\'') s += static_cast<char>(c);
    else s += fmt::format("\\x{:02x}", c);
  }
  if (b.size() > 40) s += "...";
  return s;
}

// ---------------------------------------------------------------------------------------------
// Transactions

MDB_val view_val(byte_view b) {
  return MDB_val{b.size(), const_cast<std::uint8_t*>(b.data())};
}
MDB_val view_val(std::string_view s) { return view_val(as_bytes(s)); }
bytes copy_val(const MDB_val& v) {
  const auto* p = static_cast<const std::uint8_t*>(v.mv_data);
  return bytes(p, p + v.mv_size);
}

// Positions as keys: 8 bytes big-endian, so that LMDB's byte order is numeric order.
using pos_key = std::array<std::uint8_t, 8>;
pos_key encode_pos(node_pos p) {
  pos_key k;
  for (int i = 7; i >= 0; --i, p >>= 8) k[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(p);
  return k;
}
std::optional<node_pos> decode_pos(const MDB_val& v) {
  if (v.mv_size != 8) return std::nullopt;
  node_pos p = 0;
  for (std::size_t i = 0; i < 8; ++i) p = (p << 8) | static_cast<const std::uint8_t*>(v.mv_data)[i];
  return p;
}
MDB_val view_val(const pos_key& k) { return MDB_val{k.size(), const_cast<std::uint8_t*>(k.data())}; }

// Sets `next` to the position after the last stored node (1 for an empty nodes database);
// returns 0 or an LMDB code.
int next_free(MDB_txn* txn, MDB_dbi dbi, node_pos& next) {
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(txn, dbi, &c);
  if (rc != 0) return rc;
  MDB_val key{}, val{};
  rc = mdb_cursor_get(c, &key, &val, MDB_LAST);
  mdb_cursor_close(c);
  if (rc == MDB_NOTFOUND) {
    next = 1;
    return 0;
  }
  if (rc != 0) return rc;
  auto last = decode_pos(key);
  if (!last) return MDB_CORRUPTED;
  next = *last + 1;
  return 0;
}

// Begins a transaction; adopts a map another process has grown.
int begin_txn(MDB_env* env, unsigned flags, MDB_txn** txn) {
  int rc = mdb_txn_begin(env, nullptr, flags, txn);
  if (rc == MDB_MAP_RESIZED) {
    rc = mdb_env_set_mapsize(env, 0);
    if (rc == 0) rc = mdb_txn_begin(env, nullptr, flags, txn);
  }
  return rc;
}

// Aborts the transaction it holds when it goes out of scope.
struct txn_guard {
  MDB_txn* txn = nullptr;
  txn_guard() = default;
  txn_guard(const txn_guard&) = delete;
  txn_guard& operator=(const txn_guard&) = delete;
  ~txn_guard() {
    if (txn) mdb_txn_abort(txn);
  }
  // Commits; the transaction is gone afterwards whatever the result.
  int commit() { return mdb_txn_commit(std::exchange(txn, nullptr)); }
};

// How often one commit may double a full map before it reports the store full.
constexpr int max_map_growths = 10;

// Runs body(txn) (an LMDB code) in a write transaction and commits it. When the map is full,
// grows it and runs body again in a new transaction. LMDB grows a map only while this process
// has no transaction open: `readers`, when given, is what readers on other threads hold
// (shared) while theirs are open, and growing takes it exclusively.
template <class F>
expected<void> run_write(MDB_env* env, const std::string& dir, std::string_view doing, F&& body,
                         std::shared_mutex* readers = nullptr) {
  for (int grown = 0;; ++grown) {
    int rc = 0;
    {
      txn_guard g;
      rc = begin_txn(env, 0, &g.txn);
      if (rc != 0) return unexpected{lmdb_failure(rc, fmt::format("starting {}", doing), dir)};
      rc = body(g.txn);
      if (rc == 0) rc = g.commit();
    }
    if (rc == 0) return {};
    if (rc != MDB_MAP_FULL) return unexpected{lmdb_failure(rc, doing, dir)};
    MDB_envinfo info{};
    mdb_env_info(env, &info);
    if (grown >= max_map_growths || info.me_mapsize > std::numeric_limits<std::size_t>::max() / 2)
      return fail(errc::limit_exceeded,
                  fmt::format("{} in data directory {} failed: the store is full at a map size of {} bytes, "
                              "grown {} times in this commit; commit less at once, or reopen with a larger "
                              "lmdb_options::map_size",
                              doing, dir, info.me_mapsize, grown));
    std::size_t bigger = info.me_mapsize * 2;
    int grc = 0;
    if (readers) {
      std::unique_lock alone(*readers);
      grc = mdb_env_set_mapsize(env, bigger);
    } else {
      grc = mdb_env_set_mapsize(env, bigger);
    }
    if (grc != 0)
      return fail(errc::limit_exceeded,
                  fmt::format("{} in data directory {} failed: the store is full at a map size of {} bytes and "
                              "could not grow to {} bytes ({}); free address space or disk, or reopen with a "
                              "larger lmdb_options::map_size",
                              doing, dir, info.me_mapsize, bigger, mdb_strerror(grc)));
  }
}

// ---------------------------------------------------------------------------------------------
// One open environment per data file per process (LMDB's rule), keyed by (device, inode).

struct open_registry {
  std::mutex mutex;
  std::set<std::pair<unsigned long long, unsigned long long>> open;
};
open_registry& registry() {
  static open_registry r;
  return r;
}

// ---------------------------------------------------------------------------------------------
// Checking data.mdb before LMDB maps it. LMDB trusts the file: it maps it and follows page
// numbers, so a file cut short makes it touch pages past the end, and the process dies of
// SIGBUS. Before opening we read the two meta pages ourselves and make sure the committed
// data lies inside the file. The layout is LMDB 0.9's (lmdb.h's MDB_VERSION_MAJOR 0, data
// format version 1), in native byte order as LMDB writes it.

static_assert(MDB_VERSION_MAJOR == 0 && MDB_VERSION_MINOR == 9, "the data.mdb checks know LMDB 0.9's layout");

constexpr std::size_t page_header_size = 16;      // MDB_page up to mp_ptrs
constexpr std::size_t meta_read_size = 16 + 136;  // page header + MDB_meta
constexpr std::uint32_t mdb_magic = 0xBEEFC0DE;
constexpr std::uint32_t mdb_data_version = 1;
constexpr std::uint16_t page_branch = 0x01, page_leaf = 0x02, page_overflow = 0x04, page_meta = 0x08,
                        page_leaf2 = 0x20;
constexpr std::uint16_t node_bigdata = 0x01, node_subdata = 0x02;
constexpr std::uint64_t no_page = ~std::uint64_t{0};
// Offsets in a meta page (page header, then MDB_meta: magic, version, address, mapsize,
// the free-list and main MDB_db records (48 bytes each), last page, transaction id).
constexpr std::size_t off_flags = 10, off_lower = 12, off_upper = 14, off_pages = 12;
constexpr std::size_t off_magic = 16, off_version = 20, off_psize = 40, off_free_root = 80,
                      off_main_root = 128, off_last_pg = 136, off_txnid = 144;
constexpr std::size_t db_record_size = 48, db_root_offset = 40, node_header_size = 8;

template <class T>
T load(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

struct meta_page {
  std::uint32_t psize = 0;
  std::uint64_t free_root = 0, main_root = 0, last_pg = 0, txnid = 0;
};

bool read_at(int fd, std::uint8_t* buf, std::size_t n, std::uint64_t offset) {
  while (n > 0) {
    ssize_t got = ::pread(fd, buf, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got == 0) errno = EIO;  // the file ended early: it shrank while we read it
    if (got <= 0) return false;
    buf += got;
    n -= static_cast<std::size_t>(got);
    offset += static_cast<std::uint64_t>(got);
  }
  return true;
}

class data_file_check {
 public:
  data_file_check(int fd, std::uint64_t size, std::string path) : fd_(fd), size_(size), path_(std::move(path)) {}

  // Fails unless the file holds a whole LMDB database (as far as its meta pages say).
  expected<void> run() {
    std::uint8_t buf[meta_read_size];
    if (size_ < meta_read_size) return truncated(fmt::format("it is {} bytes, too short to hold LMDB's first meta page", size_));
    if (!read_at(fd_, buf, sizeof buf, 0)) return io_failure();
    auto m0 = parse_meta(buf, 0);
    if (!m0) return unexpected{std::move(m0).error()};
    std::uint64_t psize = m0->psize;
    if (size_ < psize + meta_read_size)
      return truncated(fmt::format("it is {} bytes, too short to hold LMDB's second meta page", size_));
    if (!read_at(fd_, buf, sizeof buf, psize)) return io_failure();
    auto m1 = parse_meta(buf, 1);
    if (!m1) return unexpected{std::move(m1).error()};
    if (m1->psize != m0->psize) return damaged("its two meta pages disagree about the page size");
    meta_page m = m1->txnid > m0->txnid ? *m1 : *m0;  // the one LMDB will use
    psize_ = psize;
    pages_ = m.last_pg + 1;
    if (m.last_pg < 1 || m.last_pg > (std::uint64_t{1} << 48) / psize)
      return damaged(fmt::format("its meta page names an impossible last page {}", m.last_pg));
    if (size_ >= pages_ * psize_) return {};
    // Shorter than the committed size. LMDB may leave pages it allocated and freed within one
    // transaction unwritten at the end, so this alone is no proof of damage: walk every tree
    // and check that each page reachable from the current meta page is inside the file.
    return walk(m);
  }

 private:
  expected<meta_page> parse_meta(const std::uint8_t* p, int n) const {
    if (load<std::uint32_t>(p + off_magic) != mdb_magic || !(load<std::uint16_t>(p + off_flags) & page_meta))
      return fail(errc::malformed,
                  fmt::format("{} is not an LMDB database: meta page {} has no LMDB signature; the file is "
                              "damaged or was not written by exo; restore the data directory from a backup",
                              path_, n));
    if (auto v = load<std::uint32_t>(p + off_version); v != mdb_data_version)
      return fail(errc::invalid_argument,
                  fmt::format("{} uses LMDB data format version {}, but this build's LMDB reads version {}; "
                              "open it with the exo build that wrote it",
                              path_, v, mdb_data_version));
    meta_page m;
    m.psize = load<std::uint32_t>(p + off_psize);
    m.free_root = load<std::uint64_t>(p + off_free_root);
    m.main_root = load<std::uint64_t>(p + off_main_root);
    m.last_pg = load<std::uint64_t>(p + off_last_pg);
    m.txnid = load<std::uint64_t>(p + off_txnid);
    if (m.psize < 512 || m.psize > 65536 || (m.psize & (m.psize - 1)) != 0)
      return fail(errc::malformed, fmt::format("{} is damaged: meta page {} gives an impossible page size {}; "
                                               "restore the data directory from a backup",
                                               path_, n, m.psize));
    return m;
  }

  expected<void> walk(const meta_page& m) {
    std::vector<bool> seen(size_ / psize_);  // check_range keeps page numbers inside the file
    std::vector<std::uint64_t> todo;
    for (auto root : {m.free_root, m.main_root})
      if (root != no_page) todo.push_back(root);
    std::vector<std::uint8_t> page(psize_);
    while (!todo.empty()) {
      std::uint64_t pgno = todo.back();
      todo.pop_back();
      if (auto r = check_range(pgno, 1); !r) return r;
      if (seen[pgno]) return damaged(fmt::format("page {} is reachable twice", pgno));
      seen[pgno] = true;
      if (!read_at(fd_, page.data(), psize_, pgno * psize_)) return io_failure();
      const std::uint8_t* p = page.data();
      auto flags = load<std::uint16_t>(p + off_flags);
      if (load<std::uint64_t>(p) != pgno || !(flags & (page_branch | page_leaf)))
        return damaged(fmt::format("page {} is not the tree page its parent says it is", pgno));
      if (flags & page_leaf2) continue;  // fixed-size duplicates: no page references
      std::size_t lower = load<std::uint16_t>(p + off_lower), upper = load<std::uint16_t>(p + off_upper);
      if (lower < page_header_size || lower > upper || upper > psize_)
        return damaged(fmt::format("page {} has an impossible layout", pgno));
      std::size_t keys = (lower - page_header_size) / 2;
      for (std::size_t i = 0; i < keys; ++i) {
        std::size_t node = load<std::uint16_t>(p + page_header_size + 2 * i);
        if (node < upper || node + node_header_size > psize_)
          return damaged(fmt::format("page {} has a node outside the page", pgno));
        auto lo = load<std::uint16_t>(p + node), hi = load<std::uint16_t>(p + node + 2);
        auto nflags = load<std::uint16_t>(p + node + 4), ksize = load<std::uint16_t>(p + node + 6);
        if (flags & page_branch) {
          todo.push_back(std::uint64_t{lo} | (std::uint64_t{hi} << 16) | (std::uint64_t{nflags} << 32));
          continue;
        }
        std::size_t data = node + node_header_size + ksize;
        if (nflags & node_bigdata) {
          if (data + 8 > psize_) return damaged(fmt::format("page {} has a node outside the page", pgno));
          if (auto r = check_overflow(load<std::uint64_t>(p + data)); !r) return r;
        } else if (nflags & node_subdata) {  // a named database or a duplicate set's tree
          if (data + db_record_size > psize_) return damaged(fmt::format("page {} has a node outside the page", pgno));
          if (auto root = load<std::uint64_t>(p + data + db_root_offset); root != no_page) todo.push_back(root);
        }
      }
    }
    return {};
  }

  expected<void> check_overflow(std::uint64_t pgno) {
    if (auto r = check_range(pgno, 1); !r) return r;
    std::uint8_t head[page_header_size];
    if (!read_at(fd_, head, sizeof head, pgno * psize_)) return io_failure();
    if (load<std::uint64_t>(head) != pgno || !(load<std::uint16_t>(head + off_flags) & page_overflow))
      return damaged(fmt::format("page {} is not the overflow page a record says it is", pgno));
    return check_range(pgno, load<std::uint32_t>(head + off_pages));
  }

  // Pages [pgno, pgno + count) must be committed pages inside the file.
  expected<void> check_range(std::uint64_t pgno, std::uint64_t count) {
    if (count == 0 || pgno >= pages_ || count > pages_ - pgno)
      return damaged(fmt::format("a reference to page {} points past the last committed page {}", pgno, pages_ - 1));
    if ((pgno + count) * psize_ > size_)
      return truncated(fmt::format("it is {} bytes, but its committed data reaches byte {} (page {})", size_,
                                   (pgno + count) * psize_, pgno + count - 1));
    return {};
  }

  unexpected<error> truncated(const std::string& detail) const {
    return fail(errc::malformed, fmt::format("{} is truncated: {}; the file was cut short (an incomplete copy, a "
                                             "full disk?); restore the data directory from a backup",
                                             path_, detail));
  }
  unexpected<error> damaged(const std::string& detail) const {
    return fail(errc::malformed,
                fmt::format("{} is damaged: {}; restore the data directory from a backup", path_, detail));
  }
  unexpected<error> io_failure() const {
    return fail(errc::internal, fmt::format("cannot read {}: {}; check the file and retry", path_, errno_text(errno)));
  }

  int fd_;
  std::uint64_t size_;
  std::string path_;
  std::uint64_t psize_ = 0;
  std::uint64_t pages_ = 0;
};

// Checks data.mdb; true if it is empty (LMDB will initialise it).
expected<bool> check_data_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(errc::internal,
                fmt::format("cannot read {}: {}; check its permissions", path, errno_text(errno)));
  struct stat st {};
  expected<bool> result = false;
  if (::fstat(fd, &st) != 0) {
    result = fail(errc::internal, fmt::format("cannot inspect {}: {}", path, errno_text(errno)));
  } else if (st.st_size == 0) {
    result = true;
  } else if (auto r = data_file_check(fd, static_cast<std::uint64_t>(st.st_size), path).run(); !r) {
    result = unexpected{std::move(r).error()};
  }
  ::close(fd);
  return result;
}

// The first entry of `dir` that a new store would not have made, if any.
std::optional<std::string> foreign_entry(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    auto name = e.path().filename().string();
    if (name != "lock.mdb") return name;
  }
  if (ec) return std::string("(unreadable: ") + ec.message() + ")";
  return std::nullopt;
}

std::string not_exo(const std::string& dir, std::string_view why) {
  return fmt::format("{} is not an exo data directory: {}", dir, why);
}

bool valid_meta_name(std::string_view name) { return !name.empty() && name.size() <= lmdb_store::max_meta_name; }

// The metadata records of a batch that no store may take: nothing of it is written.
expected<void> check_meta_names(const commit_batch& batch) {
  for (const auto& [name, value] : batch.meta) {
    if (!valid_meta_name(name))
      return fail(errc::invalid_argument,
                  fmt::format("metadata name '{}' is {} bytes; names must be 1 to {} bytes; nothing was committed",
                              printable(as_bytes(name)), name.size(), lmdb_store::max_meta_name));
    if (name == lmdb_store::format_key || name == lmdb_store::head_key || name == lmdb_store::journal_key)
      return fail(errc::invalid_argument,
                  fmt::format("metadata name '{}' is reserved by the store; pick another name; nothing was "
                              "committed",
                              name));
  }
  return {};
}

// The head record's bytes: the root's hash, then its position.
bytes head_record(const root_ref& head) {
  auto hp = encode_pos(head.pos);
  bytes rec(head.hash.view().begin(), head.hash.view().end());
  rec.insert(rec.end(), hp.begin(), hp.end());
  return rec;
}

// What a write needs of the environment (copied, so that a writer thread does not depend on
// the lmdb_store object, which may be moved).
struct target {
  MDB_env* env = nullptr;
  MDB_dbi nodes = 0, roots = 0, meta = 0;
  std::string dir;
  bool write_ahead = false;  // lmdb_options::write_ahead, for a durable store
  bool journal_owner = false;  // this process writes through the journal (it applies it)
};

// ---------------------------------------------------------------------------------------------
// The journal's state record (lmdb_store::journal_key): 8 bytes little-endian, the sequence
// number of the last journal record applied to data.mdb, then one byte, 1 while a process
// writes through the journal (or stopped without applying all of it), 0 once it is all
// applied.

struct journal_state {
  std::uint64_t applied = 0;
  bool open = false;
};

void put_le(bytes& out, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i, v >>= 8) out.push_back(static_cast<std::uint8_t>(v));
}
std::uint64_t get_le(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

bytes encode_state(const journal_state& j) {
  bytes out;
  put_le(out, j.applied, 8);
  out.push_back(j.open ? 1 : 0);
  return out;
}

// Reads the journal's state in `txn` (absent: never journaled); an LMDB code, or
// MDB_CORRUPTED for a record that is not one.
int read_state(MDB_txn* txn, MDB_dbi meta, journal_state& j) {
  MDB_val key = view_val(lmdb_store::journal_key), val{};
  int rc = mdb_get(txn, meta, &key, &val);
  if (rc == MDB_NOTFOUND) {
    j = {};
    return 0;
  }
  if (rc != 0) return rc;
  const auto* p = static_cast<const std::uint8_t*>(val.mv_data);
  if (val.mv_size != 9 || p[8] > 1) return MDB_CORRUPTED;
  j.applied = get_le(p, 8);
  j.open = p[8] == 1;
  return 0;
}

unexpected<error> journal_state_damaged(const std::string& dir) {
  return fail(errc::malformed, fmt::format("the journal state record in data directory {} is damaged; restore the data "
                                           "directory from a backup",
                                           dir));
}

std::string journal_in_use(const std::string& dir) {
  return fmt::format("data directory {} is being written through its journal by another process (an exo server?), "
                     "or by one that stopped before applying it; stop that process, or reopen the store to apply "
                     "the journal; nothing was committed",
                     dir);
}

// Writes all `n` bytes at `offset` (the twin of read_at); false with errno set if it cannot.
bool write_at(int fd, const void* data, std::size_t n, std::uint64_t offset) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (n > 0) {
    ssize_t put = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (put < 0 && errno == EINTR) continue;
    if (put == 0) errno = ENOSPC;  // nothing written, and no reason given: the disk is full
    if (put <= 0) return false;
    p += put;
    n -= static_cast<std::size_t>(put);
    offset += static_cast<std::uint64_t>(put);
  }
  return true;
}

// Writes zeros into `fd` (the file at `path`) from `from` to `to`, and syncs them.
expected<void> zero_fill(int fd, const std::string& path, std::uint64_t from, std::uint64_t to) {
  static const std::vector<char> zeros(std::size_t{1} << 20, 0);
  for (std::uint64_t at = from; at < to; at += zeros.size())
    if (!write_at(fd, zeros.data(), static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), to - at)), at))
      return fail(errc::internal,
                  fmt::format("cannot extend {}: {}; free disk space and retry", path, errno_text(errno)));
  if (::fdatasync(fd) != 0)
    return fail(errc::internal, fmt::format("cannot sync {}: {}; check the disk", path, errno_text(errno)));
  return {};
}

// The most data.mdb is written ahead of LMDB's pages (see lmdb_options::write_ahead), and the
// least it is extended by.
constexpr std::uint64_t max_ahead = std::uint64_t{32} << 20, min_ahead = std::uint64_t{256} << 10;

// Keeps data.mdb written (with zeros) ahead of the pages LMDB uses, by about as much again as
// it uses (min_ahead to max_ahead). Called in a write transaction, so that no writer, in any
// process, allocates pages meanwhile; it only writes past the end of the file. It is an
// optimisation: if it fails (a full disk), the commit goes on and meets the problem itself.
void keep_written_ahead(MDB_env* env) {
  MDB_envinfo info{};
  MDB_stat st{};
  int fd = -1;
  struct stat fst {};
  if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &st) != 0 || mdb_env_get_fd(env, &fd) != 0 ||
      ::fstat(fd, &fst) != 0)
    return;
  const std::uint64_t used = (static_cast<std::uint64_t>(info.me_last_pgno) + 1) * st.ms_psize;
  const std::uint64_t ahead = std::clamp(used, min_ahead, max_ahead);
  const auto size = static_cast<std::uint64_t>(fst.st_size);
  if (size >= used + ahead / 2) return;
  const std::uint64_t end = std::min<std::uint64_t>(used + ahead, info.me_mapsize);
  // The new size and blocks reach the disk now, not with a commit.
  (void)zero_fill(fd, "data.mdb", size, end);
}

// Writes `n` consecutive batches in one write transaction: their nodes, records and roots,
// and the last one's head. `next` is the first free position (updated: to what LMDB says if
// the batches do not fit, else past them).
// `state`, when given, is written as the journal's state record in the same transaction. A
// writer that does not own the journal is refused while a process writes through it.
expected<void> write_batches(const target& t, node_pos& next, const commit_batch* const* batches, std::size_t n,
                             std::shared_mutex* readers = nullptr, const journal_state* state = nullptr) {
  std::optional<error> refused;  // the batches do not fit the store as this transaction sees it
  node_pos seen = next;
  auto r = run_write(
      t.env, t.dir, n == 1 ? "a commit" : fmt::format("writing {} commits", n),
      [&](MDB_txn* txn) {
        if (t.write_ahead) keep_written_ahead(t.env);
        if (!t.journal_owner) {
          journal_state j;
          if (int rc = read_state(txn, t.meta, j); rc != 0) return rc;
          if (j.open) {
            refused = error{errc::invalid_argument, journal_in_use(t.dir)};
            return MDB_BAD_TXN;
          }
        }
        if (state) {
          bytes rec = encode_state(*state);
          MDB_val key = view_val(lmdb_store::journal_key), val = view_val(rec);
          if (int rc = mdb_put(txn, t.meta, &key, &val, 0); rc != 0) return rc;
        }
        if (n == 0) return 0;
        // Another process may have committed since this one last looked.
        if (int rc = next_free(txn, t.nodes, seen); rc != 0) return rc;
        node_pos expect = seen;
        for (std::size_t i = 0; i < n; ++i) {
          if (auto ok = check_batch(*batches[i], expect); !ok) {
            refused = ok.error();
            return MDB_BAD_TXN;  // aborts; reported as `refused` below
          }
          expect += batches[i]->nodes.size();
        }
        MDB_cursor* c = nullptr;
        if (int rc = mdb_cursor_open(txn, t.nodes, &c); rc != 0) return rc;
        for (std::size_t i = 0; i < n; ++i) {
          node_pos pos = batches[i]->first;
          for (const auto& b : batches[i]->nodes) {
            auto k = encode_pos(pos++);
            MDB_val key = view_val(k), val = view_val(b);
            if (int rc = mdb_cursor_put(c, &key, &val, MDB_APPEND); rc != 0) {
              mdb_cursor_close(c);
              return rc;
            }
          }
        }
        mdb_cursor_close(c);
        for (std::size_t i = 0; i < n; ++i) {
          const commit_batch& b = *batches[i];
          for (const auto& [name, value] : b.meta) {
            MDB_val key = view_val(std::string_view(name)), val = view_val(value);
            if (int rc = mdb_put(txn, t.meta, &key, &val, 0); rc != 0) return rc;
          }
          if (b.head.pos != 0) {
            auto hp = encode_pos(b.head.pos);
            MDB_val key = view_val(b.head.hash.view()), val = view_val(hp);
            if (int rc = mdb_put(txn, t.roots, &key, &val, 0); rc != 0) return rc;
          }
        }
        bytes head = head_record(batches[n - 1]->head);
        MDB_val key = view_val(lmdb_store::head_key), val = view_val(head);
        return mdb_put(txn, t.meta, &key, &val, 0);
      },
      readers);
  if (refused) {
    next = seen;
    return unexpected{std::move(*refused)};
  }
  if (!r) return r;
  if (n > 0) next = batches[n - 1]->first + batches[n - 1]->nodes.size();
  return {};
}

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

constexpr std::uint32_t journal_magic = 0x4a4f5845;  // "EXOJ" in a little-endian u32
constexpr std::size_t record_header = 4 + 4 + 8 + 32;
constexpr std::uint64_t journal_start_size = std::uint64_t{4} << 20;
constexpr std::uint64_t journal_min_limit = std::uint64_t{64} << 10;
// When the writer applies the journal to data.mdb: this long after the oldest record it has
// not applied was written, or once this many commits wait, whichever comes first.
constexpr auto apply_after = std::chrono::milliseconds(20);
constexpr std::size_t apply_at_commits = 512;

void put_bytes(bytes& out, byte_view b) {
  put_le(out, b.size(), 4);
  out.insert(out.end(), b.begin(), b.end());
}

// Appends the record of commit `b`, numbered `seq`, to `out`; false if it would be longer
// than `limit` bytes (nothing is appended then).
bool append_record(bytes& out, std::uint64_t seq, const commit_batch& b, std::uint64_t limit) {
  std::uint64_t size = record_header + 8 + 4 + 32 + 8 + 4;
  for (const auto& n : b.nodes) size += 4 + n.size();
  for (const auto& [name, value] : b.meta) size += 8 + name.size() + value.size();
  if (size > limit || size - record_header > std::numeric_limits<std::uint32_t>::max()) return false;
  const std::size_t at = out.size();
  put_le(out, journal_magic, 4);
  put_le(out, size - record_header, 4);
  put_le(out, seq, 8);
  out.resize(out.size() + 32);  // the hash, below
  put_le(out, b.first, 8);
  put_le(out, b.nodes.size(), 4);
  for (const auto& n : b.nodes) put_bytes(out, n);
  out.insert(out.end(), b.head.hash.bytes.begin(), b.head.hash.bytes.end());
  put_le(out, b.head.pos, 8);
  put_le(out, b.meta.size(), 4);
  for (const auto& [name, value] : b.meta) {
    put_bytes(out, as_bytes(std::string_view(name)));
    put_bytes(out, value);
  }
  sha256 h;
  digest d = h.update(byte_view(out.data() + at + 8, 8)).update(byte_view(out.data() + at + record_header, size - record_header)).finish();
  std::memcpy(out.data() + at + 16, d.bytes.data(), 32);
  return true;
}

// Reads a record's payload; nullopt if it is not one (its hash matched, so this is not a torn
// write but a journal of another format).
std::optional<commit_batch> parse_payload(byte_view p) {
  std::size_t at = 0;
  auto need = [&](std::size_t n) { return p.size() - at >= n; };
  auto u = [&](int n) {
    auto v = get_le(p.data() + at, n);
    at += static_cast<std::size_t>(n);
    return v;
  };
  commit_batch b;
  if (!need(12)) return std::nullopt;
  b.first = u(8);
  const auto count = u(4);
  for (std::uint64_t i = 0; i < count; ++i) {
    if (!need(4)) return std::nullopt;
    const auto len = u(4);
    if (!need(len)) return std::nullopt;
    b.nodes.emplace_back(p.begin() + static_cast<std::ptrdiff_t>(at), p.begin() + static_cast<std::ptrdiff_t>(at + len));
    at += len;
  }
  if (!need(44)) return std::nullopt;
  std::memcpy(b.head.hash.bytes.data(), p.data() + at, 32);
  at += 32;
  b.head.pos = u(8);
  const auto records = u(4);
  for (std::uint64_t i = 0; i < records; ++i) {
    if (!need(4)) return std::nullopt;
    const auto nlen = u(4);
    if (!need(nlen + 4)) return std::nullopt;
    std::string name(reinterpret_cast<const char*>(p.data() + at), nlen);
    at += nlen;
    const auto vlen = u(4);
    if (!need(vlen)) return std::nullopt;
    b.meta.emplace_back(std::move(name), bytes(p.begin() + static_cast<std::ptrdiff_t>(at),
                                                p.begin() + static_cast<std::ptrdiff_t>(at + vlen)));
    at += vlen;
  }
  if (at != p.size()) return std::nullopt;
  return b;
}

// The commits in the journal (open as `fd`) that data.mdb does not have: those numbered past
// `applied`, in order.
expected<std::vector<commit_batch>> read_journal(int fd, const std::string& path, std::uint64_t applied) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return fail(errc::internal, fmt::format("cannot inspect {}: {}", path, errno_text(errno)));
  bytes all(static_cast<std::size_t>(st.st_size));
  if (!all.empty() && !read_at(fd, all.data(), all.size(), 0))
    return fail(errc::internal, fmt::format("cannot read {}: {}; check the file and retry", path, errno_text(errno)));
  std::vector<commit_batch> out;
  std::optional<std::uint64_t> last;  // the previous record's number
  sha256 h;
  for (std::size_t at = 0; all.size() - at >= record_header;) {
    const std::uint8_t* r = all.data() + at;
    const auto len = get_le(r + 4, 4), seq = get_le(r + 8, 8);
    if (get_le(r, 4) != journal_magic || len > all.size() - at - record_header) break;
    if (last && seq != *last + 1) break;  // left from before the journal started over
    digest d = h.update(byte_view(r + 8, 8)).update(byte_view(r + record_header, len)).finish();
    if (std::memcmp(d.bytes.data(), r + 16, 32) != 0) break;  // torn: its sync never returned
    if (seq > applied) {
      if (seq != applied + 1 + out.size())
        return fail(errc::malformed,
                    fmt::format("{} is damaged: it holds commit record {} but data.mdb has only those up to {}, "
                                "and the ones between are missing; restore the data directory from a backup",
                                path, seq, applied));
      auto b = parse_payload(byte_view(r + record_header, len));
      if (!b)
        return fail(errc::malformed, fmt::format("{} holds a record {} that is not a commit; it was not written by "
                                                 "this version of exo: restore the data directory from a backup",
                                                 path, seq));
      out.push_back(std::move(*b));
    }
    last = seq;
    at += record_header + len;
  }
  return out;
}

// Opens (creating) the journal and takes its lock; nullopt if another process holds it.
expected<std::optional<int>> lock_journal(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return fail(errc::internal, fmt::format("cannot open {}: {}; check the data directory's permissions", path,
                                            errno_text(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK) return std::optional<int>{};
    return fail(errc::internal, fmt::format("cannot lock {}: {}", path, errno_text(e)));
  }
  return std::optional<int>{fd};
}

// Applies what the journal (open and locked as `fd`) holds past data.mdb to it, in one
// transaction that also records the journal's state as `open` (true: the caller goes on
// writing through it). `next` becomes the first free position.
expected<journal_state> apply_journal(const target& t, int fd, const std::string& path, node_pos& next, bool open) {
  journal_state j;
  {
    txn_guard g;
    int rc = begin_txn(t.env, MDB_RDONLY, &g.txn);
    if (rc == 0) rc = read_state(g.txn, t.meta, j);
    if (rc == MDB_CORRUPTED) return journal_state_damaged(t.dir);
    if (rc != 0) return unexpected{lmdb_failure(rc, "reading the journal's state", t.dir)};
  }
  std::vector<commit_batch> left;
  if (j.open) {
    auto r = read_journal(fd, path, j.applied);
    if (!r) return unexpected{std::move(r).error()};
    left = std::move(*r);
  }
  std::vector<const commit_batch*> ptrs;
  for (const auto& b : left) ptrs.push_back(&b);
  journal_state after{j.applied + left.size(), open};
  target owner = t;
  owner.journal_owner = true;
  if (auto w = write_batches(owner, next, ptrs.data(), ptrs.size(), nullptr, &after); !w)
    return unexpected{error{w.error().code, fmt::format("applying the {} commits left in {} to data.mdb failed: {}",
                                                        left.size(), path, w.error().message)}};
  return after;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Write-behind: the queue of commits not yet on disk, and the thread that writes them.

struct lmdb_store::behind {
  using callback = std::function<void(const expected<void>&)>;
  using clock = std::chrono::steady_clock;
  struct waiter {
    std::uint64_t ticket;                    // told once this many commits are written (or dropped)
    callback fn;
    std::optional<expected<void>> result;    // set when resolved
  };
  // The journal, for a durable store (lmdb_options::journal). Only the writer thread uses it
  // once it runs.
  struct journal {
    int fd = -1;                             // open and locked (flock): closing unlocks it
    std::string path;
    std::uint64_t size = 0;                  // bytes written in the file (records or zeros)
    std::uint64_t offset = 0;                // where the next record goes
    std::uint64_t limit = 0;                 // lmdb_options::journal_limit
    std::uint64_t next_seq = 1;              // the next record's number
    bool closed = false;                     // its state record says all is applied
    journal() = default;
    journal(const journal&) = delete;
    journal& operator=(const journal&) = delete;
    ~journal() {
      if (fd >= 0) ::close(fd);
    }
  };

  target where;
  node_pos written_next;                     // the writer's: past what LMDB has
  std::unique_ptr<journal> jr;               // null: each round is an LMDB transaction
  mutable std::mutex mu;                     // guards everything below
  std::condition_variable cv;
  // Queued commits not in data.mdb yet, oldest first: in the journal, the first `journaled`
  // of them are on disk already.
  std::deque<commit_batch> queue;
  std::size_t journaled = 0;
  clock::time_point apply_due{};             // when the journaled ones go to data.mdb
  node_pos queued_next;                      // past the queue
  std::uint64_t queued = 0;                  // commits queued since write-behind began
  std::uint64_t written = 0;                 // of them, on disk (or dropped)
  lmdb_stats counted;                        // commits written, and their transactions
  std::deque<waiter> waiters;
  bool calling = false;                      // the writer is running callbacks
  std::optional<error> failed;               // a dropped commit's error, until reported
  std::optional<error> broken;               // applying the journal failed: no more commits
  bool stop = false;
  mutable std::shared_mutex readers;         // LMDB readers (shared); growing the map (alone)
  std::thread thread;

  behind(target t, node_pos next, std::unique_ptr<journal> j)
      : where(std::move(t)), written_next(next), jr(std::move(j)), queued_next(next) {}

  bool ready() const { return !waiters.empty() && waiters.front().result.has_value(); }
  bool pending() const { return queue.size() > journaled; }
  // Tells the waiters for commits up to `through` (in order, when the loop next calls them).
  void resolve(std::uint64_t through, const expected<void>& r) {
    for (auto& w : waiters)
      if (!w.result && w.ticket <= through) w.result = r;
  }
  // Drops the queued commits from index `from` on, which `why` stopped (they build on each
  // other), and tells their waiters.
  void drop_from(std::size_t from, const error& why) {
    const std::size_t dropped = queue.size() - from;
    queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(from), queue.end());
    written += dropped;
    queued_next = queue.empty() ? written_next : queue.back().first + queue.back().nodes.size();
    failed = error{why.code,
                   dropped == 1 ? fmt::format("a commit written behind failed and was dropped: {}", why.message)
                                : fmt::format("a commit written behind failed, and it and the {} commits queued with "
                                              "or after it (they build on it) were dropped: {}",
                                              dropped - 1, why.message)};
    resolve(written, unexpected{*failed});
  }

  void run() {
    std::unique_lock lk(mu);
    for (;;) {
      auto woken = [&] { return stop || pending() || ready(); };
      if (jr && journaled > 0 && !broken) cv.wait_until(lk, apply_due, woken);
      else cv.wait(lk, woken);
      if (ready()) {
        std::vector<waiter> now;
        while (ready()) {
          now.push_back(std::move(waiters.front()));
          waiters.pop_front();
        }
        calling = true;
        lk.unlock();
        for (auto& w : now) w.fn(*w.result);
        lk.lock();
        calling = false;
        continue;
      }
      if (jr && journaled > 0 && !broken &&
          ((stop && !pending()) || journaled >= apply_at_commits || clock::now() >= apply_due)) {
        apply(lk);
        continue;
      }
      if (pending()) {
        if (jr) write_journal(lk);
        else write_round(lk);
        continue;
      }
      if (!stop) continue;
      // Stopping, and everything is written and told.
      if (jr && !broken && !jr->closed) {
        journal_state done{jr->next_seq - 1, false};
        lk.unlock();
        auto r = write_batches(where, written_next, nullptr, 0, &readers, &done);
        lk.lock();
        if (r) jr->closed = true;
        else broken = r.error();
      }
      return;
    }
  }

  // Without a journal: everything queued goes in one LMDB transaction. The deque's elements
  // stay where they are while the user queues more, and only this thread removes them.
  void write_round(std::unique_lock<std::mutex>& lk) {
    std::vector<const commit_batch*> batch;
    for (const auto& b : queue) batch.push_back(&b);
    lk.unlock();
    auto r = write_batches(where, written_next, batch.data(), batch.size(), &readers);
    lk.lock();
    if (!r) {
      drop_from(0, r.error());
      return;
    }
    counted.commits += batch.size();
    ++counted.transactions;
    queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(batch.size()));
    written += batch.size();
    resolve(written, r);
  }

  // With a journal: everything not in it yet goes in one write and one fdatasync.
  void write_journal(std::unique_lock<std::mutex>& lk) {
    std::vector<const commit_batch*> todo;
    for (std::size_t i = journaled; i < queue.size(); ++i) todo.push_back(&queue[i]);
    // With all it holds applied (only this thread applies), the journal starts over.
    if (journaled == 0) jr->offset = 0;
    lk.unlock();
    bytes out;
    std::size_t fit = 0;
    for (; fit < todo.size(); ++fit)
      if (!append_record(out, jr->next_seq + fit, *todo[fit], jr->limit)) break;
    std::optional<error> too_big, failed_write;
    if (fit < todo.size())
      too_big = error{errc::limit_exceeded,
                      fmt::format("a commit of {} nodes is larger than the journal may grow ({} bytes); commit less "
                                  "at once, or reopen with a larger lmdb_options::journal_limit",
                                  todo[fit]->nodes.size(), jr->limit)};
    if (!out.empty()) {
      if (auto room = make_room(lk, out.size()); !room) {
        failed_write = room.error();
      } else {
        if (!write_at(jr->fd, out.data(), out.size(), jr->offset) || ::fdatasync(jr->fd) != 0)
          failed_write =
              error{errc::internal, fmt::format("writing {} failed: {}; check the disk", jr->path, errno_text(errno))};
      }
    }
    lk.lock();
    if (failed_write) fit = 0;  // none of this write is durable
    if (fit > 0) {
      if (journaled == 0) apply_due = clock::now() + apply_after;
      jr->offset += out.size();
      jr->next_seq += fit;
      journaled += fit;
      written += fit;
      counted.commits += fit;
      ++counted.journal_writes;
      resolve(written, expected<void>{});
    }
    if (failed_write) drop_from(journaled, *failed_write);
    else if (too_big) drop_from(journaled, *too_big);
  }

  // Makes room for `need` more bytes at the journal's offset: starts it over if data.mdb has
  // all it holds (applying it first if not), and grows it if that is not enough.
  expected<void> make_room(std::unique_lock<std::mutex>& lk, std::uint64_t need) {
    if (jr->offset + need <= jr->size) return {};
    if (jr->offset > 0) {
      lk.lock();
      if (journaled > 0) apply(lk);
      const bool ok = journaled == 0;
      std::optional<error> b = broken;
      lk.unlock();
      if (!ok) return unexpected{b ? *b : error{errc::internal, "the journal could not be applied"}};
      jr->offset = 0;
    }
    if (need <= jr->size) return {};
    const std::uint64_t to = std::min(jr->limit, std::max(need, jr->size * 2));
    if (auto r = zero_fill(jr->fd, jr->path, jr->size, to); !r) return r;
    jr->size = to;
    return {};
  }

  // Applies the journaled commits to data.mdb in one transaction; they leave the queue (reads
  // find them in data.mdb from then on). If it fails, the store is broken: it takes no more
  // commits, and the journal keeps these for the next open.
  void apply(std::unique_lock<std::mutex>& lk) {
    std::vector<const commit_batch*> batch;
    for (std::size_t i = 0; i < journaled; ++i) batch.push_back(&queue[i]);
    // Once this is all applied and nothing more is coming, the journal is closed with it.
    const bool last = stop && !pending();
    const journal_state state{jr->next_seq - 1, !last};  // the journaled ones are the last records written
    lk.unlock();
    auto r = write_batches(where, written_next, batch.data(), batch.size(), &readers, &state);
    lk.lock();
    if (!r) {
      broken = error{r.error().code,
                     fmt::format("applying the journal to data.mdb failed, so the store takes no more commits: {}; "
                                 "nothing it acknowledged is lost: {} keeps it, and reopening the store applies it",
                                 r.error().message, jr->path)};
      return;
    }
    ++counted.transactions;
    queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(batch.size()));
    journaled = 0;
    if (last) jr->closed = true;
  }
};

// -----------------------------------------------------------------------------------------------

expected<lmdb_store> lmdb_store::open(const std::string& dir, lmdb_options options) {
  if (dir.empty()) return fail(errc::invalid_argument, "the data directory name is empty; pass a directory path");
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    int e = errno;
    if (e != ENOENT)
      return fail(errc::internal, fmt::format("cannot inspect data directory {}: {}; check the path and its "
                                              "permissions",
                                              dir, errno_text(e)));
    if (!options.create)
      return fail(errc::invalid_argument,
                  fmt::format("data directory {} does not exist; check the path, or create a new store there "
                              "by opening it with lmdb_options{{.create = true}}",
                              dir));
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      return fail(errc::internal, fmt::format("cannot create data directory {}: {}; its parent directory must "
                                              "exist and be writable",
                                              dir, errno_text(errno)));
    if (::stat(dir.c_str(), &st) != 0)
      return fail(errc::internal, fmt::format("cannot inspect data directory {}: {}", dir, errno_text(errno)));
  }
  if (!S_ISDIR(st.st_mode))
    return fail(errc::invalid_argument,
                fmt::format("{} is not a directory; a data directory is a directory holding data.mdb and lock.mdb",
                            dir));

  auto& reg = registry();
  std::lock_guard lock(reg.mutex);

  const std::string data_path = dir + "/data.mdb";
  struct stat dst {};
  if (::stat(data_path.c_str(), &dst) != 0) {
    int e = errno;
    if (e != ENOENT) return fail(errc::internal, fmt::format("cannot inspect {}: {}", data_path, errno_text(e)));
    if (!options.create)
      return fail(errc::invalid_argument,
                  not_exo(dir, "it has no data.mdb; check the path, or open it with lmdb_options{.create = true} "
                               "to start a new store there"));
    if (auto other = foreign_entry(dir))
      return fail(errc::invalid_argument,
                  not_exo(dir, fmt::format("it has no data.mdb and holds other files (such as '{}'); a new store "
                                           "needs an empty or new directory",
                                           *other)));
  } else {
    if (!S_ISREG(dst.st_mode))
      return fail(errc::invalid_argument, not_exo(dir, "its data.mdb is not a regular file"));
    if (reg.open.count({static_cast<unsigned long long>(dst.st_dev), static_cast<unsigned long long>(dst.st_ino)}))
      return fail(errc::invalid_argument,
                  fmt::format("data directory {} is already open in this process; use the lmdb_store that has it "
                              "open (LMDB forbids opening one environment twice in a process)",
                              dir));
    auto empty = check_data_file(data_path);
    if (!empty) return unexpected{std::move(empty).error()};
    if (*empty && !options.create)
      return fail(errc::invalid_argument,
                  not_exo(dir, "its data.mdb is empty (perhaps creating a store there was interrupted); open it "
                               "with lmdb_options{.create = true} to initialise it"));
  }

  lmdb_store s;
  s.dir_ = dir;
  s.durable_ = options.durable;
  s.write_ahead_ = options.durable && options.write_ahead;
  s.journal_ = options.journal;
  if (options.durable && options.journal && options.journal_limit < journal_min_limit)
    return fail(errc::invalid_argument, fmt::format("lmdb_options::journal_limit is {} bytes; it must be at least {}",
                                                    options.journal_limit, journal_min_limit));
  s.journal_limit_ = options.journal_limit;
  int rc = mdb_env_create(&s.env_);
  if (rc != 0) {
    s.env_ = nullptr;
    return unexpected{lmdb_failure(rc, "creating an LMDB environment", dir)};
  }
  // From here on `s` owns env_ (its destructor closes it); it is not registered yet.
  if ((rc = mdb_env_set_maxdbs(s.env_, 8)) != 0 || (rc = mdb_env_set_mapsize(s.env_, options.map_size)) != 0)
    return unexpected{lmdb_failure(rc, "configuring the LMDB environment", dir)};
  unsigned flags = MDB_NOTLS | (options.durable ? 0u : unsigned{MDB_NOSYNC});
  if ((rc = mdb_env_open(s.env_, dir.c_str(), flags, 0600)) != 0)
    return unexpected{lmdb_failure(rc, "opening the LMDB environment (data.mdb, lock.mdb)", dir)};
  int dead = 0;
  mdb_reader_check(s.env_, &dead);  // clear reader slots of processes that died

  int fd = -1;
  struct stat fst {};
  if (mdb_env_get_fd(s.env_, &fd) != 0 || ::fstat(fd, &fst) != 0)
    return fail(errc::internal, fmt::format("cannot inspect {}: {}", data_path, errno_text(errno)));
  s.dev_ = static_cast<unsigned long long>(fst.st_dev);
  s.ino_ = static_cast<unsigned long long>(fst.st_ino);

  // The format marker, and the database handles.
  bool initialise = false;
  {
    txn_guard g;
    if ((rc = begin_txn(s.env_, MDB_RDONLY, &g.txn)) != 0)
      return unexpected{lmdb_failure(rc, "starting a read transaction", dir)};
    rc = mdb_dbi_open(g.txn, "meta", 0, &s.meta_dbi_);
    if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
      MDB_dbi main_dbi = 0;
      MDB_stat ms{};
      if ((rc = mdb_dbi_open(g.txn, nullptr, 0, &main_dbi)) != 0 || (rc = mdb_stat(g.txn, main_dbi, &ms)) != 0)
        return unexpected{lmdb_failure(rc, "reading the database list", dir)};
      if (ms.ms_entries != 0)
        return fail(errc::invalid_argument,
                    not_exo(dir, fmt::format("its data.mdb is an LMDB database without exo's format marker "
                                             "({}); check the path",
                                             format_key)));
      if (!options.create)
        return fail(errc::invalid_argument,
                    not_exo(dir, "its data.mdb holds an empty LMDB database (perhaps creating a store there was "
                                 "interrupted); open it with lmdb_options{.create = true} to initialise it"));
      initialise = true;
    } else if (rc != 0) {
      return unexpected{lmdb_failure(rc, "opening the meta database", dir)};
    } else {
      MDB_val key = view_val(format_key), val{};
      rc = mdb_get(g.txn, s.meta_dbi_, &key, &val);
      if (rc == MDB_NOTFOUND)
        return fail(errc::invalid_argument,
                    not_exo(dir, fmt::format("its data.mdb has a meta database but no format marker ({}); check "
                                             "the path",
                                             format_key)));
      if (rc != 0) return unexpected{lmdb_failure(rc, "reading the format marker", dir)};
      std::string_view marker(static_cast<const char*>(val.mv_data), val.mv_size);
      if (marker != format_marker) {
        if (marker.starts_with("exo-store-"))
          return fail(errc::invalid_argument,
                      fmt::format("data directory {} holds a store of format '{}', but this build of exo reads "
                                  "'{}'; open it with a matching version of exo",
                                  dir, printable(as_bytes(marker)), format_marker));
        return fail(errc::invalid_argument,
                    not_exo(dir, fmt::format("its format marker is '{}', not '{}'", printable(as_bytes(marker)),
                                             format_marker)));
      }
      for (auto [name, dbi] : {std::pair{"nodes", &s.nodes_dbi_}, std::pair{"roots", &s.roots_dbi_}}) {
        rc = mdb_dbi_open(g.txn, name, 0, dbi);
        if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE)
          return fail(errc::malformed,
                      fmt::format("data directory {} has exo's format marker but no {} database: the store is "
                                  "damaged; restore the data directory from a backup",
                                  dir, name));
        if (rc != 0) return unexpected{lmdb_failure(rc, fmt::format("opening the {} database", name), dir)};
      }
      if ((rc = next_free(g.txn, s.nodes_dbi_, s.next_)) != 0)
        return unexpected{lmdb_failure(rc, "finding the last stored node", dir)};
      journal_state j;
      if ((rc = read_state(g.txn, s.meta_dbi_, j)) == MDB_CORRUPTED) return journal_state_damaged(dir);
      if (rc != 0) return unexpected{lmdb_failure(rc, "reading the journal's state", dir)};
      if ((rc = g.commit()) != 0)  // keeps the database handles for later transactions
        return unexpected{lmdb_failure(rc, "finishing a read transaction", dir)};
      if (j.open) {
        // A process writes through the journal, or stopped before applying all of it. If
        // nobody holds it, apply what it has.
        const std::string path = dir + "/" + std::string(journal_file);
        if (::access(path.c_str(), F_OK) != 0)
          return fail(errc::malformed,
                      fmt::format("data directory {} has commits in its journal, but {} is missing; restore the "
                                  "data directory from a backup",
                                  dir, path));
        auto fd = lock_journal(path);
        if (!fd) return unexpected{std::move(fd).error()};
        if (*fd) {
          auto applied = apply_journal(target{s.env_, s.nodes_dbi_, s.roots_dbi_, s.meta_dbi_, dir, s.write_ahead_},
                                       **fd, path, s.next_, false);
          ::close(**fd);
          if (!applied) return unexpected{std::move(applied).error()};
        }
      }
    }
  }
  if (initialise) {
    auto r = run_write(s.env_, dir, "initialising a new store", [&](MDB_txn* txn) {
      int c = mdb_dbi_open(txn, "meta", MDB_CREATE, &s.meta_dbi_);
      if (c == 0) c = mdb_dbi_open(txn, "nodes", MDB_CREATE, &s.nodes_dbi_);
      if (c == 0) c = mdb_dbi_open(txn, "roots", MDB_CREATE, &s.roots_dbi_);
      MDB_val key = view_val(format_key), val = view_val(format_marker);
      if (c == 0) c = mdb_put(txn, s.meta_dbi_, &key, &val, 0);
      return c;
    });
    if (!r) return unexpected{std::move(r).error()};
  }
  reg.open.insert({s.dev_, s.ino_});
  s.registered_ = true;
  return s;
}

lmdb_store::lmdb_store(lmdb_store&& other) noexcept
    : env_(std::exchange(other.env_, nullptr)),
      nodes_dbi_(other.nodes_dbi_),
      roots_dbi_(other.roots_dbi_),
      meta_dbi_(other.meta_dbi_),
      next_(other.next_),
      dir_(std::move(other.dir_)),
      durable_(other.durable_),
      write_ahead_(other.write_ahead_),
      journal_(other.journal_),
      journal_limit_(other.journal_limit_),
      stats_(other.stats_),
      registered_(other.registered_),
      dev_(other.dev_),
      ino_(other.ino_),
      behind_(std::move(other.behind_)) {}

lmdb_store& lmdb_store::operator=(lmdb_store&& other) noexcept {
  if (this != &other) {
    close();
    env_ = std::exchange(other.env_, nullptr);
    nodes_dbi_ = other.nodes_dbi_;
    roots_dbi_ = other.roots_dbi_;
    meta_dbi_ = other.meta_dbi_;
    next_ = other.next_;
    stats_ = other.stats_;
    dir_ = std::move(other.dir_);
    durable_ = other.durable_;
    write_ahead_ = other.write_ahead_;
    journal_ = other.journal_;
    journal_limit_ = other.journal_limit_;
    registered_ = other.registered_;
    dev_ = other.dev_;
    ino_ = other.ino_;
    behind_ = std::move(other.behind_);
  }
  return *this;
}

lmdb_store::~lmdb_store() { close(); }

void lmdb_store::close() noexcept {
  if (!env_) return;
  if (behind_) (void)set_write_behind(false);  // writes what is queued
  if (!registered_) {  // open() failed half-way (and holds the registry's lock)
    mdb_env_close(std::exchange(env_, nullptr));
    return;
  }
  if (!durable_) mdb_env_sync(env_, 1);
  auto& reg = registry();
  std::lock_guard lock(reg.mutex);
  mdb_env_close(std::exchange(env_, nullptr));
  reg.open.erase({dev_, ino_});
  registered_ = false;
}

expected<std::optional<bytes>> lmdb_store::read_node(node_pos pos) const {
  if (!env_) return fail(errc::invalid_argument, "read_node on a closed lmdb_store (it was moved from)");
  std::shared_lock<std::shared_mutex> reading;
  if (behind_) {
    {
      std::lock_guard lk(behind_->mu);
      const auto& q = behind_->queue;
      if (!q.empty() && pos >= q.front().first) {
        // The queue's commits hold consecutive positions: the last one starting at or before
        // `pos` has it, if any has.
        auto it = std::upper_bound(q.begin(), q.end(), pos, [](node_pos p, const commit_batch& b) { return p < b.first; });
        --it;
        if (pos - it->first < it->nodes.size()) return std::optional<bytes>{it->nodes[pos - it->first]};
        return std::optional<bytes>{};  // past the queue: nothing there
      }
    }
    reading = std::shared_lock(behind_->readers);
  }
  txn_guard g;
  if (int rc = begin_txn(env_, MDB_RDONLY, &g.txn); rc != 0)
    return unexpected{lmdb_failure(rc, "starting a read transaction", dir_)};
  auto k = encode_pos(pos);
  MDB_val key = view_val(k), val{};
  int rc = mdb_get(g.txn, nodes_dbi_, &key, &val);
  if (rc == MDB_NOTFOUND) return std::optional<bytes>{};
  if (rc != 0) return unexpected{lmdb_failure(rc, fmt::format("reading the node at position {}", pos), dir_)};
  return std::optional<bytes>{copy_val(val)};
}

node_pos lmdb_store::next_position() const {
  if (!behind_) return next_;
  std::lock_guard lk(behind_->mu);
  return behind_->queued_next;
}

expected<void> lmdb_store::commit(commit_batch&& batch) {
  if (!env_) return fail(errc::invalid_argument, "commit on a closed lmdb_store (it was moved from)");
  if (auto ok = check_meta_names(batch); !ok) return ok;
  if (behind_) {
    {
      std::lock_guard lk(behind_->mu);
      if (behind_->broken) return unexpected{*behind_->broken};
      if (behind_->failed) {
        error e = std::move(*behind_->failed);
        behind_->failed.reset();
        e.message += "; this commit was refused as well: go back to the store's head and commit again";
        return unexpected{std::move(e)};
      }
      if (auto ok = check_batch(batch, behind_->queued_next); !ok) return ok;
      behind_->queued_next = batch.first + batch.nodes.size();
      behind_->queue.push_back(std::move(batch));
      ++behind_->queued;
    }
    behind_->cv.notify_one();
    return {};
  }
  const commit_batch* one = &batch;
  auto r = write_batches(target{env_, nodes_dbi_, roots_dbi_, meta_dbi_, dir_, write_ahead_}, next_, &one, 1);
  if (r) {
    ++stats_.commits;
    ++stats_.transactions;
  }
  return r;
}

lmdb_stats lmdb_store::stats() const {
  lmdb_stats s = stats_;
  if (behind_) {
    std::lock_guard lk(behind_->mu);
    s.commits += behind_->counted.commits;
    s.transactions += behind_->counted.transactions;
    s.journal_writes += behind_->counted.journal_writes;
  }
  return s;
}

expected<void> lmdb_store::set_write_behind(bool on) {
  if (!env_) return fail(errc::invalid_argument, "set_write_behind on a closed lmdb_store (it was moved from)");
  if (on == (behind_ != nullptr)) return {};
  if (on) {
    target t{env_, nodes_dbi_, roots_dbi_, meta_dbi_, dir_, write_ahead_};
    std::unique_ptr<behind::journal> jr;
    if (durable_ && journal_) {
      jr = std::make_unique<behind::journal>();
      jr->path = dir_ + "/" + std::string(journal_file);
      jr->limit = journal_limit_;
      auto fd = lock_journal(jr->path);
      if (!fd) return unexpected{std::move(fd).error()};
      if (!*fd) return fail(errc::invalid_argument, journal_in_use(dir_));
      jr->fd = **fd;
      // The file is written and its name on disk before data.mdb says it is in use.
      struct stat st {};
      if (::fstat(jr->fd, &st) != 0)
        return fail(errc::internal, fmt::format("cannot inspect {}: {}", jr->path, errno_text(errno)));
      jr->size = static_cast<std::uint64_t>(st.st_size);
      if (const auto want = std::min(journal_start_size, jr->limit); jr->size < want) {
        if (auto z = zero_fill(jr->fd, jr->path, jr->size, want); !z) return z;
        jr->size = want;
        if (int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
          (void)::fsync(dfd);
          ::close(dfd);
        }
      }
      // Nobody else may commit from here on: the journal's state says so, in data.mdb, in
      // the transaction that also applies anything a process left in the journal.
      node_pos now = next_;
      auto state = apply_journal(t, jr->fd, jr->path, now, true);
      if (!state) return unexpected{std::move(state).error()};
      t.journal_owner = true;
      if (now != next_) {
        journal_state closed{state->applied, false};
        node_pos ignored = now;
        (void)write_batches(t, ignored, nullptr, 0, nullptr, &closed);
        auto e = fail(errc::invalid_argument,
                      fmt::format("another process committed to data directory {} since this store last looked (its "
                                  "next position is {}, not {}); go back to the store's head, then turn write-behind "
                                  "on",
                                  dir_, now, next_));
        next_ = now;
        return e;
      }
      jr->next_seq = state->applied + 1;
    }
    behind_ = std::make_unique<behind>(std::move(t), next_, std::move(jr));
    behind* b = behind_.get();
    b->thread = std::thread([b] { b->run(); });
    return {};
  }
  {
    std::lock_guard lk(behind_->mu);
    behind_->stop = true;
  }
  behind_->cv.notify_one();
  behind_->thread.join();  // it has written everything queued
  next_ = behind_->written_next;
  stats_.commits += behind_->counted.commits;
  stats_.transactions += behind_->counted.transactions;
  stats_.journal_writes += behind_->counted.journal_writes;
  std::optional<error> failed = std::move(behind_->broken ? behind_->broken : behind_->failed);
  behind_.reset();  // closes (unlocks) the journal
  if (failed) return unexpected{std::move(*failed)};
  return {};
}

void lmdb_store::when_durable(std::function<void(const expected<void>&)> fn) {
  if (behind_) {
    std::unique_lock lk(behind_->mu);
    const bool pending = behind_->written < behind_->queued;
    if (pending || behind_->calling || !behind_->waiters.empty()) {
      // Behind others: the writer calls it in turn.
      std::optional<expected<void>> now;
      if (!pending) now = behind_->failed ? expected<void>(unexpected{*behind_->failed}) : expected<void>{};
      behind_->waiters.push_back({behind_->queued, std::move(fn), std::move(now)});
      lk.unlock();
      behind_->cv.notify_one();
      return;
    }
    expected<void> r = behind_->failed ? expected<void>(unexpected{*behind_->failed}) : expected<void>{};
    lk.unlock();
    fn(r);
    return;
  }
  fn(expected<void>{});
}

std::optional<error> lmdb_store::take_failure() {
  if (!behind_) return std::nullopt;
  std::lock_guard lk(behind_->mu);
  return std::exchange(behind_->failed, std::nullopt);
}

expected<root_ref> lmdb_store::head() const {
  auto rec = read_meta(head_key);
  if (!rec) return unexpected{std::move(rec).error()};
  if (!*rec) return root_ref{};
  if ((*rec)->size() != 40)
    return fail(errc::malformed, fmt::format("the head record in data directory {} is {} bytes, not 40: the store "
                                             "is damaged; restore the data directory from a backup",
                                             dir_, (*rec)->size()));
  root_ref h;
  std::memcpy(h.hash.bytes.data(), (*rec)->data(), 32);
  h.pos = *decode_pos(MDB_val{8, const_cast<std::uint8_t*>((*rec)->data()) + 32});
  if (h.hash.is_zero() != (h.pos == 0))
    return fail(errc::malformed, fmt::format("the head record in data directory {} is inconsistent: the store is "
                                             "damaged; restore the data directory from a backup",
                                             dir_));
  return h;
}

expected<std::optional<node_pos>> lmdb_store::find_root(const digest& h) const {
  if (!env_) return fail(errc::invalid_argument, "find_root on a closed lmdb_store (it was moved from)");
  if (h.is_zero()) return std::optional<node_pos>{0};
  std::shared_lock<std::shared_mutex> reading;
  if (behind_) {
    {
      std::lock_guard lk(behind_->mu);
      for (auto it = behind_->queue.rbegin(); it != behind_->queue.rend(); ++it)
        if (it->head.hash == h && it->head.pos != 0) return std::optional<node_pos>{it->head.pos};
    }
    reading = std::shared_lock(behind_->readers);
  }
  txn_guard g;
  if (int rc = begin_txn(env_, MDB_RDONLY, &g.txn); rc != 0)
    return unexpected{lmdb_failure(rc, "starting a read transaction", dir_)};
  MDB_val key = view_val(h.view()), val{};
  int rc = mdb_get(g.txn, roots_dbi_, &key, &val);
  if (rc == MDB_NOTFOUND) return std::optional<node_pos>{};
  if (rc != 0) return unexpected{lmdb_failure(rc, fmt::format("looking up root {}", short_hex(h)), dir_)};
  auto pos = decode_pos(val);
  if (!pos || *pos == 0)
    return fail(errc::malformed, fmt::format("the roots index in data directory {} has a bad entry for root {}: "
                                             "the store is damaged; restore the data directory from a backup",
                                             dir_, to_hex(h)));
  return std::optional<node_pos>{*pos};
}

expected<std::optional<bytes>> lmdb_store::read_meta(std::string_view name) const {
  if (!env_) return fail(errc::invalid_argument, "read_meta on a closed lmdb_store (it was moved from)");
  if (!valid_meta_name(name)) return std::optional<bytes>{};  // no such record can be stored
  std::shared_lock<std::shared_mutex> reading;
  if (behind_) {
    {
      std::lock_guard lk(behind_->mu);
      // The head record is the last queued commit's head (the writer writes it so too).
      if (name == head_key && !behind_->queue.empty()) return std::optional<bytes>{head_record(behind_->queue.back().head)};
      for (auto it = behind_->queue.rbegin(); it != behind_->queue.rend(); ++it)
        for (auto m = it->meta.rbegin(); m != it->meta.rend(); ++m)
          if (m->first == name) return std::optional<bytes>{m->second};
    }
    reading = std::shared_lock(behind_->readers);
  }
  txn_guard g;
  if (int rc = begin_txn(env_, MDB_RDONLY, &g.txn); rc != 0)
    return unexpected{lmdb_failure(rc, "starting a read transaction", dir_)};
  MDB_val key = view_val(name), val{};
  int rc = mdb_get(g.txn, meta_dbi_, &key, &val);
  if (rc == MDB_NOTFOUND) return std::optional<bytes>{};
  if (rc != 0)
    return unexpected{lmdb_failure(rc, fmt::format("reading metadata record '{}'", printable(as_bytes(name))), dir_)};
  return std::optional<bytes>{copy_val(val)};
}

expected<void> lmdb_store::overwrite_node(node_pos pos, byte_view data) {
  if (!env_) return fail(errc::invalid_argument, "overwrite_node on a closed lmdb_store (it was moved from)");
  if (behind_) return fail(errc::invalid_argument, "overwrite_node needs write-behind off (set_write_behind(false))");
  bool missing = false;
  auto r = run_write(env_, dir_, fmt::format("overwriting the node at position {}", pos), [&](MDB_txn* txn) {
    auto k = encode_pos(pos);
    MDB_val key = view_val(k), val{};
    int rc = mdb_get(txn, nodes_dbi_, &key, &val);
    if (rc == MDB_NOTFOUND) missing = true;
    if (rc != 0) return rc;
    val = view_val(data);
    return mdb_put(txn, nodes_dbi_, &key, &val, 0);
  });
  if (missing)
    return fail(errc::invalid_argument,
                fmt::format("no node is stored at position {} in data directory {}; overwrite_node only replaces "
                            "stored nodes",
                            pos, dir_));
  return r;
}

}  // namespace exo
