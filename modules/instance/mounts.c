/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chase.h"
#include "fileio.h"
#include "imds/imds.h"
#include "instance/instance.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "pkg.h"
#include "proc.h"
#include "state.h"
#include "strbuf.h"

#define MNT_COMMENT "comment=cloudconfig"
#define FSTAB_MAX (1024 * 1024)
#define MOUNT_TIMEOUT_MS (2L * 60 * 1000)
#define MARK_MOUNTS "mounts"

static bool is_block(const char *path) {
        struct stat st;

        return stat(path, &st) == 0 && S_ISBLK(st.st_mode);
}

/* "sdb" -> "/dev/sdb"; where the kernel named it otherwise (Xen: xvdb,
 * virtio: vdb), that name, as cloud-init's _remap_device() does. */
static char *ephemeral_device(const char *name) {
        static const char *const remap[] = {"vd", "xvd", "vtb"};
        const char *base;
        char *p;

        if (!name || !*name || strstr(name, "..") || strchr(name, '\n'))
                return NULL;
        p = name[0] == '/' ? strdup(name) : strdup_printf("/dev/%s", name);
        if (!p || is_block(p))
                return p;
        base = strrchr(p, '/') + 1;
        if (strneq(base, "sd", 2))
                for (size_t i = 0; i < ELEMENTSOF(remap); i++) {
                        char *cand = strdup_printf("/dev/%s%s", remap[i], base + 2);
                        if (cand && is_block(cand)) {
                                free(p);
                                return cand;
                        }
                        free(cand);
                }
        free(p);
        return NULL;
}

/* Its first partition when it has one (sdb1, nvme1n1p1, ...-part1). */
static char *first_partition(char *dev) {
        static const char *const suffixes[] = {"1", "p1", "-part1"};

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                char *cand = strdup_printf("%s%s", dev, suffixes[i]);
                if (cand && is_block(cand)) {
                        free(dev);
                        return cand;
                }
                free(cand);
        }
        return dev;
}

/* Whether the fstab line p (n bytes) has device as its first field. */
static bool line_mounts(const char *p, size_t n, const char *device) {
        size_t s = strspn(p, " \t"), k;

        if (s >= n)
                return false;
        k = strcspn(p + s, " \t\n");
        if (s + k > n)
                k = n - s;
        return k == strlen(device) && strneq(p + s, device, k);
}

int mounts_fstab(const char *old, const char *device, const char *line, char **ret, bool *ret_has_own) {
        _cleanup_strbuf_ struct strbuf b = {};
        const char *p = old ? old : "", *nl;
        bool own = false;
        int r = 0;

        for (; *p && r >= 0; p = nl ? nl + 1 : p + strlen(p)) {
                size_t n;
                nl = strchr(p, '\n');
                n = nl ? (size_t) (nl - p) : strlen(p);
                if (memmem(p, n, MNT_COMMENT, strlen(MNT_COMMENT)))
                        continue;
                own = own || line_mounts(p, n, device);
                r = strbuf_append(&b, p, n);
                if (r >= 0)
                        r = strbuf_puts(&b, "\n");
        }
        if (r >= 0 && !own)
                r = strbuf_puts(&b, line);
        if (r < 0)
                return r;
        *ret = strbuf_steal(&b);
        *ret_has_own = own;
        return 0;
}

static int run(char **argv) {
        static char *const env[] = {(char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                    (char *) "LANG=C", NULL};
        struct proc_options o = {.argv = argv, .envp = env, .log_name = argv[0], .timeout_ms = MOUNT_TIMEOUT_MS};
        struct proc_result res = {0};
        int r = proc_run(&o, &res);

        if (r >= 0 && (res.exit_code != 0 || res.timed_out))
                r = -EIO;
        proc_result_done(&res);
        return r;
}

/* Under systemd, systemd mounts it: kiln.service has a mount namespace of
 * its own (PrivateTmp= and the rest), and a mount made there does not
 * reach the host (systemd.exec(5), MountFlags=). So: daemon-reload, which
 * makes mnt.mount from the new fstab line, then start it. Elsewhere (no
 * systemd, --root), mount(8) with the root's fstab. Only this mount point:
 * `mount -a`, as cloud-init runs it, would also mount what the user left
 * unmounted on purpose. */
static int mount_it(const char *mountpoint) {
        _cleanup_free_ char *fstab = NULL, *mount = NULL, *systemctl = NULL;
        const char *root = root_get();
        int r;

        if (streq(root, "/") && access("/run/systemd/system", F_OK) == 0 && pkg_have_program("systemctl", &systemctl)) {
                if (!streq(mountpoint, "/mnt"))
                        return -EINVAL;
                r = run((char *[]){systemctl, (char *) "daemon-reload", NULL});
                return r < 0 ? r : run((char *[]){systemctl, (char *) "start", (char *) "mnt.mount", NULL});
        }
        if (!pkg_have_program("mount", &mount))
                return -ENOENT;
        r = root_path(&fstab, "/etc/fstab");
        if (r < 0)
                return r;
        if (streq(root, "/"))
                return run((char *[]){mount, (char *) "--fstab", fstab, (char *) mountpoint, NULL});
        return run((char *[]){mount, (char *) "--fstab", fstab, (char *) "--target-prefix", (char *) root,
                              (char *) mountpoint, NULL});
}

static bool is_mounted(const char *mountpoint) {
        _cleanup_free_ char *p = NULL;
        struct mount_info m = {0};
        bool yes;

        if (root_path(&p, "%s", mountpoint) < 0)
                return false;
        yes = growpart_find_mount("/proc/self/mountinfo", p, &m) >= 0;
        mount_info_done(&m);
        return yes;
}

static int apply(struct kiln_context *ctx, const char *device, const char *mountpoint) {
        _cleanup_free_ char *fstab = NULL, *old = NULL, *new = NULL, *line = NULL, *dir = NULL;
        bool own = false;
        int r;

        line = strdup_printf("%s\t%s\tauto\tdefaults,nofail," MNT_COMMENT "\t0\t2\n", device, mountpoint);
        if (!line)
                return -ENOMEM;
        r = root_path(&fstab, "/etc/fstab");
        if (r < 0)
                return r;
        r = chase_read_file(fstab, FSTAB_MAX, &old, NULL);
        if (r < 0 && r != -ENOENT)
                return kiln_degrade(ctx, "mounts: Failed to read /etc/fstab: %s", strerror(-r));
        r = mounts_fstab(old, device, line, &new, &own);
        if (r < 0)
                return r;
        if (!old || !streq(old, new)) {
                r = write_file_atomic(fstab, new, strlen(new), 0644);
                if (r < 0)
                        return kiln_degrade(ctx, "mounts: Failed to write /etc/fstab: %s", strerror(-r));
        }
        if (own) {
                log_info("mounts: %s has its own line in /etc/fstab, leaving it.", device);
                return 0;
        }
        r = root_path(&dir, "%s", mountpoint);
        if (r >= 0)
                r = mkdir_p(dir, 0755);
        if (r < 0)
                return kiln_degrade(ctx, "mounts: Failed to make %s: %s", mountpoint, strerror(-r));
        if (is_mounted(mountpoint))
                return 0;
        r = mount_it(mountpoint);
        if (r < 0)
                return kiln_degrade(ctx, "mounts: Failed to mount %s on %s: %s", device, mountpoint, strerror(-r));
        log_info("mounts: instance store %s mounted on %s.", device, mountpoint);
        kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "mounts", "device", device, "result", "ok"));
        return 0;
}

int mounts_boot(struct kiln_context *ctx) {
        _cleanup_free_ char *name = NULL;
        char *device = NULL;
        struct imds *c = NULL;
        size_t len = 0;
        int r;

        if (!ctx->identified)
                return 0;
        r = state_should_run(ctx, FREQ_INSTANCE, MARK_MOUNTS);
        if (r <= 0)
                return r < 0 ? kiln_fail(ctx, r, "mounts: %s", strerror(-r)) : 0;
        r = imds_from_context(ctx, &c);
        if (r >= 0)
                r = imds_get(c, "meta-data/block-device-mapping/ephemeral0", &name, &len);
        if (r < 0 && r != -ENOENT)
                return kiln_degrade(ctx, "mounts: Failed to read the block device mapping: %s",
                                    c ? imds_error(c) : strerror(-r));
        if (r >= 0) {
                name[strcspn(name, "\n")] = 0;
                device = ephemeral_device(name);
                if (device)
                        device = first_partition(device);
                if (!device)
                        /* t1.micro and Nitro list an ephemeral0 that is not there (NVMe
                         * instance store is nvme*n1, which cloud-init does not map either). */
                        log_info("mounts: ephemeral0 '%s' is not a device here, not mounting it.", name);
                else {
                        r = apply(ctx, device, "/mnt");
                        free(device);
                        if (r != 0)
                                return r;
                }
        }
        r = state_mark_done(ctx, FREQ_INSTANCE, MARK_MOUNTS);
        return r < 0 ? kiln_fail(ctx, r, "Failed to mark the mounts done: %s", strerror(-r)) : 0;
}
