#pragma once
/// \file
/// A node's log and image, fetched over RPC, for verifying the node from outside (as
/// LibVMS's CallLog.fetch and Verifier did): nothing the node says is taken on trust, since
/// the verifier replays the entries and checks their chain and the signed head itself.
///
/// \code
/// auto c = exo::rpc::client::connect("ws://node:7420").value();
/// auto img = exo::read_image(exo::rpc::fetch_image(c).value()).value();  // or a local copy
/// exo::rpc::remote_log log(c);
/// exo::image_log_verifier v(img, registry, {.node_key = pinned});
/// while (log.refresh() && v.advance(log).ok()) std::this_thread::sleep_for(1s);  // follow it
/// \endcode

#include <exo/call_log/entry.hpp>
#include <exo/rpc/client.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace exo::rpc {

/// Told (held, size) as a fetch goes: bytes or entries fetched so far, and the total.
using fetch_progress = std::function<void(std::uint64_t, std::uint64_t)>;

/// A node's call log as exo.entries hands it out, held in memory: a log_reader for
/// exo::verify, exo::log_verifier and exo::image_log_verifier. refresh() fetches the entries
/// appended since the last one, and the signed head that covers exactly them; between
/// refreshes the log does not change under its reader.
class remote_log final : public log_reader {
 public:
  /// `c` must outlive the log.
  explicit remote_log(client& c) : c_(c) {}
  /// Fetches what the node appended since the last refresh (1,000 entries a request), and
  /// its head. Returns the number of entries held. A reply of the wrong shape is bad_reply
  /// and leaves the log as it was.
  expected<std::uint64_t, rpc_error> refresh(const fetch_progress& progress = {});
  /// Lets go of entries before `index` (a follower has verified them and reads on from
  /// there); reading one of them afterwards is an error.
  void forget_before(std::uint64_t index);
  /// Fetches from entry `index` on (a verifier that starts at a checkpoint there needs no
  /// entry before it, and a node that pruned its log has none); before the first refresh.
  void start_at(std::uint64_t index) {
    if (entries_.empty()) first_ = index;
  }

  std::uint64_t size() const override { return first_ + entries_.size(); }
  expected<bytes> read(std::uint64_t index) const override;
  expected<std::optional<bytes>> head() const override { return head_; }

 private:
  client& c_;
  std::uint64_t first_ = 0;  // the index of entries_[0]
  std::vector<bytes> entries_;
  std::optional<bytes> head_;
};

/// The image file the node runs (exo.image), fetched 1 MiB a request; the caller checks it
/// (exo::read_image, and its hash against the log's init entry, which exo::verify does).
/// A file over `max_size` bytes is refused before it is fetched.
expected<bytes, rpc_error> fetch_image(client& c, const fetch_progress& progress = {},
                                       std::uint64_t max_size = std::uint64_t{256} << 20);
/// Another image the node's log ran on before an upgrade, by hash (exo.image with "image"),
/// fetched the same way: for exo::image_log_verifier::follow_upgrades. The caller checks that
/// it hashes to `image` (exo::read_image).
expected<bytes, rpc_error> fetch_kept_image(client& c, const digest& image, const fetch_progress& progress = {},
                                            std::uint64_t max_size = std::uint64_t{256} << 20);
/// The snapshot file of the node's recorded checkpoint (exo.snapshot), fetched the same way;
/// the caller reads and checks it (exo::decode_snapshot: every node against the signed root).
/// If the node records a newer checkpoint while it is fetched, the newer one is fetched.
expected<bytes, rpc_error> fetch_snapshot(client& c, const fetch_progress& progress = {},
                                          std::uint64_t max_size = std::uint64_t{1} << 30);

}  // namespace exo::rpc
