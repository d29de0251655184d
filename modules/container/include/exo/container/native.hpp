#pragma once
/// \file
/// The native container: actors written in C++, for tests, benchmarks and hypervisor
/// builders. A native actor type is a copyable struct (its state) that names itself and
/// lists its exported functions with their cost in ticks:
///
/// \code
/// struct counter {
///   std::int64_t n = 0;
///   void add(exo::context&, std::int64_t by) { n += by; }
///   std::int64_t get(exo::context&) { return n; }          // a result goes to reply_to
///   static constexpr std::string_view exo_name = "counter";
///   static constexpr auto exo_exports = exo::exports(
///       exo::fn<&counter::add>("add", /*cost*/ 3), exo::fn<&counter::get>("get", 1));
/// };
/// \endcode
///
/// A handler takes `exo::context&` then its arguments, decoded from the message's positional
/// arguments by exo::from_value (Hana structs arrive as maps); or `exo::arg_list&` to take
/// them raw. It returns void, a value, or exo::expected of either; an error or a thrown
/// exception fails the message. An optional `void on_failure(exo::context&, exo::failure)`
/// receives reports of this actor's failed sends.
///
/// Persistence: a type declared with BOOST_HANA_DEFINE_STRUCT (or an empty type) is kept in
/// the state tree — its members, capability handles included, are saved and restored. Other
/// types work in memory-backed hypervisors only; durable ones refuse to create them.
///
/// Transactions: the state is copied before a handler runs and restored if the message fails,
/// so keep native state small (it is copied per message) — large data belongs in the store.

#include <exo/container/actor_type.hpp>
#include <exo/container/context.hpp>
#include <exo/container/failure.hpp>

#include <array>
#include <cstdint>
#include <exception>
#include <span>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace exo {

namespace detail {

template <class M>
struct member_fn;
template <class T, class R, class... A>
struct member_fn<R (T::*)(context&, A...)> {
  using self = T;
  using result = R;
  using args = std::tuple<std::remove_cvref_t<A>...>;
  static constexpr bool raw = sizeof...(A) == 1 && (std::is_same_v<std::remove_cvref_t<A>, arg_list> && ...);
  static constexpr bool is_const = false;
};
template <class T, class R, class... A>
struct member_fn<R (T::*)(context&, A...) const> : member_fn<R (T::*)(context&, A...)> {
  static constexpr bool is_const = true;
};

template <class R>
struct is_expected : std::false_type {};
template <class T>
struct is_expected<expected<T>> : std::true_type {};

inline constexpr std::string_view arg_names[] = {
    "argument 1: ", "argument 2: ", "argument 3: ", "argument 4: ", "argument 5: ",
    "argument 6: ", "argument 7: ", "argument 8: ", "argument 9: ", "argument 10: "};

unexpected<error> arity_error(std::size_t want, std::size_t got);
unexpected<error> threw(const char* what);

// An argument of a scalar type read in place, with nothing built: false if `v` is of another
// kind (or T is not such a type), and the general decoding below says why.
template <class T>
bool decode_scalar(const value& v, T& out) noexcept {
  if constexpr (std::is_same_v<T, std::int64_t>) {
    if (const auto* i = v.if_i64()) return out = *i, true;
  } else if constexpr (std::is_same_v<T, double>) {
    if (const auto* d = v.if_f64()) return out = *d, true;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (const auto* b = v.if_bool()) return out = *b, true;
  } else if constexpr (std::is_same_v<T, cap_handle>) {
    if (const auto* c = v.if_cap()) return out = *c, true;
  }
  return false;
}

template <class Tuple, std::size_t... I>
[[gnu::noinline]] expected<void> decode_args_slow(Tuple& out, arg_list& args, std::index_sequence<I...>) {
  std::optional<error> err;
  [[maybe_unused]] auto one = [&]<std::size_t N>(std::integral_constant<std::size_t, N>) {
    if (err) return;
    using T = std::tuple_element_t<N, Tuple>;
    auto r = from_value<T>(std::move(args[N]), arg_names[N < 10 ? N : 9]);
    if (r) std::get<N>(out) = std::move(*r);
    else err = std::move(r).error();
  };
  (one(std::integral_constant<std::size_t, I>{}), ...);
  if (err) return unexpected(std::move(*err));
  return {};
}

// Decodes the arguments into `out`: scalars in place when every argument is one of the kind
// wanted (the common case, a few instructions each), else through exo::from_value, which
// builds the error that says what was expected.
template <class Tuple, std::size_t... I>
expected<void> decode_args(Tuple& out, arg_list& args, std::index_sequence<I...> seq) {
  if ((decode_scalar(args[I], std::get<I>(out)) && ...)) return {};
  return decode_args_slow(out, args, seq);
}

// Calls the handler and turns what it returns into success/failure plus a result value.
template <auto M, class T, class Args, std::size_t... I>
expected<void> call_member(T& self, context& ctx, [[maybe_unused]] Args& a, arg_list& raw,
                           value& result, std::index_sequence<I...>) {
  using R = typename member_fn<decltype(M)>::result;
  auto invoke = [&]() -> decltype(auto) {
    if constexpr (member_fn<decltype(M)>::raw) return (self.*M)(ctx, raw);
    else return (self.*M)(ctx, std::move(std::get<I>(a))...);
  };
  if constexpr (std::is_void_v<R>) {
    invoke();
    return {};
  } else if constexpr (std::is_same_v<R, expected<void>>) {
    return invoke();
  } else if constexpr (is_expected<R>::value) {
    auto r = invoke();
    if (!r) return unexpected(std::move(r).error());
    result = to_value(*r);
    return {};
  } else {
    result = to_value(invoke());
    return {};
  }
}

/// The type-erased entry point of member function M: decodes, snapshots, calls, and
/// restores the state if the message fails.
template <auto M>
expected<void> invoke(void* state, std::uint32_t, context& ctx, arg_list& args) {
  using traits = member_fn<decltype(M)>;
  value result;
  using T = typename traits::self;
  using Args = typename traits::args;
  constexpr std::size_t n = std::tuple_size_v<Args>;
  Args decoded{};
  if constexpr (!traits::raw) {
    if (args.size() != n) return arity_error(n, args.size());
    if (auto r = decode_args(decoded, args, std::make_index_sequence<n>{}); !r) return r;
  }
  T& self = *static_cast<T*>(state);
  // A const handler cannot change the state and an empty type has none: no snapshot needed.
  constexpr bool snapshot = !traits::is_const && !std::is_empty_v<T>;
  std::optional<T> saved;
  if constexpr (snapshot) saved.emplace(self);
  // A handler that returns nothing or expected<void> has no result to send.
  constexpr bool has_result = !std::is_void_v<typename traits::result> &&
                              !std::is_same_v<typename traits::result, expected<void>>;
  expected<void> r = [&]() -> expected<void> {
    try {
      auto done = call_member<M>(self, ctx, decoded, args, result, std::make_index_sequence<n>{});
      if constexpr (has_result) {
        if (!done || result.is_null()) return done;
        return ctx.send_result(std::move(result));  // inside the snapshot: a failed reply undoes the state
      } else {
        return done;
      }
    } catch (const std::exception& e) {
      return threw(e.what());
    } catch (...) {
      return threw("an exception that is not a std::exception");
    }
  }();
  if constexpr (snapshot) {
    if (!r || ctx.trapped()) self = std::move(*saved);
  }
  return r;
}

template <class T>
void destroy(void* p) noexcept {
  delete static_cast<T*>(p);
}

template <class T>
value save_state(const void* p) {
  if constexpr (std::is_empty_v<T>) return value{};
  else return to_value(*static_cast<const T*>(p));
}
template <class T>
expected<void*> load_state(const actor_type&, value&& v) {
  if constexpr (std::is_empty_v<T>) {
    return static_cast<void*>(new T{});
  } else {
    auto r = from_value<T>(std::move(v), "actor state: ");
    if (!r) return unexpected(std::move(r).error());
    return static_cast<void*>(new T(std::move(*r)));
  }
}
/// Types whose state exo can write to the store and read back.
template <class T>
concept persistable_state = std::is_default_constructible_v<T> && (std::is_empty_v<T> || reflected_struct<T>);

template <class T>
concept has_on_failure = requires(T& t, context& c, failure f) { t.on_failure(c, std::move(f)); };

template <class T>
expected<void> invoke_on_failure(void* state, std::uint32_t, context& ctx, arg_list& args) {
  if (args.size() != 1) return arity_error(1, args.size());
  auto f = from_value<failure>(std::move(args[0]), "failure report: ");
  if (!f) return unexpected(std::move(f).error());
  T& self = *static_cast<T*>(state);
  T saved = self;
  expected<void> r;
  try {
    using R = decltype(self.on_failure(ctx, std::move(*f)));
    if constexpr (std::is_void_v<R>) self.on_failure(ctx, std::move(*f));
    else r = self.on_failure(ctx, std::move(*f));
  } catch (const std::exception& e) {
    r = threw(e.what());
  } catch (...) {
    r = threw("an exception that is not a std::exception");
  }
  if (!r || ctx.trapped()) self = std::move(saved);
  return r;
}

digest native_code_hash(std::string_view name, std::span<const exported_function> fns);

}  // namespace detail

/// Declares an exported function: `exo::fn<&T::member>("name", cost)`.
template <auto M>
constexpr exported_function fn(std::string_view name, std::uint64_t cost) {
  return exported_function{name, cost, &detail::invoke<M>};
}

/// The list of a type's exported functions.
template <class... F>
constexpr std::array<exported_function, sizeof...(F)> exports(F... f) {
  return {f...};
}

/// A native actor type: a copyable struct with exo_name and exo_exports.
template <class T>
concept native_actor = std::copy_constructible<T> && requires {
  { T::exo_name } -> std::convertible_to<std::string_view>;
  { std::span<const exported_function>(T::exo_exports) };
};

/// The type information of T, built once (it is immutable; not a registry).
template <native_actor T>
const actor_type& native_type() {
  static const actor_type info = [] {
    actor_type i;
    i.name = T::exo_name;
    i.container = EXO_TYPE_NATIVE;
    i.any_thread = true;  // a native actor's state is its own (see README: parallel_scheduler)
    i.functions = std::span<const exported_function>(T::exo_exports);
    i.destroy = &detail::destroy<T>;
    if constexpr (detail::has_on_failure<T>) i.on_failure = &detail::invoke_on_failure<T>;
    if constexpr (detail::persistable_state<T>) {
      i.save = &detail::save_state<T>;
      i.load = &detail::load_state<T>;
    }
    i.code_hash = detail::native_code_hash(i.name, i.functions);
    return i;
  }();
  return info;
}

template <class T>
expected<cap_handle> context::create(T state) {
  static_assert(native_actor<T>, "exo::context::create<T>: T must be a native actor type (exo_name, exo_exports)");
  return create_actor(native_type<T>(), new T(std::move(state)));
}

}  // namespace exo
