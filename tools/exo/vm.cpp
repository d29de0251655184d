// `exo vm build`: an exo application as a bootable virtual machine (vm.hpp).
#include "vm.hpp"

#include <exo/boot/image.hpp>
#include <exo/core/hash.hpp>
#include <exo/core/sealed_file.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <zstd.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>

namespace exo_cli {

namespace fs = std::filesystem;
using exo::bytes;
using exo::errc;
using exo::expected;
using exo::fail;
using exo::unexpected;

namespace {

constexpr std::uint32_t s_ifdir = 0040000, s_ifreg = 0100000, s_ifchr = 0020000;

// A path as the archive keeps it: relative, without "." or "..", no empty parts.
std::string archive_path(const std::string& p) {
  std::string out;
  for (const auto& part : fs::path(p).lexically_normal()) {
    const std::string s = part.string();
    if (s.empty() || s == "/" || s == ".") continue;
    if (s == "..") throw std::invalid_argument("exo: a path in an initramfs cannot climb: " + p);
    if (!out.empty()) out += '/';
    out += s;
  }
  return out;
}

void put_hex(bytes& out, std::uint32_t v) {
  const std::string s = fmt::format("{:08X}", v);
  out.insert(out.end(), s.begin(), s.end());
}
void pad4(bytes& out) {
  while (out.size() % 4) out.push_back(0);
}

expected<bytes> read_whole(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return fail(errc::invalid_argument, fmt::format("cannot read {}", p.string()));
  return bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// The shared libraries `file` needs, as ldd finds them (absolute paths; the vDSO left out).
expected<std::vector<std::string>> libraries_of(const std::string& file) {
  const std::string cmd = fmt::format("ldd '{}' 2>&1", file);
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) return fail(errc::internal, "cannot run ldd");
  std::string text;
  char buf[4096];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, p.get())) > 0;) text.append(buf, n);
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    at = end + 1;
    if (line.find("not found") != std::string::npos)
      return fail(errc::invalid_argument, fmt::format("{} needs a library ldd cannot find: {}", file, line));
    // "name => /path (0x...)" or "/path (0x...)"
    std::size_t arrow = line.find("=> ");
    std::size_t start = arrow != std::string::npos ? arrow + 3 : line.find_first_not_of(" \t");
    if (start == std::string::npos || start >= line.size() || line[start] != '/') continue;
    std::size_t stop = line.find(" (", start);
    out.push_back(line.substr(start, stop == std::string::npos ? std::string::npos : stop - start));
  }
  return out;
}

}  // namespace

void cpio_archive::add_parents(const std::string& p) {
  for (fs::path parent = fs::path(p).parent_path(); !parent.empty(); parent = parent.parent_path())
    if (!entries_.count(parent.string())) add_dir(parent.string());
}

void cpio_archive::add_dir(const std::string& path, std::uint32_t mode) {
  const std::string p = archive_path(path);
  if (p.empty()) return;
  entries_[p] = entry{s_ifdir | (mode & 07777), {}, 0, 0};
}

void cpio_archive::add_file(const std::string& path, bytes data, std::uint32_t mode) {
  const std::string p = archive_path(path);
  add_parents(p);
  entries_[p] = entry{s_ifreg | (mode & 07777), std::move(data), 0, 0};
}

void cpio_archive::add_char_device(const std::string& path, std::uint32_t major, std::uint32_t minor, std::uint32_t mode) {
  const std::string p = archive_path(path);
  add_parents(p);
  entries_[p] = entry{s_ifchr | (mode & 07777), {}, major, minor};
}

bytes cpio_archive::finish() const {
  bytes out;
  std::uint32_t ino = 0;
  auto header = [&](const std::string& name, const entry& e, std::uint32_t inode) {
    const char magic[] = "070701";
    out.insert(out.end(), magic, magic + 6);
    put_hex(out, inode);
    put_hex(out, e.mode);
    put_hex(out, 0);  // uid
    put_hex(out, 0);  // gid
    put_hex(out, (e.mode & s_ifdir) == s_ifdir ? 2 : 1);
    put_hex(out, 0);  // mtime
    put_hex(out, static_cast<std::uint32_t>(e.data.size()));
    put_hex(out, 0);  // the device it is on
    put_hex(out, 0);
    put_hex(out, e.rdev_major);
    put_hex(out, e.rdev_minor);
    put_hex(out, static_cast<std::uint32_t>(name.size() + 1));
    put_hex(out, 0);  // check
    out.insert(out.end(), name.begin(), name.end());
    out.push_back(0);
    pad4(out);
    out.insert(out.end(), e.data.begin(), e.data.end());
    pad4(out);
  };
  for (const auto& [name, e] : entries_) header(name, e, ++ino);
  header("TRAILER!!!", entry{}, 0);
  return out;
}

const std::vector<std::string>& vm_modules() {
  // Each after what it depends on (the package has no modules.dep: the order comes from each
  // module's depends=): virtio over PCI, the disk, ext4 (and the checksum it mounts with),
  // and the network device.
  static const std::vector<std::string> m{
      "drivers/virtio/virtio_ring.ko",  "drivers/virtio/virtio.ko",
      "drivers/virtio/virtio_pci_modern_dev.ko", "drivers/virtio/virtio_pci_legacy_dev.ko",
      "drivers/virtio/virtio_pci.ko",   "drivers/block/virtio_blk.ko",
      "crypto/crc32c_generic.ko",       "lib/crc16.ko",
      "fs/mbcache.ko",                  "fs/jbd2/jbd2.ko",
      "fs/ext4/ext4.ko",                "net/core/failover.ko",
      "drivers/net/net_failover.ko",    "drivers/net/virtio_net.ko"};
  return m;
}

expected<void> vm_build(const vm_inputs& in, const std::string& out, void (*progress)(const std::string&)) {
  // The image: it must read (a VM that cannot boot it is found now, not at boot).
  auto file = read_whole(in.image);
  if (!file) return fail(errc::invalid_argument, fmt::format("the image: {}", file.error().message));
  auto img = exo::read_image(*file);
  if (!img) return fail(img.error().code, fmt::format("the image {}: {}", in.image, img.error().message));
  // The kernel: boot/vmlinuz-VERSION and lib/modules/VERSION.
  const fs::path kdir(in.kernel_dir);
  std::error_code ec;
  std::vector<fs::path> kernels;
  for (const auto& e : fs::directory_iterator(kdir / "boot", ec))
    if (e.path().filename().string().rfind("vmlinuz-", 0) == 0) kernels.push_back(e.path());
  if (ec || kernels.size() != 1)
    return fail(errc::invalid_argument, fmt::format("{} is not an unpacked linux-image package: it needs exactly one "
                                                    "boot/vmlinuz-VERSION ({} found)",
                                                    in.kernel_dir, kernels.size()));
  const std::string version = kernels[0].filename().string().substr(8);
  const fs::path mods = kdir / "lib" / "modules" / version / "kernel";
  auto kernel = read_whole(kernels[0]);
  if (!kernel) return unexpected(std::move(kernel).error());

  cpio_archive a;
  for (const char* d : {"dev", "proc", "sys", "data", "tmp"}) a.add_dir(d);
  a.add_char_device("dev/console", 5, 1);
  a.add_char_device("dev/null", 1, 3, 0666);
  a.add_file("app.exo", *file);
  // exo itself is /init, with every library it and its plugins need, where ldd found them.
  std::set<std::string> libs;
  auto need = [&](const std::string& f) -> expected<void> {
    auto l = libraries_of(f);
    if (!l) return unexpected(std::move(l).error());
    libs.insert(l->begin(), l->end());
    return {};
  };
  auto exe = read_whole(in.exo_binary);
  if (!exe) return unexpected(std::move(exe).error());
  a.add_file("init", std::move(*exe), 0755);
  if (auto r = need(in.exo_binary); !r) return r;
  std::size_t plugins = 0;
  for (const auto& dir : in.plugin_dirs) {
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".so") found.push_back(e.path());
    std::sort(found.begin(), found.end());
    for (const auto& p : found) {
      auto so = read_whole(p);
      if (!so) return unexpected(std::move(so).error());
      a.add_file("plugins/" + p.filename().string(), std::move(*so), 0755);
      if (auto r = need(p.string()); !r) return r;
      ++plugins;
    }
  }
  for (const auto& l : libs) {
    auto so = read_whole(fs::canonical(l, ec));
    if (!so || ec) return fail(errc::invalid_argument, fmt::format("cannot read the library {}", l));
    a.add_file(l, std::move(*so), 0755);
  }
  for (const auto& m : vm_modules()) {
    auto ko = read_whole(mods / m);
    if (!ko)
      return fail(errc::invalid_argument, fmt::format("the kernel {} lacks the module {}: exo's VM needs virtio, ext4 and "
                                                      "virtio-net as modules of Debian's kernel",
                                                      version, m));
    a.add_file("modules/" + fs::path(m).filename().string(), std::move(*ko));
  }
  progress(fmt::format("initramfs: exo, {} plugins, {} libraries, {} kernel modules, the image", plugins, libs.size(),
                       vm_modules().size()));
  const bytes cpio = a.finish();
  bytes packed(ZSTD_compressBound(cpio.size()));
  const std::size_t n = ZSTD_compress(packed.data(), packed.size(), cpio.data(), cpio.size(), 3);
  if (ZSTD_isError(n)) return fail(errc::internal, fmt::format("zstd: {}", ZSTD_getErrorName(n)));
  packed.resize(n);

  fs::create_directories(out, ec);
  if (ec) return fail(errc::invalid_argument, fmt::format("cannot make {}: {}", out, ec.message()));
  nlohmann::ordered_json j{{"format", "exo-vm-1"},
                           {"kernel", "vmlinuz"},
                           {"kernel_version", version},
                           {"initrd", "initrd.zst"},
                           {"image", exo::to_hex(img->hash)},
                           {"name", img->manifest.name},
                           {"initrd_bytes", cpio.size()}};
  const std::string manifest = j.dump(2) + "\n";
  for (auto [name, data] : {std::pair<const char*, const bytes*>{"vmlinuz", &*kernel}, {"initrd.zst", &packed}}) {
    if (auto w = exo::write_file((fs::path(out) / name).string(), *data); !w) return w;
  }
  if (auto w = exo::write_file((fs::path(out) / "vm.json").string(), bytes(manifest.begin(), manifest.end())); !w) return w;
  progress(fmt::format("{}: kernel {} ({} bytes), initrd.zst ({} bytes, {} unpacked)", out, version, kernel->size(), packed.size(),
                       cpio.size()));
  return {};
}

// ---- the guest: exo as PID 1 ----

namespace {

void say(const std::string& line) {
  fmt::print("exo vm: {}\n", line);
  std::fflush(stdout);
}

[[noreturn]] void power_off(int status) {
  say(fmt::format("exit {}", status));
  sync();
  (void)umount2("/data", 0);
  sync();
  reboot(RB_POWER_OFF);
  for (;;) pause();  // (PID 1 must not return)
}

// Brings interface `name` up, with `addr`/24 if given.
bool interface_up(const char* name, const char* addr, std::string& why) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    why = std::strerror(errno);
    return false;
  }
  ifreq r{};
  std::strncpy(r.ifr_name, name, IFNAMSIZ - 1);
  bool ok = true;
  if (addr) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&r.ifr_addr);
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, addr, &sin->sin_addr);
    ok = ioctl(fd, SIOCSIFADDR, &r) == 0;
    if (ok) {
      inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
      ok = ioctl(fd, SIOCSIFNETMASK, &r) == 0;
    }
  }
  if (ok) ok = ioctl(fd, SIOCGIFFLAGS, &r) == 0;
  if (ok) {
    r.ifr_flags |= IFF_UP | IFF_RUNNING;
    ok = ioctl(fd, SIOCSIFFLAGS, &r) == 0;
  }
  if (!ok) why = std::strerror(errno);
  close(fd);
  return ok;
}

bool wait_for(const char* path, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (access(path, F_OK) != 0) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

}  // namespace

void vm_init(int (*boot)(const std::string& image, const std::string& data, const std::string& listen)) {
  (void)mount("devtmpfs", "/dev", "devtmpfs", 0, nullptr);
  (void)mount("proc", "/proc", "proc", 0, nullptr);
  (void)mount("sysfs", "/sys", "sysfs", 0, nullptr);
  // PID 1 gets no signal it has no handler for: SIGTERM and SIGINT get one (cmd_boot blocks
  // and waits for them).
  struct sigaction sa{};
  sa.sa_handler = [](int) {};
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  say("the kernel is up; loading modules");
  for (const auto& m : vm_modules()) {
    const std::string path = "/modules/" + fs::path(m).filename().string();
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      say(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
      power_off(3);
    }
    if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST) {
      say(fmt::format("the kernel refused the module {}: {} (a kernel without virtio or ext4 support as modules?)", m,
                      std::strerror(errno)));
      close(fd);
      power_off(3);
    }
    close(fd);
  }
  if (!wait_for("/dev/vda", std::chrono::seconds(10))) {
    say("no data disk: /dev/vda did not appear (exo vm run gives one with --data)");
    power_off(3);
  }
  if (mount("/dev/vda", "/data", "ext4", MS_NOATIME, "") != 0) {
    say(fmt::format("cannot mount the data disk /dev/vda as ext4: {} (exo vm run formats a disk it makes; this one is "
                    "something else)",
                    std::strerror(errno)));
    power_off(3);
  }
  std::string why;
  if (!interface_up("lo", "127.0.0.1", why) || !wait_for("/sys/class/net/eth0", std::chrono::seconds(10)) ||
      !interface_up("eth0", "10.0.2.15", why)) {
    say(fmt::format("cannot bring the network up: {}", why.empty() ? "no eth0" : why));
    power_off(3);
  }
  // The control line: "stop" from `exo vm run` stops the node as SIGTERM does.
  std::thread([] {
    int fd = open("/dev/ttyS1", O_RDONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return;
    std::string line;
    char c;
    while (read(fd, &c, 1) == 1) {
      if (c != '\n' && c != '\r') {
        line += c;
        continue;
      }
      if (line == "stop") kill(getpid(), SIGTERM);
      line.clear();
    }
  }).detach();
  say("data disk mounted on /data, network up (10.0.2.15); booting the image");
  const int status = boot("/app.exo", "/data/exo", "0.0.0.0:8545");
  power_off(status);
}

// ---- the host: exo vm run ----

namespace {

volatile sig_atomic_t stop_requested = 0;

expected<int> free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) close(fd);
    return fail(errc::internal, "cannot find a free port");
  }
  close(fd);
  return ntohs(a.sin_port);
}

bool kvm_usable() {
  if (access("/dev/kvm", R_OK | W_OK) != 0) return false;
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("flags", 0) == 0) return line.find(" vmx") != std::string::npos || line.find(" svm") != std::string::npos;
  return false;
}

// In a child: runs argv (a program on PATH); returns only if it cannot.
void exec_argv(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
}

int run_quiet(const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    exec_argv(argv);
    _exit(127);
  }
  int st = 0;
  if (pid < 0 || waitpid(pid, &st, 0) < 0) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace

int vm_run(const vm_run_args& a) {
  auto bad = [](const std::string& what) {
    fmt::print(stderr, "exo: vm run: {}\n", what);
    return 3;
  };
  const fs::path dir(a.vm_dir);
  std::ifstream mf(dir / "vm.json");
  nlohmann::json manifest = nlohmann::json::parse(mf, nullptr, false);
  if (!mf || manifest.is_discarded() || manifest.value("format", "") != "exo-vm-1")
    return bad(fmt::format("{} is not a VM folder (exo vm build makes one): its vm.json is missing or not exo-vm-1", a.vm_dir));
  std::error_code ec;
  if (!fs::exists(a.disk, ec)) {
    // A new disk: a sparse file, formatted ext4 (e2fsprogs' mkfs.ext4; the guest has no userland).
    {
      std::ofstream f(a.disk, std::ios::binary);
      if (!f) return bad(fmt::format("cannot make the disk {}", a.disk));
    }
    fs::resize_file(a.disk, a.disk_mib << 20, ec);
    if (ec) return bad(fmt::format("cannot size the disk {}: {}", a.disk, ec.message()));
    if (run_quiet({"mkfs.ext4", "-q", "-F", "-L", "exo-data", a.disk}) != 0) {
      fs::remove(a.disk, ec);
      return bad(fmt::format("mkfs.ext4 could not format {} (is e2fsprogs installed?)", a.disk));
    }
    fmt::print("exo: vm run: made the data disk {} ({} MiB, ext4)\n", a.disk, a.disk_mib);
  } else if (!fs::is_regular_file(a.disk, ec)) {
    return bad(fmt::format("the disk {} is not a file", a.disk));
  }
  // Where RPC is reached on the host.
  const auto colon = a.listen.rfind(':');
  if (colon == std::string::npos) return bad(fmt::format("--listen {}: expected HOST:PORT", a.listen));
  const std::string host = a.listen.substr(0, colon);
  int port = std::atoi(a.listen.c_str() + colon + 1);
  if (port == 0) {
    auto p = free_port();
    if (!p) return bad(p.error().message);
    port = *p;
  }
  char tmpl[] = "/tmp/exo-vm-XXXXXX";
  if (!mkdtemp(tmpl)) return bad("cannot make a temporary folder");
  const std::string control = std::string(tmpl) + "/control";
  const bool kvm = kvm_usable();
  std::vector<std::string> argv{"qemu-system-x86_64",
                                "-accel", kvm ? "kvm" : "tcg",
                                "-m", std::to_string(a.memory_mib),
                                "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                                "-serial", "stdio",
                                "-serial", "unix:" + control + ",server=on,wait=off",
                                "-kernel", (dir / manifest.value("kernel", "vmlinuz")).string(),
                                "-initrd", (dir / manifest.value("initrd", "initrd.zst")).string(),
                                "-append", "console=ttyS0 quiet panic=-1",
                                "-drive", "file=" + a.disk + ",format=raw,if=virtio",
                                "-netdev", fmt::format("user,id=n0,restrict=on,hostfwd=tcp:{}:{}-10.0.2.15:8545", host, port),
                                "-device", "virtio-net-pci,netdev=n0,romfile="};
  int out[2], in[2];
  if (pipe(out) != 0 || pipe(in) != 0) return bad("cannot make pipes");
  // SIGINT/SIGTERM: ask the guest to stop (handled below, not by the default action).
  struct sigaction sa{};
  sa.sa_handler = [](int) { stop_requested = 1; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const auto started = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(out[1], 2);
    close(in[1]);
    close(out[0]);
    setpgid(0, 0);  // (Ctrl-C on the terminal goes to exo, which stops the guest cleanly)
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // (and QEMU does not outlive an exo that was killed)
    exec_argv(argv);
    fmt::print(stderr, "cannot run qemu-system-x86_64: {} (Debian's qemu-system-x86 package)\n", std::strerror(errno));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  fmt::print("exo: vm run: booting {} under QEMU ({}), RPC on {}:{}\n", a.vm_dir, kvm ? "KVM" : "software emulation", host,
             port);
  std::fflush(stdout);
  int status = -1;
  bool asked = false;
  std::string pending;
  auto ask_stop = [&] {
    if (asked) return;
    asked = true;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un u{};
    u.sun_family = AF_UNIX;
    std::strncpy(u.sun_path, control.c_str(), sizeof u.sun_path - 1);
    if (s >= 0 && connect(s, reinterpret_cast<sockaddr*>(&u), sizeof u) == 0) {
      const char msg[] = "stop\n";
      (void)!write(s, msg, sizeof msg - 1);
    }
    if (s >= 0) close(s);
  };
  for (;;) {
    if (stop_requested) ask_stop();
    pollfd p{out[0], POLLIN, 0};
    int r = poll(&p, 1, 200);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[4096];
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.rfind("listening on ws://", 0) == 0) {
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        fmt::print("listening on ws://{}:{} (the VM's RPC; ready after {:.1f} s; Ctrl-C stops)\n", host, port, s);
      } else {
        if (line.rfind("exo vm: exit ", 0) == 0) status = std::atoi(line.c_str() + 13);
        fmt::print("{}\n", line);
      }
      std::fflush(stdout);
    }
  }
  int st = 0;
  waitpid(pid, &st, 0);
  fs::remove_all(tmpl, ec);
  if (status < 0) {
    fmt::print(stderr, "exo: vm run: the VM stopped without saying how it ended (QEMU {} {})\n",
               WIFEXITED(st) ? "exited" : "was killed", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    return 3;
  }
  return status;
}

}  // namespace exo_cli
