#pragma once
/// \file
/// A failure report: what the origin of a failed message receives, as a message it can
/// handle (Primea's execution:error, made a first-class message). Encoded as a value map.

#include <exo/core/error.hpp>
#include <exo/core/id.hpp>
#include <exo/core/reflect.hpp>

#include <cstdint>
#include <string>

namespace exo {

struct failure {
  BOOST_HANA_DEFINE_STRUCT(failure,
    /// The actor whose handler failed.
    (id, actor),
    /// The function that was called.
    (std::string, function),
    /// The cause, an exo::errc number.
    (std::int64_t, code),
    /// The cause in words.
    (std::string, message),
    /// The failed message's sender and its sequence number: which send failed.
    (id, sender),
    (std::uint64_t, seq));

  errc cause() const noexcept { return static_cast<errc>(code); }
};

/// "actor 1a2b3c4d: withdraw: out_of_ticks: ..." for people.
std::string to_string(const failure& f);

}  // namespace exo
