/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "nginx/layout.h"
#include "nginx/render.h"
#include "strbuf.h"

static bool is_dir(const char *path) {
        struct stat st;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int layout_detect(const char *conf, struct nginx_paths *ret) {
        struct nginx_paths p = {0};
        const char *slash = strrchr(conf, '/');
        _cleanup_free_ char *enabled = NULL;

        if (!slash)
                return -EINVAL;
        p.conf = strdup(conf);
        p.conf_dir = slash == conf ? strdup("/") : strndup(conf, (size_t) (slash - conf));
        if (!p.conf || !p.conf_dir)
                goto oom;
        enabled = strdup_printf("%s/sites-enabled", p.conf_dir);
        if (!enabled)
                goto oom;
        /* Debian's sites-enabled is the sign; without it, conf.d is what
         * every other packaging of nginx includes. */
        p.layout = is_dir(enabled) ? LAYOUT_DEBIAN : LAYOUT_RHEL;
        if (p.layout == LAYOUT_DEBIAN) {
                p.site_dir = strdup_printf("%s/sites-available", p.conf_dir);
                p.include_dir = TAKE_PTR(enabled);
        } else {
                p.site_dir = strdup_printf("%s/conf.d", p.conf_dir);
                p.include_dir = strdup(p.site_dir ? p.site_dir : "");
        }
        p.staging = strdup_printf("%s/.kiln-staged", p.conf_dir);
        p.test_conf = strdup_printf("%s/.kiln-test.conf", p.conf_dir);
        if (!p.site_dir || !p.include_dir || !p.staging || !p.test_conf)
                goto oom;
        *ret = p;
        return 0;
oom:
        layout_done(&p);
        return -ENOMEM;
}

void layout_done(struct nginx_paths *p) {
        free(p->conf);
        free(p->conf_dir);
        free(p->site_dir);
        free(p->include_dir);
        free(p->staging);
        free(p->test_conf);
        *p = (struct nginx_paths){0};
}

const char *layout_name(enum nginx_layout l) {
        return l == LAYOUT_DEBIAN ? "debian" : "rhel";
}

char *layout_file_name(const struct nginx_paths *p, const char *name) {
        return p->layout == LAYOUT_DEBIAN ? strdup(name) : strdup_printf("%s.conf", name);
}

char *layout_unit_name(const struct nginx_paths *p, const char *file) {
        size_t n = strlen(file);

        if (file[0] == '.')
                return NULL;
        if (p->layout == LAYOUT_DEBIAN)
                return strdup(file);
        if (n <= 5 || !streq(file + n - 5, ".conf"))
                return NULL;
        return strndup(file, n - 5);
}

/* Opens path when it is a regular file: 1 with the fd, 0 when it is
 * something else (a link, a socket, unreadable), -ENOENT when absent. */
static int open_regular(const char *path, int *ret_fd) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        struct stat st;

        if (fd < 0)
                return errno == ENOENT ? -ENOENT : 0;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return 0;
        *ret_fd = TAKE_FD(fd);
        return 1;
}

static bool has_marker(const char *buf, size_t len) {
        return len >= sizeof(NGINX_MARKER) - 1 && memcmp(buf, NGINX_MARKER, sizeof(NGINX_MARKER) - 1) == 0;
}

int layout_file_is_kilns(const char *path) {
        char buf[sizeof(NGINX_MARKER) - 1];
        _cleanup_close_ int fd = -1;
        ssize_t n;
        int r;

        r = open_regular(path, &fd);
        if (r <= 0)
                return r;
        n = read(fd, buf, sizeof(buf));
        return n > 0 && has_marker(buf, (size_t) n);
}

int layout_read_kilns(const char *path, size_t max, char **ret) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -1;
        size_t len;
        int r;

        r = open_regular(path, &fd);
        if (r <= 0)
                return r;
        r = read_fd(fd, max, &buf, &len);
        if (r < 0)
                return r;
        if (!has_marker(buf, len))
                return 0;
        *ret = TAKE_PTR(buf);
        return 1;
}

int layout_link_is_kilns(const struct nginx_paths *p, const char *name) {
        _cleanup_free_ char *link = strdup_printf("%s/%s", p->include_dir, name);
        _cleanup_free_ char *relative = strdup_printf("../sites-available/%s", name);
        _cleanup_free_ char *absolute = strdup_printf("%s/%s", p->site_dir, name);
        char target[PATH_MAX];
        ssize_t n;

        if (!link || !relative || !absolute)
                return -ENOMEM;
        n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
                return errno == ENOENT ? -ENOENT : 0;
        target[n] = 0;
        return streq(target, relative) || streq(target, absolute);
}

static int owned_filter_push(const struct nginx_paths *p, const char *file, bool (*known)(const char *unit, void *data),
                             void *data, char ***list) {
        _cleanup_free_ char *unit = layout_unit_name(p, file), *path = NULL;

        if (!unit || streq(unit, "") || (known && known(unit, data)))
                return 0;
        path = strdup_printf("%s/%s", p->site_dir, file);
        if (!path)
                return -ENOMEM;
        return layout_file_is_kilns(path) == 1 ? strv_push(list, unit) : 0;
}

int layout_list_owned(const struct nginx_paths *p, bool (*known)(const char *unit, void *data), void *data,
                      char ***ret) {
        _cleanup_strv_free_ char **list = NULL;
        struct dirent **names = NULL;
        int n, r = 0;

        n = scandir(p->site_dir, &names, NULL, alphasort);
        if (n < 0 && errno != ENOENT)
                return negative_errno();
        for (int i = 0; i < n; i++) {
                if (r >= 0)
                        r = owned_filter_push(p, names[i]->d_name, known, data, &list);
                free(names[i]);
        }
        free(names);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(list);
        return 0;
}

/* --- the main config's includes --- */

struct token {
        const char *start;
        size_t len;
};

/* The next token of nginx's syntax at *pos: a word, a quoted string, or one
 * of ";{}". Comments and whitespace are skipped. len 0 at the end. */
static struct token next_token(const char **pos) {
        const char *s = *pos;
        struct token t;

        for (;;) {
                while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
                        s++;
                if (*s != '#')
                        break;
                s += strcspn(s, "\n");
        }
        t.start = s;
        if (*s == ';' || *s == '{' || *s == '}')
                s++;
        else if (*s == '"' || *s == '\'') {
                char q = *s++;
                while (*s && *s != q)
                        s += (*s == '\\' && s[1]) ? 2 : 1;
                if (*s)
                        s++;
        } else
                /* As ngx_conf_read_token(): a word ends at a space, ';' or
                 * '{', but not at '\'-escaped ones, nor at the '{' of
                 * "${"; a '}' inside a word is part of it. */
                while (*s && !strchr(" \t\r\n;{", *s)) {
                        if ((*s == '\\' || (*s == '$' && s[1] == '{')) && s[1])
                                s++;
                        s++;
                }
        t.len = (size_t) (s - t.start);
        *pos = s;
        return t;
}

static char *token_text(struct token t) {
        if (t.len >= 2 && (t.start[0] == '"' || t.start[0] == '\''))
                return strndup(t.start + 1, t.len - 2);
        return strndup(t.start, t.len);
}

/* The file pattern of an include argument that reads from from_dir (the
 * last component: "*", "*.conf"), "" for any other include. */
static char *include_pattern(struct token arg, const char *conf_dir, const char *from_dir) {
        _cleanup_free_ char *text = token_text(arg), *full = NULL;
        char *slash;

        if (!text)
                return NULL;
        full = text[0] == '/' ? strdup(text) : strdup_printf("%s/%s", conf_dir, text);
        if (!full)
                return NULL;
        slash = strrchr(full, '/');
        *slash = 0;
        return strdup(streq(full, from_dir) ? slash + 1 : "");
}

/* The 1-based index of pattern in *l, added when new. */
static int pattern_index(char ***l, const char *pattern) {
        size_t n = strv_length(*l);
        int r;

        for (size_t i = 0; i < n; i++)
                if (streq((*l)[i], pattern))
                        return (int) i + 1;
        r = strv_push(l, pattern);
        return r < 0 ? r : (int) n + 1;
}

int conf_redirect_include(const char *text, const char *conf_dir, const char *from_dir, const char *staged, char **ret,
                          char ***ret_patterns) {
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        _cleanup_strv_free_ char **patterns = NULL;
        const char *pos = text, *copied = text;
        bool statement_start = true, in_include = false;
        int count = 0, r = 0;

        for (struct token t = next_token(&pos); t.len > 0 && r >= 0; t = next_token(&pos)) {
                bool special = t.len == 1 && strchr(";{}", t.start[0]);
                if (in_include && !special) {
                        _cleanup_free_ char *pattern = include_pattern(t, conf_dir, from_dir);
                        if (!pattern)
                                return -ENOMEM;
                        if (*pattern) {
                                int k = pattern_index(&patterns, pattern);
                                if (k < 0)
                                        return k;
                                r = strbuf_append(&out, copied, (size_t) (t.start - copied));
                                if (r >= 0)
                                        r = strbuf_printf(&out, "\"%s-%d\"", staged, k);
                                copied = t.start + t.len;
                                count++;
                        }
                }
                in_include = statement_start && t.len == 7 && strneq(t.start, "include", 7);
                statement_start = special;
        }
        if (r >= 0)
                r = strbuf_puts(&out, copied);
        if (r < 0)
                return r;
        *ret = strbuf_steal(&out);
        if (!*ret)
                return -ENOMEM;
        *ret_patterns = TAKE_PTR(patterns);
        return count;
}
