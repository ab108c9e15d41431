# Sourced by the shell tests (tests/integration/*.sh): TAP-style results, a
# private folder, and a metatokend on an ephemeral loopback port.
#
#   . "$(dirname "$0")/../support/tap.sh"
#   tap_init NAME          $tmp (removed at exit, with the metatokend $pid)
#   ok TEXT / not_ok TEXT / expect TEXT WANT GOT
#   start_metatokend FILE [ARG...]
#                          "$METATOKEND" --listen 127.0.0.1:0 ARG..., its
#                          banner into FILE, its log appended to $tmp/log;
#                          waits (at most 10 s) for the banner's last line
#   tap_finish             prints the counts; fails if anything did
passed=0
failed=0
pid=

tap_cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$tmp"
}

tap_init() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/metatoken-$1-XXXXXX")
	trap tap_cleanup EXIT
}

ok() {
	passed=$((passed + 1))
	echo "ok - $1"
}
not_ok() {
	failed=$((failed + 1))
	echo "not ok - $1"
}
# expect NAME WANT GOT
expect() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: wanted [$2], got [$3]"; fi
}

start_metatokend() {
	_banner=$1
	shift
	"$METATOKEND" --listen 127.0.0.1:0 --log-level warn "$@" >"$_banner" 2>>"$tmp/log" &
	pid=$!
	_i=0
	until grep -q '^# Ctrl-C stops it.' "$_banner" 2>/dev/null; do
		_i=$((_i + 1))
		[ $_i -le 100 ] || { echo "metatokend printed no banner"; cat "$tmp/log"; exit 1; }
		sleep 0.1
	done
}

tap_finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
