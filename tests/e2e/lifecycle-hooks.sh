#!/bin/bash
# Auto Scaling lifecycle hooks against moto with signatures and IAM on: the
# launch hook gets heartbeats while a slow boot runs and CONTINUE after it;
# a termination runs on_terminate, drains nginx, flushes the metric spool
# and completes the termination hook; a boot ending in error ABANDONs.
. "$top_srcdir/tests/e2e/nginx-lib.sh"
. "$top_srcdir/tests/e2e/cloudwatch-lib.bash"
. "$top_srcdir/tests/e2e/lifecycle-lib.bash"
trap 'stop_daemon KILL; cleanup' EXIT

lc_start 4
start_upstream app
nginx_settings
lc_imds '"tags/instance/aws:autoscaling:groupName": "web", "autoscaling/target-lifecycle-state": "InService"'

write_config() { # write_config [EXTRA YAML]
	sites_config <<EOY
sites:
  - name: app
    domains: [app.test]
    upstream: http://127.0.0.1:$UPSTREAM_PORT
$(lc_metrics_yaml)
lifecycle:
  launch_hook: launch
  terminate_hook: drain
  poll_interval: 1
  on_terminate:
    - echo "\$KILN_EVENT \$KILN_EVENT_ACTION \$KILN_AUTOSCALING_GROUP" >> $T/terminate.out
runcmd:
  - sleep 5
${1:-}
EOY
}
write_config

check "moto refuses a request signed with a wrong secret" \
	sh -c "! $PYTHON $top_srcdir/tests/e2e/lifecycle-asg.py call $MOTO $KILN_AK wrong-secret x"
check "moto refuses kiln's user a call its policy does not allow" \
	sh -c "! $PYTHON $top_srcdir/tests/e2e/lifecycle-asg.py call $MOTO $KILN_AK $KILN_SK x"
is "$(asg_state)" "Pending:Wait" "the instance waits on the launch hook"

start_daemon
check "the launch hook is completed" wait_for 40 calls_at_least complete CONTINUE 1
hb=$(asg_calls heartbeat)
check "heartbeats were sent during the 5 s boot (HeartbeatTimeout 4 s): $hb" test "$hb" -ge 2
is "$(asg_calls complete)" "1" "completed once"
is "$(asg_state)" "InService" "moto has the instance InService"
is "$(status_field 'd["lifecycle"]["launch_hook"]["result"]')" "CONTINUE" "kiln status records the answer"
check "nginx serves" nginx_up

# The termination: metrics waiting for the next interval (an hour away) go
# with the drain.
kiln put-metric Goodbye 7 --unit Count
asg_admin unhealthy
lc_imds '"tags/instance/aws:autoscaling:groupName": "web", "autoscaling/target-lifecycle-state": "Terminated"'
check "the termination hook is completed" wait_for 30 calls_at_least complete CONTINUE 2
is "$(cat "$T/terminate.out" 2>/dev/null)" "autoscaling-termination Terminated web" "on_terminate ran with the event"
check "nginx no longer answers" nginx_down
check "nginx's graceful stop is in its log" grep -q "gracefully shutting down" "$LOCAL_EC2_NGINX_LOG"
is "$(samples Goodbye)" "7" "the spooled metric was flushed before the hook was completed"
is "$(asg_state)" "Terminating:Proceed" "moto has the termination proceeding"
check "terminated once" sh -c "sleep 2; [ \$(wc -l < $T/terminate.out) = 1 ]"
stop_daemon

# A new launch whose boot ends in error: ABANDON.
asg_admin relaunch
rm -rf "$ROOT"/var/lib/kiln/instances/*/lifecycle
lc_imds '"tags/instance/aws:autoscaling:groupName": "web", "autoscaling/target-lifecycle-state": "InService"'
write_config "scripts: {timeout: not-a-number}"
start_daemon
check "a failing boot abandons the launch" wait_for 40 calls_at_least complete ABANDON 1
is "$(status_field 'd["result"]')" "error" "the boot ended in error"
is "$(asg_state)" "Terminating" "moto terminates the instance"
stop_daemon
grep -q "Ready" "$T/daemon.log" || diag "$T/daemon.log"
done_testing
