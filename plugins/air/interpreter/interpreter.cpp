#include "interpreter.hpp"

#include "lens.hpp"
#include "trace.hpp"

#include <exo/core/error.hpp>

#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace exo::air {

namespace {

using K = instruction::kind;
using V = value::kind;

// ---- values ----

/// Where a value came from: AIR's security tetraplet.
struct tetraplet : local_counted<tetraplet> {
  tetraplet() = default;
  /// A call's result: its peer, service and function, no path yet.
  tetraplet(std::string_view peer, std::string_view service, std::string_view function)
      : peer_pk(peer), service_id(service), function_name(function) {}
  std::string peer_pk, service_id, function_name, json_path;
};
using tet_ptr = boost::intrusive_ptr<const tetraplet>;  // a run's, on one thread: counted without atomics
using jptr = shared_value;

/// A value with its origin and the position of the state that made it in the new trace.
struct aggregate {
  jptr value;
  tet_ptr tet;
  std::size_t trace_pos = 0;
};

std::string lens_text(const lens& l) {
  std::string out;
  for (const lens_step& s : l.steps) {
    switch (s.what) {
      case lens_step::kind::field: out += "." + s.name; break;
      case lens_step::kind::index: out += ".[" + std::to_string(s.index) + "]"; break;
      case lens_step::kind::variable: out += ".[" + s.name + "]"; break;
    }
  }
  return out;
}

tet_ptr with_lens(const tet_ptr& t, const lens& l) {
  boost::intrusive_ptr<tetraplet> out(new tetraplet(*t));
  out->json_path += lens_text(l);
  return out;
}

// ---- errors ----

/// An error while running: catchable ones (10000-10009) travel up to an xor or a par;
/// uncatchable ones end the run.
struct error_t {
  std::int64_t code = 0;
  std::string message;
  bool joinable = false;  ///< a value not there yet: the subtree waits, no error
  bool uncatchable() const { return code >= 20000; }
  bool affects_last_error() const { return code != code::match_values_not_equal && code != code::mismatch_values_equal; }
};
using maybe_error = std::optional<error_t>;
template <class T>
using result = expected<T, error_t>;

unexpected<error_t> err(std::int64_t c, std::string message, bool joinable = false) {
  return unexpected(error_t{c, std::move(message), joinable});
}
error_t e_(std::int64_t c, std::string message) { return error_t{c, std::move(message), false}; }

std::string shown(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

error_t variable_not_found(const std::string& name) {
  return error_t{code::variable_not_found, fmt::format("variable with name '{}' wasn't defined during script execution", name), true};
}

// ---- streams ----

/// A stream: generations of values, in the order every peer agrees on.
struct stream_t {
  std::vector<std::vector<aggregate>> gens;
  std::size_t values = 0, non_empty = 0;  // kept as values are added: a fold asks each batch

  static stream_t with_generations(std::size_t count) {
    stream_t s;
    s.gens.resize(count + 1);
    return s;
  }
  std::size_t generations_count() const {
    const std::size_t n = gens.size();
    return n > 0 && gens.back().empty() ? n - 1 : n;
  }
  std::size_t non_empty_generations() const { return non_empty; }
  bool all_empty() const { return values == 0; }
  /// Adds to generation `gen` (the last when none); 10008 when there is no such generation.
  result<std::uint32_t> add(aggregate v, std::optional<std::uint32_t> gen) {
    if (gens.empty()) gens.emplace_back();
    const std::size_t g = gen ? *gen : gens.size() - 1;
    if (g >= gens.size())
      return err(code::stream_dont_have_such_generation,
                 fmt::format("stream with {} generation(s) doesn't have generation with number {}, probably a supplied "
                             "to the interpreter data is corrupted",
                             gens.size(), g));
    non_empty += gens[g].empty();
    ++values;
    gens[g].push_back(std::move(v));
    return static_cast<std::uint32_t>(g);
  }
  std::size_t size() const { return values; }
};

struct stream_desc {
  std::size_t left = 0, right = std::numeric_limits<std::size_t>::max();
  bool global = true;
  std::unique_ptr<stream_t> s;
};

// ---- fold ----

/// What a fold iterates: a scalar's array, a lens's result, or one generation of a stream.
struct iterable_t {
  enum class kind : std::uint8_t { array, values, generation } what = kind::array;
  aggregate whole;             // array
  std::vector<json> items;     // values
  tet_ptr items_tet;           // values
  std::vector<aggregate> gen;  // generation
  std::size_t cursor = 0, len = 0;

  bool next() {
    if (cursor + 1 < len) {
      ++cursor;
      return true;
    }
    return false;
  }
  void prev() {
    if (cursor >= 1) --cursor;
  }
  const json& value() const {
    switch (what) {
      case kind::array: return whole.value->get()[cursor];
      case kind::values: return items[cursor];
      case kind::generation: return gen[cursor].value->get();
    }
    return items[cursor];
  }
  const tet_ptr& tet() const {
    switch (what) {
      case kind::array: return whole.tet;
      case kind::values: return items_tet;
      case kind::generation: return gen[cursor].tet;
    }
    return items_tet;
  }
  std::size_t trace_pos() const {
    switch (what) {
      case kind::array: return whole.trace_pos;
      case kind::values: return 0;
      case kind::generation: return gen[cursor].trace_pos;
    }
    return 0;
  }
  aggregate current() const {
    if (what == kind::generation) return gen[cursor];
    return aggregate{make_value(value()), tet(), trace_pos()};
  }
};

struct fold_state {
  iterable_t it;
  bool stream = false;
  std::uint32_t fold_id = 0;
  const instruction* body = nullptr;
};

struct stream_fold {
  stream_t* stream = nullptr;
  std::uint32_t fold_id = 0;
  std::uint32_t last_seen = 0;
  std::vector<iterable_t> batch;
  std::size_t index = 0;
  maybe_error failed;
  bool go_on = true;
};

// ---- display (AquaVM's, for %last_error%.instruction) ----

std::string number_text(const value& v) { return v.is_float ? fmt::format("{}", v.f) : std::to_string(v.i); }

std::string display(const value& v) {
  switch (v.what) {
    case V::string: return fmt::format("\"{}\"", v.text);
    case V::number: return number_text(v);
    case V::boolean: return v.b ? "true" : "false";
    case V::empty_array: return "[]";
    case V::init_peer_id: return "%init_peer_id%";
    case V::last_error: return v.lens ? fmt::format("%last_error%.$.{}", lens_text(*v.lens)) : std::string("%last_error%");
    case V::scalar:
    case V::stream: return v.lens ? fmt::format("{}.${}", v.text, lens_text(*v.lens)) : v.text;
  }
  return {};
}

std::string display(const instruction& in) {
  switch (in.what) {
    case K::seq: return "seq";
    case K::par: return "par";
    case K::xor_: return "xor";
    case K::null: return "null";
    case K::next: return "next";
    case K::new_: return fmt::format("new {}", in.name);
    case K::match: return fmt::format("match {} {}", display(in.args[0]), display(in.args[1]));
    case K::mismatch: return fmt::format("mismatch {} {}", display(in.args[0]), display(in.args[1]));
    case K::fold: return fmt::format("fold {} {}", display(in.args[0]), in.name);
    case K::ap: return fmt::format("ap {} {}", display(in.args[0]), in.out.name);
    case K::fail:
      if (in.args.size() == 2) return fmt::format("fail {} {}", number_text(in.args[0]), in.args[1].text);
      return fmt::format("fail {}", display(in.args[0]));
    case K::call: {
      std::string args;
      for (const value& a : in.args) {
        if (!args.empty()) args += ' ';
        args += display(a);
      }
      return fmt::format("call {} ({} {}) [{}] {}", display(in.peer), display(in.service), display(in.function), args, in.out.name);
    }
  }
  return {};
}

// ---- the machine ----

class machine {
 public:
  machine(const script& program, const run_params& params, call_results results, const interpreter_data& prev,
          const interpreter_data& current, std::uint64_t max_ticks, std::uint64_t ticks)
      : program_(program),
        params_(params),
        results_(std::move(results)),
        trace_(prev, current),
        lcid_(prev.lcid),
        max_ticks_(max_ticks),
        ticks_(ticks),
        scalars_(program.names.size()),
        iterables_(program.names.size(), nullptr) {
    literal_ = tet_ptr(new tetraplet(params.init_peer_id, "", ""));
    last_error_ = make_value(nullptr);
    for (const auto& [name, count] : prev.streams) {
      stream_desc d;
      d.s = std::make_unique<stream_t>(stream_t::with_generations(count));
      streams_[name].push_back(std::move(d));
    }
  }

  /// Runs the script: the error that ended it (catchable or not), if one did. Out of ticks
  /// when `out_of_ticks()`.
  maybe_error execute() {
    push(*program_.root);
    while (!frames_.empty()) {
      if (ticks_ + trace_.merged() > max_ticks_) {
        out_of_ticks_ = true;
        return std::nullopt;
      }
      step();
      if (fatal_) return fatal_;
    }
    return std::move(err_);
  }

  bool out_of_ticks() const { return out_of_ticks_; }
  std::uint64_t ticks() const { return ticks_ + trace_.merged(); }

  /// The data, peers and requests the run made (after a success or a catchable error).
  void outcome(interpreter_result& r) {
    interpreter_data d;
    d.trace = std::move(trace_.result());
    for (auto& [name, descs] : streams_)
      for (auto& desc : descs)
        if (desc.global) d.streams[name] = static_cast<std::uint32_t>(desc.s->generations_count());
    d.lcid = lcid_;
    d.r_streams = std::move(r_streams_);
    r.data = encode_data(d);
    r.next_peer_pks = std::move(next_peers_);
    r.call_requests = std::move(requests_);
  }
  const call_results& unused_results() const { return results_; }

 private:
  struct frame {
    const instruction* in = nullptr;
    std::uint8_t phase = 0;
    bool left_failed = false, left_complete = false;
    std::unique_ptr<fold_state> fold;
    std::unique_ptr<stream_fold> sf;
  };

  void push(const instruction& in) {
    ++ticks_;
    frames_.push_back(frame{&in});
  }

  maybe_error take() {
    maybe_error e = std::move(err_);
    err_.reset();
    return e;
  }

  /// The top frame is done, with `e` or without.
  void finish(maybe_error e) {
    const instruction* in = frames_.back().in;
    frames_.pop_back();
    if (e && e->uncatchable()) {
      fatal_ = std::move(e);
      return;
    }
    // Every instruction but call (which does it itself, naming its peer) records the error
    // it ends with, if no other has been since the last xor or successful par.
    if (e && in->what != K::call) try_set_last_error(*e, display(*in), params_.current_peer_id, nullptr);
    err_ = std::move(e);
  }

  void fatal(error_t e) { fatal_ = std::move(e); }
  void trace_fatal(const trace_error& t, const instruction& in) {
    fatal(e_(code::trace_error, fmt::format("on instruction '{}' trace handler encountered an error: {}", display(in), t.message)));
  }

  // ---- last error ----

  void try_set_last_error(const error_t& e, const std::string& instr, const std::string& peer, tet_ptr tet) {
    if (!last_error_can_set_ || !e.affects_last_error()) return;
    set_last_error(make_value(json{{"error_code", e.code}, {"instruction", instr}, {"message", e.message},
                                                    {"peer_id", peer}}),
                   std::move(tet));
  }
  void set_last_error(jptr error, tet_ptr tet) {
    last_error_ = std::move(error);
    last_error_tet_ = std::move(tet);
    last_error_can_set_ = false;
  }

  // ---- scalars ----

  // Variables by their number in the script (script::names).

  const aggregate* scalar_value(std::uint32_t var) const {
    const auto& v = scalars_[var];
    for (std::size_t i = std::min(block_ + 1, v.size()); i-- > 0;)
      if (v[i]) return &*v[i];
    return nullptr;
  }
  fold_state* iterable(std::uint32_t var) const { return iterables_[var]; }
  /// The JSON of a fold's iterator, else of a scalar; nullptr when neither is there.
  const json* variable_json(std::uint32_t var) const {
    if (fold_state* f = iterable(var)) return &f->it.value();
    if (const aggregate* a = scalar_value(var)) return &a->value->get();
    return nullptr;
  }
  result<void> set_scalar(std::uint32_t var, aggregate v) {
    auto& slots = scalars_[var];
    if (!slots.empty() && block_ == 0)
      return err(code::multiple_variables_found, fmt::format("multiple variables found for name '{}' in data", program_.names[var]));
    slots.resize(block_ + 1);
    slots[block_] = std::move(v);
    if (block_ > 0) in_folds_.push_back(var);
    return {};
  }
  void fold_block_end() {
    if (--block_ > 0) return;
    for (std::uint32_t var : in_folds_) scalars_[var].resize(std::min<std::size_t>(scalars_[var].size(), 1));
    in_folds_.clear();
  }

  // ---- streams ----

  stream_t* stream(const std::string& name, std::size_t pos) const {
    auto it = streams_.find(name);
    if (it == streams_.end()) return nullptr;
    for (auto d = it->second.rbegin(); d != it->second.rend(); ++d)
      if (d->global || (d->left < pos && pos < d->right)) return d->s.get();
    return nullptr;
  }
  result<std::uint32_t> add_to_stream(const std::string& name, std::size_t pos, aggregate v, std::optional<std::uint32_t> gen) {
    if (stream_t* s = stream(name, pos)) return s->add(std::move(v), gen);
    stream_desc d;
    d.s = std::make_unique<stream_t>();
    d.s->gens.emplace_back();
    (void)d.s->add(std::move(v), 0);
    auto& descs = streams_[name];
    descs.insert(descs.begin(), std::move(d));  // the global one is the outermost
    return 0u;
  }

  // ---- resolving values ----

  struct resolved {
    jptr value;
    std::vector<tet_ptr> tets;  // one but for a whole stream
  };

  result<jptr> lensed(const json& v, const lens& l) const {
    auto r = apply_lens(v, l, [this](const lens_step& step) { return variable_json(step.var); });
    if (!r) return err(r.error().code, r.error().message);
    if (!*r) {
      // The join: a scalar the lens uses is not there yet.
      for (const lens_step& s : l.steps)
        if (s.what == lens_step::kind::variable && !variable_json(s.var)) return unexpected(variable_not_found(s.name));
      return unexpected(variable_not_found("?"));
    }
    return make_value(std::move(**r));
  }

  result<resolved> resolve(const value& v, std::size_t pos) const {
    switch (v.what) {
      case V::string: return resolved{make_value(v.text), {literal_}};
      case V::number:
        return resolved{make_value(v.is_float ? json(v.f) : json(v.i)), {literal_}};
      case V::boolean: return resolved{make_value(v.b), {literal_}};
      case V::empty_array: return resolved{make_value(json::array()), {literal_}};
      case V::init_peer_id: return resolved{make_value(params_.init_peer_id), {literal_}};
      case V::last_error: {
        tet_ptr t = last_error_tet_ ? last_error_tet_ : literal_;
        if (!v.lens) return resolved{last_error_, {t}};
        auto r = lensed(last_error_->get(), *v.lens);
        if (!r) return unexpected(std::move(r).error());
        return resolved{std::move(*r), {t}};
      }
      case V::scalar: {
        const json* value = nullptr;
        tet_ptr tet;
        if (fold_state* f = iterable(v.var)) {
          value = &f->it.value();
          tet = f->it.tet();
          if (!v.lens) return resolved{make_value(*value), {tet}};
        } else if (const aggregate* a = scalar_value(v.var)) {
          if (!v.lens) return resolved{a->value, {a->tet}};  // shared as it is, its structure unread
          value = &a->value->get();
          tet = a->tet;
        } else {
          return unexpected(variable_not_found(v.text));
        }
        auto r = lensed(*value, *v.lens);
        if (!r) return unexpected(std::move(r).error());
        return resolved{std::move(*r), {with_lens(tet, *v.lens)}};
      }
      case V::stream: {
        const stream_t* s = stream(v.text, pos);
        if (!v.lens) {
          json all = json::array();
          std::vector<tet_ptr> tets;
          if (s) ticks_ += s->size();  // each value copied costs a tick
          if (s)
            for (const auto& g : s->gens)
              for (const aggregate& a : g) {
                all.push_back(a.value->get());
                tets.push_back(a.tet);
              }
          return resolved{make_value(std::move(all)), std::move(tets)};
        }
        if (!s || v.lens->steps.empty()) return err(code::lambda_applier_error, "lambda is applied to an empty stream", true);
        const lens_step& first = v.lens->steps.front();
        std::uint64_t idx = 0;
        if (first.what == lens_step::kind::field)
          return err(code::lambda_applier_error,
                     fmt::format("field accessor (with field name = '{}') can't be applied to a stream", first.name));
        if (first.what == lens_step::kind::index) {
          idx = first.index;
        } else {
          const json* by = variable_json(first.var);
          if (!by) return unexpected(variable_not_found(first.name));
          if (!by->is_number_unsigned() && !(by->is_number_integer() && by->get<std::int64_t>() >= 0))
            return err(code::lambda_applier_error, fmt::format("stream accessor `{}` should has number (u32) type", shown(*by)));
          idx = by->get<std::uint64_t>();
        }
        const std::size_t size = s->size();
        if (idx >= size)
          return err(code::lambda_applier_error,
                     fmt::format("lambda is applied to a stream that have only '{}' elements, but '{}' requested", size, idx), true);
        const aggregate* at = nullptr;
        std::uint64_t k = idx;
        ticks_ += s->gens.size();  // each generation passed costs a tick
        for (const auto& g : s->gens) {
          if (k < g.size()) {
            at = &g[k];
            break;
          }
          k -= g.size();
        }
        lens rest;
        rest.steps.assign(v.lens->steps.begin() + 1, v.lens->steps.end());
        auto r = lensed(at->value->get(), rest);
        if (!r) return unexpected(std::move(r).error());
        return resolved{std::move(*r), {with_lens(at->tet, *v.lens)}};
      }
    }
    return err(code::incompatible_jvalue_type, "an unknown kind of value");
  }

  /// A call's peer, service or function: a string, viewed where it is (the script, the run's
  /// parameters, a value the run holds) or, when it had to be made, kept in `made`.
  result<void> resolve_string(const value& v, std::size_t pos, std::string_view& out, std::string& made) const {
    if (v.what == V::string) {
      out = v.text;
      return {};
    }
    if (v.what == V::init_peer_id) {
      out = params_.init_peer_id;
      return {};
    }
    if (v.what == V::scalar && !v.lens) {  // the common case, read in place
      const json* j = variable_json(v.var);
      if (j && j->is_string()) {
        out = j->get_ref<const std::string&>();
        return {};
      }
    }
    auto r = resolve(v, pos);
    if (!r) return unexpected(std::move(r).error());
    if (!r->value->get().is_string())
      return err(code::incompatible_jvalue_type, fmt::format("expected JValue type 'string' for the variable `{}`, but got '{}'",
                                                             v.what == V::scalar || v.what == V::stream ? v.text : display(v),
                                                             shown(r->value->get())));
    made = r->value->get().get_ref<const std::string&>();
    out = made;
    return {};
  }

  // ---- the instructions ----

  void step() {
    frame& f = frames_.back();
    const instruction& in = *f.in;
    switch (in.what) {
      case K::seq:
        if (f.phase == 0) {
          complete_ = true;
          f.phase = 1;
          return push(*in.a);
        }
        if (f.phase == 1) {
          if (err_) return finish(take());
          if (!complete_) return finish(std::nullopt);
          f.phase = 2;
          return push(*in.b);
        }
        return finish(take());
      case K::par: return par(f, in);
      case K::xor_:
        if (f.phase == 0) {
          complete_ = true;
          f.phase = 1;
          return push(*in.a);
        }
        if (f.phase == 1) {
          if (!err_) return finish(std::nullopt);
          err_.reset();
          complete_ = true;
          last_error_can_set_ = true;
          f.phase = 2;
          return push(*in.b);
        }
        return finish(take());
      case K::null: return finish(std::nullopt);
      case K::match:
      case K::mismatch: {
        if (f.phase == 1) return finish(take());
        auto l = resolve(in.args[0], in.at);
        if (!l) return finish(joined(std::move(l).error()));
        auto r = resolve(in.args[1], in.at);
        if (!r) return finish(joined(std::move(r).error()));
        const bool equal = same_value(*l->value, *r->value);
        if (in.what == K::match && !equal) return finish(e_(code::match_values_not_equal, "match is used without corresponding xor"));
        if (in.what == K::mismatch && equal)
          return finish(e_(code::mismatch_values_equal, "mismatch is used without corresponding xor"));
        f.phase = 1;
        return push(*in.a);
      }
      case K::new_: {
        const bool is_stream = !in.name.empty() && in.name[0] == '$';
        if (f.phase == 0) {
          if (is_stream) {
            stream_desc d;
            d.global = false;
            d.left = in.at;
            d.right = in.end;
            d.s = std::make_unique<stream_t>(stream_t::with_generations(0));
            streams_[in.name].push_back(std::move(d));
          }
          f.phase = 1;
          return push(*in.a);
        }
        if (is_stream) {
          auto it = streams_.find(in.name);
          auto& descs = it->second;
          const auto gens = static_cast<std::uint32_t>(descs.back().s->generations_count());
          descs.pop_back();
          if (descs.empty()) streams_.erase(it);
          r_streams_[in.name][static_cast<std::uint32_t>(in.at)].push_back(gens);
        }
        return finish(take());
      }
      case K::fold:
        if (in.args[0].what == V::stream) return fold_stream(f, in);
        return fold_scalar(f, in);
      case K::next: return next(f, in);
      case K::call: return finish(call(in));
      case K::ap: return finish(ap(in));
      case K::fail: return finish(fail(in));
    }
  }

  /// A joinable error is no error: the subtree waits.
  maybe_error joined(error_t e) {
    if (e.joinable) {
      complete_ = false;
      return std::nullopt;
    }
    return e;
  }

  void par(frame& f, const instruction& in) {
    auto starts = [&](const instruction& branch) { complete_ = branch.what != K::next; };
    if (f.phase == 0) {
      if (auto t = trace_.meet_par_start(); !t) return trace_fatal(t.error(), in);
      starts(*in.a);
      f.phase = 1;
      return push(*in.a);
    }
    if (f.phase == 1) {
      if (take()) {
        complete_ = false;
        f.left_failed = true;
      }
      if (auto t = trace_.meet_par_subtree_end(true); !t) return trace_fatal(t.error(), in);
      f.left_complete = complete_;
      starts(*in.b);
      f.phase = 2;
      return push(*in.b);
    }
    maybe_error right = take();
    if (right) complete_ = false;
    if (auto t = trace_.meet_par_subtree_end(false); !t) return trace_fatal(t.error(), in);
    complete_ = f.left_complete || complete_;
    if (!f.left_failed || !right) {
      last_error_can_set_ = true;
      return finish(std::nullopt);
    }
    return finish(std::move(right));
  }

  void fold_scalar(frame& f, const instruction& in) {
    if (f.phase == 1) {
      iterables_[in.var] = nullptr;
      fold_block_end();
      return finish(take());
    }
    const value& what = in.args[0];
    iterable_t it;
    const json* value = nullptr;
    aggregate whole;
    if (fold_state* s = iterable(what.var)) {
      whole = s->it.current();
    } else if (const aggregate* a = scalar_value(what.var)) {
      whole = *a;
    } else {
      return finish(joined(variable_not_found(what.text)));
    }
    if (!what.lens) {
      value = &whole.value->get();
      if (!value->is_array())
        return finish(e_(code::incompatible_jvalue_type, fmt::format("expected JValue type 'array' for the variable `{}`, but got '{}'",
                                                                     what.text, shown(*value))));
      if (value->empty()) return finish(std::nullopt);
      it.what = iterable_t::kind::array;
      it.len = value->size();
      it.whole = std::move(whole);
    } else {
      auto r = lensed(whole.value->get(), *what.lens);
      if (!r) return finish(joined(std::move(r).error()));
      if (!(*r)->get().is_array())
        return finish(e_(code::fold_iterates_over_non_array, fmt::format("lambda '{}' returned non-array value '{}' for fold instruction",
                                                                         lens_text(*what.lens), shown((*r)->get()))));
      if ((*r)->get().empty()) return finish(std::nullopt);
      it.what = iterable_t::kind::values;
      it.items = (*r)->get().get<std::vector<json>>();
      ticks_ += it.items.size();
      it.len = it.items.size();
      it.items_tet = with_lens(whole.tet, *what.lens);
    }
    f.fold = std::make_unique<fold_state>(fold_state{std::move(it), false, 0, in.a.get()});
    if (!begin_fold(in, f.fold.get())) return;
    f.phase = 1;
    push(*in.a);
  }

  bool begin_fold(const instruction& in, fold_state* s) {
    ++block_;
    fold_state*& slot = iterables_[in.var];
    if (slot) {
      fatal(e_(code::multiple_iterable_values, fmt::format("multiple iterable values found for iterable name '{}'", in.name)));
      return false;
    }
    slot = s;
    return true;
  }

  /// The generations of `s` not yet iterated, one iterable each.
  std::vector<iterable_t> batch(stream_t& s, std::uint32_t& last_seen) {
    std::vector<iterable_t> out;
    if (!s.gens.empty() && !s.all_empty()) {
      const std::size_t end = s.generations_count() - 1;
      for (std::size_t g = last_seen; g <= end && g < s.gens.size(); ++g) {
        if (s.gens[g].empty()) continue;
        iterable_t it;
        it.what = iterable_t::kind::generation;
        it.gen = s.gens[g];
        it.len = it.gen.size();
        ticks_ += it.len;
        out.push_back(std::move(it));
      }
    }
    last_seen = static_cast<std::uint32_t>(s.non_empty_generations());
    return out;
  }

  void fold_stream(frame& f, const instruction& in) {
    // phase 0: start; 1: an iteration's body ended.
    if (f.phase == 0) {
      const std::uint32_t fold_id = ++stream_folds_;
      stream_t* s = stream(in.args[0].text, in.at);
      if (!s) return finish(std::nullopt);  // a stream nobody wrote is empty
      if (auto t = trace_.meet_fold_start(fold_id); !t) return trace_fatal(t.error(), in);
      f.sf = std::make_unique<stream_fold>();
      f.sf->stream = s;
      f.sf->fold_id = fold_id;
      f.sf->batch = batch(*s, f.sf->last_seen);
      f.phase = 1;
      if (f.sf->batch.empty()) return end_fold(f, in);
      // Values written to the stream while it is folded go to a generation of their own.
      if (s->gens.empty() || !s->gens.back().empty()) s->gens.emplace_back();
      return next_iteration(f, in);
    }
    // An iteration's body is done.
    iterables_[in.var] = nullptr;
    fold_block_end();
    stream_fold& sf = *f.sf;
    maybe_error e = take();
    if (auto t = trace_.meet_generation_end(sf.fold_id); !t) return trace_fatal(t.error(), in);
    if (e) {
      sf.failed = std::move(e);
      return end_batch(f, in);
    }
    if (!complete_) {
      sf.go_on = false;
      return end_batch(f, in);
    }
    ++sf.index;
    return next_iteration(f, in);
  }

  void next_iteration(frame& f, const instruction& in) {
    stream_fold& sf = *f.sf;
    while (sf.index < sf.batch.size() && sf.batch[sf.index].len == 0) ++sf.index;
    if (sf.index >= sf.batch.size()) {
      sf.go_on = complete_;
      return end_batch(f, in);
    }
    iterable_t& it = sf.batch[sf.index];
    if (auto t = trace_.meet_iteration_start(sf.fold_id, it.trace_pos()); !t) return trace_fatal(t.error(), in);
    f.fold = std::make_unique<fold_state>(fold_state{std::move(it), true, sf.fold_id, in.a.get()});
    if (!begin_fold(in, f.fold.get())) return;
    push(*in.a);
  }

  void end_batch(frame& f, const instruction& in) {
    stream_fold& sf = *f.sf;
    stream_t& s = *sf.stream;
    if (!s.gens.empty() && s.gens.back().empty()) s.gens.pop_back();
    if (sf.failed || !sf.go_on) return end_fold(f, in);
    sf.batch = batch(s, sf.last_seen);
    sf.index = 0;
    if (sf.batch.empty()) return end_fold(f, in);
    if (s.gens.empty() || !s.gens.back().empty()) s.gens.emplace_back();
    return next_iteration(f, in);
  }

  void end_fold(frame& f, const instruction& in) {
    if (auto t = trace_.meet_fold_end(f.sf->fold_id); !t) return trace_fatal(t.error(), in);
    return finish(std::move(f.sf->failed));
  }

  void next(frame& f, const instruction& in) {
    fold_state* s = iterable(in.var);
    if (!s) return fatal(e_(code::fold_state_not_found, fmt::format("fold state not found for this iterable '{}'", in.name)));
    if (f.phase == 1) {
      if (err_) return finish(take());
      s->it.prev();
      if (s->stream)
        if (auto t = trace_.meet_back_iterator(s->fold_id); !t) return trace_fatal(t.error(), in);
      return finish(std::nullopt);
    }
    if (s->stream)
      if (auto t = trace_.meet_iteration_end(s->fold_id); !t) return trace_fatal(t.error(), in);
    if (!s->it.next()) {
      if (s->stream)
        if (auto t = trace_.meet_back_iterator(s->fold_id); !t) return trace_fatal(t.error(), in);
      return finish(std::nullopt);
    }
    if (s->stream)
      if (auto t = trace_.meet_iteration_start(s->fold_id, s->it.trace_pos()); !t) return trace_fatal(t.error(), in);
    f.phase = 1;
    push(*s->body);
  }

  // ---- call ----

  maybe_error call_failed(const instruction& in, error_t e, const tet_ptr& tet) {
    if (!e.uncatchable())
      try_set_last_error(e, display(in), tet ? tet->peer_pk : params_.current_peer_id, tet);
    return e;
  }

  maybe_error call(const instruction& in) {
    // The triplet: a value not there yet is the join.
    // Viewed where they are (alive through this call: a scalar is replaced only after its
    // tetraplet is made); made into a tetraplet (tet()) only when a value or an error keeps it.
    std::string_view triplet[3];
    std::string made[3];
    const value* sources[3] = {&in.peer, &in.service, &in.function};
    for (int i = 0; i < 3; ++i)
      if (auto r = resolve_string(*sources[i], in.at, triplet[i], made[i]); !r) {
        if (r.error().joinable) return joined(std::move(r).error());
        return call_failed(in, std::move(r).error(), nullptr);
      }
    tet_ptr shared;
    auto tet = [&]() -> const tet_ptr& {
      if (!shared) shared = tet_ptr(new tetraplet(triplet[0], triplet[1], triplet[2]));
      return shared;
    };
    const std::string_view peer = triplet[0];
    if (in.out.what == output::kind::scalar) {
      if (iterable(in.out.var))
        return e_(code::iterable_shadowing,
                  fmt::format("variable with name '{}' can't be shadowed, shadowing isn't supported for iterables", in.out.name));
      if (scalar_value(in.out.var) && block_ == 0)
        return e_(code::multiple_variables_found, fmt::format("multiple variables found for name '{}' in data", in.out.name));
    }
    // Arguments are checked before the state is touched (so that the outcome does not depend
    // on what the data holds); a value not there yet is fine here.
    for (const value& a : in.args) {
      if (!a.lens) continue;  // without a lens a value is there or not yet: nothing to fail
      auto r = resolve(a, in.at);
      if (!r && !r.error().joinable) return call_failed(in, std::move(r).error(), tet());
    }
    auto m = trace_.meet_call_start(in.out.what == output::kind::stream ? std::string_view(in.out.name) : std::string_view());
    if (!m) {
      trace_fatal(m.error(), in);
      return fatal_;
    }
    std::optional<call_state> prev;
    if (m->state) {
      const call_state& st = *m->state;
      switch (st.what) {
        case call_state::kind::failed: {
          complete_ = false;
          error_t e = local_service_error(st.ret_code, st.text);
          trace_.meet_call_end(st);
          return call_failed(in, std::move(e), tet());
        }
        case call_state::kind::sent_by: {
          const auto colon = st.text.find(": ");
          if (colon != std::string::npos && std::string_view(st.text).substr(0, colon) == params_.current_peer_id) {
            const auto id = static_cast<std::uint32_t>(std::stoul(st.text.substr(colon + 2)));
            auto found = results_.find(id);
            if (found == results_.end()) {
              complete_ = false;
              trace_.meet_call_end(st);
              return std::nullopt;
            }
            call_result res = std::move(found->second);
            results_.erase(found);
            return service_result(in, tet(), std::move(res));
          }
          if (peer != params_.current_peer_id) {
            complete_ = false;
            trace_.meet_call_end(st);
            return std::nullopt;
          }
          prev = st;  // sent to this peer by another: run it here now
          break;
        }
        case call_state::kind::scalar:
        case call_state::kind::stream: {
          if (in.out.what == output::kind::scalar && st.what == call_state::kind::scalar) {
            if (auto r = set_scalar(in.out.var, aggregate{st.value, tet(), m->trace_pos}); !r)
              return call_failed(in, std::move(r).error(), tet());
          } else if (in.out.what == output::kind::stream && st.what == call_state::kind::stream) {
            if (auto r = add_to_stream(in.out.name, in.at, aggregate{st.value, tet(), m->trace_pos}, st.generation); !r)
              return call_failed(in, std::move(r).error(), tet());
          }
          trace_.meet_call_end(st);
          return std::nullopt;
        }
      }
    }
    if (peer != params_.current_peer_id) {
      if (std::find(next_peers_.begin(), next_peers_.end(), peer) == next_peers_.end()) next_peers_.emplace_back(peer);
      complete_ = false;
      call_state sent;
      sent.what = call_state::kind::sent_by;
      sent.text = params_.current_peer_id;
      trace_.meet_call_end(std::move(sent));
      return std::nullopt;
    }
    // A local call: a request for the host.
    std::string args_text = "[";  // the arguments' canonical texts: nlohmann's dump of the array
    std::string tets = "[";
    for (const value& a : in.args) {
      auto r = resolve(a, in.at);
      if (!r) {
        if (!r.error().joinable) return call_failed(in, std::move(r).error(), tet());
        if (prev) trace_.meet_call_end(std::move(*prev));
        complete_ = false;
        return std::nullopt;
      }
      if (args_text.size() > 1) args_text += ',';
      args_text += r->value->text();
      tets += tets.size() == 1 ? "[" : ",[";
      for (std::size_t i = 0; i < r->tets.size(); ++i) {
        const tetraplet& t = *r->tets[i];
        tets += i ? ",{\"peer_pk\":" : "{\"peer_pk\":";
        write_json_string(tets, t.peer_pk);
        tets += ",\"service_id\":";
        write_json_string(tets, t.service_id);
        tets += ",\"function_name\":";
        write_json_string(tets, t.function_name);
        tets += ",\"json_path\":";
        write_json_string(tets, t.json_path);
        tets += '}';
      }
      tets += "]";
    }
    tets += "]";
    const std::uint32_t id = ++lcid_;
    args_text += ']';
    ticks_ += args_text.size() + tets.size();  // each byte of a request costs a tick
    requests_.emplace(id, call_request{std::string(triplet[1]), std::string(triplet[2]), std::move(args_text), std::move(tets)});
    complete_ = false;
    call_state sent;
    sent.what = call_state::kind::sent_by;
    sent.text = params_.current_peer_id + ": " + std::to_string(id);
    trace_.meet_call_end(std::move(sent));
    return std::nullopt;
  }

  static error_t local_service_error(std::int32_t ret_code, const std::string& message) {
    return e_(code::local_service_error, fmt::format("Local service error, ret_code is {}, error message is '{}'", ret_code, message));
  }

  maybe_error service_result(const instruction& in, const tet_ptr& tet, call_result res) {
    call_state st;
    if (res.ret_code != 0) {
      st.what = call_state::kind::failed;
      st.ret_code = res.ret_code;
      st.text = res.result;
      trace_.meet_call_end(std::move(st));
      return call_failed(in, local_service_error(res.ret_code, res.result), tet);
    }
    auto parsed = parse_shared_value(res.result);
    if (!parsed) {
      const std::string msg = fmt::format("call_service result '{}' can't be serialized or deserialized with an error: {}",
                                          res.result, parsed.error().message);
      st.what = call_state::kind::failed;
      st.ret_code = std::numeric_limits<std::int32_t>::max();
      st.text = msg;
      trace_.meet_call_end(std::move(st));
      return call_failed(in, local_service_error(std::numeric_limits<std::int32_t>::max(), msg), tet);
    }
    aggregate v{std::move(*parsed), tet, trace_.trace_pos()};
    st.value = v.value;
    if (in.out.what == output::kind::stream) {
      std::optional<std::uint32_t> gen;
      if (stream_t* s = stream(in.out.name, in.at)) {
        const std::size_t n = s->generations_count();
        gen = static_cast<std::uint32_t>(n == 0 ? 0 : n - 1);
      }
      auto g = add_to_stream(in.out.name, in.at, std::move(v), gen);
      if (!g) return call_failed(in, std::move(g).error(), tet);
      st.what = call_state::kind::stream;
      st.generation = *g;
    } else {
      if (in.out.what == output::kind::scalar)
        if (auto r = set_scalar(in.out.var, std::move(v)); !r) return call_failed(in, std::move(r).error(), tet);
      st.what = call_state::kind::scalar;
    }
    trace_.meet_call_end(std::move(st));
    return std::nullopt;
  }

  // ---- ap, fail ----

  maybe_error ap(const instruction& in) {
    const value& arg = in.args[0];
    const bool to_stream = in.out.what == output::kind::stream;
    aggregate v;
    if (arg.what == V::scalar && !arg.lens) {
      if (fold_state* s = iterable(arg.var)) v = s->it.current();
      else if (const aggregate* a = scalar_value(arg.var)) v = *a;
      else return variable_not_found(arg.text);  // ap does not wait: not there is an error
      if (to_stream) v.trace_pos = trace_.trace_pos();
    } else {
      auto r = resolve(arg, in.at);
      if (!r) {
        error_t e = std::move(r).error();
        e.joinable = false;
        return e;
      }
      v = aggregate{std::move(r->value), r->tets.empty() ? literal_ : r->tets[0], trace_.trace_pos()};
    }
    if (!to_stream) {
      if (auto r = set_scalar(in.out.var, std::move(v)); !r) return std::move(r).error();
      return std::nullopt;
    }
    auto m = trace_.meet_ap_start();
    if (!m) {
      trace_fatal(m.error(), in);
      return fatal_;
    }
    if (!m->empty && !m->generation)
      return e_(code::ap_result_not_correspond_to_instr, "ap result with no generation doesn't match with corresponding instruction");
    auto g = add_to_stream(in.out.name, in.at, std::move(v), m->empty ? std::nullopt : m->generation);
    if (!g) return std::move(g).error();
    ap_state st;
    if (!m->empty) {
      st.gens = {*m->generation};
    } else {
      const stream_t* s = stream(in.out.name, in.at);
      const std::size_t n = s ? s->generations_count() : 0;
      st.gens = {static_cast<std::uint32_t>(n == 0 ? 0 : n - 1)};
    }
    trace_.meet_ap_end(std::move(st));
    return std::nullopt;
  }

  maybe_error fail(const instruction& in) {
    jptr error;
    tet_ptr tet;
    if (in.args.size() == 2) {
      error = make_value(json{{"error_code", in.args[0].i}, {"instruction", display(in)},
                                                {"message", in.args[1].text}, {"peer_id", params_.init_peer_id}});
      tet = literal_;
    } else if (in.args[0].what == V::last_error) {
      error = last_error_;
      tet = last_error_tet_;
    } else {
      auto r = resolve(in.args[0], in.at);
      if (!r) {
        error_t e = std::move(r).error();
        e.joinable = false;
        return e;
      }
      const json& o = r->value->get();
      auto bad = [&](std::string what) { return e_(code::invalid_last_error_object, std::move(what)); };
      if (!o.is_object())
        return bad(fmt::format("scalar should have an object type to be converted into error object, but '{}' doesn't have", shown(o)));
      auto c = o.find("error_code");
      if (c == o.end()) return bad(fmt::format("scalar '{}' must have field with name 'error_code'", shown(o)));
      if (!c->is_number_integer()) return bad(fmt::format("error_code of scalar '{}' must have integer type", shown(o)));
      auto m = o.find("message");
      if (m == o.end()) return bad(fmt::format("scalar '{}' must have field with name 'message'", shown(o)));
      if (!m->is_string()) return bad(fmt::format("message of scalar '{}' must have string type", shown(o)));
      error = std::move(r->value);
      tet = r->tets.empty() ? literal_ : r->tets[0];
    }
    set_last_error(error, std::move(tet));
    complete_ = false;
    return e_(code::user_error, fmt::format("fail with '{}' is used without corresponding xor", error->text()));
  }

  const script& program_;
  const run_params& params_;
  call_results results_;
  trace_handler trace_;
  std::uint32_t lcid_ = 0;
  std::uint64_t max_ticks_ = 0;
  mutable std::uint64_t ticks_ = 0;  // resolving values charges the copies it makes
  bool out_of_ticks_ = false;

  std::vector<frame> frames_;
  maybe_error err_, fatal_;
  bool complete_ = true;

  tet_ptr literal_;
  jptr last_error_;
  tet_ptr last_error_tet_;
  bool last_error_can_set_ = true;

  // The script's variables, by their number (script::names).
  std::vector<std::vector<std::optional<aggregate>>> scalars_;  // each by fold depth (block_)
  std::vector<std::uint32_t> in_folds_;                          // scalars set inside a fold since block 0
  std::vector<fold_state*> iterables_;                           // null: none
  std::size_t block_ = 0;
  std::unordered_map<std::string, std::vector<stream_desc>> streams_;
  std::map<std::string, std::map<std::uint32_t, std::vector<std::uint32_t>>> r_streams_;
  std::uint32_t stream_folds_ = 0;

  std::vector<std::string> next_peers_;
  std::map<std::uint32_t, call_request> requests_;
};

// Scripts parsed lately in this process, by their exact text: a node runs the same script for
// many particles, and a parsed script is immutable (shared, read only). Only successful parses
// are kept. A plain static with a lock, not a thread_local: this code also lives in a plugin
// that may be unloaded while threads run.
expected<std::shared_ptr<const script>> parse_cached(std::string_view air, const parse_limits& limits) {
  struct entry {
    std::string text;
    parse_limits limits;
    std::shared_ptr<const script> parsed;
  };
  static std::mutex lock;
  static std::vector<entry> cache;  // newest last
  constexpr std::size_t capacity = 32;
  {
    // Found by comparing texts of the same size (memcmp stops at the first difference): cheaper
    // than hashing a whole script on every run.
    std::lock_guard guard(lock);
    for (std::size_t i = cache.size(); i-- > 0;) {
      entry& e = cache[i];
      if (e.text == air && e.limits.max_size == limits.max_size && e.limits.max_depth == limits.max_depth &&
          e.limits.max_instructions == limits.max_instructions) {
        auto found = e.parsed;
        if (i + 1 != cache.size())
          std::rotate(cache.begin() + static_cast<std::ptrdiff_t>(i), cache.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                      cache.end());
        return found;
      }
    }
  }
  auto parsed = parse(air, limits);  // outside the lock: parsing is the slow part
  if (!parsed) return unexpected(std::move(parsed).error());
  auto shared = std::make_shared<const script>(std::move(*parsed));
  std::lock_guard guard(lock);
  if (cache.size() >= capacity) cache.erase(cache.begin());
  cache.push_back(entry{std::string(air), limits, shared});
  return shared;
}

interpreter_result failed_with(std::int64_t c, std::string message, byte_view prev_data, std::uint64_t ticks) {
  interpreter_result r;
  r.ret_code = c;
  r.error_message = std::move(message);
  r.data.assign(prev_data.begin(), prev_data.end());
  r.ticks = ticks;
  return r;
}

}  // namespace

expected<interpreter_result> run(std::string_view air, byte_view prev_data, byte_view data, const run_params& params,
                                 byte_view call_results_bytes, const run_limits& limits) {
  // Every byte of input costs a tick, before any is read.
  const std::uint64_t input = air.size() + prev_data.size() + data.size() + call_results_bytes.size();
  auto out_of_ticks = [&](std::uint64_t used) {
    return fail(errc::out_of_ticks, fmt::format("out of ticks: the particle needed over its budget of {} ticks ({} used)",
                                                limits.max_ticks, used));
  };
  if (input > limits.max_ticks) return out_of_ticks(input);
  value_arena arena;  // first made, last gone: everything the run makes is gone before it
  value_pool values;  // the values both data hold are built once
  auto prev = decode_data(prev_data, limits.data, &values);
  if (!prev) return failed_with(code::data_de_failed, prev.error().message, prev_data, input);
  auto current = decode_data(data, limits.data, &values, &*prev);
  if (!current) return failed_with(code::data_de_failed, current.error().message, prev_data, input);
  auto script = parse_cached(air, limits.parse);
  if (!script) return failed_with(code::air_parse_error, script.error().message, prev_data, input);
  auto results = decode_call_results(call_results_bytes, limits.data);
  if (!results) return failed_with(code::call_results_de_failed, results.error().message, prev_data, input);

  machine m(**script, params, std::move(*results), *prev, *current, limits.max_ticks, input);
  maybe_error e = m.execute();
  if (m.out_of_ticks()) return out_of_ticks(m.ticks());
  if (e && e->uncatchable()) return failed_with(e->code, e->message, prev_data, m.ticks());
  interpreter_result r;
  r.ticks = m.ticks();
  if (e) {
    r.ret_code = e->code;
    r.error_message = e->message;
  } else if (!m.unused_results().empty()) {
    r.ret_code = code::call_results_not_empty;
    r.error_message = fmt::format("after finishing execution of supplied AIR, call results aren't empty: `{}`, probably wrong call_id used",
                                  [&] {
                                    const bytes b = encode_call_results(m.unused_results());
                                    return std::string(b.begin(), b.end());
                                  }());
  }
  m.outcome(r);
  return r;
}

json call_requests_json(const std::map<std::uint32_t, call_request>& requests) {
  json j = json::object();
  for (const auto& [id, r] : requests)
    j[std::to_string(id)] = {{"service_id", r.service_id}, {"function_name", r.function_name}, {"arguments", r.arguments},
                             {"tetraplets", r.tetraplets}};
  return j;
}

json to_json(const interpreter_result& r) {
  return json{{"ret_code", r.ret_code},
              {"error_message", r.error_message},
              {"data", std::string(r.data.begin(), r.data.end())},
              {"next_peer_pks", r.next_peer_pks},
              {"call_requests", call_requests_json(r.call_requests)}};
}

expected<interpreter_result> interpreter_result_from_json(const json& j) {
  auto bad = [](std::string what) { return fail(errc::malformed, "an interpreter result: " + std::move(what)); };
  if (!j.is_object()) return bad("expected an object");
  interpreter_result r;
  auto rc = j.find("ret_code");
  if (rc == j.end() || !rc->is_number_integer()) return bad("ret_code: expected an integer");
  r.ret_code = rc->get<std::int64_t>();
  auto em = j.find("error_message");
  if (em == j.end() || !em->is_string()) return bad("error_message: expected a string");
  r.error_message = em->get<std::string>();
  auto d = j.find("data");
  if (d == j.end() || !d->is_string()) return bad("data: expected the trace's JSON text");
  const std::string& text = d->get_ref<const std::string&>();
  r.data.assign(text.begin(), text.end());
  auto np = j.find("next_peer_pks");
  if (np == j.end() || !np->is_array()) return bad("next_peer_pks: expected an array");
  for (const json& p : *np) {
    if (!p.is_string()) return bad("next_peer_pks: expected strings");
    r.next_peer_pks.push_back(p.get<std::string>());
  }
  auto cr = j.find("call_requests");
  if (cr == j.end() || !cr->is_object()) return bad("call_requests: expected an object");
  for (auto it = cr->begin(); it != cr->end(); ++it) {
    std::uint32_t id = 0;
    auto [end, ec] = std::from_chars(it.key().data(), it.key().data() + it.key().size(), id);
    if (ec != std::errc() || end != it.key().data() + it.key().size() || it.key().empty())
      return bad("call_requests: '" + it.key() + "' is not a request id");
    const json& v = it.value();
    call_request q;
    for (auto [name, slot] : {std::pair{"service_id", &q.service_id}, std::pair{"function_name", &q.function_name},
                              std::pair{"arguments", &q.arguments}, std::pair{"tetraplets", &q.tetraplets}}) {
      auto f = v.is_object() ? v.find(name) : v.end();
      if (!v.is_object() || f == v.end() || !f->is_string()) return bad(fmt::format("call_requests.{}.{}: expected a string", it.key(), name));
      *slot = f->get<std::string>();
    }
    r.call_requests.emplace(id, std::move(q));
  }
  return r;
}

}  // namespace exo::air
