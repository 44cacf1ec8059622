/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "chase.h"
#include "clock.h"
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
#define SWAP_DD_TIMEOUT_MS (30L * 60 * 1000)
#define MARK_MOUNTS "mounts"

static bool exists(const char *path) {
        return access(path, F_OK) == 0;
}

/* cloud-init's _remap_device(): IMDS says sdb where the kernel says vdb,
 * xvdb or vtbb. */
static char *remap_device(const char *base) {
        static const char *const to[] = {"vd", "xvd", "vtb"};

        if (!strneq(base, "sd", 2))
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(to); i++) {
                char *cand = strdup_printf("/dev/%s%s", to[i], base + 2);
                if (cand && exists(cand))
                        return cand;
                free(cand);
        }
        return NULL;
}

/* The block-device-mapping names read from IMDS, each once, within a
 * bound: a few seconds a read and BDM_BUDGET_MS for all of them, not
 * imds.timeout each (cloud-init reads them from the metadata it crawled
 * once). A name not read (IMDS failing or slow) is taken as one IMDS does
 * not have (a mounts entry written as it is, no default entry) and the
 * names not read are counted in one warning. */
#define BDM_REQUEST_MS 3000L
#define BDM_BUDGET_MS 10000L

struct bdm {
        struct kiln_context *ctx;
        const char *who; /* "mounts", "disk_setup": for the warning */
        long deadline;
        json_t *seen; /* name -> its IMDS answer, or null: absent or not read */
        unsigned failed;
        char *first_failure;
};

static void bdm_done(struct bdm *b) {
        json_decref(b->seen);
        free(b->first_failure);
}

/* The IMDS answer for name: 1 with *ret, 0 absent, < 0 not read. */
static int bdm_read(struct bdm *b, const char *name, char **ret) {
        _cleanup_free_ char *path = NULL, *found = NULL;
        const json_t *cached = json_object_get(b->seen, name);
        struct imds *c = NULL;
        long left = b->deadline - now_ms();
        int r;

        if (cached) {
                *ret = json_is_string(cached) ? strdup(json_string_value(cached)) : NULL;
                return json_is_string(cached) ? (*ret ? 1 : -ENOMEM) : 0;
        }
        path = strdup_printf("meta-data/block-device-mapping/%s", name);
        if (!path)
                return -ENOMEM;
        r = imds_from_context(b->ctx, &c);
        if (r >= 0)
                r = imds_get_within(c, path,
                                    left <= 0               ? -1
                                    : left < BDM_REQUEST_MS ? left
                                                            : BDM_REQUEST_MS,
                                    &found, NULL);
        if (r < 0 && r != -ENOENT) {
                b->failed++;
                if (!b->first_failure)
                        b->first_failure = strdup_printf("%s: %s", path, c ? imds_error(c) : strerror(-r));
        }
        if (r >= 0)
                found[strcspn(found, "\n")] = 0;
        if (!b->seen)
                b->seen = json_object();
        if (!b->seen || json_object_set_new(b->seen, name, r >= 0 ? json_string(found) : json_null()) < 0)
                return -ENOMEM;
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        *ret = TAKE_PTR(found);
        return 1;
}

/* The warning for the names not read, once; KILN_DEGRADED or 0. */
static int bdm_report(struct bdm *b) {
        if (!b->failed)
                return 0;
        return kiln_degrade(b->ctx,
                            "%s: %u block-device-mapping name(s) not read from IMDS (%ld s a read, %ld s in all), "
                            "taken as names IMDS does not have: %s",
                            b->who, b->failed, BDM_REQUEST_MS / 1000, BDM_BUDGET_MS / 1000,
                            b->first_failure ? b->first_failure : "?");
}

/* DataSourceEc2.device_name_to_device(): a block-device-mapping name
 * (ephemeral0, swap, ami, root, ebsN) to a device; NULL when IMDS has no
 * such name, or (ephemeral0 only) when it is not a device here. */
static char *bdm_device(struct bdm *b, const char *name) {
        _cleanup_free_ char *found = NULL, *dev = NULL;
        char *remapped;

        if (strchr(name, '/') || strstr(name, "..") || bdm_read(b, name, &found) <= 0)
                return NULL;
        if (!*found)
                return NULL;
        dev = found[0] == '/' ? strdup(found) : strdup_printf("/dev/%s", found);
        if (!dev)
                return NULL;
        if (exists(dev))
                return TAKE_PTR(dev);
        remapped = remap_device(strrchr(dev, '/') + 1);
        if (remapped)
                return remapped;
        /* t1.micro lists an ephemeral0 that never exists (LP: #744019). */
        if (streq(name, "ephemeral0"))
                return NULL;
        return TAKE_PTR(found);
}

static bool is_meta_device_name(const char *name) {
        if (streq(name, "ami") || streq(name, "root") || streq(name, "swap"))
                return true;
        return (strneq(name, "ephemeral", 9) || strneq(name, "ebs", 3)) && !strchr(name, ':');
}

/* ^([x]{0,1}[shv]d[a-z][0-9]*|sr[0-9]+)$ */
static bool short_device_name(const char *s) {
        if (strneq(s, "sr", 2) && s[2])
                return strspn(s + 2, "0123456789") == strlen(s + 2);
        if (*s == 'x')
                s++;
        if (!strchr("shv", s[0]) || !s[0] || s[1] != 'd' || !(s[2] >= 'a' && s[2] <= 'z'))
                return false;
        return strspn(s + 3, "0123456789") == strlen(s + 3);
}

/* /sys/block/NAME[/PART] for the names device (and partition) resolve to. */
static bool sys_block(const char *device, const char *partition) {
        _cleanup_free_ char *dev = realpath(device, NULL), *part = partition ? realpath(partition, NULL) : NULL;
        _cleanup_free_ char *sys = NULL;

        sys = strdup_printf(
                "/sys/block/%s%s%s", strrchr(dev ? dev : device, '/') ? strrchr(dev ? dev : device, '/') + 1 : device,
                partition ? "/" : "",
                partition ? (strrchr(part ? part : partition, '/') ? strrchr(part ? part : partition, '/') + 1
                                                                   : partition)
                          : "");
        return sys && exists(sys);
}

static char *nth_partition(const char *device, const char *n) {
        static const char *const seps[] = {"", "p", "-part"};

        for (size_t i = 0; i < ELEMENTSOF(seps); i++) {
                char *cand = strdup_printf("%s%s%s", device, seps[i], n);
                if (cand && exists(cand))
                        return cand;
                free(cand);
        }
        return NULL;
}

/* cloud-init's sanitize_devname(): what a mounts entry's first field names,
 * as a device path; NULL when it is no block device here (the entry is
 * then written as the user wrote it). "server:/export" as it is. */
static char *sanitize_devname(struct bdm *b, const char *start, const json_t *aliases) {
        _cleanup_free_ char *devname = strdup(streq(start, "ephemeral") ? "ephemeral0" : start);
        _cleanup_free_ char *device = NULL, *partition = NULL;
        const char *alias, *partnum = NULL;
        char *dot;

        if (!devname)
                return NULL;
        if (start[0] && start[0] != ':' && strchr(start + 1, ':'))
                return strdup(start);
        dot = strrchr(devname, '.');
        if (dot) {
                *dot = 0;
                partnum = dot + 1;
        }
        alias = json_string_value(json_object_get(aliases, devname));
        device = strdup(alias ? alias : devname);
        if (!device)
                return NULL;
        if (is_meta_device_name(device)) {
                char *d = bdm_device(b, device);
                free(device);
                device = d;
                if (!device)
                        return NULL;
                if (device[0] != '/') {
                        d = strdup_printf("/dev/%s", device);
                        free(device);
                        device = d;
                        if (!device)
                                return NULL;
                }
        } else if (short_device_name(start)) {
                char *d = strdup_printf("/dev/%s", device);
                free(device);
                device = d;
                if (!device)
                        return NULL;
        }
        partition = nth_partition(device, partnum ? partnum : "1");
        if (partnum && !partition)
                return NULL;
        if (!sys_block(device, partition))
                return NULL;
        return partition ? TAKE_PTR(partition) : TAKE_PTR(device);
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

/* Runs argv, argv[0] looked up on the standard PATH, for at most timeout_ms. */
static int run_for(char **argv, long timeout_ms) {
        static char *const env[] = {(char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                    (char *) "LANG=C", NULL};
        _cleanup_free_ char *prog = NULL;
        const char *name = argv[0];
        struct proc_options o = {.argv = argv, .envp = env, .log_name = name, .timeout_ms = timeout_ms};
        struct proc_result res = {0};
        int r;

        if (!pkg_have_program(name, &prog))
                return -ENOENT;
        argv[0] = prog;
        r = proc_run(&o, &res);
        argv[0] = (char *) name;

        if (r >= 0 && (res.exit_code != 0 || res.timed_out))
                r = -EIO;
        proc_result_done(&res);
        return r;
}

static int run(char **argv) {
        return run_for(argv, MOUNT_TIMEOUT_MS);
}

static bool is_mounted(const char *mountpoint) {
        _cleanup_free_ char *p = NULL;
        struct mount_info m = {0};
        bool yes;

        if (root_path(&p, "%s", mountpoint) < 0)
                return false;
        while (strlen(p) > 1 && p[strlen(p) - 1] == '/')
                p[strlen(p) - 1] = 0;
        yes = growpart_find_mount("/proc/self/mountinfo", p, &m) >= 0;
        mount_info_done(&m);
        return yes;
}

#define FIELDS_MAX 16

/* One mounts entry: fields as cloud-init's str() makes them, NULL for None. */
struct entry {
        char *f[FIELDS_MAX];
        size_t n;
};

static void entries_free(struct entry *e, size_t n) {
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < e[i].n; k++)
                        free(e[i].f[k]);
        free(e);
}

/* Python's str() of a YAML scalar; -EINVAL for a list or mapping. */
static int token(const json_t *v, char **ret) {
        if (json_is_null(v))
                *ret = NULL;
        else if (json_is_string(v))
                *ret = strdup(json_string_value(v));
        else if (json_is_integer(v))
                *ret = strdup_printf("%lld", (long long) json_integer_value(v));
        else if (json_is_boolean(v))
                *ret = strdup(json_is_true(v) ? "True" : "False");
        else if (json_is_real(v))
                *ret = strdup_printf("%g", json_real_value(v));
        else
                return -EINVAL;
        return json_is_null(v) || *ret ? 0 : -ENOMEM;
}

static int entry_append(struct entry **list, size_t *n, struct entry *e) {
        struct entry *nl = realloc(*list, (*n + 1) * sizeof(**list));

        if (!nl)
                return -ENOMEM;
        nl[(*n)++] = *e;
        *list = nl;
        *e = (struct entry){0};
        return 0;
}

/* The first field of each line ("" for a blank one), as cloud-init's fstab_devs. */
static bool in_fstab(char **kept, const char *dev) {
        for (char **l = kept; l && *l; l++)
                if (line_mounts(*l, strlen(*l), dev))
                        return true;
        return false;
}

int mounts_fstab_split(const char *old, char ***ret_kept, char ***ret_removed) {
        _cleanup_strv_free_ char **kept = NULL, **removed = NULL;
        const char *p = old ? old : "", *nl;

        for (; *p; p = nl ? nl + 1 : p + strlen(p)) {
                _cleanup_free_ char *line = NULL;
                int r;
                nl = strchr(p, '\n');
                line = strndup(p, nl ? (size_t) (nl - p) : strlen(p));
                if (!line)
                        return -ENOMEM;
                r = strv_push(strstr(line, MNT_COMMENT) ? &removed : &kept, line);
                if (r < 0)
                        return r;
        }
        *ret_kept = TAKE_PTR(kept);
        *ret_removed = TAKE_PTR(removed);
        return 0;
}

/* The mounts list as cloud-init reads it: each device sanitised unless
 * it is no device here or fstab has it, None fields filled from defvals,
 * entries whose mount point is None removed with the earlier entries of
 * their device. KILN_DEGRADED when an entry was skipped (recorded). */
static int config_entries(struct kiln_context *ctx, struct bdm *b, const json_t *mounts, char *const *defvals,
                          char **kept, struct entry **ret, size_t *ret_n) {
        const json_t *aliases = config_get(ctx->config, "device_aliases"), *line, *v;
        struct entry *list = NULL;
        size_t n = 0, i, k;
        int r = 0, skipped = 0;

        json_array_foreach(mounts, i, line) {
                _cleanup_free_ char *start = NULL, *sane = NULL;
                struct entry e = {0};
                if (!json_is_array(line) || json_array_size(line) == 0 || json_array_size(line) > FIELDS_MAX) {
                        skipped = kiln_degrade(ctx, "mounts: entry %zu is not a list of at most %d fields, ignoring",
                                               i + 1, FIELDS_MAX);
                        continue;
                }
                json_array_foreach(line, k, v) {
                        r = token(v, &e.f[k]);
                        if (r < 0)
                                break;
                        e.n = k + 1;
                }
                if (r == -EINVAL) {
                        for (k = 0; k < e.n; k++)
                                free(e.f[k]);
                        skipped = kiln_degrade(ctx, "mounts: entry %zu has a list or mapping for a field, ignoring",
                                               i + 1);
                        r = 0;
                        continue;
                }
                start = strdup(e.f[0] ? e.f[0] : "None");
                sane = start ? sanitize_devname(b, start, aliases) : NULL;
                if (sane && !in_fstab(kept, sane)) {
                        free(e.f[0]);
                        e.f[0] = TAKE_PTR(sane);
                }
                for (k = 0; k < 6 && r >= 0; k++) {
                        if (k < e.n && e.f[k])
                                continue;
                        e.f[k] = defvals[k] ? strdup(defvals[k]) : NULL;
                        r = defvals[k] && !e.f[k] ? -ENOMEM : 0;
                }
                e.n = e.n > 6 ? e.n : 6;
                /* [dev, None]: no mount for dev, from this or an earlier entry. */
                if (r >= 0 && !e.f[1])
                        for (k = 0; k < n; k++)
                                if (list[k].f[0] && e.f[0] && streq(list[k].f[0], e.f[0])) {
                                        free(list[k].f[1]);
                                        list[k].f[1] = NULL;
                                }
                if (r >= 0)
                        r = entry_append(&list, &n, &e);
                if (r < 0) {
                        for (k = 0; k < e.n; k++)
                                free(e.f[k]);
                        break;
                }
        }
        if (r < 0) {
                entries_free(list, n);
                return r;
        }
        *ret = list;
        *ret_n = n;
        return skipped;
}

#define MB (1024.0 * 1024)
#define GB (MB * 1024)

/* cloud-init's util.human2bytes(): "10M", ".5G", "1024", "2GB". */
int mounts_human2bytes(const char *s, double *ret) {
        static const char units[] = "BKMGT";
        _cleanup_free_ char *num = strdup(s);
        double mult = 1, v;
        char *end;
        size_t n;

        if (!num)
                return -ENOMEM;
        n = strlen(num);
        if (n > 0 && num[n - 1] == 'B')
                num[--n] = 0;
        if (n > 0 && strchr(units, num[n - 1])) {
                for (const char *u = units; *u != num[n - 1]; u++)
                        mult *= 1024;
                num[--n] = 0;
        }
        errno = 0;
        v = strtod(num, &end);
        if (n == 0 || errno || *end || v != v || v < 0 || v > 1e18)
                return -EINVAL;
        *ret = v * mult;
        return 0;
}

/* round(sqrt(x)) for x >= 16 (no libm for one call). */
static double round_sqrt(double x) {
        double k = 1;

        while ((k + 0.5) * (k + 0.5) <= x && k < 1e6)
                k++;
        return k;
}

/* cloud-init's suggested_swapsize(). */
double mounts_suggested_swapsize(double memsize, double maxsize, double avail) {
        double sugg_max = memsize * 2, minsize;

        if (maxsize < 0)
                maxsize = avail / 4 < sugg_max ? (double) (long long) (avail / 4) : sugg_max;
        else if (maxsize > avail * 0.9)
                maxsize = (double) (long long) (avail * 0.9);
        if (memsize < 4 * GB)
                minsize = memsize;
        else if (memsize < 16 * GB)
                minsize = 4 * GB;
        else
                minsize = round_sqrt(memsize / GB) * GB;
        return minsize < maxsize ? minsize : maxsize;
}

static int meminfo_total(double *ret) {
        _cleanup_free_ char *data = NULL;
        const char *p;
        long long kb;

        if (read_file("/proc/meminfo", 64 * 1024, &data, NULL) < 0)
                return -EIO;
        p = strstr(data, "MemTotal:");
        if (!p || sscanf(p, "MemTotal: %lld kB", &kb) != 1 || kb <= 0)
                return -EIO;
        *ret = (double) kb * 1024;
        return 0;
}

/* The file system path lies on: its longest mount point. */
static int mount_of(const char *path, struct mount_info *ret) {
        _cleanup_free_ char *p = strdup(path);

        while (p) {
                char *slash;
                if (growpart_find_mount("/proc/self/mountinfo", *p ? p : "/", ret) >= 0)
                        return 0;
                slash = strrchr(p, '/');
                if (!slash || !*p)
                        break;
                *slash = 0;
        }
        return p ? -ENOENT : -ENOMEM;
}

static bool swap_active(const char *path) {
        _cleanup_free_ char *data = NULL, *prefix = strdup_printf("%s ", path);

        if (!prefix || read_file("/proc/swaps", 1024 * 1024, &data, NULL) < 0)
                return true; /* "being safe", as cloud-init */
        for (const char *l = data; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strneq(l, prefix, strlen(prefix)))
                        return true;
        return false;
}

/* A swap file of mib MiB at path (under the root): made empty by kiln's
 * writer, filled by fallocate (dd on btrfs, or when fallocate fails),
 * then mkswap. Removed again when a step fails. */
static int make_swapfile(const char *path, long long mib) {
        _cleanup_free_ char *size = strdup_printf("%lldM", mib), *count = strdup_printf("count=%lld", mib);
        _cleanup_free_ char *of = strdup_printf("of=%s", path), *dir = strdup(path);
        struct mount_info m = {0};
        bool btrfs;
        int r;

        if (!size || !count || !of || !dir)
                return -ENOMEM;
        *strrchr(dir, '/') = 0;
        r = mkdir_p(*dir ? dir : "/", 0755);
        if (r < 0)
                return r;
        btrfs = mount_of(dir, &m) >= 0 && streq(m.fstype, "btrfs");
        mount_info_done(&m);
        r = write_file_atomic(path, "", 0, 0600);
        if (r < 0)
                return r;
        /* dd writes every byte: a large file on a slow volume takes minutes. */
        if (btrfs || run((char *[]){(char *) "fallocate", (char *) "-l", size, (char *) path, NULL}) < 0)
                r = run_for((char *[]){(char *) "dd", (char *) "if=/dev/zero", of, (char *) "bs=1M", count, NULL},
                            SWAP_DD_TIMEOUT_MS);
        if (r >= 0)
                r = run((char *[]){(char *) "mkswap", (char *) path, NULL});
        if (r < 0)
                (void) unlink(path);
        return r;
}

/* cloud-init's handle_swapcfg(): the swap file's name when there is (or
 * now is) one to put in fstab, NULL when none is asked for. */
static int swap_file(struct kiln_context *ctx, const json_t *swap, char **ret) {
        const json_t *size = json_object_get(swap, "size"), *max = json_object_get(swap, "maxsize");
        const char *fname = json_string_value(json_object_get(swap, "filename"));
        _cleanup_free_ char *path = NULL, *dir = NULL;
        double bytes = 0, maxsize = -1, mem, avail;
        struct statvfs sv;
        int r;

        *ret = NULL;
        if (!json_object_get(swap, "filename"))
                fname = "/swap.img";
        if (!fname || !*fname || !size || json_is_null(size) || json_is_false(size) ||
            (json_is_integer(size) && json_integer_value(size) == 0) ||
            (json_is_string(size) && !*json_string_value(size)))
                return 0;
        if (fname[0] != '/')
                return kiln_degrade(ctx, "swap: filename '%s' is not an absolute path", fname);
        r = root_path(&path, "%s", fname);
        if (r < 0)
                return r;
        if (exists(path) && (!streq(root_get(), "/") || swap_active(path))) {
                *ret = strdup(fname);
                return *ret ? 0 : -ENOMEM;
        }
        if (json_is_string(max) && mounts_human2bytes(json_string_value(max), &maxsize) < 0)
                return kiln_degrade(ctx, "swap: maxsize '%s' is not a size", json_string_value(max));
        if (json_is_number(max))
                maxsize = json_number_value(max);
        if (json_is_string(size) && strcasecmp(json_string_value(size), "auto") == 0) {
                dir = strdup(path);
                if (!dir)
                        return -ENOMEM;
                *strrchr(dir, '/') = 0;
                r = mkdir_p(*dir ? dir : "/", 0755);
                if (r < 0 || meminfo_total(&mem) < 0 || statvfs(*dir ? dir : "/", &sv) < 0)
                        return kiln_degrade(ctx, "swap: Failed to size the swap file %s", fname);
                avail = (double) sv.f_frsize * (double) sv.f_bfree;
                bytes = mounts_suggested_swapsize(mem, maxsize, avail);
        } else if (json_is_string(size)) {
                if (mounts_human2bytes(json_string_value(size), &bytes) < 0)
                        return kiln_degrade(ctx, "swap: size '%s' is not a size", json_string_value(size));
        } else if (json_is_number(size))
                bytes = json_number_value(size);
        else
                return kiln_degrade(ctx, "swap: size is not a size");
        if ((long long) (bytes / MB) <= 0)
                return 0;
        r = make_swapfile(path, (long long) (bytes / MB));
        if (r < 0)
                return kiln_degrade(ctx, "swap: Failed to make the swap file %s: %s", fname, strerror(-r));
        log_info("swap: made %s, %lld MiB.", fname, (long long) (bytes / MB));
        *ret = strdup(fname);
        return *ret ? 0 : -ENOMEM;
}

/* "a  b\tc" -> "a b c": how cloud-init compares old and new lines. */
static char *squeeze(const char *s) {
        char *out = malloc(strlen(s) + 1), *o = out;

        if (!out)
                return NULL;
        for (; *s; s++)
                if (*s != ' ' && *s != '\t')
                        *o++ = *s;
                else if (o == out || o[-1] != ' ')
                        *o++ = ' ';
        *o = 0;
        return out;
}

static bool squeezed_in(char **lines, const char *line) {
        _cleanup_free_ char *a = squeeze(line);

        for (char **l = lines; a && l && *l; l++) {
                _cleanup_free_ char *b = squeeze(*l);
                if (b && streq(a, b))
                        return true;
        }
        return false;
}

/* Mounts what the new lines name. Under systemd, systemd does it (a mount
 * made in kiln.service's own mount namespace would not reach the rest of
 * the system): daemon-reload, then each mount point's .mount unit. Else
 * mount(8) with the root's fstab, each mount point (cloud-init's
 * `mount -a` would also mount what the user left unmounted on purpose).
 * Swap: swapon -a, not under --root (it would be the machine's swap). */
static int activate(char **mountpoints, bool needswap) {
        _cleanup_free_ char *fstab = NULL;
        const char *root = root_get();
        bool systemd = streq(root, "/") && access("/run/systemd/system", F_OK) == 0;
        int r = 0, k;

        if (needswap && streq(root, "/"))
                r = run((char *[]){(char *) "swapon", (char *) "-a", NULL});
        if (!mountpoints)
                return r;
        if (systemd && (k = run((char *[]){(char *) "systemctl", (char *) "daemon-reload", NULL})) < 0)
                return k;
        k = root_path(&fstab, "/etc/fstab");
        if (k < 0)
                return k;
        for (char **m = mountpoints; *m; m++) {
                _cleanup_free_ char *unit = NULL;
                if (is_mounted(*m))
                        continue;
                if (systemd) {
                        struct proc_result res = {0};
                        _cleanup_free_ char *escape = NULL;
                        char *argv[] = {NULL, (char *) "--path", (char *) "--suffix=mount", *m, NULL};
                        if (!pkg_have_program("systemd-escape", &escape))
                                return -ENOENT;
                        argv[0] = escape;
                        static char *const env[] = {(char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
                        struct proc_options o = {.argv = argv, .envp = env, .quiet = true, .timeout_ms = 10000};
                        k = proc_run(&o, &res);
                        if (k >= 0 && res.exit_code == 0)
                                unit = strndup(res.output, strcspn(res.output, "\n"));
                        proc_result_done(&res);
                        k = unit ? run((char *[]){(char *) "systemctl", (char *) "start", unit, NULL}) : -EIO;
                } else if (streq(root, "/"))
                        k = run((char *[]){(char *) "mount", (char *) "--fstab", fstab, *m, NULL});
                else
                        k = run((char *[]){(char *) "mount", (char *) "--fstab", fstab, (char *) "--target-prefix",
                                           (char *) root, *m, NULL});
                if (k < 0 && r >= 0)
                        r = k;
        }
        return r;
}

/* The default entries (ephemeral0 at /mnt, the mapping's swap device)
 * that no configured entry and no line of fstab has. */
static int add_defaults(struct kiln_context *ctx, struct bdm *b, char *const *defvals, char **kept, struct entry **list,
                        size_t *n) {
        const char *defs[][6] = {{"ephemeral0", "/mnt", "auto", defvals[3], "0", "2"},
                                 {"swap", "none", "swap", "sw", "0", "0"}};
        const json_t *aliases = config_get(ctx->config, "device_aliases");
        int r;

        for (size_t d = 0; d < ELEMENTSOF(defs); d++) {
                _cleanup_free_ char *dev = sanitize_devname(b, defs[d][0], aliases);
                struct entry e = {.n = 6};
                bool has = false;
                if (!dev || in_fstab(kept, dev))
                        continue;
                for (size_t i = 0; i < *n; i++)
                        has = has || ((*list)[i].f[0] && streq((*list)[i].f[0], dev));
                if (has)
                        continue;
                e.f[0] = TAKE_PTR(dev);
                for (size_t k = 1; k < 6; k++)
                        e.f[k] = defs[d][k] ? strdup(defs[d][k]) : NULL;
                r = entry_append(list, n, &e);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int apply_mounts(struct kiln_context *ctx) {
        static const char *const builtin[6] = {NULL, NULL, "auto", "defaults,nofail", "0", "2"};
        _cleanup_strv_free_ char **kept = NULL, **removed = NULL, **cc = NULL, **points = NULL;
        _cleanup_free_ char *fstab = NULL, *old = NULL, *swapf = NULL;
        const json_t *dflt = config_get(ctx->config, "mount_default_fields");
        const json_t *mounts = config_get(ctx->config, "mounts");
        char *defvals[6] = {};
        struct entry *list = NULL;
        _cleanup_strbuf_ struct strbuf b = {};
        bool needswap = false, changed = false;
        size_t n = 0;
        int r, result = 0;
        struct bdm bdm = {.ctx = ctx, .who = "mounts", .deadline = now_ms() + BDM_BUDGET_MS};

        for (size_t k = 0; k < 6; k++) {
                const json_t *v = json_is_array(dflt) ? json_array_get(dflt, k) : NULL;
                r = v ? token(v, &defvals[k]) : 0;
                if (!v && builtin[k])
                        defvals[k] = strdup(builtin[k]);
        }
        r = root_path(&fstab, "/etc/fstab");
        if (r >= 0) {
                r = chase_read_file(fstab, FSTAB_MAX, &old, NULL);
                r = r == -ENOENT ? 0 : r;
        }
        if (r >= 0)
                r = mounts_fstab_split(old, &kept, &removed);
        if (r >= 0 && json_is_array(mounts)) {
                r = config_entries(ctx, &bdm, mounts, defvals, kept, &list, &n);
                if (r > 0) {
                        result = r;
                        r = 0;
                }
        }
        if (r >= 0)
                r = add_defaults(ctx, &bdm, defvals, kept, &list, &n);
        if (bdm_report(&bdm) > 0)
                result = KILN_DEGRADED;
        bdm_done(&bdm);
        if (r >= 0 && json_is_object(config_get(ctx->config, "swap"))) {
                int k = swap_file(ctx, config_get(ctx->config, "swap"), &swapf);
                if (k < 0)
                        r = k;
                else if (k > 0)
                        result = k;
        }
        for (size_t k = 0; k < 6; k++)
                free(defvals[k]);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                struct entry *e = &list[i];
                _cleanup_strbuf_ struct strbuf line = {};
                if (!e->f[1])
                        continue;
                for (size_t k = 0; r >= 0 && k < e->n; k++)
                        r = strbuf_printf(&line, "%s%s%s%s", k ? "\t" : "", e->f[k] ? e->f[k] : "None",
                                          k == 3 ? "," : "", k == 3 ? MNT_COMMENT : "");
                if (r >= 0)
                        r = strv_push(&cc, line.data);
                needswap = needswap || (e->f[2] && streq(e->f[2], "swap"));
                if (r >= 0 && e->f[1][0] == '/')
                        r = strv_push(&points, e->f[1]);
        }
        if (r >= 0 && swapf) {
                _cleanup_free_ char *line = strdup_printf("%s\tnone\tswap\tsw,%s\t0\t0", swapf, MNT_COMMENT);
                r = line ? strv_push(&cc, line) : -ENOMEM;
                needswap = true;
        }
        entries_free(list, n);
        if (r < 0)
                return kiln_degrade(ctx, "mounts: %s", strerror(-r));
        if (!cc)
                return result; /* nothing to write: fstab as it is, as cloud-init leaves it */
        for (char **l = cc; *l; l++)
                changed = changed || !squeezed_in(removed, *l);
        for (char **l = removed; l && *l; l++)
                changed = changed || !squeezed_in(cc, *l);
        for (char **l = kept; l && *l && r >= 0; l++)
                r = strbuf_printf(&b, "%s\n", *l);
        for (char **l = cc; *l && r >= 0; l++)
                r = strbuf_printf(&b, "%s\n", *l);
        if (r >= 0 && (!old || !streq(old, b.data)))
                r = write_file_atomic(fstab, b.data, b.len, 0644);
        if (r < 0)
                return kiln_degrade(ctx, "mounts: Failed to write /etc/fstab: %s", strerror(-r));
        for (char **p = points; p && *p; p++) {
                _cleanup_free_ char *dir = NULL;
                if (root_path(&dir, "%s", *p) < 0 || mkdir_p(dir, 0755) < 0)
                        result = kiln_degrade(ctx, "mounts: Failed to make %s", *p);
                changed = changed || !is_mounted(*p);
        }
        r = changed ? activate(points, needswap) : 0;
        if (r < 0)
                return kiln_degrade(ctx, "mounts: Failed to activate the mounts: %s", strerror(-r));
        kiln_record(ctx,
                    json_pack("{s:s, s:s, s:i}", "name", "mounts", "result", "ok", "lines", (int) strv_length(cc)));
        return result;
}

int mounts_boot(struct kiln_context *ctx) {
        int r, result;

        if (!ctx->identified)
                return 0;
        r = state_should_run(ctx, FREQ_INSTANCE, MARK_MOUNTS);
        if (r <= 0)
                return r < 0 ? kiln_fail(ctx, r, "mounts: %s", strerror(-r)) : 0;
        result = apply_mounts(ctx);
        r = state_mark_done(ctx, FREQ_INSTANCE, MARK_MOUNTS);
        return r < 0 ? kiln_fail(ctx, r, "Failed to mark the mounts done: %s", strerror(-r)) : result;
}

char *mounts_bdm_device(struct kiln_context *ctx, const char *name) {
        struct bdm b = {.ctx = ctx, .who = "disk_setup", .deadline = now_ms() + BDM_REQUEST_MS};
        char *dev = bdm_device(&b, name);

        (void) bdm_report(&b);
        bdm_done(&b);
        return dev;
}
