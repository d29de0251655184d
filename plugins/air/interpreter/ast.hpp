#pragma once
/// \file
/// AIR's syntax tree (AquaVM v0.20's language; ../shared/notes/aquavm-v0.20.md, section 4).
/// What the parser (parser.hpp) produces and the interpreter runs. Nodes are plain values;
/// an instruction owns its children.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace exo::air {

/// One step of a lens (`.$.field`, `.$.[3]`, `.$.[var]`).
struct lens_step {
  enum class kind : std::uint8_t { field, index, variable } what = kind::field;
  std::string name;      ///< the field, or the scalar whose value indexes
  std::uint64_t index = 0;
  std::uint32_t var = 0;  ///< a variable's number in its script (script::names)
  friend bool operator==(const lens_step&, const lens_step&) = default;
};

/// A lens applied to a value: the steps, and whether it ended in `!` (parsed and ignored, as
/// in v0.20).
struct lens {
  std::vector<lens_step> steps;
  bool bang = false;
  friend bool operator==(const lens&, const lens&) = default;
};

/// A value in an instruction: a literal, a variable, or one of the two built-ins.
struct value {
  enum class kind : std::uint8_t {
    string,        ///< "text"
    number,        ///< an integer (i) or a float (f)
    boolean,       ///< true / false
    empty_array,   ///< []
    init_peer_id,  ///< %init_peer_id%
    last_error,    ///< %last_error%, maybe with a lens
    scalar,        ///< name, maybe with a lens
    stream,        ///< $name, maybe with a lens
  } what = kind::string;
  std::string text;       ///< the string, or the variable's name (a stream's with its $)
  std::uint32_t var = 0;  ///< a variable's number in its script (script::names)
  bool is_float = false;  ///< for a number
  std::int64_t i = 0;
  double f = 0;
  bool b = false;
  std::optional<air::lens> lens;
  friend bool operator==(const value&, const value&) = default;
};

/// Where a call's result goes, or an ap's.
struct output {
  enum class kind : std::uint8_t { none, scalar, stream } what = kind::none;
  std::string name;  ///< a stream's with its $
  std::uint32_t var = 0;  ///< its number in the script (script::names)
  friend bool operator==(const output&, const output&) = default;
};

struct instruction;
using instruction_ptr = std::unique_ptr<instruction>;

struct instruction {
  enum class kind : std::uint8_t { seq, par, xor_, call, null, fold, next, match, mismatch, ap, new_, fail } what = kind::null;
  // seq, par, xor: a and b; fold, match, mismatch, new: a is the body.
  instruction_ptr a, b;
  // call: peer, service (maybe none when the peer part is `(peer service)`: then it is set
  // from there), function, args, out. match/mismatch: args[0], args[1]. ap: args[0] -> out.
  // fold: args[0] is the iterable, name the iterator. next: name. new: name (a stream's with
  // its $, or a scalar). fail: args[0] (code, then message in args[1]) or a scalar or
  // %last_error% alone.
  value peer, service, function;
  std::vector<value> args;
  output out;
  std::string name;
  std::uint32_t var = 0;  ///< name's number in the script (script::names)
  /// Where it starts in the script (byte offset of its "("), and where it ends (just past its
  /// ")"): `new` scopes its stream to the uses between them.
  std::size_t at = 0, end = 0;
};

/// A parsed script: its root instruction, how big it is, and the names of its variables
/// (scalars, streams and iterators), numbered in the order first met: each use of a name in
/// the tree carries its number (`var`), so that the interpreter keeps variables in a table
/// and finds them without comparing names.
struct script {
  instruction_ptr root;
  std::size_t instructions = 0;
  std::size_t depth = 0;
  std::vector<std::string> names;
};

}  // namespace exo::air
