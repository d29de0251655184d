#pragma once
// Internal to the kernel: kernel_context, the host API as actors see it (exo::context) while
// one message runs. Every effect goes into the message's transaction; a refused request is a
// trap that fails the whole message. Not installed.

#include "records.hpp"

#include <exo/hypervisor/kernel.hpp>

#include <optional>

namespace exo {

class kernel_context final : public context {
 public:
  kernel_context(kernel& k, detail::lane& l, detail::actor& a, std::uint32_t slot, message& m,
                 std::uint64_t cost) noexcept
      : k_(k), l_(l), a_(a), slot_(slot), m_(m), exec_(cost) {}

  const id& self() const noexcept override { return a_.self; }
  const id& sender() const noexcept override { return *m_.sender_id; }
  const digest& code_hash() const noexcept override { return a_.type->code_hash; }
  const public_key* caller() const noexcept override { return k_.input_.caller ? &*k_.input_.caller : nullptr; }
  digest entropy() const noexcept override;
  bool replaying() const noexcept override { return k_.input_.replay; }
  std::uint64_t now() const noexcept override { return internal::sat_add(a_.clock, exec_); }
  std::uint64_t sent_at() const noexcept override { return m_.ticks; }
  std::uint64_t budget() const noexcept override { return m_.budget; }
  std::uint64_t remaining() const noexcept override {
    std::uint64_t used = internal::sat_add(exec_, handed_);
    return used >= m_.budget ? 0 : m_.budget - used;
  }
  /// Ticks executed so far (the function's cost included).
  std::uint64_t executed() const noexcept { return exec_; }
  const error& trap_error() const noexcept { return *trap_; }

  expected<void> charge(std::uint64_t ticks) override;
  expected<void> send(cap_handle target, arg_list&& args, const send_options& opts) override;
  expected<void> reply(arg_list&& args) override;
  expected<void> forward(cap_handle target, arg_list&& args) override;
  expected<cap_handle> reply_cap() override;
  expected<cap_handle> derive(cap_handle from, rights keep, std::string_view function) override;
  expected<cap_handle> self_cap(std::string_view function, rights keep) override;
  expected<void> drop(cap_handle h) override;
  expected<cap_handle> create_actor(const actor_type& type, void* state) override;
  expected<cap_handle> create_from_code(const digest& code) override;
  using context::log;
  void log(log_level level, std::string_view text) override;
  expected<std::optional<bytes>> storage_get(byte_view key) override;
  expected<void> storage_put(byte_view key, byte_view value) override;
  expected<bool> storage_erase(byte_view key) override;
  bool has_reply_target() const noexcept override { return m_.reply_to.kind != cap_kind::none; }
  expected<void> send_result(value&& result) override;

 private:
  expected<capability> derive_fn(const capability& c, std::string_view function, rights keep);
  // Sends through the kernel's one path (kernel::post), within what is left of the budget.
  expected<void> emit(const capability& target, const capability& reply, std::uint32_t origin, std::uint64_t budget,
                      arg_list&& args);
  expected<void> trapped_before() const;
  expected<void> charge_over(std::uint64_t ticks);
  expected<void> not_callable(cap_handle target);
  expected<void> over_budget(std::uint64_t budget, std::uint64_t left);
  expected<void> refused(error&& e);
  // Checks a storage key and charges for the call.
  expected<void> storage_begin(byte_view key, std::size_t value_size);
  unexpected<error> trap(error e) {
    trapped_ = true;
    trap_.emplace(std::move(e));
    return unexpected(*trap_);
  }
  unexpected<error> trap(errc c, std::string msg) { return trap(error{c, std::move(msg)}); }
  // In a shared lane: what `what` needs is the kernel's, so the message stops here, is undone
  // without a trace, and runs again after its window, alone.
  unexpected<error> defer(std::string_view what);

  kernel& k_;
  detail::lane& l_;
  detail::actor& a_;
  std::uint32_t slot_;
  message& m_;
  std::uint64_t exec_;
  std::uint64_t handed_ = 0;
  std::optional<error> trap_;  // set with trapped_ (optional: a delivery builds no string)
};

}  // namespace exo
