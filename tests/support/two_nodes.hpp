#pragma once
// Two logged nodes of a cluster on LMDB, for the tests of messages between nodes
// (tests/verifier/test_remote_log.cpp carries envelopes by hand, tests/cluster/test_link.cpp
// over a real nats-server): a caller on node a asks a tally on node b to add. Link with
// exo_cluster (sealed_outputs seals what a node sends).

#include "temp_dir.hpp"

#include <exo/call_log/envelope.hpp>
#include <exo/cluster/link.hpp>
#include <exo/exo.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace test::nodes {

using namespace exo;

/// Setup that cannot go on: an exception (a test reports it; a benchmark stops).
inline void must(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("setup failed: " + what);
}

using disk_hv = hypervisor<ordered_scheduler, lmdb_store, lmdb_log>;

struct tally {
  BOOST_HANA_DEFINE_STRUCT(tally, (std::int64_t, total));
  std::int64_t add(context&, std::int64_t n) { return total += n; }
  void on_failure(context&, failure) {}
  static constexpr std::string_view exo_name = "tally";
  static constexpr auto exo_exports = exports(fn<&tally::add>("add", 2));
};

/// Calls a capability it is given, and keeps what comes back.
struct caller {
  BOOST_HANA_DEFINE_STRUCT(caller, (std::vector<std::int64_t>, answers), (std::vector<std::string>, failures));
  expected<void> ask(context& ctx, cap_handle target, std::int64_t n) {
    auto back = ctx.self_cap("answer", rights::call | rights::transfer);
    if (!back) return unexpected(back.error());
    return ctx.call_with(target, send_options{.budget = 1000, .reply_to = *back}, n);
  }
  void answer(context&, std::int64_t v) { answers.push_back(v); }
  void on_failure(context&, failure f) { failures.push_back(f.message); }
  static constexpr std::string_view exo_name = "caller";
  static constexpr auto exo_exports = exports(fn<&caller::ask>("ask", 5), fn<&caller::answer>("answer", 1));
};

/// Passes a capability on: calls `to` with (x, n) (three-party hand-off, when x is a third
/// node's actor).
struct passer {
  BOOST_HANA_DEFINE_STRUCT(passer, (std::int64_t, passed));
  expected<void> pass(context& ctx, cap_handle to, cap_handle x, std::int64_t n) {
    ++passed;
    return ctx.call_with(to, send_options{.budget = 10000}, x, n);
  }
  static constexpr std::string_view exo_name = "passer";
  static constexpr auto exo_exports = exports(fn<&passer::pass>("pass", 5));
};

struct member {
  std::string name;
  temp_dir dir;
  node_key key = node_key::generate().value();
  std::unique_ptr<disk_hv> hv;
  explicit member(std::string n) : name(std::move(n)) { open(); }
  static config settings(const std::string& n) { return config{.name = n, .node = n}; }
  // Node `n` on the data directory `path`, with the tests' types.
  static std::unique_ptr<disk_hv> make(const std::string& path, const std::string& n) {
    auto h = std::make_unique<disk_hv>(disk_hv::open(lmdb_store::open(path, {.create = true}).value(), settings(n)).value());
    h->register_type<tally>();
    h->register_type<caller>();
    h->register_type<passer>();
    return h;
  }
  void open() {
    hv.reset();
    hv = make(dir.path, name);
  }
  // Replays this node's log into a fresh node of the same name, without any other node.
  verdict verify_alone() const {
    temp_dir scratch;
    return verify(hv->log(), [&] { return make(scratch.path, name); });
  }
  // Seals every remote output of `e` (in order) for its destination, as its link would.
  std::vector<std::pair<std::string, bytes>> sealed(const log_entry& e) const {
    auto sealed = cluster::sealed_outputs(e, name, key);
    must(sealed.has_value(), "sealing an entry's outputs");
    std::vector<std::pair<std::string, bytes>> out;
    for (auto& [to, index, envelope] : *sealed) out.emplace_back(to, std::move(envelope));
    return out;
  }
};

struct pair_fixture {
  member a, b;
  id counter{}, asker{};
  explicit pair_fixture(std::string a_name = "a", std::string b_name = "b") : a(std::move(a_name)), b(std::move(b_name)) {
    asker = *a.hv->actor_id(*a.hv->create(caller{}));
    counter = *b.hv->actor_id(*b.hv->create(tally{}));
    // Each names the other as a peer; a knows where the counter is, b gives it to a.
    must(a.hv->route({.peers = {{b.name, b.key.public_key()}}, .routes = {{counter, b.name, {"add"}}}}).has_value(),
         "a's route entry");
    must(b.hv->route({.peers = {{a.name, a.key.public_key()}}, .grants = {{counter, "add", a.name, rights::call}}}).has_value(),
         "b's route entry");
  }
  // a's caller asks b's counter to add n: returns a's log entry of the call.
  log_entry ask_entry(std::int64_t n) {
    auto target = a.hv->lookup(counter, "add", rights::call | rights::transfer);
    must(target.has_value(), "a capability to b's counter");
    value cap(*target);
    auto out = a.hv->invoke(asker, "ask", {cap, value(n)});
    (void)a.hv->drop(*target);
    must(out && !out->error, "the call to the caller");
    return decode_entry(*a.hv->log().read(out->index)).value();
  }
  // The same: returns the envelopes a sent.
  std::vector<std::pair<std::string, bytes>> ask(std::int64_t n) { return a.sealed(ask_entry(n)); }
  const caller& asker_state() { return *a.hv->state_of<caller>(asker); }
};

}  // namespace test::nodes
