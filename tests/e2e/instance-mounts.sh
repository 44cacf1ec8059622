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
check "absent device: said so" grep -q "ephemeral0 'sdzz' is not a device here" "$T/out"

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

# The device has a line of the user's own: left as it is.
printf '%s\t/data\text4\tdefaults\t0\t2\n' "$LOOP" >>"$ROOT/etc/fstab"
imds_data "{\"instance_id\": \"i-000000000000eph04\", \"ephemerals\": \"$dev\"}"
kiln boot >"$T/out" 2>&1
ok $? "device already in fstab: exits 0"
check "the user's line kept" grep -q "^$LOOP	/data" "$ROOT/etc/fstab"
check "no cloudconfig line added" test "$(grep -c comment=cloudconfig "$ROOT/etc/fstab")" = 0
! mounted
ok $? "not mounted on /mnt"

done_testing
