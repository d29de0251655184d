#include <exo/rpc/remote.hpp>

#include <exo/core/hash.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace exo::rpc {

namespace {

unexpected<rpc_error> bad(std::string what) { return unexpected(rpc_error{bad_reply, std::move(what), nullptr}); }

std::optional<bytes> hex_field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  auto b = from_hex(it->get<std::string>());
  if (!b) return std::nullopt;
  return std::move(*b);
}

}  // namespace

expected<std::uint64_t, rpc_error> remote_log::refresh(const fetch_progress& progress) {
  std::vector<bytes> fetched;
  std::optional<bytes> head = head_;
  std::uint64_t size = this->size();
  for (;;) {
    const std::uint64_t from = this->size() + fetched.size();
    auto r = c_.request("exo.entries", json{{"from", from}, {"count", 1000}});
    if (!r) return unexpected(std::move(r).error());
    const json& j = *r;
    if (!j.is_object() || !j.contains("size") || !j["size"].is_number_unsigned() || !j.contains("entries") ||
        !j["entries"].is_array() || !j.contains("head"))
      return bad("exo.entries: the reply is not {size, head, entries}");
    const std::uint64_t now = j["size"].get<std::uint64_t>();
    if (now < from)
      return bad(fmt::format("exo.entries: the node's log has {} entries, fewer than the {} it handed out before", now, from));
    if (j["head"].is_null()) {
      if (now != 0) return bad("exo.entries: a log of entries without a signed head");
      head.reset();
    } else {
      auto h = hex_field(j, "head");
      if (!h) return bad("exo.entries: \"head\" is not hex");
      head = std::move(*h);
    }
    size = now;
    std::uint64_t i = from;
    for (const json& e : j["entries"]) {
      if (i >= now) return bad("exo.entries: more entries than the log's size");
      if (!e.is_string()) return bad(fmt::format("exo.entries: entry {} is not hex", i));
      auto b = from_hex(e.get<std::string>());
      if (!b) return bad(fmt::format("exo.entries: entry {} is not hex", i));
      fetched.push_back(std::move(*b));
      ++i;
    }
    if (progress) progress(this->size() + fetched.size(), size);
    if (this->size() + fetched.size() >= size) break;
    if (j["entries"].empty())
      return bad(fmt::format("exo.entries: the node says {} entries and sent none from {}", size, from));
  }
  for (auto& e : fetched) entries_.push_back(std::move(e));
  head_ = std::move(head);
  return this->size();
}

void remote_log::forget_before(std::uint64_t index) {
  if (index <= first_) return;
  const std::uint64_t n = std::min<std::uint64_t>(index - first_, entries_.size());
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(n));
  first_ += n;
}

expected<bytes> remote_log::read(std::uint64_t index) const {
  if (index >= size()) return fail(errc::invalid_argument, fmt::format("entry {}: the log has {} entries", index, size()));
  if (index < first_)
    return fail(errc::invalid_argument, fmt::format("entry {} was let go of (entries from {} are held)", index, first_));
  return entries_[index - first_];
}

namespace {

// A file a node hands out a chunk at a time ({from, count} -> {size, hash, data}): exo.image
// and exo.snapshot. A file that changes while it is fetched (another size or hash) is fetched
// again from its start, up to `restarts` times; then it is an error.
expected<bytes, rpc_error> fetch_file(client& c, std::string_view method, std::string_view what,
                                      const fetch_progress& progress, std::uint64_t max_size, int restarts,
                                      const json& extra = json::object()) {
  bytes file;
  std::uint64_t size = 0;
  std::string named;
  do {
    json params{{"from", file.size()}, {"count", image_chunk_max}};
    params.update(extra);
    auto r = c.request(std::string(method), params);
    if (!r) return unexpected(std::move(r).error());
    const json& j = *r;
    if (!j.is_object() || !j.contains("size") || !j["size"].is_number_unsigned() || !j.contains("hash") || !j["hash"].is_string())
      return bad(fmt::format("{}: the reply is not {{size, hash, data}}", method));
    const std::uint64_t now = j["size"].get<std::uint64_t>();
    if (now > max_size)
      return bad(fmt::format("{}: the {} is {} bytes, over the {} accepted", method, what, now, max_size));
    if (!file.empty() && (now != size || j["hash"].get<std::string>() != named)) {
      if (restarts-- == 0) return bad(fmt::format("{}: the {} changed while it was fetched", method, what));
      file.clear();
      continue;
    }
    size = now;
    named = j["hash"].get<std::string>();
    auto data = hex_field(j, "data");
    if (!data) return bad(fmt::format("{}: \"data\" is not hex", method));
    if (data->empty() && file.size() < size)
      return bad(fmt::format("{}: the node says {} bytes and sent none from {}", method, size, file.size()));
    if (file.size() + data->size() > size) return bad(fmt::format("{}: more bytes than the {}'s size", method, what));
    file.insert(file.end(), data->begin(), data->end());
    if (progress) progress(file.size(), size);
  } while (file.size() < size);
  return file;
}

}  // namespace

expected<bytes, rpc_error> fetch_image(client& c, const fetch_progress& progress, std::uint64_t max_size) {
  return fetch_file(c, "exo.image", "image", progress, max_size, 0);
}

expected<bytes, rpc_error> fetch_kept_image(client& c, const digest& image, const fetch_progress& progress,
                                            std::uint64_t max_size) {
  return fetch_file(c, "exo.image", "image", progress, max_size, 0, json{{"image", to_hex(image)}});
}

expected<bytes, rpc_error> fetch_snapshot(client& c, const fetch_progress& progress, std::uint64_t max_size) {
  // A node that records a newer checkpoint meanwhile hands out that one: start over (3 times).
  return fetch_file(c, "exo.snapshot", "snapshot", progress, max_size, 3);
}

}  // namespace exo::rpc
