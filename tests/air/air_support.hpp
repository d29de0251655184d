#pragma once
// Helpers for the AIR interpreter tests: traces written compactly, the three runners behind
// one run_fn, and a peer per test.

#include "interpreter/session.hpp"

#include <exo/runner/process.hpp>
#include <exo/runner/runner.hpp>
#include <exo/runner/thread.hpp>

#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>

namespace air_test {

using namespace exo::air;
using exo::json;

inline executed_state scalar(json v) { return call_state{call_state::kind::scalar, make_value(std::move(v))}; }
inline executed_state stream(json v, std::uint32_t g) { return call_state{call_state::kind::stream, make_value(std::move(v)), g}; }
inline executed_state sent(std::string by) {
  call_state c;
  c.what = call_state::kind::sent_by;
  c.text = std::move(by);
  return c;
}
inline executed_state failed(std::int32_t code, std::string message) {
  call_state c;
  c.what = call_state::kind::failed;
  c.ret_code = code;
  c.text = std::move(message);
  return c;
}
inline executed_state par(std::uint32_t l, std::uint32_t r) { return par_state{l, r}; }
inline executed_state ap(std::vector<std::uint32_t> gens) { return ap_state{std::move(gens)}; }

inline std::string show(const std::vector<executed_state>& t) {
  interpreter_data d;
  d.trace = t;
  const exo::bytes b = encode_data(d);
  return std::string(b.begin(), b.end());
}

inline std::vector<executed_state> trace_of(const exo::bytes& data) {
  auto d = decode_data(data);
  BOOST_REQUIRE_MESSAGE(d, (d ? "" : d.error().message));
  return d->trace;
}

#define AIR_CHECK_TRACE(data, ...)                                                             \
  do {                                                                                         \
    const std::vector<executed_state> air_actual_ = air_test::trace_of(data);                  \
    const std::vector<executed_state> air_expected_ = __VA_ARGS__;                             \
    BOOST_TEST((air_actual_ == air_expected_), "trace " << air_test::show(air_actual_) << "\n" \
                                                        << "expected " << air_test::show(air_expected_)); \
  } while (0)

/// The three runners, by name, each giving a run_fn.
class runners {
 public:
  explicit runners(const std::string& kind) : kind_(kind) {
    if (kind == "inline") {
      inline_ = std::make_unique<exo::inline_runner>(air_engine());
      BOOST_REQUIRE(inline_->init(exo::log_level::warn));
      fn_ = runner_run(*inline_);
    } else if (kind == "thread") {
      thread_ = std::make_unique<exo::thread_runner>(air_engine());
      BOOST_REQUIRE(thread_->init(exo::log_level::warn));
      fn_ = runner_run(*thread_);
    } else {
      exo::process_options o;
      o.command = {EXO_TEST_AIR_CHILD};
      process_ = std::make_unique<exo::process_runner>(o);
      BOOST_REQUIRE(process_->init(exo::log_level::warn));
      fn_ = runner_run(*process_);
    }
  }
  const run_fn& fn() const { return fn_; }

 private:
  std::string kind_;
  std::unique_ptr<exo::inline_runner> inline_;
  std::unique_ptr<exo::thread_runner> thread_;
  std::unique_ptr<exo::process_runner> process_;
  run_fn fn_;
};

inline const char* const runner_kinds[] = {"inline", "thread", "process"};

/// One run, no host loop.
inline interpreter_result run_once(const run_fn& fn, std::string_view air, std::string init, std::string current,
                                   const exo::bytes& prev = {}, const exo::bytes& data = {}, const exo::bytes& results = {}) {
  run_request q;
  q.air = std::string(air);
  q.prev_data = prev;
  q.data = data;
  q.params = {std::move(init), std::move(current)};
  q.call_results = results;
  auto r = fn(q);
  BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  return *r;
}

/// A host call at `p` (the whole loop).
inline interpreter_result call(const run_fn& fn, peer& p, std::string_view air, const std::string& init, const exo::bytes& data = {}) {
  auto r = host_call(p, air, init, data, fn);
  BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  return *r;
}

inline exo::bytes b(std::string_view s) { return exo::bytes(s.begin(), s.end()); }

}  // namespace air_test
