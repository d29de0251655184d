// LMDB's errors in exo's terms, transactions, and this process's open environments
// (lmdb_env.hpp).
#include "lmdb_env.hpp"

#include <system_error>

namespace exo::internal {

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

open_registry& registry() {
  static open_registry r;
  return r;
}

}  // namespace exo::internal
