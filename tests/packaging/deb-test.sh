#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the Debian packages from a copy of the source tree (dpkg-buildpackage
# -us -uc -b, the README's command), runs lintian, checks each package's files,
# fields and conffiles, unpacks them into a temp root (dpkg -x), runs the
# installed heraldd --check-config on the installed configuration (as shipped
# and after the one edit of a plugin drop-in), starts the installed daemon on a
# private session bus and finds it there with gdbus introspect and heraldctl.
# usage: deb-test.sh SRCDIR PLUGIN...   (the plugins of this meson build)
set -u
. "$(dirname "$0")/tap.sh"

srcdir=$1
shift
plugins="$*"
version=$(cd "$srcdir" && dpkg-parsechangelog -S Version) || bail "cannot read debian/changelog"
for tool in dpkg-buildpackage dh lintian dbus-daemon gdbus systemd-analyze; do
	command -v "$tool" >/dev/null || bail "$tool is not installed (debhelper, dpkg-dev, lintian, dbus, libglib2.0-bin, systemd)"
done
built() { case " $plugins " in *" $1 "*) return 0 ;; esac; return 1; }

tmp=$(mktemp -d)
bus_pid=
daemon_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	[ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# a clean copy: no build directories, no earlier package build
mkdir "$tmp/src"
(cd "$srcdir" && tar --exclude='./build*' --exclude='./obj-*' --exclude=./.git \
	--exclude=./tests/node/node_modules --exclude=./debian/tmp --exclude=./debian/.debhelper \
	--exclude='./debian/herald*/' --exclude=./debian/files --exclude='./debian/*.substvars' \
	--exclude='./debian/*.debhelper*' --exclude=./debian/debhelper-build-stamp -cf - .) |
	tar -C "$tmp/src" -xf - || bail "cannot copy the source tree"
start=$(date +%s)
(cd "$tmp/src" && HERALD_PLUGINS=$(echo "$plugins" | tr ' ' ,) \
	dpkg-buildpackage -us -uc -b > "$tmp/build.log" 2>&1) ||
	bail "dpkg-buildpackage failed: $(grep -E "error|FAILED" "$tmp/build.log" | tail -n 20)"
echo "# dpkg-buildpackage took $(($(date +%s) - start)) s"

arch=$(dpkg-architecture -qDEB_HOST_ARCH)
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
deb() { echo "$tmp/${1}_${version}_$arch.deb"; }
for pkg in herald herald-plugin-files herald-plugin-whatsapp; do
	check "package $pkg built" is_file "$(deb "$pkg")"
done
[ -f "$(deb herald)" ] || bail "no herald package"
for f in "$tmp"/*.deb; do
	echo "# $(basename "$f"): $(stat -c %s "$f") bytes, installed size $(dpkg-deb -f "$f" Installed-Size) KiB"
done

check "lintian: no error or warning (overrides are justified in debian/*.lintian-overrides)" \
	lintian --fail-on error,warning \
	"$tmp/herald_${version}_$arch.changes"

# package files
contents() { dpkg-deb -c "$(deb "$1")" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||'; }
contents herald > "$tmp/herald.list"
contents herald-plugin-files > "$tmp/files.list"
contents herald-plugin-whatsapp > "$tmp/whatsapp.list"
has() { grep -qx -e "$2" "$1" || { echo "$(basename "$1" .list) lacks $2"; return 1; }; }
lacks() { ! grep -qx -e "$2" "$1" || { echo "$(basename "$1" .list) has $2"; return 1; }; }
plugindir=/usr/lib/$ma/herald/plugins
for path in /usr/sbin/heraldd /usr/bin/heraldctl "/usr/lib/$ma/herald/libherald.so" \
	/etc/herald/herald.conf /etc/herald/herald.conf.d /lib/systemd/system/heraldd.service \
	/usr/share/dbus-1/system.d/org.herald.Host1.conf \
	/usr/share/dbus-1/interfaces/org.herald.Host1.xml \
	/usr/share/dbus-1/interfaces/org.herald.Host1.Plugin.xml \
	/usr/lib/sysusers.d/herald.conf /usr/lib/tmpfiles.d/herald.conf \
	/usr/share/locale/es/LC_MESSAGES/herald.mo /usr/share/man/man8/heraldd.8.gz \
	/usr/share/man/man1/heraldctl.1.gz /usr/share/man/man5/herald.conf.5.gz \
	/usr/share/doc/herald/copyright; do
	check "herald ships $path" has "$tmp/herald.list" "$path"
done
# package:plugin, for the plugins this tree builds
for entry in herald:ws-rooms herald:redis-bridge herald:stats-filter \
	files:files-minio files:clamav-scan whatsapp:notifier-whatsapp; do
	list=$tmp/${entry%%:*}.list
	plugin=${entry#*:}
	module=$plugindir/libherald-plugin-$plugin.so
	if built "$plugin"; then
		check "$plugin is in its package" has "$list" "$module"
	fi
	for other in "$tmp/herald.list" "$tmp/files.list" "$tmp/whatsapp.list"; do
		[ "$other" = "$list" ] && continue
		check "$plugin is in no other package ($(basename "$other" .list))" lacks "$other" "$module"
	done
done
check "no template in herald (they belong to herald-plugin-files)" sh -c \
	'! grep "^/usr/share/herald/templates/." "$1"' sh "$tmp/herald.list"
if built files-minio; then
	check "herald-plugin-files ships the files-minio templates" sh -c \
		'grep "^/usr/share/herald/templates/.*\.xlsx$" "$1"' sh "$tmp/files.list"
fi
check "herald-plugin-files ships its drop-in" has "$tmp/files.list" /etc/herald/herald.conf.d/50-herald-plugin-files.conf
check "herald-plugin-whatsapp ships its drop-in" has "$tmp/whatsapp.list" /etc/herald/herald.conf.d/50-herald-plugin-whatsapp.conf

# fields and conffiles
field() { dpkg-deb -f "$(deb "$1")" "$2"; }
check "herald Recommends redis-server" output_has 'redis-server' field herald Recommends
check "herald-plugin-files Suggests clamav-daemon" output_has 'clamav-daemon' field herald-plugin-files Suggests
for pkg in herald-plugin-files herald-plugin-whatsapp; do
	check "$pkg depends on herald (= $version)" output_has "herald (= $version)" field "$pkg" Depends
done
conffiles() { dpkg-deb --info "$(deb "$1")" conffiles; }
check "herald.conf is a conffile" output_has '^/etc/herald/herald.conf$' conffiles herald
check "the files drop-in is a conffile" output_has '^/etc/herald/herald.conf.d/50-herald-plugin-files.conf$' conffiles herald-plugin-files
check "the whatsapp drop-in is a conffile" output_has '^/etc/herald/herald.conf.d/50-herald-plugin-whatsapp.conf$' conffiles herald-plugin-whatsapp
check "herald.conf is not world-readable in the package" output_has '^-rw-r----- .*etc/herald/herald.conf$' \
	dpkg-deb -c "$(deb herald)"
check "the files drop-in is not world-readable in the package" \
	output_has '^-rw-r----- .*etc/herald/herald.conf.d/50-herald-plugin-files.conf$' \
	dpkg-deb -c "$(deb herald-plugin-files)"
check "the whatsapp drop-in is not world-readable in the package" \
	output_has '^-rw-r----- .*etc/herald/herald.conf.d/50-herald-plugin-whatsapp.conf$' \
	dpkg-deb -c "$(deb herald-plugin-whatsapp)"
check "postinst creates the herald user (sysusers, else adduser)" sh -c \
	'dpkg-deb --info "$1" postinst | grep -q systemd-sysusers && dpkg-deb --info "$1" postinst | grep -q "adduser --system"' \
	sh "$(deb herald)"

# unpacked into a temp root
root=$tmp/root
for pkg in herald herald-plugin-files herald-plugin-whatsapp; do
	dpkg -x "$(deb "$pkg")" "$root" || bail "dpkg -x $pkg failed"
done
installed() {
	LD_LIBRARY_PATH=$root/usr/lib/$ma/herald HERALD_PLUGIN_DIR=$root$plugindir "$root/usr/sbin/heraldd" "$@"
}
conf=$root/etc/herald/herald.conf
# the daemon in the background: env execs heraldd, so $! is its PID (a shell
# function would put a subshell in between)
daemon_env="LD_LIBRARY_PATH=$root/usr/lib/$ma/herald HERALD_PLUGIN_DIR=$root$plugindir"
check "installed heraldd --check-config: the installed configuration (drop-ins as shipped) is OK" \
	output_has '^configuration OK$' installed --config "$conf" --check-config

# the one edit that enables a plugin package
one_edit() {
	file=$1
	line=$2
	shift 2
	cp "$file" "$tmp/saved.conf"
	sed -i "s/^#plugins=$line\$/plugins=$line/" "$file"
	grep -qx "plugins=$line" "$file" || { echo "no line #plugins=$line in $file"; cp "$tmp/saved.conf" "$file"; return 1; }
	missing=
	for p in "$@"; do built "$p" || missing="$missing $p"; done
	o=$(installed --config "$conf" --check-config 2>&1)
	rc=$?
	cp "$tmp/saved.conf" "$file"
	printf '%s\n' "$o"
	if [ -z "$missing" ]; then
		[ $rc -eq 0 ]
	else
		# this tree lacks a plugin: the check names its module
		echo "(not built here:$missing)"
		first=$(echo $missing | cut -d' ' -f1)
		[ $rc -eq 1 ] && printf '%s\n' "$o" | grep -q "libherald-plugin-$first.so not found"
	fi
}
dropins=$root/etc/herald/herald.conf.d
check "herald-plugin-files: uncommenting one line enables files-minio and clamav-scan" \
	one_edit "$dropins/50-herald-plugin-files.conf" 'ws-rooms;stats-filter;files-minio;clamav-scan' files-minio clamav-scan
check "herald-plugin-whatsapp: uncommenting one line enables notifier-whatsapp" \
	one_edit "$dropins/50-herald-plugin-whatsapp.conf" 'ws-rooms;stats-filter;notifier-whatsapp' notifier-whatsapp
check "herald-plugin-whatsapp: its other line enables it with the files plugins" \
	one_edit "$dropins/50-herald-plugin-whatsapp.conf" \
	'ws-rooms;stats-filter;notifier-whatsapp;files-minio;clamav-scan' notifier-whatsapp files-minio clamav-scan

unit=$root/lib/systemd/system/heraldd.service
sed "s|/usr/sbin/heraldd|$root/usr/sbin/heraldd|g" "$unit" > "$tmp/heraldd.service"
check "systemd-analyze verify accepts the packaged heraldd.service" systemd-analyze verify --man=no "$tmp/heraldd.service"

# dpkg itself, into a temp root (maintainer scripts run without chroot, with
# DPKG_ROOT): postinst makes the user; an edited herald.conf survives a
# reinstall and an upgrade whose herald.conf changed
droot=$tmp/dpkg-root
mkdir -p "$droot/var/lib/dpkg/info" "$droot/var/lib/dpkg/updates" "$droot/etc"
touch "$droot/var/lib/dpkg/status" "$droot/var/lib/dpkg/available"
cp /etc/passwd /etc/group "$droot/etc/"
ddpkg() { dpkg --root="$droot" --force-script-chrootless --force-depends --force-confdef --force-confold "$@" < /dev/null; }
check "dpkg installs herald into a temp root" ddpkg -i "$(deb herald)"
check "postinst created the system user herald" sh -c \
	'grep -E "^herald:x:[0-9]+:[0-9]+:.*:/var/lib/herald:/usr/sbin/nologin$" "$1/etc/passwd"' sh "$droot"
check "herald.conf is root:herald 0640 after postinst" sh -c \
	'g=$(awk -F: "\$1 == \"herald\" { print \$3 }" "$1/etc/group"); s=$(stat -c "%u:%g %a" "$1/etc/herald/herald.conf"); echo "$s (herald gid $g)"; [ "$s" = "0:$g 640" ]' sh "$droot"
for pkg in herald-plugin-files herald-plugin-whatsapp; do
	check "dpkg installs $pkg into the temp root" ddpkg -i "$(deb "$pkg")"
	check "50-$pkg.conf is root:herald 0640 after postinst" sh -c \
		'g=$(awk -F: "\$1 == \"herald\" { print \$3 }" "$1/etc/group"); s=$(stat -c "%u:%g %a" "$1/etc/herald/herald.conf.d/50-$2.conf"); echo "$s (herald gid $g)"; [ "$s" = "0:$g 640" ]' sh "$droot" "$pkg"
done
check "purging the plugin packages removes their drop-ins" sh -c \
	'dpkg --root="$1" --force-script-chrootless --force-depends --purge herald-plugin-files herald-plugin-whatsapp < /dev/null &&
	 [ ! -e "$1/etc/herald/herald.conf.d/50-herald-plugin-files.conf" ] && [ ! -e "$1/etc/herald/herald.conf.d/50-herald-plugin-whatsapp.conf" ]' sh "$droot"
check "/var/lib/herald belongs to herald (tmpfiles)" sh -c \
	'[ "$(stat -c %U "$1/var/lib/herald" 2>&1)" != root ] && [ "$(stat -c %u "$1/var/lib/herald")" = "$(awk -F: "\$1 == \"herald\" { print \$3 }" "$1/etc/passwd")" ]' sh "$droot"
echo "[host]" >> "$droot/etc/herald/herald.conf"
echo "listen=127.0.0.1:9999" >> "$droot/etc/herald/herald.conf"
cp "$droot/etc/herald/herald.conf" "$tmp/edited.conf"
check "reinstalling herald keeps the edited herald.conf" sh -c \
	'dpkg --root="$1" --force-script-chrootless --force-depends -i "$2" < /dev/null && cmp "$1/etc/herald/herald.conf" "$3"' \
	sh "$droot" "$(deb herald)" "$tmp/edited.conf"
# the next version, whose herald.conf differs from this one
dpkg-deb -R "$(deb herald)" "$tmp/next" || bail "dpkg-deb -R failed"
echo "# changed upstream" >> "$tmp/next/etc/herald/herald.conf"
sed -i "s/^Version: .*/Version: $version+next1/" "$tmp/next/DEBIAN/control"
dpkg-deb -b "$tmp/next" "$tmp/herald-next.deb" > /dev/null || bail "dpkg-deb -b failed"
check "upgrading keeps the edited herald.conf, the new one as .dpkg-dist" sh -c \
	'dpkg --root="$1" --force-script-chrootless --force-depends --force-confdef --force-confold -i "$2" < /dev/null &&
	 cmp "$1/etc/herald/herald.conf" "$3" && grep -q "^# changed upstream" "$1/etc/herald/herald.conf.dpkg-dist"' \
	sh "$droot" "$tmp/herald-next.deb" "$tmp/edited.conf"
check "dpkg installs the plugin packages beside it" ddpkg -i "$(deb herald-plugin-files)" "$(deb herald-plugin-whatsapp)"
check "purging herald removes /var/lib/herald and herald.conf" sh -c \
	'dpkg --root="$1" --force-script-chrootless --force-depends --purge herald-plugin-files herald-plugin-whatsapp herald < /dev/null &&
	 [ ! -e "$1/var/lib/herald" ] && [ ! -e "$1/etc/herald/herald.conf" ]' sh "$droot"

# the installed daemon on a private session bus
dbus-daemon --session --fork --print-pid=1 --print-address=1 > "$tmp/bus" 2> "$tmp/bus.log" ||
	bail "dbus-daemon did not start: $(cat "$tmp/bus.log")"
DBUS_SESSION_BUS_ADDRESS=$(sed -n 1p "$tmp/bus")
bus_pid=$(sed -n 2p "$tmp/bus")
export DBUS_SESSION_BUS_ADDRESS
cat > "$dropins/99-test.conf" <<EOC
[host]
listen=unix:$tmp/http.sock
dbus=session
state-dir=$tmp/state
EOC
env $daemon_env "$root/usr/sbin/heraldd" --config "$conf" > "$tmp/heraldd.log" 2>&1 &
daemon_pid=$!
gdbus wait --session --timeout 60 org.herald.Host1 || bail "the installed heraldd did not appear on the bus: $(cat "$tmp/heraldd.log")"
gdbus introspect --session --dest org.herald.Host1 --object-path /org/herald/Host1 --recurse > "$tmp/introspect" 2>&1
check "gdbus introspect shows org.herald.Host1" file_has "$tmp/introspect" 'interface org.herald.Host1 {'
check "gdbus introspect shows the plugin objects" file_has "$tmp/introspect" 'interface org.herald.Host1.Plugin {'
check "gdbus introspect shows the ws-rooms plugin object" file_has "$tmp/introspect" 'node /org/herald/Host1/Plugins/ws_rooms'
check "gdbus introspect shows the Version property of this package" file_has "$tmp/introspect" "readonly s Version = '$version'"
check "the installed heraldctl status exits 0 (healthy)" sh -c \
	'"$1/usr/bin/heraldctl" --session status; rc=$?; echo "exit $rc"; [ $rc -eq 0 ]' sh "$root"
check "heraldctl status lists the default plugins" output_has 'ws-rooms' "$root/usr/bin/heraldctl" --session status

# the one edit, for real: every plugin package enabled, the daemon restarted
kill "$daemon_pid"
wait "$daemon_pid"
daemon_pid=
all='ws-rooms;stats-filter;notifier-whatsapp;files-minio;clamav-scan'
if built files-minio && built clamav-scan && built notifier-whatsapp; then
	sed -i "s/^#plugins=$all\$/plugins=$all/" "$dropins/50-herald-plugin-whatsapp.conf"
	check "the edit took" file_has "$dropins/50-herald-plugin-whatsapp.conf" "^plugins=$all\$"
	check "--check-config with every plugin" output_has "^configuration OK" installed --config "$conf" --check-config
	env $daemon_env "$root/usr/sbin/heraldd" --config "$conf" > "$tmp/heraldd-all.log" 2>&1 &
	daemon_pid=$!
	gdbus wait --session --timeout 60 org.herald.Host1 ||
		bail "heraldd with every plugin did not appear on the bus: $(cat "$tmp/heraldd-all.log")"
	"$root/usr/bin/heraldctl" --session status > "$tmp/status" 2>&1
	echo "# heraldctl status exited $? (clamd is not running here: clamav-scan may be degraded)"
	for p in ws-rooms stats-filter notifier-whatsapp files-minio clamav-scan; do
		check "after the one edit, heraldctl status shows $p" file_has "$tmp/status" "$p"
	done
	check "no plugin failed to load after the one edit" sh -c '! grep -i "failed" "$1"' sh "$tmp/status"
fi

finish
