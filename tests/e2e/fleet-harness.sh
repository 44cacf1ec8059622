#!/bin/bash
# Self-test of tests/e2e/fleet-lib.bash, without fleet mode: three
# instances (own roots, fake IMDS, nginx) behind the round-robin load
# balancer on Pebble's http-01 port each boot with plain http-01. Checks the
# harness's parts: distinct instance-ids, every instance up and serving
# HTTPS, the load balancer spreading requests over all of them (each
# instance answers the challenge path with its own account's thumbprint),
# and Pebble's validations arriving through the load balancer. Certificates
# themselves are not asserted: without shared storage a validation that
# lands on another instance fails, as it should.
# shellcheck source=tests/lib.sh
. "$top_srcdir/tests/lib.sh"
# shellcheck source=tests/data/userdata/root.sh
. "$top_srcdir/tests/data/userdata/root.sh"
# shellcheck source=tests/e2e/fleet-lib.bash
. "$top_srcdir/tests/e2e/fleet-lib.bash"

N=3
fleet_setup $N || { echo "Bail out! the fleet did not start"; exit 1; }
ok 0 "fleet of $N set up, load balancer on $FLEET_LB_PORT"

ids=$(for i in $(seq $N); do curl -s -m 5 "${FLEET_IMDS[$i]}/latest/meta-data/instance-id" -H "X-aws-ec2-metadata-token: $(curl -s -m 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "${FLEET_IMDS[$i]}/latest/api/token")"; echo; done | sort -u | grep -c '^i-')
[ "$ids" = $N ]
ok $? "$N distinct instance-ids ($ids)"

fleet_acme_yaml | sed 's|^  email: admin@example.com$|  email: admin@example.com\n  timeout: 40|' | fleet_config
grep -q "timeout: 40" "${FLEET_ROOT[2]}/etc/kiln/kiln.yaml"
ok $? "fleet_config wrote every instance's config"

for i in $(seq $N); do fleet_boot "$i"; done
fleet_wait 100
for i in $(seq $N); do
	echo "# instance $i: boot exit ${FLEET_RC[$i]}"
	tail -n 5 "$T/fleet/$i/boot.log" | diag
done

for i in $(seq $N); do
	s=$(fleet_serial "$i" demo.test)
	[ -n "$s" ]
	ok $? "instance $i serves a certificate for demo.test on its HTTPS port ${FLEET_HTTPS[$i]} (serial $s)"
done

# Each instance's nginx answers the challenge path statelessly with its own
# account's thumbprint: the answers through the load balancer show where
# each request went.
want=$(for f in "$T"/fleet/*/root/var/lib/kiln/acme/accounts/*/thumbprint; do
	cat "$f" 2>/dev/null
	echo
done | grep . | sort -u)
is_n=$(echo "$want" | grep -c .)
[ "$is_n" = $N ]
ok $? "$N instances, $is_n distinct ACME accounts"
got=$(for _ in $(seq $((N * 3))); do
	curl -s -m 5 -H "Host: demo.test" "http://127.0.0.1:$FLEET_LB_PORT/.well-known/acme-challenge/probe"
	echo
done | sed -n 's/^probe\.//p' | sort -u)
[ -n "$want" ] && [ "$got" = "$want" ]
ok $? "the load balancer reaches every instance (round-robin)"
fleet_lb_hits | diag
hits=$(fleet_lb_hits | wc -l)
[ "$hits" = $N ]
ok $? "its access log shows $hits of $N upstreams"
grep -q 'GET /.well-known/acme-challenge/[A-Za-z0-9_-]\{20,\}' "$FLEET_LB_LOG"
ok $? "Pebble's http-01 validations came through the load balancer"

fleet_teardown
curl -s -m 5 -o /dev/null "http://127.0.0.1:$FLEET_LB_PORT/"
[ $? = 7 ]
ok $? "fleet_teardown stops the load balancer"
done_testing
