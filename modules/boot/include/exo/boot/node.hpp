#pragma once
/// \file
/// Booting an image on a data directory (DIR), and verifying a log against an image.
///
/// A fresh DIR: the image is copied to DIR/image.exo, the containers it needs are loaded
/// (a missing plugin or another version is an error naming it), its actors are created in
/// manifest order from their code blobs, its init messages run, each a logged input, and a
/// boot record (the image hash and the actors' ids) is committed. The call log's init entry
/// names the image ({image, name, containers}: exo::image::origin), so the same image
/// always boots to the same state root, on every machine.
///
/// A DIR booted before resumes: its state and log are kept, nothing is created again, and
/// an image other than the one it was booted from is refused.
///
/// \code
/// exo::container_registry reg;
/// exo::add_builtin_types(reg);
/// auto n = exo::node::boot("app.exo", "data", reg).value();
/// auto out = n->hypervisor().invoke(*n->actor("counter"), "add", {5}).value();
/// auto srv = exo::rpc::server::start(n->service(), {.listen = "127.0.0.1:0"});  // serve it
/// \endcode

#include <exo/boot/builtin.hpp>
#include <exo/boot/image.hpp>
#include <exo/boot/placement.hpp>
#include <exo/boot/prune.hpp>
#include <exo/call_log/entry.hpp>
#include <exo/hypervisor.hpp>
#include <exo/hypervisor/hypervisor_service.hpp>
#include <exo/store/lmdb_store.hpp>
#include <exo/verifier/verify.hpp>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace exo {

/// The hypervisor an image boots into: tick-ordered, on LMDB, every input logged.
using node_hypervisor = hypervisor<ordered_scheduler, lmdb_store, lmdb_log>;
/// What a log is replayed into to verify it.
using replay_hypervisor = hypervisor<ordered_scheduler, memory_store, memory_log>;

struct boot_options {
  /// Told each step of a boot, one line for people ("created actor counter (wasm) ...").
  std::function<void(std::string_view)> progress;
  /// How the data directory's store is opened (its `create` is set by the boot itself).
  lmdb_options store;
  /// Told each line an actor logs, with the actor's name in the image (or its short id, for
  /// an actor created later) and the line's level; from the thread that runs the actor. Lines
  /// are not state: logging them changes no root.
  std::function<void(std::string_view actor, log_level level, std::string_view text)> log;
  /// One node of a cluster (exo/boot/placement.hpp).
  struct cluster_node {
    /// The node this process is: one the image places actors on.
    std::string name;
    /// Every other node of the image's placement, with the key it signs with (its data
    /// directory's node.key).
    std::map<std::string, public_key> peers;
  };
  /// Boots (or resumes) the node `cluster->name` of an image that places its actors on nodes:
  /// only the actors placed on it are created (under the config name NAME@NODE, so ids are its
  /// own), the image's route entry for it is logged next (boot_routes: its peers' keys, a
  /// route to every actor of another node, the grants its init messages imply), then the init
  /// messages to its own actors run; it serves only its own actors' exports. Without it such
  /// an image is refused, and with it an image that places nothing.
  std::optional<cluster_node> cluster;
};

class node {
 public:
  /// Boots `image_path` on `data_dir` (created if missing), or resumes it (see the file
  /// comment). `registry` must outlive the node.
  static expected<std::unique_ptr<node>> boot(const std::string& image_path, const std::string& data_dir,
                                              container_registry& registry, const boot_options& opts = {});
  /// Resumes a data directory booted earlier, from the image kept in it.
  static expected<std::unique_ptr<node>> open(const std::string& data_dir, container_registry& registry,
                                              const boot_options& opts = {});

  /// The image the node was booted from.
  const exo::image& image() const noexcept { return img_; }
  /// The hypervisor the image runs in.
  node_hypervisor& hypervisor() noexcept { return *hv_; }
  /// The node as an RPC server serves it: the image's exports as methods, bound to its hash.
  exo::service& service() noexcept { return *service_; }
  const std::string& directory() const noexcept { return dir_; }
  /// The node of the cluster this is (boot_options::cluster), or empty.
  const std::string& cluster_node() const noexcept { return cluster_node_; }
  /// True if the data directory had been booted before (nothing was created).
  bool resumed() const noexcept { return resumed_; }
  /// The id of the actor the manifest names `name`, or nullptr.
  const id* actor(std::string_view name) const;
  /// Upkeep of a running node (exo/boot/prune.hpp): records a checkpoint at the log's end and
  /// prunes to it as `options` say. With nothing uncommitted and nothing written behind (the
  /// RPC server calls it between batches: rpc::server_options::maintain). Says what it did.
  expected<std::string> maintain(const prune_options& options);

  /// What a switch to another image did.
  struct switched {
    std::uint64_t index = 0;            ///< the upgrade entry
    digest from{}, to{};                ///< the images
    std::vector<std::string> changed;   ///< actors whose code changed, in manifest order
    value results;                      ///< the migration calls' results, in order
    digest root{};                      ///< the state root after it
  };
  /// Switches the node to `next` (exo/boot/upgrade.hpp: check it with check_upgrade first):
  /// one logged "upgrade" entry names both images, carries the new code of every actor whose
  /// code differs, and runs `next`'s migration calls; its commit names `next` as the image
  /// the node runs. Both images are kept in DIR/images first (a verifier replays each segment
  /// of the log on its own image), and DIR/image.exo becomes `next` after the commit (a node
  /// stopped in between repairs it when it resumes). An image of another application, code
  /// that does not compile or moves exports, or a migration call that fails is an error, and
  /// the node is as before. Not while the node serves or writes behind.
  expected<switched> upgrade(const exo::image& next);

 private:
  node() = default;
  // kept_copy: `img` is DIR/image.exo's, which may lag behind an upgrade that was committed.
  static expected<std::unique_ptr<node>> start(exo::image img, const std::string& data_dir,
                                               container_registry& registry, const boot_options& opts, bool kept_copy);
  void serve();  // makes service_ from the image's exports, once the actors are known
  exo::image img_;
  std::string dir_;
  std::optional<node_hypervisor> hv_;
  std::optional<hypervisor_service<node_hypervisor>> service_;
  std::map<std::string, id, std::less<>> actors_;
  bool resumed_ = false;
  std::string cluster_node_;
  // The snapshot file exo.snapshot hands out, and the checkpoint record it was made for.
  bytes snapshot_of_;
  std::shared_ptr<const service::served_file> snapshot_file_;
};

/// The method an image's export declares, for the actor `actor` (exo/hypervisor/method.hpp).
method export_method(const image_export& e, const id& actor);

/// The file a data directory keeps its image in (the one it runs).
inline constexpr std::string_view image_file_name = "image.exo";
/// The directory a data directory keeps every image its log ran on in, once it was upgraded
/// (as HASH.exo, the hash in hex).
inline constexpr std::string_view images_dir_name = "images";
/// DIR/images/HASH.exo.
std::string kept_image_path(const std::string& data_dir, const digest& image);
/// The image a node's last upgrade switched it to, or nullopt if it never was upgraded.
expected<std::optional<digest>> upgraded_image(const lmdb_store& store);

/// Images by hash: the ones a node ran on after upgrades, for a verifier (each segment of a
/// log that spans an upgrade is checked against its own image). Not found: an error saying so.
using image_source = std::function<expected<image>(const digest&)>;

/// Verifies `log` against `img`: replays it into a fresh in-memory hypervisor booted the
/// way the image says (its containers loaded into `registry`), so every entry's result and
/// root is checked, and checks that the log begins with exactly the image's boot (the init
/// entry names the image; then the creates of its actors, with its code, and its init
/// messages). A container that cannot be loaded is reported as the divergence "replay".
/// `images`: where the images the log's upgrade entries switch to come from (see
/// image_log_verifier::follow_upgrades).
verdict verify_image_log(const log_reader& log, const image& img, container_registry& registry,
                         const verify_options& opts = {}, image_source images = {});
/// verify_image_log from the checkpoint of `snap` (see image_log_verifier): replays only what
/// follows it.
verdict verify_image_log_from(const log_reader& log, const image& img, const snapshot& snap,
                              container_registry& registry, const verify_options& opts = {},
                              image_source images = {});

/// The images a data directory keeps: DIR/images/HASH.exo, and DIR/image.exo.
image_source directory_images(const std::string& data_dir);
/// Images given by hand (exo verify --image A --image B).
image_source listed_images(std::vector<image> images);
/// The image a log's init entry names: the one its node was booted from.
expected<digest> booted_image(const log_reader& log);
/// The same from the encoded init entry (a checkpoint's).
expected<digest> booted_image(byte_view init_entry);

/// verify_image_log for a log that grows (a node followed over RPC): each advance() checks
/// the boot entries it has not seen and replays only the entries appended since the last
/// advance, then checks the new signed head (see exo::log_verifier).
class image_log_verifier {
 public:
  /// Loads the containers `img` needs into `registry` (a failure is the verdict's
  /// divergence "replay"); `img` and `registry` must outlive the verifier.
  image_log_verifier(const image& img, container_registry& registry, const verify_options& opts = {});
  /// The same, keeping the image (a temporary one, say) in the verifier.
  image_log_verifier(image&& img, container_registry& registry, const verify_options& opts = {});
  /// Starts at the checkpoint of `snap` instead of the image's boot (exo/verifier/checkpoint.hpp):
  /// its state is imported (every node checked against the signed root) and only the entries
  /// after it are replayed. Entries up to the checkpoint are taken on the node's signature: the
  /// boot entries among them are not compared with the image, but the init entry must still
  /// name this image. A snapshot that cannot be used is the verdict's divergence "checkpoint".
  image_log_verifier(const image& img, const snapshot& snap, container_registry& registry,
                     const verify_options& opts = {});
  image_log_verifier(const image_log_verifier&) = delete;
  image_log_verifier& operator=(const image_log_verifier&) = delete;
  /// Where the images a log's upgrade entries switch to come from. Each upgrade entry must be
  /// exactly the upgrade from the image before it to the one it names (exo::upgrade_plan: the
  /// new code of the actors whose code changed, and the new image's migration calls); then it
  /// is replayed like any input. Without a source, an upgrade entry is the divergence
  /// "upgrade", naming the image needed.
  void follow_upgrades(image_source images) { images_ = std::move(images); }
  const verdict& advance(const log_reader& log);
  const verdict& result() const noexcept { return lv_ ? lv_->result() : waiting_; }

 private:
  void begin(container_registry& registry, const verify_options& opts);
  void start(const snapshot* from = nullptr);
  std::optional<divergence> check_route_entry(const log_entry& e);
  // The node of a placed image a log is from, named by its init entry (NAME@NODE).
  std::optional<divergence> find_node(const std::string& config_name);
  verify_options opts_;
  // A placed image's log is replayed as the node its init entry names: until the log is
  // seen, nothing is made and the verdict is empty.
  bool deferred_ = false;
  verdict waiting_;
  std::string node_;
  // The boot a log begins with: the creates of these actors and the init messages to them
  // (indices in the manifest: every one, or a cluster node's own), and for a cluster node
  // its route entry between the two.
  std::vector<std::size_t> boot_actors_, boot_init_;
  std::optional<image> owned_;
  const image& img_;
  std::unique_ptr<replay_hypervisor> hv_;
  std::optional<log_verifier<replay_hypervisor>> lv_;
  std::uint64_t boot_checked_ = 1;  // entries before it were checked against the image's boot
  std::map<std::string, value> created_;  // the id each of the image's actors was created as
  // Upgrades: the images a log switched to, and the one its latest entries ran on (nullptr
  // when started from a checkpoint, until the log's first upgrade entry names it).
  std::optional<divergence> check_upgrade_entry(const log_entry& e);
  container_registry* registry_ = nullptr;
  image_source images_;
  std::deque<image> upgraded_;
  const image* current_ = nullptr;
};

}  // namespace exo
