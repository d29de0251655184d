#pragma once
// Bare wabt, for bench_wasm to compare exo's wasm container with: the same module called
// through wabt's own API on a reused thread. Implemented in wasm_bare.cpp (C++17: it includes
// wabt); this header is plain so that the C++20 benchmark can include it.

#include <cstddef>
#include <cstdint>

namespace bare {

struct module;  // a compiled module and one instance of it, with a reused thread

/// Compiles and instantiates bench.wasm; its "exo" imports get host functions that do
/// nothing (now returns 0). Aborts on failure (a broken benchmark must not report numbers).
module* load(const std::uint8_t* data, std::size_t size);
void unload(module*);

std::uint64_t add(module*, std::uint64_t a, std::uint64_t b);  // Func::Call on the reused thread
void host_calls(module*, std::uint32_t n);
void loop(module*, std::uint32_t n);
std::uint64_t fib(module*, std::uint64_t n);

/// A new Store, Module and Instance of the module with a Thread: what one actor needs.
void* instantiate(module*);
void destroy(void* instance);

}  // namespace bare
