#include <exo/call_log/entry.hpp>
#include <exo/core/encoding.hpp>
#include <exo/core/reflect.hpp>
#include <exo/rpc/protocol.hpp>
#include <exo/store/node.hpp>

#include <fmt/format.h>

namespace exo::rpc {

bytes call_message(const digest& image, std::string_view method, const value& args, std::uint64_t seq) {
  return encode(value::make_map({{"domain", value(std::string(call_domain))},
                                 {"image", to_value(image)},
                                 {"method", value(std::string(method))},
                                 {"args", args},
                                 {"seq", value(static_cast<std::int64_t>(seq))}}));
}

expected<verified_read> verify_read(const json& r, const std::optional<public_key>& node_key) {
  auto bad = [](std::string why) { return fail(errc::invalid_argument, "the read does not verify: " + std::move(why)); };
  auto hex_field = [&](const char* name) -> expected<bytes> {
    if (!r.is_object() || !r.contains(name) || !r[name].is_string())
      return fail(errc::invalid_argument, fmt::format("the read does not verify: it has no '{}'", name));
    auto b = from_hex(r[name].get<std::string>());
    if (!b) return fail(errc::invalid_argument, fmt::format("the read does not verify: '{}' is not hex", name));
    return b;
  };
  auto head_bytes = hex_field("head");
  if (!head_bytes) return unexpected(std::move(head_bytes).error());
  auto entry_bytes = hex_field("entry");
  if (!entry_bytes) return unexpected(std::move(entry_bytes).error());
  auto root_bytes = hex_field("root");
  if (!root_bytes) return unexpected(std::move(root_bytes).error());
  auto key = hex_field("key");
  if (!key) return unexpected(std::move(key).error());
  auto proof = hex_field("proof");
  if (!proof) return unexpected(std::move(proof).error());
  std::optional<bytes> value;
  if (r.contains("value") && !r["value"].is_null()) {
    auto v = hex_field("value");
    if (!v) return unexpected(std::move(v).error());
    value = std::move(*v);
  }
  auto head = decode_head(*head_bytes);
  if (!head) return bad("its log head: " + head.error().message);
  if (head->key.size() != 32) return bad("its log head names no Ed25519 key");
  verified_read out;
  std::copy(head->key.begin(), head->key.end(), out.node_key.bytes.begin());
  if (node_key && !(out.node_key == *node_key))
    return bad(fmt::format("the log head is signed by {}, not by the node key {}", to_hex(out.node_key.view()),
                           to_hex(node_key->view())));
  if (auto s = check_head_signature(*head); !s) return bad("the log head's signature: " + s.error().message);
  auto entry = decode_entry(*entry_bytes);
  if (!entry) return bad("its log entry: " + entry.error().message);
  if (!(entry_hash(*entry_bytes) == head->last) || entry->index + 1 != head->size)
    return bad(fmt::format("the entry given is not the last one the signed head names (entry {} of {})", entry->index,
                           head->size));
  if (root_bytes->size() != 32) return bad("the root is not 32 bytes");
  std::copy(root_bytes->begin(), root_bytes->end(), out.root.bytes.begin());
  if (!(entry->root == out.root))
    return bad(fmt::format("the value is proved under root {}, but the signed log's last entry names root {} (a "
                           "stale or forged root)",
                           to_hex(out.root), to_hex(entry->root)));
  if (auto p = verify_proof(out.root, *key, value, *proof); !p) return bad("the proof: " + p.error().message);
  out.value = std::move(value);
  out.log_size = head->size;
  return out;
}

expected<ws_url> parse_url(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return fail(errc::invalid_argument, fmt::format("'{}' is not a ws://HOST:PORT URL: {}", url, why));
  };
  constexpr std::string_view scheme = "ws://";
  if (!url.starts_with(scheme)) return bad("it must start with ws://");
  std::string_view rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  ws_url u;
  u.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  auto colon = hostport.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == hostport.size()) return bad("it needs HOST:PORT");
  u.host = std::string(hostport.substr(0, colon));
  u.port = std::string(hostport.substr(colon + 1));
  for (char c : u.port)
    if (c < '0' || c > '9') return bad("the port must be a number");
  return u;
}

}  // namespace exo::rpc
