#include <exo/core/encoding.hpp>
#include <exo/core/reflect.hpp>
#include <exo/rpc/protocol.hpp>

#include <fmt/format.h>

namespace exo::rpc {

bytes call_message(const digest& image, std::string_view method, const value& args, std::uint64_t seq) {
  return encode(value::make_map({{"domain", value(std::string(call_domain))},
                                 {"image", to_value(image)},
                                 {"method", value(std::string(method))},
                                 {"args", args},
                                 {"seq", value(static_cast<std::int64_t>(seq))}}));
}

expected<ws_url> parse_url(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return fail(errc::invalid_argument, fmt::format("'{}' is not a ws://HOST:PORT URL: {}", url, why));
  };
  constexpr std::string_view scheme = "ws://";
  if (!url.starts_with(scheme)) return bad("it must start with ws://");
  std::string_view rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  ws_url u;
  u.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  auto colon = hostport.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == hostport.size()) return bad("it needs HOST:PORT");
  u.host = std::string(hostport.substr(0, colon));
  u.port = std::string(hostport.substr(colon + 1));
  for (char c : u.port)
    if (c < '0' || c > '9') return bad("the port must be a number");
  return u;
}

}  // namespace exo::rpc
