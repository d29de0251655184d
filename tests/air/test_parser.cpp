// The AIR parser: AquaVM's scenario scripts parse to the tree they mean; every kind of
// malformed script is a clear error with its line and column; no nesting overflows the
// stack; the limits hold.

#include <exo/core/error.hpp>

#include "interpreter/parser.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace {

using exo::air::instruction;
using exo::air::value;
using K = instruction::kind;

exo::air::script must(std::string_view text) {
  auto s = exo::air::parse(text);
  BOOST_REQUIRE_MESSAGE(s, (s ? "" : s.error().message));
  return std::move(*s);
}

std::string refused(std::string_view text) {
  auto s = exo::air::parse(text);
  BOOST_REQUIRE_MESSAGE(!s, "parsed: " << text);
  BOOST_TEST(s.error().message.starts_with("air can't be parsed:\n"), s.error().message);
  return s.error().message;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(air_parser)

BOOST_AUTO_TEST_CASE(seq_par_and_calls_local_and_remote) {
  auto s = must(R"((seq
      (par
        (call "P" ("local_service_id" "local_fn_name") [] result_1)
        (call "remote_peer_id" ("service_id" "fn_name") [] g))
      (call "P" ("local_service_id" "local_fn_name") [] result_2)))");
  BOOST_TEST(s.instructions == 5u);
  BOOST_TEST(s.depth == 3u);
  const instruction& root = *s.root;
  BOOST_TEST((root.what == K::seq));
  BOOST_TEST((root.a->what == K::par));
  const instruction& c = *root.a->b;
  BOOST_TEST((c.what == K::call));
  BOOST_TEST(c.peer.text == "remote_peer_id");
  BOOST_TEST(c.service.text == "service_id");
  BOOST_TEST(c.function.text == "fn_name");
  BOOST_TEST(c.args.empty());
  BOOST_TEST((c.out.what == exo::air::output::kind::scalar));
  BOOST_TEST(c.out.name == "g");
}

BOOST_AUTO_TEST_CASE(values_lenses_and_the_built_ins) {
  auto s = must(R"((call %init_peer_id% (service "f") ["s" 42 -7 1.5 true false [] %init_peer_id% %last_error%.$.message
                                             x y.$.a.[0].[i]! $s $t.$.[1]] $out))");
  const instruction& c = *s.root;
  BOOST_TEST((c.peer.what == value::kind::init_peer_id));
  BOOST_TEST((c.service.what == value::kind::scalar));  // a service from a variable
  BOOST_TEST((c.out.what == exo::air::output::kind::stream));
  BOOST_REQUIRE(c.args.size() == 13u);
  BOOST_TEST((c.args[1].what == value::kind::number && c.args[1].i == 42));
  BOOST_TEST((c.args[2].i == -7));
  BOOST_TEST((c.args[3].is_float && c.args[3].f == 1.5));
  BOOST_TEST((c.args[4].what == value::kind::boolean && c.args[4].b));
  BOOST_TEST((c.args[6].what == value::kind::empty_array));
  BOOST_TEST((c.args[8].what == value::kind::last_error));
  BOOST_REQUIRE(c.args[8].lens);
  BOOST_TEST(c.args[8].lens->steps[0].name == "message");
  const value& y = c.args[10];
  BOOST_REQUIRE(y.lens);
  BOOST_TEST(y.lens->steps.size() == 3u);
  BOOST_TEST((y.lens->steps[1].what == exo::air::lens_step::kind::index && y.lens->steps[1].index == 0));
  BOOST_TEST((y.lens->steps[2].what == exo::air::lens_step::kind::variable && y.lens->steps[2].name == "i"));
  BOOST_TEST(y.lens->bang);
  BOOST_TEST((c.args[11].what == value::kind::stream && c.args[11].text == "$s"));
  BOOST_TEST(exo::air::to_string(c.args[12]) == "$t.$.[1]");
  BOOST_TEST(exo::air::to_string(y) == "y.$.a.[0].[i]!");
  // The peer part may carry the service: (call (peer service) function ...).
  auto old = must(R"((call ("peer" "service") "function" [] r))");
  BOOST_TEST(old.root->service.text == "service");
  BOOST_TEST(old.root->function.text == "function");
}

BOOST_AUTO_TEST_CASE(every_instruction) {
  auto s = must(R"(
    ; a comment
    (seq
      (xor (match 1 1 (null)) (mismatch "a" x (null)))
      (seq
        (new $s (fold $s i (seq (ap i $t) (next i))))
        (seq (fold xs j (next j))
             (xor (fail 1337 "error message") (fail %last_error%)))))
  )");
  BOOST_TEST(s.instructions == 18u);
  const instruction& n = *s.root->b->a;
  BOOST_TEST((n.what == K::new_));
  BOOST_TEST(n.name == "$s");
  BOOST_TEST((n.a->what == K::fold));
  BOOST_TEST(n.a->name == "i");
  const instruction& f = *s.root->b->b->b->a;
  BOOST_TEST((f.what == K::fail));
  BOOST_TEST(f.args[0].i == 1337);
  BOOST_TEST(f.args[1].text == "error message");
  BOOST_TEST(must("(fail x)").root->args[0].text == "x");
}

// Every use of a name carries the name's number (the interpreter keeps variables by number):
// scalars, streams, iterators, outputs, `new` and lens steps, numbered in the order first met.
BOOST_AUTO_TEST_CASE(names_are_numbered_wherever_they_are_used) {
  auto s = must(R"((seq (call p ("s" "f") [x.$.[i] $st] x)
                         (new $st (fold xs i (seq (ap i $st) (next i))))))");
  const std::vector<std::string> expected = {"p", "x", "i", "$st", "xs"};
  BOOST_TEST(s.names == expected, boost::test_tools::per_element());
  auto number = [&](const std::string& name) {
    return static_cast<std::uint32_t>(std::find(s.names.begin(), s.names.end(), name) - s.names.begin());
  };
  const instruction& call = *s.root->a;
  BOOST_TEST(call.peer.var == number("p"));
  BOOST_TEST(call.args[0].var == number("x"));
  BOOST_TEST(call.args[0].lens->steps[0].var == number("i"));
  BOOST_TEST(call.args[1].var == number("$st"));
  BOOST_TEST(call.out.var == number("x"));
  const instruction& n = *s.root->b;
  BOOST_TEST(n.var == number("$st"));
  const instruction& fold = *n.a;
  BOOST_TEST(fold.var == number("i"));
  BOOST_TEST(fold.args[0].var == number("xs"));
  BOOST_TEST(fold.a->a->args[0].var == number("i"));
  BOOST_TEST(fold.a->a->out.var == number("$st"));
  BOOST_TEST(fold.a->b->var == number("i"));
}

BOOST_AUTO_TEST_CASE(malformed_scripts_are_clear_errors) {
  BOOST_TEST(contains(refused("(seq )"), "1:6: expected an instruction: ("));
  BOOST_TEST(contains(refused(""), "expected an instruction"));
  BOOST_TEST(contains(refused("(null"), "expected a ) closing (null"));
  BOOST_TEST(contains(refused("(null) (null)"), "goes on after its instruction"));
  BOOST_TEST(contains(refused("(nul)"), "unknown instruction 'nul'"));
  BOOST_TEST(contains(refused("(call \"p\" (\"s\" \"f\") [\"never ends)"), "does not end"));
  BOOST_TEST(contains(refused("(call \"p\" (\"s\" \"f\") [a b"), "do not end"));
  BOOST_TEST(contains(refused("(call \"p\" \"f\" [])"), "a call names a service"));
  BOOST_TEST(contains(refused("(call \"p\" (\"s\" \"f\") [] x.$.a)"), "an output has no lens"));
  BOOST_TEST(contains(refused("(call \"p\" (\"s\" \"f\") [] 5)"), "expected an output"));
  BOOST_TEST(contains(refused("(call \"p\" (\"s\" \"f\") [x.$.[] ])"), "an empty lens index"));
  BOOST_TEST(contains(refused("(call \"p\" (\"s\" \"f\") [x.$.[a b]])"), "must be a number or a scalar's name, not 'a b'"));
  BOOST_TEST(contains(refused("(call \"p\" (\"s\" \"f\") [x.$.[0)"), "does not close"));
  BOOST_TEST(contains(refused("(call \"p\" (\"s\" \"f\") [%nope%])"), "unknown built-in %nope%"));
  BOOST_TEST(contains(refused("(call \"p\" (\"s\" \"f\") [1e999])"), "not a number AIR can hold"));
  BOOST_TEST(contains(refused("(call \"p\" (\"s\" \"f\") [a.b])"), "a lens starts with .$"));
  BOOST_TEST(contains(refused("(call \"p\" (\"s\" \"f\") [seq])"), "'seq' is an instruction"));
  BOOST_TEST(contains(refused("(fold xs i (fold ys i (next i)))"), "'i' is already an enclosing fold's"));
  BOOST_TEST(contains(refused("(fold xs i (next j))"), "no enclosing fold iterates with"));
  BOOST_TEST(contains(refused("(next i)"), "no enclosing fold"));
  BOOST_TEST(contains(refused("(fold \"s\" i (null))"), "fold iterates over a scalar or a $stream"));
  BOOST_TEST(contains(refused("(fail 1.5 \"m\")"), "fail's code is an integer"));
  BOOST_TEST(contains(refused("(fail 1 2)"), "fail's message is a string"));
  BOOST_TEST(contains(refused("(fail \"m\")"), "fail takes"));
  BOOST_TEST(contains(refused("(ap 1 %last_error%)"), "expected an output"));
  BOOST_TEST(contains(refused("(seq (null)\n  (null) #)"), "2:10: unexpected character '#'"));
  BOOST_TEST(contains(refused("(match [1] [] (null))"), "only [] is an array literal"));
}

BOOST_AUTO_TEST_CASE(no_nesting_overflows_the_stack_and_the_limits_hold) {
  // 100,000 nested seqs: refused at the depth limit, not a stack overflow.
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "(seq (null) ";
  deep += "(null)";
  for (int i = 0; i < 100000; ++i) deep += ")";
  auto d = exo::air::parse(deep);
  BOOST_REQUIRE(!d);
  BOOST_TEST((d.error().code == exo::errc::limit_exceeded));
  BOOST_TEST(contains(d.error().message, "nested over 500 deep"), d.error().message);
  // At the limit it parses.
  std::string ok;
  for (int i = 0; i < 499; ++i) ok += "(seq (null) ";
  ok += "(null)";
  for (int i = 0; i < 499; ++i) ok += ")";
  BOOST_TEST(must(ok).depth == 500u);
  // Size and count.
  auto big = exo::air::parse(std::string(100, ' ') + "(null)", {.max_size = 50});
  BOOST_REQUIRE(!big);
  BOOST_TEST((big.error().code == exo::errc::limit_exceeded));
  std::string many = "(seq (null) (seq (null) (null)))";
  auto counted = exo::air::parse(many, {.max_instructions = 4});
  BOOST_REQUIRE(!counted);
  BOOST_TEST(contains(counted.error().message, "over 4 instructions"));
  BOOST_TEST(exo::air::parse(many, {.max_instructions = 5}).has_value());
}

BOOST_AUTO_TEST_CASE(every_prefix_of_a_script_is_refused_cleanly) {
  const std::string script = R"((seq (par (call %init_peer_id% ("s" "f") [x.$.a! "b" $c 1] $r) (fold $r i (seq (ap i $o) (next i)))) (xor (match 1 2 (null)) (fail %last_error%))))";
  BOOST_REQUIRE(exo::air::parse(script));
  for (std::size_t n = 0; n < script.size(); ++n) {
    auto p = exo::air::parse(std::string_view(script).substr(0, n));
    BOOST_TEST(!p.has_value(), "prefix of " << n << " bytes parsed");
  }
}

BOOST_AUTO_TEST_SUITE_END()
