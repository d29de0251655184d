#include <exo/verifier/verify.hpp>

#include <exo/core/hash.hpp>

namespace exo {

std::string divergence::to_string() const {
  if (field.starts_with("head"))
    return fmt::format("the signed head, field '{}': the log says {}, but {}", field, expected, got);
  std::string s = fmt::format("entry {}, field '{}': the log says {}, but verifying gives {}", index, field, expected, got);
  if (entry_intact)
    s += *entry_intact ? " (the entry is as it was logged: the replayed code behaves differently)"
                       : " (the entry was changed after it was logged: the log chained other bytes for it)";
  return s;
}

std::string verdict::to_string() const {
  if (first) return fmt::format("NOT VERIFIED after {} good entries: {}", entries, first->to_string());
  return fmt::format("verified {} entries, final root {}", entries, to_hex(final_root));
}

namespace detail {

std::string show(const value& v) {
  std::string s = exo::to_string(v);
  if (s.size() > 300) s = s.substr(0, 300) + "...";
  return s;
}

std::string show(const std::optional<log_error>& e) {
  if (!e) return "no error";
  return fmt::format("{} ({}): {}", e->name, e->code, e->message);
}

std::optional<divergence> check_init(const log_entry& e, std::string_view name, const value& types,
                                     const value& origin_expected, const log_head& head,
                                     const std::optional<public_key>& pinned) {
  auto d = [](std::string field, std::string expected, std::string got) {
    return divergence{0, std::move(field), std::move(expected), std::move(got)};
  };
  if (e.function != name)
    return d("hypervisor", "'" + e.function + "'", fmt::format("a hypervisor named '{}'", name));
  const value* format = e.args.find("format");
  if (!format || !format->if_string() || *format->if_string() != log_format)
    return d("format", format ? show(*format) : "nothing", fmt::format("this verifier reads '{}'", log_format));
  const value* key = e.args.find("node_key");
  if (!key || !key->if_bytes() || key->if_bytes()->size() != 32)
    return d("key", key ? show(*key) : "nothing", "a 32-byte Ed25519 public key");
  if (pinned && *key->if_bytes() != bytes(pinned->bytes.begin(), pinned->bytes.end()))
    return d("key", to_hex(*key->if_bytes()),
             "the pinned node key " + to_hex(pinned->view()) + ": this log was signed by another key");
  if (*key->if_bytes() != head.key)
    return d("key", to_hex(*key->if_bytes()), "the signed head carries key " + to_hex(head.key));
  const value* origin = e.args.find("origin");
  const value none{};
  if (!((origin ? *origin : none) == origin_expected))
    return d("origin", origin ? show(*origin) : "nothing",
             origin_expected.is_null() ? std::string("a hypervisor started from nothing in particular")
                                       : "a hypervisor started from " + show(origin_expected));
  const value* listed = e.args.find("types");
  if (!listed || !listed->if_list() || e.args.if_map()->size() != (origin ? 4u : 3u))
    return d("types", listed ? show(*listed) : "nothing", "a list of {name, code}");
  for (const value& t : *listed->if_list()) {
    bool found = false;
    for (const value& have : *types.if_list()) found = found || have == t;
    if (!found)
      return d("types", show(t), "the verifier's hypervisor has no such type (register it, with the same code)");
  }
  if (!e.root.is_zero())
    return d("root", to_hex(e.root), "replay starts from an empty state; this log began on a state it does not hold");
  if (!e.actor.is_zero() || e.caller || !e.result.is_null() || e.error || e.ticks != 0 ||
      !e.outputs.if_list()->empty())
    return d("init", "fields an init entry does not have", "an init entry with only its description");
  return std::nullopt;
}

std::optional<divergence> compare_entries(const log_entry& a, const log_entry& b) {
  auto d = [&](std::string field, std::string x, std::string y) {
    return divergence{a.index, std::move(field), std::move(x), std::move(y)};
  };
  if (a.kind != b.kind) return d("kind", a.kind, b.kind);
  if (!(a.actor == b.actor)) return d("actor", to_hex(a.actor), to_hex(b.actor));
  if (a.function != b.function) return d("function", a.function, b.function);
  if (!(a.result == b.result)) return d("result", show(a.result), show(b.result));
  if (!(a.result_caps == b.result_caps)) return d("result_caps", show(a.result_caps), show(b.result_caps));
  if (a.error != b.error) return d("error", show(a.error), show(b.error));
  if (!(a.outputs == b.outputs)) return d("outputs", show(a.outputs), show(b.outputs));
  if (a.ticks != b.ticks) return d("ticks", std::to_string(a.ticks), std::to_string(b.ticks));
  if (!(a.root == b.root)) return d("root", to_hex(a.root), to_hex(b.root));
  // Inputs are copied into the replayed entry, and its chain is the replay's own (its init
  // entry names the replaying node's key); anything else differing is a field not compared
  // above.
  log_entry same_chain = b;
  same_chain.prev = a.prev;
  if (encode_entry(a) != encode_entry(same_chain))
    return d("entry", "its encoding", "a different encoding of the same input and outcome");
  return std::nullopt;
}

std::optional<divergence> check_head(const log_head& h, std::uint64_t size, const digest& last, const bytes& init_key) {
  auto d = [&](std::string field, std::string x, std::string y) {
    return divergence{size, std::move(field), std::move(x), std::move(y)};
  };
  if (h.size != size) return d("head.size", std::to_string(h.size) + " entries", std::to_string(size) + " entries are in the log");
  if (!(h.last == last)) return d("head.last", to_hex(h.last), "the last entry hashes to " + to_hex(last));
  if (h.key != init_key) return d("head.key", to_hex(h.key), "the init entry declares " + to_hex(init_key));
  if (auto s = check_head_signature(h); !s) return d("head.signature", to_hex(h.signature), s.error().message);
  return std::nullopt;
}

}  // namespace detail
}  // namespace exo
