#!/bin/bash
# Self-test of the AWS test harness (tests/e2e/aws-lib.bash,
# tests/fakes/moto-server.py, aws-admin.py, r53-bridge.py): moto really
# checks signatures and permissions, the workarounds work and the bugs they
# work around are still there, the request log, the outage switch, the
# lifecycle actions, and the Route 53 -> pebble-challtestsrv bridge.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib.sh
. "$top_srcdir/tests/lib.sh"
# shellcheck source=tests/e2e/aws-lib.bash
. "$top_srcdir/tests/e2e/aws-lib.bash"
is() {
	if [ "$1" = "$2" ]; then ok 0 "$3"; else
		ok 1 "$3"
		echo "#   got '$1', expected '$2'"
	fi
}

moto_available || {
	echo "Bail out! moto is not installed for $MOTO_PYTHON (see dev/deps)"
	exit 1
}
AWS=/usr/bin/aws
B=$MOTO_BUCKET
moto_start main || { echo "Bail out! moto did not start"; exit 1; }
moto_start r53 noauth || { echo "Bail out! moto (Route 53) did not start"; exit 1; }
ok 0 "two motos started: ${MOTO_URL[main]} (auth), ${MOTO_URL[r53]} (noauth)"
is "$AWS_ENDPOINT_URL_S3 $AWS_ENDPOINT_URL_ROUTE_53" "${MOTO_URL[main]} ${MOTO_URL[r53]}" "endpoints exported"

buckets() { aws_bucket "$B" && aws_bucket other-bucket-kiln; }
check "admin creates the bucket and another" buckets

# The aws CLI (Debian's 2.9, which ignores AWS_ENDPOINT_URL_*), in parallel: it is slow to start.
cli() { "$AWS" --endpoint-url "${MOTO_URL[main]}" --region "$AWS_REGION" "$@"; }
echo "hello moto" >"$T/obj"
cli s3api put-object --bucket "$B" --key a/obj --body "$T/obj" >"$T/cli-a.out" 2>&1 &
a=$!
AWS_SECRET_ACCESS_KEY=wrong$AWS_SECRET_ACCESS_KEY cli s3api put-object --bucket "$B" --key a/bad --body "$T/obj" >"$T/cli-b.out" 2>&1 &
b=$!
cli s3api put-object --bucket other-bucket-kiln --key x --body "$T/obj" >"$T/cli-c.out" 2>&1 &
c=$!
cli sqs list-queues >"$T/cli-d.out" 2>&1 &
d=$!
wait $a
ok $? "(a) aws CLI as the limited user: PutObject allowed"
wait $b
rc=$?
[ $rc -ne 0 ] && grep -q SignatureDoesNotMatch "$T/cli-b.out"
ok $? "(b) wrong secret: SignatureDoesNotMatch"
wait $c
rc=$?
[ $rc -ne 0 ] && grep -q AccessDenied "$T/cli-c.out"
ok $? "(c) S3 outside the policy's bucket: AccessDenied"
wait $d
rc=$?
[ $rc -ne 0 ] && grep -q AccessDenied "$T/cli-d.out"
ok $? "(c) an action outside the policy (sqs:ListQueues): AccessDenied"
diag "$T"/cli-*.out

is "$(aws_object "$B" a/obj)" "hello moto" "the object reads back"
is "$(aws_objects "$B" a/)" "a/obj 11" "objects listed; the refused PUT stored nothing"
lsa() { $PYTHON "$top_srcdir/tests/fakes/aws-admin.py" --endpoint "${MOTO_URL[main]}" --key "$AWS_ACCESS_KEY_ID" --secret "$1" \
	call s3 list_objects_v2 "{\"Bucket\": \"$B\", \"Prefix\": \"a/\"}" 2>/dev/null | cut -c1-40; }
is "$(lsa "$AWS_SECRET_ACCESS_KEY")" '{"IsTruncated": false, "Contents": [{"Ke' "ListObjectsV2 with prefix a/ (%2F in the query) as the limited user"
is "$(lsa "x$AWS_SECRET_ACCESS_KEY")" "ERROR SignatureDoesNotMatch 403" "... and with a wrong secret: 403"
# The instance-role path: STS credentials served by the fake IMDS.
$PYTHON "$top_srcdir/tests/fakes/imds.py" --port 0 --port-file "$T/imds.port" --no-v2-required >"$T/imds.log" 2>&1 &
track $!
for _ in $(seq 100); do [ -s "$T/imds.port" ] && break; sleep 0.1; done
IMDS=http://127.0.0.1:$(cat "$T/imds.port")
curl -sf -m 5 -d "$(moto_role_imds main)" "$IMDS/_fake/data" >/dev/null
curl -sf -m 5 "$IMDS/latest/meta-data/iam/security-credentials/kiln-role" >"$T/role.json"
rc=$(jf() { $PYTHON -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/role.json" "$1"; }
	$PYTHON "$top_srcdir/tests/fakes/aws-admin.py" --endpoint "${MOTO_URL[main]}" --key "$(jf AccessKeyId)" \
		--secret "$(jf SecretAccessKey)" --token "$(jf Token)" objects "$B" a/ 2>&1)
is "$rc" "a/obj 11" "the fake IMDS's role credentials (moto STS) list the bucket"
K=$(moto_key main kiln)
is "$(moto_count main service=s3 op=PUT key="$K")" 3 "request log: 3 PUTs signed with the kiln key"
is "$(moto_count main service=s3 op=PUT key="$K" status=200)" 1 "request log: 1 of them succeeded"
is "$(moto_count main service=s3 op=PUT key="$K" status=403 path="/$B/*")" 1 "request log: the 403 by path"

# Requests signed by hand (botocore's signer over exact bytes), one process.
$PYTHON - "${MOTO_URL[main]}" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$T/probe.out" 2>&1 <<'EOF'
import gzip, sys, urllib.request, urllib.error
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
url, key, secret = sys.argv[1:4]
def send(name, service, body, headers, secret=secret, tamper=None):
    req = AWSRequest(method="POST", url=url + "/", data=body, headers=headers)
    SigV4Auth(Credentials(key, secret), service, "us-east-1").add_auth(req)
    h = dict(req.headers.items())
    r = urllib.request.Request(url + "/", data=tamper or body, method="POST", headers=h)
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            print(name, resp.status)
    except urllib.error.HTTPError as e:
        print(name, e.code)
form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
raw = dict(form, **{"X-Kiln-Harness-Raw": "1"})
gz = dict(form, **{"Content-Encoding": "gzip"})
body = (b"Action=PutMetricData&Version=2010-08-01&Namespace=My%20App"
        b"&MetricData.member.1.MetricName=a%20b&MetricData.member.1.Value=1")
send("form", "monitoring", body, form)
send("form-raw", "monitoring", body, raw)
send("gzip", "monitoring", gzip.compress(body), gz)
send("gzip-raw", "monitoring", gzip.compress(body), dict(gz, **{"X-Kiln-Harness-Raw": "1"}))
send("gzip-wrong-secret", "monitoring", gzip.compress(body), gz, secret=secret + "x")
send("form-tampered", "monitoring", body, form, tamper=body.replace(b"Value=1", b"Value=9"))
asg = b"Action=DescribeLifecycleHooks&Version=2011-01-01&AutoScalingGroupName=no%20such"
send("asg-form", "autoscaling", asg, form)
EOF
res() { sed -n "s/^$1 //p" "$T/probe.out"; }
is "$(res form)" 200 "form body with %20, signed over the bytes sent: accepted"
is "$(res form-raw)" 403 "moto bug 2 still there: it checks its re-encoding of the form (403 without the fix)"
is "$(res gzip)" 200 "gzip form body (PutMetricData): accepted"
[ "$(res gzip-raw)" != 200 ] && [ -n "$(res gzip-raw)" ]
ok $? "moto bug 1 still there: a gzip body fails without the fix ($(res gzip-raw))"
is "$(res gzip-wrong-secret)" 403 "gzip body, wrong secret: 403"
is "$(res form-tampered)" 403 "body changed after signing: 403"
is "$(res asg-form)" 200 "Auto Scaling (form) as the limited user: allowed"
diag "$T/probe.out"

# Route 53: moto's own check fails on GETs with auth on (bug 3).
out=$(moto_admin main call route53 list_hosted_zones 2>/dev/null)
is "$out" "ERROR  403" "moto bug 3 still there: Route 53 GET with auth on, signed by admin, refused"
ZONE=$(aws_zone example.test)
[[ $ZONE =~ ^[A-Z0-9]+$ ]]
ok $? "hosted zone on the Route 53 moto: $ZONE"

# Lifecycle actions moto lacks.
mapfile -t IDS < <(aws_asg grp 2 launch:launching:30)
is "${#IDS[@]}" 2 "Auto Scaling group with 2 instances: ${IDS[*]}"
la() { # la ACTION INSTANCE [RESULT]
	local p="{\"AutoScalingGroupName\": \"grp\", \"LifecycleHookName\": \"launch\", \"InstanceId\": \"$2\""
	[ -n "${3:-}" ] && p="$p, \"LifecycleActionResult\": \"$3\""
	$PYTHON "$top_srcdir/tests/fakes/aws-admin.py" --endpoint "${MOTO_URL[main]}" --key "$AWS_ACCESS_KEY_ID" \
		--secret "$AWS_SECRET_ACCESS_KEY" call autoscaling "$1" "$p}" 2>/dev/null
}
is "$(la record_lifecycle_action_heartbeat "${IDS[0]}")" "{}" "heartbeat as the limited user"
is "$(la complete_lifecycle_action "${IDS[0]}" CONTINUE)" "{}" "CompleteLifecycleAction CONTINUE"
is "$(la complete_lifecycle_action "${IDS[0]}" CONTINUE)" "ERROR ValidationError 400" "a second completion: ValidationError"
is "$(la complete_lifecycle_action i-0000000000000dead CONTINUE)" "ERROR ValidationError 400" "an instance outside the group: ValidationError"
is "$(moto_lifecycle | $PYTHON -c 'import json,sys; print(" ".join(e["action"] + ":" + ("ok" if e["status"] == "ok" else "err") for e in json.load(sys.stdin)))')" \
	"heartbeat:ok complete:ok complete:err complete:err" "the lifecycle log"

# Outage switch.
moto_fail on
is "$(moto_admin main call s3 list_objects_v2 "{\"Bucket\": \"$B\"}" 2>/dev/null)" "ERROR ServiceUnavailable 503" "moto_fail on: 503"
moto_fail reset
curl -s -m 10 -o /dev/null "${MOTO_URL[main]}/$B"
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 28 ]
ok $? "moto_fail reset: no answer (curl exit $rc)"
moto_fail off
is "$(aws_objects "$B" a/)" "a/obj 11" "moto_fail off: service again"

# Route 53 -> challtestsrv.
port() { $PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dns=$(port)
mgmt=$(port)
pebble-challtestsrv -dns01 "127.0.0.1:$dns" -management "127.0.0.1:$mgmt" -http01 "" -https01 "" \
	-tlsalpn01 "" -defaultIPv4 127.0.0.1 -defaultIPv6 "" >"$T/challtestsrv.log" 2>&1 &
track $!
r53_bridge_start "http://127.0.0.1:$mgmt"
ok $? "r53 bridge started"
txt() { # txt NAME: the TXT answers of challtestsrv's DNS, sorted, space-separated
	$PYTHON - "$dns" "$1" <<'EOF'
import random, socket, struct, sys
port, name = int(sys.argv[1]), sys.argv[2]
qid = random.randrange(65536)
q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".")) + b"\0"
q += struct.pack(">HH", 16, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(q, ("127.0.0.1", port))
r = s.recv(4096)
an = struct.unpack(">H", r[6:8])[0]
i = len(q)
out = []
for _ in range(an):
    if r[i] & 0xC0 == 0xC0:
        i += 2
    else:
        while r[i]:
            i += r[i] + 1
        i += 1
    t, _, _, ln = struct.unpack(">HHIH", r[i:i + 10])
    i += 10
    if t == 16:
        j, v = i, b""
        while j < i + ln:
            v += r[j + 1:j + 1 + r[j]]
            j += 1 + r[j]
        out.append(v.decode())
    i += ln
print(" ".join(sorted(out)))
EOF
}
wait_txt() { # wait_txt NAME EXPECTED: bounded, 10 s
	for _ in $(seq 50); do
		[ "$(txt "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}
change() { # change ACTION VALUE...
	local action=$1 v vals=""
	shift
	for v in "$@"; do vals="$vals{\"Value\": \"\\\"$v\\\"\"},"; done
	moto_admin r53 call route53 change_resource_record_sets "{\"HostedZoneId\": \"$ZONE\", \"ChangeBatch\": {\"Changes\":
		[{\"Action\": \"$action\", \"ResourceRecordSet\": {\"Name\": \"_acme-challenge.example.test.\", \"Type\": \"TXT\",
		\"TTL\": 60, \"ResourceRecords\": [${vals%,}]}}]}}" >/dev/null
}
check "no TXT before" wait_txt _acme-challenge.example.test ""
change UPSERT tok1 tok2
check "TXT record (two values) in moto reaches challtestsrv's DNS" wait_txt _acme-challenge.example.test "tok1 tok2"
change DELETE tok1 tok2
check "deleted record leaves challtestsrv's DNS" wait_txt _acme-challenge.example.test ""
diag "$T/r53-bridge.log"

moto_stop main
curl -s -m 5 -o /dev/null "${AWS_ENDPOINT_URL_S3}/"
rc=$?
is "$rc" 7 "moto_stop: port closed"

done_testing
