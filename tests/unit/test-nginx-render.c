/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "nginx/control.h"
#include "nginx/render.h"
#include "nginx/site.h"
#include "path.h"
#include "strbuf.h"
#include "tap.h"
#include "yaml-json.h"

/* Golden files: tests/data/nginx/CASE.yaml rendered must equal CASE.conf.
 * KILN_UPDATE_GOLDEN=1 rewrites the .conf files (review the diff!). */

#define THUMBPRINT "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
#define FINGERPRINT "0123456789abcdef0123456789abcdef"

struct golden {
        const char *name;
        bool ipv6;
        bool http2_directive;
        const char *thumbprint;
        bool in_place; /* a CA-issued certificate is there */
};

static const struct golden cases[] = {
        {"tutorial", true, false, THUMBPRINT, false}, {"tutorial-redirect", true, false, THUMBPRINT, true},
        {"features", false, true, NULL, true},        {"plain", true, false, THUMBPRINT, false},
        {"common-status", true, false, NULL, false},
};

static const char *data_dir(void) {
        static char *dir;
        const char *top = getenv("top_srcdir");

        if (!dir)
                dir = strdup_printf("%s/tests/data/nginx", top ? top : "..");
        return dir;
}

static int cert_for(const struct nginx_site *s, const struct golden *g, struct site_cert *c) {
        if (s->tls == SITE_TLS_NONE)
                return 0;
        if (s->tls == SITE_TLS_FILES) {
                c->cert = strdup(s->cert);
                c->key = strdup(s->key);
        } else {
                c->cert = strdup_printf("/var/lib/kiln/acme/sites/%s/fullchain.pem", s->name);
                c->key = strdup_printf("/var/lib/kiln/acme/sites/%s/privkey.pem", s->name);
        }
        c->fingerprint = strdup(FINGERPRINT);
        c->in_place = g->in_place || s->tls != SITE_TLS_ACME;
        return 1;
}

static int render_all(const json_t *config, const struct golden *g, char **ret) {
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        struct nginx_sites sites = {0};
        struct nginx_settings st = {0};
        struct render_options o;
        int r;

        r = sites_parse(config, &sites, &errors);
        if (r != 0) {
                sites_done(&sites);
                return -1;
        }
        nginx_settings_load(config, &st);
        o = (struct render_options){st.http_port, st.https_port,      st.status_port,
                                    g->ipv6,      g->http2_directive, g->thumbprint};
        for (size_t i = 0; r >= 0 && i < sites.n; i++) {
                _cleanup_free_ char *text = NULL;
                struct site_cert c = {0};
                int has = cert_for(&sites.sites[i], g, &c);
                r = render_site(&sites.sites[i], has ? &c : NULL, &o, &text);
                if (r >= 0)
                        r = strbuf_printf(&out, "%s# ----\n", text);
                site_cert_done(&c);
        }
        if (r >= 0) {
                _cleanup_free_ char *common = NULL;
                r = render_common(&o, &common);
                if (r >= 0)
                        r = strbuf_puts(&out, common);
        }
        sites_done(&sites);
        nginx_settings_done(&st);
        if (r < 0)
                return r;
        *ret = strbuf_steal(&out);
        return 0;
}

static void first_difference(const char *a, const char *b) {
        int line = 1;

        for (; *a && *a == *b; a++, b++)
                line += *a == '\n';
        printf("#   first difference at line %d\n", line);
}

static void test_golden(const struct golden *g) {
        _cleanup_free_ char *yaml_path = strdup_printf("%s/%s.yaml", data_dir(), g->name);
        _cleanup_free_ char *conf_path = strdup_printf("%s/%s.conf", data_dir(), g->name);
        _cleanup_free_ char *text = NULL, *error = NULL, *rendered = NULL, *golden = NULL;
        json_t *config = NULL;

        if (!ok(read_file(yaml_path, 1 << 20, &text, NULL) == 0, "%s: read %s", g->name, yaml_path))
                return;
        if (!ok(yaml_parse(text, strlen(text), yaml_path, &config, &error) == 0, "%s: YAML parses", g->name))
                return;
        if (!ok(render_all(config, g, &rendered) == 0, "%s: renders", g->name)) {
                json_decref(config);
                return;
        }
        json_decref(config);
        if (getenv("KILN_UPDATE_GOLDEN"))
                write_file_atomic(conf_path, rendered, strlen(rendered), 0644);
        if (!ok(read_file(conf_path, 1 << 20, &golden, NULL) == 0, "%s: golden file %s", g->name, conf_path))
                return;
        if (!ok(streq(rendered, golden), "%s: matches its golden file", g->name))
                first_difference(rendered, golden);
}

/* The properties the goldens show, checked one by one so a golden updated
 * carelessly cannot hide their loss. */
static void test_properties(void) {
        json_t *config = NULL;
        _cleanup_free_ char *text = NULL, *error = NULL, *out = NULL, *path = NULL;
        const struct golden g = {"tutorial-redirect", true, false, THUMBPRINT, true};

        path = strdup_printf("%s/tutorial-redirect.yaml", data_dir());
        read_file(path, 1 << 20, &text, NULL);
        yaml_parse(text, strlen(text ? text : ""), "t", &config, &error);
        if (!ok(render_all(config, &g, &out) == 0, "tutorial with redirect renders"))
                return;
        ok(strneq(out, NGINX_MARKER, strlen(NGINX_MARKER)), "the first line is kiln's marker");
        ok(strstr(out, "return 301 https://$host$request_uri;") != NULL, "port 80 redirects to HTTPS");
        ok(strstr(out, "return 200 \"$1." THUMBPRINT "\";") != NULL, "http-01 answered statelessly");
        ok(strstr(out, "alias /srv/app/static/;") != NULL, "an alias gets the location's trailing slash");
        ok(strstr(out, "Strict-Transport-Security \"max-age=63072000\" always") != NULL, "HSTS of two years");
        ok(strstr(out, "ssl_protocols TLSv1.2 TLSv1.3;") != NULL, "TLS 1.2 and 1.3 only");
        ok(strstr(out, "listen 443 ssl http2;") != NULL, "HTTP/2 on 443");
        ok(!strstr(out, "ssl_stapling"), "no OCSP stapling");
        ok(strstr(out, "proxy_set_header X-Forwarded-Proto $scheme;") != NULL, "proxy_params' headers");
        json_decref(config);
}

/* What render.c writes for the off-by-slash's safe forms. */
static void test_slashes(void) {
        static const char text[] = "sites:\n"
                                   "  - name: app\n"
                                   "    domains: [app.example]\n"
                                   "    locations:\n"
                                   "      /static/: { alias: /srv/app/static }\n"
                                   "      /api/: http://127.0.0.1:9000/v1/\n"
                                   "      /plain: http://127.0.0.1:9001\n";
        const struct golden g = {"slashes", false, false, NULL, false};
        _cleanup_free_ char *error = NULL, *out = NULL;
        json_t *config = NULL;

        yaml_parse(text, strlen(text), "t", &config, &error);
        if (!ok(render_all(config, &g, &out) == 0, "the safe forms render"))
                return;
        ok(strstr(out, "    location /static/ {\n        alias /srv/app/static/;\n") != NULL,
           "an alias under a '/' location is given its '/'");
        ok(strstr(out, "    location /api/ {\n        proxy_pass http://127.0.0.1:9000/v1/;\n") != NULL,
           "a proxy path is kept as it agrees");
        ok(strstr(out, "    location /plain {\n        proxy_pass http://127.0.0.1:9001;\n") != NULL,
           "a proxy without a path under a location without '/'");
        json_decref(config);
        free(TAKE_PTR(out));
        config = NULL;
        static const char bad[] = "sites: [{name: a, domains: [a.example], locations: {/static: {alias: /srv/x/}}}]";
        yaml_parse(bad, strlen(bad), "t", &config, &error);
        ok(config && render_all(config, &g, &out) < 0, "the off-by-slash is not rendered");
        json_decref(config);
}

int main(void) {
        root_set("/");
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                test_golden(&cases[i]);
        test_properties();
        test_slashes();
        return tap_done();
}
