#!/bin/bash
# Self-test of the fake CloudWatch (tests/fakes/cloudwatch.py), in TAP.
#
# Drives it with Debian's own AWS CLI (/usr/bin/aws, Query protocol) and with
# requests signed by Debian's python3-botocore (JSON 1.0 protocol, gzip).
set -u

here=$(cd "$(dirname "$0")" && pwd)
fake="$here/cloudwatch.py"
py=/usr/bin/python3
aws=/usr/bin/aws

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-fake-cloudwatch.XXXXXX")
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

n=0
failed=0
ok() {      # ok CONDITION-EXIT-STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        failed=$((failed + 1))
        if [ -s "$tmp/out" ]; then sed 's/^/# /' "$tmp/out" | head -n 20; fi
    fi
}
# check DESCRIPTION COMMAND...: run COMMAND, record ok/not ok on its status
check() {
    local desc=$1
    shift
    "$@" >"$tmp/check.out" 2>&1
    local rc=$?
    cp "$tmp/check.out" "$tmp/out"
    ok "$rc" "$desc"
}

# ---------------------------------------------------------------- helpers --

# A small client: signs with botocore's SigV4Auth, sends over http.client and
# prints "status N", the x-amzn-query-error header and the body.
cat >"$tmp/client.py" <<'EOF'
import argparse, datetime, gzip, http.client, sys
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--proto", choices=["json", "query"], default="json")
p.add_argument("--action", default="PutMetricData")
p.add_argument("--gzip", action="store_true")
p.add_argument("--ak", default="AKIDTEST")
p.add_argument("--sk", default="s3cret")
p.add_argument("--token")
p.add_argument("--region", default="us-east-1")
p.add_argument("--skew", type=int, default=0, help="sign this many s off")
p.add_argument("--no-sign", action="store_true")
p.add_argument("--timeout", type=float, default=10)
p.add_argument("body")
a = p.parse_args()

body = a.body.encode()
if a.body.startswith("@"):
    body = open(a.body[1:], "rb").read()
headers = {}
if a.proto == "json":
    headers["Content-Type"] = "application/x-amz-json-1.0"
    headers["X-Amz-Target"] = "GraniteServiceVersion20100801." + a.action
else:
    headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
if a.gzip:
    body = gzip.compress(body)
    headers["Content-Encoding"] = "gzip"
url = "http://127.0.0.1:%d/" % a.port
headers["Host"] = "127.0.0.1:%d" % a.port
req = AWSRequest(method="POST", url=url, data=body, headers=headers)
if not a.no_sign:
    if a.skew:
        real = datetime.datetime
        class Skewed(real):
            @classmethod
            def utcnow(cls):
                return real.utcnow() + datetime.timedelta(seconds=a.skew)
        botocore.auth.datetime.datetime = Skewed
    SigV4Auth(Credentials(a.ak, a.sk, a.token), "monitoring",
              a.region).add_auth(req)
conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=a.timeout)
try:
    conn.request("POST", "/", body=body, headers=dict(req.headers.items()))
    resp = conn.getresponse()
    data = resp.read().decode()
except Exception as e:
    print("exception %s: %s" % (type(e).__name__, e))
    sys.exit(0)
print("status %d" % resp.status)
print("query-error %s" % resp.getheader("x-amzn-query-error"))
print(data)
EOF

client() { "$py" "$tmp/client.py" --port "$port" "$@"; }

# GET or POST the control API: ctl PATH [JSON]
ctl() {
    "$py" - "$port" "$@" <<'EOF'
import sys, urllib.request
port, path = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else None
req = urllib.request.Request("http://127.0.0.1:%s/_fake/%s" % (port, path),
                             data=data, method="POST" if data else "GET")
print(urllib.request.urlopen(req, timeout=10).read().decode())
EOF
}

# jq-less JSON checks: jcheck JSON-TEXT PYTHON-EXPRESSION-ON-d
jcheck() {
    "$py" -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"
}

export AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY=s3cret
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE PYTHONPATH PYTHONHOME
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=
export AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard

cw() {      # the real CLI against the fake
    "$aws" --endpoint-url "http://127.0.0.1:$port" --region us-east-1 \
        --cli-read-timeout 10 --cli-connect-timeout 5 cloudwatch "$@"
}
# expect_fail CODE CMD...: CMD must fail and mention CODE
expect_fail() {
    local code=$1
    shift
    if "$@" >"$tmp/out" 2>&1; then return 1; fi
    grep -q -- "$code" "$tmp/out"
}

plan=49
echo "1..$plan"

# ------------------------------------------------------------------ start --

"$py" "$fake" --port 0 --port-file "$tmp/port" \
    --access-key AKIDTEST --secret-key s3cret \
    --cred AKIDROTATED:n3wsecret \
    --cred AKIDTEMP:t3mpsecret:SESSIONTOKEN123 \
    2>"$tmp/fake.err" &
pid=$!
for _ in $(seq 100); do
    [ -s "$tmp/port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
port=$(cat "$tmp/port" 2>/dev/null)
[ -n "$port" ]
ok $? "fake starts and writes its port file ($port)"
if [ -z "$port" ]; then
    cat "$tmp/fake.err" >&2
    echo "Bail out! fake did not start"
    exit 1
fi

out=$(ctl health)
jcheck "$out" 'd["ok"] and d["port"] == '"$port"
ok $? "GET /_fake/health"

# ------------------------------------------------------------- the CLI ----

check "aws cloudwatch put-metric-data succeeds" \
    cw put-metric-data --namespace Test --metric-name X --value 1 \
    --unit Count --dimensions InstanceId=i-123,Role=web

out=$(ctl datapoints)
jcheck "$out" 'len(d) == 1 and d[0]["namespace"] == "Test" and d[0]["metric_name"] == "X" and d[0]["value"] == 1.0 and d[0]["unit"] == "Count" and d[0]["protocol"] == "query" and not d[0]["gzip"] and {x["Name"]: x["Value"] for x in d[0]["dimensions"]} == {"InstanceId": "i-123", "Role": "web"}'
ok $? "the datapoint shows in /_fake/datapoints"

cw list-metrics --namespace Test >"$tmp/out" 2>&1 &&
    jcheck "$(cat "$tmp/out")" 'any(m["MetricName"] == "X" and len(m["Dimensions"]) == 2 for m in d["Metrics"])'
ok $? "aws cloudwatch list-metrics returns it"

cw list-metrics --namespace Test --dimensions Name=Role,Value=db >"$tmp/out" 2>&1 &&
    jcheck "$(cat "$tmp/out")" 'd["Metrics"] == []'
ok $? "list-metrics filters on dimension values"

start=$(date -u -d '-10 min' +%Y-%m-%dT%H:%M:%SZ)
end=$(date -u -d '+10 min' +%Y-%m-%dT%H:%M:%SZ)
cw get-metric-statistics --namespace Test --metric-name X \
    --dimensions Name=InstanceId,Value=i-123 Name=Role,Value=web \
    --start-time "$start" --end-time "$end" --period 60 \
    --statistics Sum SampleCount Maximum >"$tmp/out" 2>&1 &&
    jcheck "$(cat "$tmp/out")" 'len(d["Datapoints"]) == 1 and d["Datapoints"][0]["Sum"] == 1.0 and d["Datapoints"][0]["SampleCount"] == 1.0 and d["Datapoints"][0]["Unit"] == "Count"'
ok $? "aws cloudwatch get-metric-statistics returns it"

cw get-metric-statistics --namespace Test --metric-name X \
    --start-time "$start" --end-time "$end" --period 60 \
    --statistics Sum >"$tmp/out" 2>&1 &&
    jcheck "$(cat "$tmp/out")" 'd["Datapoints"] == []'
ok $? "get-metric-statistics needs the exact dimension set"

AWS_SECRET_ACCESS_KEY=wrong expect_fail SignatureDoesNotMatch \
    cw put-metric-data --namespace Test --metric-name X --value 1
ok $? "a wrong secret key gives SignatureDoesNotMatch"

grep -q "The request signature we calculated does not match" "$tmp/out"
ok $? "... with AWS's message"

out=$(ctl requests)
jcheck "$out" 'd[-1]["error_code"] == "SignatureDoesNotMatch" and "canonical_request" in d[-1] and d[-1]["status"] == 403'
ok $? "the request log keeps the canonical request of a mismatch"

AWS_ACCESS_KEY_ID=AKIDUNKNOWN expect_fail InvalidClientTokenId \
    cw put-metric-data --namespace Test --metric-name X --value 1
ok $? "an unknown access key gives InvalidClientTokenId"

AWS_ACCESS_KEY_ID=AKIDROTATED AWS_SECRET_ACCESS_KEY=n3wsecret \
    check "a second credential set (--cred) is accepted" \
    cw put-metric-data --namespace Test --metric-name Rotated --value 2

AWS_ACCESS_KEY_ID=AKIDTEMP AWS_SECRET_ACCESS_KEY=t3mpsecret \
    AWS_SESSION_TOKEN=SESSIONTOKEN123 \
    check "temporary credentials with their session token are accepted" \
    cw put-metric-data --namespace Test --metric-name Temp --value 3

AWS_ACCESS_KEY_ID=AKIDTEMP AWS_SECRET_ACCESS_KEY=t3mpsecret \
    AWS_SESSION_TOKEN=WRONG expect_fail InvalidClientTokenId \
    cw put-metric-data --namespace Test --metric-name Temp --value 3
ok $? "a wrong session token gives InvalidClientTokenId"

AWS_ACCESS_KEY_ID=AKIDTEMP AWS_SECRET_ACCESS_KEY=t3mpsecret \
    expect_fail InvalidClientTokenId \
    cw put-metric-data --namespace Test --metric-name Temp --value 3
ok $? "a missing session token gives InvalidClientTokenId"

ctl creds '{"expire": ["AKIDTEMP"]}' >/dev/null &&
    AWS_ACCESS_KEY_ID=AKIDTEMP AWS_SECRET_ACCESS_KEY=t3mpsecret \
    AWS_SESSION_TOKEN=SESSIONTOKEN123 expect_fail ExpiredToken \
    cw put-metric-data --namespace Test --metric-name Temp --value 3
ok $? "an expired session token gives ExpiredToken"

ctl creds '{"add": [{"access_key": "AKIDNEW", "secret_key": "added"}]}' >/dev/null &&
    AWS_ACCESS_KEY_ID=AKIDNEW AWS_SECRET_ACCESS_KEY=added \
    check "credentials added at runtime are accepted" \
    cw put-metric-data --namespace Test --metric-name New --value 4

expect_fail InvalidParameterValue \
    cw put-metric-data --namespace Test --metric-name X --value NaN
ok $? "a NaN value is rejected with InvalidParameterValue"

out=$(ctl 'datapoints?metric_name=X')
jcheck "$out" 'len(d) == 1'
ok $? "... and not recorded"

expect_fail InvalidParameterValue \
    cw put-metric-data --namespace AWS/EC2 --metric-name X --value 1
ok $? "a namespace starting with AWS/ is rejected"

expect_fail InvalidParameterValue \
    cw put-metric-data --namespace Test --metric-name X --value 1 \
    --storage-resolution 5
ok $? "StorageResolution 5 is rejected"

expect_fail InvalidParameterValue \
    cw put-metric-data --namespace Test --metric-name X --value 1 \
    --timestamp "$(date -u -d '-3 weeks' +%Y-%m-%dT%H:%M:%SZ)"
ok $? "a timestamp three weeks old is rejected"

# ---------------------------------------------------------------- faults --

ctl faults '{"throttle": 1}' >/dev/null &&
    expect_fail Throttling \
    cw put-metric-data --namespace Test --metric-name X --value 1
ok $? "throttle fault: the CLI sees Throttling"

grep -q "Rate exceeded" "$tmp/out"
ok $? "... with message Rate exceeded"

check "the throttle fault is used up after one request" \
    cw put-metric-data --namespace Test --metric-name X --value 5

ctl faults '{"fail_5xx": 1, "fail_status": 503}' >/dev/null &&
    expect_fail ServiceUnavailable \
    cw put-metric-data --namespace Test --metric-name X --value 1
ok $? "fail_5xx fault with 503: the CLI sees ServiceUnavailable"

ctl faults '{"reset": 1}' >/dev/null
if cw put-metric-data --namespace Test --metric-name X --value 1 \
    >"$tmp/out" 2>&1; then false; else
    out=$(ctl requests)
    jcheck "$out" 'd[-1]["fault"] == "reset"'
fi
ok $? "reset fault: the connection is dropped without a response"

ctl faults '{"hang": 1, "hang_ms": 1500}' >/dev/null &&
    client --timeout 0.5 '{"Namespace": "Test", "MetricData": [{"MetricName": "H", "Value": 1}]}' >"$tmp/out" 2>&1 &&
    grep -q "exception.*timed out" "$tmp/out"
ok $? "hang fault: the client times out"

ctl faults '{"delay_ms": 700}' >/dev/null
t0=$(date +%s%N)
client '{"Namespace": "Test", "MetricData": [{"MetricName": "D", "Value": 1}]}' >"$tmp/out" 2>&1
t1=$(date +%s%N)
ctl faults '{"delay_ms": 0}' >/dev/null
grep -q "status 200" "$tmp/out" && [ $(((t1 - t0) / 1000000)) -ge 700 ]
ok $? "delay_ms fault delays the response"

# --------------------------------------------------- JSON protocol, gzip --

client --gzip '{"Namespace": "Test", "MetricData": [{"MetricName": "J", "Dimensions": [{"Name": "Host", "Value": "h1"}], "Values": [1.5, 2.5], "Counts": [2, 1], "Unit": "Milliseconds", "StorageResolution": 1, "Timestamp": '"$(date +%s)"'}]}' >"$tmp/out" 2>&1 &&
    grep -q "status 200" "$tmp/out"
ok $? "a gzip JSON-protocol request signed by botocore is accepted"

out=$(ctl 'datapoints?metric_name=J')
jcheck "$out" 'len(d) == 1 and d[0]["protocol"] == "json" and d[0]["gzip"] and d[0]["values"] == [1.5, 2.5] and d[0]["counts"] == [2.0, 1.0] and d[0]["storage_resolution"] == 1 and d[0]["unit"] == "Milliseconds"'
ok $? "... and recorded with values, counts, protocol json and gzip"

client --action GetMetricStatistics '{"Namespace": "Test", "MetricName": "J", "Dimensions": [{"Name": "Host", "Value": "h1"}], "StartTime": '"$(date -d '-10 min' +%s)"', "EndTime": '"$(date -d '+10 min' +%s)"', "Period": 60, "Statistics": ["Sum", "SampleCount", "Average"]}' >"$tmp/out" 2>&1 &&
    jcheck "$(sed -n '3,$p' "$tmp/out")" 'd["Datapoints"][0]["Sum"] == 5.5 and d["Datapoints"][0]["SampleCount"] == 3.0'
ok $? "JSON GetMetricStatistics aggregates Values/Counts"

client --proto query --gzip 'Action=PutMetricData&Version=2010-08-01&Namespace=Test&MetricData.member.1.MetricName=Q&MetricData.member.1.StatisticValues.SampleCount=4&MetricData.member.1.StatisticValues.Sum=10&MetricData.member.1.StatisticValues.Minimum=1&MetricData.member.1.StatisticValues.Maximum=4' >"$tmp/out" 2>&1 &&
    grep -q "status 200" "$tmp/out" && grep -q "<PutMetricDataResponse" "$tmp/out"
ok $? "a gzip Query-protocol request with StatisticValues is accepted"

client '{"Namespace": "Test", "MetricData": [{"MetricName": "J", "Value": "NaN"}]}' >"$tmp/out" 2>&1 &&
    grep -q "status 400" "$tmp/out" &&
    grep -q '"__type": "InvalidParameterValueException"' "$tmp/out" &&
    grep -q "query-error InvalidParameterValue;Sender" "$tmp/out"
ok $? "JSON protocol: NaN rejected with __type and x-amzn-query-error"

client '{"Namespace": "Test", "MetricData": [{"MetricName": "J", "Value": 1, "Values": [1]}]}' >"$tmp/out" 2>&1 &&
    grep -q "InvalidParameterCombination" "$tmp/out"
ok $? "Value and Values together: InvalidParameterCombination"

client '{"Namespace": "Test", "MetricData": [{"MetricName": "J", "Values": [1, 2], "Counts": [1]}]}' >"$tmp/out" 2>&1 &&
    grep -q "status 400" "$tmp/out" && grep -q "InvalidParameterValue" "$tmp/out"
ok $? "Values and Counts of different lengths are rejected"

"$py" -c 'import json; print(json.dumps({"Namespace": "Test", "MetricData": [{"MetricName": "M%d" % i, "Value": 1} for i in range(1001)]}))' >"$tmp/big.json"
client "@$tmp/big.json" >"$tmp/out" 2>&1 &&
    grep -q "status 400" "$tmp/out" && grep -q "1000" "$tmp/out"
ok $? "more than 1000 MetricData items are rejected"

"$py" -c 'print("Action=PutMetricData&Version=2010-08-01&Namespace=Test&MetricData.member.1.MetricName=" + "x" * (1024 * 1024))' >"$tmp/huge.txt"
client --proto query "@$tmp/huge.txt" >"$tmp/out" 2>&1 &&
    grep -q "status 413" "$tmp/out"
ok $? "a body over 1 MB gets 413"

client --skew -1200 '{"Namespace": "Test", "MetricData": [{"MetricName": "J", "Value": 1}]}' >"$tmp/out" 2>&1 &&
    grep -q "status 403" "$tmp/out" && grep -q "Signature expired" "$tmp/out"
ok $? "a request signed 20 minutes ago: Signature expired"

client --skew -400 '{"Namespace": "Test", "MetricData": [{"MetricName": "J", "Value": 1}]}' >"$tmp/out" 2>&1 &&
    grep -q "status 403" "$tmp/out" && grep -q "Signature expired: .* - 5 min.)" "$tmp/out" &&
    grep -q "query-error SignatureDoesNotMatch;Sender" "$tmp/out"
ok $? "signed 400 s ago (more than CloudWatch's 5 minutes): 403 Signature expired"
client --skew 400 --proto query '{"Namespace": "Test", "MetricData": [{"MetricName": "J", "Value": 1}]}' >"$tmp/out" 2>&1 &&
    grep -q "status 403" "$tmp/out" && grep -q "<Code>SignatureDoesNotMatch</Code>" "$tmp/out" &&
    grep -q "Signature not yet current: .* + 5 min.)" "$tmp/out"
ok $? "signed 400 s ahead, Query protocol: 403 Signature not yet current"
client --skew -200 '{"Namespace": "Test", "MetricData": [{"MetricName": "J", "Value": 1}]}' >"$tmp/out" 2>&1 &&
    grep -q "status 200" "$tmp/out"
ok $? "signed 200 s ago: accepted"
ctl faults '{"clock_offset_s": 3600, "skew_error": "RequestExpired"}' >/dev/null
client '{"Namespace": "Test", "MetricData": [{"MetricName": "J", "Value": 1}]}' >"$tmp/out" 2>&1 &&
    grep -q "status 400" "$tmp/out" && grep -q "RequestExpired" "$tmp/out"
ok $? "the fake's clock an hour ahead, skew_error RequestExpired: a request signed now gets 400 RequestExpired"
client --skew 3600 '{"Namespace": "Test", "MetricData": [{"MetricName": "J", "Value": 1}]}' >"$tmp/out" 2>&1 &&
    grep -q "status 200" "$tmp/out"
ok $? "... and one signed at the fake's time is accepted"
"$py" - "$port" <<'EOF2'
import email.utils, sys, time, urllib.request
with urllib.request.urlopen("http://127.0.0.1:%s/_fake/health" % sys.argv[1], timeout=10) as r:
    date = email.utils.parsedate_to_datetime(r.headers["Date"]).timestamp()
sys.exit(0 if abs(date - time.time() - 3600) < 5 else 1)
EOF2
ok $? "its Date header is from its own clock"
ctl faults '{"clock_offset_s": 0, "skew_error": "SignatureDoesNotMatch"}' >/dev/null

client --no-sign '{"Namespace": "Test", "MetricData": [{"MetricName": "J", "Value": 1}]}' >"$tmp/out" 2>&1 &&
    grep -q "status 403" "$tmp/out" && grep -q "MissingAuthenticationToken" "$tmp/out"
ok $? "an unsigned request: MissingAuthenticationToken"

ctl reset '{}' >/dev/null
out=$(ctl datapoints)
jcheck "$out" 'd == []'
ok $? "POST /_fake/reset clears the datapoints"

# ------------------------------------------------------------------- stop --

kill -TERM "$pid"
status=
for _ in $(seq 50); do
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"
        status=$?
        pid=
        break
    fi
    sleep 0.1
done
[ "$status" = 0 ]
ok $? "SIGTERM stops the fake cleanly (exit $status)"

if [ "$failed" -ne 0 ]; then
    echo "# $failed of $n failed; fake's stderr:"
    sed 's/^/# /' "$tmp/fake.err"
    exit 1
fi
[ "$n" -eq "$plan" ] || { echo "# ran $n tests, planned $plan"; exit 1; }
exit 0
