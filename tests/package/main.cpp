// Built against an *installed* exo by the package_config test.
#include <exo/exo.hpp>

struct echo {
  std::int64_t last = 0;
  void set(exo::context&, std::int64_t v) { last = v; }
  static constexpr std::string_view exo_name = "echo";
  static constexpr auto exo_exports = exo::exports(exo::fn<&echo::set>("set", 1));
};

int main() {
  exo::hypervisor<> hv;
  auto a = hv.create(echo{});
  if (!hv.call(*hv.function_cap(a, "set"), 42)) return 1;
  hv.run();
  return hv.state_of<echo>(*hv.actor_id(a))->last == 42 ? 0 : 1;
}
