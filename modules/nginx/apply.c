/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "acme/acme.h"
#include "clock.h"
#include "fileio.h"
#include "log.h"
#include "nginx/control.h"
#include "nginx/layout.h"
#include "nginx/nginx.h"
#include "nginx/render.h"
#include "nginx/site.h"
#include "path.h"
#include "sha256.h"
#include "strbuf.h"

#define SITE_FILE_MAX (1024 * 1024)
#define CERT_FILE_MAX (1024 * 1024)

/* One file kiln wants in nginx's config, or wants gone. */
struct unit {
        char *name;
        char *file; /* its name in site_dir (and include_dir) */
        char *content; /* NULL: to be removed */
        char *old; /* what is there now, NULL: absent */
        bool had_link; /* Debian: the sites-enabled link was there */
        bool changed;
};

struct plan {
        struct unit *units;
        size_t n;
        char **refused; /* names kiln must not touch */
        json_t *sites; /* what status.json shows for each site */
        int result; /* 0, or KILN_DEGRADED when a site could not be applied as asked */
};

static void plan_done(struct plan *p) {
        for (size_t i = 0; i < p->n; i++) {
                free(p->units[i].name);
                free(p->units[i].file);
                free(p->units[i].content);
                free(p->units[i].old);
        }
        free(p->units);
        strv_free(p->refused);
        json_decref(p->sites);
}

/* kiln's own CPU time since it started, children (nginx -t) not included. */
static double cpu_ms(void) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) < 0)
                return 0;
        return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
               (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

/* --- certificates --- */

/* The first 16 bytes of the certificate's SHA-256, in hex: enough to tell
 * a renewed certificate from the one nginx loaded. */
static int fingerprint(const char *path, char **ret) {
        _cleanup_free_ char *buf = NULL;
        uint8_t md[SHA256_DIGEST_SIZE];
        char hex[2 * SHA256_DIGEST_SIZE + 1];
        size_t len;
        int r;

        r = read_file(path, CERT_FILE_MAX, &buf, &len);
        if (r < 0)
                return r;
        sha256(buf, len, md);
        sha256_hex(md, hex);
        *ret = strndup(hex, 32);
        return *ret ? 0 : -ENOMEM;
}

static int site_cert_files(const struct nginx_site *s, struct site_cert *c) {
        int r;

        r = root_path(&c->cert, "%s", s->cert);
        if (r >= 0)
                r = root_path(&c->key, "%s", s->key);
        if (r >= 0 && access(c->key, R_OK) < 0)
                r = negative_errno();
        c->in_place = true;
        return r;
}

static int site_cert_acme(struct kiln_context *ctx, const struct nginx_site *s, struct site_cert *c) {
        int r = acme_site_certificate(ctx, s->name, s->domains, &c->cert, &c->key);
        if (r < 0)
                return r;
        if (s->tls == SITE_TLS_SELF_SIGNED)
                c->in_place = true;
        else
                c->in_place = acme_site_has_real_certificate(s->name) > 0;
        return 0;
}

/* 1 with *c filled, 0 for a site without TLS, negative when its certificate
 * is not usable: the site is then served on HTTP only. */
static int site_certificate(struct kiln_context *ctx, const struct nginx_site *s, struct site_cert *c) {
        int r;

        if (s->tls == SITE_TLS_NONE)
                return 0;
        r = s->tls == SITE_TLS_FILES ? site_cert_files(s, c) : site_cert_acme(ctx, s, c);
        if (r >= 0)
                r = fingerprint(c->cert, &c->fingerprint);
        if (r < 0) {
                site_cert_done(c);
                return r;
        }
        return 1;
}

/* --- the plan: what to write, what to remove --- */

static struct unit *plan_add(struct plan *p, const struct nginx_paths *paths, const char *name) {
        struct unit *u = realloc(p->units, (p->n + 1) * sizeof(*u));

        if (!u)
                return NULL;
        p->units = u;
        u = &p->units[p->n];
        *u = (struct unit){.name = strdup(name), .file = layout_file_name(paths, name)};
        if (!u->name || !u->file) {
                free(u->name);
                free(u->file);
                return NULL;
        }
        p->n++;
        return u;
}

static int read_old(const struct nginx_paths *paths, struct unit *u) {
        _cleanup_free_ char *path = strdup_printf("%s/%s", paths->site_dir, u->file);
        int r;

        if (!path)
                return -ENOMEM;
        r = layout_read_kilns(path, SITE_FILE_MAX, &u->old);
        if (r == -ENOENT)
                return 0;
        if (r == 0)
                return -EEXIST;
        if (r < 0)
                return r;
        if (paths->layout == LAYOUT_DEBIAN) {
                r = layout_link_is_kilns(paths, u->file);
                if (r == 0)
                        return -EEXIST;
                u->had_link = r == 1;
        }
        return 0;
}

static int refuse(struct kiln_context *ctx, struct plan *p, const struct nginx_paths *paths, const char *name) {
        _cleanup_free_ char *file = layout_file_name(paths, name), *path = NULL;

        if (!file)
                return -ENOMEM;
        path = strdup_printf("%s/%s", paths->site_dir, file);
        if (path && layout_file_is_kilns(path) == 1) {
                free(path);
                path = strdup_printf("%s/%s", paths->include_dir, file);
        }
        p->result = kiln_degrade(ctx,
                                 "nginx: not writing site '%s': %s exists and was not written by kiln; rename the "
                                 "site or move that file away",
                                 name, path ? path : file);
        return strv_push(&p->refused, name);
}

/* Adds the file kiln wants for name, unless someone else's file is there. */
static int plan_want(struct kiln_context *ctx, struct plan *p, const struct nginx_paths *paths, const char *name,
                     char *content) {
        struct unit *u = plan_add(p, paths, name);
        int r;

        if (!u) {
                free(content);
                return -ENOMEM;
        }
        u->content = content;
        r = read_old(paths, u);
        if (r == -EEXIST) {
                free(u->name);
                free(u->file);
                free(u->content);
                free(u->old);
                p->n--;
                return refuse(ctx, p, paths, name);
        }
        if (r < 0)
                return r;
        u->changed = !u->old || !streq(u->old, u->content) || (paths->layout == LAYOUT_DEBIAN && !u->had_link);
        return 0;
}

static bool plan_has(const struct plan *p, const char *name) {
        for (size_t i = 0; i < p->n; i++)
                if (streq(p->units[i].name, name))
                        return true;
        for (char **r = p->refused; r && *r; r++)
                if (streq(*r, name))
                        return true;
        return false;
}

static bool plan_knows(const char *name, void *p) {
        return plan_has(p, name);
}

/* kiln's files whose site is gone from the config: those the plan has
 * were read already, so only the others are opened to see whose they are. */
static int plan_removals(struct plan *p, const struct nginx_paths *paths) {
        _cleanup_strv_free_ char **owned = NULL;
        int r;

        r = layout_list_owned(paths, plan_knows, p, &owned);
        if (r < 0)
                return r;
        for (char **name = owned; name && *name; name++) {
                struct unit *u = plan_add(p, paths, *name);
                if (!u)
                        return -ENOMEM;
                r = read_old(paths, u);
                if (r < 0 && r != -EEXIST)
                        return r;
                u->changed = true;
                log_info("nginx: removing site '%s', gone from the config.", *name);
        }
        return 0;
}

static json_t *site_item(const struct nginx_site *s, const struct site_cert *c) {
        json_t *domains = json_array();

        for (char **d = s->domains; d && *d; d++)
                json_array_append_new(domains, json_string(*d));
        return json_pack("{s:s, s:o, s:s, s:b, s:b}", "name", s->name, "domains", domains, "tls", site_tls_name(s->tls),
                         "https", c != NULL, "redirect_http", s->redirect_http && c && c->in_place);
}

static int plan_site(struct kiln_context *ctx, struct plan *p, const struct nginx_paths *paths,
                     const struct nginx_site *s, const struct render_options *o) {
        struct site_cert cert = {0};
        char *content = NULL;
        int r;

        r = site_certificate(ctx, s, &cert);
        if (r < 0)
                p->result =
                        kiln_degrade(ctx, "nginx: site '%s' is served on HTTP only: its certificate is not usable: %s",
                                     s->name, strerror(-r));
        r = render_site(s, r > 0 ? &cert : NULL, o, &content);
        if (r >= 0)
                json_array_append_new(p->sites, site_item(s, cert.cert ? &cert : NULL));
        site_cert_done(&cert);
        if (r < 0)
                return r;
        return plan_want(ctx, p, paths, s->name, content);
}

static int plan_build(struct kiln_context *ctx, const struct nginx_sites *sites, const struct nginx_paths *paths,
                      const struct render_options *o, struct plan *p) {
        char *common = NULL;
        int r;

        p->sites = json_array();
        if (!p->sites)
                return -ENOMEM;
        for (size_t i = 0; i < sites->n; i++) {
                r = plan_site(ctx, p, paths, &sites->sites[i], o);
                if (r < 0)
                        return r;
        }
        if (sites->n > 0 || o->status_port > 0) {
                r = render_common(o, &common);
                if (r >= 0)
                        r = plan_want(ctx, p, paths, NGINX_COMMON_NAME, common);
                if (r < 0)
                        return r;
        }
        return plan_removals(p, paths);
}

static size_t plan_changes(const struct plan *p) {
        size_t n = 0;
        for (size_t i = 0; i < p->n; i++)
                n += p->units[i].changed;
        return n;
}

/* --- files --- */

/* Config files are rendered again at every boot, so they are renamed into
 * place without an fsync each; the directories are synced once at the end. */
static int put_file(const char *dir, const char *file, const char *content) {
        _cleanup_free_ char *path = strdup_printf("%s/%s", dir, file),
                            *tmp = strdup_printf("%s/.kiln-new-%s", dir, file);
        _cleanup_close_ int fd = -1;
        size_t len = strlen(content);
        ssize_t n;

        if (!path || !tmp)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return negative_errno();
        n = write(fd, content, len);
        if (n < 0 || (size_t) n != len || fchmod(fd, 0644) < 0 || rename(tmp, path) < 0) {
                int r = n < 0 || (size_t) n == len ? negative_errno() : -EIO;
                unlink(tmp);
                return r;
        }
        return 0;
}

/* A file of the staging tree: read once by nginx -t, then removed, so
 * neither a temp file nor an fsync. */
static int put_scratch(const char *path, const char *content) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        size_t len = strlen(content);
        ssize_t n;

        if (fd < 0)
                return negative_errno();
        n = write(fd, content, len);
        if (n < 0)
                return negative_errno();
        return (size_t) n == len ? 0 : -EIO;
}

static int put_link(const struct nginx_paths *paths, const char *file) {
        _cleanup_free_ char *target = strdup_printf("../sites-available/%s", file);
        _cleanup_free_ char *link = strdup_printf("%s/%s", paths->include_dir, file);
        _cleanup_free_ char *tmp = strdup_printf("%s/.kiln-new-%s", paths->include_dir, file);

        if (!target || !link || !tmp)
                return -ENOMEM;
        (void) unlink(tmp);
        if (symlink(target, tmp) < 0)
                return negative_errno();
        if (rename(tmp, link) < 0) {
                int r = negative_errno();
                unlink(tmp);
                return r;
        }
        return 0;
}

static int remove_unit_files(const struct nginx_paths *paths, const struct unit *u) {
        _cleanup_free_ char *path = strdup_printf("%s/%s", paths->site_dir, u->file);
        _cleanup_free_ char *link = strdup_printf("%s/%s", paths->include_dir, u->file);

        if (!path || !link)
                return -ENOMEM;
        if (paths->layout == LAYOUT_DEBIAN && layout_link_is_kilns(paths, u->file) == 1 && unlink(link) < 0)
                return negative_errno();
        if (unlink(path) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

/* Writes content as u's file (NULL: removes it). link: whether the Debian
 * link must be made; it is removed when want_link is false. */
static int install_unit(const struct nginx_paths *paths, const struct unit *u, const char *content, bool link,
                        bool want_link) {
        int r;

        if (!content)
                return remove_unit_files(paths, u);
        r = put_file(paths->site_dir, u->file, content);
        if (r < 0 || paths->layout != LAYOUT_DEBIAN)
                return r;
        if (want_link)
                return link ? put_link(paths, u->file) : 0;
        if (layout_link_is_kilns(paths, u->file) == 1) {
                _cleanup_free_ char *l = strdup_printf("%s/%s", paths->include_dir, u->file);
                r = l && unlink(l) >= 0 ? 0 : -EIO;
        }
        return r;
}

static void sync_dir(const char *dir) {
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0)
                (void) fsync(fd);
}

/* Whether installing u adds or removes a Debian link in include_dir. */
static bool unit_changes_link(const struct nginx_paths *paths, const struct unit *u) {
        return paths->layout == LAYOUT_DEBIAN && (!u->content || !u->had_link);
}

static int swap_in(const struct nginx_paths *paths, const struct plan *p) {
        bool links = false;
        int r;

        r = mkdir_p(paths->site_dir, 0755);
        if (r >= 0)
                r = mkdir_p(paths->include_dir, 0755);
        for (size_t i = 0; r >= 0 && i < p->n; i++)
                if (p->units[i].changed) {
                        r = install_unit(paths, &p->units[i], p->units[i].content, !p->units[i].had_link, true);
                        links = links || unit_changes_link(paths, &p->units[i]);
                }
        /* Each directory that changed is synced once (RHEL's conf.d holds
         * both the files and what nginx includes). */
        sync_dir(paths->site_dir);
        if (links && !streq(paths->include_dir, paths->site_dir))
                sync_dir(paths->include_dir);
        return r;
}

/* Puts back what was there before the swap, as far as it can. */
static void rollback(const struct nginx_paths *paths, const struct plan *p) {
        for (size_t i = p->n; i-- > 0;) {
                const struct unit *u = &p->units[i];
                int r;
                if (!u->changed)
                        continue;
                r = install_unit(paths, u, u->old, true, u->had_link);
                if (r < 0)
                        log_error_errno(r, "Failed to restore nginx site '%s': %m", u->name);
        }
        sync_dir(paths->site_dir);
        sync_dir(paths->include_dir);
}

/* --- staging --- */

/* What nginx -t checks is what the swap will leave: for each file pattern
 * by which the main config includes include_dir ("*" on Debian, "*.conf" on
 * RHEL), one file holding what that glob will read, in glob's order, kiln's
 * units inline and everything else included from where it is. Plain files
 * next to the main config rather than a staging tree of links: creating and
 * removing directories cost more than all the rest of the staging. nginx's
 * "file:line" maps back to the unit. */

struct staged {
        char *path; /* <staging>-K */
        int *first_line, *lines; /* per unit; 0 lines when this file does not have it */
};

static void staged_done(struct staged *st, size_t n) {
        for (size_t k = 0; st && k < n; k++) {
                free(st[k].path);
                free(st[k].first_line);
                free(st[k].lines);
        }
        free(st);
}

static const struct unit *unit_of_file(const struct plan *p, const char *file) {
        for (size_t i = 0; i < p->n; i++)
                if (streq(p->units[i].file, file))
                        return &p->units[i];
        return NULL;
}

static int by_name(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The names include_dir will hold after the swap, sorted as glob() sorts
 * them (nginx does not set a locale): the others' entries as they are,
 * kiln's units as the plan has them. */
static int staged_names(const struct nginx_paths *paths, const struct plan *p, char ***ret) {
        _cleanup_strv_free_ char **names = NULL;
        DIR *d = opendir(paths->include_dir);
        struct dirent *e;
        int r = 0;

        if (!d && errno != ENOENT)
                return negative_errno();
        while (d && r >= 0 && (e = readdir(d)))
                if (!streq(e->d_name, ".") && !streq(e->d_name, "..") && !unit_of_file(p, e->d_name))
                        r = strv_push(&names, e->d_name);
        if (d)
                closedir(d);
        for (size_t i = 0; r >= 0 && i < p->n; i++)
                if (p->units[i].content)
                        r = strv_push(&names, p->units[i].file);
        if (r < 0)
                return r;
        if (names)
                qsort(names, strv_length(names), sizeof(char *), by_name);
        *ret = TAKE_PTR(names);
        return 0;
}

/* `include "PATH";` for exactly that file. nginx hands a path with *, ? or
 * [ to glob(), so those (and \) are escaped for it then; \ and " are
 * escaped for nginx's quoted string in any case. */
static int put_include(struct strbuf *b, const char *dir, const char *name) {
        _cleanup_free_ char *path = strdup_printf("%s/%s", dir, name);
        bool glob = path && strpbrk(path, "*?[");
        int r;

        if (!path)
                return -ENOMEM;
        r = strbuf_puts(b, "include \"");
        for (const char *c = path; r >= 0 && *c; c++) {
                if (glob && strchr("*?[\\", *c))
                        r = strbuf_puts(b, "\\\\");
                if (r >= 0 && (*c == '\\' || *c == '"'))
                        r = strbuf_puts(b, "\\");
                if (r >= 0)
                        r = strbuf_append(b, c, 1);
        }
        return r < 0 ? r : strbuf_puts(b, "\";\n");
}

static int count_lines(const char *s) {
        int n = 0;
        for (; *s; s++)
                n += *s == '\n';
        return n;
}

/* The staged file for one pattern: st->path, with each unit's lines. */
static int stage_pattern(const struct nginx_paths *paths, const struct plan *p, char **names, const char *pattern,
                         struct staged *st) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        int line = 1, r = 0;

        st->first_line = calloc(p->n + 1, sizeof(int));
        st->lines = calloc(p->n + 1, sizeof(int));
        if (!st->first_line || !st->lines)
                return -ENOMEM;
        for (char **n = names; r >= 0 && n && *n; n++) {
                const struct unit *u = unit_of_file(p, *n);
                size_t before = b.len;
                /* glob() leaves out names starting with '.' unless the
                 * pattern spells the dot out. */
                if (fnmatch(pattern, *n, FNM_PERIOD) != 0)
                        continue;
                r = u ? strbuf_puts(&b, u->content) : put_include(&b, paths->include_dir, *n);
                if (r < 0)
                        break;
                if (b.len > 0 && b.data[b.len - 1] != '\n')
                        r = strbuf_puts(&b, "\n");
                if (u) {
                        st->first_line[u - p->units] = line;
                        st->lines[u - p->units] = count_lines(b.data + before);
                }
                line += count_lines(b.data + before);
        }
        if (r < 0)
                return r;
        return put_scratch(st->path, b.data ? b.data : "");
}

/* The main config, reading the staged files instead of include_dir; one
 * staged file for each pattern it includes include_dir by. */
static int stage(const struct nginx_paths *paths, const struct plan *p, struct staged **ret_st, size_t *ret_n) {
        _cleanup_free_ char *text = NULL, *changed = NULL;
        _cleanup_strv_free_ char **patterns = NULL, **names = NULL;
        struct staged *st;
        size_t n;
        int r;

        r = read_file(paths->conf, SITE_FILE_MAX, &text, NULL);
        if (r < 0)
                return r;
        r = conf_redirect_include(text, paths->conf_dir, paths->include_dir, paths->staging, &changed, &patterns);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOLINK;
        r = staged_names(paths, p, &names);
        if (r < 0)
                return r;
        n = strv_length(patterns);
        st = *ret_st = calloc(n, sizeof(*st));
        if (!st)
                return -ENOMEM;
        *ret_n = n;
        for (size_t k = 0; r >= 0 && k < n; k++) {
                st[k].path = strdup_printf("%s-%zu", paths->staging, k + 1);
                r = st[k].path ? stage_pattern(paths, p, names, patterns[k], &st[k]) : -ENOMEM;
        }
        return r < 0 ? r : put_scratch(paths->test_conf, changed);
}

/* Removes what an interrupted run may have left: staged files it numbered
 * who knows how far, and the test config. */
static void remove_leftovers(const struct nginx_paths *paths) {
        _cleanup_free_ char *prefix = strdup_printf("%s-", strrchr(paths->staging, '/') + 1);
        DIR *d = opendir(paths->conf_dir);
        struct dirent *e;

        while (prefix && d && (e = readdir(d)))
                if (strneq(e->d_name, prefix, strlen(prefix)))
                        (void) unlinkat(dirfd(d), e->d_name, 0);
        if (d)
                closedir(d);
        (void) unlink(paths->test_conf);
}

/* Removes this run's staged files and test config. */
static void unstage(const struct nginx_paths *paths, const struct staged *st, size_t n) {
        for (size_t k = 0; k < n; k++)
                if (st[k].path)
                        (void) unlink(st[k].path);
        (void) unlink(paths->test_conf);
}

/* "<staged file>:N" -> "<include_dir>/<unit file>:M". Returns the length of
 * out consumed, 0 when out does not start with a line of one of the units. */
static size_t map_staged_line(const struct nginx_paths *paths, const struct plan *p, const struct staged *st,
                              const char *out, struct strbuf *b) {
        size_t prefix = strlen(st->path), digits;
        int line = 0;

        if (!strneq(out, st->path, prefix) || out[prefix] != ':')
                return 0;
        digits = strspn(out + prefix + 1, "0123456789");
        if (digits == 0 || digits > 9)
                return 0;
        for (size_t i = 0; i < digits; i++)
                line = line * 10 + (out[prefix + 1 + i] - '0');
        for (size_t i = 0; i < p->n; i++)
                if (st->lines[i] > 0 && line >= st->first_line[i] && line < st->first_line[i] + st->lines[i]) {
                        (void) strbuf_printf(b, "%s/%s:%d", paths->include_dir, p->units[i].file,
                                             line - st->first_line[i] + 1);
                        return prefix + 1 + digits;
                }
        return 0;
}

/* nginx's message, naming the live files rather than the staged ones. */
static char *live_message(const struct nginx_paths *paths, const struct plan *p, const struct staged *st, size_t n,
                          const char *out) {
        struct strbuf b = STRBUF_INIT;
        size_t tn = strlen(paths->test_conf), sn = strlen(paths->staging);

        while (*out) {
                size_t used = 0;
                if (strneq(out, paths->staging, sn)) {
                        for (size_t k = 0; used == 0 && k < n; k++)
                                used = map_staged_line(paths, p, &st[k], out, &b);
                        if (used == 0) {
                                /* A line including someone else's file. */
                                (void) strbuf_puts(&b, paths->include_dir);
                                used = sn + strspn(out + sn, "-0123456789");
                        }
                        out += used;
                } else if (strneq(out, paths->test_conf, tn)) {
                        (void) strbuf_puts(&b, paths->conf);
                        out += tn;
                } else
                        (void) strbuf_append(&b, out++, 1);
        }
        return b.data ? strstrip(b.data) : NULL;
}

static int stage_and_test(struct kiln_context *ctx, const struct nginx_settings *set, const struct nginx_paths *paths,
                          const struct plan *p, long *ret_ms) {
        _cleanup_free_ char *out = NULL, *msg = NULL;
        struct staged *st = NULL;
        size_t n = 0;
        int r;

        remove_leftovers(paths);
        r = stage(paths, p, &st, &n);
        if (r < 0) {
                unstage(paths, st, n);
                staged_done(st, n);
        }
        if (r == -ENOLINK)
                return kiln_fail(ctx, r,
                                 "nginx: %s does not include %s, so kiln's sites would not be served; add "
                                 "'include %s/*;' to its http block.",
                                 paths->conf, paths->include_dir, paths->include_dir);
        if (r < 0)
                return kiln_fail(ctx, r, "nginx: failed to stage the new sites: %s", strerror(-r));
        r = nginx_test(set, paths->test_conf, &out, ret_ms);
        unstage(paths, st, n);
        if (r == -EINVAL)
                msg = live_message(paths, p, st, n, out);
        staged_done(st, n);
        if (r == -EINVAL)
                return kiln_fail(ctx, r, "nginx: the new sites fail 'nginx -t', keeping the current ones: %s",
                                 msg ? msg : out);
        if (r < 0)
                return kiln_fail(ctx, r, "nginx: failed to run %s -t: %s", set->binary, strerror(-r));
        return 0;
}

/* --- applying --- */

struct apply_run {
        struct nginx_settings st;
        struct nginx_sites sites;
        struct nginx_paths paths;
        struct plan plan;
        struct render_options opt;
        long started_ms, test_ms, reload_ms;
        double cpu_start_ms;
        int lock_fd;
};

static void run_done(struct apply_run *a) {
        plan_done(&a->plan);
        layout_done(&a->paths);
        sites_done(&a->sites);
        nginx_settings_done(&a->st);
        if (a->lock_fd >= 0)
                close(a->lock_fd);
}

/* One apply at a time: the boot, `kiln nginx apply` and the ACME timer may
 * all want one. */
static int take_lock(int *ret_fd) {
        _cleanup_free_ char *path = NULL;
        int fd, r;

        r = root_path(&path, KILN_RUN_DIR "/nginx.lock");
        if (r >= 0)
                r = mkdir_parents(path, 0755);
        if (r < 0)
                return r;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return negative_errno();
        if (flock(fd, LOCK_EX) < 0) {
                r = negative_errno();
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

static int parse_config(struct kiln_context *ctx, struct apply_run *a) {
        _cleanup_strv_free_ char **errors = NULL;
        int r;

        r = sites_parse(ctx->config, &a->sites, &errors);
        if (r < 0)
                return kiln_fail(ctx, r, "nginx: failed to read sites: %s", strerror(-r));
        for (char **e = errors; e && *e; e++)
                kiln_fail(ctx, -EINVAL, "config: %s", *e);
        if (r > 0)
                return kiln_fail(ctx, -EINVAL, "nginx: the sites config is invalid, nginx is left as it is.");
        r = nginx_settings_load(ctx->config, &a->st);
        if (r >= 0)
                r = layout_detect(a->st.conf, &a->paths);
        if (r < 0)
                return kiln_fail(ctx, r, "nginx: %s", strerror(-r));
        return 0;
}

static int prepare_options(struct kiln_context *ctx, struct apply_run *a, char **ret_thumbprint) {
        int r;

        a->opt = (struct render_options){
                .http_port = a->st.http_port,
                .https_port = a->st.https_port,
                .status_port = a->st.status_port,
                .ipv6 = a->st.ipv6,
        };
        if (a->sites.n == 0)
                return 0;
        r = nginx_has_http2_directive(&a->st, &a->sites);
        if (r < 0)
                return kiln_fail(ctx, r, "nginx: failed to run %s -v: %s", a->st.binary, strerror(-r));
        a->opt.http2_directive = r > 0;
        r = acme_thumbprint(ctx, ret_thumbprint);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "nginx: no ACME account thumbprint, serving no http-01 challenges: %m");
        /* base64url has the alphabet of a header name: letters, digits, '-', '_'. */
        if (*ret_thumbprint && !site_header_name_valid(*ret_thumbprint)) {
                log_warning("nginx: the ACME thumbprint is not base64url, ignoring it.");
                free(TAKE_PTR(*ret_thumbprint));
        }
        a->opt.thumbprint = *ret_thumbprint;
        return 0;
}

/* --- what nginx has loaded --- */

/* A file that exists from just before the swap until nginx is seen to run
 * the swapped-in files: while it does, what is on disk may not be what
 * nginx serves (kiln was killed in between, or the reload failed), so the
 * next apply reloads even when it finds every file as it wants it. Under
 * /run: after a reboot nginx starts on what is on disk anyway. */
#define RELOAD_PENDING KILN_RUN_DIR "/nginx-reload-pending"

static bool reload_pending(void) {
        _cleanup_free_ char *path = NULL;

        return root_path(&path, RELOAD_PENDING) >= 0 && access(path, F_OK) == 0;
}

/* Written, not synced: it only has to outlive kiln, and what outlives a
 * power cut (the files) is what nginx loads when it starts. */
static int set_reload_pending(void) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        static const char text[] = "kiln swapped nginx's site files in; nginx has not been seen to load them\n";
        int r;

        r = root_path(&path, RELOAD_PENDING);
        if (r < 0)
                return r;
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return negative_errno();
        return write(fd, text, sizeof(text) - 1) == (ssize_t) sizeof(text) - 1 ? 0 : -EIO;
}

static void clear_reload_pending(void) {
        _cleanup_free_ char *path = NULL;

        if (root_path(&path, RELOAD_PENDING) >= 0 && unlink(path) < 0 && errno != ENOENT)
                log_warning_errno(-errno, "Failed to remove %s, the next apply reloads nginx: %m", path);
}

/* For the tests of what a crash leaves: KILN_TEST_CRASH_AT=POINT kills kiln
 * with SIGKILL at that point of an apply. Honoured only under --root, so
 * never on a host's own configuration. */
static void crash_point(const char *point) {
        const char *at = getenv("KILN_TEST_CRASH_AT");

        if (at && streq(at, point) && !streq(root_get(), "/"))
                (void) raise(SIGKILL);
}

static int swap_reload(struct kiln_context *ctx, struct apply_run *a) {
        _cleanup_free_ char *error = NULL, *again = NULL;
        long t;
        int r;

        r = set_reload_pending();
        if (r < 0)
                return kiln_fail(ctx, r, "nginx: failed to record the reload to come, nothing changed: %s",
                                 strerror(-r));
        r = swap_in(&a->paths, &a->plan);
        if (r < 0) {
                rollback(&a->paths, &a->plan);
                return kiln_fail(ctx, r, "nginx: failed to write the sites, restored the old ones: %s", strerror(-r));
        }
        crash_point("nginx-swapped");
        t = now_ms();
        r = nginx_reload_and_verify(&a->st, a->sites.n > 0, a->test_ms, &error);
        a->reload_ms = now_ms() - t;
        if (r >= 0) {
                clear_reload_pending();
                return 0;
        }
        rollback(&a->paths, &a->plan);
        if (nginx_reload_and_verify(&a->st, false, 0, &again) < 0)
                log_error("nginx: reloading the old sites failed too: %s", again ? again : "?");
        else
                clear_reload_pending(); /* nginx runs what is on disk again */
        return kiln_fail(ctx, r, "nginx: the reload did not take, restored the old sites: %s",
                         error ? error : strerror(-r));
}

static json_t *run_record(const struct apply_run *a, const char *result, size_t changes) {
        double cpu = cpu_ms();

        return json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:f, s:f, s:I, s:I}", "name", "nginx", "result", result,
                         "layout", layout_name(a->paths.layout), "sites",
                         a->plan.sites ? json_incref(a->plan.sites) : json_array(), "changed", (json_int_t) changes,
                         "duration_ms", (json_int_t) (now_ms() - a->started_ms), "cpu_ms",
                         (double) (long) ((cpu - a->cpu_start_ms) * 1000) / 1000, "process_cpu_ms",
                         (double) (long) (cpu * 1000) / 1000, "test_ms", (json_int_t) a->test_ms, "reload_ms",
                         (json_int_t) a->reload_ms);
}

static int apply_changes(struct kiln_context *ctx, struct apply_run *a, json_t **ret_record) {
        size_t changes = plan_changes(&a->plan);
        int r;

        if (changes == 0 && !reload_pending()) {
                log_info("nginx: %zu site(s) unchanged.", a->sites.n);
                *ret_record = run_record(a, "unchanged", 0);
                return a->plan.result;
        }
        if (changes == 0)
                log_info("nginx: the site files are as wanted, but an earlier apply was interrupted before nginx "
                         "was seen to load them: reloading.");
        r = stage_and_test(ctx, &a->st, &a->paths, &a->plan, &a->test_ms);
        if (r >= 0) {
                crash_point("nginx-tested");
                r = swap_reload(ctx, a);
        }
        *ret_record = run_record(a, r < 0 ? "failed" : "applied", changes);
        if (r < 0)
                return r;
        log_info("nginx: applied %zu change(s) to %zu site(s) in %ld ms (nginx -t %ld ms, reload %ld ms).", changes,
                 a->sites.n, now_ms() - a->started_ms, a->test_ms, a->reload_ms);
        return a->plan.result;
}

static bool has_owned_files(const struct nginx_paths *paths) {
        _cleanup_strv_free_ char **owned = NULL;
        return layout_list_owned(paths, NULL, NULL, &owned) < 0 || owned;
}

int nginx_apply_record(struct kiln_context *ctx, json_t **ret_record) {
        _cleanup_free_ char *thumbprint = NULL;
        struct apply_run a = {.lock_fd = -1, .started_ms = now_ms(), .cpu_start_ms = cpu_ms()};
        int r;

        *ret_record = NULL;
        r = parse_config(ctx, &a);
        if (r >= 0 && a.sites.n == 0 && a.st.status_port == 0 && !has_owned_files(&a.paths) && !reload_pending()) {
                log_debug("nginx: no sites.");
                run_done(&a);
                return 0;
        }
        if (r >= 0 && (r = take_lock(&a.lock_fd)) < 0)
                r = kiln_fail(ctx, r, "nginx: failed to take the apply lock: %s", strerror(-r));
        if (r >= 0)
                r = nginx_find(ctx, &a.st);
        if (r >= 0)
                r = prepare_options(ctx, &a, &thumbprint);
        if (r >= 0 && (r = plan_build(ctx, &a.sites, &a.paths, &a.opt, &a.plan)) < 0)
                r = kiln_fail(ctx, r, "nginx: failed to prepare the sites: %s", strerror(-r));
        if (r >= 0)
                r = apply_changes(ctx, &a, ret_record);
        run_done(&a);
        return r;
}

int nginx_apply(struct kiln_context *ctx) {
        json_t *record = NULL;
        int r = nginx_apply_record(ctx, &record);

        if (record)
                kiln_record(ctx, record);
        return r;
}

int nginx_reload(struct kiln_context *ctx) {
        _cleanup_free_ char *error = NULL;
        struct nginx_settings st;
        int r;

        r = nginx_settings_load(ctx->config, &st);
        if (r < 0)
                return kiln_fail(ctx, r, "nginx: %s", strerror(-r));
        r = nginx_find(ctx, &st);
        if (r >= 0 && (r = nginx_reload_and_verify(&st, false, 0, &error)) < 0)
                r = kiln_fail(ctx, r, "nginx: reload failed: %s", error ? error : strerror(-r));
        nginx_settings_done(&st);
        return r;
}

int nginx_validate_config(const json_t *config, char ***ret_errors) {
        struct nginx_sites sites = {0};
        char **errors = NULL;
        int r;

        r = sites_parse(config, &sites, &errors);
        sites_done(&sites);
        if (r < 0) {
                strv_free(errors);
                return r;
        }
        *ret_errors = errors;
        return r;
}
