#!/bin/bash
# A certificate from the real Pebble at boot, through the real nginx, with
# Pebble's default 5% nonce rejection and again with 50%: nginx answers the
# http-01 challenge (its stateless location), the chain verifies to Pebble's
# root, nginx serves the new certificate and then redirects HTTP to HTTPS
# (not before, on the placeholder), `kiln certs` shows it, and a second boot
# does not order again.
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"
# shellcheck source=/dev/null
. "$top_srcdir/tests/data/acme/lib.sh"

round() { # round NONCE_REJECT_PERCENT
	local pct=$1 t0 t1
	"$top_srcdir/tests/local-ec2" stop "$EC2" >/dev/null 2>&1
	rm -rf "$ROOT" && mkdir -p "$ROOT" && make_root "$ROOT"
	PEBBLE_WFE_NONCEREJECT=$pct start_ec2 imds nginx pebble
	nginx_settings
	acme_config
	kiln boot >"$T/boot.log" 2>&1
	diag "$T/boot.log"
	check "[$pct%] site left its placeholder" sh -c "test -e '$(SITE_DIR)/fullchain.pem' && test ! -e '$(SITE_DIR)/placeholder'"
	check "[$pct%] cert.pem, chain.pem, fullchain.pem written" test -s "$(SITE_DIR)/cert.pem" -a -s "$(SITE_DIR)/chain.pem" -a -s "$(SITE_DIR)/fullchain.pem"
	check "[$pct%] the chain verifies to Pebble's root from its management endpoint" chain_verifies
	check "[$pct%] the certificate names both domains" sh -c "openssl x509 -in '$(SITE_DIR)/cert.pem' -noout -ext subjectAltName | grep -q 'DNS:www.demo.test'"
	grep -q "GET /.well-known/acme-challenge/" "$EC2/nginx/logs/access.log"
	ok $? "[$pct%] nginx answered the http-01 challenge"
	check "[$pct%] nginx serves the new certificate" serves "$(SITE_DIR)/cert.pem"
	check "[$pct%] for the second name too" serves "$(SITE_DIR)/cert.pem" www.demo.test
	[ "$(state_field served)" = True ]
	ok $? "[$pct%] kiln checked over TLS that it is served"
	is "$(https_upstream_name)" app "[$pct%] HTTPS to the upstream verifies against Pebble's root"
	is "$(http_status /x?y=1)" "301 https://demo.test:$LOCAL_EC2_HTTPS_PORT/x?y=1" \
		"[$pct%] HTTP redirects to HTTPS once the real certificate is in place"
	is "$(get demo.test /.well-known/acme-challenge/tok_1-x)" "tok_1-x.$(cat "$ROOT"/var/lib/kiln/acme/accounts/*/thumbprint)" \
		"[$pct%] the challenge location still answers on HTTP (token.thumbprint)"
	[ "$(state_field failures)" = 0 ] && [ "$(state_field next_check)" -gt "$(date +%s)" ]
	ok $? "[$pct%] state.json: no failures, next check in the future"
	kiln certs >"$T/certs.txt" 2>&1
	grep -q "certificate:  issued, issued by 'Pebble Intermediate CA" "$T/certs.txt" && grep -q "demo.test www.demo.test" "$T/certs.txt"
	ok $? "[$pct%] kiln certs shows the issued certificate"
	diag "$T/certs.txt"
	kiln certs --json | $PYTHON -c 'import json,sys; s=json.load(sys.stdin)[0]; assert s["certificate"]=="issued" and s["site"]=="demo" and s["not_after"]>0 and s["next_check"]>0 and s["last_error"] is None, s'
	ok $? "[$pct%] kiln certs --json"
	t0=$(file_fingerprint "$(SITE_DIR)/cert.pem")
	kiln boot >"$T/boot2.log" 2>&1
	t1=$(file_fingerprint "$(SITE_DIR)/cert.pem")
	[ -n "$t0" ] && [ "$t0" = "$t1" ]
	ok $? "[$pct%] a second boot keeps the certificate (no new order)"
	grep -q "site(s) unchanged" "$T/boot2.log"
	ok $? "[$pct%] and leaves nginx unchanged (no reload)"
	check "[$pct%] nginx still serves it" serves "$(SITE_DIR)/cert.pem"
}

start_upstream app
# The placeholder first: no CA reachable, HTTPS on the self-signed
# certificate and HTTP not redirected.
start_ec2 imds nginx
nginx_settings
acme_config "https://127.0.0.1:1/dir" ""
kiln boot >"$T/boot.log" 2>&1
diag "$T/boot.log"
check "unreachable CA: the placeholder" is_placeholder
check "nginx serves the placeholder" serves "$(SITE_DIR)/fullchain.pem"
is "$(get demo.test /x | jfield 'd["name"]')" app "HTTP is proxied, not redirected, while on the placeholder"
old=$(file_fingerprint "$(SITE_DIR)/fullchain.pem")
DOMAINS="demo.test, www.demo.test, new.demo.test" acme_config "https://127.0.0.1:1/dir" ""
kiln boot >"$T/boot.log" 2>&1
diag "$T/boot.log"
openssl x509 -in "$(SITE_DIR)/fullchain.pem" -noout -ext subjectAltName 2>/dev/null | grep -q "DNS:new.demo.test" &&
	[ "$(file_fingerprint "$(SITE_DIR)/fullchain.pem")" != "$old" ]
ok $? "a new name for the site: a new placeholder naming it"
check "nginx serves it for the new name" serves "$(SITE_DIR)/fullchain.pem" new.demo.test
new=$(file_fingerprint "$(SITE_DIR)/fullchain.pem")
kiln boot >"$T/boot.log" 2>&1
grep -q "site(s) unchanged" "$T/boot.log" && [ "$(file_fingerprint "$(SITE_DIR)/fullchain.pem")" = "$new" ]
ok $? "the next boot keeps that placeholder and leaves nginx unchanged"
$PYTHON - "$(SITE_DIR)/placeholder" "$(SITE_DIR)/fullchain.pem" <<'PY'
import datetime, json, subprocess, sys
m = json.load(open(sys.argv[1]))
out = subprocess.run(["openssl", "x509", "-in", sys.argv[2], "-noout", "-enddate"], capture_output=True, text=True).stdout
end = datetime.datetime.strptime(out.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y %Z").replace(tzinfo=datetime.timezone.utc)
assert m["domains"] == ["demo.test", "www.demo.test", "new.demo.test"], m
assert 0 <= end.timestamp() - m["not_after"] < 60, (end, m)
PY
ok $? "the placeholder's marker names its domains and expiry (so applies need not parse it)"
# An older kiln's marker is empty: the certificate itself is read then.
: >"$(SITE_DIR)/placeholder"
kiln boot >"$T/boot.log" 2>&1
grep -q "site(s) unchanged" "$T/boot.log" && [ "$(file_fingerprint "$(SITE_DIR)/fullchain.pem")" = "$new" ]
ok $? "with an empty marker the placeholder is still kept"

round 5
acct=$(ls -d "$ROOT"/var/lib/kiln/acme/accounts/*)
check "account key is 0600" test "$(stat -c %a "$acct/account.key")" = 600
check "accounts directory is 0700" test "$(stat -c %a "$ROOT/var/lib/kiln/acme")" = 700
check "site key is 0600" test "$(stat -c %a "$(SITE_DIR)/privkey.pem")" = 600
check "the placeholder is kept as fullchain.pem.bak" sh -c "openssl x509 -in '$(SITE_DIR)/fullchain.pem.bak' -noout -subject | grep -q 'kiln placeholder'"
[ "$(status_field 'd["result"]')" != error ]
ok $? "boot did not fail"
round 50

# The same disk booted as a new instance orders its own certificate, and the
# old one serves until the new one is in place.
before=$(file_fingerprint "$(SITE_DIR)/cert.pem")
imds_data '{"instance_id": "i-0acme0new0instance"}'
kiln boot >"$T/boot.log" 2>&1
diag "$T/boot.log"
after=$(file_fingerprint "$(SITE_DIR)/cert.pem")
[ -n "$after" ] && [ "$after" != "$before" ]
ok $? "a new instance-id orders a new certificate"
check "and nginx serves it" serves "$(SITE_DIR)/cert.pem"
kiln boot >/dev/null 2>&1
[ "$(file_fingerprint "$(SITE_DIR)/cert.pem")" = "$after" ]
ok $? "a reboot of the new instance keeps it"
done_testing
