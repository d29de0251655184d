#include "data.hpp"

#include <fmt/format.h>

#include <charconv>
#include <limits>
#include <utility>

namespace exo::air {

namespace {

// Decoding with a place to name in errors: "trace[3].call.failed".
class reader {
 public:
  explicit reader(std::string prefix) : prefix_(std::move(prefix)) {}
  unexpected<error> bad(const std::string& where, const std::string& what) const {
    return fail(errc::malformed, fmt::format("{}: {}: {}", prefix_, where, what));
  }
  expected<std::uint32_t> u32(const json& j, const std::string& where) const {
    if (!j.is_number_unsigned() && !(j.is_number_integer() && j.get<std::int64_t>() >= 0))
      return bad(where, "expected a non-negative integer");
    const auto v = j.get<std::uint64_t>();
    if (v > std::numeric_limits<std::uint32_t>::max()) return bad(where, fmt::format("{} is over 2^32 - 1", v));
    return static_cast<std::uint32_t>(v);
  }
  expected<std::int32_t> i32(const json& j, const std::string& where) const {
    if (!j.is_number_integer()) return bad(where, "expected an integer");
    const auto v = j.get<std::int64_t>();
    if (v < std::numeric_limits<std::int32_t>::min() || v > std::numeric_limits<std::int32_t>::max())
      return bad(where, fmt::format("{} does not fit in 32 bits", v));
    return static_cast<std::int32_t>(v);
  }
  // An object with exactly one of `keys`: its key.
  expected<std::string> one_of(const json& j, const std::string& where, std::initializer_list<const char*> keys) const {
    std::string names;
    for (const char* k : keys) names += std::string(names.empty() ? "" : ", ") + k;
    if (!j.is_object() || j.size() != 1) return bad(where, fmt::format("expected an object with one of {}", names));
    const std::string& k = j.begin().key();
    for (const char* want : keys)
      if (k == want) return k;
    return bad(where, fmt::format("'{}' is none of {}", k, names));
  }

 private:
  std::string prefix_;
};

// Parses JSON and checks its nesting without recursion.
expected<json> parse_json(byte_view bytes, const data_limits& limits, const reader& r) {
  if (bytes.size() > limits.max_size)
    return fail(errc::limit_exceeded, fmt::format("{} bytes, over the {} accepted", bytes.size(), limits.max_size));
  // Depth first, on the text: brackets outside strings (the parser would take any depth).
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char c = static_cast<char>(bytes[i]);
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limits.max_depth) return r.bad("$", fmt::format("nested over {} deep", limits.max_depth));
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  json j = json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (j.is_discarded()) return r.bad("$", "not JSON");
  return j;
}

expected<call_state> read_call(const json& j, const std::string& at, const reader& r) {
  auto k = r.one_of(j, at, {"executed", "sent_by", "failed"});
  if (!k) return unexpected(std::move(k).error());
  call_state c;
  const json& v = j.begin().value();
  if (*k == "sent_by") {
    if (!v.is_string()) return r.bad(at + ".sent_by", "expected a string");
    c.what = call_state::kind::sent_by;
    c.sender = v.get<std::string>();
    // "peer: id" names a local call request: the id must be a u32.
    if (auto colon = c.sender.find(": "); colon != std::string::npos) {
      const std::string id = c.sender.substr(colon + 2);
      std::uint32_t n = 0;
      auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), n);
      if (id.empty() || ec != std::errc{} || end != id.data() + id.size())
        return r.bad(at + ".sent_by", fmt::format("'{}' is not a call request id (a u32) after \"peer: \"", id));
    }
    return c;
  }
  if (*k == "failed") {
    if (!v.is_array() || v.size() != 2 || !v[1].is_string())
      return r.bad(at + ".failed", "expected [ret_code, \"message\"]");
    auto code = r.i32(v[0], at + ".failed[0]");
    if (!code) return unexpected(std::move(code).error());
    c.what = call_state::kind::failed;
    c.ret_code = *code;
    c.message = v[1].get<std::string>();
    return c;
  }
  auto e = r.one_of(v, at + ".executed", {"scalar", "stream"});
  if (!e) return unexpected(std::move(e).error());
  const json& inner = v.begin().value();
  if (*e == "scalar") {
    c.what = call_state::kind::scalar;
    c.value = inner;
    return c;
  }
  if (!inner.is_object() || inner.size() != 2 || !inner.contains("value") || !inner.contains("generation"))
    return r.bad(at + ".executed.stream", "expected {value, generation}");
  auto g = r.u32(inner["generation"], at + ".executed.stream.generation");
  if (!g) return unexpected(std::move(g).error());
  c.what = call_state::kind::stream;
  c.value = inner["value"];
  c.generation = *g;
  return c;
}

expected<executed_state> read_state(const json& j, const std::string& at, const reader& r) {
  auto k = r.one_of(j, at, {"par", "call", "fold", "ap"});
  if (!k) return unexpected(std::move(k).error());
  const json& v = j.begin().value();
  const std::string here = at + "." + *k;
  if (*k == "par") {
    if (!v.is_array() || v.size() != 2) return r.bad(here, "expected [left size, right size]");
    auto l = r.u32(v[0], here + "[0]");
    if (!l) return unexpected(std::move(l).error());
    auto rr = r.u32(v[1], here + "[1]");
    if (!rr) return unexpected(std::move(rr).error());
    return par_state{*l, *rr};
  }
  if (*k == "call") {
    auto c = read_call(v, here, r);
    if (!c) return unexpected(std::move(c).error());
    return std::move(*c);
  }
  if (*k == "ap") {
    if (!v.is_object() || v.size() != 1 || !v.contains("gens") || !v["gens"].is_array())
      return r.bad(here, "expected {gens: [...]}");
    ap_state a;
    for (std::size_t i = 0; i < v["gens"].size(); ++i) {
      auto g = r.u32(v["gens"][i], fmt::format("{}.gens[{}]", here, i));
      if (!g) return unexpected(std::move(g).error());
      a.gens.push_back(*g);
    }
    return a;
  }
  if (!v.is_object() || v.size() != 1 || !v.contains("lore") || !v["lore"].is_array())
    return r.bad(here, "expected {lore: [...]}");
  fold_state f;
  for (std::size_t i = 0; i < v["lore"].size(); ++i) {
    const json& l = v["lore"][i];
    const std::string li = fmt::format("{}.lore[{}]", here, i);
    if (!l.is_object() || l.size() != 2 || !l.contains("pos") || !l.contains("desc") || !l["desc"].is_array() ||
        l["desc"].size() != 2)
      return r.bad(li, "expected {pos, desc: [{pos, len}, {pos, len}]}");
    fold_lore lore;
    auto p = r.u32(l["pos"], li + ".pos");
    if (!p) return unexpected(std::move(p).error());
    lore.value_pos = *p;
    for (int d = 0; d < 2; ++d) {
      const json& s = l["desc"][static_cast<std::size_t>(d)];
      const std::string di = fmt::format("{}.desc[{}]", li, d);
      if (!s.is_object() || s.size() != 2 || !s.contains("pos") || !s.contains("len")) return r.bad(di, "expected {pos, len}");
      auto sp = r.u32(s["pos"], di + ".pos");
      if (!sp) return unexpected(std::move(sp).error());
      auto sl = r.u32(s["len"], di + ".len");
      if (!sl) return unexpected(std::move(sl).error());
      (d == 0 ? lore.before : lore.after) = fold_subtrace{*sp, *sl};
    }
    f.lore.push_back(lore);
  }
  return f;
}

json write_state(const executed_state& s) {
  return std::visit(
      [](const auto& x) -> json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, par_state>) {
          return json{{"par", json::array({x.left, x.right})}};
        } else if constexpr (std::is_same_v<T, call_state>) {
          switch (x.what) {
            case call_state::kind::scalar: return json{{"call", {{"executed", {{"scalar", x.value}}}}}};
            case call_state::kind::stream:
              return json{{"call", {{"executed", {{"stream", {{"value", x.value}, {"generation", x.generation}}}}}}}};
            case call_state::kind::sent_by: return json{{"call", {{"sent_by", x.sender}}}};
            case call_state::kind::failed: return json{{"call", {{"failed", json::array({x.ret_code, x.message})}}}};
          }
          return json();
        } else if constexpr (std::is_same_v<T, fold_state>) {
          json lore = json::array();
          for (const fold_lore& l : x.lore)
            lore.push_back({{"pos", l.value_pos},
                            {"desc", json::array({json{{"pos", l.before.pos}, {"len", l.before.len}},
                                                  json{{"pos", l.after.pos}, {"len", l.after.len}}})}});
          return json{{"fold", {{"lore", std::move(lore)}}}};
        } else {
          return json{{"ap", {{"gens", x.gens}}}};
        }
      },
      s);
}

}  // namespace

expected<interpreter_data> decode_data(byte_view bytes, const data_limits& limits) {
  interpreter_data d;
  if (bytes.empty()) return d;
  const reader r("data can't be deserialized");
  auto parsed = parse_json(bytes, limits, r);
  if (!parsed) return unexpected(std::move(parsed).error());
  const json& j = *parsed;
  if (!j.is_object()) return r.bad("$", "expected an object {trace, streams, version, lcid, r_streams}");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "trace" && it.key() != "streams" && it.key() != "version" && it.key() != "lcid" && it.key() != "r_streams")
      return r.bad("$", fmt::format("unknown field '{}'", it.key()));
  if (!j.contains("trace") || !j["trace"].is_array()) return r.bad("trace", "expected an array");
  const json& trace = j["trace"];
  if (trace.size() > limits.max_states)
    return fail(errc::limit_exceeded, fmt::format("data can't be deserialized: {} states, over the {} accepted", trace.size(),
                                                  limits.max_states));
  d.trace.reserve(trace.size());
  for (std::size_t i = 0; i < trace.size(); ++i) {
    auto s = read_state(trace[i], fmt::format("trace[{}]", i), r);
    if (!s) return unexpected(std::move(s).error());
    d.trace.push_back(std::move(*s));
  }
  if (j.contains("streams")) {
    if (!j["streams"].is_object()) return r.bad("streams", "expected an object");
    for (auto it = j["streams"].begin(); it != j["streams"].end(); ++it) {
      auto g = r.u32(it.value(), "streams." + it.key());
      if (!g) return unexpected(std::move(g).error());
      d.streams.emplace(it.key(), *g);
    }
  }
  if (j.contains("version")) {
    if (!j["version"].is_string()) return r.bad("version", "expected a string");
    d.version = j["version"].get<std::string>();
  }
  if (j.contains("lcid")) {
    auto l = r.u32(j["lcid"], "lcid");
    if (!l) return unexpected(std::move(l).error());
    d.lcid = *l;
  }
  if (j.contains("r_streams")) {
    const json& rs = j["r_streams"];
    if (!rs.is_object()) return r.bad("r_streams", "expected an object");
    for (auto it = rs.begin(); it != rs.end(); ++it) {
      if (!it.value().is_object()) return r.bad("r_streams." + it.key(), "expected an object");
      auto& per = d.r_streams[it.key()];
      for (auto p = it.value().begin(); p != it.value().end(); ++p) {
        const std::string where = fmt::format("r_streams.{}.{}", it.key(), p.key());
        std::uint32_t pos = 0;
        auto [end, ec] = std::from_chars(p.key().data(), p.key().data() + p.key().size(), pos);
        if (ec != std::errc() || end != p.key().data() + p.key().size()) return r.bad(where, "the key is not a position");
        if (!p.value().is_array()) return r.bad(where, "expected an array of generations");
        std::vector<std::uint32_t> gens;
        for (std::size_t i = 0; i < p.value().size(); ++i) {
          auto g = r.u32(p.value()[i], fmt::format("{}[{}]", where, i));
          if (!g) return unexpected(std::move(g).error());
          gens.push_back(*g);
        }
        per.emplace(pos, std::move(gens));
      }
    }
  }
  return d;
}

bytes encode_data(const interpreter_data& d) {
  json trace = json::array();
  for (const executed_state& s : d.trace) trace.push_back(write_state(s));
  json r_streams = json::object();
  for (const auto& [name, per] : d.r_streams) {
    json m = json::object();
    for (const auto& [pos, gens] : per) m[std::to_string(pos)] = gens;
    r_streams[name] = std::move(m);
  }
  json j{{"trace", std::move(trace)}, {"streams", d.streams}, {"version", d.version}, {"lcid", d.lcid},
         {"r_streams", std::move(r_streams)}};
  const std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return bytes(text.begin(), text.end());
}

expected<call_results> decode_call_results(byte_view bytes, const data_limits& limits) {
  call_results out;
  if (bytes.empty()) return out;
  const reader r("call results can't be deserialized");
  auto parsed = parse_json(bytes, limits, r);
  if (!parsed) return unexpected(std::move(parsed).error());
  const json& j = *parsed;
  if (!j.is_object()) return r.bad("$", "expected an object {\"<id>\": {ret_code, result}}");
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::uint32_t id = 0;
    auto [end, ec] = std::from_chars(it.key().data(), it.key().data() + it.key().size(), id);
    if (ec != std::errc() || end != it.key().data() + it.key().size() || it.key().empty())
      return r.bad(it.key(), "the key is not a call request id");
    const json& v = it.value();
    if (!v.is_object() || v.size() != 2 || !v.contains("ret_code") || !v.contains("result") || !v["result"].is_string())
      return r.bad(it.key(), "expected {ret_code, result: \"JSON text\"}");
    auto code = r.i32(v["ret_code"], it.key() + ".ret_code");
    if (!code) return unexpected(std::move(code).error());
    out.emplace(id, call_result{*code, v["result"].get<std::string>()});
  }
  return out;
}

bytes encode_call_results(const call_results& r) {
  json j = json::object();
  for (const auto& [id, res] : r) j[std::to_string(id)] = {{"ret_code", res.ret_code}, {"result", res.result}};
  const std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return bytes(text.begin(), text.end());
}

}  // namespace exo::air

namespace exo::air {

expected<json> parse_value(std::string_view text, const data_limits& limits) {
  const reader r("value can't be parsed");
  return parse_json(byte_view(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), limits, r);
}

}  // namespace exo::air

namespace exo::air {

bool same_value(const json& a, const json& b) {
  using T = json::value_t;
  const bool ai = a.is_number_integer(), bi = b.is_number_integer();  // signed or unsigned
  if (ai || bi) {
    if (!(ai && bi)) return false;
    const bool an = a.type() == T::number_integer && a.get<std::int64_t>() < 0;
    const bool bn = b.type() == T::number_integer && b.get<std::int64_t>() < 0;
    if (an != bn) return false;
    return an ? a.get<std::int64_t>() == b.get<std::int64_t>() : a.get<std::uint64_t>() == b.get<std::uint64_t>();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case T::array: {
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i)
        if (!same_value(a[i], b[i])) return false;
      return true;
    }
    case T::object: {
      if (a.size() != b.size()) return false;
      for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib)
        if (ia.key() != ib.key() || !same_value(ia.value(), ib.value())) return false;
      return true;
    }
    default: return a == b;
  }
}

}  // namespace exo::air
