#!/usr/bin/env bash
# `exo air run` and `exo air session` as a script drives them: the same run prints the same
# bytes on the inline, thread and process runners; the host loop step by step through
# --prev/--call-results; a five-peer session ends with no work left; bad input exits with its
# code and says why.
#   air.sh EXO SOURCE_DIR
set -euo pipefail
exo=$1 src=$2
work=$(mktemp -d /tmp/exo-air-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "air e2e FAILED: $*" >&2; exit 1; }
expect_rc() {  # expect_rc CODE CMD...
  local want=$1; shift
  set +e; "$@" >"$work/out" 2>"$work/err"; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$work/out" "$work/err" >&2; fail "'$*' exited $rc, expected $want"; }
}
field() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(v if isinstance(v,str) else json.dumps(v))' "$@"; }

cat >"$work/a.air" <<'AIR'
(seq
  (par
    (call "P" ("local_service_id" "local_fn_name") [] result_1)
    (call "remote_peer_id" ("service_id" "fn_name") [] g))
  (call "P" ("local_service_id" "local_fn_name") [result_1] result_2))
AIR

echo "-- the same run on every runner prints the same bytes"
for r in inline thread process; do
  "$exo" air run --air "$work/a.air" --init-peer I --current-peer P --runner $r >"$work/run.$r"
done
cmp "$work/run.inline" "$work/run.thread" || fail "thread differs from inline"
cmp "$work/run.inline" "$work/run.process" || fail "process differs from inline"
[ "$(field "$work/run.inline" ret_code)" = 0 ] || fail "ret_code is not 0"
[ "$(field "$work/run.inline" next_peer_pks)" = '["remote_peer_id"]' ] || fail "next peers: $(field "$work/run.inline" next_peer_pks)"

echo "-- the host loop by hand: answer request 1, then 2"
field "$work/run.inline" data >"$work/d1"
"$exo" air run --air "$work/a.air" --init-peer I --current-peer P --prev "$work/d1" \
  --call-results '{"1":{"ret_code":0,"result":"\"one\""}}' >"$work/run2"
python3 - "$work/run2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ret_code"] == 0, r
q = r["call_requests"]["2"]
assert json.loads(q["arguments"]) == ["one"], q
t = json.loads(q["tetraplets"])
assert t == [[{"peer_pk": "P", "service_id": "local_service_id", "function_name": "local_fn_name", "json_path": ""}]], t
PY
field "$work/run2" data >"$work/d2"
"$exo" air run --air "$work/a.air" --init-peer I --current-peer P --prev "$work/d2" \
  --call-results '{"2":{"ret_code":0,"result":"\"two\""}}' >"$work/run3"
python3 - "$work/run3" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ret_code"] == 0 and r["call_requests"] == {}, r
trace = json.loads(r["data"])["trace"]
assert trace == [{"par": [1, 1]}, {"call": {"executed": {"scalar": "one"}}}, {"call": {"sent_by": "P"}},
                 {"call": {"executed": {"scalar": "two"}}}], trace
PY

echo "-- a five-peer session ends with no peer holding work"
"$exo" air session --air "$src/examples/air/network_explore.air" --json --init-peer client_id \
  --peers client_id,relay_id,client_1_id,client_2_id,client_3_id --runner process \
  --service 'client_id=set_variable:"relay_id"' \
  --service 'relay_id=set_variable:["client_1_id","client_2_id","client_3_id","relay_id"]' \
  --service 'set_variable:["relay_id","client_3_id","client_1_id","client_2_id"]' >"$work/session.json" 2>"$work/err" ||
  { cat "$work/err" >&2; fail "the session failed"; }
python3 - "$work/session.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["deliveries"] > 5, s["deliveries"]
assert all(step["ret_code"] == 0 for step in s["steps"]), [x for x in s["steps"] if x["ret_code"]]
relay = json.loads(s["data"]["relay_id"])
assert relay["streams"]["$services"] >= 1, relay["streams"]
PY
"$exo" air session --air "$src/examples/air/network_explore.air" --init-peer client_id --peers client_id,relay_id \
  --service 'set_variable:"relay_id"' >"$work/text" || fail "the text session failed"
grep -q 'no peer has work left' "$work/text" || fail "no closing line"
grep -q '^relay_id data: {' "$work/text" || fail "no data line for relay_id"

echo "-- bad input: each its exit code and a clear message"
printf '(seq (null)' >"$work/bad.air"
"$exo" air run --air "$work/bad.air" --init-peer I --current-peer P >"$work/bad.json"
[ "$(field "$work/bad.json" ret_code)" = 1 ] || fail "a malformed script is not ret_code 1"
[[ "$(field "$work/bad.json" error_message)" == *"air can't be parsed"* ]] || fail "no parse message"
printf 'not json' >"$work/bad.data"
"$exo" air run --air "$work/a.air" --init-peer I --current-peer P --data "$work/bad.data" >"$work/bad2.json"
[ "$(field "$work/bad2.json" ret_code)" = 2 ] || fail "malformed data is not ret_code 2"
"$exo" air run --air "$work/a.air" --init-peer I --current-peer P --call-results 'nope' >"$work/bad3.json"
[ "$(field "$work/bad3.json" ret_code)" = 3 ] || fail "malformed call results are not ret_code 3"
expect_rc 3 "$exo" air run --air "$work/missing.air" --init-peer I --current-peer P
grep -q 'cannot read' "$work/err" || fail "no message for a missing script"
expect_rc 2 "$exo" air run --air "$work/a.air" --init-peer I --current-peer P --runner elsewhere
expect_rc 2 "$exo" air run --air "$work/a.air" --init-peer I
printf '(seq (ap 1 $s) (fold $s v (seq (ap v $s) (next v))))' >"$work/forever.air"
for r in inline process; do
  expect_rc 5 "$exo" air run --air "$work/forever.air" --init-peer I --current-peer P --ticks 100000 --runner $r
  grep -q 'out of ticks' "$work/err" || fail "no out-of-ticks message on $r"
done
expect_rc 2 "$exo" air session --air "$work/a.air" --peers A,B --init-peer C
expect_rc 2 "$exo" air session --air "$work/a.air" --peers A,B --init-peer A --service 'A=nonsense'
echo "air e2e passed"
