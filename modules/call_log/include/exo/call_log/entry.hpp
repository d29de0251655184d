#pragma once
/// \file
/// Call log entries and the signed head (DESIGN.md sections 4.5 and 5).
///
/// Every input from outside is one entry: what came in (kind, caller, target, arguments,
/// budget) and what it did (result or error, outputs, ticks used, state root after). Entries
/// are chained: each holds the hash of the one before, and an entry's hash is the SHA-256 of
/// its canonical encoding (a value map, exo/core/encoding.hpp), so one hash names the whole
/// history. The node signs the head (the number of entries and the last one's hash) with
/// Ed25519, so anyone holding the log and the node's public key can check that nothing was
/// changed, dropped, inserted or reordered.
///
/// Kinds:
/// - "init" (always entry 0): what the hypervisor was started from. `function` is the
///   hypervisor's name; `args` is {format, node_key, types: [{name, code}]}; `root` is the
///   state it started from.
/// - "create": a root actor created by the host. `actor` is its id; `function` its type name;
///   `args` is {code, state} (code hash and initial state).
/// - "call": a call from outside. `actor` and `function` name the target; `args` the
///   arguments (capabilities described, see kernel::describe_cap).
/// - "upgrade": the host replaced running actors' code (exo::upgrade_request). `actor` is the
///   host's id; `function` is "exo.upgrade"; `args` is {note, changes: [{actor, container,
///   source}], migrate: [{actor, function, args, budget}]}: what the host says the upgrade is
///   (for images, both images' origins), each actor's new code, and the calls that ran once
///   at the switch; `result` is the list of those calls' results, `result_caps` a list of
///   their capability lists, `outputs` and `ticks` what they did together.
/// - "route" (a node of a cluster, exo::route_request): the peers' keys, actors of other
///   nodes and capabilities given to them. `actor` is the host's id; `function` "exo.route";
///   `args` {peers: [{node, key}], routes: [{actor, node, functions}], grants: [{actor,
///   function, node, rights}]}.
/// - "take" (a node of a cluster): a message another node sent, taken. `actor` is the host's
///   id; `function` "exo.take"; `args` {envelope}: the envelope as the sending node sealed it
///   (exo/call_log/envelope.hpp), checked again on replay; `error` set if the kernel refused
///   the message; `outputs` and `ticks` what it caused.
/// - "settle" (a node of a cluster, ingress::settle): what this node sent another, settled.
///   `actor` is the host's id; `function` "exo.settle"; `args` {node, receipt, expired}: the
///   peer's signed receipt (or null) and how far messages to it expired unconfirmed; `result`
///   how many origins were told; `outputs` and `ticks` what the reports caused.
/// A call's outputs may hold {remote: node, index, body}: a message to an actor of another
/// node, the index-th (from 1) of this node's stream to it (kernel::take_remote's body).
///
/// A signed call carries `seq`: its caller's sequence number, which must be greater than that
/// of every call the node accepted from the same caller before (the node keeps the last one in
/// its state, so a replay checks it too and a log with the same signed call twice does not
/// verify). Entries without one encode without the field, as entries did before it existed.

#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/id.hpp>
#include <exo/core/reflect.hpp>
#include <exo/core/sign.hpp>
#include <exo/core/value.hpp>

#include <boost/hana/define_struct.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace exo {

/// The format an init entry declares. exo-log-2 (issue 19): a delivery takes one tick of its
/// receiver's time on arrival (DESIGN.md section 4.1), so clocks, message ticks and every root
/// differ from exo-log-1's; a verifier refuses a log of another format rather than report its
/// roots as wrong.
inline constexpr std::string_view log_format = "exo-log-2";

/// A call's error: the errc number, its name and the full message.
struct log_error {
  BOOST_HANA_DEFINE_STRUCT(log_error, (std::int64_t, code), (std::string, name), (std::string, message));
  friend bool operator==(const log_error&, const log_error&) = default;
};

/// One call log entry.
struct log_entry {
  BOOST_HANA_DEFINE_STRUCT(log_entry,
    (std::uint64_t, index),
    (digest, prev),                 ///< hash of entry index-1 (zero for entry 0)
    (std::string, kind),            ///< "init", "create", "call", "upgrade", "route", "take" or "settle"
    (std::optional<bytes>, caller), ///< the caller's public key; absent: anonymous
    (id, actor),
    (std::string, function),
    (value, args),                  ///< capabilities in it are cap #i: the i-th of `caps`
    (value, caps),                  ///< list: descriptions of the capabilities in args
    (std::uint64_t, budget),        ///< the tick budget the call was given
    (value, result),                ///< what the called function returned (null if nothing)
    (value, result_caps),           ///< list: descriptions of the capabilities in result
    (std::optional<log_error>, error),
    (value, outputs),               ///< list: what reached egresses and the host, in order
    (std::uint64_t, ticks),         ///< ticks every delivery of this input used, summed
    (digest, root),                 ///< the state root after the input
    (std::optional<std::uint64_t>, seq));  ///< a signed call's sequence number (see below)
};

/// The canonical encoding of an entry (what is hashed and stored).
bytes encode_entry(const log_entry& e);
/// Decodes an encoded entry; anything but a canonical encoding of a whole entry is
/// errc::malformed naming the field.
expected<log_entry> decode_entry(byte_view b);
/// An entry's hash: SHA-256 of its encoding.
digest entry_hash(byte_view encoded);

/// The signed head of a log: how many entries it has and the last one's hash, signed by the
/// node key.
struct log_head {
  BOOST_HANA_DEFINE_STRUCT(log_head, (std::uint64_t, size), (digest, last), (bytes, key), (bytes, signature));
};
/// What the node key signs for a head.
bytes head_message(std::uint64_t size, const digest& last);
/// A head for `size` entries ending with `last`, signed by `key`.
log_head sign_head(std::uint64_t size, const digest& last, const node_key& key);
bytes encode_head(const log_head& h);
expected<log_head> decode_head(byte_view b);
/// Checks the head's signature with the key it names; errc::invalid_argument if it fails.
expected<void> check_head_signature(const log_head& h);

/// Read access to a log: a store's log, an imported file, ...
class log_reader {
 public:
  virtual ~log_reader() = default;
  /// Entries in the log.
  virtual std::uint64_t size() const = 0;
  /// The encoded entry at `index` (< size()).
  virtual expected<bytes> read(std::uint64_t index) const = 0;
  /// The encoded signed head; nullopt for an empty log.
  virtual expected<std::optional<bytes>> head() const = 0;
  /// For a log pruned before a checkpoint (exo prune --before-checkpoint): the checkpoint's
  /// entry, from which on it keeps every entry (it keeps entry 0 too; those between are
  /// gone, and reading one is errc::invalid_argument). 0 for a whole log.
  virtual std::uint64_t base() const { return 0; }
  /// Entries [first, first + count) that exist, decoded; the first one that cannot be read
  /// or decoded is the error.
  expected<std::vector<log_entry>> read_range(std::uint64_t first, std::uint64_t count) const;
};

}  // namespace exo
