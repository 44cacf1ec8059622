#!/bin/bash
# The metric spool's file system full (a real ENOSPC: a small tmpfs over the
# spool, filled): the queue still drains while CloudWatch answers, collected
# datums are sent from memory, and every datum that cannot be kept is
# counted in dropped_datums: sent + dropped = collected, none sent twice.
# Mounting needs root; as another user this test says so and fails.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/e2e/cloudwatch-lib.bash"
SPOOL=$ROOT/var/lib/kiln/metrics
unmount() { mountpoint -q "$SPOOL" && umount "$SPOOL"; }
trap 'stop_daemon KILL; unmount; cleanup' EXIT

mkdir -p "$SPOOL"
if ! mount -t tmpfs -o size=512k,mode=0700 kiln-test-spool "$SPOOL" 2>"$T/mount.err"; then
	ok 1 "mount a 512 KiB tmpfs over the spool (needs root): $(cat "$T/mount.err")"
	done_testing
fi
start_ec2 imds cloudwatch

# A custom metric that counts its runs: Gen 1, 2, 3, ...; none once $T/stop exists.
cat >"$T/gen" <<EOS
#!/bin/sh
[ -e "$T/stop" ] && exit 1
n=\$((\$(cat "$T/count" 2>/dev/null || echo 0) + 1))
echo "\$n" >"$T/count"
echo "\$n"
EOS
chmod +x "$T/gen"
touch "$T/stop"
cw_config <<EOY
  spool:
    max_datums: 6
  custom:
    - name: Gen
      command: [$T/gen]
      unit: Count
EOY

# --- a queue on disk, of commits with several requests, CloudWatch down
cw_post faults '{"fail_5xx": 100000}'
for ns in A B C; do
	kiln put-metric Pre 1 --namespace "$ns" && kiln put-metric Pre 2 --namespace "$ns"
done
start_daemon
wait_for 10 metrics_is queued_datums 6
ok $? "6 datums in 3 namespaces are queued on disk"

# --- fill the file system, then CloudWatch answers again
dd if=/dev/zero of="$SPOOL/filler" bs=4k >/dev/null 2>&1
df -k "$SPOOL" | tail -1 | sed 's/^/# /'
dd if=/dev/zero of="$SPOOL/probe" bs=4k count=1 >/dev/null 2>&1
[ $? != 0 ]
ok $? "the spool's file system is full (ENOSPC)"
rm -f "$SPOOL/probe"
cw_post faults '{"fail_5xx": 0}'
pre_sent() { [ "$(samples Pre | tr '\n' ' ')" = "1 1 1 2 2 2 " ]; }
wait_for 20 pre_sent
ok $? "the queue drains on a full disk: each queued datum arrives once"
# Removing the sent queue file gave some room back: fill it again.
dd if=/dev/zero of="$SPOOL/filler2" bs=1k >/dev/null 2>&1
rm -f "$T/stop"
wait_for 20 sh -c "[ \$(cat '$T/count' 2>/dev/null || echo 0) -ge 4 ]"
gen_count() { samples Gen | wc -l; }
wait_for 10 sh -c "[ \$(curl -sf '$LOCAL_EC2_CLOUDWATCH/_fake/datapoints?metric_name=Gen' | grep -c '\"namespace\"') -ge 2 ]"
ok $? "collected datums are sent from memory while nothing can be written ($(gen_count) so far)"
grep -q "Failed to write the metrics spool, holding .* in memory and sending them from there: No space left on device" "$T/daemon.log"
ok $? "the log says the spool is full and datums are held in memory"
diag <(grep -i "spool" "$T/daemon.log" | head -5)

# --- CloudWatch down again, disk still full: memory is bounded, losses counted
cw_post faults '{"fail_5xx": 100000}'
sleep 9
wait_for 10 sh -c "[ \"\$($PYTHON -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"metrics\"][\"dropped_datums\"])' '$ROOT/run/kiln/status.json')\" -gt 0 ]"
ok $? "over max_datums in memory, the oldest datums are dropped and counted ($(metrics_field dropped_datums))"
q=$(metrics_field queued_datums)
[ "$q" -le 6 ]
ok $? "... keeping at most max_datums ($q)"

# --- room again, CloudWatch back: what is held goes, nothing twice
rm -f "$SPOOL/filler" "$SPOOL/filler2"
cw_post faults '{"fail_5xx": 0}'
sleep 3
touch "$T/stop"
sleep 2
wait_for 20 metrics_is queued_datums 0
ok $? "everything held is sent once CloudWatch answers"
wait_for 10 grep -q "The metrics spool takes writes again" "$T/daemon.log"
ok $? "the spool takes writes again once there is room"
produced=$(cat "$T/count")
sent=$(gen_count)
dropped=$(metrics_field dropped_datums)
dups=$(samples Gen | uniq -d | wc -l)
diag <(echo "Gen: produced $produced, sent $sent, dropped $dropped, sent twice $dups")
[ "$dups" = 0 ]
ok $? "no datum is sent twice"
[ $((sent + dropped)) = "$produced" ]
ok $? "every datum is either sent or counted as dropped ($sent + $dropped = $produced)"
stop_daemon
[ -z "$(find "$SPOOL" -name '*.kiln-*')" ]
ok $? "no temporary file is left in the spool"

done_testing
