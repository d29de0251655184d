#pragma once
// CAF (C++ Actor Framework 0.17) side of the exo comparison benchmark.
//
// This header deliberately includes no CAF header: all CAF types live behind
// the opaque `system` / `fan` structs defined in caf_workloads.cpp, so exo's
// own code never sees CAF. Link the implementation with `-lcaf_core -lpthread`.
//
// Every function is blocking: it returns once the measured work (including
// actor termination where stated) has finished. Call them from a single,
// non-CAF thread (they share one `caf::scoped_actor` per system).

#include <cstddef>
#include <memory>

namespace exo::bench::caf_side {

/// A CAF actor system configured to run on exactly ONE scheduler worker
/// thread (to compare with exo's single-threaded deterministic scheduler).
/// Opaque. Destroying it waits for all actors it hosts to terminate.
struct system;
struct system_deleter {
  void operator()(system*) const noexcept;
};
using system_ptr = std::unique_ptr<system, system_deleter>;

/// Creates the actor system (throws std::runtime_error if CAF did not end up
/// with exactly one scheduler worker).
system_ptr make_system();

/// (a) ping-pong: two actors bounce one integer message `round_trips` times
/// each way (2*round_trips messages). Returns when finished.
void ping_pong(system&, std::size_t round_trips);

/// (b) one sender actor sends `messages` small messages (an int) to one
/// receiver actor; returns when the receiver got them all.
void one_to_one(system&, std::size_t messages);

/// (c) fan-out/fan-in: a coordinator sends one message to each of `workers`
/// already-spawned actors, each replies to the coordinator; returns after all
/// replies arrived (2*workers messages per call). The workers (and the
/// coordinator) are spawned once by prepare_fan() and reused across calls, so
/// only messaging is measured. A fan must be destroyed before its system.
struct fan;
struct fan_deleter {
  void operator()(fan*) const noexcept;
};
using fan_ptr = std::unique_ptr<fan, fan_deleter>;
fan_ptr prepare_fan(system&, std::size_t workers);
void fan_out_in(fan&);

/// (d) spawn `n` event-based actors (each with a small behavior, kept alive =
/// idle) and then release them; returns when all of them were initialized and
/// destroyed again. Measures spawn cost (spawn + init + teardown).
void spawn(system&, std::size_t n);

/// Memory of an idle actor: spawn n idle actors, measure heap growth with
/// glibc mallinfo2() (uordblks delta) while they are alive, release them,
/// return bytes per actor. The handle array keeping them alive is reserved
/// before the baseline, so it is not counted.
double idle_actor_bytes(system&, std::size_t n);

}  // namespace exo::bench::caf_side
