#include "session.hpp"

#include <exo/core/error.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace exo::air {

namespace {

call_result ok(const json& v) { return call_result{0, v.dump(-1, ' ', false, json::error_handler_t::replace)}; }

}  // namespace

service unit_service() {
  return [](const call_request&) { return ok("result from unit_call_service"); };
}

service echo_service() {
  return [](const call_request& q) {
    auto args = parse_value(q.arguments);
    if (!args || !args->is_array()) return call_result{1, json("echo: the arguments are not a JSON array").dump(-1, ' ', false, json::error_handler_t::replace)};
    return ok(args->empty() ? json(nullptr) : (*args)[0]);
  };
}

service fallible_service(std::string failing) {
  return [failing = std::move(failing)](const call_request& q) {
    if (q.service_id == failing) return call_result{1, json("failed result from fallible_call_service").dump(-1, ' ', false, json::error_handler_t::replace)};
    return ok("success result from fallible_call_service");
  };
}

service set_variable_service(json value) {
  return [value = std::move(value)](const call_request&) { return ok(value); };
}

std::optional<service> test_service(std::string_view name, std::string_view arg) {
  if (name == "unit") return unit_service();
  if (name == "echo") return echo_service();
  if (name == "fallible") return fallible_service(std::string(arg));
  if (name == "set_variable") {
    auto v = parse_value(arg);
    if (!v) return std::nullopt;
    return set_variable_service(std::move(*v));
  }
  return std::nullopt;
}

run_fn inline_run(const run_limits& limits) {
  return [limits](const run_request& q) {
    run_limits l = limits;
    l.max_ticks = q.max_ticks;
    return run(q.air, q.prev_data, q.data, q.params, q.call_results, l);
  };
}

expected<interpreter_result> host_call(peer& p, std::string_view air, const std::string& init_peer, byte_view data,
                                       const run_fn& run, std::uint64_t max_ticks, const step_observer& watch,
                                       std::size_t max_rounds) {
  run_request q;
  q.air = std::string(air);
  q.prev_data = p.data;
  q.data.assign(data.begin(), data.end());
  q.params = {init_peer, p.id};
  q.max_ticks = max_ticks;
  std::vector<std::string> next;
  for (std::size_t round = 0;; ++round) {
    if (round > max_rounds)
      return fail(errc::limit_exceeded, fmt::format("peer {}: call requests still come after {} rounds", p.id, max_rounds));
    auto r = run(q);
    if (!r) return unexpected(std::move(r).error());
    if (watch) watch(host_step{p.id, round, &*r});
    for (auto& n : r->next_peer_pks)
      if (std::find(next.begin(), next.end(), n) == next.end()) next.push_back(n);
    if (r->call_requests.empty()) {
      p.data = r->data;
      r->next_peer_pks = std::move(next);
      return r;
    }
    call_results answers;
    for (const auto& [id, request] : r->call_requests) answers.emplace(id, p.answer ? p.answer(request) : call_result{1, "\"no service\""});
    q.prev_data = std::move(r->data);
    q.data.clear();
    q.call_results = encode_call_results(answers);
  }
}

expected<session_result> run_session(std::map<std::string, peer>& peers, std::string_view air, const std::string& init_peer,
                                     const run_fn& run, const step_observer& watch, std::size_t max_deliveries) {
  session_result out;
  auto first = peers.find(init_peer);
  if (first == peers.end()) return fail(errc::invalid_argument, fmt::format("the init peer '{}' is not one of the peers", init_peer));
  struct delivery {
    std::string to;
    bytes data;
  };
  std::deque<delivery> queue{{init_peer, {}}};
  while (!queue.empty()) {
    if (out.deliveries >= max_deliveries)
      return fail(errc::limit_exceeded, fmt::format("the particle still moves after {} deliveries", max_deliveries));
    delivery d = std::move(queue.front());
    queue.pop_front();
    ++out.deliveries;
    auto r = host_call(peers.at(d.to), air, init_peer, d.data, run, run_limits{}.max_ticks, watch);
    if (!r) return unexpected(std::move(r).error());
    for (const std::string& n : r->next_peer_pks) {
      if (peers.count(n)) {
        queue.push_back({n, r->data});
      } else if (std::find(out.left_for.begin(), out.left_for.end(), n) == out.left_for.end()) {
        out.left_for.push_back(n);
      }
    }
  }
  return out;
}

}  // namespace exo::air
