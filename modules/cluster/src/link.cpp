// Sealing a log entry's remote outputs, and checking two nodes' logs against each other.
#include <exo/cluster/link.hpp>

namespace exo::cluster {

namespace {
expected<log_entry> entry_at(const log_reader& log, std::uint64_t i, const std::string& node) {
  auto raw = log.read(i);
  auto e = raw ? decode_entry(*raw) : unexpected(std::move(raw).error());
  if (!e) return fail(e.error().code, fmt::format("node {}'s entry {}: {}", node, i, e.error().message));
  return e;
}

// A remote output of a log entry: {remote: node, index, body}.
struct remote_output {
  const std::string* to;
  std::uint64_t index;
  const value* body;
};
expected<std::vector<remote_output>> remote_outputs(const log_entry& e) {
  std::vector<remote_output> out;
  const value::list* outputs = e.outputs.if_list();
  if (!outputs) return fail(errc::malformed, fmt::format("entry {}: its outputs are not a list", e.index));
  for (const value& o : *outputs) {
    const value* to = o.find("remote");
    if (!to) continue;
    const value* index = o.find("index");
    const value* body = o.find("body");
    if (!to->if_string() || !index || !index->if_i64() || *index->if_i64() < 1 || !body)
      return fail(errc::malformed, fmt::format("entry {}: a remote output is {{remote, index, body}}", e.index));
    out.push_back({to->if_string(), static_cast<std::uint64_t>(*index->if_i64()), body});
  }
  return out;
}
}  // namespace

expected<std::vector<std::tuple<std::string, std::uint64_t, bytes>>> sealed_outputs(const log_entry& e,
                                                                                    const std::string& from,
                                                                                    const node_key& key) {
  auto outputs = remote_outputs(e);
  if (!outputs) return unexpected(std::move(outputs).error());
  std::vector<std::tuple<std::string, std::uint64_t, bytes>> out;
  for (const remote_output& o : *outputs)
    out.emplace_back(*o.to, o.index, seal_envelope({from, *o.to, o.index, encode(*o.body)}, key));
  return out;
}

expected<std::uint64_t> check_pair(const log_reader& from_log, const std::string& from, const log_reader& to_log,
                                   const std::string& to) {
  // What `from` logged for `to`, by index: the body's bytes and the entry.
  std::map<std::uint64_t, std::pair<bytes, std::uint64_t>> sent;
  std::pair<std::uint64_t, std::uint64_t> receipted{0, 0};  // the most a receipt of `to` confirms, and the entry
  for (std::uint64_t i = from_log.base(); i < from_log.size(); ++i) {
    auto e = entry_at(from_log, i, from);
    if (!e) return unexpected(std::move(e).error());
    auto outputs = remote_outputs(*e);
    if (!outputs) return fail(outputs.error().code, fmt::format("node {}'s {}", from, outputs.error().message));
    for (const remote_output& o : *outputs)
      if (*o.to == to) sent[o.index] = {encode(*o.body), i};
    const value* node = e->args.find("node");
    const value* receipt = e->args.find("receipt");
    if (e->kind == "settle" && node && node->if_string() && *node->if_string() == to && receipt && receipt->if_bytes()) {
      auto r = open_receipt(*receipt->if_bytes(), {.from = to, .to = from});
      if (!r) return fail(r.error().code, fmt::format("node {}'s entry {}: node {}'s receipt: {}", from, i, to, r.error().message));
      if (r->e.index > receipted.first) receipted = {r->e.index, i};
    }
  }
  std::uint64_t expected_index = 1;
  for (std::uint64_t i = to_log.base(); i < to_log.size(); ++i) {
    auto e = entry_at(to_log, i, to);
    if (!e) return unexpected(std::move(e).error());
    if (e->kind != "take") continue;
    const value* env = e->args.find("envelope");
    if (!env || !env->if_bytes()) return fail(errc::malformed, fmt::format("node {}'s entry {}: a take without an envelope", to, i));
    auto opened = open_envelope(*env->if_bytes());
    if (!opened) return fail(opened.error().code, fmt::format("node {}'s entry {}: {}", to, i, opened.error().message));
    if (opened->e.from != from) continue;
    if (opened->e.index != expected_index && to_log.base() == 0)
      return fail(errc::invalid_argument, fmt::format("node {}'s entry {} took message {} from node {}, where message {} "
                                                      "was next",
                                                      to, i, opened->e.index, from, expected_index));
    auto it = sent.find(opened->e.index);
    if (it == sent.end())
      return fail(errc::invalid_argument, fmt::format("node {}'s entry {} took message {} from node {}, which node {}'s log "
                                                      "does not hold",
                                                      to, i, opened->e.index, from, from));
    if (it->second.first != opened->e.body)
      return fail(errc::invalid_argument, fmt::format("node {}'s entry {} took message {} from node {}, which differs from "
                                                      "what node {}'s entry {} sent",
                                                      to, i, opened->e.index, from, from, it->second.second));
    expected_index = opened->e.index + 1;
  }
  if (to_log.base() == 0 && receipted.first > expected_index - 1)
    return fail(errc::invalid_argument, fmt::format("node {}'s entry {} carries node {}'s receipt for {} messages, where node "
                                                    "{}'s log took {}",
                                                    from, receipted.second, to, receipted.first, to, expected_index - 1));
  return expected_index - 1;
}

}  // namespace exo::cluster
