/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chase.h"
#include "config.h"
#include "fileio.h"
#include "instance/instance.h"
#include "path.h"
#include "pkg.h"
#include "proc.h"
#include "strbuf.h"
#include "system/system.h"

#define SSH_DIR "/etc/ssh"
#define KEYGEN_TIMEOUT_MS (120 * 1000L)
#define KEY_MAX (64 * 1024)

static const char *const default_types[] = {"rsa", "ecdsa", "ed25519", NULL};

/* Takes msg (NULL: out of memory). */
static int push_error(char ***errors, char *msg) {
        int r = msg ? strv_push(errors, msg) : -ENOMEM;

        free(msg);
        return r;
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Every name in dirfd matching pattern, sorted as glob(3) sorts them. */
static int list_matching(int dirfd, const char *pattern, char ***ret) {
        _cleanup_strv_free_ char **names = NULL;
        int fd, r = 0;
        DIR *d;

        fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -ENOMEM;
        }
        for (struct dirent *de; (de = readdir(d));)
                if (fnmatch(pattern, de->d_name, FNM_PERIOD) == 0 && (r = strv_push(&names, de->d_name)) < 0)
                        break;
        closedir(d);
        if (r < 0)
                return r;
        if (names)
                qsort(names, strv_length(names), sizeof(char *), name_cmp);
        *ret = TAKE_PTR(names);
        return 0;
}

/* "rsa", "ecdsa-sk": what ssh-keygen -t takes; nothing that makes a path. */
static bool type_ok(const char *t) {
        if (!t || !*t || strlen(t) > 32)
                return false;
        for (const char *p = t; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
                        return false;
        return true;
}

static int delete_keys(int dirfd, char ***errors) {
        _cleanup_strv_free_ char **names = NULL;
        int r = list_matching(dirfd, "ssh_host_*key*", &names);

        if (r < 0)
                return r;
        for (char **n = names; n && *n; n++)
                if (unlinkat(dirfd, *n, 0) < 0 && errno != ENOENT)
                        (void) push_error(errors,
                                          strdup_printf("Failed to delete " SSH_DIR "/%s: %s", *n, strerror(errno)));
        return 0;
}

/* Group ssh_keys (Fedora, RHEL): private keys 0640 root:ssh_keys, as sshd-keygen makes them. */
static gid_t ssh_keys_gid(void) {
        _cleanup_free_ char *s = NULL;
        int v;

        if (system_colon_field("/etc/group", "ssh_keys", 2, &s) < 0 || safe_atoi(s, &v) < 0 || v < 0)
                return (gid_t) -1;
        return (gid_t) v;
}

static int install_key(int dirfd, const char *tmpdir, const char *name, mode_t mode, gid_t gid) {
        _cleanup_free_ char *src = strdup_printf("%s/%s", tmpdir, name);
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r;

        if (!src)
                return -ENOMEM;
        r = read_file(src, KEY_MAX, &data, &len);
        if (r < 0)
                return r;
        r = write_file_at(dirfd, name, data, len, &(struct write_options){.mode = mode, .uid = (uid_t) -1, .gid = gid});
        explicit_bzero(data, len);
        return r;
}

/* What ssh-keygen printed, as cloud-init shows it (its stdout on the
 * console), with the private directory's paths as the keys' own. */
static int show_output(struct strbuf *b, const char *output, const char *tmpdir) {
        size_t n = strlen(tmpdir);

        for (const char *p = output, *q; *p; p = q + n) {
                q = strstr(p, tmpdir);
                if (!q)
                        return strbuf_puts(b, p);
                if (strbuf_append(b, p, (size_t) (q - p)) < 0 || strbuf_puts(b, SSH_DIR) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* ssh-keygen into a private directory, then both files into /etc/ssh by fd. */
static int generate_one(int dirfd, const char *keygen, const char *tmpdir, const char *type, struct strbuf *shown,
                        char ***errors) {
        _cleanup_free_ char *priv = strdup_printf("ssh_host_%s_key", type);
        _cleanup_free_ char *pub = strdup_printf("ssh_host_%s_key.pub", type);
        _cleanup_free_ char *out = strdup_printf("%s/%s", tmpdir, priv ? priv : "");
        char *argv[] = {(char *) keygen, (char *) "-q", (char *) "-t", (char *) type, (char *) "-N",
                        (char *) "",     (char *) "-f", out,           NULL};

        char *envp[] = {(char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", (char *) "LANG=C",
                        NULL};
        struct proc_options o = {.argv = argv, .envp = envp, .log_name = "ssh-keygen", .timeout_ms = KEYGEN_TIMEOUT_MS};
        struct proc_result res = {0};
        gid_t gid = ssh_keys_gid();
        struct stat st;
        int r;

        if (!priv || !pub || !out)
                return -ENOMEM;
        if (shown) /* ssh_quiet_keygen false: without -q, ssh-keygen tells what it made */
                memmove(argv + 1, argv + 2, (ELEMENTSOF(argv) - 2) * sizeof(char *));
        if (fstatat(dirfd, priv, &st, AT_SYMLINK_NOFOLLOW) == 0)
                return 0; /* kept (ssh_deletekeys: false): cloud-init leaves it too */
        r = proc_run(&o, &res);
        if (r >= 0 && (res.exit_code != 0 || res.timed_out)) {
                /* cloud-init skips types this ssh-keygen does not know (dsa on OpenSSH 9.8+). */
                bool unknown = res.exit_code == 1 && res.output && strstr(res.output, "nknown key type");
                int code = res.exit_code;
                proc_result_done(&res);
                if (unknown)
                        return 0;
                return push_error(errors, strdup_printf("ssh-keygen -t %s failed (exit status %d)", type, code)) < 0
                               ? -ENOMEM
                               : 0;
        }
        if (r >= 0 && shown && res.output && show_output(shown, res.output, tmpdir) < 0)
                r = -ENOMEM;
        proc_result_done(&res);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return push_error(errors, strdup_printf("Failed to run ssh-keygen -t %s: %s", type, strerror(-(r)))) < 0
                               ? -ENOMEM
                               : 0;
        r = install_key(dirfd, tmpdir, priv, gid == (gid_t) -1 ? 0600 : 0640, gid);
        if (r >= 0)
                r = install_key(dirfd, tmpdir, pub, 0644, (gid_t) -1);
        if (r < 0)
                return push_error(errors, strdup_printf("Failed to write " SSH_DIR "/%s: %s", priv, strerror(-(r)))) < 0
                               ? -ENOMEM
                               : 0;
        return 1;
}

static int genkeytypes(const json_t *config, char ***ret) {
        const json_t *list = config_get(config, "ssh_genkeytypes");
        _cleanup_strv_free_ char **types = NULL;
        const json_t *v;
        size_t i;
        int r;

        if (!json_is_array(list)) {
                for (size_t k = 0; default_types[k]; k++)
                        if ((r = strv_push(&types, default_types[k])) < 0)
                                return r;
                *ret = TAKE_PTR(types);
                return 0;
        }
        json_array_foreach(list, i, v)
                if (json_is_string(v) && (r = strv_push(&types, json_string_value(v))) < 0)
                        return r;
        *ret = TAKE_PTR(types);
        return 0;
}

/* ssh_keys: host keys given in the config (cloud-init's cc_ssh), written
 * instead of generated: {rsa,dsa,ecdsa,ed25519}_{private,public,certificate}. */
static const char *const given_types[] = {"rsa", "dsa", "ecdsa", "ed25519", NULL};
static const char *const given_kinds[] = {"private", "public", "certificate", NULL};
static const char *const given_suffixes[] = {"", ".pub", "-cert.pub"};

/* "ed25519_private" -> type "ed25519", kind 0; -ENOENT when not one. */
static int given_name(const char *key, const char **ret_type, size_t *ret_kind) {
        for (size_t t = 0; given_types[t]; t++) {
                size_t n = strlen(given_types[t]);
                if (!strneq(key, given_types[t], n) || key[n] != '_')
                        continue;
                for (size_t k = 0; given_kinds[k]; k++)
                        if (streq(key + n + 1, given_kinds[k])) {
                                *ret_type = given_types[t];
                                *ret_kind = k;
                                return 0;
                        }
        }
        return -ENOENT;
}

/* sshd_config's option set as cloud-init's update_ssh_config() sets it: in
 * sshd_config.d/50-cloud-init.conf when sshd_config includes that
 * directory, else in sshd_config; a line of that keyword replaced, else
 * one appended. */
static int sshd_config_set(const char *keyword, const char *value) {
        _cleanup_free_ char *main_cf = NULL, *cf = NULL, *old = NULL, *include = NULL;
        _cleanup_strbuf_ struct strbuf b = {};
        const char *p, *nl;
        bool found = false;
        mode_t mode = 0600;
        struct stat st;
        int r;

        r = root_path(&main_cf, SSH_DIR "/sshd_config");
        if (r < 0)
                return r;
        r = chase_read_file(main_cf, KEY_MAX, &old, NULL);
        if (r < 0 && r != -ENOENT)
                return r;
        include = strdup_printf("Include " SSH_DIR "/sshd_config.d/*.conf");
        if (!include)
                return -ENOMEM;
        for (p = old; p && *p; p = nl ? nl + 1 : p + strlen(p)) {
                nl = strchr(p, '\n');
                if (strneq(p, include, strlen(include)))
                        break;
        }
        if (p && *p) {
                free(old);
                old = NULL;
                r = root_path(&cf, SSH_DIR "/sshd_config.d/50-cloud-init.conf");
                if (r >= 0)
                        r = chase_read_file(cf, KEY_MAX, &old, NULL);
                if (r < 0 && r != -ENOENT)
                        return r;
        } else
                cf = TAKE_PTR(main_cf);
        if (stat(cf, &st) == 0)
                mode = st.st_mode & 07777;
        r = 0;
        for (p = old ? old : ""; *p && r >= 0; p = nl ? nl + 1 : p + strlen(p)) {
                size_t n, s, k;
                nl = strchr(p, '\n');
                n = nl ? (size_t) (nl - p) : strlen(p);
                s = strspn(p, " \t");
                k = s < n ? strcspn(p + s, " \t=\n") : 0;
                if (s + k > n)
                        k = n - s;
                if (k == strlen(keyword) && strncasecmp(p + s, keyword, k) == 0) {
                        found = true;
                        r = strbuf_printf(&b, "%.*s %s\n", (int) k, p + s, value);
                        continue;
                }
                r = strbuf_append(&b, p, n);
                if (r >= 0)
                        r = strbuf_puts(&b, "\n");
        }
        if (r >= 0 && !found)
                r = strbuf_printf(&b, "%s %s\n", keyword, value);
        if (r < 0)
                return r;
        if (old && streq(old, b.data))
                return 0;
        return write_file_atomic(cf, b.data, b.len, mode);
}

/* The public key of a private key given without one, as cloud-init makes
 * it: `ssh-keygen -yf PRIVATE` and " root@localhost". */
static int derive_public(int dirfd, const char *keygen, const char *type, char ***errors) {
        _cleanup_free_ char *dir = NULL, *priv = NULL, *pub = NULL, *line = NULL;
        char *envp[] = {(char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", (char *) "LANG=C",
                        NULL};
        struct proc_result res = {0};
        int r;

        r = root_path(&dir, SSH_DIR);
        if (r < 0)
                return r;
        priv = strdup_printf("%s/ssh_host_%s_key", dir, type);
        pub = strdup_printf("ssh_host_%s_key.pub", type);
        if (!priv || !pub)
                return -ENOMEM;
        char *argv[] = {(char *) keygen, (char *) "-y", (char *) "-f", priv, NULL};
        struct proc_options o = {.argv = argv, .envp = envp, .quiet = true, .timeout_ms = KEYGEN_TIMEOUT_MS};
        r = proc_run(&o, &res);
        if (r >= 0 && res.exit_code == 0) {
                res.output[strcspn(res.output, "\n")] = 0;
                line = strdup_printf("%s root@localhost\n", res.output);
                r = line ? write_file_at(dirfd, pub, line, strlen(line),
                                         &(struct write_options){.mode = 0644, .uid = (uid_t) -1, .gid = (gid_t) -1})
                         : -ENOMEM;
        } else if (r >= 0)
                r = -EIO;
        proc_result_done(&res);
        if (r < 0)
                return push_error(errors, strdup_printf("ssh_keys: Failed to make %s from %s_private: %s", pub, type,
                                                        strerror(-r)));
        return 0;
}

static int write_given(int dirfd, const json_t *given, const char *keygen, char ***errors, char ***warnings) {
        bool has[ELEMENTSOF(given_types)][3] = {};
        const char *key, *type;
        json_t *v;
        size_t kind, t;
        int r;

        json_object_foreach((json_t *) given, key, v) {
                _cleanup_free_ char *name = NULL, *cert = NULL;
                if (given_name(key, &type, &kind) < 0 || !json_is_string(v)) {
                        r = push_error(warnings, strdup_printf("ssh_keys: unrecognized entry '%s', skipping", key));
                        if (r < 0)
                                return r;
                        continue;
                }
                name = strdup_printf("ssh_host_%s_key%s", type, given_suffixes[kind]);
                if (!name)
                        return -ENOMEM;
                /* cloud-init writes all three 0600. */
                r = write_file_at(dirfd, name, json_string_value(v), json_string_length(v),
                                  &(struct write_options){.mode = 0600, .uid = (uid_t) -1, .gid = (gid_t) -1});
                if (r < 0) {
                        r = push_error(errors, strdup_printf("ssh_keys: Failed to write " SSH_DIR "/%s: %s", name,
                                                             strerror(-r)));
                        if (r < 0)
                                return r;
                        continue;
                }
                for (t = 0; !streq(given_types[t], type); t++)
                        ;
                has[t][kind] = true;
                if (kind == 2) {
                        cert = strdup_printf(SSH_DIR "/%s", name);
                        r = cert ? sshd_config_set("HostCertificate", cert) : -ENOMEM;
                        if (r < 0 && push_error(errors, strdup_printf("ssh_keys: Failed to set HostCertificate: %s",
                                                                      strerror(-r))) < 0)
                                return -ENOMEM;
                }
        }
        for (t = 0; given_types[t]; t++)
                if (has[t][0] && !has[t][1] && derive_public(dirfd, keygen, given_types[t], errors) < 0)
                        return -ENOMEM;
        return 0;
}

int hostkeys_regenerate(const json_t *config, char ***ret_errors, char ***ret_warnings, char **ret_shown) {
        _cleanup_strv_free_ char **types = NULL, **errors = NULL;
        _cleanup_strbuf_ struct strbuf shown = STRBUF_INIT;
        bool quiet = config_bool(config, "ssh_quiet_keygen", false);
        _cleanup_free_ char *dir = NULL, *tmpdir = NULL, *keygen = NULL;
        _cleanup_close_ int dirfd = -1;
        int r, made = 0;

        if (ret_shown)
                *ret_shown = NULL;
        if (!pkg_have_program("ssh-keygen", &keygen))
                return -ENOENT;
        r = genkeytypes(config, &types);
        if (r >= 0)
                r = root_path(&dir, SSH_DIR);
        if (r >= 0)
                r = chase_dir(dir, CHASE_MKDIR, &dirfd);
        if (r < 0)
                return r;
        if (config_bool(config, "ssh_deletekeys", true)) {
                r = delete_keys(dirfd, &errors);
                if (r < 0)
                        return r;
        }
        if (json_is_object(config_get(config, "ssh_keys"))) {
                r = write_given(dirfd, config_get(config, "ssh_keys"), keygen, &errors, ret_warnings);
                if (r < 0)
                        return r;
                *ret_errors = TAKE_PTR(errors);
                return 0;
        }
        r = root_path(&tmpdir, KILN_RUN_DIR "/ssh-keygen.XXXXXX");
        if (r >= 0)
                r = mkdir_parents(tmpdir, 0755);
        if (r < 0)
                return r;
        if (!mkdtemp(tmpdir))
                return -errno;
        for (char **t = types; t && *t; t++) {
                if (!type_ok(*t)) {
                        (void) push_error(ret_warnings,
                                          strdup_printf("ssh_genkeytypes: invalid key type '%s', ignoring", *t));
                        continue;
                }
                r = generate_one(dirfd, keygen, tmpdir, *t, quiet ? NULL : &shown, &errors);
                if (r < 0)
                        break;
                made += r;
        }
        (void) rm_rf(tmpdir);
        if (r < 0)
                return r;
        *ret_errors = TAKE_PTR(errors);
        if (ret_shown)
                *ret_shown = shown.len > 0 ? strbuf_steal(&shown) : NULL;
        return made;
}

/* As util-linux's logger -s prints a message (RFC 3164, user.info, tag
 * cloud-init): write-ssh-key-fingerprints sends the fingerprint lines
 * through it, and tools parse this exact form of the console. */
static int logger_line(struct strbuf *b, const char *msg) {
        char stamp[32] = "";
        time_t now = time(NULL);
        struct tm tm;

        if (localtime_r(&now, &tm))
                strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
        return strbuf_printf(b, "<14>%s cloud-init: %s\n", stamp, msg);
}

static int fingerprint(const char *keygen, const char *path, char **ret) {
        char *argv[] = {(char *) keygen, (char *) "-l", (char *) "-f", (char *) path, NULL};
        char *envp[] = {(char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", (char *) "LANG=C",
                        NULL};
        struct proc_options o = {.argv = argv, .envp = envp, .quiet = true, .timeout_ms = KEYGEN_TIMEOUT_MS};
        struct proc_result res = {0};
        int r = proc_run(&o, &res);
        size_t n;

        if (r >= 0 && res.exit_code != 0)
                r = -EIO;
        if (r >= 0) {
                n = strcspn(res.output, "\n");
                *ret = strndup(res.output, n);
                r = *ret ? 0 : -ENOMEM;
        }
        proc_result_done(&res);
        return r;
}

/* Whether the config's list at path (def when absent) names type. */
static bool listed(const json_t *config, const char *path, const char *def, const char *type) {
        const json_t *l = config_get(config, path), *v;
        size_t i;

        if (!json_is_array(l))
                return def && streq(def, type);
        json_array_foreach(l, i, v)
                if (json_is_string(v) && streq(json_string_value(v), type))
                        return true;
        return false;
}

int hostkeys_console_text(const json_t *config, char **ret) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *dir = NULL, *keygen = NULL;
        _cleanup_close_ int dirfd = -1;
        _cleanup_strbuf_ struct strbuf fp = {}, keys = {};
        int r;

        (void) pkg_have_program("ssh-keygen", &keygen);

        r = root_path(&dir, SSH_DIR);
        if (r >= 0)
                r = chase_dir(dir, 0, &dirfd);
        if (r == -ENOENT)
                return (*ret = strdup("")) ? 0 : -ENOMEM;
        if (r >= 0)
                r = list_matching(dirfd, "ssh_host_*key.pub", &names);
        if (r < 0)
                return r;
        for (char **n = names; n && *n; n++) {
                _cleanup_free_ char *data = NULL, *path = NULL, *line = NULL;
                size_t len = 0;
                _cleanup_free_ char *ktype = NULL;
                if (read_file_at(dirfd, *n, KEY_MAX, &data, &len) < 0 || len == 0)
                        continue;
                /* The key's type as write-ssh-key-fingerprints reads it (`read -r ktype line`). */
                ktype = strndup(data + strspn(data, " \t"), strcspn(data + strspn(data, " \t"), " \t\n"));
                if (!ktype)
                        return -ENOMEM;
                path = strdup_printf("%s/%s", dir, *n);
                if (!path)
                        return -ENOMEM;
                if (keygen && !listed(config, "ssh_fp_console_blacklist", NULL, ktype) &&
                    fingerprint(keygen, path, &line) >= 0) {
                        if (fp.len == 0) {
                                logger_line(&fp, "#############################################################");
                                logger_line(&fp, "-----BEGIN SSH HOST KEY FINGERPRINTS-----");
                        }
                        logger_line(&fp, line);
                }
                if (listed(config, "ssh_key_console_blacklist", "ssh-dss", ktype))
                        continue;
                if (keys.len == 0)
                        strbuf_puts(&keys, "-----BEGIN SSH HOST KEY KEYS-----\n");
                strbuf_puts(&keys, data);
                if (data[len - 1] != '\n')
                        strbuf_puts(&keys, "\n");
        }
        if (fp.len > 0) {
                logger_line(&fp, "-----END SSH HOST KEY FINGERPRINTS-----");
                logger_line(&fp, "#############################################################");
        }
        if (keys.len > 0)
                strbuf_puts(&keys, "-----END SSH HOST KEY KEYS-----\n");
        if (strbuf_puts(&fp, keys.data ? keys.data : "") < 0)
                return -ENOMEM;
        *ret = strbuf_steal(&fp);
        return 0;
}
