#pragma once
// An attacker's tool, for the tests that play one: a log re-chained and re-signed end to end
// by another key. Every entry's bytes stay what they were but for the init entry's node key
// and each entry's link to the one before; the head is signed by `mallory`. Without a pinned
// node key such a log is internally consistent.

#include <exo/call_log/entry.hpp>
#include <exo/call_log/file.hpp>
#include <exo/core/sign.hpp>

#include <stdexcept>
#include <vector>

namespace test {

inline exo::log_file resign(const exo::log_reader& log, const exo::node_key& mallory) {
  std::vector<exo::bytes> entries;
  exo::digest prev{};
  const auto& pk = mallory.public_key();
  for (std::uint64_t i = 0; i < log.size(); ++i) {
    auto e = exo::decode_entry(log.read(i).value()).value();
    e.prev = prev;
    if (i == 0) {
      exo::value::map args = *e.args.if_map();
      for (auto& [k, v] : args)
        if (k == "node_key") v = exo::value(exo::bytes(pk.bytes.begin(), pk.bytes.end()));
      e.args = exo::value::make_map(std::move(args));
    }
    entries.push_back(exo::encode_entry(e));
    prev = exo::entry_hash(entries.back());
  }
  if (entries.empty()) throw std::invalid_argument("resign: an empty log");
  return exo::log_file(std::move(entries), exo::encode_head(exo::sign_head(log.size(), prev, mallory)));
}

}  // namespace test
