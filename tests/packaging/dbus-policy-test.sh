#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The D-Bus system policy data/org.herald.Host1.conf on a private system-style bus:
# Debian's /usr/share/dbus-1/system.conf with its listen address, user, fork,
# pid file and includes replaced by a socket in a temp dir and our policy.
# Checks, as root and as nobody: who may own org.herald.Host1, read properties,
# call GetStats and Reload, against the real heraldd.
# usage: dbus-policy-test.sh POLICY HERALDD HERALDCTL PLUGIN_DIR PLUGIN
set -u
. "$(dirname "$0")/tap.sh"

policy=$1
heraldd=$2
heraldctl=$3
plugin_dir=$4
plugin=$5
name=org.herald.Host1
path=/org/herald/Host1
plugin_path=$path/Plugins/$(echo "$plugin" | tr - _)

[ "$(id -u)" = 0 ] || bail "must run as root (it calls as root and as nobody)"
for tool in dbus-daemon dbus-send gdbus setpriv; do
	command -v "$tool" >/dev/null || bail "$tool is not installed"
done
[ -f /usr/share/dbus-1/system.conf ] || bail "/usr/share/dbus-1/system.conf missing (package dbus)"

tmp=$(mktemp -d)
bus_pid=
daemon_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	[ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
chmod 0755 "$tmp"

# the system bus configuration, less what would touch the real one
sed -e '/<user>/d' -e '/<fork\/>/d' -e '/<pidfile>/d' -e '/<syslog\/>/d' \
    -e '/<listen>/d' -e '/<include/d' -e '/<servicehelper>/d' \
    -e '/<standard_system_servicedirs\/>/d' \
    -e "s|</busconfig>|  <listen>unix:path=$tmp/system_bus_socket</listen>\n  <include>$policy</include>\n</busconfig>|" \
    /usr/share/dbus-1/system.conf > "$tmp/system.conf"
grep -q "<include>$policy</include>" "$tmp/system.conf" || bail "could not derive the bus configuration"
dbus-daemon --config-file="$tmp/system.conf" --fork --print-pid=1 --print-address=1 > "$tmp/bus" 2> "$tmp/bus.log" ||
	bail "dbus-daemon did not start: $(cat "$tmp/bus.log")"
DBUS_SYSTEM_BUS_ADDRESS=$(sed -n 1p "$tmp/bus")
bus_pid=$(sed -n 2p "$tmp/bus")
export DBUS_SYSTEM_BUS_ADDRESS
unset DBUS_SESSION_BUS_ADDRESS

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
request_name() {
	dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
		org.freedesktop.DBus.RequestName "string:$1" uint32:4
}
# succeeds, printing the reply, when the call is allowed
call() { gdbus call --system --dest "$name" "$@"; }
# succeeds when the bus refuses the call with AccessDenied (not any other error)
denied() {
	if o=$("$@" 2>&1); then
		printf '%s\n' "$o"
		echo "the call was allowed"
		return 1
	fi
	printf '%s\n' "$o" | grep -q 'org.freedesktop.DBus.Error.AccessDenied' ||
		{ printf '%s\n' "$o"; echo "failed, but not with AccessDenied"; return 1; }
}

# ownership, before heraldd holds the name
check "root may own $name" output_has 'uint32 1' request_name "$name"
check "nobody may not own $name" denied as_nobody dbus-send --system --print-reply \
	--dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.RequestName \
	"string:$name" uint32:4
check "the policy grants no other org.herald name, even to root" denied request_name org.herald.Other

# the real daemon as root on this bus
cat > "$tmp/herald.conf" <<EOC
[host]
listen=unix:$tmp/http.sock
plugins=$plugin
dbus=system
state-dir=$tmp/state
EOC
HERALD_PLUGIN_DIR=$plugin_dir "$heraldd" --config "$tmp/herald.conf" > "$tmp/heraldd.log" 2>&1 &
daemon_pid=$!
gdbus wait --system --timeout 60 "$name" || bail "heraldd did not own $name: $(cat "$tmp/heraldd.log")"

for who in root nobody; do
	run=""
	[ "$who" = nobody ] && run=as_nobody
	check "$who may read the Version property" output_has "'0\\." \
		$run gdbus call --system --dest "$name" --object-path "$path" \
		--method org.freedesktop.DBus.Properties.Get org.herald.Host1 Version
	check "$who may read all properties" output_has "'InstanceId'" \
		$run gdbus call --system --dest "$name" --object-path "$path" \
		--method org.freedesktop.DBus.Properties.GetAll org.herald.Host1
	check "$who may call GetStats" output_has '{' \
		$run gdbus call --system --dest "$name" --object-path "$path" \
		--method org.herald.Host1.GetStats
	check "$who may call a plugin's GetStats" output_has '{' \
		$run gdbus call --system --dest "$name" --object-path "$plugin_path" \
		--method org.herald.Host1.Plugin.GetStats
	check "$who may list the objects (ObjectManager)" output_has "$plugin_path" \
		$run gdbus call --system --dest "$name" --object-path "$path" \
		--method org.freedesktop.DBus.ObjectManager.GetManagedObjects
	check "$who may introspect" output_has 'interface org.herald.Host1 ' \
		$run gdbus introspect --system --dest "$name" --object-path "$path"
	check "$who may run heraldctl status" output_has 'Herald 0\.' $run "$heraldctl" status
done
check "nobody may not write a property" denied as_nobody gdbus call --system --dest "$name" \
	--object-path "$path" --method org.freedesktop.DBus.Properties.Set \
	org.herald.Host1 Connections '<uint32 5>'
check "nobody may not call Reload" denied as_nobody gdbus call --system --dest "$name" \
	--object-path "$path" --method org.herald.Host1.Reload
check "heraldctl reload as nobody exits 3 (refused)" sh -c \
	'setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$1" reload; [ $? -eq 3 ]' sh "$heraldctl"
check "root may call Reload" call --object-path "$path" --method org.herald.Host1.Reload
check "heraldd reloaded once: root's call only" sh -c \
	'n=$(grep -c "configuration reloaded" "$1"); echo "$n reloads"; [ "$n" -eq 1 ]' sh "$tmp/heraldd.log"
check "root may not take the name while heraldd holds it" output_has 'uint32 3' request_name "$name"

finish
