#include "air_cmd.hpp"

#include "interpreter/session.hpp"

#include <exo/runner/process.hpp>
#include <exo/runner/thread.hpp>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

namespace exo_cli {

namespace {

using namespace exo::air;
using exo::json;

enum { ok = 0, usage = 2, bad_input = 3, run_failed = 5 };

int failed(int code, const std::string& message) {
  std::cerr << "exo: " << message << "\n";
  return code;
}

bool read_file(const std::string& path, exo::bytes& out, std::string& err) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    err = fmt::format("cannot read {}", path);
    return false;
  }
  out.assign(std::istreambuf_iterator<char>(in), {});
  return true;
}

std::string text(const exo::bytes& b) { return std::string(b.begin(), b.end()); }

// A JSON text that may hold bytes that are not UTF-8 (data given back unchanged): printed
// with those bytes replaced.
std::string dump(const json& j, int indent = -1) { return j.dump(indent, ' ', false, json::error_handler_t::replace); }

/// The runner the flags name, and a run_fn through it.
class chosen_runner {
 public:
  explicit chosen_runner(const std::string& kind) {
    if (kind == "inline") {
      fn_ = inline_run();
    } else if (kind == "thread") {
      thread_ = std::make_unique<exo::thread_runner>(air_engine());
      if (auto e = thread_->init(exo::log_level::warn); !e) error_ = e.error().message;
      fn_ = runner_run(*thread_);
    } else if (kind == "process") {
      exo::process_options o;
      std::error_code ec;
      const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
      if (ec) {
        error_ = "cannot find the exo binary to start a runner child: " + ec.message();
        return;
      }
      o.command = {self.string(), "--runner-child", "air"};
      process_ = std::make_unique<exo::process_runner>(o);
      if (auto e = process_->init(exo::log_level::warn); !e) error_ = e.error().message;
      fn_ = runner_run(*process_);
    } else {
      error_ = fmt::format("--runner: '{}' is none of inline, thread, process", kind);
      usage_ = true;
    }
  }
  const std::string& error() const { return error_; }
  bool usage_error() const { return usage_; }
  const run_fn& fn() const { return fn_; }

 private:
  std::unique_ptr<exo::thread_runner> thread_;
  std::unique_ptr<exo::process_runner> process_;
  run_fn fn_;
  std::string error_;
  bool usage_ = false;
};

}  // namespace

int air_run(const air_run_args& a) {
  run_request q;
  std::string err;
  exo::bytes script;
  if (!read_file(a.air, script, err)) return failed(bad_input, "air run: --air: " + err);
  q.air = text(script);
  if (!a.prev.empty() && !read_file(a.prev, q.prev_data, err)) return failed(bad_input, "air run: --prev: " + err);
  if (!a.data.empty() && !read_file(a.data, q.data, err)) return failed(bad_input, "air run: --data: " + err);
  q.call_results.assign(a.call_results.begin(), a.call_results.end());
  q.params = {a.init_peer, a.current_peer};
  q.max_ticks = a.ticks;
  chosen_runner r(a.runner);
  if (!r.error().empty()) return failed(r.usage_error() ? usage : run_failed, "air run: " + r.error());
  auto res = r.fn()(q);
  if (!res) return failed(run_failed, "air run: " + res.error().message);
  std::cout << dump(to_json(*res), 2) << "\n";
  return ok;
}

int air_session(const air_session_args& a) {
  std::string err;
  exo::bytes script;
  if (!read_file(a.air, script, err)) return failed(bad_input, "air session: --air: " + err);
  std::map<std::string, peer> peers;
  std::vector<std::string> order;
  std::stringstream list(a.peers);
  for (std::string id; std::getline(list, id, ',');) {
    if (id.empty()) return failed(usage, "air session: --peers: an empty peer id");
    if (peers.count(id)) return failed(usage, fmt::format("air session: --peers: '{}' twice", id));
    peers[id] = peer{id, unit_service(), {}};
    order.push_back(id);
  }
  if (peers.empty()) return failed(usage, "air session: --peers names no peer");
  if (!peers.count(a.init_peer)) return failed(usage, fmt::format("air session: --init-peer '{}' is not in --peers", a.init_peer));
  // Services for every peer first, then those for one peer, whatever the order given.
  std::vector<std::string> services;
  for (int pass = 0; pass < 2; ++pass)
    for (const std::string& s : a.services) {
      const auto eq = s.find('='), colon = s.find(':');
      const bool for_one = eq != std::string::npos && (colon == std::string::npos || eq < colon);
      if (for_one == (pass == 1)) services.push_back(s);
    }
  for (const std::string& s : services) {
    std::string who, name = s, arg;
    if (auto eq = s.find('='); eq != std::string::npos && (s.find(':') == std::string::npos || eq < s.find(':'))) {
      who = s.substr(0, eq);
      name = s.substr(eq + 1);
    }
    if (auto colon = name.find(':'); colon != std::string::npos) {
      arg = name.substr(colon + 1);
      name = name.substr(0, colon);
    }
    auto svc = test_service(name, arg);
    if (!svc)
      return failed(usage, fmt::format("air session: --service '{}': services are unit, echo, fallible:SERVICE_ID and "
                                       "set_variable:JSON", s));
    if (who.empty()) {
      for (auto& [id, p] : peers) p.answer = *svc;
    } else {
      auto it = peers.find(who);
      if (it == peers.end()) return failed(usage, fmt::format("air session: --service '{}': '{}' is not in --peers", s, who));
      it->second.answer = *svc;
    }
  }
  chosen_runner r(a.runner);
  if (!r.error().empty()) return failed(r.usage_error() ? usage : run_failed, "air session: " + r.error());
  json steps = json::array();
  auto watch = [&](const host_step& s) {
    const interpreter_result& res = *s.result;
    if (a.as_json) {
      steps.push_back({{"peer", s.peer}, {"round", s.round}, {"ret_code", res.ret_code}, {"error_message", res.error_message},
                       {"next_peer_pks", res.next_peer_pks}, {"call_requests", call_requests_json(res.call_requests)}});
      return;
    }
    std::string line = fmt::format("{} run {}: ret_code {}", s.peer, s.round, res.ret_code);
    if (!res.error_message.empty()) line += " (" + res.error_message + ")";
    if (!res.call_requests.empty()) line += fmt::format(", {} call request(s)", res.call_requests.size());
    if (!res.next_peer_pks.empty()) line += ", next: " + dump(json(res.next_peer_pks));
    std::cout << line << "\n";
  };
  auto out = run_session(peers, text(script), a.init_peer, r.fn(), watch);
  if (!out) return failed(run_failed, "air session: " + out.error().message);
  if (a.as_json) {
    json data = json::object();
    for (const auto& id : order) data[id] = text(peers[id].data);
    std::cout << dump(json{{"steps", steps}, {"deliveries", out->deliveries}, {"left_for", out->left_for}, {"data", data}}, 2) << "\n";
    return ok;
  }
  std::cout << fmt::format("{} deliveries; no peer has work left", out->deliveries);
  if (!out->left_for.empty()) std::cout << "; the particle also went to peers outside the session: " << dump(json(out->left_for));
  std::cout << "\n";
  for (const auto& id : order) std::cout << id << " data: " << text(peers[id].data) << "\n";
  return ok;
}

int air_runner_child() { return exo::serve_runner(air_engine()); }

}  // namespace exo_cli
