#include <exo/core/bytes.hpp>
#include <exo/core/json.hpp>

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace exo {

json to_json(const value& v) {
  switch (v.type()) {
    case kind::null: return nullptr;
    case kind::boolean: return *v.if_bool();
    case kind::i64: return *v.if_i64();
    case kind::f64: {
      double d = *v.if_f64();
      if (!std::isfinite(d)) return json{{"$f64", fmt::format("{}", d)}};  // JSON has no NaN or infinity
      return d;
    }
    case kind::bytes: return json{{"$bytes", to_hex(*v.if_bytes())}};
    case kind::string: return *v.if_string();
    case kind::list: {
      json out = json::array();
      for (auto& x : *v.if_list()) out.push_back(to_json(x));
      return out;
    }
    case kind::map: {
      json out = json::object();
      for (auto& [k, x] : *v.if_map()) out[k] = to_json(x);
      return out;
    }
    case kind::cap: return json{{"$cap", v.if_cap()->index}};
  }
  return nullptr;
}

expected<value> from_json(const json& j, std::string_view where) {
  auto bad = [&](std::string_view why) { return fail(errc::invalid_argument, fmt::format("{}: {}", where, why)); };
  switch (j.type()) {
    case json::value_t::null: return value{};
    case json::value_t::boolean: return value(j.get<bool>());
    case json::value_t::number_integer: return value(j.get<std::int64_t>());
    case json::value_t::number_unsigned: {
      auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return bad(fmt::format("{} does not fit a signed 64-bit integer", u));
      return value(static_cast<std::int64_t>(u));
    }
    case json::value_t::number_float: return value(j.get<double>());
    case json::value_t::string: return value(j.get<std::string>());
    case json::value_t::array: {
      value::list out;
      out.reserve(j.size());
      for (std::size_t i = 0; i < j.size(); ++i) {
        auto x = from_json(j[i], fmt::format("{}[{}]", where, i));
        if (!x) return x;
        out.push_back(std::move(*x));
      }
      return value(std::move(out));
    }
    case json::value_t::object: {
      if (j.size() == 1 && j.begin().key().starts_with("$")) {
        const std::string& tag = j.begin().key();
        const json& x = j.begin().value();
        if (tag == "$bytes") {
          if (!x.is_string()) return bad("$bytes must be a hex string");
          auto b = from_hex(x.get<std::string>());
          if (!b) return bad("$bytes: " + b.error().message);
          return value(std::move(*b));
        }
        if (tag == "$f64" && x.is_string()) {
          const std::string s = x.get<std::string>();
          if (s == "nan") return value(std::numeric_limits<double>::quiet_NaN());
          if (s == "inf") return value(std::numeric_limits<double>::infinity());
          if (s == "-inf") return value(-std::numeric_limits<double>::infinity());
          return bad("$f64 must be \"nan\", \"inf\" or \"-inf\"");
        }
        if (tag == "$cap") return bad("capabilities cannot be sent from outside");
        return bad(fmt::format("unknown tag \"{}\" (exo knows \"$bytes\" and \"$f64\")", tag));
      }
      value::map out;
      out.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) {
        auto x = from_json(it.value(), fmt::format("{}.{}", where, it.key()));
        if (!x) return x;
        out.emplace_back(it.key(), std::move(*x));
      }
      return value::make_map(std::move(out));
    }
    case json::value_t::binary: return bad("binary JSON is not supported");
    case json::value_t::discarded: return bad("not JSON");
  }
  return bad("not JSON");
}

}  // namespace exo
