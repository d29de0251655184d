// The journal's state record and file format (journal.hpp).
#include "journal.hpp"

#include "file_io.hpp"

#include <exo/core/hash.hpp>
#include <exo/store/lmdb_store.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace exo::internal {
namespace {
void put_le(bytes& out, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i, v >>= 8) out.push_back(static_cast<std::uint8_t>(v));
}
std::uint64_t get_le(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
constexpr std::uint32_t journal_magic = 0x4a4f5845;  // "EXOJ" in a little-endian u32
constexpr std::size_t record_header = 4 + 4 + 8 + 32;

void put_bytes(bytes& out, byte_view b) {
  put_le(out, b.size(), 4);
  out.insert(out.end(), b.begin(), b.end());
}
}  // namespace

bytes encode_state(const journal_state& j) {
  bytes out;
  put_le(out, j.applied, 8);
  out.push_back(j.open ? 1 : 0);
  return out;
}

// Reads the journal's state in `txn` (absent: never journaled); an LMDB code, or
// MDB_CORRUPTED for a record that is not one.
int read_state(MDB_txn* txn, MDB_dbi meta, journal_state& j) {
  MDB_val key = view_val(lmdb_store::journal_key), val{};
  int rc = mdb_get(txn, meta, &key, &val);
  if (rc == MDB_NOTFOUND) {
    j = {};
    return 0;
  }
  if (rc != 0) return rc;
  const auto* p = static_cast<const std::uint8_t*>(val.mv_data);
  if (val.mv_size != 9 || p[8] > 1) return MDB_CORRUPTED;
  j.applied = get_le(p, 8);
  j.open = p[8] == 1;
  return 0;
}

unexpected<error> journal_state_damaged(const std::string& dir) {
  return fail(errc::malformed, fmt::format("the journal state record in data directory {} is damaged; restore the data "
                                           "directory from a backup",
                                           dir));
}

std::string journal_in_use(const std::string& dir) {
  return fmt::format("data directory {} is being written through its journal by another process (an exo server?), "
                     "or by one that stopped before applying it; stop that process, or reopen the store to apply "
                     "the journal; nothing was committed",
                     dir);
}

// Writes all `n` bytes at `offset` (the twin of read_at); false with errno set if it cannot.
// Appends the record of commit `b`, numbered `seq`, to `out`; false if it would be longer
// than `limit` bytes (nothing is appended then).
bool append_record(bytes& out, std::uint64_t seq, const commit_batch& b, std::uint64_t limit) {
  std::uint64_t size = record_header + 8 + 4 + 32 + 8 + 4;
  for (const auto& n : b.nodes) size += 4 + n.size();
  for (const auto& [name, value] : b.meta) size += 8 + name.size() + value.size();
  if (size > limit || size - record_header > std::numeric_limits<std::uint32_t>::max()) return false;
  const std::size_t at = out.size();
  put_le(out, journal_magic, 4);
  put_le(out, size - record_header, 4);
  put_le(out, seq, 8);
  out.resize(out.size() + 32);  // the hash, below
  put_le(out, b.first, 8);
  put_le(out, b.nodes.size(), 4);
  for (const auto& n : b.nodes) put_bytes(out, n);
  out.insert(out.end(), b.head.hash.bytes.begin(), b.head.hash.bytes.end());
  put_le(out, b.head.pos, 8);
  put_le(out, b.meta.size(), 4);
  for (const auto& [name, value] : b.meta) {
    put_bytes(out, as_bytes(std::string_view(name)));
    put_bytes(out, value);
  }
  sha256 h;
  digest d = h.update(byte_view(out.data() + at + 8, 8)).update(byte_view(out.data() + at + record_header, size - record_header)).finish();
  std::memcpy(out.data() + at + 16, d.bytes.data(), 32);
  return true;
}

// Reads a record's payload; nullopt if it is not one (its hash matched, so this is not a torn
// write but a journal of another format).
namespace {
std::optional<commit_batch> parse_payload(byte_view p) {
  std::size_t at = 0;
  auto need = [&](std::size_t n) { return p.size() - at >= n; };
  auto u = [&](int n) {
    auto v = get_le(p.data() + at, n);
    at += static_cast<std::size_t>(n);
    return v;
  };
  commit_batch b;
  if (!need(12)) return std::nullopt;
  b.first = u(8);
  const auto count = u(4);
  for (std::uint64_t i = 0; i < count; ++i) {
    if (!need(4)) return std::nullopt;
    const auto len = u(4);
    if (!need(len)) return std::nullopt;
    b.nodes.emplace_back(p.begin() + static_cast<std::ptrdiff_t>(at), p.begin() + static_cast<std::ptrdiff_t>(at + len));
    at += len;
  }
  if (!need(44)) return std::nullopt;
  std::memcpy(b.head.hash.bytes.data(), p.data() + at, 32);
  at += 32;
  b.head.pos = u(8);
  const auto records = u(4);
  for (std::uint64_t i = 0; i < records; ++i) {
    if (!need(4)) return std::nullopt;
    const auto nlen = u(4);
    if (!need(nlen + 4)) return std::nullopt;
    std::string name(reinterpret_cast<const char*>(p.data() + at), nlen);
    at += nlen;
    const auto vlen = u(4);
    if (!need(vlen)) return std::nullopt;
    b.meta.emplace_back(std::move(name), bytes(p.begin() + static_cast<std::ptrdiff_t>(at),
                                                p.begin() + static_cast<std::ptrdiff_t>(at + vlen)));
    at += vlen;
  }
  if (at != p.size()) return std::nullopt;
  return b;
}

}  // namespace

// The commits in the journal (open as `fd`) that data.mdb does not have: those numbered past
// `applied`, in order.
expected<std::vector<commit_batch>> read_journal(int fd, const std::string& path, std::uint64_t applied) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return fail(errc::internal, fmt::format("cannot inspect {}: {}", path, errno_text(errno)));
  bytes all(static_cast<std::size_t>(st.st_size));
  if (!all.empty() && !read_at(fd, all.data(), all.size(), 0))
    return fail(errc::internal, fmt::format("cannot read {}: {}; check the file and retry", path, errno_text(errno)));
  std::vector<commit_batch> out;
  std::optional<std::uint64_t> last;  // the previous record's number
  sha256 h;
  for (std::size_t at = 0; all.size() - at >= record_header;) {
    const std::uint8_t* r = all.data() + at;
    const auto len = get_le(r + 4, 4), seq = get_le(r + 8, 8);
    if (get_le(r, 4) != journal_magic || len > all.size() - at - record_header) break;
    if (last && seq != *last + 1) break;  // left from before the journal started over
    digest d = h.update(byte_view(r + 8, 8)).update(byte_view(r + record_header, len)).finish();
    if (std::memcmp(d.bytes.data(), r + 16, 32) != 0) break;  // torn: its sync never returned
    if (seq > applied) {
      if (seq != applied + 1 + out.size())
        return fail(errc::malformed,
                    fmt::format("{} is damaged: it holds commit record {} but data.mdb has only those up to {}, "
                                "and the ones between are missing; restore the data directory from a backup",
                                path, seq, applied));
      auto b = parse_payload(byte_view(r + record_header, len));
      if (!b)
        return fail(errc::malformed, fmt::format("{} holds a record {} that is not a commit; it was not written by "
                                                 "this version of exo: restore the data directory from a backup",
                                                 path, seq));
      out.push_back(std::move(*b));
    }
    last = seq;
    at += record_header + len;
  }
  return out;
}

// Opens (creating) the journal and takes its lock; nullopt if another process holds it.
expected<std::optional<int>> lock_journal(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return fail(errc::internal, fmt::format("cannot open {}: {}; check the data directory's permissions", path,
                                            errno_text(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK) return std::optional<int>{};
    return fail(errc::internal, fmt::format("cannot lock {}: {}", path, errno_text(e)));
  }
  return std::optional<int>{fd};
}


}  // namespace exo::internal
