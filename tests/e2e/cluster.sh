#!/usr/bin/env bash
# Three exo nodes over a real nats-server, as a user runs them (examples/cluster: a JS front on
# node a, a wasm counter on node b, the notes on node c): boot each with --cluster, call node
# a and see the message reach b, the answer come back to a and the note reach c; kill -9 node
# b while a sends it messages, node a right after a call and the nats-server under traffic,
# restart them, and see nothing lost or taken twice; with a bound on node a (--expire-after), kill
# -9 node b and see node a's front told that b never confirmed its message, which b takes late;
# stop all and verify each log alone and every message between them
# (exo verify DIR --with DIR...); and an AIR particle (hop.air) that hops from a to b to c and
# back to a, each node's AIR actor running its part. Bad input: an image booted without --cluster or as a node it
# does not place, options that go together given alone, a peers file missing a node, naming a
# wrong key for this node or not JSON, a NATS server that cannot be reached, a data directory
# booted as another node.
#   cluster.sh EXO CLUSTER_APP_DIR
set -euo pipefail
exo=$1 app=$2
work=$(mktemp -d /tmp/exo-cluster-XXXXXX)
declare -A pid url
nats_pid=
cleanup() {
  for n in "${!pid[@]}"; do kill -9 "${pid[$n]}" 2>/dev/null || true; done
  [ -n "$nats_pid" ] && kill "$nats_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "cluster e2e FAILED: $*" >&2
  for n in a b c; do [ -f "$work/$n.out" ] && sed "s/^/  node $n: /" "$work/$n.out" "$work/$n.err" >&2; done
  exit 1
}
expect_rc() {  # expect_rc CODE TEXT CMD...: exits CODE and says TEXT (on stdout or stderr)
  local want=$1 text=$2; shift 2
  set +e; "$@" >"$work/out" 2>"$work/err"; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$work/out" "$work/err" >&2; fail "'$*' exited $rc, expected $want"; }
  grep -qF -- "$text" "$work/out" "$work/err" || { cat "$work/out" "$work/err" >&2; fail "'$*' did not say '$text'"; }
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

port=$(free_port)
nats="nats://127.0.0.1:$port"
nats-server -js -sd "$work/jetstream" -a 127.0.0.1 -p "$port" >/dev/null 2>"$work/nats.log" &
nats_pid=$!
for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

boot() {  # boot NODE [EXTRA OPTIONS...]: in the background, until it listens
  local n=$1; shift
  "$exo" boot "$work/tally.exo" --data "$work/$n" --cluster "$nats" --node "$n" --peers "$work/peers.json" \
    --listen 127.0.0.1:0 "$@" >"$work/$n.out" 2>"$work/$n.err" &
  pid[$n]=$!
  for _ in $(seq 1 300); do
    url[$n]=$(grep -o 'ws://[0-9.]*:[0-9]*' "$work/$n.out" || true)
    [ -n "${url[$n]}" ] && return 0
    kill -0 "${pid[$n]}" 2>/dev/null || fail "node $n exited"
    sleep 0.1
  done
  fail "node $n did not start listening"
}
call() { "$exo" call "${url[$1]}" "${@:2}" 2>/dev/null; }
wait_for() {  # wait_for NODE WANT METHOD [ARGS]: until the call returns WANT (60 s)
  local n=$1 want=$2 got=; shift 2
  for _ in $(seq 1 600); do
    got=$(call "$n" "$@" || true)
    [ "$got" = "$want" ] && return 0
    sleep 0.1
  done
  fail "node $n: $* gave '$got', expected '$want'"
}

echo "-- pack; each node's key made before its first boot, named in one peers file"
"$exo" pack "$app" -o "$work/tally.exo" >/dev/null
python3 - "$exo" "$work" <<'EOF'
import json, subprocess, sys
exo, work = sys.argv[1], sys.argv[2]
keys = {}
for n in "abc":
    out = subprocess.run([exo, "keygen", "-o", f"{work}/{n}/node.key", "--json"], capture_output=True, text=True, check=True)
    keys[n] = json.loads(out.stdout)["public_key"]
json.dump(keys, open(f"{work}/peers.json", "w"))
json.dump({k: v for k, v in keys.items() if k != "b"}, open(f"{work}/no_b.json", "w"))
json.dump(dict(keys, a=keys["b"]), open(f"{work}/wrong_a.json", "w"))
json.dump({k: v for k, v in keys.items() if k != "b"}, open(f"{work}/others_of_b.json", "w"))
EOF
echo 'not json' >"$work/garbage.json"

echo "-- bad input: clear errors, and nothing made"
expect_rc 3 "places its actors on 3 nodes" "$exo" boot "$work/tally.exo" --data "$work/x"
expect_rc 2 "go together" "$exo" boot "$work/tally.exo" --data "$work/a" --cluster "$nats"
expect_rc 2 "cannot name a node" "$exo" boot "$work/tally.exo" --data "$work/a" --cluster "$nats" --node 'a b' --peers "$work/peers.json"
expect_rc 3 "places no actor on node d" "$exo" boot "$work/tally.exo" --data "$work/d" --cluster "$nats" --node d --peers "$work/peers.json"
expect_rc 3 "node b's key is not known" "$exo" boot "$work/tally.exo" --data "$work/a" --cluster "$nats" --node a --peers "$work/no_b.json"
expect_rc 3 "signs with" "$exo" boot "$work/tally.exo" --data "$work/a" --cluster "$nats" --node a --peers "$work/wrong_a.json"
expect_rc 3 "not a JSON object" "$exo" boot "$work/tally.exo" --data "$work/a" --cluster "$nats" --node a --peers "$work/garbage.json"
[ "$(ls "$work/a")" = node.key ] || fail "a refused boot left files in the data directory: $(ls "$work/a")"
closed=$(free_port)
expect_rc 3 "has none yet" "$exo" boot "$work/tally.exo" --data "$work/new" --cluster "$nats" --node a --peers "$work/peers.json"
expect_rc 3 "nats://127.0.0.1:$closed" "$exo" boot "$work/tally.exo" --data "$work/a" --cluster "nats://127.0.0.1:$closed" \
  --node a --peers "$work/peers.json"
[ "$(ls "$work/a")" = node.key ] && [ ! -e "$work/new" ] || fail "a refused boot made files"

echo "-- boot three nodes; a call on a reaches b, b's answer comes back to a, and a's note reaches c"
boot a; boot b; boot c
grep -q 'node b: 2 peers, 4 actors on other nodes, 3 capabilities given to them' "$work/b.out" || fail "node b's boot did not say its routes"
[ "$(call a front.add 5)" = '"asked node b to add 5"' ] || fail "front.add"
wait_for a 5 front.total
wait_for c 5 notes.get '"total"'
[ "$(call b counter.get)" = 5 ] || fail "the counter on b is not 5"
echo "-- a particle hops over all three: a's front, b's counter, c's notes, and back to a"
script=$(python3 -c 'import json,sys; print(json.dumps([open(sys.argv[1]).read()]))' "$app/hop.air")
call a air_a.particle "$script" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["ret_code"] == 0 and r["next_peer_pks"] == ["b"], r' || fail "the particle did not leave a for b"
wait_for a '{"count":5,"motd":"node c keeps the notes","total":5}' front.hops
# Each node serves only its own actors' exports.
set +e; "$exo" call "${url[a]}" counter.get >/dev/null 2>&1; rc=$?; set -e
[ "$rc" -eq 4 ] || fail "node a served node b's counter.get (exit $rc)"

echo "-- kill -9 node b; node a's messages wait in the stream, and b takes each once when it is back"
kill -9 "${pid[b]}"; wait "${pid[b]}" 2>/dev/null || true
for _ in 1 2 3; do call a front.add 2 >/dev/null || fail "node a refused a call while b was down"; done
sleep 0.5
[ "$(call a front.total)" = 5 ] || fail "an answer came from a dead node"
boot b
wait_for a 11 front.total
wait_for c 11 notes.get '"total"'

echo "-- kill -9 node a right after a call; it sends what its log holds when it is back"
call a front.add 1 >/dev/null
kill -9 "${pid[a]}"; wait "${pid[a]}" 2>/dev/null || true
boot a
grep -q 'messages sent again' "$work/a.out" || fail "node a did not say what it sent again"
wait_for a 12 front.total
wait_for b 12 counter.get
wait_for c 12 notes.get '"total"'

echo "-- kill -9 the nats-server; calls go on, and what they send crosses once it is back"
kill -9 "$nats_pid"; wait "$nats_pid" 2>/dev/null || true
call a front.add 4 >/dev/null || fail "node a refused a call while the nats-server was down"
nats-server -js -sd "$work/jetstream" -a 127.0.0.1 -p "$port" >/dev/null 2>>"$work/nats.log" &
nats_pid=$!
wait_for a 16 front.total
wait_for b 16 counter.get
wait_for c 16 notes.get '"total"'

echo "-- node a with a bound of 1.5 s; kill -9 node b: the front hears b never confirmed its message, and b takes it late"
kill -TERM "${pid[a]}"; wait "${pid[a]}" || fail "node a did not stop cleanly"
boot a --expire-after 1500
sleep 1  # (what a sent before is settled quietly with b's receipt)
[ "$(call a front.trouble)" = null ] || fail "node a reported trouble while every node was up: $(call a front.trouble)"
kill -9 "${pid[b]}"; wait "${pid[b]}" 2>/dev/null || true
call a front.add 3 >/dev/null || fail "node a refused a call while b was down"
wait_for a '"add: node b did not confirm taking message 8 from node a within the bound: it may be down or cut off; it may still take the message when it is back"' front.trouble
[ "$(call a front.total)" = 16 ] || fail "an answer came from a dead node"
boot b
wait_for a 19 front.total
wait_for c 19 notes.get '"total"'

echo "-- stop; each log verifies alone, and every message taken is the one sent"
for n in a b c; do kill -TERM "${pid[$n]}"; wait "${pid[$n]}" || fail "node $n did not stop cleanly"; unset "pid[$n]"; done
"$exo" verify "$work/a" --with "$work/b" --with "$work/c" >"$work/verify.out" 2>&1 || { cat "$work/verify.out"; fail "exo verify --with"; }
grep -q "messages from node a to node b: 8 taken, each as it was sent" "$work/verify.out" || { cat "$work/verify.out"; fail "a -> b is not 8 messages"; }
grep -q "messages from node b to node a: 7 taken" "$work/verify.out" || { cat "$work/verify.out"; fail "b -> a is not 7 messages"; }
grep -q "messages from node a to node c: 7 taken" "$work/verify.out" || { cat "$work/verify.out"; fail "a -> c is not 7 messages"; }
grep -q "messages from node b to node c: 1 taken" "$work/verify.out" || { cat "$work/verify.out"; fail "b -> c is not the particle"; }
grep -q "messages from node c to node a: 1 taken" "$work/verify.out" || { cat "$work/verify.out"; fail "c -> a is not the particle"; }
[ "$(grep -c '^verified' "$work/verify.out")" = 3 ] || { cat "$work/verify.out"; fail "not three logs verified"; }
cp -r "$work/a" "$work/a2"
expect_rc 3 "are both node a" "$exo" verify "$work/a" --with "$work/a2"

echo "-- a data directory is the node it was booted as"
expect_rc 3 "was booted as node a of a cluster, not as node b" "$exo" boot "$work/tally.exo" --data "$work/a" --cluster "$nats" \
  --node b --peers "$work/others_of_b.json"
echo "cluster e2e passed"
