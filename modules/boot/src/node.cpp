#include <exo/boot/node.hpp>
#include <exo/boot/upgrade.hpp>
#include <exo/core/encoding.hpp>
#include <exo/core/json.hpp>
#include <exo/core/sealed_file.hpp>

#include <fmt/format.h>

#include <filesystem>

namespace exo {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view boot_record = "exo.boot";
// The image an upgrade switched the node to (its hash), committed with the upgrade entry.
constexpr std::string_view image_record = "exo.image";
// The node of a cluster the directory was booted as (its name), committed with the boot record.
constexpr std::string_view node_record = "exo.node";

// The boot record: which image the directory was booted from and its actors' ids.
struct boot_info {
  BOOST_HANA_DEFINE_STRUCT(boot_info, (digest, image), (std::vector<std::string>, names), (std::vector<id>, ids));
};

void say(const boot_options& o, const std::string& line) {
  if (o.progress) o.progress(line);
}

std::string show_args(const value& args) { return to_json(args).dump(); }

// Whether `img` can boot as `opts` says (a placed image as one of its nodes, an unplaced one
// as a single node), and for a cluster node its first route entry (boot_routes): all of it
// before the data directory is touched.
expected<std::optional<route_request>> planned_routes(const image& img, const boot_options& opts,
                                                      const container_registry& registry) {
  if (!opts.cluster) {
    if (img.manifest.nodes.empty()) return std::optional<route_request>{};
    return fail(errc::invalid_argument, fmt::format("image {} ('{}') places its actors on {} nodes: boot it as one of them "
                                                    "(exo boot --cluster URL --node NAME)",
                                                    short_hex(img.hash), img.manifest.name, img.manifest.nodes.size()));
  }
  const std::string& node = opts.cluster->name;
  std::string names;
  bool placed_here = false;
  for (const image_node& nd : img.manifest.nodes) {
    names += (names.empty() ? "" : ", ") + nd.name;
    placed_here = placed_here || nd.name == node;
  }
  if (names.empty())
    return fail(errc::invalid_argument, fmt::format("image {} ('{}') places its actors on no nodes (exo.json \"nodes\"): "
                                                    "boot it without a cluster node",
                                                    short_hex(img.hash), img.manifest.name));
  if (!placed_here)
    return fail(errc::invalid_argument, fmt::format("image {} ('{}') places no actor on node {} (its nodes: {})",
                                                    short_hex(img.hash), img.manifest.name, node, names));
  auto planned = boot_routes(img, node, opts.cluster->peers, registry);
  if (!planned) return fail(planned.error().code, fmt::format("node {}'s routes: {}", node, planned.error().message));
  return std::optional<route_request>{std::move(*planned)};
}

}  // namespace

const id* node::actor(std::string_view name) const {
  auto it = actors_.find(name);
  return it == actors_.end() ? nullptr : &it->second;
}

expected<std::string> node::maintain(const prune_options& options) {
  node_hypervisor& hv = *hv_;
  if (hv.store().write_behind()) return fail(errc::invalid_argument, "maintain while the store writes behind");
  auto cp = record_checkpoint(hv.store(), hv.log());
  if (!cp) return unexpected(std::move(cp).error());
  auto pruned = prune_store(hv.store(), hv.log(), options);
  auto reloaded = hv.reload_log();  // its base may have moved, whatever the prune got to
  if (!pruned) return unexpected(std::move(pruned).error());
  if (!reloaded) return unexpected(std::move(reloaded).error());
  return fmt::format("checkpoint at entry {}; pruned: {} roots and {} nodes ({} bytes) freed, {} log entries dropped",
                     cp->index, pruned->store.roots_dropped, pruned->store.nodes_freed, pruned->store.bytes_freed,
                     pruned->entries_dropped);
}

expected<node::switched> node::upgrade(const exo::image& next) {
  node_hypervisor& hv = *hv_;
  if (hv.store().write_behind()) return fail(errc::invalid_argument, "upgrade while the store writes behind");
  if (next.hash == img_.hash) return fail(errc::invalid_argument, fmt::format("{} runs image {} already", dir_, short_hex(next.hash)));
  if (!cluster_node_.empty())
    return fail(errc::invalid_argument, fmt::format("{} is node {} of a cluster: upgrading a cluster is not built", dir_, cluster_node_));
  auto plan = upgrade_plan(img_, next, hv.host_id());
  if (!plan) return unexpected(std::move(plan).error());
  if (auto r = load_containers(next, *hv.settings().containers); !r) return unexpected(std::move(r).error());
  // Both images are on disk before the commit that names the new one.
  std::error_code ec;
  fs::create_directories(fs::path(dir_) / images_dir_name, ec);
  if (ec) return fail(errc::internal, fmt::format("cannot create {}/{}: {}", dir_, images_dir_name, ec.message()));
  std::vector<std::string> written;  // removed again if the switch is refused
  for (const exo::image* im : {static_cast<const exo::image*>(&img_), &next}) {
    const std::string path = kept_image_path(dir_, im->hash);
    if (fs::exists(path, ec)) continue;
    if (auto w = write_file(path, im->file); !w) return unexpected(std::move(w).error());
    written.push_back(path);
  }
  plan->records.emplace_back(std::string(image_record), encode(to_value(next.hash)));
  auto e = hv.upgrade(*plan);
  if (!e) {
    for (const std::string& path : written) fs::remove(path, ec);
    if (fs::is_empty(fs::path(dir_) / images_dir_name, ec)) fs::remove(fs::path(dir_) / images_dir_name, ec);
    return unexpected(std::move(e).error());
  }
  switched out{e->index, img_.hash, next.hash, {}, e->result, e->root};
  for (std::size_t i = 0; i < next.manifest.actors.size(); ++i)
    if (!(next.manifest.actors[i].code == img_.manifest.actors[i].code)) out.changed.push_back(next.manifest.actors[i].name);
  img_ = next;
  serve();
  // Committed: the node runs `next` now. DIR/image.exo follows (start() repairs it if not).
  if (auto w = write_file((fs::path(dir_) / image_file_name).string(), img_.file); !w)
    return fail(w.error().code, fmt::format("the node switched to image {} (entry {}), but {} could not be replaced "
                                            "(it will be when the node resumes): {}",
                                            short_hex(next.hash), out.index, image_file_name, w.error().message));
  return out;
}

method export_method(const image_export& e, const id& actor) {
  method m{e.actor, e.function, actor, {}, {}};
  for (const image_param& p : e.params) m.params.push_back(method_param{p.name, p.type, p.fallback});
  for (const bytes& k : e.callers) {
    public_key pk;
    if (k.size() == pk.bytes.size()) std::copy(k.begin(), k.end(), pk.bytes.begin());
    m.callers.push_back(pk);  // read_image checked that every key is 32 bytes
  }
  return m;
}

void node::serve() {
  service::description d{img_.manifest.name, img_.hash, {}, {}};
  for (const image_export& e : img_.manifest.exports)
    if (const id* a = actor(e.actor)) d.methods.push_back(export_method(e, *a));  // (a cluster node's own actors only)
  service_.emplace(*hv_, std::move(d), std::vector<std::pair<std::string, id>>(actors_.begin(), actors_.end()));
  service_->serve_image(&img_.file);
  // The images the log ran on before upgrades, read from DIR/images when asked for.
  service_->serve_kept_images([dir = dir_](const digest& h) -> expected<std::shared_ptr<const service::served_file>> {
    const std::string path = kept_image_path(dir, h);
    std::error_code ec;
    if (!fs::exists(path, ec)) return std::shared_ptr<const service::served_file>{};
    auto file = read_file(path, image_limits{}.max_file);
    if (!file) return unexpected(std::move(file).error());
    if (!(hash(*file) == h)) return fail(errc::malformed, fmt::format("{} is damaged: it does not hash to its name", path));
    return std::make_shared<const service::served_file>(service::served_file{std::move(*file), h});
  });
  // The recorded checkpoint's snapshot, made once per checkpoint (on the server's executor).
  service_->serve_snapshot([this]() -> expected<std::shared_ptr<const service::served_file>> {
    auto rec = hv_->store().read_meta(checkpoint_record);
    if (!rec) return unexpected(std::move(rec).error());
    if (!*rec) return std::shared_ptr<const service::served_file>{};
    if (!snapshot_file_ || snapshot_of_ != **rec) {
      auto snap = recorded_snapshot(hv_->store(), hv_->log());
      if (!snap) return unexpected(std::move(snap).error());
      auto file = encode_snapshot(*snap);
      if (!file) return unexpected(std::move(file).error());
      const digest h = hash(*file);
      snapshot_file_ = std::make_shared<const service::served_file>(service::served_file{std::move(*file), h});
      snapshot_of_ = std::move(**rec);
    }
    return snapshot_file_;
  });
}

expected<std::unique_ptr<node>> node::boot(const std::string& image_path, const std::string& data_dir,
                                           container_registry& registry, const boot_options& opts) {
  auto img = load_image(image_path);
  if (!img) return unexpected(std::move(img).error());
  return start(std::move(*img), data_dir, registry, opts, false);
}

expected<std::unique_ptr<node>> node::open(const std::string& data_dir, container_registry& registry,
                                           const boot_options& opts) {
  const std::string path = (fs::path(data_dir) / image_file_name).string();
  std::error_code ec;
  if (!fs::exists(path, ec))
    return fail(errc::invalid_argument, fmt::format("{} was not booted from an image (it has no {}); boot one with "
                                                    "exo boot APP.exo --data {}",
                                                    data_dir, image_file_name, data_dir));
  auto img = load_image(path);
  if (!img) return unexpected(std::move(img).error());
  return start(std::move(*img), data_dir, registry, opts, true);
}

std::string kept_image_path(const std::string& data_dir, const digest& image) {
  return (fs::path(data_dir) / images_dir_name / (to_hex(image) + ".exo")).string();
}

expected<std::optional<digest>> upgraded_image(const lmdb_store& store) {
  auto rec = store.read_meta(image_record);
  if (!rec) return unexpected(std::move(rec).error());
  if (!*rec) return std::optional<digest>{};
  auto v = decode(**rec);
  auto h = v ? from_value<digest>(std::move(*v), "image record: ") : unexpected(std::move(v).error());
  if (!h) return fail(errc::malformed, fmt::format("the record of the image an upgrade switched to is damaged: {}", h.error().message));
  return std::optional<digest>{*h};
}

expected<std::unique_ptr<node>> node::start(exo::image img, const std::string& data_dir, container_registry& registry,
                                            const boot_options& opts, bool kept_copy) {
  std::unique_ptr<node> n(new node());
  n->dir_ = data_dir;
  const std::string kept = (fs::path(data_dir) / image_file_name).string();
  std::error_code ec;
  const bool had_image = fs::exists(kept, ec);
  std::optional<digest> kept_hash;  // the image DIR/image.exo holds
  if (kept_copy) {
    kept_hash = img.hash;
  } else if (had_image) {
    auto old = load_image(kept);
    if (!old) return fail(old.error().code, fmt::format("{} keeps a damaged image: {}", data_dir, old.error().message));
    kept_hash = old->hash;
  }

  // Before the directory is touched: an image that cannot run leaves no directory behind.
  auto containers = [&](const exo::image& im) -> expected<void> {
    say(opts, fmt::format("image {} ('{}'): {} actors, {} init messages, {} exported functions", short_hex(im.hash),
                          im.manifest.name, im.manifest.actors.size(), im.manifest.init.size(), im.manifest.exports.size()));
    if (auto r = load_containers(im, registry); !r) return r;
    for (auto& c : im.manifest.containers)
      say(opts, fmt::format("container {} (type {}, version {}) loaded", c.name, c.type_id, c.version));
    return {};
  };
  if (auto r = containers(img); !r) return unexpected(std::move(r).error());
  // A placed image boots as one of its nodes, and only such an image does.
  const std::string node_name = opts.cluster ? opts.cluster->name : std::string();
  auto routes = planned_routes(img, opts, registry);  // a cluster node's first route entry
  if (!routes) return unexpected(std::move(routes).error());
  lmdb_options store_options = opts.store;
  store_options.create = !had_image;
  auto store = lmdb_store::open(data_dir, store_options);
  if (!store) return unexpected(std::move(store).error());
  auto record = store->read_meta(boot_record);
  if (!record) return unexpected(std::move(record).error());
  std::optional<boot_info> booted;
  if (*record) {
    auto v = decode(**record);
    auto info = v ? from_value<boot_info>(std::move(*v), "boot record: ") : unexpected(std::move(v).error());
    if (!info || info->names.size() != info->ids.size())
      return fail(errc::malformed, fmt::format("{}: its boot record is damaged", data_dir));
    booted = std::move(*info);
  }
  auto was = store->read_meta(node_record);  // the node the directory was booted as
  if (!was) return unexpected(std::move(was).error());
  const std::string booted_as = *was ? std::string((*was)->begin(), (*was)->end()) : std::string();
  if (booted && booted_as != node_name)
    return fail(errc::invalid_argument, fmt::format("{} was booted {}, not {}", data_dir,
                                                    booted_as.empty() ? "as a single node" : "as node " + booted_as + " of a cluster",
                                                    node_name.empty() ? "as a single node" : "as node " + node_name));
  auto upgraded = upgraded_image(*store);
  if (!upgraded) return fail(upgraded.error().code, fmt::format("{}: {}", data_dir, upgraded.error().message));
  // The image the node runs: the one it was booted from, or the one its last upgrade switched
  // to (the commit of the upgrade entry names it; DIR/image.exo follows it after the commit).
  const std::optional<digest> current = *upgraded ? *upgraded : booted ? std::optional<digest>(booted->image) : kept_hash;
  if (current && !(*current == img.hash)) {
    if (kept_copy && *upgraded) {
      // Stopped between an upgrade's commit and the copy of its image to DIR/image.exo.
      auto now = load_image(kept_image_path(data_dir, *current));
      if (!now) return fail(now.error().code, fmt::format("{} was upgraded to image {}, which it should keep, but: {}",
                                                          data_dir, short_hex(*current), now.error().message));
      img = std::move(*now);
      if (auto r = containers(img); !r) return unexpected(std::move(r).error());
    } else {
      return fail(errc::invalid_argument,
                  fmt::format("{} {} image {}{}, not this image {} ('{}'); boot this one on another data directory{}",
                              data_dir, *upgraded ? "runs" : "was booted from", short_hex(*current),
                              booted && *upgraded ? fmt::format(" (upgraded from {})", short_hex(booted->image)) : "",
                              short_hex(img.hash), img.manifest.name,
                              *upgraded ? fmt::format(", or resume this one with the image it runs (exo boot {}/{} --data {})",
                                                      data_dir, image_file_name, data_dir) : ""));
    }
  }
  if (had_image && !(kept_hash && *kept_hash == img.hash)) {
    if (auto w = write_file(kept, img.file); !w) return unexpected(std::move(w).error());
    say(opts, fmt::format("{} now holds image {}, the one its last upgrade switched to", kept, short_hex(img.hash)));
  }
  // The call log's init entry names the image the node was booted from, whatever it runs now.
  value origin = img.origin();
  if (booted && !(booted->image == img.hash)) {
    auto first = load_image(kept_image_path(data_dir, booted->image));
    if (!first) return fail(first.error().code, fmt::format("{} keeps no copy of image {}, which it was booted from: {}",
                                                            data_dir, short_hex(booted->image), first.error().message));
    origin = first->origin();
  }
  auto opened = node_hypervisor::open(std::move(*store),
                                      config{.name = node_name.empty() ? img.manifest.name : node_config_name(img, node_name),
                                             .containers = &registry,
                                             .origin = std::move(origin),
                                             .node = node_name});
  if (!opened) return fail(opened.error().code, fmt::format("{}: {}", data_dir, opened.error().message));
  n->hv_.emplace(std::move(*opened));
  node_hypervisor& hv = *n->hv_;
  if (opts.log) {
    hv.on_log([self = n.get(), log = opts.log](const id& a, log_level level, std::string_view text) {
      std::string name = short_hex(a);
      for (auto& [actor_name, actor_id] : self->actors_)
        if (actor_id == a) name = actor_name;
      log(name, level, text);
    });
  }
  n->img_ = std::move(img);
  n->cluster_node_ = node_name;
  const exo::image& im = n->img_;
  auto here = [&](const std::string& actor) { return node_name.empty() || *im.manifest.node_of(actor) == node_name; };

  if (booted) {  // booted before: resume
    for (std::size_t i = 0; i < booted->names.size(); ++i) n->actors_.emplace(booted->names[i], booted->ids[i]);
    n->resumed_ = true;
    n->serve();
    say(opts, fmt::format("resumed {}: {} log entries, state root {}", data_dir, hv.log().size(),
                          to_hex(hv.state_root().value())));
    return n;
  }
  if (hv.log().size() != 0)
    return fail(errc::invalid_argument, fmt::format("an earlier boot of {} did not finish ({} log entries and no boot "
                                                    "record); remove the directory and boot again",
                                                    data_dir, hv.log().size()));
  if (!had_image)
    if (auto w = write_file(kept, im.file); !w) return unexpected(std::move(w).error());

  boot_info info{im.hash, {}, {}};
  // The host's capability to each actor created, for init messages that hand actors over
  // ({"$actor": NAME}); dropped when boot is done.
  std::map<std::string, cap_handle> made;
  struct drop_all {
    decltype(hv)& h;
    std::map<std::string, cap_handle>& caps;
    ~drop_all() {
      for (auto& [name, c] : caps) (void)h.drop(c);
    }
  } dropper{hv, made};
  for (auto& a : im.manifest.actors) {
    if (!here(a.name)) continue;
    const bytes* code = im.blob(a.code);
    auto cap = hv.create_code(a.container, *code);
    if (!cap) return fail(cap.error().code, fmt::format("creating actor {} ({}): {}", a.name, a.container, cap.error().message));
    const id aid = *hv.actor_id(*cap);
    made.emplace(a.name, *cap);
    n->actors_.emplace(a.name, aid);
    info.names.push_back(a.name);
    info.ids.push_back(aid);
    say(opts, fmt::format("created actor {} ({}, code {}) as {}", a.name, a.container, short_hex(a.code), short_hex(aid)));
  }
  if (!node_name.empty()) {  // the cluster: the other nodes' actors, and what this one gives them
    if (auto r = hv.route(**routes); !r) return fail(r.error().code, fmt::format("node {}'s routes: {}", node_name, r.error().message));
    auto ids = placed_actor_ids(im);
    for (auto& [name, placed] : *ids)  // (placed_actor_ids succeeded inside boot_routes)
      if (placed.node != node_name) {
        auto cap = hv.actor_cap(placed.actor);
        if (!cap) return unexpected(std::move(cap).error());
        made.emplace(name, *cap);
      }
    say(opts, fmt::format("node {}: {} peers, {} actors on other nodes, {} capabilities given to them", node_name,
                          (*routes)->peers.size(), (*routes)->routes.size(), (*routes)->grants.size()));
  }
  for (std::size_t i = 0; i < im.manifest.init.size(); ++i) {
    const image_call& c = im.manifest.init[i];
    if (!here(c.actor)) continue;  // another node's to run
    arg_list args;
    if (auto* l = c.args.if_list())
      for (const value& a : *l) {
        if (auto name = actor_arg(a)) {
          args.emplace_back(made.at(*name));  // the image checked the name
          continue;
        }
        args.push_back(a);
      }
    auto out = hv.invoke(*n->actor(c.actor), c.function, std::move(args), invoke_options{.budget = c.budget});
    if (!out) return unexpected(std::move(out).error());
    if (out->error)
      return fail(errc::handler_failed, fmt::format("init message {} ({}.{}{}) failed: {}", i, c.actor, c.function,
                                                    show_args(c.args), out->error->message));
    say(opts, fmt::format("init {}.{}{} -> {} ({} ticks)", c.actor, c.function, show_args(c.args),
                          to_json(out->result).dump(), out->ticks));
  }
  commit_meta records{{std::string(boot_record), encode(to_value(info))}};
  if (!node_name.empty()) records.emplace_back(std::string(node_record), bytes(node_name.begin(), node_name.end()));
  if (auto r = hv.commit(records); !r) return unexpected(std::move(r).error());
  n->serve();
  say(opts, fmt::format("booted: {} log entries, state root {}", hv.log().size(), to_hex(hv.state_root().value())));
  return n;
}

image_log_verifier::image_log_verifier(const exo::image& img, container_registry& registry, const verify_options& opts)
    : img_(img) {
  begin(registry, opts);
}

image_log_verifier::image_log_verifier(exo::image&& img, container_registry& registry, const verify_options& opts)
    : owned_(std::move(img)), img_(*owned_) {
  begin(registry, opts);
}

void image_log_verifier::begin(container_registry& registry, const verify_options& opts) {
  registry_ = &registry;
  opts_ = opts;
  deferred_ = !img_.manifest.nodes.empty();
  if (!deferred_) start();
}

image_log_verifier::image_log_verifier(const exo::image& img, const snapshot& snap, container_registry& registry,
                                       const verify_options& opts)
    : img_(img) {
  registry_ = &registry;
  opts_ = opts;
  std::optional<divergence> wrong_node;
  if (!img_.manifest.nodes.empty())
    if (auto info = check_checkpoint(snap.cp)) wrong_node = find_node(info->init.function);  // (else start() says why)
  start(&snap);
  if (wrong_node) lv_->fail(std::move(*wrong_node));
}

std::optional<divergence> image_log_verifier::find_node(const std::string& config_name) {
  const auto at = config_name.rfind('@');
  const std::string node = at == std::string::npos ? std::string() : config_name.substr(at + 1);
  bool placed = false;
  std::string names;
  for (const image_node& n : img_.manifest.nodes) {
    placed = placed || (n.name == node && config_name == node_config_name(img_, node));
    names += (names.empty() ? "" : ", ") + n.name;
  }
  if (!placed)
    return divergence{0, "boot", fmt::format("the log of one of image {}'s nodes ({}@NODE, NODE one of {})", short_hex(img_.hash), img_.manifest.name, names),
                      fmt::format("the log of a hypervisor named '{}'", config_name), {}};
  node_ = node;
  return std::nullopt;
}

void image_log_verifier::start(const snapshot* from) {
  container_registry& registry = *registry_;
  if (!from) current_ = &img_;
  for (std::size_t i = 0; i < img_.manifest.actors.size(); ++i)
    if (node_.empty() || *img_.manifest.node_of(img_.manifest.actors[i].name) == node_) boot_actors_.push_back(i);
  for (std::size_t i = 0; i < img_.manifest.init.size(); ++i)
    if (node_.empty() || *img_.manifest.node_of(img_.manifest.init[i].actor) == node_) boot_init_.push_back(i);
  if (!node_.empty())  // the other nodes' actors an init message may hand over: by their ids
    if (auto ids = placed_actor_ids(img_))
      for (auto& [name, placed] : *ids)
        if (placed.node != node_) created_[name] = to_value(placed.actor);
  auto loaded = load_containers(img_, registry);
  const config cfg{.name = node_.empty() ? img_.manifest.name : node_config_name(img_, node_),
                   .containers = &registry,
                   .origin = img_.origin(),
                   .node = node_};
  const verify_options& opts = opts_;
  std::optional<error> unusable;  // a snapshot that cannot be started from
  if (from && loaded) {
    memory_store store;
    if (auto imported = import_snapshot(store, *from); !imported) {
      unusable = std::move(imported).error();
    } else if (auto opened = replay_hypervisor::open(std::move(store), cfg); !opened) {
      unusable = std::move(opened).error();
    } else {
      hv_ = std::make_unique<replay_hypervisor>(std::move(*opened));
    }
  }
  if (!hv_) hv_ = std::make_unique<replay_hypervisor>(cfg);
  lv_.emplace(*hv_, opts);
  lv_->check_entries([this](const log_entry& e) -> std::optional<divergence> {
    if (e.kind != "upgrade") return std::nullopt;
    return check_upgrade_entry(e);
  });
  if (!loaded) {
    lv_->fail(divergence{0, "replay", "the containers the image needs", loaded.error().message, {}});
  } else if (unusable) {
    lv_->fail(divergence{0, "checkpoint", "a snapshot to start from", unusable->message, {}});
  } else if (from && lv_->start_at(from->cp).ok()) {
    boot_checked_ = std::max<std::uint64_t>(boot_checked_, lv_->result().entries);
  }
}

std::optional<divergence> image_log_verifier::check_route_entry(const log_entry& e) {
  const std::string expected = fmt::format("node {}'s route entry, as image {} places its actors", node_, short_hex(img_.hash));
  auto bad = [&](std::string got) { return divergence{e.index, "boot", expected, std::move(got), {}}; };
  // The peers' keys are the log's own (which keys the other nodes sign with is not in the
  // image): the routes and grants must be exactly the ones the image gives with them.
  std::map<std::string, public_key> keys;
  const value* peers = e.kind == "route" ? e.args.find("peers") : nullptr;
  if (!peers || !peers->if_list()) return bad(fmt::format("a {} entry", e.kind));
  for (const value& p : *peers->if_list()) {
    const value* nd = p.find("node");
    const value* key = p.find("key");
    if (!nd || !nd->if_string() || !key || !key->if_bytes() || key->if_bytes()->size() != public_key{}.bytes.size())
      return bad("a route entry whose peers are not {node, key}");
    public_key k;
    std::copy(key->if_bytes()->begin(), key->if_bytes()->end(), k.bytes.begin());
    keys[*nd->if_string()] = k;
  }
  auto want = boot_routes(img_, node_, keys, *registry_);
  if (!want) return bad(want.error().message);
  if (!(want->logged_args() == e.args)) return bad("a route entry with other peers, routes or grants");
  return std::nullopt;
}

std::optional<divergence> image_log_verifier::check_upgrade_entry(const log_entry& e) {
  auto bad = [&](std::string expected, std::string got) { return divergence{e.index, "upgrade", std::move(expected), std::move(got), {}}; };
  const value* note = e.args.find("note");
  const value* from = note ? note->find("from") : nullptr;
  const value* to = note ? note->find("to") : nullptr;
  const auto from_hash = origin_image(from), to_hash = origin_image(to);
  if (!from_hash || !to_hash) return bad("an upgrade entry whose note names both images ({from, to} origins)", detail::show(e.args.find("note") ? *note : value{}));
  if (current_ && !(current_->hash == *from_hash))
    return bad(fmt::format("an upgrade from image {}, the one the log ran on", short_hex(current_->hash)),
               fmt::format("an upgrade from image {}", short_hex(*from_hash)));
  auto fetch = [&](const digest& h) -> expected<const image*> {
    if (h == img_.hash) return &img_;
    for (const image& im : upgraded_)
      if (im.hash == h) return &im;
    if (!images_) return fail(errc::invalid_argument, "no images were given to follow upgrades with");
    auto got = images_(h);
    if (!got) return unexpected(std::move(got).error());
    if (!(got->hash == h)) return fail(errc::invalid_argument, fmt::format("the image found for {} is {}", short_hex(h), short_hex(got->hash)));
    upgraded_.push_back(std::move(*got));
    return &upgraded_.back();
  };
  auto before = current_ ? expected<const image*>(current_) : fetch(*from_hash);
  if (!before) return bad(fmt::format("image {}, which the log upgrades from at entry {}", short_hex(*from_hash), e.index), before.error().message);
  auto after = fetch(*to_hash);
  if (!after) return bad(fmt::format("image {}, which the log upgrades to at entry {}", short_hex(*to_hash), e.index), after.error().message);
  if (auto r = load_containers(**after, *registry_); !r) return bad("the containers the new image needs", r.error().message);
  auto plan = upgrade_plan(**before, **after, hv_->host_id());
  if (!plan) return bad("an upgrade between images of one application", plan.error().message);
  if (!(plan->logged_args() == e.args))
    return bad(fmt::format("the upgrade from image {} to image {} ({} actors' code, {} migration calls)", short_hex(*from_hash),
                           short_hex(*to_hash), plan->changes.size(), plan->migrate.size()),
               "an upgrade entry with other code, images or migration calls");
  current_ = *after;
  return std::nullopt;
}

const verdict& image_log_verifier::advance(const log_reader& log) {
  if (deferred_) {  // a placed image: the log's init entry names the node it is from
    if (log.size() == 0) return waiting_;
    deferred_ = false;
    auto raw = log.read(0);
    auto init = raw ? decode_entry(*raw) : unexpected(raw.error());
    std::optional<divergence> wrong_node;
    if (init) wrong_node = find_node(init->function);  // (else the replay reports it)
    start();
    if (wrong_node) lv_->fail(std::move(*wrong_node));
  }
  if (!lv_->result().ok()) return lv_->result();
  // The boot part of the log: the image's creates, a cluster node's route entry, then the
  // init messages.
  const std::uint64_t creates = boot_actors_.size(), routes = node_.empty() ? 0 : 1;
  const std::uint64_t boot_entries = 1 + creates + routes + boot_init_.size();
  for (std::uint64_t& i = boot_checked_; i < boot_entries && i < log.size(); ++i) {
    auto raw = log.read(i);
    auto e = raw ? decode_entry(*raw) : unexpected(raw.error());
    if (!e) break;  // the replay reports it
    if (i <= creates) {
      const image_actor& a = img_.manifest.actors[boot_actors_[i - 1]];
      const value* src = e->args.find("source");
      const bytes* code = img_.blob(a.code);
      if (e->kind != "create" || !src || !src->if_bytes() || *src->if_bytes() != *code) {
        lv_->fail(divergence{i, "boot", fmt::format("the image's create of actor {} ({}, code {})", a.name, a.container, short_hex(a.code)),
                             fmt::format("a {} entry with other code", e->kind), {}});
        return lv_->result();
      }
      // The id it was created as, for init messages that hand it over.
      created_[a.name] = to_value(e->actor);
    } else if (i <= creates + routes) {
      if (auto d = check_route_entry(*e)) {
        lv_->fail(std::move(*d));
        return lv_->result();
      }
    } else {
      const image_call& c = img_.manifest.init[boot_init_[i - 1 - creates - routes]];
      // An actor handed over ({"$actor": NAME}) is logged as capability #k: it must be an
      // actor capability with all rights to the actor the image created under that name.
      value expected_args = c.args;
      bool caps_ok = true;
      if (auto* l = expected_args.if_list()) {
        const auto* caps = e->caps.if_list();
        std::uint32_t k = 0;
        for (value& a : *l) {
          auto name = actor_arg(a);
          if (!name) continue;
          const value* d = caps && k < caps->size() ? &(*caps)[k] : nullptr;
          auto it = created_.find(*name);
          const value* kind = d ? d->find("cap") : nullptr;
          const value* who = d ? d->find("actor") : nullptr;
          const value* r = d ? d->find("rights") : nullptr;
          if (!kind || !(*kind == value("actor")) || !who || it == created_.end() || !(*who == it->second) || !r ||
              !(*r == value(static_cast<std::int64_t>(rights::all))))
            caps_ok = false;
          a = value(cap_handle{k++});
        }
      }
      if (e->kind != "call" || e->function != c.function || !(e->args == expected_args) || !caps_ok) {
        lv_->fail(divergence{i, "boot", fmt::format("the image's init message {}.{}{}", c.actor, c.function, show_args(c.args)),
                             fmt::format("{} {}{}", e->kind, e->function, show_args(e->args)), {}});
        return lv_->result();
      }
    }
  }
  return lv_->advance(log);
}

image_source directory_images(const std::string& data_dir) {
  return [data_dir](const digest& h) -> expected<exo::image> {
    const std::string kept = kept_image_path(data_dir, h);
    std::error_code ec;
    if (fs::exists(kept, ec)) return load_image(kept);
    auto current = load_image((fs::path(data_dir) / image_file_name).string());
    if (current && current->hash == h) return current;
    return fail(errc::invalid_argument, fmt::format("{} keeps no image {} (not in {}/{})", data_dir, short_hex(h), data_dir,
                                                    images_dir_name));
  };
}

image_source listed_images(std::vector<exo::image> images) {
  return [all = std::move(images)](const digest& h) -> expected<exo::image> {
    for (const exo::image& im : all)
      if (im.hash == h) return im;
    return fail(errc::invalid_argument, fmt::format("image {} is not among the images given (--image)", short_hex(h)));
  };
}

expected<digest> booted_image(const log_reader& log) {
  if (log.size() == 0) return fail(errc::invalid_argument, "the log is empty: it names no image");
  auto raw = log.read(0);
  if (!raw) return fail(raw.error().code, "the log's init entry: " + raw.error().message);
  return booted_image(*raw);
}

expected<digest> booted_image(byte_view init_entry) {
  auto init = decode_entry(init_entry);
  if (!init) return fail(init.error().code, "the log's init entry: " + init.error().message);
  auto d = origin_image(init->args.find("origin"));
  if (!d) return fail(errc::invalid_argument, "the log's init entry names no image: it was not booted from one");
  return *d;
}

verdict verify_image_log(const log_reader& log, const exo::image& img, container_registry& registry,
                         const verify_options& opts, image_source images) {
  image_log_verifier v(img, registry, opts);
  v.follow_upgrades(std::move(images));
  return v.advance(log);
}

verdict verify_image_log_from(const log_reader& log, const exo::image& img, const snapshot& snap,
                              container_registry& registry, const verify_options& opts, image_source images) {
  image_log_verifier v(img, snap, registry, opts);
  v.follow_upgrades(std::move(images));
  return v.advance(log);
}

}  // namespace exo
