#!/usr/bin/env bash
# exo's one entry point for people and CI.
#   bash tools/dev.sh demo    build (release) and run the demo: pack an example application,
#                             boot it, call it over RPC, verify it
#   bash tools/dev.sh cluster build (release) and run the cluster demo: one application on three
#                             nodes over a local nats-server, called, a node killed and restarted,
#                             verified
#   bash tools/dev.sh test    build (dev: Debug + ASan + UBSan + -Werror), run every test suite,
#                             the threaded ones again under ThreadSanitizer, then run the
#                             benchmarks once, briefly, so they cannot rot
#   bash tools/dev.sh bench   build (release + LTO) and run the benchmarks for real numbers
#   bash tools/dev.sh count   build (release + LTO) and count the instructions of one message on
#                             each hot path under callgrind (the same count on every run)
#   bash tools/dev.sh fuzz [SECONDS]  build the libFuzzer targets (wasm module loading; AIR's parser and data,
#                                     exo's decoders, JS script loading and messages from other nodes, half as
#                                     long each) and run them (clang)
#                             and run it (default 60 s)
#   bash tools/dev.sh setup   only install the Debian packages exo needs, and build wabt
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
  nlohmann-json3-dev libcli11-dev          # images and RPC (JSON), the exo command (CLI11)
  libmozjs-102-dev                         # the js container: SpiderMonkey 102
  libnats-dev nats-server                  # several nodes (modules/cluster): nats.c, and the server its tests start
  dpkg-dev re2c python3                    # building wabt from Debian's source package; tools/check_deps.py
  valgrind                                 # instruction counts of the hot paths (tools/dev.sh count)
  clang libclang-rt-14-dev                 # the libFuzzer target (tools/dev.sh fuzz)
  qemu-system-x86 e2fsprogs                # exo vm run: QEMU, and mkfs.ext4/debugfs for the data disk
)

# Each step says how long the command has run so far (CI must stay under 30 minutes).
log() { printf '\033[1m==> [%d:%02d] %s\033[0m\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

setup() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null || { echo "exo: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
      sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # wabt 1.0.32 from Debian's source package, -fPIC, release; built once and cached.
  bash tools/wabt/build.sh
  vm_kernel
}

# The kernel exo's VMs boot (exo vm build): Debian's linux-image-amd64, downloaded and unpacked
# into ~/.cache/exo/linux-image-VERSION, never installed on this machine.
vm_kernel() {
  local abi dir tmp
  find_abi() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}'; }
  abi=$(find_abi)
  if [ -z "$abi" ]; then  # (no package lists yet)
    local sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    abi=$(find_abi)
  fi
  [ -n "$abi" ] || { echo "exo: apt does not know linux-image-amd64" >&2; exit 1; }
  dir="$HOME/.cache/exo/$abi"
  [ -d "$dir/boot" ] && return 0
  log "unpacking the VM kernel ($abi, not installed)"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq "$abi" 2>/dev/null) || { rm -rf "$tmp"; echo "exo: cannot download $abi" >&2; exit 1; }
  mkdir -p "$HOME/.cache/exo"
  rm -rf "$dir.part" && dpkg-deb -x "$tmp"/*.deb "$dir.part" && mv "$dir.part" "$dir"
  rm -rf "$tmp"
}

# run_fuzzer TARGET SECONDS CORPUS LOG WHAT [MAX_LEN [FLAG...]]: runs build/fuzz/TARGET on
# CORPUS for SECONDS, its output in build/fuzz/LOG; a crash prints the log's end and fails.
run_fuzzer() {
  local target=$1 seconds=$2 corpus=$3 logfile=build/fuzz/$4 what=$5 max_len=${6:-4096}
  local flags=("${@:7}")
  log "fuzzing $what for $seconds s"
  "./build/fuzz/$target" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "${flags[@]}" "$corpus" >"$logfile" 2>&1 \
    || { tail -50 "$logfile"; echo "exo: the fuzzer found a crash in $what ($logfile)" >&2; exit 1; }
  grep -E '^stat::number_of_executed_units|^Done' "$logfile" || tail -3 "$logfile"
}

# together JOB...: runs the JOBs (function names) at once in the background (fuzz() gives it
# two: the machines have two cores, and each build or fuzzer uses one), each one's output
# kept and printed when it ends; fails if any failed.
together() {
  local pids=() names=() out=build/fuzz/jobs
  mkdir -p "$out"
  for job in "$@"; do
    "$job" >"$out/$job.log" 2>&1 &
    pids+=($!)
    names+=("$job")
  done
  local failed=0
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed=1
    cat "$out/${names[$i]}.log"
  done
  [ "$failed" = 0 ] || { echo "exo: a fuzzing step failed" >&2; exit 1; }
}

# The libFuzzer targets, built with clang, ASan and UBSan, two at a time: wasm module loading
# (against a wabt built with coverage instrumentation, cached like the other), run for $1
# seconds, while AIR's parser and data, then exo's decoders, run half as long each; then JS
# script loading, half as long.
fuzz() {
  FUZZ_SECONDS=${1:-60}
  mkdir -p build/fuzz
  together fuzz_build_air_and_js fuzz_build_wasm_and_decoders  # about 3 minutes each
  together fuzz_run_wasm fuzz_run_air_and_decoders
  together fuzz_run_js fuzz_run_remote
}
fuzz_build_air_and_js() { fuzz_build_air && fuzz_build_js && fuzz_build_remote; }
fuzz_build_wasm_and_decoders() { fuzz_build_wasm && fuzz_build_decoders; }
fuzz_build_wasm() {
  local wabt="${EXO_WABT_FUZZ_DIR:-$HOME/.cache/exo/wabt-1.0.32-fuzz}"
  EXO_WABT_CC=clang EXO_WABT_CXX=clang++ EXO_WABT_FLAGS="-fsanitize=fuzzer-no-link,address -g" \
    bash tools/wabt/build.sh "$wabt"
  log "building the wasm fuzz target (module loading)"
  clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$wabt/include" tests/fuzz/fuzz_wasm_module.cpp plugins/wasm/engine.cpp "$wabt/lib/libwabt.a" \
    -o build/fuzz/fuzz_wasm_module
  log "built the wasm fuzz target"
}
fuzz_run_wasm() {
  # Seeds: the examples and the test modules, as the build assembled them, and every input
  # that once crashed (tests/fuzz/regressions).
  mkdir -p build/fuzz/corpus
  cp build/dev/examples/wasm/*.wasm build/dev/tests/wasm/*.wasm tests/fuzz/regressions/*.wasm build/fuzz/corpus/ 2>/dev/null || true
  run_fuzzer fuzz_wasm_module "$FUZZ_SECONDS" build/fuzz/corpus log.txt "wasm module loading"
}
# AIR's parser and data decoders: their own sources and core's error type, nothing else.
fuzz_build_air() {
  log "building the AIR fuzz target (the parser, data and call results, merging)"
  clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Imodules/core/include -Iplugins/air tests/fuzz/fuzz_air.cpp plugins/air/interpreter/parser.cpp \
    plugins/air/interpreter/data.cpp plugins/air/interpreter/lens.cpp plugins/air/interpreter/trace.cpp \
    plugins/air/interpreter/interpreter.cpp plugins/air/interpreter/json_text.cpp modules/core/src/error.cpp -lfmt \
    -o build/fuzz/fuzz_air
  log "built the AIR fuzz target"
}
# exo's decoders of untrusted bytes: values, log entries and heads, log files, JSON values.
fuzz_build_decoders() {
  log "building the decoders' fuzz target (values, log entries, heads, log files, JSON values, snapshots, envelopes)"
  clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Imodules/core/include -Imodules/call_log/include -Imodules/store/include -Imodules/verifier/include \
    tests/fuzz/fuzz_decoders.cpp modules/core/src/*.cpp modules/call_log/src/entry.cpp \
    modules/call_log/src/file.cpp modules/store/src/tree.cpp modules/verifier/src/checkpoint.cpp \
    modules/call_log/src/envelope.cpp -lcrypto -lzstd -lfmt -o build/fuzz/fuzz_decoders
  log "built the decoders' fuzz target"
}
fuzz_run_air_and_decoders() {
  mkdir -p build/fuzz/air_corpus build/fuzz/dec_corpus
  cp tests/fuzz/air_seeds/* build/fuzz/air_corpus/
  run_fuzzer fuzz_air "$(( (FUZZ_SECONDS + 1) / 2 ))" build/fuzz/air_corpus air_log.txt "AIR's parser, data decoders and merging" 4096
  cp tests/fuzz/decoder_seeds/* build/fuzz/dec_corpus/
  run_fuzzer fuzz_decoders "$(( (FUZZ_SECONDS + 1) / 2 ))" build/fuzz/dec_corpus dec_log.txt "the decoders"
}
# The js container's script loading: its checks, the metering splices and the trial load
# (plugins/js and core's sources, SpiderMonkey as installed; vptr checks need RTTI, which
# SpiderMonkey is built without).
fuzz_build_js() {
  log "building the js fuzz target (script loading: checks, metering, the trial load)"
  { printf 'namespace exo_js {\nextern const char meter_js[];\nconst char meter_js[] = R"exo_meter('
    cat plugins/js/meter.js
    printf ')exo_meter";\n}  // namespace exo_js\n'; } >build/fuzz/meter_js.cpp
  # shellcheck disable=SC2046  # pkg-config's flags are words
  clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined \
    -Iinclude -Imodules/core/include $(pkg-config --cflags mozjs-102) tests/fuzz/fuzz_js.cpp plugins/js/engine.cpp \
    plugins/js/plugin.cpp build/fuzz/meter_js.cpp modules/core/src/*.cpp $(pkg-config --libs mozjs-102) \
    -lcrypto -lzstd -lfmt -o build/fuzz/fuzz_js
  log "built the js fuzz target"
}
fuzz_run_js() {
  mkdir -p build/fuzz/js_corpus
  cp tests/fuzz/js_seeds/* examples/app/files.js build/fuzz/js_corpus/  # the seeds, and the example backend
  # (SpiderMonkey frees what a script made when it collects garbage, not when the input ends:
  # libFuzzer's per-input leak check would take that for leaks.)
  run_fuzzer fuzz_js "$(( (FUZZ_SECONDS + 1) / 2 ))" build/fuzz/js_corpus js_log.txt "JS script loading" 4096 -detect_leaks=0
}

# Messages from other nodes: the bodies a node takes (kernel::take_remote), against the kernel
# and its dependencies' sources.
fuzz_build_remote() {
  log "building the remote-message fuzz target (bodies from other nodes)"
  clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined \
    -DBOOST_DLL_USE_STD_FS -Iinclude -Imodules/{core,message,port,scheduler,store,call_log,container,hypervisor}/include \
    tests/fuzz/fuzz_remote.cpp modules/core/src/*.cpp modules/message/src/*.cpp modules/port/src/*.cpp \
    modules/container/src/*.cpp modules/hypervisor/src/*.cpp modules/call_log/src/*.cpp modules/store/src/tree.cpp \
    -lcrypto -lzstd -lfmt -ldl -o build/fuzz/fuzz_remote
  log "built the remote-message fuzz target"
}
fuzz_run_remote() {
  mkdir -p build/fuzz/remote_corpus
  run_fuzzer fuzz_remote "$(( (FUZZ_SECONDS + 1) / 2 ))" build/fuzz/remote_corpus remote_log.txt "messages from other nodes" 4096
}

# The demo: pack examples/app into an image, boot it on a data directory in the background,
# call it over RPC (the exo command's C++ client and the script client), stop it, list the
# log, verify it, and resume the directory. Each step prints the command it runs.
demo() {
  local exo=./build/release/bin/exo work=build/demo url=
  rm -rf "$work" && mkdir -p "$work"
  run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
  log "1/6 pack the example application (a wasm counter, a native key-value actor, an AIR actor, a JS backend) into one image"
  run "$exo" pack build/release/examples/app -o "$work/notes.exo"
  log "2/6 boot it on an embedded data directory ($work/data) and serve JSON-RPC over WebSocket"
  printf '\033[2m$ %s\033[0m\n' "$exo boot $work/notes.exo --data $work/data --listen 127.0.0.1:0 &"
  "$exo" boot "$work/notes.exo" --data "$work/data" --listen 127.0.0.1:0 >"$work/server.log" 2>&1 &
  demo_pid=$!
  trap '[ -n "${demo_pid:-}" ] && kill "$demo_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    url=$(grep -o 'ws://[0-9.]*:[0-9]*' "$work/server.log" || true)
    [ -n "$url" ] && break
    kill -0 "$demo_pid" 2>/dev/null || { cat "$work/server.log"; echo "exo: the server did not start" >&2; exit 1; }
    sleep 0.1
  done
  cat "$work/server.log"
  log "3/6 call it over RPC"
  run "$exo" call "$url" counter.add        # by = 1, the default the manifest declares
  run "$exo" call "$url" counter.add 5
  run "$exo" call "$url" notes.get '"motd"'
  echo "notes.put is reserved for the owner's key; unsigned, it is refused:"
  run "$exo" call "$url" notes.put '["motd", "hello"]' || true
  cp examples/app/demo-owner.key "$work/owner.key" && chmod 600 "$work/owner.key"
  run "$exo" call "$url" notes.put '["motd", "hello from the owner"]' --key "$work/owner.key"
  echo "the same server, from the script client (tools/exo_client.py, Python's standard library only):"
  run python3 tools/exo_client.py "$url" notes.get '["motd"]'
  echo "the JS backend (examples/app/files.js, a LibVMS-style script): its func1, and a file written then read:"
  run "$exo" call "$url" files.func1 5
  run "$exo" call "$url" files.writeFile '["hello.txt", "written by the demo"]'
  run "$exo" call "$url" files.readFile '"hello.txt"'
  echo "an AIR particle (examples/app/greet.air): the AIR actor calls the notes and counter actors as services,"
  echo "then names the client as the next peer; its data holds every answer:"
  run "$exo" call "$url" particles.particle "$(python3 -c 'import json; print(json.dumps([open("examples/app/greet.air").read()]))')"
  echo "verify the running node from outside: its log and its image over RPC, replayed here, pinned to its key:"
  local key
  key=$("$exo" call "$url" exo.handshake | python3 -c 'import json,sys; print(json.load(sys.stdin)["node_key"])')
  run "$exo" verify "$url" --node-key "$key"
  log "4/6 stop the server; its state and call log are on disk"
  kill -TERM "$demo_pid" && wait "$demo_pid" || true
  demo_pid=
  tail -1 "$work/server.log"
  run "$exo" log "$work/data"
  log "5/6 verify: replay the log from the image into a fresh hypervisor; check every result, root and signature"
  run "$exo" verify "$work/data"
  log "6/6 boot the same image on the same directory again: it resumes"
  run "$exo" boot "$work/notes.exo" --data "$work/data"
  run "$exo" root "$work/data"
  log "demo done: image $work/notes.exo, data directory $work/data"
}

# ctest ARGS..., with one rerun of the failed tests when every failure is LeakSanitizer's own
# tracer crashing at exit (tools/sanitizer_flake.py says why that is not the code's fault).
sanitized_ctest() {  # sanitized_ctest BUILD_DIR CTEST_ARGS...
  local dir=$1; shift
  ctest "$@" && return 0
  python3 tools/sanitizer_flake.py "$dir" || return 1
  log "rerunning the tests where only LeakSanitizer's tracer crashed"
  ctest "$@" --rerun-failed
}

build() {  # build PRESET [TARGET...]
  local preset=$1; shift
  log "configuring ($preset)"
  cmake --preset "$preset" >/dev/null
  log "building ($preset)"
  if [ $# -gt 0 ]; then cmake --build --preset "$preset" --target "$@"; else cmake --build --preset "$preset"; fi
}

cmd=${1:-}
# The cluster demo (README.md, "Several nodes over NATS"): examples/cluster packed once and
# booted as its three nodes on a nats-server of its own, a call that crosses all three, node b
# killed with SIGKILL and restarted, every log verified and every message between them checked.
cluster_demo() {
  local exo=./build/release/bin/exo work=build/cluster-demo port
  rm -rf "$work" && mkdir -p "$work"
  run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
  declare -A pid url
  # shellcheck disable=SC2317  # (called by the trap)
  stop_all() { for n in "${!pid[@]}"; do kill "${pid[$n]}" 2>/dev/null || true; done; kill "${nats_pid:-}" 2>/dev/null || true; }
  trap stop_all EXIT
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  log "1/5 a nats-server with JetStream on 127.0.0.1:$port; pack examples/cluster (a JS front on node a, a wasm counter on b, notes on c, an AIR actor on each)"
  nats-server -js -sd "$work/jetstream" -a 127.0.0.1 -p "$port" >"$work/nats.log" 2>&1 &
  nats_pid=$!
  run "$exo" pack build/release/examples/cluster -o "$work/tally.exo"
  log "2/5 each node's key, made before its first boot, and one peers file naming them all"
  local keys="{"
  for n in a b c; do
    run "$exo" keygen -o "$work/$n/node.key" >"$work/key.out"
    cat "$work/key.out"
    keys+="\"$n\": \"$(sed -n 's/^public key //p' "$work/key.out")\","
  done
  echo "${keys%,}}" >"$work/peers.json"
  run cat "$work/peers.json"
  boot_node() {
    local n=$1
    printf '\033[2m$ %s\033[0m\n' "$exo boot $work/tally.exo --data $work/$n --cluster nats://127.0.0.1:$port --node $n --peers $work/peers.json --listen 127.0.0.1:0 &"
    "$exo" boot "$work/tally.exo" --data "$work/$n" --cluster "nats://127.0.0.1:$port" --node "$n" --peers "$work/peers.json" \
      --listen 127.0.0.1:0 >"$work/$n.log" 2>&1 &
    pid[$n]=$!
    for _ in $(seq 1 100); do
      url[$n]=$(grep -o 'ws://[0-9.]*:[0-9]*' "$work/$n.log" || true)
      [ -n "${url[$n]}" ] && break
      kill -0 "${pid[$n]}" 2>/dev/null || { cat "$work/$n.log"; echo "exo: node $n did not start" >&2; exit 1; }
      sleep 0.1
    done
    sed "s/^/  [$n] /" "$work/$n.log"
  }
  log "3/5 boot the three nodes: each creates only its own actors and logs its routes to the others"
  for n in a b c; do boot_node "$n"; done
  log "4/5 call node a: its front asks b's counter to add, b's answer comes back to a, and a writes the total to c's notes"
  run "$exo" call "${url[a]}" front.add 5
  sleep 1
  run "$exo" call "${url[a]}" front.total
  run "$exo" call "${url[b]}" counter.get
  run "$exo" call "${url[c]}" notes.get '"total"'
  echo "an AIR particle (examples/cluster/hop.air) that hops from a to b to c and back to a, each node's AIR actor"
  echo "running its part with its node's actors as services; the front on a keeps what it gathered:"
  run "$exo" call "${url[a]}" air_a.particle "$(python3 -c 'import json; print(json.dumps([open("examples/cluster/hop.air").read()]))')"
  sleep 1
  run "$exo" call "${url[a]}" front.hops
  echo "node b killed with SIGKILL; node a goes on taking calls, and their messages wait in the stream to b:"
  run kill -9 "${pid[b]}"
  wait "${pid[b]}" 2>/dev/null || true
  run "$exo" call "${url[a]}" front.add 2
  run "$exo" call "${url[a]}" front.add 3
  run "$exo" call "${url[a]}" front.total
  echo "node b restarted: it takes each waiting message once, and the answers reach a and c:"
  boot_node b
  sleep 2
  run "$exo" call "${url[a]}" front.total
  run "$exo" call "${url[c]}" notes.get '"total"'
  log "5/5 stop the nodes; verify each log alone, and every message between them"
  for n in a b c; do kill -TERM "${pid[$n]}"; wait "${pid[$n]}" || true; done
  pid=()
  run "$exo" verify "$work/a" --with "$work/b" --with "$work/c"
  log "cluster demo done: data directories $work/a, $work/b, $work/c"
}

case "$cmd" in
  setup) setup ;;
  demo)
    setup
    build release exo_cli exo_wasm exo_air exo_app_example
    demo
    ;;
  cluster)
    setup
    build release exo_cli exo_wasm exo_js exo_cluster_example
    cluster_demo
    ;;
  test)
    setup
    build dev
    log "running the test suites (under ASan and UBSan)"
    sanitized_ctest build/dev --preset dev --parallel "$(nproc)"
    log "building and running the suites that use threads under ThreadSanitizer (preset tsan)"
    build tsan test_store test_call_log test_rpc test_hypervisor test_runner test_wasm exo_wasm exo_wasm_examples \
      test_air exo_air exo_test_air_child
    sanitized_ctest build/tsan --preset tsan
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
    ./build/dev/bench/bench_wasm --benchmark_min_time=0.001 --benchmark_color=false >/tmp/exo-bench-wasm-smoke.log 2>&1 \
      || { cat /tmp/exo-bench-wasm-smoke.log; echo "exo: wasm benchmark smoke run failed" >&2; exit 1; }
    grep -E 'wasm message/bare call' /tmp/exo-bench-wasm-smoke.log
    if [ -x ./build/dev/bench/bench_js ]; then
      ./build/dev/bench/bench_js --benchmark_min_time=0.001 --benchmark_color=false >/tmp/exo-bench-js-smoke.log 2>&1 \
        || { cat /tmp/exo-bench-js-smoke.log; echo "exo: js benchmark smoke run failed" >&2; exit 1; }
      grep -E 'js message/bare call' /tmp/exo-bench-js-smoke.log
    fi
    ./build/dev/bench/bench_runner --benchmark_min_time=0.001 --benchmark_color=false >/tmp/exo-bench-runner-smoke.log 2>&1 \
      || { cat /tmp/exo-bench-runner-smoke.log; echo "exo: runner benchmark smoke run failed" >&2; exit 1; }
    grep -E 'runner (thread|process) hand-off' /tmp/exo-bench-runner-smoke.log
    ./build/dev/bench/bench_air --benchmark_min_time=0.001 --benchmark_color=false >/tmp/exo-bench-air-smoke.log 2>&1 \
      || { cat /tmp/exo-bench-air-smoke.log; echo "exo: AIR benchmark smoke run failed" >&2; exit 1; }
    grep -E 'aquavm/exo ' /tmp/exo-bench-air-smoke.log
    (cd build/dev && EXO_BENCH_UPGRADE_CALLS=200 ./bench/bench_rpc --benchmark_min_time=0.001 --benchmark_color=false) >/tmp/exo-bench-rpc-smoke.log 2>&1 \
      || { cat /tmp/exo-bench-rpc-smoke.log; echo "exo: rpc benchmark smoke run failed" >&2; exit 1; }
    grep -E 'rpc (1|16) connection' /tmp/exo-bench-rpc-smoke.log
    ./build/dev/bench/bench_cluster --benchmark_min_time=0.001 --benchmark_color=false >/tmp/exo-bench-cluster-smoke.log 2>&1 \
      || { cat /tmp/exo-bench-cluster-smoke.log; echo "exo: cluster benchmark smoke run failed" >&2; exit 1; }
    grep -E 'cross-node/' /tmp/exo-bench-cluster-smoke.log
    for w in ping_pong one_to_one fan_out_in spawn wasm_message js_message logged_invoke; do
      ./build/dev/bench/bench_count "$w" 2000 || { echo "exo: bench_count $w failed" >&2; exit 1; }
    done
    fuzz "${EXO_FUZZ_SECONDS:-60}"
    ;;
  count)
    setup
    build bench bench_count exo_js
    log "instructions per message under callgrind (the difference of two runs, divided)"
    for w in ping_pong one_to_one fan_out_in spawn wasm_message js_message logged_invoke; do
      n1=100000; n2=200000
      case "$w" in wasm_message|js_message|logged_invoke) n1=500; n2=1500 ;; esac
      # (--smc-check: SpiderMonkey's JIT writes the code it runs)
      a=$(valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file=/dev/null ./build/bench/bench/bench_count "$w" $n1 2>&1 | awk '/Collected/ {print $4}')
      b=$(valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file=/dev/null ./build/bench/bench/bench_count "$w" $n2 2>&1 | awk '/Collected/ {print $4}')
      printf '%-14s %8d instructions per message\n' "$w" $(( (b - a) / (n2 - n1) ))
    done
    ;;
  fuzz)
    setup
    build dev exo_wasm_examples test_wasm
    fuzz "${2:-60}"
    ;;
  bench)
    setup
    build bench
    log "running the benchmarks"
    ./build/bench/bench/bench_ipc "${@:2}"
    ./build/bench/bench/bench_store "${@:2}"
    ./build/bench/bench/bench_call_log "${@:2}"
    ./build/bench/bench/bench_wasm "${@:2}"
    (cd build/bench && ./bench/bench_rpc "${@:2}")
    ./build/bench/bench/bench_runner "${@:2}"
    ./build/bench/bench/bench_air "${@:2}"
    ./build/bench/bench/bench_js "${@:2}"
    ./build/bench/bench/bench_cluster "${@:2}"
    ;;
  *)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    [ -z "$cmd" ] && exit 2
    echo "exo: unknown command '$cmd'" >&2
    exit 2
    ;;
esac
