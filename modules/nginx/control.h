/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "context.h"
#include "nginx/site.h"

/* The nginx program and its running master: where it is, installing it,
 * `nginx -t`, reload, and checking that a reload took. */

struct nginx_settings {
        int http_port;
        int https_port;
        int status_port;
        bool install;
        bool ipv6;
        long reload_timeout_ms;
        char *binary_config; /* nginx.binary as configured, NULL: found on PATH */
        char *binary; /* the program found, NULL until nginx_find() */
        char *conf; /* under the root */
        char *pid_file; /* under the root */
};

int nginx_settings_load(const json_t *config, struct nginx_settings *ret);
void nginx_settings_done(struct nginx_settings *s);

/* Finds nginx, installing it with the package manager if allowed. Records
 * why it failed. */
int nginx_find(struct kiln_context *ctx, struct nginx_settings *s);
/* 1 when this nginx takes "http2 on;" (1.25.1 and later) and a site has
 * TLS; 0 when it does not, or no site has TLS (nginx is not asked then). */
int nginx_has_http2_directive(const struct nginx_settings *s, const struct nginx_sites *sites);

/* Runs `nginx -t` on conf. 0 when it passed; -EINVAL when it failed, with
 * nginx's own message in *ret_output; other negative errnos when it could
 * not run. */
int nginx_test(const struct nginx_settings *s, const char *conf, char **ret_output, long *ret_ms);

/* Reloads the running nginx (SIGHUP to the master in the pid file, as
 * nginx.service's ExecReload does) and waits until the new config is in
 * use: new worker processes, the old ones no longer accepting. Or starts
 * nginx, and waits for its pid file and, with check_http, the HTTP port
 * answering. load_ms, when known, is how long
 * `nginx -t` took on the new config: the master takes about as long to load
 * it, so the wait does not look before then. On failure *ret_error says
 * what was seen. */
int nginx_reload_and_verify(const struct nginx_settings *s, bool check_http, long load_ms, char **ret_error);

/* Stops the running nginx gracefully (SIGQUIT to the master the pid file
 * names, once checked to be that master) and waits up to timeout_ms for it
 * to exit: no new connections from the signal on, the requests in flight
 * answered. 1 when a master was stopped, 0 when none ran (or no nginx is
 * installed), negative with *ret_error when it would not stop in time. */
int nginx_graceful_stop(struct nginx_settings *s, long timeout_ms, char **ret_error);
