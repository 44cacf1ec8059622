#!/bin/bash
# One instance's whole boot: a user-data script, an nginx site and metrics
# pushed to CloudWatch (the fake checks each signature with botocore). The
# emulated arm64 run of ./dev/test runs this test against the arm64 binary
# ($KILN a wrapper running it under qemu-aarch64), so it touches every part
# of kiln that could differ between architectures: the HTTP clients, the
# dlopen()ed libraries, the process runner, file writes, the SigV4 signer.
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"
. "$top_srcdir/tests/e2e/cloudwatch-lib.bash"
trap 'stop_daemon KILL; cleanup' EXIT

start_ec2 imds cloudwatch nginx
nginx_settings
cat >"$ROOT/etc/kiln/kiln.yaml" <<EOY
sites:
  - name: web
    domains: [web.test]
    locations: { /: { return: 200, body: hello-from-kiln } }
metrics:
  namespace: Stack
  interval: 1
  timeout: 2
  endpoint: $LOCAL_EC2_CLOUDWATCH
  collect: [memory]
EOY
user_data <<'UD'
#!/bin/sh
echo "script on $KILN_INSTANCE_ID ($(uname -m) kernel)"
echo ran >>"$KILN_ROOT/runs"
UD

kiln boot >"$T/boot.log" 2>&1
rc=$?
[ $rc -le 2 ]
ok $? "kiln boot completes (exit $rc)"
diag "$T/boot.log"
check "the script ran once" test "$(cat "$ROOT/runs" 2>/dev/null)" = ran
check "its output is in user-data.log" grep -q 'script on i-0123456789abcdef0' "$ROOT/var/log/kiln/user-data.log"
is "$(get web.test /)" "hello-from-kiln" "the site answers through nginx"
res=$(status_field 'd["result"]' 2>/dev/null)
[ "$res" = done ] || [ "$res" = degraded ]
ok $? "status.json records the boot ($res)"
kiln status >/dev/null 2>&1
ok "$([ $? -le 2 ] && echo 0 || echo 1)" "kiln status reads it"

kiln put-metric Requests 7 --unit Count --dimension Site=web
ok $? "put-metric queues a datum"
start_daemon
wait_for 60 has_samples Requests 7 7
ok $? "the daemon pushes it to CloudWatch, signed"
mem_seen() { [ -n "$(samples MemoryUtilization)" ]; }
wait_for 30 mem_seen
ok $? "and the memory collector's metric"
stop_daemon
kiln debug sigv4 --date 20150830T123600Z --region us-east-1 --service iam </dev/null >/dev/null 2>&1
[ $? -ne 0 ]
ok $? "debug sigv4 without a request fails cleanly"
kiln version | grep -qE '^kiln [0-9]+\.[0-9]+\.[0-9]+$'
ok $? "version"

done_testing
