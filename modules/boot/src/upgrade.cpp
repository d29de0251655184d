#include <exo/boot/upgrade.hpp>

#include <exo/boot/node.hpp>
#include <exo/core/encoding.hpp>

#include <fmt/format.h>

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

expected<upgrade_report> check_upgrade(const log_reader& log, const image& current, const image& next,
                                       container_registry& registry,
                                       const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  if (auto same = check_same_application(current, next); !same) return unexpected(std::move(same).error());
  if (log.base() != 0)
    return fail(errc::invalid_argument, fmt::format("the log was pruned before entry {}: an upgrade is checked against "
                                                    "the whole history (from a checkpoint: not built yet)",
                                                    log.base()));
  if (auto r = load_containers(current, registry); !r) return unexpected(std::move(r).error());
  if (auto r = load_containers(next, registry); !r) return unexpected(std::move(r).error());
  // The log must be the current image's (its init entry names it).
  if (log.size() == 0) return upgrade_report{};
  auto raw0 = log.read(0);
  auto init = raw0 ? decode_entry(*raw0) : unexpected(raw0.error());
  if (!init) return unexpected(std::move(init).error());
  const value* origin = init->args.find("origin");
  if (!origin || !(*origin == current.origin()))
    return fail(errc::invalid_argument, fmt::format("the log was not booted from image {}", short_hex(current.hash)));

  // The boot's creates, with the new code: entry i (1 to the number of actors) creates actor
  // i - 1 of the manifest.
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
    swaps.push_back({*blob, (*compiled)->code_hash});
  }

  replay_hypervisor hv(config{.name = current.manifest.name, .containers = &registry, .origin = current.origin()});
  hv.sign_log(false);
  upgrade_report report;
  const std::uint64_t n = log.size();
  for (std::uint64_t i = 1; i < n; ++i) {
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
    auto diverge = [&](std::string field, std::string was, std::string now) {
      report.first = upgrade_divergence{i, logged->actor, logged->function, std::move(field), std::move(was), std::move(now)};
      return report;
    };
    auto got = hv.replay(input);
    if (!got) return diverge("replay", "an input the new code can take", to_string(got.error()));
    if (!(got->actor == logged->actor)) return diverge("actor", to_hex(logged->actor), to_hex(got->actor));
    if (!(got->result == logged->result)) return diverge("result", detail::show(logged->result), detail::show(got->result));
    if (!(got->result_caps == logged->result_caps))
      return diverge("result_caps", detail::show(logged->result_caps), detail::show(got->result_caps));
    if (got->error != logged->error) return diverge("error", detail::show(logged->error), detail::show(got->error));
    if (!(got->outputs == logged->outputs)) return diverge("outputs", detail::show(logged->outputs), detail::show(got->outputs));
    report.entries = i;
    if (progress && (i % 1000 == 0 || i + 1 == n)) progress(i, n - 1);
  }
  return report;
}

}  // namespace exo
