#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Upload throughput through heraldd (validate + scan request + store) to s3rver 5
# or the local backend; a benchmark, not a test.
# usage: bench-upload.sh BUILDDIR [s3|local] [COUNT] [SIZE_MIB]
set -eu
build=$1; backend=${2:-s3}; count=${3:-20}; size=${4:-5}
src=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$src/../../.." && pwd)
dir=$(mktemp -d)
cleanup() { [ -n "${hpid:-}" ] && kill "$hpid" 2>/dev/null; [ -n "${spid:-}" ] && kill "$spid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hport=$(free_port); sport=$(free_port)
secret=bench-secret-of-64-bytes-at-least-so-that-every-hs-algorithm-accepts-it
printf '%s\n' "$secret" > "$dir/jwt.secret"
cat > "$dir/herald.conf" <<CONF
[host]
listen=127.0.0.1:$hport
dbus=none
state-dir=$dir/state
plugins=files-minio
[auth]
algorithms=HS256
secret-file=$dir/jwt.secret
[files-minio]
backend=$backend
endpoint=http://127.0.0.1:$sport
access-key=S3RVER
secret-key=S3RVER
upload-rate-limit=0
max-file-size-mb=$((size + 1))
templates-dir=$root/data/templates
CONF
mkdir -p "$dir/state" "$dir/s3"
if [ "$backend" = s3 ]; then
	HERALD_TEST_NODE_DIR=$root/tests/node node "$src/s3rver.js" "$sport" "$dir/s3" > "$dir/s3rver.log" 2>&1 &
	spid=$!
	for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$sport/" && break; sleep 0.1; done
fi
HERALD_PLUGIN_DIR=$build/plugins/files-minio "$build/host/heraldd" --config "$dir/herald.conf" > "$dir/heraldd.log" 2>&1 &
hpid=$!
token=$(/usr/bin/python3 -c "import jwt,time; print(jwt.encode({'sub':'bench','role':'ADVISOR','exp':int(time.time())+3600}, '$secret', algorithm='HS256'))")
head -c $((size * 1024 * 1024)) /dev/zero | tr '\0' 'a' > "$dir/data.csv"
for i in $(seq 50); do curl -sf "http://127.0.0.1:$hport/health" > /dev/null && break; sleep 0.1; done
sleep 1 # the bucket check
start=$(date +%s.%N)
for i in $(seq "$count"); do
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" -F "file=@$dir/data.csv" "http://127.0.0.1:$hport/v1/files/upload")
	[ "$code" = 201 ] || { echo "upload $i: HTTP $code" >&2; cat "$dir/heraldd.log" >&2; exit 1; }
done
end=$(date +%s.%N)
peak=$(grep VmHWM "/proc/$hpid/status" | awk '{print $2}')
awk -v s="$start" -v e="$end" -v n="$count" -v m="$size" -v p="$peak" -v b="$backend" 'BEGIN {
	printf "%s: %d sequential uploads of %d MiB in %.2f s = %.1f MiB/s; heraldd peak RSS %d KiB\n", b, n, m, e - s, n * m / (e - s), p }'
