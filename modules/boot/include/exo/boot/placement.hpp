#pragma once
/// \file
/// An image booted as a cluster (issue 21; exo boot --cluster is not built yet): what each
/// node computes from the image alone, so that every node agrees without talking.
///
/// Node N runs the image under the config name "NAME@N" (node_config_name), so its host id,
/// and the ids of the actors it creates, are its own; it creates the actors the image places
/// on it, in manifest order, so the k-th of them has the id derive_actor_id(hypervisor_id(
/// "NAME@N"), k), which any node can compute (placed_actor_ids). Its first logged input after
/// the creates is the route entry boot_routes gives: its peers' keys, a route to every actor
/// of another node (with the names of the functions its code exports, so capabilities to them
/// can be derived by name), and a grant of each of its actors that an init message hands to
/// an actor of another node.

#include <exo/boot/image.hpp>
#include <exo/call_log/entry.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/id.hpp>
#include <exo/core/sign.hpp>
#include <exo/hypervisor/ingress.hpp>

#include <map>
#include <string>
#include <string_view>

namespace exo {

class container_registry;

/// "NAME@NODE": the config name node `node` runs `img` under.
std::string node_config_name(const image& img, std::string_view node);

/// Every actor of `img` (which places its actors) by name: its node and the id it gets there.
struct placed_actor {
  std::string node;
  id actor;
};
expected<std::map<std::string, placed_actor>> placed_actor_ids(const image& img);

/// The route entry node `node` starts with (see the file comment). `keys`: every other node's
/// public key (a node of the placement without one is an error naming it). The names of
/// other nodes' actors' functions come from compiling their code with `registry` (whose
/// containers the image needs must be loaded).
expected<route_request> boot_routes(const image& img, std::string_view node, const std::map<std::string, public_key>& keys,
                                    const container_registry& registry);

/// The node a log is from: the NODE of its init entry's name NAME@NODE (node_config_name),
/// empty for a single node's log. A log without an init entry is an error.
expected<std::string> log_node(const log_reader& log);

}  // namespace exo
