#!/bin/bash
# A spot interruption notice appearing in IMDS: on_interruption runs with
# the event in its environment, the metric is counted and flushed with the
# spool, nginx drained, kiln status records the event, each event once; a
# rebalance recommendation runs on_rebalance. Prints the seconds from the
# notice to nginx drained and the spool flushed (bench/spot repeats it).
. "$top_srcdir/tests/e2e/nginx-lib.sh"
. "$top_srcdir/tests/e2e/cloudwatch-lib.bash"
. "$top_srcdir/tests/e2e/lifecycle-lib.bash"
trap 'stop_daemon KILL; cleanup' EXIT

lc_start 30
start_upstream app
nginx_settings
lc_imds '"instance-life-cycle": "spot"'
sites_config <<EOY
sites:
  - name: app
    domains: [app.test]
    upstream: http://127.0.0.1:$UPSTREAM_PORT
$(lc_metrics_yaml)
lifecycle:
  poll_interval: ${KILN_TEST_POLL:-5}
  on_interruption:
    - env | grep '^KILN_EVENT' | sort >> $T/interruption.env
  on_rebalance:
    - echo "\$KILN_EVENT \$KILN_EVENT_TIME" >> $T/rebalance.out
EOY
start_daemon
check "nginx serves" wait_for 20 nginx_up
check "the daemon is ready" wait_for 20 grep -q "Ready" "$T/daemon.log"

lc_imds '"instance-life-cycle": "spot", "events/recommendations/rebalance": "{\"noticeTime\": \"2026-12-07T21:00:00Z\"}"'
check "on_rebalance ran" wait_for 20 test -s "$T/rebalance.out"
is "$(cat "$T/rebalance.out")" "rebalance-recommendation 2026-12-07T21:00:00Z" "with the event's time"
check "nginx still serves after a rebalance recommendation" nginx_up

spot='{"action": "terminate", "time": "2026-12-07T22:02:00Z"}'
kiln put-metric Pending 3 --unit Count
start=$(date +%s.%N)
lc_imds "\"instance-life-cycle\": \"spot\", \"spot/instance-action\": $($PYTHON -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$spot")"
drained() { nginx_down && [ "$(samples Pending)" = 3 ] && [ "$(samples SpotInterruption)" = 1 ]; }
check "nginx drained and the spool flushed" wait_for 30 drained
secs=$($PYTHON -c "import time; print('%.2f' % (time.time() - $start))")
echo "# spot notice -> nginx drained and spool flushed: $secs s"
echo "$secs" >"${KILN_BENCH_OUT:-/dev/null}"
check "within 10 s" $PYTHON -c "import sys; sys.exit(0 if $secs < 10 else 1)"
check "on_interruption had the event" grep -qx "KILN_EVENT=spot-interruption" "$T/interruption.env"
check "with its action" grep -qx "KILN_EVENT_ACTION=terminate" "$T/interruption.env"
check "with its time" grep -qx "KILN_EVENT_TIME=2026-12-07T22:02:00Z" "$T/interruption.env"
check "with its JSON" grep -q '^KILN_EVENT_JSON={"action":"terminate","time":"2026-12-07T22:02:00Z"}' "$T/interruption.env"
is "$(status_field '[e["event"] for e in d["lifecycle"]["events"]]')" "['rebalance-recommendation', 'spot-interruption']" "kiln status records both events"
sleep 3
is "$(grep -c KILN_EVENT=spot "$T/interruption.env")" "1" "the notice is handled once"
done_testing
