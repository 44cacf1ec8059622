/* SPDX-License-Identifier: MIT */
/* The instance module's parsers: /proc/self/mountinfo lines (growpart,
 * resize_rootfs, /mnt) and the /etc/fstab rewrite of the default mounts. */
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
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;
        const char *line = "/dev/xvdb\t/mnt\tauto\tdefaults,nofail,comment=cloudconfig\t0\t2\n";
        bool own = true;

        is_int(mounts_fstab(NULL, "/dev/xvdb", line, &a, &own), 0, "no fstab");
        is_str(a, line, "... just the line");
        ok(!own, "... not the user's");
        is_int(mounts_fstab("LABEL=root / ext4 defaults 0 "
                            "1\n/dev/xvdb\t/mnt\tauto\tdefaults,nofail,comment=cloudconfig\t0\t2\n"
                            "# a comment\n",
                            "/dev/xvdb", line, &b, &own),
               0, "an old cloudconfig line");
        is_str(b,
               "LABEL=root / ext4 defaults 0 1\n# a comment\n/dev/xvdb\t/mnt\tauto\tdefaults,nofail,comment="
               "cloudconfig\t0\t2\n",
               "replaced at the end, the rest kept");
        is_int(mounts_fstab("  /dev/xvdb /data ext4 defaults 0 2\n/dev/xvdc /x auto defaults,comment=cloudconfig 0 2",
                            "/dev/xvdb", line, &c, &own),
               0, "the device's own line");
        ok(own, "... found (leading blanks)");
        is_str(c, "  /dev/xvdb /data ext4 defaults 0 2\n", "... kept, no line added, stale cloudconfig dropped");
        is_int(mounts_fstab("/dev/xvdb1 /data ext4 defaults 0 2", "/dev/xvdb", line, &d, &own), 0, "a longer name");
        ok(!own, "... is another device");
}

int main(void) {
        if (!mkdtemp(dir))
                return 1;
        test_mountinfo();
        test_fstab();
        (void) rm_rf(dir);
        return tap_done();
}
