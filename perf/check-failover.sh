#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The smoke test of respio-perf --failover-at: a Sentinel topology from
# tools/lab in a temp dir of its own, a failover 2 s into a 6 s run, then
# the summary (one failover seen by the client) and the table of 100 ms
# buckets in the output. Skips (77) without redis-sentinel. ~20 s: the old
# master's demotion, waited for after the run, comes ~10 s after the switch.
#
#   check-failover.sh RESPIO_PERF TOOLS_LAB
set -u
perf=$1 lab=$2
command -v redis-sentinel >/dev/null || {
	echo "check-failover: redis-sentinel is not installed"
	exit 77
}
RESPIO_LAB_DIR=$(mktemp -d /tmp/respio-perf-failover-XXXXXX) || exit 1
export RESPIO_LAB_DIR
topo=$RESPIO_LAB_DIR/topology out=$RESPIO_LAB_DIR/stdout err=$RESPIO_LAB_DIR/stderr
cleanup() {
	timeout 30 "$lab" stop
	rm -rf "$RESPIO_LAB_DIR"
}
trap cleanup EXIT
fail() {
	echo "check-failover: $*" >&2
	for f in "$out" "$err"; do
		[ -f "$f" ] && { echo "--- $(basename "$f")" >&2; cat "$f" >&2; }
	done
	exit 1
}

timeout 40 "$lab" start sentinel >"$topo" || fail "tools/lab start sentinel failed"
sentinels=$(awk '$1 == "sentinel" { print $2 }' "$topo" | paste -sd, -)
[ -n "$sentinels" ] || fail "no Sentinel in: $(cat "$topo")"
timeout 90 "$perf" --sentinel "$sentinels" --master mymaster --threads 4 --inflight 1 \
	--duration 6 --failover-at 2 --rounds 1 >"$out" 2>"$err" || fail "respio-perf exited $?"

grep -q '^per 100 ms, from 1 s before the failover' "$out" || fail "no table of buckets"
# Its rows: from 1.0 s (1 s before the trigger) to 5.9 s (a trigger a little
# late on a busy machine starts it later), the trigger's marked.
rows=$(grep -Ec '^ +[0-9]+\.[0-9] +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +([0-9.]+|-)( |$)' "$out")
[ "$rows" -ge 40 ] && [ "$rows" -le 50 ] || fail "$rows rows of buckets, not 40 to 50"
grep -Eq '^ +2\.[0-9] .*<- SENTINEL FAILOVER' "$out" || fail "the trigger's bucket is not marked"
grep -Eq '^ +[0-9]+\.[0-9] .*<- client switched' "$out" || fail "the switch's bucket is not marked"
grep -Eq '^failover summary:$' "$out" || fail "no summary"
grep -Eq '^  trigger: SENTINEL FAILOVER mymaster via 127\.0\.0\.1:[0-9]+ at 2\.[0-9]+ s ' "$out" ||
	fail "no trigger line"
grep -Eq '^  client: 1 failover, [0-9]+ holds?, [0-9]+ rediscoveries; switch [0-9]+ ms after the trigger' "$out" ||
	fail "the client did not report one failover"
grep -Eq '^  gap: [0-9]+ buckets? of 100 ms with no acknowledged INCR .*; longest time with none: [0-9]+ ms' "$out" ||
	fail "no gap"
grep -Eq '^  errors by fate: SENT [0-9]+.*, NOT_SENT [0-9]+' "$out" || fail "no errors by fate"
grep -Eq '^  lost acknowledged writes: [0-9]+ of [1-9][0-9]* acknowledged INCRs' "$out" ||
	fail "no count of lost writes"
exit 0
