#include <exo/call_log/json.hpp>
#include <exo/core/bytes.hpp>

namespace exo {

json entry_to_json(const log_entry& e, const digest& h) {
  json j{{"index", e.index},       {"hash", to_hex(h)},         {"kind", e.kind},
         {"actor", to_hex(e.actor)}, {"function", e.function},  {"args", to_json(e.args)},
         {"result", to_json(e.result)}, {"outputs", to_json(e.outputs)}, {"ticks", e.ticks},
         {"budget", e.budget},     {"root", to_hex(e.root)}};
  j["caller"] = e.caller ? json(to_hex(*e.caller)) : json(nullptr);
  if (e.seq) j["seq"] = *e.seq;
  j["error"] = e.error ? json{{"code", e.error->code}, {"name", e.error->name}, {"message", e.error->message}} : json(nullptr);
  return j;
}

}  // namespace exo
