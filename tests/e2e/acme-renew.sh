#!/bin/bash
# Renewal by the daemon's timer: Pebble issues 40-second certificates, so the
# renewal time (half the lifetime for short certificates) comes during the
# test. The daemon is restarted after the first issuance: the schedule is in
# state.json and survives it. nginx serves the renewed certificate.
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"
# shellcheck source=/dev/null
. "$top_srcdir/tests/data/acme/lib.sh"

daemon=
stop_daemon() {
	[ -n "$daemon" ] && pid_kill TERM "$daemon" "$daemon_start" && wait "$daemon" 2>/dev/null
	daemon=
	return 0
}
trap 'stop_daemon; acme_cleanup' EXIT

LOCAL_EC2_PEBBLE_VALIDITY=40 start_acme_ec2
acme_config

"$KILN" --root "$ROOT" daemon >"$T/daemon1.log" 2>&1 &
daemon=$!
daemon_start=$(pid_start "$daemon")
kiln status --wait --timeout 30 >/dev/null 2>&1
first=$(file_fingerprint "$(SITE_DIR)/cert.pem")
[ -n "$first" ] && [ ! -e "$(SITE_DIR)/placeholder" ]
ok $? "the daemon's boot issued a certificate"
check "nginx serves it" serves "$(SITE_DIR)/cert.pem"
nb=$(state_field not_before)
na=$(state_field not_after)
[ $((na - nb)) -le 41 ] && [ $((na - nb)) -ge 39 ]
ok $? "a 40-second certificate (Pebble's certificateValidityPeriod)"
[ "$(state_field next_check)" -eq $((na - (na - nb) / 2)) ]
ok $? "renewal scheduled at half the lifetime"
stop_daemon
diag "$T/daemon1.log"

"$KILN" --root "$ROOT" daemon >"$T/daemon2.log" 2>&1 &
daemon=$!
daemon_start=$(pid_start "$daemon")
# state.json is written last, once the files are in place and checked.
issued=$(state_field issued_at)
renewed=
for _ in $(seq 180); do
	cur=$(state_field issued_at 2>/dev/null)
	if [ -n "$cur" ] && [ "$cur" != "$issued" ]; then renewed=1; break; fi
	sleep 0.5
done
[ -n "$renewed" ] && [ "$(file_fingerprint "$(SITE_DIR)/cert.pem")" != "$first" ]
ok $? "a restarted daemon renewed it on its timer"
check "nginx serves the renewed certificate" serves "$(SITE_DIR)/cert.pem"
is "$(http_status /r)" "301 https://demo.test:$LOCAL_EC2_HTTPS_PORT/r" "HTTP still redirects to HTTPS"
check "its chain verifies to Pebble's root" chain_verifies
[ "$(state_field failures)" = 0 ] && [ "$(state_field served)" = True ]
ok $? "state.json: no failures, served checked"
[ "$(state_field not_after)" -gt "$na" ]
ok $? "the new one expires later"
check "the previous certificate kept as cert.pem.bak" test "$(file_fingerprint "$(SITE_DIR)/cert.pem.bak")" = "$first"
stop_daemon
diag "$T/daemon2.log"
done_testing
