#!/usr/bin/env bash
# Builds wabt 1.0.32 from Debian's source package, position-independent and in release
# mode, and installs it into a cache directory that later builds reuse:
#   bash tools/wabt/build.sh [PREFIX]       (default: ${EXO_WABT_DIR:-~/.cache/exo/wabt-1.0.32})
# Why not Debian's libwabt-dev: its libwabt.a is not built with -fPIC (a plugin is a shared
# library), and Debian builds with asserts on, which makes the interpreter 10-20% slower.
# exo patches two things (steps.patch): a counter of executed instructions, for exact metering,
# and f64.promote_f32 giving the canonical NaN as wabt's other float operations do.
# Needs root (or sudo) the first time, to add a deb-src entry and install build tools.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${1:-${EXO_WABT_DIR:-$HOME/.cache/exo/wabt-1.0.32}}"
# Optional: another compiler and extra flags (tools/dev.sh fuzz builds a coverage-instrumented copy).
cc="${EXO_WABT_CC:-cc}" cxx="${EXO_WABT_CXX:-c++}" flags="${EXO_WABT_FLAGS:-}"
stamp="$prefix/.exo-wabt-$( (cat "$here/steps.patch" "$0"; echo "$cc $cxx $flags") | sha256sum | cut -c1-16)"
[ -f "$stamp" ] && exit 0

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)

if ! apt-cache showsrc wabt 2>/dev/null | grep -q '^Version: 1.0.32'; then
  log "adding a deb-src entry for Debian's source packages"
  "${sudo[@]}" tee /etc/apt/sources.list.d/exo-deb-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
fi
need=()
for p in dpkg-dev cmake ninja-build python3 re2c; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log "fetching wabt's Debian source package"
(cd "$work" && apt-get source -qq wabt=1.0.32-1 >/dev/null 2>&1) || { echo "exo: apt-get source wabt failed" >&2; exit 1; }
src="$work/wabt-1.0.32"
(cd "$src" && patch -p1 -s < "$here/steps.patch")
log "building wabt 1.0.32 (release, -fPIC; about a minute)"
cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DBUILD_TESTS=OFF -DBUILD_LIBWASM=OFF -DBUILD_TOOLS=ON -DWABT_INSTALL_RULES=OFF >/dev/null
cmake --build "$work/build" --target wabt wat2wasm >/dev/null
rm -rf "$prefix"
mkdir -p "$prefix/lib" "$prefix/bin" "$prefix/include"
cp "$work/build/libwabt.a" "$prefix/lib/"
cp "$work/build/wat2wasm" "$prefix/bin/"
cp -r "$src/include/wabt" "$prefix/include/"
cp "$work/build/include/wabt/config.h" "$prefix/include/wabt/"
touch "$stamp"
log "wabt installed in $prefix"
