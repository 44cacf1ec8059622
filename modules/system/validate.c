/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <string.h>

#include "strbuf.h"
#include "system/system.h"

/* RFC 1123 host names: labels of letters, digits and inner hyphens. */
static bool hostname_ok(const char *s) {
        size_t label = 0, n = strlen(s);

        if (n == 0 || n > 253)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (c == '.') {
                        if (label == 0 || s[i - 1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!isalnum((unsigned char) c) && !(c == '-' && label > 0))
                        return false;
                if (++label > 63)
                        return false;
        }
        return label > 0 && s[n - 1] != '-';
}

/* What useradd accepts on every distribution kiln targets. */
static bool username_ok(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 32 || !(islower((unsigned char) s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!islower((unsigned char) s[i]) && !isdigit((unsigned char) s[i]) && !strchr("_-.", s[i]) &&
                    !(s[i] == '$' && i == n - 1))
                        return false;
        return true;
}

static bool timezone_ok(const char *s) {
        if (!*s || *s == '/' || strstr(s, "..") || strlen(s) > 64)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && !strchr("/_+-", *s))
                        return false;
        return true;
}

static void check_name(struct config_report *rep, const json_t *v, const char *path) {
        if (json_is_string(v) && !username_ok(json_string_value(v)))
                config_report_error(rep, path,
                                    "'%s': '%s' is not a valid user name (lowercase letters, digits, _ and -)", path,
                                    json_string_value(v));
}

static void check_sudo(struct config_report *rep, const json_t *user, const char *path) {
        json_t *v = json_object_get(user, "sudo");
        _cleanup_free_ char *p = strdup_printf("%s.sudo", path);

        if (v && !json_is_string(v) && !json_is_array(v) && !json_is_boolean(v) && !json_is_null(v))
                config_report_error(rep, p, "'%s' must be a sudoers rule, a list of them, or false", p ? p : "sudo");
}

static void check_users(struct config_report *rep, const json_t *config) {
        json_t *users = json_object_get(config, "users"), *u, *def = json_object_get(config, "default_user");
        size_t i;

        if (json_is_object(def)) {
                check_name(rep, json_object_get(def, "name"), "default_user.name");
                check_sudo(rep, def, "default_user");
        }
        json_array_foreach(users, i, u) {
                _cleanup_free_ char *path = strdup_printf("users[%zu]", i), *name = strdup_printf("users[%zu].name", i);
                if (!path || !name)
                        return;
                if (json_is_string(u)) {
                        if (!streq(json_string_value(u), "default"))
                                check_name(rep, u, path);
                        continue;
                }
                if (!json_is_object(u))
                        continue;
                if (!json_is_string(json_object_get(u, "name")))
                        config_report_error(rep, path, "'%s' needs a name", path);
                check_name(rep, json_object_get(u, "name"), name);
                check_sudo(rep, u, path);
        }
}

static void check_file(struct config_report *rep, const json_t *f, const char *path) {
        const char *p = json_string_value(json_object_get(f, "path"));
        _cleanup_json_ json_t *plan = NULL;
        json_t *wrapped;

        if (!p) {
                config_report_error(rep, path, "'%s' needs a path", path);
                return;
        }
        if (p[0] != '/' || strstr(p, "/../") || strlen(p) >= 4096) {
                config_report_error(rep, path, "'%s.path' must be an absolute path, without '..'", path);
                return;
        }
        /* The plan decodes content and reads the mode: its error is ours. */
        wrapped = json_pack("{s:[O]}", "write_files", f);
        plan = wrapped ? system_plan(wrapped, NULL, 0, "x") : NULL;
        json_decref(wrapped);
        {
                json_t *item = json_array_get(json_object_get(plan, "write_files"), 0);
                const char *err = json_string_value(json_object_get(item, "error"));
                if (err)
                        config_report_error(rep, path, "'%s': %s", path, err);
        }
}

static void check_files(struct config_report *rep, const json_t *config) {
        json_t *f;
        size_t i;

        json_array_foreach(json_object_get(config, "write_files"), i, f) {
                _cleanup_free_ char *path = strdup_printf("write_files[%zu]", i);
                if (path && json_is_object(f))
                        check_file(rep, f, path);
        }
}

static void check_packages(struct config_report *rep, const json_t *config) {
        json_t *p;
        size_t i;

        json_array_foreach(json_object_get(config, "packages"), i, p) {
                _cleanup_free_ char *path = strdup_printf("packages[%zu]", i);
                bool pair = system_package_pair_ok(p);
                if (path && !json_is_string(p) && !pair)
                        config_report_error(rep, path, "'%s' must be a package name or [name, version]", path);
        }
}

void system_validate_commands(const json_t *config, struct config_report *rep, const char *key) {
        json_t *item;
        size_t i;

        json_array_foreach(json_object_get(config, key), i, item) {
                _cleanup_free_ char *path = strdup_printf("%s[%zu]", key, i);
                json_t *cmd = json_object_get(item, "command");
                const char *freq = json_string_value(json_object_get(item, "frequency"));
                enum frequency f;
                if (!path || !json_is_object(item))
                        continue;
                if (!json_is_string(cmd) && !(json_is_array(cmd) && json_array_size(cmd) > 0))
                        config_report_error(rep, path, "'%s.command' must be a shell string or a list of words", path);
                if (freq && frequency_from_string(freq, &f) < 0)
                        config_report_error(rep, path, "'%s.frequency' must be per-boot, per-instance or once", path);
        }
}

void system_validate(const json_t *config, struct config_report *rep) {
        const char *hostname = json_string_value(json_object_get(config, "hostname"));
        const char *fqdn = json_string_value(json_object_get(config, "fqdn"));
        const char *tz = json_string_value(json_object_get(config, "timezone"));

        if (hostname && !hostname_ok(hostname))
                config_report_error(rep, "hostname", "'hostname': '%s' is not a valid host name", hostname);
        if (fqdn && !hostname_ok(fqdn))
                config_report_error(rep, "fqdn", "'fqdn': '%s' is not a valid host name", fqdn);
        if (tz && !timezone_ok(tz))
                config_report_error(rep, "timezone", "'timezone': '%s' is not a time zone name such as Europe/Berlin",
                                    tz);
        check_users(rep, config);
        check_files(rep, config);
        check_packages(rep, config);
        system_validate_commands(config, rep, "bootcmd");
        system_validate_keys(config, rep);
        system_validate_cm(config, rep);
        system_validate_apt(config, rep);
        system_validate_ansible(config, rep);
}
