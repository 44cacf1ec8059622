/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "config.h"
#include "strbuf.h"
#include "userdata/userdata.h"
#include "yaml-json.h"

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
        {"manage_etc_hosts", "manage_etc_hosts"},
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
        {"ssh_deletekeys", "ssh_deletekeys"},
        {"ssh_genkeytypes", "ssh_genkeytypes"},
        {"ssh_keys", "ssh_keys"},
        {"final_message", "final_message"},
        {"mounts", "mounts"},
        {"mount_default_fields", "mount_default_fields"},
        {"device_aliases", "device_aliases"},
        {"swap", "swap"},
        {"ssh", "ssh"},
        {"ssh_fp_console_blacklist", "ssh_fp_console_blacklist"},
        {"ssh_key_console_blacklist", "ssh_key_console_blacklist"},
        {"growpart", "growpart"},
        {"resize_rootfs", "resize_rootfs"},
        {"yum_repos", "yum_repos"},
        {"yum_repo_dir", "yum_repo_dir"},
        {"apt", "apt"},
        {"apt_pipelining", "apt_pipelining"},
        {"grub_dpkg", "grub_dpkg"},
        {"grub-dpkg", "grub-dpkg"},
        {"ca_certs", "ca_certs"},
        {"ca-certs", "ca-certs"},
        {"locale", "locale"},
        {"locale_configfile", "locale_configfile"},
        {"ntp", "ntp"},
        {"phone_home", "phone_home"},
        {"ssh_import_id", "ssh_import_id"},
        {"output", "output"},
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
        {"rsyslog", "rsyslog"},
        {"rsyslog_filename", "rsyslog_filename"},
        {"rsyslog_dir", "rsyslog_dir"},
        {"random_seed", "random_seed"},
        {"manage_resolv_conf", "manage_resolv_conf"},
        {"resolv_conf", "resolv_conf"},
        {"keyboard", "keyboard"},
        {"disk_setup", "disk_setup"},
        {"fs_setup", "fs_setup"},
        {"no_ssh_fingerprints", "no_ssh_fingerprints"},
        {"authkey_hash", "authkey_hash"},
        {"ssh_quiet_keygen", "ssh_quiet_keygen"},
        {"disable_ec2_metadata", "disable_ec2_metadata"},
        {"byobu_by_default", "byobu_by_default"},
        {"puppet", "puppet"},
        {"salt_minion", "salt_minion"},
        {"ansible", "ansible"},
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
                                        "ssh_import_id",
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

/* cloud-init's own keys (22.4: its JSON schema and its base config), to
 * tell a key kiln does not do from a misspelt one. */
static const char *const cloudinit_top_keys[] = {"allow_public_ssh_keys",
                                                 "ansible",
                                                 "apk_repos",
                                                 "apt",
                                                 "apt_config",
                                                 "apt_ftp_proxy",
                                                 "apt_http_proxy",
                                                 "apt_https_proxy",
                                                 "apt_mirror",
                                                 "apt_mirror_search",
                                                 "apt_pipelining",
                                                 "apt_preserve_sources_list",
                                                 "apt_proxy",
                                                 "apt_reboot_if_required",
                                                 "apt_sources",
                                                 "apt_update",
                                                 "apt_upgrade",
                                                 "authkey_hash",
                                                 "autoinstall",
                                                 "bootcmd",
                                                 "byobu_by_default",
                                                 "ca-certs",
                                                 "ca_certs",
                                                 "chef",
                                                 "chpasswd",
                                                 "cloud_config_modules",
                                                 "cloud_final_modules",
                                                 "cloud_init_modules",
                                                 "datasource",
                                                 "datasource_list",
                                                 "def_log_file",
                                                 "device_aliases",
                                                 "disable_ec2_metadata",
                                                 "disable_root",
                                                 "disable_root_opts",
                                                 "disk_setup",
                                                 "drivers",
                                                 "fan",
                                                 "final_message",
                                                 "fqdn",
                                                 "fs_setup",
                                                 "groups",
                                                 "growpart",
                                                 "grub-dpkg",
                                                 "grub_dpkg",
                                                 "hostname",
                                                 "keyboard",
                                                 "landscape",
                                                 "locale",
                                                 "locale_configfile",
                                                 "log_cfgs",
                                                 "lxd",
                                                 "manage_etc_hosts",
                                                 "manage_resolv_conf",
                                                 "manual_cache_clean",
                                                 "mcollective",
                                                 "merge_how",
                                                 "merge_type",
                                                 "migrate",
                                                 "mount_default_fields",
                                                 "mounts",
                                                 "network",
                                                 "no_ssh_fingerprints",
                                                 "ntp",
                                                 "output",
                                                 "package_reboot_if_required",
                                                 "package_update",
                                                 "package_upgrade",
                                                 "packages",
                                                 "password",
                                                 "phone_home",
                                                 "power_state",
                                                 "prefer_fqdn_over_hostname",
                                                 "preserve_hostname",
                                                 "puppet",
                                                 "random_seed",
                                                 "reporting",
                                                 "resize_rootfs",
                                                 "resolv_conf",
                                                 "rh_subscription",
                                                 "rsyslog",
                                                 "runcmd",
                                                 "salt_minion",
                                                 "snap",
                                                 "spacewalk",
                                                 "ssh",
                                                 "ssh_authorized_keys",
                                                 "ssh_deletekeys",
                                                 "ssh_fp_console_blacklist",
                                                 "ssh_genkeytypes",
                                                 "ssh_import_id",
                                                 "ssh_key_console_blacklist",
                                                 "ssh_keys",
                                                 "ssh_publish_hostkeys",
                                                 "ssh_pwauth",
                                                 "ssh_quiet_keygen",
                                                 "swap",
                                                 "syslog_fix_perms",
                                                 "system_info",
                                                 "timezone",
                                                 "ubuntu_advantage",
                                                 "updates",
                                                 "user",
                                                 "users",
                                                 "vendor_data",
                                                 "wireguard",
                                                 "write_files",
                                                 "yum_repo_dir",
                                                 "yum_repos",
                                                 "zypper",
                                                 NULL};
static const char *const cloudinit_user_keys[] = {"create_groups",
                                                  "doas",
                                                  "expiredate",
                                                  "gecos",
                                                  "groups",
                                                  "hashed_passwd",
                                                  "homedir",
                                                  "inactive",
                                                  "lock_passwd",
                                                  "name",
                                                  "no_create_home",
                                                  "no_log_init",
                                                  "no_user_group",
                                                  "passwd",
                                                  "plain_text_passwd",
                                                  "primary_group",
                                                  "selinux_user",
                                                  "shell",
                                                  "snapuser",
                                                  "ssh_authorized_keys",
                                                  "ssh_import_id",
                                                  "ssh_redirect_user",
                                                  "sudo",
                                                  "system",
                                                  "uid",
                                                  NULL};
static const char *const cloudinit_file_keys[] = {"path",     "content", "source", "owner", "permissions",
                                                  "encoding", "append",  "defer",  NULL};

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

/* A user key as cloud-init reads it (ug_util.py): every '-' an '_', blanks
 * around it dropped; so `ssh-authorized-keys` is `ssh_authorized_keys`. */
static char *user_key_name(const char *key) {
        _cleanup_free_ char *copy = strdup(key);
        char *k = copy ? strstrip(copy) : NULL;

        for (char *p = k; p && *p; p++)
                if (*p == '-')
                        *p = '_';
        return k ? strdup(k) : NULL;
}

/* A user's values as cloud-init's create_user() and cc_ssh_import_id read
 * them: ssh_authorized_keys given as one string is a list of it, as a
 * mapping the list of its values, and null is no keys; ssh_import_id null
 * is no ids (uniq_merge(None) fails and the user is skipped). */
static int user_values(json_t *user) {
        json_t *keys = json_object_get(user, "ssh_authorized_keys"), *v;
        _cleanup_json_ json_t *list = NULL;
        const char *k;

        if (json_is_null(json_object_get(user, "ssh_import_id")))
                (void) json_object_del(user, "ssh_import_id");
        if (json_is_null(keys))
                return json_object_del(user, "ssh_authorized_keys") < 0 ? -ENOMEM : 0;
        if (!json_is_string(keys) && !json_is_object(keys))
                return 0;
        list = json_is_string(keys) ? json_pack("[O]", keys) : json_array();
        if (!list)
                return -ENOMEM;
        if (json_is_object(keys))
                json_object_foreach(keys, k, v)
                        if (json_array_append(list, v) < 0)
                                return -ENOMEM;
        return json_object_set(user, "ssh_authorized_keys", list) < 0 ? -ENOMEM : 0;
}

/* A copy of a mapping with only the allowed keys; the others are skipped.
 * For users, keys are normalised first; a later spelling of the same key
 * wins, as in cloud-init's dict. */
static int filter_keys(struct mapper *m, const json_t *obj, const char *const *allowed, const char *path,
                       const char *to, json_t **ret) {
        _cleanup_json_ json_t *out = json_object();
        const char *key;
        json_t *v;

        if (!out)
                return -ENOMEM;
        json_object_foreach((json_t *) obj, key, v) {
                _cleanup_free_ char *from = strdup_printf("%s.%s", path, key), *dest = NULL, *norm = NULL;
                const char *name;
                int r;
                norm = allowed == user_keys ? user_key_name(key) : strdup(key);
                if (!from || !norm)
                        return -ENOMEM;
                name = streq(norm, "passwd") && allowed == user_keys ? "hashed_passwd" : norm;
                if (!listed(allowed, norm)) {
                        r = skip(m, from);
                } else {
                        dest = strdup_printf("%s.%s", to, name);
                        r = dest ? copy_positions(m, from, dest) : -ENOMEM;
                        if (r >= 0 && json_object_set(out, name, v) < 0)
                                r = -ENOMEM;
                }
                if (r < 0)
                        return r;
        }
        if (allowed == user_keys) {
                int r = user_values(out);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static bool encoding_in(const char *enc, const char *const *names) {
        for (; *names; names++)
                if (streq(enc, *names))
                        return true;
        return false;
}

/* write_files content given as !!binary is bytes to cloud-init, which it
 * writes as they are, gunzips for gzip, and base64-decodes for b64. kiln's
 * YAML reader gives their base64 (yaml-json.h): the encoding says b64 on
 * top of what it said, or, for b64 itself, the bytes (base64 text) are
 * the content. */
/* The encoding as cloud-init's canonicalize_extraction() reads it:
 * lowercased, blanks around dropped ("B64 " is b64). */
static int canonical_encoding(json_t *file) {
        const char *enc = json_string_value(json_object_get(file, "encoding"));
        _cleanup_free_ char *copy = enc ? strdup(enc) : NULL;
        char *e;

        if (!enc)
                return 0;
        if (!copy)
                return -ENOMEM;
        e = strstrip(copy);
        for (char *p = e; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char) (*p - 'A' + 'a');
        if (streq(e, enc))
                return 0;
        return json_object_set_new(file, "encoding", json_string(e)) < 0 ? -ENOMEM : 0;
}

static int binary_content(json_t *file) {
        static const char *const plain[] = {"", "text/plain", NULL}, *const gz[] = {"gz", "gzip", NULL};
        json_t *c = json_object_get(file, "content");
        const char *b64 = json_string_value(json_object_get(c, YAML_BINARY_KEY));
        const char *enc = json_string_value(json_object_get(file, "encoding"));
        _cleanup_free_ char *bytes = NULL;
        json_t *text;
        size_t n;
        int r;

        if (!json_is_object(c) || !b64 || json_object_size(c) != 1)
                return 0;
        if (!enc || encoding_in(enc, plain) || encoding_in(enc, gz)) {
                r = json_object_set_new(file, "encoding", json_string(enc && encoding_in(enc, gz) ? "gz+b64" : "b64"));
                return r < 0 || json_object_set_new(file, "content", json_string(b64)) < 0 ? -ENOMEM : 0;
        }
        r = base64_decode_python(b64, strlen(b64), false, &bytes, &n);
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        text = json_stringn(bytes, n);
        /* Bytes that are not text cannot be base64 for b64: left for
         * validation to refuse (content must be a string). */
        return !text || json_object_set_new(file, "content", text) >= 0 ? 0 : -ENOMEM;
}

static int strcmp_ptr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* "default, bob" -> ["bob", "default"], as cloud-init reads a users
 * string (ug_util._normalize_users(), util.uniq_merge_sorted()): the
 * string stripped, split at ',', empty pieces dropped, sorted as Python
 * sorts the pieces (" bob" before "alice": the blank is kept for sorting),
 * then each stripped, each name once. The order is the order the users
 * are made in. */
static json_t *split_names(const char *s) {
        _cleanup_json_ json_t *list = json_array();
        _cleanup_strv_free_ char **pieces = NULL;
        _cleanup_free_ char *all = strdup(s);
        char *t = all ? strstrip(all) : NULL;

        while (t && *t) {
                size_t n = strcspn(t, ",");
                _cleanup_free_ char *piece = strndup(t, n);
                if (!piece || (n > 0 && strv_push(&pieces, piece) < 0))
                        return NULL;
                t += n + (t[n] == ',');
        }
        if (!t || !list)
                return NULL;
        if (pieces)
                qsort(pieces, strv_length(pieces), sizeof(*pieces), strcmp_ptr);
        for (char **p = pieces; p && *p; p++) {
                const char *name = strstrip(*p);
                bool seen = false;
                size_t i;
                json_t *v;
                json_array_foreach(list, i, v)
                        seen = seen || streq(json_string_value(v), name);
                if (*name && !seen && json_array_append_new(list, json_string(name)) < 0)
                        return NULL;
        }
        return TAKE_PTR(list);
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
                        if (r >= 0 && allowed == file_keys)
                                r = canonical_encoding(copy);
                        if (r >= 0 && allowed == file_keys)
                                r = binary_content(copy);
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

/* The supported key nearest to name, if near enough to be a typo. */
static const char *nearest(const char *name, const char *const *names, const struct rename *renames, size_t n) {
        const char *best = NULL;
        size_t best_d = SIZE_MAX;

        for (size_t i = 0; names ? names[i] != NULL : i < n; i++) {
                const char *cand = names ? names[i] : renames[i].from;
                size_t d = config_edit_distance(name, cand);
                if (d < best_d) {
                        best_d = d;
                        best = cand;
                }
        }
        return best && (best_d <= 2 || best_d * 3 <= strlen(name)) ? best : NULL;
}

char *cloudconfig_skip_message(const char *path) {
        const char *dot = strrchr(path, '.'), *key = dot ? dot + 1 : path, *near = NULL;
        _cleanup_free_ char *norm = NULL;
        bool user = strneq(path, "users[", 6) || strneq(path, "system_info.default_user.", 25);
        bool file = strneq(path, "write_files[", 12), known;

        norm = user ? user_key_name(key) : strdup(key);
        if (!norm)
                return NULL;
        if (!dot)
                known = listed(cloudinit_top_keys, key);
        else if (user || file)
                known = listed(user ? cloudinit_user_keys : cloudinit_file_keys, norm);
        else
                known = true; /* system_info.*: cloud-init's own settings */
        if (known)
                return strdup_printf("cloud-config key '%s' is not supported by kiln, skipped", path);
        if (!dot)
                near = nearest(norm, NULL, top_keys, ELEMENTSOF(top_keys));
        else if (user || file)
                near = nearest(norm, user ? (strneq(path, "users[", 6) ? user_keys : default_user_keys) : file_keys,
                               NULL, 0);
        return near ? strdup_printf("'%s' is not a cloud-config key (did you mean '%s'?), skipped", path, near)
                    : strdup_printf("'%s' is not a cloud-config key, skipped", path);
}
