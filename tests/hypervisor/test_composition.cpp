// The hypervisor as a composition of policies: which Log policies fit which Store, what a
// policy decides at compile time (no host send when logged, create returning expected), the
// node key's place, one registry of native types, and the hypervisor as a movable handle.

#include "../support/temp_dir.hpp"
#include "actors.hpp"

#include <exo/hypervisor.hpp>

#include <boost/test/unit_test.hpp>

#include <filesystem>

namespace {

using mem_log_hv = exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log>;
using disk_hv = exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store>;

/// A persistable native type for the durable tests.
struct tally {
  BOOST_HANA_DEFINE_STRUCT(tally, (std::int64_t, n));
  std::int64_t add(exo::context&, std::int64_t by) { return n += by; }
  static constexpr std::string_view exo_name = "tally";
  static constexpr auto exo_exports = exo::exports(exo::fn<&tally::add>("add", 1));
};

/// An empty native type: code alone can make one (no state to start from).
struct bell {
  std::int64_t ring(exo::context&) const { return 1; }
  static constexpr std::string_view exo_name = "bell";
  static constexpr auto exo_exports = exo::exports(exo::fn<&bell::ring>("ring", 1));
};

template <class H>
concept host_sends = requires(H& h, exo::cap_handle c) { h.call(c, 1); };

}  // namespace

BOOST_AUTO_TEST_SUITE(composition)

BOOST_AUTO_TEST_CASE(a_log_policy_fits_the_store_it_keeps_its_log_in) {
  BOOST_TEST((exo::log_policy<exo::no_log, exo::memory_store>));
  BOOST_TEST((exo::log_policy<exo::no_log, exo::lmdb_store>));
  BOOST_TEST((exo::log_policy<exo::memory_log, exo::memory_store>));
  BOOST_TEST((exo::log_policy<exo::lmdb_log, exo::lmdb_store>));
  BOOST_TEST((!exo::log_policy<exo::lmdb_log, exo::memory_store>));  // its log would be in another store
  BOOST_TEST((!exo::log_policy<exo::memory_store, exo::memory_store>));
  BOOST_TEST((!exo::log_policy<int, exo::memory_store>));
}

BOOST_AUTO_TEST_CASE(what_a_policy_decides_is_decided_at_compile_time) {
  BOOST_TEST(host_sends<exo::hypervisor<>>);
  BOOST_TEST(!host_sends<mem_log_hv>);
  BOOST_TEST((std::same_as<decltype(std::declval<exo::hypervisor<>&>().create(test::counter{})), exo::cap_handle>));
  BOOST_TEST((std::same_as<decltype(std::declval<mem_log_hv&>().create(test::counter{})), exo::expected<exo::cap_handle>>));
  BOOST_TEST(!exo::hypervisor<>::durable);
  BOOST_TEST(disk_hv::durable);
  BOOST_TEST(exo::hypervisor<>::deterministic);
  BOOST_TEST(!exo::hypervisor<exo::fifo_scheduler>::deterministic);
  BOOST_TEST(mem_log_hv::logged);
  BOOST_TEST(!exo::hypervisor<>::logged);
}

BOOST_AUTO_TEST_CASE(the_node_key_lives_in_a_data_directory_and_nowhere_else) {
  test::temp_dir dir;
  auto store = exo::lmdb_store::open(dir.sub("d"), {.create = true}).value();
  auto k1 = exo::node_key_for(store).value();
  BOOST_TEST(std::filesystem::exists(dir.sub("d/node.key")));
  auto k2 = exo::node_key_for(store).value();
  BOOST_TEST((k1.public_key() == k2.public_key()));  // the same key on every open
  exo::memory_store mem;
  auto m1 = exo::node_key_for(mem).value(), m2 = exo::node_key_for(mem).value();
  BOOST_TEST((m1.public_key() != m2.public_key()));  // a store without files: a key of the moment
}

BOOST_AUTO_TEST_CASE(a_hypervisor_is_a_handle_that_moves) {
  exo::hypervisor<> a(exo::config{.name = "moving"});
  auto c = a.create(test::counter{});
  BOOST_REQUIRE(a.call(*a.function_cap(c, "add"), 5));
  exo::hypervisor<> b = std::move(a);
  b.run();
  BOOST_TEST(b.state_of<test::counter>(*b.actor_id(c))->total == 5);
  BOOST_TEST(b.settings().name == "moving");
}

BOOST_AUTO_TEST_CASE(native_types_have_one_registry) {
  test::temp_dir dir;
  exo::container_registry reg;
  exo::id id;
  exo::digest root;
  {
    auto hv = disk_hv::open(exo::lmdb_store::open(dir.sub("d"), {.create = true}).value(),
                            exo::config{.name = "one", .containers = &reg})
                  .value();
    hv.register_type<tally>();  // goes to the registry's native container
    BOOST_TEST(reg.native().find(exo::native_type<tally>().code_hash) == &exo::native_type<tally>());
    auto t = hv.create(tally{2});
    id = *hv.actor_id(t);
    root = hv.commit().value();
  }
  {
    // Another hypervisor given the same registry loads the stored actor: the type is known by
    // its code hash, and registering it again is not needed.
    auto hv = disk_hv::open(exo::lmdb_store::open(dir.sub("d")).value(), exo::config{.name = "one", .containers = &reg})
                  .value();
    BOOST_TEST((hv.state_root().value() == root));
    BOOST_REQUIRE(hv.state_of<tally>(id));
    BOOST_TEST(hv.state_of<tally>(id)->n == 2);
    // Registered with the registry alone, a type is not declared by this hypervisor.
    BOOST_TEST(hv.type_list().if_list()->empty());
  }
  // A type added to a registry is code of the native container, by name.
  exo::container_registry other;
  other.native().add<bell>();
  exo::hypervisor<> hv(exo::config{.name = "two", .containers = &other});
  auto made = hv.create_code("native", exo::as_bytes(std::string_view("bell")));
  BOOST_REQUIRE_MESSAGE(made, (made ? "" : made.error().message));
  BOOST_TEST((*hv.type_of(*hv.actor_id(*made)) == &exo::native_type<bell>()));
  // Without a registry given, a hypervisor has one of its own that knows what it registers.
  exo::hypervisor<> alone;
  alone.register_type<bell>();
  BOOST_TEST(alone.create_code("native", exo::as_bytes(std::string_view("bell"))).has_value());
  BOOST_TEST(alone.type_list().if_list()->size() == 1u);
  BOOST_TEST(!alone.create_code("wasm", exo::bytes{}).has_value());  // and no plugin
}

BOOST_AUTO_TEST_SUITE_END()
