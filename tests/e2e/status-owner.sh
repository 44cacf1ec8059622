#!/bin/bash
# A boot killed mid-way leaves status.json saying "running": readers check
# that the boot's process (pid, start time, boot id) still runs, so
# `kiln status` says error and `kiln status --wait` returns. kiln is not
# dumpable, so its /proc files are root's even when another user runs it.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

start_ec2 imds
pub=$ROOT/run/kiln/status.json

user_data <<'UD'
#!/bin/sh
touch "$KILN_ROOT/script-started"
exec sleep 30
UD
# The kiln process itself, not a subshell running the kiln() function.
"$KILN" --root "$ROOT" boot >"$T/boot.out" 2>&1 &
boot_pid=$!
track $boot_pid
for _ in $(seq 400); do
	[ -e "$ROOT/script-started" ] && break
	sleep 0.05
done
check "the boot is running its script" test -e "$ROOT/script-started"

# Another user waits for the boot meanwhile.
chmod 0755 "$T" "$ROOT" "$ROOT/run" "$ROOT/run/kiln"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$KILN" --root "$ROOT" status --wait >"$T/nobody.out" 2>&1 &
nobody_pid=$!
track $nobody_pid
# Until setpriv has exec'd kiln the process is setpriv (non-dumpable too,
# after its setuid): only kiln's own /proc files count. A kiln that stays
# dumpable has them owned by nobody for good.
kiln_exe=$(readlink -f "$KILN")
for _ in $(seq 100); do
	[ "$(readlink "/proc/$nobody_pid/exe")" = "$kiln_exe" ] && [ "$(stat -c %u "/proc/$nobody_pid/environ")" = 0 ] && break
	sleep 0.05
done
check "kiln run by nobody is not dumpable: its /proc files are root's" test "$(readlink "/proc/$nobody_pid/exe")" = "$kiln_exe" -a "$(stat -c %u "/proc/$nobody_pid/environ")" = 0
check "... while the process is nobody's" test "$(awk '/^Uid:/ {print $2}' "/proc/$nobody_pid/status")" = 65534

script_pid=$(pgrep -P $boot_pid | head -n 1)
script_pgid=$(ps -o pgid= -p "$script_pid" | tr -d ' ')
kill -9 $boot_pid
# The script runs in its own process group: stop it too.
[ -n "$script_pgid" ] && [ "$script_pgid" != "$(ps -o pgid= -p $$ | tr -d ' ')" ] && kill -- -"$script_pgid" 2>/dev/null
wait $boot_pid 2>/dev/null
check "status.json still says running" grep -q '"result": "running"' "$pub"

kiln status >"$T/status.txt" 2>&1
rc=$?
[ $rc -eq 1 ]
ok $? "kiln status after the boot died exits 1 (error) (exit $rc)"
check "... naming the dead process" grep -q "boot process $boot_pid died without finishing" "$T/status.txt"
diag "$T/status.txt"
kiln status --json >"$T/status.json" 2>&1
check "--json says error too" $PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["result"] == "error" and str(sys.argv[2]) in d["error"]' "$T/status.json" "$boot_pid"

start=$(date +%s%N)
timeout 20 "$KILN" --root "$ROOT" status --wait >"$T/wait.out" 2>&1
rc=$?
elapsed=$((($(date +%s%N) - start) / 1000000))
[ $rc -eq 1 ]
ok $? "kiln status --wait (no --timeout) returns 1 (exit $rc)"
[ $elapsed -lt 2000 ]
ok $? "... promptly ($elapsed ms)"

for _ in $(seq 50); do kill -0 $nobody_pid 2>/dev/null || break; sleep 0.1; done
kill $nobody_pid 2>/dev/null && echo "# nobody's --wait still ran after 5 s"
wait $nobody_pid
rc=$?
[ $rc -eq 1 ]
ok $? "nobody's --wait returned 1 once the boot died (exit $rc)"
check "... naming the dead process" grep -q "boot process $boot_pid died" "$T/nobody.out"

# A "running" status whose pid is now another live process's.
sleep 60 &
other=$!
track $other
other_start=$(pid_start $other)
fake_owner() { # fake_owner PID START BOOT_ID
	$PYTHON - "$pub" "$@" <<'PY'
import json, sys
path, pid, start, boot = sys.argv[1:]
d = json.load(open(path))
d.update(result="running", pid=int(pid), pid_start=int(start), boot_id=boot)
json.dump(d, open(path, "w"))
PY
}
boot_id=$(cat /proc/sys/kernel/random/boot_id)
fake_owner $other $((other_start + 1)) "$boot_id"
kiln status >"$T/reused.txt" 2>&1
rc=$?
[ $rc -eq 1 ]
ok $? "a pid reused by another process: exit 1 (exit $rc)"
check "... naming it" grep -q "boot process $other died without finishing" "$T/reused.txt"

fake_owner $other "$other_start" 00000000-0000-0000-0000-000000000000
kiln status >"$T/rebooted.txt" 2>&1
rc=$?
[ $rc -eq 1 ]
ok $? "a boot of an earlier boot_id (a reboot): exit 1 (exit $rc)"
check "... naming it" grep -q "boot process $other died without finishing" "$T/rebooted.txt"

# The same pid, start time and boot id: the boot still runs.
fake_owner $other "$other_start" "$boot_id"
kiln status >"$T/live.txt" 2>&1
rc=$?
[ $rc -eq 3 ]
ok $? "a live owner: still running (exit $rc)"
check "... says running" grep -q "result: *running" "$T/live.txt"
kiln status --wait --timeout 0.3 >/dev/null 2>&1
[ $? -eq 1 ]
ok $? "... and --wait times out"

done_testing
