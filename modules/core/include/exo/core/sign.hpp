#pragma once
/// \file
/// Ed25519 signatures through OpenSSL 3: the node key that signs a call log's head, and the
/// check anyone can run with nothing but the public key.
///
/// \code
/// auto key = exo::node_key::load_or_create("data/node.key").value();  // 0600, made on first use
/// exo::signature s = key.sign(exo::as_bytes("message"));
/// bool ok = exo::verify_signature(key.public_key(), exo::as_bytes("message"), s).has_value();
/// \endcode

#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>

#include <array>
#include <cstdint>
#include <string>

struct evp_pkey_st;

namespace exo {

/// An Ed25519 public key (32 bytes).
struct public_key {
  std::array<std::uint8_t, 32> bytes{};
  byte_view view() const noexcept { return byte_view(bytes.data(), bytes.size()); }
  friend bool operator==(const public_key&, const public_key&) = default;
};

/// An Ed25519 signature (64 bytes).
struct signature {
  std::array<std::uint8_t, 64> bytes{};
  byte_view view() const noexcept { return byte_view(bytes.data(), bytes.size()); }
  friend bool operator==(const signature&, const signature&) = default;
};

/// A node's signing key. Move-only.
class node_key {
 public:
  /// A new random key.
  static expected<node_key> generate();
  /// The key with these 32 private bytes (errc::invalid_argument for another length).
  static expected<node_key> from_private_bytes(byte_view raw);
  /// Reads the key kept in `path`, or creates it there (mode 0600) if there is none. A file
  /// that others may read or write (any group/other permission bit), or that does not hold
  /// a key, is an error naming the file and what to do.
  static expected<node_key> load_or_create(const std::string& path);

  node_key(node_key&& other) noexcept;
  node_key& operator=(node_key&& other) noexcept;
  node_key(const node_key&) = delete;
  node_key& operator=(const node_key&) = delete;
  ~node_key();

  const exo::public_key& public_key() const noexcept { return public_; }
  /// Signs `message` (Ed25519 signs the message itself, no prehash).
  signature sign(byte_view message) const;

 private:
  explicit node_key(evp_pkey_st* k);
  evp_pkey_st* key_ = nullptr;
  exo::public_key public_{};
};

/// Checks that `sig` is `key`'s signature of `message`; errc::invalid_argument if not.
expected<void> verify_signature(const public_key& key, byte_view message, const signature& sig);

}  // namespace exo
