/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The `sites:` config, checked and parsed. Every value that reaches nginx's
 * syntax is checked here first: names, domains, upstreams, paths, header
 * values. Parsing collects every problem as "sites[0].upstream: ..." so
 * `kiln validate` can show them all at once. */

enum site_tls {
        SITE_TLS_NONE,
        SITE_TLS_ACME,
        SITE_TLS_SELF_SIGNED,
        SITE_TLS_FILES,
};

enum location_kind {
        LOCATION_PROXY,
        LOCATION_ALIAS,
        LOCATION_ROOT,
        LOCATION_REDIRECT,
        LOCATION_RETURN,
};

struct site_location {
        char *path; /* "/static/" */
        enum location_kind kind;
        char *target; /* upstream URL, directory, redirect URL, or return body (may be NULL) */
        int code; /* redirect and return status */
        bool websocket;
};

struct site_header {
        char *name;
        char *value;
};

struct nginx_site {
        char *name;
        char **domains; /* NULL-terminated; empty only for a default_server */
        char *upstream; /* proxied at "/" unless a location "/" is given; may be NULL */
        struct site_location *locations;
        size_t n_locations;
        struct site_header *headers;
        size_t n_headers;
        bool websocket;
        bool default_server;
        bool redirect_http;
        char *client_max_body_size;
        char *proxy_connect_timeout;
        char *proxy_read_timeout;
        char *proxy_send_timeout;
        enum site_tls tls;
        char *cert; /* SITE_TLS_FILES, as configured (not under the root yet) */
        char *key;
        long hsts_max_age; /* 0: no HSTS */
        bool hsts_subdomains;
        bool hsts_preload;
};

struct nginx_sites {
        struct nginx_site *sites;
        size_t n;
};

/* Parses config's `sites:` (absent is an empty list) and checks `nginx:`.
 * Returns the number of problems, each appended to *errors as one message
 * naming its key; *ret holds the sites that parsed. Negative on OOM. */
int sites_parse(const json_t *config, struct nginx_sites *ret, char ***errors);
/* The same, leaving out what the schema's type check reports already. */
int sites_parse_checked(const json_t *config, bool types_checked, struct nginx_sites *ret, char ***errors);
void sites_done(struct nginx_sites *s);

const char *site_tls_name(enum site_tls t);

/* The checks, for the tests and the other parts of the module. */
bool site_name_valid(const char *s);
bool site_domain_valid(const char *s);
bool site_upstream_valid(const char *s);
/* The path of an http(s) upstream URL ("/v1/" of "http://h:9000/v1/"),
 * NULL when it has none or is a unix: socket. */
const char *site_upstream_path(const char *s);
bool site_ends_with_slash(const char *s);
bool site_abs_path_valid(const char *s);
bool site_location_path_valid(const char *s);
bool site_redirect_valid(const char *s);
bool site_header_name_valid(const char *s);
bool site_quoted_text_valid(const char *s);
