#!/bin/bash
# Nothing lost: CloudWatch failing for a stretch (5xx, throttling, resets,
# hangs), kiln killed with SIGKILL in the middle, the spool's bound; every
# datum arrives exactly once when the fake answers again.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/e2e/cloudwatch-lib.bash"
trap 'stop_daemon KILL; cleanup' EXIT

start_ec2 imds cloudwatch
cw_config </dev/null

# --- an outage of 5xx, then recovery
cw_post faults '{"fail_5xx": 100000, "fail_status": 503}'
start_daemon
put_seq Seq 1 15
wait_for 10 metrics_is queued_datums 15
ok $? "during a 5xx outage the datums wait in the spool (15 queued)"
Q="$ROOT/var/lib/kiln/metrics/queue"
[ "$(head -qn1 "$Q"/*.queue | sort -u)" = "kiln-queue 1" ] &&
	grep -q '"protocol":"json"' "$Q"/*.queue && grep -q '"MetricName":"Seq"' "$Q"/*.queue
ok $? "queue files hold the encoded requests, with a header"
wait_for 10 grep -q "Failed to push metrics, keeping" "$T/daemon.log"
ok $? "the outage is logged"
[ -z "$(samples Seq)" ]
ok $? "nothing was recorded while failing"
failed_attempts() { cw_get requests | $PYTHON -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r.get("status") == 503))'; }
wait_for 10 sh -c "[ \$(curl -sf '$LOCAL_EC2_CLOUDWATCH/_fake/requests' | grep -c '\"status\": 503') -ge 3 ]"
ok $? "kiln keeps retrying, with backoff ($(failed_attempts) failed attempts)"

# --- kill -9 in the outage, more datums while kiln is down, then recovery
stop_daemon KILL
put_seq Seq 16 25
ok $? "put-metric works while the daemon is dead"
cw_post faults '{"fail_5xx": 0}'
start_daemon
wait_for 30 has_samples Seq 1 25
ok $? "after kill -9 and a restart, every datum 1..25 arrives exactly once"
diag <(samples Seq | sort | uniq -d | sed 's/^/duplicate: /')
wait_for 5 metrics_is queued_datums 0
ok $? "the spool is empty afterwards"
[ -z "$(ls "$ROOT/var/lib/kiln/metrics/queue/")" ]
ok $? "... on disk too"

# --- kill -9 while sending works: nothing sent twice
put_seq Kill 1 10
sleep 0.3
stop_daemon KILL
start_daemon
wait_for 20 has_samples Kill 1 10
ok $? "kill -9 while pushing: each datum once"

# --- throttling, connection resets and a hang, in a row
cw_post faults '{"throttle": 2, "reset": 2}'
put_seq Rough 1 10
wait_for 30 has_samples Rough 1 10
ok $? "throttling and connection resets: each datum once"
grep -q "Throttling" "$T/daemon.log"
ok $? "the throttling was seen and retried"
cw_post faults '{"hang": 1, "hang_ms": 4000}'
put_seq Hang 1 5
wait_for 30 has_samples Hang 1 5
ok $? "a request that hangs past metrics.timeout is retried: each datum once"
stop_daemon

# --- the spool's bound: the oldest go, with a warning
cw_post faults '{"fail_5xx": 100000, "hang": 0, "hang_ms": 0}'
cw_config <<'EOY'
  spool:
    max_datums: 5
EOY
start_daemon
put_seq Bound 1 3
wait_for 10 metrics_is queued_datums 3
put_seq Bound 4 6
wait_for 10 metrics_is dropped_datums 3
ok $? "over max_datums, the oldest commit is dropped and counted"
grep -q "Metrics spool is full: dropped the 1 oldest batch(es), 3 datum(s)" "$T/daemon.log"
ok $? "... with a warning"
cw_post faults '{"fail_5xx": 0}'
wait_for 20 has_samples Bound 4 6
ok $? "only the newest datums (4..6) arrive"
stop_daemon

# --- queue files kiln wrote before it kept encoded requests: sent once
cw_config </dev/null
now=$(date +%s)
inc="$ROOT/var/lib/kiln/metrics/incoming"
echo '{"namespace": null, "datums": [{"MetricName": "Legacy", "Value": 1}]}' >"$inc/0000000001-legacy.json"
cat >"$Q/000000000007.json" <<EOJ
{"sources": ["0000000001-legacy.json"], "requests": [
 {"namespace": "MyApp", "datums": [{"MetricName": "Legacy", "Value": 1, "Timestamp": $now},
                                   {"MetricName": "Legacy", "Value": 2, "Timestamp": $now}]},
 {"namespace": "MyApp", "datums": [{"MetricName": "Legacy", "Value": 3, "Timestamp": $now}]}]}
EOJ
# ... and a request that waited past CloudWatch's two weeks
old=$((now - 15 * 86400))
body="{\"Namespace\":\"MyApp\",\"MetricData\":[{\"MetricName\":\"Stale\",\"Timestamp\":$old,\"Value\":1}]}"
printf 'kiln-queue 1\n{"sources":[]}\n{"namespace":"MyApp","protocol":"json","gzip":false,"items":1,"datums":1,"oldest":%s,"newest":%s,"length":%s}\n%s\n' \
	"$old" "$old" "${#body}" "$body" >"$Q/000000000008.queue"
start_daemon
wait_for 20 has_samples Legacy 1 3
ok $? "a queue file of the format before is re-encoded and sent, each datum once"
[ ! -e "$inc/0000000001-legacy.json" ] && [ -z "$(ls "$Q"/*.json 2>/dev/null)" ]
ok $? "... the incoming file it took and the old file are gone"
wait_for 10 grep -q "Dropping a batch of 1 datum(s) in namespace 'MyApp': its oldest timestamp is more than two weeks old" "$T/daemon.log"
ok $? "a request older than two weeks is dropped with a warning"
wait_for 5 metrics_is queued_datums 0
[ -z "$(samples Stale)" ]
ok $? "... and not sent"
stop_daemon

done_testing
