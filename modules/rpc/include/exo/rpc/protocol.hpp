#pragma once
/// \file
/// exo's RPC protocol: JSON-RPC 2.0 over WebSocket (DESIGN.md section 8, after LibVMS).
///
/// One request or response per WebSocket message. Methods:
///
/// | method | params | result |
/// |---|---|---|
/// | `exo.handshake` | none, or {caller: hex key} | {name, image, node_key, signing: {domain, seq}, methods: [{method, actor, actor_id, function, params: [{name, type, default?}], callers}], root, log: {size, head}}, and next_seq for the caller given |
/// | `ACTOR.FUNCTION` (an exported function) | `[args...]`, or {args, caller, seq, signature} for a signed call | {result, index, ticks, root}, and caps when the result holds capabilities: {"$cap": i} in it names caps[i], a description {cap, actor, function?, egress?, rights} as the log records it |
/// | `exo.log` | {from, count (<= 1000)} | {size, entries: [entry_to_json...]} |
/// | `exo.entries` | {from, count (<= 1000)} | {size, head: hex of the signed head covering exactly `size` entries (null for an empty log), entries: [hex of each entry as logged]}: fewer than asked when a reply would pass 16 MiB |
/// | `exo.export_log` | none | {size, file: hex of the exo log file} |
/// | `exo.image` | {from, count (<= 1 MiB), image?: hash} | {size, hash, data: hex of the image file's bytes [from, from + count)} (method_not_found if the node hands out none); with `image`, another image the node's log ran on before an upgrade (invalid_params if it keeps none by that hash) |
/// | `exo.read` | {actor (a name), key (string)} | {value: hex or null, root, key, proof: hex, head: the signed log head, entry: the last log entry} (verify_read checks them) |
///
/// A call's reply is sent only after its log entry and state are durable (committed in one
/// LMDB transaction, shared with the calls around it: group commit).
///
/// Signed calls: `caller` is the hex Ed25519 public key, `seq` the caller's sequence number,
/// `signature` the hex signature of call_message(image hash, method, args, seq). The key is
/// then the caller identity in the log. A signed call is accepted once: its `seq` must be
/// above that of every call the node accepted from the same key (the handshake with
/// {caller} tells the next one); a captured call sent again, on any connection or after a
/// restart, is refused with `replayed` and not logged. The node keeps each caller's last
/// sequence number in its state, so the verifier checks it on replay too. (Why a sequence
/// number and not a nonce with a validity window: a window needs the node's clock, which a
/// replay cannot reproduce, and every nonce seen in it; a sequence number is one integer per
/// caller, in the state root, checked the same way live and on replay.)
/// A function the manifest reserves for keys refuses calls not signed by one of them.
///
/// Errors: JSON-RPC's own codes, and exo's in the server range (error_code below). A call
/// that reached its actor and failed there is logged, and answered with call_failed and
/// data {index, errc, root}.

#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/hash.hpp>
#include <exo/core/json.hpp>
#include <exo/core/sign.hpp>
#include <exo/core/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace exo::rpc {

using exo::json;

/// Most entry bytes one exo.entries reply carries (at least one entry, whatever its size).
inline constexpr std::size_t entries_reply_bytes = std::size_t{16} << 20;
/// Most image bytes one exo.image reply carries.
inline constexpr std::uint64_t image_chunk_max = std::uint64_t{1} << 20;

enum error_code : int {
  parse_error = -32700,       ///< the frame is not JSON
  invalid_request = -32600,   ///< JSON, but not a JSON-RPC 2.0 request
  method_not_found = -32601,  ///< no such method, or a function not exported
  invalid_params = -32602,    ///< wrong arguments: count, types, shape
  internal_error = -32603,
  call_failed = -32000,       ///< the call ran and failed (logged; data: {index, errc, root})
  not_durable = -32001,       ///< the commit failed; nothing of the call remains
  busy = -32002,              ///< too many calls queued; retry later
  bad_signature = -32003,     ///< the signature does not verify for the caller key and call
  not_allowed = -32004,       ///< the function is reserved for other keys (or needs a signature)
  replayed = -32005,          ///< a signed call whose seq is not above the caller's last accepted one
  transport = -1,             ///< client side: the connection failed or closed
  timed_out = -2,             ///< client side: no answer within the client's timeout (the connection is closed)
  bad_reply = -3,             ///< client side: the reply does not have the shape the method's result has
};

/// A JSON-RPC error (what a client gets back instead of a result).
struct rpc_error {
  int code = 0;
  std::string message;
  json data;
};

/// The domain a signed call's message names.
inline constexpr std::string_view call_domain = "exo-call-2";
/// The bytes a caller signs: the canonical encoding of {domain: call_domain, image, method,
/// args, seq}. Binding the image and method stops a signature being reused elsewhere, and the
/// sequence number stops it being used twice.
bytes call_message(const digest& image, std::string_view method, const value& args, std::uint64_t seq);

/// A value exo.read returned, once verify_read has checked it.
struct verified_read {
  std::optional<bytes> value;  ///< absent: the key has no value (proved absent)
  digest root{};               ///< the state root the value is proved under
  std::uint64_t log_size = 0;  ///< the entries the signed head counts
  public_key node_key{};       ///< the key that signed the head
};
/// Checks an exo.read result without trusting the server: the head's Ed25519 signature holds
/// (by `node_key` when given: else by the key the head names, which the caller should pin);
/// the last entry is the one the head signs and names the root; the merkle proof holds for
/// the key and value under that root. A proof against a stale or forged root, a head signed by
/// another key, or a proof that does not hold is errc::invalid_argument saying which.
expected<verified_read> verify_read(const json& result, const std::optional<public_key>& node_key);

/// "ws://host:port/path" split; errc::invalid_argument for anything else.
struct ws_url {
  std::string host, port, path;
};
expected<ws_url> parse_url(std::string_view url);

}  // namespace exo::rpc
