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

namespace {

using exo::cap_handle;
using exo::context;
using exo::expected;

struct account {
  std::string owner;
  std::int64_t balance = 0;

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

/// Opens accounts and hands their capabilities to the owner (through an egress).
struct bank {
  std::int64_t opened = 0;
  expected<void> open(context& ctx, std::string owner, std::int64_t initial, cap_handle owner_desk) {
    auto acct = ctx.create(account{owner, initial});
    if (!acct) return exo::unexpected(acct.error());
    auto transfer = ctx.derive(*acct, exo::rights::call | exo::rights::transfer, "transfer");
    auto balance = ctx.derive(*acct, exo::rights::call | exo::rights::transfer, "balance");
    auto deposit = ctx.derive(*acct, exo::rights::call | exo::rights::transfer, "deposit");
    if (!transfer || !balance || !deposit) return exo::fail(exo::errc::internal, "derive failed");
    ++opened;
    return ctx.call_with(owner_desk, exo::send_options{.budget = 0}, owner, *transfer, *balance, *deposit);
  }
  static constexpr std::string_view exo_name = "bank";
  static constexpr auto exo_exports = exo::exports(exo::fn<&bank::open>("open", 30));
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

}  // namespace

int main() {
  exo::hypervisor<exo::ordered_scheduler> hv(exo::config{.name = "exo-bank-demo"});
  fmt::print("exo demo: a bank of native actors on the ordered scheduler\n");
  fmt::print("hypervisor id {}\n\n", short_hex(hv.host_id()));

  exo::sha256 trace;
  hv.on_deliver([&](const exo::delivery& d) {
    trace.update(d.receiver.view()).update(d.sender.view());
    std::uint64_t f[] = {d.function, d.ticks, d.seq, d.ok};
    trace.update(exo::byte_view(reinterpret_cast<const std::uint8_t*>(f), sizeof f));
  });
  hv.on_failure([](const exo::failure& f) {
    fmt::print("  ! failed and rolled back: {}\n", to_string(f));
  });

  // The owners' desk: an egress where the bank hands over each new account's capabilities.
  std::map<std::string, owner_caps> desk;
  auto owner_desk = hv.create_egress("owner-desk", [&](exo::egress_message& m) {
    auto& a = m.args;
    desk[*a[0].if_string()] = owner_caps{*a[1].if_cap(), *a[2].if_cap(), *a[3].if_cap()};
    fmt::print("  bank opened an account for {} (its capabilities arrived at tick {})\n", *a[0].if_string(), m.ticks);
  });
  std::map<std::string, std::int64_t> balances;
  std::string asking;
  auto teller = hv.create_egress("teller", [&](exo::egress_message& m) { balances[asking] = *m.args[0].if_i64(); });

  auto bank_actor = hv.create(bank{});
  auto open = *hv.function_cap(bank_actor, "open");
  fmt::print("1. opening accounts\n");
  for (auto [who, initial] : {std::pair{"alice", 100}, {"bob", 50}, {"carol", 0}, {"mallory", 0}})
    must(hv.call(open, who, initial, owner_desk), "open");
  hv.run();

  auto report = [&] {
    for (auto& [who, caps] : desk) {
      asking = who;
      must(hv.send(caps.balance, {}, exo::send_options{.reply_to = teller}), "balance");
      hv.run();
    }
    std::string line;
    for (auto& [who, amount] : balances) line += fmt::format("{}={} ", who, amount);
    fmt::print("  balances: {}\n", line);
  };
  report();

  fmt::print("\n2. alice pays bob 30 through bob's deposit capability\n");
  must(hv.call(desk["alice"].transfer, 30, desk["bob"].deposit), "transfer");
  hv.run();
  report();

  fmt::print("\n3. bob tries to pay carol 500: the debit and the payment are sent, then the overdraft fails\n");
  must(hv.call(desk["bob"].transfer, 500, desk["carol"].deposit), "transfer");
  hv.run();
  report();
  fmt::print("  (carol got nothing and bob kept his 80: the failed message's effects were discarded)\n");

  fmt::print("\n4. mallory holds alice's deposit-only capability and tries to derive more from it\n");
  auto thief = hv.create(mallory{});
  must(hv.call(*hv.function_cap(thief, "steal"), desk["alice"].deposit, desk["mallory"].deposit), "steal");
  hv.run();
  report();

  fmt::print("\n5. final ticks (each actor's clock)\n");
  for (auto& [who, caps] : desk) {
    auto aid = *hv.actor_id(caps.balance);
    fmt::print("  {:8} actor {}  clock {}\n", who, short_hex(aid), *hv.clock_of(aid));
  }
  fmt::print("  bank     actor {}  clock {}\n", short_hex(*hv.actor_id(bank_actor)), *hv.clock_of(*hv.actor_id(bank_actor)));
  fmt::print("  host clock {}\n", hv.now());
  auto& s = hv.stats();
  fmt::print("\n{} messages delivered, {} failed and rolled back, {} actors, {} egress deliveries\n", s.delivered,
             s.failed, hv.actor_count(), s.egress);
  fmt::print("delivery trace hash {} (the same on every run)\n", to_hex(trace.finish()));

  // The demo checks itself: the totals are conserved and the failed transfers changed nothing.
  std::int64_t total = 0;
  for (auto& [who, amount] : balances) total += amount;
  bool ok = total == 150 && balances["alice"] == 70 && balances["bob"] == 80 && balances["carol"] == 0 && s.failed == 2;
  fmt::print("{}\n", ok ? "demo OK: tokens conserved, failed transfers rolled back" : "demo FAILED: unexpected balances");
  return ok ? 0 : 1;
}
