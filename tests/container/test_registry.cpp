// The plugin loader and the registry: the real wasm plugin loads and registers once, and
// what is not a plugin for this exo is refused with an error that says what to do.

#include "../wasm/support.hpp"

#include <filesystem>
#include <fstream>

namespace {

// A native type with no state: the native container can make one from its name alone.
struct greeter {
  std::string hello(exo::context&, std::string who) { return "hello " + who; }
  static constexpr std::string_view exo_name = "greeter";
  static constexpr auto exo_exports = exo::exports(exo::fn<&greeter::hello>("hello", 2));
};

std::string fake(const std::string& variant) { return std::string(EXO_TEST_FAKE_DIR) + "/exo_fake_" + variant + ".so"; }

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(plugins)

BOOST_AUTO_TEST_CASE(the_wasm_plugin_loads_and_registers_under_its_type_id) {
  exo::container_registry reg;
  auto r = reg.load(std::filesystem::path(EXO_TEST_PLUGIN_DIR) / "exo_wasm.so");
  BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  BOOST_TEST((*r)->type_id() == EXO_TYPE_WASM);
  BOOST_TEST((*r)->name() == "wasm");
  BOOST_TEST(reg.find(EXO_TYPE_WASM) == *r);
  BOOST_TEST(reg.find("wasm") == *r);
  // The native container is built in, behind the same interface.
  BOOST_REQUIRE(reg.find(EXO_TYPE_NATIVE));
  BOOST_TEST(reg.find(EXO_TYPE_NATIVE)->name() == "native");
  BOOST_TEST(reg.list().size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_second_registration_of_a_type_id_is_refused) {
  exo::container_registry reg;
  BOOST_REQUIRE(reg.load(std::filesystem::path(EXO_TEST_PLUGIN_DIR) / "exo_wasm.so"));
  auto again = reg.load(std::filesystem::path(EXO_TEST_PLUGIN_DIR) / "exo_wasm.so");
  BOOST_REQUIRE(!again);
  BOOST_TEST(contains(again.error().message, "type ID 2 is already registered"), again.error().message);
  BOOST_TEST(reg.list().size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_plugin_built_for_another_abi_major_is_refused) {
  exo::container_registry reg;
  auto r = reg.load(fake("major"));
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().code == exo::errc::incompatible);
  BOOST_TEST(contains(r.error().message, "built for plugin ABI 99.0"), r.error().message);
  BOOST_TEST(contains(r.error().message, "rebuild the plugin"), r.error().message);
  BOOST_TEST(!reg.find(900u));
}

BOOST_AUTO_TEST_CASE(a_descriptor_smaller_than_the_abi_is_refused) {
  exo::container_registry reg;
  auto r = reg.load(fake("small"));
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().code == exo::errc::incompatible);
  BOOST_TEST(contains(r.error().message, "descriptor is 16 bytes"), r.error().message);
}

BOOST_AUTO_TEST_CASE(a_shared_library_without_the_descriptor_is_refused) {
  exo::container_registry reg;
  auto r = reg.load(fake("nosym"));
  BOOST_REQUIRE(!r);
  BOOST_TEST(contains(r.error().message, "not an exo plugin"), r.error().message);
  BOOST_TEST(contains(r.error().message, "exo_plugin_v1"), r.error().message);
}

BOOST_AUTO_TEST_CASE(a_file_that_is_not_a_shared_library_is_refused) {
  auto dir = std::filesystem::temp_directory_path() / ("exo-not-a-plugin-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "exo_text.so") << "this is not a shared library\n";
    std::ofstream elf(dir / "exo_elf.so", std::ios::binary);
    elf << "\x7f" "ELF" << std::string(60, '\0');  // an ELF header and nothing else
  }
  exo::container_registry reg;
  auto text = reg.load(dir / "exo_text.so");
  BOOST_REQUIRE(!text);
  BOOST_TEST(contains(text.error().message, "not a shared library"), text.error().message);
  auto elf = reg.load(dir / "exo_elf.so");
  BOOST_REQUIRE(!elf);
  BOOST_TEST(contains(elf.error().message, "cannot be loaded"), elf.error().message);
  auto missing = reg.load(dir / "exo_missing.so");
  BOOST_REQUIRE(!missing);
  BOOST_TEST(contains(missing.error().message, "no such file"), missing.error().message);
  // load_dir names the file that is not a plugin.
  auto all = reg.load_dir(dir);
  BOOST_REQUIRE(!all);
  BOOST_TEST(contains(all.error().message, "exo_elf.so"), all.error().message);
  BOOST_TEST(reg.list().size() == 1u);  // only the native container
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(plugins_are_found_on_the_search_path_and_the_environment) {
  exo::container_registry reg;
  auto none = reg.load_named("wasm");
  BOOST_REQUIRE(!none);
  BOOST_TEST(contains(none.error().message, "EXO_PLUGIN_PATH"), none.error().message);
  ::setenv("EXO_PLUGIN_PATH", "/nonexistent:" EXO_TEST_PLUGIN_DIR, 1);
  auto r = reg.load_named("wasm");
  ::unsetenv("EXO_PLUGIN_PATH");
  BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  BOOST_TEST((*r)->type_id() == EXO_TYPE_WASM);
}

BOOST_AUTO_TEST_CASE(compiled_code_keeps_the_plugin_loaded_after_the_registry_is_gone) {
  exo::code_ptr code;
  {
    wasm_test::registry r;
    auto c = r.reg.compile(EXO_TYPE_WASM, wasm_test::example("counter"));
    BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
    code = *c;
  }
  // The registry and its plugin_container are destroyed; the library is not unloaded while
  // the code lives, so its functions still run.
  BOOST_TEST(code->functions.size() == 2u);
  auto inst = code->load(*code, exo::value{});
  BOOST_REQUIRE(inst);
  code->destroy(*inst);
}

BOOST_AUTO_TEST_CASE(native_types_are_code_of_the_native_container) {
  exo::container_registry reg;
  reg.native().add<greeter>();
  auto code = reg.compile(EXO_TYPE_NATIVE, exo::as_bytes(std::string_view("greeter")));
  BOOST_REQUIRE(code);
  BOOST_TEST(code->get() == &exo::native_type<greeter>());
  // Created by code through the hypervisor, like a plugin's code.
  exo::hypervisor<> hv(exo::config{.name = "native-code", .containers = &reg});
  auto g = hv.create_code("native", exo::as_bytes(std::string_view("greeter")));
  BOOST_REQUIRE_MESSAGE(g, (g ? "" : g.error().message));
  auto o = wasm_test::call(hv, *g, "hello", wasm_test::args(std::string("exo")));
  BOOST_REQUIRE(o.result && o.result->if_string());
  BOOST_TEST(*o.result->if_string() == "hello exo");

  auto missing = reg.compile(EXO_TYPE_NATIVE, exo::as_bytes(std::string_view("nothing")));
  BOOST_REQUIRE(!missing);
  BOOST_TEST(contains(missing.error().message, "no native type named 'nothing'"), missing.error().message);
  auto unknown = reg.compile(77, exo::as_bytes(std::string_view("x")));
  BOOST_REQUIRE(!unknown);
  BOOST_TEST(contains(unknown.error().message, "type ID 77"), unknown.error().message);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {
// Two versions of one native type: the same name, other exports, so other code.
struct greeter_v2 {
  std::string hello(exo::context&, std::string who) { return "hi " + who; }
  std::string bye(exo::context&, std::string who) { return "bye " + who; }
  static constexpr std::string_view exo_name = "greeter";
  static constexpr auto exo_exports =
      exo::exports(exo::fn<&greeter_v2::hello>("hello", 2), exo::fn<&greeter_v2::bye>("bye", 2));
};
}  // namespace

BOOST_AUTO_TEST_SUITE(native_container)

BOOST_AUTO_TEST_CASE(native_types_are_known_by_name_and_by_code_hash) {
  exo::container_registry reg;
  const auto& v1 = exo::native_type<greeter>();
  const auto& v2 = exo::native_type<greeter_v2>();
  BOOST_TEST(reg.native().find(v1.code_hash) == nullptr);
  reg.native().add<greeter>();
  reg.native().add<greeter>();  // again: harmless
  BOOST_TEST(reg.native().find(v1.code_hash) == &v1);
  // Another type of the same name takes the name; both stay known by their code.
  reg.native().add<greeter_v2>();
  BOOST_TEST(reg.native().find(v1.code_hash) == &v1);
  BOOST_TEST(reg.native().find(v2.code_hash) == &v2);
  auto by_name = reg.native().compile(exo::as_bytes(std::string_view("greeter")), reg.limits());
  BOOST_REQUIRE(by_name);
  BOOST_TEST(by_name->get() == &v2);
  auto unknown = reg.native().compile(exo::as_bytes(std::string_view("nobody")), reg.limits());
  BOOST_REQUIRE(!unknown);
  BOOST_TEST(contains(unknown.error().message, "no native type named 'nobody'"), unknown.error().message);
  BOOST_TEST(contains(unknown.error().message, "native().add<T>()"), unknown.error().message);
}

BOOST_AUTO_TEST_SUITE_END()
