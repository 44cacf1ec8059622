#!/bin/bash
# Metrics from kiln arrive at the fake CloudWatch (which checks every
# signature with botocore): collectors, custom commands, put-metric before
# and while the daemon runs, both protocols, gzip, a 400 dropping only its
# batch, kiln status, and the real aws CLI against the same fake.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/e2e/cloudwatch-lib.bash"
trap 'stop_daemon KILL; cleanup' EXIT

start_ec2 imds cloudwatch

cat >"$T/qd" <<'EOS'
#!/bin/sh
echo 17
EOS
cat >"$T/multi" <<'EOS'
#!/bin/sh
echo "Jobs 3 Count"
echo "Lag 1.5 Seconds"
EOS
chmod +x "$T/qd" "$T/multi"

# The issue's example, with the test endpoint added.
mkdir -p "$ROOT/etc/kiln"
cat >"$ROOT/etc/kiln/kiln.yaml" <<EOY
metrics:
  namespace: MyApp
  interval: 1
  endpoint: $LOCAL_EC2_CLOUDWATCH
  collect: [cpu, memory, disk, nginx, certificates]
  custom:
    - name: QueueDepth
      command: [$T/qd]
      unit: Count
    - name: ignored
      command: [$T/multi]
EOY

kiln put-metric Early 5 --unit Count --dimension Role=web
ok $? "put-metric queues a datum while no daemon runs"
ls "$ROOT/var/lib/kiln/metrics/incoming/"*.json >/dev/null 2>&1
ok $? "... into the spool's incoming/"

kiln put-metric Bad NaN >/dev/null 2>&1
[ $? = 64 ]
ok $? "put-metric refuses NaN (exit 64)"
kiln put-metric Bad 1 --unit Parsecs >/dev/null 2>&1
[ $? = 64 ]
ok $? "put-metric refuses an unknown unit"
kiln put-metric Bad 1 --namespace AWS/EC2 >/dev/null 2>&1
[ $? = 64 ]
ok $? "put-metric refuses a reserved namespace"

start_daemon
wait_for 20 has_samples QueueDepth 17 17
ok $? "a custom command's number arrives (QueueDepth 17)"
wait_for 10 has_samples Early 5 5
ok $? "the datum queued before the daemon started arrives, once"
check "its dimension is kept and the namespace is the configured one" \
	sh -c "curl -sf '$LOCAL_EC2_CLOUDWATCH/_fake/datapoints?metric_name=Early' | grep -q '\"Role\"' && curl -sf '$LOCAL_EC2_CLOUDWATCH/_fake/datapoints?metric_name=Early' | grep -q '\"namespace\": \"MyApp\"'"
wait_for 10 has_samples Jobs 3 3
ok $? "'NAME VALUE UNIT' lines from a command become datums"
check "collected metrics carry InstanceId" \
	sh -c "curl -sf '$LOCAL_EC2_CLOUDWATCH/_fake/datapoints?metric_name=MemoryUsed' | grep -q i-0123456789abcdef0"
wait_for 10 sh -c "curl -sf '$LOCAL_EC2_CLOUDWATCH/_fake/datapoints?metric_name=CPUUtilization' | grep -q Percent"
ok $? "CPU utilisation arrives as a Percent"
check "disk usage arrives per mount" \
	sh -c "curl -sf '$LOCAL_EC2_CLOUDWATCH/_fake/datapoints?metric_name=DiskUsedPercent' | grep -q '\"Mount\"'"
check "requests use the JSON 1.0 protocol by default" \
	sh -c "curl -sf '$LOCAL_EC2_CLOUDWATCH/_fake/datapoints?metric_name=QueueDepth' | grep -q '\"protocol\": \"json\"'"

put_seq Live 1 20
wait_for 10 has_samples Live 1 20
ok $? "20 put-metric calls while the daemon runs: each value once"
# Four writers at once while the daemon takes incoming/: none of them may
# lose its file to the daemon's clean-up of dead writers' leftovers.
for w in 1 2 3 4; do
	put_seq "Busy$w" 1 50 &
	pids[w]=$!
done
failed=0
for w in 1 2 3 4; do
	wait "${pids[w]}" || failed=1
done
[ $failed = 0 ]
ok $? "4 concurrent writers, 50 put-metric calls each: every call queues its datum"
all_busy() { for w in 1 2 3 4; do has_samples "Busy$w" 1 50 || return 1; done; }
wait_for 20 all_busy
ok $? "... and all 200 values arrive, each once"
n=$(cw_get "datapoints?metric_name=Live" | $PYTHON -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" -lt 20 ]
ok $? "samples of one metric are packed into Values/Counts ($n datums for 20 samples)"

wait_for 5 metrics_is queued_datums 0
kiln status >"$T/status.out"
grep -q "^metrics:.*sent_datums [1-9]" "$T/status.out"
ok $? "kiln status shows the metrics counters"
diag "$T/status.out"

# A 400 for invalid data drops that batch only and names the datum.
cw_post faults '{"reject_names": ["Poison"]}'
kiln put-metric Poison 1 --namespace Other &&
	kiln put-metric Fine 1 --namespace MyApp
wait_for 10 has_samples Fine 1 1
ok $? "the good batch goes through next to a rejected one"
wait_for 5 grep -q "Dropping a batch of 1 datum(s) in namespace 'Other'.*the bad datum is #1, 'Poison'" "$T/daemon.log"
ok $? "the rejected batch is dropped with an error naming the datum"
wait_for 5 metrics_is rejected_datums 1
ok $? "... and counted as rejected in status"
kiln put-metric After 2
wait_for 10 has_samples After 2 2
ok $? "the queue is not blocked after a rejection"
cw_post faults '{"reject_names": []}'
stop_daemon

# The Query protocol, and gzip for big bodies.
cw_post reset '{}'
cw_config <<'EOY'
  protocol: query
EOY
for i in $(seq 1 400); do
	kiln put-metric "Wide$i" "$i" --dimension "Host=web-server-number-$i" || break
done
start_daemon
wait_for 20 has_samples Wide400 400 400
ok $? "400 distinct metrics arrive over the Query protocol"
check "they came as Query requests" \
	sh -c "curl -sf '$LOCAL_EC2_CLOUDWATCH/_fake/datapoints?metric_name=Wide1' | grep -q '\"protocol\": \"query\"'"
check "a body over 10 KiB was gzipped" \
	sh -c "curl -sf '$LOCAL_EC2_CLOUDWATCH/_fake/datapoints?metric_name=Wide1' | grep -q '\"gzip\": true'"
kiln put-metric Small 1
wait_for 10 has_samples Small 1 1
check "a small body is not gzipped" \
	sh -c "curl -sf '$LOCAL_EC2_CLOUDWATCH/_fake/datapoints?metric_name=Small' | grep -q '\"gzip\": false'"
stop_daemon

# The real AWS CLI against the same fake, with the local EC2's environment.
AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
	/usr/bin/aws --endpoint-url "$LOCAL_EC2_CLOUDWATCH" cloudwatch put-metric-data \
	--namespace MyApp --metric-name FromCli --value 9 --unit Count >"$T/aws.out" 2>&1
ok $? "aws cloudwatch put-metric-data is accepted by the same fake"
has_samples FromCli 9 9
ok $? "... and recorded"

! grep -q "kiln-local-ec2-secret-key-for-tests-only" "$T/daemon.log"
ok $? "the secret key never appears in kiln's log"

done_testing
