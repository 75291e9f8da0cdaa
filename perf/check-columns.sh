#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The perf_columns test: runs respio-perf --csv and handoff-ceiling briefly
# and checks that their output says what the README says it does: the CSV's
# columns (the first ten unchanged, then allocs_per_op, shape, latency_by),
# both shapes at K > 1, ratios only within a shape and no latency ratio
# against redis-benchmark, and handoff-ceiling's CPU and context switches.
#
#   check-columns.sh RESPIO_PERF HANDOFF_CEILING PEERS [allocs|no-allocs]
#   (PEERS: "" or a --compare list; no-allocs: a sanitizer build, which
#   counts no allocations, so allocs_per_op must be empty)
set -u
perf=$1 handoff=$2 peers=${3:-} allocs=${4:-allocs}
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
fail() {
	echo "check-columns: $*" >&2
	echo "--- stdout" >&2
	cat "$out" >&2
	echo "--- stderr" >&2
	cat "$err" >&2
	exit 1
}

args=(--csv --threads 2 --inflight 1,4 --duration 0.5 --warmup 0.1 --keys 200 --rounds 2 --pin)
[ -n "$peers" ] && args+=(--compare "$peers")
"$perf" "${args[@]}" >"$out" 2>"$err" || fail "respio-perf exited $?"

header='client,threads,shards,inflight,ops_per_sec,p50_us,p99_us,p999_us,client_cpu_us_per_op,errors,allocs_per_op,shape,latency_by'
[ "$(head -1 "$out")" = "$header" ] || fail "CSV header is not $header"
# Every row: 13 fields, a known shape, a known latency source, a rate.
awk -F, -v allocs="$allocs" 'NR > 1 {
	if (NF != 13) { print "row " NR ": " NF " fields"; bad = 1 }
	if ($12 !~ /^(sync|window|batch)$/) { print "row " NR ": shape " $12; bad = 1 }
	if ($4 == 1 && $12 != "sync") { print "row " NR ": K = 1 but shape " $12; bad = 1 }
	if ($4 > 1 && $12 == "sync") { print "row " NR ": K > 1 but shape sync"; bad = 1 }
	if ($13 != ($1 == "redis-benchmark" ? "redis-benchmark" : "harness")) {
		print "row " NR ": latency_by " $13; bad = 1 }
	if (!($5 > 0)) { print "row " NR ": no rate"; bad = 1 }
	if ($1 != "redis-benchmark" && (allocs == "allocs") != ($11 != "")) {
		print "row " NR ": allocs_per_op \"" $11 "\" in a " allocs " build"; bad = 1 }
	if ($1 == "redis-benchmark" && !($9 > 0)) { print "row " NR ": no CPU"; bad = 1 }
} END { exit bad }' "$out" >&2 || fail "bad rows"

want=("respio,2,1,1" "respio,2,1,4" "respio-batch,2,1,4")
case ,$peers, in *,hiredis,*) want+=("hiredis,2,0,1" "hiredis-window,2,0,4" "hiredis,2,0,4") ;; esac
case ,$peers, in *,redis-benchmark,*) want+=("redis-benchmark,2,0,1" "redis-benchmark,2,0,4") ;; esac
for w in "${want[@]}"; do
	grep -q "^$w," "$out" || fail "no row $w"
done

if [ -n "$peers" ]; then
	grep -q '^ratios (respio / peer), only between runs of the same shape' "$err" ||
		fail "no ratio heading"
	# window against window, batch against batch, sync against sync.
	grep '^respio.* vs ' "$err" | awk '
		/^respio \(window,/ && !/ vs hiredis-window:/ { print; bad = 1 }
		/^respio-batch \(batch,/ && / vs hiredis-window:/ { print; bad = 1 }
		/^respio \(sync,/ && / vs hiredis-window:/ { print; bad = 1 }
		END { exit bad }' >&2 || fail "a ratio across shapes"
	if grep ' vs redis-benchmark:' "$err" | grep -q 'p50\|p99'; then
		fail "a latency ratio against redis-benchmark"
	fi
	case ,$peers, in
	*,redis-benchmark,*)
		grep -q '^\* redis-benchmark.s own latency' "$err" || fail "no note on its latency"
		;;
	esac
fi

# handoff-ceiling: the rate and, per call, CPU and context switches.
"$handoff" --threads 4 --duration 0.3 >"$out" 2>"$err" || fail "handoff-ceiling exited $?"
grep -Eq 'blocking calls/s, per call [0-9.]+ us CPU and [0-9.]+ context switches' "$out" ||
	fail "handoff-ceiling: no CPU or context switches per call"
exit 0
