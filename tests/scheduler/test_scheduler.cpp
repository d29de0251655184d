#include <boost/test/unit_test.hpp>

#include <exo/scheduler/concept.hpp>
#include <exo/scheduler/fifo.hpp>
#include <exo/scheduler/ordered.hpp>

#include "../support/ids.hpp"

#include <random>
#include <set>
#include <tuple>

using namespace exo;

namespace {
// A conforming policy written by a user: a plain LIFO stack of batches.
struct lifo_scheduler {
  static constexpr bool tick_ordered = false;
  void push(message_batch& b) {
    stack.push_back(std::move(b));
    b = message_batch{};
  }
  message* front() noexcept { return stack.empty() ? nullptr : &stack.back().front(); }
  void pop() {
    stack.back().pop_front();
    if (stack.back().empty()) stack.pop_back();
  }
  std::size_t size() const noexcept {
    std::size_t n = 0;
    for (auto& b : stack) n += b.size();
    return n;
  }
  std::vector<message_batch> stack;
};
// Non-conforming: push takes only temporaries (it cannot give the outbox back), and front()
// returns a reference.
struct broken_scheduler {
  static constexpr bool tick_ordered = true;
  void push(message_batch&&) {}
  message& front();
  void pop() {}
  std::size_t size() const { return 0; }
};
// Non-conforming: does not say whether it is tick ordered.
struct unlabelled_scheduler {
  void push(message_batch&) {}
  message* front() { return nullptr; }
  void pop() {}
  std::size_t size() const { return 0; }
};

// exo's own policies, for the tests every policy must pass.
using exo_schedulers = std::tuple<ordered_scheduler, fifo_scheduler>;

message_batch batch(std::initializer_list<std::tuple<std::uint64_t, std::uint8_t, std::uint64_t>> keys) {
  message_batch b;
  for (auto [t, s, q] : keys) {
    message& m = b.emplace_back();
    m.ticks = t;
    m.sender_id = &test::small_id(s);
    m.seq = q;
  }
  return b;
}
template <class S>
std::vector<std::uint64_t> drain_ticks(S& s) {
  std::vector<std::uint64_t> out;
  while (message* m = s.front()) {
    out.push_back(m->ticks);
    s.pop();
  }
  return out;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(schedulers)

// The policy headers static_assert their own types; here a change to the concept that lets a
// broken policy in, or keeps a conforming one out, fails a named test rather than the build.
BOOST_AUTO_TEST_CASE(concept_accepts_conforming_and_rejects_others) {
  BOOST_TEST(scheduler_policy<lifo_scheduler>);
  BOOST_TEST(!scheduler_policy<broken_scheduler>);
  BOOST_TEST(!scheduler_policy<unlabelled_scheduler>);
  BOOST_TEST(!scheduler_policy<int>);
  BOOST_TEST((scheduler_policy<ordered_scheduler> && ordered_scheduler::tick_ordered));
  BOOST_TEST((scheduler_policy<fifo_scheduler> && !fifo_scheduler::tick_ordered));
  // pop_next() is optional: exo's policies have it, a user's need not.
  BOOST_TEST((has_pop_next<ordered_scheduler> && has_pop_next<fifo_scheduler>));
  BOOST_TEST(!has_pop_next<lifo_scheduler>);
}

BOOST_AUTO_TEST_CASE(ordered_merges_batches_by_key) {
  ordered_scheduler s;
  s.push(batch({{7, 1, 0}, {9, 1, 1}}));
  s.push(batch({{3, 2, 0}, {8, 2, 1}}));
  s.push(batch({{5, 3, 0}}));
  BOOST_TEST(s.size() == 5u);
  auto got = drain_ticks(s);
  BOOST_TEST((got == std::vector<std::uint64_t>{3, 5, 7, 8, 9}));
  BOOST_TEST(s.size() == 0u);
  BOOST_TEST(!s.front());
}

BOOST_AUTO_TEST_CASE(ordered_breaks_ties_by_sender_then_seq) {
  ordered_scheduler s;
  s.push(batch({{4, 9, 0}}));
  s.push(batch({{4, 2, 5}, {4, 2, 6}}));
  s.push(batch({{4, 2, 1}}));
  std::vector<std::pair<int, std::uint64_t>> got;
  while (message* m = s.front()) {
    got.emplace_back(m->sender_id->bytes[0], m->seq);
    s.pop();
  }
  BOOST_TEST((got == std::vector<std::pair<int, std::uint64_t>>{{2, 1}, {2, 5}, {2, 6}, {9, 0}}));
}

BOOST_AUTO_TEST_CASE(ordered_always_delivers_the_smallest_waiting_key) {
  // Random sorted batches, pushes interleaved with pops as in a running hypervisor: every
  // pop must take the minimum of everything waiting at that moment.
  using key = std::tuple<std::uint64_t, int, std::uint64_t>;
  std::mt19937_64 rng(3);
  ordered_scheduler s;
  std::multiset<key> waiting;
  auto pop_and_check = [&] {
    message* m = s.front();
    BOOST_REQUIRE(m);
    key k{m->ticks, m->sender_id->bytes[0], m->seq};
    BOOST_REQUIRE((k == *waiting.begin()));
    waiting.erase(waiting.begin());
    s.pop();
  };
  for (int b = 0; b < 300; ++b) {
    message_batch mb;
    std::uint64_t t = rng() % 1000;
    auto sender = static_cast<std::uint8_t>(rng() % 4);  // a batch is one sender's sends
    for (int i = 0, n = 1 + static_cast<int>(rng() % 20); i < n; ++i) {
      t += rng() % 3;
      message& m = mb.emplace_back();
      m.ticks = t;
      m.sender_id = &test::small_id(sender);
      m.seq = static_cast<std::uint64_t>(b * 100 + i);
      waiting.insert({t, m.sender_id->bytes[0], m.seq});
    }
    s.push(std::move(mb));
    for (int k = static_cast<int>(rng() % 8); k > 0 && !waiting.empty(); --k) pop_and_check();
    BOOST_REQUIRE(s.size() == waiting.size());
  }
  while (!waiting.empty()) pop_and_check();
  BOOST_TEST(!s.front());
}

BOOST_AUTO_TEST_CASE(fifo_delivers_batches_in_commit_order) {
  fifo_scheduler s;
  s.push(batch({{7, 1, 0}, {9, 1, 1}}));
  s.push(batch({{3, 2, 0}}));
  auto got = drain_ticks(s);
  BOOST_TEST((got == std::vector<std::uint64_t>{7, 9, 3}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(drained_batches_come_back_as_the_next_outbox, S, exo_schedulers) {
  S s;
  s.push(batch({{1, 1, 0}, {2, 1, 1}}));
  drain_ticks(s);
  message_batch b = batch({{3, 1, 2}});
  s.push(b);
  BOOST_TEST(b.empty());
  BOOST_TEST(b.capacity() >= 2u);  // the drained batch's slots, to fill next
  BOOST_TEST((drain_ticks(s) == std::vector<std::uint64_t>{3}));
}

// The hypervisor's loop calls pop_next() after a delivery that sent nothing, pop() and front()
// otherwise: both must give the same order. Two copies of a policy are fed the same random
// batches, interleaved with deliveries; one always pops then asks for the front, the other
// uses pop_next() wherever nothing was pushed since its last front().
BOOST_AUTO_TEST_CASE_TEMPLATE(pop_next_gives_what_pop_then_front_gives, S, exo_schedulers) {
  std::mt19937_64 rng(11);
  S plain, fast;
  using key = std::tuple<std::uint64_t, int, std::uint64_t>;
  auto key_of = [](const message* m) { return key{m->ticks, m->sender_id->bytes[0], m->seq}; };
  message* next = nullptr;  // fast's front, as pop_next() gave it
  bool pushed = true;       // since fast's last front(): pop_next() may not be used
  std::size_t delivered = 0;
  auto deliver = [&] {
    message* a = plain.front();
    message* b = pushed ? fast.front() : next;
    BOOST_REQUIRE(a);
    BOOST_REQUIRE(b);
    BOOST_REQUIRE((key_of(a) == key_of(b)));
    plain.pop();
    if (rng() % 2) {
      next = fast.pop_next();
      pushed = false;
      BOOST_REQUIRE(next == fast.front());
    } else {
      fast.pop();
      pushed = true;
    }
    ++delivered;
  };
  std::size_t sent = 0;
  for (int b = 0; b < 400; ++b) {
    std::uint64_t t = rng() % 1000;
    auto sender = static_cast<std::uint8_t>(rng() % 4);
    message_batch one, two;
    for (int i = 0, n = 1 + static_cast<int>(rng() % 12); i < n; ++i) {
      t += rng() % 3;
      for (message_batch* mb : {&one, &two}) {
        message& m = mb->emplace_back();
        m.ticks = t;
        m.sender_id = &test::small_id(sender);
        m.seq = static_cast<std::uint64_t>(b * 100 + i);
        m.args.emplace_back(std::int64_t{i});
      }
      ++sent;
    }
    plain.push(one);
    fast.push(two);
    pushed = true;
    for (int k = static_cast<int>(rng() % 10); k > 0 && delivered < sent; --k) deliver();
  }
  while (delivered < sent) deliver();
  BOOST_TEST(!plain.front());
  BOOST_TEST(!fast.front());
  BOOST_TEST(fast.size() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
