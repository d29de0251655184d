#include <exo/boot/image.hpp>
#include <exo/container/registry.hpp>
#include <exo/core/encoding.hpp>
#include <exo/core/id.hpp>
#include <exo/core/json.hpp>
#include <exo/core/sealed_file.hpp>
#include <exo/hypervisor/method.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <set>

namespace exo {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view magic = "EXOIMG1\n";

unexpected<error> bad_manifest(std::string_view where, std::string_view why) {
  return fail(errc::invalid_argument, fmt::format("exo.json: {}: {}", where, why));
}

// Refuses keys other than `allowed` (a typo must not be silently ignored).
expected<void> only_keys(const json& j, std::string_view where, std::initializer_list<std::string_view> allowed) {
  if (!j.is_object()) return bad_manifest(where, "must be an object");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return bad_manifest(where, fmt::format("unknown field \"{}\" (known: {})", it.key(), list));
    }
  return {};
}

expected<std::string> string_field(const json& j, std::string_view key, std::string_view where) {
  auto it = j.find(key);
  if (it == j.end()) return bad_manifest(where, fmt::format("needs \"{}\"", key));
  if (!it->is_string() || it->get<std::string>().empty())
    return bad_manifest(where, fmt::format("\"{}\" must be a non-empty string", key));
  return it->get<std::string>();
}

bool plain_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// "actor.function" split at its first dot.
expected<std::pair<std::string, std::string>> split_call(const std::string& call, std::string_view where) {
  auto dot = call.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == call.size())
    return bad_manifest(where, fmt::format("\"{}\" is not \"actor.function\"", call));
  return std::pair{call.substr(0, dot), call.substr(dot + 1)};
}

// What pack learned about an actor: its functions, to check init calls and exports.
struct packed_actor {
  std::set<std::string, std::less<>> functions;
};

// The actor and function `call` names, which must be a declared actor's exported function.
expected<std::pair<std::string, std::string>> check_function(const std::map<std::string, packed_actor, std::less<>>& actors,
                                                               const std::string& call, std::string_view where) {
  auto parts = split_call(call, where);
  if (!parts) return unexpected(std::move(parts).error());
  auto a = actors.find(parts->first);
  if (a == actors.end()) return bad_manifest(where, fmt::format("no actor named \"{}\" is declared", parts->first));
  if (!a->second.functions.contains(parts->second)) {
    std::string list;
    for (auto& f : a->second.functions) list += (list.empty() ? "" : ", ") + f;
    return bad_manifest(where, fmt::format("actor \"{}\" exports no function \"{}\" (it has: {})", parts->first,
                                           parts->second, list));
  }
  return parts;
}

}  // namespace

const image_export* image_manifest::find_export(std::string_view actor, std::string_view function) const {
  for (auto& e : exports)
    if (e.actor == actor && e.function == function) return &e;
  return nullptr;
}

const std::string* image_manifest::node_of(std::string_view actor) const {
  for (auto& n : nodes)
    for (auto& a : n.actors)
      if (a == actor) return &n.name;
  return nullptr;
}

const bytes* image::blob(const digest& h) const {
  auto it = std::lower_bound(blobs.begin(), blobs.end(), h, [](const image_blob& b, const digest& x) { return b.hash.bytes < x.bytes; });
  return it != blobs.end() && it->hash == h ? &it->data : nullptr;
}

value image::origin() const {
  return value::make_map({{"image", to_value(hash)}, {"name", value(manifest.name)}, {"containers", to_value(manifest.containers)}});
}

std::optional<digest> origin_image(const value* origin) {
  const value* h = origin ? origin->find("image") : nullptr;
  auto d = h ? from_value<digest>(*h) : fail(errc::malformed, "an origin names no image");
  return d ? std::optional<digest>(*d) : std::nullopt;
}

expected<bytes> pack_image(const std::string& dir, container_registry& registry) {
  std::error_code ec;
  const fs::path root = fs::canonical(dir, ec);
  if (ec) return fail(errc::invalid_argument, fmt::format("cannot pack {}: {}", dir, ec.message()));
  auto raw = read_file((root / "exo.json").string(), 16 << 20);
  if (!raw) return fail(raw.error().code, fmt::format("cannot pack {}: it needs an exo.json ({})", dir, raw.error().message));
  json j;
  try {
    j = json::parse(raw->begin(), raw->end());
  } catch (const json::parse_error& e) {
    return fail(errc::invalid_argument, fmt::format("exo.json is not valid JSON: {}", e.what()));
  }
  if (auto r = only_keys(j, "the manifest", {"name", "actors", "init", "migrate", "exports", "nodes"}); !r) return unexpected(r.error());

  image_manifest m;
  m.format = std::string(image_format);
  auto name = string_field(j, "name", "the manifest");
  if (!name) return unexpected(name.error());
  m.name = *name;

  std::map<digest, bytes> blobs;
  std::map<std::string, image_container> containers;
  std::map<std::string, packed_actor, std::less<>> actors;
  auto ja = j.find("actors");
  if (ja == j.end() || !ja->is_array() || ja->empty()) return bad_manifest("actors", "must be a non-empty list");
  for (std::size_t i = 0; i < ja->size(); ++i) {
    const json& a = (*ja)[i];
    std::string where = fmt::format("actors[{}]", i);
    if (auto r = only_keys(a, where, {"name", "container", "code", "type"}); !r) return unexpected(r.error());
    auto an = string_field(a, "name", where);
    auto cn = string_field(a, "container", where);
    if (!an) return unexpected(an.error());
    if (!cn) return unexpected(cn.error());
    if (!plain_name(*an)) return bad_manifest(where, fmt::format("name \"{}\" may hold only letters, digits, '_' and '-'", *an));
    if (actors.contains(*an)) return bad_manifest(where, fmt::format("a second actor named \"{}\"", *an));
    where += " (" + *an + ")";
    const container* c = registry.find(*cn);
    if (!c) {
      auto loaded = registry.load_named(*cn);
      if (!loaded) return bad_manifest(where, fmt::format("container \"{}\": {}", *cn, loaded.error().message));
      c = *loaded;
    }
    bytes code;
    std::string source;
    if (c->type_id() == EXO_TYPE_NATIVE) {
      auto t = string_field(a, "type", where);
      if (!t) return unexpected(t.error());
      if (a.contains("code")) return bad_manifest(where, "a native actor names its \"type\", not a code file");
      code.assign(t->begin(), t->end());
      source = "native type " + *t;
    } else {
      auto f = string_field(a, "code", where);
      if (!f) return unexpected(f.error());
      if (a.contains("type")) return bad_manifest(where, "only native actors have a \"type\"; this one has \"code\"");
      fs::path p = fs::weakly_canonical(root / *f, ec);
      auto rel = p.lexically_relative(root);
      if (ec || rel.empty() || rel.native().starts_with(".."))
        return bad_manifest(where, fmt::format("code file \"{}\" is not inside {}", *f, root.string()));
      auto b = read_file(p.string(), 64 << 20);
      if (!b) return bad_manifest(where, b.error().message);
      code = std::move(*b);
      source = *f;
    }
    auto compiled = c->compile(code, registry.limits());
    if (!compiled) return bad_manifest(where, fmt::format("{} does not compile: {}", source, compiled.error().message));
    packed_actor pa;
    for (auto& fn : (*compiled)->functions) pa.functions.emplace(fn.name);
    actors.emplace(*an, std::move(pa));
    const digest h = hash(code);
    blobs.emplace(h, std::move(code));
    containers.emplace(*cn, image_container{*cn, c->type_id(), std::string(c->version())});
    m.actors.push_back(image_actor{*an, *cn, h});
  }
  for (auto& [n, c] : containers) m.containers.push_back(c);

  // init: messages sent once at boot; migrate: once at a switch to this image (exo upgrade),
  // whose arguments cannot hand actors over (a node upgraded holds no capabilities to give).
  auto calls = [&](std::string_view field, std::vector<image_call>& out) -> expected<void> {
    auto ji = j.find(field);
    if (ji == j.end()) return {};
    if (!ji->is_array()) return bad_manifest(field, "must be a list");
    for (std::size_t i = 0; i < ji->size(); ++i) {
      const json& c = (*ji)[i];
      std::string where = fmt::format("{}[{}]", field, i);
      if (auto r = only_keys(c, where, {"call", "args", "budget"}); !r) return unexpected(r.error());
      auto call = string_field(c, "call", where);
      if (!call) return unexpected(call.error());
      auto checked = check_function(actors, *call, where);
      if (!checked) return unexpected(checked.error());
      auto& parts = *checked;
      value args = value(value::list{});
      if (auto it = c.find("args"); it != c.end()) {
        if (!it->is_array()) return bad_manifest(where, "\"args\" must be a list");
        // An argument {"$actor": NAME} is a capability to that actor of the image (all rights),
        // made at boot: how an image hands actors to each other (an AIR actor its services).
        value::list list;
        for (std::size_t k = 0; k < it->size(); ++k) {
          const json& a = (*it)[k];
          if (a.is_object() && a.contains("$actor")) {
            if (field != "init")
              return bad_manifest(fmt::format("{}.args[{}]", where, k), "only init messages hand actors over");
            if (a.size() != 1 || !a["$actor"].is_string())
              return bad_manifest(fmt::format("{}.args[{}]", where, k), "a capability argument is {\"$actor\": \"NAME\"}");
            if (!actors.contains(a["$actor"].get<std::string>()))
              return bad_manifest(fmt::format("{}.args[{}]", where, k),
                                  fmt::format("it hands over actor {}, which is not declared", a["$actor"].get<std::string>()));
            list.push_back(value::make_map({{std::string(actor_arg_key), value(a["$actor"].get<std::string>())}}));
            continue;
          }
          auto v = from_json(a, fmt::format("exo.json: {}.args[{}]", where, k));
          if (!v) return unexpected(v.error());
          list.push_back(std::move(*v));
        }
        args = value(std::move(list));
      }
      std::uint64_t budget = 0;
      if (auto it = c.find("budget"); it != c.end()) {
        if (!it->is_number_unsigned()) return bad_manifest(where, "\"budget\" must be a positive integer");
        budget = it->get<std::uint64_t>();
      }
      out.push_back(image_call{parts.first, parts.second, std::move(args), budget});
    }
    return {};
  };
  if (auto r = calls("init", m.init); !r) return unexpected(std::move(r).error());
  if (auto r = calls("migrate", m.migrate); !r) return unexpected(std::move(r).error());

  // nodes: where each actor runs in a cluster, every actor on exactly one node.
  if (auto jn = j.find("nodes"); jn != j.end()) {
    if (!jn->is_object() || jn->empty()) return bad_manifest("nodes", "must map node names to lists of actor names");
    std::map<std::string, std::string> placed;  // actor -> node
    for (auto& [node, list] : jn->items()) {  // (in name order: nlohmann's objects are sorted)
      const std::string where = fmt::format("nodes.{}", node);
      if (!valid_node_name(node)) return bad_manifest(where, "a node name is 1 to 64 letters, digits, '_' or '-'");
      if (!list.is_array() || list.empty()) return bad_manifest(where, "must be a non-empty list of actor names");
      image_node n{node, {}};
      for (auto& a : list) {
        if (!a.is_string()) return bad_manifest(where, "must list actor names");
        const std::string name = a.get<std::string>();
        if (!actors.contains(name)) return bad_manifest(where, fmt::format("places actor {}, which is not declared", name));
        if (auto [it, fresh] = placed.emplace(name, node); !fresh)
          return bad_manifest(where, fmt::format("places actor {}, which node {} runs already", name, it->second));
        n.actors.push_back(name);
      }
      m.nodes.push_back(std::move(n));
    }
    for (auto& a : m.actors)
      if (!placed.contains(a.name)) return bad_manifest("nodes", fmt::format("places actor {} on no node", a.name));
  }

  if (auto je = j.find("exports"); je != j.end()) {
    if (!je->is_array()) return bad_manifest("exports", "must be a list");
    std::set<std::string> seen;
    for (std::size_t i = 0; i < je->size(); ++i) {
      const json& x = (*je)[i];
      std::string where = fmt::format("exports[{}]", i);
      if (auto r = only_keys(x, where, {"call", "params", "callers"}); !r) return unexpected(r.error());
      auto call = string_field(x, "call", where);
      if (!call) return unexpected(call.error());
      auto checked = check_function(actors, *call, where);
      if (!checked) return unexpected(checked.error());
      if (!seen.insert(*call).second) return bad_manifest(where, fmt::format("\"{}\" is exported twice", *call));
      auto& parts = *checked;
      image_export e{parts.first, parts.second, {}, {}};
      if (auto jp = x.find("params"); jp != x.end()) {
        if (!jp->is_array()) return bad_manifest(where, "\"params\" must be a list");
        bool defaults = false;
        for (std::size_t k = 0; k < jp->size(); ++k) {
          const json& p = (*jp)[k];
          std::string pw = fmt::format("{}.params[{}]", where, k);
          if (auto r = only_keys(p, pw, {"name", "type", "default"}); !r) return unexpected(r.error());
          auto pn = string_field(p, "name", pw);
          auto pt = string_field(p, "type", pw);
          if (!pn) return unexpected(pn.error());
          if (!pt) return unexpected(pt.error());
          if (!is_param_type(*pt))
            return bad_manifest(pw, fmt::format("unknown type \"{}\" (i64, f64, bool, string, bytes, list, map, any)", *pt));
          image_param param{*pn, *pt, std::nullopt};
          if (auto d = p.find("default"); d != p.end()) {
            auto v = from_json(*d, "exo.json: " + pw + ".default");
            if (!v) return unexpected(v.error());
            if (v->is_null()) return bad_manifest(pw, "a default cannot be null");
            if (!fits_param_type(*v, *pt)) return bad_manifest(pw, fmt::format("the default is not of type {}", *pt));
            param.fallback = std::move(*v);
            defaults = true;
          } else if (defaults) {
            return bad_manifest(pw, "follows a parameter with a default, so it needs one too");
          }
          e.params.push_back(std::move(param));
        }
      }
      if (auto jc = x.find("callers"); jc != x.end()) {
        if (!jc->is_array()) return bad_manifest(where, "\"callers\" must be a list of hex Ed25519 public keys");
        for (auto& k : *jc) {
          auto b = k.is_string() ? from_hex(k.get<std::string>()) : fail(errc::invalid_argument, "not a string");
          if (!b || b->size() != 32)
            return bad_manifest(where, "\"callers\" must hold 64-hex-digit Ed25519 public keys (exo keygen prints one)");
          e.callers.push_back(std::move(*b));
        }
      }
      m.exports.push_back(std::move(e));
    }
  }

  std::vector<image_blob> list;
  for (auto& [h, b] : blobs) list.push_back(image_blob{h, std::move(b)});
  value manifest = to_value(m);
  if (!m.migrate.empty() || !m.nodes.empty()) {  // only then: an image without them encodes as before
    value::map fields = std::move(*manifest.if_map());
    if (!m.migrate.empty()) fields.emplace_back("migrate", to_value(m.migrate));
    if (!m.nodes.empty()) fields.emplace_back("nodes", to_value(m.nodes));
    manifest = value::make_map(std::move(fields));
  }
  return seal(magic, value::make_map({{"format", value(std::string(image_format))},
                                      {"manifest", std::move(manifest)},
                                      {"blobs", to_value(list)}}),
              19);
}

expected<image> read_image(byte_view file, const image_limits& limits) {
  auto v = unseal(file, magic, "exo image", sealed_limits{limits.max_file, limits.max_content});
  if (!v) return unexpected(std::move(v).error());
  auto bad = [](std::string_view why) { return fail(errc::malformed, fmt::format("not a valid exo image: {}", why)); };
  const value* format = v->find("format");
  const value* manifest = v->find("manifest");
  const value* blobs = v->find("blobs");
  if (!v->if_map() || v->if_map()->size() != 3 || !format || !manifest || !blobs)
    return bad("its content is not {format, manifest, blobs}");
  if (!format->if_string() || *format->if_string() != image_format)
    return bad(fmt::format("it is of format {}, and this exo reads '{}'", to_string(*format), image_format));
  image img;
  value fields = *manifest;
  // The fields an image has only when it uses them: taken out before the rest is read.
  std::vector<image_call> migrate;
  std::vector<image_node> nodes;
  auto optional_field = [&]<class T>(std::string_view name, std::vector<T>& out) -> expected<void> {
    auto* mm = fields.if_map();
    if (!mm) return {};
    auto it = std::find_if(mm->begin(), mm->end(), [&](const auto& kv) { return kv.first == name; });
    if (it == mm->end()) return {};
    auto got = from_value<std::vector<T>>(it->second, fmt::format("manifest: field '{}': ", name));
    if (!got) return bad(got.error().message);
    if (got->empty()) return bad(fmt::format("its manifest's {} list is there but empty", name));
    out = std::move(*got);
    mm->erase(it);
    return {};
  };
  if (auto r = optional_field("migrate", migrate); !r) return unexpected(std::move(r).error());
  if (auto r = optional_field("nodes", nodes); !r) return unexpected(std::move(r).error());
  auto m = from_value<image_manifest>(std::move(fields), "manifest: ");
  if (!m) return bad(m.error().message);
  img.manifest = std::move(*m);
  img.manifest.migrate = std::move(migrate);
  img.manifest.nodes = std::move(nodes);
  if (img.manifest.format != image_format) return bad("its manifest is of another format");
  auto b = from_value<std::vector<image_blob>>(*blobs, "blobs: ");
  if (!b) return bad(b.error().message);
  img.blobs = std::move(*b);
  for (std::size_t i = 0; i < img.blobs.size(); ++i) {
    if (!(hash(img.blobs[i].data) == img.blobs[i].hash))
      return bad(fmt::format("blob {} does not hash to its name", short_hex(img.blobs[i].hash)));
    if (i > 0 && !(img.blobs[i - 1].hash.bytes < img.blobs[i].hash.bytes)) return bad("its blobs are not sorted by hash");
  }
  std::set<std::string> names;
  for (auto& a : img.manifest.actors) {
    if (!img.blob(a.code)) return bad(fmt::format("actor {}'s code {} is not in the image", a.name, short_hex(a.code)));
    if (!names.insert(a.name).second) return bad(fmt::format("two actors are named {}", a.name));
    bool listed = false;
    for (auto& c : img.manifest.containers) listed = listed || c.name == a.container;
    if (!listed) return bad(fmt::format("actor {}'s container {} is not among the containers it needs", a.name, a.container));
  }
  for (auto& c : img.manifest.init) {
    if (!names.contains(c.actor)) return bad(fmt::format("an init message goes to {}, which it does not create", c.actor));
    if (const auto* l = c.args.if_list())
      for (const value& a : *l)
        if (auto n = actor_arg(a); n && !names.contains(*n))
          return bad(fmt::format("an init message to {} hands over actor {}, which it does not create", c.actor, *n));
  }
  for (auto& c : img.manifest.migrate) {
    if (!names.contains(c.actor)) return bad(fmt::format("a migration call goes to {}, which it does not create", c.actor));
    if (!c.args.if_list()) return bad(fmt::format("a migration call to {} has arguments that are not a list", c.actor));
    for (const value& a : *c.args.if_list())
      if (actor_arg(a)) return bad(fmt::format("a migration call to {} hands over an actor", c.actor));
  }
  if (!img.manifest.nodes.empty()) {
    if (img.manifest.name.find('@') != std::string::npos)  // (node N runs it as NAME@N)
      return bad(fmt::format("its name '{}' has an '@', which cannot be in the name of an image that places its actors on nodes",
                             img.manifest.name));
    std::set<std::string> placed;
    for (std::size_t i = 0; i < img.manifest.nodes.size(); ++i) {
      const image_node& n = img.manifest.nodes[i];
      if (!valid_node_name(n.name)) return bad(fmt::format("it places actors on '{}', which cannot name a node", n.name));
      if (i > 0 && !(img.manifest.nodes[i - 1].name < n.name)) return bad("its nodes are not in name order");
      if (n.actors.empty()) return bad(fmt::format("node {} runs no actor", n.name));
      for (auto& a : n.actors) {
        if (!names.contains(a)) return bad(fmt::format("it places {} on node {}, but creates no actor {}", a, n.name, a));
        if (!placed.insert(a).second) return bad(fmt::format("it places actor {} on two nodes", a));
      }
    }
    if (placed.size() != names.size()) return bad("it places some of its actors on no node");
  }
  for (auto& e : img.manifest.exports) {
    if (!names.contains(e.actor)) return bad(fmt::format("it exports {}, but creates no actor {}", e.method(), e.actor));
    for (auto& k : e.callers)
      if (k.size() != 32) return bad(fmt::format("{} names a caller key of {} bytes, not an Ed25519 public key", e.method(), k.size()));
  }
  img.hash = hash(file);
  img.file.assign(file.begin(), file.end());
  return img;
}

expected<image> load_image(const std::string& path, const image_limits& limits) {
  auto b = read_file(path, limits.max_file);
  if (!b) return fail(b.error().code, "image: " + b.error().message);
  auto img = read_image(*b, limits);
  if (!img) return fail(img.error().code, fmt::format("{}: {}", path, img.error().message));
  return img;
}

expected<void> load_containers(const image& img, container_registry& registry) {
  for (auto& need : img.manifest.containers) {
    const container* c = registry.find(need.name);
    if (!c) {
      auto loaded = registry.load_named(need.name);
      if (!loaded)
        return fail(errc::incompatible, fmt::format("the image needs the '{}' container (type {}, version {}), and it "
                                                    "cannot be loaded: {}",
                                                    need.name, need.type_id, need.version, loaded.error().message));
      c = *loaded;
    }
    if (c->type_id() != need.type_id || c->version() != need.version)
      return fail(errc::incompatible, fmt::format("the image needs the '{}' container type {} version {}; the loaded one "
                                                  "is type {} version {}",
                                                  need.name, need.type_id, need.version, c->type_id(), c->version()));
  }
  return {};
}

}  // namespace exo
