// Calls across nodes over a real nats-server (started here on a free loopback port, its store
// in a scratch directory): a caller on node a asks a counter on node b to add and gets the
// answer back, against the same call on one node, and against a bare NATS request-reply
// between two connections (the floor any NATS transport pays).
//
// A cross-node call is: a's logged input (the call, committed: its log entry holds the
// message as an output), the envelope sealed and appended to the stream a->b (a JetStream
// publish, acknowledged), b reading it and taking it as a logged input (committed; the answer
// is its output), the answer appended to b->a, and a taking it (committed). So it is three
// durable commits and two acknowledged stream appends and two reads, where a call on one node
// is one commit. The counters say where the time goes, per call, in microseconds:
// a_invoke (a's input and commit), a_send (sealing and appending), b_take (reading, taking,
// committing and appending the answer on b), a_take (reading and taking the answer on a).
//
// Those drive two nodes by hand, one call at a time. Then three nodes as `exo boot --cluster`
// runs them (examples/cluster: a JS front on a asks a wasm counter on b to add, takes the
// answer and writes the total to notes on c), each with its RPC server and its link run
// between batches, driven by RPC clients: a call's round trip is a.front.add, then the
// answer's arrival at a (front.total polled), against the same image on one node (no
// placement: the answer is there when the call returns). With 1 connection, the latency of a
// round trip; with 16, each sending 20 calls, the round trips per second. Each node is woken
// when a message arrives for it (cluster::arrivals), as exo boot does.

#include "../tests/support/nats_server.hpp"
#include "../tests/support/two_nodes.hpp"
#include "ratio_reporter.hpp"

#include <exo/boot/node.hpp>
#include <exo/cluster/link.hpp>
#include <exo/core/sealed_file.hpp>
#include <exo/rpc/client.hpp>
#include <exo/rpc/server.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace {

using namespace test::nodes;
using clock_type = std::chrono::steady_clock;

void check(bool ok, const std::string& what) {
  if (!ok) {
    fmt::print(stderr, "benchmark setup failed: {}\n", what);
    std::abort();
  }
}

struct world {
  test::temp_dir t;
  test::nats_server server{t.sub("nats")};
};
world& nats() {
  static world w;
  return w;
}

double us(clock_type::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// One node: the caller asks a counter of its own node.
void local_call(benchmark::State& state) {
  member a{"a"};
  id asker = *a.hv->actor_id(*a.hv->create(caller{}));
  cap_handle counter = *a.hv->create(tally{});
  cap_handle add = *a.hv->function_cap(counter, "add", rights::call | rights::transfer);
  for (auto _ : state) {
    auto out = a.hv->invoke(asker, "ask", {value(add), value(std::int64_t{1})});
    check(out && !out->error, "a local call");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// Two nodes: the caller on a asks the counter on b; the answer comes back over the streams.
void cross_call(benchmark::State& state) {
  // Nodes of other names each run: the server's streams outlive a run, and another node a
  // (another key, another log) must not write the old a's stream.
  static int run = 0;
  ++run;
  pair_fixture p(fmt::format("a{}", run), fmt::format("b{}", run));
  auto nc_a = exo::cluster::connection::open({.url = nats().server.url()});
  auto nc_b = exo::cluster::connection::open({.url = nats().server.url()});
  check(nc_a && nc_b, "connecting to nats-server");
  exo::cluster::link<disk_hv> la{*p.a.hv, *nc_a, p.a.name, p.a.key, {p.b.name}};
  exo::cluster::link<disk_hv> lb{*p.b.hv, *nc_b, p.b.name, p.b.key, {p.a.name}};
  cap_handle add = *p.a.hv->lookup(p.counter, "add", rights::call | rights::transfer);
  double invoke_us = 0, send_us = 0, b_us = 0, a_us = 0;
  for (auto _ : state) {
    const auto t0 = clock_type::now();
    auto out = p.a.hv->invoke(p.asker, "ask", {value(add), value(std::int64_t{1})});
    check(out && !out->error, "the cross-node call on a");
    const auto t1 = clock_type::now();
    auto e = decode_entry(*p.a.hv->log().read(out->index));
    check(e.has_value(), "reading the call's entry");
    auto sent = la.publish(*e);
    check(sent && *sent == 1, "sending the call: " + (sent ? std::to_string(*sent) + " appended" : sent.error().message));
    const auto t2 = clock_type::now();
    auto took = lb.pull();
    check(took && *took == 1, "b taking the call: " + (took ? std::to_string(*took) + " taken" : took.error().message));
    const auto t3 = clock_type::now();
    auto back = la.pull();
    check(back && *back == 1, "a taking the answer: " + (back ? std::to_string(*back) + " taken" : back.error().message));
    const auto t4 = clock_type::now();
    invoke_us += us(t1 - t0);
    send_us += us(t2 - t1);
    b_us += us(t3 - t2);
    a_us += us(t4 - t3);
  }
  const double n = static_cast<double>(state.iterations());
  check(static_cast<double>(p.asker_state().answers.size()) == n, "every answer came back");
  state.counters["a_invoke_us"] = invoke_us / n;
  state.counters["a_send_us"] = send_us / n;
  state.counters["b_take_us"] = b_us / n;
  state.counters["a_take_us"] = a_us / n;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// A bare NATS request-reply between two connections (SendAsap), echoing 64 bytes.
void nats_request_reply(benchmark::State& state) {
  auto connect = [](natsConnection** nc) {
    natsOptions* o = nullptr;
    check(natsOptions_Create(&o) == NATS_OK, "nats options");
    natsOptions_SetURL(o, nats().server.url().c_str());
    natsOptions_SetSendAsap(o, true);
    check(natsConnection_Connect(nc, o) == NATS_OK, "connecting to nats-server");
    natsOptions_Destroy(o);
  };
  natsConnection *responder = nullptr, *requester = nullptr;
  connect(&responder);
  connect(&requester);
  natsSubscription* sub = nullptr;
  auto echo = [](natsConnection* nc, natsSubscription*, natsMsg* m, void*) {
    natsConnection_Publish(nc, natsMsg_GetReply(m), natsMsg_GetData(m), natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
  };
  check(natsConnection_Subscribe(&sub, responder, "exo.bench.echo", echo, nullptr) == NATS_OK, "subscribing");
  check(natsConnection_Flush(responder) == NATS_OK, "flushing");
  const std::string payload(64, 'x');
  for (auto _ : state) {
    natsMsg* reply = nullptr;
    check(natsConnection_Request(&reply, requester, "exo.bench.echo", payload.data(), static_cast<int>(payload.size()), 2000) ==
              NATS_OK,
          "a request");
    natsMsg_Destroy(reply);
  }
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(requester);
  natsConnection_Destroy(responder);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// ---- three nodes over RPC ----

using exo::rpc::json;

// examples/cluster packed as it is (placed on a, b and c), and without its placement.
struct images {
  test::temp_dir t;
  std::string placed = t.sub("placed.exo"), single = t.sub("single.exo");
  images() {
    exo::container_registry reg;
    reg.add_search_dir(EXO_BENCH_PLUGIN_DIR);
    exo::add_builtin_types(reg);
    auto packed = exo::pack_image(EXO_BENCH_CLUSTER_APP_DIR, reg);
    check(packed && exo::write_file(placed, *packed), "packing examples/cluster");
    namespace fs = std::filesystem;
    fs::copy(EXO_BENCH_CLUSTER_APP_DIR, t.sub("single"), fs::copy_options::recursive);
    json manifest = json::parse(std::ifstream(t.sub("single") + "/exo.json"));
    manifest.erase("nodes");
    std::ofstream(t.sub("single") + "/exo.json") << manifest.dump();
    auto one = exo::pack_image(t.sub("single"), reg);
    check(one && exo::write_file(single, *one), "packing examples/cluster without its placement");
  }
};
images& app() {
  static images i;
  return i;
}

// One node as `exo boot` runs it: booted on a directory of its own, serving RPC, and (for a
// cluster) linked to the others by its server's executor.
struct served_node {
  std::string name;
  exo::container_registry reg;
  std::unique_ptr<exo::node> n;
  std::optional<exo::node_key> key;
  std::optional<exo::cluster::connection> nc;
  std::optional<exo::cluster::link<exo::node_hypervisor>> link;
  std::unique_ptr<exo::rpc::server> srv;
  std::optional<exo::cluster::arrivals> woken;  // (declared last: destroyed first)
  served_node() {
    reg.add_search_dir(EXO_BENCH_PLUGIN_DIR);
    exo::add_builtin_types(reg);
  }
  void serve() {
    exo::rpc::server_options so{.listen = "127.0.0.1:0"};
    if (link) so.pump = link->pump();
    auto s = exo::rpc::server::start(n->service(), std::move(so));
    check(s.has_value(), "serving RPC");
    srv = std::move(*s);
    if (link) {
      auto w = exo::cluster::arrivals::watch(*nc, name, [s = srv.get()] { s->wake(); });
      check(w.has_value(), "watching for arrivals");
      woken.emplace(std::move(*w));
    }
  }
};

struct deployment {
  test::temp_dir t;
  // A nats-server of its own (the image names its nodes a, b and c, and the streams between
  // them outlive a run), stopped after the nodes.
  std::optional<test::nats_server> server;
  std::vector<std::unique_ptr<served_node>> nodes;  // a (or the one node) first
  ~deployment() { nodes.clear(); }
  std::string url() const { return nodes[0]->srv->url(); }
  // The three nodes of the placed image.
  static std::unique_ptr<deployment> cluster() {
    auto d = std::make_unique<deployment>();
    d->server.emplace(d->t.sub("nats"));
    const std::vector<std::string> names{"a", "b", "c"};
    std::map<std::string, exo::public_key> keys;
    for (const auto& n : names) {
      std::filesystem::create_directories(d->t.sub(n));
      auto k = exo::node_key::load_or_create(d->t.sub(n) + "/node.key");
      check(k.has_value(), "a node key");
      keys[n] = k->public_key();
    }
    for (const auto& n : names) {
      auto s = std::make_unique<served_node>();
      auto peers = keys;
      peers.erase(n);
      auto booted = exo::node::boot(app().placed, d->t.sub(n), s->reg,
                                    {.cluster = exo::boot_options::cluster_node{n, peers}});
      check(booted.has_value(), booted ? "" : "booting node " + n + ": " + booted.error().message);
      s->n = std::move(*booted);
      s->key.emplace(*exo::node_key::load_or_create(d->t.sub(n) + "/node.key"));
      auto conn = exo::cluster::connection::open({.url = d->server->url()});
      check(conn.has_value(), "connecting to nats-server");
      s->nc.emplace(std::move(*conn));
      std::vector<std::string> others;
      for (auto& [name, k] : peers) others.push_back(name);
      auto& hv = s->n->hypervisor();
      s->link.emplace(hv, *s->nc, n, *s->key, std::move(others), [&hv]() -> exo::expected<void> {
        if (auto off = hv.store().set_write_behind(false); !off) return off;
        return hv.store().set_write_behind(true);
      });
      s->link->expire_after(std::chrono::milliseconds(30'000));  // (exo boot's default)
      s->name = n;
      s->serve();
      d->nodes.push_back(std::move(s));
    }
    return d;
  }
  static std::unique_ptr<deployment> one_node() {
    auto d = std::make_unique<deployment>();
    auto s = std::make_unique<served_node>();
    auto booted = exo::node::boot(app().single, d->t.sub("one"), s->reg);
    check(booted.has_value(), booted ? "" : "booting one node: " + booted.error().message);
    s->n = std::move(*booted);
    s->serve();
    d->nodes.push_back(std::move(s));
    return d;
  }
};

exo::rpc::client connect(const std::string& url) {
  auto c = exo::rpc::client::connect(url);
  check(c.has_value(), "connecting to a node");
  return std::move(*c);
}

// Polls front.total until it is `want` (the answers taken back at a).
void wait_total(exo::rpc::client& c, std::int64_t want) {
  for (int i = 0; i < 200000; ++i) {
    auto r = c.call("front.total", json::array());
    check(r.has_value(), "front.total");
    if ((*r)["result"].get<std::int64_t>() == want) return;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  check(false, "the answers did not come back");
}

// One connection: a call and its answer's arrival, one at a time.
void round_trip(benchmark::State& state, bool cross) {
  auto d = cross ? deployment::cluster() : deployment::one_node();
  auto c = connect(d->url());
  std::int64_t total = 0;
  for (auto _ : state) {
    auto r = c.call("front.add", json::array({1}));
    check(r.has_value(), "front.add");
    wait_total(c, ++total);
  }
  state.SetItemsProcessed(state.iterations());
}

// 16 connections, each sending 20 calls (waiting for each call's reply, not its answer), then
// until every answer is back at a.
void round_trips_16(benchmark::State& state, bool cross) {
  constexpr int conns = 16, per_conn = 20;
  auto d = cross ? deployment::cluster() : deployment::one_node();
  std::vector<exo::rpc::client> clients;
  for (int i = 0; i < conns; ++i) clients.push_back(connect(d->url()));
  std::atomic<int> errors{0};
  std::int64_t total = 0;
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (auto& c : clients)
      threads.emplace_back([&] {
        for (int k = 0; k < per_conn; ++k)
          if (!c.call("front.add", json::array({1}))) ++errors;
      });
    for (auto& th : threads) th.join();
    total += conns * per_conn;
    wait_total(clients[0], total);
  }
  check(errors == 0, "calls failed");
  state.SetItemsProcessed(state.iterations() * conns * per_conn);
}

BENCHMARK_CAPTURE(round_trip, one, false)->Name("cluster/rpc round trip, one node")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(round_trip, cross, true)->Name("cluster/rpc round trip, three nodes")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(round_trips_16, one, false)
    ->Name("cluster/16 connections, one node")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(round_trips_16, cross, true)
    ->Name("cluster/16 connections, three nodes")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK(local_call)->Name("cluster/one node call")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(cross_call)->Name("cluster/cross-node call")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(nats_request_reply)->Name("cluster/nats request-reply")->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  exo::bench::ratio_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const double cross = reporter.ns("cluster/cross-node call"), one = reporter.ns("cluster/one node call"),
               rr = reporter.ns("cluster/nats request-reply");
  if (cross > 0 && one > 0) fmt::print("cross-node/one node: {:.2f}\n", cross / one);
  if (cross > 0 && rr > 0)
    fmt::print("cross-node/nats request-reply: {:.2f} ({:.0f} us of a cross-node call beyond one NATS round trip)\n",
               cross / rr, (cross - rr) / 1000);
  const double rt3 = reporter.ns("cluster/rpc round trip, three nodes"), rt1 = reporter.ns("cluster/rpc round trip, one node");
  if (rt3 > 0 && rt1 > 0)
    fmt::print("rpc round trip, three nodes/one node: {:.2f} ({:.0f} us against {:.0f} us)\n", rt3 / rt1, rt3 / 1000, rt1 / 1000);
  const double b3 = reporter.ns("cluster/16 connections, three nodes"), b1 = reporter.ns("cluster/16 connections, one node");
  if (b3 > 0 && b1 > 0)
    fmt::print("16 connections: three nodes {:.0f} round trips/s, one node {:.0f}/s: one node/three nodes {:.2f}\n", 1e9 / b3,
               1e9 / b1, b3 / b1);
  benchmark::Shutdown();
  return 0;
}
