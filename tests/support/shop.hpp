#pragma once
// A small shop for the call log and verifier tests: tills that count, refuse, pay through
// capabilities and keep notes; dice that are not deterministic; logged hypervisors over
// memory and LMDB; a workload; and a log copied as bytes, to tamper with.

#include "print.hpp"

#include <exo/exo.hpp>

#include <boost/test/unit_test.hpp>

#include <initializer_list>
#include <memory>
#include <optional>
#include <random>
#include <string_view>
#include <vector>

namespace shop {

using exo::cap_handle;
using exo::context;
using exo::expected;

/// Counts, stores a note, and pays through capabilities it is given.
struct till {
  BOOST_HANA_DEFINE_STRUCT(till, (std::int64_t, total));
  std::int64_t add(context&, std::int64_t n) { return total += n; }
  expected<void> refuse(context&, std::int64_t n) {
    total += n;
    return exo::fail(exo::errc::handler_failed, fmt::format("refused {}", n));
  }
  expected<void> pay(context& ctx, std::int64_t n, cap_handle to) { return ctx.call_with(to, exo::send_options{.budget = 50}, n); }
  expected<void> note(context& ctx, std::string k, std::string v) { return ctx.storage_put(exo::as_bytes(k), exo::as_bytes(v)); }
  // Hands out a capability to its own `add`.
  expected<cap_handle> adder(context& ctx) { return ctx.self_cap("add", exo::rights::call | exo::rights::transfer); }
  static constexpr std::string_view exo_name = "till";
  static constexpr auto exo_exports = exo::exports(exo::fn<&till::add>("add", 3), exo::fn<&till::refuse>("refuse", 2),
                                                   exo::fn<&till::pay>("pay", 5), exo::fn<&till::note>("note", 4),
                                                   exo::fn<&till::adder>("adder", 2));
};

/// Uses ambient randomness: not deterministic, so a replay must catch it.
struct dice {
  BOOST_HANA_DEFINE_STRUCT(dice, (std::int64_t, last));
  std::int64_t roll(context&) {
    static std::random_device rd;
    return last = static_cast<std::int64_t>(rd() % 1'000'000);
  }
  static constexpr std::string_view exo_name = "dice";
  static constexpr auto exo_exports = exo::exports(exo::fn<&dice::roll>("roll", 1));
};

/// Reports what it learns of the logged input it serves: its caller's key (null when
/// anonymous) and the message's entropy. Deterministic: a replay gives the same.
struct oracle {
  BOOST_HANA_DEFINE_STRUCT(oracle, (std::int64_t, calls));
  exo::value who(context& c) {
    ++calls;
    if (const exo::public_key* k = c.caller()) return exo::value(exo::bytes(k->bytes.begin(), k->bytes.end()));
    return exo::value{};
  }
  exo::bytes draw(context& c) {
    ++calls;
    const exo::digest d = c.entropy();
    return exo::bytes(d.bytes.begin(), d.bytes.end());
  }
  static constexpr std::string_view exo_name = "oracle";
  static constexpr auto exo_exports = exo::exports(exo::fn<&oracle::who>("who", 1), exo::fn<&oracle::draw>("draw", 1));
};

/// An actor whose node faults (errc::fault: a stop that is not deterministic, like the js
/// container's watchdog) while `flaky::faulting` is set, after writing to its storage. It
/// counts the runs that were live and those that were replays (context::replaying).
struct flaky {
  BOOST_HANA_DEFINE_STRUCT(flaky, (std::int64_t, runs));
  static inline bool faulting = false;
  static inline int live = 0, replayed = 0;
  expected<std::int64_t> work(context& c, std::int64_t n) {
    ++runs;
    ++(c.replaying() ? replayed : live);
    if (auto r = c.storage_put(exo::as_bytes(std::string("last")), exo::as_bytes(std::to_string(n))); !r) return exo::unexpected(r.error());
    if (faulting) return exo::fail(exo::errc::fault, "stopped by a watchdog");
    return runs;
  }
  static constexpr std::string_view exo_name = "flaky";
  static constexpr auto exo_exports = exo::exports(exo::fn<&flaky::work>("work", 10));
};

using mem_hv = exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log>;
using disk_hv = exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store, exo::lmdb_log>;

/// A hypervisor the host can send to directly, bypassing any log.
template <class H>
concept sends_from_host = requires(H& h, cap_handle c, exo::byte_view b) {
  h.call(c, 1);
  h.send(c, exo::arg_list{});
  h.send_encoded(c, b);
};

inline std::unique_ptr<mem_hv> fresh() {
  auto hv = std::make_unique<mem_hv>(exo::config{.name = "shop"});
  hv->register_type<till>();
  hv->register_type<dice>();
  return hv;
}

/// fresh(), with the native type T registered too (a verifier's factory: fresh_with<T>).
template <class T>
std::unique_ptr<mem_hv> fresh_with() {
  auto hv = fresh();
  hv->register_type<T>();
  return hv;
}

// A small workload: two tills, calls that succeed, fail, pass capabilities and reach an egress.
inline void workload(mem_hv& hv) {
  auto a = hv.create(till{}).value();
  auto b = hv.create(till{5}).value();
  const exo::id ida = *hv.actor_id(a), idb = *hv.actor_id(b);
  BOOST_REQUIRE(hv.invoke(ida, "add", {7}));
  BOOST_REQUIRE(hv.invoke(idb, "add", {1}));
  BOOST_REQUIRE(hv.invoke(ida, "refuse", {3}));
  auto to_b = *hv.lookup(idb, "add", exo::rights::call | exo::rights::transfer);
  BOOST_REQUIRE(hv.invoke(ida, "pay", {4, to_b}));
  auto out = hv.create_egress("printer", [](exo::egress_message&) {});
  BOOST_REQUIRE(hv.invoke(ida, "pay", {9, out}));
  BOOST_REQUIRE(hv.invoke(ida, "note", {"k", "v"}));
  BOOST_REQUIRE(hv.invoke(idb, "no-such-function", {}));
}

/// A log held as plain bytes, to tamper with.
struct copied_log final : exo::log_reader {
  std::vector<exo::bytes> entries;
  std::optional<exo::bytes> head_bytes;
  explicit copied_log(const exo::log_reader& from) {
    for (std::uint64_t i = 0; i < from.size(); ++i) entries.push_back(*from.read(i));
    head_bytes = *from.head();
  }
  std::uint64_t size() const override { return entries.size(); }
  expected<exo::bytes> read(std::uint64_t i) const override { return entries.at(i); }
  expected<std::optional<exo::bytes>> head() const override { return head_bytes; }

  exo::log_entry entry(std::size_t i) const { return *exo::decode_entry(entries[i]); }
  void set(std::size_t i, const exo::log_entry& e) { entries[i] = exo::encode_entry(e); }
  exo::log_head head_rec() const { return *exo::decode_head(*head_bytes); }
  void set_head(const exo::log_head& h) { head_bytes = exo::encode_head(h); }
};

inline exo::verdict check(const exo::log_reader& log) { return exo::verify(log, fresh); }

inline void expect_divergence(const exo::verdict& v, std::uint64_t index, std::initializer_list<std::string_view> fields) {
  BOOST_TEST_MESSAGE(v.to_string());
  BOOST_REQUIRE_MESSAGE(!v.ok(), "tampering was not detected");
  BOOST_TEST(v.first->index == index);
  bool field_ok = false;
  for (auto f : fields) field_ok = field_ok || v.first->field == f;
  BOOST_TEST(field_ok, "field '" << v.first->field << "'");
}

}  // namespace shop
