// What each node of a cluster computes from an image alone: its config name, every actor's
// id, and its first route entry.
#include <exo/boot/placement.hpp>
#include <exo/container/registry.hpp>
#include <exo/hypervisor/kernel.hpp>

#include <fmt/format.h>

namespace exo {

std::string node_config_name(const image& img, std::string_view node) { return fmt::format("{}@{}", img.manifest.name, node); }

expected<std::map<std::string, placed_actor>> placed_actor_ids(const image& img) {
  if (img.manifest.nodes.empty())
    return fail(errc::invalid_argument, fmt::format("image {} ('{}') places its actors on no nodes (exo.json \"nodes\")",
                                                    short_hex(img.hash), img.manifest.name));
  std::map<std::string, std::uint64_t> made;  // actors each node created so far
  std::map<std::string, placed_actor> out;
  for (const image_actor& a : img.manifest.actors) {
    const std::string* node = img.manifest.node_of(a.name);
    if (!node) return fail(errc::malformed, fmt::format("image {} places actor {} on no node", short_hex(img.hash), a.name));
    const std::uint64_t k = made[*node]++;
    out.emplace(a.name, placed_actor{*node, derive_actor_id(hypervisor_id(node_config_name(img, *node)), k)});
  }
  return out;
}

expected<route_request> boot_routes(const image& img, std::string_view node, const std::map<std::string, public_key>& keys,
                                    const container_registry& registry) {
  auto ids = placed_actor_ids(img);
  if (!ids) return unexpected(std::move(ids).error());
  bool mine = false;
  for (const image_node& n : img.manifest.nodes) mine = mine || n.name == node;
  if (!mine) return fail(errc::invalid_argument, fmt::format("image {} places no actor on node {}", short_hex(img.hash), node));
  route_request r;
  for (const image_node& n : img.manifest.nodes) {
    if (n.name == node) continue;
    auto k = keys.find(n.name);
    if (k == keys.end())
      return fail(errc::invalid_argument, fmt::format("node {}'s key is not known: the image places actors on it", n.name));
    r.peers.push_back({n.name, k->second});
  }
  for (const image_actor& a : img.manifest.actors) {
    const placed_actor& p = ids->at(a.name);
    if (p.node == node) continue;
    const container* c = registry.find(a.container);
    const bytes* code = img.blob(a.code);
    if (!c || !code)
      return fail(errc::incompatible, fmt::format("actor {}'s container '{}' is not loaded", a.name, a.container));
    auto type = c->compile(*code, registry.limits());
    if (!type) return fail(type.error().code, fmt::format("actor {}'s code: {}", a.name, type.error().message));
    std::vector<std::string> names;
    for (const auto& f : (*type)->functions) names.emplace_back(f.name);
    r.routes.push_back({p.actor, p.node, std::move(names)});
  }
  for (const image_call& c : img.manifest.init) {
    const std::string& to = ids->at(c.actor).node;
    if (to == node || !c.args.if_list()) continue;
    for (const value& a : *c.args.if_list())
      if (auto handed = actor_arg(a); handed && ids->at(*handed).node == node) {
        const id& given = ids->at(*handed).actor;
        bool again = false;  // (handed to that node before: one grant says it)
        for (const auto& g : r.grants) again = again || (g.actor == given && g.node == to);
        if (!again) r.grants.push_back({given, "", to, rights::all});
      }
  }
  return r;
}

expected<std::string> log_node(const log_reader& log) {
  if (log.size() == 0) return fail(errc::invalid_argument, "the log is empty: it has no init entry");
  auto raw = log.read(0);
  auto init = raw ? decode_entry(*raw) : unexpected(std::move(raw).error());
  if (!init) return fail(init.error().code, "the log's init entry: " + init.error().message);
  const auto at = init->function.rfind('@');
  if (at == std::string::npos) return std::string();
  std::string node = init->function.substr(at + 1);
  if (!valid_node_name(node))
    return fail(errc::malformed, fmt::format("the log's init entry names '{}', whose node cannot name one", init->function));
  return node;
}

}  // namespace exo
