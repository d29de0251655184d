// The LMDB store backend: opening a data directory, reads, commits and write-behind
// (lmdb_store.hpp). Its parts, one file each: lmdb_env (errors, transactions), data_file (the
// check of data.mdb before LMDB maps it), journal (its state record and file format),
// lmdb_write (writing commits, applying a journal), writer (the write-behind thread).
#include <exo/store/lmdb_store.hpp>

#include "data_file.hpp"
#include "file_io.hpp"
#include "journal.hpp"
#include "lmdb_env.hpp"
#include "lmdb_write.hpp"
#include "writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

namespace exo {

using namespace internal;

namespace {

// The data directory `dir`, made (one level, mode 0700) if it is missing and `create` allows
// it; an error for a missing directory or something that is not one.
expected<void> prepare_directory(const std::string& dir, bool create) {
  if (dir.empty()) return fail(errc::invalid_argument, "the data directory name is empty; pass a directory path");
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    int e = errno;
    if (e != ENOENT)
      return fail(errc::internal, fmt::format("cannot inspect data directory {}: {}; check the path and its "
                                              "permissions",
                                              dir, errno_text(e)));
    if (!create)
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

  return {};
}

// Checks `dir`'s data.mdb (at `data_path`) before LMDB maps it: a directory that holds other
// files and no data.mdb, a data.mdb that is not a file, is open in this process already
// (`reg`, whose lock the caller holds), or is truncated or damaged, is refused.
expected<void> check_data(const std::string& dir, const std::string& data_path, bool create, const open_registry& reg) {
  struct stat dst {};
  if (::stat(data_path.c_str(), &dst) != 0) {
    int e = errno;
    if (e != ENOENT) return fail(errc::internal, fmt::format("cannot inspect {}: {}", data_path, errno_text(e)));
    if (!create)
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
    if (*empty && !create)
      return fail(errc::invalid_argument,
                  not_exo(dir, "its data.mdb is empty (perhaps creating a store there was interrupted); open it "
                               "with lmdb_options{.create = true} to initialise it"));
  }

  return {};
}

}  // namespace

expected<lmdb_store> lmdb_store::open(const std::string& dir, lmdb_options options) {
  if (auto r = prepare_directory(dir, options.create); !r) return unexpected{std::move(r).error()};
  auto& reg = registry();
  std::lock_guard lock(reg.mutex);
  const std::string data_path = dir + "/data.mdb";
  if (auto r = check_data(dir, data_path, options.create, reg); !r) return unexpected{std::move(r).error()};

  lmdb_store s;
  s.dir_ = dir;
  s.durable_ = options.durable;
  s.write_ahead_ = options.durable && options.write_ahead;
  s.journal_ = options.journal;
  if (options.durable && options.journal && options.journal_limit < journal_min_limit)
    return fail(errc::invalid_argument, fmt::format("lmdb_options::journal_limit is {} bytes; it must be at least {}",
                                                    options.journal_limit, journal_min_limit));
  s.journal_limit_ = options.journal_limit;
  // From here on `s` owns its environment (its destructor closes it); it is not registered yet.
  if (auto r = s.open_env(options); !r) return unexpected{std::move(r).error()};
  auto initialise = s.read_layout(options.create);
  if (!initialise) return unexpected{std::move(initialise).error()};
  if (*initialise)
    if (auto r = s.initialise(); !r) return unexpected{std::move(r).error()};
  reg.open.insert({s.dev_, s.ino_});
  s.registered_ = true;
  return s;
}

expected<void> lmdb_store::open_env(const lmdb_options& options) {
  const std::string& dir = dir_;
  const std::string data_path = dir + "/data.mdb";
  int rc = mdb_env_create(&env_);
  if (rc != 0) {
    env_ = nullptr;
    return unexpected{lmdb_failure(rc, "creating an LMDB environment", dir)};
  }
  if ((rc = mdb_env_set_maxdbs(env_, 8)) != 0 || (rc = mdb_env_set_mapsize(env_, options.map_size)) != 0)
    return unexpected{lmdb_failure(rc, "configuring the LMDB environment", dir)};
  unsigned flags = MDB_NOTLS | (options.durable ? 0u : unsigned{MDB_NOSYNC});
  if ((rc = mdb_env_open(env_, dir.c_str(), flags, 0600)) != 0)
    return unexpected{lmdb_failure(rc, "opening the LMDB environment (data.mdb, lock.mdb)", dir)};
  int dead = 0;
  mdb_reader_check(env_, &dead);  // clear reader slots of processes that died

  int fd = -1;
  struct stat fst {};
  if (mdb_env_get_fd(env_, &fd) != 0 || ::fstat(fd, &fst) != 0)
    return fail(errc::internal, fmt::format("cannot inspect {}: {}", data_path, errno_text(errno)));
  dev_ = static_cast<unsigned long long>(fst.st_dev);
  ino_ = static_cast<unsigned long long>(fst.st_ino);

  return {};
}

expected<bool> lmdb_store::read_layout(bool create) {
  const std::string& dir = dir_;
  int rc = 0;
  // The format marker, and the database handles.
  {
    txn_guard g;
    if ((rc = begin_txn(env_, MDB_RDONLY, &g.txn)) != 0)
      return unexpected{lmdb_failure(rc, "starting a read transaction", dir)};
    rc = mdb_dbi_open(g.txn, "meta", 0, &meta_dbi_);
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
      if (!create)
        return fail(errc::invalid_argument,
                    not_exo(dir, "its data.mdb holds an empty LMDB database (perhaps creating a store there was "
                                 "interrupted); open it with lmdb_options{.create = true} to initialise it"));
      return true;
    } else if (rc != 0) {
      return unexpected{lmdb_failure(rc, "opening the meta database", dir)};
    } else {
      MDB_val key = view_val(format_key), val{};
      rc = mdb_get(g.txn, meta_dbi_, &key, &val);
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
      for (auto [name, dbi] : {std::pair{"nodes", &nodes_dbi_}, std::pair{"roots", &roots_dbi_}}) {
        rc = mdb_dbi_open(g.txn, name, 0, dbi);
        if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE)
          return fail(errc::malformed,
                      fmt::format("data directory {} has exo's format marker but no {} database: the store is "
                                  "damaged; restore the data directory from a backup",
                                  dir, name));
        if (rc != 0) return unexpected{lmdb_failure(rc, fmt::format("opening the {} database", name), dir)};
      }
      if ((rc = next_free(g.txn, nodes_dbi_, next_)) != 0)
        return unexpected{lmdb_failure(rc, "finding the last stored node", dir)};
      journal_state j;
      if ((rc = read_state(g.txn, meta_dbi_, j)) == MDB_CORRUPTED) return journal_state_damaged(dir);
      if (rc != 0) return unexpected{lmdb_failure(rc, "reading the journal's state", dir)};
      if ((rc = g.commit()) != 0)  // keeps the database handles for later transactions
        return unexpected{lmdb_failure(rc, "finishing a read transaction", dir)};
      if (j.open)
        if (auto r = recover_journal(); !r) return unexpected{std::move(r).error()};
    }
  }
  return false;
}

expected<void> lmdb_store::recover_journal() {
  // A process writes through the journal, or stopped before applying all of it. If nobody
  // holds it, apply what it has.
  const std::string path = dir_ + "/" + std::string(journal_file);
  if (::access(path.c_str(), F_OK) != 0)
    return fail(errc::malformed, fmt::format("data directory {} has commits in its journal, but {} is missing; "
                                             "restore the data directory from a backup",
                                             dir_, path));
  auto fd = lock_journal(path);
  if (!fd) return unexpected{std::move(fd).error()};
  if (!*fd) return {};
  auto applied = apply_journal(target{env_, nodes_dbi_, roots_dbi_, meta_dbi_, dir_, write_ahead_}, **fd, path, next_,
                               false);
  ::close(**fd);
  if (!applied) return unexpected{std::move(applied).error()};
  return {};
}

expected<void> lmdb_store::initialise() {
  const std::string& dir = dir_;
  auto r = run_write(env_, dir, "initialising a new store", [&](MDB_txn* txn) {
    int c = mdb_dbi_open(txn, "meta", MDB_CREATE, &meta_dbi_);
    if (c == 0) c = mdb_dbi_open(txn, "nodes", MDB_CREATE, &nodes_dbi_);
    if (c == 0) c = mdb_dbi_open(txn, "roots", MDB_CREATE, &roots_dbi_);
    MDB_val key = view_val(format_key), val = view_val(format_marker);
    if (c == 0) c = mdb_put(txn, meta_dbi_, &key, &val, 0);
    return c;
  });
  if (!r) return unexpected{std::move(r).error()};
  return {};
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
      writer_(std::move(other.writer_)) {}

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
    writer_ = std::move(other.writer_);
  }
  return *this;
}

lmdb_store::~lmdb_store() { close(); }

void lmdb_store::close() noexcept {
  if (!env_) return;
  if (writer_) (void)set_write_behind(false);  // writes what is queued
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
  if (writer_) {
    {
      std::lock_guard lk(writer_->mu);
      const auto& q = writer_->queue;
      if (!q.empty() && pos >= q.front().first) {
        // The queue's commits hold consecutive positions: the last one starting at or before
        // `pos` has it, if any has.
        auto it = std::upper_bound(q.begin(), q.end(), pos, [](node_pos p, const commit_batch& b) { return p < b.first; });
        --it;
        if (pos - it->first < it->nodes.size()) return std::optional<bytes>{it->nodes[pos - it->first]};
        return std::optional<bytes>{};  // past the queue: nothing there
      }
    }
    reading = std::shared_lock(writer_->readers);
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
  if (!writer_) return next_;
  std::lock_guard lk(writer_->mu);
  return writer_->queued_next;
}

expected<void> lmdb_store::commit(commit_batch&& batch) {
  if (!env_) return fail(errc::invalid_argument, "commit on a closed lmdb_store (it was moved from)");
  if (auto ok = check_meta_names(batch); !ok) return ok;
  if (writer_) {
    {
      std::lock_guard lk(writer_->mu);
      if (writer_->broken) return unexpected{*writer_->broken};
      if (writer_->failed) {
        error e = std::move(*writer_->failed);
        writer_->failed.reset();
        e.message += "; this commit was refused as well: go back to the store's head and commit again";
        return unexpected{std::move(e)};
      }
      if (auto ok = check_batch(batch, writer_->queued_next); !ok) return ok;
      writer_->queued_next = batch.first + batch.nodes.size();
      writer_->queue.push_back(std::move(batch));
      ++writer_->queued;
    }
    writer_->cv.notify_one();
    return {};
  }
  const commit_batch* one = &batch;
  auto r = write_batches(internal::target{env_, nodes_dbi_, roots_dbi_, meta_dbi_, dir_, write_ahead_}, next_, &one, 1);
  if (r) {
    ++stats_.commits;
    ++stats_.transactions;
  }
  return r;
}

lmdb_stats lmdb_store::stats() const {
  lmdb_stats s = stats_;
  if (writer_) {
    std::lock_guard lk(writer_->mu);
    s.commits += writer_->counted.commits;
    s.transactions += writer_->counted.transactions;
    s.journal_writes += writer_->counted.journal_writes;
  }
  return s;
}

expected<void> lmdb_store::set_write_behind(bool on) {
  if (!env_) return fail(errc::invalid_argument, "set_write_behind on a closed lmdb_store (it was moved from)");
  if (on == (writer_ != nullptr)) return {};
  if (on) {
    internal::target t{env_, nodes_dbi_, roots_dbi_, meta_dbi_, dir_, write_ahead_};
    std::unique_ptr<writer::journal> jr;
    if (durable_ && journal_) {
      jr = std::make_unique<writer::journal>();
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
    writer_ = std::make_unique<writer>(std::move(t), next_, std::move(jr));
    writer* b = writer_.get();
    b->thread = std::thread([b] { b->run(); });
    return {};
  }
  {
    std::lock_guard lk(writer_->mu);
    writer_->stop = true;
  }
  writer_->cv.notify_one();
  writer_->thread.join();  // it has written everything queued
  next_ = writer_->written_next;
  stats_.commits += writer_->counted.commits;
  stats_.transactions += writer_->counted.transactions;
  stats_.journal_writes += writer_->counted.journal_writes;
  std::optional<error> failed = std::move(writer_->broken ? writer_->broken : writer_->failed);
  writer_.reset();  // closes (unlocks) the journal
  if (failed) return unexpected{std::move(*failed)};
  return {};
}

void lmdb_store::when_durable(std::function<void(const expected<void>&)> fn) {
  if (writer_) {
    std::unique_lock lk(writer_->mu);
    const bool pending = writer_->written < writer_->queued;
    if (pending || writer_->calling || !writer_->waiters.empty()) {
      // Behind others: the writer calls it in turn.
      std::optional<expected<void>> now;
      if (!pending) now = writer_->failed ? expected<void>(unexpected{*writer_->failed}) : expected<void>{};
      writer_->waiters.push_back({writer_->queued, std::move(fn), std::move(now)});
      lk.unlock();
      writer_->cv.notify_one();
      return;
    }
    expected<void> r = writer_->failed ? expected<void>(unexpected{*writer_->failed}) : expected<void>{};
    lk.unlock();
    fn(r);
    return;
  }
  fn(expected<void>{});
}

std::optional<error> lmdb_store::take_failure() {
  if (!writer_) return std::nullopt;
  std::lock_guard lk(writer_->mu);
  return std::exchange(writer_->failed, std::nullopt);
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
  if (writer_) {
    {
      std::lock_guard lk(writer_->mu);
      for (auto it = writer_->queue.rbegin(); it != writer_->queue.rend(); ++it)
        if (it->head.hash == h && it->head.pos != 0) return std::optional<node_pos>{it->head.pos};
    }
    reading = std::shared_lock(writer_->readers);
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
  if (writer_) {
    {
      std::lock_guard lk(writer_->mu);
      // The head record is the last queued commit's head (the writer writes it so too).
      if (name == head_key && !writer_->queue.empty()) return std::optional<bytes>{head_record(writer_->queue.back().head)};
      for (auto it = writer_->queue.rbegin(); it != writer_->queue.rend(); ++it)
        for (auto m = it->meta.rbegin(); m != it->meta.rend(); ++m)
          if (m->first == name) return std::optional<bytes>{m->second};
    }
    reading = std::shared_lock(writer_->readers);
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
  if (writer_) return fail(errc::invalid_argument, "overwrite_node needs write-behind off (set_write_behind(false))");
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

