#include <exo/message/capability.hpp>
#include <exo/message/message.hpp>

#include <sys/mman.h>

#include <cstdint>
#include <new>

namespace exo {

std::string_view to_string(rights r) noexcept {
  static constexpr std::string_view names[] = {
      "none", "call", "transfer", "call|transfer", "derive", "call|derive", "transfer|derive",
      "call|transfer|derive"};
  return names[static_cast<std::uint8_t>(r) & 7];
}

std::string_view to_string(cap_kind k) noexcept {
  switch (k) {
    case cap_kind::none: return "none";
    case cap_kind::actor: return "actor";
    case cap_kind::function: return "function";
    case cap_kind::egress: return "egress";
  }
  return "unknown";
}

namespace detail {

namespace {
std::size_t round_to_huge(std::size_t bytes) noexcept { return (bytes + huge_block - 1) & ~(huge_block - 1); }
}  // namespace

void* batch_allocate(std::size_t bytes) {
  if (bytes < huge_block) return ::operator new(bytes);
  // Map one huge page more than needed and unmap the unaligned ends, so the block starts on
  // a 2 MiB boundary and every page of it can be a huge one.
  const std::size_t size = round_to_huge(bytes);
  if (size < bytes || size + huge_block < size) throw std::bad_alloc();
  void* raw = ::mmap(nullptr, size + huge_block, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (start + huge_block - 1) & ~std::uintptr_t(huge_block - 1);
  if (aligned > start) ::munmap(raw, aligned - start);
  if (std::uintptr_t end = aligned + size; end < start + size + huge_block)
    ::munmap(reinterpret_cast<void*>(end), start + size + huge_block - end);
  void* p = reinterpret_cast<void*>(aligned);
#ifdef MADV_HUGEPAGE
  (void)::madvise(p, size, MADV_HUGEPAGE);  // advice: refused, the block has 4 KiB pages
#endif
  return p;
}

void batch_deallocate(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  if (bytes < huge_block) ::operator delete(p);
  else ::munmap(p, round_to_huge(bytes));
}

}  // namespace detail

}  // namespace exo
