/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "boot.h"
#include "cli.h"
#include "config.h"
#include "console.h"
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
#include "userdata/userdata.h"

#define MARK_HOST_KEYS "ssh-host-keys"
#define MARK_KEYS_TO_CONSOLE "keys-to-console"

static int worst(int a, int b) {
        if (a < 0 || b < 0)
                return a < 0 ? a : b;
        return a > b ? a : b;
}

/* An image without an SSH server (no sshd_config) needs no host keys. */
static bool sshd_installed(void) {
        _cleanup_free_ char *p = NULL;

        return root_path(&p, "/etc/ssh/sshd_config") >= 0 && file_exists(p) > 0;
}

/* kiln-host-keys.service did not make them (an image without it): sshd
 * may already run with the old keys, and reads keys when it starts. */
static void reload_sshd(void) {
        _cleanup_free_ char *systemctl = NULL;
        char *argv[] = {NULL, (char *) "try-reload-or-restart", (char *) "ssh.service", (char *) "sshd.service", NULL};

        if (!streq(root_get(), "/") || access("/run/systemd/system", F_OK) < 0 ||
            !pkg_have_program("systemctl", &systemctl))
                return;
        argv[0] = systemctl;
        if (proc_run_simple(argv, 60 * 1000L) < 0)
                log_warning("Failed to reload sshd for its new host keys, ignoring.");
}

/* New host keys, once per instance: the image's (or the previous
 * instance's) must not be shared. kiln-host-keys.service has usually done
 * it before sshd started; this covers an image without that unit. */
static int step_host_keys(struct kiln_context *ctx) {
        _cleanup_strv_free_ char **errors = NULL, **warnings = NULL;
        _cleanup_free_ char *shown = NULL;
        int r, result = 0;

        if (!ctx->identified || !sshd_installed())
                return 0;
        r = state_should_run(ctx, FREQ_INSTANCE, MARK_HOST_KEYS);
        if (r <= 0)
                return r < 0 ? kiln_fail(ctx, r, "ssh host keys: %s", strerror(-r)) : 0;
        r = hostkeys_regenerate(ctx->config, &errors, &warnings, &shown);
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to make new SSH host keys: %s", strerror(-r));
        if (shown)
                (void) console_write(shown);
        log_info("Made %d new SSH host key(s) for instance %s.", r, ctx->facts.instance_id);
        for (char **w = warnings; w && *w; w++)
                log_warning("ssh host keys: %s", *w);
        for (char **e = errors; e && *e; e++)
                result = kiln_degrade(ctx, "ssh host keys: %s", *e);
        reload_sshd();
        kiln_record(ctx, json_pack("{s:s, s:s, s:i}", "name", MARK_HOST_KEYS, "result", result ? "failed" : "ok",
                                   "keys", r));
        r = state_mark_done(ctx, FREQ_INSTANCE, MARK_HOST_KEYS);
        return r < 0 ? kiln_fail(ctx, r, "Failed to mark the SSH host keys done: %s", strerror(-r)) : result;
}

/* cloud-init's keys-to-console, once per instance. */
static int step_keys_to_console(struct kiln_context *ctx) {
        _cleanup_free_ char *text = NULL;
        int r;

        if (!ctx->identified)
                return 0;
        r = state_should_run(ctx, FREQ_INSTANCE, MARK_KEYS_TO_CONSOLE);
        if (r <= 0)
                return r < 0 ? kiln_fail(ctx, r, "keys to console: %s", strerror(-r)) : 0;
        if (!config_bool(ctx->config, "ssh.emit_keys_to_console", true)) {
                log_debug("SSH host keys not written to the console (ssh.emit_keys_to_console: false).");
                return 0;
        }
        r = hostkeys_console_text(ctx->config, &text);
        if (r < 0)
                return kiln_degrade(ctx, "Failed to read the SSH host keys for the console: %s", strerror(-r));
        if (*text) {
                r = console_write(text);
                if (r < 0 && r != -ENODEV)
                        return kiln_degrade(ctx, "Failed to write the SSH host keys to the console: %s", strerror(-r));
        }
        r = state_mark_done(ctx, FREQ_INSTANCE, MARK_KEYS_TO_CONSOLE);
        return r < 0 ? kiln_fail(ctx, r, "Failed to mark the keys written: %s", strerror(-r)) : 0;
}

static int instance_boot(struct kiln_context *ctx) {
        int result = 0;

        /* cloud-init's order: growpart and resizefs, ssh, mounts; keys-to-console last. */
        result = worst(result, growpart_boot(ctx));
        result = worst(result, step_host_keys(ctx));
        result = worst(result, disk_setup_boot(ctx));
        result = worst(result, mounts_boot(ctx));
        result = worst(result, step_keys_to_console(ctx));
        return result;
}

/* The user-data's config merged over the baked one, read without side
 * effects (no includes fetched, nothing stored): host keys come before the
 * network's other users. Without user-data, the baked config. */
static int userdata_config(struct kiln_context *ctx, struct imds *c) {
        _cleanup_free_ char *data = NULL;
        struct userdata u = {};
        struct userdata_options o = {
                .origin = "user-data",
                .launch_index = userdata_launch_index_from_imds,
                .launch_index_userdata = c,
        };
        size_t len = 0;
        int r;

        r = imds_get(c, "user-data", &data, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = userdata_parse(data, len, &o, &u);
        if (r >= 0 && u.config)
                r = config_merge(ctx->config, u.config);
        userdata_done(&u);
        return r;
}

static int cmd_host_keys(struct kiln_context *ctx, int argc, char **argv) {
        _cleanup_strv_free_ char **errors = NULL, **warnings = NULL;
        _cleanup_free_ char *shown = NULL;
        struct imds *c = NULL;
        int r;

        if (cli_wants_help(argc, argv, "host-keys", "",
                           "Makes new SSH host keys on the first boot of a new instance (ssh_deletekeys,\n"
                           "ssh_genkeytypes), before sshd starts: kiln-host-keys.service runs it.\n"
                           "Does nothing on later boots of the same instance."))
                return 0;
        if (argc > 1) {
                log_error("host-keys takes no arguments.");
                return 64;
        }
        (void) boot_load_config(ctx);
        if (!ctx->config && !(ctx->config = json_object()))
                return log_oom(), 1;
        r = imds_from_context(ctx, &c);
        if (r >= 0)
                r = imds_identify(c, &ctx->facts);
        if (r < 0) {
                log_error("Failed to identify the instance: %s", c ? imds_error(c) : strerror(-r));
                return 1;
        }
        ctx->identified = true;
        if (!sshd_installed()) {
                log_info("No SSH server (no /etc/ssh/sshd_config), no host keys to make.");
                return 0;
        }
        r = state_should_run(ctx, FREQ_INSTANCE, MARK_HOST_KEYS);
        if (r < 0) {
                log_error_errno(r, "Failed to check whether this instance has its host keys: %m");
                return 1;
        }
        if (r == 0) {
                log_info("Instance %s has its SSH host keys.", ctx->facts.instance_id);
                return 0;
        }
        /* Keys made without the user-data's ssh_keys or ssh_genkeytypes would
         * be marked done and never redone: leave them to the boot instead. */
        r = userdata_config(ctx, c);
        if (r < 0) {
                log_error_errno(r, "Failed to read the user-data, leaving the host keys to the boot: %m");
                return 1;
        }
        r = hostkeys_regenerate(ctx->config, &errors, &warnings, &shown);
        if (r >= 0 && shown)
                (void) console_write(shown);
        if (r < 0) {
                log_error_errno(r, "Failed to make new SSH host keys: %m");
                return 1;
        }
        log_info("Made %d new SSH host key(s) for instance %s.", r, ctx->facts.instance_id);
        for (char **e = warnings; e && *e; e++)
                log_warning("ssh host keys: %s", *e);
        for (char **e = errors; e && *e; e++)
                log_warning("ssh host keys: %s", *e);
        r = state_mark_done(ctx, FREQ_INSTANCE, MARK_HOST_KEYS);
        if (r < 0) {
                log_error_errno(r, "Failed to mark the SSH host keys done: %m");
                return 1;
        }
        return errors ? 2 : 0;
}

/* disk_setup: device -> {table_type: mbr|gpt, layout: bool|remove|list, overwrite}. */
static void disk_setup_validate(const json_t *config, struct config_report *rep) {
        const json_t *ds = config_get(config, "disk_setup"), *fss = config_get(config, "fs_setup"), *d, *l, *v;
        const char *key, *s;
        size_t i;

        json_object_foreach((json_t *) ds, key, d) {
                _cleanup_free_ char *path = strdup_printf("disk_setup.%s", key);
                if (!path)
                        return;
                if (!json_is_object(d)) {
                        config_report_error(rep, path, "%s: a map of table_type, layout, overwrite", path);
                        continue;
                }
                s = json_string_value(json_object_get(d, "table_type"));
                if (json_object_get(d, "table_type") && !(s && (streq(s, "mbr") || streq(s, "gpt"))))
                        config_report_error(rep, path, "%s.table_type: mbr or gpt", path);
                l = json_object_get(d, "layout");
                if (l && !json_is_boolean(l) && !(json_is_string(l) && streq(json_string_value(l), "remove")) &&
                    !json_is_array(l))
                        config_report_error(rep, path, "%s.layout: true, false, remove or a list of sizes", path);
                json_array_foreach(l, i, v) {
                        const json_t *pct = json_is_array(v) ? json_array_get(v, 0) : v;
                        if (!json_is_number(pct) || (json_is_array(v) && json_array_size(v) != 2))
                                config_report_error(rep, path, "%s.layout[%zu]: a percentage or [percentage, type]",
                                                    path, i);
                }
                v = json_object_get(d, "overwrite");
                if (v && !json_is_boolean(v))
                        config_report_error(rep, path, "%s.overwrite: true or false", path);
        }
        json_array_foreach(fss, i, d) {
                _cleanup_free_ char *path = strdup_printf("fs_setup[%zu]", i);
                if (!path || !json_is_object(d))
                        continue;
                if (!json_object_get(d, "filesystem") && !json_object_get(d, "cmd"))
                        config_report_error(rep, path, "%s: neither filesystem nor cmd", path);
                v = json_object_get(d, "partition");
                s = json_string_value(v);
                if (v && !json_is_integer(v) &&
                    !(s && (strspn(s, "0123456789") == strlen(s) || strcasecmp(s, "auto") == 0 ||
                            strcasecmp(s, "any") == 0 || strcasecmp(s, "none") == 0)))
                        config_report_error(rep, path, "%s.partition: a number, auto, any or none", path);
        }
}

static void instance_validate(const json_t *config, struct config_report *rep) {
        const struct final_message_values fv = {"1.00", "Mon, 07 Dec 2026 17:30:00 +0000", "1", "DataSourceEc2"};
        const char *fm = config_string(config, "final_message", NULL), *error = NULL;
        _cleanup_free_ char *rendered = NULL, *stripped = fm ? strdup(fm) : NULL;
        const json_t *v = config_get(config, "resize_rootfs");
        const json_t *mode = config_get(config, "growpart.mode");
        const char *s;

        if (v && !json_is_boolean(v) &&
            !((s = json_string_value(v)) && (streq(s, "noblock") || streq(s, "true") || streq(s, "false"))))
                config_report_error(rep, "resize_rootfs", "resize_rootfs: true, false or noblock");
        if (mode && !json_is_false(mode) &&
            !((s = json_string_value(mode)) &&
              (streq(s, "auto") || streq(s, "growpart") || streq(s, "off") || streq(s, "false"))))
                config_report_error(rep, "growpart.mode", "growpart.mode: auto, growpart or off");
        disk_setup_validate(config, rep);
        if (stripped && console_render_final_message(strstrip(stripped), &fv, &rendered, &error) < 0 && error)
                config_report_error(rep, "final_message", "%s", error);
}

static const struct kiln_command instance_commands[] = {
        {"host-keys", "", "make new SSH host keys on a new instance, before sshd starts", cmd_host_keys},
        {},
};

static const struct config_key instance_keys[] = {
        {"ssh_deletekeys", CONFIG_BOOL,
         "Delete /etc/ssh/ssh_host_*key* on the first boot of each instance (default true)."},
        {"ssh_genkeytypes", CONFIG_LIST, "SSH host key types made when missing (default [rsa, ecdsa, ed25519])."},
        {"ssh_genkeytypes[]", CONFIG_STRING, "A key type `ssh-keygen -t` takes."},
        {"ssh", CONFIG_MAP, "cloud-init's ssh module settings."},
        {"ssh.emit_keys_to_console", CONFIG_BOOL,
         "Write the SSH host keys and their fingerprints to the console once per instance (default true)."},
        {"ssh_fp_console_blacklist", CONFIG_LIST,
         "Key types (ssh-rsa, ...) whose fingerprints the console leaves out."},
        {"ssh_fp_console_blacklist[]", CONFIG_STRING, "A key type as its public key file starts."},
        {"ssh_key_console_blacklist", CONFIG_LIST,
         "Key types whose public keys the console leaves out (default [ssh-dss])."},
        {"ssh_key_console_blacklist[]", CONFIG_STRING, "A key type as its public key file starts."},
        {"ssh_keys", CONFIG_DICT,
         "Host keys to install instead of making them: {rsa,dsa,ecdsa,ed25519}_{private,public,certificate}."},
        {"mounts", CONFIG_LIST,
         "fstab entries (cloud-init's mounts): [device, mount point, type, options, dump, pass], once per instance."},
        {"mounts[]", CONFIG_LIST, "One entry; fields left out or null come from mount_default_fields."},
        {"mount_default_fields", CONFIG_LIST,
         "The fields an entry leaves out (default [null, null, auto, \"defaults,nofail\", \"0\", \"2\"])."},
        {"device_aliases", CONFIG_DICT, "Names for devices, usable as a mounts entry's device."},
        {"swap", CONFIG_MAP, "A swap file made once per instance and put in fstab (cloud-init's swap)."},
        {"swap.filename", CONFIG_STRING, "Its path (default /swap.img)."},
        {"swap.size", CONFIG_ANY, "Bytes, a size such as 2G, or auto (from memory and disk); 0 (default): none."},
        {"swap.maxsize", CONFIG_ANY, "The most auto may choose, in bytes or as a size."},
        {"final_message", CONFIG_STRING,
         "Written to the console after kiln's final line: $uptime, $timestamp, $version, $datasource replaced."},
        {"growpart", CONFIG_MAP, "Growing partitions to their disk at every boot (cloud-init's growpart)."},
        {"growpart.mode", CONFIG_ANY, "auto (default: growpart when installed), growpart, or off (false)."},
        {"growpart.devices", CONFIG_LIST, "Mount points or /dev nodes whose partition grows (default [\"/\"])."},
        {"growpart.devices[]", CONFIG_STRING, "A mount point (\"/\") or a device (\"/dev/nvme0n1p1\")."},
        {"growpart.ignore_growroot_disabled", CONFIG_BOOL, "Grow even when /etc/growroot-disabled exists."},
        {"resize_rootfs", CONFIG_ANY,
         "Grow the root file system to its partition at every boot: true (default), noblock (the same), false."},
        {"disk_setup", CONFIG_DICT,
         "Partition tables made once per instance (cloud-init's disk_setup): device or alias -> {table_type, "
         "layout, overwrite}."},
        {"fs_setup", CONFIG_LIST, "File systems made once per instance (cloud-init's fs_setup)."},
        {"fs_setup[]", CONFIG_MAP, "One file system."},
        {"fs_setup[].label", CONFIG_STRING, "Its label (mkfs -L)."},
        {"fs_setup[].filesystem", CONFIG_STRING, "Its type: mkfs.TYPE (or mkTYPE: swap) makes it."},
        {"fs_setup[].device", CONFIG_STRING,
         "A device, an alias (device_aliases, ephemeral0, swap); NAME.N: partition N."},
        {"fs_setup[].partition", CONFIG_ANY, "A partition number, auto, any (default) or none (the whole device)."},
        {"fs_setup[].overwrite", CONFIG_BOOL, "Make it even over an existing file system (default false)."},
        {"fs_setup[].replace_fs", CONFIG_STRING, "A file system type that may be replaced."},
        {"fs_setup[].extra_opts", CONFIG_ANY, "More mkfs arguments (a list)."},
        {"fs_setup[].cmd", CONFIG_STRING,
         "A shell command instead of mkfs: %(label)s, %(filesystem)s, %(device)s filled in."},
        {"ssh_quiet_keygen", CONFIG_BOOL,
         "Keep ssh-keygen's report of the host keys it makes (fingerprint, randomart) off the console (default "
         "false)."},
        {},
};

const struct kiln_module instance_module = {
        .name = "instance",
        .stage = STAGE_APPLY,
        .boot = instance_boot,
        .config_keys = instance_keys,
        .validate = instance_validate,
        .commands = instance_commands,
};
