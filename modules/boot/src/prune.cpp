#include <exo/boot/prune.hpp>

#include <exo/core/encoding.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace exo {

using dir_log = store_log<lmdb_store>;

expected<checkpoint_info> record_checkpoint(lmdb_store& store, const dir_log& log) {
  auto cp = checkpoint_at_end(log);
  if (!cp) return unexpected(std::move(cp).error());
  auto info = check_checkpoint(*cp);
  if (!info) return unexpected(std::move(info).error());
  auto head = store.head();
  if (!head) return unexpected(std::move(head).error());
  if (!(head->hash == info->root))
    return fail(errc::malformed, fmt::format("the log ends at state root {}, but the store is at {}: the data directory "
                                             "is damaged",
                                             to_hex(info->root), to_hex(head->hash)));
  const value rec = value::make_map(
      {{"index", value(static_cast<std::int64_t>(info->index))}, {"head", value(cp->head)}});
  commit_batch batch{store.next_position(), {}, *head, {{std::string(checkpoint_record), encode(rec)}}};
  if (auto r = store.commit(std::move(batch)); !r) return unexpected(std::move(r).error());
  return info;
}

expected<std::optional<checkpoint>> recorded_checkpoint(const lmdb_store& store, const log_reader& log) {
  auto raw = store.read_meta(checkpoint_record);
  if (!raw) return unexpected(std::move(raw).error());
  if (!*raw) return std::optional<checkpoint>{};
  auto damaged = [](std::string_view why) {
    return fail(errc::malformed, fmt::format("the data directory's checkpoint record is damaged: {}", why));
  };
  auto v = decode(**raw);
  if (!v) return damaged(v.error().message);
  const value* index = v->find("index");
  const value* head = v->find("head");
  if (!index || !index->if_i64() || *index->if_i64() < 0 || !head || !head->if_bytes())
    return damaged("it is not {index, head}");
  const auto k = static_cast<std::uint64_t>(*index->if_i64());
  auto init = log.read(0);
  if (!init) return unexpected(std::move(init).error());
  auto entry = log.read(k);
  if (!entry) return unexpected(std::move(entry).error());
  checkpoint cp{std::move(*init), std::move(*entry), *head->if_bytes()};
  if (auto info = check_checkpoint(cp); !info) return damaged(info.error().message);
  return std::optional<checkpoint>{std::move(cp)};
}

expected<snapshot> recorded_snapshot(const lmdb_store& store, const log_reader& log) {
  auto cp = recorded_checkpoint(store, log);
  if (!cp) return unexpected(std::move(cp).error());
  if (!*cp)
    return fail(errc::invalid_argument, fmt::format("data directory {} records no checkpoint (exo checkpoint DIR records "
                                                    "one)",
                                                    store.directory()));
  auto info = check_checkpoint(**cp);
  auto nodes = collect_nodes(store, info->root);
  if (!nodes) return unexpected(std::move(nodes).error());
  return snapshot{std::move(**cp), std::move(*nodes)};
}

expected<prune_report> prune_directory(const std::string& dir, const prune_options& options) {
  auto store = lmdb_store::open(dir);
  if (!store) return unexpected(std::move(store).error());
  auto log = dir_log::open(*store);
  if (!log) return unexpected(std::move(log).error());
  return prune_store(*store, *log, options);
}

expected<prune_report> prune_store(lmdb_store& store, const dir_log& log, const prune_options& options) {
  auto say = [&](const std::string& line) {
    if (options.progress) options.progress(line);
  };
  const std::string& dir = store.directory();
  auto cp = recorded_checkpoint(store, log);
  if (!cp) return unexpected(std::move(cp).error());
  std::optional<checkpoint_info> at;
  if (*cp) at = *check_checkpoint(**cp);
  if (options.before_checkpoint && !at)
    return fail(errc::invalid_argument, fmt::format("{} records no checkpoint to prune the log before; record one with "
                                                    "exo checkpoint {}",
                                                    dir, dir));
  auto roots = store.roots();
  if (!roots) return unexpected(std::move(roots).error());
  prune_request req;
  req.per_transaction = options.per_transaction;
  req.progress = options.progress;
  const std::uint64_t keep = std::max<std::uint64_t>(options.keep_roots, 1);
  for (std::size_t i = roots->size() > keep ? roots->size() - keep : 0; i < roots->size(); ++i)
    req.keep.push_back((*roots)[i].hash);
  if (at && !at->root.is_zero()) req.keep.push_back(at->root);
  prune_report report;
  report.base = log.base();
  if (options.before_checkpoint && at->index > 1) {
    // Entries 1 to K - 1 (those a stopped prune left, when run again); the new base is
    // written first, so a prune stopped on the way leaves a log that says what it lacks.
    req.meta.emplace_back(std::string(dir_log::base_record), dir_log::encode_base(at->index));
    req.drop_meta.emplace(dir_log::entry_record(1), dir_log::entry_record(at->index));
    report.base = at->index;
    say(fmt::format("dropping log entries before the checkpoint at entry {} (but entry 0)", at->index));
  }
  auto r = store.prune(req);
  if (!r) return unexpected(std::move(r).error());
  report.store = *r;
  report.entries_dropped = r->meta_dropped;
  return report;
}

}  // namespace exo
