#include <exo/call_log/entry.hpp>

#include <exo/core/encoding.hpp>
#include <exo/core/hash.hpp>

#include <fmt/format.h>

#include <cstring>

namespace exo {

namespace {
// Decodes b as a T; every error is errc::malformed, its message starting with `what`.
template <class T>
expected<T> decode_as(byte_view b, std::string_view what) {
  auto v = decode(b);
  if (!v) return fail(errc::malformed, fmt::format("{}: {}", what, v.error().message));
  auto t = from_value<T>(std::move(*v), fmt::format("{}: ", what));
  if (!t) return fail(errc::malformed, t.error().message);
  return t;
}
}  // namespace

bytes encode_entry(const log_entry& e) {
  value v = to_value(e);
  if (!e.seq) {  // absent: not written at all, so entries without one are what they always were
    value::map m = std::move(*v.if_map());
    std::erase_if(m, [](const auto& kv) { return kv.first == "seq"; });
    v = value::make_map(std::move(m));
  }
  return encode(v);
}

expected<log_entry> decode_entry(byte_view b) {
  auto e = decode_as<log_entry>(b, "log entry");
  if (!e) return e;
  if (e->kind != "init" && e->kind != "create" && e->kind != "call" && e->kind != "upgrade" && e->kind != "route" &&
      e->kind != "take" && e->kind != "settle")
    return fail(errc::malformed, fmt::format("log entry: field 'kind': unknown kind '{}'", e->kind));
  if (e->caller && e->caller->size() != 32)
    return fail(errc::malformed, fmt::format("log entry: field 'caller': a public key is 32 bytes, not {}",
                                             e->caller->size()));
  for (auto [field, v] : {std::pair{"outputs", &e->outputs}, std::pair{"caps", &e->caps}, std::pair{"result_caps", &e->result_caps}})
    if (!v->if_list()) return fail(errc::malformed, fmt::format("log entry: field '{}': not a list", field));
  if (encode_entry(*e) != bytes(b.begin(), b.end()))
    return fail(errc::malformed, "log entry: not in canonical form (a field is missing or null where the encoder "
                                 "writes another form)");
  return e;
}

digest entry_hash(byte_view encoded) { return hash(encoded); }

bytes head_message(std::uint64_t size, const digest& last) {
  constexpr std::string_view tag = "exo-log-head-v1";
  bytes m(tag.begin(), tag.end());
  for (int i = 0; i < 8; ++i) m.push_back(static_cast<std::uint8_t>(size >> (8 * i)));
  m.insert(m.end(), last.bytes.begin(), last.bytes.end());
  return m;
}

log_head sign_head(std::uint64_t size, const digest& last, const node_key& key) {
  auto s = key.sign(head_message(size, last));
  return log_head{size, last, bytes(key.public_key().bytes.begin(), key.public_key().bytes.end()),
                  bytes(s.bytes.begin(), s.bytes.end())};
}

bytes encode_head(const log_head& h) { return encode(to_value(h)); }

expected<log_head> decode_head(byte_view b) {
  auto h = decode_as<log_head>(b, "log head");
  if (!h) return h;
  if (h->key.size() != 32) return fail(errc::malformed, "log head: field 'key': a public key is 32 bytes");
  if (h->signature.size() != 64) return fail(errc::malformed, "log head: field 'signature': a signature is 64 bytes");
  return h;
}

expected<void> check_head_signature(const log_head& h) {
  public_key k;
  signature s;
  if (h.key.size() != k.bytes.size() || h.signature.size() != s.bytes.size())
    return fail(errc::invalid_argument, "the head's key or signature has the wrong size");
  std::memcpy(k.bytes.data(), h.key.data(), k.bytes.size());
  std::memcpy(s.bytes.data(), h.signature.data(), s.bytes.size());
  return verify_signature(k, head_message(h.size, h.last), s);
}

expected<std::vector<log_entry>> log_reader::read_range(std::uint64_t first, std::uint64_t count) const {
  std::vector<log_entry> out;
  const std::uint64_t n = size();
  for (std::uint64_t i = first; i < n && i - first < count; ++i) {
    auto raw = read(i);
    if (!raw) return unexpected(std::move(raw).error());
    auto e = decode_entry(*raw);
    if (!e) return fail(e.error().code, fmt::format("entry {}: {}", i, e.error().message));
    out.push_back(std::move(*e));
  }
  return out;
}

}  // namespace exo
