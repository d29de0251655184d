#pragma once
/// \file
/// exo::process_runner: the engine in a child process, over a socket, so that an engine that
/// crashes, hangs or goes wrong costs one run its answer and nothing more.
///
/// The child is a program that calls exo::serve_runner with the same engine (the `exo`
/// binary will be one, for the engines it links; a test builds its own). Parent and child
/// speak in frames on the child's file descriptor 3: a 16-byte header (magic "EXOR", kind,
/// one byte of argument, two zero bytes, the payload's length as 8 bytes little-endian) and
/// the payload. The parent sends init (the log level), run (the request) and terminate; the
/// child answers init with ready, and a run with log lines, then one result or error (code
/// and message). Every header is checked (magic, kind, zero bytes, length against
/// process_options::max_message) before anything is allocated.
///
/// What can go wrong in the child, and what run() answers (errc::internal, with the child's
/// pid and what happened): it dies (its exit code or signal), it gives no answer within
/// process_options::timeout (it is killed), or it speaks anything but the protocol (it is
/// killed). The child is reaped and the next run() starts a fresh one (restarts() counts
/// them). The caller is never left hung or dead.

#include <exo/runner/runner.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <sys/types.h>

namespace exo {

struct process_options {
  /// The child's command line: argv[0] is the program's path, the rest its arguments.
  std::vector<std::string> command;
  /// How long the child may take to answer each run (wall clock).
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  /// How long a child may take to start and say it is ready (wall clock).
  std::chrono::milliseconds start_timeout{std::chrono::seconds(30)};
  /// The largest frame either side accepts (a request, a result, a log line).
  std::uint64_t max_message = std::uint64_t{256} << 20;
};

class process_runner {
 public:
  explicit process_runner(process_options opts, run_log sink = {}) : opts_(std::move(opts)), sink_(std::move(sink)) {}
  process_runner(const process_runner&) = delete;
  process_runner& operator=(const process_runner&) = delete;
  ~process_runner() { (void)terminate(); }

  /// Starts the child and waits for it to be ready.
  expected<void> init(log_level level);
  /// Asks the child to exit and reaps it (killing it if it does not go within the timeout).
  expected<void> terminate();
  /// One run at a time: calls from several threads are served in turn.
  expected<bytes> run(byte_view request);

  /// The running child's pid (-1 when there is none), for diagnostics and tests.
  pid_t child() const;
  /// Children started after a failure (the first one, and one per init, are not counted).
  std::uint64_t restarts() const;

 private:
  expected<void> start();
  void kill_child();
  unexpected<error> failed(std::string what);

  process_options opts_;
  run_log sink_;
  log_level level_ = log_level::info;
  bool ready_ = false;
  pid_t pid_ = -1;
  int fd_ = -1;  // the parent's end of the socket
  std::uint64_t restarts_ = 0;
  mutable std::mutex m_;
};
static_assert(runner_policy<process_runner>);

/// The child's side: answers frames on `fd` with `e` until terminate, or until the parent
/// goes away. Returns the exit code for the child's main (0 after terminate; 1 after a frame
/// it could not take, which it reports on stderr).
int serve_runner(const engine& e, int fd = 3);

}  // namespace exo
