#pragma once
/// \file
/// What travels on a stream between nodes (exo/cluster/stream.hpp): each message is an envelope the
/// sending node signs, so that the receiver, which takes it as a logged input, can check who
/// sent it and that it is the message that node meant for this place in this stream, and so
/// that the streams between two nodes can be checked against both nodes' logs later. (Here,
/// beside the log, because a log's "take" entries carry envelopes, checked again on replay.)
///
/// An envelope is the canonical encoding of the map {format: "exo-stream-1", from, to, index,
/// body, key, sig}: the sending and receiving nodes' names, the message's index in the stream
/// (from 1), the body (bytes the cluster layer gives it meaning), the sender's Ed25519 public
/// key and its signature of the canonical encoding of [domain "exo-stream-1", from, to, index,
/// body]. A body moved to another stream or index, or signed by another key, does not open.
///
/// \code
/// bytes e = exo::seal_envelope({"a", "b", 7, body}, key);
/// auto opened = exo::open_envelope(e, {.from = "a", .to = "b", .index = 7, .key = a_public});
/// \endcode

#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/id.hpp>
#include <exo/core/sign.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace exo {

/// The format an envelope declares.
inline constexpr std::string_view envelope_format = "exo-stream-1";

struct envelope {
  std::string from, to;
  std::uint64_t index = 0;
  bytes body;
};

/// Signs and encodes `e` with the sending node's key.
bytes seal_envelope(const envelope& e, const node_key& key);

/// What the receiver expects of an envelope: each field that is set must match.
struct envelope_expectation {
  std::optional<std::string> from, to;
  std::optional<std::uint64_t> index;
  std::optional<public_key> key;  ///< the sending node's key
};

/// An envelope opened: its fields and the key that signed it.
struct opened_envelope {
  envelope e;
  public_key key{};
};

/// Decodes and checks an envelope: the canonical encoding of exactly the map above, of this
/// format, with names that can name nodes, an index from 1, a 32-byte key, and a signature
/// that holds; then what `expect` asks. Anything else is errc::malformed (not an envelope) or
/// errc::invalid_argument (an envelope, but not the one expected or not signed by its key),
/// saying what is wrong. `max_body` bounds the body.
expected<opened_envelope> open_envelope(byte_view encoded, const envelope_expectation& expect = {},
                                        std::size_t max_body = std::size_t{16} << 20);
/// A receipt: node `from` says it took the first `taken` messages (from 1) of the stream from
/// node `to` to it (exo/cluster/link.hpp publishes them; a sender's "settle" entries carry
/// them). The same form as an envelope, with an empty body, `taken` as its index and the format
/// "exo-receipt-1", which is also the signature's domain: a receipt never opens as an
/// envelope, nor an envelope as a receipt.
inline constexpr std::string_view receipt_format = "exo-receipt-1";
bytes seal_receipt(std::string from, std::string to, std::uint64_t taken, const node_key& key);
/// Decodes and checks a receipt, as open_envelope does an envelope (the expectation's index is
/// the count taken).
expected<opened_envelope> open_receipt(byte_view encoded, const envelope_expectation& expect = {});

/// What open_envelope checks of an envelope opened already against `expect` (for a receiver
/// that learns what to expect from the envelope itself: who sent it). Errors as there.
expected<void> check_envelope(const opened_envelope& opened, const envelope_expectation& expect);

}  // namespace exo
