#!/bin/bash
# `kiln status --wait` returns when the boot ends, and honours --timeout.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

start_ec2 imds

kiln status >/dev/null 2>&1
[ $? -eq 3 ]
ok $? "status before any boot exits 3"

user_data <<'UD'
#!/bin/sh
sleep 3
UD
kiln boot >"$T/boot.out" 2>&1 &
boot_pid=$!
for _ in $(seq 100); do
	grep -q '"result": "running"' "$ROOT/run/kiln/status.json" 2>/dev/null && break
	sleep 0.05
done
check "status.json says running during the boot" grep -q '"result": "running"' "$ROOT/run/kiln/status.json"

start=$(date +%s%N)
kiln status --wait --timeout 0.5 >/dev/null 2>&1
rc=$?
elapsed=$((($(date +%s%N) - start) / 1000000))
[ $rc -eq 1 ]
ok $? "--wait --timeout 0.5 while running exits 1"
[ $elapsed -ge 400 ] && [ $elapsed -lt 2000 ]
ok $? "after about the timeout ($elapsed ms)"

kiln status --wait --timeout 30 --json >"$T/status.json" 2>&1
rc=$?
ok $rc "--wait returns 0 once the boot is done"
kill -0 $boot_pid 2>/dev/null
[ $? -ne 0 ] || sleep 0.2
wait $boot_pid
ok $? "the boot itself exited 0"
check "--json prints the finished status" grep -q '"result": "done"' "$T/status.json"
$PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [s["name"] for s in d["stages"]] == ["identify","fetch","configure","apply"]; assert all("duration_ms" in s for s in d["stages"])' "$T/status.json"
ok $? "every stage recorded with its duration"

done_testing
