// AquaVM v0.20's scenarios, each on the three runners (inline, thread, process): the same
// particle gives byte-identical results wherever the interpreter runs.

#include "air_support.hpp"

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

namespace bdata = boost::unit_test::data;
using namespace air_test;

namespace {

const std::string P = "some_peer_id";
const json unit_result = "result from unit_call_service";

peer with(std::string id, service s) { return peer{std::move(id), std::move(s), {}}; }

// set_variable for calls without arguments, echo for the others.
service set_or_echo(json value) {
  return [value, echo = echo_service()](const call_request& q) {
    if (q.arguments == "[]") return call_result{0, value.dump()};
    return echo(q);
  };
}

}  // namespace

BOOST_AUTO_TEST_SUITE(air_scenarios)

BOOST_DATA_TEST_CASE(seq_par_call_step_by_step_and_whole, bdata::make(runner_kinds), kind) {
  runners r(kind);
  const std::string air = R"((seq
      (par
        (call ")" + P + R"(" ("local_service_id" "local_fn_name") [] result_1)
        (call "remote_peer_id" ("service_id" "fn_name") [] g))
      (call ")" + P + R"(" ("local_service_id" "local_fn_name") [] result_2)))";
  // Step by step, as the host sees it.
  auto one = run_once(r.fn(), air, "", P);
  BOOST_TEST(one.ret_code == 0);
  BOOST_TEST(one.call_requests.size() == 1u);
  BOOST_TEST(one.call_requests.at(1).service_id == "local_service_id");
  BOOST_TEST(one.call_requests.at(1).arguments == "[]");
  BOOST_TEST((one.next_peer_pks == std::vector<std::string>{"remote_peer_id"}));
  AIR_CHECK_TRACE(one.data, {par(1, 1), sent(P + ": 1"), sent(P)});
  auto two = run_once(r.fn(), air, "", P, one.data, {}, b(R"({"1":{"ret_code":0,"result":"\"result from unit_call_service\""}})"));
  BOOST_TEST(two.ret_code == 0);
  BOOST_TEST(two.call_requests.size() == 1u);
  BOOST_TEST(two.call_requests.count(2) == 1u);
  // Whole.
  peer p = with(P, unit_service());
  auto whole = call(r.fn(), p, air, "");
  BOOST_TEST(whole.ret_code == 0);
  BOOST_TEST((whole.next_peer_pks == std::vector<std::string>{"remote_peer_id"}));
  AIR_CHECK_TRACE(whole.data, {par(1, 1), scalar(unit_result), sent(P), scalar(unit_result)});
}

BOOST_DATA_TEST_CASE(par_par_call, bdata::make(runner_kinds), kind) {
  runners r(kind);
  const std::string air = R"((par
      (par
        (call ")" + P + R"(" ("local_service_id" "local_fn_name") [] result_1)
        (call "remote_peer_id" ("service_id" "fn_name") [] g))
      (call ")" + P + R"(" ("local_service_id" "local_fn_name") [] result_2)))";
  peer p = with(P, unit_service());
  auto res = call(r.fn(), p, air, "");
  BOOST_TEST(res.ret_code == 0);
  BOOST_TEST((res.next_peer_pks == std::vector<std::string>{"remote_peer_id"}));
  AIR_CHECK_TRACE(res.data, {par(3, 1), par(1, 1), scalar(unit_result), sent(P), scalar(unit_result)});
}

BOOST_DATA_TEST_CASE(remote_calls_name_their_peers, bdata::make(runner_kinds), kind) {
  runners r(kind);
  const std::string seq_remote = R"((seq
      (call "remote_peer_id_1" ("local_service_id" "local_fn_name") [] result_name)
      (call "remote_peer_id_2" ("service_id" "fn_name") [] g)))";
  auto first = run_once(r.fn(), seq_remote, "", P);
  BOOST_TEST((first.next_peer_pks == std::vector<std::string>{"remote_peer_id_1"}));
  auto second = run_once(r.fn(), seq_remote, "", P, {}, b(R"({"trace":[{"call":{"executed":{"scalar":""}}}]})"));
  BOOST_TEST((second.next_peer_pks == std::vector<std::string>{"remote_peer_id_2"}));

  auto both = run_once(r.fn(), R"((par (call "remote_peer_id_1" ("s" "f") [] a) (call "remote_peer_id_2" ("s" "f") [] b)))", "", P);
  BOOST_TEST((both.next_peer_pks == std::vector<std::string>{"remote_peer_id_1", "remote_peer_id_2"}));
  peer p = with(P, unit_service());
  auto local_remote = call(r.fn(), p, R"((par (call ")" + P + R"(" ("s" "f") [] a) (call "remote_peer_id_2" ("s" "f") [] b)))", "");
  BOOST_TEST((local_remote.next_peer_pks == std::vector<std::string>{"remote_peer_id_2"}));

  auto remote = run_once(r.fn(), R"((call "remote_peer_id" ("local_service_id" "local_fn_name") [] result_name))", "", P);
  AIR_CHECK_TRACE(remote.data, {sent(P)});
  BOOST_TEST((remote.next_peer_pks == std::vector<std::string>{"remote_peer_id"}));
}

BOOST_DATA_TEST_CASE(init_peer_id_call_runs_here_and_empty_data_is_empty_text, bdata::make(runner_kinds), kind) {
  runners r(kind);
  const std::string air = R"((call %init_peer_id% ("local_service_id" "local_fn_name") [] result_name))";
  peer p = with(P, unit_service());
  auto res = call(r.fn(), p, air, P);
  BOOST_TEST(res.ret_code == 0);
  BOOST_TEST(res.next_peer_pks.empty());
  AIR_CHECK_TRACE(res.data, {scalar(unit_result)});
  peer q = with(P, unit_service());
  auto same = call(r.fn(), q, air, P, b(""));
  BOOST_TEST((same.data == res.data));
}

BOOST_DATA_TEST_CASE(a_scalar_set_twice_is_multiple_variables_found, bdata::make(runner_kinds), kind) {
  runners r(kind);
  peer p = with(P, unit_service());
  auto res = call(r.fn(), p, R"((seq (call ")" + P + R"(" ("" "") [] modules) (call ")" + P + R"(" ("" "") [] modules)))", "");
  BOOST_TEST(res.ret_code == code::multiple_variables_found);
  BOOST_TEST(res.error_message == "multiple variables found for name 'modules' in data");
}

BOOST_DATA_TEST_CASE(xor_catches_a_failing_service_and_sets_last_error, bdata::make(runner_kinds), kind) {
  runners r(kind);
  const std::string first = R"((xor (call ")" + P + R"(" ("service_id_1" "local_fn_name") [] result_1)
                                     (call ")" + P + R"(" ("service_id_2" "local_fn_name") [] result_2)))";
  peer p = with(P, fallible_service("service_id_1"));
  auto res = call(r.fn(), p, first, "");
  BOOST_TEST(res.ret_code == 0);
  AIR_CHECK_TRACE(res.data, {failed(1, R"("failed result from fallible_call_service")"), scalar("success result from fallible_call_service")});

  const std::string swapped = R"((xor (call ")" + P + R"(" ("service_id_2" "local_fn_name") [] result_1)
                                       (call ")" + P + R"(" ("service_id_1" "local_fn_name") [] result_2)))";
  peer q = with(P, fallible_service("service_id_1"));
  AIR_CHECK_TRACE(call(r.fn(), q, swapped, "").data, {scalar("success result from fallible_call_service")});

  // %last_error% in the xor's right branch: the message AquaVM gives.
  const std::string with_last_error = R"((xor (call ")" + P + R"(" ("service_id_1" "f") [] result)
                                              (call ")" + P + R"(" ("echo" "f") [%last_error%.$.message] m)))";
  peer e = with(P, [fallible = fallible_service("service_id_1"), echo = echo_service()](const call_request& q) {
    return q.service_id == "echo" ? echo(q) : fallible(q);
  });
  auto le = call(r.fn(), e, with_last_error, "");
  BOOST_TEST(le.ret_code == 0);
  AIR_CHECK_TRACE(le.data, {failed(1, R"("failed result from fallible_call_service")"),
                            scalar("Local service error, ret_code is 1, error message is '\"failed result from fallible_call_service\"'")});

  // The whole %last_error% object.
  const std::string whole = R"((xor (call ")" + P + R"(" ("service_id_1" "f") [] result)
                                    (call ")" + P + R"(" ("echo" "f") [%last_error%] m)))";
  peer w = with(P, [fallible = fallible_service("service_id_1"), echo = echo_service()](const call_request& q) {
    return q.service_id == "echo" ? echo(q) : fallible(q);
  });
  auto wr = call(r.fn(), w, whole, "");
  const json expected = {{"error_code", 10000},
                         {"instruction", "call \"" + P + "\" (\"service_id_1\" \"f\") [] result"},
                         {"message", "Local service error, ret_code is 1, error message is '\"failed result from fallible_call_service\"'"},
                         {"peer_id", P}};
  AIR_CHECK_TRACE(wr.data, {failed(1, R"("failed result from fallible_call_service")"), scalar(expected)});
}

BOOST_DATA_TEST_CASE(a_join_is_no_error_for_xor, bdata::make(runner_kinds), kind) {
  runners r(kind);
  const std::string air = R"((xor
      (par
        (call "unknown_peer" ("service_id_1" "local_fn_name") [] lazy_defined_variable)
        (call ")" + P + R"(" ("service_id_1" "local_fn_name") [lazy_defined_variable] result))
      (call ")" + P + R"(" ("service_id_2" "local_fn_name") ["expected"] result)))";
  peer p = with(P, echo_service());
  auto res = call(r.fn(), p, air, "");
  BOOST_TEST(res.ret_code == 0);
  AIR_CHECK_TRACE(res.data, {par(1, 0), sent(P)});
}

BOOST_DATA_TEST_CASE(match_and_mismatch, bdata::make(runner_kinds), kind) {
  runners r(kind);
  auto script = [](std::string what, std::string v2) {
    return R"((seq
        (seq (call ")" + P + R"(" ("" "") ["value_1"] value_1) (call ")" + P + R"(" ("" "") [")" + v2 + R"("] value_2))
        (xor
          ()" + what + R"( value_1 value_2 (call ")" + P + R"(" ("service_id_2" "local_fn_name") ["result_1"] result_1))
          (call ")" + P + R"(" ("service_id_2" "local_fn_name") ["result_2"] result_2))))";
  };
  auto last = [&](std::string what, std::string v2) {
    peer p = with(P, echo_service());
    auto res = call(r.fn(), p, script(what, v2), "");
    BOOST_TEST(res.ret_code == 0);
    return trace_of(res.data).back();
  };
  BOOST_TEST((last("match", "value_1") == scalar("result_1")));
  BOOST_TEST((last("match", "value_2") == scalar("result_2")));
  BOOST_TEST((last("mismatch", "value_2") == scalar("result_1")));
  BOOST_TEST((last("mismatch", "value_1") == scalar("result_2")));

  BOOST_TEST(run_once(r.fn(), "(xor (match 1 1 (null)) (null))", "", P).ret_code == 0);
  BOOST_TEST(run_once(r.fn(), "(xor (match 1 2 (null)) (null))", "", P).ret_code == 0);
  auto unmatched = run_once(r.fn(), "(match 1 2 (null))", "", P);
  BOOST_TEST(unmatched.ret_code == code::match_values_not_equal);
  BOOST_TEST(unmatched.error_message == "match is used without corresponding xor");
  BOOST_TEST(run_once(r.fn(), "(mismatch 1 1 (null))", "", P).ret_code == code::mismatch_values_equal);
  // An integer and a float are different values; %init_peer_id% is a string.
  BOOST_TEST(run_once(r.fn(), "(match 1 1.0 (null))", "", P).ret_code == code::match_values_not_equal);
  BOOST_TEST(run_once(r.fn(), R"((match %init_peer_id% "me" (null)))", "me", P).ret_code == 0);

  // AquaVM issue 165: a lens with ! in match.
  peer p = with(P, set_variable_service(json{{"success", true}}));
  auto res = call(r.fn(), p, R"((seq (call ")" + P + R"(" ("" "") [] result) (xor (match result.$.success! true (ap "yes" x)) (fail 1 "no"))))", "");
  BOOST_TEST(res.ret_code == 0);
}

BOOST_DATA_TEST_CASE(folds, bdata::make(runner_kinds), kind) {
  runners r(kind);
  const json five = {"1", "2", "3", "4", "5"};
  const std::string call_iterable = R"((call ")" + P + R"(" ("" "") [] iterable))";
  {
    peer p = with(P, set_or_echo(five));
    auto res = call(r.fn(), p, "(seq " + call_iterable + R"( (fold iterable i (seq (call ")" + P + R"(" ("" "") [i] $acc) (next i)))))", "");
    BOOST_TEST(res.ret_code == 0);
    AIR_CHECK_TRACE(res.data, {scalar(five), stream("1", 0), stream("2", 0), stream("3", 0), stream("4", 0), stream("5", 0)});
  }
  {
    peer p = with(P, set_or_echo(five));
    auto res = call(r.fn(), p, "(seq " + call_iterable + R"( (fold iterable i (seq (next i) (call ")" + P + R"(" ("" "") [i] $acc)))))", "");
    BOOST_TEST(res.ret_code == 0);
    AIR_CHECK_TRACE(res.data, {scalar(five), stream("5", 0), stream("4", 0), stream("3", 0), stream("2", 0), stream("1", 0)});
  }
  {
    peer p = with(P, set_or_echo(five));
    auto res = call(r.fn(), p, R"((seq
        (seq (call ")" + P + R"(" ("" "") [] iterable1) (call ")" + P + R"(" ("" "") [] iterable2))
        (fold iterable1 i (seq (fold iterable2 j (seq (call ")" + P + R"(" ("" "") [i] $acc) (next j))) (next i)))))", "");
    BOOST_TEST(res.ret_code == 0);
    BOOST_TEST(trace_of(res.data).size() == 27u);
  }
  {
    peer p = with(P, set_or_echo(json::array()));
    auto res = call(r.fn(), p, "(seq " + call_iterable + R"( (fold iterable i (seq (call ")" + P + R"(" ("" "") [i] $acc) (next i)))))", "");
    BOOST_TEST(res.ret_code == 0);
    AIR_CHECK_TRACE(res.data, {scalar(json::array())});
  }
  // The same iterator in a nested fold is refused when parsed.
  auto nested = run_once(r.fn(), "(fold a i (fold b i (next i)))", "", P);
  BOOST_TEST(nested.ret_code == code::air_parse_error);
  BOOST_TEST(nested.error_message.rfind("air can't be parsed", 0) == 0);
  // A fold over something not an array.
  peer p = with(P, set_or_echo(json("not an array")));
  auto res = call(r.fn(), p, "(seq " + call_iterable + " (fold iterable i (next i)))", "");
  BOOST_TEST(res.ret_code == code::incompatible_jvalue_type);
}

BOOST_DATA_TEST_CASE(ap_into_streams_and_scalars, bdata::make(runner_kinds), kind) {
  runners r(kind);
  for (auto [literal, value] : {std::pair<std::string, json>{R"("some_string")", "some_string"}, {"true", true}, {"100", 100},
                                {"%last_error%", nullptr}}) {
    peer p = with(P, echo_service());
    auto res = call(r.fn(), p, "(seq (ap " + literal + R"( $stream) (call ")" + P + R"(" ("" "") [$stream])))", "");
    BOOST_TEST(res.ret_code == 0);
    AIR_CHECK_TRACE(res.data, {ap({0}), scalar(json::array({value}))});
  }
  // Into a scalar: no state.
  peer p = with(P, echo_service());
  auto res = call(r.fn(), p, R"((seq (ap "x" s) (call ")" + P + R"(" ("" "") [s])))", "");
  AIR_CHECK_TRACE(res.data, {scalar("x")});
}

BOOST_DATA_TEST_CASE(fail_with_literals_and_rethrow, bdata::make(runner_kinds), kind) {
  runners r(kind);
  auto res = run_once(r.fn(), R"((xor (fail 1337 "error message") (fail %last_error%)))", "init_peer_id", P);
  BOOST_TEST(res.ret_code == code::user_error);
  BOOST_TEST(res.error_message ==
             R"(fail with '{"error_code":1337,"instruction":"fail 1337 error message","message":"error message","peer_id":"init_peer_id"}' is used without corresponding xor)");
  // A scalar must be an error object.
  peer p = with(P, set_variable_service(json{{"error_code", 7}, {"message", "mine"}}));
  auto scalar_fail = call(r.fn(), p, R"((seq (call ")" + P + R"(" ("" "") [] e) (fail e)))", "");
  BOOST_TEST(scalar_fail.ret_code == code::user_error);
  peer q = with(P, set_variable_service(json{{"message", "no code"}}));
  BOOST_TEST(call(r.fn(), q, R"((seq (call ")" + P + R"(" ("" "") [] e) (fail e)))", "").ret_code == code::invalid_last_error_object);
}

BOOST_DATA_TEST_CASE(nested_new_restricts_its_stream, bdata::make(runner_kinds), kind) {
  runners r(kind);
  peer p = with(P, echo_service());
  auto res = call(r.fn(), p, R"((new $stream (seq (new $stream (call ")" + P + R"(" ("" "") ["test"] $stream)) (call ")" + P + R"(" ("" "") [$stream]))))", "");
  BOOST_TEST(res.ret_code == 0);
  AIR_CHECK_TRACE(res.data, {stream("test", 0), scalar(json::array())});
  auto d = decode_data(res.data);
  BOOST_REQUIRE(d);
  BOOST_TEST(d->streams.empty());
  BOOST_TEST(d->r_streams.size() == 1u);
}

BOOST_DATA_TEST_CASE(two_and_three_peers_merge, bdata::make(runner_kinds), kind) {
  runners r(kind);
  // Three peers in turn.
  {
    const std::string air = R"((seq
        (seq (call "peer_1" ("local_service_id" "local_fn_name") [] result_1) (call "peer_2" ("service_id" "fn_name") [] result_2))
        (call "peer_1" ("service_id" "fn_name") [] result_3)))";
    peer p1 = with("peer_1", unit_service()), p2 = with("peer_2", unit_service());
    auto a = call(r.fn(), p2, air, "asd");
    BOOST_TEST((a.next_peer_pks == std::vector<std::string>{"peer_1"}));
    auto b2 = call(r.fn(), p1, air, "asd", a.data);
    BOOST_TEST((b2.next_peer_pks == std::vector<std::string>{"peer_2"}));
    auto c = call(r.fn(), p2, air, "asd", b2.data);
    BOOST_TEST((c.next_peer_pks == std::vector<std::string>{"peer_1"}));
    auto d = call(r.fn(), p1, air, "asd", c.data);
    BOOST_TEST(d.next_peer_pks.empty());
    AIR_CHECK_TRACE(d.data, {scalar(unit_result), scalar(unit_result), scalar(unit_result)});
  }
  // AquaVM's data_merge: A and B fill one stream concurrently, then merge each other's data.
  const std::string air = R"((seq
      (call "set_variable" ("neighborhood" "") [] neighborhood)
      (seq
        (seq
          (fold neighborhood i (par (call i ("add_provider" "") [] $void) (next i)))
          (fold neighborhood i (par (call i ("get_providers" "") [] $providers) (next i))))
        (seq (call "A" ("identity" "") [] $void) (call "B" ("" "") [] none)))))";
  auto returns_id = [](std::string id) { return set_variable_service(json(id)); };
  peer sv = with("set_variable", set_variable_service(json{"A", "B"}));
  peer a = with("A", returns_id("A")), bb = with("B", returns_id("B"));
  auto r0 = call(r.fn(), sv, air, "");
  peer a2 = a, b3 = bb;
  auto r1 = call(r.fn(), a, air, "", r0.data);
  auto r2 = call(r.fn(), bb, air, "", r0.data);
  AIR_CHECK_TRACE(r1.data, {scalar(json{"A", "B"}), par(1, 2), stream("A", 0), par(1, 0), sent("set_variable"), par(1, 2),
                            stream("A", 0), par(1, 0), sent("A"), stream("A", 0), sent("A")});
  BOOST_TEST((r1.next_peer_pks == std::vector<std::string>{"B"}));
  AIR_CHECK_TRACE(r2.data, {scalar(json{"A", "B"}), par(1, 2), sent("set_variable"), par(1, 0), stream("B", 0), par(1, 2),
                            sent("B"), par(1, 0), stream("B", 0), sent("B")});
  BOOST_TEST((r2.next_peer_pks == std::vector<std::string>{"A"}));
  a2.data = r1.data;
  auto r3 = call(r.fn(), a2, air, "", r2.data);
  AIR_CHECK_TRACE(r3.data, {scalar(json{"A", "B"}), par(1, 2), stream("A", 0), par(1, 0), stream("B", 1), par(1, 2),
                            stream("A", 0), par(1, 0), stream("B", 1), stream("A", 0), sent("A")});
  BOOST_TEST(r3.next_peer_pks.empty());
  b3.data = r1.data;
  auto r4 = call(r.fn(), b3, air, "", r2.data);
  AIR_CHECK_TRACE(r4.data, {scalar(json{"A", "B"}), par(1, 2), stream("A", 0), par(1, 0), stream("B", 1), par(1, 2),
                            stream("A", 0), par(1, 0), stream("B", 1), stream("A", 0), scalar("B")});
  BOOST_TEST(r4.next_peer_pks.empty());
}

BOOST_DATA_TEST_CASE(malformed_input_gives_its_code_and_keeps_prev_data, bdata::make(runner_kinds), kind) {
  runners r(kind);
  const exo::bytes prev = b(R"({"trace":[{"call":{"executed":{"scalar":1}}}],"streams":{},"version":"0.2.2","lcid":0,"r_streams":{}})");
  auto parse = run_once(r.fn(), "(seq )", "", P, prev);
  BOOST_TEST(parse.ret_code == code::air_parse_error);
  BOOST_TEST((parse.data == prev));
  auto data = run_once(r.fn(), "(null)", "", P, prev, b("{not json"));
  BOOST_TEST(data.ret_code == code::data_de_failed);
  BOOST_TEST((data.data == prev));
  auto bad_prev = run_once(r.fn(), "(null)", "", P, b("[1,2]"));
  BOOST_TEST(bad_prev.ret_code == code::data_de_failed);
  BOOST_TEST((bad_prev.data == b("[1,2]")));
  auto results = run_once(r.fn(), "(null)", "", P, prev, {}, b("not json"));
  BOOST_TEST(results.ret_code == code::call_results_de_failed);
  BOOST_TEST((results.data == prev));
  auto unused = run_once(r.fn(), "(null)", "", P, {}, {}, b(R"({"70":{"ret_code":0,"result":"1"}})"));
  BOOST_TEST(unused.ret_code == code::call_results_not_empty);
  BOOST_TEST(!unused.data.empty());
  // A service answering with text that is not JSON: a failed state with i32::MAX.
  auto one = run_once(r.fn(), R"((call ")" + P + R"(" ("s" "f") [] x))", "", P);
  auto bad = run_once(r.fn(), R"((call ")" + P + R"(" ("s" "f") [] x))", "", P, one.data, {}, b(R"({"1":{"ret_code":0,"result":"not json"}})"));
  BOOST_TEST(bad.ret_code == code::local_service_error);
  const auto t = trace_of(bad.data);
  BOOST_REQUIRE(t.size() == 1u);
  BOOST_TEST(std::get<call_state>(t[0]).ret_code == std::numeric_limits<std::int32_t>::max());
}

BOOST_AUTO_TEST_SUITE_END()
