#pragma once
/// \file
/// The ingress: where every input from outside enters a hypervisor that logs its inputs
/// (DESIGN.md section 4.5). An input (a create, a call) gets the next call log index, runs
/// until nothing is left to deliver, and is logged with its outcome: the result or error,
/// what reached egresses and the host meanwhile, the ticks used and the state root after.
/// The entry and the state changes are committed together, one commit per input, or one for
/// a batch of them (group commit). Replaying a logged entry makes the same input again, for
/// exo::verify.
///
/// exo::hypervisor holds one when it has a Log policy; this is the compiled, non-template
/// part (ingress.cpp). It drives the kernel through its API, runs deliveries through a
/// message_pump (the hypervisor's scheduler loop), and learns of outputs as the kernel's
/// output_observer. The kernel knows nothing of log entries.

#include <exo/call_log/entry.hpp>
#include <exo/call_log/writer.hpp>
#include <exo/core/commit_meta.hpp>
#include <exo/core/sign.hpp>
#include <exo/hypervisor/kernel.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace exo {

/// How a logged input is made.
struct invoke_options {
  /// The caller's public key, recorded in the entry; absent for an anonymous caller.
  std::optional<public_key> caller;
  /// The call's tick budget; 0 means the config's default_budget.
  std::uint64_t budget = 0;
  /// The caller's sequence number, for a call its caller signed: it must be greater than
  /// that of every call accepted from this caller before, so that a signed call is accepted
  /// once (a captured one sent again is refused, and nothing of it is logged). Needs a caller.
  /// The RPC server always gives one for a signed call.
  std::optional<std::uint64_t> seq;
};

/// An upgrade (ingress::upgrade): new code for running actors, and calls that run once at the
/// switch. Logged as one "upgrade" entry (exo/call_log/entry.hpp).
struct upgrade_request {
  /// What the host says the upgrade is, logged as it is (exo::node: both images' origins).
  value note;
  /// An actor's new code, installed for `container` (as create_code installs it).
  struct code_change {
    id actor;
    std::string container;
    bytes source;
  };
  std::vector<code_change> changes;
  /// A call from the host made once, after the code is replaced (a migration): arguments
  /// without capabilities; budget 0 is the config's default_budget.
  struct call {
    id actor;
    std::string function;
    value args;  ///< a list
    std::uint64_t budget = 0;
  };
  std::vector<call> migrate;
  /// Meta records committed with the entry (the boot layer names the node's image in one).
  commit_meta records;
  /// The args of its log entry: {note, changes, migrate} (the records are not logged).
  value logged_args() const;
};

/// Who the other nodes of a cluster are and where actors live (ingress::route): logged as one
/// "route" entry, the routing table's only way to change (exo/cluster).
struct route_request {
  /// A node of the cluster and the key it signs its envelopes (and its log) with.
  struct peer {
    std::string node;
    public_key key;
  };
  /// An actor that lives on `node` (kernel::add_route).
  struct route {
    id actor;
    std::string node;
    std::vector<std::string> functions;
  };
  /// A capability to an actor of this node given to `node` (kernel::grant): the function
  /// named, or the whole actor when `function` is empty.
  struct grant {
    id actor;
    std::string function;
    std::string node;
    rights keep = rights::all;
  };
  std::vector<peer> peers;
  std::vector<route> routes;
  std::vector<grant> grants;
  /// The args of its log entry: {peers: [{node, key}], routes: [{actor, node, functions}],
  /// grants: [{actor, function, node, rights}]}.
  value logged_args() const;
};

/// What a logged input did: the outcome its log entry records (and the entry's index).
struct call_outcome {
  std::uint64_t index = 0;
  /// What the called function returned. Capabilities in it are host handles, the
  /// invoker's to drop (kernel::release_caps drops them all and numbers them as the log
  /// does); hypervisor_service releases them before a result leaves the node.
  value result;
  value result_caps;                ///< what each cap in result names, in order (as logged)
  std::optional<exo::error> error;  ///< the call's own failure, if it failed
  value outputs;                    ///< what reached egresses and the host meanwhile (as logged)
  std::uint64_t ticks = 0;
  digest root{};
};

/// What the ingress needs of whoever orders deliveries: run until nothing is left, and say
/// how many messages wait.
class message_pump {
 public:
  virtual std::size_t run_until_idle() = 0;
  virtual std::size_t pending() const noexcept = 0;

 protected:
  ~message_pump() = default;
};

class ingress final : private output_observer {
 public:
  /// Logs the inputs of `k` in `log` (entries signed by `key`), running them through `pump`;
  /// keeps its own records (each signed caller's last sequence number) in `state`, the
  /// kernel's state tree. All of them must outlive the ingress. resume() checks what the log
  /// holds.
  ingress(kernel& k, state_tree& state, message_pump& pump, log_writer& log, node_key key);
  ~ingress();
  ingress(const ingress&) = delete;
  ingress& operator=(const ingress&) = delete;

  /// Checks a log read from a store against the state it was committed with: its last entry
  /// names the state root and, with `own_key` (the store keeps the key that signs its log: a
  /// data directory's node.key), its head was signed by this node's key. A store without
  /// files gets a new key each time it is opened, so what it holds (a snapshot imported to
  /// be replayed from, exo/verifier/checkpoint.hpp) was signed by someone else; whether by
  /// the right key is the verifier's question.
  expected<void> resume(bool own_key = true);

  /// Creates a root actor of `type` owning `state` (the ingress owns it from here on, even on
  /// error), logged as a "create" entry with its saved state.
  expected<cap_handle> create(const actor_type& type, void* state);
  /// Installs `code` and creates a root actor running it, logged as a "create" entry that
  /// carries the code (so that a replay installs it too).
  expected<cap_handle> create_code(std::string_view container, byte_view code);
  /// Calls `function` of `actor`, runs until idle, and logs the call with its outcome.
  expected<call_outcome> invoke(const id& actor, std::string_view function, arg_list args, const invoke_options& opts);
  /// Replaces actors' code and runs the migration calls, all of it one input, logged as an
  /// "upgrade" entry (see upgrade_request) committed with the request's records. A change
  /// that cannot be made (code that does not compile, exports that moved, see
  /// kernel::replace_code) or a migration call that fails or is refused undoes the whole
  /// upgrade: nothing is logged and the state is as before (in a batch, the batch fails).
  expected<log_entry> upgrade(const upgrade_request& r);
  /// Records peers, routes and grants (see route_request) as one "route" entry; a route or
  /// grant that cannot be made undoes the whole entry (nothing logged).
  expected<log_entry> route(const route_request& r);
  /// Takes a message another node sealed for this one (exo/call_log/envelope.hpp), logged as
  /// a "take" entry that carries the envelope: it must open as from a peer a route entry
  /// named, to this node (config::node), signed by that peer's key, with the next index of
  /// that peer's stream to this node; else it is an error and nothing is logged. Taken, its
  /// index is used up whatever the body holds: a body the kernel refuses (kernel::take_remote)
  /// is logged with that error, and its origin hears of it. So each envelope is taken once,
  /// in order, and a replay takes it again only from the same log.
  expected<log_entry> take(byte_view envelope);
  /// Settles the messages this node sent node `node` (kernel::settle_remote), logged as a
  /// "settle" entry: `receipt`, if any, is that node's signed receipt (open_receipt: from
  /// `node`, to this node, signed by the key a route entry gave it) saying how many it took;
  /// every message after those, up to `expired`, was not confirmed within the bound, and its
  /// origin is told (errc::unreachable). A receipt that does not open, or that claims more than
  /// was sent, is an error and nothing is logged. The entry's result is how many were told.
  expected<log_entry> settle(std::string_view node, std::optional<bytes> receipt, std::uint64_t expired);
  /// The index of the next envelope this node takes from `node` (1 when none was taken).
  expected<std::uint64_t> next_take(std::string_view node) const;
  /// The key peer `node` signs with, as a route entry recorded it (nullopt: no such peer).
  expected<std::optional<public_key>> peer_key(std::string_view node) const;
  /// Makes the input `original` records again and returns the entry it logs for it.
  expected<log_entry> replay(const log_entry& original);
  /// The sequence number of the last signed call accepted from `caller` (0: none yet).
  expected<std::uint64_t> last_seq(const public_key& caller) const;

  /// Group commit (see exo::hypervisor::begin_batch).
  void begin_batch();
  expected<void> end_batch();
  bool batching() const noexcept { return batching_; }
  /// Back to what the store holds: the state to its head, the log to its head record.
  expected<void> rollback();

  /// Whether heads are signed (the default).
  void sign(bool on) noexcept { sign_ = on; }
  const public_key& node_public_key() const noexcept { return key_.public_key(); }
  const log_writer& log() const noexcept { return log_; }

 private:
  struct capture;  // what one call produced, collected while it runs

  void on_egress(std::uint32_t egress, std::string_view name, message& m, bool has_sink) override;
  void on_host_failure(const failure& f) override;
  void on_remote(std::string_view node, std::uint64_t index, value&& body) override;
  void on_fault(std::uint64_t delivery, const error& e) override;

  unexpected<error> busy(std::string_view what) const;
  expected<void> ready(std::string_view what);  // idle, and the init entry written
  log_entry next_entry(std::string kind) const;
  expected<void> ensure_init();
  kernel::input_info input_of(const log_entry& e) const;
  expected<log_entry> run_call(log_entry e, arg_list args, value& host_result,
                               std::vector<std::pair<std::uint64_t, error>> faults = {});
  std::optional<error> run_one(const id& actor, std::string_view function, arg_list args, std::uint64_t budget,
                               capture& cap);
  expected<log_entry> run_upgrade(const value& args, std::vector<std::pair<std::uint64_t, error>> faults,
                                  const commit_meta* records);
  expected<log_entry> run_route(const value& args);
  expected<log_entry> run_take(const value& args, std::vector<std::pair<std::uint64_t, error>> faults);
  expected<log_entry> run_settle(const value& args, std::vector<std::pair<std::uint64_t, error>> faults);
  // A host input (a take, a settlement): `act` makes it, then what it queued runs and the
  // entry `e` is logged with its result; its error is logged with the entry if `log_error`,
  // else the input is abandoned (nothing logged).
  expected<log_entry> run_host(log_entry e, std::vector<std::pair<std::uint64_t, error>> faults,
                               const std::function<expected<value>()>& act, bool log_error);
  unexpected<error> abandon(error e);  // undoes the running input (or fails the batch) and returns e
  expected<void> accept_seq(const std::optional<bytes>& caller, std::optional<std::uint64_t> seq);
  expected<void> append(log_entry& e);
  expected<void> commit_entries();

  kernel& k_;
  state_tree& state_;
  message_pump& pump_;
  log_writer& log_;
  node_key key_;
  bool sign_ = true;
  bool batching_ = false;
  commit_meta staged_;                 // the staged entries (and, when sealed, the head)
  std::optional<error> batch_error_;   // a batch input that could not be staged
  capture* capture_ = nullptr;         // set while a call runs
  bool replaying_ = false;             // set while replay() runs an entry (input_info::replay)
};

}  // namespace exo
