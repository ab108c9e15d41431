#!/bin/sh
# Packaging: `cmake --install` into a temporary prefix, then build the
# example function against the installed library through pkg-config (shared
# and static), check the headers and the exported symbols, and run the
# example against a real metatokend: every invocation's context must carry
# the token curl gets.
#
# usage: test_client_install.sh BUILD_DIR SOURCE_DIR METATOKEND [SANITIZE]
set -eu

build=$1
src=$2
metatokend=$3
sanitize=${4:-}

tmp=$(mktemp -d)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "test_client_install: $*" >&2
	exit 1
}

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" ||
	{ cat "$tmp/install.log" >&2; fail "cmake --install failed"; }

pc=$(find "$tmp/prefix" -name metatoken.pc)
[ -n "$pc" ] || fail "no metatoken.pc installed"
libdir=$(dirname "$(dirname "$pc")")
for f in include/metatoken/metatoken.h include/metatoken/context.h bin/metatoken; do
	[ -e "$tmp/prefix/$f" ] || fail "$f not installed"
done
[ -e "$libdir/libmetatoken.so" ] || fail "libmetatoken.so not installed"
[ -e "$libdir/libmetatoken.a" ] || fail "libmetatoken.a not installed"
[ ! -e "$tmp/prefix/include/metatoken/private" ] || fail "private headers installed"

export PKG_CONFIG_PATH="$libdir/pkgconfig"
cflags=$(pkg-config --cflags metatoken)
libs=$(pkg-config --libs metatoken)
case "$cflags" in *"$tmp/prefix"*) ;; *) fail "pkg-config --cflags does not point into the prefix: $cflags" ;; esac

san=
[ -z "$sanitize" ] || san="-fsanitize=$sanitize"
cc=${CC:-cc}

# Each public header compiles on its own, as C and as C++.
for h in metatoken.h context.h; do
	printf '#include <metatoken/%s>\n' "$h" >"$tmp/h.c"
	$cc -std=c11 -Wall -Wextra -Werror $cflags -c "$tmp/h.c" -o "$tmp/h.o" ||
		fail "$h does not compile on its own"
	if command -v c++ >/dev/null; then
		c++ -x c++ -Wall -Werror $cflags -c "$tmp/h.c" -o "$tmp/h.o" ||
			fail "$h does not compile as C++"
	fi
done

# Only mtk_* leaves the shared library (not under sanitizers, which add their own).
if [ -z "$sanitize" ]; then
	extra=$(nm -D --defined-only "$libdir/libmetatoken.so" | awk '{ print $3 }' | grep -v '^mtk_' || true)
	[ -z "$extra" ] || fail "exported symbols beyond mtk_*: $extra"
fi

# The example, shared and static.
$cc -std=c11 -Wall -Wextra -Werror $san -o "$tmp/function" "$src/examples/function.c" $cflags $libs ||
	fail "the example does not build against the installed library"
# libmetatoken.a with its Requires.private linked dynamically: a fully static
# libcurl needs static builds of its own dependencies, which Debian lacks.
requires=$(pkg-config --print-requires-private metatoken | awk '{ print $1 }')
static_libs="$libdir/libmetatoken.a $(pkg-config --libs $requires) -pthread -lm"
$cc -std=c11 $san -o "$tmp/function-static" "$src/examples/function.c" $cflags $static_libs ||
	fail "the example does not link with libmetatoken.a and the Requires.private of metatoken.pc"

# A real metatokend on an ephemeral port. The output file exists before the
# server starts: the background job opens it only after the fork, and a
# failing sed would end this script (set -e) before the server wrote it.
: >"$tmp/server.out"
"$metatokend" --listen 127.0.0.1:0 --log-level warn >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
addr=
i=0
while [ $i -lt 100 ]; do
	addr=$(sed -n 's/^export YC_METADATA_ADDR=//p' "$tmp/server.out")
	[ -n "$addr" ] && break
	sleep 0.1
	i=$((i + 1))
done
[ -n "$addr" ] || { cat "$tmp/server.err" >&2; fail "metatokend did not start"; }

want=$(curl -fsS -H 'Metadata-Flavor: Google' \
	"http://$addr/computeMetadata/v1/instance/service-accounts/default/token" |
	sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$want" ] || fail "curl got no token from metatokend"

for exe in function function-static; do
	env -u GCE_METADATA_HOST YC_METADATA_ADDR="$addr" LD_LIBRARY_PATH="$libdir" \
		AWS_LAMBDA_FUNCTION_NAME=example \
		"$tmp/$exe" --invocations 3 --print-context >"$tmp/$exe.out" ||
		fail "$exe failed"
	[ "$(wc -l <"$tmp/$exe.out")" -eq 3 ] || fail "$exe: expected 3 invocations"
	n=$(grep -c "\"function_name\":\"example\".*\"token\":{\"access_token\":\"$want\",\"expires_in\":[1-9][0-9]*,\"token_type\":\"Bearer\"}" "$tmp/$exe.out" || true)
	[ "$n" -eq 3 ] || { cat "$tmp/$exe.out" >&2; fail "$exe: not every context carries the server's token"; }
	for id in req-1 req-2 req-3; do
		grep -q "\"request_id\":\"$id\"" "$tmp/$exe.out" || fail "$exe: no invocation $id"
	done
done

# The installed CLI prints the token curl gets.
got=$(env LD_LIBRARY_PATH="$libdir" "$tmp/prefix/bin/metatoken" token --endpoint "$addr")
[ "$got" = "$want" ] || fail "metatoken token printed something else than curl got"
echo "test_client_install: ok"
