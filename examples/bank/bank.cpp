// The exo demo: a bank of native actors that move tokens by passing capabilities.
//
// Each account is an actor. Its owner holds capabilities to `transfer` and `balance`; anyone
// may hold a deposit-only capability (call + transfer rights, no derive), which is how money
// is paid *to* an account. A transfer debits, then pays through the capability it was given,
// then checks the balance: an overdraft fails the message, and the transaction rolls the
// debit and the payment back. Everything runs on the ordered (deterministic) scheduler, so
// the printed trace hash is the same on every run and every machine.

#include <exo/exo.hpp>

#include <fmt/format.h>

#include <map>
#include <string>
#include <vector>

namespace {

using exo::cap_handle;
using exo::context;
using exo::expected;

struct account {
  BOOST_HANA_DEFINE_STRUCT(account, (std::string, owner), (std::int64_t, balance));

  void deposit(context&, std::int64_t amount) { balance += amount; }
  expected<void> transfer(context& ctx, std::int64_t amount, cap_handle to) {
    if (amount <= 0) return exo::fail(exo::errc::invalid_argument, fmt::format("amount must be positive, got {}", amount));
    balance -= amount;  // debit first: a failure below must undo it
    if (auto r = ctx.call_with(to, exo::send_options{.budget = 50}, amount); !r) return r;
    if (balance < 0)
      return exo::fail(exo::errc::handler_failed,
                       fmt::format("{} cannot pay {}: only {} in the account", owner, amount, balance + amount));
    return {};
  }
  std::int64_t get_balance(context&) const { return balance; }

  static constexpr std::string_view exo_name = "account";
  static constexpr auto exo_exports =
      exo::exports(exo::fn<&account::deposit>("deposit", 5), exo::fn<&account::transfer>("transfer", 20),
                   exo::fn<&account::get_balance>("balance", 2));
};

/// Opens accounts and hands their capabilities to the owner (through an egress). It keeps
/// each owner's account id in its storage, so owners can find their account again later.
struct bank {
  BOOST_HANA_DEFINE_STRUCT(bank, (std::int64_t, opened));
  expected<void> open(context& ctx, std::string owner, std::int64_t initial, cap_handle owner_desk) {
    // The bank creates nothing but accounts, so the n-th account's id is derived from the
    // bank's id and n (DESIGN.md section 2).
    auto aid = exo::derive_actor_id(ctx.self(), static_cast<std::uint64_t>(opened));
    if (auto r = ctx.storage_put(exo::as_bytes("account/" + owner), aid.view()); !r) return r;
    auto acct = ctx.create(account{owner, initial});
    if (!acct) return exo::unexpected(acct.error());
    auto transfer = ctx.derive(*acct, exo::rights::call | exo::rights::transfer, "transfer");
    auto balance = ctx.derive(*acct, exo::rights::call | exo::rights::transfer, "balance");
    auto deposit = ctx.derive(*acct, exo::rights::call | exo::rights::transfer, "deposit");
    if (!transfer || !balance || !deposit) return exo::fail(exo::errc::internal, "derive failed");
    ++opened;
    return ctx.call_with(owner_desk, exo::send_options{.budget = 0}, owner, *transfer, *balance, *deposit);
  }
  expected<exo::bytes> account_of(context& ctx, std::string owner) const {
    auto id = ctx.storage_get(exo::as_bytes("account/" + owner));
    if (!id) return exo::unexpected(id.error());
    if (!*id) return exo::fail(exo::errc::invalid_argument, fmt::format("{} has no account here", owner));
    return std::move(**id);
  }
  static constexpr std::string_view exo_name = "bank";
  static constexpr auto exo_exports =
      exo::exports(exo::fn<&bank::open>("open", 30), exo::fn<&bank::account_of>("account_of", 10));
};

/// Holds only someone else's deposit capability and tries to turn it into a withdrawal.
struct mallory {
  expected<void> steal(context& ctx, cap_handle victim_deposit, cap_handle my_deposit) {
    auto f = ctx.derive(victim_deposit, exo::rights::all);  // no derive right: refused
    if (!f) return exo::unexpected(f.error());
    return ctx.call(*f, 1000, my_deposit);
  }
  static constexpr std::string_view exo_name = "mallory";
  static constexpr auto exo_exports = exo::exports(exo::fn<&mallory::steal>("steal", 3));
};

struct owner_caps {
  cap_handle transfer, balance, deposit;
};

void must(const expected<void>& r, const char* what) {
  if (!r) {
    fmt::print(stderr, "demo: {} failed: {}\n", what, to_string(r.error()));
    std::exit(1);
  }
}


using demo_hv = exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store>;

const std::vector<std::pair<std::string, std::int64_t>> owners = {{"alice", 100}, {"bob", 50}, {"carol", 0}, {"mallory", 0}};

/// Runs the demo on `hv` (opened on the data directory). Returns the exit code.
int run(demo_hv& hv, const std::string& dir) {
  hv.register_type<account>();
  hv.register_type<bank>();
  hv.register_type<mallory>();

  exo::sha256 trace;
  hv.on_deliver([&](const exo::delivery& d) {
    trace.update(d.receiver.view()).update(d.sender.view());
    std::uint64_t f[] = {d.function, d.ticks, d.seq, d.ok};
    trace.update(exo::byte_view(reinterpret_cast<const std::uint8_t*>(f), sizeof f));
  });
  hv.on_failure([](const exo::failure& f) { fmt::print("  ! failed and rolled back: {}\n", to_string(f)); });

  const exo::digest start = hv.state_root().value();
  const bool fresh = start.is_zero();
  fmt::print("exo demo: a bank of native actors on the ordered scheduler, kept in {}\n", dir);
  fmt::print("hypervisor id {}\n", short_hex(hv.host_id()));
  if (fresh) fmt::print("state root at start: none (a new data directory)\n\n");
  else fmt::print("state root at start: {} (resumed from the last commit)\n\n", to_hex(start));

  // Replies come back to the host through the teller egress.
  exo::value reply;
  auto teller = hv.create_egress("teller", [&](exo::egress_message& m) { reply = m.args.empty() ? exo::value{} : m.args[0]; });
  auto ask = [&](cap_handle f, exo::arg_list args) -> exo::value {
    reply = exo::value{};
    must(hv.send(f, std::move(args), exo::send_options{.reply_to = teller}), "ask");
    hv.run();
    return reply;
  };

  const exo::id bank_id = exo::derive_actor_id(hv.host_id(), 0);  // the first root actor
  if (fresh) {
    auto desk = hv.create_egress("owner-desk", [&](exo::egress_message& m) {
      fmt::print("  bank opened an account for {} (its capabilities arrived at tick {})\n", *m.args[0].if_string(), m.ticks);
    });
    auto b = hv.create(bank{});
    fmt::print("1. opening accounts\n");
    auto open = *hv.function_cap(b, "open");
    for (auto& [who, initial] : owners) must(hv.call(open, who, initial, desk), "open");
    hv.run();
  }
  // Owners find their accounts through the bank, on every run.
  auto account_of = *hv.lookup(bank_id, "account_of");
  std::map<std::string, owner_caps> caps;
  std::map<std::string, exo::id> ids;
  for (auto& [who, initial] : owners) {
    auto v = ask(account_of, context::make_args(who));
    auto* b = v.if_bytes();
    if (!b || b->size() != 32) {
      fmt::print(stderr, "demo: the bank does not know {}'s account\n", who);
      return 1;
    }
    exo::id aid;
    std::copy(b->begin(), b->end(), aid.bytes.begin());
    ids[who] = aid;
    // The owner's caps carry no derive right: a deposit cap handed on stays deposit-only.
    const auto r = exo::rights::call | exo::rights::transfer;
    caps[who] = owner_caps{*hv.lookup(aid, "transfer", r), *hv.lookup(aid, "balance", r), *hv.lookup(aid, "deposit", r)};
  }
  auto balances = [&](bool print = true) {
    std::map<std::string, std::int64_t> out;
    for (auto& [who, c] : caps) out[who] = *ask(c.balance, {}).if_i64();
    if (!print) return out;
    std::string line;
    for (auto& [who, amount] : out) line += fmt::format("{}={} ", who, amount);
    fmt::print("  balances: {}\n", line);
    return out;
  };

  bool ok = true;
  std::string check;
  if (fresh) {
    balances();
    fmt::print("\n2. alice pays bob 30 through bob's deposit capability\n");
    must(hv.call(caps["alice"].transfer, 30, caps["bob"].deposit), "transfer");
    hv.run();
    balances();

    fmt::print("\n3. bob tries to pay carol 500: the debit and the payment are sent, then the overdraft fails\n");
    must(hv.call(caps["bob"].transfer, 500, caps["carol"].deposit), "transfer");
    hv.run();
    balances();
    fmt::print("  (carol got nothing and bob kept his 80: the failed message's effects were discarded)\n");

    fmt::print("\n4. mallory holds alice's deposit-only capability and tries to derive more from it\n");
    auto thief = hv.create(mallory{});
    must(hv.call(*hv.function_cap(thief, "steal"), caps["alice"].deposit, caps["mallory"].deposit), "steal");
    hv.run();
    auto b = balances();
    ok = b["alice"] == 70 && b["bob"] == 80 && b["carol"] == 0 && b["mallory"] == 0 && hv.stats().failed == 2;
    check = "alice=70 bob=80 carol=0 mallory=0, two failures rolled back";
  } else {
    fmt::print("1. the accounts as the last run left them\n");
    auto before = balances();
    fmt::print("\n2. alice pays bob 10 (run again and she pays again, until she cannot)\n");
    must(hv.call(caps["alice"].transfer, 10, caps["bob"].deposit), "transfer");
    hv.run();
    auto after = balances();
    std::int64_t paid = before["alice"] >= 10 ? 10 : 0;
    ok = after["alice"] == before["alice"] - paid && after["bob"] == before["bob"] + paid;
    check = paid ? "alice paid 10 and bob received it" : "alice could not pay and nothing changed";
  }

  fmt::print("\n{}. final ticks (each actor's clock)\n", fresh ? 5 : 3);
  for (auto& [who, aid] : ids) fmt::print("  {:8} actor {}  clock {}\n", who, short_hex(aid), *hv.clock_of(aid));
  fmt::print("  bank     actor {}  clock {}\n", short_hex(bank_id), *hv.clock_of(bank_id));
  fmt::print("  host clock {}\n", hv.now());

  // Commit: every change since the start, in one LMDB transaction.
  auto root = hv.commit();
  if (!root) {
    fmt::print(stderr, "demo: commit failed: {}\n", to_string(root.error()));
    return 1;
  }
  // Anyone holding the root can check alice's account record with a proof, and nothing else.
  auto key = exo::kernel::meta_key(ids["alice"]);
  auto record = hv.tree().get(key).value();
  auto proof = exo::encode_proof(hv.tree().prove(key).value());
  bool proved = record && exo::verify_proof(*root, key, record, proof).has_value();

  std::int64_t total = 0;
  for (auto& [who, amount] : balances(false)) total += amount;
  auto& s = hv.stats();
  fmt::print("\n{} messages delivered, {} failed and rolled back, {} actors loaded, {} egress deliveries\n", s.delivered,
             s.failed, hv.actor_count(), s.egress);
  fmt::print("delivery trace hash {} (the same for every run from the same state)\n", to_hex(trace.finish()));
  fmt::print("state root at start: {}\n", fresh ? std::string("none") : to_hex(start));
  fmt::print("state root at end:   {} (committed to {})\n", to_hex(*root), dir);
  fmt::print("proof of alice's account record under that root: {} bytes, {}\n", proof.size(),
             proved ? "verified" : "NOT VERIFIED");

  ok = ok && total == 150 && proved;
  if (ok) fmt::print("demo OK: tokens conserved (150), {}; run again to resume from this root\n", check);
  else fmt::print("demo FAILED: expected {}, total 150 and a verified proof\n", check);
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "exo-demo-data";
  auto disk = exo::lmdb_store::open(dir, {.create = true});
  if (!disk) {
    fmt::print(stderr, "demo: {}\n", to_string(disk.error()));
    return 2;
  }
  try {
    demo_hv hv(std::move(*disk), exo::config{.name = "exo-bank-demo"});
    return run(hv, dir);
  } catch (const std::exception& e) {
    fmt::print(stderr, "demo: {}\n", e.what());
    return 2;
  }
}
