/* SPDX-License-Identifier: MIT */
/* The instance module's parsers: /proc/self/mountinfo lines (growpart,
 * resize_rootfs, /mnt) and the /etc/fstab rewrite of the default mounts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fileio.h"
#include "instance/instance.h"
#include "macro.h"
#include "strbuf.h"
#include "tap.h"

static char dir[] = "/tmp/kiln-test-instance-XXXXXX";

static int find(const char *text, const char *path, struct mount_info *m) {
        _cleanup_free_ char *f = strdup_printf("%s/mountinfo", dir);

        if (!f || write_file_atomic(f, text, strlen(text), 0600) < 0)
                return -999;
        return growpart_find_mount(f, path, m);
}

static void test_mountinfo(void) {
        struct mount_info m = {0};
        const char *mi = "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw,discard\n"
                         "36 22 0:30 / /proc rw - proc proc rw\n"
                         "40 22 7:3 / /mnt/my\\040disk rw,noatime master:1 - xfs /dev/loop3 rw\n"
                         "41 22 259:2 /srv/www /var/www rw - ext4 /dev/nvme0n1p1 rw\n"
                         "42 22 8:17 / /mnt rw shared:9 - ext4 /dev/xvdb rw\n"
                         "43 22 8:33 / /mnt rw shared:10 - btrfs /dev/xvdc rw\n"
                         "44 22 1:2 / /bad\n";

        is_int(find(mi, "/", &m), 0, "root found");
        ok(m.dev == makedev(259, 2) && streq(m.fstype, "ext4") && streq(m.fsroot, "/"), "root: 259:2 ext4, whole fs");
        mount_info_done(&m);
        is_int(find(mi, "/mnt/my disk", &m), 0, "an escaped space in the mount point");
        ok(m.dev == makedev(7, 3) && streq(m.fstype, "xfs"), "... its device and type");
        mount_info_done(&m);
        is_int(find(mi, "/var/www", &m), 0, "a bind mount found");
        is_str(m.fsroot, "/srv/www", "... with the directory it binds (not a file system of its own)");
        mount_info_done(&m);
        is_int(find(mi, "/mnt", &m), 0, "over-mounted");
        ok(m.dev == makedev(8, 33) && streq(m.fstype, "btrfs"), "the last mount on a path wins");
        mount_info_done(&m);
        is_int(find(mi, "/srv", &m), -ENOENT, "not a mount point: -ENOENT");
        is_int(find(mi, "/bad", &m), -ENOENT, "a short line is no mount");
        is_int(find(mi, "/mnt/my\\040disk", &m), -ENOENT, "escapes compare decoded");
        is_int(find("", "/", &m), -ENOENT, "empty mountinfo");
}

static void test_fstab(void) {
        _cleanup_strv_free_ char **kept = NULL, **removed = NULL;

        is_int(mounts_fstab_split("LABEL=root / ext4 defaults 0 1\n/dev/xvdb\t/mnt\tauto\tdefaults,nofail,comment="
                                  "cloudconfig\t0\t2\n# a comment\n",
                                  &kept, &removed),
               0, "fstab split");
        ok(kept && strv_length(kept) == 2 && streq(kept[0], "LABEL=root / ext4 defaults 0 1") &&
                   streq(kept[1], "# a comment"),
           "the user's lines kept, in order");
        ok(removed && strv_length(removed) == 1 && strneq(removed[0], "/dev/xvdb", 9), "cloudconfig lines apart");
}

static void test_sizes(void) {
        const double M = 1024.0 * 1024, G = M * 1024;
        double v = -1;

        is_int(mounts_human2bytes("10M", &v), 0, "10M");
        ok(v == 10 * M, "10M is 10 MiB");
        is_int(mounts_human2bytes(".5G", &v), 0, ".5G");
        ok(v == 0.5 * G, ".5G is 512 MiB");
        is_int(mounts_human2bytes("2GB", &v), 0, "2GB");
        ok(v == 2 * G, "2GB is 2 GiB (B dropped)");
        is_int(mounts_human2bytes("1024", &v), 0, "bytes");
        ok(v == 1024, "1024 is bytes");
        is_int(mounts_human2bytes("-1G", &v), -EINVAL, "negative refused");
        is_int(mounts_human2bytes("lots", &v), -EINVAL, "words refused");
        is_int(mounts_human2bytes("", &v), -EINVAL, "empty refused");
        /* cloud-init's table: memory under 4 GiB -> that much; under 16 -> 4 GiB; else round(sqrt) GiB. */
        ok(mounts_suggested_swapsize(1 * G, -1, 100 * G) == 1 * G, "1 GiB of memory: 1 GiB of swap");
        ok(mounts_suggested_swapsize(8 * G, -1, 100 * G) == 4 * G, "8 GiB: 4 GiB");
        ok(mounts_suggested_swapsize(64 * G, -1, 100 * G) == 8 * G, "64 GiB: 8 GiB");
        ok(mounts_suggested_swapsize(8 * G, -1, 8 * G) == 2 * G, "at most a quarter of the free disk");
        ok(mounts_suggested_swapsize(8 * G, 1 * G, 100 * G) == 1 * G, "at most maxsize");
        ok(mounts_suggested_swapsize(8 * G, 50 * G, 10 * G) == 4 * G, "maxsize beyond 90%% of the disk is cut");
}

int main(void) {
        if (!mkdtemp(dir))
                return 1;
        test_mountinfo();
        test_fstab();
        test_sizes();
        (void) rm_rf(dir);
        return tap_done();
}
