#pragma once
/// \file
/// AIR's interpreter data in AquaVM v0.20's format (UTF-8 JSON), so that data made by
/// AquaVM 0.20 and by exo can be merged by either:
///
///     {"trace": [STATE...], "streams": {"$s": generations}, "version": "0.2.2", "lcid": N,
///      "r_streams": {"$s": {"<new's position>": [generations per iteration]}}}
///
/// with each STATE one of
///
///     {"par": [left size, right size]}
///     {"call": {"executed": {"scalar": VALUE}}}
///     {"call": {"executed": {"stream": {"value": VALUE, "generation": g}}}}
///     {"call": {"sent_by": "peer"}}        {"call": {"sent_by": "peer: request id"}}
///     {"call": {"failed": [ret_code, "JSON text"]}}
///     {"fold": {"lore": [{"pos": value position, "desc": [{"pos": p, "len": l}, {"pos": p, "len": l}]}]}}
///     {"ap": {"gens": [g...]}}
///
/// Empty bytes are empty data. Decoding checks everything it reads and names the place of
/// the first thing wrong (AIR's DataDeFailed and CallResultsDeFailed); encoding is
/// deterministic (keys in sorted order).

#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/json.hpp>

#include <boost/smart_ptr/intrusive_ptr.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace exo::air {

struct par_state {
  std::uint32_t left = 0, right = 0;
  friend bool operator==(const par_state&, const par_state&) = default;
};

/// Memory for the many small objects a run makes and drops together (its values and
/// tetraplets): while one is open on a thread, local_counted objects made on that thread are
/// carved from it (memory an object left is reused for the next of its size), and the memory
/// goes back all at once when it closes (objects made outside any arena use the heap). A run
/// opens one before it makes anything and closes it after everything it made is gone. Arenas
/// nest (the innermost is current).
class value_arena {
 public:
  value_arena();
  ~value_arena();
  value_arena(const value_arena&) = delete;
  value_arena& operator=(const value_arena&) = delete;

  /// The arena open on this thread, or nullptr.
  static value_arena* current();
  void* allocate(std::size_t n);
  /// Memory allocate(n) gave, for reuse by the next allocate of that size (so a long run keeps
  /// only as much as it holds at once).
  void release(void* p, std::size_t n) noexcept;

 private:
  struct block;
  struct free_node {
    free_node* next;
  };
  static constexpr std::size_t classes = 32;  // sizes up to 512 bytes, by 16
  block* blocks_ = nullptr;
  char* next_ = nullptr;
  char* end_ = nullptr;
  free_node* free_[classes] = {};
  value_arena* outer_ = nullptr;
};

/// Memory for a local_counted object of `n` bytes (or more: an object may keep data after
/// itself): from the current arena, or the heap. The 16 bytes before the object say which, and
/// how many bytes were asked for, so that counted_free needs only the pointer.
void* counted_allocate(std::size_t n);
void counted_free(void* p) noexcept;

/// A count of owners for boost::intrusive_ptr, without atomics: for objects a run makes and
/// keeps on its thread (AIR's values and tetraplets). A copy starts with no owner.
template <class T>
class local_counted {
 public:
  local_counted() = default;
  local_counted(const local_counted&) noexcept {}
  local_counted& operator=(const local_counted&) noexcept { return *this; }

  static void* operator new(std::size_t n) { return counted_allocate(n); }
  static void operator delete(void* p) noexcept { counted_free(p); }

  friend void intrusive_ptr_add_ref(const T* p) noexcept { ++p->owners_; }
  friend void intrusive_ptr_release(const T* p) noexcept {
    if (--p->owners_ == 0) delete p;
  }

 protected:
  ~local_counted() = default;

 private:
  mutable std::uint32_t owners_ = 0;
};

class json_value;
/// Counted without atomics: a value belongs to one run, on one thread, at a time (a run's
/// result holds none; decoded data may move to another thread whole, never be shared).
using shared_value = boost::intrusive_ptr<const json_value>;

/// A JSON value a call gave, as AIR holds it: immutable, shared by the trace, the scalars and
/// the streams that hold it, and kept as its canonical text (nlohmann's compact dump, which
/// is what data holds) until something needs its structure: most values in a particle's
/// data are only merged and written back, never looked into. Each form is made once, when
/// first asked for; a value belongs to one run (one thread) at a time.
class json_value : public local_counted<json_value> {
 public:
  explicit json_value(json v) : json_(std::move(v)), have_json_(true) {}
  /// From text json_text::canonical() accepted (copied: kept right after the object, in the
  /// same allocation).
  static shared_value from_canonical(std::string_view text);

  const json& get() const;
  /// The canonical text: what nlohmann's dump() gives for get(). Valid while the value is.
  std::string_view text() const;

 private:
  explicit json_value(std::string_view kept) : text_(kept), have_text_(true) {}
  mutable json json_;
  mutable std::string_view text_;  // what from_canonical kept, or made_
  mutable std::string made_;       // the text written from json_, when asked for
  mutable bool have_json_ = false, have_text_ = false;
};
inline shared_value make_value(json v) { return shared_value(new json_value(std::move(v))); }

/// True when the values are equal as AIR compares them (same_value).
bool same_value(const json_value& a, const json_value& b);

struct call_state {
  enum class kind : std::uint8_t { scalar, stream, sent_by, failed } what = kind::scalar;
  shared_value value;           ///< scalar, stream (never null for those)
  std::uint32_t generation = 0;  ///< stream
  std::int32_t ret_code = 0;     ///< failed
  /// sent_by: the sender, "peer" (or "peer: id" for a local call request); failed: the
  /// message (JSON text). (One field for the two: a state is copied often.)
  std::string text;
  /// Equal kinds and fields, values compared by content.
  friend bool operator==(const call_state& a, const call_state& b) {
    const bool values = a.value == b.value || (a.value && b.value && same_value(*a.value, *b.value));
    return a.what == b.what && values && a.generation == b.generation && a.ret_code == b.ret_code && a.text == b.text;
  }
};

struct fold_subtrace {
  std::uint32_t pos = 0, len = 0;
  friend bool operator==(const fold_subtrace&, const fold_subtrace&) = default;
};
/// One iteration: the position of its value's state, and its subtraces before and after next.
struct fold_lore {
  std::uint32_t value_pos = 0;
  fold_subtrace before, after;
  friend bool operator==(const fold_lore&, const fold_lore&) = default;
};
struct fold_state {
  std::vector<fold_lore> lore;
  friend bool operator==(const fold_state&, const fold_state&) = default;
};

struct ap_state {
  std::vector<std::uint32_t> gens;
  friend bool operator==(const ap_state&, const ap_state&) = default;
};

using executed_state = std::variant<par_state, call_state, fold_state, ap_state>;

struct interpreter_data {
  std::vector<executed_state> trace;
  std::map<std::string, std::uint32_t, std::less<>> streams;  // found by a name's view too
  std::string version = "0.2.2";
  std::uint32_t lcid = 0;
  std::map<std::string, std::map<std::uint32_t, std::vector<std::uint32_t>>> r_streams;
  friend bool operator==(const interpreter_data&, const interpreter_data&) = default;
};

/// A call's result from the host: ret_code 0 and the result as JSON text, or the failure.
struct call_result {
  std::int32_t ret_code = 0;
  std::string result;
  friend bool operator==(const call_result&, const call_result&) = default;
};
using call_results = std::map<std::uint32_t, call_result>;

struct data_limits {
  std::size_t max_size = std::size_t{64} << 20;  ///< bytes of JSON
  std::size_t max_depth = 128;                   ///< arrays and objects nested in a value
  std::size_t max_states = 1'000'000;
  /// Data of the common shape is read in one pass, checked as it goes; false validates the
  /// whole text first, always. Both give the same data and the same errors (the tests and the
  /// fuzzer compare them); the one pass is about twice as fast.
  bool one_pass = true;
};

/// A hash of a short text (a value's, a variable's name): two lanes of 8 bytes, multiplied and
/// folded, cheap on short texts. Not keyed: tables that use it hold at most what one run's
/// bounded input makes.
std::uint64_t text_hash(std::string_view s) noexcept;

/// The values decoded from data, by their JSON text: a value met again (later in the same data,
/// or in the other data of the same run: a particle comes back holding most of what this peer
/// had) is built once and shared. It refers to the texts it read, which must outlive it.
class value_pool {
 public:
  /// The value spelled `text`: the one made before from that text, or `make()`'s, kept.
  template <class Make>
  const shared_value& get(std::string_view text, Make&& make) {
    if ((used_ + 1) * 2 > slots_.size()) grow();
    const std::uint64_t h = text_hash(text);
    for (std::size_t i = h & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      slot& s = slots_[i];
      if (!s.value) {
        s = slot{h, text, make()};
        ++used_;
        return s.value;
      }
      if (s.hash == h && s.text == text) return s.value;
    }
  }

  /// The text of each state of the last data read through this pool in one pass, in order
  /// (none when it was read another way): what decode_data's `like` is compared with.
  const std::vector<std::string_view>& state_texts() const { return state_texts_; }
  void set_state_texts(std::vector<std::string_view> texts) { state_texts_ = std::move(texts); }

 private:
  struct slot {
    std::uint64_t hash = 0;
    std::string_view text;
    shared_value value;  // null: empty
  };
  void grow();
  std::vector<slot> slots_;  // open addressing, a power of two in size, at most half full
  std::size_t used_ = 0;
  std::vector<std::string_view> state_texts_;
};

/// Data as AquaVM 0.20 writes it; empty bytes are empty data. errc::malformed (or
/// limit_exceeded) with "data can't be deserialized: WHERE: WHAT". Values are shared through
/// `pool` when one is given (it must not outlive `bytes`), else within this data.
///
/// `like` is the data read last through `pool` (its bytes still alive): a state spelled
/// byte for byte as its state at the same place, or as the one after the last state taken
/// from it, is copied from it instead of read again (a particle comes back holding most of
/// what this peer had). The data is the same with or without `like`.
expected<interpreter_data> decode_data(byte_view bytes, const data_limits& limits = {}, value_pool* pool = nullptr,
                                       const interpreter_data* like = nullptr);
bytes encode_data(const interpreter_data& d);

/// `{"<id>": {"ret_code": n, "result": "JSON text"}}`; empty bytes are none. errc::malformed
/// with "call results can't be deserialized: ...".
expected<call_results> decode_call_results(byte_view bytes, const data_limits& limits = {});
bytes encode_call_results(const call_results& r);

/// Appends `s` as a JSON string, escaped as nlohmann's dump() escapes it (bytes that are not
/// UTF-8 replaced, as its error_handler_t::replace does).
void write_json_string(std::string& out, std::string_view s);

/// JSON equality as AIR sees it: an integer never equals a float (1 and 1.0 differ), as in
/// serde_json, which AquaVM compares with.
bool same_value(const json& a, const json& b);

/// One JSON value (a service's result text), with the same size and depth limits as data.
expected<json> parse_value(std::string_view text, const data_limits& limits = {});
/// The same, as a shared value that keeps the text when it is canonical.
expected<shared_value> parse_shared_value(std::string_view text, const data_limits& limits = {});

}  // namespace exo::air
