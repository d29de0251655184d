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

#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
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




// Every input is logged with its outcome, in the same LMDB transaction as the state.
using demo_hv = exo::hypervisor<exo::ordered_scheduler, exo::lmdb_store, exo::lmdb_log>;
// What the verifier replays the log into: a fresh hypervisor in memory with the same types.
using replay_hv = exo::hypervisor<exo::ordered_scheduler, exo::memory_store, exo::memory_log>;
constexpr std::string_view demo_name = "exo-bank-demo";

template <class H>
void register_types(H& hv) {
  hv.template register_type<account>();
  hv.template register_type<bank>();
  hv.template register_type<mallory>();
}

const std::vector<std::pair<std::string, std::int64_t>> owners = {{"alice", 100}, {"bob", 50}, {"carol", 0}, {"mallory", 0}};

// The wasm container's plugin and the compiled examples, from the build tree (or
// EXO_PLUGIN_PATH for the plugin).
exo::bytes read_wasm(const std::string& name) {
  std::ifstream in(std::string(EXO_DEMO_WASM_DIR) + "/" + name + ".wasm", std::ios::binary);
  if (!in) throw std::runtime_error("cannot read the wasm example " + name + ".wasm; build the examples first");
  return exo::bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Runs the demo on `hv` (opened on the data directory). Returns the exit code.
int run(demo_hv& hv, const std::string& dir, exo::container_registry& containers) {
  register_types(hv);

  exo::sha256 trace;
  hv.on_deliver([&](const exo::delivery& d) {
    trace.update(d.receiver.view()).update(d.sender.view());
    std::uint64_t f[] = {d.function, d.ticks, d.seq, d.ok};
    trace.update(exo::byte_view(reinterpret_cast<const std::uint8_t*>(f), sizeof f));
  });
  hv.on_failure([](const exo::failure& f) { fmt::print("  ! failed and rolled back: {}\n", to_string(f)); });

  const exo::digest start = hv.state_root().value();
  const bool fresh = start.is_zero();
  fmt::print("exo demo: a bank of native actors and a wasm actor on the ordered scheduler, kept in {}\n", dir);
  fmt::print("hypervisor id {}\n", short_hex(hv.host_id()));
  if (fresh) fmt::print("state root at start: none (a new data directory)\n\n");
  else fmt::print("state root at start: {} (resumed from the last commit)\n\n", to_hex(start));

  // Every call from outside goes through invoke(): it runs the call and logs it with its
  // outcome (the function's result, its error, what reached egresses, ticks, state root).
  auto ask = [&](const exo::id& actor, std::string_view fn, exo::arg_list args) -> exo::call_outcome {
    auto out = hv.invoke(actor, fn, std::move(args));
    if (!out) {
      fmt::print(stderr, "demo: {} could not be logged: {}\n", fn, to_string(out.error()));
      std::exit(1);
    }
    return std::move(*out);
  };

  const exo::id bank_id = exo::derive_actor_id(hv.host_id(), 0);  // the first root actor
  if (fresh) {
    auto desk = hv.create_egress("owner-desk", [&](exo::egress_message& m) {
      fmt::print("  bank opened an account for {} (its capabilities arrived at tick {})\n", *m.args[0].if_string(), m.ticks);
    });
    if (auto b = hv.create(bank{}); !b) {
      fmt::print(stderr, "demo: the bank: {}\n", to_string(b.error()));
      return 1;
    }
    // A wasm actor beside the native ones: examples/wasm/counter.wat counts the demo's runs.
    if (auto c = hv.create_code("wasm", read_wasm("counter")); !c) {
      fmt::print(stderr, "demo: the wasm counter: {}\n", to_string(c.error()));
      return 1;
    }
    fmt::print("1. opening accounts\n");
    for (auto& [who, initial] : owners) ask(bank_id, "open", context::make_args(who, initial, desk));
  }
  // Owners find their accounts through the bank, on every run.
  std::map<std::string, cap_handle> deposit;
  std::map<std::string, exo::id> ids;
  for (auto& [who, initial] : owners) {
    auto v = ask(bank_id, "account_of", context::make_args(who)).result;
    auto* b = v.if_bytes();
    if (!b || b->size() != 32) {
      fmt::print(stderr, "demo: the bank does not know {}'s account\n", who);
      return 1;
    }
    exo::id aid;
    std::copy(b->begin(), b->end(), aid.bytes.begin());
    ids[who] = aid;
    // A deposit cap carries no derive right: handed on, it stays deposit-only.
    deposit[who] = *hv.lookup(aid, "deposit", exo::rights::call | exo::rights::transfer);
  }
  auto balances = [&](bool print = true) {
    std::map<std::string, std::int64_t> out;
    for (auto& [who, aid] : ids) out[who] = *ask(aid, "balance", {}).result.if_i64();
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
    ask(ids["alice"], "transfer", context::make_args(30, deposit["bob"]));
    balances();

    fmt::print("\n3. bob tries to pay carol 500: the debit and the payment are sent, then the overdraft fails\n");
    auto refused = ask(ids["bob"], "transfer", context::make_args(500, deposit["carol"]));
    fmt::print("  the call's logged error: {}\n", refused.error ? refused.error->message : "none");
    balances();
    fmt::print("  (carol got nothing and bob kept his 80: the failed message's effects were discarded)\n");

    fmt::print("\n4. mallory holds alice's deposit-only capability and tries to derive more from it\n");
    auto thief = hv.create(mallory{}).value();
    ask(*hv.actor_id(thief), "steal", context::make_args(deposit["alice"], deposit["mallory"]));
    auto b = balances();
    ok = b["alice"] == 70 && b["bob"] == 80 && b["carol"] == 0 && b["mallory"] == 0 && hv.stats().failed == 2;
    check = "alice=70 bob=80 carol=0 mallory=0, two failures rolled back";
  } else {
    fmt::print("1. the accounts as the last run left them\n");
    auto before = balances();
    fmt::print("\n2. alice pays bob 10 (run again and she pays again, until she cannot)\n");
    ask(ids["alice"], "transfer", context::make_args(10, deposit["bob"]));
    auto after = balances();
    std::int64_t paid = before["alice"] >= 10 ? 10 : 0;
    ok = after["alice"] == before["alice"] - paid && after["bob"] == before["bob"] + paid;
    check = paid ? "alice paid 10 and bob received it" : "alice could not pay and nothing changed";
  }

  // The wasm counter (created second, after the bank): one more run of the demo.
  const exo::id runs_id = exo::derive_actor_id(hv.host_id(), 1);
  fmt::print("\n{}. a wasm actor (examples/wasm/counter.wat, metered by the instruction) counts this run\n",
             fresh ? 5 : 3);
  auto before_runs = ask(runs_id, "get", {});
  auto runs = ask(runs_id, "add", context::make_args(std::int64_t{1}));
  const bool counted = !before_runs.error && !runs.error && runs.result.if_i64() && before_runs.result.if_i64() &&
                       *runs.result.if_i64() == *before_runs.result.if_i64() + 1;
  if (counted)
    fmt::print("  runs of the demo on this directory: {} (the call took {} ticks)\n", *runs.result.if_i64(), runs.ticks);
  else
    fmt::print("  the wasm counter failed: {}\n", runs.error ? runs.error->message : "no count");
  ok = ok && counted;

  fmt::print("\n{}. final ticks (each actor's clock)\n", fresh ? 6 : 4);
  for (auto& [who, aid] : ids) fmt::print("  {:8} actor {}  clock {}\n", who, short_hex(aid), *hv.clock_of(aid));
  fmt::print("  bank     actor {}  clock {}\n", short_hex(bank_id), *hv.clock_of(bank_id));
  fmt::print("  host clock {}\n", hv.now());

  std::int64_t total = 0;
  for (auto& [who, amount] : balances(false)) total += amount;

  // Every input committed its state changes and its log entry in one LMDB transaction.
  auto root = hv.state_root();
  if (!root) {
    fmt::print(stderr, "demo: {}\n", to_string(root.error()));
    return 1;
  }
  // Anyone holding the root can check alice's account record with a proof, and nothing else.
  auto key = exo::record_key(ids["alice"]);
  auto record = hv.tree().get(key).value();
  auto proof = exo::encode_proof(hv.tree().prove(key).value());
  bool proved = record && exo::verify_proof(*root, key, record, proof).has_value();

  auto& s = hv.stats();
  fmt::print("\n{} messages delivered, {} failed and rolled back, {} actors loaded, {} egress deliveries\n", s.delivered,
             s.failed, hv.actor_count(), s.egress);
  fmt::print("delivery trace hash {} (the same for every run from the same state)\n", to_hex(trace.finish()));
  fmt::print("state root at start: {}\n", fresh ? std::string("none") : to_hex(start));
  fmt::print("state root at end:   {} (committed to {})\n", to_hex(*root), dir);
  fmt::print("proof of alice's account record under that root: {} bytes, {}\n", proof.size(),
             proved ? "verified" : "NOT VERIFIED");

  // Anyone holding the log can replay it into a fresh hypervisor and check every result,
  // every error and every state root, and the node's signature on the head.
  fmt::print("\nverifying the call log ({} entries, signed by node key {})\n", hv.log().size(),
             exo::to_hex(hv.node_public_key().view()).substr(0, 16));
  auto verdict = exo::verify(hv.log(), [&] {
    auto fresh = std::make_unique<replay_hv>(exo::config{.name = std::string(demo_name), .containers = &containers});
    register_types(*fresh);
    return fresh;
  });
  fmt::print("verifier: {}\n", verdict.to_string());
  bool verified = verdict.ok() && verdict.final_root == *root;

  ok = ok && total == 150 && proved && verified;
  if (ok) fmt::print("demo OK: tokens conserved (150), {}; run again to resume from this root\n", check);
  else fmt::print("demo FAILED: expected {}, total 150, a verified proof and a verified log\n", check);
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
  exo::container_registry containers;
  containers.add_search_dir(EXO_DEMO_PLUGIN_DIR);
  if (auto r = containers.load_named("wasm"); !r) {
    fmt::print(stderr, "demo: {}\n", to_string(r.error()));
    return 2;
  }
  auto hv = demo_hv::open(std::move(*disk), exo::config{.name = std::string(demo_name), .containers = &containers});
  if (!hv) {
    fmt::print(stderr, "demo: {}\n", to_string(hv.error()));
    return 2;
  }
  return run(*hv, dir, containers);
}
