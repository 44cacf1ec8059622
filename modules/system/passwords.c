/* SPDX-License-Identifier: MIT */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "fileio.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "pkg.h"
#include "proc.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* Passwords and ssh_pwauth, as cloud-init 22.4's set_passwords module does
 * them, once per instance after the users are made:
 *
 * - chpasswd.users: {name, password, type}, type "hash" (the default),
 *   "text" or "RANDOM" (password default "RANDOM", so a text user without
 *   one gets that word); chpasswd.list (deprecated): "name:password" lines,
 *   as a list or one string, a password matching cloud-init's
 *   `\$(1|2a|2y|5|6)(\$.+){2}` (and no ':') being a hash, "R" or "RANDOM"
 *   a random one, anything else text; `password`: the default user's, read
 *   as a list line, only when chpasswd gives no user.
 * - chpasswd.expire (default true): every user set must change the password
 *   at the next login (passwd --expire), hashed ones too.
 * - random passwords (20 characters of cloud-init's set) are written to the
 *   console only, as cloud-init does, never to kiln's log or status.
 * - ssh_pwauth: PasswordAuthentication yes/no in sshd_config, or in
 *   sshd_config.d/50-cloud-init.conf when sshd_config includes that
 *   directory; sshd restarted only if it runs, nothing done when it is not
 *   installed.
 *
 * Text passwords are hashed by kiln (crypt(3), the method of login.defs'
 * ENCRYPT_METHOD, else libcrypt's default) and given to `chpasswd -e` on
 * stdin: chpasswd hashes text through PAM, which does not work under
 * --root, and the result is the same, a password that logs in. */

#define MARKER "set-passwords"
#define SSHD_CONFIG "/etc/ssh/sshd_config"
#define SSHD_DROPIN "/etc/ssh/sshd_config.d/50-cloud-init.conf"
#define RANDOM_LEN 20
#define TOOL_TIMEOUT_MS (60L * 1000)

/* cloud-init's PW_SET: letters and digits but "loLOI01". */
static const char pw_set[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";

/* --- the plan -------------------------------------------------------------- */

/* cloud-init's hash test: re.match(r"\$(1|2a|2y|5|6)(\$.+){2}", p) and no ':'. */
static bool looks_hashed(const char *p) {
        static const char *const ids[] = {"$1", "$2a", "$2y", "$5", "$6"};
        const char *rest = NULL;

        if (strchr(p, ':'))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(ids) && !rest; i++)
                if (strneq(p, ids[i], strlen(ids[i])))
                        rest = p + strlen(ids[i]);
        /* (\$.+){2}: "$", one or more non-newline, "$", one more non-newline. */
        if (!rest || rest[0] != '$' || !rest[1] || rest[1] == '\n')
                return false;
        for (const char *q = rest + 2; *q && *q != '\n'; q++)
                if (*q == '$' && q[1] && q[1] != '\n')
                        return true;
        return false;
}

static int add_entry(json_t *set, const char *name, const char *type, const char *password) {
        json_t *e = json_pack("{s:s, s:s}", "name", name, "type", type);

        if (!e || (password && json_object_set_new(e, "password", json_string(password)) < 0))
                return json_decref(e), -ENOMEM;
        return json_array_append_new(set, e) < 0 ? -ENOMEM : 0;
}

/* A "name:password" line of chpasswd.list (or the default user's). */
static int add_line(json_t *set, json_t *errors, const char *line) {
        const char *colon = strchr(line, ':');
        _cleanup_free_ char *name = NULL;
        const char *p;

        /* Not shown: it may be a password. cloud-init fails on it. */
        if (!colon)
                return json_array_append_new(errors, json_string("chpasswd.list: a line without ':' "
                                                                 "(name:password), not used")) < 0
                               ? -ENOMEM
                               : 0;
        name = strndup(line, colon - line);
        p = colon + 1;
        if (!name)
                return -ENOMEM;
        if (looks_hashed(p))
                return add_entry(set, name, "hash", p);
        if (streq(p, "R") || streq(p, "RANDOM"))
                return add_entry(set, name, "random", NULL);
        return add_entry(set, name, "text", p);
}

/* Python's str.splitlines() for the usual line ends. */
static int add_lines(json_t *set, json_t *errors, const char *s) {
        while (*s) {
                size_t n = strcspn(s, "\r\n");
                _cleanup_free_ char *line = strndup(s, n);
                int r = line ? add_line(set, errors, line) : -ENOMEM;
                if (r < 0)
                        return r;
                s += n;
                s += s[0] == '\r' && s[1] == '\n' ? 2 : s[0] ? 1 : 0;
        }
        return 0;
}

/* util.get_cfg_option_bool: a bool, or a string read by is_true(). */
static bool option_bool(const json_t *v, bool def) {
        static const char *const yes[] = {"true", "1", "on", "yes", "y"};
        _cleanup_free_ char *s = NULL;

        if (!v)
                return def;
        if (json_is_boolean(v))
                return json_is_true(v);
        if (json_is_integer(v))
                return json_integer_value(v) == 1;
        if (!json_is_string(v) || !(s = strdup(json_string_value(v))))
                return false;
        for (char *p = s; *p; p++)
                *p = (char) (*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (streq(strstrip(s), yes[i]))
                        return true;
        return false;
}

/* ssh_pwauth: "yes", "no", or NULL (unchanged), as is_true/is_false read it. */
static const char *pwauth_value(const json_t *v) {
        static const char *const yes[] = {"true", "1", "on", "yes"}, *const no[] = {"off", "0", "no", "false"};
        _cleanup_free_ char *s = NULL;

        if (json_is_boolean(v))
                return json_is_true(v) ? "yes" : "no";
        if (json_is_integer(v))
                s = strdup_printf("%lld", (long long) json_integer_value(v));
        else if (json_is_string(v))
                s = strdup(json_string_value(v));
        if (!s)
                return NULL;
        for (char *p = s; *p; p++)
                *p = (char) (*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (streq(strstrip(s), yes[i]))
                        return "yes";
                if (streq(strstrip(s), no[i]))
                        return "no";
        }
        return NULL;
}

static int plan_users(json_t *set, const json_t *users) {
        static const char *const types[] = {"text", "hash", "RANDOM"};
        json_t *u;
        size_t i;
        int r = 0;

        /* cloud-init takes the text ones, then the hashed, then the random. */
        for (size_t t = 0; t < ELEMENTSOF(types) && r >= 0; t++)
                json_array_foreach(users, i, u) {
                        const char *name = json_string_value(json_object_get(u, "name"));
                        const char *type = json_string_value(json_object_get(u, "type")) ?: "hash";
                        const char *pw = json_string_value(json_object_get(u, "password")) ?: "RANDOM";
                        if (!name || !streq(type, types[t]))
                                continue;
                        r = add_entry(set, name, t == 0 ? "text" : t == 1 ? "hash" : "random", t == 2 ? NULL : pw);
                        if (r < 0)
                                break;
                }
        return r;
}

json_t *system_passwords_plan(const json_t *config, const json_t *users_plan) {
        const json_t *ch = json_object_get(config, "chpasswd"), *list = json_object_get(ch, "list");
        const char *password = json_string_value(json_object_get(config, "password"));
        _cleanup_json_ json_t *set = json_array(), *errors = json_array();
        const char *pwauth = pwauth_value(json_object_get(config, "ssh_pwauth"));
        json_t *u, *item;
        size_t i;
        int r = 0;

        if (!set || !errors)
                return NULL;
        if (json_is_array(json_object_get(ch, "users")))
                r = plan_users(set, json_object_get(ch, "users"));
        if (r >= 0 && json_is_string(list))
                r = add_lines(set, errors, json_string_value(list));
        json_array_foreach(json_is_array(list) ? list : NULL, i, item)
                if (r >= 0 && json_is_string(item))
                        r = add_line(set, errors, json_string_value(item));
        if (r >= 0 && json_array_size(set) == 0 && password && *password)
                json_array_foreach(users_plan, i, u)
                        if (json_is_true(json_object_get(u, "default"))) {
                                _cleanup_free_ char *line =
                                        strdup_printf("%s:%s", json_string_value(json_object_get(u, "name")), password);
                                r = line ? add_line(set, errors, line) : -ENOMEM;
                                break;
                        }
        if (r < 0)
                return NULL;
        return json_pack("{s:O, s:b, s:s*, s:O}", "set", set, "expire",
                         option_bool(json_object_get(ch, "expire"), true), "ssh_pwauth", pwauth, "errors", errors);
}

void system_passwords_redact(json_t *plan) {
        json_t *e;
        size_t i;

        json_array_foreach(json_object_get(plan, "set"), i, e)
                if (json_object_get(e, "password"))
                        json_object_set_new(e, "password", json_string("(secret)"));
}

/* --- applying -------------------------------------------------------------- */

static int random_password(char ret[static RANDOM_LEN + 1]) {
        unsigned char buf[RANDOM_LEN];
        const size_t n = sizeof(pw_set) - 1;

        for (size_t i = 0; i < RANDOM_LEN;) {
                if (getrandom(buf, sizeof(buf), 0) != (ssize_t) sizeof(buf))
                        return errno ? -errno : -EIO;
                /* Unbiased: bytes past the last multiple of n are drawn again. */
                for (size_t j = 0; j < sizeof(buf) && i < RANDOM_LEN; j++)
                        if (buf[j] < 256 - 256 % n)
                                ret[i++] = pw_set[buf[j] % n];
        }
        ret[RANDOM_LEN] = 0;
        explicit_bzero(buf, sizeof(buf));
        return 0;
}

/* The crypt(3) prefix login.defs asks for (ENCRYPT_METHOD), NULL: libcrypt's default. */
static const char *hash_prefix(void) {
        static const char *const methods[][2] = {
                {"YESCRYPT", "$y$"}, {"SHA512", "$6$"}, {"SHA256", "$5$"}, {"MD5", "$1$"}};
        _cleanup_free_ char *path = NULL, *defs = NULL;

        if (root_path(&path, "/etc/login.defs") < 0 || read_file(path, 1024 * 1024, &defs, NULL) < 0)
                return NULL;
        for (char *l = defs; l && *l; l += strcspn(l, "\n"), l += *l == '\n') {
                char *v = l + strspn(l, " \t");
                if (!strneq(v, "ENCRYPT_METHOD", 14) || !strchr(" \t", v[14]))
                        continue;
                v += 14 + strspn(v + 14, " \t");
                for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                        if (strneq(v, methods[i][0], strlen(methods[i][0])))
                                return methods[i][1];
        }
        return NULL;
}

static char *hash_password(const char *plain) {
        char salt[CRYPT_GENSALT_OUTPUT_SIZE];
        struct crypt_data *cd = calloc(1, sizeof(*cd));
        const char *h;
        char *out = NULL;

        if (!cd)
                return NULL;
        if (crypt_gensalt_rn(hash_prefix(), 0, NULL, 0, salt, sizeof(salt)) ||
            crypt_gensalt_rn(NULL, 0, NULL, 0, salt, sizeof(salt))) {
                h = crypt_r(plain, salt, cd);
                if (h && h[0] != '*')
                        out = strdup(h);
        }
        explicit_bzero(cd, sizeof(*cd));
        free(cd);
        return out;
}

/* One "name:hash" line per user, in order, for chpasswd -e; the random
 * passwords, for the console. */
static int chpasswd_input(const json_t *set, struct strbuf *in, struct strbuf *randoms) {
        json_t *e;
        size_t i;
        int r = 0;

        json_array_foreach(set, i, e) {
                const char *name = json_string_value(json_object_get(e, "name"));
                const char *type = json_string_value(json_object_get(e, "type"));
                const char *pw = json_string_value(json_object_get(e, "password"));
                char rnd[RANDOM_LEN + 1] = "";
                _cleanup_free_ char *hash = NULL;
                /* One line per user on chpasswd's stdin: nothing may start another. */
                if (!name || !*name || strpbrk(name, ":\r\n") || (streq(type, "hash") && strpbrk(pw, "\r\n")))
                        return -EBADMSG;
                if (streq(type, "random")) {
                        r = random_password(rnd);
                        pw = rnd;
                        if (r >= 0)
                                r = strbuf_printf(randoms, "%s:%s\n", name, rnd);
                }
                if (r >= 0 && !streq(type, "hash") && !(hash = hash_password(pw)))
                        r = -EINVAL;
                if (r >= 0)
                        r = strbuf_printf(in, "%s:%s\n", name, hash ? hash : pw);
                explicit_bzero(rnd, sizeof(rnd));
                if (r < 0)
                        return r;
        }
        return 0;
}

static void strbuf_wipe(struct strbuf *b) {
        if (b->data)
                explicit_bzero(b->data, b->len);
        strbuf_done(b);
}

static int set_passwords(struct kiln_context *ctx, const json_t *plan) {
        const json_t *set = json_object_get(plan, "set");
        struct strbuf in = STRBUF_INIT, randoms = STRBUF_INIT;
        _cleanup_free_ char *out = NULL;
        char *eargs[] = {(char *) "-e", NULL};
        json_t *e;
        size_t i;
        int r, result = 0;

        if (json_array_size(set) == 0)
                return 0;
        r = chpasswd_input(set, &in, &randoms);
        if (r >= 0)
                r = system_run_shadow_tool("chpasswd", eargs, in.data, &out);
        strbuf_wipe(&in);
        if (r < 0)
                result =
                        kiln_degrade(ctx, "chpasswd: failed to set the passwords: %s",
                                     r == -EBADMSG ? "a user name with ':' or a line break, or a hash with a line break"
                                     : r == -EIO && out && *out ? out
                                                                : strerror(-r));
        if (r >= 0 && randoms.len > 0) {
                _cleanup_free_ char *blurb = strdup_printf("Set the following 'random' passwords\n%s", randoms.data);
                if (!blurb || console_write(blurb) < 0)
                        log_warning("No console to write the random passwords to: they are lost.");
                if (blurb)
                        explicit_bzero(blurb, strlen(blurb));
        }
        strbuf_wipe(&randoms);
        if (r < 0 || !json_is_true(json_object_get(plan, "expire")))
                return result;
        json_array_foreach(set, i, e) {
                _cleanup_free_ char *eout = NULL;
                char *args[] = {(char *) "--expire", (char *) json_string_value(json_object_get(e, "name")), NULL};
                r = system_run_shadow_tool("passwd", args, NULL, &eout);
                if (r < 0)
                        result = kiln_degrade(ctx, "Failed to expire the password of '%s': %s", args[1],
                                              r == -EIO && eout && *eout ? eout : strerror(-r));
        }
        return result;
}

/* sshd_config lines rewritten as cloud-init's update_ssh_config() does:
 * every line stripped, "Key value" lines (or Key=value) as "Key value",
 * lines with neither dropped, every PasswordAuthentication set to value,
 * appended when none. 1 when it changed. */
static int update_sshd_lines(const char *old, const char *value, struct strbuf *b) {
        bool found = false, changed = false;
        int r = 0;

        for (const char *l = old; l && *l && r >= 0;) {
                size_t n = strcspn(l, "\n");
                _cleanup_free_ char *line = strndup(l, n);
                char *s = line ? strstrip(line) : NULL, *key, *val;
                l += n + (l[n] == '\n');
                if (!s)
                        return -ENOMEM;
                if (!*s || *s == '#') {
                        r = strbuf_printf(b, "%s\n", s);
                        continue;
                }
                key = s;
                n = strcspn(s, " \t\v\f\r");
                if (s[n]) {
                        s[n] = 0;
                        val = s + n + 1 + strspn(s + n + 1, " \t\v\f\r");
                } else if ((val = strchr(s, '='))) {
                        *val++ = 0;
                } else
                        continue;
                if (strcasecmp(key, "PasswordAuthentication") == 0) {
                        found = true;
                        changed = changed || !streq(val, value);
                        val = (char *) value;
                }
                r = strbuf_printf(b, "%s%s%s\n", key, *val ? " " : "", val);
        }
        if (r >= 0 && !found) {
                changed = true;
                r = strbuf_printf(b, "PasswordAuthentication %s\n", value);
        }
        return r < 0 ? r : changed;
}

static bool includes_dropins(const char *config) {
        static const char inc[] = "Include " SSHD_CONFIG ".d/*.conf";

        for (const char *l = config; l && *l; l += strcspn(l, "\n"), l += *l == '\n')
                if (strneq(l, inc, strlen(inc)))
                        return true;
        return false;
}

/* `systemctl ARGS`: its exit code; under --root only through the test hook
 * $KILN_SYSTEMCTL, else -ENOENT (services are not kiln's there). */
static int systemctl(const char *verb, const char *unit) {
        const char *hook = root_test_hook("KILN_SYSTEMCTL");
        _cleanup_free_ char *path = NULL;
        char *argv[] = {NULL, (char *) verb, (char *) unit, NULL};
        struct proc_options o = {.argv = argv, .log_name = "systemctl", .timeout_ms = TOOL_TIMEOUT_MS, .quiet = true};
        struct proc_result res = {0};
        int r;

        if (hook)
                argv[0] = (char *) hook;
        else if (streq(root_get(), "/") && pkg_have_program("systemctl", &path))
                argv[0] = path;
        else
                return -ENOENT;
        r = proc_run(&o, &res);
        if (r < 0)
                return r;
        r = res.exit_code;
        proc_result_done(&res);
        return r;
}

/* ssh on Debian and Ubuntu, sshd elsewhere (cloud-init's ssh_svcname). */
static const char *ssh_service(void) {
        const char *u = system_default_user_name();
        return streq(u, "admin") || streq(u, "ubuntu") ? "ssh" : "sshd";
}

static int apply_pwauth(struct kiln_context *ctx, const char *value) {
        _cleanup_free_ char *config = NULL, *config_path = NULL, *path = NULL, *old = NULL;
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        const char *service = ssh_service();
        bool dropin;
        struct stat st;
        int status, r;

        if (!value)
                return 0;
        status = systemctl("status", service);
        if (status == 4 || (status > 0 && status != 3)) {
                log_warning("Ignoring ssh_pwauth: SSH service '%s' is %s.", service,
                            status == 4 ? "not installed" : "not available");
                return 0;
        }
        if (root_path(&config_path, SSHD_CONFIG) < 0)
                return -ENOMEM;
        r = read_file(config_path, 1024 * 1024, &config, NULL);
        /* No sshd_config: no SSH server (where systemctl cannot say, under --root). */
        if (r == -ENOENT) {
                log_warning("Ignoring ssh_pwauth: no %s, the SSH server is not installed.", SSHD_CONFIG);
                return 0;
        }
        if (r < 0)
                return kiln_degrade(ctx, "ssh_pwauth: cannot read %s: %s", SSHD_CONFIG, strerror(-r));
        dropin = includes_dropins(config);
        if (!dropin)
                path = TAKE_PTR(config_path), old = TAKE_PTR(config);
        else if (root_path(&path, SSHD_DROPIN) < 0)
                return -ENOMEM;
        else if ((r = read_file(path, 1024 * 1024, &old, NULL)) < 0 && r != -ENOENT)
                return kiln_degrade(ctx, "ssh_pwauth: cannot read %s: %s", SSHD_DROPIN, strerror(-r));
        r = update_sshd_lines(old, value, &b);
        if (r == 0) {
                log_info("PasswordAuthentication already %s.", value);
                return 0;
        }
        if (r > 0)
                r = mkdir_parents(path, 0755);
        /* The file's mode is kept; a new one is root's only, as cloud-init makes it. */
        if (r >= 0)
                r = write_file_atomic(path, b.data, b.len, stat(path, &st) >= 0 ? st.st_mode & 07777 : 0600);
        kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "ssh_pwauth", "result", r < 0 ? "failed" : "ok",
                                   "PasswordAuthentication", value));
        if (r < 0)
                return kiln_degrade(ctx, "ssh_pwauth: failed to write %s: %s", dropin ? SSHD_DROPIN : SSHD_CONFIG,
                                    strerror(-r));
        if (status == 0 && (r = systemctl("restart", service)) != 0)
                return kiln_degrade(ctx, "ssh_pwauth: failed to restart %s (%d)", service, r);
        log_info("PasswordAuthentication %s (%s)%s.", value, dropin ? SSHD_DROPIN : SSHD_CONFIG,
                 status == 0 ? ", sshd restarted" : "");
        return 0;
}

int system_apply_passwords(struct kiln_context *ctx, const json_t *plan) {
        json_t *e;
        size_t i;
        int r, result = 0;

        if (!plan || (json_array_size(json_object_get(plan, "set")) == 0 &&
                      json_array_size(json_object_get(plan, "errors")) == 0 && !json_object_get(plan, "ssh_pwauth")))
                return 0;
        r = state_should_run(ctx, FREQ_INSTANCE, MARKER);
        if (r <= 0) {
                if (r == 0)
                        kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", MARKER, "result", "skipped", "frequency",
                                                   "per-instance"));
                return r < 0 ? kiln_fail(ctx, r, "Not setting passwords: %s", strerror(-r)) : 0;
        }
        json_array_foreach(json_object_get(plan, "errors"), i, e)
                result = kiln_degrade(ctx, "%s", json_string_value(e));
        result = set_passwords(ctx, plan) ?: result;
        result = apply_pwauth(ctx, json_string_value(json_object_get(plan, "ssh_pwauth"))) ?: result;
        json_array_foreach(json_object_get(plan, "set"), i, e)
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "password", "user",
                                           json_string_value(json_object_get(e, "name")), "type",
                                           json_string_value(json_object_get(e, "type"))));
        r = state_mark_done(ctx, FREQ_INSTANCE, MARKER);
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that passwords were set: %s", strerror(-r)) : result;
}
