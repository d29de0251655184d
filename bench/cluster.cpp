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
// Not yet here (issue 21): three nodes and 16 client connections over RPC (exo boot
// --cluster is not built yet); this measures two nodes driven in one process, one call at a
// time, each input committed on its own (no group commit).

#include "../tests/support/nats_server.hpp"
#include "../tests/support/two_nodes.hpp"
#include "ratio_reporter.hpp"

#include <exo/cluster/link.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <nats/nats.h>

#include <chrono>
#include <cstdlib>

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
  benchmark::Shutdown();
  return 0;
}
