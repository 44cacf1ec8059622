#!/bin/bash
# Self-test of the fake IMDS (tests/fakes/imds.py), driven with curl.
# Prints TAP; exits non-zero if any test failed.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
FAKE="$HERE/imds.py"
CURL=/usr/bin/curl
TTLH="X-aws-ec2-metadata-token-ttl-seconds"
TOKH="X-aws-ec2-metadata-token"
T=$(mktemp -d)
PIDS=()
N=0
FAILED=0

# shellcheck source=tests/pid.sh
. "$HERE/../pid.sh"
# Each fake still running (PIDS holds "PID START", see tests/pid.sh).
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        pid_kill TERM ${p% *} ${p#* }
    done
    rm -rf "$T"
}
trap cleanup EXIT

# ok DESC STATUS: one TAP line from a command's exit status.
ok() {
    N=$((N + 1))
    if [ "$2" -eq 0 ]; then
        echo "ok $N - $1"
    else
        echo "not ok $N - $1"
        FAILED=$((FAILED + 1))
    fi
}

# is DESC GOT WANT
is() {
    [ "$2" = "$3" ]
    local rc=$?
    ok "$1" $rc
    [ $rc -eq 0 ] || printf '#   got:  %s\n#   want: %s\n' "$2" "$3"
}

skip() {
    N=$((N + 1))
    echo "ok $N - $1 # SKIP $2"
}

# start_fake NAME ARGS...: start a fake, wait for its port file; sets BASE, PID.
start_fake() {
    local name=$1
    shift
    rm -f "$T/$name.port"
    "$FAKE" --port 0 --port-file "$T/$name.port" "$@" 2>"$T/$name.err" &
    PID=$!
    PIDS+=("$PID $(pid_start "$PID")")
    for _ in $(seq 100); do
        [ -s "$T/$name.port" ] && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.05
    done
    PORT=$(cat "$T/$name.port" 2>/dev/null)
}

# http METHOD PATH [CURL ARGS...]: sets CODE; body in $T/body, headers in $T/hdr.
http() {
    local method=$1 path=$2
    shift 2
    CODE=$($CURL -s --max-time 5 -o "$T/body" -D "$T/hdr" -w '%{http_code}' \
        -X "$method" "$@" "$BASE$path")
}

body() { cat "$T/body"; }

# get PATH: GET with the current token; sets CODE.
get() { http GET "$1" -H "$TOKH: $TOKEN"; }

new_token() {
    $CURL -s --max-time 5 -X PUT -H "$TTLH: ${1:-60}" "$BASE/latest/api/token"
}

# ctl PATH JSON: POST to the control API; prints the HTTP status.
ctl() {
    $CURL -s --max-time 5 -o "$T/ctl" -w '%{http_code}' \
        -H 'Content-Type: application/json' -d "$2" "$BASE/_fake/$1"
}

# json EXPR < doc: evaluate a Python expression on the parsed JSON as d.
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

KEY="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForKilnTests0000000000000000000 kiln-test"

# ---------------------------------------------------------------- startup
start_fake main --instance-id i-0fa4e00000000001 --region eu-west-1 \
    --public-key "$KEY" --role kiln-role --cred-ttl 1 \
    --user-data-file "$T/ud" --state-file "$T/state.json"
BASE="http://127.0.0.1:$PORT"
MAIN_PID=$PID
[[ "$PORT" =~ ^[0-9]+$ ]]
ok "port file written with the port" $?

# ------------------------------------------------------------ token flow
http GET /latest/meta-data/instance-id
is "GET without token: 401 when IMDSv2 is required" "$CODE" 401

http PUT /latest/api/token
is "token PUT without TTL header: 400" "$CODE" 400
http PUT /latest/api/token -H "$TTLH: 0"
is "token PUT with TTL 0: 400" "$CODE" 400
http PUT /latest/api/token -H "$TTLH: 21601"
is "token PUT with TTL 21601: 400" "$CODE" 400
http PUT /latest/api/token -H "$TTLH: abc"
is "token PUT with TTL abc: 400" "$CODE" 400
http PUT /latest/api/token -H "$TTLH: 60" -H "X-Forwarded-For: 10.0.0.1"
is "token PUT with X-Forwarded-For: 403" "$CODE" 403

http PUT /latest/api/token -H "$TTLH: 21600"
TOKEN=$(body)
[ "$CODE" = 200 ] && [ -n "$TOKEN" ] &&
    grep -qi "^$TTLH: 21600" "$T/hdr"
ok "token PUT: 200, a token, TTL header echoed" $?

get /latest/meta-data/instance-id
is "GET instance-id with token" "$CODE $(body)" "200 i-0fa4e00000000001"
grep -qi '^Content-Type: text/plain' "$T/hdr"
ok "Content-Type is text/plain" $?

http GET /latest/meta-data/instance-id -H "$TOKH: not-a-token"
is "GET with an invalid token: 401" "$CODE" 401

# -------------------------------------------------------------- listings
get /latest/meta-data/
LISTING=$(body)
printf '%s\n' "$LISTING" | grep -qx instance-id &&
    printf '%s\n' "$LISTING" | grep -qx placement/ &&
    printf '%s\n' "$LISTING" | grep -qx public-keys/ &&
    printf '%s\n' "$LISTING" | grep -qx iam/ &&
    [ "$(tail -c1 "$T/body" | od -An -c | tr -d ' ')" != '\n' ]
ok "meta-data/ lists children, directories with a slash" $?

get /latest/meta-data
is "meta-data without slash is the same listing" "$(body)" "$LISTING"

get /latest/meta-data/placement/region
is "placement/region" "$(body)" eu-west-1
get /latest/meta-data/placement/availability-zone
is "placement/availability-zone" "$(body)" eu-west-1a
get /latest/meta-data/public-keys/
is "public-keys/ lists 0=NAME" "$(body)" "0=kiln-test"
get /latest/meta-data/public-keys/0/
is "public-keys/0/ lists openssh-key" "$(body)" "openssh-key"
get /latest/meta-data/public-keys/0/openssh-key
is "openssh-key is the key" "$(body)" "$KEY"

get /latest/meta-data/no-such-key
[ "$CODE" = 404 ] && grep -q '404 - Not Found' "$T/body"
ok "absent key: 404 with a Not Found page" $?

http GET /nope/meta-data/instance-id -H "$TOKH: $TOKEN"
is "unknown version: 404" "$CODE" 404

# ------------------------------------------------------------- user-data
get /latest/user-data
is "user-data absent: 404" "$CODE" 404
get /latest/
is "latest/ lists no user-data when absent" "$(body | tr '\n' ' ')" "dynamic meta-data"

printf '#!/bin/sh\necho one\n' >"$T/ud"
get /latest/user-data
is "user-data present: served" "$CODE $(body | tail -n1)" "200 echo one"
get /latest/
is "latest/ lists user-data when present" "$(body | tr '\n' ' ')" "dynamic meta-data user-data"
printf '#!/bin/sh\necho two\n' >"$T/ud"
get /latest/user-data
is "user-data re-read on every request" "$(body | tail -n1)" "echo two"

# ----------------------------------------------------- identity document
get /latest/dynamic/instance-identity/document
python3 -m json.tool "$T/body" >/dev/null
ok "identity document is JSON" $?
is "identity document fields" \
    "$(json 'd["instanceId"], d["region"], d["availabilityZone"], d["version"], d["accountId"]' <"$T/body")" \
    "i-0fa4e00000000001 eu-west-1 eu-west-1a 2017-09-30 123456789012"

# ----------------------------------------------------------- credentials
get /latest/meta-data/iam/security-credentials/
is "security-credentials/ lists the role" "$(body)" kiln-role
get /latest/meta-data/iam/security-credentials/kiln-role
CREDS1=$(body)
is "credentials JSON" \
    "$(json 'd["Code"], d["Type"], d["AccessKeyId"][:4], d["Expiration"][-1]' <<<"$CREDS1")" \
    "Success AWS-HMAC ASIA Z"
sleep 1.2
get /latest/meta-data/iam/security-credentials/kiln-role
K1=$(json 'd["AccessKeyId"]' <<<"$CREDS1")
K2=$(body | json 'd["AccessKeyId"]')
[ -n "$K2" ] && [ "$K1" != "$K2" ]
ok "new credentials minted once the old ones expire" $?

# ------------------------------------------------------- token expiry knobs
is "POST expire_tokens" "$(ctl config '{"expire_tokens": true}')" 200
get /latest/meta-data/instance-id
is "old token after expire_tokens: 401" "$CODE" 401
TOKEN=$(new_token 60)
get /latest/meta-data/instance-id
is "a new token works after expire_tokens" "$CODE" 200

ctl config '{"token_ttl_override": 1}' >/dev/null
SHORT=$(new_token 600)
http GET /latest/meta-data/instance-id -H "$TOKH: $SHORT"
C1=$CODE
sleep 1.2
http GET /latest/meta-data/instance-id -H "$TOKH: $SHORT"
is "token_ttl_override: valid, then 401 after the override" "$C1 $CODE" "200 401"
ctl config '{"token_ttl_override": null}' >/dev/null

# ------------------------------------------------------------------ modes
ctl config '{"disabled": true}' >/dev/null
get /latest/meta-data/instance-id
C1=$CODE
http PUT /latest/api/token -H "$TTLH: 60"
is "disabled: GET and PUT answer 403" "$C1 $CODE" "403 403"
ctl config '{"disabled": false}' >/dev/null

ctl config '{"v1_only": true}' >/dev/null
http PUT /latest/api/token -H "$TTLH: 60"
C1=$CODE
http GET /latest/meta-data/instance-id
is "v1_only: token PUT 404, GET without token 200" "$C1 $CODE" "404 200"

ctl config '{"v1_only": false, "v2_required": false}' >/dev/null
http GET /latest/meta-data/instance-id
C1=$CODE
http GET /latest/meta-data/instance-id -H "$TOKH: bogus"
is "v2 optional: GET without token 200, bad token still 401" "$C1 $CODE" "200 401"
ctl config '{"v2_required": true}' >/dev/null

# ----------------------------------------------------------------- faults
ctl config '{"fail_5xx": 2}' >/dev/null
get /latest/meta-data/instance-id; C1=$CODE
get /latest/meta-data/instance-id; C2=$CODE
get /latest/meta-data/instance-id; C3=$CODE
is "fail_5xx 2: 503, 503, then recovery" "$C1 $C2 $C3" "503 503 200"

ctl config '{"fail_5xx": 1, "fail_status": 500}' >/dev/null
get /latest/meta-data/instance-id; C1=$CODE
get /latest/meta-data/instance-id; C2=$CODE
is "fail_status 500" "$C1 $C2" "500 200"

ctl config '{"reset": 1}' >/dev/null
$CURL -s --max-time 5 -o /dev/null -H "$TOKH: $TOKEN" "$BASE/latest/meta-data/instance-id"
RC=$?
get /latest/meta-data/instance-id
[ "$RC" -ne 0 ] && [ "$CODE" = 200 ]
ok "reset 1: connection reset (curl exit $RC), then recovery" $?

ctl config '{"hang_ms": 3000, "hang_count": 1}' >/dev/null
$CURL -s --max-time 1 -o /dev/null -H "$TOKH: $TOKEN" "$BASE/latest/meta-data/instance-id"
RC=$?
get /latest/meta-data/instance-id
is "hang: client times out, then recovery" "$RC $CODE" "28 200"

ctl config '{"delay_ms": 400}' >/dev/null
SECS=$($CURL -s --max-time 5 -o /dev/null -w '%{time_total}' \
    -H "$TOKH: $TOKEN" "$BASE/latest/meta-data/instance-id")
ctl config '{"delay_ms": 0}' >/dev/null
python3 -c "import sys; sys.exit(0 if float('$SECS') >= 0.4 else 1)"
ok "delay_ms 400 delays the response ($SECS s)" $?

ctl config '{"paths": {"/latest/meta-data/instance-id": {"status": 500, "count": 1}}}' >/dev/null
get /latest/meta-data/instance-id; C1=$CODE
get /latest/meta-data/instance-id; C2=$CODE
get /latest/meta-data/local-ipv4; C3=$CODE
is "paths fault: once on its path only" "$C1 $C2 $C3" "500 200 200"

is "unknown knob: 400" "$(ctl config '{"no_such_knob": 1}')" 400
is "bad knob value: 400" "$(ctl config '{"fail_5xx": "x"}')" 400

# ------------------------------------------------------ instance data changes
echo '{"instance_id": "i-0changed000000002"}' >"$T/state.json"
get /latest/meta-data/instance-id
C1="$(body)"
get /latest/dynamic/instance-identity/document
is "state file changes instance-id at runtime" \
    "$C1 $(json 'd["instanceId"]' <"$T/body")" "i-0changed000000002 i-0changed000000002"

ctl data '{"instance_id": "i-0override00000003"}' >/dev/null
get /latest/meta-data/instance-id
is "POST /_fake/data overrides instance data" "$(body)" "i-0override00000003"

# ------------------------------------------------------------ fleet events
get /latest/meta-data/autoscaling/target-lifecycle-state; C1=$CODE
get /latest/meta-data/spot/instance-action; C2=$CODE
get /latest/meta-data/events/recommendations/rebalance; C3=$CODE
get /latest/meta-data/events/maintenance/scheduled
is "no ASG, spot action or rebalance: 404s; scheduled events []" "$C1 $C2 $C3 $(body)" "404 404 404 []"

ctl data '{"lifecycle_state": "Warmed:Stopped", "tags": {"aws:autoscaling:groupName": "grp", "Name": "web"}}' >/dev/null
get /latest/meta-data/autoscaling/target-lifecycle-state
C1="$CODE $(body)"
ctl data '{"lifecycle_state": "InService"}' >/dev/null
get /latest/meta-data/autoscaling/target-lifecycle-state
is "target-lifecycle-state set and changed mid-run" "$C1 / $CODE $(body)" "200 Warmed:Stopped / 200 InService"
is "bad lifecycle state: 400" "$(ctl data '{"lifecycle_state": "Sleeping"}')" 400

get /latest/meta-data/tags/instance/
C1=$(body | tr '\n' ' ')
get /latest/meta-data/tags/instance/aws:autoscaling:groupName
is "tags/instance/ lists keys, KEY is its value" "$C1/ $(body)" "Name aws:autoscaling:groupName/ grp"
ctl data '{"instance_metadata_tags": false}' >/dev/null
get /latest/meta-data/tags/instance/aws:autoscaling:groupName; C1=$CODE
get /latest/meta-data/; C2=$(body | grep -c '^tags/$')
is "instance metadata tags off: 404, not listed" "$C1 $C2" "404 0"

ctl data '{"spot_action": "terminate", "spot_time": "2017-09-18T08:22:00Z"}' >/dev/null
get /latest/meta-data/spot/instance-action
C1=$(json 'd["action"], d["time"]' <"$T/body")
get /latest/meta-data/spot/termination-time
C2=$(body)
get /latest/meta-data/instance-life-cycle
is "spot instance-action JSON, termination-time, life cycle spot" "$C1 $C2 $(body)" \
    "terminate 2017-09-18T08:22:00Z 2017-09-18T08:22:00Z spot"
ctl data '{"spot_action": "stop", "spot_time": ""}' >/dev/null
get /latest/meta-data/spot/instance-action
C1=$(json 'd["action"], d["time"] > "2000"' <"$T/body")
get /latest/meta-data/spot/termination-time
is "stop: default time, no termination-time" "$C1 $CODE" "stop True 404"

ctl data '{"rebalance_time": "2020-11-05T08:22:00Z"}' >/dev/null
get /latest/meta-data/events/recommendations/rebalance
is "rebalance recommendation noticeTime" "$(json 'd["noticeTime"]' <"$T/body")" "2020-11-05T08:22:00Z"

ctl data '{"scheduled_events": [{"NotBefore": "21 Jan 2019 09:00:43 GMT", "Code": "system-reboot", "Description": "scheduled reboot", "EventId": "instance-event-0d59937288b749b32", "NotAfter": "21 Jan 2019 09:17:23 GMT", "State": "active"}]}' >/dev/null
get /latest/meta-data/events/maintenance/scheduled
is "scheduled events list" "$(json 'len(d), d[0]["Code"], d[0]["EventId"], d[0]["State"]' <"$T/body")" \
    "1 system-reboot instance-event-0d59937288b749b32 active"
is "bad scheduled event key: 400" "$(ctl data '{"scheduled_events": [{"When": "now"}]}')" 400
ctl data '{"spot_action": "", "rebalance_time": "", "scheduled_events": [], "lifecycle_state": ""}' >/dev/null
get /latest/meta-data/spot/instance-action; C1=$CODE
get /latest/meta-data/autoscaling/target-lifecycle-state
is "events cleared mid-run: 404 again" "$C1 $CODE" "404 404"

# ------------------------------------------------------------ log, stats
$CURL -s --max-time 5 "$BASE/_fake/requests" >"$T/log"
is "requests log records requests, not control calls" \
    "$(json 'len(d) > 20, all(set(e) >= {"method", "path", "token", "status", "time"} for e in d), any(e["path"].startswith("/_fake") for e in d), any(e["fault"] == "reset" for e in d)' <"$T/log")" \
    "True True False True"

$CURL -s --max-time 5 "$BASE/_fake/stats" >"$T/stats"
is "stats count token PUTs and statuses" \
    "$(json 'd["token_puts"] >= 8, d["by_status"]["401"] >= 3, d["gets_without_token"] >= 1' <"$T/stats")" \
    "True True True"

is "POST /_fake/reset" "$(ctl reset '{}')" 200
$CURL -s --max-time 5 "$BASE/_fake/requests" >"$T/log"
$CURL -s --max-time 5 "$BASE/_fake/config" >"$T/config"
get /latest/meta-data/instance-id
is "reset clears log, faults and data overrides" \
    "$(json 'len(d)' <"$T/log") $(json 'd["fail_5xx"], d["paths"], d["v2_required"]' <"$T/config") $(body)" \
    "0 0 {} True i-0changed000000002"

# --------------------------------------------------- second fake: flags, IPv6
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
    start_fake v6 --bind ::1 --v1-only
    BASE="http://[::1]:$PORT"
    http PUT /latest/api/token -H "$TTLH: 60"
    C1=$CODE
    http GET /latest/meta-data/instance-type
    is "--bind ::1 --v1-only: PUT 404, GET without token" "$C1 $CODE $(body)" "404 200 t3.micro"
else
    skip "--bind ::1 --v1-only" "no IPv6 loopback"
fi

start_fake off --disabled
BASE="http://127.0.0.1:$PORT"
http GET /latest/meta-data/instance-id
is "--disabled: 403" "$CODE" 403

# ------------------------------------------------------------------ SIGTERM
kill -TERM "$MAIN_PID"
wait "$MAIN_PID"
RC=$?
[ "$RC" -eq 0 ] && [ ! -e "$T/main.port" ]
ok "SIGTERM: clean exit ($RC), port file removed" $?

echo "1..$N"
[ "$FAILED" -eq 0 ]
