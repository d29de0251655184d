#include <exo/core/error.hpp>

namespace exo {

std::string_view to_string(errc code) noexcept {
  switch (code) {
    case errc::invalid_argument: return "invalid_argument";
    case errc::malformed: return "malformed";
    case errc::out_of_ticks: return "out_of_ticks";
    case errc::no_such_actor: return "no_such_actor";
    case errc::no_such_function: return "no_such_function";
    case errc::bad_capability: return "bad_capability";
    case errc::wrong_kind: return "wrong_kind";
    case errc::missing_right: return "missing_right";
    case errc::handler_failed: return "handler_failed";
    case errc::handler_threw: return "handler_threw";
    case errc::limit_exceeded: return "limit_exceeded";
    case errc::type_mismatch: return "type_mismatch";
    case errc::internal: return "internal";
    case errc::trap: return "trap";
    case errc::incompatible: return "incompatible";
    case errc::fault: return "fault";
    case errc::unreachable: return "unreachable";
  }
  return "unknown_error";
}

std::string to_string(const error& e) {
  std::string s(to_string(e.code));
  s += ": ";
  s += e.message;
  return s;
}

}  // namespace exo
