#pragma once
// Shared by the LMDB store's tests: random batches, opening, checking errors and nodes, and a
// store filled and closed again.

#include <boost/test/unit_test.hpp>

#include "../support/temp_dir.hpp"

#include <exo/core/hash.hpp>
#include <exo/store/backend.hpp>
#include <exo/store/lmdb_store.hpp>

#include <fmt/format.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <fstream>
#include <initializer_list>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>


namespace lmdb_test {

using namespace exo;
namespace fs = std::filesystem;
using test::temp_dir;

inline bytes b(std::string_view s) { return to_bytes(s); }
inline bytes random_bytes(std::mt19937_64& rng, std::size_t n) {
  bytes out(n);
  for (auto& x : out) x = static_cast<std::uint8_t>(rng());
  return out;
}
inline digest random_digest(std::mt19937_64& rng) {
  digest d;
  for (auto& x : d.bytes) x = static_cast<std::uint8_t>(rng());
  return d;
}
// A batch of `n` >= 1 random nodes from position `first` (now and then a large one, stored
// on LMDB overflow pages), with a random head hash at its last node.
inline commit_batch random_batch(std::mt19937_64& rng, std::size_t n, node_pos first) {
  commit_batch batch;
  batch.first = first;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t size = rng() % 25 == 0 ? 3000 + rng() % 5000 : rng() % 300;
    batch.nodes.push_back(random_bytes(rng, size));
  }
  batch.head = root_ref{random_digest(rng), first + n - 1};
  return batch;
}

// What a batch stores, by position.
inline void remember(const commit_batch& batch, std::map<node_pos, bytes>& all) {
  node_pos pos = batch.first;
  for (const auto& v : batch.nodes) all.emplace(pos++, v);
}

inline lmdb_store open_new(const std::string& dir, lmdb_options o = {.create = true}) {
  auto s = lmdb_store::open(dir, o);
  if (!s) BOOST_FAIL("open " << dir << ": " << to_string(s.error()));
  return std::move(*s);
}

// The open failed with `code`, and its message contains every one of `parts`.
template <class T>
inline void check_error(const expected<T>& r, errc code, std::initializer_list<std::string_view> parts) {
  BOOST_REQUIRE_MESSAGE(!r, "expected an error, got success");
  BOOST_TEST_MESSAGE("error: " << to_string(r.error()));
  BOOST_TEST(to_string(r.error().code) == to_string(code));
  for (auto p : parts)
    BOOST_TEST(r.error().message.find(p) != std::string::npos, "'" << p << "' in: " << r.error().message);
}

inline bytes read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string& path, const bytes& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(content.data()), static_cast<std::streamsize>(content.size()));
}

// Every node of `expected_nodes` reads back from `s` with the same bytes.
inline void check_nodes(const lmdb_store& s, const std::map<node_pos, bytes>& expected_nodes) {
  for (const auto& [pos, v] : expected_nodes) {
    auto got = s.read_node(pos);
    BOOST_REQUIRE(got);
    BOOST_REQUIRE(got->has_value());
    BOOST_TEST((**got == v));
  }
}

// A store with some content, closed again; returns what it holds. Without write_ahead, so
// that data.mdb ends where LMDB's pages end (the tests that cut it short count on that).
inline std::map<node_pos, bytes> fill_store(const std::string& dir, std::uint64_t seed, int batches,
                                     root_ref* head = nullptr) {
  std::mt19937_64 rng(seed);
  std::map<node_pos, bytes> all;
  auto s = open_new(dir, {.create = true, .write_ahead = false});
  for (int i = 0; i < batches; ++i) {
    auto batch = random_batch(rng, 100, s.next_position());
    remember(batch, all);
    if (head) *head = batch.head;
    BOOST_REQUIRE(s.commit(std::move(batch)));
  }
  return all;
}


}  // namespace lmdb_test
