#pragma once
/// \file
/// exo's file envelope, shared by log files and images: a magic string that names the
/// format, one zstd frame (with zstd's content checksum) of a value's canonical encoding,
/// then the SHA-256 of everything before it, so any changed or missing byte is caught
/// before anything is decoded. Sealing the same value always gives the same bytes.

#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace exo {

/// Limits an open enforces before it allocates.
struct sealed_limits {
  std::uint64_t max_file = std::uint64_t{1} << 30;     ///< largest file, in bytes
  std::uint64_t max_content = std::uint64_t{4} << 30;  ///< largest decompressed content
};

/// `magic`, then `content` encoded and compressed at zstd `level`, then the checksum.
expected<bytes> seal(std::string_view magic, const value& content, int level = 3);
/// The value in a sealed file. Anything else is errc::malformed (or errc::limit_exceeded),
/// saying "not a valid <what>: " and what is wrong.
expected<value> unseal(byte_view file, std::string_view magic, std::string_view what, const sealed_limits& limits = {});

/// Reads a whole file; a missing or unreadable file, or one larger than `max`, is an error
/// naming it.
expected<bytes> read_file(const std::string& path, std::uint64_t max = std::uint64_t{1} << 30);
/// Writes a file through a temporary file renamed into place (no half-written file).
expected<void> write_file(const std::string& path, byte_view data);

}  // namespace exo
