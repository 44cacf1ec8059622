/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "userdata/userdata.h"

/* cloud-config's module lists (cloud_init_modules, cloud_config_modules,
 * cloud_final_modules) as cloud-init 22.4 reads them (config/modules.py).
 * A list given in user-data replaces the image's list for that stage
 * (lists are not merged), so a module it leaves out does not run; an item
 * is "name", [name, frequency, args...] or {name, frequency, args}, the
 * name taken as form_module_name() takes it ('-' as '_', no ".py", no
 * "cc_"), the frequency one of always, once-per-instance, once (another is
 * ignored, with a warning, for the module's own).
 *
 * kiln does the same for the modules whose keys it does: the keys of a
 * module left out are not applied (and named on validate's note line), and
 * scripts-user's frequency is honoured, since AWS documents
 * `cloud_final_modules: [[scripts-user, always]]` as the way to run
 * user-data at every boot. */

static const char *const list_keys[] = {"cloud_init_modules", "cloud_config_modules", "cloud_final_modules"};

enum stage { INIT, CONFIG, FINAL };

/* The modules doing what kiln does, in the stage of the image's cloud.cfg
 * (Debian's and Ubuntu's agree on these), with cloud-init's own frequency
 * and the kiln config keys they stand for. */
struct ci_module {
        const char *name;
        enum stage stage;
        const char *freq;
        const char *keys[8];
};

static const struct ci_module modules[] = {
        {"bootcmd", INIT, "always", {"bootcmd"}},
        {"write_files", INIT, "once-per-instance", {}}, /* write_files items without defer */
        {"set_hostname", INIT, "once-per-instance", {}},
        {"update_hostname", INIT, "always", {}},
        {"update_etc_hosts", INIT, "always", {"manage_etc_hosts"}},
        {"users_groups", INIT, "once-per-instance", {"users", "default_user", "groups"}},
        {"growpart", INIT, "always", {"growpart"}},
        {"resizefs", INIT, "always", {"resize_rootfs"}},
        {"disk_setup", INIT, "once-per-instance", {"disk_setup", "fs_setup"}},
        {"mounts", INIT, "once-per-instance", {"mounts", "swap", "mount_default_fields", "device_aliases"}},
        {"ssh",
         INIT,
         "once-per-instance",
         {"ssh_authorized_keys", "disable_root", "disable_root_opts", "ssh_keys", "ssh_deletekeys", "ssh_genkeytypes"}},
        {"set_passwords", CONFIG, "once-per-instance", {"chpasswd", "password", "ssh_pwauth"}},
        {"timezone", CONFIG, "once-per-instance", {"timezone"}},
        {"runcmd", CONFIG, "once-per-instance", {"runcmd"}},
        {"package_update_upgrade_install",
         FINAL,
         "once-per-instance",
         {"packages", "package_update", "package_upgrade", "package_reboot_if_required"}},
        {"write_files_deferred", FINAL, "once-per-instance", {}}, /* write_files items with defer */
        {"ansible", FINAL, "once-per-instance", {"ansible"}}, /* upstream's cloud.cfg; Debian 12's lacks it */
        {"scripts_per_once", FINAL, "once", {}},
        {"scripts_per_boot", FINAL, "always", {}},
        {"scripts_per_instance", FINAL, "once-per-instance", {}},
        {"scripts_user", FINAL, "once-per-instance", {"runcmd"}},
        {"keys_to_console",
         FINAL,
         "once-per-instance",
         {"ssh", "ssh_fp_console_blacklist", "ssh_key_console_blacklist"}},
        {"final_message", FINAL, "always", {"final_message"}},
        {"power_state_change", FINAL, "once-per-instance", {"power_state"}},
};

/* form_module_name(), without the "cc_" kiln does not need. */
static char *module_name(const char *raw) {
        _cleanup_free_ char *s = strdup(raw);
        char *n = s ? strstrip(s) : NULL;
        size_t len;

        if (!n)
                return NULL;
        for (char *p = n; *p; p++)
                if (*p == '-')
                        *p = '_';
        len = strlen(n);
        if (len >= 3 && strcasecmp(n + len - 3, ".py") == 0)
                n[len - 3] = 0;
        n = strstrip(n);
        if (strneq(n, "cc_", 3))
                n += 3;
        return strdup(n);
}

/* An item's name and frequency (NULL when none); false when it names none. */
static bool item_parts(const json_t *item, const char **ret_name, const char **ret_freq) {
        *ret_freq = NULL;
        if (json_is_string(item))
                *ret_name = json_string_value(item);
        else if (json_is_array(item)) {
                *ret_name = json_string_value(json_array_get(item, 0));
                *ret_freq = json_string_value(json_array_get(item, 1));
        } else if (json_is_object(item)) {
                *ret_name = json_string_value(json_object_get(item, "name"));
                *ret_freq = json_string_value(json_object_get(item, "frequency"));
        } else
                return false;
        return *ret_name != NULL;
}

/* The frequency a list gives module `name` (cloud-init's word), "" when
 * listed without one, NULL when not listed. The first mention wins. */
static const char *listed_freq(const json_t *config, const char *name, char **ret_freq_copy) {
        for (size_t k = 0; k < ELEMENTSOF(list_keys); k++) {
                json_t *item;
                size_t i;
                json_array_foreach(json_object_get(config, list_keys[k]), i, item) {
                        _cleanup_free_ char *n = NULL;
                        const char *raw, *freq;
                        if (!item_parts(item, &raw, &freq) || !(n = module_name(raw)) || !streq(n, name))
                                continue;
                        *ret_freq_copy = freq ? strdup(freq) : NULL;
                        freq = *ret_freq_copy ? strstrip(*ret_freq_copy) : NULL;
                        return freq ? freq : "";
                }
        }
        return NULL;
}

static const struct ci_module *module_named(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(modules); i++)
                if (streq(modules[i].name, name))
                        return &modules[i];
        abort(); /* a name from the table above */
}

static bool runs(const json_t *config, const struct ci_module *m) {
        _cleanup_free_ char *copy = NULL;

        return !json_is_array(json_object_get(config, list_keys[m->stage])) || listed_freq(config, m->name, &copy);
}

static int to_frequency(const char *s, enum frequency *ret) {
        if (streq(s, "always"))
                *ret = FREQ_BOOT;
        else if (streq(s, "once-per-instance"))
                *ret = FREQ_INSTANCE;
        else if (streq(s, "once"))
                *ret = FREQ_ONCE;
        else
                return -EINVAL;
        return 0;
}

enum frequency userdata_scripts_user_frequency(const json_t *config, enum frequency def) {
        _cleanup_free_ char *copy = NULL;
        const char *f = listed_freq(config, "scripts_user", &copy);
        enum frequency freq;

        return f && to_frequency(f, &freq) >= 0 ? freq : def;
}

/* scripts-user runs the plain scripts (text/x-shellscript); the typed ones
 * (text/x-shellscript-per-boot...) are scripts-per-boot's and the like. */
static bool scripts_user_part(const struct userdata_part *p) {
        return streq(p->type, "text/x-shellscript") && p->freq == FREQ_INSTANCE;
}

enum frequency userdata_script_frequency(const json_t *config, const struct userdata_part *p) {
        return scripts_user_part(p) ? userdata_scripts_user_frequency(config, p->freq) : p->freq;
}

static int note(struct userdata *u, const char *fmt, ...) _printf_(2, 3);
static int note(struct userdata *u, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (!s)
                return -ENOMEM;
        for (char **i = u->ignored; i && *i; i++)
                if (streq(*i, s))
                        return 0;
        return strv_push(&u->ignored, s);
}

static const char *list_of(const struct ci_module *m) {
        return list_keys[m->stage];
}

/* write_files items of one kind (deferred or not) dropped. */
static int drop_files(struct userdata *u, const struct ci_module *m, bool deferred) {
        json_t *files = json_object_get(u->config, "write_files");
        size_t i = 0, dropped = 0;

        while (i < json_array_size(files)) {
                if (json_is_true(json_object_get(json_array_get(files, i), "defer")) == deferred) {
                        json_array_remove(files, i);
                        dropped++;
                } else
                        i++;
        }
        if (dropped == 0)
                return 0;
        return note(u, "'write_files' (%zu %s item(s): %s leaves out %s, so cloud-init would not write them either)",
                    dropped, deferred ? "deferred" : "not deferred", list_of(m), m->name);
}

/* Script parts of one module dropped: scripts-user's, or those of a type
 * (which an older decoder gives as text/x-shellscript at that frequency). */
static int drop_parts(struct userdata *u, const struct ci_module *m, const char *type, enum frequency freq) {
        size_t kept = 0, dropped = 0;

        for (size_t i = 0; i < u->n_parts; i++) {
                struct userdata_part *p = &u->parts[i];
                bool plain = streq(p->type, "text/x-shellscript");
                if (userdata_part_is_script(p) &&
                    (type ? streq(p->type, type) || (plain && p->freq == freq && freq != FREQ_INSTANCE)
                          : scripts_user_part(p))) {
                        free(p->type);
                        free(p->filename);
                        free(p->content);
                        dropped++;
                        continue;
                }
                u->parts[kept++] = *p;
        }
        u->n_parts = kept;
        if (dropped == 0)
                return 0;
        return note(u, "%zu user-data script(s) (%s leaves out %s, so cloud-init would not run them either)", dropped,
                    list_of(m), m->name);
}

static int drop_module(struct userdata *u, const struct ci_module *m) {
        int r = 0;

        for (size_t k = 0; r >= 0 && k < ELEMENTSOF(m->keys) && m->keys[k]; k++)
                if (json_object_get(u->config, m->keys[k])) {
                        json_object_del(u->config, m->keys[k]);
                        r = note(u, "'%s' (%s leaves out %s, so cloud-init would not apply it either)", m->keys[k],
                                 list_of(m), m->name);
                }
        if (r < 0)
                return r;
        if (streq(m->name, "write_files"))
                return drop_files(u, m, false);
        if (streq(m->name, "write_files_deferred"))
                return drop_files(u, m, true);
        if (streq(m->name, "scripts_user"))
                return drop_parts(u, m, NULL, FREQ_INSTANCE);
        if (streq(m->name, "scripts_per_boot"))
                return drop_parts(u, m, "text/x-shellscript-per-boot", FREQ_BOOT);
        if (streq(m->name, "scripts_per_once"))
                return drop_parts(u, m, "text/x-shellscript-per-once", FREQ_ONCE);
        if (streq(m->name, "scripts_per_instance"))
                return drop_parts(u, m, "text/x-shellscript-per-instance", FREQ_INSTANCE);
        return 0;
}

static int warn_frequency(struct userdata *u, const char *list, size_t i, const char *raw, const char *freq) {
        _cleanup_free_ char *s =
                strdup_printf("'%s[%zu]': kiln runs %s at its usual frequency, not '%s'", list, i, raw, freq);

        return s ? strv_push(&u->warnings, s) : -ENOMEM;
}

/* Each item's frequency: cloud-init's words only; scripts-user's is
 * honoured, runcmd's changes nothing (it only writes the script), another
 * that differs from the module's own is not done by kiln: a warning. */
static int check_frequencies(struct userdata *u) {
        for (size_t k = 0; k < ELEMENTSOF(list_keys); k++) {
                json_t *item;
                size_t i;
                json_array_foreach(json_object_get(u->config, list_keys[k]), i, item) {
                        _cleanup_free_ char *n = NULL;
                        const char *raw, *freq;
                        enum frequency f;
                        int r = 0;
                        if (!item_parts(item, &raw, &freq) || !freq || !(n = module_name(raw)))
                                continue;
                        if (to_frequency(freq, &f) < 0) {
                                r = note(u, "'%s[%zu]' (unknown frequency '%s': cloud-init runs %s at its own)",
                                         list_keys[k], i, freq, raw);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        for (size_t m = 0; m < ELEMENTSOF(modules); m++)
                                if (streq(modules[m].name, n) && !streq(n, "scripts_user") && !streq(n, "runcmd") &&
                                    !streq(freq, modules[m].freq))
                                        r = warn_frequency(u, list_keys[k], i, raw, freq);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int userdata_apply_module_lists(struct userdata *u) {
        bool any = false;
        int r;

        for (size_t k = 0; k < ELEMENTSOF(list_keys); k++)
                any = any || json_object_get(u->config, list_keys[k]);
        if (!any)
                return 0;
        r = check_frequencies(u);
        if (r < 0)
                return r;
        /* Without set_hostname and update_hostname, the hostname is left as
         * it is (not even taken from IMDS). */
        if (!runs(u->config, module_named("set_hostname")) && !runs(u->config, module_named("update_hostname"))) {
                if (json_object_get(u->config, "hostname") || json_object_get(u->config, "fqdn"))
                        r = note(u,
                                 "'hostname' (%s leaves out set_hostname and update_hostname, so cloud-init "
                                 "would not set it either)",
                                 list_keys[INIT]);
                json_object_del(u->config, "hostname");
                json_object_del(u->config, "fqdn");
                if (r >= 0 && json_object_set_new(u->config, "preserve_hostname", json_true()) < 0)
                        r = -ENOMEM;
        }
        for (size_t m = 0; r >= 0 && m < ELEMENTSOF(modules); m++)
                if (!runs(u->config, &modules[m]))
                        r = drop_module(u, &modules[m]);
        /* kiln grows the root by default, as cloud-init's growpart and
         * resizefs do: left out of the list, they do nothing. */
        if (r >= 0 && !runs(u->config, module_named("growpart")) &&
            json_object_set_new(u->config, "growpart", json_pack("{s:s}", "mode", "off")) < 0)
                r = -ENOMEM;
        if (r >= 0 && !runs(u->config, module_named("resizefs")) &&
            json_object_set_new(u->config, "resize_rootfs", json_false()) < 0)
                r = -ENOMEM;
        return r;
}
