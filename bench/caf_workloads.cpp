// CAF 0.17 implementation of the comparison workloads declared in
// caf_workloads.hpp. All benchmark actors are event-based actors running on a
// single scheduler worker thread; the calling (main) thread talks to them via
// one caf::scoped_actor and blocks in receive() until the workload reports
// completion.
//
// Build: link with -lcaf_core -lpthread (Debian's libcaf-dev ships no CMake
// config).

#include "caf_workloads.hpp"

#include <malloc.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/all.hpp>

namespace exo::bench::caf_side {

namespace {

// CAF 0.17 atoms (at most 10 characters each).
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using pong_atom = caf::atom_constant<caf::atom("pong")>;
using go_atom = caf::atom_constant<caf::atom("go")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using prepared_atom = caf::atom_constant<caf::atom("prepared")>;
using release_atom = caf::atom_constant<caf::atom("release")>;

// --- (a) ping-pong ----------------------------------------------------------

// Pong simply answers every ping; returning a value from a handler sends it
// back to the sender (as an ordinary asynchronous message for a plain send).
caf::behavior pong_actor(caf::event_based_actor*) {
  return {
    [](ping_atom, int x) { return std::make_tuple(pong_atom::value, x); },
  };
}

struct ping_state {
  std::size_t remaining = 0;
  caf::actor pong;
  caf::actor waiter;
};

// Sends the first ping at initialization, then one more ping per pong until
// `n` pings were answered; finally stops pong, notifies `waiter` and quits.
caf::behavior ping_actor(caf::stateful_actor<ping_state>* self, caf::actor pong,
                         std::size_t n, caf::actor waiter) {
  auto& st = self->state;
  st.remaining = n;
  st.pong = std::move(pong);
  st.waiter = std::move(waiter);
  self->send(st.pong, ping_atom::value, 0);
  return {
    [self](pong_atom, int x) {
      auto& s = self->state;
      if (--s.remaining == 0) {
        self->send_exit(s.pong, caf::exit_reason::user_shutdown);
        self->send(s.waiter, done_atom::value);
        self->quit();
        return;
      }
      self->send(s.pong, ping_atom::value, x + 1);
    },
  };
}

// --- (b) one-to-one ---------------------------------------------------------

struct receiver_state {
  std::size_t remaining = 0;
  caf::actor waiter;
};

caf::behavior receiver_actor(caf::stateful_actor<receiver_state>* self,
                             std::size_t n, caf::actor waiter) {
  self->state.remaining = n;
  self->state.waiter = std::move(waiter);
  return {
    [self](int) {
      if (--self->state.remaining == 0) {
        self->send(self->state.waiter, done_atom::value);
        self->quit();
      }
    },
  };
}

// A function-based actor without a behavior: it sends everything during its
// initialization and terminates right afterwards.
void sender_actor(caf::event_based_actor* self, caf::actor dst, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    self->send(dst, static_cast<int>(i));
}

// --- (c) fan-out / fan-in ---------------------------------------------------

caf::behavior fan_worker(caf::event_based_actor*) {
  return {
    [](int x) { return x; },  // reply to the coordinator
  };
}

struct coordinator_state {
  std::vector<caf::actor> workers;
  std::size_t pending = 0;
  caf::actor waiter;
};

caf::behavior coordinator_actor(caf::stateful_actor<coordinator_state>* self,
                                std::size_t n, caf::actor waiter) {
  auto& st = self->state;
  st.waiter = std::move(waiter);
  st.workers.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    st.workers.push_back(self->spawn(fan_worker));
  return {
    [self](go_atom) {
      auto& s = self->state;
      s.pending = s.workers.size();
      if (s.pending == 0) {
        self->send(s.waiter, done_atom::value);
        return;
      }
      int i = 0;
      for (auto& w : s.workers)
        self->send(w, i++);
    },
    [self](int) {
      auto& s = self->state;
      if (--s.pending == 0)
        self->send(s.waiter, done_atom::value);
    },
  };
}

// --- (d) spawn / idle actor memory ------------------------------------------

// Shared between a spawner and its children. Lives inside the spawner's state,
// which outlives the children's initialization (the last child to initialize
// is what wakes up the spawner).
struct spawn_tracker {
  std::atomic<std::size_t> initialized{0};
  std::size_t n = 0;
  caf::actor spawner;
};

// The idle actor: a small behavior, never used by the benchmark. The only
// extra work is counting initializations so the spawner knows when all
// children are up (one relaxed atomic increment per child).
caf::behavior idle_child(caf::event_based_actor* self, spawn_tracker* t) {
  if (t->initialized.fetch_add(1, std::memory_order_relaxed) + 1 == t->n)
    self->send(t->spawner, ready_atom::value);
  return {
    [](int x) { return x; },
  };
}

struct spawner_state {
  spawn_tracker tracker;
  std::vector<caf::actor> children;
  caf::actor waiter;
  bool hold = false;
};

// hold == false: spawn n children immediately, release them once all are
//                initialized, report `done` and quit.
// hold == true : reserve the handle array and report `prepared`; on `go`
//                spawn n children and report `ready` once all are initialized;
//                on `release` drop them, report `done` and quit.
caf::behavior spawner_actor(caf::stateful_actor<spawner_state>* self,
                            std::size_t n, caf::actor waiter, bool hold) {
  auto& st = self->state;
  st.tracker.n = n;
  st.tracker.spawner = caf::actor_cast<caf::actor>(self);
  st.waiter = std::move(waiter);
  st.hold = hold;
  st.children.reserve(n);
  auto spawn_all = [self] {
    auto& s = self->state;
    for (std::size_t i = 0; i < s.tracker.n; ++i)
      s.children.push_back(self->spawn(idle_child, &s.tracker));
  };
  auto release = [self] {
    auto& s = self->state;
    // Children are idle and referenced only by this vector, so dropping the
    // handles destroys them right here (CAF reference-counts actors).
    s.children.clear();
    s.children.shrink_to_fit();
    s.tracker.spawner = nullptr;  // break the self-reference
    self->send(s.waiter, done_atom::value);
    self->quit();
  };
  if (hold)
    self->send(st.waiter, prepared_atom::value);
  else
    spawn_all();
  return {
    [spawn_all](go_atom) { spawn_all(); },
    [self, release](ready_atom) {
      if (self->state.hold)
        self->send(self->state.waiter, ready_atom::value);
      else
        release();
    },
    [release](release_atom) { release(); },
  };
}

}  // namespace

// --- opaque types -----------------------------------------------------------

struct system {
  caf::actor_system_config cfg;
  // One scheduler worker thread, like exo's single-threaded scheduler.
  caf::actor_system sys{cfg.set("scheduler.max-threads", 1)};
  // The calling thread's handle into the system (declared last so it goes
  // away before the actor system).
  caf::scoped_actor self{sys};

  caf::actor me() const {
    return caf::actor_cast<caf::actor>(self);
  }

  template <class Atom>
  void await() {
    self->receive([](Atom) {});
  }
};

struct fan {
  system* owner = nullptr;
  caf::actor coordinator;
};

void system_deleter::operator()(system* p) const noexcept {
  delete p;  // ~actor_system waits for all (non-hidden) actors to terminate
}

void fan_deleter::operator()(fan* p) const noexcept {
  if (p == nullptr)
    return;
  // The coordinator's state (holding the only worker handles) is destroyed
  // when it exits, which in turn lets the idle workers be collected.
  caf::anon_send_exit(p->coordinator, caf::exit_reason::user_shutdown);
  delete p;
}

system_ptr make_system() {
  system_ptr p{new system};
  auto workers = p->sys.scheduler().num_workers();
  if (workers != 1)
    throw std::runtime_error("CAF scheduler has " + std::to_string(workers)
                             + " workers instead of 1");
  return p;
}

void ping_pong(system& s, std::size_t round_trips) {
  if (round_trips == 0)
    return;
  auto pong = s.sys.spawn(pong_actor);
  s.sys.spawn(ping_actor, std::move(pong), round_trips, s.me());
  s.await<done_atom>();
}

void one_to_one(system& s, std::size_t messages) {
  if (messages == 0)
    return;
  auto receiver = s.sys.spawn(receiver_actor, messages, s.me());
  s.sys.spawn(sender_actor, std::move(receiver), messages);
  s.await<done_atom>();
}

fan_ptr prepare_fan(system& s, std::size_t workers) {
  fan_ptr f{new fan};
  f->owner = &s;
  f->coordinator = s.sys.spawn(coordinator_actor, workers, s.me());
  // Warm-up round: guarantees every worker has been initialized, so later
  // fan_out_in() calls measure messaging only.
  fan_out_in(*f);
  return f;
}

void fan_out_in(fan& f) {
  auto& s = *f.owner;
  s.self->send(f.coordinator, go_atom::value);
  s.await<done_atom>();
}

void spawn(system& s, std::size_t n) {
  if (n == 0)
    return;
  s.sys.spawn(spawner_actor, n, s.me(), false);
  s.await<done_atom>();
}

double idle_actor_bytes(system& s, std::size_t n) {
  if (n == 0)
    return 0.0;
  auto spawner = s.sys.spawn(spawner_actor, n, s.me(), true);
  s.await<prepared_atom>();  // spawner up, handle array reserved
  auto before = mallinfo2().uordblks;
  s.self->send(spawner, go_atom::value);
  s.await<ready_atom>();  // all n children initialized and idle
  auto during = mallinfo2().uordblks;
  s.self->send(spawner, release_atom::value);
  s.await<done_atom>();
  auto delta = static_cast<double>(during) - static_cast<double>(before);
  return delta / static_cast<double>(n);
}

}  // namespace exo::bench::caf_side
