#pragma once
/// \file
/// The call log kept in the state store's own metadata records, so that an input's state
/// changes and its log entry are written by one store commit (one LMDB transaction for
/// lmdb_store): after a crash the log head and the state root always agree (DESIGN.md
/// section 5).
///
/// Records: "exo.log/<index as 16 hex digits>" holds each encoded entry (so the records sort
/// in log order), "exo.log.head" the encoded signed head. exo::memory_log and exo::lmdb_log
/// (exo/hypervisor.hpp) are this template over memory_store and lmdb_store.
///
/// A hypervisor's Log policy is any type satisfying `log_backend`: a log_writer
/// (exo/call_log/writer.hpp) over the hypervisor's Store, made from it unread and then
/// read with reload().

#include <exo/call_log/writer.hpp>

#include <fmt/format.h>

#include <concepts>
#include <string>
#include <utility>

namespace exo {

/// A store that keeps named metadata records (both exo store backends do).
template <class S>
concept meta_record_store = requires(const S& s, std::string_view name) {
  { s.read_meta(name) } -> std::same_as<expected<std::optional<bytes>>>;
};

/// What a hypervisor's Log policy provides: it is a log_writer, names the store it keeps its
/// log in (`store_type`), and is made over one, unread (the hypervisor calls reload()).
template <class L>
concept log_backend = std::derived_from<L, log_writer> && requires { typename L::store_type; } &&
                      std::constructible_from<L, const typename L::store_type&>;

template <meta_record_store Store>
class store_log final : public log_writer {
 public:
  using store_type = Store;
  static constexpr std::string_view head_record = "exo.log.head";
  /// The record of a pruned log's base (see log_reader::base): the index as 8 bytes, big-endian.
  static constexpr std::string_view base_record = "exo.log.base";

  /// The record name of entry `index`.
  static std::string entry_record(std::uint64_t index) { return fmt::format("exo.log/{:016x}", index); }

  /// The log in `store` (which must outlive it), not read yet: reload() reads it.
  explicit store_log(const Store& s) : store_(&s) {}
  /// The log in `store`, read. A head record that does not decode is errc::malformed.
  static expected<store_log> open(const Store& store) {
    store_log l(store);
    if (auto r = l.reload(); !r) return unexpected(std::move(r).error());
    return l;
  }

  expected<void> reload() override {
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
    auto b = store_->read_meta(base_record);
    if (!b) return unexpected(std::move(b).error());
    base_ = 0;
    if (*b) {
      if ((*b)->size() != 8) return fail(errc::malformed, "the call log's base record is damaged");
      for (std::uint8_t x : **b) base_ = (base_ << 8) | x;
      if (base_ >= size_ && base_ != 0)
        return fail(errc::malformed, fmt::format("the call log says it was pruned before entry {}, but it has {} entries", base_, size_));
    }
    return {};
  }

  /// The record that says a log was pruned before entry `base`.
  static bytes encode_base(std::uint64_t base) {
    bytes b(8);
    for (int i = 7; i >= 0; --i, base >>= 8) b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(base);
    return b;
  }
  std::uint64_t base() const override { return base_; }

  std::uint64_t size() const override { return size_; }
  const digest& last_hash() const noexcept override { return last_; }

  expected<bytes> read(std::uint64_t index) const override {
    if (index >= size_)
      return fail(errc::invalid_argument, fmt::format("the log has {} entries; there is no entry {}", size_, index));
    if (index != 0 && index < base_)
      return fail(errc::invalid_argument,
                  fmt::format("entry {} was pruned: this log keeps entry 0 and the entries from its checkpoint at "
                              "entry {} on; verify it from that checkpoint",
                              index, base_));
    auto r = store_->read_meta(entry_record(index));
    if (!r) return unexpected(std::move(r).error());
    if (!*r)
      return fail(errc::malformed, fmt::format("log entry {} is missing from the store (the log head says there are {} "
                                               "entries): the store is damaged",
                                               index, size_));
    return std::move(**r);
  }
  expected<std::optional<bytes>> head() const override { return store_->read_meta(head_record); }

  std::uint64_t next_index() const noexcept override { return size_ + staged_count_; }
  const digest& tip() const noexcept override { return staged_count_ ? staged_ : last_; }

  void stage(bytes entry, const digest& h, commit_meta& records) override {
    records.emplace_back(entry_record(next_index()), std::move(entry));
    ++staged_count_;
    staged_ = h;
  }
  void seal(const node_key* key, commit_meta& records) const override {
    const std::uint64_t n = next_index();
    log_head head = key ? sign_head(n, tip(), *key) : log_head{n, tip(), bytes(32, 0), bytes(64, 0)};
    records.emplace_back(std::string(head_record), encode_head(head));
  }
  void committed() override {
    size_ += staged_count_;
    if (staged_count_) last_ = staged_;
    staged_count_ = 0;
  }
  void abandoned() override { staged_count_ = 0; }

 private:
  const Store* store_;
  std::uint64_t size_ = 0;
  std::uint64_t base_ = 0;
  digest last_{};
  digest staged_{};
  std::uint64_t staged_count_ = 0;
};

}  // namespace exo
