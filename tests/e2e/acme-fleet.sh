#!/bin/bash
# Fleet mode (issue 15): three instances on loopback, each with its own
# --root, fake IMDS (its own instance-id) and real nginx, share
# acme.storage on moto's S3 (IAM auth on, a user with only GetObject,
# PutObject, DeleteObject and ListBucket on the bucket). Pebble validates
# http-01 through a round-robin nginx load balancer in front of the three
# instances' HTTP ports, so validations land on instances that did not
# order. Checked: three boots at once make one order and serve one serial;
# the account key is the fleet's; every object lies under PREFIX/ with
# server-side encryption and no lock is left; a renewal by one instance
# reaches the others on `kiln renew` without an order; kill -9 of the lock
# holder mid-order is taken over after the lease; a storage outage keeps the
# sites serving and `kiln certs` says why.
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/aws-lib.bash"

N=3
SITE=demo
PREFIX=fleet/prod
LEASE=10
moto_available || {
	echo "Bail out! moto is not installed for $MOTO_PYTHON (see dev/deps)"
	exit 1
}

fleet_cleanup() {
	local i pid
	for i in $(seq $N) ca; do
		pid=$(cat "$T/root$i/run/nginx.pid" 2>/dev/null) && [ -n "$pid" ] &&
			[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = nginx ] && kill -QUIT "$pid" 2>/dev/null
		"$top_srcdir/tests/local-ec2" stop "$T/ec2-$i" >/dev/null 2>&1
	done
	pid=$(cat "$T/lb/nginx.pid" 2>/dev/null) && [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null
	cleanup
}
trap fleet_cleanup EXIT

root() { echo "$T/root$1"; }
site_dir() { echo "$(root "$1")/var/lib/kiln/acme/sites/$SITE"; }
env_of() { echo "$T/ec2-$1/env"; }
# kiln_on I ARGS...: kiln as instance I (its IMDS, its nginx ports).
kiln_on() {
	local i=$1
	shift
	(
		# shellcheck source=/dev/null
		. "$(env_of "$i")"
		exec "$KILN" --root "$(root "$i")" "$@"
	)
}
port_of() { (. "$(env_of "$1")" && eval echo "\$$2"); }
serial_served() { # serial_served I: the serial of what instance I's nginx serves
	timeout 10 openssl s_client -connect "127.0.0.1:$(port_of "$1" LOCAL_EC2_HTTPS_PORT)" -servername demo.test \
		</dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
serial_file() { openssl x509 -in "$(site_dir "$1")/cert.pem" -noout -serial 2>/dev/null | cut -d= -f2; }
orders() { # how many orders the instances' logs show, in all of $T/log-*
	cat "$T"/log-* 2>/dev/null | grep -c "Requesting a certificate for site '$SITE'"
}
certs_field() { kiln_on "$1" certs --json 2>/dev/null | jfield "d[0].get('$2')"; }

start_upstream app
moto_start main || {
	echo "Bail out! moto did not start"
	exit 1
}
aws_bucket "$MOTO_BUCKET" >/dev/null || {
	echo "Bail out! no bucket"
	exit 1
}

# The instances: IMDS and nginx each.
lb_upstreams=
for i in $(seq $N); do
	mkdir -p "$(root "$i")"
	make_root "$(root "$i")"
	LOCAL_EC2_ROOT=$(root "$i") "$top_srcdir/tests/local-ec2" start "$T/ec2-$i" imds nginx >/dev/null ||
		{
			echo "Bail out! instance $i did not start"
			exit 1
		}
	(. "$(env_of "$i")" && curl -sf -X POST -d "{\"instance_id\": \"i-fleet000$i\"}" "$LOCAL_EC2_IMDS/_fake/data" >/dev/null)
	lb_upstreams="$lb_upstreams server 127.0.0.1:$(port_of "$i" LOCAL_EC2_HTTP_PORT);"
done

# The load balancer: round-robin over the instances' HTTP ports.
LB_PORT=$($PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/lb/logs" "$T/lb/tmp"
cat >"$T/lb/nginx.conf" <<EOF
$([ "$(id -u)" = 0 ] && echo "user root root;")
worker_processes 1;
pid $T/lb/nginx.pid;
error_log $T/lb/logs/error.log notice;
events { worker_connections 64; }
http {
    access_log $T/lb/logs/access.log;
    client_body_temp_path $T/lb/tmp/body;
    proxy_temp_path $T/lb/tmp/proxy;
    upstream fleet { $lb_upstreams }
    server {
        listen 127.0.0.1:$LB_PORT;
        location / { proxy_pass http://fleet; proxy_set_header Host \$host; }
    }
}
EOF
/usr/sbin/nginx -p "$T/lb" -c "$T/lb/nginx.conf" -e "$T/lb/logs/error.log" || {
	echo "Bail out! the load balancer did not start"
	exit 1
}

# Pebble validates http-01 on the load balancer, every order (no reuse of
# valid authorizations: the kill -9 below needs an order that waits on it).
PEBBLE_AUTHZREUSE=0 LOCAL_EC2_ROOT=$T/root-ca LOCAL_EC2_PEBBLE_HTTP_PORT=$LB_PORT "$top_srcdir/tests/local-ec2" start "$T/ec2-ca" pebble \
	>/dev/null || {
	echo "Bail out! Pebble did not start"
	exit 1
}
# shellcheck source=/dev/null
ACME_DIR=$(. "$T/ec2-ca/env" && echo "$LOCAL_EC2_ACME_DIRECTORY")
ACME_CA=$(. "$T/ec2-ca/env" && echo "$LOCAL_EC2_ACME_CA")

for i in $(seq $N); do
	mkdir -p "$(root "$i")/etc/kiln/kiln.d"
	port_of "$i" LOCAL_EC2_NGINX_CONFIG >"$(root "$i")/etc/kiln/kiln.d/00-local-ec2.yaml"
	cat >"$(root "$i")/etc/kiln/kiln.d/acme.yaml" <<EOF
acme:
  email: admin@example.com
  directory: $ACME_DIR
  ca_file: $ACME_CA
  storage: s3://$MOTO_BUCKET/$PREFIX/
  lock_lease: $LEASE
  timeout: 60
sites:
  - name: $SITE
    domains: [demo.test, www.demo.test]
    tls: acme
    upstream: http://127.0.0.1:$UPSTREAM_PORT
EOF
done

# --- 1. three boots at once: one order, one serial ---
for i in $(seq $N); do
	kiln_on "$i" boot >"$T/log-boot$i" 2>&1 &
	eval "boot$i=$!"
done
for i in $(seq $N); do
	eval "timeout 180 tail --pid=\$boot$i -f /dev/null"
	diag "$T/log-boot$i"
done
is "$(orders)" 1 "three instances booting at once: exactly one order"
orderer=
for i in $(seq $N); do grep -q "Requesting a certificate" "$T/log-boot$i" && orderer=$i; done
s1=$(serial_file "${orderer:-1}")
all_same=0
for i in $(seq $N); do
	[ -n "$s1" ] && [ "$(serial_served "$i")" = "$s1" ] || all_same=1
done
ok $all_same "every instance's nginx serves the same serial ($s1)"
t1=$(cat "$(root 1)"/var/lib/kiln/acme/accounts/*/thumbprint 2>/dev/null)
same_tp=0
for i in $(seq $N); do
	[ -n "$t1" ] && [ "$(cat "$(root "$i")"/var/lib/kiln/acme/accounts/*/thumbprint 2>/dev/null)" = "$t1" ] || same_tp=1
done
ok $same_tp "one ACME account key (thumbprint) on every instance"
others_validated=0
for i in $(seq $N); do
	[ "$i" != "$orderer" ] && grep -q "GET /.well-known/acme-challenge/" "$T/ec2-$i/nginx/logs/access.log" &&
		others_validated=1
done
[ $others_validated = 1 ]
ok $? "the CA's validations reached instances that did not order (through the load balancer)"
is "$(certs_field 2 ordered_by)" "i-fleet000$orderer" "kiln certs --json: ordered_by the instance that ordered"
is "$(certs_field 3 shared)" True "kiln certs --json: the served certificate is the fleet's"
kiln_on 2 certs >"$T/certs2.txt" 2>&1
diag "$T/certs2.txt"
grep -q "shared:       yes, ordered by i-fleet000$orderer" "$T/certs2.txt"
ok $? "kiln certs says shared, and who ordered it"
for i in $(seq $N); do
	mode=$(stat -c %a "$(site_dir "$i")/privkey.pem" 2>/dev/null)
	[ "$mode" = 600 ] || break
done
is "$mode" 600 "the local keys stay 0600"

# --- 2. what is in storage ---
aws_objects "$MOTO_BUCKET" >"$T/objects.txt"
diag "$T/objects.txt"
outside=$(awk -v p="$PREFIX/" 'index($1, p) != 1' "$T/objects.txt" | wc -l)
is "$outside" 0 "every object lies under PREFIX/"
for k in "sites/$SITE/fullchain.pem" "sites/$SITE/privkey.pem" "sites/$SITE/meta.json"; do
	grep -q "^$PREFIX/$k " "$T/objects.txt"
	ok $? "storage has $k"
done
grep -q "^$PREFIX/account/.*/key.pem " "$T/objects.txt"
ok $? "storage has the account key"
grep -q "^$PREFIX/locks/" "$T/objects.txt"
ok $((!$?)) "no lock is left once the order is done"
nosse=0
while read -r key _; do
	aws_head "$MOTO_BUCKET" "$key" | grep -q '"x-amz-server-side-encryption": "AES256"' || nosse=$((nosse + 1))
done <"$T/objects.txt"
is "$nosse" 0 "every object was stored with server-side encryption"
n_ch=$(moto_count main method=PUT "path=/$MOTO_BUCKET/$PREFIX/challenges/*")
[ "$n_ch" -ge 2 ]
ok $? "the http-01 answers were written to storage ($n_ch PUTs) and deleted after"
grep -q "^$PREFIX/challenges/" "$T/objects.txt"
ok $((!$?)) "no challenge answer is left"
aws_object "$MOTO_BUCKET" "$PREFIX/sites/$SITE/meta.json" | $PYTHON -c '
import json, sys
m = json.load(sys.stdin)
assert m["ordered_by"] == sys.argv[1] and m["not_after"] > 0 and m["failures"] == 0, m
assert m["serial"].lower().lstrip("0") == sys.argv[2].lower().lstrip("0"), m' "i-fleet000$orderer" "$s1"
ok $? "meta.json: ordered_by, serial, not_after, no failures"

# --- 3. a renewal by one reaches the others without an order ---
rm -f "$T"/log-*
kiln_on 1 renew --force >"$T/log-renew1" 2>&1
diag "$T/log-renew1"
s2=$(serial_file 1)
[ -n "$s2" ] && [ "$s2" != "$s1" ]
ok $? "kiln renew --force on instance 1: a new certificate ($s2)"
is "$(orders)" 1 "one order for it"
kiln_on 2 renew >"$T/log-renew2" 2>&1
kiln_on 3 renew >"$T/log-renew3" 2>&1
diag "$T/log-renew2"
is "$(orders)" 1 "kiln renew on the others: no new order"
is "$(serial_served 2)/$(serial_served 3)" "$s2/$s2" "and they serve the renewed certificate"
grep -q "installed the fleet's certificate" "$T/log-renew2"
ok $? "instance 2 says it installed the fleet's certificate"

# --- 4. kill -9 of the lock holder mid-order: taken over after the lease ---
rm -f "$T"/log-*
# The load balancer stopped: the CA's validation hangs, the order with it,
# while the holder keeps extending its lease.
lb_pid=$(cat "$T/lb/nginx.pid")
lb_worker=$(pgrep -P "$lb_pid" | head -n 1)
kill -STOP "$lb_pid" "$lb_worker"
# (one process: $! must be kiln itself, not a shell around it)
(. "$(env_of 1)" && exec "$KILN" --root "$(root 1)" renew --force) >"$T/log-kill1" 2>&1 &
holder=$!
seen=1
for _ in $(seq 60); do
	# (the whole listing: moto's wrapper refuses a listing's Prefix signature)
	aws_objects "$MOTO_BUCKET" 2>/dev/null | grep -q "^$PREFIX/locks/$SITE.json " && {
		seen=0
		break
	}
	sleep 0.2
done
ok $seen "instance 1 took the lock"
for _ in $(seq 50); do grep -q "Requesting a certificate" "$T/log-kill1" && break; sleep 0.1; done
sleep 2
[ "$(cat "/proc/$holder/comm" 2>/dev/null)" = kiln ] && kill -9 "$holder" 2>/dev/null
ok $? "kill -9 of the holder (kiln) while it orders"
wait "$holder" 2>/dev/null
diag "$T/log-kill1"
kill -CONT "$lb_pid" "$lb_worker"
aws_object "$MOTO_BUCKET" "$PREFIX/locks/$SITE.json" >"$T/lock.json"
grep -q '"owner":"i-fleet0001"' "$T/lock.json"
ok $? "the lock names its owner: $(cat "$T/lock.json")"
start=$(date +%s)
kiln_on 2 renew --force >"$T/log-kill2" 2>&1
rc=$?
took=$(($(date +%s) - start))
diag "$T/log-kill2"
is "$rc" 0 "instance 2's kiln renew --force succeeds"
grep -q "expired, taking it over" "$T/log-kill2"
ok $? "it took the expired lock over"
[ "$took" -le $((LEASE + 60)) ]
ok $? "within the lease plus the order ($took s)"
s3=$(serial_file 2)
[ -n "$s3" ] && [ "$s3" != "$s2" ] && [ "$(serial_served 2)" = "$s3" ]
ok $? "and serves the certificate it ordered"
is "$(certs_field 1 ordered_by)" i-fleet0002 "the fleet's certificate is now ordered_by i-fleet0002"
kiln_on 1 renew >"$T/log-after1" 2>&1
is "$(serial_served 1)" "$s3" "instance 1 installs it on kiln renew"

# --- 5. storage outage: sites keep serving ---
rm -f "$T"/log-*
moto_fail on
kiln_on 3 renew >"$T/log-out3" 2>&1
rc=$?
diag "$T/log-out3"
[ "$rc" -ne 0 ]
ok $? "kiln renew fails while the storage is down"
check "instance 3 still serves its certificate" test "$(serial_served 3)" = "$s2"
kiln_on 3 certs >"$T/certs3.txt" 2>&1
diag "$T/certs3.txt"
grep -q "storage:" "$T/certs3.txt" && grep -q "failures:" "$T/certs3.txt"
ok $? "kiln certs shows the storage error and the failure"
is "$(certs_field 3 failures)" 1 "kiln certs --json: one failure recorded"
is "$(orders)" 0 "nothing ordered while the storage is down"
moto_fail off
kiln_on 3 renew >"$T/log-back3" 2>&1
is "$?/$(serial_served 3)" "0/$s3" "storage back: kiln renew installs the fleet's certificate"
is "$(certs_field 3 failures)" 0 "and the failures are cleared"
is "$(orders)" 0 "without an order"

done_testing
