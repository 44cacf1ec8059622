/* SPDX-License-Identifier: MIT */
/* The injection table holds one YAML template per field: formats from data. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

#include <stdlib.h>
#include <string.h>

#include "nginx/nginx.h"
#include "nginx/site.h"
#include "strbuf.h"
#include "tap.h"
#include "yaml-json.h"

/* The issue's tutorial site, exactly as a user writes it. */
static const char tutorial[] = "#kiln-config\n"
                               "sites:\n"
                               "  - name: app\n"
                               "    domains: [example.com, www.example.com]\n"
                               "    upstream: http://127.0.0.1:8000\n"
                               "    locations:\n"
                               "      /static/: { alias: /srv/app/static/ }\n"
                               "    tls: acme\n";

static const char everything[] =
        "sites:\n"
        "  - name: shop.example\n"
        "    domains: ['*.shop.example.com', shop.example.com, xn--bcher-kva.example]\n"
        "    upstream: https://[::1]:8443/app/\n"
        "    websocket: true\n"
        "    default_server: true\n"
        "    client_max_body_size: 20m\n"
        "    proxy_connect_timeout: 5\n"
        "    proxy_read_timeout: 90s\n"
        "    proxy_send_timeout: 500ms\n"
        "    headers: { X-Frame-Options: DENY, Content-Security-Policy: \"default-src 'self'; img-src *\" }\n"
        "    locations:\n"
        "      /api/: http://backend.internal:9000\n"
        "      /ws/: { proxy: 'unix:/run/app/ws.sock', websocket: true }\n"
        "      /files/: { root: /srv/files }\n"
        "      /old/: { redirect: 'https://example.com/new/?a=1&b=2#top', code: 308 }\n"
        "      /health: { return: 200, body: ok }\n"
        "      /hidden/: { return: 404 }\n"
        "    tls: { cert: /etc/ssl/shop.pem, key: /etc/ssl/private/shop.key }\n"
        "    redirect_http: true\n"
        "    hsts: { max_age: 600, include_subdomains: true, preload: true }\n"
        "  - name: plain\n"
        "    domains: plain.example.com\n"
        "    upstream: http://127.0.0.1:3000\n"
        "nginx: { http_port: 8080, https_port: 8443, status_port: 9145, conf: /etc/nginx/nginx.conf }\n";

static json_t *yaml(const char *text) {
        _cleanup_free_ char *error = NULL;
        json_t *j = NULL;

        if (yaml_parse(text, strlen(text), "test", &j, &error) < 0)
                printf("# %s\n", error);
        return j;
}

static int count_errors(const json_t *config, char ***ret) {
        char **errors = NULL;
        int n = nginx_validate_config(config, &errors);

        for (char **e = errors; e && *e; e++)
                printf("#   %s\n", *e);
        if (ret)
                *ret = errors;
        else
                strv_free(errors);
        return n;
}

static void test_valid(void) {
        struct nginx_sites sites = {0};
        _cleanup_strv_free_ char **errors = NULL;
        json_t *c = yaml(tutorial);

        is_int(count_errors(c, NULL), 0, "the tutorial example validates");
        is_int(sites_parse(c, &sites, &errors), 0, "and parses");
        is_int(sites.n, 1, "one site");
        is_str(sites.sites[0].name, "app", "named app");
        is_int(strv_length(sites.sites[0].domains), 2, "two domains");
        is_int(sites.sites[0].tls, SITE_TLS_ACME, "tls acme");
        is_int(sites.sites[0].n_locations, 1, "one location");
        is_int(sites.sites[0].locations[0].kind, LOCATION_ALIAS, "an alias");
        is_str(sites.sites[0].locations[0].target, "/srv/app/static/", "to /srv/app/static/");
        sites_done(&sites);
        json_decref(c);

        c = yaml(everything);
        is_int(count_errors(c, NULL), 0, "every feature at once validates");
        json_decref(c);
        c = json_object();
        is_int(count_errors(c, NULL), 0, "no sites at all is fine");
        json_decref(c);
}

/* One invalid config; the first error must name key. */
static void expect_error(const char *text, const char *key, const char *what) {
        _cleanup_strv_free_ char **errors = NULL;
        json_t *c = yaml(text);
        int n;

        if (!ok(c != NULL, "%s: parses as YAML", what))
                return;
        n = count_errors(c, &errors);
        ok(n > 0 && errors && strneq(errors[0], key, strlen(key)), "%s: rejected, naming %s", what, key);
        json_decref(c);
}

static void test_rules(void) {
        expect_error("sites: [{domains: [a.example], upstream: 'http://h:1'}]", "sites[0]", "a site without a name");
        expect_error("sites: [{name: a, upstream: 'http://h:1'}]", "sites[0]", "a site without domains");
        expect_error("sites: [{name: a, domains: [a.example]}]", "sites[0]", "a site serving nothing");
        expect_error("sites: [{name: a, domains: [a.example], upstream: 'http://h:1', redirect_http: true}]",
                     "sites[0]", "redirect_http without tls");
        expect_error("sites: [{name: a, domains: [a.example], upstream: 'http://h:1', hsts: true}]", "sites[0]",
                     "hsts without tls");
        expect_error("sites: [{name: a, domains: [a.example], upstream: 'http://h:1'},"
                     " {name: a, domains: [b.example], upstream: 'http://h:1'}]",
                     "sites", "two sites with one name");
        expect_error("sites: [{name: a, domains: [a.example], upstream: 'http://h:1'},"
                     " {name: b, domains: [A.example], upstream: 'http://h:1'}]",
                     "sites", "one domain in two sites");
        expect_error("sites: [{name: a, domains: [a.example], upstream: 'http://h:1', default_server: true},"
                     " {name: b, domains: [b.example], upstream: 'http://h:1', default_server: true}]",
                     "sites", "two default servers");
        expect_error("sites: [{name: a, domains: [a.example], locations: {/x/: {alais: /srv}}}]",
                     "sites[0].locations./x/", "a misspelt location key");
        expect_error("sites: [{name: a, domains: [a.example], locations: {/x/: {alias: /a, root: /b}}}]",
                     "sites[0].locations./x/", "two kinds in one location");
        expect_error("sites: [{name: a, domains: [a.example], locations: {/x/: {redirect: /y, code: 200}}}]",
                     "sites[0].locations./x/", "a redirect with code 200");
        expect_error("sites: [{name: a, domains: [a.example], locations: {/x/: {return: 301}}}]",
                     "sites[0].locations./x/", "return 301 (use redirect)");
        expect_error("sites: [{name: a, domains: [a.example], upstream: 'http://h:1', tls: acmee}]", "sites[0].tls",
                     "an unknown tls mode");
        expect_error("sites: [{name: a, domains: [a.example], upstream: 'http://h:1', tls: {cert: /c}}]",
                     "sites[0].tls", "tls files without a key");
        expect_error("sites: [{name: a, domains: [a.example], upstream: 'ftp://h:1'}]", "sites[0].upstream",
                     "an ftp upstream");
        expect_error("sites: [{name: a, domains: [a.example], upstream: 'http://h:99999'}]", "sites[0].upstream",
                     "an upstream port out of range");
        expect_error("sites: [{name: a, domains: [a.example], upstream: 'http://h:1'}]\nnginx: {http_port: 0}",
                     "nginx.http_port", "port 0");
        expect_error("sites: [{name: a, domains: [a.example], upstream: 'http://h:1'}]\n"
                     "nginx: {http_port: 8080, https_port: 8080}",
                     "nginx", "one port for HTTP and HTTPS");
        expect_error("sites: [{name: a, domains: [a.example], upstream: 'http://h:1'}]\n"
                     "nginx: {conf: etc/nginx.conf}",
                     "nginx.conf", "a relative main config path");
        expect_error("sites: [{name: kiln_common, domains: [a.example], upstream: 'http://h:1'}]", "sites[0].name",
                     "kiln's own file name");
        expect_error("sites: [{name: a, domains: ['a.*.example'], upstream: 'http://h:1'}]", "sites[0].domains[0]",
                     "a wildcard inside a name");
        expect_error("sites: [{name: a, domains: ['-a.example'], upstream: 'http://h:1'}]", "sites[0].domains[0]",
                     "a label starting with '-'");
        expect_error("sites: {name: a}", "sites", "sites as a mapping");
}

/* Every field that reaches nginx's syntax, with every character that could
 * end a directive, start a block, close a quote or expand a variable. */
struct field {
        const char *key; /* the key the error must name */
        const char *yaml_fmt; /* a one-site config, %s is a double-quoted YAML string */
        const char *prefix; /* put before the payload */
        const char *suffix; /* and after it */
        const char *payloads; /* which set: "all", "quoted", "url" */
};

static const char *const payload_all[] = {";",  "{",  "}", "\"",   "'",    "$", " ",    "\n",
                                          "\t", "\\", "#", "\x01", "/../", "`", "\x7f", NULL};
static const char *const payload_quoted[] = {"\"", "$", "\\", "\n", "\r", "\x01", "\x7f", "${x}", NULL};
static const char *const payload_url[] = {";", "{", "}", "\"", "'", "$", " ", "\n", "\t", "\\", "\x01", "`", NULL};

#define SITE "sites: [{name: a, domains: [a.example], upstream: 'http://h:1'"

static const struct field fields[] = {
        {"sites[0].name", "sites: [{name: %s, domains: [a.example], upstream: 'http://h:1'}]", "app", "x", "all"},
        {"sites[0].domains[0]", "sites: [{name: a, domains: [%s], upstream: 'http://h:1'}]", "a.example", "x", "all"},
        {"sites[0].domains", "sites: [{name: a, domains: %s, upstream: 'http://h:1'}]", "a.example", "x", "all"},
        {"sites[0].upstream", "sites: [{name: a, domains: [a.example], upstream: %s}]", "http://127.0.0.1:8000/x", "x/",
         "all"},
        {"sites[0].upstream", "sites: [{name: a, domains: [a.example], upstream: %s}]", "unix:/run/app", "x", "all"},
        {"sites[0].locations.", "sites: [{name: a, domains: [a.example], locations: {%s: {return: 404}}}]", "/static",
         "x", "all"},
        {"sites[0].locations./x/", "sites: [{name: a, domains: [a.example], locations: {/x/: %s}}]",
         "http://127.0.0.1:1/", "x/", "all"},
        {"sites[0].locations./x/.alias", "sites: [{name: a, domains: [a.example], locations: {/x/: {alias: %s}}}]",
         "/srv/app", "x", "all"},
        {"sites[0].locations./x/.root", "sites: [{name: a, domains: [a.example], locations: {/x/: {root: %s}}}]",
         "/srv/app", "x", "all"},
        {"sites[0].locations./x/.proxy", "sites: [{name: a, domains: [a.example], locations: {/x/: {proxy: %s}}}]",
         "http://h:1/", "x/", "all"},
        {"sites[0].locations./x/.redirect",
         "sites: [{name: a, domains: [a.example], locations: {/x/: {redirect: %s}}}]", "https://b.example/", "x",
         "url"},
        {"sites[0].locations./x/.body",
         "sites: [{name: a, domains: [a.example], locations: {/x/: {return: 200, body: %s}}}]", "ok", "x", "quoted"},
        {"sites[0].headers.", SITE ", headers: {%s: v}}]", "X-A", "x", "all"},
        {"sites[0].headers.X-A", SITE ", headers: {X-A: %s}}]", "value", "x", "quoted"},
        {"sites[0].client_max_body_size", SITE ", client_max_body_size: %s}]", "10", "m", "all"},
        {"sites[0].proxy_connect_timeout", SITE ", proxy_connect_timeout: %s}]", "5", "s", "all"},
        {"sites[0].proxy_read_timeout", SITE ", proxy_read_timeout: %s}]", "6", "0", "all"},
        {"sites[0].proxy_send_timeout", SITE ", proxy_send_timeout: %s}]", "6", "0", "all"},
        {"sites[0].tls.cert", SITE ", tls: {cert: %s, key: /k}}]", "/etc/ssl/a", ".pem", "all"},
        {"sites[0].tls.key", SITE ", tls: {cert: /c, key: %s}}]", "/etc/ssl/a", ".key", "all"},
        {"sites[0].tls", SITE ", tls: %s}]", "ac", "me", "all"},
        {"nginx.conf", SITE "}]\nnginx: {conf: %s}", "/etc/nginx/nginx", ".conf", "all"},
        {"nginx.pid_file", SITE "}]\nnginx: {pid_file: %s}", "/run/nginx", ".pid", "all"},
        {"nginx.binary", SITE "}]\nnginx: {binary: %s}", "/usr/sbin/", "nginx", "all"},
};

/* payload as a YAML double-quoted string. */
static char *yaml_quote(const struct field *f, const char *payload) {
        struct strbuf b = STRBUF_INIT;
        _cleanup_free_ char *s = strdup_printf("%s%s%s", f->prefix, payload, f->suffix);

        (void) strbuf_puts(&b, "\"");
        for (const char *p = s; p && *p; p++)
                if (*p == '"' || *p == '\\')
                        (void) strbuf_printf(&b, "\\%c", *p);
                else if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        (void) strbuf_printf(&b, "\\x%02x", (unsigned char) *p);
                else
                        (void) strbuf_append(&b, p, 1);
        (void) strbuf_puts(&b, "\"");
        return strbuf_steal(&b);
}

static void test_field(const struct field *f) {
        const char *const *set = streq(f->payloads, "quoted") ? payload_quoted
                                 : streq(f->payloads, "url")  ? payload_url
                                                              : payload_all;
        int rejected = 0, total = 0;
        _cleanup_free_ char *clean_q = yaml_quote(f, "");
        _cleanup_free_ char *clean = strdup_printf(f->yaml_fmt, clean_q);
        json_t *c = yaml(clean);

        is_int(count_errors(c, NULL), 0, "%s: the clean value '%s%s' is accepted", f->key, f->prefix, f->suffix);
        json_decref(c);
        for (size_t i = 0; set[i]; i++) {
                _cleanup_free_ char *q = yaml_quote(f, set[i]), *text = strdup_printf(f->yaml_fmt, q);
                _cleanup_strv_free_ char **errors = NULL;
                c = yaml(text);
                total++;
                if (c && count_errors(c, &errors) > 0 && strstr(errors[0], f->key) == errors[0])
                        rejected++;
                else
                        printf("#   not rejected: %s\n", text);
                json_decref(c);
        }
        is_int(rejected, total, "%s: every injection rejected, naming the key", f->key);
}

/* The off-by-slash: a prefix location mapped onto a target by replacing
 * its path must agree with the target on the trailing '/'. */
static void test_slashes(void) {
        static const char *const refused[][2] = {
                {"/static: { alias: /srv/app/static/ }", "an alias under a location without '/' ('/static../')"},
                {"/static: { alias: /srv/app/static }", "an alias under a location without '/', both without"},
                {"/api: 'http://127.0.0.1:9000/v1/'", "a proxy path with '/' under a location without"},
                {"/api: { proxy: 'https://[::1]:9000/', websocket: true }", "a proxy path '/' under '/api'"},
                {"/api/: 'http://127.0.0.1:9000/v1'", "a '/' location proxied to a path without '/'"},
                {"/: { upstream: 'http://h/v1' }", "location '/' proxied to a path without '/'"},
        };
        static const char *const accepted[] = {
                "/static/: { alias: /srv/app/static/ }",
                "/static/: { alias: /srv/app/static }", /* given its '/' by the renderer */
                "/api/: 'http://127.0.0.1:9000/v1/'",
                "/api: 'http://127.0.0.1:9000/v1'",
                "/api: 'http://127.0.0.1:9000'", /* no path: the URI is passed unchanged */
                "/api/: 'http://127.0.0.1:9000'",
                "/ws: 'unix:/run/app.sock'",
                "/files: { root: /srv/files }", /* root appends the whole URI */
                "/old: { redirect: /new/ }",
        };

        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                _cleanup_free_ char *text =
                        strdup_printf("sites: [{name: a, domains: [a.example], locations: {%s}}]", refused[i][0]);
                _cleanup_free_ char *key =
                        strdup_printf("sites[0].locations.%.*s", (int) strcspn(refused[i][0], ":"), refused[i][0]);
                expect_error(text, key, refused[i][1]);
        }
        for (size_t i = 0; i < ELEMENTSOF(accepted); i++) {
                _cleanup_free_ char *text =
                        strdup_printf("sites: [{name: a, domains: [a.example], locations: {%s}}]", accepted[i]);
                json_t *c = yaml(text);
                is_int(count_errors(c, NULL), 0, "accepted: %s", accepted[i]);
                json_decref(c);
        }
        expect_error("sites: [{name: a, domains: [a.example], upstream: 'http://127.0.0.1:9000/v1'}]",
                     "sites[0].upstream", "a site's upstream with a path without '/' (proxied at '/')");
        expect_error("sites: [{name: a, domains: [a.example], locations: {/x: { alias: /srv/x/ }}}]",
                     "sites[0].locations./x: an alias's location must end with '/' (write '/x/')",
                     "the message says what to write");

        is_str(site_upstream_path("http://h:1/v1/"), "/v1/", "the path of an upstream URL");
        is_str(site_upstream_path("https://[::1]:8443/"), "/", "the path of an IPv6 upstream URL");
        ok(site_upstream_path("http://h:1") == NULL, "no path");
        ok(site_upstream_path("unix:/run/a.sock") == NULL, "a unix socket has no path");
}

static void test_checks(void) {
        ok(site_domain_valid("*.example.com"), "wildcard domain");
        ok(!site_domain_valid("*"), "a bare '*' is not a domain");
        ok(!site_domain_valid("a..example"), "empty label");
        ok(site_upstream_valid("http://[2001:db8::1]:8080/"), "IPv6 upstream");
        ok(!site_upstream_valid("http://[2001:db8::1"), "unclosed IPv6 literal");
        /* Found by fuzz-nginx-render: accepted, rendered, refused by nginx -t. */
        ok(!site_upstream_valid("https://[20e01:db8::1]:8443/x/"), "an IPv6 literal with a 5-digit group");
        ok(!site_upstream_valid("http://[1:2:3]/"), "an IPv6 literal of three groups");
        ok(!site_upstream_valid("http://[::1::2]/"), "an IPv6 literal with two '::'");
        ok(!site_upstream_valid("http://[1.2.3.4]/"), "an IPv4 address in brackets");
        ok(site_upstream_valid("http://[::ffff:127.0.0.1]:80/"), "an IPv4-mapped IPv6 literal");
        ok(site_upstream_valid("http://[::]:80"), "the IPv6 any-address");
        /* nginx reads "http://unix:..." as a unix socket: "unix:8080/" would
         * be a socket file named "8080/", not port 8080 of host unix. */
        ok(!site_upstream_valid("http://unix:8080/"), "host 'unix' with a port (nginx's unix-socket syntax)");
        ok(!site_upstream_valid("https://UNIX:443/"), "host 'UNIX' with a port");
        ok(site_upstream_valid("http://unixbox:8080/"), "a host whose name starts with unix");
        ok(site_upstream_valid("unix:/run/app.sock"), "unix socket upstream");
        ok(!site_upstream_valid("unix:run/app.sock"), "relative unix socket");
        ok(!site_abs_path_valid("/srv/../etc"), "'..' in a path");
        ok(site_abs_path_valid("/srv/..hidden/x"), "'..' inside a name is fine");
        ok(site_quoted_text_valid("max-age=1; includeSubDomains"), "';' inside a quoted value");
        ok(!site_quoted_text_valid("a\"; return 200 \"x"), "a quote breaking out");
}

int main(void) {
        test_valid();
        test_rules();
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                test_field(&fields[i]);
        test_checks();
        test_slashes();
        return tap_done();
}
