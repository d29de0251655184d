#include <exo/call_log/file.hpp>

#include <exo/core/encoding.hpp>
#include <exo/core/hash.hpp>

#include <fmt/format.h>
#include <zstd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace exo {
namespace {

constexpr std::string_view magic = "EXOLOG1\n";

unexpected<error> bad_file(std::string_view why) {
  return fail(errc::malformed, fmt::format("not a valid exo log file: {}", why));
}

}  // namespace

expected<bytes> log_file::read(std::uint64_t index) const {
  if (index >= entries_.size())
    return fail(errc::invalid_argument, fmt::format("the log has {} entries; there is no entry {}", entries_.size(), index));
  return entries_[index];
}

expected<bytes> export_log(const log_reader& log) {
  value::list entries;
  entries.reserve(log.size());
  for (std::uint64_t i = 0; i < log.size(); ++i) {
    auto e = log.read(i);
    if (!e) return unexpected(std::move(e).error());
    entries.emplace_back(std::move(*e));
  }
  auto head = log.head();
  if (!head) return unexpected(std::move(head).error());
  value content = value::make_map({{"format", value(std::string(log_format))},
                                   {"entries", value(std::move(entries))},
                                   {"head", *head ? value(std::move(**head)) : value{}}});
  bytes raw = encode(content);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  if (!cctx) return fail(errc::internal, "zstd: out of memory");
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 3);
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

expected<void> export_log(const log_reader& log, const std::string& path) {
  auto b = export_log(log);
  if (!b) return unexpected(std::move(b).error());
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(b->data()), static_cast<std::streamsize>(b->size()));
    f.flush();
    if (!f) return fail(errc::internal, fmt::format("cannot write log file {}: {}", tmp, std::strerror(errno)));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return fail(errc::internal, fmt::format("cannot move {} to {}: {}", tmp, path, ec.message()));
  return {};
}

expected<log_file> import_log(byte_view file, const log_file_limits& limits) {
  if (file.size() > limits.max_file)
    return fail(errc::limit_exceeded, fmt::format("the log file is {} bytes, more than the limit of {}", file.size(),
                                                  limits.max_file));
  if (file.size() < magic.size() || !std::equal(magic.begin(), magic.end(), file.begin()))
    return bad_file("it does not start with the exo log signature \"EXOLOG1\"");
  if (file.size() < magic.size() + 32) return bad_file("it is cut short");
  const byte_view body = file.first(file.size() - 32);
  if (!std::equal(file.end() - 32, file.end(), hash(body).bytes.begin()))
    return bad_file("its SHA-256 checksum does not match its content: the file is damaged or cut short");
  byte_view frame = body.subspan(magic.size());
  unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) return bad_file("its compressed body is not a zstd frame");
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) return bad_file("its zstd frame does not state its size");
  if (size > limits.max_content)
    return fail(errc::limit_exceeded, fmt::format("the log file's content is {} bytes, more than the limit of {}", size,
                                                  limits.max_content));
  std::size_t frame_size = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
  if (ZSTD_isError(frame_size)) return bad_file(fmt::format("its zstd frame is damaged or cut short ({})", ZSTD_getErrorName(frame_size)));
  if (frame_size != frame.size()) return bad_file(fmt::format("{} bytes follow its zstd frame", frame.size() - frame_size));
  bytes raw(static_cast<std::size_t>(size));
  std::size_t got = ZSTD_decompress(raw.data(), raw.size(), frame.data(), frame.size());
  if (ZSTD_isError(got)) return bad_file(fmt::format("its zstd frame does not decompress ({})", ZSTD_getErrorName(got)));
  if (got != raw.size()) return bad_file("its zstd frame decompresses to another size than it states");
  auto v = decode(raw, decode_limits{.max_depth = 64, .max_size = static_cast<std::size_t>(limits.max_content)});
  if (!v) return bad_file(v.error().message);
  const value* format = v->find("format");
  const value* entries = v->find("entries");
  const value* head = v->find("head");
  if (!v->if_map() || v->if_map()->size() != 3 || !format || !entries || !head)
    return bad_file("its content is not {format, entries, head}");
  if (!format->if_string() || *format->if_string() != log_format)
    return bad_file(fmt::format("it is of format {}, and this exo reads '{}'", to_string(*format), log_format));
  if (!entries->if_list()) return bad_file("its entries are not a list");
  std::vector<bytes> out;
  out.reserve(entries->if_list()->size());
  for (std::size_t i = 0; i < entries->if_list()->size(); ++i) {
    const value& e = (*entries->if_list())[i];
    if (!e.if_bytes()) return bad_file(fmt::format("entry {} is not bytes", i));
    if (auto d = decode_entry(*e.if_bytes()); !d) return bad_file(fmt::format("entry {}: {}", i, d.error().message));
    out.push_back(*e.if_bytes());
  }
  std::optional<bytes> h;
  if (!head->is_null()) {
    if (!head->if_bytes()) return bad_file("its head is not bytes");
    if (auto d = decode_head(*head->if_bytes()); !d) return bad_file(d.error().message);
    h = *head->if_bytes();
  } else if (!out.empty()) {
    return bad_file("it has entries but no signed head");
  }
  return log_file(std::move(out), std::move(h));
}

expected<log_file> import_log(const std::string& path, const log_file_limits& limits) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return fail(errc::invalid_argument, fmt::format("cannot read log file {}: {}", path, ec.message()));
  if (size > limits.max_file)
    return fail(errc::limit_exceeded, fmt::format("log file {} is {} bytes, more than the limit of {}", path, size,
                                                  limits.max_file));
  std::ifstream f(path, std::ios::binary);
  bytes b(static_cast<std::size_t>(size));
  f.read(reinterpret_cast<char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!f) return fail(errc::internal, fmt::format("cannot read log file {}", path));
  auto l = import_log(b, limits);
  if (!l) return fail(l.error().code, fmt::format("{}: {}", path, l.error().message));
  return l;
}

}  // namespace exo
