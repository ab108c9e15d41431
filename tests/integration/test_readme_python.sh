#!/bin/sh
# The README's "Run a function locally" Python path, run for real: its
# index.py, the one-shot `metatoken invoke index.handler`, the configured
# function called with `metatoken invoke` and curl, an edit reloaded, and
# `metatoken exec -- python3 -m unittest`. Each command is taken from the
# README as it is written (only the port is the test's own), so if the
# README's examples stop working, this fails.
#
# usage: test_readme_python.sh METATOKEND METATOKEN_CLI
set -eu

METATOKEND=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
CLI=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
readme="$(cd "$(dirname "$0")/../.." && pwd)/README.md"
. "$(dirname "$0")/../support/tap.sh"
tap_init readme-py
# field JSON EXPR: a value out of a JSON document, by a Python expression on d.
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3 # no version manager's shim to go through
field() {
	"$py" -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2" 2>&1
}

export HOME="$tmp"
unset XDG_RUNTIME_DIR METATOKEN_SERVER METATOKEN_ADMIN_SECRET METATOKEN_DAEMON
mkdir "$tmp/bin" "$tmp/fn"
ln -s "$CLI" "$tmp/bin/metatoken"
PATH="$tmp/bin:$PATH"
cd "$tmp/fn"

# The section, and each piece of it.
sed -n '/^## Run a function locally$/,/^## /p' "$readme" >"$tmp/section"
sed -n '/^```python$/,/^```$/p' "$tmp/section" | sed '1d;$d' >index.py
grep -q 'context.token\["access_token"\]' index.py && ok "index.py reads the context's token" ||
	not_ok "no index.py reading context.token in the section"
line() { grep -m1 "$1" "$tmp/section" | sed 's/ *#.*//'; }

# 1. The one-shot form.
sh -c "$(line '^echo .*> event.json$')"
out=$(sh -c "$(line '^metatoken invoke index.handler')" 2>"$tmp/err") || true
expect "1: the result's status" 200 "$(field "$out" 'd["statusCode"]')"
expect "1: the result's body" "you True" \
	"$(field "$out" 'json.loads(d["body"])["hello"], json.loads(d["body"])["token_expires_in"] > 0' |
		tr -d "(),'")"
grep -q 'REPORT RequestId: ' "$tmp/err" && ok "1: the REPORT line on stderr" ||
	not_ok "1: no REPORT line: $(cat "$tmp/err")"

# 2. The configured function, over the Invoke API and HTTP, and reloaded.
sed -n "/^cat > fns.json <<'EOF'\$/,/^EOF\$/p" "$tmp/section" >"$tmp/fns.sh"
sh "$tmp/fns.sh"
expect "2: fns.json names a python function" python \
	"$(field "$(cat fns.json)" 'd["functions"][0]["runtime"]')"
start_metatokend "$tmp/banner" --config fns.json
addr=$(sed -n 's/^export METATOKEN_SERVER=//p' "$tmp/banner")
out=$(METATOKEN_SERVER=$addr sh -c "$(line '^metatoken invoke hello ')")
expect "2: metatoken invoke hello" you "$(field "$out" 'json.loads(d["body"])["hello"]')"
call=$(line '^curl .*/functions/hello' | sed "s/127.0.0.1:8169/$addr/")
expect "2: curl /functions/hello" you "$(field "$(sh -c "$call" 2>>"$tmp/curl.err")" 'd["hello"]')"
sed 's/{"hello": name/{"hi": name/' index.py >index.py.new && mv index.py.new index.py
expect "2: the edit answers the next call" you "$(field "$(sh -c "$call" 2>>"$tmp/curl.err")" 'd["hi"]')"
kill -0 "$pid" && ok "2: metatokend kept running" || not_ok "2: metatokend is gone"
kill "$pid"
wait "$pid" && ok "2: SIGTERM: exit 0" || not_ok "2: SIGTERM: non-zero exit"
pid=

# 3. The code around the handler under metatoken exec.
cat >test_index.py <<'PY'
import json, os, unittest, urllib.request


class Token(unittest.TestCase):
    def test_the_metadata_server_gives_a_token(self):
        req = urllib.request.Request(
            "http://%s/computeMetadata/v1/instance/service-accounts/default/token"
            % os.environ["YC_METADATA_ADDR"], headers={"Metadata-Flavor": "Google"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=10) as resp:
            self.assertIn("access_token", json.loads(resp.read()))
PY
sh -c "$(line '^.*metatoken exec -- python3 -m unittest' | sed 's/.*\(metatoken exec -- python3 -m unittest\).*/\1/')" \
	>"$tmp/out" 2>&1 && grep -q '^Ran 1 test' "$tmp/out" && ok "3: metatoken exec -- python3 -m unittest" ||
	not_ok "3: metatoken exec: $(cat "$tmp/out")"

tap_finish
