// Write-behind: the writer thread (writer.hpp).
#include "writer.hpp"

#include "file_io.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace exo {

using namespace internal;

void lmdb_store::writer::resolve(std::uint64_t through, const expected<void>& r) {
  for (auto& w : waiters)
    if (!w.result && w.ticket <= through) w.result = r;
}

void lmdb_store::writer::drop_from(std::size_t from, const error& why) {
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

void lmdb_store::writer::run() {
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

void lmdb_store::writer::write_round(std::unique_lock<std::mutex>& lk) {
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

void lmdb_store::writer::write_journal(std::unique_lock<std::mutex>& lk) {
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

expected<void> lmdb_store::writer::make_room(std::unique_lock<std::mutex>& lk, std::uint64_t need) {
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

void lmdb_store::writer::apply(std::unique_lock<std::mutex>& lk) {
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

}  // namespace exo
