#pragma once
/// \file
/// One portable file per log: export a log (entries and signed head) and import it anywhere,
/// e.g. to hand it to a verifier.
///
/// Format: the 8 bytes "EXOLOG1\n", then one zstd frame (with zstd's content checksum) of
/// the canonical encoding of {format: "exo-log-2", entries: [bytes...], head: bytes | null},
/// then the SHA-256 of everything before it (so any changed byte is caught, even one that
/// would decompress to the same log).
/// The file names its own format, and the signature travels inside the head. Importing
/// checks everything that can be checked without replaying: the magic, the frame, the
/// encoding, that every entry decodes and the head decodes. What the entries claim is the
/// verifier's job (exo::verify).

#include <exo/call_log/entry.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace exo {

/// Limits an import enforces before it allocates.
struct log_file_limits {
  /// Largest file accepted, in bytes.
  std::uint64_t max_file = std::uint64_t{1} << 30;
  /// Largest decompressed content accepted, in bytes.
  std::uint64_t max_content = std::uint64_t{4} << 30;
};

/// A log held in memory (what import gives).
class log_file final : public log_reader {
 public:
  log_file() = default;
  log_file(std::vector<bytes> entries, std::optional<bytes> head) : entries_(std::move(entries)), head_(std::move(head)) {}
  std::uint64_t size() const override { return entries_.size(); }
  expected<bytes> read(std::uint64_t index) const override;
  expected<std::optional<bytes>> head() const override { return head_; }

 private:
  std::vector<bytes> entries_;
  std::optional<bytes> head_;
};

/// The file's bytes for `log`.
expected<bytes> export_log(const log_reader& log);
/// Writes `log` to `path` (through a temporary file renamed into place).
expected<void> export_log(const log_reader& log, const std::string& path);
/// Reads a log from a file's bytes. Anything that is not a whole, well-formed log file is
/// errc::malformed (or errc::limit_exceeded), saying what is wrong.
expected<log_file> import_log(byte_view file, const log_file_limits& limits = {});
/// Reads a log from `path`; errors name the file.
expected<log_file> import_log(const std::string& path, const log_file_limits& limits = {});

}  // namespace exo
