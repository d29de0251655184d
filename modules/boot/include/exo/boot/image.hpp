#pragma once
/// \file
/// Images (DESIGN.md section 8, after runtime.js): an application packed into one immutable
/// file that a small kernel boots.
///
/// An image holds a manifest and content-addressed blobs (the actors' code, each named by
/// its SHA-256). The manifest says which container types the application needs (name, type
/// ID and the exact plugin version, because another version may meter or behave otherwise),
/// which actors to create and from which blob, which messages to send once at boot, and
/// which actors' functions are callable from outside, with their parameters and, optionally,
/// the public keys allowed to call them.
///
/// File: the exo sealed-file envelope (exo/core/sealed_file.hpp) with the signature
/// "EXOIMG1": one zstd frame of the canonical encoding of {format: "exo-image-1", manifest,
/// blobs}, then a SHA-256 of the file. The image's hash (its name) is the SHA-256 of the
/// whole file. Packing the same directory always gives the same bytes: no times, no paths,
/// no file order.
///
/// \code
/// exo::container_registry reg;                        // pack compiles the code to check it
/// auto file = exo::pack_image("examples/app", reg);   // bytes; write them anywhere
/// auto img = exo::read_image(*file);                  // checks everything it can
/// fmt::print("{} {}\n", img->manifest.name, exo::to_hex(img->hash));
/// \endcode
///
/// The directory holds `exo.json`:
///
/// \code{.json}
/// {
///   "name": "notes",
///   "actors": [
///     {"name": "counter", "container": "wasm", "code": "counter.wasm"},
///     {"name": "notes", "container": "native", "type": "exo.kv"}
///   ],
///   "init": [{"call": "counter.add", "args": [10]}],
///   "nodes": {"a": ["counter"], "b": ["notes"]},
///   "exports": [
///     {"call": "counter.add", "params": [{"name": "by", "type": "i64", "default": 1}]},
///     {"call": "notes.put", "params": [{"name": "key", "type": "string"}, {"name": "value", "type": "any"}],
///      "callers": ["<hex Ed25519 public key>"]}
///   ]
/// }
/// \endcode

#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/hash.hpp>
#include <exo/core/reflect.hpp>
#include <exo/core/value.hpp>

#include <boost/hana/define_struct.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace exo {

class container_registry;

/// The format an image declares.
inline constexpr std::string_view image_format = "exo-image-1";

/// A container type the image needs, as the plugin that packed it reported itself.
struct image_container {
  BOOST_HANA_DEFINE_STRUCT(image_container, (std::string, name), (std::uint64_t, type_id), (std::string, version));
  friend bool operator==(const image_container&, const image_container&) = default;
};

/// An actor created at boot, in manifest order, from the blob named `code`.
struct image_actor {
  BOOST_HANA_DEFINE_STRUCT(image_actor, (std::string, name), (std::string, container), (digest, code));
};

/// A message sent once at boot (logged like any call from outside).
struct image_call {
  BOOST_HANA_DEFINE_STRUCT(image_call, (std::string, actor), (std::string, function), (value, args), (std::uint64_t, budget));
};

/// An init message's argument that stands for a capability to an actor of the image
/// (`{"$actor": NAME}` in exo.json): a map with this one key. Boot replaces it with an actor
/// capability (all rights); the log records that capability like any other.
inline constexpr std::string_view actor_arg_key = "$actor";
/// The actor name such an argument stands for, or nullopt.
inline std::optional<std::string> actor_arg(const value& v) {
  const auto* m = v.if_map();
  if (!m || m->size() != 1 || m->front().first != actor_arg_key || !m->front().second.if_string()) return std::nullopt;
  return *m->front().second.if_string();
}

/// A parameter of an exported function. `type` is "i64", "f64", "bool", "string", "bytes",
/// "list", "map" or "any"; a parameter with a default may be left out by callers (from the
/// first one left out on, every later parameter must have a default too).
struct image_param {
  BOOST_HANA_DEFINE_STRUCT(image_param, (std::string, name), (std::string, type), (std::optional<value>, fallback));
};

/// A function callable from outside as "actor.function". `callers`: the Ed25519 public keys
/// allowed to call it (a call must be signed by one of them); empty: anyone, signed or not.
struct image_export {
  BOOST_HANA_DEFINE_STRUCT(image_export, (std::string, actor), (std::string, function),
                           (std::vector<image_param>, params), (std::vector<bytes>, callers));
  std::string method() const { return actor + "." + function; }
};

/// Where the actors of an image run when it boots as a cluster (exo.json's "nodes": {NODE:
/// [actor names]}): each actor on exactly one node. Nodes in name order.
struct image_node {
  BOOST_HANA_DEFINE_STRUCT(image_node, (std::string, name), (std::vector<std::string>, actors));
};

struct image_manifest {
  BOOST_HANA_DEFINE_STRUCT(image_manifest, (std::string, format), (std::string, name),
                           (std::vector<image_container>, containers), (std::vector<image_actor>, actors),
                           (std::vector<image_call>, init), (std::vector<image_export>, exports));
  /// Calls made once when a node switches to this image from another (exo upgrade), not at
  /// boot: migrations of state the new code keeps otherwise. Their arguments carry no
  /// capabilities. In the file only when there are some, so images without them are what
  /// they always were.
  std::vector<image_call> migrate;
  /// Where each actor runs in a cluster (issue 21: exo boot --cluster is not built yet; a
  /// single node runs them all). In the file only when there are some, like `migrate`.
  std::vector<image_node> nodes;
  const image_export* find_export(std::string_view actor, std::string_view function) const;
  /// The node `actor` is placed on, or nullptr (no placement, or no such actor).
  const std::string* node_of(std::string_view actor) const;
};

struct image_blob {
  BOOST_HANA_DEFINE_STRUCT(image_blob, (digest, hash), (bytes, data));
};

/// An image read from its file.
struct image {
  image_manifest manifest;
  std::vector<image_blob> blobs;  ///< sorted by hash
  digest hash{};                  ///< SHA-256 of the file: the image's name
  bytes file;                     ///< the file itself
  const bytes* blob(const digest& h) const;
  /// What a hypervisor booted from this image records in its init entry (config::origin):
  /// {image: hash, name, containers}.
  value origin() const;
};

/// The image an origin value names (image::origin()'s "image"; `origin` may be null, as the
/// "from" or "to" an upgrade entry's note lacks), or nullopt if it names none.
std::optional<digest> origin_image(const value* origin);

/// Limits a read enforces before it allocates.
struct image_limits {
  std::uint64_t max_file = std::uint64_t{256} << 20;
  std::uint64_t max_content = std::uint64_t{1} << 30;
};

/// Packs the application in `dir` (its exo.json and the files it names). The registry must
/// have (or find on its search path) every container the manifest names; each actor's code
/// is compiled with it, so code that would not boot is refused here, naming the actor and
/// the file. Unknown fields, missing files, paths leaving `dir`, unknown actors or
/// functions and bad parameter types are errc::invalid_argument with the JSON path.
expected<bytes> pack_image(const std::string& dir, container_registry& registry);
/// Reads an image file's bytes; anything but a whole, well-formed image is errc::malformed
/// (or errc::limit_exceeded) saying what is wrong.
expected<image> read_image(byte_view file, const image_limits& limits = {});
/// Reads the image in `path`; errors name the file.
expected<image> load_image(const std::string& path, const image_limits& limits = {});

/// Loads every container the image needs into `registry` (from its search path, if not
/// registered yet) and checks type ID and version. A missing plugin or another version is
/// errc::incompatible naming the container, the version needed and what was found.
expected<void> load_containers(const image& img, container_registry& registry);

}  // namespace exo
