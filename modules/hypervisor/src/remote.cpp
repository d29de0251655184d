// Several nodes: actors routed to other nodes, a message to one made an output, and messages
// from other nodes taken in, checked (DESIGN.md section 9; exo/cluster carries them).
//
// The body of a message between nodes (what on_remote gives and take_remote takes) is a map:
//   to        the receiver's id (bytes)          function  its index, or -1 for a failure report
//   sender    the sending actor's id             origin    the actor told if it fails, and
//   origin_node  the node it is on               ticks, seq, budget   as the message had them
//   args      the arguments, capability #i naming caps[i]
//   caps      [description...]                  reply     a description, or null
//   after     (optional) {node: index}: messages of other nodes' this one depends on (below)
// A capability's description: {kind: "actor" | "function", actor: id, node: the node it is on,
// rights, function: index (function kind), names: the actor's exported functions' names, as
// far as the sending node knows them, handoff: (a capability to a third node's actor) {node:
// the sending node, index: its hand-off notice's index in its stream to the third node}}.
//
// Three-party hand-off: a capability to node b's actor that node a passes to node c. b must
// learn that a gave it to c, so a sends b a *hand-off notice* first, in its stream to b:
//   {handoff: {actor, kind, function (function kind), rights, to: c}, after}
// b takes it (checking that a holds the capability with those rights) and notes the export
// to c. c keeps, with the route, that its uses of the actor depend on a's notice i (its
// 'h' record, {a: i}), and every message c sends b that uses or carries it names it in
// `after`, so that b's link takes a's message i before c's (exo/cluster/link.hpp). Authority
// comes only from b's export records: a notice or an `after` that lies gains nothing.
#include "cap_walk.hpp"
#include "post.hpp"
#include "records.hpp"

#include <exo/core/encoding.hpp>
#include <exo/hypervisor/kernel.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace exo {

using internal::actor_key;

namespace {

// A route: [node, [names of the actor's exported functions, if known]].
bytes route_key(const id& a) { return actor_key(a, 'r'); }

// What this node gave node `node` of its actor `a`: the rights, or'ed, of the capabilities to
// `function` (whole_actor: to the actor itself) that crossed to it.
constexpr std::uint32_t whole_actor = 0xfffffffeu;
bytes export_key(const id& a, std::uint32_t function, std::string_view node) {
  bytes k = actor_key(a, 'x');
  for (int s = 24; s >= 0; s -= 8) k.push_back(static_cast<std::uint8_t>(function >> s));
  k.insert(k.end(), node.begin(), node.end());
  return k;
}

// How many messages this node sent node `node` (the last one's index): 'o' and the name.
bytes outbound_key(std::string_view node) { return internal::tagged_key('o', as_bytes(node)); }

// A message sent to node `node` not settled yet, with an origin to tell if it never arrives:
// 'u', the index (8 bytes, big-endian), the name. And how far the messages to `node` were
// settled: 'w' and the name.
bytes unsettled_key(std::string_view node, std::uint64_t index) {
  bytes k = internal::tagged_key('u', {});
  for (int s = 56; s >= 0; s -= 8) k.push_back(static_cast<std::uint8_t>(index >> s));
  k.insert(k.end(), node.begin(), node.end());
  return k;
}
bytes settled_key(std::string_view node) { return internal::tagged_key('w', as_bytes(node)); }

// What a route's uses depend on (three-party hand-off): {node: index} of hand-off notices.
bytes deps_key(const id& a) { return actor_key(a, 'h'); }
expected<value::map> deps_of(state_tree& state, const id& a) {
  auto raw = state.get(deps_key(a));
  if (!raw) return unexpected(std::move(raw).error());
  if (!*raw) return value::map{};
  auto v = decode(**raw);
  if (!v || !v->if_map()) return fail(errc::malformed, fmt::format("the hand-off record of actor {} is damaged", short_hex(a)));
  return *v->if_map();
}
// Merges `deps` into `into`, keeping the greater index of a node.
void merge_deps(value::map& into, const value::map& deps) {
  for (const auto& dep : deps) {
    auto it = std::find_if(into.begin(), into.end(), [&](const auto& kv) { return kv.first == dep.first; });
    if (it == into.end()) into.push_back(dep);
    else if (dep.second.if_i64() && it->second.if_i64() && *dep.second.if_i64() > *it->second.if_i64()) it->second = dep.second;
  }
}
value with_field(const value& map, std::string key, value v) {
  value::map m = *map.if_map();
  m.emplace_back(std::move(key), std::move(v));
  return value::make_map(std::move(m));
}

// What a capability's description and a hand-off notice both say of it: {actor, kind, rights,
// function (function kind)}.
value::map cap_fields(const capability& c, const id& actor) {
  value::map d{{"actor", to_value(actor)},
               {"kind", value(c.kind == cap_kind::actor ? "actor" : "function")},
               {"rights", value(static_cast<std::int64_t>(c.rights))}};
  if (c.kind == cap_kind::function) d.emplace_back("function", value(static_cast<std::int64_t>(c.function)));
  return d;
}
// The reverse, checked: the capability (its target not set) and the actor's id; `bad(why)`
// makes the error.
template <class Bad>
expected<std::pair<capability, id>> read_cap_fields(const value& d, const Bad& bad) {
  const value *kind = d.find("kind"), *who = d.find("actor"), *r = d.find("rights");
  if (!kind || !kind->if_string() || !who || !who->if_bytes() || !r || !r->if_i64())
    return bad("needs 'kind', 'actor' and 'rights'");
  const bool fn = *kind->if_string() == "function";
  if (!fn && *kind->if_string() != "actor") return bad("its kind is neither 'actor' nor 'function'");
  if (*r->if_i64() < 0 || *r->if_i64() > static_cast<std::int64_t>(rights::all)) return bad("impossible rights");
  capability c{fn ? cap_kind::function : cap_kind::actor, static_cast<rights>(*r->if_i64()), 0, 0};
  if (fn) {
    const value* f = d.find("function");
    if (!f || !f->if_i64() || *f->if_i64() < 0 || *f->if_i64() >= static_cast<std::int64_t>(whole_actor))
      return bad("a function capability needs the function's index");
    c.function = static_cast<std::uint32_t>(*f->if_i64());
  }
  auto aid = id_from_bytes(*who->if_bytes());
  if (!aid) return bad(aid.error().message);
  return std::pair{c, *aid};
}

// The function names a description carries (those that are strings).
std::vector<std::string> names_in(const value& d) {
  std::vector<std::string> names;
  if (const value* n = d.find("names"); n && n->if_list())
    for (const value& e : *n->if_list())
      if (e.if_string()) names.push_back(*e.if_string());
  return names;
}

// A counter the host keeps in the tree (absent: 0).
expected<std::uint64_t> read_count(state_tree& state, const bytes& key, std::string_view what) {
  auto raw = state.get(key);
  if (!raw) return unexpected(std::move(raw).error());
  if (!*raw) return std::uint64_t{0};
  auto v = decode(**raw);
  if (!v || !v->if_i64() || *v->if_i64() < 0) return fail(errc::malformed, fmt::format("the count of {} is damaged", what));
  return static_cast<std::uint64_t>(*v->if_i64());
}

// Functions' names as a route record and a capability's description keep them.
template <class Names>
value names_value(const Names& names) {
  value::list out;
  out.reserve(names.size());
  for (const auto& f : names) out.emplace_back(std::string(f));
  return value(std::move(out));
}

}  // namespace

const kernel::remote_actor* kernel::remote_of(std::uint32_t slot) {
  if (auto it = remote_.find(slot); it != remote_.end()) return &it->second;
  if (cfg_.node.empty() || slot == 0 || actors_[slot].type) return nullptr;
  auto raw = state_->get(route_key(actors_[slot].self));
  if (!raw || !*raw) return nullptr;
  auto v = decode(**raw);
  const value::list* l = v ? v->if_list() : nullptr;
  if (!l || l->size() != 2 || !(*l)[0].if_string() || !(*l)[1].if_list()) return nullptr;  // load() says what is wrong
  remote_actor r{*(*l)[0].if_string(), {}};
  for (const value& n : *(*l)[1].if_list())
    if (auto* s = n.if_string()) r.functions.push_back(*s);
  return &remote_.emplace(slot, std::move(r)).first->second;
}

expected<std::uint32_t> kernel::resolve_or_route(const id& a) {
  auto slot = resolve(a);
  if (slot || cfg_.node.empty() || slot.error().code != errc::no_such_actor) return slot;
  if (!route_of(a)) return slot;
  return find(a);
}

std::optional<std::string> kernel::route_of(const id& a) {
  std::uint32_t slot = find(a);
  const bool fresh = slot == npos;
  if (fresh) {
    if (cfg_.node.empty()) return std::nullopt;
    slot = stub_for(a);  // a stub the route's record is read into
  }
  if (const remote_actor* r = remote_of(slot)) return r->node;
  if (fresh) {  // an id routed nowhere leaves no trace (as in resolve)
    index_.erase(a, actors_);
    actors_.pop_back();
  }
  return std::nullopt;
}

expected<void> kernel::add_route(const id& a, std::string_view node, std::vector<std::string> functions) {
  if (cfg_.node.empty())
    return fail(errc::invalid_argument, "this hypervisor is not a node of a cluster (config::node is empty): it has no routes");
  if (!valid_node_name(node))
    return fail(errc::invalid_argument, fmt::format("'{}' cannot name a node (1 to 64 letters, digits, '_' or '-')", node));
  if (node == cfg_.node)
    return fail(errc::invalid_argument, fmt::format("actor {} cannot be routed to this node ({}) itself", short_hex(a), node));
  if (a == actors_[0].self)
    return fail(errc::invalid_argument, fmt::format("{} is this hypervisor's own id", short_hex(a)));
  std::uint32_t slot = find(a);
  // An actor of this node: loaded (maybe created by the running input, not written back
  // yet), or in the tree (and not routed).
  bool here = slot != npos && actors_[slot].type;
  if (!here && (slot == npos || !remote_of(slot))) {
    auto rec = state_->get(record_key(a));
    if (!rec) return unexpected(std::move(rec).error());
    here = rec->has_value();
  }
  if (here)
    return fail(errc::invalid_argument, fmt::format("actor {} lives on this node ({}), not on node {}", short_hex(a),
                                                    cfg_.node, node));
  if (slot == npos) slot = stub_for(a);
  remote_actor r{std::string(node), std::move(functions)};
  if (const remote_actor* old = remote_of(slot)) {  // (read from the tree, for a stub made just now)
    if (old->node != node)
      return fail(errc::invalid_argument, fmt::format("actor {} is on node {}, not on node {}", short_hex(a), old->node, node));
    if (!old->functions.empty() || r.functions.empty()) return {};  // nothing to add
  }
  if (auto w = state_->put(route_key(a), encode(value::list{value(r.node), names_value(r.functions)})); !w) return w;
  remote_[slot] = std::move(r);
  return {};
}

expected<void> kernel::note_export(std::uint32_t slot, std::uint32_t function, std::string_view node, rights r) {
  const bytes key = export_key(actors_[slot].self, function, node);
  auto raw = state_->get(key);
  if (!raw) return unexpected(std::move(raw).error());
  std::int64_t had = 0;
  if (*raw)
    if (auto v = decode(**raw); v && v->if_i64()) had = *v->if_i64();
  const std::int64_t now = had | static_cast<std::int64_t>(r);
  if (now == had && *raw) return {};
  return state_->put(key, encode(value(now)));
}

expected<bool> kernel::exported(std::uint32_t slot, std::uint32_t function, std::string_view node, rights r) {
  auto gave = [&](std::uint32_t f) -> expected<rights> {
    auto raw = state_->get(export_key(actors_[slot].self, f, node));
    if (!raw) return unexpected(std::move(raw).error());
    if (!*raw) return rights::none;
    auto v = decode(**raw);
    if (!v || !v->if_i64()) return fail(errc::malformed, "a damaged export record");
    return static_cast<rights>(*v->if_i64() & static_cast<std::int64_t>(rights::all));
  };
  if (function != whole_actor) {
    auto g = gave(function);
    if (!g) return unexpected(std::move(g).error());
    if (has(*g, r)) return true;
  }
  // An actor capability with the derive right lets its holder derive any function of it.
  auto g = gave(whole_actor);
  if (!g) return unexpected(std::move(g).error());
  return has(*g, r) && (function == whole_actor || has(*g, rights::derive));
}

expected<value> kernel::describe_remote(const capability& c) {
  if (c.kind == cap_kind::egress)
    return fail(errc::wrong_kind, fmt::format("an egress capability ('{}') names this node's host and cannot leave it",
                                              egress_[c.target].name));
  if ((c.kind != cap_kind::actor && c.kind != cap_kind::function) || c.target == 0)
    return fail(errc::wrong_kind, "a capability to the hypervisor itself cannot leave its node");
  actor& t = actors_[c.target];
  value::map d = cap_fields(c, t.self);
  if (const remote_actor* r = remote_of(c.target)) {  // (to a third node: deliver_remote adds the hand-off)
    d.emplace_back("names", names_value(r->functions));
    d.emplace_back("node", value(r->node));
    return value::make_map(std::move(d));
  }
  if (!t.type)
    if (auto l = load(c.target); !l) return unexpected(std::move(l).error());
  std::vector<std::string_view> names;
  for (const auto& f : t.type->functions) names.push_back(f.name);
  d.emplace_back("names", names_value(names));
  d.emplace_back("node", value(cfg_.node));
  return value::make_map(std::move(d));
}

// A failure report the host sends `origin` (an actor here, or one of another node's, where it
// then travels), with no more budget than the failed message had.
void kernel::report_from_host(std::uint32_t origin, failure&& f, std::uint64_t budget) {
  arg_list args;
  args.emplace_back(to_value(f));
  actor& host = actors_[0];
  (void)post(main_.outbox, host, host.clock, capability{cap_kind::function, rights::call, origin, failure_function},
             capability{}, 0, std::min(cfg_.failure_budget, budget), std::move(args));
}

void kernel::deliver_remote(message& m, std::uint32_t slot, std::string node) {
  ++main_.stats.remote;
  const id& to = actors_[slot].self;
  // Every capability described first, and what this node gives `node` noted only if all are.
  value::list caps;
  std::vector<std::pair<std::uint32_t, capability>> gives;
  // Capabilities to a third node's actors (by their place in caps; caps.size(): the reply).
  std::vector<std::pair<std::size_t, capability>> handoffs;
  value::map after;  // what the receiver must have taken first (three-party hand-off)
  expected<void> ok;
  auto add = [&](const capability& c) -> expected<value> {
    auto d = describe_remote(c);
    if (!d) return d;
    const remote_actor* r = remote_of(c.target);
    if (!r) gives.emplace_back(c.target, c);
    else if (r->node != node) handoffs.emplace_back(caps.size(), c);
    else if (auto deps = deps_of(*state_, actors_[c.target].self); deps) merge_deps(after, *deps);
    else return unexpected(std::move(deps).error());
    return d;
  };
  if (auto deps = deps_of(*state_, to); deps) merge_deps(after, *deps);
  else ok = unexpected(std::move(deps).error());
  for (const capability& c : m.caps) {
    if (!ok) break;
    auto d = add(c);
    if (!d) {
      ok = unexpected(std::move(d).error());
      break;
    }
    caps.push_back(std::move(*d));
  }
  value reply;
  // The origin may be told of a failure over there: a failure report to it is let in.
  if (m.origin != 0 && !remote_of(m.origin))
    gives.emplace_back(m.origin, capability{cap_kind::function, rights::call, m.origin, failure_function});
  if (ok && m.reply_to.kind != cap_kind::none) {
    if (auto d = add(m.reply_to)) reply = std::move(*d);
    else ok = unexpected(std::move(d).error());
  }
  if (ok && !observer_)
    ok = fail(errc::internal, fmt::format("no transport to node {}: this hypervisor has no observer of its outputs", node));
  // Numbered per destination from 1: message i to `node` is envelope i of the stream to it.
  std::uint64_t index = 0;
  if (ok) {
    auto n = read_count(*state_, outbound_key(node), "messages sent to node " + node);
    if (n) index = *n;
    else ok = unexpected(std::move(n).error());
  }
  for (const auto& [target, c] : gives) {
    if (!ok) break;
    ok = note_export(target, c.kind == cap_kind::actor ? whole_actor : c.function, node, c.rights);
  }
  // Whom to tell if it is never confirmed (settle_remote): its origin, if that is here.
  const remote_actor* far = remote_of(slot);
  if (ok && m.origin != 0 && !remote_of(m.origin) && m.target.function != failure_function) {
    std::string function = far && m.target.function < far->functions.size() ? far->functions[m.target.function]
                                                                               : fmt::format("#{}", m.target.function);
    ok = state_->put(unsettled_key(node, index + 1),
                     encode(value::make_map({{"budget", value(internal::bits(m.budget))},
                                             {"function", value(std::move(function))},
                                             {"origin", to_value(actors_[m.origin].self)},
                                             {"sender", to_value(*m.sender_id)},
                                             {"seq", value(internal::bits(m.seq))},
                                             {"to", to_value(to)}})));
  }
  // Hand-off notices, numbered in their streams (sent below, before the message).
  std::vector<std::tuple<std::string, std::uint64_t, value>> notices;
  for (auto& [at, c] : handoffs) {
    if (!ok) break;
    const std::string third = remote_of(c.target)->node;
    auto n = read_count(*state_, outbound_key(third), "messages sent to node " + third);
    auto deps = deps_of(*state_, actors_[c.target].self);
    if (!n || !deps) {
      ok = unexpected(!n ? std::move(n).error() : std::move(deps).error());
      break;
    }
    value::map h = cap_fields(c, actors_[c.target].self);
    h.emplace_back("to", value(node));
    value notice = value::make_map({{"handoff", value::make_map(std::move(h))}, {"after", value::make_map(std::move(*deps))}});
    const std::uint64_t i = *n + 1;
    ok = state_->put(outbound_key(third), encode(value(internal::bits(i))));
    value ref = value::make_map({{"node", value(cfg_.node)}, {"index", value(internal::bits(i))}});
    value& d = at < caps.size() ? caps[at] : reply;
    d = with_field(d, "handoff", std::move(ref));
    notices.emplace_back(third, i, std::move(notice));
  }
  // Counted last: a message that does not leave leaves no gap in the stream.
  if (ok) ok = state_->put(outbound_key(node), encode(value(internal::bits(++index))));
  if (!ok) {
    notify(to, m.target.function, m, false);
    failure f{to, fmt::format("(sending to node {})", node), static_cast<std::int64_t>(ok.error().code),
              std::move(ok.error().message), *m.sender_id, m.seq};
    if (m.target.function == failure_function || m.origin == 0) return host_failure(std::move(f));
    return report_from_host(m.origin, std::move(f), m.budget);
  }
  const actor& origin = actors_[m.origin];
  const remote_actor* on = remote_of(m.origin);
  value::list args;
  args.reserve(m.args.size());
  for (value& v : m.args) args.push_back(std::move(v));
  for (auto& [third, i, notice] : notices) observer_->on_remote(third, i, std::move(notice));
  value::map fields{
      {"args", value(std::move(args))},
      {"budget", value(internal::bits(m.budget))},
      {"caps", value(std::move(caps))},
      {"function", value(m.target.function == failure_function ? std::int64_t{-1} : std::int64_t{m.target.function})},
      {"origin", to_value(origin.self)},
      {"origin_node", value(on ? on->node : cfg_.node)},
      {"reply", std::move(reply)},
      {"sender", to_value(*m.sender_id)},
      {"seq", value(internal::bits(m.seq))},
      {"ticks", value(internal::bits(m.ticks))},
      {"to", to_value(to)}};
  if (!after.empty()) fields.emplace_back("after", value::make_map(std::move(after)));
  observer_->on_remote(node, index, value::make_map(std::move(fields)));
  notify(to, m.target.function, m, true);
}

expected<std::uint64_t> kernel::sent_to(std::string_view node) {
  return read_count(*state_, outbound_key(node), fmt::format("messages sent to node {}", node));
}

expected<std::uint64_t> kernel::settle_remote(std::string_view node, std::uint64_t confirmed, std::uint64_t expired) {
  if (cfg_.node.empty() || !valid_node_name(node) || node == cfg_.node)
    return fail(errc::invalid_argument, fmt::format("'{}' names no other node of this cluster", node));
  auto sent = sent_to(node);
  if (!sent) return unexpected(std::move(sent).error());
  if (confirmed > *sent)
    return fail(errc::invalid_argument, fmt::format("node {} confirms taking {} messages from this node ({}), which sent "
                                                    "it {}",
                                                    node, confirmed, cfg_.node, *sent));
  if (expired > *sent)
    return fail(errc::invalid_argument, fmt::format("message {} to node {} cannot expire: this node ({}) sent it {}",
                                                    expired, node, cfg_.node, *sent));
  auto settled = read_count(*state_, settled_key(node), fmt::format("messages to node {} settled", node));
  if (!settled) return unexpected(std::move(settled).error());
  const std::uint64_t upto = std::max(confirmed, expired);
  // The reports are sent once every record is settled (an error before leaves nothing queued).
  struct report {
    std::uint32_t origin;
    failure f;
    std::uint64_t budget;
  };
  std::vector<report> reports;
  for (std::uint64_t i = *settled + 1; i <= upto; ++i) {
    const bytes key = unsettled_key(node, i);
    auto raw = state_->get(key);
    if (!raw) return unexpected(std::move(raw).error());
    if (!*raw) continue;  // nobody to tell
    if (auto e = state_->erase(key); !e) return unexpected(std::move(e).error());
    if (i <= confirmed) continue;
    auto rec = decode(**raw);
    const value *origin = rec ? rec->find("origin") : nullptr, *function = rec ? rec->find("function") : nullptr,
                *sender = rec ? rec->find("sender") : nullptr, *seq = rec ? rec->find("seq") : nullptr,
                *budget = rec ? rec->find("budget") : nullptr, *to = rec ? rec->find("to") : nullptr;
    if (!to || !to->if_bytes() || !origin || !origin->if_bytes() || !function || !function->if_string() || !sender || !sender->if_bytes() || !seq ||
        !seq->if_i64() || !budget || !budget->if_i64())
      return fail(errc::malformed, fmt::format("the record of message {} to node {} is damaged", i, node));
    auto origin_id = id_from_bytes(*origin->if_bytes());
    auto sender_id = id_from_bytes(*sender->if_bytes());
    auto to_id = id_from_bytes(*to->if_bytes());
    if (!origin_id || !sender_id || !to_id) return fail(errc::malformed, fmt::format("the record of message {} to node {} is damaged", i, node));
    auto o = resolve(*origin_id);
    if (!o || *o == 0) continue;  // (its origin is gone)
    failure f{*to_id, *function->if_string(), static_cast<std::int64_t>(errc::unreachable),
              fmt::format("node {} did not confirm taking message {} from node {} within the bound: it may be down or cut "
                          "off; it may still take the message when it is back",
                          node, i, cfg_.node),
              *sender_id, internal::bits(*seq->if_i64())};
    reports.push_back({*o, std::move(f), internal::bits(*budget->if_i64())});
  }
  if (upto > *settled)
    if (auto w = state_->put(settled_key(node), encode(value(internal::bits(upto)))); !w) return unexpected(std::move(w).error());
  for (report& r : reports) report_from_host(r.origin, std::move(r.f), r.budget);
  return reports.size();
}

expected<std::uint32_t> kernel::remote_slot(const id& a, std::string_view node) {
  if (auto r = add_route(a, node); !r) return unexpected(std::move(r).error());
  return find(a);
}

expected<capability> kernel::import_remote(const value& d, std::string_view from) {
  auto bad = [&](std::string_view why) {
    return fail(errc::malformed, fmt::format("a capability from node {}: {}", from, why));
  };
  const value* node = d.find("node");
  if (!node || !node->if_string()) return bad("needs 'kind', 'actor', 'node' and 'rights'");
  auto fields = read_cap_fields(d, bad);
  if (!fields) return unexpected(std::move(fields).error());
  auto [c, aid] = *fields;
  const std::string& on = *node->if_string();
  if (on == from) {
    if (auto a = add_route(aid, from, names_in(d)); !a) return unexpected(std::move(a).error());
    c.target = find(aid);
    return c;
  }
  if (on != cfg_.node) {
    // A third node's actor: the sender handed it over with a notice to that node.
    const value* h = d.find("handoff");
    const value* hn = h ? h->find("node") : nullptr;
    const value* hi = h ? h->find("index") : nullptr;
    if (!h || !h->if_map() || h->if_map()->size() != 2 || !hn || !hn->if_string() || *hn->if_string() != from || !hi ||
        !hi->if_i64() || *hi->if_i64() < 1)
      return fail(errc::bad_capability, fmt::format("node {} passed a capability to actor {} on node {} without handing it "
                                                    "over (a hand-off {{node: {}, index}})",
                                                    from, short_hex(aid), on, from));
    if (!valid_node_name(on)) return bad("its node cannot name a node");
    if (auto a = add_route(aid, on, names_in(d)); !a) return unexpected(std::move(a).error());
    auto deps = deps_of(*state_, aid);
    if (!deps) return unexpected(std::move(deps).error());
    merge_deps(*deps, value::map{{std::string(from), *hi}});
    if (auto w = state_->put(deps_key(aid), encode(value::make_map(std::move(*deps)))); !w) return unexpected(std::move(w).error());
    c.target = find(aid);
    return c;
  }
  auto slot = held_by(aid, c, from, c.rights, "passed", ": a node cannot mint capabilities to another node's actors");
  if (!slot) return unexpected(std::move(slot).error());
  c.target = *slot;
  return c;
}

expected<std::uint32_t> kernel::held_by(const id& aid, const capability& c, std::string_view from, rights need,
                                        std::string_view act, std::string_view why) {
  const bool fn = c.kind == cap_kind::function;
  auto slot = resolve(aid);
  if (!slot || *slot == 0)
    return fail(errc::bad_capability, fmt::format("node {} {} a capability to actor {}, which is not an actor of this node",
                                                  from, act, short_hex(aid)));
  if (fn && c.function >= actors_[*slot].type->functions.size())
    return fail(errc::bad_capability, fmt::format("node {} {} a capability to function #{} of actor {}, which exports {} "
                                                  "functions",
                                                  from, act, c.function, short_hex(aid), actors_[*slot].type->functions.size()));
  auto given = exported(*slot, fn ? c.function : whole_actor, from, need);
  if (!given) return unexpected(std::move(given).error());
  if (!*given)
    return fail(errc::bad_capability,
                fmt::format("node {} {} a capability to {}{} of actor {} (rights {}) that this node never gave it{}", from, act,
                            fn ? "function " : "the actor itself", fn ? actors_[*slot].type->functions[c.function].name : "",
                            short_hex(aid), to_string(c.rights), why));
  return *slot;
}

expected<void> kernel::grant(cap_handle h, std::string_view node) {
  auto c = actors_[0].caps.lookup(h);
  if (!c) return unexpected(std::move(c).error());
  if (cfg_.node.empty() || !valid_node_name(node) || node == cfg_.node)
    return fail(errc::invalid_argument, fmt::format("'{}' names no other node of this cluster", node));
  if ((c->kind != cap_kind::actor && c->kind != cap_kind::function) || c->target == 0 || remote_of(c->target))
    return fail(errc::wrong_kind, "only a capability to an actor of this node can be given to another node");
  return note_export(c->target, c->kind == cap_kind::actor ? whole_actor : c->function, node, c->rights);
}

expected<void> kernel::take_handoff(std::string_view from, const value& h, std::size_t fields) {
  auto bad = [&](std::string_view why) {
    return fail(errc::malformed, fmt::format("a hand-off notice from node {}: {}", from, why));
  };
  const value* to = h.find("to");
  if (fields != 1 || !h.if_map() || !to || !to->if_string())
    return bad("expected {handoff: {actor, kind, rights, to, function (function kind)}, after}");
  auto read = read_cap_fields(h, bad);
  if (!read) return unexpected(std::move(read).error());
  const auto& [c, aid] = *read;
  if (h.if_map()->size() != (c.kind == cap_kind::function ? 5u : 4u))
    return bad("expected {actor, kind, rights, to} and, for a function, its index");
  const std::string& third = *to->if_string();
  if (!valid_node_name(third) || third == cfg_.node || third == from) return bad(fmt::format("'{}' cannot be a third node", third));
  // What `from` hands over it must hold, and hold with the right to pass it on.
  auto slot = held_by(aid, c, from, c.rights | rights::transfer, fmt::format("handed node {}", third),
                      ", with the right to pass it on");
  if (!slot) return unexpected(std::move(slot).error());
  return note_export(*slot, c.kind == cap_kind::function ? c.function : whole_actor, third, c.rights);
}

expected<void> kernel::take_remote(std::string_view from, const value& body) {
  if (cfg_.node.empty())
    return fail(errc::invalid_argument, "this hypervisor is not a node of a cluster (config::node is empty)");
  if (!valid_node_name(from) || from == cfg_.node)
    return fail(errc::invalid_argument, fmt::format("'{}' cannot name another node", from));
  auto bad = [&](std::string_view why) {
    return fail(errc::malformed, fmt::format("a message from node {}: {}", from, why));
  };
  if (!body.if_map()) return bad("its body is not a map");
  // What the receiver must have taken first: {node: index} (the link orders; checked here for form).
  const value* after = body.find("after");
  if (after) {
    if (!after->if_map()) return bad("'after' is not a map");
    for (const auto& [node, index] : *after->if_map())
      if (!valid_node_name(node) || !index.if_i64() || *index.if_i64() < 1) return bad("'after' maps node names to indices from 1");
  }
  if (const value* h = body.find("handoff")) return take_handoff(from, *h, body.if_map()->size() - (after ? 1 : 0));
  auto field = [&](std::string_view k) { return body.find(k); };
  const value *to = field("to"), *function = field("function"), *sender = field("sender"), *origin = field("origin"),
              *origin_node = field("origin_node"), *ticks = field("ticks"), *seq = field("seq"), *budget = field("budget"),
              *args = field("args"), *caps = field("caps"), *reply = field("reply");
  if (!to || !to->if_bytes() || !function || !function->if_i64() || !sender || !sender->if_bytes() || !origin ||
      !origin->if_bytes() || !origin_node || !origin_node->if_string() || !ticks || !ticks->if_i64() || !seq ||
      !seq->if_i64() || !budget || !budget->if_i64() || !args || !args->if_list() || !caps || !caps->if_list() || !reply ||
      (!reply->if_map() && reply->type() != kind::null) || body.if_map()->size() != (after ? 12u : 11u))
    return bad("expected {to, function, sender, origin, origin_node, ticks, seq, budget, args, caps, reply} and maybe after");
  auto to_id = id_from_bytes(*to->if_bytes());
  auto sender_id = id_from_bytes(*sender->if_bytes());
  auto origin_id = id_from_bytes(*origin->if_bytes());
  if (!to_id || !sender_id || !origin_id) return bad("an id is not 32 bytes");
  const std::int64_t fn = *function->if_i64();
  if (fn < -1 || fn >= static_cast<std::int64_t>(whole_actor)) return bad("its function index is out of range");
  if (*budget->if_i64() < 0 || *ticks->if_i64() < 0 || *seq->if_i64() < 0)
    return bad("its budget, ticks and seq must be from 0 to 2^63-1");

  // The sender and the actor told of a failure: actors of `from` (an origin elsewhere is
  // replaced by the sender: a node directs failure reports only to its own actors).
  auto sender_slot = remote_slot(*sender_id, from);
  if (!sender_slot) return unexpected(std::move(sender_slot).error());
  std::uint32_t origin_slot = *sender_slot;
  if (*origin_node->if_string() == from)
    if (auto o = remote_slot(*origin_id, from)) origin_slot = *o;

  const std::uint32_t function_index = fn < 0 ? failure_function : static_cast<std::uint32_t>(fn);
  std::string called = fn < 0 ? std::string("on_failure") : fmt::format("#{}", fn);
  auto refuse = [&](error e) -> expected<void> {
    // Told back to the origin (on `from`), unless what was refused was a failure report.
    if (fn >= 0) {
      failure f{*to_id, called, static_cast<std::int64_t>(e.code), e.message, *sender_id, internal::bits(*seq->if_i64())};
      report_from_host(origin_slot, std::move(f), internal::bits(*budget->if_i64()));
    }
    return unexpected(std::move(e));
  };

  std::uint32_t target = 0;
  if (*to_id == actors_[0].self) {
    if (fn >= 0) return refuse(error{errc::no_such_actor, fmt::format("node {} called this node's host, which is no actor", from)});
  } else {
    auto slot = resolve(*to_id);
    if (!slot) return refuse(error{errc::no_such_actor, fmt::format("node {} sent a message to actor {}, which is not an "
                                                                    "actor of this node ({})",
                                                                    from, short_hex(*to_id), cfg_.node)});
    target = *slot;
    const actor_type& type = *actors_[target].type;
    if (fn >= 0) {
      if (function_index >= type.functions.size())
        return refuse(error{errc::no_such_function, fmt::format("actor {} ({}) exports {} functions; node {} called #{}",
                                                                short_hex(*to_id), type.name, type.functions.size(), from, fn)});
      called = std::string(type.functions[function_index].name);
    }
    // The target is a capability too: `from` must have been given it (a failure report: its
    // origin sent a message to `from`).
    auto given = exported(target, function_index, from, rights::call);
    if (!given) return refuse(std::move(given).error());
    if (!*given)
      return refuse(error{errc::bad_capability,
                          fmt::format("node {} called {} of actor {} without a capability to it: this node never gave it one",
                                      from, called, short_hex(*to_id))});
  }
  message m;
  for (const value& d : *caps->if_list()) {
    auto c = import_remote(d, from);
    if (!c) return refuse(std::move(c).error());
    m.caps.push_back(*c);
  }
  if (reply->if_map()) {
    auto c = import_remote(*reply, from);
    if (!c) return refuse(std::move(c).error());
    if (c->kind != cap_kind::function || !has(c->rights, rights::call))
      return refuse(error{errc::wrong_kind, fmt::format("node {} named a reply target that cannot be called", from)});
    m.reply_to = *c;
  }
  for (const value& v : *args->if_list()) m.args.push_back(v);
  auto in_range = [&](cap_handle& h) -> expected<void> {
    if (h.index >= m.caps.size())
      return fail(errc::malformed, fmt::format("a message from node {}: an argument names capability #{} of {}", from,
                                               h.index, m.caps.size()));
    return {};
  };
  if (auto r = internal::for_each_cap(m.args, in_range); !r) return refuse(std::move(r).error());

  message& out = main_.outbox.append_slot();
  out.target = capability{cap_kind::function, rights::call, target, function_index};
  out.reply_to = m.reply_to;
  out.origin = origin_slot;
  out.ticks = internal::bits(*ticks->if_i64());
  out.seq = internal::bits(*seq->if_i64());
  out.budget = std::min(internal::bits(*budget->if_i64()), cfg_.remote_budget);
  out.sender_id = &actors_[*sender_slot].self;
  out.args = std::move(m.args);
  out.caps = std::move(m.caps);
  return {};
}

}  // namespace exo
