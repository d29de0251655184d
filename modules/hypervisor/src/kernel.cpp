#include <exo/hypervisor/kernel.hpp>

#include <exo/core/encoding.hpp>
#include <exo/core/hash.hpp>
#include <exo/core/reflect.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace exo {
namespace {
// What the state tree keeps of an actor under meta_key(id), and of the host under "h".
struct actor_record {
  BOOST_HANA_DEFINE_STRUCT(actor_record, (std::string, type), (bytes, code), (std::int64_t, clock),
                           (std::int64_t, nonce), (std::int64_t, seq), (bool, saved), (value, state));
};
struct host_record {
  BOOST_HANA_DEFINE_STRUCT(host_record, (id, self), (std::int64_t, clock), (std::int64_t, nonce), (std::int64_t, seq));
};
constexpr std::string_view host_key = "h";
// Counters are u64; the records keep their bits in i64 fields.
std::int64_t bits(std::uint64_t v) noexcept { return static_cast<std::int64_t>(v); }
std::uint64_t bits(std::int64_t v) noexcept { return static_cast<std::uint64_t>(v); }
bytes actor_key(const id& a, char tag) {
  bytes k;
  k.reserve(34);
  k.push_back('a');
  k.insert(k.end(), a.bytes.begin(), a.bytes.end());
  k.push_back(static_cast<std::uint8_t>(tag));
  return k;
}

// Clocks saturate instead of wrapping: a wrapped clock would reorder later messages.
std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) noexcept {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}
}  // namespace

// ---------------------------------------------------------------- ids

id derive_actor_id(const id& creator, std::uint64_t nonce) noexcept {
  // Exactly encode(value::list{bytes(creator), i64(nonce)}), written without allocating
  // (tests check the two agree).
  std::uint8_t buf[45];
  buf[0] = static_cast<std::uint8_t>(kind::list);
  buf[1] = 2;
  buf[2] = static_cast<std::uint8_t>(kind::bytes);
  buf[3] = 32;
  std::memcpy(buf + 4, creator.bytes.data(), 32);
  buf[36] = static_cast<std::uint8_t>(kind::i64);
  for (int i = 0; i < 8; ++i) buf[37 + i] = static_cast<std::uint8_t>(nonce >> (8 * i));
  return hash(byte_view(buf, sizeof buf));
}

// ---------------------------------------------------------------- id index

std::uint32_t kernel::id_index::find(const id& key, const actor_table& actors) const noexcept {
  if (table_.empty()) return npos;
  std::size_t mask = table_.size() - 1;
  for (std::size_t i = std::hash<id>{}(key) & mask;; i = (i + 1) & mask) {
    std::uint32_t v = table_[i];
    if (!v) return npos;
    if (actors[v - 1].self == key) return v - 1;
  }
}

void kernel::id_index::insert(const id& key, std::uint32_t slot, const actor_table& actors) {
  if ((count_ + 1) * 2 > table_.size()) {
    std::vector<std::uint32_t> old = std::move(table_);
    table_.assign(std::max<std::size_t>(16, old.size() * 2), 0);
    count_ = 0;
    for (std::uint32_t v : old)
      if (v) insert(actors[v - 1].self, v - 1, actors);
  }
  std::size_t mask = table_.size() - 1;
  std::size_t i = std::hash<id>{}(key) & mask;
  while (table_[i]) i = (i + 1) & mask;
  table_[i] = slot + 1;
  ++count_;
}

void kernel::id_index::erase(const id& key, const actor_table& actors) noexcept {
  if (table_.empty()) return;
  std::size_t mask = table_.size() - 1;
  std::size_t i = std::hash<id>{}(key) & mask;
  for (;; i = (i + 1) & mask) {
    if (!table_[i]) return;
    if (actors[table_[i] - 1].self == key) break;
  }
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  for (std::size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
    if (!table_[j]) break;
    std::size_t home = std::hash<id>{}(actors[table_[j] - 1].self) & mask;
    bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
    if (movable) {
      table_[i] = table_[j];
      i = j;
    }
  }
  table_[i] = 0;
  --count_;
}

// ---------------------------------------------------------------- caps in arguments

namespace {
template <class F>
expected<void> for_each_cap(value& v, F& f) {
  switch (v.type()) {
    case kind::cap: return f(*v.if_cap());
    case kind::list:
      for (auto& e : *v.if_list())
        if (auto r = for_each_cap(e, f); !r) return r;
      return {};
    case kind::map:
      for (auto& [k, e] : *v.if_map())
        if (auto r = for_each_cap(e, f); !r) return r;
      return {};
    default: return {};
  }
}
void null_caps(value& v) {
  if (v.if_cap()) v = value{};
  else if (auto* l = v.if_list()) for (auto& e : *l) null_caps(e);
  else if (auto* m = v.if_map()) for (auto& [k, e] : *m) null_caps(e);
}
template <class F>
expected<void> for_each_cap(arg_list& args, F&& f) {
  for (auto& v : args) {
    auto t = v.type();
    if (t != kind::cap && t != kind::list && t != kind::map) continue;
    if (auto r = for_each_cap(v, f); !r) return r;
  }
  return {};
}
}  // namespace

expected<void> kernel::export_caps(actor& from, message& m) {
  return for_each_cap(m.args, [&](cap_handle& h) -> expected<void> {
    auto c = from.caps.transferable(h);
    if (!c) return unexpected(std::move(c).error());
    m.caps.push_back(*c);
    h.index = static_cast<std::uint32_t>(m.caps.size() - 1);
    return {};
  });
}

expected<void> kernel::import_caps(actor& to, message& m, cap_journal* j) {
  return for_each_cap(m.args, [&](cap_handle& h) -> expected<void> {
    if (h.index >= m.caps.size())
      return fail(errc::malformed, fmt::format("argument names carried capability {} of {}", h.index, m.caps.size()));
    auto nh = to.caps.insert(m.caps[h.index], j);
    if (!nh) return unexpected(std::move(nh).error());
    h = *nh;
    return {};
  });
}

// ---------------------------------------------------------------- the context

class kernel_context final : public context {
 public:
  kernel_context(kernel& k, kernel::actor& a, std::uint32_t slot, message& m, std::uint64_t cost) noexcept
      : k_(k), a_(a), slot_(slot), m_(m), exec_(cost) {}

  const id& self() const noexcept override { return a_.self; }
  const id& sender() const noexcept override { return m_.sender_id; }
  const digest& code_hash() const noexcept override { return a_.type->code_hash; }
  std::uint64_t now() const noexcept override { return sat_add(a_.clock, exec_); }
  std::uint64_t sent_at() const noexcept override { return m_.ticks; }
  std::uint64_t budget() const noexcept override { return m_.budget; }
  std::uint64_t remaining() const noexcept override {
    std::uint64_t used = sat_add(exec_, handed_);
    return used >= m_.budget ? 0 : m_.budget - used;
  }
  std::uint64_t executed() const noexcept { return exec_; }
  const error& trap_error() const noexcept { return trap_; }

  expected<void> charge(std::uint64_t ticks) override {
    if (trapped_) return unexpected(trap_);
    if (ticks > remaining())
      return trap(errc::out_of_ticks, fmt::format("out of ticks: charging {} ticks with {} of the budget of {} left",
                                                  ticks, remaining(), m_.budget));
    exec_ = sat_add(exec_, ticks);
    return {};
  }

  expected<void> send(cap_handle target, arg_list&& args, const send_options& opts) override {
    if (trapped_) return unexpected(trap_);
    const capability* c = a_.caps.find_callable(target);
    if (!c) return trap(a_.caps.callable(target).error());
    capability reply{};
    if (opts.reply_to) {
      auto rc = a_.caps.reply_target(*opts.reply_to);
      if (!rc) return trap(std::move(rc).error());
      reply = *rc;
    }
    return emit(*c, reply, slot_, opts.budget, std::move(args));
  }

  expected<void> reply(arg_list&& args) override {
    if (trapped_) return unexpected(trap_);
    if (m_.reply_to.kind == cap_kind::none) return {};
    return emit(m_.reply_to, capability{}, slot_, send_options::remaining, std::move(args));
  }

  expected<void> forward(cap_handle target, arg_list&& args) override {
    if (trapped_) return unexpected(trap_);
    const capability* c = a_.caps.find_callable(target);
    if (!c) return trap(a_.caps.callable(target).error());
    return emit(*c, m_.reply_to, m_.origin, send_options::remaining, std::move(args));
  }

  expected<cap_handle> derive(cap_handle from, rights keep, std::string_view function) override {
    if (trapped_) return unexpected(trap_);
    auto c = a_.caps.lookup(from);
    if (!c) return trap(std::move(c).error());
    expected<capability> d = function.empty() ? exo::derive(*c, keep) : derive_fn(*c, function, keep);
    if (!d) return trap(std::move(d).error());
    auto h = a_.caps.insert(*d, &k_.journal_);
    if (!h) return trap(std::move(h).error());
    return h;
  }

  expected<cap_handle> self_cap(std::string_view function, rights keep) override {
    if (trapped_) return unexpected(trap_);
    auto d = derive_fn(capability{cap_kind::actor, rights::all, slot_, 0}, function, keep);
    if (!d) return trap(std::move(d).error());
    auto h = a_.caps.insert(*d, &k_.journal_);
    if (!h) return trap(std::move(h).error());
    return h;
  }

  expected<void> drop(cap_handle h) override {
    if (trapped_) return unexpected(trap_);
    auto r = a_.caps.drop(h, &k_.journal_);
    if (!r) return trap(std::move(r).error());
    return {};
  }

  expected<cap_handle> create_actor(const actor_type& type, void* state) override {
    if (trapped_) {
      type.destroy(state);
      return unexpected(trap_);
    }
    if (k_.durable_ && !type.load) {
      type.destroy(state);
      return trap(errc::invalid_argument,
                  fmt::format("cannot create an actor of type '{}' in a durable hypervisor: its state cannot be saved "
                              "(declare it with BOOST_HANA_DEFINE_STRUCT)", type.name));
    }
    std::uint32_t slot = k_.add_actor(a_.self, a_.nonce++, type, state, now());
    k_.created_.push_back(slot);
    auto h = a_.caps.insert(capability{cap_kind::actor, rights::all, slot, 0}, &k_.journal_);
    if (!h) return trap(std::move(h).error());
    return h;
  }

  expected<cap_handle> create_from_code(const digest& code) override {
    if (trapped_) return unexpected(trap_);
    auto t = k_.type_for(code);
    if (!t) return trap(std::move(t).error());
    if (!(*t)->load)
      return trap(errc::invalid_argument, fmt::format("actors of type '{}' cannot be created from their code alone",
                                                      (*t)->name));
    auto st = (*t)->load(**t, value{});
    if (!st) return trap(errc::invalid_argument, fmt::format("creating an actor of code {} ({}): {}", short_hex(code),
                                                             (*t)->name, st.error().message));
    return create_actor(**t, *st);
  }

  void log(std::string_view text) override {
    if (k_.log_hook_) k_.log_hook_(a_.self, text);
  }

  expected<std::optional<bytes>> storage_get(byte_view key) override {
    if (auto r = storage_begin(key, 0); !r) return unexpected(std::move(r).error());
    auto v = k_.store_->get(kernel::storage_key(a_.self, key));
    if (!v) return trap(std::move(v).error());
    return v;
  }

  expected<void> storage_put(byte_view key, byte_view value) override {
    if (value.size() > max_value_size)
      return trap(errc::limit_exceeded, fmt::format("a storage value of {} bytes exceeds the limit of {}", value.size(),
                                                    max_value_size));
    if (auto r = storage_begin(key, value.size()); !r) return r;
    bytes full = kernel::storage_key(a_.self, key);
    auto old = k_.store_->get(full);
    if (!old) return trap(std::move(old).error());
    if (auto r = k_.store_->put(full, value); !r) return trap(std::move(r).error());
    k_.storage_undo_.emplace_back(std::move(full), std::move(*old));
    return {};
  }

  expected<bool> storage_erase(byte_view key) override {
    if (auto r = storage_begin(key, 0); !r) return unexpected(std::move(r).error());
    bytes full = kernel::storage_key(a_.self, key);
    auto old = k_.store_->get(full);
    if (!old) return trap(std::move(old).error());
    if (!*old) return false;
    if (auto r = k_.store_->erase(full); !r) return trap(std::move(r).error());
    k_.storage_undo_.emplace_back(std::move(full), std::move(*old));
    return true;
  }

  bool has_reply_target() const noexcept override { return m_.reply_to.kind != cap_kind::none; }

  expected<void> send_result(value&& result) override {
    if (m_.reply_to.kind == cap_kind::none || trapped_) return {};
    arg_list args;
    args.emplace_back(std::move(result));
    return emit(m_.reply_to, capability{}, slot_, send_options::remaining, std::move(args));
  }

 private:
  expected<capability> derive_fn(const capability& c, std::string_view function, rights keep) const {
    if (c.kind != cap_kind::actor)
      return fail(errc::wrong_kind, fmt::format("cannot derive function '{}' from a {} capability; an actor "
                                                "capability is needed", function, to_string(c.kind)));
    auto& target = k_.actors_[c.target];
    if (!target.type)
      if (auto r = k_.load(c.target); !r) return unexpected(std::move(r).error());
    std::uint32_t f = target.type->find(function);
    if (f == failure_function)
      return fail(errc::no_such_function, fmt::format("actor {} ({}) exports no function '{}'",
                                                      short_hex(target.self), target.type->name, function));
    return derive_function(c, f, keep);
  }

  expected<void> emit(const capability& target, const capability& reply, std::uint32_t origin,
                      std::uint64_t budget, arg_list&& args) {
    std::uint64_t left = remaining();
    if (budget == send_options::remaining) budget = left;
    if (budget > left)
      return trap(errc::out_of_ticks, fmt::format("out of ticks: sending with a budget of {} when {} of {} are left",
                                                  budget, left, m_.budget));
    message& out = k_.outbox_.emplace_back();
    out.target = target;
    out.reply_to = reply;
    out.sender = slot_;
    out.origin = origin;
    out.ticks = now();
    out.seq = a_.seq++;
    out.budget = budget;
    out.sender_id = a_.self;
    out.args = std::move(args);
    if (auto r = k_.export_caps(a_, out); !r) [[unlikely]] {
      k_.outbox_.pop_back();
      --a_.seq;
      return trap(std::move(r).error());
    }
    handed_ = sat_add(handed_, budget);
    return {};
  }

  // Checks a storage key and charges for the call.
  expected<void> storage_begin(byte_view key, std::size_t value_size) {
    if (trapped_) return unexpected(trap_);
    if (key.empty() || key.size() > max_storage_key)
      return trap(errc::invalid_argument, fmt::format("a storage key must have 1 to {} bytes, not {}", max_storage_key,
                                                      key.size()));
    return charge(storage_cost_base + (key.size() + value_size) / 32);
  }

  unexpected<error> trap(error e) {
    trapped_ = true;
    trap_ = std::move(e);
    return unexpected(trap_);
  }
  unexpected<error> trap(errc c, std::string msg) { return trap(error{c, std::move(msg)}); }

  kernel& k_;
  kernel::actor& a_;
  std::uint32_t slot_;
  message& m_;
  std::uint64_t exec_;
  std::uint64_t handed_ = 0;
  error trap_;
};

// ---------------------------------------------------------------- kernel

kernel::kernel(config cfg, state_store& state, bool durable) : cfg_(std::move(cfg)), store_(&state), durable_(durable) {
  actor& host = actors_.emplace_back();
  host.self = hash(fmt::format("exo hypervisor:{}", cfg_.name));
  host.type = nullptr;
  index_.insert(host.self, 0, actors_);
  if (auto r = load_host(); !r) throw std::runtime_error("exo: cannot resume the hypervisor: " + to_string(r.error()));
}

kernel::~kernel() {
  actors_.for_each([](actor& a) {
    if (a.type) a.type->destroy(a.state);
  });
}

std::uint32_t kernel::add_actor(const id& creator, std::uint64_t nonce, const actor_type& type,
                                void* state, std::uint64_t clock) {
  auto slot = static_cast<std::uint32_t>(actors_.size());
  actor& a = actors_.emplace_back();
  a.self = derive_actor_id(creator, nonce);
  a.type = &type;
  a.state = state;
  a.clock = clock;
  index_.insert(a.self, slot, actors_);
  if (&type != last_type_) [[unlikely]] {  // spawning many of one type looks it up once
    types_.emplace(type.code_hash, &type);
    last_type_ = &type;
  }
  ++stats_.actors_created;
  ++loaded_;
  return slot;
}

void kernel::remove_created(std::uint32_t slot) noexcept {
  actor& a = actors_[slot];
  index_.erase(a.self, actors_);
  a.type->destroy(a.state);
  --stats_.actors_created;
  --loaded_;
  // Usually the newest slot; if actors were loaded after it, it stays as an empty slot.
  if (slot + 1 == actors_.size()) actors_.pop_back();
  else a = actor{};
}

void kernel::register_type(const actor_type& type) { types_.emplace(type.code_hash, &type); }

cap_handle kernel::host_insert(const capability& c) {
  auto h = actors_[0].caps.insert(c);
  // The host's own table is full: a bug in the host program (it never drops caps), not input.
  if (!h) throw std::length_error("exo: the host's capability table is full; drop unused host capabilities");
  return *h;
}

cap_handle kernel::create_root(const actor_type& type, void* state) {
  actor& host = actors_[0];
  if (host.caps.size() >= max_caps_per_actor) {
    type.destroy(state);
    (void)host_insert(capability{});  // throws
  }
  std::uint32_t slot = add_actor(host.self, host.nonce++, type, state, host.clock);
  mark_dirty(slot);
  return host_insert(capability{cap_kind::actor, rights::all, slot, 0});
}

std::uint32_t kernel::egress_named(std::string_view name) {
  for (std::uint32_t i = 0; i < egress_.size(); ++i)
    if (egress_[i].name == name) return i;
  egress_.push_back({std::string(name), nullptr});
  return static_cast<std::uint32_t>(egress_.size() - 1);
}

cap_handle kernel::create_egress(std::string name, egress_sink sink, rights r) {
  std::uint32_t index = egress_named(name);
  egress_[index].sink = std::move(sink);
  return host_insert(capability{cap_kind::egress, r, index, 0});
}

expected<cap_handle> kernel::function_cap(cap_handle actor_cap, std::string_view function, rights keep) {
  auto c = actors_[0].caps.lookup(actor_cap);
  if (!c) return unexpected(std::move(c).error());
  if (c->kind != cap_kind::actor)
    return fail(errc::wrong_kind, fmt::format("capability #{} names an {}, not an actor", actor_cap.index, to_string(c->kind)));
  auto& target = actors_[c->target];
  if (!target.type)
    if (auto r = load(c->target); !r) return unexpected(std::move(r).error());
  std::uint32_t f = target.type->find(function);
  if (f == failure_function)
    return fail(errc::no_such_function, fmt::format("actor {} ({}) exports no function '{}'", short_hex(target.self),
                                                    target.type->name, function));
  auto d = derive_function(*c, f, keep);
  if (!d) return unexpected(std::move(d).error());
  return actors_[0].caps.insert(*d);
}

expected<cap_handle> kernel::lookup(const id& a, std::string_view function, rights keep) {
  auto r = resolve(a);
  if (!r) return unexpected(std::move(r).error());
  std::uint32_t slot = *r;
  if (slot == 0) return fail(errc::no_such_actor, fmt::format("{} is the hypervisor's own id, not an actor", to_hex(a)));
  std::uint32_t f = actors_[slot].type->find(function);
  if (f == failure_function)
    return fail(errc::no_such_function, fmt::format("actor {} ({}) exports no function '{}'", short_hex(a),
                                                    actors_[slot].type->name, function));
  return actors_[0].caps.insert(capability{cap_kind::function, keep, slot, f});
}

expected<cap_handle> kernel::derive(cap_handle from, rights keep) {
  auto c = actors_[0].caps.lookup(from);
  if (!c) return unexpected(std::move(c).error());
  auto d = exo::derive(*c, keep);
  if (!d) return unexpected(std::move(d).error());
  return actors_[0].caps.insert(*d);
}

expected<id> kernel::actor_id(cap_handle h) const {
  auto c = actors_[0].caps.lookup(h);
  if (!c) return unexpected(std::move(c).error());
  if (c->kind != cap_kind::actor && c->kind != cap_kind::function)
    return fail(errc::wrong_kind, fmt::format("capability #{} names an {}, not an actor", h.index, to_string(c->kind)));
  return actors_[c->target].self;
}

expected<void> kernel::send(cap_handle target, arg_list args, const send_options& opts) {
  if (logged_ && !inputting_) [[unlikely]]
    return fail(errc::invalid_argument, "this hypervisor logs every input from outside: call through invoke(), which "
                                        "logs the call and its outcome, not through send()");
  actor& host = actors_[0];
  auto c = host.caps.callable(target);
  if (!c) return unexpected(std::move(c).error());
  capability reply{};
  if (opts.reply_to) {
    auto rc = host.caps.reply_target(*opts.reply_to);
    if (!rc) return unexpected(std::move(rc).error());
    reply = *rc;
  }
  message_batch& out = delivering_ ? host_outbox_ : outbox_;
  message& m = out.emplace_back();
  m.target = *c;
  m.reply_to = reply;
  m.ticks = host.clock;
  m.seq = host.seq++;
  m.budget = opts.budget == send_options::remaining ? cfg_.default_budget : opts.budget;
  m.sender_id = host.self;
  m.args = std::move(args);
  if (auto r = export_caps(host, m); !r) {
    out.pop_back();
    --host.seq;
    return r;
  }
  return {};
}

expected<void> kernel::send_encoded(cap_handle target, byte_view encoded, const send_options& opts) {
  auto v = decode(encoded);
  if (!v) return unexpected(std::move(v).error());
  auto* l = v->if_list();
  if (!l) return fail(errc::malformed, fmt::format("arguments must encode a list, not a {}", to_string(v->type())));
  arg_list args;
  for (auto& e : *l) args.push_back(std::move(e));
  return send(target, std::move(args), opts);
}

expected<std::uint64_t> kernel::clock_of(const id& a) const {
  auto slot = const_cast<kernel*>(this)->resolve(a);
  if (!slot) return unexpected(std::move(slot).error());
  return actors_[*slot].clock;
}

expected<const actor_type*> kernel::type_of(const id& a) const {
  auto slot = const_cast<kernel*>(this)->resolve(a);
  if (!slot) return unexpected(std::move(slot).error());
  if (*slot == 0) return fail(errc::no_such_actor, fmt::format("{} is the hypervisor's own id, not an actor", to_hex(a)));
  return actors_[*slot].type;
}

expected<std::size_t> kernel::cap_count(const id& a) const {
  auto slot = const_cast<kernel*>(this)->resolve(a);
  if (!slot) return unexpected(std::move(slot).error());
  return actors_[*slot].caps.size();
}

void kernel::notify(const id& receiver, std::uint32_t function, const message& m, bool ok) {
  if (deliver_hook_) deliver_hook_(delivery{receiver, function, m.sender_id, m.ticks, m.seq, ok});
}

void kernel::report(std::uint32_t origin, actor& a, const message& m, std::string_view function, error e) {
  ++stats_.failed;
  failure f{a.self, std::string(function), static_cast<std::int64_t>(e.code), std::move(e.message), m.sender_id, m.seq};
  message& out = outbox_.emplace_back();
  // A failed failure report goes to the host, so reports never loop.
  if (m.target.function == failure_function) origin = 0;
  out.target = capability{cap_kind::function, rights::call, origin, failure_function};
  out.sender = m.target.target;
  out.origin = 0;
  out.ticks = a.clock;
  out.seq = a.seq++;
  // Never more than the failed message had: with on_failure costing a tick, a chain of
  // failures and reports always ends.
  out.budget = std::min(cfg_.failure_budget, m.budget);
  out.sender_id = a.self;
  out.args.emplace_back(to_value(f));
}

void kernel::deliver_egress(message& m) {
  ++stats_.egress;
  actor& host = actors_[0];
  if (!m.caps.empty()) {
    if (max_caps_per_actor - host.caps.size() >= m.caps.size()) {
      (void)import_caps(host, m, nullptr);  // cannot fail: there is room for every cap
    } else {
      // No room: the caps arrive as null rather than as untranslated (meaningless) handles,
      // and the host hears why.
      for (auto& v : m.args) null_caps(v);
      host_failure(failure{m.sender_id, std::string(egress_[m.target.target].name),
                           static_cast<std::int64_t>(errc::limit_exceeded),
                           fmt::format("the host's capability table is full: {} capabilities sent to this egress were "
                                       "dropped",
                                       m.caps.size()),
                           m.sender_id, m.seq});
    }
  }
  auto& e = egress_[m.target.target];
  if (capture_) [[unlikely]] {
    value::list args, caps;
    for (auto& a : m.args) {
      auto d = describe_caps(a, caps);
      args.push_back(d ? std::move(*d) : value{});
    }
    if (m.target.target == capture_->reply_egress) {
      capture_->result = args.empty() ? value{} : std::move(args[0]);
      capture_->result_caps = std::move(caps);
      if (!m.args.empty()) capture_->host_result = std::move(m.args[0]);
      notify(host.self, m.target.target, m, true);
      return;
    }
    capture_->outputs.push_back(value::make_map(
        {{"egress", value(e.name)}, {"args", value(std::move(args))}, {"caps", value(std::move(caps))}}));
  }
  egress_message out{e.name, m.sender_id, m.ticks, m.seq, m.args};
  if (e.sink) {
    e.sink(out);
  } else if (!logged_) {
    // An egress named in a stored capability table that this run has not created: the
    // output cannot be handed to anyone, and the host hears so. (In a logged hypervisor the
    // output is in the log.)
    host_failure(failure{m.sender_id, e.name, static_cast<std::int64_t>(errc::no_such_function),
                         fmt::format("egress '{}' has no sink in this hypervisor (create_egress it after resuming); the "
                                     "message was dropped",
                                     e.name),
                         m.sender_id, m.seq});
  }
  notify(host.self, m.target.target, m, true);
}

void kernel::host_failure(failure&& f) {
  if (capture_) [[unlikely]] {
    if (f.sender == actors_[0].self && f.seq == capture_->seq) {
      capture_->error = f;
    } else {
      capture_->outputs.push_back(value::make_map({{"failure", to_value(f)}}));
    }
  }
  if (failure_hook_) failure_hook_(f);
  else failures_.push_back(std::move(f));
}

void kernel::deliver_host_failure(message& m) {
  auto f = m.args.size() == 1 ? from_value<failure>(std::move(m.args[0])) : fail(errc::malformed, "bad failure report");
  if (f) host_failure(std::move(*f));
  notify(actors_[0].self, failure_function, m, true);
}

expected<void> kernel::run_handler(kernel_context& ctx, actor& a, message& m, invoke_fn invoke,
                                   std::string_view fname, std::uint64_t cost) {
  if (cost > m.budget) [[unlikely]]
    return fail(errc::out_of_ticks, fmt::format("out of ticks: '{}' costs {} ticks but the message's budget is {}",
                                                fname, cost, m.budget));
  if (!m.caps.empty())
    if (auto r = import_caps(a, m, &journal_); !r) return r;
  if (auto r = invoke(a.state, m.target.function, ctx, m.args); !r) return r;
  if (ctx.trapped()) [[unlikely]]
    return unexpected(ctx.trap_error());
  return {};
}

bool kernel::load_for_delivery(message& m, std::uint32_t slot) {
  auto r = load(slot);
  if (r) return true;
  // Not in the store, or the store is damaged: the message fails, the system goes on.
  actor& a = actors_[slot];
  if (m.ticks > a.clock) a.clock = m.ticks;
  notify(a.self, m.target.function, m, false);
  report(m.origin, a, m, "(loading the actor)", std::move(r).error());
  return false;
}

void kernel::deliver(message& m) {
  struct scope {
    bool& flag;
    explicit scope(bool& f) : flag(f) { flag = true; }
    ~scope() { flag = false; }
  } during(delivering_);
  ++stats_.delivered;
  actor& host = actors_[0];
  if (m.ticks > host.clock) host.clock = m.ticks;
  if (m.target.kind == cap_kind::egress) return deliver_egress(m);

  const std::uint32_t slot = m.target.target;
  if (slot == 0) return deliver_host_failure(m);
  actor& a = actors_[slot];
  if (!a.type) [[unlikely]]
    if (!load_for_delivery(m, slot)) return;
  if (m.ticks > a.clock) a.clock = m.ticks;

  invoke_fn invoke;
  std::string_view fname;
  std::uint64_t cost = 0;
  if (m.target.function == failure_function) {
    if (!a.type->on_failure) {  // nobody handles it here: the host hears of it
      m.target.target = 0;
      return deliver_host_failure(m);
    }
    invoke = a.type->on_failure;
    fname = "on_failure";
    cost = failure_cost;
  } else {
    const exported_function& fn = a.type->functions[m.target.function];
    invoke = fn.invoke;
    fname = fn.name;
    cost = fn.cost;
  }

  // The transaction: remember what to restore if the message fails.
  const std::uint64_t saved_nonce = a.nonce, saved_seq = a.seq;
  const std::size_t saved_outbox = outbox_.size();
  journal_.active = true;
  kernel_context ctx(*this, a, slot, m, cost);
  expected<void> r = run_handler(ctx, a, m, invoke, fname, cost);
  journal_.active = false;
  const std::uint64_t used = std::min(ctx.executed(), m.budget);
  a.clock = sat_add(a.clock, used);
  stats_.ticks = sat_add(stats_.ticks, used);
  mark_dirty(slot);
  if (r) [[likely]] {
    if (!journal_.entries.empty()) {
      a.caps_dirty = true;
      journal_.entries.clear();
    }
    if (!created_.empty()) [[unlikely]] {
      for (auto c : created_) mark_dirty(c);
      created_.clear();
    }
    if (!storage_undo_.empty()) storage_undo_.clear();
    notify(a.self, m.target.function, m, true);
    return;
  }
  // Roll back: sends, created actors, storage writes, capability changes and counters; the
  // state itself was restored by the native entry point.
  while (outbox_.size() > saved_outbox) outbox_.pop_back();
  for (auto it = created_.rbegin(); it != created_.rend(); ++it) remove_created(*it);
  created_.clear();
  undo_storage();
  a.caps.rollback(journal_);
  a.nonce = saved_nonce;
  a.seq = saved_seq;
  notify(a.self, m.target.function, m, false);
  report(m.origin, a, m, fname, std::move(r).error());
}

// ---------------------------------------------------------------- state

bytes kernel::meta_key(const id& a) { return actor_key(a, 'm'); }

bytes kernel::storage_key(const id& a, byte_view key) {
  bytes k = actor_key(a, 's');
  k.insert(k.end(), key.begin(), key.end());
  return k;
}

std::uint32_t kernel::stub_for(const id& a) {
  std::uint32_t slot = find(a);
  if (slot != npos) return slot;
  slot = static_cast<std::uint32_t>(actors_.size());
  actors_.emplace_back().self = a;
  index_.insert(a, slot, actors_);
  return slot;
}

expected<std::uint32_t> kernel::resolve(const id& a) {
  std::uint32_t slot = find(a);
  if (slot == 0 || (slot != npos && actors_[slot].type)) return slot;
  const bool fresh = slot == npos;
  if (fresh) slot = stub_for(a);
  if (auto r = load(slot); !r) {
    // An id that named nothing leaves no trace (host lookups of arbitrary ids must not grow
    // the table); a stub that capabilities refer to stays.
    if (fresh && slot + 1 == actors_.size()) {
      index_.erase(a, actors_);
      actors_.pop_back();
    }
    return unexpected(std::move(r).error());
  }
  return slot;
}

expected<void> kernel::load(std::uint32_t slot) {
  actor& a = actors_[slot];
  const std::string who = short_hex(a.self);
  auto raw = store_->get(meta_key(a.self));
  if (!raw) return unexpected(std::move(raw).error());
  if (!*raw) return fail(errc::no_such_actor, fmt::format("no actor has id {} in this state", to_hex(a.self)));
  auto v = decode(**raw);
  if (!v) return fail(errc::malformed, fmt::format("actor {}'s record: {}", who, v.error().message));
  auto rec = from_value<actor_record>(std::move(*v), "actor record: ");
  if (!rec) return fail(errc::malformed, fmt::format("actor {}: {}", who, rec.error().message));
  if (rec->code.size() != 32) return fail(errc::malformed, fmt::format("actor {}'s code hash is not 32 bytes", who));
  digest code;
  std::copy(rec->code.begin(), rec->code.end(), code.bytes.begin());
  auto t = type_for(code);
  if (!t)
    return fail(errc::no_such_actor, fmt::format("actor {} has type '{}': {}", who, rec->type, t.error().message));
  const actor_type& type = **t;
  if (!rec->saved || !type.load)
    return fail(errc::invalid_argument, fmt::format("actor {} of type '{}' kept its state only in memory (declare the "
                                                    "type with BOOST_HANA_DEFINE_STRUCT to persist it)", who, rec->type));
  auto caps_raw = store_->get(actor_key(a.self, 'c'));
  if (!caps_raw) return unexpected(std::move(caps_raw).error());
  cap_table caps;
  if (*caps_raw) {
    auto cv = decode(**caps_raw);
    if (!cv) return fail(errc::malformed, fmt::format("actor {}'s capability table: {}", who, cv.error().message));
    auto t2 = load_caps(std::move(*cv));
    if (!t2) return fail(errc::malformed, fmt::format("actor {}'s capability table: {}", who, t2.error().message));
    caps = std::move(*t2);
  }
  auto state = type.load(type, std::move(rec->state));
  if (!state) return fail(errc::malformed, fmt::format("actor {} ({}): {}", who, rec->type, state.error().message));
  // (load_caps may have added stubs; slots never move, so `a` is still this actor)
  a.type = &type;
  a.state = *state;
  a.caps = std::move(caps);
  a.clock = bits(rec->clock);
  a.nonce = bits(rec->nonce);
  a.seq = bits(rec->seq);
  ++loaded_;
  return {};
}

expected<void> kernel::load_host() {
  auto raw = store_->get(as_bytes(host_key));
  if (!raw) return unexpected(std::move(raw).error());
  if (!*raw) return {};  // a new state
  auto v = decode(**raw);
  if (!v) return fail(errc::malformed, fmt::format("the host record: {}", v.error().message));
  auto rec = from_value<host_record>(std::move(*v), "host record: ");
  if (!rec) return unexpected(std::move(rec).error());
  actor& host = actors_[0];
  if (!(rec->self == host.self))
    return fail(errc::invalid_argument, fmt::format("this state belongs to hypervisor {}, not to {} (config name '{}'); "
                                                    "open it with the name it was created with",
                                                    short_hex(rec->self), short_hex(host.self), cfg_.name));
  host.clock = bits(rec->clock);
  host.nonce = bits(rec->nonce);
  host.seq = bits(rec->seq);
  return {};
}

value kernel::save_caps(const cap_table& t) const {
  value::list slots;
  slots.reserve(t.slots().size());
  for (const auto& s : t.slots()) {
    value target;
    switch (s.cap.kind) {
      case cap_kind::actor:
      case cap_kind::function: target = value(bytes(actors_[s.cap.target].self.bytes.begin(),
                                                    actors_[s.cap.target].self.bytes.end())); break;
      case cap_kind::egress: target = value(egress_[s.cap.target].name); break;
      default: target = value(bits(std::uint64_t{s.cap.target})); break;
    }
    slots.emplace_back(value::list{value(std::int64_t{s.generation}), value(static_cast<std::int64_t>(s.cap.kind)),
                                   value(static_cast<std::int64_t>(s.cap.rights)), std::move(target),
                                   value(std::int64_t{s.cap.function})});
  }
  return value::list{value(std::int64_t{t.free_head()}), value(std::move(slots))};
}

expected<cap_table> kernel::load_caps(value&& v) {
  auto* top = v.if_list();
  if (!top || top->size() != 2 || !(*top)[0].if_i64() || !(*top)[1].if_list())
    return fail(errc::malformed, "expected [free head, [slots...]]");
  auto u32 = [](const value& x, std::uint64_t max) -> std::optional<std::uint32_t> {
    auto* i = x.if_i64();
    if (!i || *i < 0 || static_cast<std::uint64_t>(*i) > max) return std::nullopt;
    return static_cast<std::uint32_t>(*i);
  };
  auto head = u32((*top)[0], 0xffffffffu);
  if (!head) return fail(errc::malformed, "bad free list head");
  std::vector<cap_table::slot> slots;
  auto& in = *(*top)[1].if_list();
  slots.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    auto* f = in[i].if_list();
    auto bad = [&](std::string_view what) { return fail(errc::malformed, fmt::format("slot {}: {}", i, what)); };
    if (!f || f->size() != 5) return bad("expected [generation, kind, rights, target, function]");
    auto gen = u32((*f)[0], 0xffffffffu), k = u32((*f)[1], 3), r = u32((*f)[2], 7), fn = u32((*f)[4], 0xffffffffu);
    if (!gen || !k || !r || !fn) return bad("a field is out of range");
    cap_table::slot s;
    s.generation = *gen;
    s.cap.kind = static_cast<cap_kind>(*k);
    s.cap.rights = static_cast<rights>(*r);
    s.cap.function = *fn;
    const value& target = (*f)[3];
    switch (s.cap.kind) {
      case cap_kind::actor:
      case cap_kind::function: {
        auto* b = target.if_bytes();
        if (!b || b->size() != 32) return bad("an actor target must be a 32-byte id");
        id a;
        std::copy(b->begin(), b->end(), a.bytes.begin());
        s.cap.target = stub_for(a);
        break;
      }
      case cap_kind::egress: {
        auto* name = target.if_string();
        if (!name) return bad("an egress target must be a name");
        s.cap.target = egress_named(*name);
        break;
      }
      default: {
        auto link = u32(target, 0xffffffffu);
        if (!link) return bad("a free slot's link is out of range");
        s.cap.target = *link;
      }
    }
    slots.push_back(s);
  }
  return cap_table::restore(std::move(slots), *head);
}

expected<void> kernel::flush_state() {
  if (broken_) return unexpected(*broken_);
  auto put = [&](const bytes& key, const value& v) { return store_->put(key, encode(v)); };
  // The host's clock and counters move with nearly every delivery and send: it is always
  // written (the tree ignores a put of the value it already has); a host that has done
  // nothing yet leaves the tree empty.
  const actor& host = actors_[0];
  if (host.clock | host.nonce | host.seq) {
    host_record hrec{host.self, bits(host.clock), bits(host.nonce), bits(host.seq)};
    if (auto r = put(bytes(host_key.begin(), host_key.end()), to_value(hrec)); !r) return r;
  }
  for (std::size_t done = 0; done < dirty_.size(); ++done) {
    std::uint32_t slot = dirty_[done];
    actor& a = actors_[slot];
    if (a.type) {
      actor_record rec{std::string(a.type->name), bytes(a.type->code_hash.bytes.begin(), a.type->code_hash.bytes.end()),
                       bits(a.clock), bits(a.nonce), bits(a.seq), a.type->save != nullptr,
                       a.type->save ? a.type->save(a.state) : value{}};
      if (auto r = put(meta_key(a.self), to_value(rec)); !r) return r;
      if (a.caps_dirty) {
        if (auto r = put(actor_key(a.self, 'c'), save_caps(a.caps)); !r) return r;
        a.caps_dirty = false;
      }
    }
    a.dirty = false;
  }
  dirty_.clear();
  return {};
}

void kernel::undo_storage() noexcept {
  for (auto it = storage_undo_.rbegin(); it != storage_undo_.rend(); ++it) {
    expected<void> r;
    if (it->second) r = store_->put(it->first, *it->second);
    else if (auto e = store_->erase(it->first); !e) r = unexpected(std::move(e).error());
    if (!r && !broken_)
      broken_ = error{errc::internal, "undoing a failed message's storage writes failed, so the state no longer "
                                      "matches the actors: " + r.error().message};
  }
  storage_undo_.clear();
}

expected<digest> kernel::state_root() {
  if (auto r = flush_state(); !r) return unexpected(std::move(r).error());
  return store_->root();
}

expected<digest> kernel::commit_state(commit_meta meta) {
  if (auto r = flush_state(); !r) return unexpected(std::move(r).error());
  return store_->commit(std::move(meta));
}

expected<void> kernel::reset_state(const digest& root) {
  if (auto r = store_->set_root(root); !r) return r;
  for (std::size_t i = 1; i < actors_.size(); ++i) {
    actor& a = actors_[i];
    if (a.type) {
      a.type->destroy(a.state);
      --loaded_;
    }
    id self = a.self;
    a = actor{};
    a.self = self;
  }
  for (auto slot : dirty_) actors_[slot].dirty = false;
  dirty_.clear();
  broken_.reset();
  actor& host = actors_[0];
  host.clock = host.nonce = host.seq = 0;
  return load_host();
}

// ---------------------------------------------------------------- inputs from outside

expected<value> kernel::describe_cap(cap_handle h) const {
  auto c = actors_[0].caps.lookup(h);
  if (!c) return unexpected(std::move(c).error());
  const auto r = static_cast<std::int64_t>(c->rights);
  switch (c->kind) {
    case cap_kind::actor:
      return value::make_map({{"cap", "actor"}, {"actor", to_value(actors_[c->target].self)}, {"rights", r}});
    case cap_kind::function: {
      auto* self = const_cast<kernel*>(this);
      if (!actors_[c->target].type)
        if (auto l = self->load(c->target); !l) return unexpected(std::move(l).error());
      const auto* type = actors_[c->target].type;
      if (c->function >= type->functions.size())
        return fail(errc::wrong_kind, fmt::format("capability #{} names no exported function", h.index));
      return value::make_map({{"cap", "function"},
                              {"actor", to_value(actors_[c->target].self)},
                              {"function", value(std::string(type->functions[c->function].name))},
                              {"rights", r}});
    }
    case cap_kind::egress:
      return value::make_map({{"cap", "egress"}, {"egress", value(egress_[c->target].name)}, {"rights", r}});
    default:
      return fail(errc::wrong_kind, fmt::format("capability #{} names nothing that can be described", h.index));
  }
}

expected<cap_handle> kernel::materialize_cap(const value& d) {
  auto bad = [&](std::string_view why) {
    return fail(errc::malformed, fmt::format("capability description {}: {}", to_string(d), why));
  };
  const value* kind = d.find("cap");
  const value* r = d.find("rights");
  if (!kind || !kind->if_string() || !r || !r->if_i64()) return bad("needs a 'cap' kind and 'rights'");
  if (*r->if_i64() < 0 || *r->if_i64() > static_cast<std::int64_t>(rights::all)) return bad("impossible rights");
  const auto keep = static_cast<rights>(*r->if_i64());
  const std::string& k = *kind->if_string();
  if (k == "egress") {
    const value* name = d.find("egress");
    if (!name || !name->if_string() || d.if_map()->size() != 3) return bad("an egress is named by 'egress'");
    return host_insert(capability{cap_kind::egress, keep, egress_named(*name->if_string()), 0});
  }
  const value* who = d.find("actor");
  if (!who || !who->if_bytes()) return bad("needs the 'actor' id");
  auto aid = id_from_bytes(*who->if_bytes());
  if (!aid) return bad(aid.error().message);
  auto slot = resolve(*aid);
  if (!slot) return unexpected(std::move(slot).error());
  if (*slot == 0) return bad("names the hypervisor itself");
  if (k == "actor") {
    if (d.if_map()->size() != 3) return bad("unknown fields");
    return host_insert(capability{cap_kind::actor, keep, *slot, 0});
  }
  if (k == "function") {
    const value* fn = d.find("function");
    if (!fn || !fn->if_string() || d.if_map()->size() != 4) return bad("a function is named by 'function'");
    std::uint32_t f = actors_[*slot].type->find(*fn->if_string());
    if (f == failure_function)
      return fail(errc::no_such_function, fmt::format("actor {} ({}) exports no function '{}'", short_hex(*aid),
                                                      actors_[*slot].type->name, *fn->if_string()));
    return host_insert(capability{cap_kind::function, keep, *slot, f});
  }
  return bad("unknown kind");
}

namespace {
// `v` with every capability c replaced by f(c) (an expected<value>); f's first error is the
// result.
template <class F>
expected<value> transform_caps(const value& v, F& f) {
  if (auto* c = v.if_cap()) return f(*c);
  if (auto* l = v.if_list()) {
    value::list out;
    out.reserve(l->size());
    for (auto& e : *l) {
      auto d = transform_caps(e, f);
      if (!d) return d;
      out.push_back(std::move(*d));
    }
    return value(std::move(out));
  }
  if (auto* m = v.if_map()) {
    value::map out;
    out.reserve(m->size());
    for (auto& [k, e] : *m) {
      auto d = transform_caps(e, f);
      if (!d) return d;
      out.emplace_back(k, std::move(*d));
    }
    return value(std::move(out));
  }
  return v;
}
}  // namespace

expected<value> kernel::describe_caps(const value& v, value::list& caps) const {
  auto describe = [&](cap_handle c) -> expected<value> {
    auto d = describe_cap(c);
    if (!d) return d;
    caps.push_back(std::move(*d));
    return value(cap_handle{static_cast<std::uint32_t>(caps.size() - 1)});
  };
  return transform_caps(v, describe);
}

expected<value> kernel::materialize_caps(const value& v, const value::list& caps, std::vector<cap_handle>& made) {
  auto materialize = [&](cap_handle c) -> expected<value> {
    if (c.index >= caps.size())
      return fail(errc::malformed, fmt::format("capability #{} is not among the {} described", c.index, caps.size()));
    auto h = materialize_cap(caps[c.index]);
    if (!h) return unexpected(std::move(h).error());
    made.push_back(*h);
    return value(*h);
  };
  return transform_caps(v, materialize);
}

expected<void> kernel::send_input(cap_handle target, arg_list args, std::uint64_t budget, call_capture& c) {
  c.reply_egress = egress_named(reply_egress_name);
  cap_handle reply = host_insert(capability{cap_kind::egress, rights::call | rights::transfer, c.reply_egress, 0});
  c.seq = actors_[0].seq;
  inputting_ = true;
  auto r = send(target, std::move(args), send_options{.budget = budget, .reply_to = reply});
  inputting_ = false;
  (void)actors_[0].caps.drop(reply);
  (void)actors_[0].caps.drop(target);
  return r;
}

value kernel::saved_state(const actor_type& type, const void* state) {
  return type.save ? type.save(state) : value{};
}

expected<cap_handle> kernel::create_saved(const digest& code, value state) {
  auto t = type_for(code);
  if (!t) return unexpected(std::move(t).error());
  const actor_type& type = **t;
  if (!type.load)
    return fail(errc::invalid_argument, fmt::format("type '{}' cannot load saved state", type.name));
  auto s = type.load(type, std::move(state));
  if (!s) return unexpected(std::move(s).error());
  return create_root(type, *s);
}

// ---------------------------------------------------------------- code

namespace {
bytes code_key(const digest& code) {
  bytes k;
  k.reserve(33);
  k.push_back('k');
  k.insert(k.end(), code.bytes.begin(), code.bytes.end());
  return k;
}
struct code_record {
  BOOST_HANA_DEFINE_STRUCT(code_record, (std::string, container), (bytes, code));
};
}  // namespace

expected<digest> kernel::install(std::string_view container_name, byte_view code, bool* added) {
  if (added) *added = false;
  if (!cfg_.containers)
    return fail(errc::invalid_argument, "this hypervisor has no container registry (set config::containers)");
  const container* c = cfg_.containers->find(container_name);
  if (!c)
    return fail(errc::invalid_argument, fmt::format("no container named '{}' is registered; load its plugin first",
                                                    container_name));
  auto compiled = c->compile(code, cfg_.containers->limits());
  if (!compiled) return unexpected(std::move(compiled).error());
  const digest h = (*compiled)->code_hash;
  if (codes_.contains(h)) return h;
  if (c->type_id() != EXO_TYPE_NATIVE) {  // native code is a type name, known to every build that registers it
    auto key = code_key(h);
    auto have = store_->get(key);
    if (!have) return unexpected(std::move(have).error());
    if (!*have) {
      if (auto r = store_->put(key, encode(to_value(code_record{std::string(c->name()), bytes(code.begin(), code.end())}))); !r)
        return unexpected(std::move(r).error());
      if (added) *added = true;  // only a new record may be discarded again
    }
  }
  types_.emplace(h, compiled->get());
  codes_.emplace(h, std::move(*compiled));
  return h;
}

void kernel::discard_code(const digest& code) {
  auto it = codes_.find(code);
  if (it == codes_.end()) return;
  (void)store_->erase(code_key(code));
  types_.erase(code);
  if (last_type_ == it->second.get()) last_type_ = nullptr;
  codes_.erase(it);
}

expected<const actor_type*> kernel::type_for(const digest& code) {
  if (auto t = types_.find(code); t != types_.end()) return t->second;
  if (cfg_.containers)
    if (const actor_type* native = cfg_.containers->native().find(code)) {
      types_.emplace(code, native);
      return native;
    }
  auto raw = store_->get(code_key(code));
  if (!raw) return unexpected(std::move(raw).error());
  if (!*raw)
    return fail(errc::no_such_actor, fmt::format("no type with code {} is registered or installed; register native "
                                                 "types with register_type<T>() and install code with install()",
                                                 short_hex(code)));
  auto v = decode(**raw);
  auto rec = v ? from_value<code_record>(std::move(*v), "code record: ") : unexpected(std::move(v).error());
  if (!rec) return fail(errc::malformed, fmt::format("the stored code {}: {}", short_hex(code), rec.error().message));
  auto h = install(rec->container, rec->code);
  if (!h) return fail(h.error().code, fmt::format("the stored code {} ({}): {}", short_hex(code), rec->container,
                                                  h.error().message));
  if (!(*h == code))
    return fail(errc::malformed, fmt::format("the stored code {} compiles to code {}: the record is damaged",
                                             short_hex(code), short_hex(*h)));
  return types_.at(code);
}

value kernel::type_list() const {
  std::vector<std::pair<std::string, digest>> all;
  for (auto& [code, t] : types_) all.emplace_back(std::string(t->name), code);
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.first != b.first ? a.first < b.first : a.second.bytes < b.second.bytes; });
  value::list out;
  for (auto& [name, code] : all) out.push_back(value::make_map({{"name", value(name)}, {"code", to_value(code)}}));
  return value(std::move(out));
}

}  // namespace exo
