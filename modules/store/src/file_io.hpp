#pragma once
// Internal to the LMDB store: whole reads and writes at an offset of a file, and writing a
// file ahead with zeros. Not installed.

#include <exo/core/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace exo::internal {

/// Reads all `n` bytes at `offset`; false with errno set if it cannot (EIO for a file that
/// ended early).
bool read_at(int fd, std::uint8_t* buf, std::size_t n, std::uint64_t offset);
/// Writes all `n` bytes at `offset` (the twin of read_at); false with errno set if it cannot.
bool write_at(int fd, const void* data, std::size_t n, std::uint64_t offset);
/// Writes zeros into `fd` (the file at `path`) from `from` to `to`, and syncs them.
expected<void> zero_fill(int fd, const std::string& path, std::uint64_t from, std::uint64_t to);

}  // namespace exo::internal
