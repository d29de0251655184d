#include <exo/runner/process.hpp>

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace exo {

namespace {

constexpr std::uint32_t frame_magic = 0x524f5845;  // "EXOR" little-endian
enum class kind : std::uint8_t { init = 1, run = 2, terminate = 3, ready = 16, log = 17, result = 18, error = 19 };
constexpr std::size_t header_size = 16;

bool known(std::uint8_t k) {
  switch (static_cast<kind>(k)) {
    case kind::init: case kind::run: case kind::terminate: case kind::ready:
    case kind::log: case kind::result: case kind::error: return true;
  }
  return false;
}

std::array<std::uint8_t, header_size> header(kind k, std::uint8_t arg, std::uint64_t length) {
  std::array<std::uint8_t, header_size> h{};
  for (int i = 0; i < 4; ++i) h[i] = static_cast<std::uint8_t>(frame_magic >> (8 * i));
  h[4] = static_cast<std::uint8_t>(k);
  h[5] = arg;
  for (int i = 0; i < 8; ++i) h[8 + i] = static_cast<std::uint8_t>(length >> (8 * i));
  return h;
}

struct frame {
  kind k{};
  std::uint8_t arg = 0;
  bytes payload;
};

using clock = std::chrono::steady_clock;

// Both sides' I/O on a socket: whole buffers, bounded by a deadline (none: wait forever).
// Errors are short descriptions for the messages run() gives.
class channel {
 public:
  channel(int fd, std::optional<clock::time_point> deadline) : fd_(fd), deadline_(deadline) {}

  expected<void> write_all(const std::uint8_t* p, std::size_t n) {
    while (n > 0) {
      if (auto w = wait(POLLOUT); !w) return w;
      const ssize_t k = ::send(fd_, p, n, MSG_NOSIGNAL);
      if (k < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return fail(errc::internal, fmt::format("writing to it failed ({})", std::strerror(errno)));
      }
      p += k;
      n -= static_cast<std::size_t>(k);
    }
    return {};
  }
  expected<void> send(kind k, std::uint8_t arg, byte_view payload) {
    auto h = header(k, arg, payload.size());
    if (auto r = write_all(h.data(), h.size()); !r) return r;
    return write_all(payload.data(), payload.size());
  }
  // EOF before a whole buffer is errc::malformed with "eof" when nothing was read.
  expected<void> read_all(std::uint8_t* p, std::size_t n) {
    const std::size_t want = n;
    while (n > 0) {
      if (auto w = wait(POLLIN); !w) return w;
      const ssize_t k = ::recv(fd_, p, n, 0);
      if (k < 0 && errno == ECONNRESET)  // it went away with our frame unread: as good as EOF
        return fail(errc::malformed, n == want ? "eof" : "it closed in the middle of a frame");
      if (k < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return fail(errc::internal, fmt::format("reading from it failed ({})", std::strerror(errno)));
      }
      if (k == 0) return fail(errc::malformed, n == want ? "eof" : "it closed in the middle of a frame");
      p += k;
      n -= static_cast<std::size_t>(k);
    }
    return {};
  }
  expected<frame> receive(std::uint64_t max) {
    std::array<std::uint8_t, header_size> h{};
    if (auto r = read_all(h.data(), h.size()); !r) return unexpected(std::move(r).error());
    std::uint32_t magic = 0;
    for (int i = 0; i < 4; ++i) magic |= std::uint32_t{h[i]} << (8 * i);
    std::uint64_t length = 0;
    for (int i = 0; i < 8; ++i) length |= std::uint64_t{h[8 + i]} << (8 * i);
    if (magic != frame_magic) return fail(errc::malformed, "it wrote something that is not a frame (bad magic)");
    if (!known(h[4])) return fail(errc::malformed, fmt::format("it wrote a frame of unknown kind {}", h[4]));
    if (h[6] != 0 || h[7] != 0) return fail(errc::malformed, "it wrote a frame header with nonzero reserved bytes");
    if (length > max) return fail(errc::malformed, fmt::format("it wrote a frame of {} bytes, over the {} accepted", length, max));
    frame f{static_cast<kind>(h[4]), h[5], bytes(static_cast<std::size_t>(length))};
    if (auto r = read_all(f.payload.data(), f.payload.size()); !r) return unexpected(std::move(r).error());
    return f;
  }

 private:
  expected<void> wait(short events) {
    for (;;) {
      int ms = -1;
      if (deadline_) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline_ - clock::now()).count();
        if (left <= 0) return fail(errc::internal, "timeout");
        ms = static_cast<int>(std::min<long long>(left, 1 << 30));
      }
      pollfd p{fd_, events, 0};
      const int r = ::poll(&p, 1, ms);
      if (r > 0) return {};
      if (r < 0 && errno != EINTR) return fail(errc::internal, fmt::format("poll failed ({})", std::strerror(errno)));
    }
  }
  int fd_;
  std::optional<clock::time_point> deadline_;
};

// Waits up to `ms` for a child that is going away; its status, or nullopt if it is still there.
std::optional<int> reap(pid_t pid, int ms) {
  const auto until = clock::now() + std::chrono::milliseconds(ms);
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (clock::now() >= until) return std::nullopt;
    ::usleep(2000);
  }
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  if (WIFEXITED(status)) return fmt::format("exited with code {}", WEXITSTATUS(status));
  return "stopped";
}

}  // namespace

pid_t process_runner::child() const {
  std::lock_guard g(m_);
  return pid_;
}

std::uint64_t process_runner::restarts() const {
  std::lock_guard g(m_);
  return restarts_;
}

void process_runner::kill_child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (fd_ >= 0) ::close(fd_);
  pid_ = -1;
  fd_ = -1;
}

unexpected<error> process_runner::failed(std::string what) {
  kill_child();
  return unexpected(error{errc::internal, fmt::format("process_runner: {}; the next run starts a new child", what)});
}

expected<void> process_runner::start() {
  if (opts_.command.empty()) return fail(errc::invalid_argument, "process_runner: no command to start the child with");
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return fail(errc::internal, fmt::format("process_runner: socketpair failed ({})", std::strerror(errno)));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);  // dup2 clears close-on-exec on fd 3
  std::vector<std::string> args = opts_.command;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0].c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(sv[1]);
  if (rc != 0) {
    ::close(sv[0]);
    return fail(errc::internal, fmt::format("process_runner: cannot start {} ({})", args[0], std::strerror(rc)));
  }
  pid_ = pid;
  fd_ = sv[0];
  channel ch(fd_, clock::now() + opts_.start_timeout);
  // A child that is gone before it is ready (it exited, or crashed) is described as such,
  // whether the init frame could not be written (EPIPE) or its answer never came (EOF).
  auto not_ready = [&](const error& e) {
    if (e.message != "timeout")
      if (auto status = reap(pid, 1000)) {
        pid_ = -1;
        return failed(fmt::format("the child {} {} before it was ready", pid, describe_status(*status)));
      }
    return failed(fmt::format("the child {} did not get ready: {}", pid,
                              e.message == "timeout" ? fmt::format("no answer within {} ms", opts_.start_timeout.count())
                                                     : e.message));
  };
  if (auto r = ch.send(kind::init, static_cast<std::uint8_t>(level_), {}); !r) return not_ready(r.error());
  auto f = ch.receive(opts_.max_message);
  if (!f) return not_ready(f.error());
  if (f->k != kind::ready) return failed(fmt::format("the child {} answered init with a frame of kind {}", pid, static_cast<int>(f->k)));
  return {};
}

expected<void> process_runner::init(log_level level) {
  std::lock_guard g(m_);
  if (ready_) return fail(errc::invalid_argument, "process_runner: init while running (terminate first)");
  level_ = level;
  if (auto r = start(); !r) return r;
  ready_ = true;
  return {};
}

expected<void> process_runner::terminate() {
  std::lock_guard g(m_);
  ready_ = false;
  if (pid_ <= 0) return {};
  channel ch(fd_, clock::now() + opts_.timeout);
  bool asked = ch.send(kind::terminate, 0, {}).has_value();
  // It exits: the socket reaches EOF. If it does not within the timeout, it is killed.
  std::uint8_t b = 0;
  while (asked) {
    auto r = ch.read_all(&b, 1);
    if (!r) break;
  }
  kill_child();  // reaps it (a child that already exited is only reaped)
  return {};
}

expected<bytes> process_runner::run(byte_view request) {
  std::lock_guard g(m_);
  if (!ready_) return fail(errc::invalid_argument, "process_runner: run before init (or after terminate)");
  if (pid_ <= 0) {
    if (auto r = start(); !r) return unexpected(std::move(r).error());
    ++restarts_;
  }
  const pid_t pid = pid_;
  if (request.size() > opts_.max_message)
    return fail(errc::limit_exceeded, fmt::format("process_runner: a request of {} bytes is over the {} accepted",
                                                  request.size(), opts_.max_message));
  channel ch(fd_, clock::now() + opts_.timeout);
  auto what = [&](const error& e) -> std::string {
    if (e.message == "timeout") return fmt::format("the child {} gave no answer within {} ms and was killed", pid, opts_.timeout.count());
    if (e.message == "eof" || e.code == errc::internal) {
      // It went away: say how (a child that closed the socket and lives on is killed).
      if (auto status = reap(pid, 1000)) {
        pid_ = -1;
        return fmt::format("the child {} {} during the run", pid, describe_status(*status));
      }
      return fmt::format("the child {} went away during the run ({}) and was killed", pid, e.message);
    }
    return fmt::format("the child {} broke the protocol ({}) and was killed", pid, e.message);
  };
  if (auto r = ch.send(kind::run, 0, request); !r) return failed(what(r.error()));
  for (;;) {
    auto f = ch.receive(opts_.max_message);
    if (!f) return failed(what(f.error()));
    switch (f->k) {
      case kind::log:
        if (sink_ && f->arg <= static_cast<std::uint8_t>(log_level::error))
          sink_(static_cast<log_level>(f->arg), std::string_view(reinterpret_cast<const char*>(f->payload.data()), f->payload.size()));
        continue;
      case kind::result: return std::move(f->payload);
      case kind::error:
        if (f->arg == 0 || f->arg > static_cast<std::uint8_t>(errc::fault))
          return failed(fmt::format("the child {} answered with an unknown error code {}", pid, f->arg));
        return unexpected(error{static_cast<errc>(f->arg), std::string(f->payload.begin(), f->payload.end())});
      default: return failed(fmt::format("the child {} answered a run with a frame of kind {}", pid, static_cast<int>(f->k)));
    }
  }
}

int serve_runner(const engine& e, int fd) {
  channel ch(fd, std::nullopt);
  run_log log;
  for (;;) {
    auto f = ch.receive(std::uint64_t{1} << 40);
    if (!f) {
      if (f.error().message == "eof") return 0;  // the parent went away
      fmt::print(stderr, "exo runner: {}\n", f.error().message);
      return 1;
    }
    switch (f->k) {
      case kind::init: {
        if (f->arg > static_cast<std::uint8_t>(log_level::off)) {
          fmt::print(stderr, "exo runner: init with an unknown log level {}\n", f->arg);
          return 1;
        }
        log = detail::filtered_log(
            [&ch](log_level l, std::string_view line) {
              (void)ch.send(kind::log, static_cast<std::uint8_t>(l), as_bytes(line));
            },
            static_cast<log_level>(f->arg));
        if (!ch.send(kind::ready, 0, {})) return 0;
        break;
      }
      case kind::run: {
        auto r = detail::call_engine(e, f->payload, log);
        auto sent = r ? ch.send(kind::result, 0, *r)
                      : ch.send(kind::error, static_cast<std::uint8_t>(r.error().code), as_bytes(r.error().message));
        if (!sent) return 0;
        break;
      }
      case kind::terminate: return 0;
      default:
        fmt::print(stderr, "exo runner: the parent sent a frame of kind {}\n", static_cast<int>(f->k));
        return 1;
    }
  }
}

}  // namespace exo
