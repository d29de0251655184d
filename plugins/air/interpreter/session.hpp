#pragma once
/// \file
/// The host's side of a particle: the loop that answers a peer's call requests until it has
/// none left (AquaVM's README, "host loop"), AquaVM's test services, and a session moving a
/// particle between several named peers in one process (`exo air session`).
///
/// Runs go through a run_fn, so the same loop drives the interpreter inline, on a thread
/// runner or in a child process.

#include "wire.hpp"

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace exo::air {

/// Answers one call request.
using service = std::function<call_result(const call_request&)>;

/// AquaVM's test services: `unit` answers "result from unit_call_service"; `echo` its first
/// argument (or null); `fallible` fails for the service `failing` ((1, "failed result from
/// fallible_call_service")) and succeeds for others; `set_variable` answers `value`.
service unit_service();
service echo_service();
service fallible_service(std::string failing);
service set_variable_service(json value);
/// A service by name: one of the four, or nullopt. `arg` is fallible's service id or
/// set_variable's JSON.
std::optional<service> test_service(std::string_view name, std::string_view arg);

/// Runs a request somewhere (inline, a thread runner, a child process).
using run_fn = std::function<expected<interpreter_result>(const run_request&)>;
/// run() on this thread.
run_fn inline_run(const run_limits& limits = {});
/// Through a runner (anything with run(byte_view) -> expected<bytes>).
template <class Runner>
run_fn runner_run(Runner& r) {
  return [&r](const run_request& q) -> expected<interpreter_result> {
    auto out = r.run(encode_request(q));
    if (!out) return unexpected(std::move(out).error());
    return decode_result(*out);
  };
}

/// A peer: its id, how it answers its local calls, and its data for the particle.
struct peer {
  std::string id;
  service answer;
  bytes data;
};

/// One run inside a host call, for who wants to watch.
struct host_step {
  std::string peer;
  std::size_t round = 0;  ///< 0 for the particle's arrival, then one per round of answers
  const interpreter_result* result = nullptr;
};
using step_observer = std::function<void(const host_step&)>;

/// The particle (`air`, `data`) arrives at `p`: runs it, answers its call requests with
/// p.answer and runs again until none are left (at most `max_rounds`, errc::limit_exceeded
/// past that), keeps the data in p.data (as AquaVM's hosts do, whatever the ret_code), and
/// gives the last result with every next peer the rounds named (each once).
expected<interpreter_result> host_call(peer& p, std::string_view air, const std::string& init_peer, byte_view data,
                                       const run_fn& run, std::uint64_t max_ticks = run_limits{}.max_ticks,
                                       const step_observer& watch = {}, std::size_t max_rounds = 10'000);

/// A whole particle's life across `peers`: it starts at `init_peer` with empty data; each
/// result's data goes to each of its next peers (in order, a queue), who run it in turn,
/// until no peer has work. Peers not in `peers` are where the particle leaves this process:
/// they are recorded in `left_for` and get nothing. Stops with errc::limit_exceeded after
/// `max_deliveries`.
struct session_result {
  std::size_t deliveries = 0;
  std::vector<std::string> left_for;
};
expected<session_result> run_session(std::map<std::string, peer>& peers, std::string_view air, const std::string& init_peer,
                                     const run_fn& run, const step_observer& watch = {}, std::size_t max_deliveries = 10'000);

}  // namespace exo::air
