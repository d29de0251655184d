#pragma once
/// \file
/// exo::thread_runner: the engine on a worker thread of its own, fed by a queue.

#include <exo/runner/runner.hpp>

#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

namespace exo {

/// Runs the engine on one worker thread, started by init(). run() may be called from any
/// number of threads at once: requests queue and are run one at a time, in the order they
/// were queued, each caller waiting for its own result. terminate() lets the worker finish
/// every request already queued, then stops it; a run() after that (or before init) is
/// refused at once with errc::invalid_argument. Log lines reach the sink from the worker.
class thread_runner {
 public:
  explicit thread_runner(engine e, run_log sink = {}) : engine_(std::move(e)), sink_(std::move(sink)) {}
  thread_runner(const thread_runner&) = delete;
  thread_runner& operator=(const thread_runner&) = delete;
  ~thread_runner() { (void)terminate(); }

  expected<void> init(log_level level);
  expected<void> terminate();
  expected<bytes> run(byte_view request);
  /// Requests queued or running.
  std::size_t pending() const;

 private:
  struct job {
    bytes request;
    std::promise<expected<bytes>> done;
  };
  void work();

  engine engine_;
  run_log sink_;
  run_log log_;  // set by init, before the worker starts
  mutable std::mutex m_;
  std::condition_variable wake_;
  std::size_t running_ = 0;
  std::deque<std::shared_ptr<job>> queue_;  // the worker holds each until it has answered
  enum class state { idle, running, closing } state_ = state::idle;
  std::thread worker_;
  std::mutex lifecycle_;  // init and terminate, one at a time
};
static_assert(runner_policy<thread_runner>);

}  // namespace exo
