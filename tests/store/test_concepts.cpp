// The store's open edges, as concepts: what a backend must provide (store_backend), one that
// keeps a data directory (directory_store, where a hypervisor keeps its node key) and one that
// can write behind (write_behind_store, what an RPC server turns on). Each is checked against
// exo's backends, a conforming type of one's own and types that miss one requirement.

#include <exo/store/backend.hpp>
#include <exo/store/lmdb_store.hpp>

#include <boost/test/unit_test.hpp>

namespace {

using exo::bytes;
using exo::commit_batch;
using exo::digest;
using exo::expected;
using exo::node_pos;
using exo::root_ref;

/// A backend of one's own: everything store_backend asks, nothing more.
struct my_backend {
  static constexpr bool durable = false;
  expected<std::optional<bytes>> read_node(node_pos) const;
  node_pos next_position() const;
  expected<void> commit(commit_batch&&);
  expected<root_ref> head() const;
  expected<std::optional<node_pos>> find_root(const digest&) const;
  expected<std::optional<bytes>> read_meta(std::string_view) const;
};
/// The same, saying where its files are, and able to write behind.
struct my_disk_backend : my_backend {
  static constexpr bool durable = true;
  std::string directory() const;
  expected<void> set_write_behind(bool);
  void when_durable(std::function<void(const expected<void>&)>);
  std::optional<exo::error> take_failure();
};
/// Says nothing of its durability.
struct no_durable {
  expected<std::optional<bytes>> read_node(node_pos) const;
  node_pos next_position() const;
  expected<void> commit(commit_batch&&);
  expected<root_ref> head() const;
  expected<std::optional<node_pos>> find_root(const digest&) const;
  expected<std::optional<bytes>> read_meta(std::string_view) const;
};
/// Its commit cannot fail, so it cannot say why it did.
struct commit_returns_nothing : my_backend {
  void commit(commit_batch&&);
};
/// Reads through a non-const object only.
struct reads_mutably {
  static constexpr bool durable = false;
  expected<std::optional<bytes>> read_node(node_pos);
  node_pos next_position() const;
  expected<void> commit(commit_batch&&);
  expected<root_ref> head() const;
  expected<std::optional<node_pos>> find_root(const digest&) const;
  expected<std::optional<bytes>> read_meta(std::string_view) const;
};
/// Writes behind but cannot report a failure.
struct behind_without_failures : my_backend {
  expected<void> set_write_behind(bool);
  void when_durable(std::function<void(const expected<void>&)>);
};

}  // namespace

BOOST_AUTO_TEST_SUITE(store_concepts)

BOOST_AUTO_TEST_CASE(backends_conform_and_types_missing_a_requirement_do_not) {
  BOOST_TEST(exo::store_backend<exo::memory_store>);
  BOOST_TEST(exo::store_backend<exo::lmdb_store>);
  BOOST_TEST(exo::store_backend<my_backend>);
  BOOST_TEST(exo::store_backend<my_disk_backend>);
  BOOST_TEST(!exo::store_backend<no_durable>);
  BOOST_TEST(!exo::store_backend<commit_returns_nothing>);
  BOOST_TEST(!exo::store_backend<reads_mutably>);
  BOOST_TEST(!exo::store_backend<int>);
  // Durability is a property of the type.
  BOOST_TEST(!exo::memory_store::durable);
  BOOST_TEST(exo::lmdb_store::durable);
}

BOOST_AUTO_TEST_CASE(a_data_directory_and_writing_behind_are_their_own_concepts) {
  BOOST_TEST(exo::directory_store<exo::lmdb_store>);
  BOOST_TEST(exo::directory_store<my_disk_backend>);
  BOOST_TEST(!exo::directory_store<exo::memory_store>);
  BOOST_TEST(!exo::directory_store<my_backend>);
  BOOST_TEST(exo::write_behind_store<exo::lmdb_store>);
  BOOST_TEST(exo::write_behind_store<my_disk_backend>);
  BOOST_TEST(!exo::write_behind_store<exo::memory_store>);
  BOOST_TEST(!exo::write_behind_store<behind_without_failures>);
}

BOOST_AUTO_TEST_SUITE_END()
