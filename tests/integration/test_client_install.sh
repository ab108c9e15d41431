#!/bin/sh
# Packaging: `cmake --install` into a temporary prefix, then build the
# example handler against the installed library through pkg-config (linking
# the shared and the static library), check the headers and the exported
# symbols, and run the example under the installed metatoken-bootstrap: a
# Runtime API stand-in (python3) that sends no token header, so the context
# must carry the token a real metatokend's metadata path gives curl. The
# installed metatoken-python-runtime serves the same stand-in, and the
# installed `metatoken invoke MODULE.FUNCTION` runs a handler once.
#
# usage: test_client_install.sh BUILD_DIR SOURCE_DIR METATOKEND [SANITIZE]
set -eu

build=$1
src=$2
metatokend=$3
sanitize=${4:-}

tmp=$(mktemp -d)
server_pid=
api_pid=
cleanup() {
	for p in $server_pid $api_pid; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
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
for f in include/metatoken/metatoken.h include/metatoken/context.h include/metatoken/runtime.h \
	bin/metatoken bin/metatoken-bootstrap bin/metatoken-python-runtime \
	share/metatoken/python/metatoken_runtime/bootstrap.py; do
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
for h in metatoken.h context.h runtime.h aws.h testing.h; do
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

# libcurl is loaded on first use, never linked: neither the library nor the
# runtime need it to start, and metatoken.pc does not ask for it.
for f in "$libdir/libmetatoken.so" "$tmp/prefix/bin/metatoken-bootstrap"; do
	! readelf -d "$f" | grep -q 'NEEDED.*libcurl' || fail "$f links libcurl"
done
! pkg-config --print-requires-private metatoken | grep -q libcurl ||
	fail "metatoken.pc requires libcurl"

# The example handler, linked with the shared and with the static library.
$cc -std=c11 -Wall -Wextra -Werror $san -shared -fPIC -o "$tmp/libhello.so" \
	"$src/examples/hello.c" $cflags $libs ||
	fail "the example does not build against the installed library"
# libmetatoken.a, with its Requires.private linked dynamically (libcurl is
# no longer one of them: -ldl is what loads it).
requires=$(pkg-config --print-requires-private metatoken | awk '{ print $1 }')
static_libs="$libdir/libmetatoken.a $(pkg-config --libs $requires) -pthread -lm -ldl"
$cc -std=c11 $san -shared -fPIC -o "$tmp/libhello-static.so" "$src/examples/hello.c" \
	$cflags $static_libs ||
	fail "the example does not link with libmetatoken.a and the Requires.private of metatoken.pc"
# The examples' own Makefile, on a copy (the source tree stays clean).
cp -R "$src/examples" "$tmp/examples"
make -s -C "$tmp/examples" CC="$cc" CFLAGS="-O2 -Wall -Wextra -Werror $san" \
	>/dev/null 2>"$tmp/make.err" || { cat "$tmp/make.err" >&2; fail "examples/Makefile failed"; }
[ -e "$tmp/examples/libhello.so" ] && [ -e "$tmp/examples/liberror.so" ] ||
	fail "examples/Makefile built no libhello.so and liberror.so"
# And with CMake: find_package(metatoken) from the prefix, its imported
# target metatoken::metatoken (examples/CMakeLists.txt).
cmake -S "$tmp/examples" -B "$tmp/examples-cmake" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
	-DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$san" >"$tmp/cmake.log" 2>&1 &&
	cmake --build "$tmp/examples-cmake" >>"$tmp/cmake.log" 2>&1 ||
	{ cat "$tmp/cmake.log" >&2; fail "examples/CMakeLists.txt failed against the installed package"; }
[ -e "$tmp/examples-cmake/libhello.so" ] || fail "examples/CMakeLists.txt built no libhello.so"

# The version is written once (CMakeLists.txt's project()); everything
# installed says the same.
version=$(sed -n 's/^project(metatoken VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[ -n "$version" ] || fail "no version in CMakeLists.txt's project()"
[ "$(pkg-config --modversion metatoken)" = "$version" ] || fail "metatoken.pc is not version $version"
grep -q "\"$version\"" "$tmp/prefix/include/metatoken/version.h" || fail "version.h is not $version"
[ "$("$tmp/prefix/bin/metatoken" --version)" = "metatoken $version" ] ||
	fail "metatoken --version is not $version"
[ "$("$metatokend" --version)" = "metatokend $version" ] || fail "metatokend --version is not $version"
grep -q "\"$version\"" "$(find "$tmp/prefix" -name metatokenConfigVersion.cmake)" ||
	fail "the CMake package is not version $version"

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

# A stand-in Runtime API: one invocation per run (request id req-N), the
# answer saved to $tmp/response.N; no token header, so the token must come
# from the metadata service.
cat >"$tmp/api.py" <<'PY'
import http.server, sys
n = [0]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        n[0] += 1
        body = b'{"event":1}'
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "req-%d" % n[0])
        self.send_header("Lambda-Runtime-Deadline-Ms", "4102444800000")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        data = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[1] + "/response.%d" % n[0], "wb") as f:
            f.write(self.path.encode() + b"\n" + data)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + "/api.port.tmp", "w").write(str(s.server_port))
import os; os.rename(sys.argv[1] + "/api.port.tmp", sys.argv[1] + "/api.port")
s.serve_forever()
PY
python3 "$tmp/api.py" "$tmp" &
api_pid=$!
i=0
while [ ! -s "$tmp/api.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$tmp/api.port" ] || fail "the stand-in Runtime API did not start"
api="127.0.0.1:$(cat "$tmp/api.port")"

run=0
# No LD_LIBRARY_PATH: the handlers that link libmetatoken.so find it through
# the RPATH both builds record.
for so in examples/libhello.so examples-cmake/libhello.so libhello-static.so; do
	run=$((run + 1))
	env -u GCE_METADATA_HOST -u LD_LIBRARY_PATH YC_METADATA_ADDR="$addr" \
		AWS_LAMBDA_RUNTIME_API="$api" AWS_LAMBDA_FUNCTION_NAME=example \
		_HANDLER="$tmp/$so:context" LAMBDA_TASK_ROOT="$tmp" \
		"$tmp/prefix/bin/metatoken-bootstrap" --invocations 1 >"$tmp/run.$run.out" 2>&1 ||
		{ cat "$tmp/run.$run.out" >&2; fail "$so: metatoken-bootstrap failed"; }
	out="$tmp/response.$run"
	[ -s "$out" ] || fail "$so: nothing was posted"
	grep -q "^/2018-06-01/runtime/invocation/req-$run/response\$" "$out" ||
		{ cat "$out" >&2; fail "$so: not posted to req-$run's /response"; }
	grep -q "\"function_name\":\"example\".*\"request_id\":\"req-$run\",\"token\":{\"access_token\":\"$want\",\"expires_in\":[1-9][0-9]*,\"token_type\":\"Bearer\"}" "$out" ||
		{ cat "$out" >&2; fail "$so: the context does not carry the server's token"; }
done

# The installed Python runtime finds its package next to itself and serves
# one invocation: no token header, so its context's token is None.
printf 'def handler(event, context):\n    return {"event": event, "token": context.token}\n' \
	>"$tmp/pyhandler.py"
run=$((run + 1))
env AWS_LAMBDA_RUNTIME_API="$api" _HANDLER=pyhandler.handler LAMBDA_TASK_ROOT="$tmp" \
	python3 "$tmp/prefix/bin/metatoken-python-runtime" --invocations 1 >"$tmp/py.out" 2>&1 ||
	{ cat "$tmp/py.out" >&2; fail "metatoken-python-runtime failed"; }
out="$tmp/response.$run"
grep -q "^/2018-06-01/runtime/invocation/req-$run/response\$" "$out" ||
	{ cat "$out" >&2; fail "metatoken-python-runtime: not posted to req-$run's /response"; }
grep -q '^{"event": {"event": 1}, "token": null}$' "$out" ||
	{ cat "$out" >&2; fail "metatoken-python-runtime: not the handler's answer"; }

# The installed CLI prints the token curl gets.
got=$(env LD_LIBRARY_PATH="$libdir" "$tmp/prefix/bin/metatoken" token --endpoint "$addr")
[ "$got" = "$want" ] || fail "metatoken token printed something else than curl got"
# The installed one-shot form runs a Python handler: metatokend and the
# Python runtime are found next to the CLI, and the runtime's package in
# share/, all in the prefix.
got=$(cd "$tmp" && env -u METATOKEN_DAEMON -u METATOKEN_PYTHON_RUNTIME -u METATOKEN_SERVER \
	"$tmp/prefix/bin/metatoken" invoke pyhandler.handler '{"x": 1}' 2>"$tmp/invoke.err") ||
	{ cat "$tmp/invoke.err" >&2; fail "metatoken invoke pyhandler.handler failed"; }
case "$got" in
'{"event": {"x": 1}, "token": {"access_token": '*) ;;
*) cat "$tmp/invoke.err" >&2; fail "metatoken invoke pyhandler.handler printed: $got" ;;
esac
echo "test_client_install: ok"
