#include <exo/core/encoding.hpp>
#include <exo/core/hash.hpp>
#include <exo/core/sealed_file.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace exo {

expected<bytes> seal(std::string_view magic, const value& content, int level) {
  bytes raw = encode(content);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  if (!cctx) return fail(errc::internal, "zstd: out of memory");
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  bytes out(magic.begin(), magic.end());
  out.resize(magic.size() + ZSTD_compressBound(raw.size()));
  std::size_t n = ZSTD_compress2(cctx, out.data() + magic.size(), out.size() - magic.size(), raw.data(), raw.size());
  ZSTD_freeCCtx(cctx);
  if (ZSTD_isError(n)) return fail(errc::internal, fmt::format("zstd: {}", ZSTD_getErrorName(n)));
  out.resize(magic.size() + n);
  const digest check = hash(out);  // every byte of the file is covered
  out.insert(out.end(), check.bytes.begin(), check.bytes.end());
  return out;
}

expected<value> unseal(byte_view file, std::string_view magic, std::string_view what, const sealed_limits& limits) {
  auto bad = [&](std::string_view why) { return fail(errc::malformed, fmt::format("not a valid {}: {}", what, why)); };
  if (file.size() > limits.max_file)
    return fail(errc::limit_exceeded, fmt::format("the {} is {} bytes, more than the limit of {}", what, file.size(),
                                                  limits.max_file));
  if (file.size() < magic.size() || !std::equal(magic.begin(), magic.end(), file.begin()))
    return bad(fmt::format("it does not start with the signature \"{}\"", magic.substr(0, magic.find('\n'))));
  if (file.size() < magic.size() + 32) return bad("it is cut short");
  const byte_view body = file.first(file.size() - 32);
  if (!std::equal(file.end() - 32, file.end(), hash(body).bytes.begin()))
    return bad("its SHA-256 checksum does not match its content: the file is damaged or cut short");
  byte_view frame = body.subspan(magic.size());
  unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) return bad("its compressed body is not a zstd frame");
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) return bad("its zstd frame does not state its size");
  if (size > limits.max_content)
    return fail(errc::limit_exceeded, fmt::format("the {}'s content is {} bytes, more than the limit of {}", what, size,
                                                  limits.max_content));
  std::size_t frame_size = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
  if (ZSTD_isError(frame_size)) return bad(fmt::format("its zstd frame is damaged or cut short ({})", ZSTD_getErrorName(frame_size)));
  if (frame_size != frame.size()) return bad(fmt::format("{} bytes follow its zstd frame", frame.size() - frame_size));
  bytes raw(static_cast<std::size_t>(size));
  std::size_t got = ZSTD_decompress(raw.data(), raw.size(), frame.data(), frame.size());
  if (ZSTD_isError(got)) return bad(fmt::format("its zstd frame does not decompress ({})", ZSTD_getErrorName(got)));
  if (got != raw.size()) return bad("its zstd frame decompresses to another size than it states");
  auto v = decode(raw, decode_limits{.max_depth = 64, .max_size = static_cast<std::size_t>(limits.max_content)});
  if (!v) return bad(v.error().message);
  return v;
}

expected<bytes> read_file(const std::string& path, std::uint64_t max) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return fail(errc::invalid_argument, fmt::format("cannot read {}: {}", path, ec.message()));
  if (size > max)
    return fail(errc::limit_exceeded, fmt::format("{} is {} bytes, more than the limit of {}", path, size, max));
  std::ifstream f(path, std::ios::binary);
  bytes b(static_cast<std::size_t>(size));
  f.read(reinterpret_cast<char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!f) return fail(errc::invalid_argument, fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  return b;
}

expected<void> write_file(const std::string& path, byte_view data) {
  // The bytes reach the disk (fsync) before the name does, and the name before this returns
  // (fsync of the directory): a file named in a commit made after this is there after a crash.
  const std::string tmp = path + ".tmp";
  auto failed = [&](std::string_view what, const std::string& file) {
    return fail(errc::internal, fmt::format("cannot {} {}: {}", what, file, std::strerror(errno)));
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return failed("create", tmp);
  for (std::size_t done = 0; done < data.size();) {
    const ::ssize_t w = ::write(fd, data.data() + done, data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      auto e = failed("write", tmp);
      ::close(fd);
      return e;
    }
    done += static_cast<std::size_t>(w);
  }
  if (::fsync(fd) != 0) {
    auto e = failed("flush", tmp);
    ::close(fd);
    return e;
  }
  ::close(fd);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return fail(errc::internal, fmt::format("cannot move {} to {}: {}", tmp, path, ec.message()));
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  if (int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); d >= 0) {
    (void)::fsync(d);
    ::close(d);
  }
  return {};
}

}  // namespace exo
