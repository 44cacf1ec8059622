/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "config.h"
#include "fileio.h"
#include "instance/instance.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "pkg.h"
#include "proc.h"
#include "strbuf.h"

#define GROW_TIMEOUT_MS (10L * 60 * 1000)
#define MOUNTINFO_MAX (4u * 1024 * 1024)

void mount_info_done(struct mount_info *m) {
        free(m->fstype);
        free(m->fsroot);
        *m = (struct mount_info){0};
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *unescape(const char *s, size_t n) {
        char *out = malloc(n + 1), *o = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
                    s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
                        *o++ = (char) ((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
                        i += 3;
                } else
                        *o++ = s[i];
        }
        *o = 0;
        return out;
}

/* Splits one mountinfo line into its space-separated fields (at most max). */
static size_t fields(char *line, char **f, size_t max) {
        size_t n = 0;

        for (char *p = line; *p && n < max;) {
                while (*p == ' ')
                        p++;
                if (!*p)
                        break;
                f[n++] = p;
                p += strcspn(p, " ");
                if (*p)
                        *p++ = 0;
        }
        return n;
}

/* One line: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw". */
static int parse_line(char *line, const char *path, struct mount_info *ret) {
        char *f[64];
        size_t n = fields(line, f, ELEMENTSOF(f)), sep;
        _cleanup_free_ char *mp = NULL;
        unsigned maj, min;
        char *end;

        if (n < 7)
                return 0;
        mp = unescape(f[4], strlen(f[4]));
        if (!mp)
                return -ENOMEM;
        if (!streq(mp, path))
                return 0;
        for (sep = 6; sep < n && !streq(f[sep], "-"); sep++)
                ;
        if (sep + 1 >= n)
                return 0;
        errno = 0;
        maj = (unsigned) strtoul(f[2], &end, 10);
        if (errno || *end != ':')
                return 0;
        min = (unsigned) strtoul(end + 1, &end, 10);
        if (errno || *end)
                return 0;
        mount_info_done(ret);
        ret->dev = makedev(maj, min);
        ret->fstype = strdup(f[sep + 1]);
        ret->fsroot = unescape(f[3], strlen(f[3]));
        return ret->fstype && ret->fsroot ? 1 : -ENOMEM;
}

int growpart_find_mount(const char *mountinfo, const char *path, struct mount_info *ret) {
        _cleanup_free_ char *data = NULL;
        struct mount_info m = {0};
        bool found = false;
        char *line, *next;
        int r;

        r = read_file(mountinfo, MOUNTINFO_MAX, &data, NULL);
        if (r < 0)
                return r;
        for (line = data; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                r = parse_line(line, path, &m);
                if (r < 0) {
                        mount_info_done(&m);
                        return r;
                }
                found = found || r > 0;
        }
        if (!found)
                return -ENOENT;
        *ret = m;
        return 0;
}

/* The block device's kernel name ("nvme0n1p1") from sysfs. */
static int block_name(dev_t dev, char **ret) {
        _cleanup_free_ char *link = strdup_printf("/sys/dev/block/%u:%u", major(dev), minor(dev));
        char target[PATH_MAX];
        ssize_t n;

        if (!link)
                return -ENOMEM;
        n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
                return -errno;
        target[n] = 0;
        *ret = strdup(strrchr(target, '/') ? strrchr(target, '/') + 1 : target);
        return *ret ? 0 : -ENOMEM;
}

/* The disk and partition number of a partition: -ENOTBLK when dev is no
 * partition (a whole disk, LVM, md). */
static int partition_of(dev_t dev, char **ret_disk, unsigned *ret_partno) {
        _cleanup_free_ char *dir = strdup_printf("/sys/dev/block/%u:%u", major(dev), minor(dev));
        _cleanup_free_ char *pfile = NULL, *num = NULL, *parent = NULL;
        char real[PATH_MAX], *slash;
        int r, v;

        if (!dir)
                return -ENOMEM;
        pfile = strdup_printf("%s/partition", dir);
        if (!pfile)
                return -ENOMEM;
        r = read_file(pfile, 64, &num, NULL);
        if (r == -ENOENT)
                return -ENOTBLK;
        if (r < 0)
                return r;
        num[strcspn(num, "\n")] = 0;
        if (safe_atoi(num, &v) < 0 || v <= 0)
                return -EBADMSG;
        if (!realpath(dir, real))
                return -errno;
        slash = strrchr(real, '/');
        if (!slash)
                return -EBADMSG;
        *slash = 0;
        slash = strrchr(real, '/');
        parent = strdup(slash ? slash + 1 : real);
        if (!parent)
                return -ENOMEM;
        *ret_disk = TAKE_PTR(parent);
        *ret_partno = (unsigned) v;
        return 0;
}

static const char *const search_env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C",
                                         NULL};

/* Runs argv; 0 on exit 0, 1 when growpart said NOCHANGE, -EIO otherwise
 * with the output's last line in *ret_why. */
static int run(char *const *argv, char **ret_why) {
        struct proc_options o = {
                .argv = argv, .envp = (char *const *) search_env, .log_name = argv[0], .timeout_ms = GROW_TIMEOUT_MS};
        struct proc_result res = {0};
        int r = proc_run(&o, &res);

        if (r < 0)
                return r;
        if (res.exit_code == 0)
                r = 0;
        else if (res.exit_code == 1 && strstr(res.output, "NOCHANGE"))
                r = 1;
        else {
                size_t n = strlen(res.output);
                while (n > 0 && res.output[n - 1] == '\n')
                        res.output[--n] = 0;
                const char *last = strrchr(res.output, '\n');
                *ret_why = strdup_printf("exit status %d: %s", res.exit_code, last ? last + 1 : res.output);
                r = -EIO;
        }
        proc_result_done(&res);
        return r;
}

/* The device of a growpart.devices entry: a mount point (under the root)
 * or a /dev node (the machine's). */
static int entry_device(const char *entry, dev_t *ret, char **ret_why) {
        _cleanup_free_ char *mp = NULL;
        struct mount_info m = {0};
        struct stat st;
        int r;

        if (strneq(entry, "/dev/", 5)) {
                if (stat(entry, &st) < 0)
                        return -errno;
                if (!S_ISBLK(st.st_mode))
                        return -ENOTBLK;
                *ret = st.st_rdev;
                return 0;
        }
        r = root_path(&mp, "%s", entry);
        if (r < 0)
                return r;
        while (strlen(mp) > 1 && mp[strlen(mp) - 1] == '/')
                mp[strlen(mp) - 1] = 0;
        r = growpart_find_mount("/proc/self/mountinfo", mp, &m);
        if (r < 0) {
                *ret_why = strdup("not a mount point");
                return r;
        }
        /* A bind mount of a directory (a container's root) is not a file
         * system of its own to grow. */
        if (!streq(m.fsroot, "/")) {
                *ret_why = strdup_printf("a bind mount of '%s'", m.fsroot);
                mount_info_done(&m);
                return -ENOTBLK;
        }
        *ret = m.dev;
        mount_info_done(&m);
        return 0;
}

static void record(struct kiln_context *ctx, const char *name, const char *entry, const char *result,
                   const char *detail) {
        kiln_record(ctx, json_pack("{s:s, s:s, s:s, s:s?}", "name", name, "device", entry, "result", result, "detail",
                                   detail));
}

static int grow_one(struct kiln_context *ctx, const char *growpart, const char *entry) {
        _cleanup_free_ char *why = NULL, *disk = NULL, *diskdev = NULL, *num = NULL;
        unsigned partno;
        dev_t dev = 0;
        int r;

        r = entry_device(entry, &dev, &why);
        if (r < 0) {
                log_info("growpart: skipping '%s': %s.", entry, why ? why : strerror(-r));
                record(ctx, "growpart", entry, "skipped", why ? why : strerror(-r));
                return 0;
        }
        r = partition_of(dev, &disk, &partno);
        if (r == -ENOTBLK) {
                log_info("growpart: '%s' is not on a partition, nothing to grow.", entry);
                record(ctx, "growpart", entry, "skipped", "not a partition");
                return 0;
        }
        if (r < 0)
                return kiln_degrade(ctx, "growpart: Failed to find the partition of '%s': %s", entry, strerror(-r));
        diskdev = strdup_printf("/dev/%s", disk);
        num = strdup_printf("%u", partno);
        if (!diskdev || !num)
                return -ENOMEM;
        r = run((char *const[]){(char *) growpart, diskdev, num, NULL}, &why);
        if (r < 0)
                return kiln_degrade(ctx, "growpart %s %s failed: %s", diskdev, num, why ? why : strerror(-r));
        log_info("growpart: %s partition %s of '%s' %s.", diskdev, num, entry, r == 0 ? "grown" : "already full size");
        record(ctx, "growpart", entry, r == 0 ? "changed" : "nochange", NULL);
        return 0;
}

static bool mode_off(const json_t *mode) {
        const char *s = json_string_value(mode);

        if (json_is_false(mode))
                return true;
        return s && (streq(s, "off") || streq(s, "false") || streq(s, "False") || streq(s, "no"));
}

static int grow_partitions(struct kiln_context *ctx) {
        const json_t *cfg = config_get(ctx->config, "growpart"), *devices, *v;
        const json_t *mode = cfg ? json_object_get(cfg, "mode") : NULL;
        _cleanup_free_ char *growpart = NULL, *disabled = NULL;
        bool explicit_growpart = json_is_string(mode) && streq(json_string_value(mode), "growpart");
        int result = 0;
        size_t i;

        if (mode_off(mode))
                return 0;
        if (!config_bool(cfg, "ignore_growroot_disabled", false) &&
            root_path(&disabled, "/etc/growroot-disabled") >= 0 && file_exists(disabled) > 0) {
                log_info("growpart: disabled by /etc/growroot-disabled.");
                return 0;
        }
        if (!pkg_have_program("growpart", &growpart)) {
                /* cloud-init's mode auto does nothing without a resizer. */
                if (explicit_growpart)
                        return kiln_degrade(ctx,
                                            "growpart: mode 'growpart' but no growpart program (cloud-guest-utils)");
                log_info("growpart: no growpart program (cloud-guest-utils), not growing partitions.");
                return 0;
        }
        devices = cfg ? json_object_get(cfg, "devices") : NULL;
        if (!json_is_array(devices))
                return grow_one(ctx, growpart, "/");
        json_array_foreach(devices, i, v) {
                int r = json_is_string(v) ? grow_one(ctx, growpart, json_string_value(v)) : 0;
                if (r != 0 && result >= 0)
                        result = r;
        }
        return result;
}

/* The resizer cloud-init's resizefs picks for a file system type. */
static int resize_argv(const char *fstype, const char *devnode, const char *mountpoint, char ***ret) {
        char **argv = NULL;
        int r = 0;

        if (strneq(fstype, "ext", 3))
                r = strv_push(&argv, "resize2fs") ?: strv_push(&argv, devnode);
        else if (streq(fstype, "xfs"))
                r = strv_push(&argv, "xfs_growfs") ?: strv_push(&argv, mountpoint);
        else if (streq(fstype, "btrfs"))
                r = strv_push(&argv, "btrfs") ?: strv_push(&argv, "filesystem") ?: strv_push(&argv, "resize")
                                                                              ?: strv_push(&argv, "max")
                                                                              ?: strv_push(&argv, mountpoint);
        else
                return -EOPNOTSUPP;
        if (r < 0) {
                strv_free(argv);
                return r;
        }
        *ret = argv;
        return 0;
}

static int resize_root(struct kiln_context *ctx) {
        const json_t *v = config_get(ctx->config, "resize_rootfs");
        _cleanup_free_ char *mp = NULL, *name = NULL, *devnode = NULL, *prog = NULL, *why = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        struct mount_info m = {0};
        int r;

        if (mode_off(v))
                return 0;
        r = root_path(&mp, "/");
        if (r < 0)
                return r;
        while (strlen(mp) > 1 && mp[strlen(mp) - 1] == '/')
                mp[strlen(mp) - 1] = 0;
        r = growpart_find_mount("/proc/self/mountinfo", mp, &m);
        if (r < 0 || !streq(m.fsroot, "/")) {
                mount_info_done(&m);
                log_debug("resize_rootfs: the root is not a file system of its own, not resizing.");
                return 0;
        }
        r = block_name(m.dev, &name);
        if (r >= 0)
                devnode = strdup_printf("/dev/%s", name);
        if (r >= 0 && !devnode)
                r = -ENOMEM;
        if (r >= 0)
                r = resize_argv(m.fstype, devnode, mp, &argv);
        if (r == -EOPNOTSUPP || r == -ENOENT) {
                log_info("resize_rootfs: not resizing a %s root file system.", m.fstype);
                mount_info_done(&m);
                return 0;
        }
        mount_info_done(&m);
        if (r < 0)
                return kiln_degrade(ctx, "resize_rootfs: %s", strerror(-r));
        if (!pkg_have_program(argv[0], &prog))
                return kiln_degrade(ctx, "resize_rootfs: no %s program to grow the root file system", argv[0]);
        free(argv[0]);
        argv[0] = TAKE_PTR(prog);
        r = run(argv, &why);
        if (r < 0)
                return kiln_degrade(ctx, "resize_rootfs: %s failed: %s", argv[0], why ? why : strerror(-r));
        log_info("resize_rootfs: %s grown to its partition.", devnode);
        record(ctx, "resize_rootfs", devnode, "ok", NULL);
        return 0;
}

int growpart_boot(struct kiln_context *ctx) {
        int a, b;

        /* A container's root is the host's to grow (cloud-init skips it too). */
        if (streq(root_get(), "/") && access("/run/systemd/container", F_OK) == 0)
                return 0;
        a = grow_partitions(ctx);
        b = resize_root(ctx);
        return a < 0 || b < 0 ? (a < 0 ? a : b) : (a > b ? a : b);
}
