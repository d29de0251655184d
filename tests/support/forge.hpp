#pragma once
// An attacker's tools, for the tests that play one: a log rebuilt from entries of the
// attacker's choosing, renumbered, re-chained and re-signed end to end by another key (the
// init entry declaring that key). Without a pinned node key such a log is consistent in itself.

#include <exo/call_log/entry.hpp>
#include <exo/call_log/file.hpp>
#include <exo/core/sign.hpp>

#include <stdexcept>
#include <vector>

namespace test {

/// A log of `entries`, numbered and chained in order, its head signed by `mallory`.
inline exo::log_file forge(std::vector<exo::log_entry> entries, const exo::node_key& mallory) {
  if (entries.empty()) throw std::invalid_argument("forge: an empty log");
  std::vector<exo::bytes> out;
  exo::digest prev{};
  const auto& pk = mallory.public_key();
  for (std::uint64_t i = 0; i < entries.size(); ++i) {
    exo::log_entry& e = entries[i];
    e.index = i;
    e.prev = prev;
    if (i == 0) {
      exo::value::map args = *e.args.if_map();
      for (auto& [k, v] : args)
        if (k == "node_key") v = exo::value(exo::bytes(pk.bytes.begin(), pk.bytes.end()));
      e.args = exo::value::make_map(std::move(args));
    }
    out.push_back(exo::encode_entry(e));
    prev = exo::entry_hash(out.back());
  }
  const std::uint64_t n = out.size();
  return exo::log_file(std::move(out), exo::encode_head(exo::sign_head(n, prev, mallory)));
}

/// The entries of `log`, decoded.
inline std::vector<exo::log_entry> entries_of(const exo::log_reader& log) {
  std::vector<exo::log_entry> out;
  for (std::uint64_t i = 0; i < log.size(); ++i) out.push_back(exo::decode_entry(log.read(i).value()).value());
  return out;
}

/// `log` re-chained and re-signed end to end by `mallory`, its entries otherwise unchanged.
inline exo::log_file resign(const exo::log_reader& log, const exo::node_key& mallory) {
  return forge(entries_of(log), mallory);
}

}  // namespace test
