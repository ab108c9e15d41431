#!/bin/sh
# The shared library exports exactly the functions of client/exports.txt:
# an accidental export (a helper without static, a test seam) or a lost
# one fails here. Under sanitizers, which add exports of their own, only
# the mtk_* ones are compared.
#
# usage: test_client_exports.sh LIBMETATOKEN_SO EXPORTS_TXT [SANITIZE]
set -eu

lib=$1
list=$2
sanitize=${3:-}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -f "$lib" ] || { echo "FAIL: no library at $lib" >&2; exit 1; }
grep -v '^#' "$list" | grep -v '^$' >"$tmp/want"
LC_ALL=C sort -c "$tmp/want" || { echo "FAIL: $list is not sorted" >&2; exit 1; }

nm -D --defined-only "$lib" | awk '{ print $3 }' | LC_ALL=C sort -u >"$tmp/all"
if [ -n "$sanitize" ]; then
	grep '^mtk_' "$tmp/all" >"$tmp/have" || true
else
	cp "$tmp/all" "$tmp/have"
fi

if ! diff -u "$tmp/want" "$tmp/have" >"$tmp/diff"; then
	echo "FAIL: libmetatoken.so's exports differ from $list (+ exported, not listed; - listed, not exported):" >&2
	sed -n '3,$p' "$tmp/diff" | grep '^[-+]' >&2
	exit 1
fi
echo "ok: $(wc -l <"$tmp/have") exports, as listed"
