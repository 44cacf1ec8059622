#!/bin/bash
# Instance store at /mnt, as cloud-init's default mounts does on EC2: the
# device block-device-mapping/ephemeral0 names gets a comment=cloudconfig
# line in /etc/fstab and is mounted, once per instance. A loop device
# stands in for the instance store volume.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

for p in losetup mkfs.ext4 mount findmnt; do
	command -v "$p" >/dev/null || { echo "1..0 # SKIP $p is not installed"; exit 0; }
done
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root for loop devices"; exit 0; }
losetup -f >/dev/null 2>&1 || { echo "1..0 # SKIP no free loop device here (no /dev/loop-control?)"; exit 0; }
LOOP=
undo() {
	umount "$ROOT/mnt" 2>/dev/null || umount -l "$ROOT/mnt" 2>/dev/null
	[ -z "$LOOP" ] || losetup -d "$LOOP" 2>/dev/null
}
trap 'undo; cleanup' EXIT

start_ec2 imds
no_user_data
truncate -s 16M "$T/store.raw" && mkfs.ext4 -q -L store "$T/store.raw" && LOOP=$(losetup -f --show "$T/store.raw") ||
	{ echo "Bail out! could not make a loop device"; exit 1; }
# A loop device used before may keep a stale partition (loop0p1) here.
partx -d "$LOOP" 2>/dev/null
dev=$(basename "$LOOP")
mkdir -p "$ROOT/etc"
printf '# the image'"'"'s own\nLABEL=root\t/\text4\tdefaults\t0\t1\n' >"$ROOT/etc/fstab"
line=$(printf '%s\t/mnt\tauto\tdefaults,nofail,comment=cloudconfig\t0\t2' "$LOOP")
mounted() { findmnt -n -o SOURCE --mountpoint "$ROOT/mnt" >"$T/src" 2>/dev/null && grep -qx "$LOOP" "$T/src"; }

# No instance store: fstab untouched, nothing mounted.
kiln boot >"$T/out" 2>&1
ok $? "boot without ephemeral0 exits 0"
check "fstab untouched" test "$(grep -c . "$ROOT/etc/fstab")" = 2
! mounted
ok $? "nothing mounted on /mnt"

# ephemeral0 listed but no such device (t1.micro, Nitro's sdb): nothing.
imds_data '{"instance_id": "i-000000000000eph01", "ephemerals": "sdzz"}'
kiln boot >"$T/out" 2>&1
ok $? "boot with an absent ephemeral0 exits 0"
check "absent device: fstab untouched" test "$(grep -c . "$ROOT/etc/fstab")" = 2

# ephemeral0 there: fstab line as cloud-init writes it, mounted.
imds_data "{\"instance_id\": \"i-000000000000eph02\", \"ephemerals\": \"$dev\"}"
kiln boot >"$T/out" 2>&1
rc=$?; [ $rc -eq 0 ] || diag "$T/out"; ok $rc "boot with ephemeral0 exits 0"
check "fstab line as cloud-init's" grep -qxF "$line" "$ROOT/etc/fstab"
check "the image's lines kept" grep -q '^LABEL=root' "$ROOT/etc/fstab"
check "mounted on /mnt" mounted
check "the store's file system" test "$(findmnt -n -o LABEL --mountpoint "$ROOT/mnt")" = store

# Reboot: nothing added twice. New instance: the old line replaced, not doubled.
kiln boot >"$T/out" 2>&1
ok $? "reboot exits 0"
check "one line after a reboot" test "$(grep -c comment=cloudconfig "$ROOT/etc/fstab")" = 1
umount "$ROOT/mnt"
imds_data "{\"instance_id\": \"i-000000000000eph03\", \"ephemerals\": \"$dev\"}"
kiln boot >"$T/out" 2>&1
ok $? "new instance exits 0"
check "one line on a new instance" test "$(grep -c comment=cloudconfig "$ROOT/etc/fstab")" = 1
check "mounted again" mounted
umount "$ROOT/mnt"

# The device has a line of the user's own: nothing is added, and (with
# nothing to write) fstab stays as it is, as cloud-init leaves it.
printf '%s\t/data\text4\tdefaults\t0\t2\n' "$LOOP" >>"$ROOT/etc/fstab"
cp "$ROOT/etc/fstab" "$T/fstab.before"
imds_data "{\"instance_id\": \"i-000000000000eph04\", \"ephemerals\": \"$dev\"}"
kiln boot >"$T/out" 2>&1
ok $? "device already in fstab: exits 0"
check "fstab unchanged" cmp "$T/fstab.before" "$ROOT/etc/fstab"
! mounted
ok $? "not mounted on /mnt"

# mounts: the user's entries, cloud-init's way.
printf '# the image'"'"'s own\nLABEL=root\t/\text4\tdefaults\t0\t1\n' >"$ROOT/etc/fstab"
user_data <<'UD'
#cloud-config
mounts:
  - [ephemeral0, /data]
  - [xvdh, /opt/data, auto, "defaults,nofail", "0", "0"]
  # a label no device on this machine has: the boot runs the real mount(8),
  # and instance-disks.sh makes a file system labelled 'logs' meanwhile
  - [LABEL=nodev-logs, /var/log/app, ext4]
  - [sdq, null]
  - [fs.example.com:/export, /srv/nfs, nfs, "rw,_netdev"]
swap:
  filename: /swapfile
  size: 8M
UD
imds_data "{\"instance_id\": \"i-000000000000eph05\", \"ephemerals\": \"$dev\"}"
kiln boot >"$T/out" 2>&1
rc=$?
# No nfs here: that mount fails and the boot says so (degraded); absent
# devices are nofail; the lines are all written.
[ $rc -eq 2 ]
ok $? "boot with mounts: degraded by the nfs mount only (got $rc)"
check "... named" grep -q "mounts: Failed to activate the mounts" "$T/out"
check "ephemeral0 at /data, the default options" grep -qxF "$(printf '%s\t/data\tauto\tdefaults,nofail,comment=cloudconfig\t0\t2' "$LOOP")" "$ROOT/etc/fstab"
check "no /mnt line: the device has an entry" test "$(grep -c '	/mnt	' "$ROOT/etc/fstab")" = 0
check "an absent device as written" grep -qxF "$(printf 'xvdh\t/opt/data\tauto\tdefaults,nofail,comment=cloudconfig\t0\t0')" "$ROOT/etc/fstab"
check "LABEL= as written, fields filled" grep -qxF "$(printf 'LABEL=nodev-logs\t/var/log/app\text4\tdefaults,nofail,comment=cloudconfig\t0\t2')" "$ROOT/etc/fstab"
check "a [dev, null] entry writes nothing" test "$(grep -c '^sdq' "$ROOT/etc/fstab")" = 0
check "a network mount as written" grep -qxF "$(printf 'fs.example.com:/export\t/srv/nfs\tnfs\trw,_netdev,comment=cloudconfig\t0\t2')" "$ROOT/etc/fstab"
check "swap file line" grep -qxF "$(printf '/swapfile\tnone\tswap\tsw,comment=cloudconfig\t0\t0')" "$ROOT/etc/fstab"
check "the image's lines kept first" test "$(sed -n 2p "$ROOT/etc/fstab")" = "$(printf 'LABEL=root\t/\text4\tdefaults\t0\t1')"
check "swap file made, 8 MiB, 0600" test "$(stat -c '%s %a' "$ROOT/swapfile")" = "8388608 600"
check "... with a swap signature" test "$(blkid -o value -s TYPE "$ROOT/swapfile")" = swap
! grep -q "$ROOT/swapfile" /proc/swaps
ok $? "... not switched on under --root (it would be this machine's swap)"
check "mount points made" test -d "$ROOT/opt/data" -a -d "$ROOT/srv/nfs"
mounted_at() { findmnt -n -o SOURCE --mountpoint "$ROOT$1" >"$T/src" 2>/dev/null && grep -qx "$LOOP" "$T/src"; }
check "ephemeral0 mounted on /data" mounted_at /data
umount "$ROOT/data" 2>/dev/null

# mount_default_fields, and [ephemeral0, null]: no instance store mount.
printf '# the image'"'"'s own\n' >"$ROOT/etc/fstab"
user_data <<'UD'
#cloud-config
mount_default_fields: [null, null, ext4, "defaults,noexec", "0", "0"]
mounts:
  - [xvdz, /z]
  - [ephemeral0, null]
UD
imds_data "{\"instance_id\": \"i-000000000000eph06\", \"ephemerals\": \"$dev\"}"
kiln boot >"$T/out" 2>&1
rc=$?
# Those defaults drop nofail: mounting the absent xvdz fails, as with cloud-init's mount -a.
[ $rc -eq 2 ]
ok $? "absent device without nofail: degraded (got $rc)"
check "... the mount named" grep -q 'special device xvdz does not exist' "$T/out"
check "mount_default_fields fill an entry" grep -qxF "$(printf 'xvdz\t/z\text4\tdefaults,noexec,comment=cloudconfig\t0\t0')" "$ROOT/etc/fstab"
check "[ephemeral0, null]: no line for it" test "$(grep -c "^$LOOP" "$ROOT/etc/fstab")" = 0
no_user_data

done_testing
