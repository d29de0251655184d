#include <exo/boot/node.hpp>
#include <exo/core/encoding.hpp>
#include <exo/core/json.hpp>
#include <exo/core/sealed_file.hpp>

#include <fmt/format.h>

#include <filesystem>

namespace exo {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view boot_record = "exo.boot";

// The boot record: which image the directory was booted from and its actors' ids.
struct boot_info {
  BOOST_HANA_DEFINE_STRUCT(boot_info, (digest, image), (std::vector<std::string>, names), (std::vector<id>, ids));
};

void say(const boot_options& o, const std::string& line) {
  if (o.progress) o.progress(line);
}

std::string show_args(const value& args) { return to_json(args).dump(); }

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
  for (const image_export& e : img_.manifest.exports) d.methods.push_back(export_method(e, *actor(e.actor)));
  service_.emplace(*hv_, std::move(d), std::vector<std::pair<std::string, id>>(actors_.begin(), actors_.end()));
  service_->serve_image(&img_.file);
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
  return start(std::move(*img), data_dir, registry, opts);
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
  return start(std::move(*img), data_dir, registry, opts);
}

expected<std::unique_ptr<node>> node::start(exo::image img, const std::string& data_dir, container_registry& registry,
                                            const boot_options& opts) {
  std::unique_ptr<node> n(new node());
  n->dir_ = data_dir;
  const std::string kept = (fs::path(data_dir) / image_file_name).string();
  std::error_code ec;
  const bool had_image = fs::exists(kept, ec);
  if (had_image) {
    auto old = load_image(kept);
    if (!old) return fail(old.error().code, fmt::format("{} keeps a damaged image: {}", data_dir, old.error().message));
    if (!(old->hash == img.hash))
      return fail(errc::invalid_argument,
                  fmt::format("{} was booted from image {} ('{}'), not this image {} ('{}'); boot this one on another "
                              "data directory",
                              data_dir, short_hex(old->hash), old->manifest.name, short_hex(img.hash), img.manifest.name));
  }
  say(opts, fmt::format("image {} ('{}'): {} actors, {} init messages, {} exported functions", short_hex(img.hash),
                        img.manifest.name, img.manifest.actors.size(), img.manifest.init.size(),
                        img.manifest.exports.size()));
  if (auto r = load_containers(img, registry); !r) return unexpected(std::move(r).error());
  for (auto& c : img.manifest.containers)
    say(opts, fmt::format("container {} (type {}, version {}) loaded", c.name, c.type_id, c.version));

  lmdb_options store_options = opts.store;
  store_options.create = !had_image;
  auto store = lmdb_store::open(data_dir, store_options);
  if (!store) return unexpected(std::move(store).error());
  auto record = store->read_meta(boot_record);
  if (!record) return unexpected(std::move(record).error());
  auto opened = node_hypervisor::open(std::move(*store),
                                      config{.name = img.manifest.name, .containers = &registry, .origin = img.origin()});
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
  const exo::image& im = n->img_;

  if (*record) {  // booted before: resume
    auto v = decode(**record);
    auto info = v ? from_value<boot_info>(std::move(*v), "boot record: ") : unexpected(std::move(v).error());
    if (!info || info->names.size() != info->ids.size())
      return fail(errc::malformed, fmt::format("{}: its boot record is damaged", data_dir));
    if (!(info->image == im.hash))
      return fail(errc::invalid_argument, fmt::format("{} was booted from image {}, not {}", data_dir,
                                                      short_hex(info->image), short_hex(im.hash)));
    for (std::size_t i = 0; i < info->names.size(); ++i) n->actors_.emplace(info->names[i], info->ids[i]);
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
  for (std::size_t i = 0; i < im.manifest.init.size(); ++i) {
    const image_call& c = im.manifest.init[i];
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
  if (auto r = hv.commit({{std::string(boot_record), encode(to_value(info))}}); !r) return unexpected(std::move(r).error());
  n->serve();
  say(opts, fmt::format("booted: {} log entries, state root {}", hv.log().size(), to_hex(hv.state_root().value())));
  return n;
}

image_log_verifier::image_log_verifier(const exo::image& img, container_registry& registry, const verify_options& opts)
    : img_(img) {
  start(registry, opts);
}

image_log_verifier::image_log_verifier(exo::image&& img, container_registry& registry, const verify_options& opts)
    : owned_(std::move(img)), img_(*owned_) {
  start(registry, opts);
}

image_log_verifier::image_log_verifier(const exo::image& img, const snapshot& snap, container_registry& registry,
                                       const verify_options& opts)
    : img_(img) {
  start(registry, opts, &snap);
}

void image_log_verifier::start(container_registry& registry, const verify_options& opts, const snapshot* from) {
  auto loaded = load_containers(img_, registry);
  const config cfg{.name = img_.manifest.name, .containers = &registry, .origin = img_.origin()};
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
  if (!loaded) {
    lv_->fail(divergence{0, "replay", "the containers the image needs", loaded.error().message, {}});
  } else if (unusable) {
    lv_->fail(divergence{0, "checkpoint", "a snapshot to start from", unusable->message, {}});
  } else if (from && lv_->start_at(from->cp).ok()) {
    boot_checked_ = std::max<std::uint64_t>(boot_checked_, lv_->result().entries);
  }
}

const verdict& image_log_verifier::advance(const log_reader& log) {
  if (!lv_->result().ok()) return lv_->result();
  // The boot part of the log: the image's creates, then its init messages.
  const std::uint64_t boot_entries = 1 + img_.manifest.actors.size() + img_.manifest.init.size();
  for (std::uint64_t& i = boot_checked_; i < boot_entries && i < log.size(); ++i) {
    auto raw = log.read(i);
    auto e = raw ? decode_entry(*raw) : unexpected(raw.error());
    if (!e) break;  // the replay reports it
    if (i <= img_.manifest.actors.size()) {
      const image_actor& a = img_.manifest.actors[i - 1];
      const value* src = e->args.find("source");
      const bytes* code = img_.blob(a.code);
      if (e->kind != "create" || !src || !src->if_bytes() || *src->if_bytes() != *code) {
        lv_->fail(divergence{i, "boot", fmt::format("the image's create of actor {} ({}, code {})", a.name, a.container, short_hex(a.code)),
                             fmt::format("a {} entry with other code", e->kind), {}});
        return lv_->result();
      }
      // The id it was created as, for init messages that hand it over.
      created_[a.name] = to_value(e->actor);
    } else {
      const image_call& c = img_.manifest.init[i - 1 - img_.manifest.actors.size()];
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

verdict verify_image_log(const log_reader& log, const exo::image& img, container_registry& registry,
                         const verify_options& opts) {
  image_log_verifier v(img, registry, opts);
  return v.advance(log);
}

verdict verify_image_log_from(const log_reader& log, const exo::image& img, const snapshot& snap,
                              container_registry& registry, const verify_options& opts) {
  image_log_verifier v(img, snap, registry, opts);
  return v.advance(log);
}

}  // namespace exo
