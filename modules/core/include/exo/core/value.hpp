#pragma once
/// \file
/// The value model shared by every container: null, bool, i64, f64, bytes, string, list,
/// map and cap. Values cross actors inside messages, so one model serves native C++,
/// wasm, JS and AIR alike; exo/core/encoding.hpp gives its canonical binary form.

#include <exo/core/bytes.hpp>

#include <compare>
#include <concepts>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace exo {

/// The null value's type.
struct null_t {
  friend bool operator==(null_t, null_t) noexcept { return true; }
};
inline constexpr null_t null{};

/// A capability as code inside an actor sees it: an index into that actor's capability
/// table. Meaningless outside that actor; the hypervisor translates it when it crosses.
struct cap_handle {
  std::uint32_t index = 0;
  friend auto operator<=>(const cap_handle&, const cap_handle&) = default;
};

/// The kind of a value; the numbers are the tags of the canonical encoding.
enum class kind : std::uint8_t {
  null = 0,
  boolean = 1,
  i64 = 3,
  f64 = 4,
  bytes = 5,
  string = 6,
  list = 7,
  map = 8,
  cap = 9,
};
/// "null", "bool", "i64", ...
std::string_view to_string(kind k) noexcept;

/// A value of the model. Regular (copyable, comparable); moves are cheap.
class value {
 public:
  using list = std::vector<value>;
  /// Entries sorted by key (bytewise), keys unique: the canonical form.
  using map = std::vector<std::pair<std::string, value>>;

  value() noexcept = default;
  value(null_t) noexcept {}  // NOLINT(google-explicit-constructor): values convert implicitly
  value(bool b) noexcept : v_(b) {}  // NOLINT
  template <std::integral I>
    requires(!std::same_as<I, bool>)
  value(I i) : v_(to_i64(i)) {}  // NOLINT
  value(double d) noexcept : v_(d) {}  // NOLINT
  value(bytes b) noexcept : v_(std::move(b)) {}  // NOLINT
  value(std::string s) noexcept : v_(std::move(s)) {}  // NOLINT
  value(std::string_view s) : v_(std::string(s)) {}  // NOLINT
  value(const char* s) : v_(std::string(s)) {}  // NOLINT
  value(list l) noexcept : v_(std::move(l)) {}  // NOLINT
  /// Sorts the entries by key; duplicate keys are a bug (std::invalid_argument).
  value(map m);  // NOLINT
  value(cap_handle c) noexcept : v_(c) {}  // NOLINT

  kind type() const noexcept { return kinds[v_.index()]; }
  bool is_null() const noexcept { return v_.index() == 0; }

  /// Typed access: a pointer to the payload, or nullptr when the value is another kind.
  const bool* if_bool() const noexcept { return std::get_if<bool>(&v_); }
  const std::int64_t* if_i64() const noexcept { return std::get_if<std::int64_t>(&v_); }
  const double* if_f64() const noexcept { return std::get_if<double>(&v_); }
  const bytes* if_bytes() const noexcept { return std::get_if<bytes>(&v_); }
  const std::string* if_string() const noexcept { return std::get_if<std::string>(&v_); }
  const list* if_list() const noexcept { return std::get_if<list>(&v_); }
  const map* if_map() const noexcept { return std::get_if<map>(&v_); }
  const cap_handle* if_cap() const noexcept { return std::get_if<cap_handle>(&v_); }
  bytes* if_bytes() noexcept { return std::get_if<bytes>(&v_); }
  std::string* if_string() noexcept { return std::get_if<std::string>(&v_); }
  list* if_list() noexcept { return std::get_if<list>(&v_); }
  map* if_map() noexcept { return std::get_if<map>(&v_); }
  cap_handle* if_cap() noexcept { return std::get_if<cap_handle>(&v_); }

  /// A map entry by key (binary search), or nullptr if absent or this is not a map.
  const value* find(std::string_view key) const noexcept;

  /// Structural equality (f64 compares as double: NaN != NaN).
  friend bool operator==(const value& a, const value& b) noexcept { return a.v_ == b.v_; }

  /// Builds a map value from entries in any order; a duplicate key is a bug.
  static value make_map(map entries) { return value(std::move(entries)); }

 private:
  template <class I>
  static std::int64_t to_i64(I i) {
    if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
      if (i > static_cast<I>(INT64_MAX)) throw std::out_of_range("exo::value: integer above i64");
    }
    return static_cast<std::int64_t>(i);
  }
  static constexpr kind kinds[] = {kind::null, kind::boolean, kind::i64,  kind::f64, kind::bytes,
                                   kind::string, kind::list, kind::map, kind::cap};
  std::variant<null_t, bool, std::int64_t, double, bytes, std::string, list, map, cap_handle> v_;
};

/// A readable, JSON-like rendering for logs and error messages (bytes as hex, caps as #n).
std::string to_string(const value& v);

}  // namespace exo
