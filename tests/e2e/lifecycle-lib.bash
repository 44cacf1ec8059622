# Shared by the lifecycle tests (sourced after tests/e2e/nginx-lib.sh and
# cloudwatch-lib.bash): moto with the Auto Scaling actions it lacks
# (tests/fakes/moto-lifecycle.py), signatures and IAM policies checked; a
# group "web" holding the fake IMDS's instance; kiln signing as an IAM user
# allowed only its four calls.

MOTO_PY=${MOTO_PY:-/root/.pyenv/shims/python3.11}

# lc_start HEARTBEAT_S: moto, the group, then the local EC2 (imds,
# cloudwatch, nginx) describing the group's instance.
lc_start() {
	local port
	port=$($PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	MOTO=http://127.0.0.1:$port
	ASG_LOG=$T/asg.log
	: >"$ASG_LOG"
	KILN_TEST_ASG_LOG=$ASG_LOG INITIAL_NO_AUTH_ACTION_COUNT=3 \
		"$MOTO_PY" "$top_srcdir/tests/fakes/moto-lifecycle.py" -H 127.0.0.1 -p "$port" >"$T/moto.log" 2>&1 &
	track $!
	for _ in $(seq 150); do
		curl -s -o /dev/null "$MOTO/moto-api/" && break
		sleep 0.2
	done
	eval "$($PYTHON "$top_srcdir/tests/e2e/lifecycle-asg.py" setup "$MOTO" "$1")" ||
		{ echo "Bail out! moto setup failed"; exit 1; }
	export LOCAL_EC2_INSTANCE_ID=$INSTANCE_ID
	start_ec2 imds cloudwatch nginx
	curl -sf -X POST -d "{\"add\": [{\"access_key\": \"$KILN_AK\", \"secret_key\": \"$KILN_SK\"}]}" \
		"$LOCAL_EC2_CLOUDWATCH/_fake/creds" >/dev/null || { echo "Bail out! fake CloudWatch creds"; exit 1; }
	export AWS_ACCESS_KEY_ID=$KILN_AK AWS_SECRET_ACCESS_KEY=$KILN_SK AWS_ENDPOINT_URL_AUTO_SCALING=$MOTO
}

# IMDS documents, as the fake serves them through its "paths" knob:
# lc_imds '"autoscaling/target-lifecycle-state": "InService", ...'
lc_imds() {
	local spec
	spec=$($PYTHON -c '
import json, sys
docs = json.loads("{" + sys.argv[1] + "}")
print(json.dumps({"paths": {"/latest/meta-data/" + k: {"status": 200, "body": v} for k, v in docs.items()}}))' "$1")
	imds_faults "$spec"
}

asg_state() { $PYTHON "$top_srcdir/tests/e2e/lifecycle-asg.py" state "$MOTO" "$ADMIN_AK" "$ADMIN_SK" "$INSTANCE_ID"; }
asg_admin() { $PYTHON "$top_srcdir/tests/e2e/lifecycle-asg.py" "$1" "$MOTO" "$ADMIN_AK" "$ADMIN_SK" "$INSTANCE_ID"; }
# asg_calls ACTION [RESULT]: how many such calls moto accepted.
asg_calls() { $PYTHON -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["action"] == sys.argv[2] and (len(sys.argv) < 4 or e["result"] == sys.argv[3]):
        n += 1
print(n)' "$ASG_LOG" "$@"; }

# The metrics settings every lifecycle test uses: the fake CloudWatch, no
# collectors, no push of its own (the spool is flushed by the drain).
lc_metrics_yaml() {
	cat <<EOY
metrics:
  namespace: Fleet
  interval: 3600
  timeout: 2
  endpoint: $LOCAL_EC2_CLOUDWATCH
  collect: []
EOY
}

nginx_up() { curl -s -o /dev/null -m 2 "http://127.0.0.1:$LOCAL_EC2_HTTP_PORT/"; }
calls_at_least() { [ "$(asg_calls "$1" "$2")" -ge "$3" ]; }
nginx_down() { ! nginx_up; }
