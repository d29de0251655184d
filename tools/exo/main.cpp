// exo — pack, boot, call and verify applications (DESIGN.md section 8).
//
//   exo pack DIR -o APP.exo                 build an image from DIR/exo.json
//   exo boot APP.exo --data DIR [--listen ADDR] [--runner inline|thread|process]   boot (or resume) it; serve RPC
//                  [--prune-every N [--keep-roots K] [--prune-log]]             checkpoint and prune as it serves
//                  [--cluster nats://HOST:PORT --node NAME --peers FILE]         one node of a cluster
//   exo call URL ACTOR.FUNCTION [ARGS] [--key FILE]
//   exo verify DIR [--with DIR ...] | exo verify --log FILE --image APP.exo [--image UPGRADE.exo ...]
//   exo verify ws://HOST:PORT [--image APP.exo] [--node-key HEX] [--follow [--every S]]
//   exo verify ... --checkpoint SNAP       start from a snapshot instead of the image
//   exo checkpoint DIR [-o SNAP]            record a checkpoint at the log's last entry; export its snapshot
//   exo prune DIR [--keep-roots N] [--before-checkpoint]   free old roots' nodes (and log entries)
//   exo upgrade DIR NEW.exo [--check-only] [--from-checkpoint]   switch to new code that reproduces the history
//   exo log DIR [--from N --count N | --export FILE]
//   exo root DIR
//   exo read URL ACTOR KEY [--verify [--node-key HEX]]
//   exo keygen -o FILE
//   exo air run --air FILE --init-peer ID --current-peer ID [--prev FILE] [--data FILE]
//               [--call-results JSON] [--runner inline|thread|process] [--ticks N]
//   exo air session --air FILE --peers A,B,C --init-peer A [--service [PEER=]NAME[:ARG]]...
//
// Exit codes: 0 success; 1 verification failed; 2 usage error; 3 bad input (an image, data
// directory, log or key that cannot be used, or a boot that failed); 4 an RPC call was
// refused, failed, or could not reach the server; 5 an AIR run failed (out of ticks, a runner
// child that died).

#include "air_cmd.hpp"
#include "vm.hpp"

#include <exo/boot/node.hpp>
#include <exo/boot/prune.hpp>
#include <exo/boot/upgrade.hpp>
#include <exo/call_log/file.hpp>
#include <exo/cluster/link.hpp>
#include <exo/call_log/json.hpp>
#include <exo/core/encoding.hpp>
#include <exo/core/json.hpp>
#include <exo/core/sealed_file.hpp>
#include <exo/rpc/client.hpp>
#include <exo/rpc/remote.hpp>
#include <exo/rpc/server.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <pthread.h>

#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using exo::json;

enum exit_code { ok = 0, verify_failed = 1, usage = 2, bad_input = 3, rpc_failed = 4 };

struct common {
  bool as_json = false;
  std::vector<std::string> plugin_dirs;
  double timeout_s = 60;  // RPC: connecting, and each request (0: wait forever)

  exo::rpc::client_options client() const {
    return {.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000))};
  }
};

// Plugins: --plugin-dir, then EXO_PLUGIN_PATH, then the directory beside the binary
// (build/<preset>/plugins in a build tree, <prefix>/lib/exo/plugins when installed).
void setup_registry(exo::container_registry& reg, const common& c) {
  for (auto& d : c.plugin_dirs) reg.add_search_dir(d);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    reg.add_search_dir(exe.parent_path().parent_path() / "plugins");
    reg.add_search_dir(exe.parent_path().parent_path() / "lib" / "exo" / "plugins");
  }
  exo::add_builtin_types(reg);
}

int failed(int code, const std::string& what) {
  fmt::print(stderr, "exo: {}\n", what);
  return code;
}

void print_json(const json& j) { fmt::print("{}\n", j.dump(2)); }

// ---- pack ----
int cmd_pack(const common& c, const std::string& dir, const std::string& out) {
  exo::container_registry reg;
  setup_registry(reg, c);
  auto file = exo::pack_image(dir, reg);
  if (!file) return failed(bad_input, "pack: " + file.error().message);
  auto img = exo::read_image(*file);
  if (!img) return failed(bad_input, "pack made an image it cannot read back: " + img.error().message);
  if (auto w = exo::write_file(out, *file); !w) return failed(bad_input, w.error().message);
  const auto& m = img->manifest;
  // Each actor's functions, as its container compiles its code (packing compiled each one).
  auto functions_of = [&](const exo::image_actor& a) {
    std::vector<std::string> names;
    const exo::container* ct = reg.find(a.container);
    const exo::bytes* code = img->blob(a.code);
    if (!ct || !code) return names;
    if (auto compiled = ct->compile(*code, reg.limits()))
      for (auto& fn : (*compiled)->functions) names.emplace_back(fn.name);
    return names;
  };
  if (c.as_json) {
    json actors = json::array(), exports = json::array();
    for (auto& a : m.actors)
      actors.push_back({{"name", a.name}, {"container", a.container}, {"code", exo::to_hex(a.code)}, {"functions", functions_of(a)}});
    for (auto& e : m.exports) exports.push_back(e.method());
    print_json({{"image", exo::to_hex(img->hash)}, {"file", out}, {"bytes", file->size()}, {"name", m.name},
                {"actors", actors}, {"init", m.init.size()}, {"exports", exports}});
    return ok;
  }
  fmt::print("packed {} into {} ({} bytes)\n", dir, out, file->size());
  fmt::print("image {} ('{}')\n", exo::to_hex(img->hash), m.name);
  for (auto& ct : m.containers) fmt::print("  needs container {} (type {}, version {})\n", ct.name, ct.type_id, ct.version);
  for (auto& a : m.actors)
    fmt::print("  actor {} ({}, code {}): {}\n", a.name, a.container, exo::short_hex(a.code), fmt::join(functions_of(a), " "));
  for (auto& i : m.init) fmt::print("  init {}.{}{}\n", i.actor, i.function, exo::to_json(i.args).dump());
  for (auto& e : m.exports) {
    std::string params;
    for (auto& p : e.params)
      params += fmt::format("{}{}: {}{}", params.empty() ? "" : ", ", p.name, p.type,
                            p.fallback ? " = " + exo::to_json(*p.fallback).dump() : "");
    fmt::print("  exports {}({}){}\n", e.method(), params, e.callers.empty() ? "" : fmt::format(" for {} key(s)", e.callers.size()));
  }
  return ok;
}

// ---- boot ----
struct upkeep_args {
  std::uint64_t every = 0;  // calls between upkeeps (0: none)
  std::uint64_t keep_roots = 1;
  bool prune_log = false;
};
struct cluster_args {
  std::string url;         // the NATS server (empty: a single node)
  std::string node;        // this node's name
  std::string peers_file;  // {"NODE": "public key hex", ...}
  std::uint64_t pull_ms = 5;
  std::uint64_t expire_ms = 30'000;  // 0: never
};

// The peers file: every node's public key, by name ({"a": "HEX", ...}). This node's own entry,
// if there, must be the key its data directory signs with.
exo::expected<std::map<std::string, exo::public_key>> read_peers(const std::string& file, const std::string& me,
                                                                 const std::string& data) {
  auto text = exo::read_file(file, 1u << 20);
  if (!text) return exo::unexpected(std::move(text).error());
  const json j = json::parse(text->begin(), text->end(), nullptr, false);
  if (!j.is_object()) return exo::fail(exo::errc::malformed, fmt::format("{}: not a JSON object of node names and public keys", file));
  std::map<std::string, exo::public_key> out;
  for (auto& [name, hex] : j.items()) {
    auto raw = hex.is_string() ? exo::from_hex(hex.get<std::string>()) : exo::fail(exo::errc::malformed, "not a string");
    if (!exo::valid_node_name(name) || !raw || raw->size() != exo::public_key{}.bytes.size())
      return exo::fail(exo::errc::malformed, fmt::format("{}: '{}' is not a node name with a public key (64 hex digits)", file, name));
    exo::public_key k;
    std::copy(raw->begin(), raw->end(), k.bytes.begin());
    if (name == me) {  // (one file can serve every node)
      const std::string own = (fs::path(data) / "node.key").string();
      if (!fs::exists(own))
        return exo::fail(exo::errc::invalid_argument, fmt::format("{} names node {}'s key, but {} has none yet (exo keygen -o {})",
                                                                  file, me, data, own));
      auto mine = exo::node_key::load_or_create(own);
      if (!mine) return exo::unexpected(std::move(mine).error());
      if (!(mine->public_key() == k))
        return exo::fail(exo::errc::invalid_argument, fmt::format("{} gives node {} the key {}, but {} signs with {}", file, me,
                                                                  exo::to_hex(k.view()), data, exo::to_hex(mine->public_key().view())));
      continue;
    }
    out.emplace(name, k);
  }
  return out;
}

int cmd_boot(const common& c, const std::string& image, const std::string& data, const std::string& listen,
             std::size_t max_frame, const std::string& log_level, const std::string& runner, const upkeep_args& upkeep,
             const cluster_args& cluster) {
  auto threshold = exo::parse_log_level(log_level);
  if (!threshold) return failed(usage, "boot: --log-level: " + threshold.error().message);
  // Where the AIR container runs its interpreter: it reads these when first used, and a
  // process runner's child is this binary in its hidden mode.
  if (runner != "inline" && runner != "thread" && runner != "process")
    return failed(usage, fmt::format("boot: --runner: '{}' is none of inline, thread, process", runner));
  ::setenv("EXO_AIR_RUNNER", runner.c_str(), 1);
  {
    std::error_code ec;
    const auto self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) ::setenv("EXO_AIR_RUNNER_CHILD", self.c_str(), 1);
  }
  exo::container_registry reg;
  setup_registry(reg, c);
  // Block the stop signals before any thread starts, so that only sigwait sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  exo::boot_options opts;
  const bool in_cluster = !cluster.url.empty();
  if (in_cluster != !cluster.node.empty() || in_cluster != !cluster.peers_file.empty())
    return failed(usage, "boot: --cluster, --node and --peers go together");
  if (in_cluster) {
    if (!exo::valid_node_name(cluster.node)) return failed(usage, fmt::format("boot: --node: '{}' cannot name a node", cluster.node));
    auto peers = read_peers(cluster.peers_file, cluster.node, data);
    if (!peers) return failed(bad_input, "boot: --peers: " + peers.error().message);
    opts.cluster = exo::boot_options::cluster_node{cluster.node, std::move(*peers)};
  }
  std::optional<exo::cluster::connection> nc;  // (before the boot: a server that cannot be reached leaves nothing made)
  if (in_cluster) {
    auto conn = exo::cluster::connection::open({.url = cluster.url});
    if (!conn) return failed(bad_input, "boot: --cluster: " + conn.error().message);
    nc.emplace(std::move(*conn));
  }
  if (!c.as_json) opts.progress = [](std::string_view line) { fmt::print("{}\n", line); };
  // Actors' lines, for the operator: on stderr, one at a time (the server's executor logs them).
  if (*threshold != exo::log_level::off)
    opts.log = [min = *threshold](std::string_view actor, exo::log_level level, std::string_view text) {
      if (level >= min) fmt::print(stderr, "[{}] {}: {}\n", exo::to_string(level), actor, text);
    };
  auto n = exo::node::boot(image, data, reg, opts);
  if (!n) return failed(bad_input, "boot: " + n.error().message);
  auto& hv = (*n)->hypervisor();
  const std::string root = exo::to_hex(hv.state_root().value());
  // A cluster's node: its link to the others over NATS JetStream, run by the server's executor
  // between batches (it sends what the log holds for them and takes what they sent).
  std::optional<exo::cluster::link<exo::node_hypervisor>> link;
  std::optional<exo::node_key> key;
  if (in_cluster) {
    auto k = exo::node_key::load_or_create((fs::path(data) / "node.key").string());
    if (!k) return failed(bad_input, "boot: " + k.error().message);
    key.emplace(std::move(*k));
    std::vector<std::string> peers;
    for (auto& [name, k2] : opts.cluster->peers) peers.push_back(name);
    link.emplace(hv, *nc, cluster.node, *key, std::move(peers), [&hv]() -> exo::expected<void> {
      if (auto off = hv.store().set_write_behind(false); !off) return off;  // (waits for what was written behind)
      return hv.store().set_write_behind(true);
    });
    link->expire_after(std::chrono::milliseconds(cluster.expire_ms));
    auto sent = link->recover();
    if (!sent) return failed(bad_input, "boot: sending what the log holds for other nodes: " + sent.error().message);
    if (!c.as_json) fmt::print("node {} linked through {}: {} messages sent again\n", cluster.node, cluster.url, *sent);
  }
  if (listen.empty() && !in_cluster) {
    if (c.as_json) print_json({{"image", exo::to_hex((*n)->image().hash)}, {"resumed", (*n)->resumed()}, {"root", root}, {"log_size", hv.log().size()}});
    return ok;
  }
  exo::rpc::server_options so{.listen = listen.empty() ? "127.0.0.1:0" : listen, .max_frame = max_frame,
                              .log = [](std::string_view l) { fmt::print(stderr, "exo: {}\n", l); }};
  if (upkeep.every) {
    so.maintain_every = upkeep.every;
    so.maintain = [node = n->get(), o = exo::prune_options{.keep_roots = upkeep.keep_roots, .before_checkpoint = upkeep.prune_log}] {
      return node->maintain(o);
    };
  }
  if (link) {
    so.pump = link->pump();
    so.pump_every = std::chrono::milliseconds(cluster.pull_ms);
  }
  auto srv = exo::rpc::server::start((*n)->service(), std::move(so));
  if (!srv) return failed(bad_input, srv.error().message);
  std::optional<exo::cluster::arrivals> woken;  // (destroyed before the server: no wake-up after it)
  if (link) {
    auto w = exo::cluster::arrivals::watch(*nc, cluster.node, [s = srv->get()] { s->wake(); });
    if (!w) return failed(bad_input, "boot: --cluster: " + w.error().message);
    woken.emplace(std::move(*w));
  }
  if (c.as_json) print_json({{"image", exo::to_hex((*n)->image().hash)}, {"resumed", (*n)->resumed()}, {"root", root},
                             {"log_size", hv.log().size()}, {"url", (*srv)->url()}});
  else fmt::print("listening on {} (Ctrl-C stops)\n", (*srv)->url());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  woken.reset();
  (*srv)->stop();
  if (link)  // what the last calls sent (the next start would send it too)
    if (auto sent = link->publish_new(); !sent) fmt::print(stderr, "exo: cluster: {}\n", sent.error().message);
  auto st = (*srv)->stats();
  if (!c.as_json)
    fmt::print("stopped ({}): {} calls in {} commits; log has {} entries, state root {}\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
               st.calls, st.batches, hv.log().size(), exo::to_hex(hv.state_root().value()));
  return ok;
}

// ---- call ----
int cmd_call(const common& c, const std::string& url, const std::string& method, const std::string& args_text,
             const std::string& key_file) {
  json args = json::array();
  if (!args_text.empty()) {
    args = json::parse(args_text, nullptr, false);
    if (args.is_discarded()) return failed(usage, fmt::format("call: ARGS is not JSON: {} (a string needs quotes: '\"text\"')", args_text));
    if (!method.starts_with("exo.") && !args.is_array()) args = json::array({args});  // one argument
  }
  std::optional<exo::node_key> key;
  if (!key_file.empty()) {
    if (!fs::exists(key_file)) return failed(bad_input, fmt::format("call: no key file {} (make one with exo keygen -o {})", key_file, key_file));
    auto k = exo::node_key::load_or_create(key_file);
    if (!k) return failed(bad_input, "call: " + k.error().message);
    key = std::move(*k);
  }
  auto cl = exo::rpc::client::connect(url, c.client());
  if (!cl) return failed(rpc_failed, "call: " + cl.error().message);
  auto r = method.starts_with("exo.") ? cl->request(method, args_text.empty() ? json() : args)
                                      : cl->call(method, args, key ? &*key : nullptr);
  cl->close();
  if (!r) {
    if (c.as_json) print_json({{"error", {{"code", r.error().code}, {"message", r.error().message}, {"data", r.error().data}}}});
    else fmt::print(stderr, "exo: call {}: error {}: {}{}\n", method, r.error().code, r.error().message,
                    r.error().data.is_null() ? "" : " " + r.error().data.dump());
    return rpc_failed;
  }
  if (c.as_json || method.starts_with("exo.")) {
    print_json(*r);
  } else {
    fmt::print("{}\n", (*r)["result"].dump());
    std::fflush(stdout);  // the result first, then the note about it
    fmt::print(stderr, "(log entry {}, {} ticks, state root {})\n", (*r)["index"].get<std::uint64_t>(),
               (*r)["ticks"].get<std::uint64_t>(), (*r)["root"].get<std::string>().substr(0, 16));
  }
  return ok;
}

// ---- data directories ----
struct opened_dir {
  exo::lmdb_store store;
  std::optional<exo::lmdb_log> log;
};
exo::expected<std::unique_ptr<opened_dir>> open_dir(const std::string& dir) {
  if (!fs::exists(fs::path(dir) / exo::image_file_name))
    return exo::fail(exo::errc::invalid_argument, fmt::format("{} is not an exo data directory (no {}); make one with exo boot", dir, exo::image_file_name));
  auto s = exo::lmdb_store::open(dir);
  if (!s) return exo::unexpected(std::move(s).error());
  auto d = std::make_unique<opened_dir>(opened_dir{std::move(*s), std::nullopt});
  auto l = exo::lmdb_log::open(d->store);
  if (!l) return exo::unexpected(std::move(l).error());
  d->log.emplace(std::move(*l));
  return d;
}

void print_verdict(const exo::verdict& v, bool as_json) {
  if (as_json) {
    json j{{"ok", v.ok()}, {"entries", v.entries}, {"final_root", exo::to_hex(v.final_root)}};
    if (v.first) {
      j["divergence"] = {{"index", v.first->index}, {"field", v.first->field}, {"log", v.first->expected}, {"replay", v.first->got}};
      if (v.first->entry_intact) j["divergence"]["entry_intact"] = *v.first->entry_intact;
    }
    print_json(j);
    return;
  }
  if (v.ok()) {
    fmt::print("{}\n", v.to_string());
  } else {
    fmt::print("VERIFICATION FAILED after {} good entries\n", v.entries);
    fmt::print("  first divergence: entry {}, field '{}'\n", v.first->index, v.first->field);
    fmt::print("  the log says: {}\n", v.first->expected);
    fmt::print("  the replay:   {}\n", v.first->got);
    if (v.first->entry_intact)
      fmt::print("  {}\n", *v.first->entry_intact ? "the entry is the one the log chained and signed: the replay behaves differently"
                                                   : "the entry was changed after it was logged (its hash is not the one chained)");
  }
}

// A hex Ed25519 public key (64 hex digits).
exo::expected<exo::public_key> parse_public_key(const std::string& hex) {
  auto b = exo::from_hex(hex);
  if (!b || b->size() != 32)
    return exo::fail(exo::errc::invalid_argument,
                     fmt::format("'{}' is not an Ed25519 public key (64 hex digits, as exo.handshake's node_key and "
                                 "exo root --json show it)",
                                 hex));
  exo::public_key k;
  std::copy(b->begin(), b->end(), k.bytes.begin());
  return k;
}

int cmd_verify_remote(const common& c, const std::string& url, const std::string& image_file,
                      const exo::verify_options& vo, bool follow, double every_s, bool from_checkpoint);

// A snapshot to verify from (exo checkpoint), with a line saying where it starts.
exo::expected<std::optional<exo::snapshot>> load_checkpoint(const common& c, const std::string& file) {
  if (file.empty()) return std::optional<exo::snapshot>{};
  auto s = exo::read_snapshot(file);
  if (!s) return exo::unexpected(std::move(s).error());
  auto info = exo::check_checkpoint(s->cp);  // read_snapshot checked it
  if (!c.as_json)
    fmt::print("starting from the checkpoint at entry {} ({}): state root {}, {} nodes, signed by {}\n", info->index, file,
               exo::short_hex(info->root), s->nodes.size(), exo::to_hex(info->node_key).substr(0, 16));
  return std::optional<exo::snapshot>{std::move(*s)};
}

exo::verdict verify_against(const exo::log_reader& log, const exo::image& img, const std::optional<exo::snapshot>& from,
                            exo::container_registry& reg, const exo::verify_options& vo, exo::image_source images) {
  return from ? exo::verify_image_log_from(log, img, *from, reg, vo, std::move(images))
              : exo::verify_image_log(log, img, reg, vo, std::move(images));
}

// One data directory's log against the image it was booted from (and those it was upgraded to).
int verify_dir(const common& c, const std::string& dir, opened_dir& d, std::optional<exo::snapshot> from,
               exo::container_registry& reg, const exo::verify_options& vo) {
  // The image the log was booted from (DIR/image.exo, or, after an upgrade, kept in DIR/images),
  // and the ones it was upgraded to.
  exo::image_source images = exo::directory_images(dir);
  auto booted = exo::booted_image(*d.log);
  auto img = booted ? images(*booted) : exo::load_image((fs::path(dir) / exo::image_file_name).string());
  if (!img) return failed(bad_input, "verify: " + img.error().message);
  if (!c.as_json) fmt::print("verifying {} ({} entries) against image {}\n", dir, d.log->size(), exo::short_hex(img->hash));
  if (!from && d.log->base() != 0) {  // pruned before its checkpoint: start there
    auto snap = exo::recorded_snapshot(d.store, *d.log);
    if (!snap) return failed(bad_input, "verify: " + snap.error().message);
    if (!c.as_json) fmt::print("the log was pruned before entry {}: starting from the directory's checkpoint there\n", d.log->base());
    from = std::move(*snap);
  }
  auto v = verify_against(*d.log, *img, from, reg, vo, std::move(images));
  print_verdict(v, c.as_json);
  return v.ok() ? ok : verify_failed;
}

// The nodes of a cluster, each verified alone: every message one took from another is what
// the other's log sent, in order (exo::cluster::check_pair).
int check_cluster(const common& c, const std::vector<std::string>& dirs, const std::vector<std::unique_ptr<opened_dir>>& d) {
  std::vector<std::string> nodes;
  for (std::size_t i = 0; i < d.size(); ++i) {
    auto n = exo::log_node(*d[i]->log);
    if (!n) return failed(bad_input, fmt::format("verify: {}: {}", dirs[i], n.error().message));
    if (n->empty()) return failed(bad_input, fmt::format("verify: {} is not a node of a cluster", dirs[i]));
    for (std::size_t k = 0; k < nodes.size(); ++k)
      if (nodes[k] == *n) return failed(bad_input, fmt::format("verify: {} and {} are both node {}", dirs[k], dirs[i], *n));
    nodes.push_back(*n);
  }
  json pairs = json::array();
  for (std::size_t i = 0; i < d.size(); ++i)
    for (std::size_t k = 0; k < d.size(); ++k) {
      if (i == k) continue;
      auto n = exo::cluster::check_pair(*d[i]->log, nodes[i], *d[k]->log, nodes[k]);
      if (!n) {
        if (c.as_json) print_json({{"ok", false}, {"from", nodes[i]}, {"to", nodes[k]}, {"error", n.error().message}});
        else fmt::print("messages from node {} to node {}: {}\n", nodes[i], nodes[k], n.error().message);
        return verify_failed;
      }
      pairs.push_back({{"from", nodes[i]}, {"to", nodes[k]}, {"messages", *n}});
      if (!c.as_json) fmt::print("messages from node {} to node {}: {} taken, each as it was sent\n", nodes[i], nodes[k], *n);
    }
  if (c.as_json) print_json({{"ok", true}, {"pairs", pairs}});
  return ok;
}

// Runs fn on a thread with a stack of `bytes` (and waits): replays run there. The js
// container's engine takes its thread's stack less a margin for its own limit, so a replay
// has far more room than a node's 8 MiB thread gave the message when it was logged: a
// recursion exo does not count (natives calling natives) that finished live, started from
// JS frames the JIT made small, still finishes when the replay's frames are interpreted
// (each up to 2.4 KB more; 2,000 of them about 4.6 MB). README, "Faults".
template <class F>
int on_big_stack(std::size_t bytes, F fn) {
  struct job_t {
    F* fn;
    int rc = 0;
    std::exception_ptr error;
  } job{&fn};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, bytes);
  pthread_t t;
  const int made = pthread_create(
      &t, &attr,
      [](void* p) -> void* {
        auto* j = static_cast<job_t*>(p);
        try {
          j->rc = (*j->fn)();
        } catch (...) {
          j->error = std::current_exception();
        }
        return nullptr;
      },
      &job);
  pthread_attr_destroy(&attr);
  if (made != 0) return fn();  // (no thread: here, with this thread's stack)
  pthread_join(t, nullptr);
  if (job.error) std::rethrow_exception(job.error);
  return job.rc;
}
constexpr std::size_t replay_stack = std::size_t{64} << 20;

int cmd_verify(const common& c, const std::string& dir, const std::vector<std::string>& with, const std::string& log_file,
               const std::vector<std::string>& image_files,
               const std::string& node_key, bool follow, double every_s, const std::string& checkpoint_file,
               bool from_checkpoint) {
  exo::verify_options vo;
  if (!node_key.empty()) {
    auto k = parse_public_key(node_key);
    if (!k) return failed(usage, "verify: --node-key: " + k.error().message);
    vo.node_key = *k;
  }
  vo.progress_every = 1000;
  vo.progress = [](std::uint64_t done, std::uint64_t total) {
    if (total >= 1000) fmt::print(stderr, "verified {}/{} entries\n", done, total);
  };
  if (dir.starts_with("ws://")) {
    if (!log_file.empty()) return failed(usage, "verify: a node's log comes from the node; --log goes with an exported log");
    if (!checkpoint_file.empty()) return failed(usage, "verify: --checkpoint goes with a data directory or an exported log");
    if (image_files.size() > 1) return failed(usage, "verify: for a node, --image names the one image it runs");
    if (!with.empty()) return failed(usage, "verify: --with names data directories, beside a data directory");
    return cmd_verify_remote(c, dir, image_files.empty() ? std::string() : image_files[0], vo, follow, every_s, from_checkpoint);
  }
  if (follow) return failed(usage, "verify: --follow follows a running node (ws://HOST:PORT)");
  if (from_checkpoint) return failed(usage, "verify: --from-checkpoint is for a running node (ws://HOST:PORT); give --checkpoint SNAP here");
  exo::container_registry reg;
  setup_registry(reg, c);
  auto from = load_checkpoint(c, checkpoint_file);
  if (!from) return failed(bad_input, "verify: --checkpoint: " + from.error().message);
  if (!dir.empty()) {
    if (!log_file.empty() || !image_files.empty()) return failed(usage, "verify: give DIR, or --log and --image, not both");
    if (!with.empty() && *from) return failed(usage, "verify: --checkpoint goes with one data directory, not with --with");
    std::vector<std::string> dirs{dir};
    dirs.insert(dirs.end(), with.begin(), with.end());
    std::vector<std::unique_ptr<opened_dir>> opened;
    for (const std::string& one : dirs) {
      auto d = open_dir(one);
      if (!d) return failed(bad_input, "verify: " + d.error().message);
      if (int rc = verify_dir(c, one, **d, *from, reg, vo); rc != ok) return rc;
      opened.push_back(std::move(*d));
    }
    if (opened.size() > 1) return check_cluster(c, dirs, opened);
    return ok;
  }
  if (log_file.empty() || image_files.empty())
    return failed(usage, "verify: give DIR, or both --log FILE and --image APP.exo (and --image for each image it was upgraded to)");
  auto log = exo::import_log(log_file);
  if (!log) return failed(bad_input, "verify: " + log.error().message);
  std::vector<exo::image> given;
  for (const std::string& f : image_files) {
    auto im = exo::load_image(f);
    if (!im) return failed(bad_input, "verify: " + im.error().message);
    given.push_back(std::move(*im));
  }
  // The log starts on the image its init entry names (the first given, if it names none).
  std::size_t first = 0;
  if (auto booted = exo::booted_image(*log))
    for (std::size_t i = 0; i < given.size(); ++i)
      if (given[i].hash == *booted) first = i;
  const exo::image img = given[first];
  if (!c.as_json) fmt::print("verifying {} ({} entries) against image {}\n", log_file, log->size(), exo::short_hex(img.hash));
  auto v = verify_against(*log, img, *from, reg, vo, exo::listed_images(std::move(given)));
  print_verdict(v, c.as_json);
  return v.ok() ? ok : verify_failed;
}

// A running node, from outside: its log and (unless one is given) its image over RPC, then
// the same replay as for a data directory; --follow goes on with each new entry.
int cmd_verify_remote(const common& c, const std::string& url, const std::string& image_file,
                      const exo::verify_options& vo, bool follow, double every_s, bool from_checkpoint) {
  exo::container_registry reg;
  setup_registry(reg, c);
  auto cl = exo::rpc::client::connect(url, c.client());
  if (!cl) return failed(rpc_failed, "verify: " + cl.error().message);
  const json& info = cl->info();
  const std::string claimed = info.value("image", "");
  if (!vo.node_key)
    fmt::print(stderr,
               "note: the node says its key is {}; a log re-signed end to end by another key verifies too unless you "
               "pin the key you trust with --node-key\n",
               info.value("node_key", "?"));
  exo::image img;
  if (!image_file.empty()) {
    auto local = exo::load_image(image_file);
    if (!local) return failed(bad_input, "verify: " + local.error().message);
    if (exo::to_hex(local->hash) != claimed)
      return failed(verify_failed, fmt::format("verify: the node runs image {}, not {} ({})", claimed,
                                               exo::to_hex(local->hash), image_file));
    img = std::move(*local);
  } else {
    auto file = exo::rpc::fetch_image(*cl, [&](std::uint64_t got, std::uint64_t total) {
      if (total > (std::uint64_t{1} << 20)) fmt::print(stderr, "fetched {}/{} bytes of the image\n", got, total);
    });
    if (!file) return failed(rpc_failed, fmt::format("verify: fetching the image: error {}: {}", file.error().code, file.error().message));
    auto served = exo::read_image(*file);
    if (!served) return failed(verify_failed, "verify: the image the node handed out cannot be read: " + served.error().message);
    if (exo::to_hex(served->hash) != claimed)
      return failed(verify_failed, fmt::format("verify: the image the node handed out is {}, but its handshake names {}",
                                               exo::to_hex(served->hash), claimed));
    img = std::move(*served);
  }
  // From the node's checkpoint: asked for, or the only way (the node pruned its log before it).
  std::optional<exo::snapshot> snap;
  std::uint64_t at = 0;  // the checkpoint's entry
  const std::uint64_t base = info.value("log_base", std::uint64_t{0});
  if (from_checkpoint || base > 0) {
    auto file = exo::rpc::fetch_snapshot(*cl, [&](std::uint64_t got, std::uint64_t total) {
      if (total > (std::uint64_t{1} << 20)) fmt::print(stderr, "fetched {}/{} bytes of the snapshot\n", got, total);
    });
    if (!file) return failed(rpc_failed, fmt::format("verify: fetching the node's snapshot: error {}: {}", file.error().code, file.error().message));
    auto read = exo::decode_snapshot(*file);
    if (!read) return failed(verify_failed, "verify: the snapshot the node handed out: " + read.error().message);
    snap = std::move(*read);
    at = exo::check_checkpoint(snap->cp)->index;  // decode_snapshot checked it
    if (!c.as_json)
      fmt::print("starting from the node's checkpoint at entry {}{}\n", at,
                 base > 0 ? fmt::format(" (it pruned its log before entry {})", base) : "");
  }
  exo::rpc::remote_log log(*cl);
  if (snap) log.start_at(at);
  auto fetch = [&]() -> exo::expected<std::uint64_t, exo::rpc::rpc_error> {
    const std::uint64_t before = log.size();
    return log.refresh([&](std::uint64_t got, std::uint64_t total) {
      if (total - before >= 1000) fmt::print(stderr, "fetched {}/{} entries\n", got, total);
    });
  };
  auto got = fetch();
  if (!got) return failed(rpc_failed, fmt::format("verify: fetching the log: error {}: {}", got.error().code, got.error().message));
  // A node that was upgraded runs another image than the one its log was booted from: the
  // images its log ran on come from the node too (exo.image with "image"), each checked
  // against its hash.
  exo::image_source images = [&cl, current = img](const exo::digest& h) -> exo::expected<exo::image> {
    if (h == current.hash) return current;
    auto file = exo::rpc::fetch_kept_image(*cl, h);
    if (!file) return exo::fail(exo::errc::invalid_argument, fmt::format("the node hands out no image {}: {}", exo::short_hex(h), file.error().message));
    return exo::read_image(*file);
  };
  auto booted = snap ? exo::booted_image(snap->cp.init) : exo::booted_image(log);
  if (booted && !(*booted == img.hash)) {
    auto first = images(*booted);
    if (!first) return failed(verify_failed, fmt::format("verify: the node was booted from image {}: {}", exo::short_hex(*booted), first.error().message));
    if (!c.as_json) fmt::print("the node was booted from image {} and upgraded since: fetched that image too\n", exo::short_hex(*booted));
    img = std::move(*first);
  }
  std::optional<exo::image_log_verifier> made;
  if (snap) made.emplace(img, *snap, reg, vo);
  else made.emplace(img, reg, vo);
  exo::image_log_verifier& verifier = *made;
  verifier.follow_upgrades(images);
  if (!c.as_json) fmt::print("verifying {} ({} entries) against image {}\n", url, log.size(), exo::short_hex(img.hash));
  const exo::verdict* v = &verifier.advance(log);
  print_verdict(*v, c.as_json);
  if (!follow || !v->ok()) return v->ok() ? ok : verify_failed;
  // Following: each new entry is replayed once, as it arrives; entries verified are let go.
  std::fflush(stdout);
  const auto every = std::chrono::milliseconds(static_cast<std::int64_t>(every_s * 1000));
  for (;;) {
    log.forget_before(v->entries);
    std::this_thread::sleep_for(every);
    const std::uint64_t before = log.size();
    auto r = fetch();
    if (!r) return failed(rpc_failed, fmt::format("verify: following {}: error {}: {}", url, r.error().code, r.error().message));
    if (log.size() == before) continue;
    v = &verifier.advance(log);
    print_verdict(*v, c.as_json);
    std::fflush(stdout);
    if (!v->ok()) return verify_failed;
  }
}

int cmd_log(const common& c, const std::string& dir, std::uint64_t from, std::uint64_t count, const std::string& export_to) {
  auto d = open_dir(dir);
  if (!d) return failed(bad_input, "log: " + d.error().message);
  const auto& log = *(*d)->log;
  if (!export_to.empty()) {
    if (auto r = exo::export_log(log, export_to); !r) return failed(bad_input, "log: " + r.error().message);
    if (c.as_json) print_json({{"file", export_to}, {"entries", log.size()}});
    else fmt::print("exported {} entries to {}\n", log.size(), export_to);
    return ok;
  }
  json all = json::array();
  for (std::uint64_t i = from; i < log.size() && i - from < count; ++i) {
    if (i != 0 && i < log.base()) {  // pruned before a checkpoint
      if (!c.as_json) fmt::print("(entries {} to {} were pruned: the log goes on from its checkpoint)\n", i, log.base() - 1);
      i = log.base() - 1;
      continue;
    }
    auto raw = log.read(i);
    auto e = raw ? exo::decode_entry(*raw) : exo::unexpected(raw.error());
    if (!e) return failed(bad_input, fmt::format("log: entry {}: {}", i, e.error().message));
    if (c.as_json) {
      all.push_back(exo::entry_to_json(*e, exo::entry_hash(*raw)));
      continue;
    }
    auto image_named = [&](const char* side) {
      const exo::value* note = e->args.find("note");
      auto h = exo::origin_image(note ? note->find(side) : nullptr);
      return h ? exo::to_hex(*h).substr(0, 16) : std::string("?");
    };
    auto count = [&](const char* field) {
      const exo::value* l = e->args.find(field);
      return l && l->if_list() ? l->if_list()->size() : std::size_t{0};
    };
    std::string what = e->kind == "init" ? fmt::format("boot of '{}'", e->function)
                     : e->kind == "create" ? fmt::format("create {} {}", e->function, exo::short_hex(e->actor))
                     : e->kind == "upgrade" ? fmt::format("from image {} to image {} ({} actors' new code, {} migration calls)",
                                                          image_named("from"), image_named("to"), count("changes"), count("migrate"))
                                           : fmt::format("{}.{}{}", exo::short_hex(e->actor), e->function, exo::to_json(e->args).dump());
    std::string outcome = e->error ? fmt::format("error {}: {}", e->error->name, e->error->message)
                          : e->kind == "call" || e->kind == "upgrade" ? "-> " + exo::to_json(e->result).dump() : "";
    fmt::print("#{:<5} {:<6} {} {} [{} ticks{}] root {}\n", e->index, e->kind, what, outcome, e->ticks,
               e->caller ? ", caller " + exo::to_hex(*e->caller).substr(0, 16) : "", exo::to_hex(e->root).substr(0, 16));
  }
  if (c.as_json) print_json(all);
  return ok;
}

int cmd_checkpoint(const common& c, const std::string& dir, const std::string& out) {
  auto d = open_dir(dir);
  if (!d) return failed(bad_input, "checkpoint: " + d.error().message);
  // Recorded in the directory (what exo prune --before-checkpoint prunes up to); a directory
  // a running node writes cannot take it, but its snapshot can still be exported.
  auto recorded = exo::record_checkpoint((*d)->store, *(*d)->log);
  if (!recorded && out.empty()) return failed(bad_input, "checkpoint: " + recorded.error().message);
  if (!recorded) fmt::print(stderr, "exo: checkpoint: not recorded in {}: {}\n", dir, recorded.error().message);
  json j;
  if (recorded) {
    j = {{"recorded", true}, {"index", recorded->index}, {"root", exo::to_hex(recorded->root)}};
    if (!c.as_json)
      fmt::print("recorded the checkpoint at entry {} (state root {}) in {}\n", recorded->index, exo::to_hex(recorded->root), dir);
  }
  if (!out.empty()) {
    auto snap = exo::take_snapshot((*d)->store, *(*d)->log);
    if (!snap) return failed(bad_input, "checkpoint: " + snap.error().message);
    auto info = exo::check_checkpoint(snap->cp);
    if (!info) return failed(bad_input, "checkpoint: " + info.error().message);
    auto file = exo::encode_snapshot(*snap);
    if (!file) return failed(bad_input, "checkpoint: " + file.error().message);
    if (auto w = exo::write_file(out, *file); !w) return failed(bad_input, "checkpoint: " + w.error().message);
    j.update({{"file", out}, {"index", info->index}, {"root", exo::to_hex(info->root)}, {"nodes", snap->nodes.size()},
              {"bytes", file->size()}, {"node_key", exo::to_hex(info->node_key)}});
    if (!c.as_json)
      fmt::print("wrote {}: checkpoint at entry {}, state root {}, {} nodes, {} bytes\n", out, info->index,
                 exo::to_hex(info->root), snap->nodes.size(), file->size());
  }
  if (c.as_json) print_json(j);
  return ok;
}

int cmd_prune(const common& c, const std::string& dir, std::uint64_t keep_roots, bool before_checkpoint) {
  if (!fs::exists(fs::path(dir) / exo::image_file_name))
    return failed(bad_input, fmt::format("prune: {} is not an exo data directory (no {})", dir, exo::image_file_name));
  exo::prune_options o{.keep_roots = keep_roots, .before_checkpoint = before_checkpoint};
  if (!c.as_json) o.progress = [](std::string_view line) { fmt::print("{}\n", line); };
  auto r = exo::prune_directory(dir, o);
  if (!r) return failed(bad_input, "prune: " + r.error().message);
  if (c.as_json)
    print_json({{"roots_kept", r->store.roots_kept}, {"roots_dropped", r->store.roots_dropped},
                {"nodes_kept", r->store.nodes_kept}, {"nodes_freed", r->store.nodes_freed},
                {"bytes_freed", r->store.bytes_freed}, {"entries_dropped", r->entries_dropped}, {"log_base", r->base}});
  else
    fmt::print("pruned {}: {} roots and {} nodes kept, {} roots and {} nodes ({} bytes) freed, {} log entries dropped\n",
               dir, r->store.roots_kept, r->store.nodes_kept, r->store.roots_dropped, r->store.nodes_freed,
               r->store.bytes_freed, r->entries_dropped);
  return ok;
}

int cmd_upgrade(const common& c, const std::string& dir, const std::string& image_file, bool check_only,
                bool from_checkpoint) {
  if (!fs::exists(fs::path(dir) / exo::image_file_name))
    return failed(bad_input, fmt::format("upgrade: {} is not an exo data directory (no {})", dir, exo::image_file_name));
  auto next = exo::load_image(image_file);
  if (!next) return failed(bad_input, "upgrade: " + next.error().message);
  exo::container_registry reg;
  setup_registry(reg, c);
  exo::upgrade_options o{.check_only = check_only, .from_checkpoint = from_checkpoint, .progress = {}};
  o.progress = [](std::uint64_t done, std::uint64_t total) {
    if (total >= 1000) fmt::print(stderr, "replayed {}/{} entries on the new code\n", done, total);
  };
  auto r = exo::upgrade_directory(dir, *next, reg, o);
  if (!r) return failed(bad_input, "upgrade: " + r.error().message);
  json j{{"image", exo::to_hex(next->hash)}, {"checked", r->check.entries}, {"from_checkpoint", r->from_checkpoint},
         {"check_seconds", r->check_seconds}, {"ok", r->check.ok()}};
  if (r->check.first) {
    const auto& d = *r->check.first;
    j["divergence"] = {{"index", d.index}, {"actor", exo::to_hex(d.actor)}, {"function", d.function}, {"field", d.field},
                       {"log", d.logged}, {"new_code", d.upgraded}};
  }
  if (r->done) {
    j.update({{"switched", true}, {"entry", r->done->index}, {"from", exo::to_hex(r->done->from)}, {"root", exo::to_hex(r->done->root)},
              {"changed", r->done->changed}, {"migrations", exo::to_json(r->done->results)}, {"switch_seconds", r->switch_seconds}});
  } else {
    j["switched"] = false;
  }
  if (c.as_json) {
    print_json(j);
  } else {
    fmt::print("checked {} entries{} on image {}'s code in {:.2f} s\n", r->check.entries,
               r->from_checkpoint ? " after the checkpoint" : "", exo::short_hex(next->hash), r->check_seconds);
    if (r->check.first) {
      const auto& d = *r->check.first;
      fmt::print("UPGRADE REFUSED: the new code does not reproduce the history; nothing changed\n");
      fmt::print("  first divergence: entry {}, {}.{}, field '{}'\n", d.index, exo::short_hex(d.actor), d.function, d.field);
      fmt::print("  the log says:     {}\n", d.logged);
      fmt::print("  the new code:     {}\n", d.upgraded);
    } else if (r->done) {
      std::string changed;
      for (auto& a : r->done->changed) changed += (changed.empty() ? "" : ", ") + a;
      fmt::print("switched {} from image {} to image {} at entry {} (new code: {}; {} migration calls -> {}) in {:.3f} s; "
                 "state root {}\n",
                 dir, exo::short_hex(r->done->from), exo::short_hex(r->done->to), r->done->index,
                 changed.empty() ? "none" : changed, next->manifest.migrate.size(), exo::to_json(r->done->results).dump(),
                 r->switch_seconds, exo::to_hex(r->done->root));
    } else {
      fmt::print("the new code reproduces the history (--check-only: nothing changed)\n");
    }
  }
  return r->check.ok() ? ok : verify_failed;
}

int cmd_root(const common& c, const std::string& dir) {
  auto d = open_dir(dir);
  if (!d) return failed(bad_input, "root: " + d.error().message);
  auto head = (*d)->store.head();
  if (!head) return failed(bad_input, "root: " + head.error().message);
  const std::string root = exo::to_hex(head->hash);
  std::string signer;  // the key the log's head is signed with
  if (auto h = (*d)->log->head(); h && *h)
    if (auto decoded = exo::decode_head(**h)) signer = exo::to_hex(decoded->key);
  if (c.as_json)
    print_json({{"root", root}, {"log_size", (*d)->log->size()}, {"log_head", exo::to_hex((*d)->log->last_hash())},
                {"node_key", signer}});
  else fmt::print("{}\n", root);
  return ok;
}

// ---- read ----
int cmd_read(const common& c, const std::string& url, const std::string& actor, const std::string& key, bool verify,
             const std::string& node_key) {
  std::optional<exo::public_key> pinned;
  if (!node_key.empty()) {
    if (!verify) return failed(usage, "read: --node-key goes with --verify");
    auto k = parse_public_key(node_key);
    if (!k) return failed(usage, "read: --node-key: " + k.error().message);
    pinned = *k;
  }
  auto cl = exo::rpc::client::connect(url, c.client());
  if (!cl) return failed(rpc_failed, "read: " + cl.error().message);
  auto r = cl->request("exo.read", json{{"actor", actor}, {"key", key}});
  cl->close();
  if (!r) return failed(rpc_failed, fmt::format("read: error {}: {}", r.error().code, r.error().message));
  std::optional<exo::bytes> value;
  if ((*r)["value"].is_string()) value = exo::from_hex((*r)["value"].get<std::string>()).value_or(exo::bytes{});
  std::string how = "not verified (--verify checks it against the node's signed log)";
  if (verify) {
    auto v = exo::rpc::verify_read(*r, pinned);
    if (!v) return failed(verify_failed, "read: " + v.error().message);
    how = fmt::format("verified: proved under root {}, which the node's log head (entry {} of {}) signed with {}{}",
                      exo::short_hex(v->root), v->log_size - 1, v->log_size, exo::to_hex(v->node_key.view()).substr(0, 16),
                      pinned ? ", the pinned key" : " (pin it with --node-key)");
  }
  // exo.kv and other actors that keep canonical values show as JSON; anything else as hex.
  json shown = nullptr;
  if (value) {
    auto decoded = exo::decode(*value);
    shown = decoded ? exo::to_json(*decoded) : json{{"$bytes", exo::to_hex(*value)}};
  }
  if (c.as_json) {
    json out = *r;
    out["verified"] = verify;
    out["decoded"] = shown;
    print_json(out);
  } else {
    fmt::print("{}\n", shown.dump());
    std::fflush(stdout);
    fmt::print(stderr, "({})\n", how);
  }
  return ok;
}

int cmd_keygen(const common& c, const std::string& out) {
  if (fs::exists(out)) return failed(bad_input, fmt::format("keygen: {} exists; choose another file (keys are never overwritten)", out));
  if (const auto parent = fs::path(out).parent_path(); !parent.empty()) {  // (a data directory's node.key, say)
    std::error_code ec;
    fs::create_directories(parent, ec);
  }
  auto k = exo::node_key::load_or_create(out);
  if (!k) return failed(bad_input, "keygen: " + k.error().message);
  const std::string pub = exo::to_hex(k->public_key().view());
  if (c.as_json) print_json({{"file", out}, {"public_key", pub}});
  else fmt::print("wrote {} (private, mode 0600)\npublic key {}\n", out, pub);
  return ok;
}

// ---- vm ----
// What a VM's /init boots (exo_cli::vm_init): the image at /app.exo on the data disk, RPC on
// the guest's port 8545, actors' lines at info and above.
int boot_in_vm(const std::string& image, const std::string& data, const std::string& listen) {
  return cmd_boot(common{}, image, data, listen, std::size_t{1} << 20, "info", "inline", upkeep_args{}, cluster_args{});
}

int cmd_vm_build(const common& c, const std::string& image, const std::string& out, const std::string& kernel) {
  exo_cli::vm_inputs in{.image = image, .kernel_dir = kernel, .exo_binary = {}, .plugin_dirs = c.plugin_dirs};
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return failed(bad_input, "vm build: cannot find this exo binary");
  in.exo_binary = exe.string();
  if (in.kernel_dir.empty()) {
    // The kernel tools/dev.sh unpacks (Debian's linux-image-amd64, not installed): the newest.
    const char* env = std::getenv("EXO_KERNEL_DIR");
    const char* home = std::getenv("HOME");
    if (env && *env) in.kernel_dir = env;
    else if (home) {
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(fs::path(home) / ".cache" / "exo", ec))
        if (e.path().filename().string().rfind("linux-image-", 0) == 0) found.push_back(e.path().string());
      std::sort(found.begin(), found.end());
      if (!found.empty()) in.kernel_dir = found.back();
    }
    if (in.kernel_dir.empty())
      return failed(bad_input, "vm build: no kernel: give --kernel DIR (an unpacked linux-image package), or run "
                               "`bash tools/dev.sh setup`, which unpacks Debian's into ~/.cache/exo");
  }
  if (in.plugin_dirs.empty())
    for (const auto& d : {exe.parent_path().parent_path() / "plugins", exe.parent_path().parent_path() / "lib" / "exo" / "plugins"})
      if (fs::is_directory(d, ec)) in.plugin_dirs.push_back(d.string());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = exo_cli::vm_build(in, out, [](const std::string& line) { fmt::print("{}\n", line); });
  if (!r) return failed(bad_input, "vm build: " + r.error().message);
  fmt::print("built in {:.1f} s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  // The first process of an exo VM (exo vm build makes exo its /init).
  if (getpid() == 1) exo_cli::vm_init(&boot_in_vm);
  // A process runner's child (exo_cli::air_runner_child): not a command people type.
  if (argc == 3 && std::string_view(argv[1]) == "--runner-child" && std::string_view(argv[2]) == "air")
    return exo_cli::air_runner_child();
  CLI::App app{"exo: pack, boot, call and verify deterministic, auditable applications.\n"
               "Exit codes: 0 success, 1 verification failed, 2 usage error, 3 bad input (image, data directory, log, "
               "key, or a failed boot), 4 RPC call refused or failed, 5 an AIR run failed."};
  app.require_subcommand(1);
  common c;
  auto add_common = [&](CLI::App* s) {
    s->add_flag("--json", c.as_json, "Output JSON for scripts");
    s->add_option("--plugin-dir", c.plugin_dirs, "Also look for container plugins here (before EXO_PLUGIN_PATH)");
  };
  auto add_timeout = [&](CLI::App* s) {
    s->add_option("--timeout", c.timeout_s,
                  "Seconds to wait for the node: to connect, then for each reply (0: forever); exit 4 when it passes")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
  };

  std::string dir, out, image, data, listen, url, method, args, key, log_file, export_to;
  std::size_t max_frame = std::size_t{1} << 20;
  std::uint64_t from = 0, count = std::numeric_limits<std::uint64_t>::max();

  auto* pack = app.add_subcommand("pack", "Pack DIR (its exo.json and the code it names) into one image file");
  pack->add_option("DIR", dir, "Application directory")->required()->check(CLI::ExistingDirectory);
  pack->add_option("-o,--output", out, "Image file to write (APP.exo)")->required();
  add_common(pack);

  auto* boot = app.add_subcommand("boot", "Boot an image on a data directory (or resume it), and serve RPC with --listen");
  boot->add_option("IMAGE", image, "Image file (APP.exo)")->required();
  boot->add_option("--data", data, "Data directory (created on first boot)")->required();
  boot->add_option("--listen", listen, "Serve JSON-RPC over WebSocket on HOST:PORT (port 0: any free port)");
  boot->add_option("--max-frame", max_frame, "Largest request accepted, in bytes")->capture_default_str();
  std::string log_level = "info";
  boot->add_option("--log-level", log_level,
                   "Print the lines actors log at this level and above, on stderr: trace, debug, info, warn, error "
                   "or off")
      ->capture_default_str();
  std::string boot_runner = "inline";
  boot->add_option("--runner", boot_runner,
                   "Where AIR actors run their interpreter: inline (this thread), thread (a worker) or process (a child "
                   "process, so a crash cannot take the node down)")
      ->capture_default_str();
  upkeep_args upkeep;
  boot->add_option("--prune-every", upkeep.every,
                   "While serving, every N calls: record a checkpoint and prune to the newest --keep-roots roots (and, "
                   "with --prune-log, drop the log entries before the checkpoint)");
  boot->add_option("--keep-roots", upkeep.keep_roots, "With --prune-every: the roots to keep")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  boot->add_flag("--prune-log", upkeep.prune_log,
                 "With --prune-every: also drop the log entries before each checkpoint (then the node can be verified "
                 "from its data directory's checkpoint, not over RPC from the image)");
  cluster_args cluster;
  boot->add_option("--cluster", cluster.url,
                   "Run as one node of a cluster whose nodes meet on this NATS server (nats://HOST:PORT, with JetStream): "
                   "the image must place its actors on nodes (exo.json \"nodes\")");
  boot->add_option("--node", cluster.node, "With --cluster: the node this is");
  boot->add_option("--peers", cluster.peers_file,
                   "With --cluster: a JSON file of every node's public key by name ({\"a\": \"HEX\", ...}; exo keygen -o "
                   "DIR/node.key makes a node's key before its first boot)");
  boot->add_option("--pull-every", cluster.pull_ms, "With --cluster: milliseconds between looks for messages from other nodes")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  boot->add_option("--expire-after", cluster.expire_ms,
                   "With --cluster: milliseconds after which a message another node has not confirmed taking expires, and "
                   "the actor it came from is told (errc unreachable; 0: never)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  add_common(boot);

  auto* call = app.add_subcommand("call", "Call an exported function over RPC (or an exo.* method)");
  call->add_option("URL", url, "Server, ws://HOST:PORT")->required();
  call->add_option("METHOD", method, "ACTOR.FUNCTION (or exo.handshake, exo.log, ...)")->required();
  call->add_option("ARGS", args, "Arguments as a JSON array (a single JSON value is one argument)");
  call->add_option("--key", key, "Sign the call with this key (exo keygen); its public key is the caller");
  add_common(call);
  add_timeout(call);

  std::string vdir;
  auto* verify = app.add_subcommand("verify", "Verify a log: replay it from its image and check every result, root and signature");
  verify->add_option("DIR", vdir, "Data directory (its log and image), or ws://HOST:PORT: a running node, verified from outside");
  verify->add_option("--log", log_file, "Exported log file (exo log DIR --export FILE)");
  std::vector<std::string> verify_with;
  verify->add_option("--with", verify_with,
                     "Beside DIR, another node of its cluster (data directory; repeat for each): each is verified, then "
                     "every message one node took from another is checked against what the other's log sent");
  std::vector<std::string> verify_images;
  verify->add_option("--image", verify_images,
                     "With --log: the image the log was booted from, and again for each image it was upgraded to; for "
                     "a node: check it runs this one, instead of taking the image it hands out");
  std::string node_key;
  verify->add_option("--node-key", node_key,
                     "The node's public key (hex): refuse a log signed by any other key, even one re-chained and "
                     "re-signed end to end");
  bool follow = false;
  double every_s = 1;
  std::string checkpoint_file;
  verify->add_option("--checkpoint", checkpoint_file,
                     "Start from this snapshot (exo checkpoint) instead of the image: check its state against the "
                     "root the node signed, then replay only the entries after it");
  verify->add_flag("--follow", follow, "For a node: keep verifying its new entries as they arrive, until one diverges (exit 1) "
                                       "or the node cannot be reached (exit 4)");
  verify->add_option("--every", every_s, "With --follow: seconds between asking the node for new entries")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  bool from_checkpoint = false;
  verify->add_flag("--from-checkpoint", from_checkpoint,
                   "For a node: start from the checkpoint it records (exo.snapshot, checked against the root it signed) "
                   "and fetch and replay only the entries after it (the default for a node that pruned its log)");
  add_common(verify);
  add_timeout(verify);

  auto* log = app.add_subcommand("log", "List a data directory's call log entries, or export the log");
  log->add_option("DIR", dir, "Data directory")->required();
  log->add_option("--from", from, "First entry");
  log->add_option("--count", count, "Most entries to list");
  log->add_option("--export", export_to, "Write the whole log to this file instead (for exo verify --log)");
  add_common(log);

  std::string checkpoint_out;
  auto* checkpoint = app.add_subcommand(
      "checkpoint", "Record a checkpoint at a data directory's last log entry (what exo prune --before-checkpoint prunes up "
                    "to), and export its snapshot to verify from (exo verify --checkpoint)");
  checkpoint->add_option("DIR", dir, "Data directory")->required();
  checkpoint->add_option("-o,--output", checkpoint_out, "Also write the checkpoint's snapshot to this file");
  add_common(checkpoint);

  std::uint64_t keep_roots = 1;
  bool before_checkpoint = false;
  auto* prune = app.add_subcommand("prune", "Free the nodes only old roots use (the node must be stopped)");
  prune->add_option("DIR", dir, "Data directory")->required();
  prune->add_option("--keep-roots", keep_roots, "Keep the N newest roots (and the checkpoint's)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  prune->add_flag("--before-checkpoint", before_checkpoint,
                  "Also drop the log entries before the recorded checkpoint (exo checkpoint), but entry 0");
  add_common(prune);

  bool upgrade_check_only = false, upgrade_from_checkpoint = false;
  auto* upgrade = app.add_subcommand(
      "upgrade", "Switch a stopped node to a new image of its application, if the new code reproduces its history "
                 "(replayed in a scratch hypervisor); else print the first divergence and change nothing");
  upgrade->add_option("DIR", dir, "Data directory")->required();
  upgrade->add_option("IMAGE", image, "The new image (APP.exo)")->required();
  upgrade->add_flag("--check-only", upgrade_check_only, "Only check that the new code reproduces the history");
  upgrade->add_flag("--from-checkpoint", upgrade_from_checkpoint,
                    "Check from the directory's recorded checkpoint (exo checkpoint) instead of from the boot (the "
                    "default for a directory pruned before its checkpoint)");
  add_common(upgrade);

  auto* root = app.add_subcommand("root", "Print a data directory's state root");
  root->add_option("DIR", dir, "Data directory")->required();
  add_common(root);

  std::string read_actor, read_key, read_node_key;
  bool read_verify = false;
  auto* read = app.add_subcommand("read", "Read a value of an actor's storage from a node, with its merkle proof");
  read->add_option("URL", url, "Server, ws://HOST:PORT")->required();
  read->add_option("ACTOR", read_actor, "The actor, by the name the image gives it")->required();
  read->add_option("KEY", read_key, "The storage key")->required();
  read->add_flag("--verify", read_verify,
                 "Check the value against the root the node's signed log head vouches for (exit 1 if it does not hold)");
  read->add_option("--node-key", read_node_key, "With --verify: the node's public key (hex) the head must be signed by");
  add_common(read);
  add_timeout(read);

  auto* keygen = app.add_subcommand("keygen", "Make an Ed25519 key for signing calls; prints its public key");
  keygen->add_option("-o,--output", out, "Key file to create (mode 0600)")->required();
  add_common(keygen);

  exo_cli::air_run_args air_run;
  exo_cli::air_session_args air_session;
  auto* air = app.add_subcommand("air", "Run AIR particles (AquaVM v0.20's language) with exo's interpreter");
  air->require_subcommand(1);
  auto* air_run_cmd = air->add_subcommand("run", "Run a script once and print the InterpreterResult as JSON");
  air_run_cmd->add_option("--air", air_run.air, "The script file")->required();
  air_run_cmd->add_option("--init-peer", air_run.init_peer, "The peer that started the particle")->required();
  air_run_cmd->add_option("--current-peer", air_run.current_peer, "The peer running it")->required();
  air_run_cmd->add_option("--prev", air_run.prev, "This peer's previous data (a file of v0.20 JSON)");
  air_run_cmd->add_option("--data", air_run.data, "The data the particle arrived with (a file)");
  air_run_cmd->add_option("--call-results", air_run.call_results, "Answers to call requests: {\"ID\": {\"ret_code\": 0, \"result\": \"JSON\"}}");
  air_run_cmd->add_option("--runner", air_run.runner, "Where the interpreter runs: inline, thread or process")->capture_default_str();
  air_run_cmd->add_option("--ticks", air_run.ticks, "Tick budget: instructions, merged states and input bytes")->capture_default_str();
  auto* air_session_cmd = air->add_subcommand(
      "session", "Move a particle between named peers in this process, answering their local calls with AquaVM's test "
                 "services, until no peer has work; print each step and each peer's data");
  air_session_cmd->add_option("--air", air_session.air, "The script file")->required();
  air_session_cmd->add_option("--peers", air_session.peers, "The peers, by id: A,B,C")->required();
  air_session_cmd->add_option("--init-peer", air_session.init_peer, "The peer that starts the particle")->required();
  air_session_cmd->add_option("--service", air_session.services,
                              "How peers answer local calls: [PEER=]unit|echo|fallible:SERVICE_ID|set_variable:JSON "
                              "(default unit; one without PEER= is every peer's default)");
  air_session_cmd->add_option("--runner", air_session.runner, "Where the interpreter runs: inline, thread or process")
      ->capture_default_str();
  air_session_cmd->add_flag("--json", air_session.as_json, "Output JSON for scripts");

  auto* vm = app.add_subcommand("vm", "Build an application into a bootable virtual machine, and run it under QEMU");
  vm->require_subcommand(1);
  std::string vm_kernel;
  auto* vm_build_cmd = vm->add_subcommand("build", "Build APP.exo into a VM folder: Debian's kernel and an initramfs whose "
                                                   "/init is exo (reproducible: the same inputs give the same bytes)");
  vm_build_cmd->add_option("IMAGE", image, "The image (exo pack makes one)")->required();
  vm_build_cmd->add_option("-o,--out", out, "The VM folder to write (vmlinuz, initrd.zst, vm.json)")->required();
  vm_build_cmd->add_option("--kernel", vm_kernel,
                           "An unpacked linux-image package (default: EXO_KERNEL_DIR, or the newest ~/.cache/exo/linux-image-*)");
  add_common(vm_build_cmd);
  exo_cli::vm_run_args vm_run_a;
  auto* vm_run_cmd = vm->add_subcommand("run", "Boot a VM folder under QEMU, its data directory on a virtio disk, RPC "
                                               "forwarded to the host's loopback; SIGINT/SIGTERM stop it cleanly");
  vm_run_cmd->add_option("VM", vm_run_a.vm_dir, "The VM folder (exo vm build makes one)")->required();
  vm_run_cmd->add_option("--data", vm_run_a.disk, "The data disk: an ext4 image file, made and formatted when missing")->required();
  vm_run_cmd->add_option("--listen", vm_run_a.listen, "Where RPC is reached on the host (port 0 picks a free one)")->capture_default_str();
  vm_run_cmd->add_option("--memory", vm_run_a.memory_mib, "The VM's memory in MiB")->capture_default_str();
  vm_run_cmd->add_option("--disk-size", vm_run_a.disk_mib, "The size in MiB of a disk made now")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return usage;
  }
  try {
    if (*pack) return cmd_pack(c, dir, out);
    if (*boot) return cmd_boot(c, image, data, listen, max_frame, log_level, boot_runner, upkeep, cluster);
    if (*call) return cmd_call(c, url, method, args, key);
    if (*verify)
      return on_big_stack(replay_stack, [&] {
        return cmd_verify(c, vdir, verify_with, log_file, verify_images, node_key, follow, every_s, checkpoint_file, from_checkpoint);
      });
    if (*upgrade) return on_big_stack(replay_stack, [&] { return cmd_upgrade(c, dir, image, upgrade_check_only, upgrade_from_checkpoint); });
    if (*checkpoint) return cmd_checkpoint(c, dir, checkpoint_out);
    if (*prune) return cmd_prune(c, dir, keep_roots, before_checkpoint);
    if (*log) return cmd_log(c, dir, from, count, export_to);
    if (*root) return cmd_root(c, dir);
    if (*read) return cmd_read(c, url, read_actor, read_key, read_verify, read_node_key);
    if (*keygen) return cmd_keygen(c, out);
    if (*air_run_cmd) return exo_cli::air_run(air_run);
    if (*air_session_cmd) return exo_cli::air_session(air_session);
    if (*vm_build_cmd) return cmd_vm_build(c, image, out, vm_kernel);
    if (*vm_run_cmd) return exo_cli::vm_run(vm_run_a);
  } catch (const std::exception& e) {
    return failed(bad_input, e.what());
  }
  return usage;
}
