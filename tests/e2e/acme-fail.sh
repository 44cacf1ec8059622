#!/bin/bash
# Failures never make a site worse, with the real nginx serving the site:
# the CA cannot reach the challenge (Pebble validates on a closed port, as
# when port 80 is firewalled or DNS points elsewhere) -> backoff 1 min then
# 10 min with the placeholder still served by nginx and HTTP not
# redirected; nginx stopped -> kiln's self-check fails before asking the CA;
# Pebble down -> retried later, the current certificate still served; a CA
# certificate kiln does not trust -> a clear error.
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"
# shellcheck source=/dev/null
. "$top_srcdir/tests/data/acme/lib.sh"

now() { date +%s; }
in_range() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

# A port bound but never listening, held for the whole test: connections to
# it are refused, and no other test's server can take it.
$PYTHON -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",0)); open(sys.argv[1]+".tmp","w").write("%d\n" % s.getsockname()[1]); __import__("os").rename(sys.argv[1]+".tmp",sys.argv[1]); time.sleep(3600)' "$T/closed.port" &
track $!
for _ in $(seq 100); do [ -s "$T/closed.port" ] && break; sleep 0.05; done
LOCAL_EC2_PEBBLE_HTTP_PORT=$(cat "$T/closed.port") start_acme_ec2
acme_config

# --- the CA cannot reach the challenge ---
kiln boot >"$T/boot.log" 2>&1
diag "$T/boot.log"
check "the site keeps its self-signed placeholder" is_placeholder
check "nginx serves the placeholder" serves "$(SITE_DIR)/fullchain.pem"
is "$(get demo.test /x | jfield 'd["name"]')" app "HTTP is proxied, not redirected, on the placeholder"
[ "$(state_field failures)" = 1 ]
ok $? "one failure recorded"
last=$(state_field last_error)
grep -qi "connection refused\|connect" <<<"$last" && ! grep -q "self-check" <<<"$last"
ok $? "last_error is the CA's failed validation (kiln's own check passed through nginx)"
echo "# last_error: $last"
t=$(now)
in_range "$(state_field next_check)" $((t + 50)) $((t + 80))
ok $? "next try in about a minute"
check "status.json: the boot is degraded" test "$(status_field 'd["result"]')" = degraded
grep -q "no new certificate for site 'demo'" "$ROOT/run/kiln/status.json"
ok $? "status.json has the error"
kiln certs >"$T/certs.txt" 2>&1
grep -q "certificate:  placeholder" "$T/certs.txt" && grep -q "last error:" "$T/certs.txt" && grep -q "failures:     1" "$T/certs.txt"
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
check "the placeholder is still what nginx serves" serves "$(SITE_DIR)/fullchain.pem"

# The CA can reach nginx now: Pebble again, validating on nginx's port.
pebble_stop
sed -i "s/\"httpPort\": [0-9]*/\"httpPort\": $LOCAL_EC2_HTTP_PORT/" "$EC2/pebble/config.json"
check "Pebble is back, validating on nginx's HTTP port" pebble_start
kiln renew >"$T/renew.log" 2>&1
ok $? "kiln renew works once the challenge answers"
diag "$T/renew.log"
check "a real certificate now" test ! -e "$(SITE_DIR)/placeholder"
check "and nginx serves it" serves "$(SITE_DIR)/cert.pem"
[ "$(state_field failures)" = 0 ] && [ "$(state_field last_error)" = None ]
ok $? "failures reset"
is "$(http_status /a)" "301 https://demo.test:$LOCAL_EC2_HTTPS_PORT/a" "HTTP now redirects to HTTPS"

# --- nginx stopped: kiln's self-check fails, the CA is not asked to validate ---
nginx_pid=$(cat "$ROOT/run/nginx.pid")
kill -TERM "$nginx_pid"
nginx_gone() { ! kill -0 "$nginx_pid" 2>/dev/null && ! curl -s -m 2 -o /dev/null "http://127.0.0.1:$LOCAL_EC2_HTTP_PORT/"; }
for _ in $(seq 200); do nginx_gone && break; sleep 0.1; done
check "nginx is stopped" nginx_gone
before=$(file_fingerprint "$(SITE_DIR)/cert.pem")
challenges=$(grep -c "Attempting to validate" "$EC2/pebble.log")
# A new name: Pebble reuses valid authorizations half of the time
# (PEBBLE_AUTHZREUSE), so only a name never validated is sure to need a
# challenge, and kiln's self-check.
DOMAINS="demo.test, www.demo.test, new.demo.test" acme_config
kiln renew >"$T/renew.log" 2>&1
ok $(($? == 1 ? 0 : 1)) "renew fails with nginx stopped"
diag "$T/renew.log"
grep -q "self-check" <<<"$(state_field last_error)"
ok $? "last_error says the local challenge check failed"
t=$(now)
[ "$(state_field failures)" = 1 ] && in_range "$(state_field next_check)" $((t + 50)) $((t + 80))
ok $? "backoff recorded: next try in about a minute"
[ "$(file_fingerprint "$(SITE_DIR)/cert.pem")" = "$before" ]
ok $? "the current certificate is untouched"
is "$(grep -c "Attempting to validate" "$EC2/pebble.log")" "$challenges" "the CA was never asked to validate"
# nginx back, as the local EC2 started it.
(cd "$EC2/nginx" && /usr/sbin/nginx -p "$EC2/nginx" -c "$ROOT/etc/nginx/nginx.conf" -e "$EC2/nginx/logs/error.log")
for _ in $(seq 100); do [ -s "$ROOT/run/nginx.pid" ] && kill -0 "$(cat "$ROOT/run/nginx.pid")" 2>/dev/null && break; sleep 0.1; done
pid_record "$(cat "$ROOT/run/nginx.pid")" "$EC2/pids"
acme_config
check "nginx is back and serves the certificate" serves "$(SITE_DIR)/cert.pem"

# --- Pebble down ---
pebble_stop
before=$(file_fingerprint "$(SITE_DIR)/cert.pem")
kiln renew --force >"$T/renew.log" 2>&1
ok $(($? == 1 ? 0 : 1)) "renew fails with Pebble down"
grep -q "unreachable" <<<"$(state_field last_error)"
ok $? "last_error: the ACME server is unreachable"
t=$(now)
[ "$(state_field failures)" = 2 ] && in_range "$(state_field next_check)" $((t + 590)) $((t + 730))
ok $? "retried later: next try in about 10 minutes"
[ "$(file_fingerprint "$(SITE_DIR)/cert.pem")" = "$before" ]
ok $? "the current certificate is untouched"
check "and still served by nginx" serves "$(SITE_DIR)/cert.pem"
# Pebble back, same ports, all state lost (kiln's cached account is unknown to it).
check "Pebble is back" pebble_start
kiln renew --force demo >"$T/renew.log" 2>&1
ok $? "renew works once Pebble is back (and registers the account again)"
diag "$T/renew.log"
[ "$(state_field failures)" = 0 ] && [ "$(file_fingerprint "$(SITE_DIR)/cert.pem")" != "$before" ]
ok $? "a new certificate, failures reset"
check "the new chain verifies to the new Pebble root" chain_verifies
check "nginx serves the new certificate" serves "$(SITE_DIR)/cert.pem"

# --- a CA kiln does not trust ---
rm -rf "$ROOT/var/lib/kiln"
acme_config "$LOCAL_EC2_ACME_DIRECTORY" ""
kiln boot >"$T/boot.log" 2>&1
diag "$T/boot.log"
grep -q "not trusted.*acme.ca_file" <<<"$(state_field last_error)"
ok $? "an untrusted CA certificate gives a clear error naming acme.ca_file"
check "the placeholder stays" is_placeholder
check "and nginx serves it" serves "$(SITE_DIR)/fullchain.pem"
kiln certs 2>&1 | grep -q "last error:.*not trusted"
ok $? "kiln certs shows it"
kiln renew nosuchsite >/dev/null 2>&1
ok $(($? == 1 ? 0 : 1)) "renew of an unknown site fails"

done_testing
