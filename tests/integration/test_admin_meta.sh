#!/bin/sh
# Metadata that changes, from the shell (issue 14): metatoken admin's
# metadata, attributes and labels commands against a real metatokend, read
# back with curl, a curl wait_for_change watch ended by a change, bad input
# refused, reset; and the identity documents.
#
# usage: test_admin_meta.sh METATOKEND METATOKEN_CLI
set -eu

METATOKEND=$1
CLI=$2
. "$(dirname "$0")/../support/tap.sh"
tap_init meta

export HOME="$tmp"
unset XDG_RUNTIME_DIR METATOKEN_SERVER METATOKEN_ADMIN_SECRET YC_METADATA_ADDR GCE_METADATA_HOST

start_metatokend "$tmp/banner"
eval "$(grep '^export ' "$tmp/banner")"
md="http://$METATOKEN_SERVER/computeMetadata/v1"

admin() {
	"$CLI" admin "$@" >"$tmp/admin.out" 2>"$tmp/admin.err"
}
gce() {
	curl -s -H 'Metadata-Flavor: Google' "$md/$1"
}
compact() {
	tr -d ' \n\t' <"$tmp/admin.out"
}

admin attributes instance 'ssh-keys=alice:ssh-ed25519 AAAA' serial-port-enable=1 &&
	ok "attributes instance K=V..." || not_ok "attributes instance: $(cat "$tmp/admin.err")"
expect "the attribute is served" "alice:ssh-ed25519 AAAA" "$(gce instance/attributes/ssh-keys)"
admin labels team=infra --delete env && ok "labels K=V --delete K" ||
	not_ok "labels: $(cat "$tmp/admin.err")"
expect "the labels now" "managed-by
team" "$(gce instance/vendor/labels/)"
admin attributes project enable-oslogin=TRUE
expect "attributes project" "TRUE" "$(gce project/attributes/enable-oslogin)"
admin metadata instance
expect "metadata instance" '{"attributes":{"serial-port-enable":"1","ssh-keys":"alice:ssh-ed25519AAAA"},"labels":{"managed-by":"metatoken","team":"infra"}}' "$(compact)"

# A watch on the current value, ended by a change (its timeout is far off).
etag=$(curl -s -o /dev/null -D - -H 'Metadata-Flavor: Google' "$md/instance/attributes/serial-port-enable" |
	tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
curl -s -H 'Metadata-Flavor: Google' -D "$tmp/watch.h" -o "$tmp/watch.out" \
	"$md/instance/attributes/serial-port-enable?wait_for_change=true&last_etag=$etag&timeout_sec=600" &
watch=$!
admin attributes instance serial-port-enable=2
wait $watch
expect "the watch answers the new value" 2 "$(cat "$tmp/watch.out")"
new=$(tr -d '\r' <"$tmp/watch.h" | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
[ -n "$new" ] && [ "$new" != "$etag" ] && ok "with a new ETag" || not_ok "ETag [$etag] -> [$new]"

# Bad input: refused with the field named, exit status 1 or 2.
if admin attributes instance 'a/b=1'; then not_ok "a key with / accepted"; else
	expect "a key with / is refused" \
		"metatoken admin: PATCH instance: HTTP 400: attributes: key \"a/b\" must be 1..128 characters without '/'" \
		"$(cat "$tmp/admin.err")"
fi
if admin labels; then not_ok "labels with nothing to do accepted"; else ok "labels needs KEY=VALUE"; fi
if admin attributes nowhere k=v; then not_ok "attributes nowhere accepted"; else
	ok "attributes needs instance or project"
fi

admin reset
expect "reset restores the configured labels" "env
managed-by" "$(gce instance/vendor/labels/)"
expect "and attributes" 0 "$(gce instance/attributes/serial-port-enable)"

doc=$(gce instance/vendor/identity/document)
expect "the identity document's instanceId and version" '"fhm0metatoken0local01" "2023-03-01"' \
	"$(printf '%s' "$doc" | sed 's/.*"instanceId":\("[^"]*"\).*"version":\("[^"]*"\).*/\1 \2/')"
expect "the EC2-style one is the same" "$doc" \
	"$(curl -s "http://$METATOKEN_SERVER/latest/vendor/instance-identity/document")"

tap_finish
