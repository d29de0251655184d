// The call log's open edge: a hypervisor's Log policy (log_backend). exo's own store logs
// conform; a log of one's own conforms when it is a log_writer kept in a store it names;
// types that miss one of these do not.

#include <exo/call_log/store_log.hpp>
#include <exo/store/backend.hpp>
#include <exo/store/lmdb_store.hpp>

#include <boost/test/unit_test.hpp>

namespace {

/// A log of one's own, over memory_store: all log_writer asks.
class my_log final : public exo::log_writer {
 public:
  using store_type = exo::memory_store;
  explicit my_log(const exo::memory_store&) {}
  std::uint64_t size() const override { return 0; }
  exo::expected<exo::bytes> read(std::uint64_t) const override { return exo::fail(exo::errc::invalid_argument, "empty"); }
  exo::expected<std::optional<exo::bytes>> head() const override { return std::optional<exo::bytes>{}; }
  const exo::digest& last_hash() const noexcept override { return zero_; }
  std::uint64_t next_index() const noexcept override { return 0; }
  const exo::digest& tip() const noexcept override { return zero_; }
  void stage(exo::bytes, const exo::digest&, exo::commit_meta&) override {}
  void seal(const exo::node_key*, exo::commit_meta&) const override {}
  void committed() override {}
  void abandoned() override {}
  exo::expected<void> reload() override { return {}; }

 private:
  exo::digest zero_{};
};

/// Reads a log but takes no entries.
struct reader_only final : exo::log_reader {
  using store_type = exo::memory_store;
  explicit reader_only(const exo::memory_store&) {}
  std::uint64_t size() const override { return 0; }
  exo::expected<exo::bytes> read(std::uint64_t) const override { return exo::bytes{}; }
  exo::expected<std::optional<exo::bytes>> head() const override { return std::optional<exo::bytes>{}; }
};

/// Does not say which store it keeps its log in.
class no_store_type final : public exo::log_writer {
 public:
  std::uint64_t size() const override { return 0; }
  exo::expected<exo::bytes> read(std::uint64_t) const override { return exo::bytes{}; }
  exo::expected<std::optional<exo::bytes>> head() const override { return std::optional<exo::bytes>{}; }
  const exo::digest& last_hash() const noexcept override { return zero_; }
  std::uint64_t next_index() const noexcept override { return 0; }
  const exo::digest& tip() const noexcept override { return zero_; }
  void stage(exo::bytes, const exo::digest&, exo::commit_meta&) override {}
  void seal(const exo::node_key*, exo::commit_meta&) const override {}
  void committed() override {}
  void abandoned() override {}
  exo::expected<void> reload() override { return {}; }

 private:
  exo::digest zero_{};
};

}  // namespace

BOOST_AUTO_TEST_SUITE(log_concepts)

BOOST_AUTO_TEST_CASE(logs_conform_and_types_missing_a_requirement_do_not) {
  BOOST_TEST(exo::log_backend<exo::store_log<exo::memory_store>>);
  BOOST_TEST(exo::log_backend<exo::store_log<exo::lmdb_store>>);
  BOOST_TEST(exo::log_backend<my_log>);
  BOOST_TEST(!exo::log_backend<reader_only>);
  BOOST_TEST(!exo::log_backend<no_store_type>);
  BOOST_TEST(!exo::log_backend<exo::memory_store>);
  // The stores a store_log can live in: any that keeps named records.
  BOOST_TEST(exo::meta_record_store<exo::memory_store>);
  BOOST_TEST(exo::meta_record_store<exo::lmdb_store>);
  BOOST_TEST(!exo::meta_record_store<int>);
}

BOOST_AUTO_TEST_SUITE_END()
