// libFuzzer target over script loading in the js container (plugins/js): any bytes given as
// a script's code are refused with an error, or compiled (metered, loaded once, exports
// listed); never a crash, a hang or a sanitizer report. And metering never breaks a script:
// a script the engine's parser accepts must still parse once ticks are spliced into it (the
// plugin checks, and says so with EXO_ERR_INTERNAL). Built with clang by
// `bash tools/dev.sh fuzz` and run by the test command for a short time.
#include <exo/plugin/abi.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" const exo_plugin exo_js_plugin;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  exo_limits limits{sizeof(exo_limits), 16, 1024, 1u << 16};
  exo_code* code = nullptr;
  exo_error err{};
  const exo_status s = exo_js_plugin.compile(exo_span{data, size}, &limits, &code, &err);
  if (s == EXO_OK) {
    if (!code || exo_js_plugin.export_count(code) == 0) std::abort();
    exo_js_plugin.free_code(code);
    return 0;
  }
  const std::string_view why(err.message);
  if (why.empty()) std::abort();  // an error says what is wrong
  if (s == EXO_ERR_INTERNAL) std::abort();  // the splices broke a script, or worse
  return 0;
}
