/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "nginx/site.h"

/* Turns checked sites into nginx configuration text. Pure: no file is read
 * or written here, so the output can be compared with golden files.
 * Filesystem paths from the config (alias, root, unix sockets, cert and key)
 * are mapped under the root with root_path(). */

/* The first line of every file kiln writes; a file without it is never
 * overwritten or removed. */
#define NGINX_MARKER "# Managed by kiln"

/* The file holding what kiln's sites share at http level (the websocket
 * map, the stub_status server). A site name cannot contain '_'. */
#define NGINX_COMMON_NAME "kiln_common"

struct render_options {
        int http_port;
        int https_port;
        int status_port; /* 0: no stub_status server */
        bool ipv6; /* also listen on [::] */
        bool http2_directive; /* nginx >= 1.25.1: "http2 on;" rather than "listen ... http2" */
        const char *thumbprint; /* ACME account thumbprint; NULL: no http-01 location */
};

/* What applying found out about a site's certificate. */
struct site_cert {
        char *cert; /* as nginx opens them */
        char *key;
        char *fingerprint; /* of the certificate file, so a new certificate changes the site's file */
        bool in_place; /* a certificate worth redirecting HTTP to */
};

void site_cert_done(struct site_cert *c);

/* cert is NULL when the site has no TLS (or its certificate could not be
 * made: it is then served on HTTP only). */
int render_site(const struct nginx_site *s, const struct site_cert *cert, const struct render_options *o, char **ret);
int render_common(const struct render_options *o, char **ret);
