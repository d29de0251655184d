// The AIR container plugin (EXO_TYPE_AIR): AIR actors in the hypervisor, over the plugin ABI
// (plugin/abi.h). An AIR actor runs particles with exo's interpreter (interpreter/) through a
// runner, and answers their local call requests with actors bound to it as services.
//
// Its code is a JSON object, {"peer_id": "..."}: the peer this node is in AIR's eyes (calls to
// it are local; calls to other peers go out in next_peer_pks). Its exports:
//
//   particle(script, data, init_peer[, particle_id]) -> {ret_code, error_message, data, next_peer_pks}
//       Runs the particle against the data this actor kept for it (under particle_id, by
//       default a hash of the init peer and the script), keeps the new data, and answers its call requests, one at a time, by
//       calling the service bound under each request's service id (its function named by the
//       request, its arguments the request's, as values). Each answer comes back to `answer`
//       (a failure to `on_failure`); when all of a run's requests are answered, the particle
//       runs again with their results, until none are left. The call's result is sent then,
//       through a reply capability (context::reply_cap): one input, however many messages.
//   bind(service_id, actor)   binds a service id to an actor capability (with the derive
//                             right: each request derives the function it names)
//   answer(result)            a service's answer (sent by services, not people)
//   on_failure(report)        a service's failure report: that request's result is an error
//   peer(peer_id, actor)      the AIR actor of another peer (on another node, say): a particle
//                             naming it among its next peers is passed on to it when its run
//                             here is done, as particle(script, data, init_peer, particle_id)
//
// State is in storage: "svc/<id>" (a bound service's cap handle), "data/<particle id>" (the
// particle's data), "wait" (the particle waiting for its services), "reply" (the reply cap),
// "peer/<id>" (a known peer's AIR actor).
//
// Where the interpreter runs is chosen when the plugin is first used: EXO_AIR_RUNNER=inline
// (default), thread or process (`exo boot --runner` sets it); a process runner's child is
// EXO_AIR_RUNNER_CHILD (default: this program) started with `--runner-child air`.
#include "interpreter/session.hpp"

#include <exo/core/encoding.hpp>
#include <exo/core/hash.hpp>
#include <exo/core/json.hpp>
#include <exo/core/value.hpp>
#include <exo/plugin/abi.h>
#include <exo/plugin/errors.hpp>
#include <exo/runner/process.hpp>
#include <exo/runner/thread.hpp>

#include <boost/dll/alias.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

struct exo_code {
  std::string peer_id;
};
struct exo_instance {
  const exo_code* code;
};

namespace {

using exo::plugin::failed;
using exo::plugin::guarded;
using exo::plugin::set_error;

using exo::json;
namespace air = exo::air;

constexpr const char* export_names[] = {"particle", "bind", "answer", "on_failure", "peer"};
enum : std::uint32_t { fn_particle, fn_bind, fn_answer, fn_on_failure, fn_peer };
constexpr std::uint32_t export_count = sizeof(export_names) / sizeof(export_names[0]);

exo_span span_of(std::string_view s) { return exo_span{reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }
exo_span span_of(const exo::bytes& b) { return exo_span{b.data(), b.size()}; }
std::string text_of(exo_span s) { return std::string(reinterpret_cast<const char*>(s.data), s.size); }

// ---- the runner: one per plugin library, chosen on first use ----

class air_runner {
 public:
  static air_runner& get() {
    static air_runner r;
    return r;
  }
  // The inline runner runs on the caller's thread, on any number of threads at once (a run
  // shares nothing with another: the parse cache has its lock, values their thread's arena);
  // the thread and process runners have one channel each, taken in turns.
  exo::expected<air::interpreter_result> run(const air::run_request& q) {
    if (!error_.empty()) return exo::fail(exo::errc::internal, error_);
    if (kind_ == "inline") return fn_(q);
    std::lock_guard lock(m_);
    return fn_(q);
  }
  const std::string& kind() const { return kind_; }

 private:
  air_runner() {
    const char* k = std::getenv("EXO_AIR_RUNNER");
    kind_ = k && *k ? k : "inline";
    if (kind_ == "inline") {
      fn_ = air::inline_run();
    } else if (kind_ == "thread") {
      thread_ = std::make_unique<exo::thread_runner>(air::air_engine());
      if (auto e = thread_->init(exo::log_level::warn); !e) error_ = e.error().message;
      fn_ = air::runner_run(*thread_);
    } else if (kind_ == "process") {
      exo::process_options o;
      const char* child = std::getenv("EXO_AIR_RUNNER_CHILD");
      std::error_code ec;
      const std::string self = child && *child ? std::string(child) : std::filesystem::read_symlink("/proc/self/exe", ec).string();
      o.command = {self, "--runner-child", "air"};
      process_ = std::make_unique<exo::process_runner>(o);
      if (auto e = process_->init(exo::log_level::warn); !e) error_ = e.error().message;
      fn_ = air::runner_run(*process_);
    } else {
      error_ = fmt::format("EXO_AIR_RUNNER is '{}', none of inline, thread, process", kind_);
    }
  }
  std::mutex m_;
  std::string kind_, error_;
  std::unique_ptr<exo::thread_runner> thread_;
  std::unique_ptr<exo::process_runner> process_;
  air::run_fn fn_;
};

// ---- one message: the host API, with its failures as this message's error ----

class host {
 public:
  host(const exo_host_api* api, exo_call* call, exo_error* err) : api_(api), call_(call), err_(err) {}

  // A failed host call traps the message: its status, with the host's message.
  exo_status trap(exo_status st) {
    exo_span m = api_->last_error(call_);
    return failed(err_, st, std::string_view(reinterpret_cast<const char*>(m.data), m.size));
  }
  exo_status get(std::string_view key, std::optional<std::string>& out) {
    exo_span v{};
    exo_status st = api_->storage_get(call_, span_of(key), &v);
    if (st == EXO_ABSENT) {
      out.reset();
      return EXO_OK;
    }
    if (st != EXO_OK) return trap(st);
    out = text_of(v);
    return EXO_OK;
  }
  exo_status put(std::string_view key, std::string_view value) {
    exo_status st = api_->storage_put(call_, span_of(key), span_of(value));
    return st == EXO_OK ? EXO_OK : trap(st);
  }
  exo_status erase(std::string_view key) {
    exo_status st = api_->storage_delete(call_, span_of(key), nullptr);
    return st == EXO_OK ? EXO_OK : trap(st);
  }
  exo_status charge(std::uint64_t ticks) {
    exo_status st = api_->charge(call_, ticks);
    return st == EXO_OK ? EXO_OK : trap(st);
  }
  std::uint64_t remaining() const { return api_->remaining(call_); }
  bool wants_result() const { return api_->wants_result(call_) != 0; }
  exo_status set_result(const exo::value& v) {
    exo::bytes enc;
    exo::encode(v, enc);
    exo_status st = api_->set_result(call_, span_of(enc));
    return st == EXO_OK ? EXO_OK : trap(st);
  }
  exo_status send(exo_cap target, const exo::value::list& args, std::uint64_t budget, exo_cap reply_to) {
    exo::bytes enc;
    exo::encode(exo::value(args), enc);
    exo_status st = api_->send(call_, target, span_of(enc), budget, reply_to);
    return st == EXO_OK ? EXO_OK : trap(st);
  }
  exo_status self_cap(std::string_view function, std::uint32_t rights, exo_cap& out) {
    exo_status st = api_->self_cap(call_, span_of(function), rights, &out);
    return st == EXO_OK ? EXO_OK : trap(st);
  }
  exo_status derive(exo_cap from, std::uint32_t rights, std::string_view function, exo_cap& out) {
    exo_status st = api_->derive(call_, from, rights, span_of(function), &out);
    return st == EXO_OK ? EXO_OK : trap(st);
  }
  exo_status drop(exo_cap c) {
    exo_status st = api_->drop(call_, c);
    return st == EXO_OK ? EXO_OK : trap(st);
  }
  exo_status reply_cap(exo_cap& out) {
    if (api_->struct_size < offsetof(exo_host_api, reply_cap) + sizeof(api_->reply_cap))
      return failed(err_, EXO_ERR_INCOMPATIBLE, "the host's plugin ABI has no reply_cap (1.2 or later is needed)");
    exo_status st = api_->reply_cap(call_, &out);
    return st == EXO_OK ? EXO_OK : trap(st);
  }
  void log(std::uint32_t level, std::string_view text) {
    if (api_->struct_size >= offsetof(exo_host_api, log_at) + sizeof(api_->log_at)) (void)api_->log_at(call_, level, span_of(text));
  }
  exo_status fail(exo_status code, std::string_view msg) { return failed(err_, code, msg); }
  // A stop that is not the script's doing (exo::plugin::fault_status).
  exo_status fault(std::string_view msg) { return failed(err_, exo::plugin::fault_status(api_), msg); }

 private:
  const exo_host_api* api_;
  exo_call* call_;
  exo_error* err_;
};

std::string u32_text(std::uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
std::uint32_t u32_of(const std::string& s) {
  std::uint32_t v = 0;
  std::memcpy(&v, s.data(), std::min<std::size_t>(4, s.size()));
  return v;
}

// The particle waiting for its services: what the next run needs.
struct waiting {
  std::string id, script, init_peer;
  json requests = json::array();  // [[id, service, function, arguments JSON text], ...] in id order
  std::size_t next = 0;           // requests sent so far
  json results = json::object();  // call results so far
  json peers = json::array();     // next peers every run so far named, each once
  bool reply = false;             // a reply capability waits in "reply"

  std::string save() const {
    return json{{"id", id}, {"script", script}, {"init", init_peer}, {"requests", requests}, {"next", next},
                {"results", results}, {"peers", peers}, {"reply", reply}}
        .dump(-1, ' ', false, json::error_handler_t::replace);
  }
  static waiting load(const std::string& text) {
    json j = json::parse(text);
    waiting w;
    w.id = j.at("id").get<std::string>();
    w.script = j.at("script").get<std::string>();
    w.init_peer = j.at("init").get<std::string>();
    w.requests = j.at("requests");
    w.next = j.at("next").get<std::size_t>();
    w.results = j.at("results");
    w.peers = j.at("peers");
    w.reply = j.at("reply").get<bool>();
    return w;
  }
};

class particle_host {
 public:
  particle_host(const exo_code& code, host& h) : code_(code), h_(h) {}

  // particle(script, data, init_peer)
  exo_status start(const exo::value::list& args) {
    if (args.size() < 3 || args.size() > 4 || !args[0].if_string() || !args[1].if_string() || !args[2].if_string() ||
        (args.size() == 4 && !args[3].if_string()))
      return h_.fail(EXO_ERR_TYPE_MISMATCH,
                     "particle takes (script: string, data: string, init_peer: string[, particle_id: string])");
    std::optional<std::string> busy;
    if (exo_status st = h_.get("wait", busy); st != EXO_OK) return st;
    if (busy)
      return h_.fail(EXO_ERR_INVALID_ARGUMENT, fmt::format("a particle ({}) is still waiting for its services; try again when "
                                                           "it is done", waiting::load(*busy).id));
    waiting w;
    w.script = *args[0].if_string();
    w.init_peer = *args[2].if_string();
    if (args.size() == 4 && !args[3].if_string()->empty()) {
      w.id = *args[3].if_string();
    } else {  // by default a particle is its init peer and its script, byte for byte
      const exo::digest d = exo::hash(exo::as_bytes(w.init_peer + '\0' + w.script));
      w.id = exo::to_hex(exo::byte_view(d.bytes.data(), 8));
    }
    std::optional<std::string> prev;
    if (exo_status st = h_.get("data/" + w.id, prev); st != EXO_OK) return st;
    const std::string& data = *args[1].if_string();
    return run(w, prev.value_or(""), data, {}, true);
  }

  // bind(service_id, actor)
  exo_status bind(const exo::value::list& args) {
    if (args.size() != 2 || !args[0].if_string() || !args[1].if_cap())
      return h_.fail(EXO_ERR_TYPE_MISMATCH, "bind takes (service_id: string, actor: capability)");
    return keep("svc/" + *args[0].if_string(), args[1].if_cap()->index);
  }

  // peer(peer_id, actor): the AIR actor of another peer (on another node, say); a particle
  // that names that peer among its next peers is passed on to it (pass_on).
  exo_status peer(const exo::value::list& args) {
    if (args.size() != 2 || !args[0].if_string() || !args[1].if_cap())
      return h_.fail(EXO_ERR_TYPE_MISMATCH, "peer takes (peer_id: string, actor: capability)");
    if (*args[0].if_string() == code_.peer_id)
      return h_.fail(EXO_ERR_INVALID_ARGUMENT, fmt::format("'{}' is this AIR actor's own peer id", code_.peer_id));
    return keep("peer/" + *args[0].if_string(), args[1].if_cap()->index);
  }

  // answer(result) and on_failure(report): the waiting request's result.
  exo_status answered(const exo::value::list& args, bool failure) {
    std::optional<std::string> text;
    if (exo_status st = h_.get("wait", text); st != EXO_OK) return st;
    if (!text) return h_.fail(EXO_ERR_INVALID_ARGUMENT, "an answer came, but no particle waits for one");
    waiting w = waiting::load(*text);
    if (w.next == 0 || w.next > w.requests.size()) return h_.fail(EXO_ERR_INTERNAL, "an answer came for no request sent");
    const json& req = w.requests[w.next - 1];
    const std::string id = std::to_string(req[0].get<std::uint32_t>());
    if (!failure) {
      json v = args.empty() ? json(nullptr) : exo::to_json(args[0]);
      w.results[id] = {{"ret_code", 0}, {"result", v.dump(-1, ' ', false, json::error_handler_t::replace)}};
    } else {
      std::string why = "the service failed";
      if (!args.empty())
        if (const exo::value* m = args[0].find("message"); m && m->if_string()) why = *m->if_string();
      std::int64_t code = 1;
      if (!args.empty())
        if (const exo::value* c = args[0].find("code"); c && c->if_i64()) code = *c->if_i64();
      w.results[id] = {{"ret_code", code == 0 ? 1 : code}, {"result", json(why).dump(-1, ' ', false, json::error_handler_t::replace)}};
    }
    return send_next(w);
  }

 private:
  // Runs the particle once; then either answers it or sends its first request.
  exo_status run(waiting& w, const std::string& prev, const std::string& data, const std::string& results, bool first) {
    air::run_request q;
    q.air = w.script;
    q.prev_data = exo::to_bytes(prev);
    q.data = exo::to_bytes(data);
    q.params = {w.init_peer, code_.peer_id};
    q.call_results = exo::to_bytes(results);
    q.max_ticks = h_.remaining();
    auto r = air_runner::get().run(q);
    if (!r) {
      if (r.error().code == exo::errc::out_of_ticks) return h_.fail(EXO_ERR_OUT_OF_TICKS, r.error().message);
      const std::string why = "the AIR runner (" + air_runner::get().kind() + "): " + r.error().message;
      // A thread or process runner that failed on its own (a child that crashed, hung, was
      // killed or could not start) says nothing of the script: another run, a replay on the
      // inline runner, would finish. So it is a fault, which the log records and a replay
      // gives again, not an error a replay would contradict.
      if (air_runner::get().kind() != "inline" && r.error().code == exo::errc::internal) return h_.fault(why);
      return h_.fail(EXO_ERR_INTERNAL, why);
    }
    if (exo_status st = h_.charge(r->ticks); st != EXO_OK) return st;
    const std::string new_data(r->data.begin(), r->data.end());
    if (exo_status st = h_.put("data/" + w.id, new_data); st != EXO_OK) return st;
    for (const auto& p : r->next_peer_pks)
      if (std::find(w.peers.begin(), w.peers.end(), json(p)) == w.peers.end()) w.peers.push_back(p);
    if (r->call_requests.empty()) return finish(w, *r, first);
    w.requests = json::array();
    for (const auto& [id, c] : r->call_requests) w.requests.push_back({id, c.service_id, c.function_name, c.arguments});
    w.next = 0;
    w.results = json::object();
    if (first && h_.wants_result()) {
      exo_cap reply = EXO_NO_CAP;
      if (exo_status st = h_.reply_cap(reply); st != EXO_OK) return st;
      if (exo_status st = h_.put("reply", u32_text(reply)); st != EXO_OK) return st;
      w.reply = true;
    }
    return send_next(w);
  }

  exo_status send_next(waiting& w) {
    while (w.next < w.requests.size()) {
      const json& req = w.requests[w.next];
      const std::string id = std::to_string(req[0].get<std::uint32_t>());
      const std::string service = req[1].get<std::string>(), function = req[2].get<std::string>();
      ++w.next;
      std::optional<std::string> bound;
      if (exo_status st = h_.get("svc/" + service, bound); st != EXO_OK) return st;
      if (!bound) {
        w.results[id] = {{"ret_code", 1},
                         {"result", json(fmt::format("no service '{}' is bound to this AIR actor", service)).dump()}};
        continue;
      }
      // The arguments, as values.
      exo::value::list args;
      auto parsed = air::parse_value(req[3].get<std::string>());
      if (!parsed || !parsed->is_array()) return h_.fail(EXO_ERR_INTERNAL, "a call request's arguments are not a JSON array");
      for (const json& a : *parsed) {
        auto v = exo::from_json(a, "an argument");
        if (!v) {
          w.results[id] = {{"ret_code", 1}, {"result", json(v.error().message).dump()}};
          args.clear();
          break;
        }
        args.push_back(std::move(*v));
      }
      if (w.results.contains(id)) continue;
      exo_cap fn = EXO_NO_CAP, back = EXO_NO_CAP;
      if (exo_status st = h_.derive(u32_of(*bound), EXO_RIGHT_CALL, function, fn); st != EXO_OK) return st;
      if (exo_status st = h_.self_cap("answer", EXO_RIGHT_CALL | EXO_RIGHT_TRANSFER, back); st != EXO_OK) return st;
      if (exo_status st = h_.put("wait", w.save()); st != EXO_OK) return st;
      // Half of what is left goes to the service (its answer brings back what it does not use).
      if (exo_status st = h_.send(fn, args, h_.remaining() / 2, back); st != EXO_OK) return st;
      if (exo_status st = h_.drop(fn); st != EXO_OK) return st;
      return h_.drop(back);
    }
    // Every request answered: run again with the results.
    std::optional<std::string> data;
    if (exo_status st = h_.get("data/" + w.id, data); st != EXO_OK) return st;
    const std::string results = w.results.dump(-1, ' ', false, json::error_handler_t::replace);
    return run(w, data.value_or(""), "", results, false);
  }

  // Keeps capability `cap` under `key`, dropping the one kept there before.
  exo_status keep(const std::string& key, exo_cap cap) {
    std::optional<std::string> old;
    if (exo_status st = h_.get(key, old); st != EXO_OK) return st;
    if (old)
      if (exo_status st = h_.drop(u32_of(*old)); st != EXO_OK) return st;
    return h_.put(key, u32_text(cap));
  }

  // The particle, as its last run left it, goes on to each of its next peers whose AIR actor
  // this one knows (peer()): particle(script, data, init_peer, id), without a reply, with
  // half of what is left of the budget each. Other next peers are the caller's to reach.
  exo_status pass_on(const waiting& w, const std::string& data) {
    for (const json& p : w.peers) {
      const std::string peer = p.get<std::string>();
      std::optional<std::string> known;
      if (peer == code_.peer_id) continue;
      if (exo_status st = h_.get("peer/" + peer, known); st != EXO_OK) return st;
      if (!known) continue;
      exo_cap fn = EXO_NO_CAP;
      if (exo_status st = h_.derive(u32_of(*known), EXO_RIGHT_CALL, "particle", fn); st != EXO_OK) return st;
      const exo::value::list args{exo::value(w.script), exo::value(data), exo::value(w.init_peer), exo::value(w.id)};
      if (exo_status st = h_.send(fn, args, h_.remaining() / 2, EXO_NO_CAP); st != EXO_OK) return st;
      if (exo_status st = h_.drop(fn); st != EXO_OK) return st;
    }
    return EXO_OK;
  }

  exo_status finish(waiting& w, const air::interpreter_result& r, bool first) {
    if (exo_status st = pass_on(w, std::string(r.data.begin(), r.data.end())); st != EXO_OK) return st;
    exo::value::list next;  // every run's, each once: the host loop's next peers
    for (const json& p : w.peers) next.emplace_back(p.get<std::string>());
    exo::value result = exo::value::make_map({{"ret_code", exo::value(r.ret_code)},
                                             {"error_message", exo::value(r.error_message)},
                                             {"data", exo::value(std::string(r.data.begin(), r.data.end()))},
                                             {"next_peer_pks", exo::value(std::move(next))}});
    if (first) {
      if (h_.wants_result()) return h_.set_result(result);
      return EXO_OK;
    }
    if (exo_status st = h_.erase("wait"); st != EXO_OK) return st;
    if (!w.reply) return EXO_OK;
    std::optional<std::string> reply;
    if (exo_status st = h_.get("reply", reply); st != EXO_OK) return st;
    if (exo_status st = h_.erase("reply"); st != EXO_OK) return st;
    if (!reply) return EXO_OK;
    if (exo_status st = h_.send(u32_of(*reply), {std::move(result)}, UINT64_MAX, EXO_NO_CAP); st != EXO_OK) return st;
    return h_.drop(u32_of(*reply));
  }

  const exo_code& code_;
  host& h_;
};

// ---- the ABI ----

exo_status air_compile(exo_span code, const exo_limits*, exo_code** out, exo_error* err) {
  return guarded(err, "air compile", [&] {
    const std::string text = text_of(code);
    std::string peer = "exo";
    if (!text.empty()) {
      auto j = air::parse_value(text);
      if (!j || !j->is_object())
        return failed(err, EXO_ERR_MALFORMED, "an AIR actor's code is a JSON object {\"peer_id\": \"...\"}" +
                                                  (j ? std::string() : ": " + j.error().message));
      for (auto it = j->begin(); it != j->end(); ++it)
        if (it.key() != "peer_id")
          return failed(err, EXO_ERR_MALFORMED, fmt::format("an AIR actor's code has no field '{}' (only peer_id)", it.key()));
      if (j->contains("peer_id")) {
        if (!(*j)["peer_id"].is_string() || (*j)["peer_id"].get<std::string>().empty())
          return failed(err, EXO_ERR_MALFORMED, "peer_id must be a non-empty string");
        peer = (*j)["peer_id"].get<std::string>();
      }
    }
    *out = new exo_code{std::move(peer)};
    return EXO_OK;
  });
}

void air_free_code(exo_code* c) { delete c; }
std::uint32_t air_export_count(const exo_code*) { return export_count; }
exo_span air_export_name(const exo_code*, std::uint32_t i) {
  if (i >= export_count) return exo_span{nullptr, 0};
  return span_of(std::string_view(export_names[i]));
}

exo_status air_instantiate(exo_code* c, exo_instance** out, exo_error* err) {
  return guarded(err, "air instantiate", [&] {
    *out = new exo_instance{c};
    return EXO_OK;
  });
}
void air_destroy(exo_instance* i) { delete i; }

exo_status air_run(exo_instance* inst, std::uint32_t function, exo_span args_span, std::uint64_t, const exo_host_api* api,
                   exo_call* call, exo_error* err) {
  return guarded(err, "air run", [&] {
    auto decoded = exo::decode(exo::byte_view(args_span.data, args_span.size));
    if (!decoded || !decoded->if_list()) return failed(err, EXO_ERR_MALFORMED, "the message's arguments are not a list");
    const exo::value::list& args = *decoded->if_list();
    host h(api, call, err);
    particle_host p(*inst->code, h);
    switch (function) {
      case fn_particle: return p.start(args);
      case fn_bind: return p.bind(args);
      case fn_answer: return p.answered(args, false);
      case fn_on_failure: return p.answered(args, true);
      case fn_peer: return p.peer(args);
      default: return failed(err, EXO_ERR_NO_SUCH_FUNCTION, fmt::format("no function {}", function));
    }
  });
}

}  // namespace

/// The descriptor exo loads (plugin/abi.h).
extern "C" const exo_plugin exo_air_plugin = {
    EXO_PLUGIN_ABI_MAJOR, EXO_PLUGIN_ABI_MINOR, sizeof(exo_plugin), EXO_TYPE_AIR, "air", "0.1.0 (AquaVM v0.20 semantics)",
    &air_compile, &air_free_code, &air_export_count, &air_export_name,
    &air_instantiate, &air_destroy, &air_run,
    EXO_PLUGIN_ANY_THREAD};  // a run shares nothing with another (air_runner)

BOOST_DLL_ALIAS(exo_air_plugin, exo_plugin_v1)
