#pragma once
/// \file
/// SHA-256 through OpenSSL 3's EVP interface. The algorithm is fetched once per process and
/// each hasher reuses one context: with SHA-NI that is under 100 ns for a 64-byte input,
/// about 3x faster than the one-shot SHA256() (which fetches and allocates every call).

#include <exo/core/id.hpp>

#include <string_view>

struct evp_md_ctx_st;

namespace exo {

/// An incremental SHA-256 hasher. Not thread-safe; cheap to reuse (finish() resets it).
class sha256 {
 public:
  sha256();
  ~sha256();
  sha256(const sha256&) = delete;
  sha256& operator=(const sha256&) = delete;

  sha256& update(byte_view data) noexcept;
  sha256& update(std::string_view s) noexcept { return update(as_bytes(s)); }
  /// The digest of everything since construction or the last finish(); starts over.
  digest finish() noexcept;

 private:
  evp_md_ctx_st* ctx_;
};

/// SHA-256 of one buffer, with a per-thread reused hasher.
digest hash(byte_view data) noexcept;
inline digest hash(std::string_view s) noexcept { return hash(as_bytes(s)); }

}  // namespace exo
