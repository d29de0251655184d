#pragma once
/// \file
/// exo::expected<T> — the subset of C++23 std::expected's API that exo uses, for C++20.
/// When the toolchain moves to C++23 this becomes an alias of std::expected.

#include <exo/core/error.hpp>

#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

namespace exo {

/// Wraps an error to construct a failed expected: `return exo::unexpected{error{...}};`.
template <class E>
class unexpected {
 public:
  explicit unexpected(E e) : e_(std::move(e)) {}
  E& error() & noexcept { return e_; }
  const E& error() const& noexcept { return e_; }
  E&& error() && noexcept { return std::move(e_); }

 private:
  E e_;
};
template <class E>
unexpected(E) -> unexpected<E>;

/// Shorthand: `return exo::fail(errc::malformed, "truncated varint at byte 3");`.
inline unexpected<error> fail(errc code, std::string message) {
  return unexpected<error>{error{code, std::move(message)}};
}

/// Thrown by value() on an error: a bug in the caller, who should have checked.
class bad_expected_access : public std::logic_error {
 public:
  explicit bad_expected_access(const error& e) : std::logic_error(to_string(e)) {}
};

/// A value of type T, or an error E.
template <class T, class E = error>
class [[nodiscard]] expected {
 public:
  using value_type = T;
  using error_type = E;

  expected() requires std::is_default_constructible_v<T> : v_(std::in_place_index<0>) {}
  template <class U = T>
    requires std::is_constructible_v<T, U&&> &&
             (!std::is_same_v<std::remove_cvref_t<U>, expected>) &&
             (!std::is_same_v<std::remove_cvref_t<U>, unexpected<E>>)
  expected(U&& v) : v_(std::in_place_index<0>, std::forward<U>(v)) {}  // NOLINT: implicit as std
  template <class G>
  expected(unexpected<G> u) : v_(std::in_place_index<1>, std::move(u).error()) {}  // NOLINT

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { check(); return std::get<0>(v_); }
  const T& value() const& { check(); return std::get<0>(v_); }
  T&& value() && { check(); return std::get<0>(std::move(v_)); }
  T& operator*() & noexcept { return *std::get_if<0>(&v_); }
  const T& operator*() const& noexcept { return *std::get_if<0>(&v_); }
  T&& operator*() && noexcept { return std::move(*std::get_if<0>(&v_)); }
  T* operator->() noexcept { return std::get_if<0>(&v_); }
  const T* operator->() const noexcept { return std::get_if<0>(&v_); }

  E& error() & noexcept { return *std::get_if<1>(&v_); }
  const E& error() const& noexcept { return *std::get_if<1>(&v_); }
  E&& error() && noexcept { return std::move(*std::get_if<1>(&v_)); }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? **this : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void check() const {
    if (!has_value()) throw bad_expected_access(error_as_error());
  }
  exo::error error_as_error() const {
    if constexpr (std::is_same_v<E, exo::error>) return error();
    else return exo::error{errc::internal, "expected holds an error"};
  }
  std::variant<T, E> v_;
};

/// expected<void>: success, or an error.
template <class E>
class [[nodiscard]] expected<void, E> {
 public:
  using value_type = void;
  using error_type = E;

  expected() noexcept = default;
  template <class G>
  expected(unexpected<G> u) : e_(std::move(u).error()) {}  // NOLINT: implicit as std

  bool has_value() const noexcept { return !e_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (e_) {
      if constexpr (std::is_same_v<E, exo::error>) throw bad_expected_access(*e_);
      else throw bad_expected_access(exo::error{errc::internal, "expected holds an error"});
    }
  }
  E& error() & noexcept { return *e_; }
  const E& error() const& noexcept { return *e_; }
  E&& error() && noexcept { return std::move(*e_); }

 private:
  std::optional<E> e_;
};

}  // namespace exo
