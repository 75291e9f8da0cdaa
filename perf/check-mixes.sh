#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The smoke tests of respio-perf's mixes: each runs one option for about
# 0.3 s a row and checks that it ran without errors and that its rows and
# summary are in the output.
#
#   check-mixes.sh RESPIO_PERF session|blpop|connect [PEERS]
#   (PEERS: "" or a --compare list, for the session test's hiredis rows)
set -u
perf=$1 mode=$2 peers=${3:-}
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
fail() {
	echo "check-mixes $mode: $*" >&2
	echo "--- stdout" >&2
	cat "$out" >&2
	echo "--- stderr" >&2
	cat "$err" >&2
	exit 1
}
common=(--threads 2 --duration 0.3 --warmup 0.1 --keys 200 --rounds 1)

case $mode in
session)
	args=("${common[@]}" --inflight 1,4 --session-ratio 20 --txn-ratio 20)
	case ,$peers, in *,hiredis,*) args+=(--compare hiredis) ;; esac
	"$perf" "${args[@]}" >"$out" 2>"$err" || fail "respio-perf exited $?"
	for row in "respio  *sync  *2 .* 1 " "respio  *window  *2 .* 4 " "respio-batch  *batch  *2 .* 4 "; do
		grep -Eq "^$row" "$out" || fail "no row $row"
	done
	# Every respio row ran sessions and transaction units, each timed, in
	# its pool.
	lat='\(p50 [0-9.]+ us, p99 [0-9.]+ us\)'
	n=$(grep -Ec "^respio(-batch)? \((sync|window|batch), threads 2, shards [0-9]+, inflight [14]\): [0-9]+ operations, [1-9][0-9]* session transactions $lat, [1-9][0-9]* transaction units $lat, 0 pushes; pool: [1-9][0-9]* leases, [0-9]+ waits, 0 exhausted\$" "$out")
	[ "$n" = 3 ] || fail "$n respio rows with sessions and transaction units, not 3"
	case ,$peers, in
	*,hiredis,*)
		grep -Eq "^hiredis \(sync, threads 2, inflight 1\): [0-9]+ operations, [1-9][0-9]* MULTI\.\.EXEC $lat\$" "$out" ||
			fail "no hiredis MULTI..EXEC count"
		;;
	esac
	;;
blpop)
	"$perf" "${common[@]}" --inflight 1 --blpop-consumers 4 >"$out" 2>"$err" ||
		fail "respio-perf exited $?"
	grep -Eq '^respio  *sync' "$out" || fail "no row respio"
	grep -Eq '^respio\+blpop  *sync' "$out" || fail "no row respio+blpop"
	line=$(grep -E '^respio\+blpop \(sync, threads 2, shards [0-9]+, inflight 1\): 4 consumers popped' "$out") ||
		fail "no consumer summary"
	# Every item pushed was popped, and there were some.
	echo "$line" | awk '{
		for (i = 1; i < NF; i++) if ($i == "popped") { got = $(i + 1); of = $(i + 3) }
		exit !(got == of && got > 0) }' || fail "popped and pushed differ, or none: $line"
	echo "$line" | grep -Eq '; vs respio: throughput [0-9.]+x, p50 [0-9.]+x .*, p99 [0-9.]+x ' ||
		fail "no ratios to the row without consumers: $line"
	;;
connect)
	"$perf" "${common[@]}" --inflight 1,4 --connect-per-request --csv >"$out" 2>"$err" ||
		fail "respio-perf exited $?"
	# One row, at K = 1 only, in the CSV's 13 columns.
	[ "$(grep -c '^connect-per-request,' "$out")" = 1 ] || fail "not one connect-per-request row"
	awk -F, '$1 == "connect-per-request" && !(NF == 13 && $2 == 2 && $3 == 0 && $4 == 1 &&
		$5 > 0 && $12 == "sync") { bad = 1 } END { exit bad }' "$out" || fail "bad row"
	grep -Eq '^respio \(sync, threads 2, shards [0-9]+, inflight 1\) [0-9]+ ops/s vs connect-per-request [0-9]+ ops/s: [0-9.]+x throughput, -?[0-9.]+% less time .*; cpu/op [0-9.]+ vs [0-9.]+ us: [0-9.]+x, -?[0-9.]+% less CPU$' "$err" ||
		fail "no pooled / connect-per-request ratio"
	;;
*)
	echo "check-mixes: unknown mode $mode" >&2
	exit 2
	;;
esac
exit 0
