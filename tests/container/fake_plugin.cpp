// Plugins that must be refused: built with another abi_major (FAKE_MAJOR), with a descriptor
// smaller than ABI 1.0's (FAKE_SIZE), or without the exo_plugin_v1 symbol (FAKE_NO_SYMBOL).
#include <exo/plugin/abi.h>

#ifndef FAKE_MAJOR
#define FAKE_MAJOR EXO_PLUGIN_ABI_MAJOR
#endif
#ifndef FAKE_SIZE
#define FAKE_SIZE sizeof(exo_plugin)
#endif

namespace {
const exo_plugin descriptor = {FAKE_MAJOR, 0, FAKE_SIZE, 900, "fake", "0", nullptr, nullptr, nullptr, nullptr,
                               nullptr, nullptr, nullptr, 0};
}

extern "C" {
#ifndef FAKE_NO_SYMBOL
__attribute__((visibility("default"))) const void* exo_plugin_v1 = &descriptor;
#else
__attribute__((visibility("default"))) const void* something_else = &descriptor;
#endif
}
