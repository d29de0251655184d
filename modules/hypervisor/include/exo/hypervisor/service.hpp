#pragma once
/// \file
/// A service: what an RPC server (exo/rpc/server.hpp) serves. Any composed hypervisor that
/// logs its inputs can be put behind one with exo::hypervisor_service
/// (exo/hypervisor/hypervisor_service.hpp); a booted image (exo/boot/node.hpp) is served so.
///
/// The server reads describe() and actor() from its network thread, to check requests before
/// they are queued; everything else is called from one thread at a time (its executor).

#include <exo/call_log/entry.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/hash.hpp>
#include <exo/core/sign.hpp>
#include <exo/hypervisor/ingress.hpp>
#include <exo/hypervisor/method.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace exo {

/// A value read from an actor's storage, with the proof that it is under `root`
/// (exo::verify_proof(root, key, value, decode_proof(proof))).
struct state_read {
  std::optional<bytes> value;  ///< absent: no such key (the proof shows the absence)
  digest root{};
  bytes key;                   ///< the key in the state tree
  bytes proof;                 ///< encode_proof of the proof
};

class service {
 public:
  /// What a client is told in the handshake. Fixed for the service's life.
  struct description {
    /// For people: the application's name.
    std::string name;
    /// What the node runs, by hash (a booted image's hash). Signed calls are bound to it.
    digest image{};
    /// The key that signs the node's call log.
    public_key node_key{};
    /// The methods callable from outside.
    std::vector<method> methods;
  };

  virtual ~service() = default;
  /// What the handshake says; read from any thread.
  virtual const description& describe() const = 0;
  /// The id of the actor named `name`, or nullptr; read from any thread.
  virtual const id* actor(std::string_view name) const = 0;

  /// Group commit: calls made between begin_batch() and end_batch() are committed together
  /// (see exo::hypervisor::begin_batch).
  virtual void begin_batch() = 0;
  virtual expected<void> end_batch() = 0;
  /// Calls `m` (one of describe().methods) with arguments already bound to its parameters,
  /// as a logged input from `caller`; a signed call gives its sequence number `seq`, which
  /// must be above last_seq(caller), else the call is refused and not logged.
  virtual expected<call_outcome> call(const method& m, arg_list args, const std::optional<public_key>& caller,
                                      std::optional<std::uint64_t> seq = std::nullopt) = 0;
  /// The sequence number of the last signed call accepted from `caller` (0: none yet).
  virtual expected<std::uint64_t> last_seq(const public_key& caller) = 0;
  virtual expected<digest> state_root() = 0;
  /// The call log, and the hash of its last entry (zero for an empty log).
  virtual const log_reader& log() const = 0;
  virtual digest log_last() const = 0;
  /// `key` of `actor`'s storage, with a proof.
  virtual expected<state_read> read(const id& actor, byte_view key) = 0;
  /// The file of the image the node runs (describe().image names it by hash), which the
  /// server hands out (exo.image) so that anyone can replay the log without having it;
  /// nullptr if there is none to hand out. Fixed for the service's life.
  virtual const bytes* image_file() const { return nullptr; }
  /// A file handed out a chunk at a time, with its SHA-256 (computed once, when it is made).
  struct served_file {
    bytes data;
    digest hash{};
  };
  /// Another image the node's log ran on (before an upgrade, exo/boot/upgrade.hpp), by hash,
  /// which the server hands out too (exo.image with "image"), so that a verifier can replay
  /// each segment of the log on its own image; nullptr if the node keeps no such image.
  virtual expected<std::shared_ptr<const served_file>> kept_image(const digest& image) {
    (void)image;
    return std::shared_ptr<const served_file>{};
  }
  /// The snapshot file of the node's recorded checkpoint (exo/verifier/checkpoint.hpp), which
  /// the server hands out (exo.snapshot) so that a verifier can start there; nullptr if the
  /// node has none to hand out. It changes when the node records a new checkpoint.
  virtual expected<std::shared_ptr<const served_file>> snapshot_file() { return std::shared_ptr<const served_file>{}; }

  /// Durability. With write-behind on (where the store can write behind; elsewhere nothing
  /// changes), a commit returns before it is on disk and when_durable(fn) calls fn once
  /// everything committed so far is, or failed; take_failure() reports a failed one once, and
  /// rollback() goes back to what the disk holds.
  virtual expected<void> set_write_behind(bool on) = 0;
  virtual void when_durable(std::function<void(const expected<void>&)> fn) = 0;
  virtual std::optional<error> take_failure() = 0;
  virtual expected<void> rollback() = 0;
};

}  // namespace exo
