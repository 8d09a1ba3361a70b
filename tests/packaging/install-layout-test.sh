#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# `meson install --destdir` of this build: every file where the FHS and Debian
# expect it (relative to the configured directories), with the right modes and
# nothing else; the installed daemon checks the installed configuration; the
# installed unit passes `systemd-analyze verify` and its exposure score is low.
# usage: install-layout-test.sh BUILDDIR PREFIX BINDIR SBINDIR LIBDIR SYSCONFDIR
#        DATADIR MANDIR LOCALEDIR UNITDIR LINGUAS PLUGIN...
set -u
. "$(dirname "$0")/tap.sh"

builddir=$1 prefix=$2 bindir=$3 sbindir=$4 libdir=$5 sysconfdir=$6 datadir=$7
mandir=$8 localedir=$9
shift 9
unitdir=$1 linguas=$2
shift 2
plugins="$*"
max_exposure=2.0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root
meson install -C "$builddir" --destdir "$dest" --no-rebuild --quiet > "$tmp/install.log" 2>&1 ||
	bail "meson install failed: $(cat "$tmp/install.log")"

# path mode: everything meson installs, and nothing more
plugindir=$libdir/herald/plugins
{
	echo "$sbindir/heraldd 755"
	echo "$bindir/heraldctl 755"
	echo "$libdir/herald/libherald.so 755"
	for p in $plugins; do
		echo "$plugindir/libherald-plugin-$p.so 755"
	done
	echo "$sysconfdir/herald/herald.conf 640"
	echo "$datadir/dbus-1/interfaces/org.herald.Host1.xml 644"
	echo "$datadir/dbus-1/interfaces/org.herald.Host1.Plugin.xml 644"
	echo "$datadir/dbus-1/system.d/org.herald.Host1.conf 644"
	echo "$unitdir/heraldd.service 644"
	echo "$prefix/lib/sysusers.d/herald.conf 644"
	echo "$prefix/lib/tmpfiles.d/herald.conf 644"
	for l in $linguas; do
		echo "$localedir/$l/LC_MESSAGES/herald.mo 644"
	done
	echo "$mandir/man8/heraldd.8 644"
	echo "$mandir/man1/heraldctl.1 644"
	echo "$mandir/man5/herald.conf.5 644"
} > "$tmp/expected"

while read -r path mode; do
	check "installed $path (mode $mode)" has_mode "$dest$path" "$mode"
done < "$tmp/expected"
check "the drop-in directory $sysconfdir/herald/herald.conf.d/ exists" is_dir "$dest$sysconfdir/herald/herald.conf.d"

# plugins may install their own data under $datadir/herald/
(cd "$dest" && find . -type f -o -type l) | sed 's|^\.||' | sort > "$tmp/installed"
cut -d' ' -f1 "$tmp/expected" | sort > "$tmp/expected-paths"
check "nothing installed outside the expected files (or $datadir/herald/)" sh -c \
	'comm -23 "$1" "$2" | grep -v "^$3/herald/"; [ -z "$(comm -23 "$1" "$2" | grep -v "^$3/herald/")" ]' \
	sh "$tmp/installed" "$tmp/expected-paths" "$datadir"

# FHS: nothing of ours in /usr/local when the prefix is /usr, programs in bin dirs
if [ "$prefix" = /usr ]; then
	check "nothing under /usr/local" sh -c '! grep "^/usr/local/" "$1"' sh "$tmp/installed"
fi

unit=$dest$unitdir/heraldd.service
check "unit: ExecStartPre runs --check-config" file_has "$unit" "^ExecStartPre=$sbindir/heraldd --check-config\$"
check "unit: ExecStart is the installed heraldd" file_has "$unit" "^ExecStart=$sbindir/heraldd\$"
check "unit: ExecReload sends SIGHUP" file_has "$unit" '^ExecReload=/bin/kill -HUP \$MAINPID$'
check "unit: User=herald" file_has "$unit" '^User=herald$'
check "unit: ProtectSystem=strict" file_has "$unit" '^ProtectSystem=strict$'
check "unit: StateDirectory=herald" file_has "$unit" '^StateDirectory=herald$'
check "unit: Type=dbus with BusName" file_has "$unit" '^BusName=org.herald.Host1$'
check "sysusers: the herald user" file_has "$dest$prefix/lib/sysusers.d/herald.conf" '^u herald '
check "tmpfiles: /var/lib/herald" file_has "$dest$prefix/lib/tmpfiles.d/herald.conf" '/var/lib/herald'

check "heraldd finds libherald in $libdir/herald (RUNPATH)" sh -c \
	'r=$(readelf -d "$1" | sed -n "s/.*(R.*PATH).*\[\(.*\)\]/\1/p"); echo "runpath: $r"; [ "$r" = "$2" ]' \
	sh "$dest$sbindir/heraldd" "$libdir/herald"

# the installed daemon, its plugins and its configuration
run_installed() {
	LD_LIBRARY_PATH=$dest$libdir/herald HERALD_PLUGIN_DIR=$dest$plugindir "$dest$sbindir/heraldd" "$@"
}
check "installed heraldd --check-config accepts the installed herald.conf" output_has \
	'^configuration OK$' run_installed --config "$dest$sysconfdir/herald/herald.conf" --check-config
check "the installed herald.conf is the installed heraldd's --dump-config" sh -c \
	'LD_LIBRARY_PATH=$2 HERALD_PLUGIN_DIR=$3 "$1" --dump-config | cmp - "$4"' \
	sh "$dest$sbindir/heraldd" "$dest$libdir/herald" "$dest$plugindir" "$dest$sysconfdir/herald/herald.conf"

# herald.conf(5) documents every group and key of herald.conf
man5=$dest$mandir/man5/herald.conf.5
# roff writes '-' as '\-'
sed 's/\\-/-/g' "$man5" > "$tmp/herald.conf.5"
grep '^\[' "$dest$sysconfdir/herald/herald.conf" | sort -u > "$tmp/groups"
check "herald.conf(5) has a section per group of herald.conf ($(wc -l < "$tmp/groups"))" sh -c \
	'while read -r g; do grep -qF ".SH \"$g\"" "$2" || { echo "no section $g"; exit 1; }; done < "$1"' \
	sh "$tmp/groups" "$tmp/herald.conf.5"
sed -n 's/^#\([a-z][a-z0-9-]*\)=.*/\1/p' "$dest$sysconfdir/herald/herald.conf" | sort -u > "$tmp/keys"
check "herald.conf(5) documents every key of herald.conf ($(wc -l < "$tmp/keys"))" sh -c \
	'while read -r k; do grep -q "^.fB$k=" "$2" || { echo "no key $k"; exit 1; }; done < "$1"' \
	sh "$tmp/keys" "$tmp/herald.conf.5"
for page in "$mandir/man8/heraldd.8" "$mandir/man1/heraldctl.1" "$mandir/man5/herald.conf.5"; do
	check "$(basename "$page") formats without groff warnings" sh -c \
		'o=$(groff -man -ww -z "$1" 2>&1); printf "%s" "$o"; [ -z "$o" ]' sh "$dest$page"
done

# systemd-analyze on the installed unit, its programs pointed into the destdir
if command -v systemd-analyze >/dev/null; then
	sed "s|$sbindir/heraldd|$dest$sbindir/heraldd|g" "$unit" > "$tmp/heraldd.service"
	check "systemd-analyze verify accepts heraldd.service" systemd-analyze verify --man=no "$tmp/heraldd.service"
	score=$(systemd-analyze security --offline=yes "$tmp/heraldd.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for heraldd.service: \([0-9.]*\).*/\1/p')
	echo "# systemd-analyze security --offline=yes: exposure $score"
	check "exposure score $score is at most $max_exposure" awk -v s="$score" -v m="$max_exposure" \
		'BEGIN { exit !(s != "" && s + 0 <= m + 0) }'
else
	check "systemd-analyze is installed (package systemd)" false
fi

finish
