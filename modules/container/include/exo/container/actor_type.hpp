#pragma once
/// \file
/// An actor type: what the kernel needs to run actors of one code, whatever container made
/// it: a native C++ type (native.hpp) or code compiled by a plugin container (registry.hpp,
/// behind the C ABI of exo/plugin/abi.h). The kernel knows types only through this record;
/// containers fill it in.

#include <exo/core/expected.hpp>
#include <exo/core/hash.hpp>
#include <exo/core/value.hpp>
#include <exo/message/message.hpp>
#include <exo/plugin/abi.h>

#include <cstdint>
#include <span>
#include <string_view>

namespace exo {

class context;

/// Runs exported function number `function` of an actor: its state (what load made), the
/// context of the message, the arguments (moved from). A returned value is sent to the
/// message's reply target through the context, inside the transaction. On failure the
/// actor's state must be as before the call (the kernel undoes everything else).
using invoke_fn = expected<void> (*)(void* state, std::uint32_t function, context& ctx, arg_list& args);

/// One exported function.
struct exported_function {
  std::string_view name;
  /// Ticks charged before it runs (a native function's declared cost; 0 for metered code,
  /// which charges what it executes).
  std::uint64_t cost = 0;
  invoke_fn invoke = nullptr;
};

struct actor_type {
  /// For people: the native type's name, or the container's name for compiled code.
  std::string_view name;
  /// The container type ID (EXO_TYPE_NATIVE, EXO_TYPE_WASM, ...; plugin/abi.h).
  std::uint32_t container = EXO_TYPE_NATIVE;
  std::span<const exported_function> functions;
  /// Whether its actors may run on any thread, one message at a time (a parallel scheduler
  /// runs messages to different actors at once): native types, and plugins that declare
  /// EXO_PLUGIN_ANY_THREAD. Others (a JS realm belongs to its thread's context) run only on
  /// the thread that runs the hypervisor.
  bool any_thread = false;
  void (*destroy)(void*) noexcept = nullptr;
  /// Handles failure reports; nullptr if the type has none.
  invoke_fn on_failure = nullptr;
  /// The state as a value and back, for types exo can persist; nullptr for others, whose
  /// state lives only in memory. load(type, null) makes a fresh actor where the type allows
  /// it (compiled code: a new instance).
  value (*save)(const void* state) = nullptr;
  expected<void*> (*load)(const actor_type& type, value&& state) = nullptr;
  /// Names the code: SHA-256 of the canonical encoding of a map that starts with the
  /// container's name (see detail::native_code_hash and exo::code_hash).
  digest code_hash;
  /// The container's own data for this type (e.g. the compiled module); opaque to the kernel.
  const void* impl = nullptr;

  /// The index of an exported function, or failure_function if there is none.
  std::uint32_t find(std::string_view function) const noexcept;
};

/// Whether `next` can replace `current` as an actor's code: capabilities name functions by
/// position, so `next` must export every function of `current` at the same position (it may
/// add functions after them). errc::invalid_argument naming the first that moved; `who`
/// names the actor in it.
expected<void> keeps_exports(const actor_type& current, const actor_type& next, std::string_view who);

}  // namespace exo
