#!/bin/bash
# The mounts' block-device-mapping reads from IMDS are bounded (a few
# seconds each, 10 s for all, not imds.timeout each): with IMDS hanging or
# failing under block-device-mapping/, the boot goes on, takes those names
# as names IMDS does not have (cloud-init's cc_mounts writes such an entry
# as it is; no default entry), and is degraded saying so, once. No device
# is needed: nothing is mounted.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
start_ec2 imds
printf '# the image'"'"'s own\nLABEL=root\t/\text4\tdefaults\t0\t1\n' >"$ROOT/etc/fstab"
user_data <<'UD'
#cloud-config
mounts:
  - [ephemeral0, /data]
  - [ephemeral1, /data1]
  - [ebs1, /e1]
  - [ebs2, /e2]
  - [ebs3, /e3]
  - [swap, none, swap, sw]
  # a label no device on this machine has: the boot runs the real mount(8),
  # and instance-disks.sh makes a file system labelled 'logs' meanwhile
  - [LABEL=nodev-logs, /var/log/app, ext4]
UD
bdm_reads() {
	curl -sf "$LOCAL_EC2_IMDS/_fake/requests" |
		$PYTHON -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if "block-device-mapping" in r["path"]))'
}

# Every read hangs 30 s: 6 names, 3 s a read, 10 s in all.
imds_data '{"instance_id": "i-0bdm000000000001", "ephemerals": "sdzz"}'
imds_faults '{"paths": {"/latest/meta-data/block-device-mapping/*": {"hang_ms": 30000, "count": -1}}}'
start=$(date +%s)
timeout 300 "$KILN" --root "$ROOT" boot >"$T/boot1.log" 2>&1
rc=$?
took=$(($(date +%s) - start))
imds_faults '{"paths": {}}'
diag "$T/boot1.log" | grep -iE 'mounts|block-device|warn' | head
ok $([ $took -le 25 ]; echo $?) "a hanging block-device-mapping holds the boot within the mounts' bound (${took}s, not 60 s a read)"
ok $([ $rc -eq 2 ]; echo $?) "... the boot is degraded (exit $rc)"
check "... a warning says how many names were not read, and the first one's error" \
	grep -qE "mounts: [0-9]+ block-device-mapping name\(s\) not read from IMDS \(3 s a read, 10 s in all\), taken as names IMDS does not have: meta-data/block-device-mapping/ephemeral0: " "$T/boot1.log"
check "... once" test "$(grep -c 'block-device-mapping name(s) not read' "$T/boot1.log")" = 1
check "... in status" grep -q "block-device-mapping name(s) not read from IMDS" "$ROOT/run/kiln/status.json"
check "the entries with other devices still written" grep -qxF "$(printf 'LABEL=nodev-logs\t/var/log/app\text4\tdefaults,nofail,comment=cloudconfig\t0\t2')" "$ROOT/etc/fstab"
check "the image's lines kept" grep -q '^LABEL=root' "$ROOT/etc/fstab"
check "an entry with a name not read is written as it is, as cloud-init writes a name IMDS lacks" \
	grep -qxF "$(printf 'ebs1\t/e1\tauto\tdefaults,nofail,comment=cloudconfig\t0\t2')" "$ROOT/etc/fstab"
check "no default /mnt entry" sh -c "! grep -q '	/mnt	' '$ROOT/etc/fstab'"

# 503 for all of them: each read retried within its own few seconds.
imds_data '{"instance_id": "i-0bdm000000000002", "ephemerals": "sdzz"}'
imds_faults '{"paths": {"/latest/meta-data/block-device-mapping/*": {"status": 503, "count": -1}}}'
start=$(date +%s)
timeout 300 "$KILN" --root "$ROOT" boot >"$T/boot2.log" 2>&1
rc=$?
took=$(($(date +%s) - start))
imds_faults '{"paths": {}}'
ok $([ $took -le 25 ]; echo $?) "503s: within the bound too (${took}s)"
ok $([ $rc -eq 2 ]; echo $?) "... degraded (exit $rc)"
check "... saying IMDS answered 503" grep -q "block-device-mapping/ephemeral0: IMDS at .* 503" "$T/boot2.log"

# IMDS well: each name read once (ephemeral0 and swap are also the
# defaults' names), absent ones (404) are no problem, the boot is done.
imds_data '{"instance_id": "i-0bdm000000000003", "ephemerals": "sdzz"}'
before=$(bdm_reads)
timeout 300 "$KILN" --root "$ROOT" boot >"$T/boot3.log" 2>&1
rc=$?
reads=$(($(bdm_reads) - before))
ok $rc "IMDS answering: the boot is done (exit $rc)"
[ $rc -eq 0 ] || diag "$T/boot3.log" | grep -iE 'warn|error|degrad|mounts' | head -20
ok $([ "$reads" -eq 6 ]; echo $?) "... each of the 6 names read once ($reads reads)"
check "... no warning" sh -c "! grep -q 'not read from IMDS' '$T/boot3.log'"

done_testing
