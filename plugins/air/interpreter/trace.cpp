#include "trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace exo::air {

namespace {

unexpected<trace_error> bad(std::string message) { return unexpected(trace_error{std::move(message)}); }

std::string describe(const call_state& c) {
  switch (c.what) {
    case call_state::kind::scalar: return fmt::format("executed scalar {}", (c.value ? c.value->text() : std::string_view("null")));
    case call_state::kind::stream: return fmt::format("executed stream {} (generation {})", (c.value ? c.value->text() : std::string_view("null")), c.generation);
    case call_state::kind::sent_by: return fmt::format("sent by '{}'", c.text);
    case call_state::kind::failed: return fmt::format("failed ({}, {})", c.ret_code, c.text);
  }
  return "?";
}

std::string describe(const executed_state* s) {
  if (!s) return "none";
  if (const auto* c = std::get_if<call_state>(s)) return "call " + describe(*c);
  if (const auto* p = std::get_if<par_state>(s)) return fmt::format("par({}, {})", p->left, p->right);
  if (const auto* a = std::get_if<ap_state>(s)) return fmt::format("ap with {} generation(s)", a->gens.size());
  return fmt::format("fold with {} lore(s)", std::get<fold_state>(*s).lore.size());
}

unexpected<trace_error> incompatible(const executed_state* prev, const executed_state* current, std::string_view expected) {
  return bad(fmt::format("the previous state ({}) and the current one ({}) are incompatible where a {} was expected",
                         describe(prev), describe(current), expected));
}

}  // namespace

std::string_view state_name(const executed_state& s) {
  if (std::holds_alternative<call_state>(s)) return "call";
  if (std::holds_alternative<par_state>(s)) return "par";
  if (std::holds_alternative<ap_state>(s)) return "ap";
  return "fold";
}

// ---- slider ----

trace_result<void> trace_slider::set_position_and_len(std::size_t pos, std::size_t len) {
  // An empty subtrace may stand anywhere.
  if (len != 0 && (pos > trace_->size() || len > trace_->size() - pos))
    return bad(fmt::format("a subtrace of {} state(s) at {} does not fit in a trace of {}", len, pos, trace_->size()));
  pos_ = pos;
  len_ = len;
  seen_ = 0;
  return {};
}

trace_result<void> trace_slider::set_subtrace_len(std::size_t len) {
  const std::size_t left = trace_->size() - std::min(pos_, trace_->size());
  if (left < len)
    return bad(fmt::format("a subtrace of {} state(s) at {} does not fit in a trace of {}", len, pos_, trace_->size()));
  seen_ = 0;
  len_ = len;
  return {};
}

trace_result<std::uint32_t> merge_side::generation_at(std::uint32_t pos) const {
  const executed_state* s = slider.at(pos);
  if (!s) return bad(fmt::format("fold lore names the value at {}, past the trace's {} state(s)", pos, slider.trace_size()));
  if (const auto* c = std::get_if<call_state>(s); c && c->what == call_state::kind::stream) return c->generation;
  if (const auto* a = std::get_if<ap_state>(s); a && !a->gens.empty()) return a->gens[0];
  return bad(fmt::format("fold lore names the value at {}, which is {}, not a stream's value", pos, describe(s)));
}

// ---- handler ----

trace_handler::trace_handler(const interpreter_data& prev, const interpreter_data& current) {
  prev_.slider = trace_slider(&prev.trace);
  prev_.streams = &prev.streams;
  current_.slider = trace_slider(&current.trace);
  current_.streams = &current.streams;
  // The new trace holds about what the longer one does: room for it, so states are not moved.
  const std::size_t most = std::max(prev.trace.size(), current.trace.size()) + 16;
  result_.reserve(most);
  new_to_old_.reserve(most);
}

void trace_handler::map_positions(bool from_prev, bool from_current) {
  const std::size_t at = result_.size();
  if (new_to_old_.size() <= at) new_to_old_.resize(at + 1);
  new_to_old_[at].prev = from_prev ? static_cast<std::int64_t>(prev_.slider.position()) - 1 : -1;
  new_to_old_[at].current = from_current ? static_cast<std::int64_t>(current_.slider.position()) - 1 : -1;
}

trace_result<const call_state*> trace_handler::merge_current_executed(const call_state& c, std::string_view stream) {
  const bool is_stream = c.what == call_state::kind::stream;
  if (is_stream != !stream.empty())
    return bad(fmt::format("the data holds {} for a call whose output is {}", describe(c),
                           stream.empty() ? std::string("a scalar") : fmt::format("the stream {}", stream)));
  if (!is_stream) return &c;
  made_call_ = c;
  // A value only the current data has comes after every generation the previous data knew.
  auto it = prev_.streams->find(stream);
  made_call_.generation = it == prev_.streams->end() ? 0 : it->second;
  return &made_call_;
}

trace_result<merged_call> trace_handler::meet_call_start(std::string_view stream) {
  const executed_state* p = prev_.slider.next_state();
  const executed_state* c = current_.slider.next_state();
  merged_ += (p != nullptr) + (c != nullptr);
  const auto* pc = p ? std::get_if<call_state>(p) : nullptr;
  const auto* cc = c ? std::get_if<call_state>(c) : nullptr;
  if ((p && !pc) || (c && !cc)) return incompatible(p, c, "call");
  merged_call out;
  if (!p && !c) return out;
  out.trace_pos = result_.size();
  using K = call_state::kind;
  if (!p) {
    if (cc->what == K::scalar || cc->what == K::stream) {
      auto m = merge_current_executed(*cc, stream);
      if (!m) return unexpected(std::move(m).error());
      out.state = *m;
    } else {
      out.state = cc;
    }
    map_positions(false, true);
    return out;
  }
  if (!c) {
    out.state = pc;
    map_positions(true, false);
    return out;
  }
  const bool p_exec = pc->what == K::scalar || pc->what == K::stream;
  const bool c_exec = cc->what == K::scalar || cc->what == K::stream;
  if (pc->what == K::failed && cc->what == K::failed) {
    if (!(*pc == *cc)) return bad(fmt::format("the previous call state ({}) and the current one ({}) differ", describe(*pc), describe(*cc)));
    out.state = pc;
  } else if (pc->what == K::sent_by && cc->what == K::failed) {
    out.state = cc;
  } else if (pc->what == K::failed && cc->what == K::sent_by) {
    out.state = pc;
  } else if (pc->what == K::sent_by && cc->what == K::sent_by) {
    out.state = pc;  // senders are not compared (as AquaVM's issue 137 decided)
  } else if (pc->what == K::sent_by && c_exec) {
    auto m = merge_current_executed(*cc, stream);
    if (!m) return unexpected(std::move(m).error());
    out.state = *m;
  } else if (p_exec && cc->what == K::sent_by) {
    out.state = pc;
  } else if (p_exec && c_exec) {
    if (pc->what != cc->what || !(pc->value == cc->value || (pc->value && cc->value && same_value(*pc->value, *cc->value))))
      return bad(fmt::format("the previous call state ({}) and the current one ({}) hold different values", describe(*pc),
                             describe(*cc)));
    out.state = pc;
  } else {
    return bad(fmt::format("the previous call state ({}) and the current one ({}) are incompatible", describe(*pc), describe(*cc)));
  }
  map_positions(true, true);
  // The merged value must fit the call's output.
  const bool is_stream = out.state->what == K::stream;
  if ((out.state->what == K::scalar && !stream.empty()) || (is_stream && stream.empty()))
    return bad(fmt::format("the data holds {} for a call whose output is {}", describe(*out.state),
                           stream.empty() ? std::string("a scalar") : fmt::format("the stream {}", stream)));
  return out;
}

trace_result<merged_ap> trace_handler::meet_ap_start() {
  const executed_state* p = prev_.slider.next_state();
  const executed_state* c = current_.slider.next_state();
  merged_ += (p != nullptr) + (c != nullptr);
  const auto* pa = p ? std::get_if<ap_state>(p) : nullptr;
  const auto* ca = c ? std::get_if<ap_state>(c) : nullptr;
  // Stricter than AquaVM 0.20, which took any current state beside a previous ap (its issue
  // 295): both must be aps.
  if ((p && !pa) || (c && !ca)) return incompatible(p, c, "ap");
  merged_ap out;
  if (!p && !c) return out;
  map_positions(p != nullptr, c != nullptr);
  // A current-only ap cannot be used: the previous data may not have its generations.
  if (!pa) return out;
  out.empty = false;
  if (pa->gens.size() > 1)
    return bad(fmt::format("an ap state with {} generations; an ap writes to one stream", pa->gens.size()));
  if (pa->gens.size() == 1) out.generation = pa->gens[0];
  return out;
}

// ---- par ----

trace_result<trace_handler::side_state> trace_handler::after(const trace_slider& s, std::size_t len, std::string_view what) const {
  if (len > s.remaining())
    return bad(fmt::format("{} of {} state(s) is longer than the {} left in its enclosing subtrace", what, len, s.remaining()));
  return side_state{s.position() + len, s.remaining() - len};
}

void trace_handler::restore(const side_state& prev, const side_state& current) {
  // These only shrink what was checked when the par or fold began, so they cannot fail; a
  // subtree cut short by an error is left unread.
  (void)prev_.slider.set_position_and_len(prev.pos, prev.len);
  (void)current_.slider.set_position_and_len(current.pos, current.len);
}

trace_result<void> trace_handler::meet_par_start() {
  const executed_state* p = prev_.slider.next_state();
  const executed_state* c = current_.slider.next_state();
  merged_ += (p != nullptr) + (c != nullptr);
  const auto* pp = p ? std::get_if<par_state>(p) : nullptr;
  const auto* cp = c ? std::get_if<par_state>(c) : nullptr;
  if ((p && !pp) || (c && !cp)) return incompatible(p, c, "par");
  par_fsm f;
  if (pp) f.prev = *pp;
  if (cp) f.current = *cp;
  f.inserted_at = result_.size();
  result_.emplace_back(par_state{});  // the placeholder, replaced when the par ends
  f.counted = result_.size();
  auto pl = after(prev_.slider, f.prev.left, "a par's left subtree");
  if (!pl) return unexpected(std::move(pl).error());
  auto cl = after(current_.slider, f.current.left, "a par's left subtree");
  if (!cl) return unexpected(std::move(cl).error());
  const std::uint64_t prev_size = std::uint64_t{f.prev.left} + f.prev.right;
  const std::uint64_t current_size = std::uint64_t{f.current.left} + f.current.right;
  auto pr = after(prev_.slider, prev_size, "a par");
  if (!pr) return unexpected(std::move(pr).error());
  auto cr = after(current_.slider, current_size, "a par");
  if (!cr) return unexpected(std::move(cr).error());
  f.prev_after_left = *pl;
  f.current_after_left = *cl;
  f.prev_after_right = *pr;
  f.current_after_right = *cr;
  if (auto e = prev_.slider.set_subtrace_len(f.prev.left); !e) return e;
  if (auto e = current_.slider.set_subtrace_len(f.current.left); !e) return e;
  pars_.push_back(f);
  return {};
}

trace_result<void> trace_handler::meet_par_subtree_end(bool left) {
  if (pars_.empty()) return bad("a par's subtree ended outside any par");
  par_fsm& f = pars_.back();
  const std::size_t size = result_.size() - f.counted;
  if (size > std::numeric_limits<std::uint32_t>::max()) return bad("a par subtree of over 2^32 states");
  f.counted = result_.size();
  if (left) {
    f.left_size = static_cast<std::uint32_t>(size);
    restore(f.prev_after_left, f.current_after_left);
    (void)prev_.slider.set_subtrace_len(f.prev.right);
    (void)current_.slider.set_subtrace_len(f.current.right);
    return {};
  }
  result_[f.inserted_at] = par_state{f.left_size, static_cast<std::uint32_t>(size)};
  const side_state p = f.prev_after_right, c = f.current_after_right;
  pars_.pop_back();
  restore(p, c);
  return {};
}

// ---- fold ----

trace_result<resolved_fold> trace_handler::resolve(const fold_state& f, const merge_side& side) const {
  // A fold state's lens count only each iteration's own states; the subtraces an iteration
  // reaches through next (the later iterations of its generation) are inside them as a par's
  // are. Summing within each generation gives the spans the sliders need.
  resolved_fold out;
  const std::size_t n = f.lore.size();
  std::vector<std::uint64_t> before(n), after_len(n);
  std::uint64_t total = 0;
  std::uint32_t generation = 0;
  std::size_t generation_start = 0;
  std::uint64_t cum_after = 0;
  auto close_generation = [&](std::size_t from, std::size_t to) {  // [from, to]
    std::uint64_t cum_before = 0;
    const std::uint64_t last_after = after_len[to];
    for (std::size_t i = to + 1; i-- > from;) {
      cum_before += before[i];
      before[i] = cum_before + last_after;
    }
  };
  for (std::size_t i = 0; i < n; ++i) {
    const fold_lore& l = f.lore[i];
    auto g = side.generation_at(l.value_pos);
    if (!g) return unexpected(std::move(g).error());
    if (*g != generation) {
      if (i > 0) close_generation(generation_start, i - 1);
      generation = *g;
      generation_start = i;
      cum_after = 0;
    }
    total += std::uint64_t{l.before.len} + l.after.len;
    cum_after += l.after.len;
    before[i] = l.before.len;
    after_len[i] = cum_after;
  }
  if (n > 0) close_generation(generation_start, n - 1);
  for (std::size_t i = 0; i < n; ++i) {
    const fold_lore& l = f.lore[i];
    if (before[i] > std::numeric_limits<std::uint32_t>::max() || after_len[i] > std::numeric_limits<std::uint32_t>::max())
      return bad("a fold's lore spans over 2^32 states");
    lore_span s{{l.before.pos, static_cast<std::uint32_t>(before[i])}, {l.after.pos, static_cast<std::uint32_t>(after_len[i])}};
    if (!out.lore.emplace(l.value_pos, s).second)
      return bad(fmt::format("a fold state has two lores for the value at {}", l.value_pos));
  }
  out.states = static_cast<std::size_t>(total);
  return out;
}

trace_result<trace_handler::fold_fsm*> trace_handler::fold(std::uint32_t id) {
  auto it = folds_.find(id);
  if (it == folds_.end()) return bad(fmt::format("no fold {} is running", id));
  return &it->second;
}

trace_result<void> trace_handler::meet_fold_start(std::uint32_t fold_id) {
  const executed_state* p = prev_.slider.next_state();
  const executed_state* c = current_.slider.next_state();
  merged_ += (p != nullptr) + (c != nullptr);
  const auto* pf = p ? std::get_if<fold_state>(p) : nullptr;
  const auto* cf = c ? std::get_if<fold_state>(c) : nullptr;
  if ((p && !pf) || (c && !cf)) return incompatible(p, c, "fold");
  fold_fsm f;
  if (pf) {
    auto r = resolve(*pf, prev_);
    if (!r) return unexpected(std::move(r).error());
    f.prev = std::move(*r);
  }
  if (cf) {
    auto r = resolve(*cf, current_);
    if (!r) return unexpected(std::move(r).error());
    f.current = std::move(*r);
  }
  f.inserted_at = result_.size();
  result_.emplace_back(par_state{});  // the placeholder, replaced when the fold ends
  auto pfinal = after(prev_.slider, f.prev.states, "a fold");
  if (!pfinal) return unexpected(std::move(pfinal).error());
  auto cfinal = after(current_.slider, f.current.states, "a fold");
  if (!cfinal) return unexpected(std::move(cfinal).error());
  f.prev_final = *pfinal;
  f.current_final = *cfinal;
  folds_[fold_id] = std::move(f);
  return {};
}

trace_result<void> trace_handler::apply_lore(const std::optional<lore_span>& prev, const std::optional<lore_span>& current,
                                             bool before) {
  if (prev) {
    const fold_subtrace& s = before ? prev->before : prev->after;
    if (auto e = prev_.slider.set_position_and_len(s.pos, s.len); !e) return e;
  }
  if (current) {
    const fold_subtrace& s = before ? current->before : current->after;
    if (auto e = current_.slider.set_position_and_len(s.pos, s.len); !e) return e;
  }
  return {};
}

trace_result<void> trace_handler::meet_iteration_start(std::uint32_t fold_id, std::size_t value_pos) {
  auto f = fold(fold_id);
  if (!f) return unexpected(std::move(f).error());
  lore_ctor ctor;
  ctor.value_pos = value_pos;
  if (value_pos < new_to_old_.size()) {
    const positions& at = new_to_old_[value_pos];
    auto take = [](resolved_fold& r, std::int64_t pos) -> std::optional<lore_span> {
      if (pos < 0) return std::nullopt;
      auto it = r.lore.find(static_cast<std::uint32_t>(pos));
      if (it == r.lore.end()) return std::nullopt;
      lore_span s = it->second;
      r.lore.erase(it);
      return s;
    };
    ctor.prev = take((*f)->prev, at.prev);
    ctor.current = take((*f)->current, at.current);
  }
  if (auto e = apply_lore(ctor.prev, ctor.current, true); !e) return e;
  ctor.before_start = result_.size();
  (*f)->queue.push_back(std::move(ctor));
  ++(*f)->back_pos;
  return {};
}

trace_result<void> trace_handler::meet_iteration_end(std::uint32_t fold_id) {
  auto f = fold(fold_id);
  if (!f) return unexpected(std::move(f).error());
  if ((*f)->back_pos == 0) return bad("next ended an iteration its fold did not start");
  lore_ctor& c = (*f)->queue[(*f)->back_pos - 1];
  c.before_end = result_.size();
  c.advance();
  return {};
}

trace_result<void> trace_handler::meet_back_iterator(std::uint32_t fold_id) {
  auto f = fold(fold_id);
  if (!f) return unexpected(std::move(f).error());
  fold_fsm& ff = **f;
  if (ff.back_pos == 0 || ff.back_pos > ff.queue.size()) return bad("next went back past its fold's first iteration");
  if (!ff.back_started) {
    lore_ctor& c = ff.queue[ff.back_pos - 1];
    if (c.st == lore_ctor::state::before_started) {
      c.before_end = result_.size();
      c.advance();
    }
    c.after_start = result_.size();
    c.advance();
    if (auto e = apply_lore(c.prev, c.current, false); !e) return e;
    ff.back_started = true;
    return {};
  }
  lore_ctor& done = ff.queue[ff.back_pos - 1];
  done.after_end = result_.size();
  done.advance();
  if (--ff.back_pos == 0) return bad("next went back past its fold's first iteration");
  lore_ctor& c = ff.queue[ff.back_pos - 1];
  c.after_start = result_.size();
  c.advance();
  return apply_lore(c.prev, c.current, false);
}

trace_result<void> trace_handler::meet_generation_end(std::uint32_t fold_id) {
  auto f = fold(fold_id);
  if (!f) return unexpected(std::move(f).error());
  fold_fsm& ff = **f;
  const std::size_t now = result_.size();
  using S = lore_ctor::state;
  // Iterations a join or an error cut short (next never reached) end here.
  for (lore_ctor& c : ff.queue) {
    switch (c.st) {
      case S::before_started: c.before_end = now; c.after_start = now; c.after_end = now; break;
      case S::before_completed: c.after_start = now; c.after_end = now; break;
      case S::after_started: c.after_end = now; break;
      case S::after_completed: break;
    }
    c.st = S::after_completed;
    auto len = [](std::size_t a, std::size_t b) { return static_cast<std::uint32_t>(b >= a ? b - a : 0); };
    ff.lore.push_back(fold_lore{static_cast<std::uint32_t>(c.value_pos),
                                {static_cast<std::uint32_t>(c.before_start), len(c.before_start, c.before_end)},
                                {static_cast<std::uint32_t>(c.after_start), len(c.after_start, c.after_end)}});
  }
  ff.queue.clear();
  ff.back_pos = 0;
  ff.back_started = false;
  return {};
}

trace_result<void> trace_handler::meet_fold_end(std::uint32_t fold_id) {
  auto it = folds_.find(fold_id);
  if (it == folds_.end()) return bad(fmt::format("no fold {} is running", fold_id));
  fold_fsm f = std::move(it->second);
  folds_.erase(it);
  result_[f.inserted_at] = fold_state{std::move(f.lore)};
  restore(f.prev_final, f.current_final);
  return {};
}

}  // namespace exo::air
