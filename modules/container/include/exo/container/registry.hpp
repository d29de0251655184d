#pragma once
/// \file
/// Container types and the registry that holds them (DESIGN.md section 6).
///
/// A container makes actor types from code: the built-in native container from C++ types,
/// plugins (shared libraries behind plugin/abi.h, loaded with Boost.DLL) from bytes — wasm
/// modules, scripts. A hypervisor is given a registry explicitly (config::containers); there
/// is no global one. Compiled code keeps its plugin's library loaded for as long as the code
/// or any actor made from it lives.

#include <exo/container/actor_type.hpp>
#include <exo/container/native.hpp>
#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace exo {

/// Limits every instance of compiled code gets (plugin/abi.h, exo_limits).
struct container_limits {
  /// Linear memory per instance, in 64 KiB pages (16 MiB).
  std::uint32_t max_memory_pages = 256;
  /// Elements per table.
  std::uint32_t max_table_size = 10'000;
  /// Bytes of code a container accepts.
  std::uint64_t max_code_size = std::uint64_t{4} << 20;
};

/// Compiled code: an actor type that owns what its container made. The kernel keeps one for
/// as long as any actor of the type lives.
using code_ptr = std::shared_ptr<const actor_type>;

/// A container type.
class container {
 public:
  virtual ~container() = default;
  /// The type ID it is registered under (EXO_TYPE_*, plugin/abi.h).
  virtual std::uint32_t type_id() const noexcept = 0;
  /// Its short name ("native", "wasm").
  virtual std::string_view name() const noexcept = 0;
  virtual std::string_view version() const noexcept = 0;
  /// Compiles code into an actor type, or says what is wrong with it (errc::malformed for
  /// code that does not validate, errc::limit_exceeded for code over the limits).
  virtual expected<code_ptr> compile(byte_view code, const container_limits& limits) const = 0;
};

/// The built-in native container, and the one registry of native types: its "code" is the
/// name of a native type added to it, and a hypervisor loads stored actors of native types
/// from it by code hash.
class native_container final : public container {
 public:
  std::uint32_t type_id() const noexcept override { return EXO_TYPE_NATIVE; }
  std::string_view name() const noexcept override { return "native"; }
  std::string_view version() const noexcept override { return "built in"; }
  expected<code_ptr> compile(byte_view code, const container_limits& limits) const override;

  /// Makes native type T available by its name (exo_name) and its code hash. (A hypervisor's
  /// register_type<T>() adds T to its registry's native container.)
  template <native_actor T>
  void add() {
    add(native_type<T>());
  }
  /// Adding a type again is harmless; a type of the same name but other code takes the name
  /// (both stay known by code hash).
  void add(const actor_type& type) {
    by_name_[std::string(type.name)] = &type;
    by_code_.emplace(type.code_hash, &type);
  }
  /// The added type with this code hash, or nullptr.
  const actor_type* find(const digest& code_hash) const noexcept {
    auto it = by_code_.find(code_hash);
    return it == by_code_.end() ? nullptr : it->second;
  }

 private:
  std::map<std::string, const actor_type*, std::less<>> by_name_;
  std::unordered_map<digest, const actor_type*> by_code_;
};

/// A container plugin loaded from a shared library.
class plugin_container final : public container {
 public:
  /// Loads `file` and checks its descriptor. Refuses, with errors that say what to do: a
  /// file that is missing or not a shared library, a library without the exo_plugin_v1
  /// symbol, a descriptor of another abi_major, one smaller than the fields exo reads,
  /// or one without a name or an entry point.
  static expected<std::unique_ptr<plugin_container>> load(const std::filesystem::path& file);
  ~plugin_container() override;

  std::uint32_t type_id() const noexcept override;
  std::string_view name() const noexcept override;
  std::string_view version() const noexcept override;
  expected<code_ptr> compile(byte_view code, const container_limits& limits) const override;
  const std::filesystem::path& file() const noexcept { return file_; }
  /// The descriptor's ABI version.
  std::uint16_t abi_minor() const noexcept;

  struct library;  // the loaded library and its descriptor (shared with compiled code)

 private:
  plugin_container(std::shared_ptr<const library> lib, std::filesystem::path file);
  std::shared_ptr<const library> lib_;
  std::filesystem::path file_;
};

/// Container types by type ID. Starts with the built-in native container.
class container_registry {
 public:
  container_registry();

  /// Registers a container; refuses a type ID or name already registered.
  expected<const container*> add(std::unique_ptr<container> c);
  /// Loads a plugin from a file and registers it.
  expected<const container*> load(const std::filesystem::path& file);
  /// Loads the plugin named `name` ("wasm": the file exo_wasm.so) from the search path.
  expected<const container*> load_named(std::string_view name);
  /// Loads every exo_*.so in `dir`; returns how many were registered (a file that is not a
  /// plugin is an error that names it).
  expected<std::size_t> load_dir(const std::filesystem::path& dir);

  /// Directories searched by load_named, in order: those added here, then the entries of
  /// the EXO_PLUGIN_PATH environment variable (colon-separated), read when searching.
  void add_search_dir(std::filesystem::path dir) { dirs_.push_back(std::move(dir)); }
  std::vector<std::filesystem::path> search_path() const;

  const container* find(std::uint32_t type_id) const noexcept;
  const container* find(std::string_view name) const noexcept;
  native_container& native() noexcept { return *native_; }

  /// Compiles code with the container registered under `type_id`, within limits().
  expected<code_ptr> compile(std::uint32_t type_id, byte_view code) const;
  const container_limits& limits() const noexcept { return limits_; }
  void set_limits(const container_limits& l) { limits_ = l; }

  /// Registered containers, by type ID.
  std::vector<const container*> list() const;

 private:
  std::map<std::uint32_t, std::unique_ptr<container>> by_id_;
  native_container* native_ = nullptr;
  std::vector<std::filesystem::path> dirs_;
  container_limits limits_;
};

/// The code hash of code compiled by the container named `container`: SHA-256 of the
/// canonical encoding of {container: name, code: bytes}.
digest code_hash(std::string_view container, byte_view code);

}  // namespace exo
