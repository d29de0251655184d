#pragma once
/// \file
/// The runner: where an engine runs (DESIGN.md section 7), after Fluence's AVM runner
/// interface: `init(log_level)`, `terminate()`, `run(request) -> result`.
///
/// An *engine* is a pure function from a request to a result, both bytes whose encoding the
/// engine's user defines (the AIR container's: its interpreter's arguments and result). A
/// runner policy decides where the engine runs:
/// - exo::inline_runner: on the calling thread;
/// - exo::thread_runner: on a worker thread of its own, with a queue (exo/runner/thread.hpp);
/// - exo::process_runner: in a child process over a socket, so that an engine that crashes,
///   hangs or goes wrong cannot take the caller down (exo/runner/process.hpp).
///
/// The same request gives byte-identical results in all three (the engine is the same
/// function; only where it runs differs), and the tests prove it.
///
/// \code
/// exo::engine upper = [](exo::byte_view in, const exo::run_log& log) -> exo::expected<exo::bytes> {
///   log(exo::log_level::debug, "upper-casing");
///   exo::bytes out(in.begin(), in.end());
///   for (auto& b : out) b = static_cast<std::uint8_t>(std::toupper(b));
///   return out;
/// };
/// exo::thread_runner r(upper, [](exo::log_level l, std::string_view line) { ... });
/// r.init(exo::log_level::info).value();          // starts the worker
/// auto out = r.run(exo::to_bytes("abc"));        // "ABC", from any thread
/// r.terminate().value();                         // finishes the work in hand, then refuses
/// \endcode

#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/log_level.hpp>

#include <concepts>
#include <functional>
#include <string_view>

namespace exo {

/// Where an engine's log lines go; lines below the level init() was given are not delivered.
using run_log = std::function<void(log_level, std::string_view)>;
/// A pure function from a request to a result (see the file comment). An error is the
/// engine's answer too, and crosses every runner unchanged (code and message).
using engine = std::function<expected<bytes>(byte_view request, const run_log& log)>;

/// What a runner policy provides:
/// - `init(log_level) -> expected<void>`: takes what it needs (a thread, a child process)
///   and sets the level of the log lines it passes on; again after terminate() starts afresh;
/// - `terminate() -> expected<void>`: gives it all back; run() is then refused until the
///   next init();
/// - `run(byte_view request) -> expected<bytes>`: the engine's result, or its error, or the
///   runner's own failure (errc::internal, saying what happened: a child that died, hung or
///   spoke garbage), or errc::invalid_argument before init() and after terminate().
template <class R>
concept runner_policy = requires(R& r, log_level level, byte_view request) {
  { r.init(level) } -> std::same_as<expected<void>>;
  { r.terminate() } -> std::same_as<expected<void>>;
  { r.run(request) } -> std::same_as<expected<bytes>>;
};

namespace detail {
/// The log an engine is handed: `sink` for lines at `level` and above.
run_log filtered_log(const run_log& sink, log_level level);
/// Calls the engine; an exception it throws becomes errc::internal naming it, as in every
/// runner (a child process answers it the same way).
expected<bytes> call_engine(const engine& e, byte_view request, const run_log& log);
}  // namespace detail

/// Runs the engine on the calling thread.
class inline_runner {
 public:
  explicit inline_runner(engine e, run_log sink = {}) : engine_(std::move(e)), sink_(std::move(sink)) {}
  expected<void> init(log_level level);
  expected<void> terminate();
  expected<bytes> run(byte_view request);

 private:
  engine engine_;
  run_log sink_;
  run_log log_;
  bool ready_ = false;
};
static_assert(runner_policy<inline_runner>);

}  // namespace exo
