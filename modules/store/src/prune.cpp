// Pruning an LMDB store: keeping the nodes some roots reach and freeing the rest
// (lmdb_store::prune in lmdb_store.hpp).
#include "journal.hpp"
#include "lmdb_env.hpp"
#include "lmdb_write.hpp"

#include <exo/store/lmdb_store.hpp>
#include <exo/store/node.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <unordered_set>

#include <unistd.h>

namespace exo {

using namespace internal;

expected<std::vector<root_ref>> lmdb_store::roots() const {
  if (!env_) return fail(errc::invalid_argument, "roots on a closed lmdb_store (it was moved from)");
  if (writer_) return fail(errc::invalid_argument, "listing the roots of a store that writes behind: turn write-behind off first");
  txn_guard g;
  if (int rc = begin_txn(env_, MDB_RDONLY, &g.txn); rc != 0)
    return unexpected{lmdb_failure(rc, "starting a read transaction", dir_)};
  MDB_cursor* c = nullptr;
  if (int rc = mdb_cursor_open(g.txn, roots_dbi_, &c); rc != 0) return unexpected{lmdb_failure(rc, "listing roots", dir_)};
  std::vector<root_ref> out;
  MDB_val key{}, val{};
  int rc = mdb_cursor_get(c, &key, &val, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    auto pos = decode_pos(val);
    if (key.mv_size != 32 || !pos || *pos == 0) {
      mdb_cursor_close(c);
      return fail(errc::malformed, fmt::format("the roots index in data directory {} has a bad entry: the store is "
                                               "damaged; restore the data directory from a backup",
                                               dir_));
    }
    root_ref r;
    std::copy_n(static_cast<const std::uint8_t*>(key.mv_data), 32, r.hash.bytes.begin());
    r.pos = *pos;
    out.push_back(r);
  }
  mdb_cursor_close(c);
  if (rc != MDB_NOTFOUND) return unexpected{lmdb_failure(rc, "listing roots", dir_)};
  std::sort(out.begin(), out.end(), [](const root_ref& a, const root_ref& b) { return a.pos < b.pos; });
  return out;
}

expected<prune_result> lmdb_store::prune(const prune_request& req) {
  if (!env_) return fail(errc::invalid_argument, "prune on a closed lmdb_store (it was moved from)");
  if (writer_)
    return fail(errc::invalid_argument, "pruning a store that writes behind: turn write-behind off first");
  for (const auto& [name, value] : req.meta)
    if (!valid_meta_name(name) || name == format_key || name == head_key || name == journal_key)
      return fail(errc::invalid_argument, fmt::format("prune cannot write metadata record '{}'", name));
  auto say = [&](const std::string& line) {
    if (req.progress) req.progress(line);
  };
  // The journal's lock, for the whole prune: no process starts writing through it meanwhile
  // (one that does writes on a state this prune is taking apart).
  const std::string jpath = dir_ + "/" + std::string(journal_file);
  auto lock = lock_journal(jpath);
  if (!lock) return unexpected{std::move(lock).error()};
  if (!*lock) return fail(errc::invalid_argument, journal_in_use(dir_));
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } held{**lock};

  prune_result out;
  auto all = roots();
  if (!all) return unexpected{std::move(all).error()};
  auto head = this->head();
  if (!head) return unexpected{std::move(head).error()};
  std::unordered_set<digest> keep(req.keep.begin(), req.keep.end());
  if (!head->hash.is_zero()) keep.insert(head->hash);
  keep.erase(digest{});
  std::vector<root_ref> kept, dropped;
  for (const root_ref& r : *all) (keep.contains(r.hash) ? kept : dropped).push_back(r);
  if (kept.size() != keep.size()) {
    for (const digest& h : keep)
      if (std::none_of(kept.begin(), kept.end(), [&](const root_ref& r) { return r.hash == h; }))
        return fail(errc::invalid_argument, fmt::format("root {} is not in data directory {} (it never was, or it was "
                                                        "pruned); nothing was pruned",
                                                        to_hex(h), dir_));
  }

  // Mark: every node a kept root reaches, each read and checked once (a subtree already
  // marked is not walked again: nodes never change, so its nodes are marked too).
  node_pos limit = 1;
  std::vector<bool> marked;
  {
    txn_guard g;
    if (int rc = begin_txn(env_, MDB_RDONLY, &g.txn); rc != 0)
      return unexpected{lmdb_failure(rc, "starting a read transaction", dir_)};
    if (int rc = next_free(g.txn, nodes_dbi_, limit); rc != 0) return unexpected{lmdb_failure(rc, "pruning", dir_)};
    marked.assign(limit, false);
    std::vector<std::pair<digest, node_pos>> stack;
    for (const root_ref& r : kept) {
      stack.emplace_back(r.hash, r.pos);
      while (!stack.empty()) {
        auto [h, pos] = stack.back();
        stack.pop_back();
        if (pos >= limit)
          return fail(errc::malformed, fmt::format("store node {} is missing: nothing is stored at position {} (the "
                                                   "store is damaged); nothing was pruned",
                                                   to_hex(h), pos));
        if (marked[pos]) continue;
        auto k = encode_pos(pos);
        MDB_val key = view_val(k), val{};
        int rc = mdb_get(g.txn, nodes_dbi_, &key, &val);
        if (rc == MDB_NOTFOUND)
          return fail(errc::malformed, fmt::format("store node {} is missing: nothing is stored at position {} (the "
                                                   "store is damaged); nothing was pruned",
                                                   to_hex(h), pos));
        if (rc != 0) return unexpected{lmdb_failure(rc, fmt::format("reading the node at position {}", pos), dir_)};
        auto n = decode_node(h, pos, byte_view(static_cast<const std::uint8_t*>(val.mv_data), val.mv_size));
        if (!n) return fail(n.error().code, n.error().message + "; nothing was pruned");
        marked[pos] = true;
        ++out.nodes_kept;
        if (!n->leaf) {
          stack.emplace_back(n->left, n->left_pos);
          stack.emplace_back(n->right, n->right_pos);
        }
      }
    }
  }
  out.roots_kept = kept.size();
  say(fmt::format("keeping {} roots and the {} nodes they reach; dropping {} roots", kept.size(), out.nodes_kept,
                  dropped.size()));

  // Delete, a bounded number a transaction: the records first asked for and the roots (so that
  // no root is ever listed with nodes missing), then metadata, then nodes.
  const std::size_t per = std::max<std::size_t>(req.per_transaction, 1);
  // (The journal's lock keeps writers out; a journal a dead process left was applied when
  // this store was opened. This is the check every commit makes, made here too.)
  bool taken = false;
  auto still_ours = [&](MDB_txn* txn) -> int {
    journal_state j;
    if (int rc = read_state(txn, meta_dbi_, j); rc != 0) return rc;
    taken = j.open;
    return j.open ? MDB_BAD_TXN : 0;
  };
  auto failed = [&](error e) -> unexpected<error> {
    if (taken) return fail(errc::invalid_argument, journal_in_use(dir_));
    return unexpected{std::move(e)};
  };
  std::size_t next_root = 0;
  bool first = true;
  while (first || next_root < dropped.size()) {
    auto r = run_write(env_, dir_, "pruning roots", [&](MDB_txn* txn) {
      if (int rc = still_ours(txn); rc != 0) return rc;
      if (first)
        for (const auto& [name, value] : req.meta) {
          MDB_val key = view_val(std::string_view(name)), val = view_val(value);
          if (int rc = mdb_put(txn, meta_dbi_, &key, &val, 0); rc != 0) return rc;
        }
      for (std::size_t i = next_root; i < dropped.size() && i < next_root + per; ++i) {
        MDB_val key = view_val(dropped[i].hash.view());
        if (int rc = mdb_del(txn, roots_dbi_, &key, nullptr); rc != 0 && rc != MDB_NOTFOUND) return rc;
      }
      return 0;
    });
    if (!r) return failed(std::move(r).error());
    next_root = std::min(dropped.size(), next_root + per);
    first = false;
  }
  out.roots_dropped = dropped.size();

  if (req.drop_meta) {
    const auto& [from, to] = *req.drop_meta;
    for (bool more = true; more;) {
      std::uint64_t done = 0;
      auto r = run_write(env_, dir_, "pruning metadata", [&](MDB_txn* txn) {
        done = 0;
        more = false;
        if (int rc = still_ours(txn); rc != 0) return rc;
        MDB_cursor* c = nullptr;
        if (int rc = mdb_cursor_open(txn, meta_dbi_, &c); rc != 0) return rc;
        MDB_val key = view_val(std::string_view(from)), val{};
        int rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
        for (; rc == 0; rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
          const std::string_view name(static_cast<const char*>(key.mv_data), key.mv_size);
          if (name >= to) break;
          if (name == format_key || name == head_key || name == journal_key) continue;
          if (done == per) {
            more = true;
            break;
          }
          if (rc = mdb_cursor_del(c, 0); rc != 0) break;
          ++done;
        }
        mdb_cursor_close(c);
        return rc == MDB_NOTFOUND ? 0 : rc;
      });
      if (!r) return failed(std::move(r).error());
      out.meta_dropped += done;
    }
    say(fmt::format("dropped {} metadata records", out.meta_dropped));
  }

  node_pos from = 1;
  for (bool more = true; more;) {
    std::uint64_t freed = 0, bytes = 0;
    node_pos reached = from;
    auto r = run_write(env_, dir_, "pruning nodes", [&](MDB_txn* txn) {
      freed = bytes = 0;
      more = false;
      reached = from;
      if (int rc = still_ours(txn); rc != 0) return rc;
      MDB_cursor* c = nullptr;
      if (int rc = mdb_cursor_open(txn, nodes_dbi_, &c); rc != 0) return rc;
      auto k = encode_pos(from);
      MDB_val key = view_val(k), val{};
      int rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
      for (; rc == 0; rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
        auto pos = decode_pos(key);
        if (!pos || *pos >= limit) break;  // nodes committed after the mark are not this prune's
        reached = *pos + 1;
        if (marked[*pos]) continue;
        if (freed == per) {
          more = true;
          reached = *pos;
          break;
        }
        bytes += val.mv_size;
        if (rc = mdb_cursor_del(c, 0); rc != 0) break;
        ++freed;
      }
      mdb_cursor_close(c);
      return rc == MDB_NOTFOUND ? 0 : rc;
    });
    if (!r) return failed(std::move(r).error());
    out.nodes_freed += freed;
    out.bytes_freed += bytes;
    from = reached;
    if (more) say(fmt::format("freed {} nodes so far", out.nodes_freed));
  }
  say(fmt::format("freed {} nodes ({} bytes)", out.nodes_freed, out.bytes_freed));
  return out;
}

}  // namespace exo
