#!/usr/bin/env bash
# The demo persists: a second run on the same data directory starts from the root the first
# run committed, and both runs pass their own checks.
set -euo pipefail
demo=$1
dir=$(mktemp -d /tmp/exo-demo-test-XXXXXX)
trap 'rm -rf "$dir"' EXIT
first=$("$demo" "$dir/data")
second=$("$demo" "$dir/data")
end1=$(grep '^state root at end:' <<<"$first" | awk '{print $5}')
start2=$(grep '^state root at start:' <<<"$second" | tail -1 | awk '{print $5}')
[[ -n "$end1" && "$end1" == "$start2" ]] || { echo "second run did not resume from $end1 (got '$start2')"; exit 1; }
grep -q '^demo OK' <<<"$second" || { echo "$second"; exit 1; }
# A fresh directory gives the same root as the first run (determinism).
again=$("$demo" "$dir/other" | grep '^state root at end:' | awk '{print $5}')
[[ "$again" == "$end1" ]] || { echo "two fresh runs gave $end1 and $again"; exit 1; }
# A directory that cannot be created is a clear error, not a crash.
if "$demo" "$dir/missing/deeper" 2>"$dir/err"; then echo "opened a data directory under a missing parent"; exit 1; fi
grep -q "parent directory must exist" "$dir/err"
echo "demo resumes from $end1"
