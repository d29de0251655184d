// Writing commits to data.mdb, and applying a journal to it (lmdb_write.hpp).
#include "lmdb_write.hpp"

#include "file_io.hpp"

#include <exo/store/lmdb_store.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <vector>

#include <sys/stat.h>

namespace exo::internal {

bool valid_meta_name(std::string_view name) { return !name.empty() && name.size() <= lmdb_store::max_meta_name; }

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

bytes head_record(const root_ref& head) {
  auto hp = encode_pos(head.pos);
  bytes rec(head.hash.view().begin(), head.hash.view().end());
  rec.insert(rec.end(), hp.begin(), hp.end());
  return rec;
}

namespace {
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

}  // namespace

expected<void> write_batches(const target& t, node_pos& next, const commit_batch* const* batches, std::size_t n,
                             std::shared_mutex* readers, const journal_state* state) {
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


}  // namespace exo::internal
