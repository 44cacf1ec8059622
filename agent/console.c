/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "chase.h"
#include "config.h"
#include "console.h"
#include "fileio.h"
#include "path.h"
#include "strbuf.h"

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int console_write(const char *text) {
        const char *path;
        int fd, r;

        if (streq(root_get(), "/")) {
                /* A character device, not a file: chase.c's writers refuse those. */
                fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                r = write_all(fd, text, strlen(text));
                close(fd);
                return r;
        }
        path = getenv("KILN_CONSOLE");
        if (!path || !*path)
                return -ENODEV;
        return chase_write_file(
                path, 0, text, strlen(text),
                &(struct write_options){.mode = 0600, .uid = (uid_t) -1, .gid = (gid_t) -1, .append = true});
}

int console_printf(const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        s = strdup_vprintf(fmt, ap);
        va_end(ap);
        return s ? console_write(s) : -ENOMEM;
}

/* Seconds since the kernel started, as /proc/uptime gives them. */
static char *uptime_seconds(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
                return strdup("?");
        return strdup_printf("%lld.%02ld", (long long) ts.tv_sec, ts.tv_nsec / 10000000L);
}

static const char *value_of(const struct final_message_values *v, const char *name, size_t n) {
        static const char *const names[] = {"uptime", "timestamp", "version", "datasource"};
        const char *values[] = {v->uptime, v->timestamp, v->version, v->datasource};

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (n == strlen(names[i]) && (strncmp(name, names[i], n) == 0 || strncasecmp(name, names[i], n) == 0)) {
                        /* "uptime" and "UPTIME", not "Uptime". */
                        bool lower = true, upper = true;
                        for (size_t k = 0; k < n; k++) {
                                lower = lower && name[k] == names[i][k];
                                upper = upper && name[k] == (char) (names[i][k] - 'a' + 'A');
                        }
                        if (lower || upper)
                                return values[i] ? values[i] : "";
                }
        return NULL;
}

static bool name_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* $name and ${name}, as templater.basic_render(). */
static int render_basic(const char *t, const struct final_message_values *v, struct strbuf *b, const char **err) {
        while (*t) {
                const char *name, *val;
                size_t n;
                bool braced = t[0] == '$' && t[1] == '{';
                if (t[0] != '$') {
                        if (strbuf_append(b, t, 1) < 0)
                                return -ENOMEM;
                        t++;
                        continue;
                }
                name = t + (braced ? 2 : 1);
                for (n = 0; name_char(name[n]); n++)
                        ;
                if (n == 0 || (braced && name[n] != '}')) {
                        if (strbuf_append(b, t, 1) < 0)
                                return -ENOMEM;
                        t++;
                        continue;
                }
                val = value_of(v, name, n);
                if (!val) {
                        *err = "final_message names a variable other than uptime, timestamp, version, datasource";
                        return -EINVAL;
                }
                if (strbuf_puts(b, val) < 0)
                        return -ENOMEM;
                t = name + n + (braced ? 1 : 0);
        }
        return 0;
}

/* {{ name }} only, as Jinja renders it; anything else Jinja would do is refused. */
static int render_jinja(const char *t, const struct final_message_values *v, struct strbuf *b, const char **err) {
        while (*t) {
                const char *open = strstr(t, "{{"), *name, *end, *val;
                size_t n;
                if (strstr(t, "{%") || strstr(t, "{#")) {
                        *err = "final_message: only {{ variable }} of Jinja is supported";
                        return -EINVAL;
                }
                if (!open)
                        return strbuf_puts(b, t) < 0 ? -ENOMEM : 0;
                if (strbuf_append(b, t, (size_t) (open - t)) < 0)
                        return -ENOMEM;
                name = open + 2 + strspn(open + 2, " ");
                for (n = 0; name_char(name[n]) && name[n] != '.'; n++)
                        ;
                end = name + n + strspn(name + n, " ");
                if (n == 0 || !strneq(end, "}}", 2)) {
                        *err = "final_message: only {{ variable }} of Jinja is supported";
                        return -EINVAL;
                }
                val = value_of(v, name, n);
                if ((val ? strbuf_puts(b, val) : strbuf_printf(b, "CI_MISSING_JINJA_VAR/%.*s", (int) n, name)) < 0)
                        return -ENOMEM;
                t = end + 2;
        }
        return 0;
}

int console_render_final_message(const char *tmpl, const struct final_message_values *v, char **ret,
                                 const char **ret_error) {
        _cleanup_strbuf_ struct strbuf b = {};
        const char *nl = strchr(tmpl, '\n'), *p = tmpl, *body = tmpl;
        const char *err = NULL;
        bool jinja = false;
        int r;

        /* "## template: jinja" or "## template: basic" as the first line. */
        if (p[0] == '#' && p[1] == '#') {
                p += 2 + strspn(p + 2, " \t\v\f\r");
                if (strncasecmp(p, "template:", 9) == 0) {
                        _cleanup_free_ char *kind = strndup(p + 9, nl ? (size_t) (nl - p - 9) : strlen(p + 9));
                        char *k = kind ? strstrip(kind) : NULL;
                        if (!kind)
                                return -ENOMEM;
                        for (char *c = k; *c; c++)
                                if (*c >= 'A' && *c <= 'Z')
                                        *c = (char) (*c - 'A' + 'a');
                        if (!streq(k, "jinja") && !streq(k, "basic")) {
                                *ret_error = "final_message: unknown template type";
                                return -EINVAL;
                        }
                        jinja = streq(k, "jinja");
                        body = nl ? nl + 1 : "";
                }
        }
        r = jinja ? render_jinja(body, v, &b, &err) : render_basic(body, v, &b, &err);
        if (r < 0) {
                *ret_error = err;
                return r;
        }
        *ret = strbuf_steal(&b);
        return 0;
}

int console_boot_summary(const json_t *status, const char *final_message, const char **ret_error) {
        _cleanup_free_ char *up = uptime_seconds(), *rendered = NULL;
        _cleanup_strbuf_ struct strbuf b = {};
        const char *result = json_string_value(json_object_get(status, "result"));
        json_int_t ms = json_integer_value(json_object_get(status, "duration_ms"));
        char when[64] = "";
        time_t now = time(NULL);
        struct tm tm;
        size_t i, j;
        json_t *stage, *e;

        json_array_foreach(json_object_get(status, "stages"), i, stage) {
                const char *name = json_string_value(json_object_get(stage, "name"));
                const char *res = json_string_value(json_object_get(stage, "result"));
                json_array_foreach(json_object_get(stage, "errors"), j, e)
                        strbuf_printf(&b, "kiln: %s: %s: %s\n", name ? name : "?", res ? res : "?",
                                      json_string_value(e) ? json_string_value(e) : "?");
        }
        /* cloud-init's final_message, with the result and the time taken. */
        if (gmtime_r(&now, &tm))
                strftime(when, sizeof(when), "%a, %d %b %Y %H:%M:%S +0000", &tm);
        strbuf_printf(&b, "kiln v. %s finished at %s. Result: %s in %lld ms. Up %s seconds.\n", PACKAGE_VERSION, when,
                      result ? result : "unknown", (long long) ms, up ? up : "?");
        if (final_message && *final_message) {
                struct final_message_values v = {
                        .uptime = up, .timestamp = when, .version = PACKAGE_VERSION, .datasource = "DataSourceEc2"};
                _cleanup_free_ char *stripped = strdup(final_message);
                if (!stripped)
                        return -ENOMEM;
                /* cloud-init strips the template first. */
                if (console_render_final_message(strstrip(stripped), &v, &rendered, ret_error) >= 0)
                        strbuf_printf(&b, "%s\n", rendered);
        }
        if (!b.data)
                return -ENOMEM;
        return console_write(b.data);
}
