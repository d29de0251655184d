// The container registry, the plugin loader, and the bridge between exo::context and the C
// host API a plugin calls (plugin/abi.h).
#include <exo/container/context.hpp>
#include <exo/container/registry.hpp>
#include <exo/core/encoding.hpp>

#include <boost/dll/shared_library.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>

namespace exo {

// The C ABI spells exo's error codes and rights as plain numbers; they must stay equal.
static_assert(EXO_ERR_INVALID_ARGUMENT == static_cast<int>(errc::invalid_argument));
static_assert(EXO_ERR_MALFORMED == static_cast<int>(errc::malformed));
static_assert(EXO_ERR_OUT_OF_TICKS == static_cast<int>(errc::out_of_ticks));
static_assert(EXO_ERR_NO_SUCH_ACTOR == static_cast<int>(errc::no_such_actor));
static_assert(EXO_ERR_NO_SUCH_FUNCTION == static_cast<int>(errc::no_such_function));
static_assert(EXO_ERR_BAD_CAPABILITY == static_cast<int>(errc::bad_capability));
static_assert(EXO_ERR_WRONG_KIND == static_cast<int>(errc::wrong_kind));
static_assert(EXO_ERR_MISSING_RIGHT == static_cast<int>(errc::missing_right));
static_assert(EXO_ERR_HANDLER_FAILED == static_cast<int>(errc::handler_failed));
static_assert(EXO_ERR_HANDLER_THREW == static_cast<int>(errc::handler_threw));
static_assert(EXO_ERR_LIMIT_EXCEEDED == static_cast<int>(errc::limit_exceeded));
static_assert(EXO_ERR_TYPE_MISMATCH == static_cast<int>(errc::type_mismatch));
static_assert(EXO_ERR_INTERNAL == static_cast<int>(errc::internal));
static_assert(EXO_ERR_TRAP == static_cast<int>(errc::trap));
static_assert(EXO_ERR_INCOMPATIBLE == static_cast<int>(errc::incompatible));
static_assert(EXO_ERR_FAULT == static_cast<int>(errc::fault));
static_assert(EXO_LOG_TRACE == static_cast<unsigned>(log_level::trace));
static_assert(EXO_LOG_DEBUG == static_cast<unsigned>(log_level::debug));
static_assert(EXO_LOG_INFO == static_cast<unsigned>(log_level::info));
static_assert(EXO_LOG_WARN == static_cast<unsigned>(log_level::warn));
static_assert(EXO_LOG_ERROR == static_cast<unsigned>(log_level::error));
static_assert(EXO_RIGHT_CALL == static_cast<unsigned>(rights::call));
static_assert(EXO_RIGHT_TRANSFER == static_cast<unsigned>(rights::transfer));
static_assert(EXO_RIGHT_DERIVE == static_cast<unsigned>(rights::derive));
static_assert((EXO_RIGHT_CALL | EXO_RIGHT_TRANSFER | EXO_RIGHT_DERIVE) == static_cast<unsigned>(rights::all));

struct plugin_container::library {
  boost::dll::shared_library lib;
  const exo_plugin* desc = nullptr;
  std::string name, version;
};

namespace {

namespace fs = std::filesystem;
using library = plugin_container::library;

// ------------------------------------------------------------------ the host API

// What the host keeps for one message running in a plugin: the exo_call behind the handle.
struct host_call {
  context& ctx;
  std::string error;        // the last failed call's message
  std::optional<bytes> got;  // storage_get's value, valid until the next call
  bool result_set = false;
};

host_call& call_of(exo_call* c) noexcept { return *reinterpret_cast<host_call*>(c); }
exo_span span_of(byte_view b) noexcept { return exo_span{b.data(), b.size()}; }
byte_view view_of(exo_span s) noexcept { return s.data ? byte_view(s.data, s.size) : byte_view(); }
std::string_view text_of(exo_span s) noexcept {
  return s.data ? std::string_view(reinterpret_cast<const char*>(s.data), s.size) : std::string_view();
}

exo_status failed(host_call& c, const error& e) {
  c.error = e.message;
  return static_cast<exo_status>(e.code);
}
template <class T>
exo_status status(host_call& c, const expected<T>& r) {
  return r ? EXO_OK : failed(c, r.error());
}
expected<rights> rights_of(std::uint32_t r) {
  if (r > static_cast<std::uint32_t>(rights::all))
    return fail(errc::invalid_argument, fmt::format("rights {:#x} has bits other than call, transfer and derive", r));
  return static_cast<rights>(r);
}

// Each function catches everything: nothing may unwind into the plugin.
template <class F>
exo_status guarded(exo_call* c, F&& f) noexcept {
  host_call& hc = call_of(c);
  try {
    hc.got.reset();
    return f(hc);
  } catch (const std::exception& e) {
    hc.error = fmt::format("host error: {}", e.what());
    return EXO_ERR_INTERNAL;
  }
}

exo_status host_charge(exo_call* c, std::uint64_t ticks) {
  return guarded(c, [&](host_call& hc) { return status(hc, hc.ctx.charge(ticks)); });
}
std::uint64_t host_remaining(exo_call* c) { return call_of(c).ctx.remaining(); }
std::uint64_t host_now(exo_call* c) { return call_of(c).ctx.now(); }
void host_self_id(exo_call* c, std::uint8_t out[32]) {
  std::memcpy(out, call_of(c).ctx.self().bytes.data(), 32);
}
void host_sender_id(exo_call* c, std::uint8_t out[32]) {
  std::memcpy(out, call_of(c).ctx.sender().bytes.data(), 32);
}
void host_code_hash(exo_call* c, std::uint8_t out[32]) {
  std::memcpy(out, call_of(c).ctx.code_hash().bytes.data(), 32);
}

exo_status host_send(exo_call* c, exo_cap target, exo_span args, std::uint64_t budget, exo_cap reply_to) {
  return guarded(c, [&](host_call& hc) {
    auto v = decode(view_of(args));
    if (!v) return failed(hc, error{errc::malformed, fmt::format("send: the arguments: {}", v.error().message)});
    const value::list* l = v->if_list();
    if (!l) return failed(hc, error{errc::malformed, "send: the arguments must be encoded as a list"});
    arg_list al;
    al.reserve(l->size());
    for (auto& e : *l) al.push_back(e);
    send_options opts{.budget = budget};
    if (reply_to != EXO_NO_CAP) opts.reply_to = cap_handle{reply_to};
    return status(hc, hc.ctx.send(cap_handle{target}, std::move(al), opts));
  });
}

exo_status host_set_result(exo_call* c, exo_span encoded) {
  return guarded(c, [&](host_call& hc) {
    if (hc.result_set) return failed(hc, error{errc::invalid_argument, "set_result: the result was already set"});
    auto v = decode(view_of(encoded));
    if (!v) return failed(hc, error{errc::malformed, fmt::format("set_result: {}", v.error().message)});
    hc.result_set = true;
    return status(hc, hc.ctx.send_result(std::move(*v)));
  });
}

std::int32_t host_wants_result(exo_call* c) { return call_of(c).ctx.has_reply_target() ? 1 : 0; }

exo_status host_create(exo_call* c, exo_span code_hash, exo_cap* out) {
  return guarded(c, [&](host_call& hc) {
    if (code_hash.size != 32 || !code_hash.data)
      return failed(hc, error{errc::invalid_argument, fmt::format("create: a code hash is 32 bytes, not {}", code_hash.size)});
    digest d;
    std::memcpy(d.bytes.data(), code_hash.data, 32);
    auto h = hc.ctx.create_from_code(d);
    if (h && out) *out = h->index;
    return status(hc, h);
  });
}

exo_status host_storage_get(exo_call* c, exo_span key, exo_span* value_out) {
  return guarded(c, [&](host_call& hc) {
    auto r = hc.ctx.storage_get(view_of(key));
    if (!r) return failed(hc, r.error());
    if (!*r) {
      if (value_out) *value_out = exo_span{nullptr, 0};
      return EXO_ABSENT;
    }
    hc.got = std::move(**r);
    if (value_out) *value_out = span_of(*hc.got);
    return EXO_OK;
  });
}
exo_status host_storage_put(exo_call* c, exo_span key, exo_span val) {
  return guarded(c, [&](host_call& hc) { return status(hc, hc.ctx.storage_put(view_of(key), view_of(val))); });
}
exo_status host_storage_delete(exo_call* c, exo_span key, std::int32_t* existed) {
  return guarded(c, [&](host_call& hc) {
    auto r = hc.ctx.storage_erase(view_of(key));
    if (r && existed) *existed = *r ? 1 : 0;
    return status(hc, r);
  });
}

exo_status host_self_cap(exo_call* c, exo_span function, std::uint32_t r, exo_cap* out) {
  return guarded(c, [&](host_call& hc) {
    auto rr = rights_of(r);
    if (!rr) return failed(hc, rr.error());
    auto h = hc.ctx.self_cap(text_of(function), *rr);
    if (h && out) *out = h->index;
    return status(hc, h);
  });
}
exo_status host_derive(exo_call* c, exo_cap from, std::uint32_t r, exo_span function, exo_cap* out) {
  return guarded(c, [&](host_call& hc) {
    auto rr = rights_of(r);
    if (!rr) return failed(hc, rr.error());
    auto h = hc.ctx.derive(cap_handle{from}, *rr, text_of(function));
    if (h && out) *out = h->index;
    return status(hc, h);
  });
}
exo_status host_drop(exo_call* c, exo_cap h) {
  return guarded(c, [&](host_call& hc) { return status(hc, hc.ctx.drop(cap_handle{h})); });
}
void host_log(exo_call* c, exo_span text) {
  (void)guarded(c, [&](host_call& hc) {
    hc.ctx.log(text_of(text));
    return EXO_OK;
  });
}
exo_span host_last_error(exo_call* c) { return span_of(as_bytes(std::string_view(call_of(c).error))); }
exo_status host_log_at(exo_call* c, std::uint32_t level, exo_span text) {
  return guarded(c, [&](host_call& hc) {
    if (level > EXO_LOG_ERROR)
      return failed(hc, error{errc::invalid_argument, fmt::format("log: level {} is not one of trace (0), debug (1), "
                                                                   "info (2), warn (3) and error (4)", level)});
    hc.ctx.log(static_cast<log_level>(level), text_of(text));
    return EXO_OK;
  });
}

std::int32_t host_caller_id(exo_call* c, std::uint8_t out[32]) {
  const public_key* k = call_of(c).ctx.caller();
  if (!k) return 0;
  std::memcpy(out, k->bytes.data(), 32);
  return 1;
}
void host_entropy(exo_call* c, std::uint8_t out[32]) {
  const digest d = call_of(c).ctx.entropy();
  std::memcpy(out, d.bytes.data(), 32);
}
std::int32_t host_replaying(exo_call* c) { return call_of(c).ctx.replaying() ? 1 : 0; }

exo_status host_reply_cap(exo_call* c, exo_cap* out) {
  return guarded(c, [&](host_call& hc) {
    auto h = hc.ctx.reply_cap();
    if (h && out) *out = h->index;
    return status(hc, h);
  });
}

constexpr exo_host_api host_api{
    sizeof(exo_host_api), EXO_PLUGIN_ABI_MAJOR, EXO_PLUGIN_ABI_MINOR,
    &host_charge, &host_remaining, &host_now, &host_self_id, &host_sender_id, &host_code_hash,
    &host_send, &host_set_result, &host_wants_result, &host_create,
    &host_storage_get, &host_storage_put, &host_storage_delete,
    &host_self_cap, &host_derive, &host_drop, &host_log, &host_last_error, &host_log_at, &host_reply_cap,
    &host_caller_id, &host_entropy, &host_replaying};

// ------------------------------------------------------------------ compiled plugin code

struct plugin_code {
  std::shared_ptr<const library> lib;  // first: released last, after the code is freed
  exo_code* code = nullptr;
  std::vector<std::string> names;
  std::vector<exported_function> functions;
  actor_type type;
  // The export named "on_failure", which failure reports go to, if the code has one.
  std::uint32_t failure_export = failure_function;
  plugin_code() = default;
  plugin_code(const plugin_code&) = delete;
  plugin_code& operator=(const plugin_code&) = delete;
  ~plugin_code() {
    if (code) lib->desc->free_code(code);
  }
};

struct plugin_actor {
  const plugin_code* code;
  exo_instance* instance;
};

error plugin_error(const exo_error& err, exo_status st, std::string_view what) {
  std::string_view msg(err.message, strnlen(err.message, sizeof err.message));
  if (st < 1 || st > static_cast<exo_status>(errc::fault))
    return error{errc::internal, fmt::format("{}: the plugin returned unknown status {}: {}", what, st, msg)};
  return error{static_cast<errc>(st), std::string(msg.empty() ? std::string_view("(the plugin gave no message)") : msg)};
}

expected<void> invoke_plugin(void* state, std::uint32_t function, context& ctx, arg_list& args) {
  auto& a = *static_cast<plugin_actor*>(state);
  // Up to 8 scalars (the common message) are encoded on the stack, in place; else into one
  // buffer per thread (plugins run messages one at a time and never re-enter here): scalars
  // in place into room sized once, the first other value and all after it through encode().
  constexpr std::size_t few = 8;
  std::size_t i = 0;
  // Writes the scalars from args[i] on at p, until one that is not; returns where it ended.
  const auto scalars = [&](std::uint8_t* p) {
    for (; i < args.size(); ++i) {
      std::uint8_t* end = encode_scalar(args[i], p);
      if (!end) break;
      p = end;
    }
    return p;
  };
  std::uint8_t small[2 + few * max_scalar_encoding];
  exo_span encoded_span{};
  if (args.size() <= few) {
    small[0] = static_cast<std::uint8_t>(kind::list);
    small[1] = static_cast<std::uint8_t>(args.size());  // (a varint of one byte)
    const std::uint8_t* end = scalars(small + 2);
    if (i == args.size()) encoded_span = exo_span{small, static_cast<std::size_t>(end - small)};
  }
  if (!encoded_span.data) {
    thread_local bytes encoded;
    encoded.clear();
    encoded.push_back(static_cast<std::uint8_t>(kind::list));
    put_varint(encoded, args.size());
    const std::size_t head = encoded.size();
    encoded.resize(head + args.size() * max_scalar_encoding);
    i = 0;
    encoded.resize(static_cast<std::size_t>(scalars(encoded.data() + head) - encoded.data()));
    for (; i < args.size(); ++i) encode(args[i], encoded);
    encoded_span = span_of(encoded);
  }
  host_call call{ctx, {}, {}, false};
  exo_error err;  // the plugin fills it in on failure
  err.code = 0;
  err.message[0] = '\0';
  exo_status st = a.code->lib->desc->run(a.instance, function, encoded_span, ctx.remaining(), &host_api,
                                         reinterpret_cast<exo_call*>(&call), &err);
  if (st == EXO_OK) return {};
  return unexpected(plugin_error(err, st, "run"));
}

// A failure report, to the code's export named "on_failure" (its one argument is the report:
// a map of actor, function, code, message, sender, seq).
expected<void> invoke_plugin_failure(void* state, std::uint32_t, context& ctx, arg_list& args) {
  auto& a = *static_cast<plugin_actor*>(state);
  return invoke_plugin(state, a.code->failure_export, ctx, args);
}

void destroy_plugin_actor(void* state) noexcept {
  auto* a = static_cast<plugin_actor*>(state);
  a->code->lib->desc->destroy(a->instance);
  delete a;
}

// Compiled code keeps no state outside storage: nothing to save, and a fresh instance loads.
value save_plugin_actor(const void*) { return value{}; }

expected<void*> load_plugin_actor(const actor_type& type, value&& state) {
  if (!state.is_null())
    return fail(errc::invalid_argument, fmt::format("a {} actor keeps its state in storage; its saved state must be null, "
                                                    "not {}", type.name, to_string(state.type())));
  auto* code = static_cast<const plugin_code*>(type.impl);
  exo_error err{};
  exo_instance* inst = nullptr;
  exo_status st = code->lib->desc->instantiate(code->code, &inst, &err);
  if (st != EXO_OK) return unexpected(plugin_error(err, st, "instantiate"));
  if (!inst) return fail(errc::internal, fmt::format("{}: instantiate returned no instance", type.name));
  return static_cast<void*>(new plugin_actor{code, inst});
}

constexpr std::size_t descriptor_size = offsetof(exo_plugin, run) + sizeof(exo_plugin::run);

bool is_elf(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::memcmp(magic, "\x7f" "ELF", 4) == 0;
}

}  // namespace

// ------------------------------------------------------------------ code hash, native

digest code_hash(std::string_view container, byte_view code) {
  return hash(encode(value::make_map({{"container", value(container)}, {"code", value(bytes(code.begin(), code.end()))}})));
}

expected<code_ptr> native_container::compile(byte_view code, const container_limits&) const {
  std::string_view name(reinterpret_cast<const char*>(code.data()), code.size());
  auto it = by_name_.find(name);
  if (it == by_name_.end())
    return fail(errc::invalid_argument, fmt::format("no native type named '{}' was added to the native container; "
                                                    "add it with native().add<T>()", name));
  return code_ptr(code_ptr(), it->second);  // static storage: nothing to own
}

// ------------------------------------------------------------------ plugins

plugin_container::plugin_container(std::shared_ptr<const library> lib, fs::path file)
    : lib_(std::move(lib)), file_(std::move(file)) {}
plugin_container::~plugin_container() = default;
std::uint32_t plugin_container::type_id() const noexcept { return lib_->desc->type_id; }
std::string_view plugin_container::name() const noexcept { return lib_->name; }
std::string_view plugin_container::version() const noexcept { return lib_->version; }
std::uint16_t plugin_container::abi_minor() const noexcept { return lib_->desc->abi_minor; }

expected<std::unique_ptr<plugin_container>> plugin_container::load(const fs::path& file) {
  const std::string f = file.string();
  std::error_code fec;
  if (!fs::is_regular_file(file, fec))
    return fail(errc::invalid_argument, fmt::format("plugin {}: no such file", f));
  if (!is_elf(file))
    return fail(errc::invalid_argument, fmt::format("plugin {}: not a shared library (no ELF header); a container "
                                                    "plugin is a .so built against exo's plugin/abi.h", f));
  auto lib = std::make_shared<library>();
  boost::dll::fs::error_code ec;
  lib->lib.load(file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec) return fail(errc::invalid_argument, fmt::format("plugin {}: cannot be loaded: {}", f, ec.message()));
  if (!lib->lib.has(EXO_PLUGIN_SYMBOL))
    return fail(errc::invalid_argument, fmt::format("plugin {}: not an exo plugin: it exports no '{}' (declare the "
                                                    "descriptor with BOOST_DLL_ALIAS(descriptor, exo_plugin_v1))",
                                                    f, EXO_PLUGIN_SYMBOL));
  const exo_plugin* d = &lib->lib.get_alias<const exo_plugin>(EXO_PLUGIN_SYMBOL);
  if (d->abi_major != EXO_PLUGIN_ABI_MAJOR)
    return fail(errc::incompatible, fmt::format("plugin {}: built for plugin ABI {}.{}, but this exo speaks {}.{}; "
                                                "rebuild the plugin against this exo's plugin/abi.h",
                                                f, d->abi_major, d->abi_minor, EXO_PLUGIN_ABI_MAJOR, EXO_PLUGIN_ABI_MINOR));
  if (d->struct_size < descriptor_size)
    return fail(errc::incompatible, fmt::format("plugin {}: its descriptor is {} bytes, smaller than the {} bytes of "
                                                "ABI {}.0; rebuild the plugin", f, d->struct_size, descriptor_size,
                                                EXO_PLUGIN_ABI_MAJOR));
  if (d->type_id == 0 || !d->name || !*d->name)
    return fail(errc::invalid_argument, fmt::format("plugin {}: its descriptor has no type ID or no name", f));
  if (!d->compile || !d->free_code || !d->export_count || !d->export_name || !d->instantiate || !d->destroy || !d->run)
    return fail(errc::invalid_argument, fmt::format("plugin {} ('{}'): its descriptor lacks an entry point", f, d->name));
  lib->desc = d;
  lib->name = d->name;
  lib->version = d->version ? d->version : "";
  return std::unique_ptr<plugin_container>(new plugin_container(std::move(lib), file));
}

expected<code_ptr> plugin_container::compile(byte_view code, const container_limits& limits) const {
  if (code.size() > limits.max_code_size)
    return fail(errc::limit_exceeded, fmt::format("{} code of {} bytes is over the limit of {} bytes", name(), code.size(),
                                                  limits.max_code_size));
  const exo_plugin& d = *lib_->desc;
  exo_limits l{sizeof(exo_limits), limits.max_memory_pages, limits.max_table_size, limits.max_code_size};
  exo_error err{};
  exo_code* made = nullptr;
  exo_status st = d.compile(span_of(code), &l, &made, &err);
  if (st != EXO_OK) return unexpected(plugin_error(err, st, "compile"));
  if (!made) return fail(errc::internal, fmt::format("{}: compile returned no code", name()));
  auto pc = std::make_shared<plugin_code>();
  pc->lib = lib_;
  pc->code = made;
  const std::uint32_t n = d.export_count(made);
  pc->names.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) pc->names.emplace_back(text_of(d.export_name(made, i)));
  pc->functions.reserve(n);
  for (auto& fname : pc->names) pc->functions.push_back(exported_function{fname, 0, &invoke_plugin});
  actor_type& t = pc->type;
  t.name = lib_->name;
  t.container = d.type_id;
  t.functions = pc->functions;
  t.any_thread = d.struct_size >= offsetof(exo_plugin, flags) + sizeof d.flags && (d.flags & EXO_PLUGIN_ANY_THREAD);
  if (const std::uint32_t f = t.find("on_failure"); f != failure_function) {
    pc->failure_export = f;
    t.on_failure = &invoke_plugin_failure;
  }
  t.destroy = &destroy_plugin_actor;
  t.save = &save_plugin_actor;
  t.load = &load_plugin_actor;
  t.code_hash = code_hash(lib_->name, code);
  t.impl = pc.get();
  return code_ptr(pc, &pc->type);
}

// ------------------------------------------------------------------ the registry

container_registry::container_registry() {
  auto n = std::make_unique<native_container>();
  native_ = n.get();
  by_id_.emplace(EXO_TYPE_NATIVE, std::move(n));
}

expected<const container*> container_registry::add(std::unique_ptr<container> c) {
  if (auto it = by_id_.find(c->type_id()); it != by_id_.end())
    return fail(errc::invalid_argument, fmt::format("container type ID {} is already registered (to '{}'); a type ID "
                                                    "is registered once", c->type_id(), it->second->name()));
  if (auto* other = find(c->name()))
    return fail(errc::invalid_argument, fmt::format("a container named '{}' is already registered (type ID {})",
                                                    c->name(), other->type_id()));
  const container* p = c.get();
  by_id_.emplace(c->type_id(), std::move(c));
  return p;
}

expected<const container*> container_registry::load(const fs::path& file) {
  auto p = plugin_container::load(file);
  if (!p) return unexpected(std::move(p).error());
  auto r = add(std::move(*p));
  if (!r) return fail(r.error().code, fmt::format("plugin {}: {}", file.string(), r.error().message));
  return r;
}

std::vector<fs::path> container_registry::search_path() const {
  std::vector<fs::path> out = dirs_;
  if (const char* env = std::getenv("EXO_PLUGIN_PATH")) {
    std::string_view rest(env);
    while (!rest.empty()) {
      auto colon = rest.find(':');
      auto part = rest.substr(0, colon);
      if (!part.empty()) out.emplace_back(part);
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  return out;
}

expected<const container*> container_registry::load_named(std::string_view name) {
  const std::string file = fmt::format("exo_{}.so", name);
  auto dirs = search_path();
  std::string tried;
  for (auto& d : dirs) {
    std::error_code ec;
    if (fs::is_regular_file(d / file, ec)) return load(d / file);
    tried += tried.empty() ? d.string() : ", " + d.string();
  }
  return fail(errc::invalid_argument, fmt::format("no plugin '{}' ({}) in the plugin search path ({}); set "
                                                  "EXO_PLUGIN_PATH or add a search directory",
                                                  name, file, tried.empty() ? "empty" : tried));
}

expected<std::size_t> container_registry::load_dir(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    auto fname = it->path().filename().string();
    if (fname.starts_with("exo_") && it->path().extension() == ".so") files.push_back(it->path());
  }
  if (ec) return fail(errc::invalid_argument, fmt::format("plugin directory {}: {}", dir.string(), ec.message()));
  std::sort(files.begin(), files.end());
  for (auto& f : files)
    if (auto r = load(f); !r) return unexpected(std::move(r).error());
  return files.size();
}

const container* container_registry::find(std::uint32_t type_id) const noexcept {
  auto it = by_id_.find(type_id);
  return it == by_id_.end() ? nullptr : it->second.get();
}

const container* container_registry::find(std::string_view name) const noexcept {
  for (auto& [id, c] : by_id_)
    if (c->name() == name) return c.get();
  return nullptr;
}

expected<code_ptr> container_registry::compile(std::uint32_t type_id, byte_view code) const {
  const container* c = find(type_id);
  if (!c)
    return fail(errc::invalid_argument, fmt::format("no container of type ID {} is registered; load its plugin first",
                                                    type_id));
  return c->compile(code, limits_);
}

std::vector<const container*> container_registry::list() const {
  std::vector<const container*> out;
  for (auto& [id, c] : by_id_) out.push_back(c.get());
  return out;
}

}  // namespace exo
