#pragma once
// A fresh directory under /tmp for one test, removed with everything in it at the end.

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace test {

struct temp_dir {
  std::string path;
  temp_dir() {
    std::string tmpl = "/tmp/exo-test-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  /// A path inside the directory.
  std::string sub(std::string_view name) const { return path + "/" + std::string(name); }
};

}  // namespace test
