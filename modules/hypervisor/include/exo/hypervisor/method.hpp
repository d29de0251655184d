#pragma once
/// \file
/// Methods: the functions of a hypervisor's actors that are callable from outside, with typed
/// parameters and, optionally, the keys allowed to call them. An image declares them as its
/// exports (exo/boot/image.hpp); a hypervisor builder declares them directly; an RPC server
/// (exo/rpc/server.hpp) checks every call against them before it is queued.
///
/// \code
/// exo::method add{"counter", "add", *hv.actor_id(counter), {{"by", "i64", exo::value(1)}}, {}};
/// auto args = exo::bind_args(add, exo::value(exo::value::list{})).value();   // [1]: the default
/// \endcode

#include <exo/core/expected.hpp>
#include <exo/core/id.hpp>
#include <exo/core/sign.hpp>
#include <exo/core/value.hpp>
#include <exo/message/message.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace exo {

/// A parameter. `type` is "i64", "f64", "bool", "string", "bytes", "list", "map" or "any"; a
/// parameter with a default (`fallback`) may be left out by callers (from the first one left
/// out on, every later one must have a default too).
struct method_param {
  std::string name;
  std::string type;
  std::optional<value> fallback;
};

/// A function callable from outside as "actor.function".
struct method {
  std::string actor;      ///< the actor's name, for people and for the method's name
  std::string function;   ///< the exported function
  id actor_id{};          ///< the actor
  std::vector<method_param> params;
  /// The Ed25519 public keys allowed to call it (a call must be signed by one of them);
  /// empty: anyone, signed or not.
  std::vector<public_key> callers;
  /// "actor.function".
  std::string name() const { return actor + "." + function; }
};

/// The parameter types exo knows.
bool is_param_type(std::string_view type);
/// Does `v` fit the parameter type `type`? An i64 fits "f64" too (bind_args converts it).
bool fits_param_type(const value& v, std::string_view type);
/// The arguments of a call of `m` from a list (null: none): each checked against its
/// parameter's type, left-out ones filled with their defaults. errc::invalid_argument naming
/// the method and the parameter otherwise.
expected<arg_list> bind_args(const method& m, const value& args);
/// Whether `caller` may call `m` (anyone, if it names no callers).
bool allowed(const method& m, const std::optional<public_key>& caller);

}  // namespace exo
