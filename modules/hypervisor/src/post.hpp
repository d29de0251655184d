#pragma once
// Internal to the kernel: kernel::post, the one path every message is sent by. Inline, since
// it is on every send's path; included by the files that send. Not installed.

#include "cap_walk.hpp"

#include <exo/hypervisor/kernel.hpp>

namespace exo {

// Every message is built here: a host send, an actor's send, forward, reply or result, and a
// failure report. It is stamped with its sender's clock (`ticks`), id and next sequence
// number (the order of DESIGN.md section 4.1), queued in `out` (the outbox, or the host's
// outbox for a host send during a delivery), and its capabilities are moved out of the
// sender's table into the message; if that fails, nothing of it remains.
[[gnu::always_inline]] inline expected<void> kernel::post(message_batch& out, actor& sender,
                                                          std::uint64_t ticks, const capability& target,
                                                          const capability& reply, std::uint32_t origin,
                                                          std::uint64_t budget, arg_list&& args) {
  message& m = out.append_slot();  // every field is written here
  m.target = target;
  m.reply_to = reply;
  m.origin = origin;
  m.ticks = ticks;
  m.seq = sender.seq++;
  m.budget = budget;
  m.sender_id = &sender.self;  // actor records do not move
  if (m.args.append_noting_caps(std::move(args))) [[unlikely]]
    if (auto r = export_caps(sender, m); !r) [[unlikely]] {
      out.pop_back();
      --sender.seq;
      return r;
    }
  return {};
}

}  // namespace exo
