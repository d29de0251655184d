#pragma once
// Internal to the LMDB store: write-behind, the queue of commits not yet on disk and the
// thread that writes them (lmdb_store.hpp explains it). Not installed.

#include "lmdb_write.hpp"

#include <exo/store/lmdb_store.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>

#include <unistd.h>

namespace exo {

struct lmdb_store::writer {
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

  internal::target where;
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

  writer(internal::target t, node_pos next, std::unique_ptr<journal> j)
      : where(std::move(t)), written_next(next), jr(std::move(j)), queued_next(next) {}

  bool ready() const { return !waiters.empty() && waiters.front().result.has_value(); }
  bool pending() const { return queue.size() > journaled; }
  // Tells the waiters for commits up to `through` (in order, when the loop next calls them).
  void resolve(std::uint64_t through, const expected<void>& r);
  // Drops the queued commits from index `from` on, which `why` stopped (they build on each
  // other), and tells their waiters.
  void drop_from(std::size_t from, const error& why);
  // The writer thread: writes what is queued, applies the journal, tells the waiters.
  void run();
  // Without a journal: everything queued goes in one LMDB transaction. The deque's elements
  // stay where they are while the user queues more, and only this thread removes them.
  void write_round(std::unique_lock<std::mutex>& lk);
  // With a journal: everything not in it yet goes in one write and one fdatasync.
  void write_journal(std::unique_lock<std::mutex>& lk);
  // Makes room for `need` more bytes at the journal's offset: starts it over if data.mdb has
  // all it holds (applying it first if not), and grows it if that is not enough.
  expected<void> make_room(std::unique_lock<std::mutex>& lk, std::uint64_t need);
  // Applies the journaled commits to data.mdb in one transaction; they leave the queue (reads
  // find them in data.mdb from then on). If it fails, the store is broken: it takes no more
  // commits, and the journal keeps these for the next open.
  void apply(std::unique_lock<std::mutex>& lk);
};

}  // namespace exo
