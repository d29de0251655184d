#include <exo/core/hash.hpp>

#include <openssl/evp.h>

#include <cstdlib>
#include <cstdio>

namespace exo {
namespace {
// The fetched algorithm is immutable and shared: fetching once avoids OpenSSL 3's
// per-call provider lookup (the main cost of the one-shot API).
const EVP_MD* sha256_md() noexcept {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}
[[noreturn]] void die(const char* what) noexcept {
  // Hashing cannot fail on valid arguments; if OpenSSL does, the process cannot go on safely.
  std::fprintf(stderr, "exo: OpenSSL SHA-256 failed: %s\n", what);
  std::abort();
}
}  // namespace

sha256::sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || !sha256_md() || !EVP_DigestInit_ex2(ctx_, sha256_md(), nullptr)) die("init");
}

sha256::~sha256() { EVP_MD_CTX_free(ctx_); }

sha256& sha256::update(byte_view data) noexcept {
  if (!EVP_DigestUpdate(ctx_, data.data(), data.size())) die("update");
  return *this;
}

digest sha256::finish() noexcept {
  digest d;
  unsigned n = 0;
  if (!EVP_DigestFinal_ex(ctx_, d.bytes.data(), &n) || n != 32) die("final");
  if (!EVP_DigestInit_ex2(ctx_, sha256_md(), nullptr)) die("reinit");
  return d;
}

digest hash(byte_view data) noexcept {
  thread_local sha256 h;
  return h.update(data).finish();
}

}  // namespace exo
