#include "data.hpp"

#include "json_text.hpp"

#include <fmt/format.h>

#include <algorithm>

#include <charconv>
#include <cstring>
#include <limits>
#include <utility>

namespace exo::air {

using namespace std::string_view_literals;

namespace {

// A place in the document, written out only for an error message: "trace[3].call.failed".
struct path {
  const path* parent = nullptr;
  std::string_view name;    // ".call", "trace", ...
  std::int64_t index = -1;  // [3]
  std::string str() const {
    std::string out = parent ? parent->str() : std::string();
    out += name;
    if (index >= 0) out += "[" + std::to_string(index) + "]";
    return out;
  }
};

// Decoding with a place to name in errors.
class reader {
 public:
  explicit reader(std::string prefix) : prefix_(std::move(prefix)) {}
  unexpected<error> bad(const std::string& where, const std::string& what) const {
    return fail(errc::malformed, fmt::format("{}: {}: {}", prefix_, where, what));
  }
  unexpected<error> bad(const path& where, const std::string& what) const { return bad(where.str(), what); }
  expected<std::uint32_t> u32(const json& j, const path& where) const {
    if (j.is_number_unsigned() && j.get<std::uint64_t>() <= std::numeric_limits<std::uint32_t>::max())
      return static_cast<std::uint32_t>(j.get<std::uint64_t>());
    return u32(j, where.str());
  }
  expected<std::int32_t> i32(const json& j, const path& where) const {
    if (j.is_number_integer()) {
      const auto v = j.get<std::int64_t>();
      if (v >= std::numeric_limits<std::int32_t>::min() && v <= std::numeric_limits<std::int32_t>::max())
        return static_cast<std::int32_t>(v);
    }
    return i32(j, where.str());
  }
  // An object with exactly one of `keys`: the index of its key.
  expected<std::size_t> one_of(const json& j, const path& where, std::initializer_list<const char*> keys) const {
    if (j.is_object() && j.size() == 1) {
      const std::string& k = j.begin().key();
      std::size_t i = 0;
      for (const char* want : keys) {
        if (k == want) return i;
        ++i;
      }
    }
    auto e = one_of(j, where.str(), keys);
    if (!e) return unexpected(std::move(e).error());
    return std::size_t{0};  // not reached: the string form failed too
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

// Parses JSON and checks its nesting without recursion: the text is validated first (any
// depth, iteratively), then built.
// The text of `bytes` when it is within the size limit and valid JSON within the depth limit.
expected<std::string_view> valid_text(byte_view bytes, const data_limits& limits, const reader& r) {
  if (bytes.size() > limits.max_size)
    return fail(errc::limit_exceeded, fmt::format("{} bytes, over the {} accepted", bytes.size(), limits.max_size));
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (auto why = json_text::validate(text, limits.max_depth)) return r.bad("$", *why);
  return text;
}

expected<json> parse_json(byte_view bytes, const data_limits& limits, const reader& r) {
  auto text = valid_text(bytes, limits, r);
  if (!text) return unexpected(std::move(text).error());
  return json_text::cursor(*text).value();
}

// A value for valid JSON text: kept as the text when it is canonical (`canonical` when the
// caller knows it is), else built.
shared_value value_from_text(std::string_view text, bool canonical) {
  return canonical || json_text::canonical(text) ? json_value::from_canonical(text)
                                                 : make_value(json_text::cursor(text).value());
}

expected<call_state> read_call(json& j, const path& at, const reader& r) {
  auto k = r.one_of(j, at, {"executed", "sent_by", "failed"});
  if (!k) return unexpected(std::move(k).error());
  call_state c;
  json& v = j.begin().value();
  if (*k == 1) {
    const path here{&at, ".sent_by"};
    if (!v.is_string()) return r.bad(here, "expected a string");
    c.what = call_state::kind::sent_by;
    c.text = std::move(v.get_ref<std::string&>());
    // "peer: id" names a local call request: the id must be a u32.
    if (auto colon = c.text.find(": "); colon != std::string::npos) {
      const std::string_view id = std::string_view(c.text).substr(colon + 2);
      std::uint32_t n = 0;
      auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), n);
      if (id.empty() || ec != std::errc{} || end != id.data() + id.size())
        return r.bad(here, fmt::format("'{}' is not a call request id (a u32) after \"peer: \"", id));
    }
    return c;
  }
  if (*k == 2) {
    const path here{&at, ".failed"};
    if (!v.is_array() || v.size() != 2 || !v[1].is_string()) return r.bad(here, "expected [ret_code, \"message\"]");
    auto code = r.i32(v[0], path{&here, "", 0});
    if (!code) return unexpected(std::move(code).error());
    c.what = call_state::kind::failed;
    c.ret_code = *code;
    c.text = std::move(v[1].get_ref<std::string&>());
    return c;
  }
  const path executed{&at, ".executed"};
  auto e = r.one_of(v, executed, {"scalar", "stream"});
  if (!e) return unexpected(std::move(e).error());
  json& inner = v.begin().value();
  if (*e == 0) {
    c.what = call_state::kind::scalar;
    c.value = make_value(std::move(inner));
    return c;
  }
  const path stream{&executed, ".stream"};
  if (!inner.is_object() || inner.size() != 2 || !inner.contains("value") || !inner.contains("generation"))
    return r.bad(stream, "expected {value, generation}");
  auto g = r.u32(inner["generation"], path{&stream, ".generation"});
  if (!g) return unexpected(std::move(g).error());
  c.what = call_state::kind::stream;
  c.value = make_value(std::move(inner["value"]));
  c.generation = *g;
  return c;
}

expected<executed_state> read_state(json& j, const path& at, const reader& r) {
  static constexpr const char* names[] = {".par", ".call", ".fold", ".ap"};
  auto k = r.one_of(j, at, {"par", "call", "fold", "ap"});
  if (!k) return unexpected(std::move(k).error());
  json& v = j.begin().value();
  const path here{&at, names[*k]};
  if (*k == 0) {
    if (!v.is_array() || v.size() != 2) return r.bad(here, "expected [left size, right size]");
    auto l = r.u32(v[0], path{&here, "", 0});
    if (!l) return unexpected(std::move(l).error());
    auto rr = r.u32(v[1], path{&here, "", 1});
    if (!rr) return unexpected(std::move(rr).error());
    return par_state{*l, *rr};
  }
  if (*k == 1) {
    auto c = read_call(v, here, r);
    if (!c) return unexpected(std::move(c).error());
    return std::move(*c);
  }
  if (*k == 3) {
    if (!v.is_object() || v.size() != 1 || !v.contains("gens") || !v["gens"].is_array())
      return r.bad(here, "expected {gens: [...]}");
    ap_state a;
    const json& gens = v["gens"];
    const path gp{&here, ".gens"};
    for (std::size_t i = 0; i < gens.size(); ++i) {
      auto g = r.u32(gens[i], path{&gp, "", static_cast<std::int64_t>(i)});
      if (!g) return unexpected(std::move(g).error());
      a.gens.push_back(*g);
    }
    return a;
  }
  if (!v.is_object() || v.size() != 1 || !v.contains("lore") || !v["lore"].is_array())
    return r.bad(here, "expected {lore: [...]}");
  fold_state f;
  const json& lores = v["lore"];
  const path lp{&here, ".lore"};
  for (std::size_t i = 0; i < lores.size(); ++i) {
    const json& l = lores[i];
    const path li{&lp, "", static_cast<std::int64_t>(i)};
    if (!l.is_object() || l.size() != 2 || !l.contains("pos") || !l.contains("desc") || !l["desc"].is_array() ||
        l["desc"].size() != 2)
      return r.bad(li, "expected {pos, desc: [{pos, len}, {pos, len}]}");
    fold_lore lore;
    auto p = r.u32(l["pos"], path{&li, ".pos"});
    if (!p) return unexpected(std::move(p).error());
    lore.value_pos = *p;
    const path dp{&li, ".desc"};
    for (int d = 0; d < 2; ++d) {
      const json& s = l["desc"][static_cast<std::size_t>(d)];
      const path di{&dp, "", d};
      if (!s.is_object() || s.size() != 2 || !s.contains("pos") || !s.contains("len")) return r.bad(di, "expected {pos, len}");
      auto sp = r.u32(s["pos"], path{&di, ".pos"});
      if (!sp) return unexpected(std::move(sp).error());
      auto sl = r.u32(s["len"], path{&di, ".len"});
      if (!sl) return unexpected(std::move(sl).error());
      (d == 0 ? lore.before : lore.after) = fold_subtrace{*sp, *sl};
    }
    f.lore.push_back(lore);
  }
  return f;
}

}  // namespace

namespace {

bool fits_u32(std::int64_t v) { return v >= 0 && v <= std::numeric_limits<std::uint32_t>::max(); }

// The value at the cursor, checked (nested at most `depth` deep), then found in `pool` by its
// text or made and added; nullopt (the cursor anywhere) if it is not valid JSON.
std::optional<shared_value> pooled_value(json_text::cursor& c, value_pool& pool, std::size_t depth) {
  (void)c.peek();
  const char* start = c.mark();
  const char* after = json_text::plain_value(start, c.end());
  bool canonical = after != nullptr && (depth > 0 || *start == '"');
  if (!canonical) {
    after = start;
    if (json_text::validate_value(after, c.end(), depth)) return std::nullopt;
  }
  const std::string_view text(start, static_cast<std::size_t>(after - start));
  c.reset(after);
  return pool.get(text, [&] { return value_from_text(text, canonical); });
}

// A u32 at the cursor, spelled as an integer.
bool take_u32(json_text::cursor& c, std::uint32_t& n) {
  std::int64_t v = 0;
  if (!c.integer(v) || !fits_u32(v)) return false;
  n = static_cast<std::uint32_t>(v);
  return true;
}

// A string at the cursor, checked and unescaped.
bool checked_string(json_text::cursor& c, std::string& out) {
  if (c.peek() != '"') return false;
  const char* p = c.mark();
  if (json_text::check_string(p, c.end())) return false;
  out = c.string();
  return true;
}

// How deep a call's value sits: in the data, the trace, the state, the call, executed (and
// the stream's object).
constexpr std::size_t scalar_depth = 5, stream_depth = 6;

// A name as the text spells it equals `name` (inline: a handful of byte compares).
template <std::size_t N>
bool is(std::string_view spelled, const char (&name)[N]) {
  return spelled.size() == N - 1 && std::memcmp(spelled.data(), name, N - 1) == 0;
}

// The common states, read and checked straight from the text, which need not have been
// validated, and appended to `out`; false (the cursor back where it was, `out` as it was) for anything else or anything unusual,
// which the general path reads and names. Keys are compared as the text spells them: one
// spelled with an escape takes the general path.
bool fast_state(json_text::cursor& c, value_pool& pool, std::size_t max_depth, std::vector<executed_state>& out) {
  const char* start = c.mark();
  const std::size_t before = out.size();
  auto miss = [&] {
    c.reset(start);
    if (out.size() > before) out.pop_back();
    return false;
  };
  // `"name":` next, taken.
  auto key = [&c](std::string_view& k) { return c.peek() == '"' && c.raw(k) && c.take(':'); };
  if (max_depth <= stream_depth) return miss();
  auto u32 = [&c](std::uint32_t& n) { return take_u32(c, n); };
  // The compact spellings exo and AquaVM write, matched whole; then key by key.
  if (c.literal(R"({"call":{"executed":{"scalar":)")) {
    call_state& s = std::get<call_state>(out.emplace_back(std::in_place_type<call_state>));
    auto v = pooled_value(c, pool, max_depth - scalar_depth);
    if (!v || !c.take('}') || !c.take('}') || !c.take('}')) return miss();
    s.value = std::move(*v);
    return true;
  }
  if (c.literal(R"({"call":{"executed":{"stream":{"generation":)")) {  // exo's order; AquaVM's takes the key-by-key path
    call_state& s = std::get<call_state>(out.emplace_back(std::in_place_type<call_state>));
    s.what = call_state::kind::stream;
    if (!u32(s.generation) || !c.literal(R"(,"value":)")) return miss();
    auto v = pooled_value(c, pool, max_depth - stream_depth);
    if (!v || !c.take('}') || !c.take('}') || !c.take('}') || !c.take('}')) return miss();
    s.value = std::move(*v);
    return true;
  }
  if (c.literal(R"({"call":{"sent_by":)")) {
    call_state& s = std::get<call_state>(out.emplace_back(std::in_place_type<call_state>));
    s.what = call_state::kind::sent_by;
    if (!checked_string(c, s.text) || s.text.find(": ") != std::string::npos || !c.take('}') || !c.take('}'))
      return miss();
    return true;
  }
  if (c.literal(R"({"par":[)")) {
    par_state p;
    if (!u32(p.left) || !c.take(',') || !u32(p.right) || !c.take(']') || !c.take('}')) return miss();
    out.emplace_back(p);
    return true;
  }
  std::string_view k;
  if (!c.take('{') || !key(k)) return miss();
  std::int64_t a = 0;
  if (is(k, "par")) {
    par_state p;
    if (!c.take('[') || !u32(p.left) || !c.take(',') || !u32(p.right) || !c.take(']') || !c.take('}')) return miss();
    out.emplace_back(p);
    return true;
  }
  if (is(k, "ap")) {
    if (!c.take('{') || !key(k) || !is(k, "gens") || !c.take('[')) return miss();
    ap_state ap;
    if (!c.take(']')) {
      do {
        std::uint32_t g = 0;
        if (!u32(g)) return miss();
        ap.gens.push_back(g);
      } while (c.take(','));
      if (!c.take(']')) return miss();
    }
    if (!c.take('}') || !c.take('}')) return miss();
    out.emplace_back(std::move(ap));
    return true;
  }
  if (is(k, "fold")) {
    // {"lore": [{"pos": p, "desc": [{"pos": p, "len": l}, {"pos": p, "len": l}]}...]}, keys
    // in any order, each once.
    auto subtrace = [&](fold_subtrace& st) {
      bool pos = false, len = false;
      if (!c.take('{')) return false;
      do {
        std::string_view f;
        if (!key(f)) return false;
        if (is(f, "pos") && !pos) pos = u32(st.pos);
        else if (is(f, "len") && !len) len = u32(st.len);
        else return false;
      } while (c.take(','));
      return pos && len && c.take('}');
    };
    if (max_depth < 8) return miss();  // a subtrace sits 8 deep in the data
    if (!c.take('{') || !key(k) || !is(k, "lore") || !c.take('[')) return miss();
    fold_state f;
    if (!c.take(']')) {
      do {
        fold_lore l;
        bool pos = false, desc = false;
        if (!c.take('{')) return miss();
        do {
          std::string_view field;
          if (!key(field)) return miss();
          if (is(field, "pos") && !pos) {
            if (!u32(l.value_pos)) return miss();
            pos = true;
          } else if (is(field, "desc") && !desc) {
            if (!c.take('[') || !subtrace(l.before) || !c.take(',') || !subtrace(l.after) || !c.take(']')) return miss();
            desc = true;
          } else {
            return miss();
          }
        } while (c.take(','));
        if (!pos || !desc || !c.take('}')) return miss();
        f.lore.push_back(l);
      } while (c.take(','));
      if (!c.take(']')) return miss();
    }
    if (!c.take('}') || !c.take('}')) return miss();
    out.emplace_back(std::move(f));
    return true;
  }
  std::string_view kind;
  if (!is(k, "call") || !c.take('{') || !key(kind)) return miss();
  call_state& s = std::get<call_state>(out.emplace_back(std::in_place_type<call_state>));
  if (is(kind, "sent_by")) {
    if (c.peek() != '"') return miss();
    s.what = call_state::kind::sent_by;
    if (!checked_string(c, s.text) || s.text.find(": ") != std::string::npos) return miss();  // the general path checks the id
  } else if (is(kind, "failed")) {
    if (!c.take('[') || !c.integer(a) || a < std::numeric_limits<std::int32_t>::min() ||
        a > std::numeric_limits<std::int32_t>::max() || !c.take(','))
      return miss();
    s.what = call_state::kind::failed;
    s.ret_code = static_cast<std::int32_t>(a);
    if (!checked_string(c, s.text) || !c.take(']')) return miss();
  } else if (is(kind, "executed")) {
    std::string_view how;
    if (!c.take('{') || !key(how)) return miss();
    if (is(how, "scalar")) {
      s.what = call_state::kind::scalar;
      auto v = pooled_value(c, pool, max_depth - scalar_depth);
      if (!v) return miss();
      s.value = std::move(*v);
    } else if (is(how, "stream")) {
      if (!c.take('{')) return miss();
      bool have_value = false, have_generation = false;
      for (int i = 0; i < 2; ++i) {
        if (i == 1 && !c.take(',')) return miss();
        std::string_view field;
        if (!key(field)) return miss();
        if (is(field, "value") && !have_value) {
          auto v = pooled_value(c, pool, max_depth - stream_depth);
          if (!v) return miss();
          s.value = std::move(*v);
          have_value = true;
        } else if (is(field, "generation") && !have_generation) {
          if (!u32(s.generation)) return miss();
          have_generation = true;
        } else {
          return miss();
        }
      }
      if (!c.take('}')) return miss();
      s.what = call_state::kind::stream;
    } else {
      return miss();
    }
    if (!c.take('}')) return miss();
  } else {
    return miss();
  }
  if (!c.take('}') || !c.take('}')) return miss();
  return true;
}

// The data in one pass, everything checked as it is read, when it has the common shape: every
// state one fast_state reads, r_streams empty, each field once. nullopt for anything else,
// which decode_data then reads the careful way (validated whole first), naming what is wrong.
std::optional<interpreter_data> decode_fast(std::string_view text, const data_limits& limits, value_pool& pool,
                                           const interpreter_data* like) {
  json_text::cursor c(text);
  interpreter_data d;
  bool trace = false, streams = false, version = false, lcid = false, r_streams = false;
  auto u32 = [&c](std::uint32_t& n) { return take_u32(c, n); };
  if (!c.take('{')) return std::nullopt;
  do {
    std::string_view key;
    if (c.peek() != '"' || !c.raw(key) || !c.take(':')) return std::nullopt;
    if (is(key, "trace") && !trace) {
      trace = true;
      if (!c.take('[')) return std::nullopt;
      d.trace.reserve(std::min<std::size_t>(4096, text.size() / 32 + 4));  // a state takes 14 bytes or more, usually 40-100
      // The states of `like` and their texts, when they go together; else the texts of
      // these states, for the next data.
      const std::vector<std::string_view>* old = like ? &pool.state_texts() : nullptr;
      if (old && old->size() != like->trace.size()) old = nullptr;
      std::vector<std::string_view> texts;
      if (!old) texts.reserve(d.trace.capacity());
      std::size_t after = 0;  // the state of `like` after the last one taken
      // The state of `like` at `k`, if the text goes on with its spelling: taken.
      auto same = [&](std::size_t k) {
        if (k >= old->size()) return false;
        const std::string_view t = (*old)[k];
        const char* at = c.mark();
        if (static_cast<std::size_t>(c.end() - at) < t.size() || std::memcmp(at, t.data(), t.size()) != 0) return false;
        d.trace.push_back(like->trace[k]);
        c.reset(at + t.size());
        after = k + 1;
        return true;
      };
      if (!c.take(']')) {
        do {
          if (d.trace.size() >= limits.max_states) return std::nullopt;
          (void)c.peek();  // past spaces: where the state starts
          if (old && (same(d.trace.size()) || same(after))) continue;
          const char* start = c.mark();
          if (!fast_state(c, pool, limits.max_depth, d.trace)) return std::nullopt;
          if (!old) texts.emplace_back(start, static_cast<std::size_t>(c.mark() - start));
        } while (c.take(','));
        if (!c.take(']')) return std::nullopt;
      }
      pool.set_state_texts(std::move(texts));
    } else if (is(key, "streams") && !streams) {
      streams = true;
      if (!c.take('{')) return std::nullopt;
      if (!c.take('}')) {
        do {
          std::string name;
          std::uint32_t generations = 0;
          if (!checked_string(c, name) || !c.take(':') || !u32(generations)) return std::nullopt;
          d.streams[std::move(name)] = generations;  // a repeated name keeps its last, as in JSON's reading
        } while (c.take(','));
        if (!c.take('}')) return std::nullopt;
      }
    } else if (is(key, "version") && !version) {
      version = true;
      if (!checked_string(c, d.version)) return std::nullopt;
    } else if (is(key, "lcid") && !lcid) {
      lcid = true;
      if (!u32(d.lcid)) return std::nullopt;
    } else if (is(key, "r_streams") && !r_streams) {
      r_streams = true;
      if (!c.take('{') || !c.take('}')) return std::nullopt;
    } else {
      return std::nullopt;
    }
  } while (c.take(','));
  if (!c.take('}') || !c.at_end() || !trace) return std::nullopt;
  return d;
}

}  // namespace

expected<interpreter_data> decode_data(byte_view bytes, const data_limits& limits, value_pool* pool,
                                       const interpreter_data* like) {
  interpreter_data d;
  value_pool own;
  value_pool& values = pool ? *pool : own;
  if (bytes.empty()) {
    values.set_state_texts({});
    return d;
  }
  const reader r("data can't be deserialized");
  if (bytes.size() > limits.max_size)
    return fail(errc::limit_exceeded, fmt::format("{} bytes, over the {} accepted", bytes.size(), limits.max_size));
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  // Nested at most 2 deep but for the values, which fast_state checks against the limit.
  if (limits.one_pass && limits.max_depth > 2)
    if (auto fast = decode_fast(text, limits, values, like)) return std::move(*fast);
  values.set_state_texts({});
  if (auto why = json_text::validate(text, limits.max_depth)) return r.bad("$", *why);
  json_text::cursor c(text);
  if (!c.take('{')) return r.bad("$", "expected an object {trace, streams, version, lcid, r_streams}");
  bool have_trace = false;
  if (!c.take('}')) {
    do {
      const std::string key = c.string();
      c.take(':');
      if (key == "trace") {
        if (c.peek() != '[') return r.bad("trace", "expected an array");
        have_trace = true;
        d.trace.clear();
        d.trace.reserve(std::min<std::size_t>(4096, text.size() / 32 + 4));  // a state takes 14 bytes or more, usually 40-100
        c.take('[');
        if (!c.take(']')) {
          do {
            if (d.trace.size() >= limits.max_states)
              return fail(errc::limit_exceeded,
                          fmt::format("data can't be deserialized: over {} states, the most accepted", limits.max_states));
            if (fast_state(c, values, limits.max_depth, d.trace)) continue;
            json state = c.value();
            auto s = read_state(state, path{nullptr, "trace", static_cast<std::int64_t>(d.trace.size())}, r);
            if (!s) return unexpected(std::move(s).error());
            d.trace.push_back(std::move(*s));
          } while (c.take(','));
          c.take(']');
        }
      } else if (key == "streams") {
        if (c.peek() != '{') return r.bad("streams", "expected an object");
        const json streams = c.value();
        d.streams.clear();
        for (auto it = streams.begin(); it != streams.end(); ++it) {
          auto g = r.u32(it.value(), "streams." + it.key());
          if (!g) return unexpected(std::move(g).error());
          d.streams.emplace(it.key(), *g);
        }
      } else if (key == "version") {
        if (c.peek() != '"') return r.bad("version", "expected a string");
        d.version = c.string();
      } else if (key == "lcid") {
        auto l = r.u32(c.value(), "lcid");
        if (!l) return unexpected(std::move(l).error());
        d.lcid = *l;
      } else if (key == "r_streams") {
        const json rs = c.value();
        if (!rs.is_object()) return r.bad("r_streams", "expected an object");
        d.r_streams.clear();
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
      } else {
        return r.bad("$", fmt::format("unknown field '{}'", key));
      }
    } while (c.take(','));
  }
  if (!have_trace) return r.bad("trace", "expected an array");
  return d;
}

namespace {

// ---- the encoder: text written directly, byte for byte what nlohmann's dump() of the same
// document gives (keys in sorted order), without building the document ----

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : 0;
    if (n == 0 || i + n >= s.size()) return false;
    const auto c1 = static_cast<unsigned char>(s[i + 1]);
    if ((c1 & 0xC0) != 0x80) return false;
    if (c == 0xE0 && c1 < 0xA0) return false;  // overlong
    if (c == 0xED && c1 > 0x9F) return false;  // surrogates
    if (c == 0xF0 && c1 < 0x90) return false;  // overlong
    if (c == 0xF4 && c1 > 0x8F) return false;  // past U+10FFFF
    for (std::size_t k = 2; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

namespace {

// Where the writers below write: a std::string, appended to; or text_out, a buffer of bytes
// written through a pointer (the data's encoder: many small pieces).
struct string_out {
  std::string& s;
  void put(std::string_view v) { s += v; }
  void put(char c) { s += c; }
};

class text_out {
 public:
  explicit text_out(std::size_t expected)
      : size_(std::max<std::size_t>(expected, 64)), buf_(new std::uint8_t[size_]) {}  // (not zeroed)
  [[gnu::always_inline]] void put(std::string_view v) {
    if (size_ - at_ < v.size()) grow(v.size());
    if (v.empty()) return;  // (memcpy is not given a null pointer, even for nothing)
    std::memcpy(buf_.get() + at_, v.data(), v.size());
    at_ += v.size();
  }
  [[gnu::always_inline]] void put(char c) {
    if (at_ == size_) grow(1);
    buf_[at_++] = static_cast<std::uint8_t>(c);
  }
  bytes take() const { return bytes(buf_.get(), buf_.get() + at_); }

 private:
  void grow(std::size_t more) {
    const std::size_t size = std::max(size_ * 2, at_ + more);
    std::unique_ptr<std::uint8_t[]> bigger(new std::uint8_t[size]);
    std::memcpy(bigger.get(), buf_.get(), at_);
    buf_ = std::move(bigger);
    size_ = size;
  }
  std::size_t size_ = 0, at_ = 0;
  std::unique_ptr<std::uint8_t[]> buf_;
};

template <class Out>
void write_string(Out& out, std::string_view s) {
  bool plain = true;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) {
      plain = false;
      break;
    }
  }
  if (plain) {
    out.put('"');
    out.put(s);
    out.put('"');
    return;
  }
  if (!valid_utf8(s)) {  // nlohmann's own replacement of what is not UTF-8
    out.put(json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace));
    return;
  }
  out.put('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out.put("\\\""sv); break;
      case '\\': out.put("\\\\"sv); break;
      case '\b': out.put("\\b"sv); break;
      case '\f': out.put("\\f"sv); break;
      case '\n': out.put("\\n"sv); break;
      case '\r': out.put("\\r"sv); break;
      case '\t': out.put("\\t"sv); break;
      default:
        if (c < 0x20) {
          out.put(fmt::format("\\u{:04x}", c));
        } else {
          out.put(ch);
        }
    }
  }
  out.put('"');
}

template <class Out, class Int>
void write_int(Out& out, Int v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.put(std::string_view(buf, static_cast<std::size_t>(end - buf)));
}

template <class Out>
void write_value(Out& out, const json& v) {
  switch (v.type()) {
    case json::value_t::null: out.put("null"sv); return;
    case json::value_t::boolean: out.put(v.get<bool>() ? "true"sv : "false"sv); return;
    case json::value_t::number_integer: write_int(out, v.get<std::int64_t>()); return;
    case json::value_t::number_unsigned: write_int(out, v.get<std::uint64_t>()); return;
    case json::value_t::string: write_string(out, v.get_ref<const std::string&>()); return;
    case json::value_t::array: {
      out.put('[');
      bool first = true;
      for (const json& e : v) {
        if (!first) out.put(',');
        first = false;
        write_value(out, e);
      }
      out.put(']');
      return;
    }
    case json::value_t::object: {
      out.put('{');
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out.put(',');
        first = false;
        write_string(out, it.key());
        out.put(':');
        write_value(out, it.value());
      }
      out.put('}');
      return;
    }
    default: out.put(v.dump(-1, ' ', false, json::error_handler_t::replace)); return;  // floats, binary
  }
}

template <class Out>
void write_state(Out& out, const executed_state& s) {
  std::visit(
      [&out](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, par_state>) {
          out.put("{\"par\":["sv);
          write_int(out, x.left);
          out.put(',');
          write_int(out, x.right);
          out.put("]}"sv);
        } else if constexpr (std::is_same_v<T, call_state>) {
          switch (x.what) {
            case call_state::kind::scalar:
              out.put("{\"call\":{\"executed\":{\"scalar\":"sv);
              out.put(x.value ? x.value->text() : std::string_view("null"));
              out.put("}}}"sv);
              break;
            case call_state::kind::stream:
              out.put("{\"call\":{\"executed\":{\"stream\":{\"generation\":"sv);
              write_int(out, x.generation);
              out.put(",\"value\":"sv);
              out.put(x.value ? x.value->text() : std::string_view("null"));
              out.put("}}}}"sv);
              break;
            case call_state::kind::sent_by:
              out.put("{\"call\":{\"sent_by\":"sv);
              write_string(out, x.text);
              out.put("}}"sv);
              break;
            case call_state::kind::failed:
              out.put("{\"call\":{\"failed\":["sv);
              write_int(out, x.ret_code);
              out.put(',');
              write_string(out, x.text);
              out.put("]}}"sv);
              break;
          }
        } else if constexpr (std::is_same_v<T, fold_state>) {
          out.put("{\"fold\":{\"lore\":["sv);
          bool first = true;
          for (const fold_lore& l : x.lore) {
            if (!first) out.put(',');
            first = false;
            out.put("{\"desc\":[{\"len\":"sv);
            write_int(out, l.before.len);
            out.put(",\"pos\":"sv);
            write_int(out, l.before.pos);
            out.put("},{\"len\":"sv);
            write_int(out, l.after.len);
            out.put(",\"pos\":"sv);
            write_int(out, l.after.pos);
            out.put("}],\"pos\":"sv);
            write_int(out, l.value_pos);
            out.put('}');
          }
          out.put("]}}"sv);
        } else {
          out.put("{\"ap\":{\"gens\":["sv);
          bool first = true;
          for (std::uint32_t g : x.gens) {
            if (!first) out.put(',');
            first = false;
            write_int(out, g);
          }
          out.put("]}}"sv);
        }
      },
      s);
}

}  // namespace

void write_json_string(std::string& out, std::string_view s) {
  string_out o{out};
  write_string(o, s);
}

namespace {
thread_local value_arena* open_arena = nullptr;  // trivially destructible: nothing to run at thread exit
constexpr std::size_t header = 16;               // keeps the object 16-byte aligned
// What the header holds: the arena (or null: the heap), and the size asked for.
struct counted_header {
  value_arena* arena;
  std::size_t size;
};
static_assert(sizeof(counted_header) <= header);
constexpr std::size_t first_block = 16 * 1024;
}  // namespace

struct value_arena::block {
  block* next;
  std::size_t size;
};

value_arena::value_arena() : outer_(open_arena) { open_arena = this; }

value_arena::~value_arena() {
  open_arena = outer_;
  while (blocks_) {
    block* b = blocks_;
    blocks_ = b->next;
    ::operator delete(b);
  }
}

value_arena* value_arena::current() { return open_arena; }

void* value_arena::allocate(std::size_t n) {
  n = (n + 15) & ~std::size_t{15};
  if (const std::size_t c = n / 16; c < classes && free_[c]) {
    free_node* f = free_[c];
    free_[c] = f->next;
    return f;
  }
  if (static_cast<std::size_t>(end_ - next_) < n) {
    const std::size_t size = std::max(n + sizeof(block) + 16, blocks_ ? blocks_->size * 2 : first_block);
    auto* b = static_cast<block*>(::operator new(size));
    b->next = blocks_;
    b->size = size;
    blocks_ = b;
    next_ = reinterpret_cast<char*>(b) + ((sizeof(block) + 15) & ~std::size_t{15});
    end_ = reinterpret_cast<char*>(b) + size;
  }
  void* p = next_;
  next_ += n;
  return p;
}

void value_arena::release(void* p, std::size_t n) noexcept {
  n = (n + 15) & ~std::size_t{15};
  if (const std::size_t c = n / 16; c < classes) {
    auto* f = static_cast<free_node*>(p);
    f->next = free_[c];
    free_[c] = f;
  }
}

void* counted_allocate(std::size_t n) {
  value_arena* a = open_arena;
  char* p = static_cast<char*>(a ? a->allocate(n + header) : ::operator new(n + header));
  ::new (p) counted_header{a, n};
  return p + header;
}

void counted_free(void* p) noexcept {
  char* start = static_cast<char*>(p) - header;
  const counted_header h = *reinterpret_cast<counted_header*>(start);
  if (h.arena) h.arena->release(start, h.size + header);
  else ::operator delete(start);
}

std::uint64_t text_hash(std::string_view s) noexcept {
  // Two lanes of 8 bytes, multiplied and folded independently, so that their latencies overlap.
  constexpr std::uint64_t k1 = 0x9E3779B97F4A7C15ULL, k2 = 0xC2B2AE3D27D4EB4FULL;
  std::uint64_t a = s.size() * k1, b = ~s.size() * k2;
  const char* p = s.data();
  std::size_t n = s.size();
  for (; n >= 16; p += 16, n -= 16) {
    std::uint64_t w1, w2;
    std::memcpy(&w1, p, 8);
    std::memcpy(&w2, p + 8, 8);
    a = (a ^ w1) * k1;
    b = (b ^ w2) * k2;
    a ^= a >> 29;
    b ^= b >> 31;
  }
  if (n > 0) {  // the rest: the last 16 (or 8) bytes, overlapping what was read, or byte by byte
    std::uint64_t w1 = 0, w2 = 0;
    const char* end = s.data() + s.size();
    if (s.size() >= 16) {
      std::memcpy(&w1, end - 16, 8);
      std::memcpy(&w2, end - 8, 8);
    } else if (s.size() >= 8) {
      std::memcpy(&w1, s.data(), 8);
      std::memcpy(&w2, end - 8, 8);
    } else {
      for (std::size_t i = 0; i < n; ++i) w1 |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
    }
    a = (a ^ w1) * k1;
    b = (b ^ w2) * k2;
  }
  const std::uint64_t h = (a ^ (b >> 17) ^ (b << 47)) * k1;
  return h ^ (h >> 32);
}

void value_pool::grow() {
  std::vector<slot> old(std::max<std::size_t>(64, slots_.size() * 2));
  old.swap(slots_);
  for (slot& s : old)
    if (s.value)
      for (std::size_t i = s.hash & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1))
        if (!slots_[i].value) {
          slots_[i] = std::move(s);
          break;
        }
}

const json& json_value::get() const {
  if (!have_json_) {
    json_ = json_text::cursor(text_).value();
    have_json_ = true;
  }
  return json_;
}

std::string_view json_value::text() const {
  if (!have_text_) {
    string_out out{made_};
    write_value(out, json_);
    text_ = made_;
    have_text_ = true;
  }
  return text_;
}

shared_value json_value::from_canonical(std::string_view text) {
  void* memory = counted_allocate(sizeof(json_value) + text.size());
  char* kept = static_cast<char*>(memory) + sizeof(json_value);
  if (!text.empty()) std::memcpy(kept, text.data(), text.size());
  return shared_value(::new (memory) json_value(std::string_view(kept, text.size())));
}

bool same_value(const json_value& a, const json_value& b) {
  return &a == &b || a.text() == b.text() || same_value(a.get(), b.get());
}

bytes encode_data(const interpreter_data& d) {
  text_out out(64 + 64 * d.trace.size());
  out.put("{\"lcid\":"sv);
  write_int(out, d.lcid);
  out.put(",\"r_streams\":{"sv);
  bool first = true;
  for (const auto& [name, per] : d.r_streams) {
    if (!first) out.put(',');
    first = false;
    write_string(out, name);
    out.put(":{"sv);
    // Positions as keys sort as text, as nlohmann's object does.
    std::map<std::string, const std::vector<std::uint32_t>*> by_text;
    for (const auto& [pos, gens] : per) by_text.emplace(std::to_string(pos), &gens);
    bool first_pos = true;
    for (const auto& [pos, gens] : by_text) {
      if (!first_pos) out.put(',');
      first_pos = false;
      write_string(out, pos);
      out.put(":["sv);
      for (std::size_t i = 0; i < gens->size(); ++i) {
        if (i) out.put(',');
        write_int(out, (*gens)[i]);
      }
      out.put(']');
    }
    out.put('}');
  }
  out.put("},\"streams\":{"sv);
  first = true;
  for (const auto& [name, gens] : d.streams) {
    if (!first) out.put(',');
    first = false;
    write_string(out, name);
    out.put(':');
    write_int(out, gens);
  }
  out.put("},\"trace\":["sv);
  for (std::size_t i = 0; i < d.trace.size(); ++i) {
    if (i) out.put(',');
    write_state(out, d.trace[i]);
  }
  out.put("],\"version\":"sv);
  write_string(out, d.version);
  out.put('}');
  return out.take();
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

expected<shared_value> parse_shared_value(std::string_view text, const data_limits& limits) {
  const reader r("value can't be parsed");
  auto valid = valid_text(byte_view(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), limits, r);
  if (!valid) return unexpected(std::move(valid).error());
  return value_from_text(*valid, false);
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
