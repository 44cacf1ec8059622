#!/bin/bash
# The boot pipeline against the fake IMDS: scripts run once per instance,
# again on a new instance-id, not on a reboot; failures are recorded and the
# boot still completes.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

start_ec2 imds

# --- no user-data is a normal case ---
no_user_data
kiln boot >"$T/out" 2>&1
ok $? "boot without user-data exits 0"
check "status says done" grep -q '"result": "done"' "$ROOT/run/kiln/status.json"
check "metadata.env has the instance-id" grep -qx 'KILN_INSTANCE_ID=i-0123456789abcdef0' "$ROOT/run/kiln/metadata.env"
check "instance-id stored" grep -qx 'i-0123456789abcdef0' "$ROOT/var/lib/kiln/instance-id"

# --- a script runs once per instance ---
user_data <<'UD'
#!/bin/sh
echo "hello from $KILN_INSTANCE_ID in $KILN_REGION"
echo run >>"$KILN_ROOT/runs"
UD
kiln boot >"$T/out" 2>&1
ok $? "boot with a script exits 0"
check "script output in user-data.log" grep -q 'hello from i-0123456789abcdef0 in us-east-1' "$ROOT/var/log/kiln/user-data.log"
check "script output in kiln's log" grep -q 'user-data: hello from' "$T/out"
[ "$(wc -l <"$ROOT/runs")" -eq 1 ]
ok $? "script ran once"
check "exit code recorded" grep -q '"exit_code": 0' "$ROOT/run/kiln/status.json"

kiln boot >"$T/out" 2>&1
ok $? "reboot exits 0"
[ "$(wc -l <"$ROOT/runs")" -eq 1 ]
ok $? "script does not run again on a reboot"
check "status records it as skipped" grep -q '"result": "skipped"' "$ROOT/run/kiln/status.json"

imds_data '{"instance_id": "i-0fedcba987654321"}'
kiln boot >"$T/out" 2>&1
ok $? "boot as a new instance exits 0"
[ "$(wc -l <"$ROOT/runs")" -eq 2 ]
ok $? "script runs again on a new instance-id"
check "status marks the new instance" grep -q '"new_instance": true' "$ROOT/run/kiln/status.json"
check "per-instance markers kept apart" test -d "$ROOT/var/lib/kiln/instances/i-0fedcba987654321/sem"

# --- gzip-compressed user-data ---
imds_data '{"instance_id": "i-0000000000000gzip"}'
printf '#!/bin/sh\necho gzipped-script-ran\n' | gzip -c >"$EC2/user-data"
kiln boot >"$T/out" 2>&1
ok $? "gzip user-data boots"
check "gzip script ran" grep -q gzipped-script-ran "$ROOT/var/log/kiln/user-data.log"

# --- a failing script: degraded, recorded ---
imds_data '{"instance_id": "i-00000000000000fail"}'
user_data <<'UD'
#!/bin/sh
echo about to fail >&2
exit 7
UD
kiln boot >"$T/out" 2>&1
rc=$?
[ $rc -eq 2 ]
ok $? "failing script: boot exits 2 (degraded), got $rc"
check "status degraded" grep -q '"result": "degraded"' "$ROOT/run/kiln/status.json"
check "exit code 7 recorded" grep -q '"exit_code": 7' "$ROOT/run/kiln/status.json"
kiln status >"$T/status" 2>&1
[ $? -eq 2 ]
ok $? "kiln status exits 2"
check "kiln status names the failure" grep -q 'exited with status 7' "$T/status"

# --- a hanging script is killed at the timeout ---
imds_data '{"instance_id": "i-000000000000000hang"}'
mkdir -p "$ROOT/etc/kiln"
printf 'scripts:\n  timeout: 1\n' >"$ROOT/etc/kiln/kiln.yaml"
user_data <<'UD'
#!/bin/sh
sleep 60 &
sleep 60
UD
start=$(date +%s)
kiln boot >"$T/out" 2>&1
rc=$?
end=$(date +%s)
[ $rc -eq 2 ]
ok $? "hanging script: boot exits 2 (degraded), got $rc"
[ $((end - start)) -lt 15 ]
ok $? "boot completes within the timeout and grace ($((end - start)) s)"
check "timeout recorded" grep -q '"result": "timeout"' "$ROOT/run/kiln/status.json"
rm -f "$ROOT/etc/kiln/kiln.yaml"

# --- a broken baked config is an error that names file and line; the rest still runs ---
imds_data '{"instance_id": "i-0000000000000bad0"}'
mkdir -p "$ROOT/etc/kiln"
printf 'scripts:\n  timeout: [1\n' >"$ROOT/etc/kiln/kiln.yaml"
user_data <<'UD'
#!/bin/sh
echo ran-despite-bad-config
UD
kiln boot >"$T/out" 2>&1
rc=$?
[ $rc -eq 1 ]
ok $? "broken baked config: boot exits 1 (error), got $rc"
check "the error names the file and line" grep -q '/etc/kiln/kiln.yaml:[0-9]*:[0-9]*:' "$ROOT/run/kiln/status.json"
check "the script still ran" grep -q ran-despite-bad-config "$ROOT/var/log/kiln/user-data.log"
rm -f "$ROOT/etc/kiln/kiln.yaml"

# --- binary junk gives a clear error ---
imds_data '{"instance_id": "i-0000000000000junk"}'
head -c 512 /dev/urandom | tr -d '\037' >"$EC2/user-data"
printf '\001\002\003' | cat - "$EC2/user-data" >"$T/junk" && mv "$T/junk" "$EC2/user-data"
kiln boot >"$T/out" 2>&1
rc=$?
[ $rc -eq 1 ]
ok $? "binary junk: boot exits 1 (error), got $rc"
check "the error says what was wrong" grep -q 'user-data:1:1: not a script (#!)' "$T/out"
check "and is in status.json" grep -q 'starts with bytes 01 02 03' "$ROOT/run/kiln/status.json"

# --- IMDS disabled fails fast and clearly ---
imds_faults '{"disabled": true}'
start=$(date +%s)
kiln boot >"$T/out" 2>&1
rc=$?
end=$(date +%s)
[ $rc -eq 1 ]
ok $? "IMDS disabled: boot exits 1"
check "message says disabled" grep -q 'disabled for this instance (403 Forbidden)' "$T/out"
[ $((end - start)) -lt 5 ]
ok $? "fails fast ($((end - start)) s)"
curl -sf -X POST -d '{}' "$LOCAL_EC2_IMDS/_fake/reset" >/dev/null

# --- IMDS that recovers from faults within the budget ---
imds_faults '{"fail_5xx": 3, "reset": 2}'
no_user_data
kiln boot >"$T/out" 2>&1
rc=$?
ok $rc "boot recovers from IMDS 5xx and resets"
[ $rc -eq 0 ] || diag "$T/out"

# --- a boot that orders no certificate never loads OpenSSL (agent/openssl.h) ---
imds_data '{"instance_id": "i-000000000nossl"}'
user_data <<'UD'
#!/bin/sh
# The script's parent is kiln: what it has mapped now, mid-boot.
grep -c -e libcrypto -e libssl "/proc/$PPID/maps" >"$KILN_ROOT/tls-maps"
grep -c libjansson "/proc/$PPID/maps" >"$KILN_ROOT/jansson-maps"
UD
kiln boot >"$T/out" 2>&1
ok $? "boot with a script that looks at kiln's mappings"
check "the script saw kiln's libraries (libjansson mapped)" test "$(cat "$ROOT/jansson-maps")" -gt 0
check "neither libcrypto nor libssl is mapped" test "$(cat "$ROOT/tls-maps")" -eq 0

# --- no secret in any log ---
token_seen=0
kiln -v boot >"$T/out" 2>&1
curl -sf "$LOCAL_EC2_IMDS/_fake/tokens" | $PYTHON -c 'import json,sys; [print(t) for t in json.load(sys.stdin)]' >"$T/tokens"
[ -s "$T/tokens" ]
ok $? "the fake issued tokens to check for"
while read -r tok; do
	grep -rqF "$tok" "$T/out" "$ROOT" 2>/dev/null && token_seen=1
done <"$T/tokens"
[ $token_seen -eq 0 ]
ok $? "no IMDS token appears in logs or status"

done_testing
