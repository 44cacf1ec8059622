#!/bin/bash
# dns-01 through Route 53, with the real Pebble as the CA on an instance
# whose HTTP port the CA cannot reach, and moto's Route 53 (without its
# auth: moto 5.2.1 fails its own signature check on Route 53 GETs) behind
# tests/fakes/r53-front.py, which records kiln's requests, copies moto's
# TXT records into pebble-challtestsrv (Pebble's DNS) and injects faults.
# Checks: a wildcard and its apex in one certificate, both values in one
# record set in one change, PENDING followed to INSYNC, the record deleted
# after (the DELETE naming exactly what was written), the most specific
# public zone chosen (a private one ignored), hosted_zone_id as
# /hostedzone/Z..., NoSuchHostedZone and throttling shown in `kiln certs`
# and backed off, throttling once retried within the attempt, kiln's SigV4
# equal to botocore's on every recorded request, and `kiln validate`
# refusing a wildcard with http-01.
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"
# shellcheck source=/dev/null
. "$top_srcdir/tests/data/acme/lib.sh"

MOTO_PYTHON=${MOTO_PYTHON:-/root/.pyenv/shims/python3.11}
if ! "$MOTO_PYTHON" -c 'import moto.server, boto3' 2>/dev/null; then
	echo "Bail out! moto is not installed for $MOTO_PYTHON (see dev/deps)"
	exit 1
fi
free_port() { $PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
boto() { "$MOTO_PYTHON" - "http://127.0.0.1:$MOTO_PORT" "$@"; }

# --- the peers ---
CLOSED=$(free_port) # nothing listens: the CA cannot reach port 80
start_upstream app
# Pebble reuses a valid authorization for half the orders by default
# (PEBBLE_AUTHZREUSE=50): a renewal would then need no challenge and no
# Route 53 call, and the error cases below could not happen.
export PEBBLE_AUTHZREUSE=0
LOCAL_EC2_PEBBLE_HTTP_PORT=$CLOSED start_ec2 imds nginx pebble
nginx_settings
[ -n "${LOCAL_EC2_CHALLTESTSRV_MGMT:-}" ] || { echo "Bail out! no pebble-challtestsrv management URL"; exit 1; }

MOTO_PORT=$(free_port)
"$MOTO_PYTHON" -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" >"$T/moto.log" 2>&1 &
track $!
for _ in $(seq 150); do
	curl -sf -m 2 "http://127.0.0.1:$MOTO_PORT/moto-api/data.json" >/dev/null 2>&1 && break
	sleep 0.1
done
$PYTHON "$top_srcdir/tests/fakes/r53-front.py" --moto "http://127.0.0.1:$MOTO_PORT" \
	--challtestsrv "$LOCAL_EC2_CHALLTESTSRV_MGMT" --log "$T/r53.log" --sync-log "$T/sync.log" \
	--port-file "$T/front.port" >"$T/front.log" 2>&1 &
track $!
for _ in $(seq 100); do [ -s "$T/front.port" ] && break; sleep 0.05; done
FRONT=http://127.0.0.1:$(cat "$T/front.port")
fault() { curl -sf -m 5 -X POST --data "$1" "$FRONT/_fake/config" >/dev/null; }

# Zones: demo.test, sub.demo.test (more specific), and a private
# x.sub.demo.test that must not be used.
boto >"$T/zones.json" <<'PY'
import boto3, json, sys
c = boto3.client("route53", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="x", aws_secret_access_key="y")
out = {}
for name in ("demo.test", "sub.demo.test"):
    out[name] = c.create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]["Id"].split("/")[-1]
out["private"] = c.create_hosted_zone(
    Name="x.sub.demo.test", CallerReference="private", VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-0123456789"},
    HostedZoneConfig={"Comment": "private", "PrivateZone": True})["HostedZone"]["Id"].split("/")[-1]
print(json.dumps(out))
PY
ok $? "moto has the hosted zones"
zone() { $PYTHON -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/zones.json" "$1"; }
Z_DEMO=$(zone demo.test)
Z_SUB=$(zone sub.demo.test)
Z_PRIV=$(zone private)

export AWS_ENDPOINT_URL_ROUTE_53=$FRONT
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEKILNTEST0token0for0route53
unset AWS_ENDPOINT_URL AWS_REGION AWS_DEFAULT_REGION

# dns01_config [ZONE_ID]: two dns-01 sites (a wildcard with its apex, and a
# name under sub.demo.test), and one more with a fresh name when FRESH=1.
dns01_config() {
	{
		echo "acme:"
		echo "  email: admin@example.com"
		echo "  directory: $LOCAL_EC2_ACME_DIRECTORY"
		echo "  ca_file: $LOCAL_EC2_ACME_CA"
		echo "  timeout: 60"
		[ -n "${1:-}" ] && printf '  route53:\n    hosted_zone_id: %s\n' "$1"
		echo "sites:"
		echo "  - name: wild"
		echo "    domains: [demo.test, \"*.demo.test\"]"
		echo "    tls: acme"
		echo "    challenge: dns-01"
		echo "    upstream: http://127.0.0.1:$UPSTREAM_PORT"
		echo "  - name: deep"
		echo "    domains: [x.sub.demo.test]"
		echo "    tls: acme"
		echo "    challenge: dns-01"
		echo "    upstream: http://127.0.0.1:$UPSTREAM_PORT"
		if [ "${FRESH:-}" = 1 ]; then
			echo "  - name: fresh"
			echo "    domains: [fresh.sub.demo.test]"
			echo "    tls: acme"
			echo "    challenge: dns-01"
			echo "    upstream: http://127.0.0.1:$UPSTREAM_PORT"
		fi
	} >"$ROOT/etc/kiln/kiln.d/acme.yaml"
}
SITE_OF() { echo "$ROOT/var/lib/kiln/acme/sites/$1"; }

# requests [SINCE_LINE]: kiln's Route 53 requests, one per line, as
# "METHOD TARGET ACTION NAME VALUES..." (the change's fields for a POST).
requests() {
	tail -n +"$((${1:-0} + 1))" "$T/r53.log" | $PYTHON -c '
import base64, json, re, sys
for line in sys.stdin:
    r = json.loads(line)
    body = base64.b64decode(r["body"]).decode()
    extra = ""
    if body:
        act = re.findall(r"<Action>(.*?)</Action>", body)
        name = re.findall(r"<Name>(.*?)</Name>", body)
        vals = re.findall(r"<Value>(.*?)</Value>", body)
        extra = " %s %s %s" % (",".join(act), ",".join(name), " ".join(vals))
    print(r["method"] + " " + r["target"] + extra)'
}
log_lines() { wc -l <"$T/r53.log" 2>/dev/null || echo 0; }
# The TXT records named _acme-challenge.* left in moto, all zones.
leftover_txt() {
	boto <<'PY'
import boto3, sys
c = boto3.client("route53", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="x", aws_secret_access_key="y")
for z in c.list_hosted_zones()["HostedZones"]:
    for rs in c.list_resource_record_sets(HostedZoneId=z["Id"])["ResourceRecordSets"]:
        if rs["Type"] == "TXT" and rs["Name"].startswith("_acme-challenge"):
            print(z["Id"], rs["Name"], [r["Value"] for r in rs["ResourceRecords"]])
PY
}
san_has() { openssl x509 -in "$(SITE_OF "$1")/cert.pem" -noout -ext subjectAltName 2>/dev/null | grep -q "DNS:$2\b"; }
issued() { [ -s "$(SITE_OF "$1")/cert.pem" ] && [ ! -e "$(SITE_OF "$1")/placeholder" ]; }
cert_fp() { file_fingerprint "$(SITE_OF "$1")/cert.pem"; }
certs_field() { # certs_field SITE EXPR
	kiln certs --json | $PYTHON -c 'import json,sys; d={s["site"]: s for s in json.load(sys.stdin)}[sys.argv[1]]; print(eval(sys.argv[2]))' "$1" "$2"
}

# --- kiln validate: wildcards need dns-01 ---
cat >"$T/wild-http.yaml" <<EOF
sites:
  - name: w
    domains: [demo.test, "*.demo.test"]
    tls: acme
    upstream: http://127.0.0.1:1
EOF
kiln validate --config "$T/wild-http.yaml" >"$T/validate.out" 2>&1
ok $([ $? = 1 ]; echo $?) "validate: a wildcard with http-01 is an error"
grep -q "wild-http.yaml:3:.*sites\[0\].domains\[1\]: '\*.demo.test' is a wildcard.*challenge: dns-01" "$T/validate.out"
ok $? "with FILE:LINE and the way out (challenge: dns-01)"
diag "$T/validate.out"
sed -i 's/    tls: acme/    tls: acme\n    challenge: dns-01/' "$T/wild-http.yaml"
check "validate: the same with challenge: dns-01 is fine" kiln validate --config "$T/wild-http.yaml"
sed -i 's/challenge: dns-01/challenge: tls-alpn-01/' "$T/wild-http.yaml"
kiln validate --config "$T/wild-http.yaml" >"$T/validate.out" 2>&1
grep -q "wild-http.yaml:5:.*sites\[0\].challenge: must be http-01 or dns-01" "$T/validate.out"
ok $? "validate: an unknown challenge is an error"

# --- a wildcard and its apex, and the most specific zone, at boot ---
fault '{"pending": 2}'
dns01_config
kiln boot >"$T/boot.log" 2>&1
diag "$T/boot.log"
check "wildcard site: issued" issued wild
check "its certificate names demo.test" san_has wild demo.test
check "and *.demo.test" san_has wild '\*.demo.test'
SITE=wild check "the chain verifies to Pebble's root" chain_verifies
check "deep site: issued" issued deep
check "nginx serves the wildcard certificate for demo.test" serves "$(SITE_OF wild)/cert.pem" demo.test
check "and for any.demo.test (the wildcard)" serves "$(SITE_OF wild)/cert.pem" any.demo.test
check "nginx serves deep's for x.sub.demo.test" serves "$(SITE_OF deep)/cert.pem" x.sub.demo.test
! grep -q "acme-challenge" "$EC2/nginx/logs/access.log" 2>/dev/null
ok $? "no http-01 request reached nginx (the CA cannot reach port 80: dns-01 did it)"
requests >"$T/req.txt"
diag "$T/req.txt"
[ "$(grep -c "POST /2013-04-01/hostedzone/.*/rrset/ UPSERT _acme-challenge.demo.test. " "$T/req.txt")" = 1 ]
ok $? "one UPSERT for _acme-challenge.demo.test (the wildcard and the apex share it)"
grep "UPSERT _acme-challenge.demo.test. " "$T/req.txt" | grep -qE '(&quot;[A-Za-z0-9_-]{43}&quot;.*){2}$'
ok $? "holding both values, quoted, in one change"
$PYTHON - "$T/sync.log" <<'PY'
import json, sys
seen = [json.loads(l) for l in open(sys.argv[1])]
assert any(s["name"] == "_acme-challenge.demo.test." and len(set(s["values"])) == 2 for s in seen), seen
PY
ok $? "moto held one record set with both values (what pebble-challtestsrv was given)"
grep -q "POST /2013-04-01/hostedzone/$Z_DEMO/rrset/ UPSERT _acme-challenge.demo.test. " "$T/req.txt"
ok $? "in zone demo.test"
grep -q "POST /2013-04-01/hostedzone/$Z_SUB/rrset/ UPSERT _acme-challenge.x.sub.demo.test. " "$T/req.txt"
ok $? "x.sub.demo.test's record in sub.demo.test: the most specific public zone"
! grep -q "$Z_PRIV" "$T/req.txt"
ok $? "never in the private zone x.sub.demo.test"
grep -q "GET /2013-04-01/hostedzonesbyname?dnsname=_acme-challenge.x.sub.demo.test&maxitems=100" "$T/req.txt" &&
	grep -q "GET /2013-04-01/hostedzonesbyname?dnsname=sub.demo.test&maxitems=100" "$T/req.txt" &&
	! grep -q "hostedzonesbyname?dnsname=demo.test&" <(grep -A3 "dnsname=_acme-challenge.x.sub" "$T/req.txt" | head -4)
ok $? "found with ListHostedZonesByName, most specific name first, stopping at the first public zone"
[ "$(grep -c "GET /2013-04-01/change/" "$T/req.txt")" -ge 3 ]
ok $? "GetChange polled while PENDING, until INSYNC"
$PYTHON - "$T/req.txt" <<'PY'
import sys
up, down = {}, {}
for l in open(sys.argv[1]):
    f = l.split()
    if len(f) > 3 and f[2] in ("UPSERT", "DELETE"):
        (up if f[2] == "UPSERT" else down).setdefault((f[1], f[3]), []).append(f[4:])
assert up and up == down, (up, down)
PY
ok $? "each record set DELETEd after validation, exactly as it was UPSERTed"
leftover_txt >"$T/left.txt"
[ ! -s "$T/left.txt" ]
ok $? "no _acme-challenge record left in moto"
diag "$T/left.txt"
kiln certs >"$T/certs.txt" 2>&1
[ "$(grep -c "certificate:  issued, issued by 'Pebble Intermediate CA" "$T/certs.txt")" = 2 ]
ok $? "kiln certs shows both certificates issued"

# --- kiln's signatures, checked with botocore on the recorded requests ---
$PYTHON - "$T/r53.log" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN" <<'PY'
import base64, json, re, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
n = bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    h = {k.lower(): v for k, v in r["headers"]}
    auth = h["authorization"]
    m = re.match(r"AWS4-HMAC-SHA256 Credential=[^/]+/\d{8}/(us-east-1)/(route53)/aws4_request, SignedHeaders=([^,]+), ", auth)
    assert m, auth
    req = AWSRequest(method=r["method"], url="http://" + h["host"] + r["target"], data=base64.b64decode(r["body"]))
    for name in m.group(3).split(";"):
        if name not in ("x-amz-date", "x-amz-security-token"):
            req.headers[name] = h[name]
    req.context["timestamp"] = h["x-amz-date"]
    signer = SigV4Auth(Credentials(sys.argv[2], sys.argv[3], sys.argv[4]), "route53", "us-east-1")
    signer._modify_request_before_signing(req)
    sig = signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req)
    signer._inject_signature_to_request(req, sig)
    n += 1
    if req.headers["Authorization"] != auth:
        bad += 1
        print("# differs: %s %s\n#   kiln:     %s\n#   botocore: %s" % (r["method"], r["target"], auth, req.headers["Authorization"]))
print("# %d requests checked" % n)
sys.exit(1 if bad or n < 6 else 0)
PY
ok $? "every recorded Route 53 request is signed for us-east-1/route53 as botocore signs it"

# --- hosted_zone_id as /hostedzone/Z... ---
before=$(log_lines)
old=$(cert_fp wild)
dns01_config "/hostedzone/$Z_DEMO"
kiln renew --force wild >"$T/renew.log" 2>&1
ok $? "renew with hosted_zone_id /hostedzone/Z..."
diag "$T/renew.log"
[ "$(cert_fp wild)" != "$old" ] && issued wild
ok $? "a new certificate"
requests "$before" >"$T/req2.txt"
grep -q "POST /2013-04-01/hostedzone/$Z_DEMO/rrset/ UPSERT" "$T/req2.txt" && ! grep -q hostedzonesbyname "$T/req2.txt"
ok $? "the given zone used, no lookup"

# --- Route 53 errors: clear in kiln certs, backed off ---
dns01_config Z0000000000NOSUCHZONE
old=$(cert_fp deep)
kiln renew --force deep >"$T/renew.log" 2>&1
ok $([ $? = 1 ]; echo $?) "renew fails with a zone that does not exist"
diag "$T/renew.log"
[ "$(cert_fp deep)" = "$old" ]
ok $? "the current certificate stays"
err=$(certs_field deep 'd["last_error"]')
echo "# last_error: $err"
case $err in *NoSuchHostedZone*Z0000000000NOSUCHZONE* | *Z0000000000NOSUCHZONE*NoSuchHostedZone*) r=0 ;; *) r=1 ;; esac
ok $r "kiln certs: the error names NoSuchHostedZone and the zone"
kiln certs | grep -q "last error:   dns-01: .*NoSuchHostedZone"
ok $? "kiln certs (text) shows it"
[ "$(certs_field deep 'd["failures"]')" = 1 ] && [ "$(certs_field deep 'd["next_check"]')" -ge $(($(date +%s) + 50)) ]
ok $? "one failure, the next try backed off (a minute or more)"

dns01_config
fault '{"throttle": 1000}'
before=$(log_lines)
FRESH=1 dns01_config
kiln boot >"$T/boot3.log" 2>&1
requests "$before" >"$T/req3.txt"
n=$(grep -c "hostedzonesbyname" "$T/req3.txt")
[ "$n" = 3 ]
ok $? "throttled: the call tried 3 times, no more ($n)"
err=$(certs_field fresh 'd["last_error"]')
echo "# last_error: $err"
case $err in *Throttling*) r=0 ;; *) r=1 ;; esac
ok $r "kiln certs: the fresh site's error says Throttling"
[ "$(certs_field fresh 'd["certificate"]')" = placeholder ] && [ "$(certs_field fresh 'd["next_check"]')" -ge $(($(date +%s) + 50)) ]
ok $? "it stays on its placeholder, its next try backed off"
fault '{"throttle": 0}'
before=$(log_lines)
kiln boot >"$T/boot4.log" 2>&1
[ "$(log_lines)" = "$before" ]
ok $? "a boot within the backoff does not call Route 53 again"
fault '{"throttle": 1}'
kiln renew fresh >"$T/renew.log" 2>&1
ok $? "throttled once: kiln renew gets the certificate (tried again within the attempt)"
diag "$T/renew.log"
check "fresh site: issued" issued fresh
requests "$before" >"$T/req3.txt"
[ "$(head -2 "$T/req3.txt" | grep -c "hostedzonesbyname?dnsname=_acme-challenge.fresh.sub.demo.test&")" = 2 ]
ok $? "the throttled request was sent again"
leftover_txt >"$T/left.txt"
[ ! -s "$T/left.txt" ]
ok $? "no _acme-challenge record left in moto at the end"
done_testing
