// Actor ids, and the kernel's index of actors by id.
#include <exo/core/hash.hpp>
#include <exo/core/value.hpp>
#include <exo/hypervisor/kernel.hpp>

#include <algorithm>
#include <cstring>
#include <functional>
#include <string>

namespace exo {

id derive_actor_id(const id& creator, std::uint64_t nonce) noexcept {
  // Exactly encode(value::list{bytes(creator), i64(nonce)}), written without allocating
  // (tests check the two agree).
  std::uint8_t buf[45];
  buf[0] = static_cast<std::uint8_t>(kind::list);
  buf[1] = 2;
  buf[2] = static_cast<std::uint8_t>(kind::bytes);
  buf[3] = 32;
  std::memcpy(buf + 4, creator.bytes.data(), 32);
  buf[36] = static_cast<std::uint8_t>(kind::i64);
  for (int i = 0; i < 8; ++i) buf[37 + i] = static_cast<std::uint8_t>(nonce >> (8 * i));
  return hash(byte_view(buf, sizeof buf));
}

id hypervisor_id(std::string_view name) { return hash("exo hypervisor:" + std::string(name)); }

namespace detail {

std::uint32_t id_index::find(const id& key, const actor_table& actors) const noexcept {
  if (table_.empty()) return npos;
  std::size_t mask = table_.size() - 1;
  for (std::size_t i = std::hash<id>{}(key) & mask;; i = (i + 1) & mask) {
    std::uint32_t v = table_[i];
    if (!v) return npos;
    if (actors[v - 1].self == key) return v - 1;
  }
}

void id_index::insert(const id& key, std::uint32_t slot, const actor_table& actors) {
  if ((count_ + 1) * 2 > table_.size()) {
    std::vector<std::uint32_t> old = std::move(table_);
    table_.assign(std::max<std::size_t>(16, old.size() * 2), 0);
    count_ = 0;
    for (std::uint32_t v : old)
      if (v) insert(actors[v - 1].self, v - 1, actors);
  }
  std::size_t mask = table_.size() - 1;
  std::size_t i = std::hash<id>{}(key) & mask;
  while (table_[i]) i = (i + 1) & mask;
  table_[i] = slot + 1;
  ++count_;
}

void id_index::erase(const id& key, const actor_table& actors) noexcept {
  if (table_.empty()) return;
  std::size_t mask = table_.size() - 1;
  std::size_t i = std::hash<id>{}(key) & mask;
  for (;; i = (i + 1) & mask) {
    if (!table_[i]) return;
    if (actors[table_[i] - 1].self == key) break;
  }
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  for (std::size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
    if (!table_[j]) break;
    std::size_t home = std::hash<id>{}(actors[table_[j] - 1].self) & mask;
    bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
    if (movable) {
      table_[i] = table_[j];
      i = j;
    }
  }
  table_[i] = 0;
  --count_;
}

}  // namespace detail
}  // namespace exo
