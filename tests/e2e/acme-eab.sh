#!/bin/bash
# External Account Binding against Pebble configured to require it: refused
# without acme.eab, issued with it.
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"
# shellcheck source=/dev/null
. "$top_srcdir/tests/data/acme/lib.sh"

LOCAL_EC2_PEBBLE_EAB=1 start_acme_ec2
acme_config
kiln boot >"$T/boot.log" 2>&1
grep -q "externalAccountRequired" <<<"$(state_field last_error)"
ok $? "without acme.eab the CA refuses the account, and last_error says why"
check "the placeholder stays" is_placeholder
EAB_KID=$LOCAL_EC2_PEBBLE_EAB_KID EAB_HMAC=$LOCAL_EC2_PEBBLE_EAB_HMAC acme_config
kiln renew >"$T/renew.log" 2>&1
ok $? "with acme.eab the account is bound and the certificate issued"
diag "$T/renew.log"
check "a real certificate" test ! -e "$(SITE_DIR)/placeholder"
check "nginx serves it" serves "$(SITE_DIR)/cert.pem"
check "its chain verifies to Pebble's root" chain_verifies
EAB_KID=$LOCAL_EC2_PEBBLE_EAB_KID EAB_HMAC=AAAA acme_config
rm -rf "$ROOT/var/lib/kiln/acme/accounts"
kiln renew --force >"$T/renew.log" 2>&1
grep -q "unauthorized\|malformed\|HMAC\|binding" <<<"$(state_field last_error)"
ok $? "a wrong EAB key is refused by the CA"
diag "$T/renew.log"
# The account key was lost above and made again: nginx must answer the
# challenges with the new key's thumbprint.
EAB_KID=$LOCAL_EC2_PEBBLE_EAB_KID EAB_HMAC=$LOCAL_EC2_PEBBLE_EAB_HMAC acme_config
before=$(file_fingerprint "$(SITE_DIR)/cert.pem")
kiln renew --force >"$T/renew.log" 2>&1
rc=$?
ok $rc "with the right key again, a new account issues a new certificate"
[ $rc = 0 ] || echo "# kiln renew exited with status $rc"
diag "$T/renew.log"
[ "$(file_fingerprint "$(SITE_DIR)/cert.pem")" != "$before" ]
ok $? "a new certificate"
check "nginx serves it" serves "$(SITE_DIR)/cert.pem"
is "$(get demo.test /.well-known/acme-challenge/t0k)" "t0k.$(cat "$ROOT"/var/lib/kiln/acme/accounts/*/thumbprint)" \
	"nginx answers with the new account's thumbprint"
done_testing
