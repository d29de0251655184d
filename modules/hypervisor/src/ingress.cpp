// The ingress: every input from outside, logged with its outcome (ingress.hpp).
#include "records.hpp"

#include <exo/call_log/envelope.hpp>
#include <exo/core/encoding.hpp>
#include <exo/core/hash.hpp>
#include <exo/hypervisor/ingress.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <utility>

namespace exo {

namespace {
// The egress that receives a called function's result.
constexpr std::string_view reply_egress_name = "exo.reply";

// Where the state tree keeps a signed caller's last sequence number: 'c' and the key.
bytes caller_record(byte_view key) { return internal::tagged_key('c', key); }

// An error as a log entry records it.
log_error logged_error(const error& e) {
  return log_error{static_cast<std::int64_t>(e.code), std::string(to_string(e.code)), e.message};
}
}  // namespace

struct ingress::capture {
  std::uint32_t reply_egress = 0;  // the egress that receives the called function's result
  std::uint64_t seq = 0;           // the host's sequence number of the call's message
  value result;                    // as logged: caps are cap #i of result_caps
  value::list result_caps;         // descriptions of the caps in result
  value host_result;               // the same result with caps as host handles
  std::optional<failure> error;    // the call's own failure
  value::list outputs;             // egress deliveries and other failures reaching the host
};

ingress::ingress(kernel& k, state_tree& state, message_pump& pump, log_writer& log, node_key key)
    : k_(k), state_(state), pump_(pump), log_(log), key_(std::move(key)) {
  k_.observe(this);
}

ingress::~ingress() { k_.observe(nullptr); }

expected<void> ingress::resume(bool own_key) {
  if (log_.size() == 0) return {};
  // A log of another format was written under other rules (exo-log-1: no arrival tick), so
  // going on with it would log entries no verifier can replay.
  auto first = log_.read(0);
  auto init = first ? decode_entry(*first) : unexpected(first.error());
  if (!init) return fail(init.error().code, "the call log's init entry cannot be read: " + init.error().message);
  const value* format = init->args.find("format");
  if (!format || !format->if_string() || *format->if_string() != log_format)
    return fail(errc::invalid_argument,
                fmt::format("the call log is of format {}, and this exo writes '{}' (its tick rules differ): keep the "
                            "exo that wrote it to serve this data directory, or start a new one",
                            format ? to_string(*format) : std::string("(none)"), log_format));
  auto last = log_.read(log_.size() - 1);
  auto e = last ? decode_entry(*last) : unexpected(last.error());
  if (!e) return fail(e.error().code, "the call log's last entry cannot be read: " + e.error().message);
  const digest root = k_.state().root();
  if (!(e->root == root))
    return fail(errc::malformed, fmt::format("the call log ends at state root {} (entry {}), but the store is at {}; the "
                                             "data directory is damaged",
                                             to_hex(e->root), log_.size() - 1, to_hex(root)));
  auto head = log_.head();
  auto h = head && *head ? decode_head(**head) : fail(errc::malformed, "the call log has entries but no head");
  if (!h) return unexpected(std::move(h).error());
  if (!own_key) return {};
  const public_key& mine = key_.public_key();
  if (h->key != bytes(mine.bytes.begin(), mine.bytes.end()))
    return fail(errc::invalid_argument, "the call log was signed by another node key than this data directory's "
                                        "node.key; restore the original node.key");
  return {};
}

// ---- outputs, recorded while a call runs ----

void ingress::on_egress(std::uint32_t egress, std::string_view name, message& m, bool has_sink) {
  if (!capture_) {
    if (!has_sink)
      for (auto& a : m.args) (void)k_.release_caps(a);
    return;
  }
  value::list args, caps;
  for (auto& a : m.args) {
    auto d = k_.describe_caps(a, caps);
    args.push_back(d ? std::move(*d) : value{});
  }
  if (egress == capture_->reply_egress) {
    capture_->result = args.empty() ? value{} : std::move(args[0]);
    capture_->result_caps = std::move(caps);
    if (!m.args.empty()) capture_->host_result = std::move(m.args[0]);  // the invoker's handles
    return;
  }
  // An output nobody takes: its caps are described in the log, and no host handle is kept.
  if (!has_sink)
    for (auto& a : m.args) (void)k_.release_caps(a);
  capture_->outputs.push_back(value::make_map(
      {{"egress", value(std::string(name))}, {"args", value(std::move(args))}, {"caps", value(std::move(caps))}}));
}

void ingress::on_host_failure(const failure& f) {
  if (!capture_) return;
  if (f.sender == k_.host_id() && f.seq == capture_->seq) capture_->error = f;
  else capture_->outputs.push_back(value::make_map({{"failure", to_value(f)}}));
}

// A message to an actor of another node is logged among the input's outputs, as {"remote":
// node, "index": its place in the stream to that node, "body"}: the node sends it after the
// commit (exo/cluster), and the stream can be checked against the log.
void ingress::on_remote(std::string_view node, std::uint64_t index, value&& body) {
  if (!capture_) return;
  capture_->outputs.push_back(value::make_map({{"remote", value(std::string(node))},
                                               {"index", value(static_cast<std::int64_t>(index))},
                                               {"body", std::move(body)}}));
}

// A fault is logged among the input's outputs, as {"fault": {"delivery", "code", "message"}}:
// the replay of the input reads them back and injects them (kernel::input_info::faults).
void ingress::on_fault(std::uint64_t delivery, const error& e) {
  if (!capture_) return;
  capture_->outputs.push_back(value::make_map(
      {{"fault", value::make_map({{"delivery", value(static_cast<std::int64_t>(delivery))},
                                  {"code", value(static_cast<std::int64_t>(e.code))},
                                  {"message", value(e.message)}})}}));
}

namespace {
// The faults a logged input's outputs record.
expected<std::vector<std::pair<std::uint64_t, error>>> logged_faults(const value& outputs) {
  std::vector<std::pair<std::uint64_t, error>> out;
  const value::list* list = outputs.if_list();
  if (!list) return fail(errc::malformed, "a call entry's outputs must be a list");
  for (const value& o : *list) {
    const value* f = o.find("fault");
    if (!f) continue;
    const value* at = f->find("delivery");
    const value* code = f->find("code");
    const value* msg = f->find("message");
    if (!at || !at->if_i64() || *at->if_i64() < 0 || !code || !code->if_i64() ||
        *code->if_i64() != static_cast<std::int64_t>(errc::fault) || !msg || !msg->if_string())
      return fail(errc::malformed, "a logged fault needs {delivery: a number from 0, code: fault's (16), message: text}");
    out.emplace_back(static_cast<std::uint64_t>(*at->if_i64()), error{errc::fault, *msg->if_string()});
  }
  return out;
}
}  // namespace

// ---- inputs ----

unexpected<error> ingress::busy(std::string_view what) const {
  return unexpected(error{errc::invalid_argument,
                          fmt::format("{} needs an idle hypervisor: {} messages are pending (run() first)", what,
                                      pump_.pending())});
}

expected<void> ingress::ready(std::string_view what) {
  if (pump_.pending()) return busy(what);
  return ensure_init();
}

expected<cap_handle> ingress::create(const actor_type& type, void* state) {
  if (auto r = ready("create"); !r) {
    type.destroy(state);
    return unexpected(std::move(r).error());
  }
  cap_handle h = k_.create(type, state);
  log_entry e = next_entry("create");
  e.actor = *k_.actor_id(h);
  e.function = std::string(type.name);
  auto saved = k_.saved_state(e.actor);
  if (!saved) {  // the actor cannot be logged, so it must not stay
    if (batching_) {
      if (!batch_error_) batch_error_ = saved.error();  // end_batch() undoes the batch
    } else {
      (void)rollback();
    }
    return unexpected(std::move(saved).error());
  }
  e.args = value::make_map({{"code", to_value(type.code_hash)}, {"state", std::move(*saved)}});
  if (auto r = append(e); !r) return unexpected(std::move(r).error());
  return h;
}

expected<cap_handle> ingress::create_code(std::string_view container, byte_view code) {
  if (auto r = ready("create_code"); !r) return unexpected(std::move(r).error());
  auto cap = k_.create_code(container, code);
  if (!cap) return cap;
  log_entry e = next_entry("create");
  e.actor = *k_.actor_id(*cap);
  const actor_type* type = *k_.type_of(e.actor);
  e.function = std::string(type->name);  // as replay() logs it
  e.args = value::make_map({{"code", to_value(type->code_hash)}, {"state", value{}}, {"container", value(container)},
                            {"source", value(bytes(code.begin(), code.end()))}});
  if (auto r = append(e); !r) return unexpected(std::move(r).error());
  return cap;
}

expected<call_outcome> ingress::invoke(const id& actor, std::string_view function, arg_list args,
                                       const invoke_options& opts) {
  if (auto r = ready("invoke"); !r) return unexpected(std::move(r).error());
  log_entry e = next_entry("call");
  e.actor = actor;
  e.function = std::string(function);
  if (opts.caller) e.caller = bytes(opts.caller->bytes.begin(), opts.caller->bytes.end());
  e.budget = opts.budget ? opts.budget : k_.settings().default_budget;
  e.seq = opts.seq;
  value::list caps, described;
  for (auto& a : args) {
    auto d = k_.describe_caps(a, caps);
    if (!d) return unexpected(std::move(d).error());
    described.push_back(std::move(*d));
  }
  e.args = value(std::move(described));
  e.caps = value(std::move(caps));
  // Last before the call runs: from here on the input is logged, whatever the call does.
  if (auto r = accept_seq(e.caller, e.seq); !r) return unexpected(std::move(r).error());
  value host_result;
  auto logged = run_call(std::move(e), std::move(args), host_result);
  if (!logged) return unexpected(std::move(logged).error());
  call_outcome out;
  out.index = logged->index;
  out.result = std::move(host_result);
  out.result_caps = std::move(logged->result_caps);
  if (logged->error) out.error = error{static_cast<errc>(logged->error->code), logged->error->message};
  out.outputs = std::move(logged->outputs);
  out.ticks = logged->ticks;
  out.root = logged->root;
  return out;
}

expected<log_entry> ingress::replay(const log_entry& original) {
  if (pump_.pending()) return busy("replay");
  replaying_ = true;
  struct done_t {
    bool& flag;
    ~done_t() { flag = false; }
  } done{replaying_};
  if (original.kind == "init") return fail(errc::invalid_argument, "an init entry is not an input to replay");
  if (auto r = ensure_init(); !r) return unexpected(std::move(r).error());
  if (original.kind == "create") {
    const value* code = original.args.find("code");
    const value* st = original.args.find("state");
    auto c = code ? from_value<digest>(*code) : fail(errc::malformed, "a create entry names no code");
    if (!c || !st) return fail(errc::malformed, "a create entry needs args {code, state}");
    if (const value* src = original.args.find("source")) {  // code installed with it
      const value* cn = original.args.find("container");
      if (!cn || !cn->if_string() || !src->if_bytes())
        return fail(errc::malformed, "a create entry's source needs a container name and code bytes");
      auto installed = k_.install(*cn->if_string(), *src->if_bytes());
      if (!installed) return unexpected(std::move(installed).error());
    }
    auto h = k_.create_saved(*c, *st);
    if (!h) return unexpected(std::move(h).error());
    log_entry e = next_entry("create");
    e.actor = *k_.actor_id(*h);
    e.function = std::string((*k_.type_of(e.actor))->name);
    e.args = original.args;
    if (auto r = append(e); !r) return unexpected(std::move(r).error());
    return e;
  }
  auto faults = logged_faults(original.outputs);
  if (!faults) return unexpected(std::move(faults).error());
  if (original.kind == "upgrade") return run_upgrade(original.args, std::move(*faults), nullptr);
  if (original.kind == "route") return run_route(original.args);
  if (original.kind == "take") return run_take(original.args, std::move(*faults));
  if (original.kind == "settle") return run_settle(original.args, std::move(*faults));
  std::vector<cap_handle> made;
  auto* caps = original.caps.if_list();
  auto* list = original.args.if_list();
  if (!caps || !list) return fail(errc::malformed, "a call entry's args and caps must be lists");
  arg_list args;
  for (auto& a : *list) {
    auto m = k_.materialize_caps(a, *caps, made);
    if (!m) {
      for (auto h : made) (void)k_.drop(h);
      return unexpected(std::move(m).error());
    }
    args.push_back(std::move(*m));
  }
  log_entry e = next_entry("call");
  e.actor = original.actor;
  e.function = original.function;
  e.caller = original.caller;
  e.budget = original.budget;
  e.args = original.args;
  e.caps = original.caps;
  e.seq = original.seq;
  if (auto r = accept_seq(e.caller, e.seq); !r) {
    for (auto h : made) (void)k_.drop(h);
    return unexpected(std::move(r).error());
  }
  value host_result;
  auto r = run_call(std::move(e), std::move(args), host_result, std::move(*faults));
  for (auto h : made) (void)k_.drop(h);
  (void)k_.release_caps(host_result);  // a replay hands its result to no one
  return r;
}

expected<std::uint64_t> ingress::last_seq(const public_key& caller) const {
  auto v = state_.get(caller_record(caller.view()));
  if (!v) return unexpected(std::move(v).error());
  if (!*v) return std::uint64_t{0};
  auto d = decode(**v);
  if (!d || !d->if_i64() || *d->if_i64() <= 0)
    return fail(errc::malformed, fmt::format("the record of caller {}'s last sequence number is damaged",
                                             to_hex(caller.view()).substr(0, 16)));
  return static_cast<std::uint64_t>(*d->if_i64());
}

// A signed call is accepted once: its sequence number must be above the caller's last, which
// it then becomes (in the state tree, with the input: committed with its entry, undone with it).
expected<void> ingress::accept_seq(const std::optional<bytes>& caller, std::optional<std::uint64_t> seq) {
  if (!seq) return {};
  if (!caller || caller->size() != 32)
    return fail(errc::invalid_argument, "a sequence number belongs to a signed call: it needs a caller");
  if (*seq == 0 || *seq > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return fail(errc::invalid_argument, fmt::format("sequence number {} is out of range (1 to 2^63-1)", *seq));
  public_key who;
  std::copy(caller->begin(), caller->end(), who.bytes.begin());
  auto last = last_seq(who);
  if (!last) return unexpected(std::move(last).error());
  if (*seq <= *last)
    return fail(errc::invalid_argument,
                fmt::format("replayed: caller {} already had call {} accepted, and this call's sequence number is {}; "
                            "a signed call is accepted once (sign again with a sequence number above {})",
                            to_hex(who.view()).substr(0, 16), *last, *seq, *last));
  return state_.put(caller_record(who.view()), encode(value(static_cast<std::int64_t>(*seq))));
}

log_entry ingress::next_entry(std::string kind) const {
  log_entry e{};
  e.index = log_.next_index();
  e.prev = log_.tip();
  e.kind = std::move(kind);
  e.args = value{};
  e.caps = value(value::list{});
  e.result_caps = value(value::list{});
  e.outputs = value(value::list{});
  return e;
}

// Writes the init entry if the log is empty.
expected<void> ingress::ensure_init() {
  if (log_.next_index() != 0) return {};
  log_entry e = next_entry("init");
  e.function = k_.settings().name;
  const auto& k = key_.public_key();
  value::map args{{"format", value(std::string(log_format))},
                  {"node_key", value(bytes(k.bytes.begin(), k.bytes.end()))},
                  {"types", k_.type_list()}};
  if (!k_.settings().origin.is_null()) args.emplace_back("origin", k_.settings().origin);
  e.args = value::make_map(std::move(args));
  return append(e);
}

// Sends the call in `e` with `args` (host handles), runs it, logs it with its outcome and
// returns the entry; `host_result` gets the result with its caps as host handles.
// What the messages an input causes learn of it (context::caller, context::entropy): its
// caller, and a seed from its entry as logged before it runs (its index, target, caller,
// sequence number, budget and arguments: the same on replay, whoever replays it; not the
// previous entry's hash, which covers the node's signature).
kernel::input_info ingress::input_of(const log_entry& e) const {
  kernel::input_info in;
  if (e.caller && e.caller->size() == 32) {
    in.caller.emplace();
    std::copy(e.caller->begin(), e.caller->end(), in.caller->bytes.begin());
  }
  const value fields(value::list{value(static_cast<std::int64_t>(e.index)), value(bytes(e.actor.bytes.begin(), e.actor.bytes.end())), value(e.function),
                                 e.caller ? value(*e.caller) : value(),
                                 e.seq ? value(static_cast<std::int64_t>(*e.seq)) : value(),
                                 value(static_cast<std::int64_t>(e.budget)), e.args, e.caps});
  sha256 h;
  in.seed = h.update(std::string_view("exo.input-seed")).update(encode(fields)).finish();
  in.replay = replaying_;
  return in;
}

// Sends `function` of `actor` a call from the host and runs until idle, collecting what it
// does in `cap`; a call that cannot be sent (no such actor or function) is the error returned.
std::optional<error> ingress::run_one(const id& actor, std::string_view function, arg_list args, std::uint64_t budget,
                                      capture& cap) {
  auto target = k_.lookup(actor, function, rights::call | rights::transfer);
  if (!target) return std::move(target).error();
  // The result goes to the reply egress; the message's sequence number tells its failure
  // from the others that reach the host.
  cap_handle reply = k_.create_egress(std::string(reply_egress_name), nullptr);
  cap.reply_egress = k_.inspect(reply)->target;
  cap.seq = k_.next_host_seq();
  auto s = k_.send(*target, std::move(args), send_options{.budget = budget, .reply_to = reply});
  (void)k_.drop(reply);
  (void)k_.drop(*target);
  if (!s) return std::move(s).error();
  capture_ = &cap;
  pump_.run_until_idle();
  capture_ = nullptr;
  return std::nullopt;
}

expected<log_entry> ingress::run_call(log_entry e, arg_list args, value& host_result,
                                      std::vector<std::pair<std::uint64_t, error>> faults) {
  const std::uint64_t ticks0 = k_.stats().ticks;
  capture cap;
  kernel::input_info in = input_of(e);
  in.faults = std::move(faults);
  k_.set_input(std::move(in));
  std::optional<error> refused = run_one(e.actor, e.function, std::move(args), e.budget, cap);
  k_.set_input({});
  e.result = std::move(cap.result);
  e.result_caps = value(std::move(cap.result_caps));
  e.outputs = value(std::move(cap.outputs));
  if (refused) e.error = logged_error(*refused);
  else if (cap.error) e.error = log_error{cap.error->code, std::string(to_string(cap.error->cause())), cap.error->message};
  e.ticks = k_.stats().ticks - ticks0;
  if (auto r = append(e); !r) {
    (void)k_.release_caps(cap.host_result);  // the input left nothing behind: nor in the host's table
    return unexpected(std::move(r).error());
  }
  host_result = std::move(cap.host_result);
  return e;
}

unexpected<error> ingress::abandon(error e) {
  if (batching_) {
    if (!batch_error_) batch_error_ = e;  // end_batch() undoes the batch
  } else {
    (void)rollback();
  }
  return unexpected(std::move(e));
}

value upgrade_request::logged_args() const {
  value::list ch, mg;
  for (const code_change& c : changes)
    ch.push_back(value::make_map({{"actor", value(bytes(c.actor.bytes.begin(), c.actor.bytes.end()))},
                                  {"container", value(c.container)},
                                  {"source", value(c.source)}}));
  for (const call& m : migrate)
    mg.push_back(value::make_map({{"actor", value(bytes(m.actor.bytes.begin(), m.actor.bytes.end()))},
                                  {"function", value(m.function)},
                                  {"args", m.args},
                                  {"budget", value(static_cast<std::int64_t>(m.budget))}}));
  return value::make_map({{"note", note}, {"changes", value(std::move(ch))}, {"migrate", value(std::move(mg))}});
}

expected<log_entry> ingress::upgrade(const upgrade_request& r) {
  if (auto ok = ready("upgrade"); !ok) return unexpected(std::move(ok).error());
  for (const auto& m : r.migrate)
    if (m.budget > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return fail(errc::invalid_argument, fmt::format("migration call {}: budget out of range", m.function));
  return run_upgrade(r.logged_args(), {}, &r.records);
}

namespace {
expected<id> id_field(const value& m, std::string_view what) {
  const value* v = m.find("actor");
  const bytes* b = v ? v->if_bytes() : nullptr;
  if (!b || b->size() != 32) return fail(errc::malformed, fmt::format("{} needs an actor id (32 bytes)", what));
  id a;
  std::copy(b->begin(), b->end(), a.bytes.begin());
  return a;
}
}  // namespace

// Makes the upgrade an "upgrade" entry's args describe (see upgrade_request::logged_args) and
// logs it, with `records` (nullptr: none) committed with it.
expected<log_entry> ingress::run_upgrade(const value& args, std::vector<std::pair<std::uint64_t, error>> faults,
                                         const commit_meta* records) {
  const value* note = args.find("note");
  const value* changes = args.find("changes");
  const value* migrate = args.find("migrate");
  if (!args.if_map() || args.if_map()->size() != 3 || !note || !changes || !changes->if_list() || !migrate ||
      !migrate->if_list())
    return fail(errc::malformed, "an upgrade entry's args are {note, changes: [...], migrate: [...]}");
  log_entry e = next_entry("upgrade");
  e.actor = k_.host_id();
  e.function = "exo.upgrade";
  e.args = args;
  // Every change is read before any is made.
  struct change {
    id actor;
    const std::string* container;
    const bytes* source;
  };
  std::vector<change> made;
  for (const value& c : *changes->if_list()) {
    auto a = id_field(c, "an upgrade entry's change");
    const value* cn = c.find("container");
    const value* src = c.find("source");
    if (!a || !c.if_map() || c.if_map()->size() != 3 || !cn || !cn->if_string() || !src || !src->if_bytes())
      return fail(errc::malformed, "an upgrade entry's change is {actor, container, source}");
    made.push_back(change{*a, cn->if_string(), src->if_bytes()});
  }
  for (const change& c : made) {
    auto h = k_.install(*c.container, *c.source);
    if (!h) return abandon(error{h.error().code, fmt::format("the new code of actor {} ({}): {}", short_hex(c.actor), *c.container, h.error().message)});
    if (auto r = k_.replace_code(c.actor, *h); !r) return abandon(std::move(r).error());
  }
  // The migration calls: one input, whose deliveries are numbered on from call to call.
  struct parsed {
    id actor;
    const std::string* function;
    const value::list* args;
    std::uint64_t budget;
  };
  std::vector<parsed> calls;
  for (const value& m : *migrate->if_list()) {
    auto a = id_field(m, "an upgrade entry's migration call");
    const value* fn = m.find("function");
    const value* as = m.find("args");
    const value* b = m.find("budget");
    if (!a || !m.if_map() || m.if_map()->size() != 4 || !fn || !fn->if_string() || !as || !as->if_list() || !b ||
        !b->if_i64() || *b->if_i64() < 0)
      return abandon(error{errc::malformed, "an upgrade entry's migration call is {actor, function, args: [...], budget}"});
    value::list caps;
    for (const value& x : *as->if_list())
      if (auto d = k_.describe_caps(x, caps); !d || !caps.empty())
        return abandon(error{errc::invalid_argument, fmt::format("migration call {}: its arguments may not carry "
                                                                 "capabilities", *fn->if_string())});
    const auto budget = static_cast<std::uint64_t>(*b->if_i64());
    calls.push_back(parsed{*a, fn->if_string(), as->if_list(), budget ? budget : k_.settings().default_budget});
  }
  const std::uint64_t ticks0 = k_.stats().ticks;
  kernel::input_info in = input_of(e);
  in.faults = std::move(faults);
  k_.set_input(std::move(in));
  value::list results, result_caps, outputs;
  for (const parsed& c : calls) {
    capture cap;
    arg_list args;
    for (const value& a : *c.args) args.push_back(a);
    std::optional<error> refused = run_one(c.actor, *c.function, std::move(args), c.budget, cap);
    (void)k_.release_caps(cap.host_result);  // the host keeps nothing a migration returns
    if (refused || cap.error) {
      k_.set_input({});
      const std::string why = refused ? refused->message : cap.error->message;
      return abandon(error{refused ? refused->code : errc::handler_failed,
                           fmt::format("migration call {}.{} failed, so the upgrade is undone: {}", short_hex(c.actor),
                                       *c.function, why)});
    }
    results.push_back(std::move(cap.result));
    result_caps.push_back(value(std::move(cap.result_caps)));
    for (value& o : cap.outputs) outputs.push_back(std::move(o));
  }
  k_.set_input({});
  e.result = value(std::move(results));
  e.result_caps = value(std::move(result_caps));
  e.outputs = value(std::move(outputs));
  e.ticks = k_.stats().ticks - ticks0;
  if (records) staged_.insert(staged_.end(), records->begin(), records->end());
  if (auto r = append(e); !r) return unexpected(std::move(r).error());
  return e;
}

// Sets the entry's root and stages it; outside a batch, commits the state and the entry
// together. If the commit fails, the state goes back to the last commit: the input leaves
// nothing behind.
expected<void> ingress::append(log_entry& e) {
  auto root = k_.state_root();
  if (!root) {
    if (batching_ && !batch_error_) batch_error_ = root.error();
    return unexpected(std::move(root).error());
  }
  e.root = *root;
  bytes enc = encode_entry(e);
  const digest h = entry_hash(enc);
  log_.stage(std::move(enc), h, staged_);
  if (batching_) return {};
  return commit_entries();
}

// Commits everything staged (state and entries) under one signed head.
expected<void> ingress::commit_entries() {
  log_.seal(sign_ ? &key_ : nullptr, staged_);
  auto c = k_.commit(std::exchange(staged_, {}));
  if (!c) {
    (void)rollback();
    return unexpected(std::move(c).error());
  }
  log_.committed();
  return {};
}

void ingress::begin_batch() {
  if (batching_) throw std::logic_error("exo: begin_batch inside a batch");
  batching_ = true;
}

expected<void> ingress::end_batch() {
  if (!batching_) throw std::logic_error("exo: end_batch without begin_batch");
  batching_ = false;
  if (batch_error_) {
    error e = std::move(*batch_error_);
    batch_error_.reset();
    (void)rollback();
    return unexpected(std::move(e));
  }
  if (log_.next_index() == log_.size()) return {};  // nothing staged
  return commit_entries();
}

expected<void> ingress::rollback() {
  staged_.clear();
  log_.abandoned();
  if (auto r = log_.reload(); !r) return r;
  auto head = k_.state().head();
  if (!head) return unexpected(std::move(head).error());
  return k_.reset_state(*head);
}

// ---- several nodes: "route" and "take" entries ----

namespace {
// Where the state tree keeps a peer's key ('p' and its name) and the index of the last
// envelope taken from it ('t' and its name).
bytes peer_record(char tag, std::string_view node) { return internal::tagged_key(tag, as_bytes(node)); }

}  // namespace

value route_request::logged_args() const {
  value::list ps, rs, gs;
  for (const peer& p : peers)
    ps.push_back(value::make_map({{"node", value(p.node)}, {"key", value(bytes(p.key.bytes.begin(), p.key.bytes.end()))}}));
  for (const route& r : routes) {
    value::list names;
    for (const auto& f : r.functions) names.emplace_back(f);
    rs.push_back(value::make_map({{"actor", to_value(r.actor)}, {"node", value(r.node)}, {"functions", value(std::move(names))}}));
  }
  for (const grant& g : grants)
    gs.push_back(value::make_map({{"actor", to_value(g.actor)},
                                  {"function", value(g.function)},
                                  {"node", value(g.node)},
                                  {"rights", value(static_cast<std::int64_t>(g.keep))}}));
  return value::make_map({{"peers", value(std::move(ps))}, {"routes", value(std::move(rs))}, {"grants", value(std::move(gs))}});
}

expected<log_entry> ingress::route(const route_request& r) {
  if (auto ok = ready("route"); !ok) return unexpected(std::move(ok).error());
  return run_route(r.logged_args());
}

expected<std::optional<public_key>> ingress::peer_key(std::string_view node) const {
  auto v = state_.get(peer_record('p', node));
  if (!v) return unexpected(std::move(v).error());
  if (!*v) return std::optional<public_key>{};
  if ((*v)->size() != 32) return fail(errc::malformed, fmt::format("the record of peer {}'s key is damaged", node));
  public_key k;
  std::copy((*v)->begin(), (*v)->end(), k.bytes.begin());
  return std::optional<public_key>(k);
}

expected<std::uint64_t> ingress::next_take(std::string_view node) const {
  auto v = state_.get(peer_record('t', node));
  if (!v) return unexpected(std::move(v).error());
  if (!*v) return std::uint64_t{1};
  auto d = decode(**v);
  if (!d || !d->if_i64() || *d->if_i64() <= 0)
    return fail(errc::malformed, fmt::format("the record of what was taken from node {} is damaged", node));
  return static_cast<std::uint64_t>(*d->if_i64()) + 1;
}

expected<log_entry> ingress::run_route(const value& args) {
  const value* peers = args.find("peers");
  const value* routes = args.find("routes");
  const value* grants = args.find("grants");
  if (!args.if_map() || args.if_map()->size() != 3 || !peers || !peers->if_list() || !routes || !routes->if_list() ||
      !grants || !grants->if_list())
    return fail(errc::malformed, "a route entry's args are {peers: [...], routes: [...], grants: [...]}");
  const std::string& me = k_.settings().node;
  if (me.empty()) return fail(errc::invalid_argument, "this hypervisor is not a node of a cluster (config::node is empty)");
  log_entry e = next_entry("route");
  e.actor = k_.host_id();
  e.function = "exo.route";
  e.args = args;
  for (const value& p : *peers->if_list()) {
    const value* node = p.find("node");
    const value* key = p.find("key");
    if (!p.if_map() || p.if_map()->size() != 2 || !node || !node->if_string() || !key || !key->if_bytes() ||
        key->if_bytes()->size() != 32)
      return abandon(error{errc::malformed, "a route entry's peer is {node, key (32 bytes)}"});
    if (!valid_node_name(*node->if_string()) || *node->if_string() == me)
      return abandon(error{errc::invalid_argument, fmt::format("'{}' cannot name a peer of node {}", *node->if_string(), me)});
    if (auto w = state_.put(peer_record('p', *node->if_string()), *key->if_bytes()); !w) return abandon(std::move(w).error());
  }
  for (const value& r : *routes->if_list()) {
    auto a = id_field(r, "a route entry's route");
    const value* node = r.find("node");
    const value* fns = r.find("functions");
    if (!a || !r.if_map() || r.if_map()->size() != 3 || !node || !node->if_string() || !fns || !fns->if_list())
      return abandon(error{errc::malformed, "a route entry's route is {actor, node, functions: [...]}"});
    std::vector<std::string> names;
    for (const value& f : *fns->if_list()) {
      if (!f.if_string()) return abandon(error{errc::malformed, "a route's functions are names"});
      names.push_back(*f.if_string());
    }
    if (auto w = k_.add_route(*a, *node->if_string(), std::move(names)); !w) return abandon(std::move(w).error());
  }
  for (const value& g : *grants->if_list()) {
    auto a = id_field(g, "a route entry's grant");
    const value* fn = g.find("function");
    const value* node = g.find("node");
    const value* rs = g.find("rights");
    if (!a || !g.if_map() || g.if_map()->size() != 4 || !fn || !fn->if_string() || !node || !node->if_string() || !rs ||
        !rs->if_i64())
      return abandon(error{errc::malformed, "a route entry's grant is {actor, function, node, rights}"});
    value d = fn->if_string()->empty()
                  ? value::make_map({{"cap", "actor"}, {"actor", to_value(*a)}, {"rights", *rs}})
                  : value::make_map({{"cap", "function"}, {"actor", to_value(*a)}, {"function", *fn}, {"rights", *rs}});
    auto h = k_.materialize_cap(d);
    if (!h) return abandon(std::move(h).error());
    auto w = k_.grant(*h, *node->if_string());
    (void)k_.drop(*h);
    if (!w) return abandon(std::move(w).error());
  }
  if (auto w = append(e); !w) return unexpected(std::move(w).error());
  return e;
}

expected<log_entry> ingress::take(byte_view envelope) {
  if (auto ok = ready("take"); !ok) return unexpected(std::move(ok).error());
  return run_take(value::make_map({{"envelope", value(bytes(envelope.begin(), envelope.end()))}}), {});
}

expected<log_entry> ingress::run_take(const value& args, std::vector<std::pair<std::uint64_t, error>> faults) {
  const value* env = args.find("envelope");
  if (!args.if_map() || args.if_map()->size() != 1 || !env || !env->if_bytes())
    return fail(errc::malformed, "a take entry's args are {envelope: bytes}");
  const std::string& me = k_.settings().node;
  if (me.empty()) return fail(errc::invalid_argument, "this hypervisor is not a node of a cluster (config::node is empty)");
  // Who sent it says the envelope; whether it is theirs, for here and next, the state says.
  auto first = open_envelope(*env->if_bytes(), {.to = me});
  if (!first) return unexpected(std::move(first).error());
  const std::string from = first->e.from;
  auto key = peer_key(from);
  if (!key) return unexpected(std::move(key).error());
  if (!*key)
    return fail(errc::invalid_argument, fmt::format("node {} is no peer of node {}: no route entry names its key", from, me));
  auto next = next_take(from);
  if (!next) return unexpected(std::move(next).error());
  if (auto r = check_envelope(*first, {.from = from, .to = me, .index = *next, .key = **key}); !r)
    return fail(r.error().code, fmt::format("node {} does not take this envelope from node {} (it has taken {} of "
                                            "theirs): {}",
                                            me, from, *next - 1, r.error().message));
  const opened_envelope& opened = *first;

  log_entry e = next_entry("take");
  e.actor = k_.host_id();
  e.function = "exo.take";
  e.args = args;
  if (auto w = state_.put(peer_record('t', from), encode(value(static_cast<std::int64_t>(*next)))); !w)
    return abandon(std::move(w).error());
  // Its index is used up whatever the body holds: a refusal is logged with the entry.
  return run_host(std::move(e), std::move(faults), [&]() -> expected<value> {
    auto body = decode(opened.e.body);
    if (!body)
      return fail(errc::malformed, fmt::format("the body of envelope {} from node {}: {}", *next, from, body.error().message));
    if (auto took = k_.take_remote(from, *body); !took) return unexpected(std::move(took).error());
    return value();
  }, true);
}

expected<log_entry> ingress::run_host(log_entry e, std::vector<std::pair<std::uint64_t, error>> faults,
                                      const std::function<expected<value>()>& act, bool log_error) {
  const std::uint64_t ticks0 = k_.stats().ticks;
  capture cap;
  cap.reply_egress = std::numeric_limits<std::uint32_t>::max();  // no result: nothing is called by the host
  cap.seq = std::numeric_limits<std::uint64_t>::max();
  kernel::input_info in = input_of(e);
  in.faults = std::move(faults);
  k_.set_input(std::move(in));
  auto result = act();
  if (!result && !log_error) {
    k_.set_input({});
    return abandon(std::move(result).error());
  }
  capture_ = &cap;
  pump_.run_until_idle();
  capture_ = nullptr;
  k_.set_input({});
  if (result) e.result = std::move(*result);
  else e.error = logged_error(result.error());
  e.outputs = value(std::move(cap.outputs));
  e.ticks = k_.stats().ticks - ticks0;
  if (auto w = append(e); !w) return unexpected(std::move(w).error());
  return e;
}

expected<log_entry> ingress::settle(std::string_view node, std::optional<bytes> receipt, std::uint64_t expired) {
  if (auto ok = ready("settle"); !ok) return unexpected(std::move(ok).error());
  return run_settle(value::make_map({{"node", value(std::string(node))},
                                     {"receipt", receipt ? value(std::move(*receipt)) : value()},
                                     {"expired", value(static_cast<std::int64_t>(expired))}}),
                    {});
}

expected<log_entry> ingress::run_settle(const value& args, std::vector<std::pair<std::uint64_t, error>> faults) {
  const value* node = args.find("node");
  const value* receipt = args.find("receipt");
  const value* expired = args.find("expired");
  if (!args.if_map() || args.if_map()->size() != 3 || !node || !node->if_string() || !receipt ||
      (!receipt->if_bytes() && receipt->type() != kind::null) || !expired || !expired->if_i64() || *expired->if_i64() < 0)
    return fail(errc::malformed, "a settle entry's args are {node, receipt: bytes or null, expired: a count}");
  const std::string& me = k_.settings().node;
  if (me.empty()) return fail(errc::invalid_argument, "this hypervisor is not a node of a cluster (config::node is empty)");
  const std::string& peer = *node->if_string();
  auto key = peer_key(peer);
  if (!key) return unexpected(std::move(key).error());
  if (!*key)
    return fail(errc::invalid_argument, fmt::format("node {} is no peer of node {}: no route entry names its key", peer, me));
  std::uint64_t confirmed = 0;
  if (receipt->if_bytes()) {
    auto r = open_receipt(*receipt->if_bytes(), {.from = peer, .to = me, .key = **key});
    if (!r) return fail(r.error().code, fmt::format("node {}'s receipt: {}", peer, r.error().message));
    confirmed = r->e.index;
  }
  log_entry e = next_entry("settle");
  e.actor = k_.host_id();
  e.function = "exo.settle";
  e.args = args;
  // A settlement that cannot be made is not logged.
  return run_host(std::move(e), std::move(faults), [&]() -> expected<value> {
    auto told = k_.settle_remote(peer, confirmed, static_cast<std::uint64_t>(*expired->if_i64()));
    if (!told) return unexpected(std::move(told).error());
    return value(static_cast<std::int64_t>(*told));
  }, false);
}

}  // namespace exo
