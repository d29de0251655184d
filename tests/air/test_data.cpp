// AIR's data in AquaVM v0.20's format: every kind of state round-trips, AquaVM's own layout
// (other key order, whitespace) reads the same, encoding is deterministic, and every kind of
// malformed data or call results is refused naming where it is wrong.

#include <exo/core/error.hpp>

#include "interpreter/data.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

namespace {

using namespace exo::air;

exo::bytes b(std::string_view s) { return exo::to_bytes(s); }
bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

call_state scalar(exo::json v) { return call_state{call_state::kind::scalar, make_value(std::move(v))}; }
call_state sent(std::string by) {
  call_state c;
  c.what = call_state::kind::sent_by;
  c.text = std::move(by);
  return c;
}

interpreter_data every_kind() {
  interpreter_data d;
  call_state stream{call_state::kind::stream, make_value(exo::json{{"a", 1}}), 2};
  call_state failed;
  failed.what = call_state::kind::failed;
  failed.ret_code = 1;
  failed.text = "\"failed result from fallible_call_service\"";
  d.trace = {par_state{1, 1}, scalar("result from unit_call_service"), sent("P: 1"), sent("remote"), stream, failed,
             fold_state{{fold_lore{3, {4, 1}, {5, 0}}, fold_lore{6, {7, 2}, {9, 1}}}}, ap_state{{0, 3}},
             scalar(exo::json::array({1, "two", nullptr, true, 1.5}))};
  d.streams = {{"$s", 2}, {"$t", 1}};
  d.lcid = 7;
  d.r_streams = {{"$r", {{12, {0, 1, 1}}}}};
  return d;
}

std::string refused(std::string_view text) {
  auto d = decode_data(b(text));
  BOOST_REQUIRE_MESSAGE(!d, "decoded: " << text);
  return d.error().message;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(air_data)

BOOST_AUTO_TEST_CASE(every_kind_of_state_round_trips_and_encoding_is_deterministic) {
  const interpreter_data d = every_kind();
  const exo::bytes once = encode_data(d);
  auto back = decode_data(once);
  BOOST_REQUIRE_MESSAGE(back, (back ? "" : back.error().message));
  BOOST_TEST((*back == d));
  BOOST_TEST((encode_data(*back) == once));
  BOOST_TEST(decode_data({})->trace.empty());  // empty bytes: empty data
  BOOST_TEST((decode_data({}).value() == interpreter_data{}));
}

BOOST_AUTO_TEST_CASE(aquavm_s_layout_reads_the_same) {
  // As AquaVM 0.20 writes it: its field order, its whitespace.
  const char* aquavm = R"({"trace":[{"par":[1,1]},{"call":{"executed":{"scalar":"result from unit_call_service"}}},
    {"call":{"sent_by":"P: 1"}},{"call":{"sent_by":"remote"}},
    {"call":{"executed":{"stream":{"value":{"a":1},"generation":2}}}},
    {"call":{"failed":[1,"\"failed result from fallible_call_service\""]}},
    {"fold":{"lore":[{"pos":3,"desc":[{"pos":4,"len":1},{"pos":5,"len":0}]},{"pos":6,"desc":[{"pos":7,"len":2},{"pos":9,"len":1}]}]}},
    {"ap":{"gens":[0,3]}},{"call":{"executed":{"scalar":[1,"two",null,true,1.5]}}}],
    "streams":{"$t":1,"$s":2},"version":"0.2.2","lcid":7,"r_streams":{"$r":{"12":[0,1,1]}}})";
  auto d = decode_data(b(aquavm));
  BOOST_REQUIRE_MESSAGE(d, (d ? "" : d.error().message));
  BOOST_TEST((*d == every_kind()));
  // The fields AquaVM may leave out default.
  auto minimal = decode_data(b(R"({"trace":[]})"));
  BOOST_REQUIRE(minimal);
  BOOST_TEST(minimal->lcid == 0u);
  BOOST_TEST(minimal->version == "0.2.2");
}

BOOST_AUTO_TEST_CASE(malformed_data_is_refused_naming_the_place) {
  BOOST_TEST(contains(refused("{not json"), "data can't be deserialized: $: not JSON"));
  BOOST_TEST(contains(refused("[]"), "$: expected an object"));
  BOOST_TEST(contains(refused(R"({"trace":[],"extra":1})"), "unknown field 'extra'"));
  BOOST_TEST(contains(refused(R"({"streams":{}})"), "trace: expected an array"));
  BOOST_TEST(contains(refused(R"({"trace":{}})"), "trace: expected an array"));
  BOOST_TEST(contains(refused(R"({"trace":[{"par":[1,1],"ap":{"gens":[]}}]})"), "trace[0]: expected an object with one of"));
  BOOST_TEST(contains(refused(R"({"trace":[{"canon":{}}]})"), "trace[0]: 'canon' is none of par, call, fold, ap"));
  BOOST_TEST(contains(refused(R"({"trace":[{"par":[1]}]})"), "trace[0].par: expected [left size, right size]"));
  BOOST_TEST(contains(refused(R"({"trace":[{"par":[1,-1]}]})"), "trace[0].par[1]: expected a non-negative integer"));
  BOOST_TEST(contains(refused(R"({"trace":[{"par":[1,4294967296]}]})"), "is over 2^32 - 1"));
  BOOST_TEST(contains(refused(R"({"trace":[{"call":{}}]})"), "trace[0].call: expected an object with one of executed, sent_by, failed"));
  BOOST_TEST(contains(refused(R"({"trace":[{"call":{"sent_by":1}}]})"), "trace[0].call.sent_by: expected a string"));
  BOOST_TEST(contains(refused(R"({"trace":[{"call":{"failed":[1]}}]})"), "trace[0].call.failed: expected [ret_code"));
  BOOST_TEST(contains(refused(R"({"trace":[{"call":{"failed":[1.5,"m"]}}]})"), "failed[0]: expected an integer"));
  BOOST_TEST(contains(refused(R"({"trace":[{"call":{"executed":{"stream":{"value":1}}}}]})"), "expected {value, generation}"));
  BOOST_TEST(contains(refused(R"({"trace":[{"call":{"executed":{"vector":1}}}]})"), "'vector' is none of scalar, stream"));
  BOOST_TEST(contains(refused(R"({"trace":[{"fold":{"lore":[{"pos":1,"desc":[{"pos":1,"len":1}]}]}}]})"), "trace[0].fold.lore[0]: expected"));
  BOOST_TEST(contains(refused(R"({"trace":[{"fold":{"lore":[{"pos":1,"desc":[{"pos":1,"len":1},{"pos":1}]}]}}]})"), "desc[1]: expected {pos, len}"));
  BOOST_TEST(contains(refused(R"({"trace":[{"ap":{"gens":["0"]}}]})"), "trace[0].ap.gens[0]: expected a non-negative integer"));
  BOOST_TEST(contains(refused(R"({"trace":[],"streams":[]})"), "streams: expected an object"));
  BOOST_TEST(contains(refused(R"({"trace":[],"streams":{"$s":-1}})"), "streams.$s"));
  BOOST_TEST(contains(refused(R"({"trace":[],"version":2})"), "version: expected a string"));
  BOOST_TEST(contains(refused(R"({"trace":[],"lcid":"7"})"), "lcid: expected a non-negative integer"));
  BOOST_TEST(contains(refused(R"({"trace":[],"r_streams":{"$r":{"x":[1]}}})"), "r_streams.$r.x: the key is not a position"));
  BOOST_TEST(contains(refused(R"({"trace":[],"r_streams":{"$r":{"1":[true]}}})"), "r_streams.$r.1[0]"));
  // Limits: nesting (checked before parsing), states, size.
  std::string deep = R"({"trace":[{"call":{"executed":{"scalar":)" + std::string(100000, '[') + std::string(100000, ']') + "}}}]}";
  BOOST_TEST(contains(refused(deep), "nested over 128 deep"));
  std::string strings_are_not_nesting = R"({"trace":[{"call":{"executed":{"scalar":")" + std::string(1000, '[') + R"("}}}]})";
  BOOST_TEST(decode_data(b(strings_are_not_nesting)).has_value());
  auto many = decode_data(b(R"({"trace":[{"par":[0,0]},{"par":[0,0]},{"par":[0,0]}]})"), {.max_states = 2});
  BOOST_REQUIRE(!many);
  BOOST_TEST((many.error().code == exo::errc::limit_exceeded));
  auto big = decode_data(b(R"({"trace":[]})"), {.max_size = 5});
  BOOST_REQUIRE(!big);
  BOOST_TEST((big.error().code == exo::errc::limit_exceeded));
}

BOOST_AUTO_TEST_CASE(call_results_round_trip_and_malformed_ones_are_refused) {
  const call_results r{{1, {0, "\"result\""}}, {12, {1, "\"failed\""}}};
  auto back = decode_call_results(encode_call_results(r));
  BOOST_REQUIRE(back);
  BOOST_TEST((*back == r));
  BOOST_TEST(decode_call_results({})->empty());
  BOOST_TEST(decode_call_results(b("{}"))->empty());
  auto bad = [](std::string_view text) {
    auto d = decode_call_results(b(text));
    BOOST_REQUIRE_MESSAGE(!d, "decoded: " << text);
    BOOST_TEST(d.error().message.starts_with("call results can't be deserialized: "), d.error().message);
    return d.error().message;
  };
  BOOST_TEST(contains(bad("[1]"), "expected an object"));
  BOOST_TEST(contains(bad(R"({"one":{"ret_code":0,"result":"1"}})"), "one: the key is not a call request id"));
  BOOST_TEST(contains(bad(R"({"1":{"ret_code":0}})"), "1: expected {ret_code, result"));
  BOOST_TEST(contains(bad(R"({"1":{"ret_code":0,"result":1}})"), "1: expected {ret_code, result"));
  BOOST_TEST(contains(bad(R"({"1":{"ret_code":"0","result":"1"}})"), "1.ret_code: expected an integer"));
  BOOST_TEST(contains(bad("{nope"), "not JSON"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(air_data_text)

// The encoder writes text itself; it must be what nlohmann's dump of the same document gives,
// for every kind of value and string (escapes, UTF-8, bytes that are not UTF-8).
// Data of the common shape is read in one pass (checked as it goes); anything else is validated
// whole first. The two readings agree on every text: the same data, or the same error.
BOOST_AUTO_TEST_CASE(the_one_pass_and_the_careful_reading_agree) {
  const exo::bytes every = encode_data(every_kind());
  std::vector<std::string> texts = {
      std::string(every.begin(), every.end()),
      // spaces, other key orders, an escaped key, a request id, floats, r_streams: the careful path
      R"( { "trace" : [ {"par" : [1, 1]}, {"call": {"executed": {"stream": {"generation": 1, "value": [ "a" , 1.5 ]}}}} ] } )",
      R"({"version":"0.2.2","lcid":1,"trace":[{"fold":{"lore":[{"desc":[{"len":1,"pos":2},{"pos":3,"len":0}],"pos":1}]}}],"streams":{"$s":1}})",
      R"({"trace":[{"call":{"sent_by":"p: 7"}}]})",
      R"({"trace":[{"call":{"executed":{"scalar":{"b":1,"a":"é"}}}},{"call":{"executed":{"scalar":"x\/y"}}}]})",
      R"({"trace":[],"r_streams":{"$r":{"3":[0,1]}},"streams":{"$a":1,"$a":2}})",
      "\xEF\xBB\xBF{\"trace\":[]}",
      // refused: each path must name the same fault
      R"({"trace":[{"par":[01,1]}]})", R"({"trace":[{"par":[1,1]}]} x)", R"({"trace":[{"call":{"sent_by":"\xff"}}]})",
      R"({"trace":[{"call":{"executed":{"scalar":[1,]}}}]})", R"({"trace":[{"call":{"executed":{"scalar":"a)",
      R"({"trace":[{"par":[1,1]},{"par":[1,1]}],"trace":[]})", R"({"trace":[{"par":[1,1]}],"lcid":-0})",
      R"({"trace":[{"call":{"failed":[1,"\u12"]}}]})", R"({"trace":[{"fold":{"lore":[{"pos":1,"desc":[{"pos":1,"len":1}]}]}}]})",
      R"({"trace":[],"lcid":1.0})", R"({"trace":[],"version":"\ud800"})", R"({"lcid":3})"};
  std::string deep = R"({"trace":[{"call":{"executed":{"scalar":)";
  for (int i = 0; i < 200; ++i) deep += '[';
  texts.push_back(deep);
  for (const std::string& t : texts) {
    BOOST_TEST_CONTEXT("text: " << t) {
      for (std::size_t depth : {std::size_t{6}, std::size_t{7}, std::size_t{8}, std::size_t{128}}) {
        auto one = decode_data(b(t), {.max_depth = depth});
        auto careful = decode_data(b(t), {.max_depth = depth, .one_pass = false});
        BOOST_TEST(one.has_value() == careful.has_value());
        if (one && careful) BOOST_TEST((*one == *careful));
        if (!one && !careful) BOOST_TEST(one.error().message == careful.error().message);
      }
    }
  }
}

// A value met twice (in the previous data and the current one, as when a particle comes back)
// is one shared value; one kept as its text is written back byte for byte.
BOOST_AUTO_TEST_CASE(values_are_shared_and_kept_as_their_text) {
  const std::string prev = R"({"trace":[{"call":{"executed":{"scalar":["a","b"]}}},{"call":{"executed":{"scalar":{"k":[1,-2,"é"]}}}}]})";
  const std::string current = R"({"trace":[{"call":{"executed":{"scalar":["a","b"]}}},{"call":{"sent_by":"p"}}]})";
  const exo::bytes prev_bytes = b(prev), current_bytes = b(current);  // the pool refers to them
  value_pool pool;
  auto p = decode_data(prev_bytes, {}, &pool);
  auto c = decode_data(current_bytes, {}, &pool);
  BOOST_REQUIRE(p);
  BOOST_REQUIRE(c);
  const auto& first = std::get<call_state>(p->trace[0]).value;
  BOOST_TEST((first == std::get<call_state>(c->trace[0]).value));  // the same value, not a copy
  BOOST_TEST(first->text() == R"(["a","b"])");
  BOOST_TEST((first->get() == exo::json::array({"a", "b"})));
  const exo::bytes back = encode_data(*p);
  BOOST_TEST(std::string(back.begin(), back.end()).find(R"({"scalar":{"k":[1,-2,"é"]}})") != std::string::npos);
  // Equality as AIR sees it, whichever form each side holds.
  BOOST_TEST(same_value(*make_value(exo::json::array({"a", "b"})), *first));
  BOOST_TEST(!same_value(*make_value(exo::json::array({"a", "c"})), *first));
  BOOST_TEST(!same_value(*make_value(1), *make_value(1.0)));
  BOOST_TEST(same_value(*make_value(-0.0), *make_value(0.0)));
}

// The current data of a run is read against the previous one: a state spelled exactly as the
// previous data's at the same place, or right after the last one taken, is copied; the data
// is the same as when read alone, whatever is shifted, changed, spaced or broken.
BOOST_AUTO_TEST_CASE(states_the_previous_data_spelled_the_same_are_taken_from_it) {
  const std::string prev = R"({"trace":[{"call":{"executed":{"scalar":"a"}}},{"par":[1,0]},{"call":{"sent_by":"p"}},)"
                           R"({"call":{"executed":{"stream":{"value":[1,2],"generation":0}}}},{"ap":{"gens":[1]}}],"lcid":2})";
  const std::vector<std::string> currents = {
      prev,  // all of it
      // one changed, the rest in place
      R"({"trace":[{"call":{"executed":{"scalar":"a"}}},{"par":[1,0]},{"call":{"executed":{"scalar":"b"}}},)"
      R"({"call":{"executed":{"stream":{"value":[1,2],"generation":0}}}},{"ap":{"gens":[1]}}]})",
      // one inserted in front: the rest shifted by one
      R"({"trace":[{"par":[2,0]},{"call":{"executed":{"scalar":"a"}}},{"par":[1,0]},{"call":{"sent_by":"p"}}]})",
      // spaces between states, and a state longer than the previous one's spelling
      R"({"trace":[ {"call":{"executed":{"scalar":"a"}}} , {"par":[1,0]},{"par":[1,0]}]})",
      R"({"trace":[{"call":{"executed":{"scalar":"a"}}}x]})",                                // a prefix, then junk
      R"({"trace":[{"call":{"executed":{"scalar":"a"}}},{"par":[1,0]},{"call":{"sent_by":"p"})",  // cut
      R"({"trace":[{"call":{"executed":{"scalar":"a"}}},{"par":[1,0]}]})",
      R"({"trace":[]})", ""};
  for (const std::string& current : currents) {
    BOOST_TEST_CONTEXT("current: " << current) {
      const exo::bytes prev_bytes = b(prev), current_bytes = b(current);
      value_pool pool;
      auto p = decode_data(prev_bytes, {}, &pool);
      BOOST_REQUIRE(p);
      BOOST_TEST(pool.state_texts().size() == p->trace.size());
      auto reused = decode_data(current_bytes, {}, &pool, &*p);
      auto alone = decode_data(current_bytes);
      BOOST_TEST(reused.has_value() == alone.has_value());
      if (reused && alone) BOOST_TEST((*reused == *alone));
      if (!reused && !alone) BOOST_TEST(reused.error().message == alone.error().message);
    }
  }
  // Taken states share the previous data's values.
  const exo::bytes prev_bytes = b(prev), current_bytes = b(currents[2]);
  value_pool pool;
  auto p = decode_data(prev_bytes, {}, &pool);
  auto c = decode_data(current_bytes, {}, &pool, &*p);
  BOOST_REQUIRE((p && c));
  BOOST_TEST((std::get<call_state>(c->trace[1]).value == std::get<call_state>(p->trace[0]).value));
  // `like` that is not what the pool read last is not used (and changes nothing).
  interpreter_data other;
  other.trace.emplace_back(par_state{7, 7});
  auto d = decode_data(current_bytes, {}, &pool, &other);
  BOOST_REQUIRE(d);
  BOOST_TEST((*d == *decode_data(current_bytes)));
}

// A run's values come from its arena: memory a value leaves is reused, nested arenas stack,
// and outside any arena values live on the heap (ASan checks each is freed the way it came).
BOOST_AUTO_TEST_CASE(a_run_s_arena_reuses_what_its_values_leave) {
  BOOST_TEST(value_arena::current() == nullptr);
  {
    value_arena arena;
    BOOST_TEST(value_arena::current() == &arena);
    shared_value a = make_value("a");
    const void* first = a.get();
    a.reset();
    shared_value b = make_value("b");
    BOOST_TEST(b.get() == first);  // the memory a left
    {
      value_arena inner;
      BOOST_TEST(value_arena::current() == &inner);
      shared_value c = make_value(exo::json::array({1, 2}));
      BOOST_TEST(c.get() != first);
      BOOST_TEST(c->text() == "[1,2]");
    }
    BOOST_TEST(value_arena::current() == &arena);
    for (int i = 0; i < 100'000; ++i) b = make_value(i);  // a long run holds what it holds, no more
    BOOST_TEST(b->get() == 99'999);
  }
  BOOST_TEST(value_arena::current() == nullptr);
  shared_value heap = make_value(1);
  BOOST_TEST(heap->get() == 1);
}

BOOST_AUTO_TEST_CASE(encoding_is_byte_for_byte_the_document_dump) {
  interpreter_data d = every_kind();
  const char* strings[] = {"plain", "quote \" and \\ backslash", "tab\tnew\nline\r\b\f", "ctl \x01\x1f", "utf-8: é → 😀",
                           "bad: \xff\xfe", "cut: \xe2\x82", "surrogate: \xed\xa0\x80", "over: \xf4\x90\x80\x80", "\x7f"};
  for (const char* s : strings) {
    d.trace.push_back(call_state{call_state::kind::scalar, make_value(exo::json{{"k", s}, {s, exo::json::array({s, 1, -2, 2.5, nullptr, false})}})});
    call_state sent;
    sent.what = call_state::kind::sent_by;
    sent.text = s;
    d.trace.push_back(sent);
  }
  d.r_streams["$r"][2] = {1};
  d.r_streams["$r"][10] = {3};
  d.streams[std::string("\xff")] = 1;
  const exo::bytes mine = encode_data(d);
  // The document as the previous encoder built it.
  exo::json trace = exo::json::array();
  for (const auto& s : d.trace) {
    exo::bytes one = encode_data(interpreter_data{{s}, {}, "0.2.2", 0, {}});
    trace.push_back(exo::json::parse(std::string(one.begin(), one.end()))["trace"][0]);
  }
  exo::json r_streams = exo::json::object();
  for (const auto& [name, per] : d.r_streams)
    for (const auto& [pos, gens] : per) r_streams[name][std::to_string(pos)] = gens;
  const exo::json doc{{"trace", trace}, {"streams", d.streams}, {"version", d.version}, {"lcid", d.lcid}, {"r_streams", r_streams}};
  const std::string want = doc.dump(-1, ' ', false, exo::json::error_handler_t::replace);
  BOOST_TEST(std::string(mine.begin(), mine.end()) == want);
}

BOOST_AUTO_TEST_SUITE_END()

#include "interpreter/json_text.hpp"

BOOST_AUTO_TEST_SUITE(air_json_text)

// exo's JSON reader accepts what nlohmann accepts and builds the same values.
BOOST_AUTO_TEST_CASE(the_reader_agrees_with_nlohmann) {
  const char* texts[] = {
      "0", "-0", "1", "-1", "18446744073709551615", "18446744073709551616", "-9223372036854775808", "-9223372036854775809",
      "1.5", "-1.25e-3", "1E400", "1e-400", "-1e400", "1" "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", "0.1", "123456789012345678901234567890", "true", "false", "null", "\"\"",
      R"("a\"b\\c\/d\b\f\n\r\t")", R"("\u0000\u001f\u00e9\u20ac")", R"("\ud83d\ude00")", "\"é → 😀\"", "[]", "{}",
      "[1,[2,[3,[]]],{}]", R"({"b":1,"a":2,"b":3})", " \t\r\n[ 1 , 2 ]\n", "\xEF\xBB\xBF{\"bom\":true}",
      // refused by both
      "", " ", "[", "]", "[1,]", "{\"a\"}", "{\"a\":}", "{a:1}", "01", "1.", ".5", "-", "1e", "+1", "tru", "nul",
      "\"unterminated", "\"bad \\x escape\"", "\"\\u12\"", "\"\\ud83d\"", "\"\\ude00\"", "\"\x01\"", "\"\xff\"",
      "\"\xc0\x80\"", "\"\xed\xa0\x80\"", "[1] 2", "{\"a\":1,}", "NaN", "Infinity", "'a'"};
  for (const char* t : texts) {
    const std::string_view text(t);
    BOOST_TEST_CONTEXT("text: " << t) {
      const auto why = exo::air::json_text::validate(text, 64);
      const exo::json theirs = exo::json::parse(text, nullptr, false);
      BOOST_TEST(!why == !theirs.is_discarded(), (why ? *why : std::string("accepted")));
      if (!why && !theirs.is_discarded()) {
        exo::air::json_text::cursor c(text);
        const exo::json mine = c.value();
        BOOST_TEST(mine.dump() == theirs.dump());
        BOOST_TEST((mine.type() == theirs.type()));
      }
    }
  }
  // One difference, on purpose: nlohmann takes a NUL byte for the end of the text (and so
  // accepts "1\0junk"); exo refuses what follows the value, as serde_json does for AquaVM.
  const std::string nul("0.2\0(", 5);
  BOOST_TEST(!exo::json::parse(nul, nullptr, false).is_discarded());
  BOOST_TEST(exo::air::json_text::validate(nul, 64).has_value());
  // Canonical text is exactly nlohmann's dump of its value (what the encoder writes back).
  for (const char* t : texts) {
    const std::string_view text(t);
    if (exo::air::json_text::validate(text, 64)) continue;
    if (exo::air::json_text::canonical(text)) BOOST_TEST(std::string(text) == exo::json::parse(text).dump(), "text: " << t);
  }
  for (const char* yes : {"0", "-1", "18446744073709551615", "-9223372036854775808", "true", "null", "\"\"", R"("\"\\\b\f\n\r\t\u0001\u001f")",
                          "\"é\x7f\"", "[]", "{}", R"({"a":1,"b":[true,{}]})", R"(["a","b"])"})
    BOOST_TEST(exo::air::json_text::canonical(yes), "canonical: " << yes);
  for (const char* no : {"-0", "1.5", "1e2", "18446744073709551616", "-9223372036854775809", R"("\/")", R"("\u0041")", R"("\u000a")",
                         R"("\u001F")", R"({"b":1,"a":2})", R"({"a":1,"a":2})", R"({"\u0061":1})", " 1", "[1, 2]", "\xEF\xBB\xBF" "1"})
    BOOST_TEST(!exo::air::json_text::canonical(no), "not canonical: " << no);
  // The plain shapes, found in one scan, are canonical; anything else is left to the rest.
  for (const char* t : {R"("a")", R"(["a","é"])", "[]"}) {
    const std::string_view text(t);
    BOOST_TEST(exo::air::json_text::plain_value(text.data(), text.data() + text.size()) == text.data() + text.size(), t);
  }
  for (const char* t : {R"("a\n")", R"(["a",1])", R"([ "a"])", "1", "{}", R"("open)", R"(["a")", "\"\xff\""}) {
    const std::string_view text(t);
    BOOST_TEST(!exo::air::json_text::plain_value(text.data(), text.data() + text.size()), t);
  }
  // Depth: refused past the limit, at any depth, without recursion.
  const std::string deep(100'000, '[');
  auto why = exo::air::json_text::validate(deep, 128);
  BOOST_REQUIRE(why);
  BOOST_TEST(why->find("nested over 128 deep") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
