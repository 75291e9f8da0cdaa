#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the README's examples against a throwaway server, after checking that
# the README shows each one exactly as built here.
# run.sh README.md SOURCE_DIR BINARY...
set -u
readme=$1 srcdir=$2
shift 2

# The README's C code blocks, with the SPDX/purpose lines the files add.
for src in "$srcdir"/sync.c "$srcdir"/futures.c "$srcdir"/transaction.c "$srcdir"/sentinel.c; do
	body=$(grep -v -e '^/\* SPDX' -e '^/\* README example' "$src")
	if ! python3 - "$readme" "$body" <<'PY'
import sys
readme, body = open(sys.argv[1]).read(), sys.argv[2].strip("\n")
sys.exit(0 if body in readme else 1)
PY
	then
		echo "README.md does not show $src as it is" >&2
		exit 1
	fi
done

export RESPIO_LAB_DIR
RESPIO_LAB_DIR=$(mktemp -d)
trap '"$srcdir"/../../tools/lab stop; rm -rf "$RESPIO_LAB_DIR"' EXIT
addr=$("$srcdir"/../../tools/lab start standalone) || { echo "no redis-server" >&2; exit 77; }
sentinels=()
for bin in "$@"; do
	case $bin in
	*sentinel*)
		# Its own topology: a master, a replica and three Sentinels.
		if [ ${#sentinels[@]} -eq 0 ]; then
			lab=$("$srcdir"/../../tools/lab start sentinel) ||
				{ echo "$bin: no Sentinel topology" >&2; exit 1; }
			mapfile -t sentinels < <(echo "$lab" | awk '$1 == "sentinel" {print $2}')
		fi
		"$bin" "${sentinels[@]}" || { echo "$bin failed" >&2; exit 1; } ;;
	*)
		"$bin" "${addr##*:}" || { echo "$bin failed" >&2; exit 1; } ;;
	esac
done
