#include <exo/boot/builtin.hpp>
#include <exo/core/encoding.hpp>

#include <fmt/format.h>

namespace exo {

expected<void> kv_actor::put(context& ctx, std::string key, value v) {
  if (key.empty()) return fail(errc::invalid_argument, "a key cannot be empty");
  if (v.if_cap()) return fail(errc::invalid_argument, "exo.kv keeps values, not capabilities");
  ctx.log(log_level::debug, fmt::format("put {}", key));
  return ctx.storage_put(as_bytes(key), encode(v));
}

expected<value> kv_actor::get(context& ctx, std::string key) const {
  if (key.empty()) return fail(errc::invalid_argument, "a key cannot be empty");
  auto raw = ctx.storage_get(as_bytes(key));
  if (!raw) return unexpected(std::move(raw).error());
  if (!*raw) return value{};
  auto v = decode(**raw);
  if (!v) return fail(errc::malformed, fmt::format("the value under '{}' does not decode: {}", key, v.error().message));
  return std::move(*v);
}

expected<bool> kv_actor::erase(context& ctx, std::string key) {
  if (key.empty()) return fail(errc::invalid_argument, "a key cannot be empty");
  ctx.log(log_level::debug, fmt::format("erase {}", key));
  return ctx.storage_erase(as_bytes(key));
}

}  // namespace exo
