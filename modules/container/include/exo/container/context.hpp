#pragma once
/// \file
/// The context: everything an actor's code may ask of the hypervisor while it handles one
/// message — the C++ face of the host API that plugins reach through plugin/abi.h.
///
/// Every effect requested here is part of the message's transaction: it becomes real only if
/// the handler succeeds. Using a bad capability or running out of ticks is a *trap*: the call
/// returns the error and the whole message fails and is rolled back, whatever the handler
/// does next (DESIGN.md sections 4.2-4.4).

#include <exo/core/expected.hpp>
#include <exo/core/id.hpp>
#include <exo/core/log_level.hpp>
#include <exo/core/reflect.hpp>
#include <exo/core/sign.hpp>
#include <exo/message/message.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace exo {

struct actor_type;

/// How a message is sent.
struct send_options {
  /// Marks "hand the callee every tick this message has left".
  static constexpr std::uint64_t remaining = std::numeric_limits<std::uint64_t>::max();
  /// Ticks handed to the callee; charged to the sender's budget at once.
  std::uint64_t budget = remaining;
  /// A capability in the sender's table where the callee's result is sent: it must be
  /// callable (a function or egress cap with the call right) and carry the transfer right.
  std::optional<cap_handle> reply_to;
};

/// Longest storage key an actor may use, in bytes.
inline constexpr std::size_t max_storage_key = 1024;
/// Ticks every storage call costs before its size-dependent part.
inline constexpr std::uint64_t storage_cost_base = 10;

class context {
 public:
  virtual ~context() = default;

  /// The running actor's id.
  virtual const id& self() const noexcept = 0;
  /// The id of whoever sent the message being handled (the host's id for external calls).
  virtual const id& sender() const noexcept = 0;
  /// The code hash of the running actor's type.
  virtual const digest& code_hash() const noexcept = 0;
  /// Who made the logged input this message serves (LibVMS's `System.caller.id`): the key a
  /// signed call was signed with, the same for every message the input causes. nullptr for
  /// an anonymous input, and in a hypervisor without a call log.
  virtual const public_key* caller() const noexcept = 0;
  /// 32 bytes of entropy for this message, the same on every run and replay: a hash of the
  /// logged input's place in the log (its index and the entry before it) and of the message
  /// (receiver, sender, order key). Different for every message; not secret (anyone with
  /// the log can compute it), so it seeds simulations and shuffles, not keys.
  virtual digest entropy() const noexcept = 0;
  /// Whether this message runs in a replay of a logged input: it then ran to its end when it
  /// was logged (a delivery that faulted is failed with its logged fault, not run), so a
  /// container should not stop it for a reason that is not deterministic (a watchdog's
  /// time, a heap's size) at the bounds it uses live: only at far looser ones, against a
  /// dishonest log ("Faults" in the README).
  virtual bool replaying() const noexcept { return false; }
  /// The actor's clock: max(own clock, message ticks) plus the ticks executed so far.
  virtual std::uint64_t now() const noexcept = 0;
  /// The sender's clock when it sent the message being handled.
  virtual std::uint64_t sent_at() const noexcept = 0;
  /// The message's tick budget, and what is left of it.
  virtual std::uint64_t budget() const noexcept = 0;
  virtual std::uint64_t remaining() const noexcept = 0;

  /// Spends ticks for work done (beyond the function's declared cost). Traps when the
  /// budget cannot cover it.
  virtual expected<void> charge(std::uint64_t ticks) = 0;

  /// Sends `args` through the callable capability `target`. Caps inside args are handles in
  /// this actor's table and need the transfer right; the receiver gets its own handles.
  virtual expected<void> send(cap_handle target, arg_list&& args, const send_options& opts = {}) = 0;
  /// Sends to where the current message's result goes (nothing happens if it has no reply
  /// target).
  virtual expected<void> reply(arg_list&& args) = 0;
  /// Sends on behalf of the current message's origin: failures of what follows are reported
  /// to the origin, the reply target is kept, and all remaining ticks go along.
  virtual expected<void> forward(cap_handle target, arg_list&& args) = 0;
  /// The current message's reply target as a capability in this actor's table (call right
  /// only), to answer later: a result sent through it from another message reaches whoever
  /// awaits this one, as a continuation. An actor that waits for other actors' answers
  /// before it can reply (the AIR container's services) keeps one. errc::invalid_argument
  /// when the message has no reply target.
  virtual expected<cap_handle> reply_cap() = 0;

  /// A new capability from `from` with rights narrowed to `keep`. With a function name, `from`
  /// must be an actor capability and the result names that exported function.
  virtual expected<cap_handle> derive(cap_handle from, rights keep, std::string_view function = {}) = 0;
  /// A capability to one of this actor's own exported functions (an actor holds all rights
  /// over itself), e.g. to pass as a reply address.
  virtual expected<cap_handle> self_cap(std::string_view function, rights keep = rights::all) = 0;
  /// Removes a capability from this actor's table; its handle becomes stale.
  virtual expected<void> drop(cap_handle h) = 0;

  /// Creates an actor of `type` owning `state` (what type.load made, or a native state on
  /// the heap; the hypervisor takes ownership in every case). Returns an actor capability
  /// with all rights.
  virtual expected<cap_handle> create_actor(const actor_type& type, void* state) = 0;
  /// Creates an actor from code the hypervisor holds (installed code of any container, or a
  /// registered native type whose state may start empty), named by its code hash.
  virtual expected<cap_handle> create_from_code(const digest& code) = 0;

  // ---- the actor's own key-value storage, kept in the state tree with the actor ----
  // Writes are part of the message's transaction. Each call charges ticks first:
  // storage_cost_base, plus one tick per 32 bytes of key and value.

  /// The value under `key`, or nullopt.
  virtual expected<std::optional<bytes>> storage_get(byte_view key) = 0;
  /// Sets `key` (1 to max_storage_key bytes) to `value`.
  virtual expected<void> storage_put(byte_view key, byte_view value) = 0;
  /// Removes `key`; false if it was absent.
  virtual expected<bool> storage_erase(byte_view key) = 0;

  /// Convenience: send with arguments converted by exo::to_value.
  template <class... A>
  expected<void> call(cap_handle target, A&&... a) {
    return send(target, make_args(std::forward<A>(a)...));
  }
  template <class... A>
  expected<void> call_with(cap_handle target, const send_options& opts, A&&... a) {
    return send(target, make_args(std::forward<A>(a)...), opts);
  }
  /// Creates an actor of native type T (declared as native.hpp describes).
  template <class T>
  expected<cap_handle> create(T state);

  /// True if the current message has a reply target (a result goes somewhere).
  virtual bool has_reply_target() const noexcept = 0;
  /// Sends a handler's returned value to the current message's reply target (nothing happens
  /// without one). Called by native entry points; containers call it for their results.
  virtual expected<void> send_result(value&& result) = 0;

  /// A line for the operator at `level` (diagnostics, not state: see kernel::on_log).
  virtual void log(log_level level, std::string_view text) = 0;
  /// The same at level info.
  void log(std::string_view text) { log(log_level::info, text); }

  /// True once a trap happened in this message; it will be rolled back.
  bool trapped() const noexcept { return trapped_; }

  template <class... A>
  static arg_list make_args(A&&... a) {
    arg_list l;
    (l.emplace_back(to_value(std::forward<A>(a))), ...);
    return l;
  }

 protected:
  bool trapped_ = false;
};

}  // namespace exo
