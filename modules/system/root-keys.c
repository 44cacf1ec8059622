/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chase.h"
#include "fileio.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* root's authorized_keys as cloud-init 22.4's ssh module writes it, once per
 * instance: the launch key pair and the top-level ssh_authorized_keys, each
 * prefixed with disable_root_opts when disable_root is true (the default),
 * so that logging in as root prints "Please login as the user ..." and
 * exits 142; with disable_root false, the same keys without options (root
 * can log in with them). A line already there with the same key is
 * replaced, other lines are kept, new keys are appended. */

#define MARKER "ssh-root-keys"
#define AUTHORIZED_KEYS_MAX (1024 * 1024)

/* cloud-init's ssh_util.DISABLE_USER_OPTS. */
#define DISABLE_USER_OPTS                                                                                    \
        "no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command=\"echo 'Please login as the user " \
        "\\\"$USER\\\" rather than the user \\\"$DISABLE_USER\\\".';echo;sleep 10;exit 142\""

static char *replace_all(const char *s, const char *what, const char *with) {
        struct strbuf b = STRBUF_INIT;
        size_t n = strlen(what);

        for (const char *p; (p = strstr(s, what)); s = p + n)
                (void) strbuf_printf(&b, "%.*s%s", (int) (p - s), s, with);
        (void) strbuf_puts(&b, s);
        return strbuf_steal(&b);
}

char *system_disable_user_options(const char *template, const char *user, const char *disabled) {
        _cleanup_free_ char *a = replace_all(template ? template : DISABLE_USER_OPTS, "$USER", user);

        return a ? replace_all(a, "$DISABLE_USER", disabled) : NULL;
}

json_t *system_root_keys_plan(const json_t *config, const json_t *users_plan) {
        const json_t *opts = json_object_get(config, "disable_root_opts");
        const json_t *disable = json_object_get(config, "disable_root");
        _cleanup_free_ char *options = NULL;
        const char *user = "NONE";
        json_t *keys = json_array(), *u, *k;
        bool disabled = !json_is_false(disable);
        size_t i;

        json_array_foreach(users_plan, i, u)
                if (json_is_true(json_object_get(u, "default")))
                        user = json_string_value(json_object_get(u, "name"));
        json_array_foreach(json_object_get(config, "ssh_authorized_keys"), i, k)
                if (json_is_string(k))
                        json_array_append(keys, k);
        if (disabled)
                options = system_disable_user_options(json_is_string(opts) ? json_string_value(opts) : NULL, user,
                                                      "root");
        return json_pack("{s:b, s:s, s:o, s:b}", "disable_root", disabled, "options", options ? options : "",
                         "ssh_authorized_keys", keys, "launch_key",
                         !json_is_false(json_object_get(config, "allow_public_ssh_keys")));
}

/* --- authorized_keys lines, as cloud-init's AuthKeyLineParser -------------- */

static bool key_type(const char *t, size_t n) {
        static const char *const types[] = {
                "ssh-rsa",
                "ssh-dss",
                "ssh-ed25519",
                "ssh-ed448",
                "ecdsa-sha2-nistp256",
                "ecdsa-sha2-nistp384",
                "ecdsa-sha2-nistp521",
                "sk-ssh-ed25519@openssh.com",
                "sk-ecdsa-sha2-nistp256@openssh.com",
                "rsa-sha2-256",
                "rsa-sha2-512",
                "ssh-rsa-cert-v01@openssh.com",
                "ssh-dss-cert-v01@openssh.com",
                "ssh-ed25519-cert-v01@openssh.com",
                "ecdsa-sha2-nistp256-cert-v01@openssh.com",
                "ecdsa-sha2-nistp384-cert-v01@openssh.com",
                "ecdsa-sha2-nistp521-cert-v01@openssh.com",
                "sk-ssh-ed25519-cert-v01@openssh.com",
                "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
        };
        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                if (strlen(types[i]) == n && strneq(t, types[i], n))
                        return true;
        return false;
}

struct key_line {
        const char *options; /* start, and length */
        size_t options_len;
        const char *type, *base64, *comment;
        size_t type_len, base64_len, comment_len;
};

#define BLANKS " \t\r\n\v\f"

/* "type base64 [comment]"; false when it is not one. */
static bool parse_key(const char *s, struct key_line *k) {
        s += strspn(s, BLANKS);
        k->type = s;
        k->type_len = strcspn(s, BLANKS);
        if (!key_type(k->type, k->type_len))
                return false;
        s += k->type_len;
        s += strspn(s, BLANKS);
        k->base64 = s;
        k->base64_len = strcspn(s, BLANKS);
        if (k->base64_len == 0)
                return false;
        s += k->base64_len;
        s += strspn(s, BLANKS);
        k->comment = s;
        k->comment_len = strlen(s);
        while (k->comment_len > 0 && strchr(BLANKS, s[k->comment_len - 1]))
                k->comment_len--;
        return true;
}

/* A line: options (up to the first blank outside quotes), then the key. */
static bool parse_line(const char *line, struct key_line *k) {
        const char *s = line + strspn(line, BLANKS);
        bool quoted = false;
        size_t i = 0;

        *k = (struct key_line){.options = s};
        if (*s == '#' || !*s)
                return false;
        if (parse_key(s, k))
                return true;
        for (; s[i] && (quoted || !strchr(" \t", s[i])); i++) {
                if (s[i] == '\\' && s[i + 1] == '"')
                        i++;
                else if (s[i] == '"')
                        quoted = !quoted;
        }
        k->options_len = i;
        return parse_key(s + i, k);
}

/* The line cloud-init writes for key with options (its own when NULL). */
static char *key_entry(const char *key, const char *options) {
        struct key_line k;

        if (!parse_line(key, &k))
                return NULL;
        if (options) {
                k.options = options;
                k.options_len = strlen(options);
        }
        return strdup_printf("%.*s%s%.*s %.*s%s%.*s", (int) k.options_len, k.options, k.options_len ? " " : "",
                             (int) k.type_len, k.type, (int) k.base64_len, k.base64, k.comment_len ? " " : "",
                             (int) k.comment_len, k.comment);
}

static bool same_key(const char *a, const char *b) {
        struct key_line x, y;

        return parse_line(a, &x) && parse_line(b, &y) && x.base64_len == y.base64_len &&
               strneq(x.base64, y.base64, x.base64_len);
}

/* old's lines, those with one of entries' keys replaced by it; the other
 * entries appended. */
static char *merge(const char *old, char **entries) {
        struct strbuf b = STRBUF_INIT;
        _cleanup_free_ bool *used = calloc(strv_length(entries) + 1, sizeof(bool));

        if (!used)
                return NULL;
        for (const char *l = old; l && *l;) {
                size_t n = strcspn(l, "\n");
                _cleanup_free_ char *line = strndup(l, n);
                const char *out = line;
                l += n + (l[n] == '\n');
                if (!line)
                        return strbuf_done(&b), NULL;
                for (size_t i = 0; entries && entries[i]; i++)
                        if (same_key(line, entries[i])) {
                                out = entries[i];
                                used[i] = true;
                        }
                (void) strbuf_printf(&b, "%s\n", out);
        }
        for (size_t i = 0; entries && entries[i]; i++)
                if (!used[i])
                        (void) strbuf_printf(&b, "%s\n", entries[i]);
        return b.data ? strbuf_steal(&b) : strdup("");
}

/* root's ~/.ssh, root's own: made if missing, never through a link. */
static int write_root_keys(char **entries) {
        _cleanup_free_ char *home = NULL, *home_path = NULL, *old = NULL, *text = NULL, *label = NULL;
        _cleanup_close_ int home_fd = -1, dir_fd = -1;
        struct write_options o = {.mode = 0600, .uid = 0, .gid = 0};
        int r;

        r = system_colon_field("/etc/passwd", "root", 5, &home);
        if (r < 0)
                return r;
        if (home[0] != '/')
                return -EBADMSG;
        if (root_path(&home_path, "%s", home) < 0 || !(label = strdup_printf("%s/.ssh/authorized_keys", home)))
                return -ENOMEM;
        o.label_path = label;
        r = chase_dir(home_path, CHASE_MKDIR, &home_fd);
        if (r < 0)
                return r;
        if (mkdirat(home_fd, ".ssh", 0700) < 0 && errno != EEXIST)
                return negative_errno();
        dir_fd = openat(home_fd, ".ssh", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir_fd < 0)
                return errno == ENOTDIR ? -ELOOP : negative_errno();
        r = read_file_at(dir_fd, "authorized_keys", AUTHORIZED_KEYS_MAX, &old, NULL);
        if (r < 0 && r != -ENOENT)
                return r;
        text = merge(old, entries);
        if (!text)
                return -ENOMEM;
        if (old && streq(old, text))
                return 0;
        return write_file_at(dir_fd, "authorized_keys", text, strlen(text), &o);
}

int system_apply_root_keys(struct kiln_context *ctx, const json_t *plan) {
        const char *options = json_string_value(json_object_get(plan, "options"));
        _cleanup_json_ json_t *keys = json_deep_copy(json_object_get(plan, "ssh_authorized_keys"));
        _cleanup_strv_free_ char **entries = NULL;
        json_t *k;
        size_t i;
        int r;

        if (!plan || !keys)
                return 0;
        if (json_is_true(json_object_get(plan, "launch_key"))) {
                json_t *launch = system_launch_key(ctx);
                if (launch)
                        json_array_insert_new(keys, 0, launch);
        }
        if (json_array_size(keys) == 0)
                return 0;
        r = state_should_run(ctx, FREQ_INSTANCE, MARKER);
        if (r <= 0) {
                if (r == 0)
                        kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", MARKER, "result", "skipped", "frequency",
                                                   "per-instance"));
                return r < 0 ? kiln_fail(ctx, r, "Not writing root's SSH keys: %s", strerror(-r)) : 0;
        }
        /* options "" (disable_root false) drops a key's own options, as cloud-init's parser does. */
        json_array_foreach(keys, i, k) {
                _cleanup_free_ char *e = json_is_string(k) ? key_entry(json_string_value(k), options) : NULL;
                if (e && strv_push(&entries, e) < 0)
                        return -ENOMEM;
        }
        r = entries ? write_root_keys(entries) : 0;
        kiln_record(ctx, json_pack("{s:s, s:s, s:b, s:I}", "name", MARKER, "result", r < 0 ? "failed" : "ok",
                                   "disable_root", json_is_true(json_object_get(plan, "disable_root")), "keys",
                                   (json_int_t) strv_length(entries)));
        if (r < 0)
                return kiln_degrade(ctx, "Failed to write root's authorized_keys: %s", strerror(-r));
        r = state_mark_done(ctx, FREQ_INSTANCE, MARKER);
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that root's SSH keys were written: %s", strerror(-r)) : 0;
}
