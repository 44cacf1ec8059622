/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "fileio.h"
#include "gzip.h"
#include "path.h"
#include "strbuf.h"
#include "system/system.h"
#include "userdata/mime.h"
#include "userdata/userdata.h"

#define DEFAULT_SUDO "ALL=(ALL) NOPASSWD:ALL"

/* A float as Python's str() writes it (repr): the shortest digits that
 * read back the same, in positional notation for exponents -4 to 15 (with
 * ".0" when there is no fraction), else as 1.5e+20 / 2.5e-05. */
static int zeros(struct strbuf *b, int n) {
        for (; n > 0; n--)
                if (strbuf_puts(b, "0") < 0)
                        return -ENOMEM;
        return 0;
}

static char *float_word(double d) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        char buf[64], digits[32];
        size_t nd = 0;
        int exp, r;

        for (int prec = 0; prec <= 17; prec++) {
                (void) snprintf(buf, sizeof(buf), "%.*e", prec, d);
                if (strtod(buf, NULL) == d)
                        break;
        }
        for (const char *p = buf; *p && *p != 'e' && nd < sizeof(digits) - 1; p++)
                if (*p >= '0' && *p <= '9')
                        digits[nd++] = *p;
        digits[nd] = 0;
        exp = (int) strtol(strchr(buf, 'e') + 1, NULL, 10);
        r = buf[0] == '-' ? strbuf_puts(&b, "-") : 0;
        if (exp < -4 || exp >= 16)
                r = r < 0 ? r
                          : strbuf_printf(&b, "%c%s%se%c%02d", digits[0], nd > 1 ? "." : "", digits + 1,
                                          exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        else if (exp < 0) {
                r = r < 0 ? r : strbuf_puts(&b, "0.");
                r = r < 0 ? r : zeros(&b, -exp - 1);
                r = r < 0 ? r : strbuf_puts(&b, digits);
        } else if ((size_t) exp + 1 >= nd) {
                r = r < 0 ? r : strbuf_puts(&b, digits);
                r = r < 0 ? r : zeros(&b, exp + 1 - (int) nd);
                r = r < 0 ? r : strbuf_puts(&b, ".0");
        } else
                r = r < 0 ? r : strbuf_printf(&b, "%.*s.%s", exp + 1, digits, digits + exp + 1);
        if (r < 0)
                return NULL;
        return strbuf_steal(&b);
}

/* An argv word from a scalar, as cloud-init's str() makes it: `- [sleep, 5]`
 * runs "sleep" "5". */
static json_t *word(const json_t *v) {
        _cleanup_free_ char *s = NULL;

        if (json_is_string(v))
                return json_incref((json_t *) v);
        if (json_is_integer(v))
                s = strdup_printf("%lld", (long long) json_integer_value(v));
        else if (json_is_real(v))
                s = float_word(json_real_value(v));
        else if (json_is_boolean(v))
                s = strdup(json_is_true(v) ? "True" : "False");
        else if (json_is_null(v))
                s = strdup("None");
        return s ? json_string(s) : NULL;
}

/* A mapping's command: a shell string runs through /bin/sh -c; a list is
 * executed as it is. NULL when it is not a command. */
static json_t *command_argv(const json_t *cmd) {
        _cleanup_json_ json_t *argv = json_array();
        size_t i;
        json_t *v;

        if (!argv)
                return NULL;
        if (json_is_string(cmd))
                return json_pack("[s, s, O]", "/bin/sh", "-c", cmd);
        if (!json_is_array(cmd) || json_array_size(cmd) == 0)
                return NULL;
        json_array_foreach((json_t *) cmd, i, v) {
                json_t *w = word(v);
                if (!w || json_array_append_new(argv, w) < 0)
                        return NULL;
        }
        return TAKE_PTR(argv);
}

/* Marker names are one file name: keep the name's safe characters. */
static char *marker_for(const char *key, const char *name, size_t index) {
        _cleanup_free_ char *m = name ? strdup_printf("%s-%.64s", key, name) : strdup_printf("%s-%zu", key, index);

        for (char *p = m; p && *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("._-", *p))
                        *p = '_';
        return TAKE_PTR(m);
}

/* A mapping item (kiln's own form): a command with its own name and
 * frequency, run and recorded on its own. */
static json_t *command_item(const char *key, size_t i, const json_t *item, enum frequency def) {
        const json_t *cmd = json_object_get(item, "command");
        const char *name = json_string_value(json_object_get(item, "name"));
        const char *freq_s = json_string_value(json_object_get(item, "frequency"));
        _cleanup_free_ char *shown = NULL, *marker = NULL;
        enum frequency freq = def;
        json_t *argv = command_argv(cmd);

        if (!argv)
                return NULL;
        if (freq_s && frequency_from_string(freq_s, &freq) < 0)
                freq = def;
        shown = name ? strdup_printf("%s %s", key, name) : strdup_printf("%s[%zu]", key, i);
        marker = marker_for(key, name, i);
        if (!shown || !marker) {
                json_decref(argv);
                return NULL;
        }
        return json_pack("{s:s, s:s, s:s, s:o}", "name", shown, "marker", marker, "frequency", frequency_name(freq),
                         "argv", argv);
}

/* An item of cloud-init's own forms: a string or a list of words. Other
 * scalars are left out of the script: null (an empty `- ` item) as
 * cloud-init does, a number or a boolean because validation reports it. */
static bool plain_item(const json_t *item) {
        return json_is_string(item) || json_is_array(item);
}

/* One item as cloud-init's shellify() writes it: a string as it is, a list
 * word by word in single quotes (' as '\''), then a line break. */
static int shellify_item(struct strbuf *b, const json_t *item) {
        const json_t *v;
        size_t i;
        int r = 0;

        if (json_is_string(item))
                r = strbuf_append(b, json_string_value(item), json_string_length(item));
        json_array_foreach((json_t *) item, i, v) {
                _cleanup_json_ json_t *w = word(v);
                const char *s = json_string_value(w);
                if (!s)
                        return -EINVAL;
                r = strbuf_puts(b, i > 0 ? " '" : "'");
                for (; r >= 0 && *s; s++)
                        r = *s == '\'' ? strbuf_puts(b, "'\\''") : strbuf_append(b, s, 1);
                if (r >= 0)
                        r = strbuf_puts(b, "'");
                if (r < 0)
                        return r;
        }
        return r < 0 ? r : strbuf_puts(b, "\n");
}

static size_t count_lines(const struct strbuf *b) {
        size_t n = 0;

        for (size_t i = 0; i < b->len; i++)
                n += b->data[i] == '\n';
        return n;
}

/* Items first..last-1, all plain, as ONE shell script, as cloud-init runs
 * runcmd and bootcmd: `cd`, variables and `if ... fi` carry from item to
 * item. The script is exactly what cloud-init writes (nothing is added
 * between items: an item may be a line of the one before's here-document);
 * "items" gives each item's first line, to name the item a shell error
 * points at. */
static json_t *script_item(const char *key, const json_t *list, size_t first, size_t last, enum frequency def) {
        _cleanup_strbuf_ struct strbuf script = STRBUF_INIT;
        _cleanup_json_ json_t *items = json_array();
        _cleanup_free_ char *shown = NULL, *marker = NULL;
        bool whole = first == 0 && last == json_array_size(list);

        if (!items || strbuf_puts(&script, "#!/bin/sh\n") < 0)
                return NULL;
        for (size_t i = first; i < last; i++) {
                json_t *item = json_array_get(list, i);
                _cleanup_free_ char *name = strdup_printf("%s[%zu]", key, i);
                size_t line = count_lines(&script) + 1;
                if (!name)
                        return NULL;
                if (!plain_item(item))
                        continue;
                if (shellify_item(&script, item) < 0 ||
                    json_array_append_new(items, json_pack("{s:s, s:I}", "name", name, "line", (json_int_t) line)) < 0)
                        return NULL;
        }
        if (json_array_size(items) == 0)
                return json_null();
        shown = whole               ? strdup(key)
                : last - first == 1 ? strdup_printf("%s[%zu]", key, first)
                                    : strdup_printf("%s[%zu-%zu]", key, first, last - 1);
        /* The first item's marker: an instance that ran these items one by
         * one (kiln before 0.x) does not run them again. */
        marker = marker_for(key, NULL, first);
        if (!shown || !marker)
                return NULL;
        return json_pack("{s:s, s:s, s:s, s:s%, s:O}", "name", shown, "marker", marker, "frequency",
                         frequency_name(def), "script", script.data, script.len, "items", items);
}

json_t *system_plan_commands(const json_t *config, const char *key, enum frequency def) {
        json_t *list = json_object_get(config, key), *out = json_array(), *item;
        size_t i, run = 0;

        if (!json_is_array(list))
                return out;
        json_array_foreach(list, i, item) {
                json_t *c;
                if (!json_is_object(item))
                        continue;
                /* The plain items before this one are one script. */
                if (run < i && (c = script_item(key, list, run, i, def)) && !json_is_null(c))
                        json_array_append_new(out, c);
                run = i + 1;
                c = command_item(key, i, item, def);
                if (c)
                        json_array_append_new(out, c);
        }
        if (run < json_array_size(list)) {
                json_t *c = script_item(key, list, run, json_array_size(list), def);
                if (c && !json_is_null(c))
                        json_array_append_new(out, c);
        }
        return out;
}

/* "a, b" or [a, b] -> [a, b]. */
static json_t *name_list(const json_t *v) {
        json_t *out = json_array(), *item;
        size_t i;

        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                while (out && *s) {
                        size_t n = strcspn(s, ",");
                        _cleanup_free_ char *name = strndup(s, n);
                        char *t = name ? strstrip(name) : NULL;
                        if (t && *t)
                                json_array_append_new(out, json_string(t));
                        s += n + (s[n] == ',');
                }
        }
        json_array_foreach(v, i, item)
                if (json_is_string(item))
                        json_array_append(out, item);
        return out;
}

/* sudo: a rule, a list of rules, or false/null for none. */
static json_t *sudo_rules(const json_t *v, bool is_default) {
        if (!v)
                return is_default ? json_pack("[s]", DEFAULT_SUDO) : json_array();
        if (json_is_true(v))
                return json_pack("[s]", DEFAULT_SUDO);
        return name_list(v);
}

static void set_if(json_t *dst, const char *key, const json_t *src, bool (*ok)(const json_t *)) {
        json_t *v = json_object_get(src, key);
        if (v && ok(v))
                json_object_set(dst, key, v);
}

static bool is_string(const json_t *v) {
        return json_is_string(v);
}
static bool is_bool(const json_t *v) {
        return json_is_boolean(v);
}
static bool is_uid(const json_t *v) {
        return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < 4294967295LL;
}

/* cloud-init refuses to create a user with no home (no_create_home,
 * system) and keys to put in it (its NO_HOME and NEED_HOME). */
static void no_home_conflict(json_t *p, const json_t *u) {
        const char *no = json_is_true(json_object_get(u, "no_create_home")) ? "no_create_home"
                         : json_is_true(json_object_get(u, "system"))       ? "system"
                                                                            : NULL;
        const json_t *keys = json_object_get(u, "ssh_authorized_keys");

        if (no && json_is_true(json_object_get(u, "ssh_redirect_user")))
                keys = json_object_get(u, "ssh_redirect_user");
        if (no && keys && !(json_is_array(keys) && json_array_size(keys) == 0) &&
            !(json_is_string(keys) && !*json_string_value(keys)))
                json_object_set_new(
                        p, "error",
                        json_sprintf("ssh_authorized_keys cannot be given with %s (there is no home for them), "
                                     "as cloud-init refuses it",
                                     no));
}

/* ssh_redirect_user: true (or "default"), as cloud-init's users-groups: the
 * launch key in the user's authorized_keys, with options that tell whoever
 * logs in with it to use the default user instead. Without a default user
 * it is ignored (cloud-init says so in its log). */
static void redirect_user(json_t *p, const json_t *u, const json_t *def) {
        const json_t *v = json_object_get(u, "ssh_redirect_user");
        _cleanup_free_ char *opts = NULL;

        if (!p || !v || json_is_false(v) || json_is_null(v) || json_object_get(p, "error"))
                return;
        if (!json_is_true(v) && !(json_is_string(v) && streq(json_string_value(v), "default"))) {
                json_object_set_new(p, "error",
                                    json_string("ssh_redirect_user must be true or default, as cloud-init "
                                                "requires"));
                return;
        }
        if (json_object_get(u, "ssh_authorized_keys")) {
                json_object_set_new(p, "error",
                                    json_string("ssh_redirect_user cannot be given with "
                                                "ssh_authorized_keys, as cloud-init refuses it"));
                return;
        }
        if (!def)
                return;
        opts = system_disable_user_options(NULL, json_string_value(json_object_get(def, "name")),
                                           json_string_value(json_object_get(p, "name")));
        json_object_set_new(p, "launch_key", json_true());
        json_object_set_new(p, "launch_key_options", json_string(opts ? opts : ""));
}

/* `user` (cloud-config's legacy key): a name or a mapping, over the default
 * user's config; it also makes the default user wanted. */
static json_t *legacy_user(const json_t *config) {
        const json_t *v = json_object_get(config, "user"), *def = json_object_get(config, "default_user");
        json_t *out = json_is_object(def) ? json_deep_copy(def) : json_object();

        if (!out)
                return NULL;
        if (json_is_string(v) && *json_string_value(v))
                json_object_set(out, "name", (json_t *) v);
        else if (json_is_object(v))
                json_object_update(out, (json_t *) v);
        return out;
}

static json_t *user_plan(const json_t *u, const char *name, bool is_default, const json_t *extra_keys) {
        json_t *keys = name_list(json_object_get(u, "ssh_authorized_keys")), *k;
        json_t *lock = json_object_get(u, "lock_passwd");
        json_t *p;
        size_t i;

        json_array_foreach(extra_keys, i, k)
                if (json_is_string(k))
                        json_array_append(keys, k);
        p = json_pack("{s:s, s:b, s:o, s:o, s:s, s:b, s:o, s:b}", "name", name, "default", is_default, "groups",
                      name_list(json_object_get(u, "groups")), "sudo",
                      sudo_rules(json_object_get(u, "sudo"), is_default), "shell",
                      json_string_value(json_object_get(u, "shell")) ?: "/bin/bash", "lock_passwd",
                      json_is_boolean(lock) ? json_is_true(lock) : true, "ssh_authorized_keys", keys, "launch_key",
                      is_default);
        if (!p)
                return NULL;
        set_if(p, "gecos", u, is_string);
        set_if(p, "homedir", u, is_string);
        set_if(p, "primary_group", u, is_string);
        set_if(p, "system", u, is_bool);
        set_if(p, "uid", u, is_uid);
        set_if(p, "hashed_passwd", u, is_string);
        set_if(p, "plain_text_passwd", u, is_string);
        set_if(p, "no_create_home", u, is_bool);
        /* useradd options cloud-init passes only when given as strings. */
        set_if(p, "expiredate", u, is_string);
        set_if(p, "inactive", u, is_string);
        set_if(p, "selinux_user", u, is_string);
        set_if(p, "no_user_group", u, is_bool);
        set_if(p, "no_log_init", u, is_bool);
        no_home_conflict(p, u);
        return p;
}

/* A user listed under the default user's name is the default user, as in
 * cloud-init's _normalize_users(): its groups are added to the default
 * user's, its other keys fill only what the default user's config lacks
 * (mergemanydict: the first config wins). The image's default_user
 * (Debian's, Ubuntu's, Amazon's cloud.cfg) always sets lock_passwd,
 * gecos, sudo and shell, so the listed user's never win there. */
static void fold_into_default(json_t *def, const json_t *u) {
        static const char *const image_set[] = {"lock_passwd", "gecos", "sudo", "shell", "name"};
        const char *key;
        json_t *v;

        if (!json_is_object(u))
                return;
        json_object_foreach((json_t *) u, key, v) {
                bool image = false;
                for (size_t i = 0; i < ELEMENTSOF(image_set); i++)
                        image = image || streq(key, image_set[i]);
                if (image)
                        continue;
                if (streq(key, "groups")) {
                        _cleanup_json_ json_t *mine = name_list(json_object_get(def, "groups")), *theirs = name_list(v);
                        size_t i, k;
                        json_t *g, *h;
                        json_array_foreach(theirs, i, g) {
                                bool have = false;
                                json_array_foreach(mine, k, h)
                                        have = have || json_equal(g, h);
                                if (!have)
                                        json_array_append(mine, g);
                        }
                        if (mine)
                                json_object_set(def, "groups", mine);
                } else if (!json_object_get(def, key))
                        json_object_set(def, key, v);
        }
}

/* cloud-init's rule: without `users`, the default user; with it, the users
 * listed, "default" standing for the default user. The order is
 * cloud-init's (ug_util._normalize_users()): the listed users as listed,
 * then the default user, wherever "default" stands and whether it comes
 * from "default" or from `user`; a listed user with the default user's
 * name is the default user, made last too. */
static json_t *users_plan(const json_t *config, const char *default_name) {
        const json_t *users = json_object_get(config, "users"), *legacy = json_object_get(config, "user");
        const json_t *top_keys = json_object_get(config, "ssh_authorized_keys");
        _cleanup_json_ json_t *def = legacy_user(config);
        json_t *out = json_array(), *u, *d = NULL;
        bool want_default = !json_is_array(users) || (json_is_string(legacy) && *json_string_value(legacy)) ||
                            (json_is_object(legacy) && json_object_size(legacy) > 0);
        const char *def_name = NULL;
        size_t i;

        json_array_foreach(users, i, u)
                if (json_is_string(u) && streq(json_string_value(u), "default"))
                        want_default = true;
        if (want_default && def) {
                const char *name = json_string_value(json_object_get(def, "name"));
                def_name = name && *name ? name : default_name;
                json_array_foreach(users, i, u)
                        if (json_is_object(u) && streq(json_string_value(json_object_get(u, "name")) ?: "", def_name))
                                fold_into_default(def, u);
                d = user_plan(def, def_name, true, json_is_array(top_keys) ? top_keys : NULL);
                /* allow_public_ssh_keys: false, as cloud-init's ssh module: no launch key. */
                if (d && json_is_false(json_object_get(config, "allow_public_ssh_keys")))
                        json_object_set_new(d, "launch_key", json_false());
        }
        json_array_foreach(users, i, u) {
                const char *name =
                        json_is_string(u) ? json_string_value(u) : json_string_value(json_object_get(u, "name"));
                if (!name || !*name || (json_is_string(u) && streq(name, "default")))
                        continue;
                if (def_name && streq(name, def_name))
                        continue; /* the default user, below */
                json_array_append_new(out, user_plan(json_is_object(u) ? u : NULL, name, false, NULL));
                redirect_user(json_array_get(out, json_array_size(out) - 1), u, d);
        }
        if (d)
                json_array_append_new(out, d);
        return out;
}

static bool py_space(char c) {
        return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* A string as Python's int(s, 8) reads it (cloud-init's decode_perms()):
 * blanks around, a sign, an optional 0o prefix, octal digits with single
 * underscores between them. -EINVAL otherwise, or beyond 07777. */
static int py_octal(const char *s, long *ret) {
        bool neg = false, digit = false;
        long m = 0;

        while (py_space(*s))
                s++;
        if (*s == '+' || *s == '-')
                neg = *s++ == '-';
        if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
                s += 2;
                if (*s == '_')
                        s++; /* "0o_644" */
        }
        for (; *s && !py_space(*s); s++) {
                if (*s == '_' && digit && s[1] >= '0' && s[1] <= '7')
                        continue;
                if (*s < '0' || *s > '7' || m > 07777)
                        return -EINVAL;
                m = m * 8 + (*s - '0');
                digit = true;
        }
        while (py_space(*s))
                s++;
        if (!digit || *s)
                return -EINVAL;
        *ret = neg ? -m : m;
        return 0;
}

/* As cloud-init's decode_perms(): a number as it is (0644 in YAML is
 * octal already, a float is truncated), a string as Python's int(s, 8)
 * ("0644", "0o600", "644"). */
static int parse_mode(const json_t *v, unsigned *ret) {
        long m;

        if (!v) {
                *ret = 0644;
                return 0;
        }
        if (json_is_integer(v))
                m = json_integer_value(v) < 0 || json_integer_value(v) > 07777 ? -1 : (long) json_integer_value(v);
        else if (json_is_real(v))
                m = json_real_value(v) >= 0 && json_real_value(v) < 07777 + 1 ? (long) json_real_value(v) : -1;
        else if (!json_is_string(v) || py_octal(json_string_value(v), &m) < 0)
                return -EINVAL;
        if (m < 0 || m > 07777)
                return -EINVAL;
        *ret = (unsigned) m;
        return 0;
}

static void set_content(json_t *p, const char *data, size_t len) {
        _cleanup_free_ char *b64 = NULL;
        json_t *s = json_stringn(data, len);

        if (s) {
                json_object_set_new(p, "content", s);
                return;
        }
        /* Not text: the plan shows the bytes as base64. */
        {
                static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                struct strbuf b = STRBUF_INIT;
                for (size_t i = 0; i < len; i += 3) {
                        unsigned v = (unsigned char) data[i] << 16;
                        v |= i + 1 < len ? (unsigned char) data[i + 1] << 8 : 0;
                        v |= i + 2 < len ? (unsigned char) data[i + 2] : 0;
                        char out[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63], i + 1 < len ? tab[(v >> 6) & 63] : '=',
                                       i + 2 < len ? tab[v & 63] : '='};
                        (void) strbuf_append(&b, out, 4);
                }
                b64 = strbuf_steal(&b);
        }
        json_object_set_new(p, "content_base64", json_string(b64 ? b64 : ""));
}

static json_t *file_plan(const json_t *f) {
        const char *path = json_string_value(json_object_get(f, "path"));
        const char *content = json_string_value(json_object_get(f, "content"));
        const char *encoding = json_string_value(json_object_get(f, "encoding"));
        const char *owner = json_string_value(json_object_get(f, "owner"));
        const char *err = NULL;
        _cleanup_free_ char *data = NULL, *mode_s = NULL;
        size_t len = 0;
        unsigned mode;
        json_t *p;

        if (!path)
                return NULL;
        if (parse_mode(json_object_get(f, "permissions"), &mode) < 0) {
                mode = 0644;
                err = "permissions must be an octal mode such as '0644'";
        }
        mode_s = strdup_printf("%04o", mode);
        p = json_pack("{s:s, s:s, s:s, s:b, s:b}", "path", path, "owner", owner ? owner : "root:root", "permissions",
                      mode_s ? mode_s : "0644", "append", json_is_true(json_object_get(f, "append")), "defer",
                      json_is_true(json_object_get(f, "defer")));
        if (!p)
                return NULL;
        if (!err && system_decode_content(content ? content : "",
                                          content ? json_string_length(json_object_get(f, "content")) : 0, encoding,
                                          &data, &len, &err) >= 0)
                set_content(p, data, len);
        if (err)
                json_object_set_new(p, "error", json_string(err));
        return p;
}

static json_t *files_plan(const json_t *config) {
        json_t *out = json_array(), *f;
        size_t i;

        json_array_foreach(json_object_get(config, "write_files"), i, f) {
                json_t *p = json_is_object(f) ? file_plan(f) : NULL;
                if (p)
                        json_array_append_new(out, p);
        }
        return out;
}

/* A package is a name or [name, version]; the version joins as the package
 * manager wants it at install time. */
/* A scalar Python would find true. */
static bool python_true(const json_t *v) {
        return (json_is_string(v) && json_string_length(v) > 0) || json_is_true(v) ||
               (json_is_integer(v) && json_integer_value(v) != 0) || (json_is_real(v) && json_real_value(v) != 0);
}

static json_t *packages_plan(const json_t *config) {
        json_t *list = json_object_get(config, "packages"), *install = json_array(), *p;
        bool update = json_is_true(json_object_get(config, "package_update"));
        bool upgrade = json_is_true(json_object_get(config, "package_upgrade"));
        size_t i;

        json_array_foreach(list, i, p) {
                json_t *version = json_array_get(p, 1);
                if (json_is_string(p))
                        json_array_append(install, p);
                else if (!system_package_pair_ok(p))
                        continue;
                /* As cloud-init's expand_package_list(): [name] or a
                 * version that is false in Python is the name alone; a
                 * version is written as str() writes it (1.10 is "1.1"). */
                else if (json_array_size(p) == 1 || !python_true(version))
                        json_array_append(install, json_array_get(p, 0));
                else
                        json_array_append_new(install, json_pack("[O, o]", json_array_get(p, 0), word(version)));
        }
        /* As cloud-init: installing needs a fresh index. */
        update = update || upgrade || json_array_size(install) > 0;
        return json_pack("{s:b, s:b, s:o}", "update", update, "upgrade", upgrade, "install", install);
}

bool system_package_pair_ok(const json_t *p) {
        json_t *v = json_array_get(p, 1);

        return json_is_array(p) && (json_array_size(p) == 1 || json_array_size(p) == 2) &&
               json_is_string(json_array_get(p, 0)) &&
               (json_array_size(p) == 1 || json_is_string(v) || json_is_number(v) || json_is_boolean(v) ||
                json_is_null(v));
}

/* manage_etc_hosts as cloud-init reads it (cc_update_etc_hosts): its
 * str() true, 1, on, yes or template in any case renders the whole file;
 * "localhost" keeps the file and updates the name's line; anything else,
 * or no key, leaves /etc/hosts alone. NULL: alone. */
static const char *etc_hosts_mode(const json_t *v) {
        static const char *const yes[] = {"true", "1", "on", "yes", "template"};
        _cleanup_free_ char *s = NULL;

        if (json_is_boolean(v))
                return json_is_true(v) ? "template" : NULL;
        if (json_is_integer(v))
                return json_integer_value(v) == 1 ? "template" : NULL;
        if (!json_is_string(v))
                return NULL;
        if (streq(json_string_value(v), "localhost"))
                return "localhost";
        s = strdup(json_string_value(v));
        for (char *p = s; p && *p; p++)
                *p = (char) tolower((unsigned char) *p);
        for (size_t i = 0; s && i < ELEMENTSOF(yes); i++)
                if (streq(strstrip(s), yes[i]))
                        return "template";
        return NULL;
}

static json_t *hostname_plan(const json_t *config) {
        const char *hostname = json_string_value(json_object_get(config, "hostname"));
        const char *fqdn = json_string_value(json_object_get(config, "fqdn"));
        const char *hosts = etc_hosts_mode(json_object_get(config, "manage_etc_hosts"));
        _cleanup_free_ char *short_name = NULL;

        if (json_is_true(json_object_get(config, "preserve_hostname")))
                return json_pack("{s:b}", "preserve", true);
        if (!hostname && !fqdn)
                return json_pack("{s:s, s:s*}", "source", "imds", "manage_etc_hosts", hosts);
        if (!hostname)
                hostname = short_name = strndup(fqdn, strcspn(fqdn, "."));
        if (!hostname)
                return NULL;
        return json_pack("{s:s, s:s, s:s?, s:b, s:s*}", "source", "config", "hostname", hostname, "fqdn", fqdn,
                         "prefer_fqdn", json_is_true(json_object_get(config, "prefer_fqdn_over_hostname")),
                         "manage_etc_hosts", hosts);
}

static json_t *parts_plan(const json_t *config, const struct userdata_part *parts, size_t n_parts, bool boothooks) {
        json_t *out = json_array();

        for (size_t i = 0; i < n_parts; i++) {
                const struct userdata_part *p = &parts[i];
                if (boothooks ? !userdata_part_is_boothook(p) : !userdata_part_is_script(p))
                        continue;
                json_array_append_new(
                        out, json_pack("{s:s, s:s, s:I}", "name", p->filename, "frequency",
                                       frequency_name(boothooks ? p->freq : userdata_script_frequency(config, p)),
                                       "bytes", (json_int_t) p->len));
        }
        return out;
}

json_t *system_plan(const json_t *config, const struct userdata_part *parts, size_t n_parts,
                    const char *default_user_name) {
        const char *tz = json_string_value(json_object_get(config, "timezone"));
        json_t *plan, *pw;

        plan = json_pack(
                "{s:o, s:o, s:o*, s:s?, s:o, s:o, s:o, s:o, s:o}", "boothooks",
                parts_plan(config, parts, n_parts, true), "bootcmd", system_plan_commands(config, "bootcmd", FREQ_BOOT),
                "hostname", hostname_plan(config), "timezone", tz, "users", users_plan(config, default_user_name),
                "write_files", files_plan(config), "packages", packages_plan(config), "scripts",
                parts_plan(config, parts, n_parts, false), "runcmd",
                system_plan_commands(config, "runcmd", userdata_scripts_user_frequency(config, FREQ_INSTANCE)));
        if (plan && json_object_get(config, "power_state"))
                json_object_set_new(plan, "power_state", system_power_plan(config));
        if (plan && json_is_true(json_object_get(config, "package_reboot_if_required")))
                json_object_set_new(plan, "package_reboot_if_required", json_true());
        if (plan && json_object_get(config, "groups"))
                json_object_set_new(plan, "groups", system_groups_plan(config));
        if (plan)
                json_object_set_new(plan, "root_keys", system_root_keys_plan(config, json_object_get(plan, "users")));
        /* Only when there is something to do: plans without passwords stay as they were. */
        pw = plan ? system_passwords_plan(config, json_object_get(plan, "users")) : NULL;
        if (pw && (json_array_size(json_object_get(pw, "set")) > 0 ||
                   json_array_size(json_object_get(pw, "errors")) > 0 || json_object_get(pw, "ssh_pwauth")))
                json_object_set_new(plan, "passwords", TAKE_PTR(pw));
        json_decref(pw);
        return plan;
}

void system_plan_redact(json_t *plan) {
        size_t i;
        json_t *u;

        system_passwords_redact(json_object_get(plan, "passwords"));
        json_array_foreach(json_object_get(plan, "users"), i, u) {
                if (json_object_get(u, "hashed_passwd"))
                        json_object_set_new(u, "hashed_passwd", json_string("(secret)"));
                if (json_object_get(u, "plain_text_passwd"))
                        json_object_set_new(u, "plain_text_passwd", json_string("(secret)"));
        }
}

const char *system_default_user_name(void) {
        _cleanup_free_ char *id = system_os_release("ID");

        if (id && strneq(id, "debian", 6))
                return "admin";
        if (id && strneq(id, "ubuntu", 6))
                return "ubuntu";
        return "ec2-user";
}

int system_decode_content(const char *content, size_t len, const char *encoding, char **ret, size_t *ret_len,
                          const char **ret_error) {
        static const char *const b64[] = {"b64", "base64"};
        static const char *const gz[] = {"gz", "gzip"};
        static const char *const gzb64[] = {"gz+b64", "gz+base64", "gzip+b64", "gzip+base64"};
        _cleanup_free_ char *raw = NULL;
        bool want_b64 = false, want_gz = false;
        size_t n = len;
        int r;

        for (size_t i = 0; encoding && i < ELEMENTSOF(gzb64); i++)
                want_b64 = want_gz = want_gz || streq(encoding, gzb64[i]);
        for (size_t i = 0; encoding && i < ELEMENTSOF(b64); i++)
                want_b64 = want_b64 || streq(encoding, b64[i]);
        for (size_t i = 0; encoding && i < ELEMENTSOF(gz); i++)
                want_gz = want_gz || streq(encoding, gz[i]);
        if (encoding && !want_b64 && !want_gz && !streq(encoding, "text/plain") && !streq(encoding, "text")) {
                *ret_error = "encoding must be one of text/plain, b64, gzip, gz+b64";
                return -EINVAL;
        }
        if (want_b64) {
                r = base64_decode_python(content, len, false, &raw, &n);
                if (r < 0) {
                        *ret_error = "content is not valid base64";
                        return r;
                }
                content = raw;
        }
        if (want_gz) {
                r = userdata_gunzip(content, n, ret, ret_len);
                if (r < 0)
                        *ret_error = r == -ENOPKG ? gzip_error() : "content does not gunzip";
                return r;
        }
        *ret = malloc(n + 1);
        if (!*ret)
                return -ENOMEM;
        memcpy(*ret, content, n);
        (*ret)[n] = 0;
        *ret_len = n;
        return 0;
}
