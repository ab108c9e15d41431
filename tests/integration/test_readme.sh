#!/bin/sh
# The README's "Testing your function's expiry handling" commands, run for
# real: metatokend on an ephemeral port, the metatoken CLI and curl. If the
# README's examples stop working, this fails.
#
# usage: test_readme.sh METATOKEND METATOKEN_CLI
set -eu

METATOKEND=$1
CLI=$2
. "$(dirname "$0")/../support/tap.sh"
tap_init readme

# The secret file goes to this private HOME, not the user's.
export HOME="$tmp"
unset XDG_RUNTIME_DIR METATOKEN_SERVER METATOKEN_ADMIN_SECRET YC_METADATA_ADDR GCE_METADATA_HOST

start_metatokend "$tmp/banner"
# What a user pastes from ./scripts/run's output.
eval "$(grep '^export ' "$tmp/banner")"

protected() {
	curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" \
		"http://$METATOKEN_SERVER/protected/x"
}
admin() {
	"$CLI" admin "$@" >"$tmp/admin.out" 2>"$tmp/admin.err"
}

T=$("$CLI" token)
expect "the fresh token is accepted" 200 "$(protected "$T")"
expect "metatoken token prints what curl gets" "$T" "$(curl -s -H 'Metadata-Flavor: Google' \
	"http://$METATOKEN_SERVER/computeMetadata/v1/instance/service-accounts/default/token" |
	sed 's/.*"access_token":"\([^"]*\)".*/\1/')"

# 1. The token expires while cached.
admin clock advance 43201
expect "1: the expired token is refused" 401 "$(protected "$T")"
T2=$("$CLI" token)
[ "$T2" != "$T" ] && ok "1: a new token after expiry" || not_ok "1: the same token after expiry"
expect "1: the new token is accepted" 200 "$(protected "$T2")"

# 2. Revocation.
admin revoke default
expect "2: the revoked token is refused" 401 "$(protected "$T2")"
T3=$("$CLI" token)
[ "$T3" != "$T2" ] && ok "2: a new token after revocation" || not_ok "2: revoked token handed out"
expect "2: the new token is accepted" 200 "$(protected "$T3")"

# 3. The metadata service fails for a while: the client retries through it.
admin fault add '{"path":"/computeMetadata/v1/instance/service-accounts/","status":503,"count":2}'
expect "3: 503 twice, then the token" "$T3" "$("$CLI" token)"
admin fault add '{"path":"/computeMetadata/","status":429,"retry_after_s":1,"count":2}'
expect "3: 429 twice, then the token" "$T3" "$("$CLI" token)"
admin faults
expect "3: the rules were used up" "[]" "$(cat "$tmp/admin.out")"

# 4. The metadata service is down: a clear error, not a hang.
admin fault add '{"path":"/computeMetadata/","drop":true}'
if "$CLI" token >/dev/null 2>"$tmp/err"; then
	not_ok "4: a token from a dropped connection"
else
	expect "4: one line on stderr" 1 "$(wc -l <"$tmp/err" | tr -d ' ')"
fi
admin faults clear
expect "4: recovered" "$T3" "$("$CLI" token)"

# 5. Twelve hours in seconds: renewal at the margin, as the README runs it.
admin reset
T5=$("$CLI" token)
admin clock advance 42890
expect "5: 310 s left: the same token" "$T5" "$("$CLI" token)"
admin clock advance 20
T6=$("$CLI" token)
[ "$T6" != "$T5" ] && ok "5: renewed inside the margin" || not_ok "5: not renewed with 290 s left"
expect "5: the old token still works inside the margin" 200 "$(protected "$T5")"
admin clock advance 291
expect "5: the old token expires on time" 401 "$(protected "$T5")"
expect "5: the renewed one is handed out on" "$T6" "$("$CLI" token)"

# 6. Malformed and truncated answers are rejected, never taken as a token.
admin fault add '{"path":"/computeMetadata/","body":"malformed","count":1}'
if "$CLI" token >/dev/null 2>"$tmp/err"; then not_ok "6: malformed accepted"; else
	grep -q JSON "$tmp/err" && ok "6: malformed rejected" || not_ok "6: $(cat "$tmp/err")"
fi
admin fault add '{"path":"/computeMetadata/","body":"truncated","count":3}'
if "$CLI" token >/dev/null 2>&1; then not_ok "6: truncated accepted"; else ok "6: truncated rejected"; fi
admin fault add '{"path":"/computeMetadata/","expires_in":0,"count":1}'
if "$CLI" token >/dev/null 2>"$tmp/err"; then not_ok "6: expires_in 0 accepted"; else
	grep -q expires_in "$tmp/err" && ok "6: expires_in 0 rejected" || not_ok "6: $(cat "$tmp/err")"
fi
"$CLI" token >/dev/null && ok "6: recovered" || not_ok "6: no recovery"

# 7. AWS credentials expire while cached: the README's botocore program, run
# as written there (Debian's python3-botocore), with `metatoken` on PATH.
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import botocore' 2>/dev/null; then
	admin reset
	mkdir -p "$tmp/bin" && ln -sf "$(cd "$(dirname "$CLI")" && pwd)/$(basename "$CLI")" "$tmp/bin/metatoken"
	sed -n "/^   \/usr\/bin\/python3 - <<'EOF'\$/,/^   EOF\$/p" "$(dirname "$0")/../../README.md" |
		sed 's/^   //' >"$tmp/aws.sh"
	expect "7: the program is in the README" 16 "$(wc -l <"$tmp/aws.sh" | tr -d ' ')"
	(
		for name in $(env | sed -n 's/^\(AWS_[A-Z_]*\)=.*/\1/p'); do
			[ "$name" = AWS_EC2_METADATA_SERVICE_ENDPOINT ] || unset "$name"
		done
		PATH="$tmp/bin:$PATH" sh "$tmp/aws.sh"
	) >"$tmp/aws.out" 2>"$tmp/aws.err"
	arn='arn:aws:sts::123456789012:assumed-role/metatoken-role/i-0123456789abcdef0'
	expect "7: cached, expired, refreshed" "$arn ExpiredToken $arn" \
		"$(tr '\n' ' ' <"$tmp/aws.out" | sed 's/ $//')"
	expect "7: nothing on stderr" "" "$(cat "$tmp/aws.err")"
else
	echo "# 7: skipped, no Debian python3-botocore"
fi
admin set default --aws-lifetime 900 &&
	tr -d ' \t\n' <"$tmp/admin.out" | grep -q '"aws":{[^}]*"lifetime_s":900' &&
	ok "7: set --aws-lifetime" || not_ok "7: set --aws-lifetime: $(cat "$tmp/admin.out" "$tmp/admin.err")"
admin set default --aws-lifetime ten && not_ok "7: set --aws-lifetime ten accepted" ||
	ok "7: set --aws-lifetime ten refused"

# The CLI finds the secret in the server's file when the variable is unset.
secret_file="$HOME/.metatoken/admin-${METATOKEN_SERVER##*:}.secret"
(unset METATOKEN_ADMIN_SECRET && "$CLI" admin reset >/dev/null) &&
	ok "admin reads the secret file" || not_ok "admin without METATOKEN_ADMIN_SECRET"
expect "the secret file is private" "-rw-------" "$(ls -l "$secret_file" | cut -c1-10)"

kill "$pid"
wait "$pid" && ok "SIGTERM: exit 0" || not_ok "SIGTERM: non-zero exit"
pid=
[ ! -e "$secret_file" ] && ok "the secret file is removed at exit" || not_ok "secret file left"

# --quiet: no secret on stdout, and metatoken admin still works (it reads
# the secret file the banner names).
start_metatokend "$tmp/quiet" --quiet
quiet_server=$(sed -n 's/^export METATOKEN_SERVER=//p' "$tmp/quiet")
quiet_file="$HOME/.metatoken/admin-${quiet_server##*:}.secret"
grep -q "^# its secret is in $quiet_file\$" "$tmp/quiet" && ok "--quiet: the banner names the secret file" ||
	not_ok "--quiet: no secret file named: $(cat "$tmp/quiet")"
grep -q "$(cat "$quiet_file")" "$tmp/quiet" && not_ok "--quiet: the admin secret is on stdout" ||
	ok "--quiet: the admin secret is not on stdout"
grep -q 'METATOKEN_ADMIN_SECRET\|AUTHORIZATION_TOKEN=[^<]' "$tmp/quiet" &&
	not_ok "--quiet: a secret variable is on stdout" || ok "--quiet: no secret variable on stdout"
(unset METATOKEN_ADMIN_SECRET && METATOKEN_SERVER=$quiet_server "$CLI" admin clock >/dev/null) &&
	ok "--quiet: metatoken admin reads the secret file" || not_ok "--quiet: admin failed"
# SIGHUP reloads (test_reload.py); started from the embedded default there
# is nothing to read again, and it goes on serving, not stopped by the
# signal's default action (which left the secret file behind).
kill -HUP "$pid"
(unset METATOKEN_ADMIN_SECRET && METATOKEN_SERVER=$quiet_server "$CLI" admin clock >/dev/null) &&
	ok "SIGHUP: still serving" || not_ok "SIGHUP: stopped or not answering"
kill -TERM "$pid"
wait "$pid" && ok "SIGTERM after SIGHUP: exit 0" || not_ok "SIGTERM after SIGHUP: non-zero exit"
pid=
[ ! -e "$quiet_file" ] && ok "the secret file is removed" || not_ok "secret file left"

# metatokend's flags: its --help, the README's synopsis and its flag table
# name the same ones (README.md sits two folders above this script).
readme="$(dirname "$0")/../../README.md"
help_flags=$("$METATOKEND" --help | grep -o -- '--[a-z][a-z-]*' | grep -vx -- --help | sort -u |
	tr '\n' ' ')
synopsis=$(sed -n '/^metatokend \[--listen/,/^```/p' "$readme" | grep -o -- '--[a-z][a-z-]*' |
	sort -u | tr '\n' ' ')
table=$(sed -n '/^| flag | meaning |/,/^$/p' "$readme" | grep -o -- '^| `--[a-z][a-z-]*' |
	sed 's/^| `//' | sort -u | tr '\n' ' ')
expect "README's metatokend synopsis = --help's flags" "$help_flags" "$synopsis"
expect "README's metatokend flag table = --help's flags" "$help_flags" "$table"

tap_finish
