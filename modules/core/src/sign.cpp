#include <exo/core/sign.hpp>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <utility>

namespace exo {
namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

std::string errno_text(int e) { return std::error_code(e, std::generic_category()).message(); }

// The file format: a marker line, then the 32 private bytes as hex.
constexpr std::string_view key_marker = "exo-node-key-ed25519\n";

}  // namespace

node_key::node_key(evp_pkey_st* k) : key_(k) {
  std::size_t n = public_.bytes.size();
  if (EVP_PKEY_get_raw_public_key(key_, public_.bytes.data(), &n) != 1 || n != 32) {
    std::fprintf(stderr, "exo: OpenSSL could not give an Ed25519 public key: %s\n", openssl_error().c_str());
    std::abort();
  }
}
node_key::node_key(node_key&& other) noexcept : key_(std::exchange(other.key_, nullptr)), public_(other.public_) {}
node_key& node_key::operator=(node_key&& other) noexcept {
  if (this != &other) {
    EVP_PKEY_free(key_);
    key_ = std::exchange(other.key_, nullptr);
    public_ = other.public_;
  }
  return *this;
}
node_key::~node_key() { EVP_PKEY_free(key_); }

expected<node_key> node_key::generate() {
  std::uint8_t raw[32];
  if (RAND_priv_bytes(raw, sizeof raw) != 1)
    return fail(errc::internal, "cannot draw random bytes for a node key: " + openssl_error());
  auto k = from_private_bytes(byte_view(raw, sizeof raw));
  OPENSSL_cleanse(raw, sizeof raw);
  return k;
}

expected<node_key> node_key::from_private_bytes(byte_view raw) {
  if (raw.size() != 32)
    return fail(errc::invalid_argument, fmt::format("an Ed25519 private key is 32 bytes, not {}", raw.size()));
  EVP_PKEY* k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size());
  if (!k) return fail(errc::internal, "OpenSSL refused an Ed25519 private key: " + openssl_error());
  return node_key(k);
}

expected<node_key> node_key::load_or_create(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) {
    auto k = generate();
    if (!k) return k;
    EVP_PKEY* pk = k->key_;
    std::uint8_t raw[32];
    std::size_t n = sizeof raw;
    if (EVP_PKEY_get_raw_private_key(pk, raw, &n) != 1 || n != 32)
      return fail(errc::internal, "OpenSSL could not give the new key's private bytes: " + openssl_error());
    std::string text(key_marker);
    text += to_hex(byte_view(raw, n));
    text += '\n';
    OPENSSL_cleanse(raw, sizeof raw);
    // Written to a temporary name and renamed, so a crash never leaves half a key.
    const std::string tmp = path + ".tmp";
    int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0)
      return fail(errc::internal, fmt::format("cannot create node key file {}: {}; the directory must be writable",
                                              tmp, errno_text(errno)));
    bool ok = ::write(out, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(out) == 0;
    int e = errno;
    ::close(out);
    OPENSSL_cleanse(text.data(), text.size());
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
      if (ok) e = errno;
      ::unlink(tmp.c_str());
      return fail(errc::internal, fmt::format("cannot write node key file {}: {}", path, errno_text(e)));
    }
    return k;
  }
  if (fd < 0)
    return fail(errc::internal, fmt::format("cannot open node key file {}: {}", path, errno_text(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return fail(errc::internal, fmt::format("cannot inspect node key file {}: {}", path, errno_text(e)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(errc::invalid_argument, fmt::format("node key file {} is not a regular file", path));
  }
  if (st.st_mode & 077) {
    ::close(fd);
    return fail(errc::invalid_argument,
                fmt::format("node key file {} may be read or written by others (mode {:o}); only its owner may: "
                            "chmod 600 {}",
                            path, st.st_mode & 0777, path));
  }
  char buf[256];
  ssize_t got = ::read(fd, buf, sizeof buf);
  ::close(fd);
  std::string_view text(buf, got > 0 ? static_cast<std::size_t>(got) : 0);
  auto bad = [&] {
    return fail(errc::malformed, fmt::format("node key file {} does not hold an exo node key (it should be '{}' and 64 "
                                             "hex digits); restore it from a backup",
                                             path, key_marker.substr(0, key_marker.size() - 1)));
  };
  if (!text.starts_with(key_marker)) return bad();
  text.remove_prefix(key_marker.size());
  if (text.size() != 65 || text[64] != '\n') return bad();
  std::uint8_t raw[32];
  for (std::size_t i = 0; i < 32; ++i) {
    auto digit = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = digit(text[2 * i]), lo = digit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return bad();
    raw[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  auto k = from_private_bytes(byte_view(raw, sizeof raw));
  OPENSSL_cleanse(raw, sizeof raw);
  OPENSSL_cleanse(buf, sizeof buf);
  return k;
}

signature node_key::sign(byte_view message) const {
  signature s;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t n = s.bytes.size();
  if (!ctx || EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_) != 1 ||
      EVP_DigestSign(ctx, s.bytes.data(), &n, message.data(), message.size()) != 1 || n != 64) {
    // Signing with a valid key cannot fail; if OpenSSL does, nothing can be trusted.
    std::fprintf(stderr, "exo: Ed25519 signing failed: %s\n", openssl_error().c_str());
    std::abort();
  }
  EVP_MD_CTX_free(ctx);
  return s;
}

expected<void> verify_signature(const public_key& key, byte_view message, const signature& sig) {
  EVP_PKEY* k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.bytes.data(), key.bytes.size());
  if (!k) {
    ERR_clear_error();
    return fail(errc::invalid_argument, fmt::format("{} is not a valid Ed25519 public key", to_hex(key.view())));
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  int ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, k) == 1
               ? EVP_DigestVerify(ctx, sig.bytes.data(), sig.bytes.size(), message.data(), message.size())
               : -1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(k);
  ERR_clear_error();
  if (ok != 1)
    return fail(errc::invalid_argument,
                fmt::format("the signature is not valid for public key {}", to_hex(key.view())));
  return {};
}

}  // namespace exo
