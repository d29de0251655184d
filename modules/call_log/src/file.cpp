#include <exo/call_log/file.hpp>

#include <exo/core/encoding.hpp>
#include <exo/core/hash.hpp>
#include <exo/core/sealed_file.hpp>

#include <fmt/format.h>

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
  return seal(magic, value::make_map({{"format", value(std::string(log_format))},
                                      {"entries", value(std::move(entries))},
                                      {"head", *head ? value(std::move(**head)) : value{}}}));
}

expected<void> export_log(const log_reader& log, const std::string& path) {
  auto b = export_log(log);
  if (!b) return unexpected(std::move(b).error());
  auto w = write_file(path, *b);
  if (!w) return fail(w.error().code, "log file: " + w.error().message);
  return {};
}

expected<log_file> import_log(byte_view file, const log_file_limits& limits) {
  auto v = unseal(file, magic, "exo log file", sealed_limits{limits.max_file, limits.max_content});
  if (!v) return unexpected(std::move(v).error());
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
  auto b = read_file(path, limits.max_file);
  if (!b) return fail(b.error().code, "log file: " + b.error().message);
  auto l = import_log(*b, limits);
  if (!l) return fail(l.error().code, fmt::format("{}: {}", path, l.error().message));
  return l;
}

}  // namespace exo
