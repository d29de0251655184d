#include "parser.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_map>
#include <vector>

namespace exo::air {

namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}
bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

struct token {
  enum class kind : std::uint8_t { end, lparen, rparen, lbracket, rbracket, string, number, word } what = kind::end;
  std::string_view text;  // a string's contents; a word without its lens
  std::optional<air::lens> lens;
  std::size_t at = 0;
};

// Numbers every variable's name in the tree (script::names), walking it with a stack of its
// own (a tree as deep as the limit allows must not overflow the machine's).
void number_names(script& out) {
  std::unordered_map<std::string_view, std::uint32_t> numbers;
  std::vector<std::string_view> order;
  auto number = [&](const std::string& name) {
    auto [it, fresh] = numbers.emplace(name, static_cast<std::uint32_t>(order.size()));
    if (fresh) order.push_back(name);
    return it->second;
  };
  auto in_value = [&](value& v) {
    if (v.what == value::kind::scalar || v.what == value::kind::stream) v.var = number(v.text);
    if (v.lens)
      for (lens_step& s : v.lens->steps)
        if (s.what == lens_step::kind::variable) s.var = number(s.name);
  };
  std::vector<instruction*> todo{out.root.get()};
  while (!todo.empty()) {
    instruction& in = *todo.back();
    todo.pop_back();
    in_value(in.peer);
    in_value(in.service);
    in_value(in.function);
    for (value& a : in.args) in_value(a);
    if (in.out.what != output::kind::none) in.out.var = number(in.out.name);
    if (!in.name.empty()) in.var = number(in.name);
    if (in.b) todo.push_back(in.b.get());
    if (in.a) todo.push_back(in.a.get());
  }
  out.names.assign(order.begin(), order.end());
}

class parser {
 public:
  parser(std::string_view text, const parse_limits& limits) : s_(text), limits_(limits) {}

  expected<script> run() {
    if (s_.size() > limits_.max_size)
      return fail(errc::limit_exceeded, fmt::format("air can't be parsed: the script is {} bytes, over the {} accepted",
                                                    s_.size(), limits_.max_size));
    script out;
    auto root = instr(1);
    if (!root) return unexpected(std::move(root).error());
    auto t = next();
    if (!t) return unexpected(std::move(t).error());
    if (t->what != token::kind::end) return error_at(t->at, "the script goes on after its instruction");
    out.root = std::move(*root);
    out.instructions = count_;
    out.depth = deepest_;
    number_names(out);
    return out;
  }

 private:
  // ---- errors ----
  std::pair<std::size_t, std::size_t> line_col(std::size_t at) const {
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < at && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return {line, col};
  }
  unexpected<error> error_at(std::size_t at, std::string what, errc code = errc::malformed) const {
    auto [line, col] = line_col(at);
    return fail(code, fmt::format("air can't be parsed:\n{}:{}: {}", line, col, what));
  }

  // ---- lexing ----
  void skip_space() {
    while (pos_ < s_.size()) {
      if (space(s_[pos_])) {
        ++pos_;
      } else if (s_[pos_] == ';') {  // a comment, to the end of the line
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }
  expected<token> peek() {
    const std::size_t save = pos_;
    auto t = next();
    pos_ = save;
    return t;
  }
  expected<token> next() {
    skip_space();
    token t;
    t.at = pos_;
    if (pos_ >= s_.size()) return t;
    const char c = s_[pos_];
    switch (c) {
      case '(': ++pos_; t.what = token::kind::lparen; return t;
      case ')': ++pos_; t.what = token::kind::rparen; return t;
      case '[': ++pos_; t.what = token::kind::lbracket; return t;
      case ']': ++pos_; t.what = token::kind::rbracket; return t;
      case '"': {
        const std::size_t end = s_.find('"', pos_ + 1);
        if (end == std::string_view::npos) return error_at(pos_, "a string that does not end (no closing \")");
        t.what = token::kind::string;
        t.text = s_.substr(pos_ + 1, end - pos_ - 1);
        pos_ = end + 1;
        return t;
      }
      default: break;
    }
    // A number, a word (name, $stream, %built-in%, keyword), each perhaps with a lens.
    std::size_t end = pos_;
    if (c == '%') {
      const std::size_t close = s_.find('%', pos_ + 1);
      if (close == std::string_view::npos) return error_at(pos_, "a % that does not close");
      end = close + 1;
    } else {
      if (c == '$') ++end;
      while (end < s_.size() && (name_char(s_[end]) || (s_[end] == '.' && !(end + 1 < s_.size() && s_[end + 1] == '$'))))
        ++end;
    }
    t.text = s_.substr(pos_, end - pos_);
    if (t.text.empty() || t.text == "$")
      return error_at(pos_, fmt::format("unexpected character '{}'", c == '\0' ? std::string("\\0") : std::string(1, c)));
    pos_ = end;
    const bool numeric = (c >= '0' && c <= '9') || (c == '-' && t.text.size() > 1 && t.text[1] >= '0' && t.text[1] <= '9');
    t.what = numeric ? token::kind::number : token::kind::word;
    if (!numeric && pos_ + 1 < s_.size() && s_[pos_] == '.' && s_[pos_ + 1] == '$') {
      auto l = read_lens();
      if (!l) return unexpected(std::move(l).error());
      t.lens = std::move(*l);
    }
    if (pos_ < s_.size() && !space(s_[pos_]) && s_[pos_] != ')' && s_[pos_] != ']' && s_[pos_] != '(' && s_[pos_] != '[' &&
        s_[pos_] != ';')
      return error_at(pos_, fmt::format("unexpected character '{}' after '{}'", s_[pos_], t.text));
    return t;
  }
  // `.$` then `.field`, `.[n]` or `.[name]` steps, and perhaps `!`.
  expected<air::lens> read_lens() {
    const std::size_t start = pos_;
    pos_ += 2;  // ".$"
    air::lens l;
    while (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      lens_step st;
      if (pos_ < s_.size() && s_[pos_] == '[') {
        const std::size_t close = s_.find(']', pos_);
        if (close == std::string_view::npos) return error_at(pos_, "a lens index that does not close (no ])");
        const std::string_view inside = s_.substr(pos_ + 1, close - pos_ - 1);
        if (inside.empty()) return error_at(pos_, "an empty lens index []");
        if (std::all_of(inside.begin(), inside.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
          st.what = lens_step::kind::index;
          auto [p, ec] = std::from_chars(inside.data(), inside.data() + inside.size(), st.index);
          if (ec != std::errc() || p != inside.data() + inside.size())
            return error_at(pos_ + 1, fmt::format("the lens index {} is too large", inside));
        } else if (std::all_of(inside.begin(), inside.end(), name_char)) {
          st.what = lens_step::kind::variable;
          st.name = std::string(inside);
        } else {
          return error_at(pos_ + 1, fmt::format("a lens index must be a number or a scalar's name, not '{}'", inside));
        }
        pos_ = close + 1;
      } else {
        std::size_t end = pos_;
        while (end < s_.size() && name_char(s_[end])) ++end;
        if (end == pos_) return error_at(pos_, "a lens step must be .field, .[n] or .[scalar]");
        st.what = lens_step::kind::field;
        st.name = std::string(s_.substr(pos_, end - pos_));
        pos_ = end;
      }
      l.steps.push_back(std::move(st));
    }
    if (pos_ < s_.size() && s_[pos_] == '!') {
      l.bang = true;
      ++pos_;
    }
    if (l.steps.empty() && !l.bang && pos_ - start == 2) {
      // `x.$` alone is the whole value; keep it as an empty lens.
    }
    return l;
  }

  // ---- values ----
  expected<value> val(const token& t, std::string_view what) {
    value v;
    switch (t.what) {
      case token::kind::string: v.what = value::kind::string; v.text = std::string(t.text); return v;
      case token::kind::number: {
        v.what = value::kind::number;
        const char* b = t.text.data();
        const char* e = b + t.text.size();
        auto [p, ec] = std::from_chars(b, e, v.i);
        if (ec == std::errc() && p == e) return v;
        double d = 0;
        auto [p2, ec2] = std::from_chars(b, e, d);
        if (ec2 != std::errc() || p2 != e || !std::isfinite(d))
          return error_at(t.at, fmt::format("'{}' is not a number AIR can hold (an i64 or a finite f64)", t.text));
        v.is_float = true;
        v.f = d;
        return v;
      }
      case token::kind::lbracket: {
        auto close = next();
        if (!close) return unexpected(std::move(close).error());
        if (close->what != token::kind::rbracket) return error_at(close->at, fmt::format("{}: only [] is an array literal", what));
        v.what = value::kind::empty_array;
        return v;
      }
      case token::kind::word: {
        if (t.text == "true" || t.text == "false") {
          if (t.lens) return error_at(t.at, "a boolean has no lens");
          v.what = value::kind::boolean;
          v.b = t.text == "true";
          return v;
        }
        if (t.text.front() == '%') {
          if (t.text == "%init_peer_id%") {
            if (t.lens) return error_at(t.at, "%init_peer_id% has no lens");
            v.what = value::kind::init_peer_id;
            return v;
          }
          if (t.text == "%last_error%") {
            v.what = value::kind::last_error;
            v.lens = t.lens;
            return v;
          }
          return error_at(t.at, fmt::format("unknown built-in {} (%init_peer_id% and %last_error% are AIR v0.20's)", t.text));
        }
        if (auto e = check_name(t); !e) return unexpected(std::move(e).error());
        v.what = t.text.front() == '$' ? value::kind::stream : value::kind::scalar;
        v.text = std::string(t.text);
        v.lens = t.lens;
        return v;
      }
      default: break;
    }
    return error_at(t.at, fmt::format("expected {}", what));
  }
  expected<value> value_here(std::string_view what) {
    auto t = next();
    if (!t) return unexpected(std::move(t).error());
    return val(*t, what);
  }
  expected<void> check_name(const token& t) {
    static constexpr std::string_view keywords[] = {"seq", "par", "xor", "call", "null", "fold", "next",
                                                    "match", "mismatch", "ap", "new", "fail"};
    std::string_view n = t.text;
    if (n.front() == '$') n.remove_prefix(1);
    if (n.empty() || (n.front() >= '0' && n.front() <= '9') || n.front() == '-')
      return error_at(t.at, fmt::format("'{}' is not a variable name", t.text));
    if (n.find('.') != std::string_view::npos)
      return error_at(t.at, fmt::format("'{}' is not a variable name (a lens starts with .$)", t.text));
    if (t.text.front() != '$' && std::find(std::begin(keywords), std::end(keywords), n) != std::end(keywords))
      return error_at(t.at, fmt::format("'{}' is an instruction, not a variable", n));
    return {};
  }
  // A call's or an ap's output: a scalar or a stream, without a lens.
  expected<output> out_here(const token& t) {
    if (t.what != token::kind::word || t.text.front() == '%' || t.text == "true" || t.text == "false")
      return error_at(t.at, "expected an output: a scalar or a $stream");
    if (auto e = check_name(t); !e) return unexpected(std::move(e).error());
    if (t.lens) return error_at(t.at, "an output has no lens");
    output o;
    o.what = t.text.front() == '$' ? output::kind::stream : output::kind::scalar;
    o.name = std::string(t.text);
    return o;
  }
  // `peer` or `(peer service)`; `function` or `(service function)`.
  expected<std::pair<value, std::optional<value>>> part(std::string_view what) {
    auto t = next();
    if (!t) return unexpected(std::move(t).error());
    if (t->what != token::kind::lparen) {
      auto v = val(*t, what);
      if (!v) return unexpected(std::move(v).error());
      return std::pair<value, std::optional<value>>{std::move(*v), std::nullopt};
    }
    auto first = value_here(what);
    if (!first) return unexpected(std::move(first).error());
    auto second = value_here(what);
    if (!second) return unexpected(std::move(second).error());
    if (auto e = expect(token::kind::rparen, "a ) closing the pair"); !e) return unexpected(std::move(e).error());
    return std::pair<value, std::optional<value>>{std::move(*first), std::move(*second)};
  }
  expected<void> expect(token::kind k, std::string_view what) {
    auto t = next();
    if (!t) return unexpected(std::move(t).error());
    if (t->what != k) return error_at(t->at, fmt::format("expected {}", what));
    return {};
  }
  expected<std::string> name_here(std::string_view what, bool stream_ok) {
    auto t = next();
    if (!t) return unexpected(std::move(t).error());
    if (t->what != token::kind::word || t->text.front() == '%' || t->lens || (!stream_ok && t->text.front() == '$'))
      return error_at(t->at, fmt::format("expected {}", what));
    if (auto e = check_name(*t); !e) return unexpected(std::move(e).error());
    return std::string(t->text);
  }

  // ---- instructions ----
  expected<instruction_ptr> instr(std::size_t depth) {
    if (depth > limits_.max_depth)
      return error_at(pos_, fmt::format("instructions nested over {} deep", limits_.max_depth), errc::limit_exceeded);
    deepest_ = std::max(deepest_, depth);
    if (++count_ > limits_.max_instructions)
      return error_at(pos_, fmt::format("over {} instructions", limits_.max_instructions), errc::limit_exceeded);
    auto open = next();
    if (!open) return unexpected(std::move(open).error());
    if (open->what != token::kind::lparen) return error_at(open->at, "expected an instruction: (");
    auto kw = next();
    if (!kw) return unexpected(std::move(kw).error());
    if (kw->what != token::kind::word) return error_at(kw->at, "expected an instruction's name");
    auto in = std::make_unique<instruction>();
    in->at = open->at;
    const std::string_view k = kw->text;
    using K = instruction::kind;
    auto sub = [&](instruction_ptr& slot) -> expected<void> {
      auto c = instr(depth + 1);
      if (!c) return unexpected(std::move(c).error());
      slot = std::move(*c);
      return {};
    };
    expected<void> ok;
    if (k == "seq" || k == "par" || k == "xor") {
      in->what = k == "seq" ? K::seq : k == "par" ? K::par : K::xor_;
      ok = sub(in->a);
      if (ok) ok = sub(in->b);
    } else if (k == "null") {
      in->what = K::null;
    } else if (k == "call") {
      in->what = K::call;
      ok = call(*in);
    } else if (k == "fold") {
      in->what = K::fold;
      auto it = value_here("what fold iterates over: a scalar or a $stream");
      if (!it) return unexpected(std::move(it).error());
      if (it->what != value::kind::scalar && it->what != value::kind::stream)
        return error_at(in->at, "fold iterates over a scalar or a $stream");
      in->args.push_back(std::move(*it));
      auto iter = name_here("the fold's iterator (a scalar's name)", false);
      if (!iter) return unexpected(std::move(iter).error());
      if (std::find(iterators_.begin(), iterators_.end(), *iter) != iterators_.end())
        return error_at(in->at, fmt::format("the iterator '{}' is already an enclosing fold's", *iter));
      in->name = std::move(*iter);
      iterators_.push_back(in->name);
      ok = sub(in->a);
      iterators_.pop_back();
    } else if (k == "next") {
      in->what = K::next;
      auto iter = name_here("the iterator next moves", false);
      if (!iter) return unexpected(std::move(iter).error());
      if (std::find(iterators_.begin(), iterators_.end(), *iter) == iterators_.end())
        return error_at(in->at, fmt::format("next names '{}', which no enclosing fold iterates with", *iter));
      in->name = std::move(*iter);
    } else if (k == "match" || k == "mismatch") {
      in->what = k == "match" ? K::match : K::mismatch;
      for (int i = 0; i < 2 && ok; ++i) {
        auto v = value_here("a value to compare");
        if (!v) return unexpected(std::move(v).error());
        in->args.push_back(std::move(*v));
      }
      ok = sub(in->a);
    } else if (k == "ap") {
      in->what = K::ap;
      auto v = value_here("the value ap puts");
      if (!v) return unexpected(std::move(v).error());
      if (v->what == value::kind::stream)
        return error_at(in->at, "ap puts a literal, %init_peer_id%, %last_error% or a scalar, not a stream");
      in->args.push_back(std::move(*v));
      auto t = next();
      if (!t) return unexpected(std::move(t).error());
      auto o = out_here(*t);
      if (!o) return unexpected(std::move(o).error());
      in->out = std::move(*o);
    } else if (k == "new") {
      in->what = K::new_;
      auto n = name_here("what new scopes: a $stream or a scalar", true);
      if (!n) return unexpected(std::move(n).error());
      in->name = std::move(*n);
      ok = sub(in->a);
    } else if (k == "fail") {
      in->what = K::fail;
      ok = fail_args(*in);
    } else {
      return error_at(kw->at, fmt::format("unknown instruction '{}'", k));
    }
    if (!ok) return unexpected(std::move(ok).error());
    if (auto e = expect(token::kind::rparen, fmt::format("a ) closing ({}", k)); !e) return unexpected(std::move(e).error());
    in->end = pos_;
    return in;
  }

  expected<void> call(instruction& in) {
    auto peer = part("the peer: a string, a scalar or %init_peer_id%");
    if (!peer) return unexpected(std::move(peer).error());
    in.peer = std::move(peer->first);
    std::optional<value> service = std::move(peer->second);
    auto fn = part("the function: \"name\" or (\"service\" \"name\")");
    if (!fn) return unexpected(std::move(fn).error());
    if (fn->second) {
      in.service = std::move(fn->first);
      in.function = std::move(*fn->second);
    } else {
      if (!service) return error_at(in.at, "a call names a service: (call PEER (SERVICE FUNCTION) [ARGS] OUT?)");
      in.service = std::move(*service);
      in.function = std::move(fn->first);
    }
    if (auto e = expect(token::kind::lbracket, "[ opening the call's arguments"); !e) return e;
    for (;;) {
      auto t = next();
      if (!t) return unexpected(std::move(t).error());
      if (t->what == token::kind::rbracket) break;
      if (t->what == token::kind::end) return error_at(t->at, "the call's arguments do not end (no ])");
      auto v = val(*t, "an argument");
      if (!v) return unexpected(std::move(v).error());
      in.args.push_back(std::move(*v));
    }
    auto t = peek();
    if (!t) return unexpected(std::move(t).error());
    if (t->what == token::kind::rparen) return {};
    (void)next();
    auto o = out_here(*t);
    if (!o) return unexpected(std::move(o).error());
    in.out = std::move(*o);
    return {};
  }

  expected<void> fail_args(instruction& in) {
    auto first = value_here("what fail raises: CODE \"message\", a scalar, or %last_error%");
    if (!first) return unexpected(std::move(first).error());
    if (first->what == value::kind::number) {
      if (first->is_float) return error_at(in.at, "fail's code is an integer");
      auto msg = value_here("fail's message: a string");
      if (!msg) return unexpected(std::move(msg).error());
      if (msg->what != value::kind::string) return error_at(in.at, "fail's message is a string");
      in.args.push_back(std::move(*first));
      in.args.push_back(std::move(*msg));
      return {};
    }
    if (first->what == value::kind::last_error || first->what == value::kind::scalar) {
      if (first->lens) return error_at(in.at, "fail takes a scalar or %last_error% without a lens");
      in.args.push_back(std::move(*first));
      return {};
    }
    return error_at(in.at, "fail takes CODE \"message\", a scalar, or %last_error%");
  }

  std::string_view s_;
  parse_limits limits_;
  std::size_t pos_ = 0;
  std::size_t count_ = 0;
  std::size_t deepest_ = 0;
  std::vector<std::string> iterators_;
};

}  // namespace

expected<script> parse(std::string_view text, const parse_limits& limits) { return parser(text, limits).run(); }

std::string to_string(const value& v) {
  std::string out;
  switch (v.what) {
    case value::kind::string: return "\"" + v.text + "\"";
    case value::kind::number: return v.is_float ? fmt::format("{}", v.f) : std::to_string(v.i);
    case value::kind::boolean: return v.b ? "true" : "false";
    case value::kind::empty_array: return "[]";
    case value::kind::init_peer_id: return "%init_peer_id%";
    case value::kind::last_error: out = "%last_error%"; break;
    case value::kind::scalar:
    case value::kind::stream: out = v.text; break;
  }
  if (v.lens) {
    out += ".$";
    for (const lens_step& s : v.lens->steps) {
      switch (s.what) {
        case lens_step::kind::field: out += "." + s.name; break;
        case lens_step::kind::index: out += ".[" + std::to_string(s.index) + "]"; break;
        case lens_step::kind::variable: out += ".[" + s.name + "]"; break;
      }
    }
    if (v.lens->bang) out += "!";
  }
  return out;
}

}  // namespace exo::air
