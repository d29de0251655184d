// The runner module: the policy concept, the same bytes from every runner, log levels, the
// life cycle, a thread runner under load and through terminate, and a child process that
// crashes, exits, hangs, speaks garbage or is killed mid-run, each an error after which a
// fresh child serves.

#include "engines.hpp"

#include <exo/runner/process.hpp>
#include <exo/runner/thread.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include <signal.h>

namespace {

using exo::log_level;

exo::bytes b(std::string_view s) { return exo::to_bytes(s); }
bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

/// Collects log lines (from any thread).
struct lines {
  std::mutex m;
  std::vector<std::pair<log_level, std::string>> got;
  exo::run_log sink() {
    return [this](log_level l, std::string_view s) {
      std::lock_guard g(m);
      got.emplace_back(l, std::string(s));
    };
  }
};

exo::process_options child_options(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  return {.command = {EXO_TEST_RUNNER_CHILD}, .timeout = timeout};
}

/// Missing terminate().
struct no_terminate {
  exo::expected<void> init(log_level);
  exo::expected<exo::bytes> run(exo::byte_view);
};
/// run() answers in another shape.
struct wrong_run {
  exo::expected<void> init(log_level);
  exo::expected<void> terminate();
  exo::bytes run(exo::byte_view);
};

}  // namespace

BOOST_AUTO_TEST_SUITE(runner)

BOOST_AUTO_TEST_CASE(what_a_runner_policy_is) {
  BOOST_TEST(exo::runner_policy<exo::inline_runner>);
  BOOST_TEST(exo::runner_policy<exo::thread_runner>);
  BOOST_TEST(exo::runner_policy<exo::process_runner>);
  BOOST_TEST(!exo::runner_policy<no_terminate>);
  BOOST_TEST(!exo::runner_policy<wrong_run>);
}

BOOST_AUTO_TEST_CASE(every_runner_gives_the_same_bytes) {
  std::vector<exo::bytes> requests{b(""), b("a"), b("hello, runner"), b("fail:no such thing"), b("throw"), b("big:3000000")};
  exo::bytes binary(70000);
  for (std::size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<std::uint8_t>(i * 7 + 3);
  requests.push_back(binary);
  exo::inline_runner in(runner_test::test_engine());
  exo::thread_runner th(runner_test::test_engine());
  exo::process_runner pr(child_options());
  BOOST_REQUIRE(in.init(log_level::info));
  BOOST_REQUIRE(th.init(log_level::info));
  auto started = pr.init(log_level::info);
  BOOST_REQUIRE_MESSAGE(started, (started ? "" : started.error().message));
  for (const auto& r : requests) {
    auto a = in.run(r), t = th.run(r), p = pr.run(r);
    BOOST_REQUIRE(a.has_value() == t.has_value());
    BOOST_REQUIRE(a.has_value() == p.has_value());
    if (a) {
      BOOST_TEST((*a == *t));
      BOOST_TEST((*a == *p));
    } else {  // the engine's own error, or its exception, crosses every runner the same
      BOOST_TEST((a.error() == t.error()));
      BOOST_TEST((a.error() == p.error()), p.error().message);
    }
  }
  BOOST_TEST((in.run(b("fail:no such thing")).error().code == exo::errc::handler_failed));
  BOOST_TEST(contains(in.run(b("throw")).error().message, "the engine threw: boom"));
  BOOST_TEST(pr.restarts() == 0u);  // an engine's error or exception is not a failure of the child
}

BOOST_AUTO_TEST_CASE(log_lines_at_the_level_init_was_given_and_above) {
  for (log_level level : {log_level::trace, log_level::warn, log_level::off}) {
    lines li, lt, lp;
    exo::inline_runner in(runner_test::test_engine(), li.sink());
    exo::thread_runner th(runner_test::test_engine(), lt.sink());
    exo::process_runner pr(child_options(), lp.sink());
    BOOST_REQUIRE(in.init(level) && th.init(level) && pr.init(level));
    BOOST_REQUIRE(in.run(b("log:")) && th.run(b("log:")) && pr.run(b("log:")));
    const std::size_t want = level == log_level::off ? 0 : 5 - static_cast<std::size_t>(level);
    BOOST_TEST(li.got.size() == want);
    BOOST_TEST((li.got == lt.got));
    BOOST_TEST((li.got == lp.got));
    if (!li.got.empty()) {
      BOOST_TEST((li.got.front().first == level));
      BOOST_TEST(li.got.back().second == "line at level 4");
    }
  }
}

BOOST_AUTO_TEST_CASE(run_is_refused_before_init_and_after_terminate) {
  exo::inline_runner in(runner_test::test_engine());
  exo::thread_runner th(runner_test::test_engine());
  exo::process_runner pr(child_options());
  BOOST_TEST((in.run(b("x")).error().code == exo::errc::invalid_argument));
  BOOST_TEST((th.run(b("x")).error().code == exo::errc::invalid_argument));
  BOOST_TEST((pr.run(b("x")).error().code == exo::errc::invalid_argument));
  BOOST_REQUIRE(in.init(log_level::info) && th.init(log_level::info) && pr.init(log_level::info));
  BOOST_TEST(!th.init(log_level::info));  // a second init while running
  BOOST_TEST(!pr.init(log_level::info));
  const pid_t first = pr.child();
  BOOST_TEST(first > 0);
  BOOST_REQUIRE(in.terminate() && th.terminate() && pr.terminate());
  BOOST_TEST(pr.child() == -1);
  BOOST_TEST(::kill(first, 0) != 0);  // the child is gone, and reaped
  auto refused = th.run(b("x"));
  BOOST_REQUIRE(!refused);
  BOOST_TEST(contains(refused.error().message, "after terminate"), refused.error().message);
  BOOST_TEST(!in.run(b("x")));
  BOOST_TEST(!pr.run(b("x")));
  // init again starts afresh.
  BOOST_REQUIRE(th.init(log_level::info) && pr.init(log_level::info));
  BOOST_TEST(th.run(b("again")).has_value());
  BOOST_TEST(pr.run(b("again")).has_value());
  BOOST_TEST(pr.child() != first);
}

BOOST_AUTO_TEST_CASE(a_thread_runner_serves_many_threads_and_finishes_its_work_on_terminate) {
  exo::thread_runner th(runner_test::test_engine());
  exo::inline_runner in(runner_test::test_engine());
  BOOST_REQUIRE(th.init(log_level::info) && in.init(log_level::info));
  std::atomic<int> right = 0;
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const exo::bytes req = b("caller " + std::to_string(t) + " request " + std::to_string(i));
        auto r = th.run(req);
        if (r && *r == *runner_test::test_engine()(req, [](log_level, std::string_view) {})) ++right;
      }
    });
  for (auto& c : callers) c.join();
  BOOST_TEST(right == 200);

  // Work in hand when terminate comes is finished; what comes after is refused.
  std::vector<std::thread> slow;
  std::atomic<int> finished = 0;
  for (int i = 0; i < 3; ++i)
    slow.emplace_back([&] {
      if (th.run(b("sleep:100"))) ++finished;
    });
  while (th.pending() < 3) std::this_thread::yield();  // all three in hand
  BOOST_REQUIRE(th.terminate());
  for (auto& s : slow) s.join();
  BOOST_TEST(finished == 3);
  BOOST_TEST(!th.run(b("late")));
}

BOOST_AUTO_TEST_CASE(a_child_that_crashes_exits_hangs_or_speaks_garbage_costs_one_run) {
  exo::process_runner pr(child_options(std::chrono::milliseconds(500)));
  BOOST_REQUIRE(pr.init(log_level::info));
  const exo::bytes ok_request = b("still here");
  const auto ok_answer = *runner_test::test_engine()(ok_request, [](log_level, std::string_view) {});
  struct bad {
    const char* request;
    const char* says;
  };
  const bad cases[] = {
      {"crash", "was killed by signal 6"},
      {"exit", "exited with code 7"},
      {"hang", "no answer within 500 ms"},
      {"garbage", "broke the protocol (it wrote something that is not a frame (bad magic))"},
      {"huge", "over the"},
  };
  std::uint64_t restarts = 0;
  for (const bad& c : cases) {
    const pid_t before = pr.child();
    auto r = pr.run(b(c.request));
    BOOST_REQUIRE_MESSAGE(!r, c.request);
    BOOST_TEST((r.error().code == exo::errc::internal));
    BOOST_TEST(contains(r.error().message, c.says), c.request << ": " << r.error().message);
    BOOST_TEST(contains(r.error().message, "the next run starts a new child"));
    BOOST_TEST(pr.child() == -1);
    BOOST_TEST(::kill(before, 0) != 0);  // killed or gone, and reaped: no zombie
    auto next = pr.run(ok_request);  // a fresh child serves the next run
    BOOST_REQUIRE_MESSAGE(next, c.request << ": " << (next ? "" : next.error().message));
    BOOST_TEST((*next == ok_answer));
    BOOST_TEST(pr.restarts() == ++restarts);
    BOOST_TEST(pr.child() != before);
  }
}

BOOST_AUTO_TEST_CASE(a_child_killed_mid_run_is_an_error_and_the_next_run_is_served) {
  exo::process_runner pr(child_options());
  BOOST_REQUIRE(pr.init(log_level::info));
  const pid_t victim = pr.child();
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ::kill(victim, SIGKILL);
  });
  auto r = pr.run(b("sleep:5000"));
  killer.join();
  BOOST_REQUIRE(!r);
  BOOST_TEST(contains(r.error().message, "was killed by signal 9"), r.error().message);
  BOOST_TEST(pr.run(b("after")).has_value());
}

BOOST_AUTO_TEST_CASE(a_child_that_cannot_start_is_a_clear_error) {
  exo::process_runner missing({.command = {"/nonexistent/exo-runner"}});
  auto r = missing.init(log_level::info);
  BOOST_REQUIRE(!r);
  BOOST_TEST(contains(r.error().message, "/nonexistent/exo-runner"), r.error().message);
  exo::process_runner no_command({});
  BOOST_TEST(!no_command.init(log_level::info));
  // A program that is not a runner: it exits at once without a word.
  exo::process_runner not_a_runner({.command = {"/bin/true"}, .start_timeout = std::chrono::seconds(5)});
  auto t = not_a_runner.init(log_level::info);
  BOOST_REQUIRE(!t);
  BOOST_TEST(contains(t.error().message, "before it was ready"), t.error().message);
  // Too large a request is refused before it is sent.
  exo::process_runner small({.command = {EXO_TEST_RUNNER_CHILD}, .max_message = 1024});
  BOOST_REQUIRE(small.init(log_level::info));
  auto big = small.run(exo::bytes(2048, 1));
  BOOST_REQUIRE(!big);
  BOOST_TEST((big.error().code == exo::errc::limit_exceeded));
  BOOST_TEST(small.run(b("small")).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
