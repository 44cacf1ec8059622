/* SPDX-License-Identifier: MIT */
/* cloud-init's disk_setup and fs_setup (cc_disk_setup), once per instance. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fileio.h"
#include "instance/instance.h"
#include "log.h"
#include "module.h"
#include "pkg.h"
#include "proc.h"
#include "state.h"
#include "strbuf.h"

#define strcaseeq(a, b) (strcasecmp((a), (b)) == 0)

#define MARK_DISK_SETUP "disk-setup"
#define TOOL_TIMEOUT_MS (10L * 60 * 1000)

static const char *const tool_env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C",
                                       NULL};

/* Runs argv (argv[0] found on PATH); 0 on exit 0 with the output in
 * *ret_out, -EIO otherwise with the output's last line in *ret_why. */
static int tool(char **argv, const char *input, char **ret_out, char **ret_why) {
        _cleanup_free_ char *path = NULL;
        struct proc_result res = {0};
        struct proc_options o = {.envp = (char *const *) tool_env,
                                 .stdin_data = input,
                                 .stdin_len = input ? strlen(input) : 0,
                                 .timeout_ms = TOOL_TIMEOUT_MS,
                                 .quiet = true,
                                 .capture_max = 256 * 1024};
        char *argv0 = argv[0];
        int r;

        if (argv[0][0] != '/' && !pkg_have_program(argv[0], &path)) {
                if (ret_why)
                        *ret_why = strdup_printf("no %s program", argv[0]);
                return -ENOENT;
        }
        if (path)
                argv[0] = path;
        o.argv = argv;
        o.log_name = argv0;
        r = proc_run(&o, &res);
        argv[0] = argv0;
        if (r < 0)
                return r;
        if (res.exit_code == 0) {
                if (ret_out)
                        *ret_out = TAKE_PTR(res.output);
        } else {
                size_t n = strlen(res.output);
                while (n > 0 && res.output[n - 1] == '\n')
                        res.output[--n] = 0;
                const char *last = strrchr(res.output, '\n');
                if (ret_why)
                        *ret_why = strdup_printf("%s: exit status %d: %s", argv0, res.exit_code,
                                                 last ? last + 1 : res.output);
                r = -EIO;
        }
        proc_result_done(&res);
        return r;
}

/* blkid's TYPE and LABEL of a device ("" when none). */
static void check_fs(const char *device, char *type, size_t tsize, char *label, size_t lsize) {
        _cleanup_free_ char *t = NULL, *l = NULL;
        char *a1[] = {(char *) "blkid", (char *) "-c",   (char *) "/dev/null", (char *) "-o", (char *) "value",
                      (char *) "-s",    (char *) "TYPE", (char *) device,      NULL};
        char *a2[] = {(char *) "blkid", (char *) "-c",    (char *) "/dev/null", (char *) "-o", (char *) "value",
                      (char *) "-s",    (char *) "LABEL", (char *) device,      NULL};

        type[0] = label[0] = 0;
        if (tool(a1, NULL, &t, NULL) >= 0) {
                t[strcspn(t, "\n")] = 0;
                snprintf(type, tsize, "%s", t);
        }
        if (tool(a2, NULL, &l, NULL) >= 0) {
                l[strcspn(l, "\n")] = 0;
                snprintf(label, lsize, "%s", l);
        }
}

/* One lsblk --pairs line's fields, "" when empty. */
struct blk {
        char name[128], type[32], fstype[64], label[256];
};

static void pair_value(const char *line, const char *key, char *out, size_t size) {
        _cleanup_free_ char *pat = strdup_printf(" %s=\"", key);
        _cleanup_free_ char *padded = strdup_printf(" %s", line);
        const char *p, *e;
        size_t n;

        out[0] = 0;
        if (!pat || !padded || !(p = strstr(padded, pat)))
                return;
        p += strlen(pat);
        e = strchr(p, '"');
        n = e ? (size_t) (e - p) : strlen(p);
        if (n >= size)
                n = size - 1;
        memcpy(out, p, n);
        out[n] = 0;
}

/* cloud-init's enumerate_disk(): the device and (unless nodeps) its
 * partitions. A loop device counts as a disk. */
static int enumerate(const char *device, bool nodeps, struct blk **ret, size_t *ret_n) {
        _cleanup_free_ char *out = NULL, *why = NULL;
        char *argv[] = {(char *) "lsblk",
                        (char *) "--pairs",
                        (char *) "--output",
                        (char *) "NAME,TYPE",
                        (char *) device,
                        nodeps ? (char *) "--nodeps" : NULL,
                        NULL};
        struct blk *list = NULL;
        size_t n = 0;
        int r = tool(argv, NULL, &out, &why);

        if (r < 0)
                return r;
        for (char *line = out, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                if (!strstr(line, "NAME=\""))
                        continue;
                struct blk *nl = realloc(list, (n + 1) * sizeof(*list));
                if (!nl) {
                        free(list);
                        return -ENOMEM;
                }
                list = nl;
                pair_value(line, "NAME", list[n].name, sizeof(list[n].name));
                pair_value(line, "TYPE", list[n].type, sizeof(list[n].type));
                /* lsblk's FSTYPE and LABEL come from udev's database,
                 * empty without udev: blkid probes the device itself. */
                _cleanup_free_ char *node = strdup_printf("/dev/%s", list[n].name);
                if (!node) {
                        free(list);
                        return -ENOMEM;
                }
                check_fs(node, list[n].fstype, sizeof(list[n].fstype), list[n].label, sizeof(list[n].label));
                if (streq(list[n].type, "loop"))
                        strcpy(list[n].type, "disk");
                n++;
        }
        *ret = list;
        *ret_n = n;
        return 0;
}

static char *device_type(const char *device) {
        struct blk *b = NULL;
        size_t n = 0;
        char *t = NULL;

        if (enumerate(device, true, &b, &n) >= 0 && n > 0)
                t = strdup(b[0].type);
        free(b);
        return t;
}

/* The sgdisk codes cloud-init's gpt layouts name, as sfdisk's type GUIDs. */
static const struct {
        const char *code, *guid;
} gpt_types[] = {
        {"8300", "0FC63DAF-8483-4772-8E79-3D69D8477DE4"}, {"8200", "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"},
        {"8E00", "E6D6D379-F507-44C2-A23C-238F2A3DF928"}, {"FD00", "A19D880F-05FC-4D3B-A006-743F0F84911E"},
        {"EF00", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"}, {"EF02", "21686148-6449-6E6F-744E-656564454649"},
        {"0700", "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"}, {"8302", "933AC7E1-2EB4-4F13-B844-0E14E2AEF915"},
        {"8304", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"}, {"A504", "516E7CB6-6ECF-11D6-8FF8-00022D09712B"},
};

/* A layout's type as text: 82, "8300", "ef00". */
static char *type_text(const json_t *t) {
        if (json_is_integer(t))
                return strdup_printf("%lld", (long long) json_integer_value(t));
        if (json_is_string(t))
                return strdup(json_string_value(t));
        return NULL;
}

/* cloud-init pads a gpt code to 4 ("82" -> "8200") and reads back "8200" as "82". */
static const char *gpt_guid(const char *code) {
        char c[5] = "0000";
        size_t n = strlen(code);

        if (n == 36)
                return code;
        if (n == 0 || n > 4)
                return NULL;
        for (size_t i = 0; i < n; i++)
                c[i] = (char) toupper((unsigned char) code[i]);
        for (size_t i = 0; i < ELEMENTSOF(gpt_types); i++)
                if (streq(gpt_types[i].code, c))
                        return gpt_types[i].guid;
        return NULL;
}

static bool same_type(const char *want, const char *found, bool gpt) {
        if (!gpt)
                return strcaseeq(want, found);
        const char *g = gpt_guid(want);
        return g && strcaseeq(g, found);
}

/* The partitions' types on device (sfdisk --json), none without a table. */
static int found_layout(const char *device, json_t **ret) {
        _cleanup_free_ char *out = NULL;
        char *argv[] = {(char *) "sfdisk", (char *) "--json", (char *) device, NULL};
        json_t *j, *parts;
        const char *brace;

        if (tool(argv, NULL, &out, NULL) < 0 || !(brace = strchr(out, '{'))) {
                *ret = json_array();
                return *ret ? 0 : -ENOMEM;
        }
        j = json_loads(brace, 0, NULL);
        parts = j ? json_object_get(json_object_get(j, "partitiontable"), "partitions") : NULL;
        *ret = json_is_array(parts) ? json_incref(parts) : json_array();
        json_decref(j);
        return *ret ? 0 : -ENOMEM;
}

/* cloud-init's check_partition_layout(): the disk already has it. */
static bool layout_matches(const char *device, const json_t *layout, bool gpt) {
        json_t *found = NULL;
        const json_t *v;
        bool match;
        size_t i;

        if (found_layout(device, &found) < 0)
                return false;
        if (json_is_boolean(layout))
                match = json_is_true(layout) && json_array_size(found) >= 1;
        else {
                match = json_array_size(found) == json_array_size(layout);
                json_array_foreach(layout, i, v) {
                        _cleanup_free_ char *want = json_is_array(v) ? type_text(json_array_get(v, 1)) : NULL;
                        const char *type = json_string_value(json_object_get(json_array_get(found, i), "type"));
                        if (match && want && !(type && same_type(want, type, gpt)))
                                match = false;
                }
        }
        json_decref(found);
        return match;
}

static int disk_sectors(const char *device, unsigned long long *ret) {
        _cleanup_free_ char *size = NULL, *ss = NULL;
        char *a1[] = {(char *) "blockdev", (char *) "--getsize64", (char *) device, NULL};
        char *a2[] = {(char *) "blockdev", (char *) "--getss", (char *) device, NULL};
        unsigned long long bytes, sector;
        int r;

        r = tool(a1, NULL, &size, NULL);
        if (r >= 0)
                r = tool(a2, NULL, &ss, NULL);
        if (r < 0)
                return r;
        size[strcspn(size, "\n")] = 0;
        ss[strcspn(ss, "\n")] = 0;
        if (safe_atou64(size, &bytes) < 0 || safe_atou64(ss, &sector) < 0 || sector == 0)
                return -EBADMSG;
        *ret = bytes / sector;
        return 0;
}

/* The sfdisk script of a layout (cloud-init's get_partition_*_layout):
 * percent sizes in sectors, the last partition the rest of the disk. */
static int layout_script(const json_t *layout, bool gpt, unsigned long long sectors, char **ret, char **ret_why) {
        _cleanup_(strbuf_donep) struct strbuf b = {};
        const json_t *v;
        size_t i, n;

        if (strbuf_puts(&b, gpt ? "label: gpt\n" : "label: dos\n") < 0)
                return -ENOMEM;
        if (json_is_boolean(layout)) {
                if (strbuf_puts(&b, gpt ? ",,L\n" : ",,83\n") < 0)
                        return -ENOMEM;
                *ret = strbuf_steal(&b);
                return *ret ? 0 : -ENOMEM;
        }
        n = json_array_size(layout);
        if (n == 0 || (!gpt && n > 4)) {
                *ret_why = strdup(n == 0 ? "an empty layout" : "more than 4 partitions in an mbr layout");
                return -EINVAL;
        }
        json_array_foreach(layout, i, v) {
                const json_t *pct = v, *type = NULL;
                _cleanup_free_ char *t = NULL;
                const char *guid = NULL;

                if (json_is_array(v)) {
                        if (json_array_size(v) != 2) {
                                *ret_why = strdup_printf("partition %zu is not [percent, type]", i + 1);
                                return -EINVAL;
                        }
                        pct = json_array_get(v, 0);
                        type = json_array_get(v, 1);
                }
                if (!json_is_number(pct) || json_number_value(pct) <= 0 || json_number_value(pct) > 100) {
                        *ret_why = strdup_printf("partition %zu: the size is not a percentage", i + 1);
                        return -EINVAL;
                }
                t = type ? type_text(type) : strdup(gpt ? "8300" : "83");
                if (!t) {
                        *ret_why = strdup_printf("partition %zu: the type is not a number or a string", i + 1);
                        return -EINVAL;
                }
                if (gpt && !(guid = gpt_guid(t))) {
                        *ret_why = strdup_printf("partition %zu: unknown gpt type '%s'", i + 1, t);
                        return -EINVAL;
                }
                if (!gpt && (strlen(t) > 2 || strspn(t, "0123456789abcdefABCDEF") != strlen(t))) {
                        *ret_why = strdup_printf("partition %zu: mbr type '%s' is not a hex byte", i + 1, t);
                        return -EINVAL;
                }
                if (i + 1 == n) {
                        if (strbuf_printf(&b, ",,%s\n", gpt ? guid : t) < 0)
                                return -ENOMEM;
                } else if (strbuf_printf(&b, ",%llu,%s\n",
                                         (unsigned long long) ((double) sectors * json_number_value(pct) / 100.0),
                                         gpt ? guid : t) < 0)
                        return -ENOMEM;
        }
        *ret = strbuf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

/* cloud-init's read_parttbl(): the kernel told of the new table. */
static void reread(const char *device) {
        char *settle[] = {(char *) "udevadm", (char *) "settle", NULL};
        char *probe[] = {(char *) "partprobe", (char *) device, NULL};
        char *rr[] = {(char *) "blockdev", (char *) "--rereadpt", (char *) device, NULL};
        char *partx_u[] = {(char *) "partx", (char *) "-u", (char *) device, NULL};
        char *partx_a[] = {(char *) "partx", (char *) "-a", (char *) device, NULL};
        _cleanup_free_ char *why = NULL;

        (void) tool(settle, NULL, NULL, NULL);
        if (tool(pkg_have_program("partprobe", NULL) ? probe : rr, NULL, NULL, &why) < 0)
                log_warning("disk_setup: Failed to reread the partition table of %s: %s", device, why ? why : "");
        /* A kernel that took the reread but made no partitions (a loop
         * device in a sandbox): told of each one. partx -a fails for
         * those it knows already. */
        (void) tool(partx_u, NULL, NULL, NULL);
        (void) tool(partx_a, NULL, NULL, NULL);
        (void) tool(settle, NULL, NULL, NULL);
}

static void record(struct kiln_context *ctx, const char *name, const char *device, const char *result,
                   const char *detail) {
        kiln_record(ctx, json_pack("{s:s, s:s, s:s, s:s?}", "name", name, "device", device, "result", result, "detail",
                                   detail));
}

/* cloud-init's alias_to_device(): device_aliases, then the
 * block-device-mapping (ephemeral0, swap), else the name itself. */
static char *alias_to_device(struct kiln_context *ctx, const char *cand) {
        const json_t *aliases = config_get(ctx->config, "device_aliases");
        const char *alias = json_string_value(json_object_get(aliases, cand));
        char *bdm;

        bdm = mounts_bdm_device(ctx, alias ? alias : cand);
        if (bdm)
                return bdm;
        return strdup(alias ? alias : cand);
}

/* "name.N": the disk's name and partition N (cloud-init's dotted names). */
static char *split_dotted(const char *name, char **ret_part) {
        const char *dot = strrchr(name, '.');

        *ret_part = NULL;
        if (!dot || !dot[1] || strspn(dot + 1, "0123456789") != strlen(dot + 1))
                return strdup(name);
        *ret_part = strdup(dot + 1);
        return strndup(name, (size_t) (dot - name));
}

/* cloud-init's purge_disk(): wipefs --all each partition, then the first
 * and last MiB of the disk zeroed (both partition tables gone). */
static int purge_disk(const char *device, char **ret_why) {
        static const char zeros[64 * 1024];
        struct blk *b = NULL;
        size_t n = 0;
        int r, fd;
        off_t size;

        r = enumerate(device, false, &b, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_free_ char *node = strdup_printf("/dev/%s", b[i].name);
                if (!node)
                        r = -ENOMEM;
                else if (!streq(b[i].type, "disk") && !streq(b[i].type, "crypt"))
                        r = tool((char *[]){(char *) "wipefs", (char *) "--all", node, NULL}, NULL, NULL, ret_why);
        }
        free(b);
        if (r < 0)
                return r;
        fd = open(device, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size = lseek(fd, 0, SEEK_END);
        for (off_t off = 0; r >= 0 && size > 0 && off < 1024 * 1024 && off < size; off += sizeof(zeros))
                if (pwrite(fd, zeros, sizeof(zeros), off) != (ssize_t) sizeof(zeros))
                        r = -errno;
        for (off_t off = size > 1024 * 1024 ? size - 1024 * 1024 : 0; r >= 0 && off + (off_t) sizeof(zeros) <= size;
             off += sizeof(zeros))
                if (pwrite(fd, zeros, sizeof(zeros), off) != (ssize_t) sizeof(zeros))
                        r = -errno;
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        close(fd);
        if (r >= 0)
                reread(device);
        return r;
}

static int mkpart(struct kiln_context *ctx, const char *name, const json_t *def) {
        _cleanup_free_ char *dev = alias_to_device(ctx, name), *script = NULL, *why = NULL, *type = NULL;
        const json_t *layout = json_object_get(def, "layout");
        const char *table = json_string_value(json_object_get(def, "table_type"));
        bool overwrite = json_is_true(json_object_get(def, "overwrite")), gpt;
        char real[PATH_MAX], fstype[64], label[256];
        unsigned long long sectors;
        struct blk *b = NULL;
        size_t n = 0;
        int r;

        if (!dev)
                return -ENOMEM;
        if (!json_is_object(def))
                return kiln_degrade(ctx, "disk_setup '%s': not a map of table_type, layout, overwrite", name);
        if (table && !streq(table, "mbr") && !streq(table, "gpt"))
                return kiln_degrade(ctx, "disk_setup '%s': table_type '%s' is neither mbr nor gpt", name, table);
        gpt = table && streq(table, "gpt");
        if (!layout || json_is_false(layout) || (json_is_array(layout) && json_array_size(layout) == 0)) {
                log_debug("disk_setup: '%s' is not to be partitioned.", name);
                return 0;
        }
        if (!realpath(dev, real))
                return kiln_degrade(ctx, "disk_setup '%s': device %s: %s", name, dev, strerror(errno));
        type = device_type(real);
        if (!type || !streq(type, "disk"))
                return kiln_degrade(ctx, "disk_setup '%s': %s is not a disk device", name, real);
        if (json_is_string(layout)) {
                if (!streq(json_string_value(layout), "remove"))
                        return kiln_degrade(ctx, "disk_setup '%s': layout '%s' is not true, a list or remove", name,
                                            json_string_value(layout));
                r = purge_disk(real, &why);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return kiln_degrade(ctx, "disk_setup '%s': Failed to remove the partitions of %s: %s", name,
                                            real, why ? why : strerror(-r));
                log_info("disk_setup: removed the partition table of %s ('%s').", real, name);
                record(ctx, "disk_setup", name, "changed", "removed");
                return 0;
        }
        if (!json_is_true(layout) && !json_is_array(layout))
                return kiln_degrade(ctx, "disk_setup '%s': layout is not true, a list or remove", name);
        if (layout_matches(real, layout, gpt)) {
                log_info("disk_setup: %s already has the layout of '%s'.", real, name);
                record(ctx, "disk_setup", name, "nochange", NULL);
                return 0;
        }
        if (!overwrite) {
                r = enumerate(real, false, &b, &n);
                free(b);
                if (r < 0)
                        return kiln_degrade(ctx, "disk_setup '%s': Failed to list %s: %s", name, real, strerror(-r));
                check_fs(real, fstype, sizeof(fstype), label, sizeof(label));
                if (n > 1 || fstype[0]) {
                        log_info("disk_setup: skipping %s ('%s'): it has %s (overwrite: false).", real, name,
                                 n > 1 ? "partitions" : "a file system");
                        record(ctx, "disk_setup", name, "skipped", n > 1 ? "has partitions" : "has a file system");
                        return 0;
                }
        }
        r = disk_sectors(real, &sectors);
        if (r < 0)
                return kiln_degrade(ctx, "disk_setup '%s': Failed to read the size of %s: %s", name, real,
                                    strerror(-r));
        r = layout_script(layout, gpt, sectors, &script, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return kiln_degrade(ctx, "disk_setup '%s': %s", name, why ? why : strerror(-r));
        r = tool((char *[]){(char *) "sfdisk", (char *) "--force", (char *) "--wipe", (char *) "always", real, NULL},
                 script, NULL, &why);
        if (r < 0)
                return kiln_degrade(ctx, "disk_setup '%s': Failed to partition %s: %s", name, real,
                                    why ? why : strerror(-r));
        reread(real);
        log_info("disk_setup: partitioned %s ('%s', %s).", real, name, gpt ? "gpt" : "mbr");
        record(ctx, "disk_setup", name, "changed", gpt ? "gpt" : "mbr");
        return 0;
}

/* cloud-init's find_device_node() for partition auto/any: the first
 * partition with the wanted file system (and, for auto, label), else the
 * first without one; the disk itself when it has no partition and no file
 * system. NULL: none free. *ret_reuse: it has the wanted one. */
static char *find_device_node(const char *device, const char *fs_type, const char *label, bool label_match,
                              const char *replace_fs, bool *ret_reuse) {
        struct blk *b = NULL;
        bool raw_used = false;
        size_t n = 0;
        char *found = NULL;

        *ret_reuse = false;
        if (enumerate(device, false, &b, &n) < 0)
                return NULL;
        for (size_t i = 0; i < n && !found; i++) {
                if (replace_fs && !label_match && streq(b[i].fstype, replace_fs))
                        found = strdup_printf("/dev/%s", b[i].name);
                else if (fs_type && streq(b[i].fstype, fs_type) && (!label_match || streq(b[i].label, label))) {
                        found = strdup_printf("/dev/%s", b[i].name);
                        *ret_reuse = true;
                } else if (streq(b[i].type, "disk") || streq(b[i].type, "part")) {
                        if (!streq(b[i].type, "disk") || b[i].fstype[0])
                                raw_used = true;
                        if (streq(b[i].type, "part") && !b[i].fstype[0])
                                found = strdup_printf("/dev/%s", b[i].name);
                }
        }
        free(b);
        if (!found && !raw_used)
                found = strdup(device);
        return found;
}

static const char *force_flag(const char *fs) {
        if (strstr(fs, "ext"))
                return "-F";
        if (streq(fs, "btrfs") || streq(fs, "xfs") || streq(fs, "reiserfs") || streq(fs, "swap"))
                return "-f";
        return NULL;
}

/* cmd's %(label)s, %(filesystem)s, %(device)s as Python's % fills them. */
static char *fill_cmd(const char *cmd, const char *label, const char *fs, const char *device) {
        _cleanup_(strbuf_donep) struct strbuf b = {};
        const struct {
                const char *key, *value;
        } keys[] = {{"%(label)s", label ? label : "None"},
                    {"%(filesystem)s", fs ? fs : "None"},
                    {"%(device)s", device},
                    {"%%", "%"}};

        for (const char *p = cmd; *p;) {
                size_t i;
                for (i = 0; i < ELEMENTSOF(keys); i++)
                        if (strneq(p, keys[i].key, strlen(keys[i].key)))
                                break;
                if (i < ELEMENTSOF(keys)) {
                        if (strbuf_puts(&b, keys[i].value) < 0)
                                return NULL;
                        p += strlen(keys[i].key);
                } else if (*p == '%')
                        return NULL;
                else {
                        if (strbuf_append(&b, p, 1) < 0)
                                return NULL;
                        p++;
                }
        }
        return strbuf_steal(&b);
}

static int mkfs_one(struct kiln_context *ctx, size_t idx, const json_t *def) {
        const char *label = json_string_value(json_object_get(def, "label"));
        const char *fs = json_string_value(json_object_get(def, "filesystem"));
        const char *replace = json_string_value(json_object_get(def, "replace_fs"));
        const json_t *cmd = json_object_get(def, "cmd"), *opts = json_object_get(def, "extra_opts"), *v;
        bool overwrite = json_is_true(json_object_get(def, "overwrite")), force = overwrite;
        _cleanup_free_ char *name = NULL, *dpart = NULL, *part = NULL, *dev = NULL, *target = NULL, *why = NULL;
        _cleanup_free_ char *prog = NULL, *shell = NULL, *dtype = NULL, *entry = strdup_printf("fs_setup[%zu]", idx);
        _cleanup_strv_free_ char **argv = NULL;
        char real[PATH_MAX], efs[64], elabel[256];
        size_t i;
        int r;

        if (!entry)
                return -ENOMEM;
        if (!json_is_object(def))
                return kiln_degrade(ctx, "%s: not a map", entry);
        if (!json_is_string(json_object_get(def, "device")))
                return kiln_degrade(ctx, "%s: no device", entry);
        name = split_dotted(json_string_value(json_object_get(def, "device")), &dpart);
        if (!name)
                return -ENOMEM;
        v = json_object_get(def, "partition");
        if (dpart)
                part = TAKE_PTR(dpart);
        else if (json_is_integer(v))
                part = strdup_printf("%lld", (long long) json_integer_value(v));
        else
                part = strdup(json_is_string(v) ? json_string_value(v) : "any");
        dev = alias_to_device(ctx, name);
        if (!part || !dev)
                return -ENOMEM;
        if (!realpath(dev, real))
                return kiln_degrade(ctx, "%s: device %s: %s", entry, dev, strerror(errno));
        if (!fs && !json_is_string(cmd))
                return kiln_degrade(ctx, "%s: no way to make the file system: neither filesystem nor cmd is set",
                                    entry);
        if (!*part || strspn(part, "0123456789") == strlen(part)) {
                if (*part && !streq(part, "0"))
                        /* The kernel's name: sdb1, but nvme0n1p1, loop0p1. */
                        target = strdup_printf("%s%s%s", real,
                                               isdigit((unsigned char) real[strlen(real) - 1]) ? "p" : "", part);
                else
                        target = strdup(real);
                if (!target)
                        return -ENOMEM;
                if (access(target, F_OK) < 0)
                        return kiln_degrade(ctx, "%s: partition %s does not exist", entry, target);
                check_fs(target, efs, sizeof(efs), elabel, sizeof(elabel));
                if (efs[0] && fs && streq(efs, fs) && streq(elabel, label ? label : "") && !overwrite) {
                        log_info("%s: %s already has its %s file system.", entry, target, fs);
                        record(ctx, "fs_setup", target, "nochange", NULL);
                        return 0;
                }
                /* cloud-init leaves this to mkfs refusing without a force
                 * flag (mkfs.ext4 may not): kiln keeps another file system. */
                if (efs[0] && !overwrite && !(replace && streq(efs, replace))) {
                        log_info("%s: skipping %s: it has a %s file system (overwrite: false).", entry, target, efs);
                        record(ctx, "fs_setup", target, "skipped", "has a file system");
                        return 0;
                }
                force = force || efs[0];
        } else if (strcaseeq(part, "auto") || strcaseeq(part, "any")) {
                bool reuse;
                target = find_device_node(real, fs, label ? label : "", strcaseeq(part, "auto"), replace, &reuse);
                if (reuse) {
                        log_info("%s: %s already has a matching %s file system.", entry, target, fs);
                        record(ctx, "fs_setup", target, "nochange", NULL);
                        return 0;
                }
                if (!target) {
                        log_info("%s: no free device on %s, no file system made.", entry, real);
                        record(ctx, "fs_setup", real, "skipped", "no free device");
                        return 0;
                }
                force = force || replace;
        } else if (strcaseeq(part, "none"))
                target = strdup(real);
        else
                return kiln_degrade(ctx, "%s: partition '%s' is not a number, auto, any or none", entry, part);
        if (!target)
                return -ENOMEM;

        if (json_is_string(cmd)) {
                shell = fill_cmd(json_string_value(cmd), label, fs, target);
                if (!shell)
                        return kiln_degrade(ctx,
                                            "%s: cmd has a %% that is not %%(label)s, %%(filesystem)s or "
                                            "%%(device)s",
                                            entry);
                if (overwrite || opts)
                        log_warning("%s: overwrite and extra_opts are ignored with cmd.", entry);
                r = tool((char *[]){(char *) "/bin/sh", (char *) "-c", shell, NULL}, NULL, NULL, &why);
        } else {
                _cleanup_free_ char *p1 = strdup_printf("mkfs.%s", fs), *p2 = strdup_printf("mk%s", fs);
                if (!p1 || !p2)
                        return -ENOMEM;
                if (!pkg_have_program(p1, &prog) && !pkg_have_program(p2, &prog))
                        return kiln_degrade(ctx, "%s: cannot make a '%s' file system: no %s program", entry, fs, p1);
                dtype = device_type(target);
                r = strv_push(&argv, prog);
                if (r >= 0 && label)
                        r = strv_push(&argv, "-L") ?: strv_push(&argv, label);
                if (r >= 0 && (force || (dtype && streq(dtype, "disk"))) && force_flag(fs))
                        r = strv_push(&argv, force_flag(fs));
                if (r >= 0 && json_is_string(opts))
                        r = strv_push(&argv, json_string_value(opts));
                json_array_foreach(opts, i, v) {
                        if (r >= 0 && json_is_string(v))
                                r = strv_push(&argv, json_string_value(v));
                }
                if (r >= 0)
                        r = strv_push(&argv, target);
                if (r < 0)
                        return r;
                r = tool(argv, NULL, NULL, &why);
        }
        if (r < 0)
                return kiln_degrade(ctx, "%s: Failed to make the file system on %s: %s", entry, target,
                                    why ? why : strerror(-r));
        log_info("%s: made a %s file system on %s.", entry, fs ? fs : "(cmd)", target);
        record(ctx, "fs_setup", target, "changed", fs);
        return 0;
}

static int apply(struct kiln_context *ctx) {
        const json_t *ds = config_get(ctx->config, "disk_setup"), *fss = config_get(ctx->config, "fs_setup"), *v;
        const char *key;
        int result = 0, r;
        size_t i;

        json_object_foreach((json_t *) ds, key, v) {
                r = mkpart(ctx, key, v);
                if (r < 0)
                        return r;
                result = result > r ? result : r;
        }
        json_array_foreach(fss, i, v) {
                r = mkfs_one(ctx, i, v);
                if (r < 0)
                        return r;
                result = result > r ? result : r;
        }
        return result;
}

int disk_setup_boot(struct kiln_context *ctx) {
        int r, result;

        if (!ctx->identified || (!json_is_object(config_get(ctx->config, "disk_setup")) &&
                                 !json_is_array(config_get(ctx->config, "fs_setup"))))
                return 0;
        r = state_should_run(ctx, FREQ_INSTANCE, MARK_DISK_SETUP);
        if (r <= 0)
                return r < 0 ? kiln_fail(ctx, r, "disk_setup: %s", strerror(-r)) : 0;
        result = apply(ctx);
        r = state_mark_done(ctx, FREQ_INSTANCE, MARK_DISK_SETUP);
        return r < 0 ? kiln_fail(ctx, r, "Failed to mark the disk setup done: %s", strerror(-r)) : result;
}
