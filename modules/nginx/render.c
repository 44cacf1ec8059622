/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "nginx/render.h"
#include "path.h"
#include "strbuf.h"

/* Mozilla's "intermediate" TLS settings: TLS 1.2 and 1.3, forward-secret
 * AEAD ciphers only. No ssl_stapling: Let's Encrypt ended OCSP in 2025. */
#define TLS_CIPHERS                                                                                \
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* Output with the first error kept, so the renderer reads as a list of
 * lines rather than a list of checks. */
struct out {
        struct strbuf b;
        int r;
};

_printf_(2, 3) static void emit(struct out *o, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;

        if (o->r < 0)
                return;
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        o->r = s ? strbuf_puts(&o->b, s) : -ENOMEM;
}

static int out_finish(struct out *o, char **ret) {
        if (o->r < 0) {
                strbuf_done(&o->b);
                return o->r;
        }
        *ret = strbuf_steal(&o->b);
        return *ret ? 0 : -ENOMEM;
}

void site_cert_done(struct site_cert *c) {
        free(c->cert);
        free(c->key);
        free(c->fingerprint);
        *c = (struct site_cert){0};
}

static void emit_path(struct out *o, const char *directive, const char *path, const char *suffix) {
        _cleanup_free_ char *p = NULL;

        if (o->r >= 0 && (o->r = root_path(&p, "%s", path)) >= 0)
                emit(o, "        %s %s%s;\n", directive, p, suffix);
}

static void emit_listen(struct out *o, const struct nginx_site *s, const struct render_options *opt, bool tls) {
        const char *flags = tls ? (opt->http2_directive ? " ssl" : " ssl http2") : "";
        const char *def = s->default_server ? " default_server" : "";
        int port = tls ? opt->https_port : opt->http_port;

        emit(o, "    listen %d%s%s;\n", port, flags, def);
        if (opt->ipv6)
                emit(o, "    listen [::]:%d%s%s;\n", port, flags, def);
        if (tls && opt->http2_directive)
                emit(o, "    http2 on;\n");
        if (!s->domains || !s->domains[0]) {
                emit(o, "    server_name _;\n");
                return;
        }
        emit(o, "    server_name");
        for (char **d = s->domains; *d; d++)
                emit(o, " %s", *d);
        emit(o, ";\n");
}

/* http-01, stateless (RFC 8555 section 8.3): the key authorization is
 * "token.thumbprint", so one fixed location answers every challenge. */
static void emit_challenge(struct out *o, const struct render_options *opt) {
        if (!opt->thumbprint)
                return;
        emit(o,
             "\n    location ~ \"^/\\.well-known/acme-challenge/([-_A-Za-z0-9]+)$\" {\n"
             "        default_type text/plain;\n"
             "        return 200 \"$1.%s\";\n"
             "    }\n",
             opt->thumbprint);
}

static void emit_upstream(struct out *o, const char *upstream) {
        _cleanup_free_ char *p = NULL;

        if (!strneq(upstream, "unix:", 5)) {
                emit(o, "        proxy_pass %s;\n", upstream);
                return;
        }
        if (o->r >= 0 && (o->r = root_path(&p, "%s", upstream + 5)) >= 0)
                emit(o, "        proxy_pass http://unix:%s;\n", p);
}

/* What Debian's proxy_params sets, plus HTTP/1.1 (keepalive, websockets). */
static void emit_proxy(struct out *o, const char *upstream, bool websocket) {
        emit_upstream(o, upstream);
        emit(o, "        proxy_http_version 1.1;\n"
                "        proxy_set_header Host $host;\n"
                "        proxy_set_header X-Real-IP $remote_addr;\n"
                "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
                "        proxy_set_header X-Forwarded-Proto $scheme;\n");
        if (websocket)
                emit(o, "        proxy_set_header Upgrade $http_upgrade;\n"
                        "        proxy_set_header Connection $kiln_connection_upgrade;\n");
        if (strneq(upstream, "https://", 8))
                emit(o, "        proxy_ssl_server_name on;\n");
}

static void emit_location(struct out *o, const struct nginx_site *s, const struct site_location *l) {
        emit(o, "\n    location %s {\n", l->path);
        switch (l->kind) {
        case LOCATION_PROXY: emit_proxy(o, l->target, l->websocket || s->websocket); break;
        case LOCATION_ALIAS:
                /* site.c has the location end in '/'; an alias without one
                 * would map "/static/x" to "/srv/app/staticx". */
                emit_path(o, "alias", l->target,
                          site_ends_with_slash(l->path) && !site_ends_with_slash(l->target) ? "/" : "");
                break;
        case LOCATION_ROOT: emit_path(o, "root", l->target, ""); break;
        case LOCATION_REDIRECT: emit(o, "        return %d \"%s\";\n", l->code, l->target); break;
        case LOCATION_RETURN:
                if (l->target)
                        emit(o, "        default_type text/plain;\n        return %d \"%s\";\n", l->code, l->target);
                else
                        emit(o, "        return %d;\n", l->code);
                break;
        }
        emit(o, "    }\n");
}

static bool has_root_location(const struct nginx_site *s) {
        for (size_t i = 0; i < s->n_locations; i++)
                if (streq(s->locations[i].path, "/"))
                        return true;
        return false;
}

static void emit_settings(struct out *o, const struct nginx_site *s, bool tls) {
        bool any = (tls && s->hsts_max_age > 0) || s->n_headers > 0 || s->client_max_body_size ||
                   s->proxy_connect_timeout || s->proxy_read_timeout || s->proxy_send_timeout;

        if (any)
                emit(o, "\n");
        if (tls && s->hsts_max_age > 0)
                emit(o, "    add_header Strict-Transport-Security \"max-age=%ld%s%s\" always;\n", s->hsts_max_age,
                     s->hsts_subdomains ? "; includeSubDomains" : "", s->hsts_preload ? "; preload" : "");
        for (size_t i = 0; i < s->n_headers; i++)
                emit(o, "    add_header %s \"%s\" always;\n", s->headers[i].name, s->headers[i].value);
        if (s->client_max_body_size)
                emit(o, "    client_max_body_size %s;\n", s->client_max_body_size);
        if (s->proxy_connect_timeout)
                emit(o, "    proxy_connect_timeout %s;\n", s->proxy_connect_timeout);
        if (s->proxy_read_timeout)
                emit(o, "    proxy_read_timeout %s;\n", s->proxy_read_timeout);
        if (s->proxy_send_timeout)
                emit(o, "    proxy_send_timeout %s;\n", s->proxy_send_timeout);
}

/* The site's own locations: the upstream at "/", then the others. */
static void emit_content(struct out *o, const struct nginx_site *s, bool tls) {
        emit_settings(o, s, tls);
        if (!has_root_location(s)) {
                emit(o, "\n    location / {\n");
                if (s->upstream)
                        emit_proxy(o, s->upstream, s->websocket);
                else
                        emit(o, "        return 404;\n");
                emit(o, "    }\n");
        }
        for (size_t i = 0; i < s->n_locations; i++)
                emit_location(o, s, &s->locations[i]);
}

static void emit_http_server(struct out *o, const struct nginx_site *s, const struct site_cert *cert,
                             const struct render_options *opt) {
        emit(o, "\nserver {\n");
        emit_listen(o, s, opt, false);
        emit_challenge(o, opt);
        if (s->redirect_http && cert && cert->in_place) {
                if (opt->https_port == 443)
                        emit(o, "\n    location / {\n        return 301 https://$host$request_uri;\n    }\n");
                else
                        emit(o, "\n    location / {\n        return 301 https://$host:%d$request_uri;\n    }\n",
                             opt->https_port);
        } else
                emit_content(o, s, false);
        emit(o, "}\n");
}

static void emit_https_server(struct out *o, const struct nginx_site *s, const struct site_cert *cert,
                              const struct render_options *opt) {
        emit(o, "\nserver {\n");
        emit_listen(o, s, opt, true);
        emit(o, "\n");
        if (cert->fingerprint)
                emit(o, "    # certificate sha256:%s\n", cert->fingerprint);
        emit(o,
             "    ssl_certificate %s;\n"
             "    ssl_certificate_key %s;\n"
             "    ssl_protocols TLSv1.2 TLSv1.3;\n"
             "    ssl_ciphers " TLS_CIPHERS ";\n"
             "    ssl_prefer_server_ciphers off;\n"
             "    ssl_session_timeout 1d;\n"
             "    ssl_session_cache shared:kiln_tls:10m;\n"
             "    ssl_session_tickets off;\n",
             cert->cert, cert->key);
        emit_content(o, s, true);
        emit(o, "}\n");
}

int render_site(const struct nginx_site *s, const struct site_cert *cert, const struct render_options *o, char **ret) {
        struct out out = {STRBUF_INIT, 0};

        emit(&out, NGINX_MARKER " (site '%s'): edits are overwritten. Change kiln's config (sites:) instead.\n",
             s->name);
        emit_http_server(&out, s, cert, o);
        if (cert)
                emit_https_server(&out, s, cert, o);
        return out_finish(&out, ret);
}

int render_common(const struct render_options *o, char **ret) {
        struct out out = {STRBUF_INIT, 0};

        emit(&out, NGINX_MARKER " (shared by kiln's sites): edits are overwritten.\n\n"
                                "map $http_upgrade $kiln_connection_upgrade {\n"
                                "    default upgrade;\n"
                                "    '' close;\n"
                                "}\n");
        if (o->status_port > 0)
                emit(&out,
                     "\n# For the CloudWatch collector: connections and requests, from this machine only.\n"
                     "server {\n"
                     "    listen 127.0.0.1:%d;\n"
                     "    access_log off;\n\n"
                     "    location = /nginx_status {\n"
                     "        stub_status;\n"
                     "        allow 127.0.0.1;\n"
                     "        deny all;\n"
                     "    }\n\n"
                     "    location / {\n"
                     "        return 404;\n"
                     "    }\n"
                     "}\n",
                     o->status_port);
        return out_finish(&out, ret);
}
