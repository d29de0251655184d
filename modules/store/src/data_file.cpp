// Checking data.mdb before LMDB maps it (data_file.hpp).
#include "data_file.hpp"

#include "file_io.hpp"
#include "lmdb_env.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace exo::internal {
namespace {

// ---------------------------------------------------------------------------------------------
// Checking data.mdb before LMDB maps it. LMDB trusts the file: it maps it and follows page
// numbers, so a file cut short makes it touch pages past the end, and the process dies of
// SIGBUS. Before opening we read the two meta pages ourselves and make sure the committed
// data lies inside the file. The layout is LMDB 0.9's (lmdb.h's MDB_VERSION_MAJOR 0, data
// format version 1), in native byte order as LMDB writes it.

static_assert(MDB_VERSION_MAJOR == 0 && MDB_VERSION_MINOR == 9, "the data.mdb checks know LMDB 0.9's layout");

constexpr std::size_t page_header_size = 16;      // MDB_page up to mp_ptrs
constexpr std::size_t meta_read_size = 16 + 136;  // page header + MDB_meta
constexpr std::uint32_t mdb_magic = 0xBEEFC0DE;
constexpr std::uint32_t mdb_data_version = 1;
constexpr std::uint16_t page_branch = 0x01, page_leaf = 0x02, page_overflow = 0x04, page_meta = 0x08,
                        page_leaf2 = 0x20;
constexpr std::uint16_t node_bigdata = 0x01, node_subdata = 0x02;
constexpr std::uint64_t no_page = ~std::uint64_t{0};
// Offsets in a meta page (page header, then MDB_meta: magic, version, address, mapsize,
// the free-list and main MDB_db records (48 bytes each), last page, transaction id).
constexpr std::size_t off_flags = 10, off_lower = 12, off_upper = 14, off_pages = 12;
constexpr std::size_t off_magic = 16, off_version = 20, off_psize = 40, off_free_root = 80,
                      off_main_root = 128, off_last_pg = 136, off_txnid = 144;
constexpr std::size_t db_record_size = 48, db_root_offset = 40, node_header_size = 8;

template <class T>
T load(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

struct meta_page {
  std::uint32_t psize = 0;
  std::uint64_t free_root = 0, main_root = 0, last_pg = 0, txnid = 0;
};

class data_file_check {
 public:
  data_file_check(int fd, std::uint64_t size, std::string path) : fd_(fd), size_(size), path_(std::move(path)) {}

  // Fails unless the file holds a whole LMDB database (as far as its meta pages say).
  expected<void> run() {
    std::uint8_t buf[meta_read_size];
    if (size_ < meta_read_size) return truncated(fmt::format("it is {} bytes, too short to hold LMDB's first meta page", size_));
    if (!read_at(fd_, buf, sizeof buf, 0)) return io_failure();
    auto m0 = parse_meta(buf, 0);
    if (!m0) return unexpected{std::move(m0).error()};
    std::uint64_t psize = m0->psize;
    if (size_ < psize + meta_read_size)
      return truncated(fmt::format("it is {} bytes, too short to hold LMDB's second meta page", size_));
    if (!read_at(fd_, buf, sizeof buf, psize)) return io_failure();
    auto m1 = parse_meta(buf, 1);
    if (!m1) return unexpected{std::move(m1).error()};
    if (m1->psize != m0->psize) return damaged("its two meta pages disagree about the page size");
    meta_page m = m1->txnid > m0->txnid ? *m1 : *m0;  // the one LMDB will use
    psize_ = psize;
    pages_ = m.last_pg + 1;
    if (m.last_pg < 1 || m.last_pg > (std::uint64_t{1} << 48) / psize)
      return damaged(fmt::format("its meta page names an impossible last page {}", m.last_pg));
    if (size_ >= pages_ * psize_) return {};
    // Shorter than the committed size. LMDB may leave pages it allocated and freed within one
    // transaction unwritten at the end, so this alone is no proof of damage: walk every tree
    // and check that each page reachable from the current meta page is inside the file.
    return walk(m);
  }

 private:
  expected<meta_page> parse_meta(const std::uint8_t* p, int n) const {
    if (load<std::uint32_t>(p + off_magic) != mdb_magic || !(load<std::uint16_t>(p + off_flags) & page_meta))
      return fail(errc::malformed,
                  fmt::format("{} is not an LMDB database: meta page {} has no LMDB signature; the file is "
                              "damaged or was not written by exo; restore the data directory from a backup",
                              path_, n));
    if (auto v = load<std::uint32_t>(p + off_version); v != mdb_data_version)
      return fail(errc::invalid_argument,
                  fmt::format("{} uses LMDB data format version {}, but this build's LMDB reads version {}; "
                              "open it with the exo build that wrote it",
                              path_, v, mdb_data_version));
    meta_page m;
    m.psize = load<std::uint32_t>(p + off_psize);
    m.free_root = load<std::uint64_t>(p + off_free_root);
    m.main_root = load<std::uint64_t>(p + off_main_root);
    m.last_pg = load<std::uint64_t>(p + off_last_pg);
    m.txnid = load<std::uint64_t>(p + off_txnid);
    if (m.psize < 512 || m.psize > 65536 || (m.psize & (m.psize - 1)) != 0)
      return fail(errc::malformed, fmt::format("{} is damaged: meta page {} gives an impossible page size {}; "
                                               "restore the data directory from a backup",
                                               path_, n, m.psize));
    return m;
  }

  expected<void> walk(const meta_page& m) {
    std::vector<bool> seen(size_ / psize_);  // check_range keeps page numbers inside the file
    std::vector<std::uint64_t> todo;
    for (auto root : {m.free_root, m.main_root})
      if (root != no_page) todo.push_back(root);
    std::vector<std::uint8_t> page(psize_);
    while (!todo.empty()) {
      std::uint64_t pgno = todo.back();
      todo.pop_back();
      if (auto r = check_range(pgno, 1); !r) return r;
      if (seen[pgno]) return damaged(fmt::format("page {} is reachable twice", pgno));
      seen[pgno] = true;
      if (!read_at(fd_, page.data(), psize_, pgno * psize_)) return io_failure();
      const std::uint8_t* p = page.data();
      auto flags = load<std::uint16_t>(p + off_flags);
      if (load<std::uint64_t>(p) != pgno || !(flags & (page_branch | page_leaf)))
        return damaged(fmt::format("page {} is not the tree page its parent says it is", pgno));
      if (flags & page_leaf2) continue;  // fixed-size duplicates: no page references
      std::size_t lower = load<std::uint16_t>(p + off_lower), upper = load<std::uint16_t>(p + off_upper);
      if (lower < page_header_size || lower > upper || upper > psize_)
        return damaged(fmt::format("page {} has an impossible layout", pgno));
      std::size_t keys = (lower - page_header_size) / 2;
      for (std::size_t i = 0; i < keys; ++i) {
        std::size_t node = load<std::uint16_t>(p + page_header_size + 2 * i);
        if (node < upper || node + node_header_size > psize_)
          return damaged(fmt::format("page {} has a node outside the page", pgno));
        auto lo = load<std::uint16_t>(p + node), hi = load<std::uint16_t>(p + node + 2);
        auto nflags = load<std::uint16_t>(p + node + 4), ksize = load<std::uint16_t>(p + node + 6);
        if (flags & page_branch) {
          todo.push_back(std::uint64_t{lo} | (std::uint64_t{hi} << 16) | (std::uint64_t{nflags} << 32));
          continue;
        }
        std::size_t data = node + node_header_size + ksize;
        if (nflags & node_bigdata) {
          if (data + 8 > psize_) return damaged(fmt::format("page {} has a node outside the page", pgno));
          if (auto r = check_overflow(load<std::uint64_t>(p + data)); !r) return r;
        } else if (nflags & node_subdata) {  // a named database or a duplicate set's tree
          if (data + db_record_size > psize_) return damaged(fmt::format("page {} has a node outside the page", pgno));
          if (auto root = load<std::uint64_t>(p + data + db_root_offset); root != no_page) todo.push_back(root);
        }
      }
    }
    return {};
  }

  expected<void> check_overflow(std::uint64_t pgno) {
    if (auto r = check_range(pgno, 1); !r) return r;
    std::uint8_t head[page_header_size];
    if (!read_at(fd_, head, sizeof head, pgno * psize_)) return io_failure();
    if (load<std::uint64_t>(head) != pgno || !(load<std::uint16_t>(head + off_flags) & page_overflow))
      return damaged(fmt::format("page {} is not the overflow page a record says it is", pgno));
    return check_range(pgno, load<std::uint32_t>(head + off_pages));
  }

  // Pages [pgno, pgno + count) must be committed pages inside the file.
  expected<void> check_range(std::uint64_t pgno, std::uint64_t count) {
    if (count == 0 || pgno >= pages_ || count > pages_ - pgno)
      return damaged(fmt::format("a reference to page {} points past the last committed page {}", pgno, pages_ - 1));
    if ((pgno + count) * psize_ > size_)
      return truncated(fmt::format("it is {} bytes, but its committed data reaches byte {} (page {})", size_,
                                   (pgno + count) * psize_, pgno + count - 1));
    return {};
  }

  unexpected<error> truncated(const std::string& detail) const {
    return fail(errc::malformed, fmt::format("{} is truncated: {}; the file was cut short (an incomplete copy, a "
                                             "full disk?); restore the data directory from a backup",
                                             path_, detail));
  }
  unexpected<error> damaged(const std::string& detail) const {
    return fail(errc::malformed,
                fmt::format("{} is damaged: {}; restore the data directory from a backup", path_, detail));
  }
  unexpected<error> io_failure() const {
    return fail(errc::internal, fmt::format("cannot read {}: {}; check the file and retry", path_, errno_text(errno)));
  }

  int fd_;
  std::uint64_t size_;
  std::string path_;
  std::uint64_t psize_ = 0;
  std::uint64_t pages_ = 0;
};

}  // namespace

expected<bool> check_data_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(errc::internal,
                fmt::format("cannot read {}: {}; check its permissions", path, errno_text(errno)));
  struct stat st {};
  expected<bool> result = false;
  if (::fstat(fd, &st) != 0) {
    result = fail(errc::internal, fmt::format("cannot inspect {}: {}", path, errno_text(errno)));
  } else if (st.st_size == 0) {
    result = true;
  } else if (auto r = data_file_check(fd, static_cast<std::uint64_t>(st.st_size), path).run(); !r) {
    result = unexpected{std::move(r).error()};
  }
  ::close(fd);
  return result;
}


std::optional<std::string> foreign_entry(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    auto name = e.path().filename().string();
    // (node.key: the key a logged hypervisor signs with, made before its first boot to be
    // named in its peers' files: exo keygen -o DIR/node.key)
    if (name != "lock.mdb" && name != "node.key") return name;
  }
  if (ec) return std::string("(unreadable: ") + ec.message() + ")";
  return std::nullopt;
}

std::string not_exo(const std::string& dir, std::string_view why) {
  return fmt::format("{} is not an exo data directory: {}", dir, why);
}

}  // namespace exo::internal
