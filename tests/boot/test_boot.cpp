// Images and boot: packing is deterministic and checks what it packs; bad images are clear
// errors; the same image boots to the same root; a data directory resumes and refuses
// another image; the verifier checks a log against its image.

#include "app.hpp"
#include "../support/forge.hpp"

#include <exo/boot/placement.hpp>
#include <exo/boot/prune.hpp>
#include <exo/core/json.hpp>
#include <exo/core/encoding.hpp>

#include <boost/test/unit_test.hpp>

#include <filesystem>

namespace {

using app_test::make_app;
using app_test::notes_manifest;
using app_test::pack_to;

const std::string owner(64, 'a');

std::string error_of(const exo::expected<exo::bytes>& r) { return r ? std::string("(no error)") : r.error().message; }

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(images)

BOOST_AUTO_TEST_CASE(packing_the_same_directory_gives_the_same_bytes) {
  test::temp_dir t;
  auto a = pack_to(make_app(t, "a", notes_manifest(owner)), t.sub("a.exo"));
  auto b = pack_to(make_app(t, "b", notes_manifest(owner)), t.sub("b.exo"));  // another path, same content
  BOOST_TEST((a == b));
  auto img = exo::read_image(a).value();
  BOOST_TEST(img.manifest.name == "notes");
  BOOST_TEST(img.manifest.actors.size() == 2u);
  BOOST_TEST(img.manifest.containers.size() == 2u);  // native and wasm, with their versions
  BOOST_TEST((img.hash == exo::hash(a)));
  BOOST_TEST(img.manifest.exports[0].params[0].fallback.has_value());
  // A changed byte of code is another image.
  auto c = pack_to(make_app(t, "c", notes_manifest(std::string(64, 'b'))), t.sub("c.exo"));
  BOOST_TEST((exo::read_image(c)->hash != img.hash));
}

BOOST_AUTO_TEST_CASE(pack_refuses_bad_manifests_with_the_place_named) {
  test::temp_dir t;
  app_test::registry r;
  struct bad_case {
    std::string manifest, expect;
  };
  const std::string actors = R"("actors": [{"name": "counter", "container": "wasm", "code": "counter.wasm"}])";
  const std::vector<bad_case> cases = {
      {"{", "not valid JSON"},
      {R"({"name": "x"})", "actors: must be a non-empty list"},
      {R"({"name": "x", )" + actors + R"(, "colour": 1})", "unknown field \"colour\""},
      {R"({"name": "x", "actors": [{"name": "c", "container": "wasm", "code": "missing.wasm"}]})", "missing.wasm"},
      {R"({"name": "x", "actors": [{"name": "c", "container": "wasm", "code": "../../etc/passwd"}]})", "is not inside"},
      {R"({"name": "x", "actors": [{"name": "c", "container": "nosuch", "code": "counter.wasm"}]})", "no plugin 'nosuch'"},
      {R"({"name": "x", "actors": [{"name": "c", "container": "wasm", "code": "exo.json"}]})", "does not compile"},
      {R"({"name": "x", "actors": [{"name": "n", "container": "native", "type": "no.such"}]})", "does not compile"},
      {R"({"name": "x", )" + actors + R"(, "init": [{"call": "counter.nope"}]})", "exports no function \"nope\""},
      {R"({"name": "x", )" + actors + R"(, "init": [{"call": "other.add"}]})", "no actor named \"other\""},
      {R"({"name": "x", )" + actors + R"(, "exports": [{"call": "counter.add", "params": [{"name": "a", "type": "int"}]}]})", "unknown type \"int\""},
      {R"({"name": "x", )" + actors + R"(, "exports": [{"call": "counter.add", "params": [{"name": "a", "type": "i64", "default": "s"}]}]})", "not of type i64"},
      {R"({"name": "x", )" + actors + R"(, "exports": [{"call": "counter.add", "callers": ["abc"]}]})", "64-hex-digit"},
      {R"({"name": "x", )" + actors + R"(, "exports": [{"call": "counter.add"}, {"call": "counter.add"}]})", "exported twice"},
      {R"({"name": "x", )" + actors + R"(, "init": [{"call": "counter.add", "args": [{"$actor": "nobody"}]}]})",
       "hands over actor nobody, which is not declared"},
      {R"({"name": "x", )" + actors + R"(, "init": [{"call": "counter.add", "args": [{"$actor": 1}]}]})",
       "a capability argument is"},
      {R"({"name": "x", )" + actors + R"(, "nodes": []})", "nodes: must map node names"},
      {R"({"name": "x", )" + actors + R"(, "nodes": {"a b": ["counter"]}})", "a node name is"},
      {R"({"name": "x", )" + actors + R"(, "nodes": {"a": []}})", "non-empty list of actor names"},
      {R"({"name": "x", )" + actors + R"(, "nodes": {"a": ["other"]}})", "places actor other, which is not declared"},
      {R"({"name": "x", )" + actors + R"(, "nodes": {"a": ["counter"], "b": ["counter"]}})", "which node a runs already"},
      {R"({"name": "x", "actors": [{"name": "counter", "container": "wasm", "code": "counter.wasm"},
          {"name": "n", "container": "native", "type": "exo.kv"}], "nodes": {"a": ["counter"]}})",
       "places actor n on no node"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto dir = make_app(t, "app" + std::to_string(i), cases[i].manifest);
    auto r2 = exo::pack_image(dir, r.reg);
    BOOST_TEST(!r2, "case " << i);
    BOOST_TEST(contains(error_of(r2), cases[i].expect), "case " << i << ": " << error_of(r2));
  }
  auto none = exo::pack_image(t.sub("nowhere"), r.reg);
  BOOST_TEST(contains(error_of(none), "cannot pack"));
}

BOOST_AUTO_TEST_CASE(an_image_places_its_actors_on_nodes) {
  test::temp_dir t;
  std::string placed = notes_manifest(owner);
  placed.replace(placed.find("\"exports\""), 0, R"("nodes": {"b": ["notes"], "a": ["counter"]},
  )");
  auto file = pack_to(make_app(t, "placed", placed), t.sub("placed.exo"));
  auto img = exo::read_image(file).value();
  BOOST_REQUIRE(img.manifest.nodes.size() == 2u);
  BOOST_TEST(img.manifest.nodes[0].name == "a");  // in name order, whatever the file's
  BOOST_TEST(*img.manifest.node_of("notes") == "b");
  BOOST_TEST(*img.manifest.node_of("counter") == "a");
  BOOST_TEST(!img.manifest.node_of("nobody"));
  // Without a placement an image is what it always was (no "nodes" field at all).
  auto plain = exo::read_image(pack_to(make_app(t, "plain", notes_manifest(owner)), t.sub("plain.exo"))).value();
  BOOST_TEST(plain.manifest.nodes.empty());
  BOOST_TEST(!plain.manifest.node_of("notes"));
  BOOST_TEST((plain.hash != img.hash));
  // An image whose placement was changed by hand is refused when read.
  auto content = exo::unseal(file, "EXOIMG1\n", "exo image").value();
  auto remade = [&](exo::value nodes) {
    exo::value c = content;
    for (auto& [k, v] : *c.if_map())
      if (k == "manifest")
        for (auto& [mk, mv] : *v.if_map())
          if (mk == "nodes") mv = std::move(nodes);
    return exo::read_image(*exo::seal("EXOIMG1\n", c));
  };
  auto node = [](std::string name, std::vector<std::string> actors) {
    return exo::to_value(exo::image_node{std::move(name), std::move(actors)});
  };
  const std::vector<std::pair<exo::value, std::string>> bad = {
      {exo::value::list{node("b", {"notes"}), node("a", {"counter"})}, "not in name order"},
      {exo::value::list{node("a", {"counter", "notes"}), node("b", {"notes"})}, "on two nodes"},
      {exo::value::list{node("a", {"counter"})}, "on no node"},
      {exo::value::list{node("a", {"counter"}), node("b b", {"notes"})}, "cannot name a node"},
      {exo::value::list{node("a", {"counter", "notes", "ghost"})}, "creates no actor ghost"},
      {exo::value::list{}, "there but empty"},
  };
  for (auto& [nodes, expect] : bad) {
    auto r = remade(nodes);
    BOOST_REQUIRE_MESSAGE(!r, expect);
    BOOST_TEST(contains(r.error().message, expect), r.error().message);
  }
}

BOOST_AUTO_TEST_CASE(every_node_computes_the_same_ids_and_its_first_route_entry_from_the_image) {
  test::temp_dir t;
  app_test::registry r;
  // counter on a, notes on b; an init message hands a's counter to b's notes.
  std::string placed = notes_manifest(owner);
  placed.replace(placed.find("\"exports\""), 0, R"("nodes": {"a": ["counter"], "b": ["notes"]},
  )");
  placed.replace(placed.find("{\"call\": \"notes.put\", \"args\": [\"motd\", \"hi\"]}"), 0,
                 R"({"call": "notes.put", "args": ["counter", {"$actor": "counter"}]}, )");
  auto img = exo::read_image(pack_to(make_app(t, "placed", placed), t.sub("placed.exo"))).value();
  BOOST_REQUIRE(exo::load_containers(img, r.reg));
  auto ids = exo::placed_actor_ids(img).value();
  BOOST_TEST(ids.at("counter").node == "a");
  BOOST_TEST(ids.at("notes").node == "b");
  BOOST_TEST(exo::node_config_name(img, "a") == "notes@a");
  // The id is the one node a's hypervisor really gives the first actor it creates.
  exo::hypervisor<> hv(exo::config{.name = exo::node_config_name(img, "a"), .containers = &r.reg});
  auto made = hv.create_code("wasm", *img.blob(img.manifest.actors[0].code));
  BOOST_REQUIRE(made);
  BOOST_TEST((*hv.actor_id(*made) == ids.at("counter").actor));
  BOOST_TEST((ids.at("notes").actor != ids.at("counter").actor));

  const auto key_a = exo::node_key::generate().value().public_key(), key_b = exo::node_key::generate().value().public_key();
  auto for_a = exo::boot_routes(img, "a", {{"b", key_b}}, r.reg);
  BOOST_REQUIRE_MESSAGE(for_a, (for_a ? "" : for_a.error().message));
  BOOST_REQUIRE(for_a->peers.size() == 1u);
  BOOST_TEST(for_a->peers[0].node == "b");
  BOOST_REQUIRE(for_a->routes.size() == 1u);  // b's notes, with exo.kv's functions
  BOOST_TEST((for_a->routes[0].actor == ids.at("notes").actor));
  const auto& fns = for_a->routes[0].functions;
  BOOST_TEST((std::find(fns.begin(), fns.end(), "put") != fns.end()));
  BOOST_REQUIRE(for_a->grants.size() == 1u);  // its counter, handed to b's notes
  BOOST_TEST((for_a->grants[0].actor == ids.at("counter").actor));
  BOOST_TEST(for_a->grants[0].node == "b");
  auto for_b = exo::boot_routes(img, "b", {{"a", key_a}}, r.reg).value();
  BOOST_TEST(for_b.grants.empty());
  BOOST_REQUIRE(for_b.routes.size() == 1u);
  BOOST_TEST((for_b.routes[0].actor == ids.at("counter").actor));
  BOOST_TEST(for_b.routes[0].functions.size() >= 2u);  // the wasm counter's add and get
  // What cannot be planned is an error naming it.
  BOOST_TEST(contains(exo::boot_routes(img, "a", {}, r.reg).error().message, "node b's key is not known"));
  BOOST_TEST(contains(exo::boot_routes(img, "c", {}, r.reg).error().message, "places no actor on node c"));
  auto plain = exo::read_image(pack_to(make_app(t, "plain", notes_manifest(owner)), t.sub("plain.exo"))).value();
  BOOST_TEST(contains(exo::placed_actor_ids(plain).error().message, "places its actors on no nodes"));
}

BOOST_AUTO_TEST_CASE(corrupted_truncated_and_garbage_images_are_clear_errors) {
  test::temp_dir t;
  auto file = pack_to(make_app(t, "a", notes_manifest(owner)), t.sub("a.exo"));
  for (std::size_t cut : {std::size_t{0}, std::size_t{5}, std::size_t{8}, std::size_t{40}, file.size() / 2, file.size() - 1}) {
    auto r = exo::read_image(exo::byte_view(file.data(), cut));
    BOOST_REQUIRE_MESSAGE(!r, "cut at " << cut);
    BOOST_TEST(contains(r.error().message, "not a valid exo image"), r.error().message);
  }
  for (std::size_t i = 0; i < file.size(); i += 7) {  // every 7th byte flipped
    auto bad = file;
    bad[i] ^= 0x20;
    auto r = exo::read_image(bad);
    BOOST_REQUIRE_MESSAGE(!r, "byte " << i);
    BOOST_TEST((r.error().code == exo::errc::malformed));
  }
  // A well-sealed file whose content is not an image.
  auto other = exo::seal("EXOIMG1\n", exo::value::make_map({{"format", exo::value("exo-image-1")}}));
  BOOST_TEST(contains(exo::read_image(*other).error().message, "not {format, manifest, blobs}"));
  auto log_like = exo::seal("EXOLOG1\n", exo::value(1));
  BOOST_TEST(contains(exo::read_image(*log_like).error().message, "signature"));
  auto missing = exo::load_image(t.sub("none.exo"));
  BOOST_TEST(contains(missing.error().message, "none.exo"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(boot)

BOOST_AUTO_TEST_CASE(the_same_image_boots_to_the_same_root_and_resumes) {
  test::temp_dir t;
  pack_to(make_app(t, "a", notes_manifest(owner)), t.sub("a.exo"));
  app_test::registry r1, r2;
  std::vector<std::string> steps;
  exo::digest root1, root2;
  {
    auto n = exo::node::boot(t.sub("a.exo"), t.sub("d1"), r1.reg, {.progress = [&](std::string_view s) { steps.emplace_back(s); }});
    BOOST_REQUIRE_MESSAGE(n, (n ? "" : n.error().message));
    BOOST_TEST(!(*n)->resumed());
    BOOST_TEST((*n)->hypervisor().log().size() == 5u);  // init, 2 creates, 2 init messages
    root1 = (*n)->hypervisor().state_root().value();
    auto out = (*n)->hypervisor().invoke(*(*n)->actor("counter"), "get");
    BOOST_TEST((out->result == exo::value(10)));
    BOOST_TEST(((*n)->hypervisor().invoke(*(*n)->actor("counter"), "add", {5})->result == exo::value(15)));
  }
  BOOST_TEST(steps.size() >= 6u);
  {
    auto n = exo::node::boot(t.sub("a.exo"), t.sub("d2"), r2.reg);
    BOOST_REQUIRE(n);
    root2 = (*n)->hypervisor().state_root().value();
  }
  BOOST_TEST((root1 == root2));  // two directories, one image: one root
  // Resuming d1 keeps its state: no boot again.
  app_test::registry r3;
  auto n = exo::node::open(t.sub("d1"), r3.reg);
  BOOST_REQUIRE_MESSAGE(n, (n ? "" : n.error().message));
  BOOST_TEST((*n)->resumed());
  BOOST_TEST((*n)->hypervisor().log().size() == 7u);  // the boot and two calls
  BOOST_TEST(((*n)->hypervisor().invoke(*(*n)->actor("counter"), "get")->result == exo::value(15)));
  // The log verifies against the image, and an exported copy does too.
  auto v = exo::verify_image_log((*n)->hypervisor().log(), (*n)->image(), r3.reg);
  BOOST_TEST(v.ok(), v.to_string());
  BOOST_TEST(v.entries == 8u);
}

BOOST_AUTO_TEST_CASE(a_data_directory_refuses_another_image) {
  test::temp_dir t;
  pack_to(make_app(t, "a", notes_manifest(owner)), t.sub("a.exo"));
  pack_to(make_app(t, "b", notes_manifest(std::string(64, 'b'))), t.sub("b.exo"));
  app_test::registry r;
  { BOOST_REQUIRE(exo::node::boot(t.sub("a.exo"), t.sub("d"), r.reg)); }
  auto other = exo::node::boot(t.sub("b.exo"), t.sub("d"), r.reg);
  BOOST_REQUIRE(!other);
  BOOST_TEST(contains(other.error().message, "was booted from image"), other.error().message);
  BOOST_TEST(exo::node::open(t.sub("d"), r.reg).has_value());  // still intact
  auto none = exo::node::open(t.sub("nothing"), r.reg);
  BOOST_TEST(contains(none.error().message, "was not booted from an image"));
}

BOOST_AUTO_TEST_CASE(an_image_needing_a_missing_or_other_plugin_names_it) {
  test::temp_dir t;
  auto file = pack_to(make_app(t, "a", notes_manifest(owner)), t.sub("a.exo"));
  auto img = exo::read_image(file).value();
  auto reseal = [&](auto edit, const std::string& name) {
    exo::image_manifest m = img.manifest;
    edit(m);
    auto sealed = exo::seal("EXOIMG1\n", exo::value::make_map({{"format", exo::value("exo-image-1")},
                                                               {"manifest", exo::to_value(m)},
                                                               {"blobs", exo::to_value(img.blobs)}}));
    BOOST_REQUIRE(exo::write_file(t.sub(name), *sealed));
  };
  reseal([](exo::image_manifest& m) { m.containers[1].version = "9.9.9"; }, "newer.exo");
  reseal([](exo::image_manifest& m) {
    m.containers.push_back({"lua", 300, "5.4"});
    m.actors[0].container = "lua";
  }, "lua.exo");
  app_test::registry r;
  auto newer = exo::node::boot(t.sub("newer.exo"), t.sub("d1"), r.reg);
  BOOST_REQUIRE(!newer);
  BOOST_TEST((newer.error().code == exo::errc::incompatible));
  BOOST_TEST(contains(newer.error().message, "'wasm' container type 2 version 9.9.9"), newer.error().message);
  auto lua = exo::node::boot(t.sub("lua.exo"), t.sub("d2"), r.reg);
  BOOST_REQUIRE(!lua);
  BOOST_TEST(contains(lua.error().message, "needs the 'lua' container"), lua.error().message);
  BOOST_TEST(!std::filesystem::exists(t.sub("d1")));  // nothing was created
}

BOOST_AUTO_TEST_CASE(a_failing_init_message_fails_the_boot) {
  test::temp_dir t;
  auto m = notes_manifest(owner);
  m.replace(m.find(R"(["motd", "hi"])"), 14, R"(["", "hi"])");  // exo.kv refuses an empty key
  pack_to(make_app(t, "a", m), t.sub("a.exo"));
  app_test::registry r;
  auto n = exo::node::boot(t.sub("a.exo"), t.sub("d"), r.reg);
  BOOST_REQUIRE(!n);
  BOOST_TEST(contains(n.error().message, "init message 1 (notes.put"), n.error().message);
  auto again = exo::node::boot(t.sub("a.exo"), t.sub("d"), r.reg);  // not resumed as if booted
  BOOST_REQUIRE(!again);
  BOOST_TEST(contains(again.error().message, "did not finish"), again.error().message);
}

BOOST_AUTO_TEST_CASE(arguments_are_checked_and_defaults_filled) {
  exo::image_export e{"counter", "add", {{"by", "i64", exo::value(1)}, {"scale", "f64", exo::value(2.0)}}, {}};
  auto none = exo::bind_args(exo::export_method(e, {}), exo::value{});
  BOOST_REQUIRE(none);
  BOOST_TEST(((*none)[0] == exo::value(1)));
  auto some = exo::bind_args(exo::export_method(e, {}), exo::value(exo::value::list{exo::value(5), exo::value(3)}));
  BOOST_REQUIRE(some);
  BOOST_TEST(((*some)[1] == exo::value(3.0)));  // an integer is a fine f64
  auto wrong = exo::bind_args(exo::export_method(e, {}), exo::value(exo::value::list{exo::value("x")}));
  BOOST_TEST(contains(wrong.error().message, "argument 1 'by' must be i64, got string"), wrong.error().message);
  auto many = exo::bind_args(exo::export_method(e, {}), exo::value(exo::value::list{exo::value(1), exo::value(1), exo::value(1)}));
  BOOST_TEST(contains(many.error().message, "at most 2"), many.error().message);
  exo::image_export need{"notes", "get", {{"key", "string", std::nullopt}}, {}};
  BOOST_TEST(contains(exo::bind_args(exo::export_method(need, {}), exo::value{}).error().message, "missing argument 1 'key'"));
  // JSON in and out.
  auto j = exo::from_json(exo::json::parse(R"([1, 2.5, "s", {"$bytes": "00ff"}, [true, null], {"k": -3}])"));
  BOOST_REQUIRE(j);
  BOOST_TEST(exo::to_json(*j).dump() == R"([1,2.5,"s",{"$bytes":"00ff"},[true,null],{"k":-3}])");
  BOOST_TEST(!exo::from_json(exo::json::parse(R"({"$cap": 1})")));
  BOOST_TEST(!exo::from_json(exo::json::parse("18446744073709551615")));
}

BOOST_AUTO_TEST_CASE(the_verifier_catches_a_log_that_did_not_boot_from_the_image) {
  test::temp_dir t;
  pack_to(make_app(t, "a", notes_manifest(owner)), t.sub("a.exo"));
  pack_to(make_app(t, "b", notes_manifest(std::string(64, 'b'))), t.sub("b.exo"));
  app_test::registry r;
  auto n = exo::node::boot(t.sub("a.exo"), t.sub("d"), r.reg).value();
  auto b = exo::load_image(t.sub("b.exo")).value();
  auto v = exo::verify_image_log(n->hypervisor().log(), b, r.reg);  // the other image
  BOOST_REQUIRE(!v.ok());
  BOOST_TEST(v.first->index == 0u);
  BOOST_TEST(v.first->field == "origin");
}

BOOST_AUTO_TEST_CASE(a_node_verifies_from_a_checkpoint_of_its_data_directory) {
  test::temp_dir t;
  pack_to(make_app(t, "a", notes_manifest(owner)), t.sub("a.exo"));
  pack_to(make_app(t, "b", notes_manifest(std::string(64, 'b'))), t.sub("b.exo"));
  app_test::registry r;
  auto n = exo::node::boot(t.sub("a.exo"), t.sub("d"), r.reg).value();
  auto& hv = n->hypervisor();
  for (int i = 0; i < 30; ++i) BOOST_REQUIRE(hv.invoke(*n->actor("counter"), "add", {i})->error == std::nullopt);
  // The snapshot comes from the LMDB store, through its file form.
  auto snap = exo::take_snapshot(hv.store(), hv.log());
  BOOST_REQUIRE_MESSAGE(snap, (snap ? "" : snap.error().message));
  BOOST_REQUIRE(exo::write_snapshot(*snap, t.sub("at.snap")));
  auto read = exo::read_snapshot(t.sub("at.snap"));
  BOOST_REQUIRE_MESSAGE(read, (read ? "" : read.error().message));
  const std::uint64_t k = exo::check_checkpoint(read->cp)->index;
  BOOST_TEST(k == hv.log().size() - 1);
  for (int i = 0; i < 20; ++i) BOOST_REQUIRE(hv.invoke(*n->actor("counter"), "add", {1})->error == std::nullopt);
  // From the image and from the checkpoint: the same final root; from the checkpoint, only
  // the entries after it are replayed (the wasm counter among them).
  std::uint64_t replayed = 0;
  auto full = exo::verify_image_log(hv.log(), n->image(), r.reg);
  auto from = exo::verify_image_log_from(hv.log(), n->image(), *read, r.reg,
                                         {.progress = [&](auto, auto) { ++replayed; }, .progress_every = 1});
  BOOST_TEST(full.ok(), full.to_string());
  BOOST_TEST(from.ok(), from.to_string());
  BOOST_TEST(from.final_root == full.final_root);
  BOOST_TEST(from.final_root == hv.state_root().value());
  BOOST_TEST(replayed == hv.log().size() - k - 1);
  // The checkpoint names its image: verified against another image, it is refused.
  auto other = exo::verify_image_log_from(hv.log(), exo::load_image(t.sub("b.exo")).value(), *read, r.reg);
  BOOST_REQUIRE(!other.ok());
  BOOST_TEST(other.first->field == "origin");
  // A snapshot whose state is not the signed one is refused before anything is replayed.
  auto bad = *read;
  bad.nodes.front().back() ^= 0x01;
  auto tampered = exo::verify_image_log_from(hv.log(), n->image(), bad, r.reg);
  BOOST_REQUIRE(!tampered.ok());
  BOOST_TEST(tampered.first->field == "checkpoint");
  BOOST_TEST(contains(tampered.first->got, "snapshot"), tampered.first->got);
}

BOOST_AUTO_TEST_CASE(a_pruned_data_directory_resumes_serves_and_verifies_from_its_checkpoint) {
  test::temp_dir t;
  pack_to(make_app(t, "a", notes_manifest(owner)), t.sub("a.exo"));
  app_test::registry r;
  const std::string dir = t.sub("d");
  auto directory_size = [&] {
    std::uintmax_t n = 0;
    for (auto& f : std::filesystem::directory_iterator(dir)) n += f.file_size();
    return n;
  };
  std::uint64_t k = 0;
  {
    auto n = exo::node::boot(t.sub("a.exo"), dir, r.reg).value();
    for (int i = 0; i < 40; ++i) BOOST_REQUIRE(n->hypervisor().invoke(*n->actor("counter"), "add", {i})->error == std::nullopt);
  }
  {  // a checkpoint recorded in the directory (the node is stopped)
    auto store = exo::lmdb_store::open(dir).value();
    auto log = exo::lmdb_log::open(store).value();
    auto info = exo::record_checkpoint(store, log);
    BOOST_REQUIRE_MESSAGE(info, (info ? "" : info.error().message));
    k = info->index;
    BOOST_TEST(k == log.size() - 1);
  }
  exo::digest root;
  {
    auto n = exo::node::open(dir, r.reg).value();
    for (int i = 0; i < 30; ++i) BOOST_REQUIRE(n->hypervisor().invoke(*n->actor("counter"), "add", {1})->error == std::nullopt);
    root = n->hypervisor().state_root().value();
  }
  // Without the log before the checkpoint, and with only the newest root.
  auto pruned = exo::prune_directory(dir, {.keep_roots = 1, .before_checkpoint = true});
  BOOST_REQUIRE_MESSAGE(pruned, (pruned ? "" : pruned.error().message));
  BOOST_TEST(pruned->base == k);
  BOOST_TEST(pruned->entries_dropped == k - 1);
  BOOST_TEST(pruned->store.roots_kept == 2u);  // the head and the checkpoint's root
  BOOST_TEST(pruned->store.nodes_freed > 0u);
  BOOST_TEST(directory_size() > 0u);
  // It resumes and serves.
  auto n = exo::node::open(dir, r.reg);
  BOOST_REQUIRE_MESSAGE(n, (n ? "" : n.error().message));
  auto& hv = (*n)->hypervisor();
  BOOST_TEST(hv.state_root().value() == root);
  auto out = hv.invoke(*(*n)->actor("counter"), "add", {2});
  BOOST_REQUIRE(out);
  BOOST_TEST((out->result == exo::value(10 + 780 + 30 + 2)));  // init 10, 0..39, thirty 1s, 2
  // A pruned entry is a clear error; entry 0 and those from the checkpoint on are there.
  BOOST_TEST(hv.log().base() == k);
  auto gone = hv.log().read(1);
  BOOST_REQUIRE(!gone);
  BOOST_TEST(contains(gone.error().message, "was pruned"), gone.error().message);
  BOOST_TEST(hv.log().read(0).has_value());
  BOOST_TEST(hv.log().read(k).has_value());
  // It verifies from its own checkpoint; a verifier that insists on the image cannot.
  auto snap = exo::recorded_snapshot(hv.store(), hv.log());
  BOOST_REQUIRE_MESSAGE(snap, (snap ? "" : snap.error().message));
  auto v = exo::verify_image_log_from(hv.log(), (*n)->image(), *snap, r.reg);
  BOOST_TEST(v.ok(), v.to_string());
  BOOST_TEST(v.final_root == hv.state_root().value());
  auto whole = exo::verify_image_log(hv.log(), (*n)->image(), r.reg);
  BOOST_REQUIRE(!whole.ok());
  BOOST_TEST(whole.first->index == 1u);
  // A read of a pruned root is a clear error.
  auto log_entry_root = exo::decode_entry(hv.log().read(k + 5).value()).value().root;
  auto old = hv.tree().set_root(log_entry_root);
  BOOST_REQUIRE(!old);
  BOOST_TEST(contains(old.error().message, "pruned"), old.error().message);
  BOOST_REQUIRE(hv.tree().set_root(hv.store().head().value().hash));
}

// A placed image boots as each of its nodes (exo boot --cluster without the link; messages
// between nodes are tested in tests/e2e/cluster.sh): each creates only its actors, logs its
// route entry and runs its own init messages, handing over another node's actor; each log
// verifies alone against the image as the node it names, and a route entry other than the
// image's, or a single node's log, does not. A directory resumes only as the node it is.
BOOST_AUTO_TEST_CASE(a_placed_image_boots_as_each_of_its_nodes_and_each_log_verifies_alone) {
  test::temp_dir t;
  app_test::registry r;
  // The counter on a; on b an AIR actor bound to a's counter at boot, and the notes.
  const std::string dir = make_app(t, "placed", R"({
    "name": "placed",
    "actors": [{"name": "counter", "container": "wasm", "code": "counter.wasm"},
               {"name": "air", "container": "air", "code": "air.json"},
               {"name": "notes", "container": "native", "type": "exo.kv"}],
    "nodes": {"a": ["counter"], "b": ["air", "notes"]},
    "init": [{"call": "air.bind", "args": ["counter", {"$actor": "counter"}]},
             {"call": "notes.put", "args": ["motd", "hi"]},
             {"call": "counter.add", "args": [3]}],
    "exports": [{"call": "counter.get"}, {"call": "notes.get", "params": [{"name": "key", "type": "string"}]}]
  })");
  std::ofstream(dir + "/air.json") << R"({"peer_id": "me"})";
  const std::string file = t.sub("placed.exo");
  pack_to(dir, file);
  auto img = exo::load_image(file).value();
  auto ids = exo::placed_actor_ids(img).value();
  std::filesystem::create_directories(t.sub("a"));  // (each node's key before its first boot, as exo keygen makes it)
  std::filesystem::create_directories(t.sub("b"));
  auto key_a = exo::node_key::load_or_create(t.sub("a") + "/node.key");
  auto key_b = exo::node_key::load_or_create(t.sub("b") + "/node.key");
  BOOST_REQUIRE(key_a && key_b);
  auto as = [&](std::string node, std::map<std::string, exo::public_key> peers) {
    return exo::boot_options{.cluster = exo::boot_options::cluster_node{std::move(node), std::move(peers)}};
  };
  // Refused before anything is made: without a cluster node, as a node the image does not
  // place, a peer's key missing.
  BOOST_TEST(contains(exo::node::boot(file, t.sub("x"), r.reg).error().message, "places its actors on 2 nodes"));
  BOOST_TEST(contains(exo::node::boot(file, t.sub("x"), r.reg, as("c", {})).error().message, "places no actor on node c"));
  BOOST_TEST(contains(exo::node::boot(file, t.sub("a"), r.reg, as("a", {})).error().message, "node b's key is not known"));
  BOOST_TEST(!std::filesystem::exists(t.sub("x")));
  BOOST_TEST(!std::filesystem::exists(t.sub("a") + "/data.mdb"));

  exo::digest root_a{};
  {
    auto a = exo::node::boot(file, t.sub("a"), r.reg, as("a", {{"b", key_b->public_key()}}));
    BOOST_REQUIRE_MESSAGE(a, (a ? "" : a.error().message));
    auto b = exo::node::boot(file, t.sub("b"), r.reg, as("b", {{"a", key_a->public_key()}}));
    BOOST_REQUIRE_MESSAGE(b, (b ? "" : b.error().message));
    BOOST_TEST((*a)->cluster_node() == "a");
    BOOST_TEST((*a)->actor("notes") == nullptr);  // b's
    BOOST_REQUIRE((*a)->actor("counter") != nullptr);
    BOOST_TEST((*(*a)->actor("counter") == ids.at("counter").actor));
    BOOST_TEST((*(*b)->actor("notes") == ids.at("notes").actor));
    for (const auto& m : (*a)->service().describe().methods) BOOST_TEST(m.actor != "notes");  // its own only
    for (const auto& m : (*b)->service().describe().methods) BOOST_TEST(m.actor != "counter");
    // b's AIR actor was handed a's counter at boot (a capability to its route), and a's
    // counter ran its own init message.
    auto& hb = (*b)->hypervisor();
    BOOST_TEST(hb.route_of(ids.at("counter").actor).value_or("") == "a");
    BOOST_TEST(hb.log().size() == 6u);  // init, two creates, the route entry, two init messages
    BOOST_TEST((*a)->hypervisor().log().size() == 4u);  // init, a create, the route entry, one init message
    auto got = (*a)->hypervisor().invoke(*(*a)->actor("counter"), "get");
    BOOST_REQUIRE(got && !got->error);
    BOOST_TEST(*got->result.if_i64() == 3);
    auto va = exo::verify_image_log((*a)->hypervisor().log(), img, r.reg);
    BOOST_TEST(va.ok(), va.to_string());
    auto vb = exo::verify_image_log(hb.log(), img, r.reg);
    BOOST_TEST(vb.ok(), vb.to_string());
    root_a = (*a)->hypervisor().state_root().value();
  }
  {
    auto again = exo::node::boot(file, t.sub("a"), r.reg, as("a", {{"b", key_b->public_key()}}));
    BOOST_REQUIRE(again);
    BOOST_TEST((*again)->resumed());
    BOOST_TEST(((*again)->hypervisor().state_root().value() == root_a));
  }
  BOOST_TEST(contains(exo::node::boot(file, t.sub("a"), r.reg, as("b", {{"a", key_a->public_key()}})).error().message,
                      "was booted as node a of a cluster, not as node b"));
  // A route entry that is not the image's (a grant more), re-signed and consistent in itself,
  // does not verify against the image.
  auto stored = exo::lmdb_store::open(t.sub("b")).value();
  auto log = exo::lmdb_log::open(stored).value();
  auto entries = test::entries_of(log);
  exo::log_entry& route = entries[3];  // init, two creates, the route entry
  BOOST_REQUIRE(route.kind == "route");
  exo::value::map args = *route.args.if_map();
  for (auto& [k, v] : args)
    if (k == "grants")
      v = exo::value(exo::value::list{exo::value::make_map({{"actor", exo::to_value(ids.at("air").actor)},
                                                           {"function", exo::value("")},
                                                           {"node", exo::value("a")},
                                                           {"rights", exo::value(std::int64_t{7})}})});
  route.args = exo::value::make_map(std::move(args));
  auto v = exo::verify_image_log(test::forge(entries, exo::node_key::generate().value()), img, r.reg);
  BOOST_REQUIRE(!v.ok());
  BOOST_TEST(v.first->index == 3u);
  BOOST_TEST(v.first->field == "boot");
  BOOST_TEST(contains(v.first->expected, "node b's route entry"), v.first->expected);
  // A single node's log is no node's of the placed image.
  pack_to(make_app(t, "plain", notes_manifest(owner)), t.sub("plain.exo"));
  auto single = exo::node::boot(t.sub("plain.exo"), t.sub("single"), r.reg).value();
  auto vs = exo::verify_image_log(single->hypervisor().log(), img, r.reg);
  BOOST_REQUIRE(!vs.ok());
  BOOST_TEST(contains(vs.first->expected, "the log of one of image"), vs.first->expected);
}

BOOST_AUTO_TEST_CASE(an_actor_handed_over_at_boot_is_checked_by_the_verifier) {
  // An AIR actor bound to the counter by an init message ({"$actor": "counter"}).
  test::temp_dir t;
  const std::string manifest = R"({
    "name": "handover",
    "actors": [{"name": "counter", "container": "wasm", "code": "counter.wasm"},
               {"name": "other", "container": "wasm", "code": "counter.wasm"},
               {"name": "air", "container": "air", "code": "air.json"}],
    "init": [{"call": "air.bind", "args": ["counter", {"$actor": "counter"}]}]
  })";
  const std::string dir = make_app(t, "h", manifest);
  std::ofstream(dir + "/air.json") << R"({"peer_id": "me"})";
  pack_to(dir, t.sub("h.exo"));
  app_test::registry r;
  auto n = exo::node::boot(t.sub("h.exo"), t.sub("d"), r.reg).value();
  auto& hv = n->hypervisor();
  auto img = exo::load_image(t.sub("h.exo")).value();
  // The particle's service is the counter: it counts.
  auto out = hv.invoke(*n->actor("air"), "particle",
                       {exo::value(R"((call "me" ("counter" "add") [5] n))"), exo::value(""), exo::value("someone")});
  BOOST_REQUIRE(out);
  BOOST_REQUIRE_MESSAGE(!out->error, out->error->message);
  BOOST_TEST(exo::verify_image_log(hv.log(), img, r.reg).ok());
  // A log whose handed-over capability names the other counter does not verify against the
  // image, though it is consistent in itself (re-chained and re-signed).
  auto entries = test::entries_of(hv.log());
  exo::log_entry& bind = entries[4];  // init, three creates, then the bind
  BOOST_REQUIRE(bind.function == "bind");
  exo::value::list caps = *bind.caps.if_list();
  exo::value::map d = *caps[0].if_map();
  for (auto& [k, v] : d)
    if (k == "actor") v = exo::to_value(*n->actor("other"));
  caps[0] = exo::value::make_map(std::move(d));
  bind.caps = exo::value(std::move(caps));
  auto mallory = exo::node_key::generate().value();
  auto forged = test::forge(entries, mallory);
  auto v = exo::verify_image_log(forged, img, r.reg);
  BOOST_REQUIRE(!v.ok());
  BOOST_TEST(v.first->index == 4u);
  BOOST_TEST(v.first->field == "boot");
}

BOOST_AUTO_TEST_SUITE_END()

// Its own suite (one CTest entry), so that the test command runs it beside the others.
BOOST_AUTO_TEST_SUITE(long_run)

// A node's long life: rounds of calls (each round's calls in group commits of 1,000), and
// after each round a checkpoint and a prune of everything before it. The same calls on a
// directory that is never pruned show what pruning saves; verifying from the last checkpoint
// replays only what follows it.
BOOST_AUTO_TEST_CASE(a_long_run_stays_bounded_by_pruning_and_verifies_from_its_last_checkpoint) {
  using clock = std::chrono::steady_clock;
  test::temp_dir t;
  pack_to(make_app(t, "a", notes_manifest(owner)), t.sub("a.exo"));
  app_test::registry r;
  const std::string pruned = t.sub("pruned"), whole = t.sub("whole");
  constexpr int rounds = 8, per_round = 15'000, per_commit = 1'000;
  auto mdb_size = [](const std::string& dir) { return std::filesystem::file_size(dir + "/data.mdb"); };
  std::vector<std::uintmax_t> sizes_pruned, sizes_whole;
  std::uint64_t k = 0, calls = 0;
  for (int round = 0; round < rounds; ++round) {
    for (const std::string& dir : {pruned, whole}) {
      auto n = exo::node::boot(t.sub("a.exo"), dir, r.reg).value();
      auto& hv = n->hypervisor();
      const exo::id notes = *n->actor("notes");
      for (int i = 0; i < per_round; i += per_commit) {
        hv.begin_batch();
        for (int j = i; j < i + per_commit; ++j)  // a fixed key space: the live state stays the same size
          BOOST_REQUIRE(hv.invoke(notes, "put", {fmt::format("key{}", j % 500), fmt::format("value {} of round {}", j, round)}));
        BOOST_REQUIRE(hv.end_batch());
      }
      if (dir == pruned) calls += per_round;
    }
    {
      auto store = exo::lmdb_store::open(pruned).value();
      auto log = exo::lmdb_log::open(store).value();
      k = exo::record_checkpoint(store, log).value().index;
    }
    auto p = exo::prune_directory(pruned, {.keep_roots = 1, .before_checkpoint = true});
    BOOST_REQUIRE_MESSAGE(p, (p ? "" : p.error().message));
    sizes_pruned.push_back(mdb_size(pruned));
    sizes_whole.push_back(mdb_size(whole));
    BOOST_TEST_MESSAGE(fmt::format("after {} calls: data.mdb {} KiB pruned, {} KiB never pruned", calls,
                                   sizes_pruned.back() >> 10, sizes_whole.back() >> 10));
  }
  // Bounded: after the first rounds the pruned directory stops growing; the other grows on.
  BOOST_TEST(sizes_pruned.back() <= sizes_pruned[2] * 3 / 2);
  BOOST_TEST(sizes_whole.back() >= sizes_whole[2] * 2);
  BOOST_TEST(sizes_pruned.back() * 3 <= sizes_whole.back());
  // One more round, then verify from the last checkpoint: only what follows it is replayed.
  auto n = exo::node::open(pruned, r.reg).value();
  auto& hv = n->hypervisor();
  for (int i = 0; i < 200; ++i) BOOST_REQUIRE(hv.invoke(*n->actor("counter"), "add", {1}));
  auto snap = exo::recorded_snapshot(hv.store(), hv.log()).value();
  std::uint64_t replayed = 0;
  const auto t0 = clock::now();
  auto v = exo::verify_image_log_from(hv.log(), n->image(), snap, r.reg,
                                      {.progress = [&](auto, auto) { ++replayed; }, .progress_every = 1});
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0).count();
  BOOST_TEST(v.ok(), v.to_string());
  BOOST_TEST(v.final_root == hv.state_root().value());
  BOOST_TEST(replayed == hv.log().size() - k - 1);
  BOOST_TEST(replayed == 200u);
  BOOST_TEST_MESSAGE(fmt::format("verified a log of {} entries from its checkpoint at entry {}: {} replayed in {} ms",
                                 hv.log().size(), k, replayed, took));
}

BOOST_AUTO_TEST_SUITE_END()
