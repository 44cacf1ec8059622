#!/bin/bash
# Boot and agent logs in CloudWatch Logs, against moto's server with IAM
# authentication on: kiln's log and a user-data script's output arrive in
# their group and streams (created when missing, retention set), a file is
# tailed, an outage (503s, throttling, resets) and kill -9 lose nothing.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/e2e/cloudwatch-lib.bash"
. "$top_srcdir/tests/e2e/logs-lib.bash"
trap 'stop_daemon KILL; cleanup' EXIT

start_ec2 imds
logs_moto_start
G=/kiln/test
APP=$ROOT/var/log/app.log
mkdir -p "$ROOT/var/log" "$ROOT/etc/kiln"
lines "$APP" 1 100 before

user_data <<'EOS'
#!/bin/sh
for i in $(seq 1 50); do echo "script line $i"; done
echo "non-ASCII: été"
EOS
cat >"$ROOT/etc/kiln/kiln.yaml" <<EOY
logs:
  group: $G
  retention_days: 7
  force_flush_interval: 1
  timeout: 3
  files:
    - path: /var/log/app.log
EOY

check "IAM authentication is on: a wrong secret is refused" $PYTHON "$LOGS_PY" denied "$MOTO"
[ "$($PYTHON "$LOGS_PY" retention "$MOTO" "$G")" = missing ]
ok $? "the group does not exist before kiln runs"

start_daemon
wait_for 30 has_events "$G" "$INSTANCE/script/user-data" 51
ok $? "the user-data script's output arrives in $INSTANCE/script/user-data"
[ "$(events "$G" "$INSTANCE/script/user-data" | head -50)" = "$(seq -f 'script line %g' 1 50)" ]
ok $? "... every line, in order"
events "$G" "$INSTANCE/script/user-data" | grep -qx "non-ASCII: été"
ok $? "... UTF-8 kept"
wait_for 20 has_events "$G" "$INSTANCE/file/var-log-app.log" 100
[ "$(events "$G" "$INSTANCE/file/var-log-app.log")" = "$(seq -f 'before %g' 1 100)" ]
ok $? "a configured file's lines arrive in $INSTANCE/file/var-log-app.log"
wait_for 20 sh -c "$PYTHON '$LOGS_PY' events '$MOTO' '$G' '$INSTANCE/kiln' | grep -q 'Shipping logs to CloudWatch Logs group'"
ok $? "kiln's own log arrives in $INSTANCE/kiln"
wait_for 20 sh -c "$PYTHON '$LOGS_PY' events '$MOTO' '$G' '$INSTANCE/kiln' | grep -q 'user-data: script line 50'"
ok $? "... from the boot on, before the logs module started (the script's lines as kiln logged them)"
[ "$($PYTHON "$LOGS_PY" retention "$MOTO" "$G")" = 7 ]
ok $? "the group was created with retention 7 days"
diag <($PYTHON "$LOGS_PY" streams "$MOTO" "$G")
grep -q "Created CloudWatch Logs stream" "$T/daemon.log"
ok $? "streams were created when PutLogEvents said they were missing"

lines "$APP" 1 500 run
wait_for 20 has_events "$G" "$INSTANCE/file/var-log-app.log" 600
ok $? "lines appended while kiln runs arrive"

# --- an outage: 503s, kill -9 while it lasts, more lines while kiln is dead
fault 503
lines "$APP" 1 1000 outage
wait_for 20 sh -c "[ \$(curl -sf $PROXY/_fault | grep -o '\"503\": [0-9]*' | grep -o '[0-9]*$') -ge 3 ]"
ok $? "during the outage kiln keeps trying, with backoff ($(fault_count 503) refused requests)"
wait_for 10 grep -q "Failed to ship logs to CloudWatch Logs, keeping them spooled" "$T/daemon.log"
ok $? "the outage is logged once"
[ "$(event_count "$G" "$INSTANCE/file/var-log-app.log")" -eq 600 ]
ok $? "nothing new arrived while failing"
stop_daemon KILL
lines "$APP" 1001 2000 outage
start_daemon
sleep 2
fault throttle
sleep 2
fault reset
sleep 2
fault pass
wait_for 60 has_events "$G" "$INSTANCE/file/var-log-app.log" 2600
got=$(events "$G" "$INSTANCE/file/var-log-app.log" | grep -c '^outage ')
[ "$got" -eq 2000 ]
ok $? "after 503s, kill -9, throttling and resets: every one of 2000 lines arrived ($got)"
dups=$(events "$G" "$INSTANCE/file/var-log-app.log" | sort | uniq -d | wc -l)
[ "$dups" -eq 0 ]
ok $? "... none twice ($dups duplicated)"
[ "$(events "$G" "$INSTANCE/file/var-log-app.log" | grep '^outage ')" = "$(seq -f 'outage %g' 1 2000)" ]
ok $? "... in order"

# --- kill -9 while a batch is in flight (the proxy forwards it to moto and
# holds the answer): nothing lost, at most that batch twice
fault slow
lines "$APP" 1 30000 kill
wait_for 30 sh -c "[ \$(curl -sf $PROXY/_fault | grep -o '\"slow\": [0-9]*' | grep -o '[0-9]*$') -ge 2 ]"
sleep 0.5
stop_daemon KILL
before=$(events "$G" "$INSTANCE/file/var-log-app.log" | grep -c '^kill ')
fault pass
start_daemon
wait_for 60 sh -c "[ \$($PYTHON '$LOGS_PY' events '$MOTO' '$G' '$INSTANCE/file/var-log-app.log' | grep '^kill ' | sort -u | wc -l) -ge 30000 ]"
uniq_n=$(events "$G" "$INSTANCE/file/var-log-app.log" | grep '^kill ' | sort -u | wc -l)
all_n=$(events "$G" "$INSTANCE/file/var-log-app.log" | grep -c '^kill ')
[ "$before" -lt 30000 ] && [ "$uniq_n" -eq 30000 ]
ok $? "kill -9 with a batch in flight, $before of 30000 lines arrived: all arrive after a restart ($uniq_n distinct)"
[ $((all_n - uniq_n)) -le 10000 ]
ok $? "... duplicates at most the batch in flight ($((all_n - uniq_n)))"
wait_for 10 sh -c "[ \"\$($PYTHON -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"logs\"][\"spooled_bytes\"])' $ROOT/run/kiln/status.json)\" -lt 100000 ]"
ok $? "the spool is emptied once shipped ($(logs_field spooled_bytes) bytes left)"
stop_daemon

done_testing
