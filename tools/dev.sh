#!/usr/bin/env bash
# exo's one entry point for people and CI.
#   bash tools/dev.sh demo    build (release) and run the demo
#   bash tools/dev.sh test    build (dev: Debug + ASan + UBSan + -Werror), run every test suite,
#                             then run the benchmarks once, briefly, so they cannot rot
#   bash tools/dev.sh bench   build (release + LTO) and run the benchmarks for real numbers
#   bash tools/dev.sh setup   only install the Debian packages exo needs
# Each command installs what it needs on first use (Debian 12; as root, or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages exo builds with. Keep in step with README.md.
packages=(
  build-essential cmake ninja-build pkg-config
  libboost1.74-dev libboost-test1.74-dev   # Boost: headers (hana, container, ...) and Boost.Test
  libfmt-dev libssl-dev                    # fmt, OpenSSL 3 (SHA-256, later Ed25519)
  libbenchmark-dev libcaf-dev              # Google Benchmark, and CAF 0.17 to compare against
  liblmdb-dev libzstd-dev                  # the store: LMDB and zstd
)

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

setup() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  log "installing ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "exo: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {  # build PRESET [TARGET...]
  local preset=$1; shift
  log "configuring ($preset)"
  cmake --preset "$preset" >/dev/null
  log "building ($preset)"
  if [ $# -gt 0 ]; then cmake --build --preset "$preset" --target "$@"; else cmake --build --preset "$preset"; fi
}

cmd=${1:-}
case "$cmd" in
  setup) setup ;;
  demo)
    setup
    build release exo_bank_demo
    # Twice on one data directory: the second run resumes from the first one's root.
    rm -rf build/demo-data
    log "running the demo on a new data directory (build/demo-data)"
    ./build/release/examples/exo_bank_demo build/demo-data
    log "running it again on the same directory: it resumes from the root above"
    ./build/release/examples/exo_bank_demo build/demo-data
    ;;
  test)
    setup
    build dev
    log "running the test suites (under ASan and UBSan)"
    ctest --preset dev
    log "running the benchmarks once, briefly (numbers under sanitizers mean nothing; see 'bench')"
    ./build/dev/bench/bench_ipc --benchmark_min_time=0.001 --benchmark_color=false >/tmp/exo-bench-smoke.log 2>&1 \
      || { cat /tmp/exo-bench-smoke.log; echo "exo: benchmark smoke run failed" >&2; exit 1; }
    grep -E 'exo/caf ' /tmp/exo-bench-smoke.log
    ./build/dev/bench/bench_store --benchmark_filter='put_commit/1000/' --benchmark_min_time=0.001 --benchmark_color=false \
      >/tmp/exo-bench-store-smoke.log 2>&1 \
      || { cat /tmp/exo-bench-store-smoke.log; echo "exo: store benchmark smoke run failed" >&2; exit 1; }
    grep -E 'tree/lmdb ' /tmp/exo-bench-store-smoke.log
    ./build/dev/bench/bench_call_log --benchmark_min_time=0.001 --benchmark_color=false >/tmp/exo-bench-log-smoke.log 2>&1 \
      || { cat /tmp/exo-bench-log-smoke.log; echo "exo: call log benchmark smoke run failed" >&2; exit 1; }
    grep -E 'replay/original' /tmp/exo-bench-log-smoke.log
    ;;
  bench)
    setup
    build bench
    log "running the benchmarks"
    ./build/bench/bench/bench_ipc "${@:2}"
    ./build/bench/bench/bench_store "${@:2}"
    ./build/bench/bench/bench_call_log "${@:2}"
    ;;
  *)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    [ -z "$cmd" ] && exit 2
    echo "exo: unknown command '$cmd'" >&2
    exit 2
    ;;
esac
