#pragma once
/// \file
/// Merging a particle's previous data with the data it arrived with, while the script runs
/// (AquaVM v0.20's trace handler, in exo's own code; ../shared/notes/aquavm-v0.20.md, section 4).
///
/// Two sliders walk the previous trace and the current one. Each instruction that leaves a
/// state (call, ap, par, fold over a stream) takes the next state from each, merges them by
/// the rules below, and appends the merged state to the new trace:
///
/// - `par` states bound each branch: while the left branch runs, each slider sees only the
///   states of its left subtree, then only those of its right; after the par both stand
///   past it, whatever the branches consumed (a branch cut short by an error leaves the rest
///   unread, not misread by the next instruction).
/// - `fold` states over a stream keep a lore per iteration: where the value's state is, and
///   the subtraces before and after `next`. An iteration finds its subtraces by the
///   position of its value, so iterations merge even when two peers saw values in another
///   order.
/// - Calls: (failed, failed) must be equal; (sent, failed) gives failed; (sent, sent) keeps
///   the previous; (sent, executed) gives executed, its stream generation placed after every
///   generation the previous data knew; (executed, sent) keeps the previous; (executed,
///   executed) must hold equal values; any other pair is incompatible.
///
/// Every failure is AIR's uncatchable TraceError (20000): the run gives back its previous data
/// unchanged.

#include "data.hpp"

#include <exo/core/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace exo::air {

/// A trace error's text (the interpreter prefixes the instruction).
struct trace_error {
  std::string message;
};
template <class T>
using trace_result = expected<T, trace_error>;

/// Walks a subtrace of one trace: `len` states from `pos`.
class trace_slider {
 public:
  trace_slider() = default;
  explicit trace_slider(const std::vector<executed_state>* trace) : trace_(trace), len_(trace->size()) {}

  /// The next state of the subtrace, or nullptr at its end.
  const executed_state* next_state() {
    if (seen_ >= len_ || pos_ >= trace_->size()) return nullptr;
    ++seen_;
    return &(*trace_)[pos_++];
  }
  trace_result<void> set_position_and_len(std::size_t pos, std::size_t len);
  trace_result<void> set_subtrace_len(std::size_t len);
  std::size_t position() const { return pos_; }
  /// States of the subtrace not yet seen.
  std::size_t remaining() const { return len_ - seen_; }
  const executed_state* at(std::size_t pos) const { return pos < trace_->size() ? &(*trace_)[pos] : nullptr; }
  std::size_t trace_size() const { return trace_->size(); }

 private:
  const std::vector<executed_state>* trace_ = nullptr;
  std::size_t pos_ = 0, len_ = 0, seen_ = 0;
};

/// One side of the merge: its slider and the stream generations its data names.
struct merge_side {
  trace_slider slider;
  const std::map<std::string, std::uint32_t, std::less<>>* streams = nullptr;
  /// The generation of the stream value whose state is at `pos` (a call into a stream, or an
  /// ap), for fold lore.
  trace_result<std::uint32_t> generation_at(std::uint32_t pos) const;
};

/// Where a fold iteration's subtraces are, in one side's trace.
struct lore_span {
  fold_subtrace before, after;
};
/// A side's fold state, resolved: lore by the position of its value, and how many states the
/// whole fold covers.
struct resolved_fold {
  std::unordered_map<std::uint32_t, lore_span> lore;
  std::size_t states = 0;
};

/// A merged call state and where it goes in the new trace; no state when neither side had
/// one. The state is one side's, or one the handler made; it stays valid until the next
/// meet_call_start.
struct merged_call {
  const call_state* state = nullptr;
  std::size_t trace_pos = 0;
};
/// A merged ap: `empty` when there was no previous state to take the generation from.
struct merged_ap {
  bool empty = true;
  std::optional<std::uint32_t> generation;
};

class trace_handler {
 public:
  trace_handler(const interpreter_data& prev, const interpreter_data& current);

  /// Where the next appended state goes.
  std::size_t trace_pos() const { return result_.size(); }
  std::vector<executed_state>& result() { return result_; }

  /// A call: `stream` is the name of the stream its output goes to, or empty for a scalar
  /// (or no output).
  trace_result<merged_call> meet_call_start(std::string_view stream);
  void meet_call_end(const call_state& state) { result_.emplace_back(state); }
  void meet_call_end(call_state&& state) { result_.emplace_back(std::move(state)); }

  trace_result<merged_ap> meet_ap_start();
  void meet_ap_end(ap_state state) { result_.emplace_back(std::move(state)); }

  trace_result<void> meet_par_start();
  /// After the left branch (`left`) or the right one; a branch ended by a catchable error
  /// ends here too.
  trace_result<void> meet_par_subtree_end(bool left);

  trace_result<void> meet_fold_start(std::uint32_t fold_id);
  trace_result<void> meet_iteration_start(std::uint32_t fold_id, std::size_t value_pos);
  trace_result<void> meet_iteration_end(std::uint32_t fold_id);
  trace_result<void> meet_back_iterator(std::uint32_t fold_id);
  trace_result<void> meet_generation_end(std::uint32_t fold_id);
  trace_result<void> meet_fold_end(std::uint32_t fold_id);

  /// States merged so far (each costs ticks).
  std::size_t merged() const { return merged_; }

 private:
  struct positions {
    std::int64_t prev = -1, current = -1;
  };
  struct side_state {
    std::size_t pos = 0, len = 0;
  };
  struct par_fsm {
    par_state prev, current;
    std::size_t inserted_at = 0;  // the placeholder's place in the new trace
    std::size_t counted = 0;      // new trace size when the last branch started
    std::uint32_t left_size = 0;
    side_state prev_after_left, current_after_left, prev_after_right, current_after_right;
  };
  struct lore_ctor {
    enum class state : std::uint8_t { before_started, before_completed, after_started, after_completed };
    std::size_t value_pos = 0;
    std::size_t before_start = 0, before_end = 0, after_start = 0, after_end = 0;
    state st = state::before_started;
    std::optional<lore_span> prev, current;
    void advance() {
      if (st != state::after_completed) st = static_cast<state>(static_cast<std::uint8_t>(st) + 1);
    }
  };
  struct fold_fsm {
    resolved_fold prev, current;
    std::size_t inserted_at = 0;
    side_state prev_final, current_final;
    std::vector<lore_ctor> queue;
    std::size_t back_pos = 0;
    bool back_started = false;
    std::vector<fold_lore> lore;
  };

  void map_positions(bool from_prev, bool from_current);
  trace_result<side_state> after(const trace_slider& s, std::size_t len, std::string_view what) const;
  void restore(const side_state& prev, const side_state& current);
  trace_result<resolved_fold> resolve(const fold_state& f, const merge_side& side) const;
  trace_result<fold_fsm*> fold(std::uint32_t id);
  trace_result<void> apply_lore(const std::optional<lore_span>& prev, const std::optional<lore_span>& current, bool before);
  /// The current side's value, which only it has: for a stream, placed after every
  /// generation the previous data knew (in made_call_).
  trace_result<const call_state*> merge_current_executed(const call_state& c, std::string_view stream);

  merge_side prev_, current_;
  std::vector<executed_state> result_;
  std::vector<positions> new_to_old_;
  std::vector<par_fsm> pars_;
  std::unordered_map<std::uint32_t, fold_fsm> folds_;
  std::size_t merged_ = 0;
  call_state made_call_;  // a merged call state no side holds as it is
};

/// A state's kind as AquaVM names it in messages ("par", "call", "fold", "ap").
std::string_view state_name(const executed_state& s);

}  // namespace exo::air
