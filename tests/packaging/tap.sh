# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP for the packaging tests: `check DESCRIPTION COMMAND...` runs COMMAND and
# prints ok/not ok (with its output on failure); `finish` prints the plan and
# exits 1 if anything failed. Sourced by the *-test.sh scripts.
tap_n=0
tap_failed=0

check() {
	desc=$1
	shift
	tap_n=$((tap_n + 1))
	if out=$("$@" 2>&1); then
		echo "ok $tap_n - $desc"
	else
		echo "not ok $tap_n - $desc"
		printf '%s\n' "$out" | sed 's/^/# /'
		tap_failed=$((tap_failed + 1))
	fi
}

# abort the whole script: a step later checks depend on failed
bail() {
	echo "Bail out! $*"
	exit 1
}

finish() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}

# commands checks use
file_has() { grep -q -e "$2" "$1" || { echo "$1 lacks '$2'"; return 1; }; }
output_has() { pattern=$1; shift; o=$("$@" 2>&1); printf '%s\n' "$o" | grep -q -e "$pattern" || { printf '%s\n' "$o"; echo "output lacks '$pattern'"; return 1; }; }
is_file() { [ -f "$1" ] || { echo "missing file $1"; return 1; }; }
is_dir() { [ -d "$1" ] || { echo "missing directory $1"; return 1; }; }
has_mode() { m=$(stat -c %a "$1") && [ "$m" = "$2" ] || { echo "$1: mode $m, expected $2"; return 1; }; }
