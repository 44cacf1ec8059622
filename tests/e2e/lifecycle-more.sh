#!/bin/bash
# The rest of the lifecycle support, against moto and the fake IMDS's fleet
# data: with instance metadata tags off, the group is found with
# DescribeAutoScalingInstances and the launch hook completed; an instance
# in a warm pool (Warmed:Running) orders nothing from the CA until it goes
# InService; a scheduled maintenance event appearing mid-run runs
# on_scheduled once with the event in its environment and is in status.
. "$top_srcdir/tests/e2e/nginx-lib.sh"
. "$top_srcdir/tests/e2e/cloudwatch-lib.bash"
. "$top_srcdir/tests/e2e/lifecycle-lib.bash"
trap 'stop_daemon KILL; cleanup' EXIT

# The CA: takes each connection and closes it, counting them.
$PYTHON "$top_srcdir/tests/fakes/closing-server.py" "$T/ca.port" "$T/ca.count" &
track $!
for _ in $(seq 100); do [ -s "$T/ca.port" ] && break; sleep 0.05; done
CA_PORT=$(cat "$T/ca.port")
ca_hits() { cat "$T/ca.count" 2>/dev/null || echo 0; }

lc_start 30
start_upstream app
nginx_settings
imds_data() { curl -sf -X POST -d "$1" "$LOCAL_EC2_IMDS/_fake/data" >/dev/null; }
# imds_gets PATH: how many GETs of meta-data/PATH the fake IMDS answered.
imds_gets() { curl -sf "$LOCAL_EC2_IMDS/_fake/requests" | $PYTHON -c '
import json, sys
print(sum(1 for r in json.load(sys.stdin) if r["method"] == "GET" and r["path"] == "/latest/meta-data/" + sys.argv[1]))' "$1"; }
imds_data '{"instance_metadata_tags": false, "tags": {"aws:autoscaling:groupName": "web"}, "lifecycle_state": "Warmed:Running"}'
check "the fake IMDS hides the tags" sh -c "! curl -sf $LOCAL_EC2_IMDS/latest/meta-data/tags/instance/ >/dev/null"

sites_config <<EOY
acme:
  directory: http://127.0.0.1:$CA_PORT/dir
sites:
  - name: app
    domains: [app.test]
    tls: acme
    upstream: http://127.0.0.1:$UPSTREAM_PORT
$(lc_metrics_yaml)
lifecycle:
  launch_hook: launch
  poll_interval: 1
  on_scheduled:
    - env | grep '^KILN_EVENT' | sort >> $T/scheduled.env
EOY
is "$(asg_state)" "Pending:Wait" "the instance waits on the launch hook"

start_daemon
check "the daemon is ready" wait_for 30 grep -q "Ready" "$T/daemon.log"
check "the launch hook is completed" wait_for 30 calls_at_least complete CONTINUE 1
is "$($PYTHON -c 'import json,sys; print([json.loads(l)["group"] for l in open(sys.argv[1]) if json.loads(l)["action"] == "complete"])' "$ASG_LOG")" \
	"['web']" "for the group found by DescribeAutoScalingInstances"
is "$(status_field 'd["lifecycle"]["launch_hook"]["state"]')" "Warmed:Running" "answered for the warm pool"
is "$(status_field 'd["lifecycle"]["target_state"]')" "Warmed:Running" "status has the warm pool's state"
check "the site serves its placeholder" test -e "$ROOT/var/lib/kiln/acme/sites/app/placeholder"

# A scheduled event, as IMDS lists it (with a completed one, not for us).
imds_data '{"scheduled_events": [
 {"NotBefore": "21 Jan 2019 09:00:43 GMT", "Code": "system-reboot", "Description": "scheduled reboot",
  "EventId": "instance-event-0d59937288b749b32", "NotAfter": "21 Jan 2019 09:17:23 GMT", "State": "active"},
 {"NotBefore": "20 Jan 2019 09:00:43 GMT", "Code": "instance-stop", "Description": "[Completed] stop",
  "EventId": "instance-event-0aaaaaaaaaaaaaaaa", "NotAfter": "20 Jan 2019 09:17:23 GMT", "State": "completed"}]}'
check "on_scheduled ran" wait_for 30 test -s "$T/scheduled.env"
check "with the event" grep -qx "KILN_EVENT=scheduled-maintenance" "$T/scheduled.env"
check "with its code" grep -qx "KILN_EVENT_ACTION=system-reboot" "$T/scheduled.env"
check "with its JSON" grep -q '^KILN_EVENT_JSON=.*"EventId":"instance-event-0d59937288b749b32"' "$T/scheduled.env"
is "$(status_field '[(e["event"], e["action"]) for e in d["lifecycle"]["events"]]')" \
	"[('scheduled-maintenance', 'system-reboot')]" "kiln status lists the active event only"
polls=$(imds_gets events/maintenance/scheduled)
reads_at_least() { [ "$(imds_gets events/maintenance/scheduled)" -ge "$1" ]; }
check "IMDS's scheduled events were read again" wait_for 30 reads_at_least $((polls + 1))
is "$(grep -c '^KILN_EVENT=' "$T/scheduled.env")" "1" "the event is handled once"

# Warm pool: nothing was asked of the CA; InService orders the certificate.
is "$(ca_hits)" "0" "no request reached the CA while warmed"
imds_data '{"lifecycle_state": "InService"}'
ca_asked() { [ "$(ca_hits)" -ge 1 ]; }
check "InService: the certificate is ordered" wait_for 40 ca_asked
check "the daemon logged the new state" grep -q "target lifecycle state 'InService'" "$T/daemon.log"
stop_daemon
done_testing
