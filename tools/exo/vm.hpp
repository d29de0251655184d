#pragma once
// `exo vm build` (tools/exo/vm.cpp): an exo application as a bootable virtual machine
// (issue 22). A VM folder holds Debian's kernel, an initramfs whose /init is exo itself (with
// the shared libraries and plugins it needs, the kernel modules for a virtio disk, ext4 and
// virtio networking, and the packed image), and vm.json saying what is in it. The build is
// reproducible: the same inputs give the same bytes (a cpio in path order, every time 0,
// every owner root, inode numbers in order; compressed with zstd at a fixed level).

#include <exo/core/bytes.hpp>
#include <exo/core/expected.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace exo_cli {

/// A cpio archive in the "newc" format the kernel unpacks into its initramfs, built in memory.
/// Entries are written in path order whatever order they are added in; every directory on
/// the way to a file is made; times are 0 and owners root, so the same entries give the same
/// bytes.
class cpio_archive {
 public:
  void add_dir(const std::string& path, std::uint32_t mode = 0755);
  void add_file(const std::string& path, exo::bytes data, std::uint32_t mode = 0644);
  void add_char_device(const std::string& path, std::uint32_t major, std::uint32_t minor, std::uint32_t mode = 0600);
  /// The archive's bytes (its entries, then the trailer).
  exo::bytes finish() const;
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct entry {
    std::uint32_t mode = 0;  // type and permissions
    exo::bytes data;
    std::uint32_t rdev_major = 0, rdev_minor = 0;
  };
  void add_parents(const std::string& path);  // every directory on the way to `path`
  std::map<std::string, entry> entries_;  // by path, without the leading '/'
};

/// What goes into a VM: the image, the kernel (an unpacked linux-image package: boot/vmlinuz-*
/// and lib/modules/VERSION), exo and the plugin folder.
struct vm_inputs {
  std::string image;       ///< APP.exo
  std::string kernel_dir;  ///< the unpacked package
  std::string exo_binary;  ///< /proc/self/exe, normally
  std::vector<std::string> plugin_dirs;
};

/// Builds the VM folder `out` (vmlinuz, initrd.zst, vm.json); says what it does through
/// `progress`. Bad input (an image that does not read, a kernel folder without a kernel or
/// one of the modules, a library ldd cannot find) is an error naming it.
exo::expected<void> vm_build(const vm_inputs& in, const std::string& out, void (*progress)(const std::string&));

/// exo as a VM's /init (PID 1): mounts /proc, /sys and /dev, loads the modules, mounts the
/// data disk (/dev/vda, ext4) on /data, brings up lo and eth0 (10.0.2.15/24, QEMU's user
/// network), watches the control line (/dev/ttyS1: "stop" stops it as SIGTERM does), runs
/// `boot(image, data, listen)` and, when it returns, syncs, unmounts and powers the machine
/// off. The console says each step and ends with "exo vm: exit N" (what `exo vm run` exits
/// with). Never returns.
[[noreturn]] void vm_init(int (*boot)(const std::string& image, const std::string& data, const std::string& listen));

/// `exo vm run`: boots the VM folder under qemu-system-x86_64 (KVM when usable, else software
/// emulation) with `disk` (an ext4 image; made and formatted when missing, `disk_mib` MiB) as
/// its data disk and RPC forwarded from `listen` on the host's loopback (port 0: a free one);
/// the console goes to stdout, the guest's listening line becomes the host's URL; SIGINT or
/// SIGTERM stop the guest cleanly. Returns the guest's exit status (3 when the VM could not
/// start or died without one).
struct vm_run_args {
  std::string vm_dir, disk, listen = "127.0.0.1:0";
  std::uint64_t memory_mib = 1024, disk_mib = 512;
};
int vm_run(const vm_run_args& a);

/// The kernel modules the VM loads, in load order (each after what it depends on), by path
/// under lib/modules/VERSION/kernel.
const std::vector<std::string>& vm_modules();

}  // namespace exo_cli
