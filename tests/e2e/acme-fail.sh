#!/bin/bash
# Failures never make a site worse: the challenge unreachable (no web server)
# backs off 1 min then 10 min with the placeholder still served; Pebble down
# is retried later and works once Pebble is back; a CA certificate kiln does
# not trust gives a clear error.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/acme/lib.sh"

now() { date +%s; }
in_range() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

start_ec2 imds pebble
HTTPS_PORT=1
acme_config

# --- challenge unreachable: nothing answers http-01 ---
kiln boot >"$T/boot.log" 2>&1
diag "$T/boot.log"
check "the site keeps its self-signed placeholder" is_placeholder
[ "$(state_field failures)" = 1 ]
ok $? "one failure recorded"
grep -q "self-check" <<<"$(state_field last_error)"
ok $? "last_error says the local challenge check failed"
t=$(now)
in_range "$(state_field next_check)" $((t + 50)) $((t + 80))
ok $? "next try in about a minute"
check "status.json: the boot is degraded" test "$(status_field 'd["result"]')" = degraded
grep -q "no new certificate for site 'demo'" "$ROOT/run/kiln/status.json"
ok $? "status.json has the error"
kiln certs >"$T/certs.txt" 2>&1
grep -q "certificate:  placeholder" "$T/certs.txt" && grep -q "last error:.*self-check" "$T/certs.txt" && grep -q "failures:     1" "$T/certs.txt"
ok $? "kiln certs shows the placeholder, the failure and the error"
diag "$T/certs.txt"
first_at=$(state_field last_error_at)
kiln boot >/dev/null 2>&1
[ "$(state_field failures)" = 1 ] && [ "$(state_field last_error_at)" = "$first_at" ]
ok $? "a reboot within the backoff does not order again"
kiln renew >/dev/null 2>&1
ok $(($? == 1 ? 0 : 1)) "kiln renew exits 1 when the site fails"
t=$(now)
[ "$(state_field failures)" = 2 ] && in_range "$(state_field next_check)" $((t + 590)) $((t + 730))
ok $? "second failure: next try in about 10 minutes"
start_standin
acme_config
check "the placeholder is what the site serves" serves "$HTTPS_PORT" "$(SITE_DIR)/fullchain.pem"
kiln renew >"$T/renew.log" 2>&1
ok $? "kiln renew works once the challenge answers"
diag "$T/renew.log"
check "a real certificate now" test ! -e "$(SITE_DIR)/placeholder"
check "and it is served" serves "$HTTPS_PORT" "$(SITE_DIR)/cert.pem"
[ "$(state_field failures)" = 0 ] && [ "$(state_field last_error)" = None ]
ok $? "failures reset"

# --- Pebble down ---
pebble_pid=$(tail -n 1 "$EC2/pids")
tr '\0' ' ' <"/proc/$pebble_pid/cmdline" >"$T/pebble.cmd"
kill "$pebble_pid"
for _ in $(seq 50); do kill -0 "$pebble_pid" 2>/dev/null || break; sleep 0.1; done
before=$(file_fingerprint "$(SITE_DIR)/cert.pem")
kiln renew --force >"$T/renew.log" 2>&1
ok $(($? == 1 ? 0 : 1)) "renew fails with Pebble down"
grep -q "unreachable" <<<"$(state_field last_error)"
ok $? "last_error: the ACME server is unreachable"
t=$(now)
[ "$(state_field failures)" = 1 ] && in_range "$(state_field next_check)" $((t + 50)) $((t + 80))
ok $? "retried later: next try in about a minute"
[ "$(file_fingerprint "$(SITE_DIR)/cert.pem")" = "$before" ]
ok $? "the current certificate is untouched"
check "and still served" serves "$HTTPS_PORT" "$(SITE_DIR)/cert.pem"
# Pebble back, same ports, all state lost (kiln's cached account is unknown to it).
# shellcheck disable=SC2046
(cd "$EC2" && PEBBLE_VA_NOSLEEP=1 exec $(cat "$T/pebble.cmd") >>"$EC2/pebble.log" 2>&1) &
echo $! >>"$EC2/pids"
for _ in $(seq 100); do curl -sf --cacert "$LOCAL_EC2_ACME_CA" "$LOCAL_EC2_ACME_DIRECTORY" >/dev/null && break; sleep 0.1; done
kiln renew --force demo >"$T/renew.log" 2>&1
ok $? "renew works once Pebble is back (and registers the account again)"
diag "$T/renew.log"
[ "$(state_field failures)" = 0 ] && [ "$(file_fingerprint "$(SITE_DIR)/cert.pem")" != "$before" ]
ok $? "a new certificate, failures reset"
check "the new chain verifies to the new Pebble root" chain_verifies

# --- a CA kiln does not trust ---
rm -rf "$ROOT" && mkdir -p "$ROOT"
acme_config "$LOCAL_EC2_ACME_DIRECTORY" ""
kiln boot >"$T/boot.log" 2>&1
diag "$T/boot.log"
grep -q "not trusted.*acme.ca_file" <<<"$(state_field last_error)"
ok $? "an untrusted CA certificate gives a clear error naming acme.ca_file"
check "the placeholder stays" is_placeholder
kiln certs 2>&1 | grep -q "last error:.*not trusted"
ok $? "kiln certs shows it"
kiln renew nosuchsite >/dev/null 2>&1
ok $(($? == 1 ? 0 : 1)) "renew of an unknown site fails"

stop_standin
done_testing
