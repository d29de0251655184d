#pragma once
/// \file
/// For container plugins written in C++: filling in an exo_error, and running an ABI entry
/// point so that no exception unwinds into the host (plugin/abi.h: every entry point is
/// noexcept in spirit). Header-only, over the ABI alone.

#include <exo/plugin/abi.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

namespace exo::plugin {

/// Writes `code` and `msg` (truncated to fit, NUL-terminated) into `err`, if there is one.
inline void set_error(exo_error* err, exo_status code, std::string_view msg) noexcept {
  if (!err) return;
  err->code = code;
  const std::size_t n = std::min(msg.size(), sizeof err->message - 1);
  std::memcpy(err->message, msg.data(), n);
  err->message[n] = '\0';
}

/// set_error, then `code`: `return failed(err, EXO_ERR_MALFORMED, "why");`.
inline exo_status failed(exo_error* err, exo_status code, std::string_view msg) noexcept {
  set_error(err, code, msg);
  return code;
}

/// The status of a stop that is not deterministic (a watchdog's, running out of memory, a
/// runner's child that crashed): ABI 1.4's EXO_ERR_FAULT, which the host logs and a replay
/// reproduces, or EXO_ERR_TRAP for an older host.
inline exo_status fault_status(const exo_host_api* host) noexcept {
  return host->abi_minor >= 4 ? EXO_ERR_FAULT : EXO_ERR_TRAP;
}

/// Runs an entry point's body; an exception it throws becomes EXO_ERR_INTERNAL naming `what`.
template <class F>
exo_status guarded(exo_error* err, const char* what, F&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    return failed(err, EXO_ERR_INTERNAL, std::string(what) + ": " + e.what());
  } catch (...) {
    return failed(err, EXO_ERR_INTERNAL, std::string(what) + ": an unknown exception");
  }
}

}  // namespace exo::plugin
