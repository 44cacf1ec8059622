/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chase.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "pkg.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* salt_minion as cloud-init 22.4's cc_salt_minion does it on Linux, once
 * per instance (its final stage, after puppet): the package pkg_name
 * (default salt-minion) installed (apt-get update first, as cloud-init's
 * distro does); config_dir (default /etc/salt) made; conf written to
 * <config_dir>/minion and grains to <config_dir>/grains as cloud-init's
 * safeyaml.dumps() writes YAML (0644); with both public_key and
 * private_key, pki_dir (default <config_dir>/pki/minion when that is a
 * directory, else <config_dir>/pki; made 0700) gets minion.pub (0644) and
 * minion.pem (0600: cloud-init leaves the private key 0644, kiln does not);
 * then `service <service_name> restart` (default salt-minion). A failed
 * step stops the rest and degrades the boot: a package that cannot be
 * installed (Debian 12 has no salt-minion: Salt's own repository is
 * needed) leaves nothing written, as in cloud-init. */

#define MARKER "salt_minion"

static int opt_str(const json_t *cfg, const char *key, const char *def, char **ret) {
        const json_t *v = json_object_get(cfg, key);
        *ret = v ? system_py_str(v) : strdup(def);
        return *ret ? 0 : v && (json_is_array(v) || json_is_object(v)) ? -EINVAL : -ENOMEM;
}

static int write_yaml(struct kiln_context *ctx, const char *dir, const char *name, const json_t *v) {
        _cleanup_free_ char *yaml = NULL, *path = NULL;
        int r = system_yaml_dump(v, true, &yaml);

        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return kiln_degrade(ctx, "salt_minion: %s cannot be written as YAML: %s", name, strerror(-r));
        if (root_path(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        r = chase_write_file(path, CHASE_MKDIR, yaml, strlen(yaml),
                             &(struct write_options){.mode = 0644, .uid = 0, .gid = 0});
        if (r < 0)
                return kiln_degrade(ctx, "salt_minion: writing %s/%s: %s", dir, name, strerror(-r));
        log_info("salt_minion: wrote %s/%s.", dir, name);
        return 0;
}

/* util.ensure_dir() under umask 077: what is made is 0700. */
static int make_private_dir(const char *dir, int *ret_fd) {
        _cleanup_free_ char *path = NULL;
        _cleanup_strv_free_ char **made = NULL;
        struct stat st;
        int r;

        if (root_path(&path, "%s", dir) < 0)
                return -ENOMEM;
        /* the components that are not there yet, deepest last */
        for (char *p = path + strlen(root_get()); p && *p;) {
                char *slash = strchr(p + 1, '/');
                _cleanup_free_ char *prefix = slash ? strndup(path, (size_t) (slash - path)) : strdup(path);
                if (!prefix)
                        return -ENOMEM;
                if (lstat(prefix, &st) < 0 && errno == ENOENT && strv_push(&made, prefix) < 0)
                        return -ENOMEM;
                p = slash;
        }
        r = chase_dir(path, CHASE_MKDIR, ret_fd);
        if (r < 0)
                return r;
        for (size_t i = 0; made && made[i]; i++) {
                _cleanup_close_ int fd = -1;
                r = chase_dir(made[i], 0, &fd);
                if (r < 0)
                        return r;
                if (fchmod(fd, 0700) < 0)
                        return -errno;
        }
        return 0;
}

static int write_keys(struct kiln_context *ctx, const json_t *s, const char *conf_dir) {
        const json_t *pub = json_object_get(s, "public_key"), *pem = json_object_get(s, "private_key"),
                     *pki = json_object_get(s, "pki_dir");
        _cleanup_free_ char *def = NULL, *rooted = NULL;
        _cleanup_close_ int fd = -1;
        const char *dir;
        struct stat st;
        int r;

        if (!json_is_string(pub) || !json_is_string(pem))
                return kiln_degrade(ctx, "salt_minion: public_key and private_key must be strings");
        if (pki && (!json_is_string(pki) || json_string_value(pki)[0] != '/'))
                return kiln_degrade(ctx, "salt_minion: pki_dir must be an absolute path");
        if (root_path(&rooted, "%s/pki/minion", conf_dir) < 0)
                return -ENOMEM;
        def = strdup_printf(stat(rooted, &st) == 0 && S_ISDIR(st.st_mode) ? "%s/pki/minion" : "%s/pki", conf_dir);
        if (!def)
                return -ENOMEM;
        dir = pki ? json_string_value(pki) : def;
        r = make_private_dir(dir, &fd);
        if (r >= 0)
                r = write_file_at(fd, "minion.pub", json_string_value(pub), strlen(json_string_value(pub)),
                                  &(struct write_options){.mode = 0644, .uid = 0, .gid = 0});
        if (r >= 0)
                r = write_file_at(fd, "minion.pem", json_string_value(pem), strlen(json_string_value(pem)),
                                  &(struct write_options){.mode = 0600, .uid = 0, .gid = 0});
        if (r < 0)
                return kiln_degrade(ctx, "salt_minion: writing the key pair to %s: %s", dir, strerror(-r));
        log_info("salt_minion: wrote %s/minion.pub and minion.pem.", dir);
        return 0;
}

static int salt(struct kiln_context *ctx, const json_t *s) {
        _cleanup_free_ char *pkg = NULL, *conf_dir = NULL, *srv = NULL, *rooted = NULL;
        _cleanup_close_ int fd = -1;
        char *names[2] = {NULL, NULL};
        int r;

        if (opt_str(s, "pkg_name", "salt-minion", &pkg) < 0 || opt_str(s, "config_dir", "/etc/salt", &conf_dir) < 0 ||
            opt_str(s, "service_name", "salt-minion", &srv) < 0)
                return kiln_degrade(ctx, "salt_minion: pkg_name, config_dir and service_name must be strings");
        if (conf_dir[0] != '/')
                return kiln_degrade(ctx, "salt_minion: config_dir must be an absolute path");
        names[0] = pkg;
        log_info("salt_minion: installing %s.", pkg);
        r = pkg_update();
        if (r >= 0)
                r = pkg_install(names);
        kiln_record(ctx, json_pack("{s:s, s:s, s:s, s:s?}", "name", "salt_minion install", "package", pkg, "result",
                                   r < 0 ? "failed" : "ok", "error", r < 0 ? strerror(-r) : NULL));
        if (r == -EROFS)
                return kiln_degrade(ctx, "salt_minion: not installing %s under --root (KILN_PKG_COMMAND is for tests)",
                                    pkg);
        if (r < 0)
                return kiln_degrade(ctx,
                                    "salt_minion: installing the package %s failed: %s; nothing configured, as "
                                    "cloud-init (is it in the configured repositories? Debian 12 has no salt-minion: "
                                    "add Salt's repository with apt.sources)",
                                    pkg, strerror(-r));
        if (root_path(&rooted, "%s", conf_dir) < 0)
                return -ENOMEM;
        r = chase_dir(rooted, CHASE_MKDIR, &fd);
        if (r < 0)
                return kiln_degrade(ctx, "salt_minion: making %s: %s", conf_dir, strerror(-r));
        if (json_object_get(s, "conf") && (r = write_yaml(ctx, conf_dir, "minion", json_object_get(s, "conf"))) != 0)
                return r;
        if (json_object_get(s, "grains") &&
            (r = write_yaml(ctx, conf_dir, "grains", json_object_get(s, "grains"))) != 0)
                return r;
        if (json_object_get(s, "public_key") && json_object_get(s, "private_key") &&
            (r = write_keys(ctx, s, conf_dir)) != 0)
                return r;
        return system_run_recorded(ctx, "salt_minion", (const char *const[]){"service", srv, "restart", NULL}, NULL);
}

int system_apply_salt_minion(struct kiln_context *ctx, const json_t *config) {
        const json_t *s = json_object_get(config, "salt_minion");

        return s ? system_apply_once(ctx, MARKER, s, true, salt) : 0;
}
