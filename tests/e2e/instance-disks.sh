#!/bin/bash
# disk_setup and fs_setup as cloud-init's cc_disk_setup does them, once per
# instance: loop devices stand in for the instance's volumes, named in the
# config directly (or as ephemeral0 through IMDS's block-device-mapping),
# so sfdisk and mkfs really run.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

for p in losetup partx sfdisk lsblk blkid blockdev mkfs.ext4 mkfs.xfs mkswap; do
	# dev/deps installs them: a missing one is a failure, not a skip.
	command -v "$p" >/dev/null || { echo "not ok 1 - $p is not installed (dev/deps installs it)"; echo "1..1"; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root for loop devices"; exit 0; }
losetup -f >/dev/null 2>&1 || { echo "1..0 # SKIP no free loop device here (no /dev/loop-control?)"; exit 0; }
LOOPS=()
undo_disks() { for l in "${LOOPS[@]}"; do partx -d "$l" 2>/dev/null; losetup -d "$l" 2>/dev/null; done; }
trap 'undo_disks; cleanup' EXIT

# cloud-init 22.4's examples (cc_disk_setup's meta example, then each
# document of doc/examples/cloud-config-disk-setup.txt) validate as written.
i=0
while IFS= read -r -d '' doc; do
	i=$((i + 1))
	printf '%s' "$doc" >"$T/example$i.yaml"
	kiln validate "$T/example$i.yaml" >"$T/vout" 2>&1
	ok $? "kiln validate accepts cloud-init's disk setup example $i" || diag "$T/vout"
done < <(printf '%s\0' "$(cat <<'EOT'
#cloud-config
device_aliases:
  my_alias: /dev/sdb
  swap_disk: /dev/sdc
disk_setup:
  my_alias:
    table_type: gpt
    layout: [50, 50]
    overwrite: true
  swap_disk:
    table_type: gpt
    layout: [[100, 82]]
    overwrite: true
fs_setup:
- label: fs1
  filesystem: ext4
  device: my_alias.1
  cmd: mkfs -t %(filesystem)s -L %(label)s %(device)s
- label: fs2
  device: my_alias.2
  filesystem: ext4
- label: swap
  device: swap_disk.1
  filesystem: swap
mounts:
- ["my_alias.1", "/mnt1"]
- ["my_alias.2", "/mnt2"]
- ["swap_disk.1", "none", "swap", "sw", "0", "0"]

EOT
)" "$(cat <<'EOT'
#cloud-config
disk_setup:
  ephemeral0:
    table_type: 'mbr'
    layout: True
    overwrite: False
fs_setup:
  - label: None,
    filesystem: ext3
    device: ephemeral0
    partition: auto

EOT
)" "$(cat <<'EOT'
#cloud-config
device_aliases: {'ephemeral0': '/dev/sdb'}
disk_setup:
  ephemeral0:
    table_type: mbr
    layout: True
    overwrite: False
fs_setup:
  - label: ephemeral0
    filesystem: ext4
    device: ephemeral0.1
    replace_fs: ntfs

EOT
)" "$(cat <<'EOT'
#cloud-config
disk_setup:
  /dev/disk/azure/scsi1/lun0:
    table_type: gpt
    layout: True
    overwrite: True
fs_setup:
  - device: /dev/disk/azure/scsi1/lun0
    partition: 1
    filesystem: ext4

EOT
)" "$(cat <<'EOT'
#cloud-config
device_aliases: {'ephemeral0': '/dev/vdb'}
disk_setup:
  ephemeral0:
    table_type: mbr
    layout: False
    overwrite: False
fs_setup:
  - label: ephemeral0
    filesystem: ext4
    device: ephemeral0.0

EOT
)" "$(cat <<'EOT'
#cloud-config
disk_setup:
  ephemeral0:
    table_type: 'mbr'
    layout: true
  /dev/xvdh:
    table_type: 'mbr'
    layout:
      - 33
      - [33, 82]
      - 33
    overwrite: True
fs_setup:
  - label: ephemeral0
    filesystem: 'ext3'
    device: 'ephemeral0'
    partition: 'auto'
  - label: mylabl2
    filesystem: 'ext4'
    device: '/dev/xvda1'
  - cmd: mkfs -t %(filesystem)s -L %(label)s %(device)s
    label: mylabl3
    filesystem: 'btrfs'
    device: '/dev/xvdh'
EOT
)")
check "six examples read" test "$i" = 6
printf '#cloud-config\ndisk_setup:\n  /dev/sdb: {table_type: zfs, layout: [a]}\nfs_setup:\n  - {device: /dev/sdb, partition: first}\n' >"$T/bad.yaml"
kiln validate "$T/bad.yaml" >"$T/vout" 2>&1
ok $((!$?)) "kiln validate rejects a bad disk_setup and fs_setup"
check "bad table_type named" grep -q "disk_setup./dev/sdb.table_type: mbr or gpt" "$T/vout"
check "bad layout named" grep -q "disk_setup./dev/sdb.layout\[0\]: a percentage" "$T/vout"
check "bad partition named" grep -q "fs_setup\[0\].partition: a number, auto, any or none" "$T/vout"

start_ec2 imds
no_user_data
# new_disk NAME MB: an empty disk on a loop device (partitions scanned). Sets LOOP.
new_disk() {
	truncate -s "${2}M" "$T/$1.raw" || return 1
	LOOP=$(losetup -f --show -P "$T/$1.raw") || return 1
	LOOPS+=("$LOOP")
	partx -d "$LOOP" 2>/dev/null
	return 0
}
n=0
new_instance() { n=$((n + 1)); imds_data "{\"instance_id\": \"i-0000000000disks$n\", \"ephemerals\": \"${1:-sdzz}\"}"; }
kboot() { kiln boot >"$T/out" 2>&1; local r=$?; [ -z "${DISKS_DEBUG:-}" ] || cat "$T/out" >&2; return $r; }
fs() { blkid -c /dev/null -o value -s "$2" "$1" 2>/dev/null; }
sectors() { cat "/sys/class/block/$(basename "$1")/size"; }
item() { $PYTHON -c 'import json,sys
d=json.load(open(sys.argv[1]))
print(" ".join(i.get("result","") for s in d["stages"] for i in s.get("items",[]) if i.get("name")==sys.argv[2]))' "$ROOT/run/kiln/status.json" "$1"; }

# --- mbr [66, 34], ext4 with a label on .1, xfs on partition 2 ---
new_disk mbr 1024 || { echo "Bail out! could not make a loop disk"; exit 1; }
A=$LOOP
new_instance
cat <<EOT | user_data
#cloud-config
disk_setup:
  $A:
    table_type: mbr
    layout: [66, 34]
    overwrite: false
fs_setup:
  - label: data
    filesystem: ext4
    device: $A.1
  - label: logs
    filesystem: xfs
    device: $A
    partition: 2
EOT
kboot
ok $? "mbr disk: boot exits 0" || diag "$T/out"
check "mbr: a dos table with two partitions" test "$(sfdisk --json "$A" | grep -c '"node"') $(sfdisk --json "$A" | grep -o '"label": *"[a-z]*"')" = '2 "label": "dos"'
disk=$(sectors "$A") p1=$(sectors "${A}p1")
check "mbr: partition 1 is 66% of the disk ($p1 of $disk sectors)" test $((p1 * 100 / disk)) -eq 66 -o $((p1 * 100 / disk)) -eq 65
check "partition 1: ext4 labelled data" test "$(fs "${A}p1" TYPE) $(fs "${A}p1" LABEL)" = "ext4 data"
check "partition 2: xfs labelled logs" test "$(fs "${A}p2" TYPE) $(fs "${A}p2" LABEL)" = "xfs logs"
check "lsblk lists the two partitions" test "$(lsblk -n -o NAME,TYPE "$A" | grep -c part)" = 2
check "disk_setup recorded as changed" test "$(item disk_setup)" = changed
check "fs_setup recorded twice as changed" test "$(item fs_setup)" = "changed changed"
u1=$(fs "${A}p1" UUID) u2=$(fs "${A}p2" UUID)

# A later boot of the same instance does nothing.
kboot
ok $? "reboot exits 0"
check "reboot: nothing recorded" test -z "$(item fs_setup)"

# A new instance with the same config: the layout and file systems are there.
new_instance
kboot
ok $? "new instance, same config: boot exits 0" || diag "$T/out"
check "layout already there: nochange" test "$(item disk_setup)" = nochange
check "file systems already there: nochange" test "$(item fs_setup)" = "nochange nochange"
check "file systems kept (UUIDs)" test "$(fs "${A}p1" UUID) $(fs "${A}p2" UUID)" = "$u1 $u2"

# overwrite false: another layout, another file system, partition auto: all left alone.
new_instance
cat <<EOT | user_data
#cloud-config
disk_setup:
  $A: {table_type: gpt, layout: [[50, 82], 50], overwrite: false}
fs_setup:
  - {label: other, filesystem: xfs, device: $A.1}
  - {label: other, filesystem: ext4, device: $A, partition: auto}
EOT
kboot
ok $? "overwrite false: boot exits 0" || diag "$T/out"
check "disk with partitions skipped" grep -q "disk_setup: skipping $A .*it has partitions (overwrite: false)" "$T/out"
check "ext4 partition not made xfs" grep -q "fs_setup\[0\]: skipping ${A}p1: it has a ext4 file system" "$T/out"
check "partition auto: no free device" test "$(item fs_setup)" = "skipped skipped"
check "still a dos table" test "$(sfdisk --json "$A" | grep -o '"label": *"[a-z]*"')" = '"label": "dos"'
check "file systems kept (UUIDs)" test "$(fs "${A}p1" UUID) $(fs "${A}p2" UUID)" = "$u1 $u2"

# overwrite true: the ext4 partition made xfs.
new_instance
printf '#cloud-config\nfs_setup:\n  - {label: new, filesystem: xfs, device: %s.1, overwrite: true}\n' "$A" | user_data
kboot
ok $? "overwrite true: boot exits 0" || diag "$T/out"
check "overwrite true: partition 1 now xfs labelled new" test "$(fs "${A}p1" TYPE) $(fs "${A}p1" LABEL)" = "xfs new"

# partition any: the first partition with replace_fs's file system is made anew.
new_instance
printf '#cloud-config\nfs_setup:\n  - {label: again, filesystem: ext4, device: %s, partition: any, replace_fs: xfs}\n' "$A" | user_data
kboot
ok $? "partition any, replace_fs xfs: boot exits 0" || diag "$T/out"
check "partition any: the first xfs partition made ext4" test "$(fs "${A}p1" TYPE) $(fs "${A}p1" LABEL)" = "ext4 again"
check "partition any: the second kept" test "$(fs "${A}p2" UUID)" = "$u2"
# ... and with a file system of that type there, nothing is made.
new_instance
kboot
ok $? "partition any, a match there: boot exits 0" || diag "$T/out"
check "partition any: the match kept" test "$(item fs_setup)" = nochange

# --- gpt through ephemeral0 (block-device-mapping), swap and a cmd ---
new_disk gpt 1024 || { echo "Bail out! could not make a loop disk"; exit 1; }
B=$LOOP
new_instance "$(basename "$B")"
cat <<'EOT' | user_data
#cloud-config
disk_setup:
  ephemeral0:
    table_type: gpt
    layout: [[25, 82], 75]
    overwrite: false
fs_setup:
  - {label: swap, filesystem: swap, device: ephemeral0.1}
  - label: big
    filesystem: ext4
    device: ephemeral0.2
    cmd: mkfs -t %(filesystem)s -q -L %(label)s %(device)s
mounts:
  - [ephemeral0, null]
EOT
kboot
ok $? "gpt disk: boot exits 0" || diag "$T/out"
check "gpt: a gpt table" test "$(sfdisk --json "$B" | grep -o '"label": *"[a-z]*"')" = '"label": "gpt"'
check "gpt: partition 1 has the Linux swap type" sfdisk --part-type "$B" 1 | grep -qi 0657FD6D-A4AB-43C4-84E5-0933C84B4F4F
check "gpt: partition 2 has the Linux file system type" sfdisk --part-type "$B" 2 | grep -qi 0FC63DAF-8483-4772-8E79-3D69D8477DE4
p1=$(sectors "${B}p1") disk=$(sectors "$B")
check "gpt: partition 1 is 25% ($p1 of $disk)" test $((p1 * 100 / disk)) -eq 25 -o $((p1 * 100 / disk)) -eq 24
check "partition 1: swap labelled swap" test "$(fs "${B}p1" TYPE) $(fs "${B}p1" LABEL)" = "swap swap"
check "partition 2: ext4 by cmd, labelled big" test "$(fs "${B}p2" TYPE) $(fs "${B}p2" LABEL)" = "ext4 big"

# --- a disk holding a file system, no table: overwrite false leaves it ---
new_disk whole 64 || { echo "Bail out! could not make a loop disk"; exit 1; }
C=$LOOP
mkfs.ext4 -q -L whole "$C"
new_instance
printf '#cloud-config\ndisk_setup:\n  %s: {table_type: mbr, layout: true}\n' "$C" | user_data
kboot
ok $? "disk with a file system: boot exits 0" || diag "$T/out"
check "skipped: it has a file system" grep -q "disk_setup: skipping $C .*it has a file system" "$T/out"
check "its ext4 kept, no table" test "$(fs "$C" TYPE) $(fs "$C" PTTYPE)" = "ext4 "
printf '#cloud-config\ndisk_setup:\n  %s: {table_type: mbr, layout: true, overwrite: true}\n' "$C" | user_data
new_instance
kboot
ok $? "overwrite true: boot exits 0" || diag "$T/out"
check "overwrite true: one partition over the whole disk" test "$(sfdisk --json "$C" | grep -c '"node"')" = 1

# layout: remove: the partitions wiped, the table gone.
new_instance
printf '#cloud-config\ndisk_setup:\n  %s: {layout: remove}\n' "$C" | user_data
kboot
ok $? "layout remove: boot exits 0" || diag "$T/out"
check "layout remove: no partition table left" test -z "$(fs "$C" PTTYPE)"
check "layout remove: no partition left" test "$(lsblk -n -o TYPE "$C" | grep -c part)" = 0

# --- bad entries degrade the boot, naming the entry ---
new_instance
cat <<EOT | user_data
#cloud-config
disk_setup:
  /dev/kiln-no-such-disk: {table_type: mbr, layout: true}
  $C: {table_type: zfs, layout: true}
fs_setup:
  - {label: x, filesystem: kilnfs, device: $A.2, overwrite: true}
  - {label: y, filesystem: ext4, device: $A, partition: 9}
EOT
kboot
rc=$?
check "bad entries: boot degraded (exit $rc)" test "$rc" -ne 0
check "missing disk named" grep -q "disk_setup '/dev/kiln-no-such-disk': device /dev/kiln-no-such-disk: No such file" "$T/out"
check "bad table_type named" grep -q "disk_setup '$C': table_type 'zfs' is neither mbr nor gpt" "$T/out"
check "unknown file system named" grep -q "fs_setup\[0\]: cannot make a 'kilnfs' file system: no mkfs.kilnfs program" "$T/out"
check "missing partition named" grep -q "fs_setup\[1\]: partition ${A}p9 does not exist" "$T/out"
check "partition 2 untouched" test "$(fs "${A}p2" UUID)" = "$u2"

done_testing
