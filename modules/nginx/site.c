/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "nginx/site.h"
#include "strbuf.h"

#define NAME_MAX_LEN 64
#define DOMAIN_MAX_LEN 253
#define DOMAINS_MAX 100 /* Let's Encrypt's limit of names in one certificate */
#define PATH_MAX_LEN 1024
#define TEXT_MAX_LEN 1024
#define HSTS_DEFAULT_MAX_AGE 63072000L /* two years, as Mozilla's guidelines */

/* --- the checks --- */

static bool all_chars_in(const char *s, const char *extra) {
        for (; *s; s++)
                if (!isascii((unsigned char) *s) || (!isalnum((unsigned char) *s) && !strchr(extra, *s)))
                        return false;
        return true;
}

/* A ".." path segment, which could walk out of the directory meant. */
static bool has_dotdot_segment(const char *s) {
        for (const char *p = strstr(s, ".."); p; p = strstr(p + 1, ".."))
                if ((p == s || p[-1] == '/') && (p[2] == 0 || p[2] == '/'))
                        return true;
        return false;
}

bool site_name_valid(const char *s) {
        size_t n = strlen(s);
        return n > 0 && n <= NAME_MAX_LEN && isalnum((unsigned char) s[0]) && isalnum((unsigned char) s[n - 1]) &&
               all_chars_in(s, ".-") && !strstr(s, "..");
}

/* RFC 1123 label: letters, digits, hyphens inside, 1..63. */
static bool label_valid(const char *s, size_t n) {
        if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isascii((unsigned char) s[i]) || (!isalnum((unsigned char) s[i]) && s[i] != '-'))
                        return false;
        return true;
}

static bool hostname_valid(const char *s) {
        if (strlen(s) > DOMAIN_MAX_LEN)
                return false;
        for (;;) {
                size_t n = strcspn(s, ".");
                if (!label_valid(s, n))
                        return false;
                if (!s[n])
                        return true;
                s += n + 1;
        }
}

/* RFC 1123 names, with one leading "*." wildcard label allowed. */
bool site_domain_valid(const char *s) {
        if (strneq(s, "*.", 2))
                s += 2;
        return hostname_valid(s);
}

bool site_abs_path_valid(const char *s) {
        return s[0] == '/' && strlen(s) <= PATH_MAX_LEN && all_chars_in(s, "/._-+@~,=") && !has_dotdot_segment(s);
}

bool site_location_path_valid(const char *s) {
        return s[0] == '/' && strlen(s) <= PATH_MAX_LEN && all_chars_in(s, "/._-+@~,=%:") && !has_dotdot_segment(s);
}

static bool port_valid(const char *s, size_t n) {
        long v = 0;

        if (n == 0 || n > 5)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (!isdigit((unsigned char) s[i]))
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        return v >= 1 && v <= 65535;
}

/* An address inet_pton() reads, as nginx does (ngx_inet6_addr): "20e01::1"
 * or "1:2:3" passed a character check and failed nginx -t. */
static bool ipv6_literal_valid(const char *s, size_t n) {
        struct in6_addr a;
        char buf[INET6_ADDRSTRLEN];

        if (n < 2 || n >= sizeof(buf))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isxdigit((unsigned char) s[i]) && s[i] != ':' && s[i] != '.')
                        return false;
        memcpy(buf, s, n);
        buf[n] = 0;
        return inet_pton(AF_INET6, buf, &a) == 1;
}

/* HOST[:PORT][/PATH] after the scheme. */
static bool http_authority_path_valid(const char *s) {
        _cleanup_free_ char *host = NULL;
        const char *path = strchr(s, '/'), *port;
        size_t n = path ? (size_t) (path - s) : strlen(s);

        if (path && (!site_location_path_valid(path)))
                return false;
        if (s[0] == '[') {
                const char *close = memchr(s, ']', n);
                if (!close || !ipv6_literal_valid(s + 1, (size_t) (close - s - 1)))
                        return false;
                port = close + 1;
                return port == s + n || (*port == ':' && port_valid(port + 1, (size_t) (s + n - port - 1)));
        }
        port = memchr(s, ':', n);
        host = strndup(s, port ? (size_t) (port - s) : n);
        if (!host || !hostname_valid(host))
                return false;
        /* nginx reads "http://unix:X" as the unix socket X. */
        if (port && strcasecmp(host, "unix") == 0)
                return false;
        return !port || port_valid(port + 1, (size_t) (s + n - port - 1));
}

bool site_upstream_valid(const char *s) {
        if (strneq(s, "unix:", 5))
                return site_abs_path_valid(s + 5);
        if (strneq(s, "http://", 7))
                return http_authority_path_valid(s + 7);
        if (strneq(s, "https://", 8))
                return http_authority_path_valid(s + 8);
        return false;
}

const char *site_upstream_path(const char *s) {
        if (strneq(s, "http://", 7))
                return strchr(s + 7, '/');
        if (strneq(s, "https://", 8))
                return strchr(s + 8, '/');
        return NULL; /* unix:/PATH names the socket; the URI is passed as it is */
}

bool site_ends_with_slash(const char *s) {
        size_t n = strlen(s);
        return n > 0 && s[n - 1] == '/';
}

/* An absolute http(s) URL or a path on this site; rendered in double
 * quotes, but quotes, ';', '$' and spaces are refused all the same. */
bool site_redirect_valid(const char *s) {
        const char *rest = s;

        if (strneq(s, "https://", 8))
                rest = s + 8;
        else if (strneq(s, "http://", 7))
                rest = s + 7;
        else if (s[0] != '/')
                return false;
        return rest[0] && strlen(s) <= PATH_MAX_LEN && all_chars_in(s, "-._~:/?#[]@!&()*+,=%");
}

bool site_header_name_valid(const char *s) {
        size_t n = strlen(s);
        return n > 0 && n <= 64 && all_chars_in(s, "-_");
}

/* Text that kiln renders inside double quotes (header values, return
 * bodies): printable ASCII without '"', '\' and '$', so it can neither end
 * the string nor expand a variable. ';', braces and single quotes are safe
 * inside the quotes and are needed by real headers (CSP, HSTS). */
bool site_quoted_text_valid(const char *s) {
        if (strlen(s) > TEXT_MAX_LEN)
                return false;
        for (; *s; s++)
                if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\' || *s == '$')
                        return false;
        return true;
}

/* nginx sizes: 10m, 512k, 1g, or bytes. */
static bool size_valid(const char *s) {
        size_t n = strspn(s, "0123456789");
        return n > 0 && n <= 9 && (s[n] == 0 || (strchr("kKmMgG", s[n]) && s[n + 1] == 0));
}

/* nginx times: 60, 60s, 500ms, 5m, 1h. */
static bool time_valid(const char *s) {
        size_t n = strspn(s, "0123456789");
        return n > 0 && n <= 7 && (s[n] == 0 || streq(s + n, "ms") || ((strchr("smhd", s[n]) && s[n + 1] == 0)));
}

/* --- collecting problems --- */

struct parse {
        char ***errors;
        int n;
        bool types_checked; /* the schema reported wrong types already */
};

/* A user string shown in a message: non-printables escaped, long ones cut. */
static char *shown(const char *s) {
        struct strbuf b = STRBUF_INIT;
        size_t i;

        for (i = 0; s[i] && i < 80; i++)
                if (s[i] >= 0x20 && s[i] < 0x7f)
                        (void) strbuf_append(&b, s + i, 1);
                else
                        (void) strbuf_printf(&b, "\\x%02x", (unsigned char) s[i]);
        if (s[i])
                (void) strbuf_puts(&b, "...");
        return strbuf_steal(&b);
}

_printf_(3, 4) static void problem(struct parse *p, const char *key, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL, *line = NULL;
        va_list ap;

        p->n++;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        line = strdup_printf("%s: %s", key, msg ? msg : "invalid");
        if (line)
                (void) strv_push(p->errors, line);
}

/* A value of the wrong type for a key the schema types: reported here
 * only when the schema's check has not run. */
#define type_problem(p, ...)                       \
        do {                                       \
                if (!(p)->types_checked)           \
                        problem((p), __VA_ARGS__); \
        } while (0)

static void bad_value(struct parse *p, const char *key, const char *value, const char *what) {
        _cleanup_free_ char *v = shown(value);
        problem(p, key, "'%s' is not %s", v ? v : "?", what);
}

/* The value at obj[name] as a string, checked with valid(); NULL if absent
 * or wrong (and then a problem is recorded). */
static const char *get_string(struct parse *p, const char *prefix, const json_t *obj, const char *name,
                              bool (*valid)(const char *), const char *what) {
        json_t *v = json_object_get(obj, name);

        if (!v)
                return NULL;
        if (!json_is_string(v)) {
                if (strchr(prefix, '.'))
                        problem(p, prefix, "'%s' must be a string", name);
                else /* a site's own key: typed by the schema */
                        type_problem(p, prefix, "'%s' must be a string", name);
                return NULL;
        }
        if (valid && !valid(json_string_value(v))) {
                _cleanup_free_ char *key = strdup_printf("%s.%s", prefix, name);
                bad_value(p, key ? key : prefix, json_string_value(v), what);
                return NULL;
        }
        return json_string_value(v);
}

static int dup_string(const char *s, char **ret) {
        if (!s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static bool get_bool(struct parse *p, const char *prefix, const json_t *obj, const char *name, bool def) {
        json_t *v = json_object_get(obj, name);

        if (!v)
                return def;
        if (!json_is_boolean(v)) {
                if (strchr(prefix, '.'))
                        problem(p, prefix, "'%s' must be true or false", name);
                else
                        type_problem(p, prefix, "'%s' must be true or false", name);
                return def;
        }
        return json_is_true(v);
}

/* A size or a time: an integer, or a string that valid() accepts. */
static int get_amount(struct parse *p, const char *prefix, const json_t *obj, const char *name,
                      bool (*valid)(const char *), const char *what, char **ret) {
        json_t *v = json_object_get(obj, name);
        _cleanup_free_ char *key = NULL;

        if (!v)
                return 0;
        key = strdup_printf("%s.%s", prefix, name);
        if (!key)
                return -ENOMEM;
        if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 999999999) {
                *ret = strdup_printf("%lld", (long long) json_integer_value(v));
                return *ret ? 0 : -ENOMEM;
        }
        if (json_is_string(v) && valid(json_string_value(v)))
                return dup_string(json_string_value(v), ret);
        if (json_is_string(v))
                bad_value(p, key, json_string_value(v), what);
        else
                problem(p, key, "must be %s", what);
        return 0;
}

/* --- one site --- */

static int parse_domains(struct parse *p, const char *prefix, const json_t *site, struct nginx_site *s) {
        _cleanup_free_ char *key = strdup_printf("%s.domains", prefix);
        json_t *v = json_object_get(site, "domains"), *d;
        size_t i;
        int r;

        if (!key)
                return -ENOMEM;
        if (json_is_string(v)) {
                if (!site_domain_valid(json_string_value(v)))
                        bad_value(p, key, json_string_value(v), "a valid domain name (RFC 1123, '*.' allowed first)");
                else if ((r = strv_push(&s->domains, json_string_value(v))) < 0)
                        return r;
                return 0;
        }
        if (v && !json_is_array(v)) {
                type_problem(p, key, "must be a domain or a list of domains");
                return 0;
        }
        if (json_array_size(v) > DOMAINS_MAX)
                problem(p, key, "at most %d names", DOMAINS_MAX);
        json_array_foreach(v, i, d) {
                _cleanup_free_ char *k = strdup_printf("%s[%zu]", key, i);
                if (!k)
                        return -ENOMEM;
                if (!json_is_string(d))
                        problem(p, k, "must be a string");
                else if (!site_domain_valid(json_string_value(d)))
                        bad_value(p, k, json_string_value(d), "a valid domain name (RFC 1123, '*.' allowed first)");
                else if ((r = strv_push(&s->domains, json_string_value(d))) < 0)
                        return r;
        }
        return 0;
}

static const char *const location_keys[] = {"proxy", "upstream", "alias", "root",      "redirect",
                                            "code",  "return",   "body",  "websocket", NULL};

static bool location_key_known(const char *k) {
        for (size_t i = 0; location_keys[i]; i++)
                if (streq(location_keys[i], k))
                        return true;
        return false;
}

/* The kind of a location given as a mapping: exactly one of the kind keys. */
static int location_kind(struct parse *p, const char *key, const json_t *v, enum location_kind *ret) {
        static const struct {
                const char *name;
                enum location_kind kind;
        } kinds[] = {
                {"proxy", LOCATION_PROXY}, {"upstream", LOCATION_PROXY},    {"alias", LOCATION_ALIAS},
                {"root", LOCATION_ROOT},   {"redirect", LOCATION_REDIRECT}, {"return", LOCATION_RETURN},
        };
        const char *k;
        json_t *x;
        int found = 0;

        json_object_foreach((json_t *) v, k, x)
                if (!location_key_known(k))
                        problem(p, key, "unknown key '%s' (one of proxy, alias, root, redirect, return)", k);
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
                if (json_object_get(v, kinds[i].name)) {
                        *ret = kinds[i].kind;
                        found++;
                }
        if (found != 1)
                problem(p, key, "needs exactly one of proxy, alias, root, redirect or return");
        return found == 1 ? 0 : -EINVAL;
}

static int parse_redirect(struct parse *p, const char *key, const json_t *v, struct site_location *l) {
        json_t *code = json_object_get(v, "code");
        const char *url = get_string(p, key, v, "redirect", site_redirect_valid,
                                     "an http(s):// URL or a /path without quotes, spaces, ';' or '$'");

        l->code = 301;
        if (code) {
                json_int_t c = json_integer_value(code);
                if (!json_is_integer(code) || (c != 301 && c != 302 && c != 303 && c != 307 && c != 308))
                        problem(p, key, "'code' must be 301, 302, 303, 307 or 308");
                else
                        l->code = (int) c;
        }
        return dup_string(url, &l->target);
}

static int parse_return(struct parse *p, const char *key, const json_t *v, struct site_location *l) {
        json_t *code = json_object_get(v, "return");
        const char *body = get_string(p, key, v, "body", site_quoted_text_valid,
                                      "text without quotes, '\\', '$' or control characters");

        json_int_t c = json_integer_value(code);

        if (!json_is_integer(code) || c < 200 || c > 599 || (c >= 300 && c < 400))
                problem(p, key, "'return' must be an HTTP status from 200 to 599, not 3xx (use 'redirect')");
        else
                l->code = (int) c;
        return dup_string(body, &l->target);
}

static int parse_location_map(struct parse *p, const char *key, const json_t *v, struct site_location *l) {
        const char *s = NULL;

        if (location_kind(p, key, v, &l->kind) < 0)
                return 0;
        l->websocket = get_bool(p, key, v, "websocket", false);
        switch (l->kind) {
        case LOCATION_PROXY:
                s = get_string(p, key, v, json_object_get(v, "proxy") ? "proxy" : "upstream", site_upstream_valid,
                               "an upstream (http://HOST[:PORT][/PATH], https://..., unix:/PATH)");
                return dup_string(s, &l->target);
        case LOCATION_ALIAS:
        case LOCATION_ROOT:
                s = get_string(p, key, v, l->kind == LOCATION_ALIAS ? "alias" : "root", site_abs_path_valid,
                               "an absolute directory without '..', spaces or special characters");
                return dup_string(s, &l->target);
        case LOCATION_REDIRECT: return parse_redirect(p, key, v, l);
        case LOCATION_RETURN: return parse_return(p, key, v, l);
        }
        return 0;
}

/* nginx maps a prefix location onto its target by replacing the prefix:
 * with "location /static { alias /srv/app/static/; }", "/static../.env" is
 * "/srv/app/static/../.env", and "location /api" proxied to
 * "http://host/v1/" sends "/api../admin" as "/v1/../admin" (the
 * "off-by-slash"). Without a '/' on either side, "/staticx" still reaches
 * "/srv/app/staticx", a sibling. So the location of an alias ends in '/'
 * (the alias gets one when it lacks it: render.c), and a location proxied
 * to a URL with a path ends in '/' exactly when that path does. */
static void check_slashes(struct parse *p, const char *key, const struct site_location *l) {
        const char *path;

        if (!l->target || !site_location_path_valid(l->path))
                return;
        if (l->kind == LOCATION_ALIAS && !site_ends_with_slash(l->path))
                problem(p, key, "an alias's location must end with '/' (write '%s/'): without it, %s", l->path,
                        site_ends_with_slash(l->target) ? "'../' after it reaches the directory above the alias"
                                                        : "it reaches the alias's siblings ('X' after it: 'ALIASX')");
        else if (l->kind == LOCATION_PROXY && (path = site_upstream_path(l->target)) &&
                 site_ends_with_slash(l->path) != site_ends_with_slash(path)) {
                if (site_ends_with_slash(path))
                        problem(p, key,
                                "the location and the path of its proxy URL must both end with '/' or both not "
                                "(write '%s/'): nginx would send '%s../x' to the upstream as '%s../x'",
                                l->path, l->path, path);
                else
                        problem(p, key,
                                "the location and the path of its proxy URL must both end with '/' or both not "
                                "(write '%s/'): nginx would send '%sx' to the upstream as '%sx'",
                                l->target, l->path, path);
        }
}

static int parse_location(struct parse *p, const char *prefix, const char *path, const json_t *v,
                          struct site_location *l) {
        _cleanup_free_ char *safe = shown(path), *key = safe ? strdup_printf("%s.locations.%s", prefix, safe) : NULL;
        int r;

        if (!key)
                return -ENOMEM;
        if (!site_location_path_valid(path))
                bad_value(p, key, path, "a location path (/..., no spaces, quotes, ';', '{', '}' or '..')");
        l->path = strdup(path);
        if (!l->path)
                return -ENOMEM;
        if (json_is_string(v)) {
                l->kind = LOCATION_PROXY;
                if (!site_upstream_valid(json_string_value(v))) {
                        bad_value(p, key, json_string_value(v),
                                  "an upstream (http://HOST[:PORT][/PATH], https://..., unix:/PATH)");
                        return 0;
                }
                r = dup_string(json_string_value(v), &l->target);
        } else if (!json_is_object(v)) {
                problem(p, key, "must be an upstream URL or a mapping like { alias: /srv/app/static/ }");
                return 0;
        } else
                r = parse_location_map(p, key, v, l);
        if (r >= 0)
                check_slashes(p, key, l);
        return r;
}

static int parse_locations(struct parse *p, const char *prefix, const json_t *site, struct nginx_site *s) {
        json_t *locs = json_object_get(site, "locations"), *v;
        const char *path;

        if (!locs)
                return 0;
        if (!json_is_object(locs)) {
                type_problem(p, prefix, "'locations' must be a mapping of paths");
                return 0;
        }
        s->locations = calloc(json_object_size(locs) + 1, sizeof(*s->locations));
        if (!s->locations)
                return -ENOMEM;
        json_object_foreach(locs, path, v) {
                int r = parse_location(p, prefix, path, v, &s->locations[s->n_locations++]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_headers(struct parse *p, const char *prefix, const json_t *site, struct nginx_site *s) {
        json_t *hdrs = json_object_get(site, "headers"), *v;
        const char *name;

        if (!hdrs)
                return 0;
        if (!json_is_object(hdrs)) {
                type_problem(p, prefix, "'headers' must be a mapping of header names to values");
                return 0;
        }
        s->headers = calloc(json_object_size(hdrs) + 1, sizeof(*s->headers));
        if (!s->headers)
                return -ENOMEM;
        json_object_foreach(hdrs, name, v) {
                _cleanup_free_ char *safe = shown(name);
                _cleanup_free_ char *key = safe ? strdup_printf("%s.headers.%s", prefix, safe) : NULL;
                struct site_header *h = &s->headers[s->n_headers];
                if (!key)
                        return -ENOMEM;
                if (!site_header_name_valid(name))
                        bad_value(p, key, name, "a header name (letters, digits, '-')");
                else if (!json_is_string(v))
                        problem(p, key, "must be a string");
                else if (!site_quoted_text_valid(json_string_value(v)))
                        bad_value(p, key, json_string_value(v),
                                  "a header value (printable, without '\"', '\\' or '$')");
                else {
                        h->name = strdup(name);
                        h->value = strdup(json_string_value(v));
                        s->n_headers++;
                        if (!h->name || !h->value)
                                return -ENOMEM;
                }
        }
        return 0;
}

static int parse_tls_files(struct parse *p, const char *prefix, const json_t *v, struct nginx_site *s) {
        _cleanup_free_ char *key = strdup_printf("%s.tls", prefix);
        const char *k;
        json_t *x;
        int r;

        if (!key)
                return -ENOMEM;
        json_object_foreach((json_t *) v, k, x)
                if (!streq(k, "cert") && !streq(k, "key"))
                        problem(p, key, "unknown key '%s' (cert and key)", k);
        if (!json_object_get(v, "cert") || !json_object_get(v, "key"))
                problem(p, key, "needs both 'cert' and 'key'");
        s->tls = SITE_TLS_FILES;
        r = dup_string(get_string(p, key, v, "cert", site_abs_path_valid, "an absolute file path"), &s->cert);
        if (r >= 0)
                r = dup_string(get_string(p, key, v, "key", site_abs_path_valid, "an absolute file path"), &s->key);
        return r;
}

static int parse_tls(struct parse *p, const char *prefix, const json_t *site, struct nginx_site *s) {
        json_t *v = json_object_get(site, "tls");
        _cleanup_free_ char *key = strdup_printf("%s.tls", prefix);

        if (!key)
                return -ENOMEM;
        if (!v || json_is_false(v))
                return 0;
        if (json_is_object(v))
                return parse_tls_files(p, prefix, v, s);
        if (json_is_string(v) && streq(json_string_value(v), "acme"))
                s->tls = SITE_TLS_ACME;
        else if (json_is_string(v) && streq(json_string_value(v), "self-signed"))
                s->tls = SITE_TLS_SELF_SIGNED;
        else if (json_is_string(v) && streq(json_string_value(v), "none"))
                s->tls = SITE_TLS_NONE;
        else if (json_is_string(v))
                bad_value(p, key, json_string_value(v), "acme, self-signed, none or { cert, key }");
        else
                problem(p, key, "must be acme, self-signed, none or { cert, key }");
        return 0;
}

static void parse_hsts(struct parse *p, const char *prefix, const json_t *site, struct nginx_site *s) {
        json_t *v = json_object_get(site, "hsts"), *age;
        _cleanup_free_ char *key = strdup_printf("%s.hsts", prefix);

        if (!v || json_is_false(v))
                return;
        s->hsts_max_age = HSTS_DEFAULT_MAX_AGE;
        if (json_is_true(v))
                return;
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
                s->hsts_max_age = (long) json_integer_value(v);
                return;
        }
        if (!json_is_object(v)) {
                problem(p, key ? key : prefix,
                        "must be true, a max-age in seconds, or { max_age, include_subdomains, preload }");
                return;
        }
        age = json_object_get(v, "max_age");
        if (age && (!json_is_integer(age) || json_integer_value(age) < 0))
                problem(p, key ? key : prefix, "'max_age' must be a number of seconds");
        else if (age)
                s->hsts_max_age = (long) json_integer_value(age);
        s->hsts_subdomains = get_bool(p, key ? key : prefix, v, "include_subdomains", false);
        s->hsts_preload = get_bool(p, key ? key : prefix, v, "preload", false);
}

static int parse_amounts(struct parse *p, const char *prefix, const json_t *site, struct nginx_site *s) {
        static const char *const time_what = "a time (seconds, or like 30s, 500ms, 5m)";
        int r;

        r = get_amount(p, prefix, site, "client_max_body_size", size_valid, "a size (bytes, or like 512k, 10m, 1g)",
                       &s->client_max_body_size);
        if (r >= 0)
                r = get_amount(p, prefix, site, "proxy_connect_timeout", time_valid, time_what,
                               &s->proxy_connect_timeout);
        if (r >= 0)
                r = get_amount(p, prefix, site, "proxy_read_timeout", time_valid, time_what, &s->proxy_read_timeout);
        if (r >= 0)
                r = get_amount(p, prefix, site, "proxy_send_timeout", time_valid, time_what, &s->proxy_send_timeout);
        return r;
}

/* Checks across keys; a key given but invalid has its own message already. */
static void check_site(struct parse *p, const char *prefix, const json_t *site, const struct nginx_site *s) {
        if (!json_object_get(site, "upstream") && json_object_size(json_object_get(site, "locations")) == 0)
                problem(p, prefix, "serves nothing: give an 'upstream' or 'locations'");
        if (!json_object_get(site, "domains") && !s->default_server)
                problem(p, prefix, "needs 'domains' (or 'default_server: true' to answer any name)");
        if ((s->tls == SITE_TLS_ACME || s->tls == SITE_TLS_SELF_SIGNED) && !s->domains &&
            json_object_get(site, "domains") == NULL)
                problem(p, prefix, "'tls: %s' needs 'domains' to put in the certificate", site_tls_name(s->tls));
        if (s->redirect_http && s->tls == SITE_TLS_NONE)
                problem(p, prefix, "'redirect_http' needs 'tls' (acme, self-signed or { cert, key })");
        if (s->hsts_max_age > 0 && s->tls == SITE_TLS_NONE)
                problem(p, prefix, "'hsts' needs 'tls': browsers ignore it over plain HTTP");
}

static int parse_site(struct parse *p, size_t index, const json_t *site, struct nginx_site *s) {
        _cleanup_free_ char *prefix = strdup_printf("sites[%zu]", index);
        int r;

        if (!prefix)
                return -ENOMEM;
        if (!json_is_object(site)) {
                type_problem(p, prefix, "must be a mapping with at least 'name' and 'domains'");
                return 0;
        }
        if (!json_object_get(site, "name"))
                problem(p, prefix, "needs a 'name'");
        r = dup_string(get_string(p, prefix, site, "name", site_name_valid,
                                  "a site name (letters, digits, '-' and '.', at most 64)"),
                       &s->name);
        if (r >= 0)
                r = dup_string(get_string(p, prefix, site, "upstream", site_upstream_valid,
                                          "an upstream (http://HOST[:PORT][/PATH], https://..., unix:/PATH)"),
                               &s->upstream);
        /* Proxied at "/": a path after the host must end with '/' too. */
        if (r >= 0 && s->upstream && site_upstream_path(s->upstream) &&
            !site_ends_with_slash(site_upstream_path(s->upstream))) {
                _cleanup_free_ char *key = strdup_printf("%s.upstream", prefix);
                problem(p, key ? key : prefix,
                        "a path after the host must end with '/' (write '%s/'): it is proxied at '/', and nginx "
                        "would send '/x' as '%sx'",
                        s->upstream, site_upstream_path(s->upstream));
        }
        s->websocket = get_bool(p, prefix, site, "websocket", false);
        s->default_server = get_bool(p, prefix, site, "default_server", false);
        s->redirect_http = get_bool(p, prefix, site, "redirect_http", false);
        if (r >= 0)
                r = parse_domains(p, prefix, site, s);
        if (r >= 0)
                r = parse_locations(p, prefix, site, s);
        if (r >= 0)
                r = parse_headers(p, prefix, site, s);
        if (r >= 0)
                r = parse_tls(p, prefix, site, s);
        if (r >= 0)
                r = parse_amounts(p, prefix, site, s);
        parse_hsts(p, prefix, site, s);
        if (r >= 0)
                check_site(p, prefix, site, s);
        return r;
}

/* --- across sites, and the nginx: settings --- */

static void check_unique(struct parse *p, const struct nginx_sites *all) {
        const char *default_site = NULL;

        for (size_t i = 0; i < all->n; i++) {
                const struct nginx_site *s = &all->sites[i];
                for (size_t j = 0; j < i && s->name; j++)
                        if (all->sites[j].name && streq(all->sites[j].name, s->name))
                                problem(p, "sites", "two sites are named '%s'", s->name);
                for (size_t j = 0; j < i; j++)
                        for (char **d = s->domains; d && *d; d++)
                                for (char **e = all->sites[j].domains; e && *e; e++)
                                        if (strcasecmp(*d, *e) == 0)
                                                problem(p, "sites", "'%s' is in both site '%s' and site '%s'", *d,
                                                        all->sites[j].name ? all->sites[j].name : "?",
                                                        s->name ? s->name : "?");
                if (s->default_server && default_site)
                        problem(p, "sites", "only one site can be default_server ('%s' and '%s')", default_site,
                                s->name ? s->name : "?");
                if (s->default_server && !default_site)
                        default_site = s->name ? s->name : "?";
        }
}

static void check_port(struct parse *p, const json_t *config, const char *key, bool zero_ok) {
        json_t *v = config_get(config, key);

        if (!v)
                return;
        if (!json_is_integer(v))
                type_problem(p, key, "must be a port number, %d to 65535", zero_ok ? 0 : 1);
        else if (json_integer_value(v) < (zero_ok ? 0 : 1) || json_integer_value(v) > 65535)
                problem(p, key, "must be a port number, %d to 65535", zero_ok ? 0 : 1);
}

static void check_settings(struct parse *p, const json_t *config) {
        static const char *const paths[] = {"nginx.conf", "nginx.pid_file", "nginx.binary"};
        long http = config_int(config, "nginx.http_port", 80), https = config_int(config, "nginx.https_port", 443);
        long status = config_int(config, "nginx.status_port", 0);

        check_port(p, config, "nginx.http_port", false);
        check_port(p, config, "nginx.https_port", false);
        check_port(p, config, "nginx.status_port", true);
        if (http == https || (status != 0 && (status == http || status == https)))
                problem(p, "nginx", "http_port, https_port and status_port must differ");
        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                json_t *v = config_get(config, paths[i]);
                if (v && !json_is_string(v))
                        type_problem(p, paths[i], "must be an absolute path without '..' or special characters");
                else if (v && !site_abs_path_valid(json_string_value(v)))
                        problem(p, paths[i], "must be an absolute path without '..' or special characters");
        }
}

int sites_parse(const json_t *config, struct nginx_sites *ret, char ***errors) {
        return sites_parse_checked(config, false, ret, errors);
}

int sites_parse_checked(const json_t *config, bool types_checked, struct nginx_sites *ret, char ***errors) {
        struct parse p = {.errors = errors, .types_checked = types_checked};
        json_t *list = config_get(config, "sites"), *v;
        struct nginx_sites all = {0};
        size_t i;
        int r = 0;

        check_settings(&p, config);
        if (list && !json_is_array(list))
                type_problem(&p, "sites", "must be a list of sites");
        else if (json_array_size(list) > 0) {
                all.sites = calloc(json_array_size(list), sizeof(*all.sites));
                if (!all.sites)
                        return -ENOMEM;
        }
        json_array_foreach(list, i, v) {
                r = parse_site(&p, i, v, &all.sites[all.n++]);
                if (r < 0)
                        break;
        }
        if (r >= 0)
                check_unique(&p, &all);
        if (r < 0) {
                sites_done(&all);
                return r;
        }
        *ret = all;
        return p.n;
}

static void site_done(struct nginx_site *s) {
        free(s->name);
        strv_free(s->domains);
        free(s->upstream);
        for (size_t i = 0; i < s->n_locations; i++) {
                free(s->locations[i].path);
                free(s->locations[i].target);
        }
        free(s->locations);
        for (size_t i = 0; i < s->n_headers; i++) {
                free(s->headers[i].name);
                free(s->headers[i].value);
        }
        free(s->headers);
        free(s->client_max_body_size);
        free(s->proxy_connect_timeout);
        free(s->proxy_read_timeout);
        free(s->proxy_send_timeout);
        free(s->cert);
        free(s->key);
}

void sites_done(struct nginx_sites *s) {
        for (size_t i = 0; i < s->n; i++)
                site_done(&s->sites[i]);
        free(s->sites);
        *s = (struct nginx_sites){0};
}

const char *site_tls_name(enum site_tls t) {
        static const char *const names[] = {[SITE_TLS_NONE] = "none",
                                            [SITE_TLS_ACME] = "acme",
                                            [SITE_TLS_SELF_SIGNED] = "self-signed",
                                            [SITE_TLS_FILES] = "files"};
        return names[t];
}
