/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "fileio.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "strbuf.h"
#include "system/system.h"

/* locale and locale_configfile as cloud-init's cc_locale does them on
 * Debian and Ubuntu (distros/debian.py): the system locale is LANG in
 * /etc/default/locale (C.UTF-8 when unset). When the locale asked for
 * differs from it (in any case), or the config file is missing, or LANG
 * is unset: its line from /usr/share/i18n/SUPPORTED is enabled in
 * /etc/locale.gen (uncommented, or added) and `locale-gen --keep-existing`
 * runs (not for C, C.UTF-8, C.utf8, POSIX); then `update-locale
 * --locale-file=<locale_configfile> LANG=<locale>`. Checked at every boot
 * (cloud-init: per instance); it does nothing when the system already has
 * the locale. `locale: false` (or off, no, 0) turns it off. */

#define LOCALE_CONF "/etc/default/locale"

static char *read_root(const char *path) {
        _cleanup_free_ char *rooted = NULL;
        char *buf = NULL;
        size_t len;

        if (root_path(&rooted, "%s", path) < 0 || read_file(rooted, 16u << 20, &buf, &len) < 0)
                return NULL;
        return buf;
}

/* LANG from a shell-style file, as util.load_shell_content() reads it
 * (one assignment a line, quotes taken off). */
static char *shell_value(const char *text, const char *key) {
        size_t kl = strlen(key);
        char *found = NULL;

        for (const char *line = text; line && *line;) {
                const char *nl = strchr(line, '\n'), *v;
                size_t n = nl ? (size_t) (nl - line) : strlen(line);
                while (n > 0 && isspace((unsigned char) *line)) {
                        line++;
                        n--;
                }
                if (n > kl && strneq(line, key, kl) && line[kl] == '=') {
                        v = line + kl + 1;
                        n -= kl + 1;
                        while (n > 0 && isspace((unsigned char) v[n - 1]))
                                n--;
                        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
                                v++;
                                n -= 2;
                        }
                        free(found);
                        found = strndup(v, n);
                }
                line = nl ? nl + 1 : NULL;
        }
        return found;
}

static bool word_chars(const char *s, size_t n, const char *allowed) {
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && !strchr(allowed, s[i]))
                        return false;
        return n > 0;
}

/* _lookup_supported_i18n_value(): the SUPPORTED line for the locale. */
char *system_locale_gen_line(const char *supported, const char *requested) {
        _cleanup_free_ char *prefix = NULL, *charset = NULL, *first = NULL, *utf8 = NULL;
        const char *dot, *at, *end = requested + strlen(requested);
        bool parsed;

        /* ^([A-Za-z_]+)(?:\.([A-Za-z0-9\-]+))?(?:@([A-Za-z0-9_\-]+))?$ */
        at = strchr(requested, '@');
        dot = strchr(requested, '.');
        if (dot && at && dot > at)
                dot = NULL;
        {
                const char *base_end = dot ? dot : at ? at : end;
                parsed = base_end > requested;
                for (const char *p = requested; parsed && p < base_end; p++)
                        parsed = isalpha((unsigned char) *p) || *p == '_';
                if (parsed && dot)
                        parsed = word_chars(dot + 1, (size_t) ((at ? at : end) - dot - 1), "-");
                if (parsed && at)
                        parsed = word_chars(at + 1, (size_t) (end - at - 1), "_-");
                if (parsed) {
                        prefix = strdup_printf("%.*s%s", (int) (base_end - requested), requested, at ? at : "");
                        charset = dot ? strndup(dot + 1, (size_t) ((at ? at : end) - dot - 1)) : NULL;
                } else
                        prefix = strdup(requested);
        }
        if (!prefix)
                return NULL;
        for (const char *line = supported; line && *line;) {
                const char *nl = strchr(line, '\n');
                _cleanup_free_ char *l = strndup(line, nl ? (size_t) (nl - line) : strlen(line));
                char *s = l ? strstrip(l) : NULL, *sp;
                size_t pl = strlen(prefix);
                line = nl ? nl + 1 : NULL;
                if (!s)
                        return NULL;
                /* PREFIX(\.[^\s@]+)?(@\S+)?\s+\S+ */
                sp = s + strcspn(s, " \t");
                if (!*sp || !strneq(s, prefix, pl) || sp[strspn(sp, " \t")] == 0 ||
                    strpbrk(sp + strspn(sp, " \t"), " \t"))
                        continue;
                {
                        const char *rest = s + pl;
                        if (*rest == '.') {
                                size_t k = strcspn(rest + 1, " \t@");
                                if (k == 0)
                                        continue;
                                rest += 1 + k;
                        }
                        if (*rest == '@' && strcspn(rest + 1, " \t") == 0)
                                continue;
                        if (*rest == '@')
                                rest += 1 + strcspn(rest + 1, " \t");
                        if (rest != sp)
                                continue;
                }
                if (charset) {
                        size_t cl = strlen(charset);
                        if (s[pl] == '.' && strneq(s + pl + 1, charset, cl) &&
                            (s[pl + 1 + cl] == '@' || s[pl + 1 + cl] == ' ' || s[pl + 1 + cl] == '\t'))
                                return strdup(s);
                }
                if (!first && !(first = strdup(s)))
                        return NULL;
                if (!utf8 && strlen(s) > 6 && isspace((unsigned char) s[strlen(s) - 6]) &&
                    strcasecmp(s + strlen(s) - 5, "UTF-8") == 0 && !(utf8 = strdup(s)))
                        return NULL;
        }
        if (!first)
                return strdup_printf("%s.%s %s", prefix, charset ? charset : "UTF-8", charset ? charset : "UTF-8");
        return strdup(utf8 ? utf8 : first);
}

/* /etc/locale.gen with line enabled: uncommented where it is, else added. */
static int enable_in_locale_gen(const char *line) {
        _cleanup_free_ char *old = read_root("/etc/locale.gen"), *path = NULL;
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        bool found = false, first = true;

        for (char *l = old; l && *l;) {
                char *nl = strchr(l, '\n');
                _cleanup_free_ char *copy = NULL;
                char *s;
                if (nl)
                        *nl = 0;
                copy = strdup(l);
                if (!copy)
                        return -ENOMEM;
                s = strstrip(copy);
                s += strspn(s, "# ");
                if (strbuf_printf(&out, "%s%s", first ? "" : "\n", *strstrip(copy) && streq(s, line) ? line : l) < 0)
                        return -ENOMEM;
                found = found || (*s && streq(s, line));
                first = false;
                l = nl ? nl + 1 : NULL;
        }
        if (!found && strbuf_printf(&out, "%s%s", first ? "" : "\n", line) < 0)
                return -ENOMEM;
        /* "\n".join(...).rstrip() + "\n" */
        while (out.len > 0 && isspace((unsigned char) out.data[out.len - 1]))
                out.data[--out.len] = 0;
        if (strbuf_printf(&out, "\n") < 0 || root_path(&path, "/etc/locale.gen") < 0)
                return -ENOMEM;
        return write_file_atomic(path, out.data, out.len, 0644);
}

int system_apply_locale(struct kiln_context *ctx, const json_t *config) {
        const json_t *lv = json_object_get(config, "locale");
        const char *conf = json_string_value(json_object_get(config, "locale_configfile"));
        _cleanup_free_ char *locale = NULL, *sys_text = NULL, *sys = NULL, *conf_root = NULL, *id = NULL;
        _cleanup_free_ char *lc = NULL, *arg1 = NULL, *arg2 = NULL;
        bool conf_exists, need_regen;
        int r, result = 0;

        if (!lv)
                return 0;
        /* get_cfg_option_str(): str() of what is there */
        locale = json_is_string(lv)    ? strdup(json_string_value(lv))
                 : json_is_boolean(lv) ? strdup(json_is_true(lv) ? "True" : "False")
                 : json_is_integer(lv) ? strdup_printf("%lld", (long long) json_integer_value(lv))
                                       : NULL;
        if (!locale)
                return json_is_string(lv) || json_is_boolean(lv) || json_is_integer(lv)
                               ? -ENOMEM
                               : kiln_degrade(ctx, "locale: not a string");
        {
                _cleanup_free_ char *t = strdup(locale);
                char *s = t ? strstrip(t) : NULL;
                if (!s)
                        return -ENOMEM;
                if (strcasecmp(s, "off") == 0 || streq(s, "0") || strcasecmp(s, "no") == 0 ||
                    strcasecmp(s, "false") == 0)
                        return 0;
        }
        if (!*locale)
                return kiln_degrade(ctx, "locale: empty (cloud-init fails on it)");
        id = system_os_release("ID");
        if (!id || (!streq(id, "debian") && !streq(id, "ubuntu"))) {
                kiln_record(ctx, json_pack("{s:s, s:s}", "name", "locale", "result", "skipped"));
                return kiln_degrade(ctx, "locale: not done by kiln on this distribution (%s)", id ? id : "unknown");
        }
        if (!conf || !*conf)
                conf = LOCALE_CONF;
        sys_text = read_root(LOCALE_CONF);
        sys = sys_text ? shell_value(sys_text, "LANG") : NULL;
        if (root_path(&conf_root, "%s", conf) < 0)
                return -ENOMEM;
        conf_exists = file_exists(conf_root) > 0;
        need_regen = strcasecmp(locale, sys && *sys ? sys : "C.UTF-8") != 0 || !conf_exists || !sys || !*sys;
        if (!need_regen) {
                log_info("locale: the system has LANG=%s already.", sys);
                return 0;
        }
        lc = strdup(locale);
        if (!lc)
                return -ENOMEM;
        if (strcasecmp(lc, "c") != 0 && strcasecmp(lc, "c.utf-8") != 0 && strcasecmp(lc, "c.utf8") != 0 &&
            strcasecmp(lc, "posix") != 0) {
                _cleanup_free_ char *supported = read_root("/usr/share/i18n/SUPPORTED"),
                                    *line = system_locale_gen_line(supported ? supported : "", locale);
                if (!line)
                        return -ENOMEM;
                r = enable_in_locale_gen(line);
                if (r < 0)
                        return kiln_degrade(ctx, "locale: /etc/locale.gen: %s", strerror(-r));
                result = system_run_recorded(ctx, "locale",
                                             (const char *const[]){"locale-gen", "--keep-existing", NULL}, NULL);
        }
        arg1 = strdup_printf("--locale-file=%s", conf);
        arg2 = strdup_printf("LANG=%s", locale);
        if (!arg1 || !arg2)
                return -ENOMEM;
        r = system_run_recorded(ctx, "locale", (const char *const[]){"update-locale", arg1, arg2, NULL}, NULL);
        if (r == 0 && result == 0) {
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "locale", "result", "ok", "locale", locale));
                log_info("locale: LANG=%s.", locale);
        }
        return r != 0 ? r : result;
}
