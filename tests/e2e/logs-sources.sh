#!/bin/bash
# CloudWatch Logs sources and bounds, against moto's server with IAM
# authentication on: journal units (through a journalctl stand-in that
# prints what journalctl -o json prints, honouring --after-cursor), a
# file's own group and stream template, kiln validate on logs:, and the
# spool's bound during an outage (the oldest dropped and counted, the rest
# shipped).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/e2e/cloudwatch-lib.bash"
. "$top_srcdir/tests/e2e/logs-lib.bash"
trap 'stop_daemon KILL; cleanup' EXIT

start_ec2 imds
logs_moto_start
mkdir -p "$ROOT/var/log" "$ROOT/etc/kiln"

# --- kiln validate
cat >"$T/bad.yaml" <<'EOY'
logs:
  retention_days: 2
  force_flush_interval: 0
  files:
    - stream: x
EOY
out=$(kiln validate --config "$T/bad.yaml" 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q "retention_days: 2 is not a retention" <<<"$out" && grep -q "force_flush_interval" <<<"$out" &&
	grep -q "needs a path" <<<"$out"
ok $? "kiln validate refuses a retention CloudWatch Logs does not take, a zero interval, a file without a path"
diag <<<"$out"
kiln validate --keys | grep -qF '| `logs.retention_days` |'
ok $? "validate --keys lists the logs keys"

# --- journal units through a stand-in journalctl: entries after the cursor
J=$T/journal.jsonl
: >"$J"
for i in $(seq 1 30); do
	printf '{"__CURSOR":"c%d","__REALTIME_TIMESTAMP":"%d000","MESSAGE":"unit line %d"}\n' "$i" "$(date +%s%N | cut -c1-13)" "$i" >>"$J"
done
# a MESSAGE that is not UTF-8 comes as an array of bytes
printf '{"__CURSOR":"c31","__REALTIME_TIMESTAMP":"%d000","MESSAGE":[104,105,255]}\n' "$(date +%s%N | cut -c1-13)" >>"$J"
cat >"$T/journalctl" <<EOS
#!/bin/sh
echo "\$@" >>"$T/journalctl.args"
after=
for a in "\$@"; do case \$a in --after-cursor=*) after=\${a#--after-cursor=};; esac; done
if [ -z "\$after" ]; then cat "$J"; else sed -n "/\"__CURSOR\":\"\$after\"/,\\\$p" "$J" | tail -n +2; fi
EOS
chmod +x "$T/journalctl"
export KILN_TEST_JOURNALCTL=$T/journalctl
lines "$ROOT/var/log/other.log" 1 10 other
cat >"$ROOT/etc/kiln/kiln.yaml" <<EOY
logs:
  group: /kiln/src
  force_flush_interval: 1
  timeout: 3
  kiln: false
  journal_units: [app.service]
  files:
    - path: /var/log/other.log
      group: /kiln/other
      stream: "{instance_id}-other"
EOY
start_daemon
wait_for 30 has_events /kiln/src "$INSTANCE/journal/app.service" 31
[ "$(events /kiln/src "$INSTANCE/journal/app.service" | head -30)" = "$(seq -f 'unit line %g' 1 30)" ]
ok $? "a unit's journal entries arrive in $INSTANCE/journal/app.service"
events /kiln/src "$INSTANCE/journal/app.service" | tail -1 | grep -qx "hi$(printf '\357\277\275')"
ok $? "... a MESSAGE given as bytes, invalid UTF-8 replaced"
wait_for 10 grep -q -- "--after-cursor=c31" "$T/journalctl.args" &&
	grep -q -- "-u app.service" "$T/journalctl.args" && head -1 "$T/journalctl.args" | grep -q -- "--boot"
ok $? "journalctl is asked for the unit, this boot first, then after the cursor kept"
printf '{"__CURSOR":"c32","__REALTIME_TIMESTAMP":"%d000","MESSAGE":"unit line 32"}\n' "$(date +%s%N | cut -c1-13)" >>"$J"
wait_for 20 has_events /kiln/src "$INSTANCE/journal/app.service" 32
ok $? "a new entry arrives"
wait_for 20 has_events /kiln/other "$INSTANCE-other" 10
ok $? "a file with its own group and a stream template ({instance_id})"
[ -z "$(events /kiln/src "$INSTANCE/kiln")" ]
ok $? "logs.kiln: false ships no kiln stream"
stop_daemon KILL
start_daemon
sleep 3
[ "$(event_count /kiln/src "$INSTANCE/journal/app.service")" -eq 32 ]
ok $? "after kill -9 and a restart, no journal entry is sent twice (the cursor was kept)"
stop_daemon

# --- the spool's bound in an outage: the oldest segments go, counted
cat >"$ROOT/etc/kiln/kiln.yaml" <<EOY
logs:
  group: /kiln/bound
  force_flush_interval: 1
  timeout: 3
  kiln: false
  spool:
    max_mb: 1
  files:
    - path: /var/log/big.log
EOY
fault 503
unset KILN_TEST_JOURNALCTL
start_daemon
# 60,000 lines of 100 bytes (6 MB): more than the 1 MiB bound and the
# 4 MiB segment being written
$PYTHON -c 'import sys
with open(sys.argv[1], "w") as f:
    for i in range(1, 60001):
        f.write("big %06d %s\n" % (i, "x" * 88))' "$ROOT/var/log/big.log"
wait_for 30 sh -c "[ \"\$($PYTHON -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"logs\"][\"dropped_events\"])' $ROOT/run/kiln/status.json 2>/dev/null || echo 0)\" -gt 0 ]"
ok $? "over logs.spool.max_mb, the oldest events are dropped and counted ($(logs_field dropped_events))"
grep -q "Logs spool is full: dropped the" "$T/daemon.log"
ok $? "... with a warning"
sb=$(logs_field spooled_bytes)
[ "$sb" -le $(((1 + 4) * 1024 * 1024 + 200000)) ]
ok $? "the spool stays within the bound plus the segment being written ($sb bytes)"
sleep 3 # the file read to its end
dropped=$(logs_field dropped_events)
fault pass
wait_for 120 sh -c "[ \"\$($PYTHON -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"logs\"][\"sent_events\"])' $ROOT/run/kiln/status.json)\" -ge $((60000 - dropped)) ]"
got=$(event_count /kiln/bound "$INSTANCE/file/var-log-big.log")
[ "$got" -eq $((60000 - dropped)) ]
ok $? "the rest arrives: $got shipped + $dropped dropped = 60000"
[ "$(events /kiln/bound "$INSTANCE/file/var-log-big.log" | tail -1 | cut -d' ' -f2)" = 060000 ]
ok $? "... the newest kept"
stop_daemon

done_testing
