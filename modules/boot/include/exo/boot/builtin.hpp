#pragma once
/// \file
/// Native actor types every `exo` build has, for images to use beside their own code.
///
/// - `exo.kv`: a key-value map in the actor's storage. put(key: string, value: any),
///   get(key) -> the value or null, erase(key) -> whether it was there. Values are kept in
///   their canonical encoding. put and erase log the key at level debug.

#include <exo/container/native.hpp>
#include <exo/container/registry.hpp>

#include <string>

namespace exo {

struct kv_actor {
  expected<void> put(context& ctx, std::string key, value v);
  expected<value> get(context& ctx, std::string key) const;
  expected<bool> erase(context& ctx, std::string key);

  static constexpr std::string_view exo_name = "exo.kv";
  static constexpr auto exo_exports =
      exports(fn<&kv_actor::put>("put", 5), fn<&kv_actor::get>("get", 3), fn<&kv_actor::erase>("erase", 3));
};

/// Adds exo's built-in native types to a registry's native container.
inline void add_builtin_types(container_registry& registry) { registry.native().add<kv_actor>(); }

}  // namespace exo
