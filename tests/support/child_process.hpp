#pragma once
// Running this test binary again as a child process (for crash tests): the child is
// /proc/self/exe with some environment variables set, recognised by a global constructor in
// the test, and reports on a pipe the parent reads.

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

extern char** environ;

namespace test {

struct child {
  pid_t pid = -1;
  int out = -1;  // read end of its report pipe
};

// Starts the child with `vars` added to this process's environment (variables starting
// with `prefix` are not passed on) and `fd_var` naming the write end of its report pipe.
inline child spawn_child(std::string_view prefix, const std::vector<std::pair<std::string, std::string>>& vars,
                         std::string_view fd_var) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  ::fcntl(fds[1], F_SETFD, 0);  // the child inherits the write end
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (!v.starts_with(prefix)) env.emplace_back(v);
  }
  for (auto& [k, v] : vars) env.push_back(k + "=" + v);
  env.push_back(std::string(fd_var) + "=" + std::to_string(fds[1]));
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe";
  char* argv[] = {exe.data(), nullptr};
  child c;
  int rc = ::posix_spawn(&c.pid, exe.c_str(), nullptr, nullptr, argv, envp.data());
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw std::runtime_error(std::string("posix_spawn failed: ") + std::strerror(rc));
  }
  c.out = fds[0];
  return c;
}

// Reads what the child wrote until `deadline`, until `until` returns true, or until EOF.
// Returns false at EOF.
template <class Pred>
bool read_until(int fd, std::string& out, std::chrono::steady_clock::time_point deadline, Pred until) {
  char buf[4096];
  while (!until()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return true;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

// Writes a whole line to the parent; exits if the parent is gone.
inline void report(int fd, const std::string& line) {
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(3);
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace test
