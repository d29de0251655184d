// The RPC server and client (LibVMS's scenarios): the handshake, calls and their values,
// caller identities in the log, JSON-RPC errors for bad input with the server still
// serving, signatures, the queue bound, reads with proofs, 100 concurrent clients, and a
// write to disk that fails.

#include "../boot/app.hpp"

#include <exo/core/json.hpp>
#include <exo/call_log/file.hpp>
#include <exo/hypervisor/hypervisor_service.hpp>
#include <exo/rpc/client.hpp>
#include <exo/rpc/server.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace {

using exo::json;
using exo::rpc::client;

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// A booted notes app served on a free loopback port.
struct served {
  test::temp_dir t;
  app_test::registry r;
  exo::node_key owner = exo::node_key::generate().value();
  std::unique_ptr<exo::node> n;
  std::unique_ptr<exo::rpc::server> srv;
  explicit served(exo::rpc::server_options o = {}, exo::boot_options b = {}) {
    app_test::pack_to(app_test::make_app(t, "app", app_test::notes_manifest(exo::to_hex(owner.public_key().view()))),
                      t.sub("app.exo"));
    n = exo::node::boot(t.sub("app.exo"), t.sub("data"), r.reg, b).value();
    o.listen = "127.0.0.1:0";
    auto s = exo::rpc::server::start(n->service(), std::move(o));
    BOOST_REQUIRE_MESSAGE(s, (s ? "" : s.error().message));
    srv = std::move(*s);
  }
  client connect() {
    auto c = client::connect(srv->url());
    BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
    return std::move(*c);
  }
};

/// Returns a capability to itself.
struct vault {
  BOOST_HANA_DEFINE_STRUCT(vault, (std::int64_t, opened));
  exo::expected<std::int64_t> open(exo::context&) { return ++opened; }
  exo::expected<exo::cap_handle> share(exo::context& ctx) { return ctx.self_cap("open", exo::rights::call | exo::rights::transfer); }
  static constexpr std::string_view exo_name = "vault";
  static constexpr auto exo_exports = exo::exports(exo::fn<&vault::open>("open", 0), exo::fn<&vault::share>("share", 0));
};

int code_of(const exo::expected<json, exo::rpc::rpc_error>& r) { return r ? 0 : r.error().code; }

}  // namespace

BOOST_AUTO_TEST_SUITE(rpc)

BOOST_AUTO_TEST_CASE(the_handshake_lists_exactly_the_exported_methods) {
  served s;
  auto c = s.connect();
  const json& hs = c.info();
  std::vector<std::string> methods;
  for (auto& m : hs["methods"]) methods.push_back(m["method"]);
  BOOST_TEST((methods == std::vector<std::string>{"counter.add", "counter.get", "notes.get", "notes.put"}));
  BOOST_TEST(hs["methods"][0]["params"][0]["name"] == "by");
  BOOST_TEST(hs["methods"][0]["params"][0]["default"] == 1);
  BOOST_TEST(hs["methods"][3]["callers"].size() == 1u);
  BOOST_TEST(hs["image"] == exo::to_hex(s.n->image().hash));
  BOOST_TEST(hs["log"]["size"] == 5);
  BOOST_TEST(hs["root"].get<std::string>().size() == 64u);
}

BOOST_AUTO_TEST_CASE(f_then_f5_return_the_right_values_and_unknown_methods_are_32601) {
  served s;
  auto c = s.connect();
  auto a = c.call("counter.add", json::array());
  BOOST_REQUIRE(a);
  BOOST_TEST((*a)["result"] == 11);  // 10 at boot, + the default 1
  auto b = c.call("counter.add", json::array({5}));
  BOOST_REQUIRE(b);
  BOOST_TEST((*b)["result"] == 16);
  BOOST_TEST((*b)["index"] == (*a)["index"].get<std::uint64_t>() + 1);
  BOOST_TEST((*c.call("counter.get", json::array()))["result"] == 16);
  auto u = c.call("counter.sub", json::array());
  BOOST_TEST(code_of(u) == exo::rpc::method_not_found);
  BOOST_TEST(code_of(c.request("nothing")) == exo::rpc::method_not_found);
  BOOST_TEST(contains(u.error().message, "counter.sub"));
}

BOOST_AUTO_TEST_CASE(calls_from_two_callers_are_logged_with_their_identities_in_order) {
  served s;
  auto alice = exo::node_key::generate().value();
  auto bob = exo::node_key::generate().value();
  auto c1 = s.connect();
  auto c2 = s.connect();
  BOOST_REQUIRE(c1.call("counter.add", json::array({1}), &alice));
  BOOST_REQUIRE(c2.call("counter.add", json::array({2}), &bob));
  BOOST_REQUIRE(c1.call("counter.add", json::array({3})));  // anonymous
  BOOST_REQUIRE(c2.call("notes.put", json::array({"k", "v"}), &s.owner));
  auto log = c1.request("exo.log", json{{"from", 5}, {"count", 10}});
  BOOST_REQUIRE(log);
  auto& e = (*log)["entries"];
  BOOST_REQUIRE(e.size() == 4u);
  BOOST_TEST(e[0]["caller"] == exo::to_hex(alice.public_key().view()));
  BOOST_TEST(e[1]["caller"] == exo::to_hex(bob.public_key().view()));
  BOOST_TEST(e[2]["caller"].is_null());
  BOOST_TEST(e[3]["caller"] == exo::to_hex(s.owner.public_key().view()));
  BOOST_TEST(e[1]["result"] == 13);
  BOOST_TEST(e[3]["function"] == "put");
}

BOOST_AUTO_TEST_CASE(signatures_and_reserved_functions) {
  served s;
  auto c = s.connect();
  auto stranger = exo::node_key::generate().value();
  BOOST_TEST(code_of(c.call("notes.put", json::array({"k", 1}))) == exo::rpc::not_allowed);
  BOOST_TEST(code_of(c.call("notes.put", json::array({"k", 1}), &stranger)) == exo::rpc::not_allowed);
  // Signed by another key than the caller it claims: the owner's identity with a stranger's signature.
  const exo::value args(exo::value::list{exo::value("k"), exo::value(1)});
  auto sig = stranger.sign(exo::rpc::call_message(s.n->image().hash, "notes.put", args, 1));
  auto forged = c.request("notes.put", json{{"args", json::array({"k", 1})},
                                            {"caller", exo::to_hex(s.owner.public_key().view())},
                                            {"seq", 1},
                                            {"signature", exo::to_hex(sig.view())}});
  BOOST_TEST(code_of(forged) == exo::rpc::bad_signature);
  // A signature for other arguments does not carry over.
  auto sig2 = s.owner.sign(exo::rpc::call_message(s.n->image().hash, "notes.put", args, 1));
  auto moved = c.request("notes.put", json{{"args", json::array({"k", 2})},
                                           {"caller", exo::to_hex(s.owner.public_key().view())},
                                           {"seq", 1},
                                           {"signature", exo::to_hex(sig2.view())}});
  BOOST_TEST(code_of(moved) == exo::rpc::bad_signature);
  // Nor to another sequence number.
  auto renumbered = c.request("notes.put", json{{"args", json::array({"k", 1})},
                                                {"caller", exo::to_hex(s.owner.public_key().view())},
                                                {"seq", 2},
                                                {"signature", exo::to_hex(sig2.view())}});
  BOOST_TEST(code_of(renumbered) == exo::rpc::bad_signature);
  BOOST_TEST(code_of(c.call("notes.put", json::array({"k", 1}), &s.owner)) == 0);
  auto got = c.call("notes.get", json::array({"k"}));
  BOOST_TEST((*got)["result"] == 1);
}

BOOST_AUTO_TEST_CASE(a_captured_signed_call_is_accepted_once) {
  served s;
  auto c = s.connect();
  const std::string owner = exo::to_hex(s.owner.public_key().view());
  auto hs = c.request("exo.handshake", json{{"caller", owner}});
  BOOST_REQUIRE(hs);
  BOOST_TEST((*hs)["next_seq"] == 1);
  BOOST_TEST((*hs)["signing"]["domain"] == "exo-call-2");
  // The frame a client sends, as an eavesdropper captures it.
  const exo::value args(exo::value::list{exo::value("motd"), exo::value("signed once")});
  auto sig = s.owner.sign(exo::rpc::call_message(s.n->image().hash, "notes.put", args, 1));
  const std::string frame =
      json{{"jsonrpc", "2.0"}, {"id", 7}, {"method", "notes.put"},
           {"params", {{"args", json::array({"motd", "signed once"})}, {"caller", owner}, {"seq", 1},
                       {"signature", exo::to_hex(sig.view())}}}}
          .dump();
  auto first = json::parse(c.raw(frame).value());
  BOOST_REQUIRE_MESSAGE(first.contains("result"), first.dump());
  const std::uint64_t logged = s.n->hypervisor().log().size();
  auto refused = [&](client& via, std::string_view when) {
    auto r = json::parse(via.raw(frame).value());
    BOOST_TEST_MESSAGE(when << ": " << r.dump());
    BOOST_REQUIRE_MESSAGE(r.contains("error"), when);
    BOOST_TEST(r["error"]["code"] == exo::rpc::replayed, when);
    BOOST_TEST(contains(r["error"]["message"], "replayed"), when);
    BOOST_TEST(r["error"]["data"]["next_seq"] == 2, when);
  };
  refused(c, "the same connection");
  auto other = s.connect();
  refused(other, "another connection");
  BOOST_TEST(s.n->hypervisor().log().size() == logged);  // nothing of them was logged
  // After a restart the node still knows.
  s.srv->stop();
  s.srv.reset();
  s.n.reset();
  s.n = exo::node::boot(s.t.sub("app.exo"), s.t.sub("data"), s.r.reg).value();
  s.srv = exo::rpc::server::start(s.n->service(), {.listen = "127.0.0.1:0"}).value();
  auto after = s.connect();
  refused(after, "after a restart");
  BOOST_TEST(s.n->hypervisor().log().size() == logged);
  // The owner's next call goes through; the client counts on from the node's handshake.
  BOOST_TEST(code_of(after.call("notes.put", json::array({"motd", "signed twice"}), &s.owner)) == 0);
  BOOST_TEST((*after.call("notes.get", json::array({"motd"})))["result"] == "signed twice");
  auto last = exo::decode_entry(*s.n->hypervisor().log().read(s.n->hypervisor().log().size() - 2)).value();
  BOOST_TEST((last.seq == std::optional<std::uint64_t>{2}));
  // A lower sequence number, freshly signed, is refused too.
  auto sig0 = s.owner.sign(exo::rpc::call_message(s.n->image().hash, "notes.put", args, 1));
  auto low = after.request("notes.put", json{{"args", json::array({"motd", "signed once"})}, {"caller", owner},
                                            {"seq", 1}, {"signature", exo::to_hex(sig0.view())}});
  BOOST_TEST(code_of(low) == exo::rpc::replayed);
  // The log, with its signed calls, verifies.
  auto v = exo::verify_image_log(s.n->hypervisor().log(), s.n->image(), s.r.reg);
  BOOST_TEST_MESSAGE(v.to_string());
  BOOST_TEST(v.ok());
}

BOOST_AUTO_TEST_CASE(bad_input_gets_its_error_and_the_server_keeps_serving) {
  served s({.max_frame = 4096});
  auto c = s.connect();
  auto reply = [&](const std::string& text) {
    auto r = c.raw(text);
    BOOST_REQUIRE_MESSAGE(r, text.substr(0, 40) << ": " << (r ? "" : r.error().message));
    return json::parse(*r);
  };
  BOOST_TEST(reply("garbage \x01\x02")["error"]["code"] == -32700);
  BOOST_TEST(reply("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\":")["error"]["code"] == -32700);
  BOOST_TEST(reply("[1, 2]")["error"]["code"] == -32600);
  BOOST_TEST(reply(R"({"id": 1, "method": "counter.get"})")["error"]["code"] == -32600);
  BOOST_TEST(reply(R"({"jsonrpc": "2.0", "id": {}, "method": "counter.get"})")["error"]["code"] == -32600);
  BOOST_TEST(reply(R"({"jsonrpc": "2.0", "id": 7, "method": 5})")["error"]["code"] == -32600);
  BOOST_TEST(reply(R"({"jsonrpc": "2.0", "id": 7, "method": "counter.get", "params": 3})")["error"]["code"] == -32600);
  auto wrong_type = reply(R"({"jsonrpc": "2.0", "id": 8, "method": "counter.add", "params": ["five"]})");
  BOOST_TEST(wrong_type["error"]["code"] == -32602);
  BOOST_TEST(wrong_type["id"] == 8);
  BOOST_TEST(contains(wrong_type["error"]["message"], "must be i64, got string"));
  BOOST_TEST(reply(R"({"jsonrpc": "2.0", "id": 9, "method": "counter.add", "params": [1, 2]})")["error"]["code"] == -32602);
  BOOST_TEST(reply(R"({"jsonrpc": "2.0", "id": 9, "method": "counter.add", "params": [{"$cap": 1}]})")["error"]["code"] == -32602);
  BOOST_TEST(reply(R"({"jsonrpc": "2.0", "id": 9, "method": "counter.add", "params": {"argz": []}})")["error"]["code"] == -32602);
  BOOST_TEST(reply(R"({"jsonrpc": "2.0", "id": 9, "method": "exo.log", "params": {"from": -1}})")["error"]["code"] == -32602);
  BOOST_TEST(reply(R"({"jsonrpc": "2.0", "id": 9, "method": "exo.read", "params": {"actor": "nobody", "key": "n"}})")["error"]["code"] == -32602);
  // A call that runs and fails in its actor: logged, and answered with the entry.
  auto failed = c.call("notes.get", json::array({""}));
  BOOST_TEST(code_of(failed) == exo::rpc::call_failed);
  BOOST_TEST(failed.error().data["index"].is_number());
  // Still serving on this connection.
  BOOST_TEST((*c.call("counter.get", json::array()))["result"] == 10);
  // An oversized frame closes that connection only (close code 1009).
  auto other = s.connect();
  auto big = c.raw(std::string(10000, ' '));
  BOOST_REQUIRE(!big);
  BOOST_TEST(contains(big.error().message, "1009"), big.error().message);
  BOOST_TEST((*other.call("counter.add", json::array({2})))["result"] == 12);
  BOOST_TEST((*s.connect().call("counter.get", json::array()))["result"] == 12);
}

BOOST_AUTO_TEST_CASE(a_full_queue_answers_busy) {
  served s({.max_queue = 0});
  auto c = client::connect(s.srv->url());  // even the handshake is queued, so connect fails
  BOOST_REQUIRE(!c);
  BOOST_TEST(c.error().code == exo::rpc::busy);
  BOOST_TEST(contains(c.error().message, "retry later"));
}

BOOST_AUTO_TEST_CASE(reads_carry_merkle_proofs_and_the_exported_log_verifies) {
  served s;
  auto c = s.connect();
  BOOST_REQUIRE(c.call("counter.add", json::array({32})));
  auto r = c.request("exo.read", json{{"actor", "counter"}, {"key", "n"}});
  BOOST_REQUIRE(r);
  auto root = exo::from_hex((*r)["root"].get<std::string>()).value();
  exo::digest d;
  std::copy(root.begin(), root.end(), d.bytes.begin());
  auto key = exo::from_hex((*r)["key"].get<std::string>()).value();
  auto val = exo::from_hex((*r)["value"].get<std::string>()).value();
  auto proof = exo::from_hex((*r)["proof"].get<std::string>()).value();
  BOOST_TEST(val[0] == 42);  // 10 + 32, little-endian
  BOOST_TEST(exo::verify_proof(d, key, val, proof).has_value());
  val[0] = 43;
  BOOST_TEST(!exo::verify_proof(d, key, val, proof).has_value());
  auto file = c.request("exo.export_log");
  BOOST_REQUIRE(file);
  auto log = exo::import_log(exo::from_hex((*file)["file"].get<std::string>()).value());
  BOOST_REQUIRE(log);
  auto v = exo::verify_image_log(*log, s.n->image(), s.r.reg);
  BOOST_TEST(v.ok(), v.to_string());
  BOOST_TEST(v.entries == 6u);
}

BOOST_AUTO_TEST_CASE(a_read_is_checked_against_the_root_the_signed_log_vouches_for) {
  served s;
  auto c = s.connect();
  const exo::public_key node = s.n->hypervisor().node_public_key();
  BOOST_REQUIRE(c.call("counter.add", json::array({32})));
  auto old = c.request("exo.read", json{{"actor", "counter"}, {"key", "n"}}).value();
  auto v = exo::rpc::verify_read(old, node);
  BOOST_REQUIRE_MESSAGE(v, (v ? "" : v.error().message));
  BOOST_REQUIRE(v->value);
  BOOST_TEST((*v->value)[0] == 42);
  BOOST_TEST((v->node_key == node));
  BOOST_TEST(v->log_size == s.n->hypervisor().log().size());
  BOOST_REQUIRE(c.call("counter.add", json::array({1})));
  auto now = c.request("exo.read", json{{"actor", "counter"}, {"key", "n"}}).value();
  BOOST_REQUIRE(exo::rpc::verify_read(now, node));
  auto refused = [&](json r, std::string_view part, std::string_view what) {
    auto got = exo::rpc::verify_read(r, node);
    BOOST_REQUIRE_MESSAGE(!got, what);
    BOOST_TEST(contains(got.error().message, part), what << ": " << got.error().message);
  };
  {  // a stale value: the old value and proof, under the head the node signs now
    json r = old;
    r["head"] = now["head"];
    r["entry"] = now["entry"];
    refused(r, "stale or forged root", "a stale root");
  }
  {  // a forged root, and a proof for another value under it
    json r = now;
    r["root"] = old["root"];
    refused(r, "stale or forged root", "a forged root");
    r = now;
    r["value"] = old["value"];
    refused(r, "the proof", "another value");
  }
  {  // a head signed by another key, or a signature that does not hold
    auto mallory = exo::node_key::generate().value();
    auto entry = exo::from_hex(now["entry"].get<std::string>()).value();
    auto e = exo::decode_entry(entry).value();
    json r = now;
    r["head"] = exo::to_hex(exo::encode_head(exo::sign_head(e.index + 1, exo::entry_hash(entry), mallory)));
    refused(r, "not by the node key", "another key");
    BOOST_TEST(exo::rpc::verify_read(r, std::nullopt).has_value());  // unpinned, it holds: pin the key
    auto head = exo::decode_head(exo::from_hex(now["head"].get<std::string>()).value()).value();
    head.signature[0] ^= 1;
    r["head"] = exo::to_hex(exo::encode_head(head));
    refused(r, "signature", "a broken signature");
  }
  {  // an entry that is not the last the head signs
    json r = now;
    r["entry"] = old["entry"];
    refused(r, "not the last one", "an older entry");
  }
}

BOOST_AUTO_TEST_CASE(a_hundred_clients_make_a_hundred_calls_each) {
  served s;
  constexpr int clients = 100, calls = 100;
  std::atomic<int> ok{0};
  std::atomic<bool> wrong{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i)
    threads.emplace_back([&] {
      auto c = client::connect(s.srv->url());
      if (!c) return;
      std::int64_t last = 0;
      for (int k = 0; k < calls; ++k) {
        auto r = c->call("counter.add", json::array({1}));
        if (!r) continue;
        auto v = (*r)["result"].get<std::int64_t>();
        if (v <= last) wrong = true;  // the counter only grows, as each client sees it
        last = v;
        ++ok;
      }
    });
  for (auto& t : threads) t.join();
  BOOST_TEST(ok.load() == clients * calls);
  BOOST_TEST(!wrong.load());
  auto st = s.srv->stats();
  BOOST_TEST(st.calls == std::uint64_t{clients * calls});
  BOOST_TEST_MESSAGE(st.calls << " calls in " << st.batches << " commits");
  s.srv->stop();
  auto& hv = s.n->hypervisor();
  BOOST_TEST(hv.log().size() == 5u + clients * calls);  // the boot's 5 entries, then every call
  std::size_t call_entries = 0;
  for (std::uint64_t i = 5; i < hv.log().size(); ++i) call_entries += exo::decode_entry(*hv.log().read(i))->kind == "call";
  BOOST_TEST(call_entries == std::size_t{clients * calls});
  BOOST_TEST((hv.invoke(*s.n->actor("counter"), "get")->result == exo::value(10 + clients * calls)));
  auto v = exo::verify_image_log(hv.log(), s.n->image(), s.r.reg);
  BOOST_TEST(v.ok(), v.to_string());
}

BOOST_AUTO_TEST_CASE(a_write_that_fails_is_answered_not_durable_and_the_node_goes_back_to_the_disk) {
  // A small journal: a commit larger than it fails, as a full disk would make it fail.
  served s({}, {.store = {.journal_limit = std::uint64_t{64} << 10}});
  auto c = s.connect();
  auto first = c.call("counter.add", json::array({1}));
  BOOST_REQUIRE(first);
  BOOST_TEST((*first)["result"] == 11);
  auto lost = c.call("notes.put", json::array({"big", std::string(100'000, 'x')}), &s.owner);
  BOOST_REQUIRE(!lost);
  BOOST_TEST(code_of(lost) == exo::rpc::not_durable);
  BOOST_TEST(contains(lost.error().message, "not durable"), lost.error().message);
  // The server went back to what is on disk: the lost call left nothing, and it serves on.
  auto next = c.call("counter.add", json::array({1}));
  BOOST_REQUIRE_MESSAGE(next, (next ? "" : next.error().message));
  BOOST_TEST((*next)["result"] == 12);
  BOOST_TEST((*next)["index"] == 6);
  s.srv->stop();
  auto& hv = s.n->hypervisor();
  BOOST_TEST(hv.log().size() == 7u);  // the boot's 5 entries and the two calls that were written
  auto v = exo::verify_image_log(hv.log(), s.n->image(), s.r.reg);
  BOOST_TEST(v.ok(), v.to_string());
}

// The node's own work (server_options::pump, a cluster's link): run after a batch when no
// request waits and when woken, with every batch on disk; what it runs is logged like any
// input and seen by the next call; an error it returns is logged and the server serves on.
BOOST_AUTO_TEST_CASE(the_nodes_own_work_runs_between_batches_and_when_woken) {
  struct work {
    std::atomic<exo::node*> n{nullptr};
    std::atomic<int> runs{0};
    std::atomic<bool> failing{false};
    std::mutex mu;
    std::vector<std::string> lines;
  };
  auto w = std::make_shared<work>();
  exo::rpc::server_options o;
  o.pump_every = std::chrono::hours(1);  // (so only batches and wake() run it)
  o.log = [w](std::string_view line) {
    std::lock_guard lk(w->mu);
    w->lines.emplace_back(line);
  };
  o.pump = [w]() -> exo::expected<std::size_t> {
    exo::node* n = w->n.load();
    if (!n) return std::size_t{0};
    ++w->runs;
    if (w->failing) return exo::fail(exo::errc::internal, "the link is down (a test)");
    auto out = n->hypervisor().invoke(*n->actor("counter"), "add", {exo::value(std::int64_t{100})});  // a logged input
    if (!out) return exo::unexpected(std::move(out).error());
    return std::size_t{1};
  };
  served s(o);
  w->n = s.n.get();
  auto c = s.connect();
  auto wait_runs = [&](int more_than) {
    for (int i = 0; i < 500 && w->runs <= more_than; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return w->runs.load();
  };
  // A batch, then the work: the next call sees what it did.
  const int before = w->runs;
  auto first = c.call("counter.add", json::array({1}));
  BOOST_REQUIRE(first);
  const int after_batch = wait_runs(before);
  BOOST_TEST(after_batch > before);
  auto seen = c.call("counter.get", json::array());
  BOOST_REQUIRE(seen);
  const std::int64_t total = (*seen)["result"].get<std::int64_t>();
  BOOST_TEST(total >= 111);  // 10 at boot, 1, and 100 at least once
  BOOST_TEST((total - 11) % 100 == 0);
  // Woken, it runs with no call at all.
  const int idle = wait_runs(w->runs);  // (the run after the get)
  s.srv->wake();
  BOOST_TEST(wait_runs(idle) > idle);
  // An error is logged; the server serves on.
  w->failing = true;
  s.srv->wake();
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lk(w->mu);
      if (std::any_of(w->lines.begin(), w->lines.end(), [](const std::string& l) { return contains(l, "the link is down"); })) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  {
    std::lock_guard lk(w->mu);
    BOOST_TEST(std::any_of(w->lines.begin(), w->lines.end(), [](const std::string& l) { return contains(l, "the link is down"); }));
  }
  auto still = c.call("counter.add", json::array({1}));
  BOOST_REQUIRE(still);
  s.srv->stop();
  w->n = nullptr;
  // Everything it ran is in the log, which verifies.
  auto v = exo::verify_image_log(s.n->hypervisor().log(), s.n->image(), s.r.reg);
  BOOST_TEST(v.ok(), v.to_string());
}

BOOST_AUTO_TEST_CASE(a_result_holding_a_capability_is_answered_with_its_description) {
  using hv_t = exo::hypervisor<exo::fifo_scheduler, exo::memory_store, exo::memory_log>;
  hv_t hv(exo::config{.name = "vaults"});
  hv.register_type<vault>();
  const exo::id v = *hv.actor_id(hv.create(vault{}).value());
  exo::hypervisor_service<hv_t> svc(hv, {.name = "vaults", .image = {}, .methods = {{"vault", "share", v, {}, {}}}});
  auto srv = exo::rpc::server::start(svc, {.listen = "127.0.0.1:0"});
  BOOST_REQUIRE_MESSAGE(srv, (srv ? "" : srv.error().message));
  const std::size_t base = hv.cap_count(hv.host_id()).value();
  auto c = client::connect((*srv)->url());
  BOOST_REQUIRE(c);
  for (int i = 0; i < 20; ++i) {
    auto r = c->call("vault.share", json::array());
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    BOOST_TEST((*r)["result"] == (json{{"$cap", 0}}));
    BOOST_REQUIRE((*r)["caps"].size() == 1u);
    BOOST_TEST((*r)["caps"][0]["function"] == "open");
    BOOST_TEST((*r)["caps"][0]["actor"]["$bytes"] == exo::to_hex(v.view()));
  }
  // This service hands out no image file: exo.image says so.
  auto img = c->request("exo.image", json{{"from", 0}});
  BOOST_REQUIRE(!img);
  BOOST_TEST(img.error().code == exo::rpc::method_not_found);
  BOOST_TEST(contains(img.error().message, "no image file"), img.error().message);
  (*srv)->stop();
  BOOST_TEST(hv.cap_count(hv.host_id()).value() == base);  // the host kept none of the twenty
}

BOOST_AUTO_TEST_SUITE_END()
