// Methods and services: arguments checked against a method's parameters, callers against its
// keys, and any composed logged hypervisor put behind the service interface an RPC server
// serves (tests/rpc serves one over the network).

#include "../support/print.hpp"

#include <exo/core/json.hpp>
#include <exo/hypervisor/hypervisor_service.hpp>
#include <exo/store/node.hpp>
#include <exo/verifier/verify.hpp>

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

/// Hands out capabilities to itself: as a call's result, and as an output.
struct vault {
  BOOST_HANA_DEFINE_STRUCT(vault, (std::int64_t, opened));
  exo::expected<std::int64_t> open(exo::context&) { return ++opened; }
  exo::expected<exo::cap_handle> share(exo::context& ctx) { return ctx.self_cap("open", exo::rights::call | exo::rights::transfer); }
  exo::expected<void> give(exo::context& ctx, exo::cap_handle to) {
    auto mine = ctx.self_cap("open", exo::rights::call | exo::rights::transfer);
    if (!mine) return exo::unexpected(mine.error());
    return ctx.call(to, *mine);
  }
  static constexpr std::string_view exo_name = "vault";
  static constexpr auto exo_exports =
      exo::exports(exo::fn<&vault::open>("open", 0), exo::fn<&vault::share>("share", 0), exo::fn<&vault::give>("give", 1));
};

/// Doubles what it is sent.
struct doubler {
  BOOST_HANA_DEFINE_STRUCT(doubler, (std::int64_t, calls));
  exo::expected<std::int64_t> twice(exo::context&, std::int64_t x) {
    ++calls;
    return 2 * x;
  }
  static constexpr std::string_view exo_name = "doubler";
  static constexpr auto exo_exports = exo::exports(exo::fn<&doubler::twice>("twice", 1));
};

/// Answers a call only after asking another actor: it keeps the call's reply target as a
/// capability (context::reply_cap) and answers through it from the later message.
struct waiter {
  BOOST_HANA_DEFINE_STRUCT(waiter, (std::int64_t, reply));
  exo::expected<void> ask(exo::context& ctx, exo::cap_handle helper, std::int64_t x) {
    auto keep = ctx.reply_cap();
    if (!keep) return exo::unexpected(keep.error());
    reply = keep->index;
    auto back = ctx.self_cap("answer", exo::rights::call | exo::rights::transfer);
    if (!back) return exo::unexpected(back.error());
    return ctx.call_with(helper, exo::send_options{.reply_to = *back}, x);
  }
  exo::expected<void> answer(exo::context& ctx, std::int64_t y) { return ctx.call(exo::cap_handle{static_cast<std::uint32_t>(reply)}, y + 1); }
  // A reply capability answers, nothing more: it cannot be narrowed or handed on.
  exo::expected<std::int64_t> misuse(exo::context& ctx, exo::cap_handle helper) {
    auto keep = ctx.reply_cap();
    if (!keep) return exo::unexpected(keep.error());
    return ctx.call(helper, *keep).has_value() ? 1 : 0;
  }
  static constexpr std::string_view exo_name = "waiter";
  static constexpr auto exo_exports = exo::exports(exo::fn<&waiter::ask>("ask", 2), exo::fn<&waiter::answer>("answer", 1),
                                                   exo::fn<&waiter::misuse>("misuse", 1));
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

BOOST_AUTO_TEST_CASE(capabilities_a_call_hands_out_do_not_pile_up_in_the_hosts_table) {
  fifo_log_hv hv(exo::config{.name = "vaults"});
  hv.register_type<vault>();
  const exo::id v = *hv.actor_id(hv.create(vault{}).value());
  const auto nowhere = hv.create_egress("nowhere", nullptr);  // an output nobody takes
  exo::method share{"vault", "share", v, {}, {}};
  exo::hypervisor_service<fifo_log_hv> svc(hv, {.name = "vaults", .image = {}, .methods = {share}});
  exo::service& s = svc;
  const std::size_t base = hv.cap_count(hv.host_id()).value();

  // Through the service (what the RPC server serves), a result's caps are released and
  // numbered as the log numbers them: cap #0 naming result_caps[0].
  for (int i = 0; i < 100; ++i) {
    auto out = s.call(share, {}, std::nullopt);
    BOOST_REQUIRE(out);
    BOOST_REQUIRE(out->result.if_cap());
    BOOST_TEST(out->result.if_cap()->index == 0u);
    auto* caps = out->result_caps.if_list();
    BOOST_REQUIRE(caps);
    BOOST_REQUIRE(caps->size() == 1u);
    BOOST_TEST((*(*caps)[0].find("function") == exo::value("open")));
  }
  BOOST_TEST(hv.cap_count(hv.host_id()).value() == base);

  // Outputs to an egress without a sink are logged with their caps described, and leave no handle.
  for (int i = 0; i < 100; ++i) BOOST_REQUIRE(hv.invoke(v, "give", {nowhere}));
  BOOST_TEST(hv.cap_count(hv.host_id()).value() == base);
  auto last = hv.invoke(v, "give", {nowhere}).value();
  auto* outputs = last.outputs.if_list();
  BOOST_REQUIRE(outputs);
  BOOST_REQUIRE(outputs->size() == 1u);
  BOOST_TEST(((*outputs)[0].find("caps")->if_list()->size() == 1u));

  // invoke() itself hands the caller a live handle: it is the caller's, to use and to release.
  auto mine = hv.invoke(v, "share").value();
  BOOST_TEST(hv.cap_count(hv.host_id()).value() == base + 1);
  BOOST_REQUIRE(mine.result.if_cap());
  BOOST_TEST((hv.actor_id(*mine.result.if_cap()).value() == v));
  BOOST_TEST(hv.release_caps(mine.result) == 1u);
  BOOST_TEST(hv.cap_count(hv.host_id()).value() == base);

  // A replay hands its results to no one, and keeps none of them.
  fifo_log_hv fresh(exo::config{.name = "vaults"});
  fresh.register_type<vault>();
  const std::size_t fresh_base = fresh.cap_count(fresh.host_id()).value();
  auto verdict = exo::verify(hv.log(), [&] { return &fresh; });
  BOOST_TEST(verdict.ok(), verdict.to_string());
  BOOST_TEST(verdict.entries == hv.log().size());
  // One handle for the one create entry (the node's own create left it one too); none for
  // the 300 calls replayed.
  BOOST_TEST(fresh.cap_count(fresh.host_id()).value() == fresh_base + 1);
}

BOOST_AUTO_TEST_CASE(a_reply_capability_answers_a_call_from_a_later_message) {
  fifo_log_hv hv(exo::config{.name = "waiting"});
  hv.register_type<doubler>();
  hv.register_type<waiter>();
  const auto doubler_cap = hv.create(doubler{}).value();
  const exo::value d = hv.function_cap(doubler_cap, "twice", exo::rights::call | exo::rights::transfer).value();
  const exo::id w = *hv.actor_id(hv.create(waiter{}).value());
  // The call's result comes from `answer`, a later message of the same input.
  auto out = hv.invoke(w, "ask", {d, exo::value(20)});
  BOOST_REQUIRE(out);
  BOOST_TEST(!out->error.has_value(), (out->error ? out->error->message : ""));
  BOOST_TEST((out->result == exo::value(41)));
  auto again = hv.invoke(w, "ask", {d, exo::value(5)});
  BOOST_REQUIRE(again);
  BOOST_TEST((again->result == exo::value(11)), exo::to_json(again->result).dump());
  // Handing a reply capability on is refused (it has the call right only): the message fails.
  auto misuse = hv.invoke(w, "misuse", {d});
  BOOST_REQUIRE(misuse);
  BOOST_REQUIRE(misuse->error.has_value());
  BOOST_TEST(contains(misuse->error->message, "transfer"), misuse->error->message);
  // The log replays to the same results and roots.
  fifo_log_hv fresh(exo::config{.name = "waiting"});
  fresh.register_type<doubler>();
  fresh.register_type<waiter>();
  auto verdict = exo::verify(hv.log(), [&] { return &fresh; });
  BOOST_TEST(verdict.ok(), verdict.to_string());
  BOOST_TEST(verdict.entries == hv.log().size());
}

BOOST_AUTO_TEST_SUITE_END()
