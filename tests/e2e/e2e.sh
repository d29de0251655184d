#!/usr/bin/env bash
# The exo command as a user runs it: pack, boot in the background on a free loopback port,
# call over WebSocket (from `exo call`, the C++ client, and from tools/exo_client.py, a
# script client), stop, restart on the same data directory and see the state resume, verify
# the log, from the directory and from outside while the node serves (and follow it); and bad input: a corrupted, a truncated and a foreign image, an image needing a
# plugin that is not there, garbage and oversized frames, usage errors, a node that never answers.
#   e2e.sh EXO APP_DIR SOURCE_DIR FORGE_LOG TEST_WASM_DIR
set -euo pipefail
exo=$1 app=$2 src=$3 forge=$4 wasm=$5
client="python3 $src/tools/exo_client.py"
# The script client prints a call's whole result object; this prints what the function returned.
script_call() { $client "$@" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["result"]))'; }
work=$(mktemp -d /tmp/exo-e2e-XXXXXX)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "e2e FAILED: $*" >&2; [ -f "$work/server.out" ] && sed 's/^/  server: /' "$work/server.out" "$work/server.err" >&2; exit 1; }
expect_rc() {  # expect_rc CODE CMD...
  local want=$1; shift
  set +e; "$@" >"$work/out" 2>"$work/err"; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$work/out" "$work/err" >&2; fail "'$*' exited $rc, expected $want"; }
}
start_server() {  # start_server [EXTRA BOOT OPTIONS...]
  "$exo" boot "$work/app.exo" --data "$work/data" --listen 127.0.0.1:0 --max-frame 65536 "$@" >"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 1 100); do
    url=$(grep -o 'ws://[0-9.]*:[0-9]*' "$work/server.out" || true)
    [ -n "$url" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited"
    sleep 0.1
  done
  fail "the server did not start listening"
}
stop_server() {
  kill -TERM "$server_pid"; wait "$server_pid" || fail "the server did not stop cleanly"; server_pid=
  grep -q '^stopped (SIGTERM)' "$work/server.out" || fail "no 'stopped' line"
}

echo "-- pack: twice, the same bytes"
cp -r "$app" "$work/app"
"$exo" pack "$work/app" -o "$work/app.exo" >/dev/null
"$exo" pack "$work/app" -o "$work/again.exo" --json >"$work/pack.json"
cmp "$work/app.exo" "$work/again.exo" || fail "packing twice gave other bytes"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["name"]=="notes" and len(j["image"])==64' "$work/pack.json"
python3 -c '
import json, sys
actors = {a["name"]: a for a in json.load(open(sys.argv[1]))["actors"]}
assert actors["files"]["container"] == "js", actors
assert actors["files"]["functions"] == ["func1", "whoami", "writeFile", "readFile", "listFiles", "deleteFile"], actors["files"]' \
  "$work/pack.json" || fail "exo pack does not list the JS actor's exports"

echo "-- boot in the background and call"
start_server
grep -q 'created actor counter' "$work/server.out" || fail "boot did not say what it created"
[ "$("$exo" call "$url" counter.add 2>/dev/null)" = 11 ] || fail "counter.add() is not 11"
[ "$("$exo" call "$url" counter.add 5 2>/dev/null)" = 16 ] || fail "counter.add(5) is not 16"
[ "$(script_call "$url" counter.get)" = 16 ] || fail "the script client did not read 16"
# The JS backend (examples/app/files.js), LibVMS's scenario: func1() is 1, func1(5) is 6, and
# a write is seen by the next call (and after the restart below).
"$exo" call "$url" exo.handshake | python3 -c '
import json, sys
methods = {m["method"] for m in json.load(sys.stdin)["methods"]}
assert {"files.func1", "files.writeFile", "files.readFile", "files.listFiles"} <= methods, methods' \
  || fail "the handshake does not list the JS exports"
[ "$("$exo" call "$url" files.func1 2>/dev/null)" = 1 ] || fail "files.func1() is not 1"
[ "$("$exo" call "$url" files.func1 5 2>/dev/null)" = 6 ] || fail "files.func1(5) is not 6"
"$exo" call "$url" files.writeFile '["a.txt", "hello"]' >/dev/null 2>&1 || fail "files.writeFile failed"
[ "$("$exo" call "$url" files.readFile '"a.txt"' 2>/dev/null)" = '"hello"' ] || fail "files.readFile does not read what was written"
expect_rc 4 "$exo" call "$url" files.readFile '"missing.txt"'
grep -q "no such file: missing.txt" "$work/err" || fail "a JS throw is not reported with its message"
expect_rc 4 "$exo" call "$url" counter.nope
grep -q -- '-32601' "$work/err" || fail "an unknown method is not -32601"
expect_rc 4 "$exo" call "$url" counter.add '"five"'
grep -q -- '-32602' "$work/err" || fail "a wrong type is not -32602"
cp "$src/examples/app/demo-owner.key" "$work/owner.key"; chmod 600 "$work/owner.key"
"$exo" keygen -o "$work/other.key" >"$work/other.pub"
other_pub=$(sed -n 's/^public key //p' "$work/other.pub")
echo "-- a JS actor sees who signed each call (LibVMS's System.caller.id)"
[ "$("$exo" call "$url" files.whoami 2>/dev/null)" = null ] || fail "files.whoami() of an anonymous call is not null"
"$exo" call "$url" files.whoami --key "$work/owner.key" 2>/dev/null | grep -q '^"23c4935221d89c37[0-9a-f]\{48\}"$' \
  || fail "files.whoami() signed by the owner does not return the owner's key"
[ "$("$exo" call "$url" files.whoami --key "$work/other.key" 2>/dev/null)" = "\"$other_pub\"" ] \
  || fail "files.whoami() signed by another key does not return that key"
expect_rc 4 "$exo" call "$url" notes.put '["k", "v"]'
expect_rc 4 "$exo" call "$url" notes.put '["k", "v"]' --key "$work/other.key"
grep -q -- '-32004' "$work/err" || fail "another key's call is not refused"
"$exo" call "$url" notes.put '["k", {"n": [1, 2]}]' --key "$work/owner.key" 2>/dev/null >/dev/null
[ "$(script_call "$url" notes.get '["k"]')" = '{"n": [1, 2]}' ] || fail "notes.get does not return what the owner put"
echo "-- read a value with its proof, checked against the node's signed log head"
hs_key=$("$exo" call "$url" exo.handshake | python3 -c 'import json,sys; print(json.load(sys.stdin)["node_key"])')
[ "$("$exo" read "$url" notes k --verify --node-key "$hs_key" 2>"$work/read.err")" = '{"n":[1,2]}' ] || fail "exo read --verify did not give the value"
grep -q '^(verified' "$work/read.err" || fail "exo read --verify does not say it verified"
"$exo" keygen -o "$work/stranger.key" >/dev/null
stranger=$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import exo_client; print(exo_client.load_key(sys.argv[2]).public.hex())' "$src/tools" "$work/stranger.key")
expect_rc 1 "$exo" read "$url" notes k --verify --node-key "$stranger"
grep -q 'not by the node key' "$work/err" || fail "exo read --verify accepted a head signed by another key than the pinned one"
echo "-- signed calls from the script client; a captured signed frame sent again is refused"
$client "$url" notes.put '["py", "signed in python"]' --key "$work/owner.key" --print-frame 2>"$work/frame" >/dev/null \
  || fail "the script client's signed call was refused"
[ "$(script_call "$url" notes.get '["py"]')" = '"signed in python"' ] || fail "the script client's signed call did not land"
frame=$(cat "$work/frame")
size_before=$("$exo" call "$url" exo.handshake | python3 -c 'import json,sys; print(json.load(sys.stdin)["log"]["size"])')
$client "$url" --raw "$frame" | grep -q -- '-32005' || fail "a captured signed frame sent again is not refused with -32005"
$client "$url" --raw "$frame" | grep -q 'replayed' || fail "the refusal of a replayed frame does not say so"
size_after=$("$exo" call "$url" exo.handshake | python3 -c 'import json,sys; print(json.load(sys.stdin)["log"]["size"])')
[ "$size_before" = "$size_after" ] || fail "a replayed frame was logged"
echo "-- bad frames: garbage, invalid JSON, oversized; the server keeps serving"
$client "$url" --raw 'garbage' | grep -q -- '-32700' || fail "garbage is not -32700"
$client "$url" --raw '{"jsonrpc":"2.0","id":1,"method":"counter.get","params":' | grep -q -- '-32700' || fail "broken JSON is not -32700"
python3 - "$url" "$src/tools" <<'PY' || fail "an oversized frame was not closed with 1009"
import sys
sys.path.insert(0, sys.argv[2])
from exo_client import Client, ConnectionClosed, WebSocketError
c = Client(sys.argv[1])
try:
    c.send_text('{"jsonrpc": "2.0", "id": 1, "method": "counter.get", "params": ["' + 'x' * 100000 + '"]}')
    c.recv_text()
    sys.exit(1)
except ConnectionClosed as e:
    sys.exit(0 if e.code == 1009 else 1)
except (WebSocketError, OSError):
    sys.exit(0)  # closed while we were still sending: the close frame did not reach us
PY
python3 - "$url" "$src/tools" <<'PY' || fail "a notification was answered"
import json, sys
sys.path.insert(0, sys.argv[2])
from exo_client import Client
c = Client(sys.argv[1])
# Notifications (no id) get no reply, not even for an unknown method or bad params.
c.send_text('{"jsonrpc": "2.0", "method": "counter.nope"}')
c.send_text('{"jsonrpc": "2.0", "method": "counter.add", "params": ["x"]}')
c.send_text('{"jsonrpc": "2.0", "id": 42, "method": "counter.get"}')
reply = json.loads(c.recv_text())
sys.exit(0 if reply.get("id") == 42 and reply["result"]["result"] == 16 else 1)
PY
[ "$("$exo" call "$url" counter.get 2>/dev/null)" = 16 ] || fail "the server stopped serving after bad frames"
root_before=$("$exo" call "$url" exo.handshake | python3 -c 'import json,sys; print(json.load(sys.stdin)["root"])')
stop_server

grep -q 'notes: put' "$work/server.err" && fail "a debug line was printed at the default log level (info)"
echo "-- restart on the same data directory: the state resumes; actors' debug lines are shown"
start_server --log-level debug
grep -q '^resumed' "$work/server.out" || fail "the restart did not resume"
root_after=$("$exo" call "$url" exo.handshake | python3 -c 'import json,sys; print(json.load(sys.stdin)["root"])')
[ "$root_before" = "$root_after" ] || fail "the root changed across a restart"
$client "$url" --raw "$frame" | grep -q -- '-32005' || fail "after a restart, the captured signed frame is accepted again"
"$exo" call "$url" notes.put '["lvl", 1]' --key "$work/owner.key" >/dev/null 2>&1 || fail "the owner's put after the restart failed"
for _ in $(seq 1 50); do grep -q '^\[debug\] notes: put lvl$' "$work/server.err" && break; sleep 0.1; done
grep -q '^\[debug\] notes: put lvl$' "$work/server.err" || fail "exo boot --log-level debug did not print the actor's line with its level and name"
expect_rc 2 "$exo" boot "$work/app.exo" --data "$work/data" --log-level loud
grep -q "not a log level" "$work/err" || fail "a bad --log-level is not a clear usage error"
[ "$("$exo" call "$url" counter.add 2>/dev/null)" = 17 ] || fail "the counter did not resume at 16"
[ "$("$exo" call "$url" files.listFiles 2>/dev/null)" = '["a.txt"]' ] || fail "the JS actor's files did not survive the restart"
stop_server

echo "-- verify the log, from the directory and from an exported file"
"$exo" verify "$work/data" | tee "$work/verify.out" | tail -1
grep -q 'verified 29 entries' "$work/verify.out" || fail "verify did not check all 29 entries"
[ "$("$exo" root "$work/data")" = "$("$exo" root "$work/data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["root"])')" ] || fail "root and root --json differ"
"$exo" log "$work/data" | grep -q 'caller 23c4935221d89c37' || fail "the log does not name the signed caller"
"$exo" log "$work/data" --json | python3 -c 'import json,sys; e=json.load(sys.stdin); assert len(e)==29 and e[0]["kind"]=="init"'
"$exo" log "$work/data" --export "$work/log.exolog" >/dev/null
"$exo" verify --log "$work/log.exolog" --image "$work/app.exo" >/dev/null || fail "the exported log does not verify"

echo "-- a checkpoint: a snapshot of the data directory, and verifying from it instead of the image"
"$exo" checkpoint "$work/data" -o "$work/at28.snap" | tee "$work/cp.out"
grep -q '^wrote .*checkpoint at entry 28, state root' "$work/cp.out" || fail "exo checkpoint did not say what it wrote"
"$exo" verify "$work/data" --checkpoint "$work/at28.snap" >"$work/vcp.out" || { cat "$work/vcp.out"; fail "the directory does not verify from its checkpoint"; }
grep -q '^starting from the checkpoint at entry 28' "$work/vcp.out" || fail "verify --checkpoint does not say where it starts"
[ "$(tail -1 "$work/vcp.out")" = "$(tail -1 "$work/verify.out")" ] || fail "verifying from the checkpoint ends elsewhere than from the image"
"$exo" verify --log "$work/log.exolog" --image "$work/app.exo" --checkpoint "$work/at28.snap" >/dev/null || fail "the exported log does not verify from the checkpoint"
python3 - "$work/at28.snap" "$work/bad.snap" <<'PY'
import sys
b = bytearray(open(sys.argv[1], 'rb').read()); b[len(b) // 2] ^= 1
open(sys.argv[2], 'wb').write(bytes(b))
PY
expect_rc 3 "$exo" verify "$work/data" --checkpoint "$work/bad.snap"
grep -q "not a valid exo snapshot" "$work/err" || fail "a damaged snapshot is not a clear error"
expect_rc 3 "$exo" verify "$work/data" --checkpoint "$work/log.exolog"
grep -q "not a valid exo snapshot" "$work/err" || fail "a log file given as a snapshot is not a clear error"
expect_rc 3 "$exo" checkpoint "$work/nothing" -o "$work/x.snap"
grep -q "not an exo data directory" "$work/err" || fail "exo checkpoint of no directory is not a clear error"

echo "-- the attacker: the log re-chained and re-signed end to end by another key"
node_key=$("$exo" root "$work/data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["node_key"])')
[ ${#node_key} -eq 64 ] || fail "exo root --json names no node key"
"$exo" verify "$work/data" --node-key "$node_key" >/dev/null || fail "the log does not verify against its own node key"
mallory=$("$forge" "$work/log.exolog" "$work/forged.exolog")
# Consistent in itself: without the node's key it verifies (the gap a pinned key closes).
"$exo" verify --log "$work/forged.exolog" --image "$work/app.exo" >/dev/null || fail "the forged log is not consistent in itself"
expect_rc 1 "$exo" verify --log "$work/forged.exolog" --image "$work/app.exo" --node-key "$node_key"
grep -q "first divergence: entry 0, field 'key'" "$work/out" || fail "a log re-signed by another key is not caught by --node-key"
grep -q "$mallory" "$work/out" || fail "the divergence does not name the key that signed the forged log"
expect_rc 2 "$exo" verify "$work/data" --node-key nothex
grep -q "not an Ed25519 public key" "$work/err" || fail "a bad --node-key is not a clear usage error"
sed -i '0,/"name": "notes"/s//"name": "other"/' "$work/app/exo.json"  # the application's name only
"$exo" pack "$work/app" -o "$work/other.exo" >/dev/null
expect_rc 1 "$exo" verify --log "$work/log.exolog" --image "$work/other.exo"
grep -q "first divergence: entry 0, field 'hypervisor'" "$work/out" || fail "verifying against another image does not name the divergence"

echo "-- verify the running node from outside (its log and image over RPC), while it serves calls; follow it"
start_server
( for _ in $(seq 1 30); do "$exo" call "$url" counter.add >/dev/null 2>&1 || exit 1; done ) &
calls_pid=$!
"$exo" verify "$url" --node-key "$node_key" >"$work/remote.out" 2>"$work/remote.err" \
  || { cat "$work/remote.out" "$work/remote.err" >&2; fail "the running node does not verify from outside"; }
grep -q '^verified [0-9]* entries, final root' "$work/remote.out" || fail "exo verify ws:// did not say what it verified"
wait "$calls_pid" || fail "calls made during the remote verification failed"
"$exo" verify "$url" --node-key "$node_key" --image "$work/app.exo" >"$work/remote.out" 2>/dev/null || fail "the node does not verify against the image given"
grep -q '^verified 59 entries' "$work/remote.out" || fail "the remote verification did not see the 30 calls made meanwhile"
expect_rc 1 "$exo" verify "$url" --image "$work/other.exo"
grep -q 'the node runs image' "$work/err" || fail "a node running another image than the one given is not refused clearly"
expect_rc 1 "$exo" verify "$url" --node-key "$stranger"
grep -q "first divergence: entry 0, field 'key'" "$work/out" || fail "a node whose log another key signs is not caught by --node-key"
expect_rc 2 "$exo" verify "$work/data" --follow
"$exo" verify "$url" --node-key "$node_key" --follow --every 0.2 >"$work/follow.out" 2>"$work/follow.err" &
follow_pid=$!
for _ in $(seq 1 100); do grep -q '^verified 59 entries' "$work/follow.out" && break; sleep 0.1; done
grep -q '^verified 59 entries' "$work/follow.out" || fail "exo verify --follow did not verify the log it found"
for i in 1 2 3; do "$exo" call "$url" counter.add "$i" >/dev/null 2>&1; done
for _ in $(seq 1 100); do grep -q '^verified 62 entries' "$work/follow.out" && break; sleep 0.1; done
grep -q '^verified 62 entries' "$work/follow.out" || fail "exo verify --follow did not verify the entries that came after"
stop_server
set +e; wait "$follow_pid"; rc=$?; set -e
[ "$rc" -eq 4 ] || { cat "$work/follow.out" "$work/follow.err" >&2; fail "exo verify --follow exited $rc when the node went away, expected 4"; }

echo "-- bad images, missing plugins, usage errors"
expect_rc 3 "$exo" boot "$work/other.exo" --data "$work/data"
grep -q 'was booted from image' "$work/err" || fail "another image on a data directory is not refused clearly"
python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[len(b)//2]^=1; open(sys.argv[2],"wb").write(b)' "$work/app.exo" "$work/corrupt.exo"
expect_rc 3 "$exo" boot "$work/corrupt.exo" --data "$work/d2"
grep -q 'not a valid exo image' "$work/err" || fail "a corrupted image is not refused clearly"
head -c 300 "$work/app.exo" >"$work/short.exo"
expect_rc 3 "$exo" boot "$work/short.exo" --data "$work/d3"
grep -q 'not a valid exo image' "$work/err" || fail "a truncated image is not refused clearly"
mkdir -p "$work/bin" && cp "$exo" "$work/bin/exo"  # no plugins beside this copy
expect_rc 3 env -u EXO_PLUGIN_PATH "$work/bin/exo" boot "$work/app.exo" --data "$work/d4"
grep -qE "needs the '(air|wasm)' container" "$work/err" || fail "a missing plugin is not named"
expect_rc 2 "$exo"
cp -r "$work/app" "$work/badjs" && printf 'exports.func1 = (x => x + 1\n' >"$work/badjs/files.js"
expect_rc 3 "$exo" pack "$work/badjs" -o "$work/badjs.exo"
grep -q "files.js does not compile: SyntaxError" "$work/err" || fail "a JS syntax error is not a clear pack error"
expect_rc 2 "$exo" pack
expect_rc 2 "$exo" call ws://127.0.0.1:1 counter.add '[1'
expect_rc 4 "$exo" call ws://127.0.0.1:1 counter.add
# A port that listens and never accepts: the call gives up after --timeout, and says so.
python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(120)' >"$work/port" &
silent_pid=$!
for _ in $(seq 1 50); do [ -s "$work/port" ] && break; sleep 0.1; done
expect_rc 4 "$exo" call "ws://127.0.0.1:$(cat "$work/port")" counter.add --timeout 0.5
kill "$silent_pid" 2>/dev/null || true
grep -q 'no answer within 500 ms' "$work/err" || fail "a node that never answers is not reported as a timeout"
expect_rc 0 "$exo" boot --help

echo "-- an AIR particle (the app's AIR actor, its interpreter in a child process): services answer it, the log verifies"
start_server --runner process
greet=$(python3 -c 'import json,sys; print(json.dumps([open(sys.argv[1]).read()]))' "$app/greet.air")
"$exo" call "$url" particles.particle "$greet" >"$work/air.json" 2>"$work/err" || { cat "$work/err" >&2; fail "particles.particle failed"; }
python3 - "$work/air.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ret_code"] == 0, r
assert r["next_peer_pks"] == ["client"], r
trace = json.loads(r["data"])["trace"]
assert trace[0] == {"call": {"executed": {"scalar": "booted from an image"}}}, trace[0]
assert isinstance(trace[1]["call"]["executed"]["scalar"], int), trace[1]
assert trace[2] == {"call": {"sent_by": "notes-node"}}, trace[2]
PY
expect_rc 2 "$exo" boot "$work/app.exo" --data "$work/data" --runner elsewhere
"$exo" verify "$url" >"$work/air_verify.out" 2>&1 || { cat "$work/air_verify.out" >&2; fail "the log with an AIR particle does not verify"; }
stop_server

echo "-- prune: a recorded checkpoint, old roots and the log before it dropped; the node resumes, serves, verifies"
"$exo" checkpoint "$work/data" >"$work/cp2.out" || fail "exo checkpoint did not record a checkpoint"
grep -q '^recorded the checkpoint at entry' "$work/cp2.out" || fail "exo checkpoint does not say what it recorded"
start_server
for i in 1 2 3; do "$exo" call "$url" counter.add >/dev/null 2>&1 || fail "a call before the prune failed"; done
"$exo" verify "$url" --from-checkpoint >"$work/vfc.out" 2>&1 || { cat "$work/vfc.out"; fail "the node does not verify from its checkpoint over RPC"; }
grep -q "^starting from the node's checkpoint at entry" "$work/vfc.out" || fail "verify --from-checkpoint does not say where it starts"
grep -q '^verified [0-9]* entries' "$work/vfc.out" || fail "verify --from-checkpoint did not verify"
expect_rc 3 "$exo" prune "$work/data" --keep-roots 1   # the node holds the directory
grep -q 'journal' "$work/err" || fail "pruning a directory a node writes is not a clear error"
stop_server
before=$(du -sk "$work/data" | cut -f1)
# SIGKILL in the middle of a prune and of a checkpoint export: nothing kept is lost.
"$exo" prune "$work/data" --keep-roots 1 --before-checkpoint >/dev/null & sleep 0.05; kill -9 $! 2>/dev/null || true; wait $! 2>/dev/null || true
"$exo" checkpoint "$work/data" -o "$work/late.snap" >/dev/null & sleep 0.05; kill -9 $! 2>/dev/null || true; wait $! 2>/dev/null || true
[ ! -e "$work/late.snap" ] || "$exo" verify "$work/data" --checkpoint "$work/late.snap" >/dev/null || fail "a snapshot left by a killed export does not verify"
"$exo" prune "$work/data" --keep-roots 1 --before-checkpoint --json >"$work/prune.json" || fail "exo prune failed"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["log_base"] > 0 and j["nodes_kept"] > 0, j' "$work/prune.json" \
  || fail "exo prune --json does not say what it kept and dropped"
"$exo" log "$work/data" | grep -q 'were pruned' || fail "exo log does not show the pruned entries"
"$exo" verify "$work/data" >"$work/vpruned.out" || { cat "$work/vpruned.out"; fail "the pruned directory does not verify from its checkpoint"; }
grep -q "starting from the directory's checkpoint" "$work/vpruned.out" || fail "verifying a pruned directory does not say where it starts"
start_server
[ "$("$exo" call "$url" counter.get 2>/dev/null)" -gt 0 ] || fail "the pruned node does not serve"
"$exo" call "$url" counter.add >/dev/null || fail "the pruned node does not take calls"  # (history after any checkpoint)
stop_server
"$exo" verify "$work/data" >/dev/null || fail "the pruned directory does not verify after serving again"
echo "data directory: ${before} KiB before the prune, $(du -sk "$work/data" | cut -f1) KiB after (LMDB keeps the pages for reuse)"
echo "-- a node that checkpoints and prunes as it serves (--prune-every)"
"$exo" boot "$work/app.exo" --data "$work/d5" --listen 127.0.0.1:0 --prune-every 4 --keep-roots 2 --prune-log \
  >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 100); do url=$(grep -o 'ws://[0-9.]*:[0-9]*' "$work/server.out" || true); [ -n "$url" ] && break; sleep 0.1; done
[ -n "$url" ] || fail "the pruning node did not start"
for i in $(seq 1 13); do [ "$("$exo" call "$url" counter.add 2>/dev/null)" = $((10 + i)) ] || fail "call $i to the pruning node"; done
# It pruned its log: a verifier from outside starts from its checkpoint by itself.
"$exo" verify "$url" >"$work/v5r.out" 2>&1 || { cat "$work/v5r.out"; fail "the node that pruned its log does not verify over RPC"; }
grep -q "it pruned its log before entry" "$work/v5r.out" || fail "verifying a node that pruned its log does not start from its checkpoint"
stop_server
[ "$(grep -c 'checkpoint at entry' "$work/server.err")" -ge 3 ] || { cat "$work/server.err"; fail "the node did not checkpoint and prune as it served"; }
"$exo" verify "$work/d5" >"$work/v5.out" || { cat "$work/v5.out"; fail "the node that pruned as it served does not verify"; }
grep -q "starting from the directory's checkpoint" "$work/v5.out" || fail "the node that pruned its log is not verified from its checkpoint"
expect_rc 3 "$exo" prune "$work/nothing"
grep -q "not an exo data directory" "$work/err" || fail "exo prune of no directory is not a clear error"

echo "-- upgrade: new code checked against the history, the switch logged, the log across it verified"
variant() {  # variant NAME WASM [MIGRATE JSON]: the example app with the counter's code replaced
  cp -r "$app" "$work/$1"; cp "$wasm/$2" "$work/$1/counter.wasm"
  if [ -n "${3:-}" ]; then
    python3 -c 'import json,sys; p=sys.argv[1]; m=json.load(open(p)); m["migrate"]=json.loads(sys.argv[2]); json.dump(m, open(p, "w"))' \
      "$work/$1/exo.json" "$3"
  fi
  "$exo" pack "$work/$1" -o "$work/$1.exo" >/dev/null || fail "packing the $1 variant failed"
}
variant fixed upgrade_compatible.wasm
variant broken upgrade_incompatible.wasm
variant mig upgrade_migrate.wasm '[{"call": "counter.migrate", "args": [1000]}]'
variant moved upgrade_reordered.wasm
# On the directory whose log was pruned before its checkpoint: checked from the checkpoint.
root_before=$("$exo" root "$work/data")
count_before=$("$exo" log "$work/data" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_rc 1 "$exo" upgrade "$work/data" "$work/broken.exo"
grep -q '^UPGRADE REFUSED' "$work/out" && grep -q 'first divergence: entry [0-9]*, .*add, field .result.' "$work/out" \
  || { cat "$work/out"; fail "an incompatible upgrade is not refused with its first divergence"; }
expect_rc 3 "$exo" upgrade "$work/data" "$work/moved.exo"
grep -q 'by position' "$work/err" || { cat "$work/err"; fail "new code whose exports moved is not refused clearly"; }
expect_rc 3 "$exo" upgrade "$work/data" "$work/other.exo"
grep -q 'another application' "$work/err" || { cat "$work/err"; fail "an image of another application is not refused clearly"; }
[ "$("$exo" root "$work/data")" = "$root_before" ] || fail "a refused upgrade changed the state"
[ ! -e "$work/data/images" ] || fail "a refused upgrade left images behind"
"$exo" upgrade "$work/data" "$work/mig.exo" >"$work/up.out" || { cat "$work/up.out"; fail "a compatible upgrade with a migration was refused"; }
grep -q "after the checkpoint" "$work/up.out" || fail "the upgrade of a pruned directory is not checked from its checkpoint"
grep -q '^switched .* 1 migration calls' "$work/up.out" || { cat "$work/up.out"; fail "exo upgrade does not say what it switched"; }
"$exo" log "$work/data" | grep -q 'upgrade from image' || fail "exo log does not show the upgrade entry"
"$exo" verify "$work/data" >"$work/vup.out" || { cat "$work/vup.out"; fail "the log across the upgrade does not verify"; }
expect_rc 3 "$exo" boot "$work/app.exo" --data "$work/data"
grep -q 'upgraded from' "$work/err" || { cat "$work/err"; fail "the old image on an upgraded directory is not refused clearly"; }
# Served: the new image's code runs, the migration ran once, and a verifier from outside
# fetches the image the log was booted from and follows the switch.
"$exo" boot "$work/data/image.exo" --data "$work/data" --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
url=
for _ in $(seq 1 100); do url=$(grep -o 'ws://[0-9.]*:[0-9]*' "$work/server.out" || true); [ -n "$url" ] && break; sleep 0.1; done
[ -n "$url" ] || fail "the upgraded node did not start"
[ "$("$exo" call "$url" counter.get 2>/dev/null)" -ge 1000 ] || fail "the migration did not run"
"$exo" verify "$url" >"$work/vupr.out" 2>&1 || { cat "$work/vupr.out"; fail "the upgraded node does not verify over RPC"; }
grep -q 'upgraded since' "$work/vupr.out" || fail "verifying the upgraded node over RPC does not say it fetched the booted image"
stop_server
# An exported log across an upgrade verifies with both images, and not without the second.
"$exo" boot "$work/app.exo" --data "$work/d6" >/dev/null || fail "booting d6 failed"
"$exo" upgrade "$work/d6" "$work/fixed.exo" >/dev/null || fail "upgrading d6 failed"
"$exo" log "$work/d6" --export "$work/d6.exolog" >/dev/null || fail "exporting d6's log failed"
"$exo" verify --log "$work/d6.exolog" --image "$work/app.exo" --image "$work/fixed.exo" >/dev/null || fail "the exported log does not verify with both images"
expect_rc 1 "$exo" verify --log "$work/d6.exolog" --image "$work/app.exo"
grep -q "field 'upgrade'" "$work/out" || { cat "$work/out"; fail "a log across an upgrade verified without its second image"; }
# SIGKILL during an upgrade: the node resumes on one image or the other, and its log verifies.
"$exo" upgrade "$work/d6" "$work/mig.exo" >/dev/null 2>&1 & sleep 0.1; kill -9 $! 2>/dev/null || true; wait $! 2>/dev/null || true
"$exo" verify "$work/d6" >/dev/null || fail "the log of a directory whose upgrade was killed does not verify"
echo "e2e passed"
