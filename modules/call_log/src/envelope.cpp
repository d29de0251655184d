// Signed envelopes of the messages on streams between nodes (envelope.hpp).
#include <exo/call_log/envelope.hpp>
#include <exo/core/encoding.hpp>
#include <exo/core/value.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace exo {

namespace {

// What the sender signs: [domain, from, to, index, body]; the domain is the format, so an
// envelope is never a receipt, nor a receipt an envelope.
bytes signed_part(std::string_view format, const envelope& e) {
  return encode(value(value::list{value(std::string(format)), value(e.from), value(e.to),
                                  value(static_cast<std::int64_t>(e.index)), value(e.body)}));
}

bytes seal_as(std::string_view format, const envelope& e, const node_key& key) {
  const signature sig = key.sign(signed_part(format, e));
  const public_key& pk = key.public_key();
  return encode(value::make_map({{"format", value(std::string(format))},
                                 {"from", value(e.from)},
                                 {"to", value(e.to)},
                                 {"index", value(static_cast<std::int64_t>(e.index))},
                                 {"body", value(e.body)},
                                 {"key", value(bytes(pk.bytes.begin(), pk.bytes.end()))},
                                 {"sig", value(bytes(sig.bytes.begin(), sig.bytes.end()))}}));
}

expected<opened_envelope> open_as(std::string_view format_name, std::string_view what, byte_view encoded,
                                  const envelope_expectation& expect, std::size_t max_body) {
  auto malformed = [&](std::string_view why) {
    return unexpected(error{errc::malformed, fmt::format("not a {}: {}", what, why)});
  };
  if (encoded.size() > max_body + 4096) return malformed(fmt::format("{} bytes, over the {} accepted", encoded.size(), max_body + 4096));
  auto v = decode(encoded, {.max_depth = 2, .max_size = max_body + 4096});
  if (!v) return malformed(v.error().message);
  const value::map* m = v->if_map();
  if (!m || m->size() != 7) return malformed("expected the map {format, from, to, index, body, key, sig}");
  const value* format = v->find("format");
  const value* from = v->find("from");
  const value* to = v->find("to");
  const value* index = v->find("index");
  const value* body = v->find("body");
  const value* key = v->find("key");
  const value* sig = v->find("sig");
  if (!format || !from || !to || !index || !body || !key || !sig)
    return malformed("expected the map {format, from, to, index, body, key, sig}");
  if (!format->if_string() || *format->if_string() != format_name)
    return malformed(fmt::format("its format is {}, and this exo reads '{}'", to_string(*format), format_name));
  if (!from->if_string() || !valid_node_name(*from->if_string()) || !to->if_string() || !valid_node_name(*to->if_string()))
    return malformed("'from' and 'to' must name nodes (1 to 64 letters, digits, '_' or '-')");
  if (!index->if_i64() || *index->if_i64() < 1) return malformed("'index' must be a number from 1");
  if (!body->if_bytes()) return malformed("'body' must be bytes");
  if (body->if_bytes()->size() > max_body) return malformed(fmt::format("a body of {} bytes, over the {} accepted", body->if_bytes()->size(), max_body));
  if (!key->if_bytes() || key->if_bytes()->size() != 32) return malformed("'key' must be an Ed25519 public key (32 bytes)");
  if (!sig->if_bytes() || sig->if_bytes()->size() != 64) return malformed("'sig' must be an Ed25519 signature (64 bytes)");
  if (encode(*v) != bytes(encoded.begin(), encoded.end())) return malformed("not in canonical form");
  opened_envelope out;
  out.e = envelope{*from->if_string(), *to->if_string(), static_cast<std::uint64_t>(*index->if_i64()), *body->if_bytes()};
  std::copy(key->if_bytes()->begin(), key->if_bytes()->end(), out.key.bytes.begin());
  signature s;
  std::copy(sig->if_bytes()->begin(), sig->if_bytes()->end(), s.bytes.begin());
  if (!verify_signature(out.key, signed_part(format_name, out.e), s))
    return fail(errc::invalid_argument, fmt::format("the {} of message {} from {} to {} is not signed by the key it names",
                                                    what, out.e.index, out.e.from, out.e.to));
  if (auto r = check_envelope(out, expect); !r) return unexpected(std::move(r).error());
  return out;
}

}  // namespace

bytes seal_envelope(const envelope& e, const node_key& key) { return seal_as(envelope_format, e, key); }

expected<opened_envelope> open_envelope(byte_view encoded, const envelope_expectation& expect, std::size_t max_body) {
  return open_as(envelope_format, "stream envelope", encoded, expect, max_body);
}

bytes seal_receipt(std::string from, std::string to, std::uint64_t taken, const node_key& key) {
  return seal_as(receipt_format, envelope{std::move(from), std::move(to), taken, {}}, key);
}

expected<opened_envelope> open_receipt(byte_view encoded, const envelope_expectation& expect) {
  auto r = open_as(receipt_format, "receipt", encoded, expect, 0);
  if (r && !r->e.body.empty()) return fail(errc::malformed, "not a receipt: its body must be empty");
  return r;
}

expected<void> check_envelope(const opened_envelope& o, const envelope_expectation& expect) {
  auto wrong = [](std::string what) { return unexpected(error{errc::invalid_argument, std::move(what)}); };
  if (expect.from && *expect.from != o.e.from) return wrong(fmt::format("an envelope from {}, not from {}", o.e.from, *expect.from));
  if (expect.to && *expect.to != o.e.to) return wrong(fmt::format("an envelope to {}, not to {}", o.e.to, *expect.to));
  if (expect.index && *expect.index != o.e.index)
    return wrong(fmt::format("message {} of the stream, where message {} was expected", o.e.index, *expect.index));
  if (expect.key && !(*expect.key == o.key))
    return wrong(fmt::format("an envelope signed by {}, not by node {}'s key {}", to_hex(o.key.view()).substr(0, 16),
                             o.e.from, to_hex(expect.key->view()).substr(0, 16)));
  return {};
}

}  // namespace exo
