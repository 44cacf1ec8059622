/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "strbuf.h"
#include "userdata/userdata.h"

/* cloud-config onto kiln's config. kiln names the keys it shares with
 * cloud-init as cloud-init does, so most keys carry over as they are; the
 * mapping drops what kiln does not do (and says so), renames the few old
 * spellings, and takes the default user out of system_info. */

struct rename {
        const char *from;
        const char *to;
};

static const struct rename top_keys[] = {
        {"hostname", "hostname"},
        {"fqdn", "fqdn"},
        {"preserve_hostname", "preserve_hostname"},
        {"prefer_fqdn_over_hostname", "prefer_fqdn_over_hostname"},
        {"timezone", "timezone"},
        {"write_files", "write_files"},
        {"runcmd", "runcmd"},
        {"bootcmd", "bootcmd"},
        {"packages", "packages"},
        {"package_update", "package_update"},
        {"package_upgrade", "package_upgrade"},
        {"apt_update", "package_update"},
        {"apt_upgrade", "package_upgrade"},
        {"users", "users"},
        {"ssh_authorized_keys", "ssh_authorized_keys"},
        {"cloud_init_modules", "cloud_init_modules"},
        {"cloud_config_modules", "cloud_config_modules"},
        {"cloud_final_modules", "cloud_final_modules"},
        {"chpasswd", "chpasswd"},
        {"password", "password"},
        {"ssh_pwauth", "ssh_pwauth"},
        {"disable_root", "disable_root"},
        {"disable_root_opts", "disable_root_opts"},
        {"allow_public_ssh_keys", "allow_public_ssh_keys"},
        {"user", "user"},
        {"groups", "groups"},
        {"power_state", "power_state"},
        {"package_reboot_if_required", "package_reboot_if_required"},
        {"apt_reboot_if_required", "package_reboot_if_required"},
};

static const char *const user_keys[] = {"name",
                                        "groups",
                                        "sudo",
                                        "shell",
                                        "ssh_authorized_keys",
                                        "lock_passwd",
                                        "gecos",
                                        "homedir",
                                        "primary_group",
                                        "system",
                                        "uid",
                                        "hashed_passwd",
                                        "plain_text_passwd",
                                        "passwd",
                                        "no_create_home",
                                        "expiredate",
                                        "inactive",
                                        "selinux_user",
                                        "no_user_group",
                                        "no_log_init",
                                        "ssh_redirect_user",
                                        NULL};
/* system_info.default_user and `user` take every user key, as in cloud-init. */
static const char *const *const default_user_keys = user_keys;
static const char *const file_keys[] = {"path", "content", "encoding", "owner", "permissions", "append", "defer", NULL};

struct mapper {
        const json_t *positions;
        json_t *out_positions;
        char **skipped;
};

static bool path_at(const char *path, const char *prefix) {
        size_t n = strlen(prefix);
        return strneq(path, prefix, n) && (path[n] == 0 || path[n] == '.' || path[n] == '[');
}

/* Positions of `from` and everything under it, renamed to `to`. */
static int copy_positions(struct mapper *m, const char *from, const char *to) {
        const char *key;
        json_t *v;

        json_object_foreach((json_t *) m->positions, key, v) {
                _cleanup_free_ char *renamed = NULL;
                if (!path_at(key, from))
                        continue;
                renamed = strdup_printf("%s%s", to, key + strlen(from));
                if (!renamed || json_object_set(m->out_positions, renamed, v) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int copy_exact(struct mapper *m, const char *from, const char *to) {
        json_t *v = json_object_get(m->positions, from);
        return !v || json_object_set(m->out_positions, to, v) >= 0 ? 0 : -ENOMEM;
}

static int skip(struct mapper *m, const char *path) {
        return strv_push(&m->skipped, path);
}

static bool listed(const char *const *names, const char *name) {
        for (; *names; names++)
                if (streq(*names, name))
                        return true;
        return false;
}

/* A copy of a mapping with only the allowed keys; the others are skipped. */
static int filter_keys(struct mapper *m, const json_t *obj, const char *const *allowed, const char *path,
                       const char *to, json_t **ret) {
        _cleanup_json_ json_t *out = json_object();
        const char *key;
        json_t *v;

        if (!out)
                return -ENOMEM;
        json_object_foreach((json_t *) obj, key, v) {
                _cleanup_free_ char *from = strdup_printf("%s.%s", path, key), *dest = strdup_printf("%s.%s", to, key);
                const char *name = streq(key, "passwd") && allowed == user_keys ? "hashed_passwd" : key;
                int r;
                if (!from || !dest)
                        return -ENOMEM;
                if (!listed(allowed, key)) {
                        r = skip(m, from);
                } else {
                        free(dest);
                        dest = strdup_printf("%s.%s", to, name);
                        r = dest ? copy_positions(m, from, dest) : -ENOMEM;
                        if (r >= 0 && json_object_set(out, name, v) < 0)
                                r = -ENOMEM;
                }
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* "default, bob" -> ["default", "bob"], as cloud-init reads a users string. */
static json_t *split_names(const char *s) {
        _cleanup_json_ json_t *list = json_array();

        while (list && *s) {
                size_t n = strcspn(s, ",");
                _cleanup_free_ char *name = strndup(s, n);
                char *t = name ? strstrip(name) : NULL;
                if (!t || (*t && json_array_append_new(list, json_string(t)) < 0))
                        return NULL;
                s += n + (s[n] == ',');
        }
        return list ? TAKE_PTR(list) : NULL;
}

/* A list whose mapping items keep only the allowed keys. */
static int map_items(struct mapper *m, const json_t *list, const char *const *allowed, const char *name, json_t **ret) {
        _cleanup_json_ json_t *out = json_array();
        size_t i;
        json_t *item;
        int r;

        if (!out)
                return -ENOMEM;
        json_array_foreach((json_t *) list, i, item) {
                _cleanup_free_ char *path = strdup_printf("%s[%zu]", name, i);
                json_t *copy = NULL;
                if (!path)
                        return -ENOMEM;
                if (json_is_object(item)) {
                        r = filter_keys(m, item, allowed, path, path, &copy);
                        if (r >= 0)
                                r = copy_exact(m, path, path);
                        /* An item made only of unsupported keys ({snapuser: x})
                         * is skipped whole: it was named in the warning. */
                        if (r >= 0 && json_object_size(copy) == 0 && json_object_size(item) > 0) {
                                json_decref(copy);
                                continue;
                        }
                } else
                        r = (copy = json_incref(item)) ? copy_positions(m, path, path) : -ENOMEM;
                if (r < 0 || json_array_append_new(out, copy) < 0)
                        return r < 0 ? r : -ENOMEM;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static int map_key(struct mapper *m, json_t *out, const char *key, const json_t *v) {
        const struct rename *rn = NULL;
        json_t *mapped = NULL;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(top_keys); i++)
                if (streq(top_keys[i].from, key))
                        rn = &top_keys[i];
        if (!rn)
                return skip(m, key);
        if (streq(key, "users") && json_is_string(v)) {
                mapped = split_names(json_string_value(v));
                r = mapped ? copy_positions(m, key, key) : -ENOMEM;
        } else if (streq(key, "user") && json_is_object(v)) {
                r = filter_keys(m, v, user_keys, key, key, &mapped);
                if (r >= 0)
                        r = copy_exact(m, key, key);
        } else if ((streq(key, "users") || streq(key, "write_files")) && json_is_array(v))
                r = map_items(m, v, streq(key, "users") ? user_keys : file_keys, key, &mapped);
        else
                r = (mapped = json_incref((json_t *) v)) ? copy_positions(m, key, rn->to) : -ENOMEM;
        if (r >= 0 && json_object_set_new(out, rn->to, TAKE_PTR(mapped)) < 0)
                r = -ENOMEM;
        json_decref(mapped);
        return r;
}

/* system_info: only default_user means something to kiln. */
static int map_system_info(struct mapper *m, json_t *out, const json_t *v) {
        const char *key;
        json_t *sub;

        if (!json_is_object(v))
                return skip(m, "system_info");
        json_object_foreach((json_t *) v, key, sub) {
                _cleanup_free_ char *path = strdup_printf("system_info.%s", key);
                json_t *user = NULL;
                int r;
                if (!path)
                        return -ENOMEM;
                if (!streq(key, "default_user") || !json_is_object(sub)) {
                        r = skip(m, path);
                } else {
                        r = filter_keys(m, sub, default_user_keys, path, "default_user", &user);
                        if (r >= 0)
                                r = copy_exact(m, path, "default_user");
                        if (r >= 0 && json_object_set_new(out, "default_user", user) < 0)
                                r = -ENOMEM;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

int cloudconfig_map(const json_t *doc, const json_t *positions, json_t **ret, json_t **ret_positions,
                    char ***ret_skipped) {
        _cleanup_json_ json_t *out = json_object(), *out_pos = json_object(), *empty = json_object();
        struct mapper m = {.positions = positions ? positions : empty, .out_positions = out_pos};
        const char *key;
        json_t *v;
        int r = 0;

        if (!out || !out_pos || !empty)
                return -ENOMEM;
        json_object_foreach((json_t *) doc, key, v) {
                r = streq(key, "system_info") ? map_system_info(&m, out, v) : map_key(&m, out, key, v);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                strv_free(m.skipped);
                return r;
        }
        *ret = TAKE_PTR(out);
        *ret_positions = TAKE_PTR(out_pos);
        *ret_skipped = m.skipped;
        return 0;
}
