#!/bin/bash
# The CA down at boot costs one look at it, not one per site: with 20
# `tls: acme` sites and a CA that takes connections and drops them, the
# first site pays the directory fetch's retries and the 19 others fail at
# once, each set to retry on its own backoff (1 min), the boot degraded and
# not held up (it was ~1.3 s a site, more for sites with a certificate).
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"
# shellcheck source=/dev/null
. "$top_srcdir/tests/data/acme/lib.sh"

SITES=20
# The CA: accepts each connection and closes it at once, counting them.
$PYTHON "$top_srcdir/tests/fakes/closing-server.py" "$T/ca.port" "$T/ca.count" &
track $!
for _ in $(seq 100); do [ -s "$T/ca.port" ] && break; sleep 0.05; done
CA_PORT=$(cat "$T/ca.port")

start_upstream app
start_ec2 imds nginx
nginx_settings
{
	echo "acme:"
	echo "  directory: http://127.0.0.1:$CA_PORT/dir"
	echo "sites:"
	for i in $(seq $SITES); do
		echo "  - name: s$i"
		echo "    domains: [s$i.test]"
		echo "    tls: acme"
		echo "    upstream: http://127.0.0.1:$UPSTREAM_PORT"
	done
} >"$ROOT/etc/kiln/kiln.d/acme.yaml"

t0=$(date +%s%N)
kiln boot >"$T/boot.log" 2>&1
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# $SITES sites, CA down: kiln boot took $ms ms, $(cat "$T/ca.count" 2>/dev/null || echo 0) connections to the CA"
check "the boot is degraded" test "$(status_field 'd["result"]')" = degraded
[ "$ms" -lt 12000 ]
ok $? "the boot is not held up by the sites ($ms ms < 12000)"
n=$(cat "$T/ca.count" 2>/dev/null || echo 0)
[ "$n" -ge 1 ] && [ "$n" -le 4 ]
ok $? "the CA was tried once in the run, with its retries ($n connections, 4 at most)"
now=$(date +%s)
bad=0
for i in $(seq $SITES); do
	SITE=s$i
	f=$(state_field failures) next=$(state_field next_check) err=$(state_field last_error)
	if [ "$f" != 1 ] || [ "$next" -lt $((now + 50)) ] || [ "$next" -gt $((now + 80)) ] || ! grep -q unreachable <<<"$err"; then
		echo "# site s$i: failures $f, next_check in $((next - now)) s, last_error: $err"
		bad=$((bad + 1))
	fi
done
is "$bad" 0 "every site failed, says the CA is unreachable and retries in about a minute"
check "every site is on its placeholder" test -e "$ROOT/var/lib/kiln/acme/sites/s$SITES/placeholder"

done_testing
