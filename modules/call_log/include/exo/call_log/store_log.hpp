#pragma once
/// \file
/// The call log kept in the state store's own metadata records, so that an input's state
/// changes and its log entry are written by one store commit (one LMDB transaction for
/// lmdb_store): after a crash the log head and the state root always agree (DESIGN.md
/// section 5).
///
/// Records: "exo.log/<index as 16 hex digits>" holds each encoded entry (so the records sort
/// in log order), "exo.log.head" the encoded signed head. exo::memory_log and exo::lmdb_log
/// (include/exo/hypervisor.hpp) are this template over memory_store and lmdb_store.
///
/// Writing goes through the hypervisor: it stages one or more entries (records added to the
/// next commit's metadata), seals them with one signed head, commits, and then tells the log
/// whether the commit went through.

#include <exo/call_log/entry.hpp>

#include <fmt/format.h>

#include <concepts>
#include <string>
#include <utility>
#include <vector>

namespace exo {

/// A store that keeps named metadata records (both exo store backends do).
template <class S>
concept meta_record_store = requires(const S& s, std::string_view name) {
  { s.read_meta(name) } -> std::same_as<expected<std::optional<bytes>>>;
};

/// What a log backend provides to the hypervisor (checked by the hypervisor's Log parameter).
template <class L>
concept log_backend = requires(L& l, const L& cl, bytes entry, const digest& h, const node_key& k,
                               std::vector<std::pair<std::string, bytes>>& records) {
  typename L::store_type;
  { cl.size() } -> std::same_as<std::uint64_t>;
  { cl.last_hash() } -> std::same_as<const digest&>;
  { cl.next_index() } -> std::same_as<std::uint64_t>;
  { cl.tip() } -> std::same_as<const digest&>;
  { l.stage(std::move(entry), h, records) } -> std::same_as<void>;
  { l.seal(&k, records) } -> std::same_as<void>;
  { l.committed() } -> std::same_as<void>;
  { l.abandoned() } -> std::same_as<void>;
  { l.reload() } -> std::same_as<expected<void>>;
} && std::derived_from<L, log_reader>;

template <meta_record_store Store>
class store_log final : public log_reader {
 public:
  using store_type = Store;
  static constexpr std::string_view head_record = "exo.log.head";

  /// The record name of entry `index`.
  static std::string entry_record(std::uint64_t index) { return fmt::format("exo.log/{:016x}", index); }

  /// The log in `store` (which must outlive it). A head record that does not decode is
  /// errc::malformed.
  static expected<store_log> open(const Store& store) {
    store_log l(store);
    if (auto r = l.reload(); !r) return unexpected(std::move(r).error());
    return l;
  }

  /// Reads the head record again, dropping what is staged: for when the store went back to an
  /// earlier commit (a failed commit that was written behind). On error nothing changes.
  expected<void> reload() {
    auto h = store_->read_meta(head_record);
    if (!h) return unexpected(std::move(h).error());
    log_head head{};
    if (*h) {
      auto d = decode_head(**h);
      if (!d) return unexpected(std::move(d).error());
      head = std::move(*d);
    }
    size_ = *h ? head.size : 0;
    last_ = *h ? head.last : digest{};
    staged_count_ = 0;
    return {};
  }

  std::uint64_t size() const override { return size_; }
  /// The hash of the last entry (zero for an empty log).
  const digest& last_hash() const noexcept { return last_; }

  expected<bytes> read(std::uint64_t index) const override {
    if (index >= size_)
      return fail(errc::invalid_argument, fmt::format("the log has {} entries; there is no entry {}", size_, index));
    auto r = store_->read_meta(entry_record(index));
    if (!r) return unexpected(std::move(r).error());
    if (!*r)
      return fail(errc::malformed, fmt::format("log entry {} is missing from the store (the log head says there are {} "
                                               "entries): the store is damaged",
                                               index, size_));
    return std::move(**r);
  }
  expected<std::optional<bytes>> head() const override { return store_->read_meta(head_record); }

  /// The index the next staged entry gets (entries staged but not committed count).
  std::uint64_t next_index() const noexcept { return size_ + staged_count_; }
  /// The hash of the last entry, staged or committed (what the next entry chains to).
  const digest& tip() const noexcept { return staged_count_ ? staged_ : last_; }

  /// Adds entry `entry` (whose hash is `h`, index next_index()) to `records`, the metadata
  /// of the next commit. Several entries may be staged for one commit (group commit); then
  /// seal() adds the head once, and committed() or abandoned() says how the commit went.
  void stage(bytes entry, const digest& h, std::vector<std::pair<std::string, bytes>>& records) {
    records.emplace_back(entry_record(next_index()), std::move(entry));
    ++staged_count_;
    staged_ = h;
  }
  /// Adds the head over everything staged, signed by `key`, to `records`. Without a key the
  /// head is left unsigned (zero key and signature): for scratch logs, such as a verifier's
  /// replay, that are never handed to anyone.
  void seal(const node_key* key, std::vector<std::pair<std::string, bytes>>& records) const {
    const std::uint64_t n = next_index();
    log_head head = key ? sign_head(n, tip(), *key) : log_head{n, tip(), bytes(32, 0), bytes(64, 0)};
    records.emplace_back(std::string(head_record), encode_head(head));
  }
  /// The commit with the staged entries went through.
  void committed() {
    size_ += staged_count_;
    if (staged_count_) last_ = staged_;
    staged_count_ = 0;
  }
  /// It did not: the staged entries are not in the log.
  void abandoned() { staged_count_ = 0; }

 private:
  explicit store_log(const Store& s) : store_(&s) {}
  const Store* store_;
  std::uint64_t size_ = 0;
  digest last_{};
  digest staged_{};
  std::uint64_t staged_count_ = 0;
};

}  // namespace exo
