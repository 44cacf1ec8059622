/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "pkg.h"
#include "proc.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* ssh_keys: host keys given in user-data, written as cloud-init's cc_ssh
 * writes them: <type>_private to /etc/ssh/ssh_host_<type>_key (0600),
 * <type>_public to ....pub (0644), <type>_certificate to ...-cert.pub
 * (0644, and a "HostCertificate <file>" line appended to sshd_config, or
 * to sshd_config.d/50-cloud-init.conf when sshd_config includes
 * sshd_config.d/ *.conf), for rsa, ecdsa and ed25519; a private key without
 * its public one gets it from `ssh-keygen -yf` ("<key> root@localhost").
 * Other names (ecdsa-sk_*, ...) are skipped with a warning, as there.
 *
 * The interface with host key generation (ssh_deletekeys/ssh_genkeytypes,
 * done elsewhere): as in cloud-init, the old keys are deleted first, and
 * when ssh_keys is given NO key is generated at all (not even the types it
 * lacks): system_ssh_keys_supplied() says so. */

static const char *const types[] = {"rsa", "ecdsa", "ed25519"};

bool system_ssh_keys_supplied(const json_t *config) {
        return json_object_get(config, "ssh_keys") != NULL;
}

static int append_host_certificates(const char *lines) {
        _cleanup_free_ char *cfg = NULL, *dir = NULL, *text = NULL, *target = NULL, *old = NULL, *both = NULL;
        struct stat st;
        size_t len = 0;
        bool dconf = false;
        int r;

        if (root_path(&cfg, "/etc/ssh/sshd_config") < 0 || root_path(&dir, "/etc/ssh/sshd_config.d") < 0)
                return -ENOMEM;
        if (stat(cfg, &st) < 0 && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
                dconf = true;
        else if (read_file(cfg, 1u << 20, &text, &len) >= 0)
                for (char *l = text; l && *l;) {
                        char *nl = strchr(l, '\n');
                        if (strneq(l, "Include /etc/ssh/sshd_config.d/*.conf", 37))
                                dconf = true;
                        l = nl ? nl + 1 : NULL;
                }
        if (dconf) {
                r = mkdir_p(dir, 0755);
                if (r < 0)
                        return r;
                target = strdup_printf("%s/50-cloud-init.conf", dir);
        } else
                target = strdup(cfg);
        if (!target)
                return -ENOMEM;
        r = read_file(target, 1u << 20, &old, &len);
        if (r < 0 && r != -ENOENT)
                return r;
        both = strdup_printf("%.*s%s", (int) (r < 0 ? 0 : len), old ? old : "", lines);
        if (!both)
                return -ENOMEM;
        /* a new 50-cloud-init.conf is root's only, as cloud-init makes it */
        return write_file_atomic(target, both, strlen(both), r < 0 && dconf ? 0600 : (r < 0 ? 0644 : 0644));
}

/* ssh-keygen -yf on the private key: the public key. */
static int derive_public(const char *private_path, char **ret) {
        _cleanup_free_ char *tool = NULL, *line = NULL;
        struct proc_result res;
        char *nl;
        int r;

        if (!pkg_have_program("ssh-keygen", &tool))
                return -ENOENT;
        r = proc_run(&(struct proc_options){.argv = (char *const[]){tool, (char *) "-yf", (char *) private_path, NULL},
                                            .log_name = "ssh-keygen",
                                            .quiet = true,
                                            .timeout_ms = 60000},
                     &res);
        if (r < 0)
                return r;
        if (res.exit_code != 0) {
                proc_result_done(&res);
                return -EIO;
        }
        nl = strchr(res.output, '\n');
        if (nl)
                *nl = 0;
        *ret = strdup_printf("%s root@localhost\n", res.output);
        proc_result_done(&res);
        return *ret ? 0 : -ENOMEM;
}

int system_apply_ssh_keys(struct kiln_context *ctx, const json_t *config) {
        const json_t *keys = json_object_get(config, "ssh_keys"), *v;
        _cleanup_strbuf_ struct strbuf certs = STRBUF_INIT;
        const char *name;
        int result = 0, r;

        if (!keys)
                return 0;
        if (!json_is_object(keys))
                return kiln_degrade(ctx, "ssh_keys: not a mapping (cloud-init fails on it too)");
        r = state_should_run(ctx, FREQ_INSTANCE, "ssh_keys");
        if (r < 0)
                return kiln_fail(ctx, r, "Not doing ssh_keys: %s", strerror(-r));
        if (r == 0)
                return 0;
        json_object_foreach((json_t *) keys, name, v) {
                _cleanup_free_ char *path = NULL, *rooted = NULL;
                const char *kind = NULL, *suffix = NULL;
                mode_t mode = 0644;
                for (size_t i = 0; i < ELEMENTSOF(types) && !kind; i++) {
                        size_t n = strlen(types[i]);
                        if (!strneq(name, types[i], n) || name[n] != '_')
                                continue;
                        if (streq(name + n + 1, "private"))
                                suffix = "", mode = 0600;
                        else if (streq(name + n + 1, "public"))
                                suffix = ".pub";
                        else if (streq(name + n + 1, "certificate"))
                                suffix = "-cert.pub";
                        if (suffix)
                                kind = types[i];
                }
                if (!kind) {
                        log_warning("ssh_keys: skipping unrecognized entry \"%s\" (as cloud-init does).", name);
                        kiln_record(ctx,
                                    json_pack("{s:s, s:s, s:s}", "name", "ssh_keys", "result", "skipped", "key", name));
                        continue;
                }
                if (!json_is_string(v)) {
                        result = kiln_degrade(ctx, "ssh_keys: %s is not a string", name);
                        continue;
                }
                path = strdup_printf("/etc/ssh/ssh_host_%s_key%s", kind, suffix);
                if (!path || root_path(&rooted, "%s", path) < 0)
                        return -ENOMEM;
                r = mkdir_parents(rooted, 0755);
                if (r >= 0)
                        r = write_file_atomic(rooted, json_string_value(v), strlen(json_string_value(v)), mode);
                if (r < 0) {
                        result = kiln_degrade(ctx, "ssh_keys: writing %s: %s", path, strerror(-r));
                        continue;
                }
                log_info("ssh_keys: wrote %s.", path);
                if (streq(suffix, "-cert.pub") && strbuf_printf(&certs, "HostCertificate %s\n", path) < 0)
                        return -ENOMEM;
        }
        if (certs.len > 0) {
                r = append_host_certificates(certs.data);
                if (r < 0)
                        result = kiln_degrade(ctx, "ssh_keys: adding HostCertificate to sshd_config: %s", strerror(-r));
        }
        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                _cleanup_free_ char *priv = strdup_printf("%s_private", types[i]),
                                    *pub = strdup_printf("%s_public", types[i]);
                _cleanup_free_ char *priv_path = NULL, *pub_path = NULL, *text = NULL;
                if (!priv || !pub)
                        return -ENOMEM;
                if (json_object_get(keys, pub) || !json_is_string(json_object_get(keys, priv)))
                        continue;
                if (root_path(&priv_path, "/etc/ssh/ssh_host_%s_key", types[i]) < 0 ||
                    root_path(&pub_path, "/etc/ssh/ssh_host_%s_key.pub", types[i]) < 0)
                        return -ENOMEM;
                r = derive_public(priv_path, &text);
                if (r >= 0)
                        r = write_file_atomic(pub_path, text, strlen(text), 0644);
                if (r < 0)
                        result = kiln_degrade(ctx, "ssh_keys: the public key of ssh_host_%s_key: %s", types[i],
                                              strerror(-r));
        }
        kiln_record(ctx, json_pack("{s:s, s:s}", "name", "ssh_keys", "result", result ? "failed" : "ok"));
        if (result != 0)
                return result;
        r = state_mark_done(ctx, FREQ_INSTANCE, "ssh_keys");
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that ssh_keys ran: %s", strerror(-r)) : 0;
}
