/* SPDX-License-Identifier: MIT */
#include "acme/acme-internal.h"

/* Handing a new certificate to the web server. nginx's module renders its
 * config (now with redirect_http), tests it, swaps it in and reloads; a
 * tree without the nginx module has nothing to reload. */

#if __has_include("nginx/nginx.h")
#include "nginx/nginx.h"

int acme_deploy(struct kiln_context *ctx) {
        return nginx_apply(ctx);
}
#else
int acme_deploy(struct kiln_context *ctx) {
        return 0;
}
#endif
