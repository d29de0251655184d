#include <exo/runner/runner.hpp>

#include <exception>
#include <string>

namespace exo {

run_log detail::filtered_log(const run_log& sink, log_level level) {
  if (!sink || level == log_level::off) return [](log_level, std::string_view) {};
  return [sink, level](log_level l, std::string_view line) {
    if (l >= level && l != log_level::off) sink(l, line);
  };
}

expected<bytes> detail::call_engine(const engine& e, byte_view request, const run_log& log) {
  try {
    return e(request, log);
  } catch (const std::exception& ex) {
    return fail(errc::internal, std::string("the engine threw: ") + ex.what());
  } catch (...) {
    return fail(errc::internal, "the engine threw something that is not a std::exception");
  }
}

expected<void> inline_runner::init(log_level level) {
  log_ = detail::filtered_log(sink_, level);
  ready_ = true;
  return {};
}

expected<void> inline_runner::terminate() {
  ready_ = false;
  return {};
}

expected<bytes> inline_runner::run(byte_view request) {
  if (!ready_) return fail(errc::invalid_argument, "inline_runner: run before init (or after terminate)");
  return detail::call_engine(engine_, request, log_);
}

}  // namespace exo
