/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chase.h"
#include "fileio.h"
#include "imds/imds.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "pkg.h"
#include "proc.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* Users are made with the system's own tools (useradd, groupadd, usermod,
 * chpasswd, passwd), which all take --root DIR: under `kiln --root DIR` they
 * change DIR/etc/passwd and friends, never the machine's. What they cannot
 * do under a root (PAM for plain-text passwords) fails and is recorded. */

#define SUDOERS_FILE "/etc/sudoers.d/90-kiln-users"
#define TOOL_TIMEOUT_MS (60L * 1000)
#define AUTHORIZED_KEYS_MAX (1024 * 1024)

struct account {
        unsigned uid, gid;
        char *home;
};

int system_colon_field(const char *file, const char *name, unsigned n, char **ret) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        size_t len = strlen(name);
        int r;

        if (root_path(&path, "%s", file) < 0)
                return -ENOMEM;
        r = read_file(path, 16u * 1024 * 1024, &buf, NULL);
        if (r < 0)
                return r;
        for (char *line = buf; line && *line;) {
                char *next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                if (strneq(line, name, len) && line[len] == ':') {
                        char *f = line;
                        for (unsigned i = 0; i < n && f; i++)
                                f = strchr(f, ':') ? strchr(f, ':') + 1 : NULL;
                        if (!f)
                                return -EBADMSG;
                        *ret = strndup(f, strcspn(f, ":"));
                        return *ret ? 0 : -ENOMEM;
                }
                line = next;
        }
        return -ENOENT;
}

static int lookup_account(const char *name, struct account *ret) {
        _cleanup_free_ char *uid = NULL, *gid = NULL, *home = NULL;
        unsigned long long u, g;
        int r;

        r = system_colon_field("/etc/passwd", name, 2, &uid);
        if (r >= 0)
                r = system_colon_field("/etc/passwd", name, 3, &gid);
        if (r >= 0)
                r = system_colon_field("/etc/passwd", name, 5, &home);
        if (r < 0)
                return r;
        if (safe_atou64(uid, &u) < 0 || safe_atou64(gid, &g) < 0 || u > UINT32_MAX || g > UINT32_MAX || home[0] != '/')
                return -EBADMSG;
        *ret = (struct account){(unsigned) u, (unsigned) g, TAKE_PTR(home)};
        return 0;
}

/* Whether user is listed in group's member field. */
static bool in_group(const char *group, const char *user) {
        _cleanup_free_ char *members = NULL;
        size_t n = strlen(user);

        if (system_colon_field("/etc/group", group, 3, &members) < 0)
                return false;
        for (const char *p = members; *p; p += strcspn(p, ","), p += *p == ',')
                if (strneq(p, user, n) && (p[n] == ',' || p[n] == 0))
                        return true;
        return false;
}

/* Runs a shadow tool with --root when kiln has one. stdin may be NULL. */
static int run_tool(const char *tool, char *const *args, const char *stdin_data, char **ret_output) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *path = NULL;
        struct proc_result res = {0};
        struct proc_options o = {.log_name = tool, .timeout_ms = TOOL_TIMEOUT_MS, .quiet = true};
        int r;

        if (!pkg_have_program(tool, &path))
                return -ENOENT;
        r = strv_push(&argv, path);
        if (r >= 0 && !streq(root_get(), "/")) {
                r = strv_push(&argv, "--root");
                if (r >= 0)
                        r = strv_push(&argv, root_get());
        }
        for (size_t i = 0; r >= 0 && args[i]; i++)
                r = strv_push(&argv, args[i]);
        if (r < 0)
                return r;
        o.argv = argv;
        o.stdin_data = stdin_data;
        o.stdin_len = stdin_data ? strlen(stdin_data) : 0;
        r = proc_run(&o, &res);
        if (r < 0)
                return r;
        r = res.exit_code == 0 ? 0 : -EIO;
        if (r < 0 && ret_output)
                *ret_output = strdup(strstrip(res.output));
        proc_result_done(&res);
        return r;
}

static int tool_fail(struct kiln_context *ctx, const char *what, const char *user, int r, const char *output) {
        return kiln_degrade(ctx, "Failed to %s '%s': %s", what, user,
                            r == -EIO && output && *output ? output : strerror(-r));
}

static int ensure_groups(struct kiln_context *ctx, const json_t *groups) {
        json_t *g;
        size_t i;
        int result = 0;

        json_array_foreach(groups, i, g) {
                _cleanup_free_ char *out = NULL, *gid = NULL;
                char *args[] = {(char *) json_string_value(g), NULL};
                int r;
                if (!args[0] || system_colon_field("/etc/group", args[0], 2, &gid) >= 0)
                        continue;
                r = run_tool("groupadd", args, NULL, &out);
                if (r < 0)
                        result = tool_fail(ctx, "create group", args[0], r, out);
        }
        return result;
}

static char *join(const json_t *list, const char *sep) {
        struct strbuf b = STRBUF_INIT;
        json_t *v;
        size_t i;

        json_array_foreach(list, i, v)
                (void) strbuf_printf(&b, "%s%s", i ? sep : "", json_string_value(v));
        return strbuf_steal(&b);
}

static int create_user(struct kiln_context *ctx, const json_t *u, const char *name) {
        _cleanup_strv_free_ char **args = NULL;
        _cleanup_free_ char *groups = join(json_object_get(u, "groups"), ","), *out = NULL, *uid = NULL;
        static const char *const opts[][2] = {{"shell", "-s"},         {"gecos", "-c"},      {"homedir", "-d"},
                                              {"primary_group", "-g"}, {"expiredate", "-e"}, {"inactive", "-f"},
                                              {"selinux_user", "-Z"}};
        /* As cloud-init: no home for no_create_home and for system users. */
        int r = strv_push(&args, json_is_true(json_object_get(u, "no_create_home")) ||
                                                 json_is_true(json_object_get(u, "system"))
                                         ? "-M"
                                         : "-m");

        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(opts); i++) {
                const char *v = json_string_value(json_object_get(u, opts[i][0]));
                if (v && (r = strv_push(&args, opts[i][1])) >= 0)
                        r = strv_push(&args, v);
        }
        if (r >= 0 && groups && *groups && (r = strv_push(&args, "-G")) >= 0)
                r = strv_push(&args, groups);
        if (r >= 0 && json_is_true(json_object_get(u, "system")))
                r = strv_push(&args, "-r");
        if (r >= 0 && json_is_true(json_object_get(u, "no_user_group")))
                r = strv_push(&args, "-N");
        if (r >= 0 && json_is_true(json_object_get(u, "no_log_init")))
                r = strv_push(&args, "-l");
        if (r >= 0 && json_is_integer(json_object_get(u, "uid"))) {
                uid = strdup_printf("%lld", (long long) json_integer_value(json_object_get(u, "uid")));
                r = uid ? strv_push(&args, "-u") : -ENOMEM;
                if (r >= 0)
                        r = strv_push(&args, uid);
        }
        if (r >= 0)
                r = strv_push(&args, name);
        if (r < 0)
                return r;
        r = run_tool("useradd", args, NULL, &out);
        return r < 0 ? tool_fail(ctx, "create user", name, r, out) : 0;
}

/* Passwords are set when the user is created only: a password changed on
 * the instance afterwards stays. Passed on stdin, never on a command line. */
static int set_password(struct kiln_context *ctx, const json_t *u, const char *name) {
        const char *hashed = json_string_value(json_object_get(u, "hashed_passwd"));
        const char *plain = json_string_value(json_object_get(u, "plain_text_passwd"));
        _cleanup_free_ char *line = NULL, *out = NULL;
        char *eargs[] = {(char *) "-e", NULL}, *pargs[] = {NULL};
        int r;

        if (!hashed && !plain)
                return 0;
        line = strdup_printf("%s:%s\n", name, hashed ? hashed : plain);
        if (!line)
                return -ENOMEM;
        r = run_tool("chpasswd", hashed ? eargs : pargs, line, &out);
        explicit_bzero(line, strlen(line));
        return r < 0 ? tool_fail(ctx, "set the password of", name, r, out) : 0;
}

static int add_missing_groups(struct kiln_context *ctx, const json_t *u, const char *name) {
        _cleanup_json_ json_t *missing = json_array();
        _cleanup_free_ char *list = NULL, *out = NULL;
        json_t *g;
        size_t i;
        int r;

        json_array_foreach(json_object_get(u, "groups"), i, g)
                if (!in_group(json_string_value(g), name))
                        json_array_append(missing, g);
        if (json_array_size(missing) == 0)
                return 0;
        list = join(missing, ",");
        if (!list)
                return -ENOMEM;
        r = run_tool("usermod", (char *[]){(char *) "-a", (char *) "-G", list, (char *) name, NULL}, NULL, &out);
        return r < 0 ? tool_fail(ctx, "add groups to", name, r, out) : 0;
}

static int lock_password(struct kiln_context *ctx, const char *name) {
        _cleanup_free_ char *pw = NULL, *out = NULL;
        int r;

        if (system_colon_field("/etc/shadow", name, 1, &pw) >= 0 && (pw[0] == '!' || streq(pw, "*")))
                return 0;
        r = run_tool("passwd", (char *[]){(char *) "-l", (char *) name, NULL}, NULL, &out);
        return r < 0 ? tool_fail(ctx, "lock the password of", name, r, out) : 0;
}

/* Locking is done once per instance, as cloud-init's users-groups does
 * it: a password set afterwards (chpasswd, by hand) stays at reboots. When
 * the instance is unknown, it is locked. */
static bool lock_due(struct kiln_context *ctx, const char *name) {
        _cleanup_free_ char *marker = strdup_printf("lock_passwd-%s", name);
        int r = marker ? state_should_run(ctx, FREQ_INSTANCE, marker) : -ENOMEM;

        if (r > 0)
                (void) state_mark_done(ctx, FREQ_INSTANCE, marker);
        return r != 0;
}

/* ~/.ssh, made or fixed through fds: never a link (-ELOOP), and a
 * directory that is the user's or root's (-EPERM: someone else's moved in). */
static int open_ssh_dir(int home_fd, const struct account *a, int *ret_fd) {
        _cleanup_close_ int fd = -1;
        struct stat st;

        _cleanup_free_ char *label_path = NULL;
        bool made = mkdirat(home_fd, ".ssh", 0700) >= 0;

        if (!made && errno != EEXIST)
                return negative_errno();
        fd = openat(home_fd, ".ssh", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOTDIR && fstatat(home_fd, ".ssh", &st, AT_SYMLINK_NOFOLLOW) >= 0 &&
            S_ISLNK(st.st_mode))
                return -ELOOP;
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (st.st_uid != 0 && st.st_uid != a->uid)
                return -EPERM;
        if (fchown(fd, a->uid, a->gid) < 0 || fchmod(fd, 0700) < 0)
                return negative_errno();
        /* sshd reads only an ssh_home_t ~/.ssh under SELinux; best effort. */
        if (made && chase_label_new_wanted() && (label_path = strdup_printf("%s/.ssh", a->home)))
                (void) chase_label_new(fd, label_path, true);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The keys asked for that b lacks, appended; how many. */
static int merge_keys(struct strbuf *b, const json_t *keys, size_t *ret_added) {
        json_t *k;
        size_t i, added = 0;
        int r;

        if (b->len > 0 && b->data[b->len - 1] != '\n' && (r = strbuf_puts(b, "\n")) < 0)
                return r;
        json_array_foreach(keys, i, k) {
                const char *key = json_string_value(k);
                size_t n = key ? strlen(key) : 0;
                bool have = false;
                for (const char *l = b->data; l && *l && !have; l += strcspn(l, "\n"), l += *l == '\n')
                        have = strneq(l, key, n) && (l[n] == '\n' || l[n] == 0);
                if (!key || !*key || have)
                        continue;
                if ((r = strbuf_printf(b, "%s\n", key)) < 0)
                        return r;
                added++;
        }
        *ret_added = added;
        return 0;
}

/* authorized_keys: the keys asked for are added, lines already there
 * (added by hand) are kept. The user owns the home directory and may have
 * planted anything in it, so all of it goes by fd (agent/chase.h): ~/.ssh
 * and authorized_keys are opened without following links, the file must be
 * a regular one with one link (a FIFO is refused, never opened), and the new
 * file gets its owner and mode on its fd before it is renamed in. */
static int write_keys(const struct account *a, const json_t *keys, size_t *ret_added) {
        _cleanup_free_ char *home = NULL, *old = NULL, *label_path = strdup_printf("%s/.ssh/authorized_keys", a->home);
        const struct write_options o = {.mode = 0600, .uid = a->uid, .gid = a->gid, .label_path = label_path};
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        _cleanup_close_ int home_fd = -1, dir_fd = -1, fd = -1;
        size_t added = 0;
        int r;

        if (root_path(&home, "%s", a->home) < 0)
                return -ENOMEM;
        r = chase_dir(home, CHASE_MKDIR, &home_fd);
        if (r >= 0)
                r = open_ssh_dir(home_fd, a, &dir_fd);
        if (r >= 0)
                r = chase_open_regular(dir_fd, "authorized_keys", O_RDONLY, a->uid, &fd);
        if (r >= 0)
                r = read_fd(fd, AUTHORIZED_KEYS_MAX, &old, NULL);
        if (r < 0 && r != -ENOENT)
                return r;
        if (old && (r = strbuf_puts(&b, old)) < 0)
                return r;
        r = merge_keys(&b, keys, &added);
        if (r < 0)
                return r;
        if (added > 0 || !old)
                r = write_file_at(dir_fd, "authorized_keys", b.data ? b.data : "", b.len, &o);
        else if (fchown(fd, a->uid, a->gid) < 0)
                r = negative_errno();
        if (r < 0)
                return r;
        *ret_added = added;
        return 0;
}

/* What went wrong in the home directory, in words. */
static const char *keys_error(int r) {
        switch (r) {
        case -ELOOP: return "a symbolic link in the way (~/.ssh or authorized_keys), not followed";
        case -EBADFD: return "~/.ssh/authorized_keys is not a regular file (a FIFO, socket or device), not read";
        case -EPERM: return "~/.ssh or authorized_keys belongs to another user, or has another hard link";
        default: return strerror(-r);
        }
}

/* The key pair chosen at launch; none is fine. */
static json_t *launch_key(struct kiln_context *ctx) {
        _cleanup_free_ char *key = NULL;
        struct imds *c;
        size_t len;

        if (!ctx->identified || imds_from_context(ctx, &c) < 0)
                return NULL;
        if (imds_get(c, "meta-data/public-keys/0/openssh-key", &key, &len) < 0)
                return NULL;
        return json_string(strstrip(key));
}

static int apply_user(struct kiln_context *ctx, const json_t *u, json_t *sudoers) {
        const char *name = json_string_value(json_object_get(u, "name"));
        _cleanup_json_ json_t *keys = json_deep_copy(json_object_get(u, "ssh_authorized_keys"));
        struct account a = {};
        bool created = false;
        size_t added = 0;
        json_t *rule;
        size_t i;
        int r, result;

        if (!name || !keys)
                return -ENOMEM;
        if (json_is_string(json_object_get(u, "error")))
                return kiln_degrade(ctx, "Not creating user '%s': %s", name,
                                    json_string_value(json_object_get(u, "error")));
        result = ensure_groups(ctx, json_object_get(u, "groups"));
        if (json_is_string(json_object_get(u, "primary_group")))
                result = ensure_groups(ctx, json_pack("[O]", json_object_get(u, "primary_group"))) ?: result;
        if (lookup_account(name, &a) == -ENOENT) {
                r = create_user(ctx, u, name);
                if (r != 0)
                        return r;
                created = true;
                result = set_password(ctx, u, name) ?: result;
        } else
                result = add_missing_groups(ctx, u, name) ?: result;
        if (json_is_true(json_object_get(u, "lock_passwd")) && lock_due(ctx, name))
                result = lock_password(ctx, name) ?: result;
        json_array_foreach(json_object_get(u, "sudo"), i, rule)
                json_array_append_new(sudoers, json_pack("s++", name, " ", json_string_value(rule)));
        if (json_is_true(json_object_get(u, "launch_key"))) {
                const char *opts = json_string_value(json_object_get(u, "launch_key_options"));
                json_t *k = launch_key(ctx);
                /* ssh_redirect_user: the key with options that point to the default user. */
                if (k && opts && *opts) {
                        _cleanup_free_ char *line = strdup_printf("%s %s", opts, json_string_value(k));
                        if (!line || json_string_set(k, line) < 0) {
                                json_decref(k);
                                k = NULL;
                        }
                }
                if (k)
                        json_array_append_new(keys, k);
        }
        free(a.home);
        r = lookup_account(name, &a);
        if (r >= 0 && json_array_size(keys) > 0)
                r = write_keys(&a, keys, &added);
        free(a.home);
        if (r < 0)
                result = kiln_degrade(ctx, "Failed to install the SSH keys of '%s': %s", name, keys_error(r));
        kiln_record(ctx, json_pack("{s:s, s:s, s:b, s:I}", "name", name, "result", result ? "failed" : "ok", "created",
                                   created, "keys_added", (json_int_t) added));
        if (result == 0)
                log_info("User '%s': %s, %zu key(s) added.", name, created ? "created" : "present", added);
        return result;
}

/* visudo's verdict on sudoers text, given on its stdin: the bytes checked
 * are the bytes then written. 0, -EINVAL with visudo's complaint in
 * ret_why, -ENOENT when there is no visudo (no sudo to lock out yet). */
static int visudo_check(const char *text, char **ret_why) {
        _cleanup_free_ char *path = NULL;
        char *argv[] = {NULL, (char *) "-c", (char *) "-f", (char *) "-", NULL};
        struct proc_options o = {.argv = argv, .log_name = "visudo", .timeout_ms = TOOL_TIMEOUT_MS, .quiet = true};
        struct proc_result res = {0};
        int r;

        if (!pkg_have_program("visudo", &path))
                return -ENOENT;
        argv[0] = path;
        o.stdin_data = text;
        o.stdin_len = strlen(text);
        r = proc_run(&o, &res);
        if (r < 0)
                return r;
        r = res.exit_code == 0 ? 0 : -EINVAL;
        if (r < 0 && ret_why) {
                char *line = strstrip(res.output);
                *ret_why = strndup(line, strcspn(line, "\n"));
        }
        proc_result_done(&res);
        return r;
}

static char *sudoers_text(const json_t *rules) {
        _cleanup_free_ char *body = join(rules, "\n");

        return body ? strdup_printf("# Written by kiln from the users' sudo rules; rewritten at boot.\n%s%s", body,
                                    *body ? "\n" : "")
                    : NULL;
}

/* The rules visudo accepts on their own; each one refused is reported
 * (user, rule, visudo's words) and left out. */
static json_t *accepted_rules(struct kiln_context *ctx, const json_t *rules) {
        json_t *good = json_array(), *rule;
        size_t i;

        json_array_foreach(rules, i, rule) {
                const char *s = json_string_value(rule);
                _cleanup_free_ char *why = NULL, *one = strdup_printf("%s\n", s);
                size_t n = strcspn(s, " ");
                if (one && visudo_check(one, &why) == -EINVAL) {
                        kiln_degrade(ctx,
                                     "Sudo rule '%s' of user '%.*s' (users: sudo) refused by visudo, not installed: %s",
                                     s + n + (s[n] == ' '), (int) n, s, why ? why : "syntax error");
                        continue;
                }
                if (good)
                        json_array_append(good, rule);
        }
        return good;
}

/* One file for every user's rules, rewritten each boot. One bad rule in
 * /etc/sudoers.d makes sudo refuse everyone: visudo checks the text before
 * it is written (atomically), and rules it refuses are left out. */
static int write_sudoers(struct kiln_context *ctx, const json_t *rules) {
        _cleanup_free_ char *path = NULL, *text = NULL, *why = NULL;
        _cleanup_json_ json_t *good = NULL;
        int r, result = 0;

        if (root_path(&path, SUDOERS_FILE) < 0)
                return -ENOMEM;
        if (json_array_size(rules) == 0) {
                r = unlink(path) < 0 && errno != ENOENT ? negative_errno() : 0;
                return r < 0 ? kiln_degrade(ctx, "Failed to remove %s: %s", SUDOERS_FILE, strerror(-r)) : 0;
        }
        text = sudoers_text(rules);
        if (!text)
                return -ENOMEM;
        r = visudo_check(text, NULL);
        if (r == -ENOENT)
                log_info("No visudo (sudo is not installed): %s written unchecked.", SUDOERS_FILE);
        else if (r < 0) {
                good = accepted_rules(ctx, rules);
                free(text);
                text = good ? sudoers_text(good) : NULL;
                if (!text)
                        return -ENOMEM;
                result = KILN_DEGRADED;
                r = visudo_check(text, &why);
                if (r < 0 && r != -ENOENT)
                        return kiln_degrade(ctx, "visudo refuses the sudo rules, %s left as it was: %s", SUDOERS_FILE,
                                            why ? why : strerror(-r));
        }
        r = write_file_atomic(path, text, strlen(text), 0440);
        return r < 0 ? kiln_degrade(ctx, "Failed to write %s: %s", SUDOERS_FILE, strerror(-r)) : result;
}

int system_apply_users(struct kiln_context *ctx, const json_t *users) {
        _cleanup_json_ json_t *sudoers = json_array();
        json_t *u;
        size_t i;
        int result = 0;

        if (!sudoers)
                return -ENOMEM;
        json_array_foreach(users, i, u) {
                int r = apply_user(ctx, u, sudoers);
                if (r != 0)
                        result = r < 0 ? kiln_degrade(ctx, "Failed to set up user '%s': %s",
                                                      json_string_value(json_object_get(u, "name")), strerror(-r))
                                       : r;
        }
        return write_sudoers(ctx, sudoers) ?: result;
}

int system_run_shadow_tool(const char *tool, char *const *args, const char *stdin_data, char **ret_output) {
        return run_tool(tool, args, stdin_data, ret_output);
}

json_t *system_launch_key(struct kiln_context *ctx) {
        return launch_key(ctx);
}
