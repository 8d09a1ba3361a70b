#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# usage: check-exports.sh NM MODULE — the module must export exactly one symbol
set -eu
exports=$("$1" -D --defined-only "$2" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sort)
if [ "$exports" != "herald_plugin_query_type" ]; then
	echo "unexpected exports of $2:" >&2
	echo "$exports" >&2
	exit 1
fi
