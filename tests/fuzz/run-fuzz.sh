#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-fuzz.sh FUZZER CORPUS DICT RUNS: a short, repeatable libFuzzer run for the
# test suite. The committed corpus is only read: new inputs go to a temporary
# directory (the first corpus directory is where libFuzzer writes), crashes too.
set -eu
fuzzer=$1 corpus=$2 dict=$3 runs=$4
work=$(mktemp -d "${TMPDIR:-/tmp}/herald-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/new"
# -error_exitcode: libFuzzer's default, 77, would read as a skipped test;
# -detect_leaks=0: the per-input leak check reports GLib's and json-glib's
# one-time initialisations (LeakSanitizer still checks at exit)
set -- -runs="$runs" -seed=1 -max_len=16384 -timeout=30 -rss_limit_mb=2048 \
	-error_exitcode=1 -timeout_exitcode=1 -detect_leaks=0 \
	-print_final_stats=1 -artifact_prefix="$work/"
[ -n "$dict" ] && set -- "$@" -dict="$dict"
rc=0
"$fuzzer" "$@" "$work/new" "$corpus" || rc=$?
if [ $rc != 0 ]; then
	for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
		[ -f "$f" ] || continue
		echo "reproducer $(basename "$f") (base64):"
		base64 "$f"
	done
fi
exit $rc
