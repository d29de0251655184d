// Methods and services: arguments checked against a method's parameters, callers against its
// keys, and any composed logged hypervisor put behind the service interface an RPC server
// serves (tests/rpc serves one over the network).

#include "../support/print.hpp"

#include <exo/hypervisor/hypervisor_service.hpp>
#include <exo/store/node.hpp>

#include <boost/test/unit_test.hpp>

namespace {

struct ledger {
  BOOST_HANA_DEFINE_STRUCT(ledger, (std::int64_t, total));
  exo::expected<std::int64_t> add(exo::context& ctx, std::int64_t by, std::string note) {
    if (auto r = ctx.storage_put(exo::as_bytes(std::string_view("note")), exo::as_bytes(note)); !r)
      return exo::unexpected(r.error());
    return total += by;
  }
  static constexpr std::string_view exo_name = "ledger";
  static constexpr auto exo_exports = exo::exports(exo::fn<&ledger::add>("add", 2));
};

using fifo_log_hv = exo::hypervisor<exo::fifo_scheduler, exo::memory_store, exo::memory_log>;

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(services)

BOOST_AUTO_TEST_CASE(arguments_are_bound_to_a_methods_parameters) {
  exo::method m{"ledger", "add", exo::id{}, {{"by", "i64", exo::value(1)}, {"note", "string", exo::value("")}}, {}};
  BOOST_TEST(m.name() == "ledger.add");
  auto none = exo::bind_args(m, exo::value{});
  BOOST_REQUIRE(none);
  BOOST_TEST(((*none)[0] == exo::value(1)));
  BOOST_TEST(((*none)[1] == exo::value("")));
  auto wrong = exo::bind_args(m, exo::value(exo::value::list{exo::value("x")}));
  BOOST_REQUIRE(!wrong);
  BOOST_TEST(contains(wrong.error().message, "ledger.add: argument 1 'by' must be i64, got string"), wrong.error().message);
  BOOST_TEST(!exo::bind_args(m, exo::value(7)));  // not a list
  BOOST_TEST(exo::is_param_type("map"));
  BOOST_TEST(!exo::is_param_type("cap"));
  BOOST_TEST(!exo::fits_param_type(exo::value(exo::cap_handle{0}), "any"));  // caps never come from outside
}

BOOST_AUTO_TEST_CASE(a_method_reserved_for_keys_refuses_other_callers) {
  auto owner = exo::node_key::generate().value();
  auto stranger = exo::node_key::generate().value();
  exo::method open{"ledger", "add", exo::id{}, {}, {}};
  exo::method reserved{"ledger", "add", exo::id{}, {}, {owner.public_key()}};
  BOOST_TEST(exo::allowed(open, std::nullopt));
  BOOST_TEST(exo::allowed(open, stranger.public_key()));
  BOOST_TEST(exo::allowed(reserved, owner.public_key()));
  BOOST_TEST(!exo::allowed(reserved, stranger.public_key()));
  BOOST_TEST(!exo::allowed(reserved, std::nullopt));
}

BOOST_AUTO_TEST_CASE(a_composed_hypervisor_is_served_through_the_service_interface) {
  fifo_log_hv hv(exo::config{.name = "books"});
  hv.register_type<ledger>();
  const exo::id books = *hv.actor_id(hv.create(ledger{}).value());
  exo::method add{"books", "add", books, {{"by", "i64", exo::value(1)}, {"note", "string", exo::value("")}}, {}};
  exo::digest app = exo::hash(exo::as_bytes(std::string_view("the books app")));
  exo::hypervisor_service<fifo_log_hv> svc(hv, {.name = "books", .image = app, .methods = {add}});
  exo::service& s = svc;
  BOOST_TEST(s.describe().name == "books");
  BOOST_TEST((s.describe().image == app));
  BOOST_TEST((s.describe().node_key == hv.node_public_key()));
  BOOST_REQUIRE(s.actor("books"));
  BOOST_TEST((*s.actor("books") == books));
  BOOST_TEST(!s.actor("nobody"));

  s.begin_batch();
  auto one = s.call(s.describe().methods[0], *exo::bind_args(add, exo::value(exo::value::list{exo::value(5), exo::value("a")})), std::nullopt);
  auto two = s.call(s.describe().methods[0], *exo::bind_args(add, exo::value{}), std::nullopt);
  BOOST_REQUIRE(s.end_batch());
  BOOST_REQUIRE(one && two);
  BOOST_TEST((one->result == exo::value(5)));
  BOOST_TEST((two->result == exo::value(6)));
  BOOST_TEST(s.log().size() == 4u);  // init, create, two calls
  BOOST_TEST((s.log_last() == hv.log().last_hash()));

  // A read comes with a proof that holds under the root.
  auto r = s.read(books, exo::as_bytes(std::string_view("note")));
  BOOST_REQUIRE(r);
  BOOST_REQUIRE(r->value);
  BOOST_TEST((*r->value == exo::to_bytes("")));
  BOOST_TEST((r->root == *s.state_root()));
  auto proof = exo::decode_proof(r->proof);
  BOOST_REQUIRE(proof);
  BOOST_TEST(exo::verify_proof(r->root, r->key, *r->value, *proof).has_value());

  // A memory store writes nothing behind: durability questions have their answers at once.
  BOOST_TEST(s.set_write_behind(true).has_value());
  bool told = false;
  s.when_durable([&](const exo::expected<void>& ok) { told = ok.has_value(); });
  BOOST_TEST(told);
  BOOST_TEST(!s.take_failure());
  BOOST_TEST(s.rollback().has_value());
  BOOST_TEST(s.log().size() == 4u);
}

BOOST_AUTO_TEST_SUITE_END()
