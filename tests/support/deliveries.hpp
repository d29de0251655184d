#pragma once
// A hypervisor's deliveries as text, for tests that compare two runs of one workload (another
// run, another scheduler policy, a cold and a warm container).

#include <exo/core/id.hpp>
#include <exo/hypervisor/kernel.hpp>

#include <string>
#include <vector>

namespace exo_test {

/// Records each delivery in `trace` as "receiver:function@ticks" ("!" after a failed one): two
/// runs of one workload must record the same.
template <class H>
void trace_deliveries(H& hv, std::vector<std::string>& trace) {
  hv.on_deliver([&trace](const exo::delivery& d) {
    trace.push_back(exo::short_hex(d.receiver) + ":" + std::to_string(d.function) + "@" + std::to_string(d.ticks) +
                    (d.ok ? "" : "!"));
  });
}

}  // namespace exo_test
