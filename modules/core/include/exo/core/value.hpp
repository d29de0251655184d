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

/// A value of the model. Regular (copyable, comparable). 16 bytes: scalars are stored
/// inline, bytes/string/list/map behind one owned pointer, so moving any value is a 16-byte
/// copy and destroying a scalar costs nothing — values are moved through every message.
class value {
 public:
  using list = std::vector<value>;
  /// Entries sorted by key (bytewise), keys unique: the canonical form.
  using map = std::vector<std::pair<std::string, value>>;

  value() noexcept : k_(kind::null) { u_.i = 0; }
  value(null_t) noexcept : value() {}  // NOLINT(google-explicit-constructor): values convert implicitly
  value(bool b) noexcept : k_(kind::boolean) { u_.i = 0; u_.b = b; }  // NOLINT
  template <std::integral I>
    requires(!std::same_as<I, bool>)
  value(I i) : k_(kind::i64) {  // NOLINT
    u_.i = to_i64(i);
  }
  value(double d) noexcept : k_(kind::f64) { u_.d = d; }  // NOLINT
  value(bytes b) : k_(kind::bytes) { u_.by = new bytes(std::move(b)); }  // NOLINT
  value(std::string s) : k_(kind::string) { u_.s = new std::string(std::move(s)); }  // NOLINT
  value(std::string_view s) : k_(kind::string) { u_.s = new std::string(s); }  // NOLINT
  value(const char* s) : value(std::string_view(s)) {}  // NOLINT
  value(list l) : k_(kind::list) { u_.l = new list(std::move(l)); }  // NOLINT
  /// Sorts the entries by key; duplicate keys are a bug (std::invalid_argument).
  value(map m);  // NOLINT
  value(cap_handle c) noexcept : k_(kind::cap) { u_.i = 0; u_.c = c; }  // NOLINT

  value(value&& o) noexcept : k_(o.k_), u_(o.u_) { o.k_ = kind::null; }
  value(const value& o) : k_(o.k_), u_(o.u_) {
    if (o.on_heap()) copy_heap(o);
  }
  value& operator=(value&& o) noexcept {
    if (this != &o) {
      if (on_heap()) free_heap();
      k_ = o.k_;
      u_ = o.u_;
      o.k_ = kind::null;
    }
    return *this;
  }
  value& operator=(const value& o) {
    if (this != &o) *this = value(o);
    return *this;
  }
  ~value() {
    if (on_heap()) free_heap();
  }

  kind type() const noexcept { return k_; }
  bool is_null() const noexcept { return k_ == kind::null; }
  /// Whether it owns memory (bytes, a string, a list or a map): destroying it is more than
  /// forgetting its bits.
  bool owns_memory() const noexcept { return on_heap(); }

  /// Typed access: a pointer to the payload, or nullptr when the value is another kind.
  const bool* if_bool() const noexcept { return k_ == kind::boolean ? &u_.b : nullptr; }
  const std::int64_t* if_i64() const noexcept { return k_ == kind::i64 ? &u_.i : nullptr; }
  const double* if_f64() const noexcept { return k_ == kind::f64 ? &u_.d : nullptr; }
  const bytes* if_bytes() const noexcept { return k_ == kind::bytes ? u_.by : nullptr; }
  const std::string* if_string() const noexcept { return k_ == kind::string ? u_.s : nullptr; }
  const list* if_list() const noexcept { return k_ == kind::list ? u_.l : nullptr; }
  const map* if_map() const noexcept { return k_ == kind::map ? u_.m : nullptr; }
  const cap_handle* if_cap() const noexcept { return k_ == kind::cap ? &u_.c : nullptr; }
  bytes* if_bytes() noexcept { return k_ == kind::bytes ? u_.by : nullptr; }
  std::string* if_string() noexcept { return k_ == kind::string ? u_.s : nullptr; }
  list* if_list() noexcept { return k_ == kind::list ? u_.l : nullptr; }
  map* if_map() noexcept { return k_ == kind::map ? u_.m : nullptr; }
  cap_handle* if_cap() noexcept { return k_ == kind::cap ? &u_.c : nullptr; }

  /// A map entry by key (binary search), or nullptr if absent or this is not a map.
  const value* find(std::string_view key) const noexcept;

  /// Structural equality (f64 compares as double: NaN != NaN).
  friend bool operator==(const value& a, const value& b) noexcept;

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
  bool on_heap() const noexcept { return k_ >= kind::bytes && k_ <= kind::map; }
  void copy_heap(const value& o);
  void free_heap() noexcept;

  kind k_;
  union payload {
    payload() noexcept : i(0) {}
    bool b;
    std::int64_t i;
    double d;
    cap_handle c;
    bytes* by;
    std::string* s;
    list* l;
    map* m;
  } u_;
};
static_assert(sizeof(value) == 16, "exo::value is meant to be two words");

/// A readable, JSON-like rendering for logs and error messages (bytes as hex, caps as #n).
std::string to_string(const value& v);

}  // namespace exo
