#pragma once
// How Boost.Test prints exo's types in failed assertions.

#include <exo/core/error.hpp>
#include <exo/core/id.hpp>

#include <ostream>

namespace exo {
inline std::ostream& boost_test_print_type(std::ostream& os, const id& i) { return os << to_hex(i); }
inline std::ostream& boost_test_print_type(std::ostream& os, errc c) { return os << to_string(c); }
}  // namespace exo
