// Lenses applied to values, as AIR v0.20 applies `x.$.a.[0].[i]!`: fields, indices, scalars
// as accessors, the join when such a scalar is missing, and LambdaApplierError (10007) naming
// the value and the step for every lens that does not fit.

#include "interpreter/lens.hpp"
#include "interpreter/parser.hpp"

#include <boost/test/unit_test.hpp>

#include <map>

namespace {

using exo::json;

// The lens of the first argument of `(call "p" ("s" "f") [ARG])`.
exo::air::lens lens_of(const std::string& arg) {
  auto s = exo::air::parse("(call \"p\" (\"s\" \"f\") [" + arg + "])");
  BOOST_REQUIRE_MESSAGE(s, (s ? "" : s.error().message));
  BOOST_REQUIRE(s->root->args.at(0).lens);
  return *s->root->args.at(0).lens;
}

struct scope {
  std::map<std::string, json, std::less<>> vars;
  exo::air::scalar_lookup lookup() const {
    return [this](const exo::air::lens_step& step) -> const json* {
      auto it = vars.find(step.name);
      return it == vars.end() ? nullptr : &it->second;
    };
  }
};

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(air_lens)

BOOST_AUTO_TEST_CASE(fields_indices_and_scalars_as_accessors) {
  const json v = json::parse(R"({"a": [5, {"b": "deep"}], "success": true, "key": "a"})");
  scope s;
  s.vars = {{"i", 1}, {"k", "success"}};
  auto at = [&](const std::string& arg) {
    auto r = exo::air::apply_lens(v, lens_of(arg), s.lookup());
    BOOST_REQUIRE_MESSAGE(r, arg << ": " << (r ? "" : r.error().message));
    BOOST_REQUIRE(*r);
    return **r;
  };
  BOOST_TEST(at("x.$.a.[0]") == 5);
  BOOST_TEST(at("x.$.a.[1].b") == "deep");
  BOOST_TEST(at("x.$.a.[i].b") == "deep");
  BOOST_TEST(at("x.$.[k]") == true);
  BOOST_TEST(at("x.$.success!") == true);  // ! is parsed and ignored, as in v0.20
  BOOST_TEST(at("x.$") == v);              // no steps: the whole value
  BOOST_TEST(at("%last_error%.$.key") == "a");
}

BOOST_AUTO_TEST_CASE(a_missing_scalar_accessor_is_the_join) {
  const json v = json::array({1, 2});
  scope s;
  auto r = exo::air::apply_lens(v, lens_of("x.$.[later]"), s.lookup());
  BOOST_REQUIRE(r);
  BOOST_TEST(!r->has_value());
}

BOOST_AUTO_TEST_CASE(every_lens_that_does_not_fit_is_a_lambda_applier_error) {
  const json v = json::parse(R"({"a": [5], "n": null})");
  scope s;
  s.vars = {{"flag", true}, {"neg", -1}};
  auto err = [&](const std::string& arg) {
    auto r = exo::air::apply_lens(v, lens_of(arg), s.lookup());
    BOOST_REQUIRE_MESSAGE(!r, arg << " applied");
    BOOST_TEST(r.error().code == exo::air::lambda_applier_error);
    return r.error().message;
  };
  BOOST_TEST(contains(err("x.$.[0]"), "is not an array, so [0] cannot be applied to it"));
  BOOST_TEST(contains(err("x.$.a.b"), "value '[5]' is not an object, so the field 'b' cannot be read from it"));
  BOOST_TEST(contains(err("x.$.a.[1]"), "value '[5]' does not contain an element at index 1"));
  BOOST_TEST(contains(err("x.$.missing"), "does not contain the field 'missing'"));
  BOOST_TEST(contains(err("x.$.n.f"), "value 'null' is not an object"));
  BOOST_TEST(contains(err("x.$.a.[flag]"), "the scalar 'flag' used as an accessor is true"));
  BOOST_TEST(contains(err("x.$.a.[neg]"), "is -1: it must be a non-negative integer or a string"));
  // A long value is cut short in the message.
  const json big(std::string(1000, 'x'));
  auto r = exo::air::apply_lens(big, lens_of("x.$.f"), s.lookup());
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message.size() < 320u);
  BOOST_TEST(contains(r.error().message, "..."));
}

BOOST_AUTO_TEST_SUITE_END()
