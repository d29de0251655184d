#pragma once
// Internal to the LMDB store: LMDB's errors in exo's terms, transactions (begin, guard, a write
// that grows a full map), node positions as keys, and this process's list of open
// environments. Not installed.

#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>
#include <exo/store/backend.hpp>

#include <fmt/format.h>
#include <lmdb.h>

#include <array>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>

namespace exo::internal {

// ---------------------------------------------------------------------------------------------
// Errors

/// errno's text.
std::string errno_text(int e);
/// An LMDB failure while `doing` something in `dir`, with a code and advice that fit it.
error lmdb_failure(int rc, std::string_view doing, const std::string& dir);
/// A short, printable rendering of bytes found on disk, for messages.
std::string printable(byte_view b);

// ---------------------------------------------------------------------------------------------
// Transactions

inline MDB_val view_val(byte_view b) {
  return MDB_val{b.size(), const_cast<std::uint8_t*>(b.data())};
}
inline MDB_val view_val(std::string_view s) { return view_val(as_bytes(s)); }
inline bytes copy_val(const MDB_val& v) {
  const auto* p = static_cast<const std::uint8_t*>(v.mv_data);
  return bytes(p, p + v.mv_size);
}

// Positions as keys: 8 bytes big-endian, so that LMDB's byte order is numeric order.
using pos_key = std::array<std::uint8_t, 8>;
inline pos_key encode_pos(node_pos p) {
  pos_key k;
  for (int i = 7; i >= 0; --i, p >>= 8) k[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(p);
  return k;
}
inline std::optional<node_pos> decode_pos(const MDB_val& v) {
  if (v.mv_size != 8) return std::nullopt;
  node_pos p = 0;
  for (std::size_t i = 0; i < 8; ++i) p = (p << 8) | static_cast<const std::uint8_t*>(v.mv_data)[i];
  return p;
}
inline MDB_val view_val(const pos_key& k) { return MDB_val{k.size(), const_cast<std::uint8_t*>(k.data())}; }

/// Sets `next` to the position after the last stored node (1 for an empty nodes database);
/// returns 0 or an LMDB code.
int next_free(MDB_txn* txn, MDB_dbi dbi, node_pos& next);
/// Begins a transaction; adopts a map another process has grown.
int begin_txn(MDB_env* env, unsigned flags, MDB_txn** txn);

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
open_registry& registry();

}  // namespace exo::internal
