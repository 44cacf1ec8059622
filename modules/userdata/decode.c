/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "config.h"
#include "gzip.h"
#include "http.h"
#include "strbuf.h"
#include "userdata/jinja.h"
#include "userdata/mime.h"
#include "userdata/userdata.h"
#include "yaml-json.h"

/* gzip inside base64 inside MIME inside an include...: enough for what
 * people do, and a bound on what a hostile input can make us do. */
#define MAX_DEPTH 6

struct decoder {
        const struct userdata_options *o;
        struct userdata *u;
        size_t n_parts; /* for part-NNN names */
        json_t *cloud, *cloud_pos; /* the #cloud-config parts merged as cloud-init merges them */
        char *cloud_origin; /* the first of them, for messages without a position */
        json_t *jinja_vars; /* the instance data as jinja variables, once asked for */
        bool jinja_asked;
        char *jinja_problem; /* why there is no instance data, or what it lacks */
        char *index; /* this instance's ami-launch-index, once asked for; NULL: none */
        bool index_asked;
};

/* One piece being decoded: where it came from, for messages and positions. */
struct blob {
        const char *data;
        size_t len;
        const char *origin; /* file or URL the lines belong to */
        size_t line; /* lines before data in origin */
        const char *name; /* "part 2 'setup.sh'" for messages; NULL for the whole origin */
        const char *type; /* declared MIME type; NULL when it is to be sniffed */
        const char *merge_type; /* its Merge-Type (or X-Merge-Type) MIME header */
        const char *launch_index; /* its Launch-Index MIME header, as written */
        bool rendered; /* a rendered jinja template: its launch-index key does not count */
};

static void push(char ***list, const struct blob *b, const char *fmt, va_list ap) _printf_(3, 0);
static void push(char ***list, const struct blob *b, const char *fmt, va_list ap) {
        _cleanup_strbuf_ struct strbuf s = STRBUF_INIT;
        _cleanup_free_ char *msg = strdup_vprintf(fmt, ap);

        if (!msg)
                return;
        if (strbuf_printf(&s, "%s:%zu:1: %s%s%s", b->origin, b->line + 1, b->name ? b->name : "", b->name ? ": " : "",
                          msg) >= 0)
                (void) strv_push(list, s.data);
}

static void warn(struct decoder *d, const struct blob *b, const char *fmt, ...) _printf_(3, 4);
static void warn(struct decoder *d, const struct blob *b, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        push(&d->u->warnings, b, fmt, ap);
        va_end(ap);
}

static void error_at(struct decoder *d, const struct blob *b, size_t line, size_t col, const char *fmt, ...)
        _printf_(5, 6);
static void error_at(struct decoder *d, const struct blob *b, size_t line, size_t col, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL, *full = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = strdup_vprintf(fmt, ap);
        va_end(ap);
        full = msg ? strdup_printf("%s:%zu:%zu: %s%s%s", b->origin, line, col, b->name ? b->name : "",
                                   b->name ? ": " : "", msg)
                   : NULL;
        if (full)
                (void) strv_push(&d->u->errors, full);
}

static void note_to(char ***list, const struct blob *b, const char *fmt, ...) _printf_(3, 4);
static void note_to(char ***list, const struct blob *b, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        push(list, b, fmt, ap);
        va_end(ap);
}

static void error(struct decoder *d, const struct blob *b, const char *fmt, ...) _printf_(3, 4);
static void error(struct decoder *d, const struct blob *b, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        push(&d->u->errors, b, fmt, ap);
        va_end(ap);
}

/* Python's int() of a string, as cloud-init reads a launch index:
 * blanks around, a sign, decimal digits (single '_' between them). */
static bool py_int(const char *s, long long *ret) {
        long long v = 0;
        bool neg = false, digit = false;

        while (isspace((unsigned char) *s))
                s++;
        if (*s == '+' || *s == '-')
                neg = *s++ == '-';
        for (; *s; s++) {
                if (*s == '_' && digit && isdigit((unsigned char) s[1]))
                        continue;
                if (!isdigit((unsigned char) *s))
                        break;
                if (v > (LLONG_MAX - 9) / 10)
                        return false;
                v = v * 10 + (*s - '0');
                digit = true;
        }
        while (isspace((unsigned char) *s))
                s++;
        if (!digit || *s)
                return false;
        *ret = neg ? -v : v;
        return true;
}

/* int() of a YAML launch-index value (integers, floats truncated,
 * booleans, strings); false for what int() refuses. */
static bool py_int_json(const json_t *v, long long *ret) {
        double f;

        if (json_is_integer(v))
                *ret = json_integer_value(v);
        else if (json_is_boolean(v))
                *ret = json_is_true(v);
        else if (json_is_string(v))
                return py_int(json_string_value(v), ret);
        else if (json_is_real(v) && isfinite(f = json_real_value(v)) && fabs(f) < 9e18)
                *ret = (long long) f;
        else
                return false;
        return true;
}

/* cloud-init 22.4's launch index filter (user_data.py, filters/
 * launch_index.py): a part's index is its Launch-Index header, else the
 * launch-index key of a text/cloud-config part (doc); a part with an
 * index is kept only on the instance whose ami-launch-index it is. A
 * header that is not a number matches no instance; a key that is not one
 * is no index. No ami-launch-index (or not a number): nothing is dropped.
 * 1: drop the part (named in u->dropped), 0: keep it. */
static int launch_index_skip(struct decoder *d, const struct blob *b, const json_t *doc) {
        _cleanup_free_ char *text = NULL;
        long long idx = 0, want = 0;
        bool has_idx, has_want;

        if (b->launch_index) {
                const char *h = b->launch_index + strspn(b->launch_index, " \t");
                has_idx = py_int(h, &idx);
                text = has_idx ? strdup_printf("%lld", idx) : strdup_printf("'%.40s'", h);
        } else if (doc && !b->rendered && json_object_get(doc, "launch-index")) {
                if (!py_int_json(json_object_get(doc, "launch-index"), &idx))
                        return 0;
                has_idx = true;
                text = strdup_printf("%lld", idx);
        } else
                return 0;
        if (!text)
                return -ENOMEM;
        if (!d->index_asked && d->o->launch_index) {
                _cleanup_free_ char *problem = NULL;
                d->index_asked = true;
                d->index = d->o->launch_index(d->o->launch_index_userdata, &problem);
                if (problem)
                        warn(d, b, "%s: parts for a launch index are all kept", problem);
        }
        has_want = d->index && py_int(d->index, &want);
        if (!d->o->launch_index) {
                if (has_idx) {
                        _cleanup_free_ char *line =
                                strdup_printf("%s (line %zu) applies only to the instance of launch index %s "
                                              "(ami-launch-index); cloud-init and kiln skip it on the others",
                                              b->name ? b->name : "the user-data", b->line + 1, text);
                        if (!line || strv_push(&d->u->notes, line) < 0)
                                return -ENOMEM;
                } else
                        warn(d, b, "Launch-Index %s is not a number: cloud-init skips this part on every instance",
                             text);
                return 0;
        }
        if (!has_want || (has_idx && idx == want))
                return 0;
        note_to(&d->u->dropped, b,
                "for launch index %s, this instance's ami-launch-index is %lld: not applied, as "
                "cloud-init skips it",
                text, want);
        return 1;
}

int userdata_gunzip(const char *data, size_t len, char **ret, size_t *ret_len) {
        struct strbuf out = STRBUF_INIT;
        int r;

        r = gzip_decompress(data, len, USERDATA_MAX_SIZE, &out);
        if (r < 0)
                return r;
        *ret_len = out.len;
        *ret = strbuf_steal(&out);
        return 0;
}

static char *describe_start(const char *data, size_t len) {
        struct strbuf b = STRBUF_INIT;

        for (size_t i = 0; i < len && i < 8; i++)
                (void) strbuf_printf(&b, "%s%02x", i ? " " : "", (unsigned char) data[i]);
        return strbuf_steal(&b);
}

/* Whether the blob's first line is `word` (followed by nothing but blanks). */
static bool first_line_is(const struct blob *b, const char *word) {
        size_t n = strlen(word), i;

        if (b->len < n || memcmp(b->data, word, n) != 0)
                return false;
        for (i = n; i < b->len && b->data[i] != '\n'; i++)
                if (!isspace((unsigned char) b->data[i]))
                        return false;
        return true;
}

static size_t first_line_len(const struct blob *b) {
        size_t n = 0;

        while (n < b->len && n < 80 && b->data[n] != '\n' && b->data[n] != '\r' && b->data[n] != 0)
                n++;
        return n;
}

/* cloud-init's test (handlers.type_from_starts_with()): after leading
 * white space, the content starts with prefix in any case; so
 * "#Cloud-Config" and " #cloud-config" are cloud-config. */
static bool sniffs_as(const struct blob *b, const char *prefix) {
        size_t i = 0, n = strlen(prefix);

        while (i < b->len && (isspace((unsigned char) b->data[i]) || (b->data[i] >= 0x1c && b->data[i] <= 0x1f)))
                i++;
        return b->len - i >= n && strncasecmp(b->data + i, prefix, n) == 0;
}

static bool has_mime_version(const struct blob *b) {
        static const char word[] = "mime-version:";
        size_t n = b->len < 4096 ? b->len : 4096, k = sizeof(word) - 1;

        for (size_t i = 0; i + k <= n; i++)
                if (strncasecmp(b->data + i, word, k) == 0)
                        return true;
        return false;
}

static bool starts_with(const struct blob *b, const char *s) {
        size_t n = strlen(s);
        return b->len >= n && memcmp(b->data, s, n) == 0;
}

static bool looks_base64(const char *data, size_t len) {
        size_t n = 0;

        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) data[i];
                if (isspace(c))
                        continue;
                if (!isalnum(c) && c != '+' && c != '/' && c != '=')
                        return false;
                n++;
        }
        return n >= 8;
}

/* A part name usable as a file and marker name: one safe component, unique. */
static char *safe_part_name(struct decoder *d, const char *filename) {
        _cleanup_free_ char *base = NULL;
        char *name;

        d->n_parts++;
        if (!filename || !*filename)
                return strdup_printf("part-%03zu", d->n_parts);
        base = strndup(filename, 64);
        if (!base)
                return NULL;
        for (char *p = base; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("._-", *p))
                        *p = '_';
        if (base[0] == '.')
                base[0] = '_';
        name = strdup(base);
        for (unsigned i = 2; name && i < 1000; i++) {
                bool taken = false;
                for (size_t k = 0; k < d->u->n_parts; k++)
                        taken = taken || streq(d->u->parts[k].filename, name);
                if (!taken)
                        return name;
                free(name);
                name = strdup_printf("%s-%u", base, i);
        }
        return name;
}

static int add_part(struct decoder *d, const struct blob *b, const char *type, const char *filename,
                    enum frequency freq) {
        _cleanup_free_ char *name = safe_part_name(d, filename);
        struct userdata_part *parts, *p;

        if (!name)
                return -ENOMEM;
        parts = realloc(d->u->parts, (d->u->n_parts + 1) * sizeof(*parts));
        if (!parts)
                return -ENOMEM;
        d->u->parts = parts;
        p = &parts[d->u->n_parts];
        *p = (struct userdata_part){.len = b->len, .freq = freq};
        p->type = strdup(type);
        p->content = malloc(b->len + 1);
        if (!p->type || !p->content) {
                free(p->type);
                free(p->content);
                return -ENOMEM;
        }
        /* cloud-init writes script and boothook parts through dos2unix():
         * every CR LF becomes LF, so "#!/bin/bash\r" still runs bash. */
        p->len = 0;
        for (size_t i = 0; i < b->len; i++)
                if (!(b->data[i] == '\r' && i + 1 < b->len && b->data[i + 1] == '\n'))
                        p->content[p->len++] = b->data[i];
        p->content[p->len] = 0;
        p->filename = TAKE_PTR(name);
        d->u->n_parts++;
        return 0;
}

static int merge_config(struct decoder *d, json_t *cfg, const json_t *positions) {
        int r = config_merge(d->u->config, cfg);
        if (r >= 0 && positions)
                r = config_merge_positions(d->u->positions, positions);
        return r;
}

/* Moves the keys that mean nothing on EC2, and those whose module
 * cloud-init does not run on this distribution, out of skipped into
 * u->ignored, each named once however many parts have it. */
static int take_ignored(struct decoder *d, char **skipped) {
        const json_t *unverified = json_object_get(d->cloud, "unverified_modules");
        char **keep = skipped;

        for (char **s = skipped; s && *s; s++) {
                const char *why = cloudconfig_ignored_why(*s);
                _cleanup_free_ char *line = NULL, *gated = NULL;
                bool seen = false;
                int r;
                /* honoured below: it says which keys are not ignored */
                if (streq(*s, "unverified_modules")) {
                        free(*s);
                        continue;
                }
                if (!why && !strpbrk(*s, ".[")) {
                        r = cloudconfig_distro_why(*s, unverified, &gated);
                        if (r < 0)
                                return r;
                        why = gated;
                }
                if (!why) {
                        *keep++ = *s;
                        continue;
                }
                line = strdup_printf("'%.*s' (%s)", (int) strcspn(*s, ".["), *s, why);
                if (!line)
                        return -ENOMEM;
                for (char **i = d->u->ignored; i && *i && !seen; i++)
                        seen = streq(*i, line);
                free(*s);
                if (!seen && strv_push(&d->u->ignored, line) < 0)
                        return -ENOMEM;
        }
        if (keep)
                *keep = NULL;
        return 0;
}

static int decode_config(struct decoder *d, const struct blob *b, bool cloud) {
        _cleanup_json_ json_t *doc = NULL, *pos = NULL, *cfg = NULL, *cfg_pos = NULL;
        _cleanup_strv_free_ char **skipped = NULL, **dups = NULL;
        _cleanup_free_ char *err = NULL, *origin = NULL;
        int r;

        origin = b->name ? strdup_printf("%s %s", b->origin, b->name) : strdup(b->origin);
        if (!origin)
                return -ENOMEM;
        /* A verbatim part's lines are the file's lines: say where in the file. */
        if (cloud)
                r = yaml_parse_cloud(b->data, b->len, b->line > 0 ? b->origin : origin, b->line, &doc, &pos, &dups,
                                     &err);
        else
                r = yaml_parse_positions(b->data, b->len, b->line > 0 ? b->origin : origin, b->line, &doc, &pos, &err);
        if (r == -ENOMEM)
                return r;
        for (char **w = dups; w && *w; w++)
                (void) strv_push(&d->u->warnings, *w);
        if (r < 0) {
                (void) strv_push(&d->u->errors, err ? err : "invalid YAML");
                return 0;
        }
        if (!json_is_object(doc)) {
                error(d, b, "the top level of a %s document must be a mapping",
                      cloud ? "#cloud-config" : "#kiln-config");
                return 0;
        }
        r = launch_index_skip(d, b, cloud ? doc : NULL);
        if (r != 0)
                return r < 0 ? r : 0;
        if (!cloud)
                return merge_config(d, doc, pos);
        /* honoured above, as cloud-init honours it: no module's key */
        (void) json_object_del(doc, "launch-index");
        if (pos)
                (void) json_object_del(pos, "launch-index");
        r = cloudconfig_merge_part(&d->cloud, &d->cloud_pos, doc, pos, b->merge_type, &err);
        if (r == -EINVAL) {
                error(d, b, "cannot be merged with the #cloud-config before it (cloud-init skips it too): %s", err);
                return 0;
        }
        if (r >= 0 && !d->cloud_origin)
                d->cloud_origin = strdup(origin);
        return r < 0 || d->cloud_origin ? r : -ENOMEM;
}

/* The merged #cloud-config, mapped onto kiln's config; kiln-config parts
 * stay on top of it. */
static int finish_cloud(struct decoder *d) {
        _cleanup_json_ json_t *cfg = NULL, *cfg_pos = NULL;
        _cleanup_strv_free_ char **skipped = NULL;
        int r;

        if (!d->cloud_origin)
                return 0;
        r = cloudconfig_map(d->cloud, d->cloud_pos, &cfg, &cfg_pos, &skipped);
        if (r < 0)
                return r;
        r = take_ignored(d, skipped);
        if (r < 0)
                return r;
        /* Each skipped key at its own line. */
        for (char **s = skipped; s && *s; s++) {
                _cleanup_free_ char *msg = cloudconfig_skip_message(*s), *line = NULL;
                const char *at = json_string_value(json_object_get(d->cloud_pos, *s));
                line = msg ? strdup_printf("%s: %s", at ? at : d->cloud_origin, msg) : NULL;
                if (!line || strv_push(&d->u->warnings, line) < 0)
                        return -ENOMEM;
        }
        r = config_merge(cfg, d->u->config);
        if (r >= 0)
                r = config_merge_positions(cfg_pos, d->u->positions);
        if (r < 0)
                return r;
        json_decref(d->u->config);
        d->u->config = TAKE_PTR(cfg);
        json_decref(d->u->positions);
        d->u->positions = TAKE_PTR(cfg_pos);
        return 0;
}

static int decode_blob(struct decoder *d, const struct blob *b, unsigned depth);

/* Plain HTTP can be read or changed on the way: only from this very
 * machine (a local metadata proxy, tests). The URL is parsed, not matched
 * by prefix ("http://127.attacker.example/", "http://127.0.0.1@host/"), its
 * host must be a loopback address (127.0.0.0/8, ::1, or localhost looked up
 * here), and the connection is pinned to that address, never a proxy.
 * *ret_pin is the address, NULL for https. */
static int include_pin(const char *url, char ret_pin[static INET6_ADDRSTRLEN], bool *ret_plain) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        struct http_url u;
        struct in_addr a4;
        struct in6_addr a6;
        int r = -EADDRNOTAVAIL;

        *ret_plain = false;
        if (strncasecmp(url, "https://", 8) == 0)
                return 0;
        if (strncasecmp(url, "http://", 7) != 0)
                return -EPROTONOSUPPORT;
        *ret_plain = true;
        if (http_url_parse(url, &u) < 0)
                return -EINVAL;
        if (inet_pton(AF_INET, u.host, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127 && inet_ntop(AF_INET, &a4, ret_pin, INET6_ADDRSTRLEN) ? 0 : r;
        if (inet_pton(AF_INET6, u.host, &a6) == 1)
                return IN6_IS_ADDR_LOOPBACK(&a6) && inet_ntop(AF_INET6, &a6, ret_pin, INET6_ADDRSTRLEN) ? 0 : r;
        if (strcasecmp(u.host, "localhost") != 0 || getaddrinfo("localhost", NULL, &hints, &res) != 0)
                return r;
        for (struct addrinfo *ai = res; ai && r < 0; ai = ai->ai_next) {
                const struct sockaddr_in *s4 = (const struct sockaddr_in *) ai->ai_addr;
                const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *) ai->ai_addr;
                if (ai->ai_family == AF_INET && (ntohl(s4->sin_addr.s_addr) >> 24) == 127 &&
                    inet_ntop(AF_INET, &s4->sin_addr, ret_pin, INET6_ADDRSTRLEN))
                        r = 0;
                else if (ai->ai_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) &&
                         inet_ntop(AF_INET6, &s6->sin6_addr, ret_pin, INET6_ADDRSTRLEN))
                        r = 0;
        }
        freeaddrinfo(res);
        return r;
}

static int fetch_include(struct decoder *d, const struct blob *b, const char *url, unsigned depth) {
        _cleanup_http_response_ struct http_response *resp = NULL;
        char errbuf[HTTP_ERROR_MAX] = "", pin[INET6_ADDRSTRLEN] = "";
        struct http_request req = {
                .url = url,
                .timeout_ms = 30000,
                .max_attempts = 3,
                .budget_ms = 120000,
                .retry_on = HTTP_RETRY_NETWORK | HTTP_RETRY_5XX | HTTP_RETRY_429,
                .max_body = USERDATA_MAX_SIZE,
                .ca_file = d->o->ca_file,
                .error = errbuf,
        };
        bool plain;
        int r;

        r = include_pin(url, pin, &plain);
        if (r < 0) {
                error(d, b, "include '%s': %s", url,
                      !plain         ? "only https:// URLs are fetched (http:// only from a loopback address)"
                      : r == -EINVAL ? "not a URL kiln reads (user info, blanks, a bad port or host?)"
                                     : "plain http:// only from a loopback address (127.0.0.0/8, [::1], "
                                       "localhost); use https://");
                return 0;
        }
        if (plain) {
                req.pin_address = pin;
                req.no_proxy = true;
        }
        r = http_request(&req, &resp);
        if (r < 0) {
                error(d, b, "include '%s': %s", url, errbuf[0] ? errbuf : strerror(-r));
                return 0;
        }
        if (resp->status != 200) {
                error(d, b, "include '%s': HTTP status %ld", url, resp->status);
                return 0;
        }
        return decode_blob(d, &(struct blob){resp->body, resp->body_len, url, 0, NULL, NULL}, depth + 1);
}

/* "#include" and text/x-include-url: one URL a line; # lines are comments. */
static int decode_includes(struct decoder *d, const struct blob *b, unsigned depth) {
        size_t pos = 0;
        int r = 0;

        for (size_t lineno = 0; pos < b->len && r >= 0; lineno++) {
                const char *nl = memchr(b->data + pos, '\n', b->len - pos);
                size_t n = nl ? (size_t) (nl - (b->data + pos)) : b->len - pos;
                _cleanup_free_ char *line = strndup(b->data + pos, n);
                struct blob at = *b; /* errors point at the URL's line */
                char *url;

                at.line = b->line + lineno;
                pos += n + 1;
                if (!line)
                        return -ENOMEM;
                url = strstrip(line);
                if (!*url || *url == '#')
                        continue;
                if (strv_length(d->u->includes) >= USERDATA_MAX_INCLUDES) {
                        error(d, &at, "more than %d includes, ignoring '%s' and the rest", USERDATA_MAX_INCLUDES, url);
                        break;
                }
                r = strv_push(&d->u->includes, url);
                if (r >= 0 && d->o->fetch_includes)
                        r = fetch_include(d, &at, url, depth);
        }
        return r;
}

/* cloud-init 22.4 writes a script or boothook part to a file and executes
 * the file itself, with no shell (subp([path]), runparts for scripts):
 * without a #! line that fails (ENOEXEC, "exec format error"), the part
 * does not run and its stage fails. kiln does not run it either, and says
 * so, naming the part (what: "script", "boothook"). */
static bool runs_itself(struct decoder *d, const struct blob *body, const struct blob *b, const char *what) {
        if (body->len >= 2 && body->data[0] == '#' && body->data[1] == '!')
                return true;
        warn(d, b,
             "%s with no #! line not run: cloud-init 22.4 executes a %s file itself, with no shell, and that fails "
             "(exec format error); start it with a line such as #!/bin/sh",
             what, what);
        return false;
}

/* A boothook as cloud-init 22.4 writes it (handlers/boot_hook.py): the
 * "#cloud-boothook" prefix (as spelt, case and all) taken off, then the
 * blanks before the content (str.lstrip()); run only with a #! line. */
static int decode_boothook(struct decoder *d, const struct blob *b, const char *filename) {
        static const char prefix[] = "#cloud-boothook";
        struct blob body = *b;
        int r;

        r = launch_index_skip(d, b, NULL);
        if (r != 0)
                return r < 0 ? r : 0;
        if (body.len >= sizeof(prefix) - 1 && memcmp(body.data, prefix, sizeof(prefix) - 1) == 0) {
                body.data += sizeof(prefix) - 1;
                body.len -= sizeof(prefix) - 1;
        }
        while (body.len > 0 && (isspace((unsigned char) body.data[0]) ||
                                ((unsigned char) body.data[0] >= 0x1c && (unsigned char) body.data[0] <= 0x1f))) {
                body.line += body.data[0] == '\n';
                body.data++;
                body.len--;
        }
        if (!runs_itself(d, &body, b, "boothook"))
                return 0;
        return add_part(d, &body, USERDATA_TYPE_BOOTHOOK, filename, FREQ_BOOT);
}

/* A script part, unless it is for another launch index or cannot be
 * executed (a text/x-shellscript part with no #! line: cloud-init's
 * handler writes it as it is and runparts fails to execute it). */
static int add_script(struct decoder *d, const struct blob *b, const char *type, const char *filename,
                      enum frequency freq) {
        int r = launch_index_skip(d, b, NULL);

        if (r != 0)
                return r < 0 ? r : 0;
        if (!runs_itself(d, b, b, "script"))
                return 0;
        return add_part(d, b, type, filename, freq);
}

static int decode_base64(struct decoder *d, const struct blob *b, unsigned depth) {
        _cleanup_free_ char *plain = NULL, *origin = NULL;
        size_t len;
        int r;

        r = base64_decode(b->data, b->len, &plain, &len);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || len == 0 || !(gzip_looks(plain, len) || plain[0] == '#' || mime_looks_like(plain, len))) {
                _cleanup_free_ char *start = describe_start(b->data, b->len);
                error(d, b,
                      "not a script (#!), #kiln-config, #cloud-config, #include or MIME message "
                      "(it starts with bytes %s)",
                      start ? start : "?");
                return 0;
        }
        origin = strdup_printf("%s%s%s (base64-decoded)", b->origin, b->name ? " " : "", b->name ? b->name : "");
        if (!origin)
                return -ENOMEM;
        return decode_blob(d, &(struct blob){plain, len, origin, 0, NULL, NULL, .launch_index = b->launch_index},
                           depth + 1);
}

static int decode_mime(struct decoder *d, const struct blob *b, unsigned depth) {
        struct mime_message m = {};
        _cleanup_free_ char *err = NULL;
        int r;

        r = mime_split(b->data, b->len, &m, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                error(d, b, "broken MIME message: %s", err ? err : "cannot be split");
                return 0;
        }
        for (char **w = m.warnings; w && *w; w++)
                warn(d, b, "%s", *w);
        for (size_t i = 0; r >= 0 && i < m.n_parts; i++) {
                struct mime_part *p = &m.parts[i];
                _cleanup_free_ char *name = p->filename ? strdup_printf("part %zu '%s'", i + 1, p->filename)
                                                        : strdup_printf("part %zu", i + 1);
                struct blob part = {p->body, p->len,  b->origin,     b->line + p->line,
                                    name,    p->type, p->merge_type, p->launch_index};
                if (!name) {
                        r = -ENOMEM;
                        break;
                }
                if (p->error) {
                        error(d, &part, "%s, skipping it", p->error);
                        continue;
                }
                if (p->warning)
                        warn(d, &part, "%s", p->warning);
                if (!p->verbatim)
                        part.line = 0; /* positions then count from the part's start, named */
                r = decode_blob(d, &part, depth + 1);
        }
        mime_message_done(&m);
        return r;
}

struct typed {
        const char *type;
        const char *kind; /* "script", "cloud", "kiln", "boothook", "include", "gzip", "sniff" */
        enum frequency freq;
};

static const struct typed types[] = {
        {"text/x-shellscript", "script", FREQ_INSTANCE},
        {"text/x-shellscript-per-boot", "script", FREQ_BOOT},
        {"text/x-shellscript-per-instance", "script", FREQ_INSTANCE},
        {"text/x-shellscript-per-once", "script", FREQ_ONCE},
        {"text/cloud-config", "cloud", 0},
        {"text/x-kiln-config", "kiln", 0},
        {"text/cloud-boothook", "boothook", FREQ_BOOT},
        {"text/x-include-url", "include", 0},
        {"text/x-include-once-url", "include", 0},
        {"text/jinja2", "jinja", 0},
        /* cloud-init's DECOMP_TYPES */
        {"application/gzip", "gzip", 0},
        {"application/gzip-compressed", "gzip", 0},
        {"application/gzipped", "gzip", 0},
        {"application/x-compress", "gzip", 0},
        {"application/x-compressed", "gzip", 0},
        {"application/x-gunzip", "gzip", 0},
        {"application/x-gzip", "gzip", 0},
        {"application/x-gzip-compressed", "gzip", 0},
        /* cloud-init's TYPE_NEEDED: read by how they start. Other types,
         * application/octet-stream too, have no handler there: skipped,
         * with a warning. */
        {"text/plain", "sniff", 0},
        {"text/x-not-multipart", "sniff", 0},
        {"", "sniff", 0},
};

/* The part's own file name, from "part 2 'setup.sh'". */
static char *part_filename(const struct blob *b) {
        const char *q = b->name ? strchr(b->name, '\'') : NULL;
        return q ? strndup(q + 1, strlen(q + 1) - 1) : NULL;
}

static int decode_sniffed(struct decoder *d, const struct blob *b, unsigned depth);
static int decode_jinja(struct decoder *d, const struct blob *b, unsigned depth);

static int decode_typed(struct decoder *d, const struct blob *b, const struct typed *t, unsigned depth) {
        _cleanup_free_ char *filename = part_filename(b);
        static const char *const resniffed[] = {"#cloud-config", "#cloud-boothook", "#part-handler",
                                                "## template: jinja"};

        /* cloud-init reads a text/x-shellscript part by its start again
         * (people label cloud-config so): so does kiln. */
        for (size_t i = 0; streq(t->type, "text/x-shellscript") && i < ELEMENTSOF(resniffed); i++)
                if (sniffs_as(b, resniffed[i]))
                        return decode_sniffed(d,
                                              &(struct blob){b->data, b->len, b->origin, b->line, b->name, NULL,
                                                             .launch_index = b->launch_index},
                                              depth);
        /* The type stays: cloud-init runs each in its own module (order). */
        if (streq(t->kind, "script"))
                return add_script(d, b, t->type, filename, t->freq);
        if (streq(t->kind, "cloud") || streq(t->kind, "kiln"))
                return decode_config(d, b, streq(t->kind, "cloud"));
        if (streq(t->kind, "boothook"))
                return decode_boothook(d, b, filename);
        if (streq(t->kind, "include"))
                return decode_includes(d, b, depth);
        if (streq(t->kind, "jinja"))
                return decode_jinja(d, b, depth);
        return decode_blob(
                d, &(struct blob){b->data, b->len, b->origin, b->line, b->name, NULL, .launch_index = b->launch_index},
                depth);
}

static int decode_gzip(struct decoder *d, const struct blob *b, unsigned depth) {
        _cleanup_free_ char *plain = NULL, *origin = NULL;
        size_t len;
        int r;

        r = userdata_gunzip(b->data, b->len, &plain, &len);
        if (r == -ENOMEM)
                return r;
        if (r == -ENOPKG) {
                error(d, b, "gzip-compressed data, which kiln cannot inflate: %s", gzip_error());
                return 0;
        }
        if (r < 0) {
                error(d, b, "gzip-compressed data that does not inflate: %s",
                      r == -EFBIG ? "larger than 16 MiB uncompressed" : "corrupt or truncated stream");
                return 0;
        }
        origin = strdup_printf("%s%s%s (gunzipped)", b->origin, b->name ? " " : "", b->name ? b->name : "");
        if (!origin)
                return -ENOMEM;
        return decode_blob(d, &(struct blob){plain, len, origin, 0, NULL, b->type, .launch_index = b->launch_index},
                           depth + 1);
}

static bool blank(const char *data, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (!isspace((unsigned char) data[i]))
                        return false;
        return true;
}

/* Decides what the content is from how it starts, as cloud-init does. */
static int decode_sniffed(struct decoder *d, const struct blob *b, unsigned depth) {
        _cleanup_free_ char *filename = part_filename(b);
        _cleanup_free_ char *start = NULL;

        if (starts_with(b, "#!"))
                return add_script(d, b, "text/x-shellscript",
                                  filename  ? filename
                                  : b->name ? NULL
                                            : "user-data",
                                  FREQ_INSTANCE);
        /* cloud-init tries the longest prefix first. */
        if (sniffs_as(b, "## template: jinja"))
                return decode_jinja(d, b, depth);
        if (sniffs_as(b, "#cloud-config-archive") || sniffs_as(b, "#cloud-config-jsonp") ||
            sniffs_as(b, "#part-handler")) {
                size_t skip = 0;
                while (skip < b->len && isspace((unsigned char) b->data[skip]))
                        skip++;
                warn(d, b, "'%.*s' content is not supported by kiln, skipping it",
                     (int) first_line_len(&(struct blob){b->data + skip, b->len - skip}), b->data + skip);
                return 0;
        }
        if (sniffs_as(b, "#cloud-config"))
                return decode_config(d, b, true);
        if (first_line_is(b, "#kiln-config"))
                return decode_config(d, b, false);
        if (sniffs_as(b, "#cloud-boothook"))
                return decode_boothook(d, b, filename);
        if (first_line_is(b, "#include") || first_line_is(b, "#include-once"))
                return decode_includes(d, b, depth);
        if (mime_looks_like(b->data, b->len)) {
                if (depth == 0 && !has_mime_version(b))
                        warn(d, b,
                             "a MIME message without a MIME-Version header: cloud-init does not read it as "
                             "MIME (it would skip this user-data); kiln does");
                return decode_mime(d, b, depth);
        }
        /* cloud-init's test for MIME user-data (user_data.convert_string()):
         * "mime-version:" anywhere in the first 4 KiB, whatever comes first. */
        if (depth == 0 && has_mime_version(b))
                return decode_mime(d, b, depth);
        if (blank(b->data, b->len))
                return 0;
        if (d->o->yaml_is_config && depth == 0)
                return decode_config(d, b, false);
        if (looks_base64(b->data, b->len))
                return decode_base64(d, b, depth);
        start = describe_start(b->data, b->len);
        error(d, b,
              "not a script (#!), #kiln-config, #cloud-config, #include or MIME message (it starts with bytes %s)",
              start ? start : "?");
        return 0;
}

/* The instance data as jinja variables, asked for once, at the first
 * template b: what the data lacks is a warning there. */
static const json_t *jinja_vars(struct decoder *d, const struct blob *b) {
        if (!d->jinja_asked) {
                _cleanup_json_ json_t *data = NULL;
                d->jinja_asked = true;
                data = d->o->instance_data ? d->o->instance_data(d->o->instance_data_userdata, &d->jinja_problem)
                                           : NULL;
                d->jinja_vars = data ? userdata_jinja_vars(data) : NULL;
                if (d->jinja_vars && d->o->instance_data_note)
                        (void) strv_push(&d->u->notes, d->o->instance_data_note);
                if (d->jinja_vars && d->jinja_problem)
                        warn(d, b, "%s", d->jinja_problem);
        }
        return d->jinja_vars;
}

/* A "## template: jinja" part, as cloud-init's JinjaTemplatePartHandler
 * takes it: rendered with the instance data, then read by how it starts,
 * with its only two sub-handlers: #cloud-config and #! scripts. What
 * cloud-init would skip (a template that does not render, another type)
 * is skipped, with an error or a warning saying why. */
static int decode_jinja(struct decoder *d, const struct blob *b, unsigned depth) {
        _cleanup_free_ char *out = NULL, *err = NULL, *origin = NULL, *filename = part_filename(b);
        _cleanup_strv_free_ char **missing = NULL;
        const json_t *vars;
        size_t hl = 0, len = 0;
        struct blob rendered;
        int r;

        r = launch_index_skip(d, b, NULL);
        if (r != 0)
                return r < 0 ? r : 0;
        if (jinja_header_len(b->data, b->len, &hl) < 0) {
                error(d, b,
                      "a jinja template must start with the line '## template: jinja' (cloud-init fails this "
                      "part too), skipping it");
                return 0;
        }
        vars = jinja_vars(d, b);
        if (!vars) {
                error(d, b, "a jinja template, and no instance data to render it with%s%s%s, skipping it",
                      d->jinja_problem ? " (" : "", d->jinja_problem ? d->jinja_problem : "",
                      d->jinja_problem ? ")" : "");
                return 0;
        }
        r = jinja_render(b->data + hl, b->len - hl, vars, &out, &len, &missing, &err);
        if (r == -ENOMEM)
                return r;
        if (r == -EFBIG) {
                error(d, b, "a jinja template that renders larger than 16 MiB, skipping it");
                return 0;
        }
        if (r < 0) {
                size_t line = 0, col = 0;
                const char *msg = err ? err : "cannot be rendered";
                if (err && sscanf(err, "%zu:%zu:", &line, &col) == 2)
                        msg = strchr(strchr(err, ':') + 1, ':') + 2;
                error_at(d, b, b->line + 1 + (line ? line : 1), col ? col : 1,
                         "jinja template: %s; skipping the part (cloud-init skips it too)", msg);
                return 0;
        }
        if (missing) {
                _cleanup_strbuf_ struct strbuf names = STRBUF_INIT;
                for (char **m = missing; *m; m++)
                        (void) strbuf_printf(&names, "%s'%s'", m == missing ? "" : ", ", *m);
                warn(d, b,
                     "jinja template: undefined variable(s) %s rendered as %sNAME, as cloud-init renders "
                     "them",
                     names.data ? names.data : "", JINJA_MISSING_PREFIX);
        }
        origin = strdup_printf("%s%s%s (jinja-rendered)", b->origin, b->name ? " " : "", b->name ? b->name : "");
        if (!origin)
                return -ENOMEM;
        rendered = (struct blob){out, len, origin, 0, NULL, NULL, b->merge_type, .rendered = true};
        if (sniffs_as(&rendered, "#cloud-config-archive") || sniffs_as(&rendered, "#cloud-config-jsonp") ||
            !(sniffs_as(&rendered, "#cloud-config") || sniffs_as(&rendered, "#!"))) {
                warn(d, b,
                     "the rendered jinja template is neither #cloud-config nor a #! script (it starts '%.*s'): "
                     "cloud-init ignores it, so does kiln",
                     (int) first_line_len(&rendered), rendered.data);
                return 0;
        }
        if (sniffs_as(&rendered, "#cloud-config"))
                return decode_config(d, &rendered, true);
        if (!starts_with(&rendered, "#!")) {
                error(d, b,
                      "the rendered jinja template has blanks before its '#!': the kernel cannot run it (cloud-init "
                      "fails it too), skipping it");
                return 0;
        }
        (void) depth;
        return add_part(d, &rendered, "text/x-shellscript",
                        filename  ? filename
                        : b->name ? NULL
                                  : "user-data",
                        FREQ_INSTANCE);
}

static int decode_blob(struct decoder *d, const struct blob *b, unsigned depth) {
        if (depth > MAX_DEPTH) {
                error(d, b, "nested too deep (gzip, base64, MIME and includes, more than %d levels)", MAX_DEPTH);
                return 0;
        }
        if (gzip_looks(b->data, b->len))
                return decode_gzip(d, b, depth);
        if (b->type) {
                for (size_t i = 0; i < ELEMENTSOF(types); i++)
                        if (streq(b->type, types[i].type))
                                return decode_typed(d, b, &types[i], depth);
                warn(d, b, "content type '%s' is not supported by kiln, skipping it", b->type);
                return 0;
        }
        return decode_sniffed(d, b, depth);
}

int userdata_parse(const char *data, size_t len, const struct userdata_options *o, struct userdata *ret) {
        struct userdata u = {};
        struct decoder d = {.o = o, .u = &u};
        int r;

        u.config = json_object();
        u.positions = json_object();
        if (!u.config || !u.positions) {
                userdata_done(&u);
                return -ENOMEM;
        }
        d.cloud = json_object();
        d.cloud_pos = json_object();
        r = d.cloud && d.cloud_pos ? 0 : -ENOMEM;
        if (r >= 0)
                r = decode_blob(&d, &(struct blob){data, len, o->origin ? o->origin : "user-data", 0, NULL, NULL}, 0);
        if (r >= 0)
                r = finish_cloud(&d);
        json_decref(d.cloud);
        json_decref(d.cloud_pos);
        json_decref(d.jinja_vars);
        free(d.jinja_problem);
        free(d.index);
        free(d.cloud_origin);
        if (r >= 0)
                r = userdata_apply_module_lists(&u);
        if (r < 0) {
                userdata_done(&u);
                return r;
        }
        *ret = u;
        return 0;
}

void userdata_done(struct userdata *u) {
        for (size_t i = 0; i < u->n_parts; i++) {
                free(u->parts[i].type);
                free(u->parts[i].filename);
                free(u->parts[i].content);
        }
        free(u->parts);
        json_decref(u->config);
        json_decref(u->positions);
        strv_free(u->warnings);
        strv_free(u->ignored);
        strv_free(u->notes);
        strv_free(u->dropped);
        strv_free(u->errors);
        strv_free(u->includes);
        *u = (struct userdata){};
}

bool userdata_part_is_script(const struct userdata_part *p) {
        return strneq(p->type, "text/x-shellscript", 18);
}

bool userdata_part_is_boothook(const struct userdata_part *p) {
        return streq(p->type, USERDATA_TYPE_BOOTHOOK);
}
