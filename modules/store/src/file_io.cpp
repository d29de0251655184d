// Whole reads and writes at an offset, and zero-filling (file_io.hpp).
#include "file_io.hpp"

#include "lmdb_env.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include <unistd.h>

namespace exo::internal {

bool read_at(int fd, std::uint8_t* buf, std::size_t n, std::uint64_t offset) {
  while (n > 0) {
    ssize_t got = ::pread(fd, buf, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got == 0) errno = EIO;  // the file ended early: it shrank while we read it
    if (got <= 0) return false;
    buf += got;
    n -= static_cast<std::size_t>(got);
    offset += static_cast<std::uint64_t>(got);
  }
  return true;
}

bool write_at(int fd, const void* data, std::size_t n, std::uint64_t offset) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (n > 0) {
    ssize_t put = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (put < 0 && errno == EINTR) continue;
    if (put == 0) errno = ENOSPC;  // nothing written, and no reason given: the disk is full
    if (put <= 0) return false;
    p += put;
    n -= static_cast<std::size_t>(put);
    offset += static_cast<std::uint64_t>(put);
  }
  return true;
}

expected<void> zero_fill(int fd, const std::string& path, std::uint64_t from, std::uint64_t to) {
  static const std::vector<char> zeros(std::size_t{1} << 20, 0);
  for (std::uint64_t at = from; at < to; at += zeros.size())
    if (!write_at(fd, zeros.data(), static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), to - at)), at))
      return fail(errc::internal,
                  fmt::format("cannot extend {}: {}; free disk space and retry", path, errno_text(errno)));
  if (::fdatasync(fd) != 0)
    return fail(errc::internal, fmt::format("cannot sync {}: {}; check the disk", path, errno_text(errno)));
  return {};
}

}  // namespace exo::internal
