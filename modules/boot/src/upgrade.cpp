#include <exo/boot/upgrade.hpp>

#include <exo/boot/node.hpp>
#include <exo/core/encoding.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>

namespace exo {

std::string upgrade_divergence::to_string() const {
  return fmt::format("entry {} ({}.{}), field '{}': the log says {}, but the new code gives {}", index, short_hex(actor),
                     function, field, logged, upgraded);
}

expected<void> check_same_application(const image& current, const image& next) {
  const auto& a = current.manifest;
  const auto& b = next.manifest;
  auto differs = [&](const std::string& what) {
    return fail(errc::invalid_argument, fmt::format("image {} ('{}') is not an upgrade of image {} ('{}'): {}", short_hex(next.hash),
                                                    b.name, short_hex(current.hash), a.name, what));
  };
  if (a.name != b.name) return differs("it is another application (another name)");
  if (a.actors.size() != b.actors.size())
    return differs(fmt::format("it creates {} actors, not {}", b.actors.size(), a.actors.size()));
  for (std::size_t i = 0; i < a.actors.size(); ++i)
    if (a.actors[i].name != b.actors[i].name || a.actors[i].container != b.actors[i].container)
      return differs(fmt::format("its actor {} is {} ({}), not {} ({})", i, b.actors[i].name, b.actors[i].container,
                                 a.actors[i].name, a.actors[i].container));
  return {};
}

expected<upgrade_request> upgrade_plan(const image& current, const image& next, const id& host) {
  if (auto same = check_same_application(current, next); !same) return unexpected(std::move(same).error());
  upgrade_request r;
  r.note = value::make_map({{"from", current.origin()}, {"to", next.origin()}});
  const auto& actors = next.manifest.actors;
  for (std::size_t i = 0; i < actors.size(); ++i) {
    if (actors[i].code == current.manifest.actors[i].code) continue;
    const bytes* code = next.blob(actors[i].code);  // read_image checked that it is there
    r.changes.push_back(upgrade_request::code_change{derive_actor_id(host, i), actors[i].container, *code});
  }
  for (const image_call& c : next.manifest.migrate) {
    auto it = std::find_if(actors.begin(), actors.end(), [&](const image_actor& a) { return a.name == c.actor; });
    const auto i = static_cast<std::uint64_t>(it - actors.begin());  // read_image checked the name
    r.migrate.push_back(upgrade_request::call{derive_actor_id(host, i), c.function, c.args, c.budget});
  }
  return r;
}

expected<upgrade_report> check_upgrade(const log_reader& log, const image& current, const image& next,
                                       container_registry& registry,
                                       const std::function<void(std::uint64_t, std::uint64_t)>& progress,
                                       const snapshot* from) {
  if (auto same = check_same_application(current, next); !same) return unexpected(std::move(same).error());
  if (log.base() != 0 && !from)
    return fail(errc::invalid_argument, fmt::format("the log was pruned before entry {}: check the upgrade from its "
                                                    "checkpoint (the snapshot the data directory records)",
                                                    log.base()));
  if (auto r = load_containers(current, registry); !r) return unexpected(std::move(r).error());
  if (auto r = load_containers(next, registry); !r) return unexpected(std::move(r).error());
  if (log.size() == 0) return upgrade_report{};
  // The log must be this application's; its init entry names the image it was booted from
  // (`current` itself, or an image `current` was an upgrade of).
  auto raw0 = log.read(0);
  auto init = raw0 ? decode_entry(*raw0) : unexpected(raw0.error());
  if (!init) return unexpected(std::move(init).error());
  if (init->kind != "init" || init->function != current.manifest.name)
    return fail(errc::invalid_argument, fmt::format("the log is not of application '{}' (its init entry names '{}')",
                                                    current.manifest.name, init->function));
  const value* origin = init->args.find("origin");
  // The image the log runs on as it goes: the booted one, then each upgrade's new one.
  std::optional<digest> runs = from ? std::nullopt : origin_image(origin);
  const config cfg{.name = current.manifest.name, .containers = &registry, .origin = origin ? *origin : value{}};

  // The new code of each of the image's actors (actor i is entry 1 + i of a whole log).
  struct swap {
    bytes source;
    digest code;
  };
  std::vector<swap> swaps;
  for (std::size_t i = 0; i < next.manifest.actors.size(); ++i) {
    const image_actor& a = next.manifest.actors[i];
    const container* ct = registry.find(a.container);
    const bytes* blob = next.blob(a.code);
    if (!ct || !blob) return fail(errc::invalid_argument, fmt::format("image {} has no code for actor {}", short_hex(next.hash), a.name));
    auto compiled = ct->compile(*blob, registry.limits());
    if (!compiled)
      return fail(compiled.error().code, fmt::format("the new code of actor {} ({}): {}", a.name, a.container, compiled.error().message));
    // Capabilities name functions by position (kernel::replace_code): say so before replaying.
    const bytes* old_blob = current.blob(current.manifest.actors[i].code);
    auto old = old_blob ? ct->compile(*old_blob, registry.limits()) : fail(errc::malformed, "");
    if (old)
      if (auto kept = keeps_exports(**old, **compiled, a.name); !kept) return unexpected(std::move(kept).error());
    swaps.push_back({*blob, (*compiled)->code_hash});
  }

  std::unique_ptr<replay_hypervisor> hv;
  std::uint64_t first = 1;
  if (from) {
    // From the checkpoint's state, with the image's actors pointed at the new code.
    auto info = check_checkpoint(from->cp);
    if (!info) return fail(info.error().code, "the checkpoint: " + info.error().message);
    if (from->cp.init != *raw0) return fail(errc::invalid_argument, "the checkpoint is of another log (its init entry differs)");
    memory_store store;
    if (auto r = import_snapshot(store, *from); !r) return fail(r.error().code, "the checkpoint's snapshot: " + r.error().message);
    auto opened = replay_hypervisor::open(std::move(store), cfg);
    if (!opened) return fail(opened.error().code, "the checkpoint's state: " + opened.error().message);
    hv = std::make_unique<replay_hypervisor>(std::move(*opened));
    for (std::size_t i = 0; i < next.manifest.actors.size(); ++i)
      if (auto r = hv->replace_code(derive_actor_id(hv->host_id(), i), next.manifest.actors[i].container, swaps[i].source); !r)
        return fail(r.error().code, fmt::format("actor {} at the checkpoint: {}", next.manifest.actors[i].name, r.error().message));
    first = info->index + 1;
  } else {
    hv = std::make_unique<replay_hypervisor>(cfg);
  }
  hv->sign_log(false);
  upgrade_report report;
  const std::uint64_t n = log.size();
  for (std::uint64_t i = first; i < n; ++i) {
    auto raw = log.read(i);
    auto logged = raw ? decode_entry(*raw) : unexpected(raw.error());
    if (!logged) return unexpected(std::move(logged).error());
    log_entry input = *logged;
    if (input.kind == "create" && i <= swaps.size() && input.args.if_map()) {
      for (auto& [k, v] : *input.args.if_map()) {
        if (k == "source") v = value(swaps[i - 1].source);
        if (k == "code") v = to_value(swaps[i - 1].code);
      }
    }
    const bool earlier_upgrade = input.kind == "upgrade";
    if (earlier_upgrade) {
      // An earlier upgrade: the actors run the new code already, and its migrations converted
      // state for code other than this; it stays an entry (so later entries keep their
      // indices, which seed their randomness), doing nothing.
      const value* note = input.args.find("note");
      runs = origin_image(note ? note->find("to") : nullptr);
      input.args = value::make_map({{"note", note ? *note : value{}}, {"changes", value(value::list{})}, {"migrate", value(value::list{})}});
      input.outputs = value(value::list{});
    }
    auto diverge = [&](std::string field, std::string was, std::string now) {
      report.first = upgrade_divergence{i, logged->actor, logged->function, std::move(field), std::move(was), std::move(now)};
      return report;
    };
    auto got = hv->replay(input);
    if (!got) return diverge("replay", "an input the new code can take", to_string(got.error()));
    if (!earlier_upgrade) {
      if (!(got->actor == logged->actor)) return diverge("actor", to_hex(logged->actor), to_hex(got->actor));
      if (!(got->result == logged->result)) return diverge("result", detail::show(logged->result), detail::show(got->result));
      if (!(got->result_caps == logged->result_caps))
        return diverge("result_caps", detail::show(logged->result_caps), detail::show(got->result_caps));
      if (got->error != logged->error) return diverge("error", detail::show(logged->error), detail::show(got->error));
      if (!(got->outputs == logged->outputs)) return diverge("outputs", detail::show(logged->outputs), detail::show(got->outputs));
    }
    report.entries = i - first + 1;
    if (progress && (report.entries % 1000 == 0 || i + 1 == n)) progress(report.entries, n - first);
  }
  if (runs && !(*runs == current.hash))
    return fail(errc::invalid_argument, fmt::format("the log's node runs image {}, not image {}: check an upgrade from "
                                                    "the image it runs",
                                                    short_hex(*runs), short_hex(current.hash)));
  return report;
}

expected<upgrade_outcome> upgrade_directory(const std::string& dir, const image& next, container_registry& registry,
                                            const upgrade_options& options) {
  using clock = std::chrono::steady_clock;
  auto n = node::open(dir, registry);
  if (!n) return unexpected(std::move(n).error());
  node& nd = **n;
  if (nd.image().hash == next.hash)
    return fail(errc::invalid_argument, fmt::format("{} runs image {} already", dir, short_hex(next.hash)));
  if (auto same = check_same_application(nd.image(), next); !same) return unexpected(std::move(same).error());
  auto& hv = nd.hypervisor();
  std::optional<snapshot> snap;
  if (options.from_checkpoint || hv.log().base() != 0) {
    auto s = recorded_snapshot(hv.store(), hv.log());
    if (!s) return unexpected(std::move(s).error());
    snap = std::move(*s);
  }
  upgrade_outcome out;
  auto t0 = clock::now();
  auto report = check_upgrade(hv.log(), nd.image(), next, registry, options.progress, snap ? &*snap : nullptr);
  if (!report) return unexpected(std::move(report).error());
  out.check = std::move(*report);
  out.from_checkpoint = snap.has_value();
  out.check_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  if (!out.check.ok() || options.check_only) return out;
  auto t1 = clock::now();
  auto done = nd.upgrade(next);
  if (!done) return unexpected(std::move(done).error());
  out.done = std::move(*done);
  out.switch_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return out;
}

}  // namespace exo
