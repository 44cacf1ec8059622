/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "chase.h"
#include "fileio.h"
#include "gzip.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* 1 when the per-instance work `marker` is due, 0 when done, <0 failed. */
static int misc_due(struct kiln_context *ctx, const char *marker) {
        int r = state_should_run(ctx, FREQ_INSTANCE, marker);

        if (r < 0)
                return kiln_fail(ctx, r, "Not doing %s: %s", marker, strerror(-r));
        if (r == 0)
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", marker, "result", "skipped", "frequency",
                                           "per-instance"));
        return r;
}

static int misc_done(struct kiln_context *ctx, const char *marker) {
        int r = state_mark_done(ctx, FREQ_INSTANCE, marker);
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that %s ran: %s", marker, strerror(-r)) : 0;
}

/* An argv from a list of strings (NULL-terminated, borrowed); -EINVAL when
 * it is not one. */
static int misc_argv(const json_t *list, const char ***ret) {
        size_t n = json_array_size(list), i;
        const char **argv;
        json_t *v;

        if (!json_is_array(list) || n == 0)
                return -EINVAL;
        argv = calloc(n + 1, sizeof(*argv));
        if (!argv)
                return -ENOMEM;
        json_array_foreach((json_t *) list, i, v) {
                if (!json_is_string(v)) {
                        free(argv);
                        return -EINVAL;
                }
                argv[i] = json_string_value(v);
        }
        *ret = argv;
        return 0;
}

/* Writes (replacing) or appends data to path under the root, making its
 * directories, mode 0644 when made, as cloud-init's util.write_file():
 * through the fd-walking writer (agent/chase.h), so no link a user planted
 * is followed. A character device (random_seed's /dev/urandom) is opened in
 * its directory without following links and written as it is. */
static int misc_write(const char *path, const void *data, size_t len, bool append) {
        struct write_options o = {.mode = 0644, .uid = (uid_t) -1, .gid = (gid_t) -1, .append = append};
        _cleanup_free_ char *p = NULL, *name = NULL;
        _cleanup_close_ int dirfd = -1, fd = -1;
        struct stat st;
        int r;

        if (root_path(&p, "%s", path) < 0)
                return -ENOMEM;
        r = chase_parent(p, CHASE_MKDIR, &dirfd, &name);
        if (r < 0)
                return r;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISCHR(st.st_mode))
                return write_file_at(dirfd, name, data, len, &o);
        fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode))
                return -EBADFD;
        return write_full(fd, data, len);
}

/* ---- rsyslog (cc_rsyslog) ---- */

/* One `remotes` value as cloud-init's parse_remotes_line() and
 * SyslogRemotesLine.__str__() make it: "[match ]proto-addr[:port]
 * [# comment]" -> "MATCH @ADDR[:PORT] # NAME" (@@ for tcp, [ADDR] when it
 * has a colon). -EINVAL when cloud-init refuses it (it then warns and
 * leaves the line out). */
int system_rsyslog_remote(const char *name, const char *line, char **ret) {
        _cleanup_free_ char *copy = strdup(line), *hp_copy = NULL;
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        char *data, *comment = NULL, *hash, *toks[2] = {}, *hp, *addr, *port = NULL, *p;
        const char *match = "*.*", *ws = " \t\n\r\f\v";
        size_t ntok = 0, nproto = 0;
        unsigned long long portnum = 0;

        if (!copy)
                return -ENOMEM;
        data = copy;
        /* COMMENT_RE.split(): exactly one " *#+ *" parts data and comment */
        hash = strchr(data, '#');
        if (hash) {
                char *start = hash, *end = hash;
                while (*end == '#')
                        end++;
                if (!strchr(end, '#')) {
                        while (start > data && start[-1] == ' ')
                                start--;
                        while (*end == ' ')
                                end++;
                        *start = 0;
                        comment = strstrip(end);
                }
        }
        hp_copy = strdup(data);
        if (!hp_copy)
                return -ENOMEM;
        for (p = data + strspn(data, ws); *p; p += strspn(p, ws)) {
                if (ntok == 2)
                        return -EINVAL; /* "line had multiple spaces" */
                toks[ntok++] = p;
                p += strcspn(p, ws);
                if (*p)
                        *p++ = 0;
        }
        if (ntok == 0)
                return -EINVAL;
        if (ntok == 2) {
                match = toks[0];
                hp = toks[1];
        } else
                hp = hp_copy; /* cloud-init takes data as it is, not stripped */
        /* HOST_PORT_RE: @{0,2} ([ADDR] | ADDR-without-colons) (:DIGITS)? */
        while (hp[nproto] == '@' && nproto < 2)
                nproto++;
        addr = hp + nproto;
        if (*addr == '[') {
                p = strchr(addr, ']');
                if (!p)
                        return -EINVAL;
                *p++ = 0;
                addr++;
        } else
                p = addr + strcspn(addr, ":");
        if (*p == ':') {
                *p++ = 0;
                port = p;
                p += strspn(p, "0123456789");
                if (p == port)
                        return -EINVAL;
        }
        if (*p)
                return -EINVAL;
        if (!*addr)
                return -EINVAL; /* "address is required" */
        if (port) {
                errno = 0;
                portnum = strtoull(port, NULL, 10);
                if (errno)
                        return -EINVAL;
        }
        if (!name || !*name)
                name = comment && *comment ? comment : NULL;
        if (strbuf_printf(&out, "%s %s", match, nproto == 2 ? "@@" : "@") < 0 ||
            strbuf_printf(&out, strchr(addr, ':') ? "[%s]" : "%s", addr) < 0 ||
            (portnum > 0 && strbuf_printf(&out, ":%llu", portnum) < 0) ||
            (name && strbuf_printf(&out, " # %s", name) < 0))
                return -ENOMEM;
        *ret = strbuf_steal(&out);
        return *ret ? 0 : -ENOMEM;
}

int system_apply_rsyslog(struct kiln_context *ctx, const json_t *config) {
        const json_t *rs = json_object_get(config, "rsyslog"), *configs, *remotes, *reload, *v;
        const char *dir = "/etc/rsyslog.d", *deffile = "20-cloud-config.conf", *key;
        _cleanup_strv_free_ char **written = NULL;
        _cleanup_strbuf_ struct strbuf rem = STRBUF_INIT;
        _cleanup_json_ json_t *all = NULL;
        bool failed = false;
        size_t i;
        int r;

        if (!rs)
                return 0;
        if (json_is_array(rs)) {
                /* the deprecated list form, with rsyslog_filename and rsyslog_dir at the top */
                configs = rs;
                if (json_object_get(config, "rsyslog_filename"))
                        deffile = json_string_value(json_object_get(config, "rsyslog_filename"));
                if (json_object_get(config, "rsyslog_dir"))
                        dir = json_string_value(json_object_get(config, "rsyslog_dir"));
                remotes = NULL;
                reload = NULL;
        } else if (json_is_object(rs)) {
                configs = json_object_get(rs, "configs");
                remotes = json_object_get(rs, "remotes");
                reload = json_object_get(rs, "service_reload_command");
                if (json_object_get(rs, "config_dir"))
                        dir = json_string_value(json_object_get(rs, "config_dir"));
                if (json_object_get(rs, "config_filename"))
                        deffile = json_string_value(json_object_get(rs, "config_filename"));
        } else
                return kiln_degrade(ctx, "rsyslog: not a mapping (cloud-init fails on it too)");
        if (!dir || !deffile || (configs && !json_is_array(configs)) || (remotes && !json_is_object(remotes)) ||
            (reload && !json_is_string(reload) && !json_is_array(reload)))
                return kiln_degrade(ctx, "rsyslog: a key of the wrong type (cloud-init fails on it too): configs is "
                                         "a list, remotes a mapping, config_dir and config_filename strings, "
                                         "service_reload_command a string or a list");
        all = configs ? json_copy((json_t *) configs) : json_array();
        if (!all)
                return -ENOMEM;
        if (json_object_size(remotes) > 0) {
                if (strbuf_printf(&rem, "# begin remotes\n") < 0)
                        return -ENOMEM;
                json_object_foreach((json_t *) remotes, key, v) {
                        _cleanup_free_ char *line = NULL;
                        if (json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
                                continue;
                        r = json_is_string(v) ? system_rsyslog_remote(key, json_string_value(v), &line) : -EINVAL;
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                log_warning("rsyslog: remote %s is not a syslog host specification, left out.", key);
                                failed = true;
                                continue;
                        }
                        if (strbuf_printf(&rem, "%s\n", line) < 0)
                                return -ENOMEM;
                }
                if (strbuf_printf(&rem, "# end remotes\n") < 0 || json_array_append_new(all, json_string(rem.data)) < 0)
                        return -ENOMEM;
        }
        if (json_array_size(all) == 0)
                return 0;
        r = misc_due(ctx, "rsyslog");
        if (r <= 0)
                return r;

        json_array_foreach(all, i, v) {
                const char *content = json_string_value(v), *fname = deffile;
                _cleanup_free_ char *name = NULL, *path = NULL;
                bool seen = false;
                size_t len;

                if (json_is_object(v)) {
                        content = json_string_value(json_object_get(v, "content"));
                        if (json_object_get(v, "filename"))
                                fname = json_string_value(json_object_get(v, "filename"));
                        if (!json_object_get(v, "content")) {
                                log_warning("rsyslog: configs[%zu] has no content, skipped.", i);
                                continue;
                        }
                }
                if (!content || !fname) {
                        failed = true;
                        log_warning("rsyslog: configs[%zu]: content and filename must be strings, skipped.", i);
                        continue;
                }
                name = strdup(fname);
                if (!name)
                        return -ENOMEM;
                strstrip(name);
                if (!*name) {
                        log_warning("rsyslog: configs[%zu] has an empty filename, skipped.", i);
                        continue;
                }
                /* os.path.join(): an absolute filename stands alone */
                path = name[0] == '/'
                               ? strdup(name)
                               : strdup_printf("%s%s%s", dir, (*dir && dir[strlen(dir) - 1] != '/') ? "/" : "", name);
                if (!path)
                        return -ENOMEM;
                for (size_t k = 0; written && written[k]; k++)
                        seen = seen || streq(written[k], path);
                if (!seen && strv_push(&written, path) < 0)
                        return -ENOMEM;
                len = strlen(content);
                r = misc_write(path, content, len, seen);
                if (r >= 0 && (len == 0 || content[len - 1] != '\n'))
                        r = misc_write(path, "\n", 1, true);
                if (r < 0) {
                        failed = true;
                        log_warning("rsyslog: writing %s: %s", path, strerror(-r));
                }
        }
        if (!written)
                return failed ? KILN_DEGRADED : 0;
        log_info("rsyslog: wrote %zu file(s).", strv_length(written));
        if (!reload || (json_is_string(reload) && streq(json_string_value(reload), "auto")))
                r = system_run_recorded(ctx, "rsyslog",
                                        (const char *const[]){"systemctl", "reload-or-try-restart", "rsyslog", NULL},
                                        NULL);
        else {
                _cleanup_free_ const char **argv = NULL;
                /* subp() with a string: one program named by the whole string */
                const char *one[] = {json_string_value(reload), NULL};
                if (json_is_string(reload))
                        r = system_run_recorded(ctx, "rsyslog", one, NULL);
                else if (misc_argv(reload, &argv) < 0)
                        r = kiln_degrade(ctx, "rsyslog: service_reload_command is not a list of strings");
                else
                        r = system_run_recorded(ctx, "rsyslog", argv, NULL);
        }
        if (r < 0 || r == KILN_DEGRADED || failed)
                return KILN_DEGRADED;
        return misc_done(ctx, "rsyslog");
}

/* ---- random_seed (cc_seed_random) ---- */

/* subp.which() in the root: an absolute path, or a name on PATH. */
static bool misc_which(const char *exe) {
        static const char *const dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                           "/usr/bin",        "/sbin",          "/bin"};
        for (size_t i = 0; i < (strchr(exe, '/') ? 1 : ELEMENTSOF(dirs)); i++) {
                _cleanup_free_ char *p = NULL;
                struct stat st;
                if ((strchr(exe, '/') ? root_path(&p, "%s", exe) : root_path(&p, "%s/%s", dirs[i], exe)) < 0)
                        return false;
                if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
                        return true;
        }
        return false;
}

int system_apply_random_seed(struct kiln_context *ctx, const json_t *config) {
        const json_t *rs = json_object_get(config, "random_seed"), *data, *command;
        const char *file = "/dev/urandom", *enc;
        _cleanup_free_ char *decoded = NULL, *env = NULL;
        _cleanup_free_ const char **argv = NULL;
        _cleanup_strbuf_ struct strbuf gz = STRBUF_INIT;
        const char *bytes = NULL;
        size_t len = 0;
        bool required;
        int r;

        if (!rs)
                return 0;
        if (!json_is_object(rs))
                return kiln_degrade(ctx, "random_seed: not a mapping (cloud-init fails on it too)");
        if (json_object_get(rs, "file") && !(file = json_string_value(json_object_get(rs, "file"))))
                return kiln_degrade(ctx, "random_seed: file is not a string");
        data = json_object_get(rs, "data");
        enc = json_string_value(json_object_get(rs, "encoding"));
        command = json_object_get(rs, "command");
        required = json_is_true(json_object_get(rs, "command_required"));
        r = misc_due(ctx, "seed_random");
        if (r <= 0)
                return r;

        if (data && !json_is_null(data) && !(json_is_string(data) && !*json_string_value(data))) {
                const char *s = json_string_value(data);
                if (!s)
                        return kiln_degrade(ctx, "random_seed: data is not a string");
                if (!enc || (strcasecmp(enc, "raw") == 0)) {
                        bytes = s;
                        len = strlen(s);
                } else if ((strcasecmp(enc, "base64") == 0) || (strcasecmp(enc, "b64") == 0)) {
                        r = base64_decode_python(s, strlen(s), false, &decoded, &len);
                        if (r < 0)
                                return kiln_degrade(ctx, "random_seed: data is not base64");
                        bytes = decoded;
                } else if ((strcasecmp(enc, "gzip") == 0) || (strcasecmp(enc, "gz") == 0)) {
                        r = gzip_decompress(s, strlen(s), 64 * 1024 * 1024, &gz);
                        if (r < 0)
                                return kiln_degrade(ctx, "random_seed: data is not gzip: %s",
                                                    r == -ENOPKG ? gzip_error() : strerror(-r));
                        bytes = gz.data;
                        len = gz.len;
                } else
                        return kiln_degrade(ctx, "random_seed: unknown encoding %s (cloud-init fails on it too)", enc);
        }
        if (len > 0) {
                r = misc_write(file, bytes, len, true);
                kiln_record(ctx, json_pack("{s:s, s:s, s:s, s:I}", "name", "random_seed", "result",
                                           r < 0 ? "failed" : "ok", "file", file, "bytes", (json_int_t) len));
                if (r < 0)
                        return kiln_degrade(ctx, "random_seed: adding to %s: %s", file, strerror(-r));
                log_info("random_seed: added %zu bytes to %s.", len, file);
        }
        if (!command || json_is_null(command) || (json_is_array(command) && json_array_size(command) == 0)) {
                if (required)
                        return kiln_degrade(ctx, "random_seed: no command but command_required is true");
                return misc_done(ctx, "seed_random");
        }
        if (misc_argv(command, &argv) < 0)
                return kiln_degrade(ctx, "random_seed: command is not a list of strings");
        if (!misc_which(argv[0])) {
                if (required)
                        return kiln_degrade(ctx, "random_seed: command '%s' not found but command_required is true",
                                            argv[0]);
                log_info("random_seed: command %s not found, not run.", argv[0]);
                return misc_done(ctx, "seed_random");
        }
        env = strdup_printf("RANDOM_SEED_FILE=%s", file);
        if (!env)
                return -ENOMEM;
        r = system_run_tool_env(argv, NULL, env);
        kiln_record(ctx, json_pack("{s:s, s:s, s:s?}", "name", argv[0], "result", r < 0 ? "failed" : "ok", "error",
                                   r < 0 ? strerror(-r) : NULL));
        if (r == -EROFS)
                return kiln_degrade(ctx, "random_seed: not running %s under --root (KILN_SYSTEM_COMMAND is for tests)",
                                    argv[0]);
        if (r < 0)
                return kiln_degrade(ctx, "random_seed: %s failed: %s", argv[0], strerror(-r));
        return misc_done(ctx, "seed_random");
}

/* ---- resolv_conf (cc_resolv_conf) ---- */

/* str() of a YAML scalar as Python prints it; -EINVAL for a list or map. */
static int misc_pystr(struct strbuf *out, const json_t *v) {
        switch (json_typeof(v)) {
        case JSON_STRING: return strbuf_printf(out, "%s", json_string_value(v));
        case JSON_INTEGER: return strbuf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        case JSON_REAL: return strbuf_printf(out, "%.17g", json_real_value(v));
        case JSON_TRUE: return strbuf_printf(out, "True");
        case JSON_FALSE: return strbuf_printf(out, "False");
        case JSON_NULL: return strbuf_printf(out, "None");
        default: return -EINVAL;
        }
}

static int misc_pylist(struct strbuf *out, const json_t *list, const char *prefix, const char *suffix) {
        size_t i;
        json_t *v;

        if (!json_is_array(list))
                return -EINVAL;
        json_array_foreach((json_t *) list, i, v) {
                int r = strbuf_printf(out, "%s", prefix);
                if (r >= 0)
                        r = misc_pystr(out, v);
                if (r >= 0)
                        r = strbuf_printf(out, "%s", suffix);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* cloud-init 22.4's resolv.conf.tmpl rendered by jinja2 (trim_blocks) for
 * params, with cc_resolv_conf's options/flags split, and the newline
 * cloud-init's renderer adds at the end. */
int system_resolv_conf_render(const json_t *params, char **ret) {
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        const json_t *options = json_object_get(params, "options"), *v;
        _cleanup_free_ const char **keys = NULL;
        size_t n = 0, nflags = 0;
        const char *key;
        int r;

        if (options && !json_is_object(options) && !json_is_null(options))
                return -EINVAL;
        r = strbuf_printf(&out, "# Your system has been configured with 'manage-resolv-conf' set to true.\n"
                                "# As a result, cloud-init has written this file with configuration data\n"
                                "# that it has been provided. Cloud-init, by default, will write this file\n"
                                "# a single time (PER_ONCE).\n"
                                "#\n");
        if (r >= 0 && json_object_get(params, "nameservers")) {
                r = misc_pylist(&out, json_object_get(params, "nameservers"), "nameserver ", "\n");
                if (r >= 0)
                        r = strbuf_printf(&out, "\n");
        }
        if (r >= 0 && json_object_get(params, "searchdomains")) {
                r = strbuf_printf(&out, "search ");
                if (r >= 0)
                        r = misc_pylist(&out, json_object_get(params, "searchdomains"), "", " ");
                if (r >= 0)
                        r = strbuf_printf(&out, "\n");
        }
        if (r >= 0 && json_object_get(params, "domain")) {
                r = strbuf_printf(&out, "domain ");
                if (r >= 0)
                        r = misc_pystr(&out, json_object_get(params, "domain"));
                if (r >= 0)
                        r = strbuf_printf(&out, "\n");
        }
        if (r >= 0 && json_object_get(params, "sortlist")) {
                r = strbuf_printf(&out, "\nsortlist ");
                if (r >= 0)
                        r = misc_pylist(&out, json_object_get(params, "sortlist"), "", " ");
        }
        if (r < 0)
                return r;
        /* flags: the true booleans, in order; options: the other values, sorted */
        keys = calloc(json_object_size(options) + 1, sizeof(*keys));
        if (!keys)
                return -ENOMEM;
        json_object_foreach((json_t *) options, key, v) {
                if (json_is_true(v))
                        nflags++;
                else if (!json_is_boolean(v))
                        keys[n++] = key;
        }
        qsort(keys, n, sizeof(*keys), cmp_str);
        if (n + nflags > 0) {
                r = strbuf_printf(&out, "\noptions");
                json_object_foreach((json_t *) options, key, v)
                        if (r >= 0 && json_is_true(v))
                                r = strbuf_printf(&out, " %s", key);
                for (size_t i = 0; r >= 0 && i < n; i++) {
                        r = strbuf_printf(&out, " %s:", keys[i]);
                        if (r >= 0)
                                r = misc_pystr(&out, json_object_get(options, keys[i]));
                }
        }
        if (r >= 0)
                r = strbuf_printf(&out, "\n");
        if (r < 0)
                return r;
        *ret = strbuf_steal(&out);
        return *ret ? 0 : -ENOMEM;
}

int system_apply_resolv_conf(struct kiln_context *ctx, const json_t *config) {
        const json_t *manage = json_object_get(config, "manage_resolv_conf"), *params;
        /* the distributions cc_resolv_conf's meta names, by os-release ID */
        static const char *const ids[] = {
                "alpine", "fedora", "rhel", "sles", "opensuse", "opensuse-leap", "opensuse-tumbleweed"};
        _cleanup_free_ char *id = NULL, *text = NULL, *path = NULL;
        _cleanup_strbuf_ struct strbuf m = STRBUF_INIT;
        bool known = false;
        int r;

        if (!manage)
                return 0;
        /* util.get_cfg_option_bool(): str(value).lower() in true, 1, on, yes */
        if (!json_is_true(manage)) {
                if (json_is_boolean(manage) || misc_pystr(&m, manage) < 0)
                        return 0;
                strstrip(m.data);
                for (char *c = m.data; *c; c++)
                        *c = (char) (*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
                if (!streq(m.data, "true") && !streq(m.data, "1") && !streq(m.data, "on") && !streq(m.data, "yes"))
                        return 0;
        }
        id = system_os_release("ID");
        for (size_t i = 0; id && i < ELEMENTSOF(ids); i++)
                known = known || streq(id, ids[i]);
        if (id && (streq(id, "mariner") || streq(id, "photon")))
                return kiln_degrade(ctx, "resolv_conf: /etc/systemd/resolved.conf (%s) is not done by kiln", id);
        if (!known) {
                log_info("resolv_conf: not done on %s, as cloud-init skips it there.", id ? id : "this distribution");
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "resolv_conf", "result", "skipped", "reason",
                                           "not this distribution's (as cloud-init)"));
                return 0;
        }
        params = json_object_get(config, "resolv_conf");
        if (!params)
                return kiln_degrade(ctx, "resolv_conf: manage_resolv_conf is true but resolv_conf is not given");
        if (!json_is_object(params))
                return kiln_degrade(ctx, "resolv_conf: not a mapping");
        r = misc_due(ctx, "resolv_conf");
        if (r <= 0)
                return r;
        r = system_resolv_conf_render(params, &text);
        if (r == -EINVAL)
                return kiln_degrade(ctx, "resolv_conf: nameservers, searchdomains and sortlist are lists, options a "
                                         "mapping, of plain values (cloud-init fails on others too)");
        if (r < 0)
                return r;
        if (root_path(&path, "/etc/resolv.conf") < 0)
                return -ENOMEM;
        r = mkdir_parents(path, 0755);
        if (r >= 0)
                r = write_file_atomic(path, text, strlen(text), 0644);
        kiln_record(ctx, json_pack("{s:s, s:s}", "name", "resolv_conf", "result", r < 0 ? "failed" : "ok"));
        if (r < 0)
                return kiln_degrade(ctx, "resolv_conf: writing /etc/resolv.conf: %s", strerror(-r));
        log_info("resolv_conf: /etc/resolv.conf written.");
        return misc_done(ctx, "resolv_conf");
}

/* ---- keyboard (cc_keyboard) ---- */

int system_apply_keyboard(struct kiln_context *ctx, const json_t *config) {
        const json_t *kb = json_object_get(config, "keyboard");
        /* the distributions of cc_keyboard's meta (the arch, debian, redhat
         * and suse families), by os-release ID */
        static const char *const ids[] = {"arch",         "debian",   "ubuntu",        "almalinux",
                                          "amzn",         "centos",   "cloudlinux",    "eurolinux",
                                          "fedora",       "mariner",  "miraclelinux",  "openEuler",
                                          "openmandriva", "photon",   "rhel",          "rocky",
                                          "virtuozzo",    "opensuse", "opensuse-leap", "opensuse-tumbleweed",
                                          "sles"};
        const char *layout, *model = "pc105", *variant = "", *options = "";
        _cleanup_free_ char *id = NULL;
        bool known = false, debian;
        struct stat st;
        int r;

        if (!kb)
                return 0;
        id = system_os_release("ID");
        for (size_t i = 0; id && i < ELEMENTSOF(ids); i++)
                known = known || streq(id, ids[i]);
        if (!known) {
                log_info("keyboard: not done on %s, as cloud-init skips it there.", id ? id : "this distribution");
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "keyboard", "result", "skipped", "reason",
                                           "not this distribution's (as cloud-init)"));
                return 0;
        }
        debian = streq(id, "debian") || streq(id, "ubuntu");
        layout = json_string_value(json_object_get(kb, "layout"));
        if (json_object_get(kb, "model"))
                model = json_string_value(json_object_get(kb, "model"));
        if (json_object_get(kb, "variant"))
                variant = json_string_value(json_object_get(kb, "variant"));
        if (json_object_get(kb, "options"))
                options = json_string_value(json_object_get(kb, "options"));
        if (!layout || !model || !variant || !options)
                return kiln_degrade(ctx, "keyboard: layout (required), model, variant and options are strings");
        r = misc_due(ctx, "keyboard");
        if (r <= 0)
                return r;
        /* Distro.set_keymap(): localectl, on systemd only */
        if (streq(root_get(), "/") && !(lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode)))
                return kiln_degrade(ctx, "keyboard: only done with systemd (localectl), as cloud-init");
        r = system_run_recorded(
                ctx, "keyboard",
                (const char *const[]){"localectl", "set-x11-keymap", layout, model, variant, options, NULL}, NULL);
        if (r < 0 || r == KILN_DEGRADED)
                return KILN_DEGRADED;
        /* Debian's: console-setup restarted for the console to take it now */
        if (debian) {
                r = system_run_recorded(ctx, "keyboard",
                                        (const char *const[]){"systemctl", "restart", "console-setup", NULL}, NULL);
                if (r < 0 || r == KILN_DEGRADED)
                        return KILN_DEGRADED;
        }
        log_info("keyboard: layout %s set.", layout);
        return misc_done(ctx, "keyboard");
}
