#pragma once
// The engine the runner tests run in every runner (and in the child, tests/runner/child.cpp).
// A request is a command: most give a result computed from the request; some fail, throw,
// log, or (in a child only) crash, exit, hang or break the protocol.

#include <exo/core/hash.hpp>
#include <exo/runner/runner.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include <unistd.h>

namespace runner_test {

inline exo::engine test_engine() {
  return [](exo::byte_view in, const exo::run_log& log) -> exo::expected<exo::bytes> {
    const std::string_view r(reinterpret_cast<const char*>(in.data()), in.size());
    auto arg = [&](std::string_view prefix) { return std::stoull(std::string(r.substr(prefix.size()))); };
    if (r.starts_with("fail:")) return exo::fail(exo::errc::handler_failed, std::string(r.substr(5)));
    if (r == "throw") throw std::runtime_error("boom");
    if (r == "crash") std::abort();
    if (r == "exit") ::_exit(7);
    if (r == "hang")
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    if (r == "garbage") {
      const char junk[] = "this is not a frame, it is garbage!!";
      (void)::write(3, junk, sizeof junk - 1);
      std::this_thread::sleep_for(std::chrono::seconds(5));
    }
    if (r == "huge") {  // a well-formed header announcing 2^40 bytes
      const unsigned char h[16] = {'E', 'X', 'O', 'R', 18, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
      (void)::write(3, h, sizeof h);
      std::this_thread::sleep_for(std::chrono::seconds(5));
    }
    if (r.starts_with("sleep:")) std::this_thread::sleep_for(std::chrono::milliseconds(arg("sleep:")));
    if (r.starts_with("big:")) return exo::bytes(arg("big:"), 0xab);
    if (r.starts_with("log:")) {
      for (int l = 0; l <= 4; ++l) log(static_cast<exo::log_level>(l), "line at level " + std::to_string(l));
      return exo::to_bytes("logged");
    }
    // Anything else: the request's SHA-256, then the request backwards.
    const exo::digest d = exo::hash(in);
    exo::bytes out(d.bytes.size() + in.size());
    std::copy(d.bytes.begin(), d.bytes.end(), out.begin());
    std::reverse_copy(in.begin(), in.end(), out.begin() + static_cast<std::ptrdiff_t>(d.bytes.size()));
    log(exo::log_level::debug, "hashed " + std::to_string(in.size()) + " bytes");
    return out;
  };
}

}  // namespace runner_test
