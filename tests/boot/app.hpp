#pragma once
// Shared by the boot and RPC tests: an application directory made in a temporary directory
// (an exo.json and the example counter.wasm), and a registry that finds the wasm plugin in
// the build tree and has exo's built-in native types.

#include "../support/print.hpp"
#include "../support/temp_dir.hpp"

#include <exo/boot/node.hpp>
#include <exo/core/sealed_file.hpp>

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <string>

namespace app_test {

// The example application's manifest (examples/app/exo.json), with `owner` as the key
// notes.put is reserved for.
inline std::string notes_manifest(const std::string& owner_hex) {
  return R"({
  "name": "notes",
  "actors": [
    {"name": "counter", "container": "wasm", "code": "counter.wasm"},
    {"name": "notes", "container": "native", "type": "exo.kv"}
  ],
  "init": [{"call": "counter.add", "args": [10]}, {"call": "notes.put", "args": ["motd", "hi"]}],
  "exports": [
    {"call": "counter.add", "params": [{"name": "by", "type": "i64", "default": 1}]},
    {"call": "counter.get"},
    {"call": "notes.get", "params": [{"name": "key", "type": "string"}]},
    {"call": "notes.put", "params": [{"name": "key", "type": "string"}, {"name": "value", "type": "any"}],
     "callers": [")" + owner_hex + R"("]}
  ]
})";
}

/// Writes an application directory: exo.json with `manifest` and counter.wasm.
inline std::string make_app(const test::temp_dir& t, const std::string& name, const std::string& manifest) {
  const std::string dir = t.sub(name);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/exo.json") << manifest;
  std::filesystem::copy_file(std::string(EXO_TEST_EXAMPLES_DIR) + "/counter.wasm", dir + "/counter.wasm",
                             std::filesystem::copy_options::overwrite_existing);
  return dir;
}

struct registry {
  exo::container_registry reg;
  registry() {
    reg.add_search_dir(EXO_TEST_PLUGIN_DIR);
    exo::add_builtin_types(reg);
  }
};

/// Packs `dir` into `out` and returns the image file's bytes.
inline exo::bytes pack_to(const std::string& dir, const std::string& out) {
  registry r;
  auto file = exo::pack_image(dir, r.reg);
  BOOST_REQUIRE_MESSAGE(file, (file ? "" : file.error().message));
  BOOST_REQUIRE(exo::write_file(out, *file));
  return *file;
}

}  // namespace app_test
