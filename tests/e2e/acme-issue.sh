#!/bin/bash
# A certificate from the real Pebble at boot, with Pebble's default 5% nonce
# rejection and again with 50%: the chain verifies to Pebble's root, the
# site serves it, `kiln certs` shows it, and a second boot does not order
# again.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/acme/lib.sh"

round() { # round NONCE_REJECT_PERCENT
	local pct=$1 t0 t1
	"$top_srcdir/tests/local-ec2" stop "$EC2" >/dev/null 2>&1
	stop_standin
	rm -rf "$ROOT" && mkdir -p "$ROOT"
	PEBBLE_WFE_NONCEREJECT=$pct start_ec2 imds pebble
	start_standin
	acme_config
	kiln boot >"$T/boot.log" 2>&1
	diag "$T/boot.log"
	check "[$pct%] site left its placeholder" sh -c "test -e '$(SITE_DIR)/fullchain.pem' && test ! -e '$(SITE_DIR)/placeholder'"
	check "[$pct%] cert.pem, chain.pem, fullchain.pem written" test -s "$(SITE_DIR)/cert.pem" -a -s "$(SITE_DIR)/chain.pem" -a -s "$(SITE_DIR)/fullchain.pem"
	check "[$pct%] the chain verifies to Pebble's root from its management endpoint" chain_verifies
	check "[$pct%] the certificate names both domains" sh -c "openssl x509 -in '$(SITE_DIR)/cert.pem' -noout -ext subjectAltName | grep -q 'DNS:www.demo.test'"
	serves "$HTTPS_PORT" "$(SITE_DIR)/cert.pem"
	ok $? "[$pct%] the site serves the new certificate"
	[ "$(state_field served)" = True ]
	ok $? "[$pct%] kiln checked over TLS that it is served"
	[ "$(state_field failures)" = 0 ] && [ "$(state_field next_check)" -gt "$(date +%s)" ]
	ok $? "[$pct%] state.json: no failures, next check in the future"
	kiln certs >"$T/certs.txt" 2>&1
	grep -q "certificate:  issued, issued by 'Pebble Intermediate CA" "$T/certs.txt" && grep -q "demo.test www.demo.test" "$T/certs.txt"
	ok $? "[$pct%] kiln certs shows the issued certificate"
	diag "$T/certs.txt"
	kiln certs --json | $PYTHON -c 'import json,sys; s=json.load(sys.stdin)[0]; assert s["certificate"]=="issued" and s["site"]=="demo" and s["not_after"]>0 and s["next_check"]>0 and s["last_error"] is None, s'
	ok $? "[$pct%] kiln certs --json"
	t0=$(file_fingerprint "$(SITE_DIR)/cert.pem")
	kiln boot >/dev/null 2>&1
	t1=$(file_fingerprint "$(SITE_DIR)/cert.pem")
	[ -n "$t0" ] && [ "$t0" = "$t1" ]
	ok $? "[$pct%] a second boot keeps the certificate (no new order)"
}

round 5
acct=$(ls -d "$ROOT"/var/lib/kiln/acme/accounts/*)
check "account key is 0600" test "$(stat -c %a "$acct/account.key")" = 600
check "accounts directory is 0700" test "$(stat -c %a "$ROOT/var/lib/kiln/acme")" = 700
check "site key is 0600" test "$(stat -c %a "$(SITE_DIR)/privkey.pem")" = 600
check "the placeholder is kept as fullchain.pem.bak" sh -c "openssl x509 -in '$(SITE_DIR)/fullchain.pem.bak' -noout -subject | grep -q 'kiln placeholder'"
[ "$(status_field 'd["result"]')" != error ]
ok $? "boot did not fail"
round 50
stop_standin
done_testing
