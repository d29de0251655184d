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
/// auto out = n->call("counter.add", exo::value(exo::value::list{exo::value(5)}), {}).value();
/// \endcode

#include <exo/boot/builtin.hpp>
#include <exo/boot/image.hpp>
#include <exo/hypervisor.hpp>
#include <exo/verifier/verify.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

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

  const image& img() const noexcept { return img_; }
  node_hypervisor& hv() noexcept { return *hv_; }
  const std::string& directory() const noexcept { return dir_; }
  /// True if the data directory had been booted before (nothing was created).
  bool resumed() const noexcept { return resumed_; }
  /// The id of the actor the manifest names `name`, or nullptr.
  const id* actor(std::string_view name) const;

  /// The exported function "actor.function", or nullptr.
  const image_export* find_export(std::string_view method) const;
  /// The arguments of a call of `e` from a JSON-like list (null: none): each checked against
  /// its parameter's type, left-out ones filled with their defaults. errc::invalid_argument
  /// naming the parameter otherwise.
  static expected<arg_list> bind_args(const image_export& e, const value& args);
  /// Whether `caller` may call `e` (anyone, if it names no callers).
  static bool allowed(const image_export& e, const std::optional<public_key>& caller);

 private:
  node() = default;
  static expected<std::unique_ptr<node>> start(image img, const std::string& data_dir, container_registry& registry,
                                               const boot_options& opts);
  image img_;
  std::string dir_;
  std::unique_ptr<node_hypervisor> hv_;
  std::map<std::string, id, std::less<>> actors_;
  bool resumed_ = false;
};

/// The file a data directory keeps its image in.
inline constexpr std::string_view image_file_name = "image.exo";

/// Verifies `log` against `img`: replays it into a fresh in-memory hypervisor booted the
/// way the image says (its containers loaded into `registry`), so every entry's result and
/// root is checked, and checks that the log begins with exactly the image's boot (the init
/// entry names the image; then the creates of its actors, with its code, and its init
/// messages). A container that cannot be loaded is reported as the divergence "replay".
verdict verify_image_log(const log_reader& log, const image& img, container_registry& registry,
                         const verify_options& opts = {});

}  // namespace exo
