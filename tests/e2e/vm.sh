#!/usr/bin/env bash
# An exo application as a bootable VM (issue 22), as a user runs it: pack examples/app, build
# the VM twice (the same bytes), boot it under QEMU with a new data disk, call it over RPC from
# the host, stop it (SIGTERM: a clean power-off), boot it again on the same disk (it resumes),
# stop it, and verify the disk's log on the host; the roots equal a host-side run of the same
# calls. Bad input: a corrupt image inside the VM (the disk's copy), a disk that is not ext4, a disk too small for the data, a disk that cannot
# be made, a truncated initramfs, a corrupt image, a kernel without the modules or with a
# virtio module that is not one, and a folder that is no VM, each a clear message and a non-zero exit.
#   vm.sh EXO APP_DIR
set -euo pipefail
exo=$1 app=$2
work=$(mktemp -d /tmp/exo-vm-e2e-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  pkill -9 -f "qemu-system-x86_64.*$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "vm e2e FAILED: $*" >&2
  for f in "$work"/*.out; do [ -f "$f" ] && sed "s|^|  $(basename "$f"): |" "$f" >&2; done
  exit 1
}
expect_rc() {  # expect_rc CODE TEXT CMD...: exits CODE and says TEXT (on stdout or stderr)
  local want=$1 text=$2; shift 2
  set +e; "$@" >"$work/rc.out" 2>&1; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want"
  grep -qF -- "$text" "$work/rc.out" || fail "'$*' did not say '$text'"
  rm -f "$work/rc.out"
}
# start NAME CMD...: in the background, output in NAME.out, until it prints a ws:// URL (4 min).
start() {
  local name=$1; shift
  "$@" >"$work/$name.out" 2>&1 &
  pids+=($!)
  last_pid=$!
  for _ in $(seq 1 2400); do
    url=$(grep -o 'listening on ws://[0-9.]*:[0-9]*' "$work/$name.out" | grep -o 'ws://.*' || true)
    [ -n "$url" ] && return 0
    kill -0 "$last_pid" 2>/dev/null || fail "$name exited before it listened"
    sleep 0.1
  done
  fail "$name did not listen within 4 minutes"
}
stop() {  # stop PID: SIGTERM, and it must exit 0
  kill -TERM "$1"
  wait "$1" || fail "pid $1 did not stop cleanly (exit $?)"
}
root_of() { grep -o 'state root [0-9a-f]*' "$work/$1.out" | tail -1 | cut -d' ' -f3; }

echo "-- pack; build the VM twice: the same bytes"
"$exo" pack "$app" -o "$work/app.exo" >/dev/null
start_build=$SECONDS
"$exo" vm build "$work/app.exo" -o "$work/app.vm" >"$work/build.out" 2>&1 || fail "exo vm build"
echo "   built in $((SECONDS - start_build)) s: $(du -sh "$work/app.vm" | cut -f1)"
"$exo" vm build "$work/app.exo" -o "$work/again.vm" >/dev/null 2>&1 || fail "exo vm build, again"
for f in vmlinuz initrd.zst vm.json; do cmp -s "$work/app.vm/$f" "$work/again.vm/$f" || fail "two builds differ in $f"; done
rm -rf "$work/again.vm"

echo "-- the same calls as a process on the host, for the roots"
start host "$exo" boot "$work/app.exo" --data "$work/host" --listen 127.0.0.1:0
"$exo" call "$url" counter.add 5 >/dev/null 2>&1
[ "$("$exo" call "$url" counter.get)" = 15 ] || fail "the host's counter is not 15"
stop "$last_pid"
host_root=$(root_of host)

echo "-- boot the VM on a new disk, call it from the host, stop it"
start vm1 "$exo" vm run "$work/app.vm" --data "$work/disk.img"
grep -q 'made the data disk' "$work/vm1.out" || fail "no new disk was made"
grep -o 'ready after [0-9.]* s' "$work/vm1.out" | sed 's/^/   /'
"$exo" call "$url" counter.add 5 >/dev/null 2>&1
t0=$(date +%s%N)
[ "$("$exo" call "$url" counter.get)" = 15 ] || fail "the VM's counter is not 15"
echo "   one call through the VM (exo call, connection included): $(( ($(date +%s%N) - t0) / 1000000 )) ms"
stop "$last_pid"
grep -q 'exo vm: exit 0' "$work/vm1.out" || fail "the guest did not say it ended well"
[ "$(root_of vm1)" = "$host_root" ] || fail "the VM's root $(root_of vm1) is not the host's $host_root"

echo "-- boot it again on the same disk: it resumes"
start vm2 "$exo" vm run "$work/app.vm" --data "$work/disk.img"
grep -q 'resumed' "$work/vm2.out" || fail "the second boot did not resume"
[ "$("$exo" call "$url" counter.get)" = 15 ] || fail "the resumed VM's counter is not 15"
"$exo" call "$url" counter.add 1 >/dev/null 2>&1
stop "$last_pid"
vm_root=$(root_of vm2)

echo "-- the disk's log verifies on the host"
debugfs -R "rdump /exo $work" "$work/disk.img" >/dev/null 2>&1 || fail "debugfs could not read the disk"
"$exo" verify "$work/exo" >"$work/verify.out" 2>&1 || fail "exo verify of the VM's data"
grep -q "final root $vm_root" "$work/verify.out" || fail "the verified root is not the VM's last ($vm_root)"

echo "-- bad input: clear messages, non-zero exits"
# A corrupt image inside the VM: the disk's copy of it, damaged (debugfs writes the file).
python3 - "$work/exo/image.exo" "$work/damaged.exo" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) // 2] ^= 1
open(sys.argv[2], "wb").write(b)
EOF
cp "$work/disk.img" "$work/damaged.img"
printf 'cd /exo\nrm image.exo\nwrite %s image.exo\n' "$work/damaged.exo" >"$work/debugfs.cmds"
debugfs -w -f "$work/debugfs.cmds" "$work/damaged.img" >/dev/null 2>&1 || fail "debugfs could not damage the disk's image"
expect_rc 3 "keeps a damaged image" "$exo" vm run "$work/app.vm" --data "$work/damaged.img"
head -c $((8 << 20)) /dev/zero >"$work/zero.img"
expect_rc 3 "cannot mount the data disk /dev/vda as ext4" "$exo" vm run "$work/app.vm" --data "$work/zero.img"
expect_rc 3 "exo vm: exit 3" "$exo" vm run "$work/app.vm" --data "$work/tiny.img" --disk-size 1
cp -r "$work/app.vm" "$work/cut.vm"
head -c 1000000 "$work/app.vm/initrd.zst" >"$work/cut.vm/initrd.zst"
expect_rc 3 "stopped without saying how it ended" "$exo" vm run "$work/cut.vm" --data "$work/disk.img"
python3 - "$work/app.exo" "$work/bad.exo" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) // 2] ^= 1
open(sys.argv[2], "wb").write(b)
EOF
expect_rc 3 "the image" "$exo" vm build "$work/bad.exo" -o "$work/bad.vm"
kernel=$(ls -d "$HOME"/.cache/exo/linux-image-* | tail -1)
mkdir -p "$work/nomods/boot" && cp "$kernel"/boot/vmlinuz-* "$work/nomods/boot/"
expect_rc 3 "lacks the module" "$exo" vm build "$work/app.exo" -o "$work/nomods.vm" --kernel "$work/nomods"
# A kernel whose virtio module is not one (an empty file): the guest says so on the console.
mkdir -p "$work/badvirtio"
cp -r "$kernel/boot" "$work/badvirtio/"
version=$(basename "$(ls -d "$kernel"/lib/modules/*)")
(cd "$kernel" && cp --parents lib/modules/"$version"/kernel/{drivers/virtio/*.ko,drivers/block/virtio_blk.ko,crypto/crc32c_generic.ko,lib/crc16.ko,fs/mbcache.ko,fs/jbd2/jbd2.ko,fs/ext4/ext4.ko,net/core/failover.ko,drivers/net/net_failover.ko,drivers/net/virtio_net.ko} "$work/badvirtio/")
: >"$work/badvirtio/lib/modules/$version/kernel/drivers/virtio/virtio_ring.ko"
"$exo" vm build "$work/app.exo" -o "$work/badvirtio.vm" --kernel "$work/badvirtio" >/dev/null 2>&1 || fail "vm build with an empty module"
expect_rc 3 "the kernel refused the module drivers/virtio/virtio_ring.ko" "$exo" vm run "$work/badvirtio.vm" --data "$work/disk.img"
expect_rc 3 "not a VM folder" "$exo" vm run "$work/nomods" --data "$work/disk.img"
expect_rc 3 "cannot make the disk" "$exo" vm run "$work/app.vm" --data "$work/no/such/folder/disk.img"
echo "vm e2e passed"
