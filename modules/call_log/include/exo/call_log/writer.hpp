#pragma once
/// \file
/// A call log that takes new entries. Entries are written with the state: the log stages
/// them into the records of the next store commit (exo/core/commit_meta.hpp), seals them
/// with one signed head, and is told whether that commit went through. exo::store_log
/// (exo/call_log/store_log.hpp) keeps such a log in a store's own records; the ingress of a
/// hypervisor (exo/hypervisor/ingress.hpp) writes through this interface.

#include <exo/call_log/entry.hpp>
#include <exo/core/commit_meta.hpp>

namespace exo {

class log_writer : public log_reader {
 public:
  /// The hash of the last committed entry (zero for an empty log).
  virtual const digest& last_hash() const noexcept = 0;
  /// The index the next staged entry gets (staged entries count).
  virtual std::uint64_t next_index() const noexcept = 0;
  /// The hash of the last entry, staged or committed: what the next entry chains to.
  virtual const digest& tip() const noexcept = 0;
  /// Adds entry `entry` (whose hash is `h`, index next_index()) to `records`. Several entries
  /// may be staged for one commit (group commit); then seal() adds the head once, and
  /// committed() or abandoned() says how the commit went.
  virtual void stage(bytes entry, const digest& h, commit_meta& records) = 0;
  /// Adds the head over everything staged, signed by `key`, to `records`. Without a key the
  /// head is left unsigned (zero key and signature): for scratch logs, such as a verifier's
  /// replay, that are never handed to anyone.
  virtual void seal(const node_key* key, commit_meta& records) const = 0;
  /// The commit with the staged entries went through.
  virtual void committed() = 0;
  /// It did not: the staged entries are not in the log.
  virtual void abandoned() = 0;
  /// Reads the log's head from where it is kept again, dropping what is staged: for when the
  /// store went back to an earlier commit. On error nothing changes.
  virtual expected<void> reload() = 0;
};

}  // namespace exo
