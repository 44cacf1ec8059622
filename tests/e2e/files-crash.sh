#!/bin/bash
# Issue 13 item 8: write_files is marked done file by file, after each is
# written. A boot killed (SIGKILL) right after the first file is in place
# leaves the rest to the next boot, which writes them and does not write
# the first again (an append is not repeated); no temp file is left behind,
# also when the kill falls between the temp link and the rename.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
start_ec2 imds
shim=$T/kill-after.so
${CC:-cc} -shared -fPIC -o "$shim" "$top_srcdir/tests/e2e/kill-after.c" -ldl ||
	{ echo "Bail out! cannot build the LD_PRELOAD shim"; exit 1; }
# A sanitizer build wants its runtime first; the shim does not mind.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
crash_boot() { # crash_boot NAME: boot, killed once a file is named NAME
	# (under sh, which exits 137 itself: bash's "Killed" notice is not TAP)
	KILN_KILL_AFTER=$1 LD_PRELOAD=$shim sh -c '"$@"; exit $?' sh \
		timeout 60 "$KILN" --root "$ROOT" boot >"$T/crash.log" 2>&1
}

mkdir -p "$ROOT/etc/app"
printf 'before\n' >"$ROOT/etc/app/log.txt"
user_data <<'EOF2'
#cloud-config
write_files:
  - path: /etc/app/one.conf
    content: "one\n"
  - path: /etc/app/log.txt
    content: "appended\n"
    append: true
  - path: /etc/app/three.conf
    content: "three\n"
EOF2

crash_boot 'write_files-0-*'
rc=$?
ok $([ $rc -eq 137 ]; echo $?) "the first boot is killed right after one.conf is in place and marked (exit $rc)"
check "one.conf is there" grep -qx one "$ROOT/etc/app/one.conf"
check "three.conf is not yet" test ! -e "$ROOT/etc/app/three.conf"
check "no temp file left" test -z "$(find "$ROOT" -name '*.kiln-*')"
printf 'edited by hand\n' >"$ROOT/etc/app/one.conf"

kiln boot >"$T/boot2.log" 2>&1
diag "$T/boot2.log" | grep -iE 'fail|error|warn' | head
check "the next boot writes the file the crash left out" grep -qx three "$ROOT/etc/app/three.conf"
check "and the append" test "$(cat "$ROOT/etc/app/log.txt")" = "$(printf 'before\nappended')"
check "but not the file written before the crash" grep -qx 'edited by hand' "$ROOT/etc/app/one.conf"
check "status: one.conf skipped, three.conf written" $PYTHON -c '
import json, sys
d = json.load(open(sys.argv[1]))
it = {i["name"]: i["result"] for s in d["stages"] for i in s.get("items", [])}
sys.exit(0 if it.get("write_files /etc/app/one.conf") == "skipped" and it.get("write_files /etc/app/three.conf") == "ok" else 1)' \
	"$ROOT/run/kiln/status.json"

kiln boot >"$T/boot3.log" 2>&1
check "a third boot appends nothing" test "$(grep -c appended "$ROOT/etc/app/log.txt")" = 1

# Killed between one.conf and its mark: written again by the next boot.
imds_data '{"instance_id": "i-second"}'
crash_boot one.conf
rc=$?
ok $([ $rc -eq 137 ]; echo $?) "second instance: killed right after one.conf, before its mark (exit $rc)"
check "one.conf is the new one" grep -qx one "$ROOT/etc/app/one.conf"
printf 'edited by hand\n' >"$ROOT/etc/app/one.conf"
kiln boot >"$T/boot4.log" 2>&1
check "the next boot writes it again (not marked, so not known to be done)" grep -qx one "$ROOT/etc/app/one.conf"
check "and the others" test "$(grep -c appended "$ROOT/etc/app/log.txt")" = 2

# A new instance writes them all again, over the old files: killed between
# the temp link and the rename of three.conf.
imds_data '{"instance_id": "i-new"}'
crash_boot three.conf.kiln-tmp
rc=$?
ok $([ $rc -eq 137 ]; echo $?) "new instance: killed between the temp link and the rename (exit $rc)"
check "three.conf is still the old, whole file" grep -qx three "$ROOT/etc/app/three.conf"
kiln boot >"$T/boot5.log" 2>&1
check "the next boot finishes the job" test "$(grep -c appended "$ROOT/etc/app/log.txt")" = 3
check "and removes the crash's temp link" test -z "$(find "$ROOT" -name '*.kiln-*')"
check "three.conf is whole" grep -qx three "$ROOT/etc/app/three.conf"

done_testing
