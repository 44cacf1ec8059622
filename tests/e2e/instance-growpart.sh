#!/bin/bash
# growpart and resize_rootfs as cloud-init does them on EC2 at every boot:
# a disk grown under a mounted root (a loop device here, an EBS volume
# launched larger than the image there) gets its partition and file system
# grown. The kiln root is the loop device's mounted file system, so "/"
# under --root is a mount point of its own, as on an instance.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

for p in losetup partx sfdisk growpart mkfs.ext4 mkfs.xfs resize2fs xfs_growfs; do
	# dev/deps installs them: a missing one is a failure, not a skip.
	command -v "$p" >/dev/null || { echo "not ok 1 - $p is not installed (dev/deps installs it)"; echo "1..1"; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root for loop devices"; exit 0; }
losetup -f >/dev/null 2>&1 || { echo "1..0 # SKIP no free loop device here (no /dev/loop-control?)"; exit 0; }
LOOPS=()
MOUNTS=()
undo_disks() {
	for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	for l in "${LOOPS[@]}"; do partx -d "$l" 2>/dev/null; losetup -d "$l" 2>/dev/null; done
}
trap 'undo_disks; cleanup' EXIT

start_ec2 imds
no_user_data

# new_disk NAME FS DISK_MB PART_MB: a disk image with one partition of FS,
# on a loop device, mounted at $T/NAME and made a kiln root. Sets DISK,
# LOOP, MNT.
new_disk() {
	DISK=$T/$1.raw
	MNT=$T/$1
	truncate -s "${3}M" "$DISK" || return 1
	printf 'label: dos\nstart=2048, size=%sM, type=83\n' "$4" | sfdisk -q "$DISK" || return 1
	LOOP=$(losetup -f --show "$DISK") || return 1
	LOOPS+=("$LOOP")
	# A stale partition of a loop device used before may be left: update, else add.
	partx -u "$LOOP" 2>/dev/null; [ -e "/sys/class/block/$(basename "$LOOP")p1" ] || partx -a "$LOOP" || return 1
	partx -u "$LOOP" || return 1
	case $2 in
	ext4) mkfs.ext4 -q "${LOOP}p1" ;;
	xfs) mkfs.xfs -q "${LOOP}p1" ;;
	esac || return 1
	mkdir -p "$MNT" && mount "${LOOP}p1" "$MNT" || return 1
	MOUNTS+=("$MNT")
	make_root "$MNT"
}
# grow_disk MB: the volume made larger, as EC2 does on launch.
grow_disk() { truncate -s "${1}M" "$DISK" && losetup -c "$LOOP"; }
part_sectors() { cat "/sys/class/block/$(basename "$LOOP")p1/size"; }
fs_kb() { df -k --output=size "$MNT" | tail -1 | tr -d ' '; }
kboot() { "$KILN" --root "$MNT" boot >"$T/out" 2>&1; }
item() { $PYTHON -c 'import json,sys
d=json.load(open(sys.argv[1]))
print(" ".join(i.get("result","") for s in d["stages"] for i in s.get("items",[]) if i.get("name")==sys.argv[2]))' "$MNT/run/kiln/status.json" "$1"; }
# CAP_SYS_RESOURCE (bit 24): ext4's online resize needs it; some sandboxes drop it.
have_sys_resource() { (( 0x$(awk '/^CapEff/{print $2}' /proc/self/status) >> 24 & 1 )); }

# --- ext4, the default config ---
new_disk ext4 ext4 64 40 || { echo "Bail out! could not make a loop disk"; exit 1; }
before_part=$(part_sectors)
before_fs=$(fs_kb)
grow_disk 128
kboot
rc=$?
after_part=$(part_sectors)
check "partition grown to the disk (sectors $before_part -> $after_part)" test "$after_part" -gt $((before_part * 3 / 2))
check "growpart recorded as changed" test "$(item growpart)" = changed
if have_sys_resource; then
	ok $rc "boot on a grown disk exits 0" || diag "$T/out"
	check "ext4 grown: df $before_fs -> $(fs_kb) kB" test "$(fs_kb)" -gt $((before_fs * 3 / 2))
	check "resize_rootfs recorded" test "$(item resize_rootfs)" = ok
else
	# Without the capability resize2fs cannot grow a mounted ext4: kiln says so.
	check "boot degraded, resize2fs refused" grep -q 'resize_rootfs: .*resize2fs failed' "$T/out"
	echo "ok $((tap_n + 1)) # SKIP ext4 online resize: no CAP_SYS_RESOURCE here" && tap_n=$((tap_n + 1))
fi

# A reboot with nothing to grow: nothing changes, the boot is clean.
kboot
check "reboot: growpart nochange" test "$(item growpart)" = nochange
check "reboot: partition unchanged" test "$(part_sectors)" = "$after_part"

# growpart off, then /etc/growroot-disabled: the disk grows, the partition does not.
grow_disk 160
printf '#cloud-config\ngrowpart:\n  mode: "off"\n' | user_data
kboot
check "growpart off: partition unchanged" test "$(part_sectors)" = "$after_part"
no_user_data
touch "$MNT/etc/growroot-disabled"
kboot
check "growroot-disabled: partition unchanged" test "$(part_sectors)" = "$after_part"
printf '#cloud-config\ngrowpart:\n  ignore_growroot_disabled: true\n  devices: ["/"]\n' | user_data
kboot
check "ignore_growroot_disabled: partition grown" test "$(part_sectors)" -gt "$after_part"
no_user_data
rm -f "$MNT/etc/growroot-disabled"

# --- xfs (xfs_growfs, which needs CAP_SYS_ADMIN only), resize_rootfs ---
new_disk xfs xfs 360 320 || { echo "Bail out! could not make a loop disk"; exit 1; }
before_fs=$(fs_kb)
grow_disk 600
printf '#cloud-config\nresize_rootfs: false\n' | user_data
kboot
ok $? "xfs, resize_rootfs false: boot exits 0"
check "resize_rootfs false: partition grown" test "$(item growpart)" = changed
check "resize_rootfs false: file system not grown" test "$(fs_kb)" = "$before_fs"
printf '#cloud-config\nresize_rootfs: noblock\n' | user_data
kboot
ok $? "xfs, resize_rootfs noblock: boot exits 0" || diag "$T/out"
check "xfs grown: df $before_fs -> $(fs_kb) kB" test "$(fs_kb)" -gt $((before_fs * 3 / 2))

# A root that is not a mount point of its own (every other test's) is left alone.
kiln boot >"$T/out" 2>&1
ok $? "plain --root boot exits 0"
check "growpart skipped: not a mount point" grep -q "growpart: skipping '/': not a mount point" "$T/out"

done_testing
