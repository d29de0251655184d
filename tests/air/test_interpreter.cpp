// AquaVM v0.20's scenarios, each on the three runners (inline, thread, process): the same
// particle gives byte-identical results wherever the interpreter runs.

#include "air_support.hpp"

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <iterator>

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

BOOST_AUTO_TEST_SUITE(air_streams)

BOOST_DATA_TEST_CASE(a_stream_fold_keeps_its_lore_and_stops_early, bdata::make(runner_kinds), kind) {
  runners r(kind);
  const std::string vm = "vm_peer_id";
  const std::string air = R"((seq
      (seq (call "vm_peer_id" ("" "stream_value") [] $stream) (call "vm_peer_id" ("" "stream_value") [] $stream))
      (fold $stream iterator
        (seq
          (call "vm_peer_id" ("" "stop") [] value)
          (xor (match value "stop" (null)) (seq (ap value $stream) (next iterator)))))))";
  peer p = with(vm, [](const call_request& q) {
    return q.function_name == "stop" ? call_result{0, "\"stop\""} : call_result{0, "1"};
  });
  auto res = call(r.fn(), p, air, "");
  BOOST_TEST(res.ret_code == 0);
  AIR_CHECK_TRACE(res.data, {stream(1, 0), stream(1, 0), fold_state{{fold_lore{0, {3, 1}, {4, 0}}}}, scalar("stop")});
  // Run again on its own data: nothing changes.
  auto again = run_once(r.fn(), air, "", vm, res.data, res.data);
  BOOST_TEST(again.ret_code == 0);
  BOOST_TEST((trace_of(again.data) == trace_of(res.data)));
}

BOOST_DATA_TEST_CASE(a_stream_folded_on_two_peers_merges_by_value_position, bdata::make(runner_kinds), kind) {
  runners r(kind);
  // A and B each put a value into $s concurrently, then each folds $s calling itself, then
  // the two traces merge.
  const std::string air = R"((seq
      (par (call "A" ("" "") [] $s) (call "B" ("" "") [] $s))
      (fold $s v (seq (call %init_peer_id% ("" "") [v] $out) (next v)))))";
  auto id = [](std::string s) { return set_or_echo(json(s)); };
  peer a = with("A", id("a")), b2 = with("B", id("b"));
  auto ra = call(r.fn(), a, air, "A");
  auto rb = call(r.fn(), b2, air, "A");
  BOOST_TEST((rb.next_peer_pks == std::vector<std::string>{"A"}));
  auto merged = call(r.fn(), a, air, "A", rb.data);
  BOOST_TEST(merged.ret_code == 0);
  const auto t = trace_of(merged.data);
  BOOST_TEST_MESSAGE(show(t));
  // Both values were folded on A: two $out values, and the fold state holds a lore each.
  std::size_t outs = 0, lores = 0;
  for (const auto& s : t) {
    if (const auto* c = std::get_if<call_state>(&s); c && c->what == call_state::kind::stream && (c->value->get() == "a" || c->value->get() == "b")) ++outs;
    if (const auto* f = std::get_if<fold_state>(&s)) lores = f->lore.size();
  }
  BOOST_TEST(lores == 2u);
  BOOST_TEST(outs >= 4u);
  // Merging the result with itself and with nothing changes nothing.
  BOOST_TEST((trace_of(run_once(r.fn(), air, "A", "A", merged.data, merged.data).data) == t));
  BOOST_TEST((trace_of(run_once(r.fn(), air, "A", "A", merged.data, {}).data) == t));
  (void)ra;
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(air_properties)

// Every scenario's final data: merging it with itself, and with empty data on either side,
// gives the same trace.
BOOST_DATA_TEST_CASE(merging_is_idempotent_and_empty_data_is_the_identity, bdata::make(runner_kinds), kind) {
  runners r(kind);
  struct scenario {
    std::string air;
    service answer;
  };
  const std::string local = R"((call ")" + P + R"(" ("s" "f") [] r1))";
  const std::vector<scenario> scenarios = {
      {R"((seq (par (call ")" + P + R"(" ("a" "b") [] result_1) (call "remote_peer_id" ("c" "d") [] g)) (call ")" + P +
           R"(" ("a" "b") [] result_2)))",
       unit_service()},
      {R"((xor (call ")" + P + R"(" ("service_id_1" "f") [] r1) (call ")" + P + R"(" ("service_id_2" "f") [%last_error%] r2)))",
       fallible_service("service_id_1")},
      {R"((seq (call ")" + P + R"(" ("" "") [] iterable) (fold iterable i (seq (next i) (call ")" + P +
           R"(" ("" "") [i] $acc)))))",
       set_or_echo(json{"1", "2", "3"})},
      {R"((seq (seq (ap 1 $s) (ap 2 $s)) (fold $s v (par (call ")" + P + R"(" ("" "") [v] $out) (next v)))))", echo_service()},
      {R"((new $stream (seq (new $stream (call ")" + P + R"(" ("" "") ["test"] $stream)) (call ")" + P + R"(" ("" "") [$stream]))))",
       echo_service()},
  };
  for (const scenario& s : scenarios) {
    peer p = with(P, s.answer);
    auto res = call(r.fn(), p, s.air, P);
    BOOST_TEST_CONTEXT(s.air) {
      BOOST_TEST(res.ret_code == 0);
      const auto t = trace_of(res.data);
      BOOST_TEST(!t.empty());
      auto self = run_once(r.fn(), s.air, P, P, res.data, res.data);
      BOOST_TEST(self.ret_code == 0);
      BOOST_TEST((trace_of(self.data) == t), show(trace_of(self.data)) << " vs " << show(t));
      auto left = run_once(r.fn(), s.air, P, P, {}, res.data);
      BOOST_TEST((trace_of(left.data) == t), show(trace_of(left.data)) << " vs " << show(t));
      auto right = run_once(r.fn(), s.air, P, P, res.data, {});
      BOOST_TEST((trace_of(right.data) == t), show(trace_of(right.data)) << " vs " << show(t));
    }
  }
}

BOOST_DATA_TEST_CASE(a_tampered_prev_trace_is_a_trace_error_and_prev_data_is_kept, bdata::make(runner_kinds), kind) {
  runners r(kind);
  const std::string air = R"((seq (par (call ")" + P + R"(" ("a" "b") [] result_1) (call "remote_peer_id" ("c" "d") [] g)) (call ")" + P +
                          R"(" ("a" "b") [] result_2)))";
  peer p = with(P, unit_service());
  auto res = call(r.fn(), p, air, "");
  auto good = decode_data(res.data);
  BOOST_REQUIRE(good);
  // The executed value differs.
  interpreter_data value = *good;
  std::get<call_state>(value.trace[1]).value = make_value("something else");
  const exo::bytes tampered_value = encode_data(value);
  auto v = run_once(r.fn(), air, "", P, tampered_value, res.data);
  BOOST_TEST(v.ret_code == code::trace_error);
  BOOST_TEST((v.data == tampered_value));
  BOOST_TEST(v.next_peer_pks.empty());
  BOOST_TEST(v.call_requests.empty());
  BOOST_TEST(v.error_message.find("on instruction 'call") != std::string::npos);
  // The state kind differs: a call where a par was.
  interpreter_data kind_changed = *good;
  kind_changed.trace[0] = scalar("not a par");
  const exo::bytes tampered_kind = encode_data(kind_changed);
  auto k = run_once(r.fn(), air, "", P, tampered_kind, res.data);
  BOOST_TEST(k.ret_code == code::trace_error);
  BOOST_TEST((k.data == tampered_kind));
  BOOST_TEST(k.error_message.find("on instruction 'par'") != std::string::npos);
  // A par claiming more states than there are.
  interpreter_data too_long = *good;
  too_long.trace[0] = par(7, 7);
  auto l = run_once(r.fn(), air, "", P, encode_data(too_long), {});
  BOOST_TEST(l.ret_code == code::trace_error);
  // An ap where a call was.
  interpreter_data ap_for_call = *good;
  ap_for_call.trace[1] = ap({0});
  BOOST_TEST(run_once(r.fn(), air, "", P, encode_data(ap_for_call), res.data).ret_code == code::trace_error);
}

BOOST_AUTO_TEST_CASE(next_over_a_huge_array_does_not_recurse) {
  // AquaVM's next recursed and overflowed at 1023 elements; here it is heap frames.
  json big = json::array();
  for (int i = 0; i < 200'000; ++i) big.push_back(i);
  peer p = with(P, set_variable_service(big));
  auto res = call(inline_run(), p, R"((seq (call ")" + P + R"(" ("" "") [] xs) (fold xs x (seq (ap x $s) (next x)))))", "");
  BOOST_TEST(res.ret_code == 0);
  auto d = decode_data(res.data);
  BOOST_REQUIRE(d);
  BOOST_TEST(d->trace.size() == 200'001u);
}

BOOST_AUTO_TEST_CASE(scripts_and_data_past_their_limits_are_refused_clearly) {
  std::string deep;
  for (int i = 0; i < 600; ++i) deep += "(seq (null) ";
  deep += "(null)";
  for (int i = 0; i < 600; ++i) deep += ")";
  auto r = run(deep, {}, {}, {"", P}, {});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->ret_code == code::air_parse_error);
  BOOST_TEST(r->error_message.find("nested over") != std::string::npos);
  std::string nested_data = R"({"trace":[{"call":{"executed":{"scalar":)";
  for (int i = 0; i < 1000; ++i) nested_data += "[";
  for (int i = 0; i < 1000; ++i) nested_data += "]";
  nested_data += "}}}]}";
  auto d = run("(null)", {}, b(nested_data), {"", P}, {});
  BOOST_REQUIRE(d);
  BOOST_TEST(d->ret_code == code::data_de_failed);
  BOOST_TEST(d->error_message.find("nested over") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_particle_that_would_run_forever_runs_out_of_ticks) {
  // A stream fed by its own fold never ends; ticks end it.
  const std::string forever = R"((seq (ap 1 $s) (fold $s v (seq (ap v $s) (next v)))))";
  run_limits limits;
  limits.max_ticks = 100'000;
  auto r = run(forever, {}, {}, {"", P}, {}, limits);
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == exo::errc::out_of_ticks));
  BOOST_TEST(r.error().message.find("100000") != std::string::npos);
  // Input bytes cost ticks before anything runs.
  limits.max_ticks = 10;
  auto big = run("(null)", {}, b(R"({"trace":[]})"), {"", P}, {}, limits);
  BOOST_REQUIRE(!big);
  BOOST_TEST((big.error().code == exo::errc::out_of_ticks));
  // A finished run says what it cost, the same each time.
  auto once = run("(seq (null) (null))", {}, {}, {"", P}, {});
  auto twice = run("(seq (null) (null))", {}, {}, {"", P}, {});
  BOOST_REQUIRE(once);
  BOOST_TEST(once->ticks > 3u);
  BOOST_TEST(once->ticks == twice->ticks);
}

BOOST_DATA_TEST_CASE(out_of_ticks_crosses_every_runner, bdata::make(runner_kinds), kind) {
  runners r(kind);
  run_request q;
  q.air = R"((seq (ap 1 $s) (fold $s v (seq (ap v $s) (next v)))))";
  q.params = {"", P};
  q.max_ticks = 50'000;
  auto res = r.fn()(q);
  BOOST_REQUIRE(!res);
  BOOST_TEST((res.error().code == exo::errc::out_of_ticks));
}

BOOST_AUTO_TEST_CASE(the_run_wire_format_round_trips_and_refuses_garbage) {
  run_request q;
  q.air = "(null)";
  q.prev_data = b("\x01\x02 not utf-8 \xff");
  q.data = b("{}");
  q.params = {"init", "current"};
  q.call_results = b(R"({"1":{"ret_code":0,"result":"1"}})");
  q.max_ticks = 77;
  auto back = decode_request(encode_request(q));
  BOOST_REQUIRE(back);
  BOOST_TEST((*back == q));
  interpreter_result res;
  res.ret_code = 10006;
  res.error_message = "m";
  res.data = b("{}");
  res.next_peer_pks = {"a", "b"};
  res.call_requests[3] = call_request{"s", "f", "[]", "[]"};
  res.ticks = 9;
  auto rb = decode_result(encode_result(res));
  BOOST_REQUIRE(rb);
  BOOST_TEST((*rb == res));
  exo::bytes enc = encode_request(q);
  for (std::size_t cut = 0; cut < enc.size(); ++cut) {
    auto part = decode_request(exo::byte_view(enc).first(cut));
    BOOST_TEST(!part);
  }
  enc.push_back(0);
  BOOST_TEST(!decode_request(enc));
  BOOST_TEST(!decode_result(b("AIRQ")));
  // The JSON form the CLI prints round-trips too.
  auto j = interpreter_result_from_json(to_json(res));
  BOOST_REQUIRE(j);
  res.ticks = 0;
  BOOST_TEST((*j == res));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(air_network)

namespace {
std::string read_example(const std::string& name) {
  std::ifstream in(std::string(EXO_AIR_EXAMPLES) + "/" + name);
  BOOST_REQUIRE_MESSAGE(in, "cannot read " << name);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
}  // namespace

// AquaVM's network_explore: five peers pass the particle 22 times; each step names the next
// peers AquaVM's test expects, and the client ends with nothing left to send.
BOOST_DATA_TEST_CASE(network_explore_moves_as_aquavm_s, bdata::make(runner_kinds), kind) {
  runners r(kind);
  const std::string air = read_example("network_explore.air");
  const std::string relay_id = "relay_id", client_id = "client_id";
  auto lists = [](json v) { return set_variable_service(std::move(v)); };
  peer client = with(client_id, [relay_id, client_id](const call_request& q) {
    auto args = parse_value(q.arguments);
    const std::string first = args && args->is_array() && !args->empty() && (*args)[0].is_string() ? (*args)[0].get<std::string>() : "";
    if (first == "relay") return call_result{0, json(relay_id).dump()};
    if (first == "client") return call_result{0, json(client_id).dump()};
    return call_result{0, "null"};
  });
  peer relay = with(relay_id, lists({"client_1_id", "client_2_id", "client_3_id", relay_id}));
  peer c1 = with("client_1_id", lists({"client_1_id", "client_3_id", relay_id, "client_2_id"}));
  peer c2 = with("client_2_id", lists({relay_id, "client_3_id", "client_1_id", "client_2_id"}));
  peer c3 = with("client_3_id", lists({relay_id, "client_3_id", "client_1_id", "client_2_id"}));
  exo::bytes data;
  auto step = [&](peer& p, std::vector<std::string> next) {
    auto res = call(r.fn(), p, air, "", data);
    BOOST_TEST(res.ret_code == 0, p.id << ": " << res.error_message);
    BOOST_TEST((res.next_peer_pks == next), p.id << " sends to " << json(res.next_peer_pks).dump());
    data = res.data;
  };
  step(client, {relay_id});
  step(relay, {"client_1_id"});
  step(c1, {"client_2_id"});
  step(c2, {"client_3_id"});
  step(c3, {relay_id});
  step(relay, {"client_1_id"});
  step(c1, {"client_3_id"});
  step(c3, {relay_id});
  step(relay, {"client_2_id"});
  step(c2, {relay_id});
  step(relay, {"client_3_id"});
  step(c3, {"client_1_id"});
  step(c1, {"client_2_id"});
  step(c2, {relay_id});
  step(relay, {"client_3_id"});
  step(c3, {"client_1_id"});
  step(c1, {"client_2_id"});
  step(c2, {"client_1_id"});
  step(c1, {"client_2_id"});
  step(c2, {"client_3_id"});
  step(c3, {relay_id});
  step(relay, {client_id});
  step(client, {});
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(air_bytes)

BOOST_AUTO_TEST_CASE(bytes_that_are_not_utf8_never_throw) {
  // In a literal, a peer id and the data: each run gives a result, never an exception.
  auto lit = run("(call \"P\" (\"s\" \"f\") [\"\xff\xfe\"] x)", {}, {}, {"\xc3", "P"}, {});
  BOOST_REQUIRE(lit);
  BOOST_TEST(lit->ret_code == 0);
  BOOST_TEST(lit->call_requests.size() == 1u);
  auto peer = run("(call \"\xff\" (\"s\" \"f\") [] x)", {}, {}, {"", "P"}, {});
  BOOST_REQUIRE(peer);
  BOOST_TEST(peer->next_peer_pks.size() == 1u);
  auto data = run("(null)", {}, b("{\"trace\":[{\"call\":{\"sent_by\":\"\xff\"}}]}"), {"", "P"}, {});
  BOOST_REQUIRE(data);
  BOOST_TEST(data->ret_code == code::data_de_failed);
}

BOOST_AUTO_TEST_SUITE_END()
