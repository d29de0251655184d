// The kit as a kit: a hypervisor the exo command does not compose, served over RPC by exo's
// own server, and its log verified by exo's verifier.
//
//   exo_custom_example DIR                 run the tour below on data directory DIR, then exit
//   exo_custom_example DIR --serve ADDR    serve it on ADDR (HOST:PORT) until Ctrl-C
//
// The composition: the fifo scheduler (no tick order is promised, less work per message; it is
// still the same order on every run of one thread), the LMDB store, and the call log kept in
// it, with a native actor type of this example's own, a guest book. Nothing here is special to
// exo's shipped node: any logged hypervisor goes behind exo::hypervisor_service.

#include <exo/hypervisor.hpp>
#include <exo/hypervisor/hypervisor_service.hpp>
#include <exo/rpc/client.hpp>
#include <exo/rpc/server.hpp>
#include <exo/store/node.hpp>
#include <exo/verifier/verify.hpp>

#include <fmt/format.h>

#include <csignal>
#include <string>

namespace {

/// A guest book: signatures in the actor's storage, numbered from 0.
struct guestbook {
  BOOST_HANA_DEFINE_STRUCT(guestbook, (std::int64_t, signatures));

  exo::expected<std::int64_t> sign(exo::context& ctx, std::string name, std::string text) {
    if (name.empty()) return exo::fail(exo::errc::invalid_argument, "a signature needs a name");
    const std::string line = name + ": " + text;
    if (auto r = ctx.storage_put(exo::as_bytes(key(signatures)), exo::as_bytes(line)); !r)
      return exo::unexpected(r.error());
    return signatures++;
  }
  exo::expected<std::string> read(exo::context& ctx, std::int64_t n) const {
    auto v = ctx.storage_get(exo::as_bytes(key(n)));
    if (!v) return exo::unexpected(v.error());
    if (!*v) return exo::fail(exo::errc::invalid_argument, fmt::format("there is no signature {}", n));
    return std::string((*v)->begin(), (*v)->end());
  }
  std::int64_t count(exo::context&) const { return signatures; }

  static std::string key(std::int64_t n) { return fmt::format("sig/{:08}", n); }
  static constexpr std::string_view exo_name = "example.guestbook";
  static constexpr auto exo_exports =
      exo::exports(exo::fn<&guestbook::sign>("sign", 20), exo::fn<&guestbook::read>("read", 10),
                   exo::fn<&guestbook::count>("count", 1));
};

using custom_hv = exo::hypervisor<exo::fifo_scheduler, exo::lmdb_store, exo::lmdb_log>;
using replay_hv = exo::hypervisor<exo::fifo_scheduler, exo::memory_store, exo::memory_log>;
constexpr std::string_view name = "guests";

int fail(const std::string& what) {
  fmt::print(stderr, "custom example: {}\n", what);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::string(argv[2]) == "--serve"))
    return fmt::print(stderr, "usage: exo_custom_example DIR [--serve HOST:PORT]\n"), 2;
  const std::string dir = argv[1];

  // 1. Compose and open: the state and the log resume from DIR if it was used before.
  auto store = exo::lmdb_store::open(dir, {.create = true});
  if (!store) return fail(to_string(store.error()));
  auto opened = custom_hv::open(std::move(*store), exo::config{.name = std::string(name)});
  if (!opened) return fail(to_string(opened.error()));
  custom_hv& hv = *opened;
  hv.register_type<guestbook>();
  const exo::id book = exo::derive_actor_id(hv.host_id(), 0);  // the first root actor
  if (hv.log().size() == 0) {
    auto made = hv.create(guestbook{});  // a logged input: the log's first create entry
    if (!made) return fail(to_string(made.error()));
  }
  fmt::print("1. {} on {}: fifo scheduler, LMDB, call log of {} entries, node key {}\n", name, dir, hv.log().size(),
             exo::to_hex(hv.node_public_key().view()).substr(0, 16));

  // 2. Put it behind a service, and serve it with exo's RPC server.
  // Signed calls are bound to `image`: here, a name for this example's code.
  exo::service::description d{.name = std::string(name),
                              .image = exo::hash(exo::as_bytes(std::string_view("exo custom example 1")))};
  d.methods = {{"book", "sign", book, {{"name", "string", std::nullopt}, {"text", "string", exo::value("")}}, {}},
               {"book", "read", book, {{"n", "i64", std::nullopt}}, {}},
               {"book", "count", book, {}, {}}};
  exo::hypervisor_service<custom_hv> service(hv, std::move(d), {{"book", book}});
  auto server = exo::rpc::server::start(service, {.listen = argc == 4 ? argv[3] : "127.0.0.1:0"});
  if (!server) return fail(to_string(server.error()));
  fmt::print("2. serving it with exo's RPC server on {}\n", (*server)->url());
  if (argc == 4) {
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    int sig = 0;
    sigwait(&stop, &sig);
    (*server)->stop();
    return 0;
  }

  // 3. Call it as any client would.
  auto client = exo::rpc::client::connect((*server)->url());
  if (!client) return fail(client.error().message);
  const auto& hs = client->info();
  fmt::print("3. handshake: '{}', {} methods, log of {} entries\n", hs["name"].get<std::string>(), hs["methods"].size(),
             hs["log"]["size"].get<std::uint64_t>());
  auto before = client->call("book.count", exo::json::array());
  if (!before) return fail("book.count: " + before.error().message);
  const std::int64_t n0 = (*before)["result"].get<std::int64_t>();
  for (auto [who, text] : {std::pair{"ada", "hello"}, std::pair{"grace", "nice kit"}}) {
    auto r = client->call("book.sign", exo::json::array({who, text}));
    if (!r) return fail("book.sign: " + r.error().message);
    fmt::print("   book.sign(\"{}\", \"{}\") -> signature {} (log entry {})\n", who, text,
               (*r)["result"].get<std::int64_t>(), (*r)["index"].get<std::uint64_t>());
  }
  auto last = client->call("book.read", exo::json::array({n0 + 1}));
  if (!last || (*last)["result"] != "grace: nice kit") return fail("book.read did not give the last signature back");
  fmt::print("   book.read({}) -> {}\n", n0 + 1, (*last)["result"].dump());
  auto bad = client->call("book.sign", exo::json::array({42}));  // checked before it is queued
  if (bad || bad.error().code != exo::rpc::invalid_params)
    return fail("a call with a wrong argument type was not refused");
  fmt::print("   book.sign(42) -> error {}: {}\n", bad.error().code, bad.error().message);
  auto failed = client->call("book.sign", exo::json::array({""}));  // runs, fails, and is logged
  if (failed || failed.error().code != exo::rpc::call_failed) return fail("a failing call did not fail");
  fmt::print("   book.sign(\"\") -> error {}: {}\n", failed.error().code, failed.error().message);
  // A read with a proof: anyone holding the root can check it.
  auto read = client->request("exo.read", {{"actor", "book"}, {"key", guestbook::key(n0)}});
  if (!read) return fail("exo.read: " + read.error().message);
  auto root = exo::from_hex((*read)["root"].get<std::string>()).value();
  exo::digest r;
  std::copy(root.begin(), root.end(), r.bytes.begin());
  auto value = exo::from_hex((*read)["value"].get<std::string>()).value();
  auto proof = exo::from_hex((*read)["proof"].get<std::string>()).value();
  const exo::bytes key = exo::storage_key(book, exo::as_bytes(guestbook::key(n0)));
  const bool proved = exo::verify_proof(r, key, value, proof).has_value();
  fmt::print("   exo.read of signature {}: \"{}\", proof {}\n", n0, std::string(value.begin(), value.end()),
             proved ? "verified" : "NOT VERIFIED");
  client->close();
  (*server)->stop();

  // 4. Verify the log: replay it into a fresh hypervisor of the same composition, in memory.
  auto verdict = exo::verify(hv.log(), [] {
    replay_hv fresh(exo::config{.name = std::string(name)});
    fresh.register_type<guestbook>();
    return fresh;
  });
  fmt::print("4. verifier: {}\n", verdict.to_string());
  const bool ok = proved && verdict.ok() && verdict.final_root == *hv.state_root();
  fmt::print("{}\n", ok ? "custom example OK" : "custom example FAILED");
  return ok ? 0 : 1;
}
