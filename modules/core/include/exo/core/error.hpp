#pragma once
/// \file
/// exo's error type: a small documented code plus a message for people.
/// Traps, bad input and refused operations are values of this type; exceptions are
/// reserved for bugs and never cross a plugin boundary.

#include <cstdint>
#include <string>
#include <string_view>

namespace exo {

/// What went wrong, as a stable number (it is persisted in call logs: never renumber).
/// Each value says what the caller can do about it.
enum class errc : std::uint8_t {
  /// An argument was outside what the operation accepts; fix the call.
  invalid_argument = 1,
  /// Encoded input (a value, a message, a frame) is malformed; the sender must re-encode.
  malformed = 2,
  /// The message used more ticks than its budget; send again with a larger budget.
  out_of_ticks = 3,
  /// No actor has the given id (or the handle names a destroyed actor).
  no_such_actor = 4,
  /// The actor exists but exports no function of that name or index.
  no_such_function = 5,
  /// The capability handle is not in the caller's table, or was dropped (stale/forged).
  bad_capability = 6,
  /// The capability exists but is of the wrong kind for this use (e.g. calling an actor ref).
  wrong_kind = 7,
  /// The capability lacks the right this use needs (call, transfer or derive).
  missing_right = 8,
  /// The handler returned an error of its own; see the message.
  handler_failed = 9,
  /// The handler threw a C++ exception; the message was rolled back.
  handler_threw = 10,
  /// A size, depth or count limit was exceeded; the input is too large for this node.
  limit_exceeded = 11,
  /// An argument had the wrong type or there were too few/many arguments.
  type_mismatch = 12,
  /// A failure of the platform (OpenSSL, allocation, I/O); may succeed if retried.
  internal = 13,
  /// The actor's code trapped (unreachable, an out-of-bounds memory access, a division by
  /// zero, a stack overflow); the message was rolled back. Fix the code or its input.
  trap = 14,
  /// A plugin or file built for another version of exo's interfaces; rebuild it.
  incompatible = 15,
  /// The node faulted while it ran the message: a stop that is not deterministic (the js
  /// container's watchdog, the engine running out of memory). The message was rolled back
  /// and its budget spent; the call log records the fault, and a replay reproduces it
  /// instead of running the message again.
  fault = 16,
  /// A message to an actor of another node was not confirmed taken within the node's bound
  /// (exo/cluster: the peer node may be down or cut off). Its outcome is unknown: the peer may
  /// still take it when it is back.
  unreachable = 17,
};

/// The name of a code, e.g. "out_of_ticks".
std::string_view to_string(errc code) noexcept;

/// An error: a code for programs and a message for people (what happened, what to do).
struct error {
  errc code = errc::internal;
  std::string message;

  friend bool operator==(const error&, const error&) = default;
};

/// "out_of_ticks: <message>".
std::string to_string(const error& e);

}  // namespace exo
