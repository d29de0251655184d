#include <boost/test/unit_test.hpp>

#include "actors.hpp"

#include <exo/core/encoding.hpp>
#include <exo/core/hash.hpp>

using namespace exo;
using namespace test;

namespace {
struct thrower {
  void non_std(context&) { throw 42; }
  static constexpr std::string_view exo_name = "thrower";
  static constexpr auto exo_exports = exo::exports(exo::fn<&thrower::non_std>("non_std", 1));
};
/// Its failure handler itself fails: the report must go to the host, not loop.
struct bad_listener {
  expected<void> provoke(context& ctx, cap_handle target) { return ctx.call_with(target, send_options{.budget = 10}); }
  expected<void> on_failure(context&, failure) { return fail(errc::handler_failed, "cannot cope"); }
  static constexpr std::string_view exo_name = "bad_listener";
  static constexpr auto exo_exports = exo::exports(exo::fn<&bad_listener::provoke>("provoke", 1));
};

struct fixture : hv_fixture {
  cap_handle add = fn(sink, "add");
  // The system still works: a good message after the bad one is delivered.
  void still_serving() {
    auto before = hv.state_of<counter>(sink_id)->total;
    BOOST_REQUIRE(hv.call(add, 1));
    hv.run();
    BOOST_TEST(hv.state_of<counter>(sink_id)->total == before + 1);
  }
};
}  // namespace

BOOST_FIXTURE_TEST_SUITE(bad_input, fixture)

BOOST_AUTO_TEST_CASE(a_nonexistent_actor_is_an_error) {
  auto r = hv.lookup(hash("nobody"), "add");
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::no_such_actor));
  BOOST_TEST(r.error().message.find(to_hex(hash("nobody"))) != std::string::npos);
  BOOST_TEST(!hv.clock_of(hash("nobody")));
  still_serving();
}

BOOST_AUTO_TEST_CASE(a_nonexistent_function_is_an_error) {
  auto r = hv.lookup(sink_id, "subtract");
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::no_such_function));
  BOOST_TEST(r.error().message.find("subtract") != std::string::npos);
  BOOST_TEST(r.error().message.find("counter") != std::string::npos);
  BOOST_TEST((hv.function_cap(sink, "subtract").error().code == errc::no_such_function));
  auto ok = hv.lookup(sink_id, "add");
  BOOST_REQUIRE(ok);
  BOOST_REQUIRE(hv.call(*ok, 2));
  hv.run();
  BOOST_TEST(hv.state_of<counter>(sink_id)->total == 2);
}

BOOST_AUTO_TEST_CASE(a_malformed_encoded_value_is_refused_before_queueing) {
  bytes garbage = {0x07, 0x05, 0x03, 0x01};  // a list of 5 claims more than there is
  auto r = hv.send_encoded(add, garbage);
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::malformed));
  BOOST_TEST(r.error().message.find("byte") != std::string::npos);
  auto not_list = hv.send_encoded(add, encode(value{5}));
  BOOST_REQUIRE(!not_list);
  BOOST_TEST(not_list.error().message.find("list") != std::string::npos);
  BOOST_TEST(hv.pending() == 0u);
  BOOST_REQUIRE(hv.send_encoded(add, encode(value{value::list{7}})));
  hv.run();
  BOOST_TEST(hv.state_of<counter>(sink_id)->total == 7);
}

BOOST_AUTO_TEST_CASE(wrong_argument_types_and_counts_fail_only_that_message) {
  BOOST_REQUIRE(hv.call(add, "seven"));
  BOOST_REQUIRE(hv.call(add));
  BOOST_REQUIRE(hv.call(add, 1, 2));
  hv.run();
  BOOST_REQUIRE(log.seen.size() == 3u);
  for (auto& f : log.seen) BOOST_TEST((f.cause() == errc::type_mismatch));
  BOOST_TEST(log.seen[0].message.find("argument 1: expected i64, got string") != std::string::npos);
  BOOST_TEST(log.seen[1].message.find("expects 1 argument, got 0") != std::string::npos);
  BOOST_TEST(hv.state_of<counter>(sink_id)->calls == 0);
  still_serving();
}

BOOST_AUTO_TEST_CASE(a_handler_throwing_anything_is_survived) {
  auto t = hv.create(thrower{});
  BOOST_REQUIRE(hv.call(*hv.function_cap(t, "non_std")));
  hv.run();
  BOOST_REQUIRE(log.seen.size() == 1u);
  BOOST_TEST((log.seen[0].cause() == errc::handler_threw));
  still_serving();
}

BOOST_AUTO_TEST_CASE(forged_and_stale_host_handles_are_refused) {
  auto r = hv.call(cap_handle{999}, 1);
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == errc::bad_capability));
  auto extra = *hv.function_cap(sink, "add");
  BOOST_REQUIRE(hv.drop(extra));
  BOOST_TEST((hv.call(extra, 1).error().code == errc::bad_capability));
  BOOST_TEST(hv.pending() == 0u);
  still_serving();
}

BOOST_AUTO_TEST_CASE(a_failing_failure_handler_does_not_loop) {
  auto l = hv.create(bad_listener{});
  auto t = hv.create(thrower{});
  BOOST_REQUIRE(hv.call(*hv.function_cap(l, "provoke"), *hv.function_cap(t, "non_std")));
  std::size_t n = hv.run();
  BOOST_TEST(n == 4u);  // provoke, non_std (fails), on_failure (fails), report to host
  BOOST_REQUIRE(log.seen.size() == 1u);
  BOOST_TEST(log.seen[0].function == "on_failure");
  BOOST_TEST(log.seen[0].message == "cannot cope");
  still_serving();
}

BOOST_AUTO_TEST_CASE(failures_without_a_hook_are_kept) {
  hypervisor<> plain;
  auto a = *plain.function_cap(plain.create(counter{}), "add");
  BOOST_REQUIRE(plain.call(a, "x"));
  plain.run();
  BOOST_REQUIRE(plain.failures().size() == 1u);
  BOOST_TEST(to_string(plain.failures()[0]).find("add: type_mismatch") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
