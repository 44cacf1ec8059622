/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "acme/acme.h"
#include "boot.h"
#include "cli.h"
#include "clock.h"
#include "log.h"
#include "module.h"
#include "nginx/control.h"
#include "nginx/layout.h"
#include "nginx/nginx.h"
#include "nginx/render.h"
#include "nginx/site.h"
#include "path.h"
#include "pkg.h"
#include "strbuf.h"

#define EXIT_USAGE 64

/* The config's checks beyond types, for `kiln validate` and the configure
 * stage; each message names its key, located by the part before ':'. */
static void nginx_validate(const json_t *config, struct config_report *rep) {
        _cleanup_strv_free_ char **errors = NULL;
        struct nginx_sites sites = {0};
        int r;

        r = sites_parse_checked(config, true, &sites, &errors);
        sites_done(&sites);
        if (r < 0)
                return;
        for (char **e = errors; e && *e; e++) {
                _cleanup_free_ char *path = strndup(*e, strcspn(*e, ":"));
                config_report_error(rep, path ? path : "sites", "%s", *e);
        }
}

/* apply: after the scripts (which may install what the sites serve),
 * before ACME (which needs the port-80 servers answering challenges). */
static int nginx_boot(struct kiln_context *ctx) {
        _cleanup_strv_free_ char **errors = NULL;
        int r;

        r = nginx_validate_config(ctx->config, &errors);
        if (r < 0)
                return kiln_fail(ctx, r, "nginx: failed to check the config: %s", strerror(-r));
        /* Each problem was reported by the configure stage already. */
        if (r > 0)
                return kiln_fail(ctx, -EINVAL, "nginx: sites not applied: the config has %d problem(s) (%s%s).", r,
                                 errors[0], r > 1 ? ", ..." : "");
        return nginx_apply(ctx);
}

/* The instance is going away: nginx stops taking connections and finishes
 * the requests in flight, as the load balancer drains it. Only the nginx
 * kiln runs sites on. */
static int nginx_drain(struct kiln_context *ctx, long deadline_ms) {
        _cleanup_free_ char *error = NULL;
        struct nginx_settings s;
        long left = deadline_ms - now_ms();
        int r;

        if (json_array_size(config_get(ctx->config, "sites")) == 0)
                return 0;
        r = nginx_settings_load(ctx->config, &s);
        if (r < 0)
                return log_error_errno(r, "nginx: failed to read its settings: %m");
        r = nginx_graceful_stop(&s, left > 0 ? left : 0, &error);
        nginx_settings_done(&s);
        if (r < 0)
                return log_error_errno(r, "nginx: %s.", error ? error : "failed to stop gracefully");
        if (r > 0)
                log_info("nginx stopped gracefully: no new connections, the requests in flight answered.");
        return 0;
}

/* --- kiln nginx apply|render --- */

static int cmd_apply(struct kiln_context *ctx, bool json) {
        json_t *record = NULL;
        int r;

        r = nginx_apply_record(ctx, &record);
        if (json && record) {
                json_dumpf(record, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                putchar('\n');
        } else if (record)
                printf("%s\n", json_string_value(json_object_get(record, "result")));
        json_decref(record);
        return r < 0 ? 1 : r == KILN_DEGRADED ? 2 : 0;
}

/* Where acme_site_certificate() would put the site's files, without
 * making them: render changes nothing. */
static int render_cert(const struct nginx_site *s, struct site_cert *c) {
        int r;

        if (s->tls == SITE_TLS_NONE)
                return 0;
        c->in_place = s->tls != SITE_TLS_ACME || acme_site_has_real_certificate(s->name) > 0;
        if (s->tls == SITE_TLS_FILES) {
                r = root_path(&c->cert, "%s", s->cert);
                return r < 0 ? r : root_path(&c->key, "%s", s->key);
        }
        r = root_path(&c->cert, ACME_SITES_DIR "/%s/fullchain.pem", s->name);
        return r < 0 ? r : root_path(&c->key, ACME_SITES_DIR "/%s/privkey.pem", s->name);
}

static int render_one(const struct nginx_site *s, const struct render_options *o) {
        _cleanup_free_ char *text = NULL;
        struct site_cert c = {0};
        int r;

        r = render_cert(s, &c);
        if (r >= 0)
                r = render_site(s, s->tls == SITE_TLS_NONE ? NULL : &c, o, &text);
        site_cert_done(&c);
        if (r < 0)
                return log_error_errno(r, "Failed to render site '%s': %m", s->name);
        printf("%s", text);
        return 0;
}

static int cmd_render(struct kiln_context *ctx, const char *only) {
        _cleanup_strv_free_ char **errors = NULL;
        struct nginx_sites sites = {0};
        struct nginx_settings st = {0};
        struct render_options o;
        int r, found = 0;

        r = sites_parse(ctx->config, &sites, &errors);
        if (r != 0) {
                for (char **e = errors; e && *e; e++)
                        log_error("config: %s", *e);
                sites_done(&sites);
                return 1;
        }
        r = nginx_settings_load(ctx->config, &st);
        o = (struct render_options){st.http_port, st.https_port, st.status_port, st.ipv6, false, NULL};
        if (r >= 0 && st.binary_config)
                st.binary = strdup(st.binary_config);
        else if (r >= 0)
                (void) pkg_have_program("nginx", &st.binary);
        if (st.binary)
                o.http2_directive = nginx_has_http2_directive(&st, &sites) > 0;
        for (size_t i = 0; r >= 0 && i < sites.n; i++)
                if (!only || streq(only, sites.sites[i].name)) {
                        found++;
                        r = render_one(&sites.sites[i], &o);
                }
        sites_done(&sites);
        nginx_settings_done(&st);
        if (r >= 0 && only && !found)
                return log_error("No site '%s' in the config.", only), 1;
        return r < 0 ? 1 : 0;
}

static int cmd_nginx(struct kiln_context *ctx, int argc, char **argv) {
        const char *args[2] = {NULL, NULL};
        bool json = false;
        int n = 0;

        if (cli_wants_help(argc, argv, "nginx", "apply [--json] | render [SITE]",
                           "Applies or shows the nginx sites of the config (sites:).\n"
                           "  apply         render, nginx -t, swap in, reload, as the boot does; prints\n"
                           "                applied, unchanged or failed (--json: timings and sites too)\n"
                           "  render [SITE] print the files kiln would write, changing nothing (without\n"
                           "                the ACME challenge location)\n"
                           "The config read is the image's (/etc/kiln/kiln.yaml, kiln.d) or --config FILE.\n"
                           "Exit status: 0 done, 1 error, 2 degraded."))
                return 0;
        /* Parsed by hand: options may follow the verb, and getopt keeps the
         * global options' ordering. */
        for (int i = 1; i < argc; i++)
                if (streq(argv[i], "--json"))
                        json = true;
                else if (argv[i][0] == '-' || n >= 2)
                        return log_error("Usage: kiln nginx apply [--json] | render [SITE]"), EXIT_USAGE;
                else
                        args[n++] = argv[i];
        if (n == 0)
                return log_error("Usage: kiln nginx apply [--json] | render [SITE]"), EXIT_USAGE;
        if (boot_load_config(ctx) < 0)
                return 1;
        if (streq(args[0], "apply") && n == 1)
                return cmd_apply(ctx, json);
        if (streq(args[0], "render"))
                return cmd_render(ctx, args[1]);
        log_error("Unknown 'kiln nginx %s'; see kiln nginx --help.", args[0]);
        return EXIT_USAGE;
}

static const struct kiln_command nginx_commands[] = {
        {"nginx", "apply [--json] | render [SITE]", "apply the nginx sites of the config now, or show them", cmd_nginx},
        {},
};

static const struct config_key nginx_keys[] = {
        {"sites", CONFIG_LIST, "Web sites nginx serves: a reverse proxy and static files per site."},
        {"sites[]", CONFIG_MAP, "One site."},
        {"sites[].name", CONFIG_STRING, "Its name, for its file in nginx's config: letters, digits, '-', '.'."},
        {"sites[].domains", CONFIG_STRING_OR_LIST, "Its server names (RFC 1123; '*.example.com' allowed)."},
        {"sites[].upstream", CONFIG_STRING, "What '/' proxies to: http://HOST:PORT, https://..., unix:/PATH."},
        {"sites[].locations", CONFIG_DICT,
         "Path -> upstream URL, or { alias|root: DIR }, { proxy: URL }, { redirect: URL, code }, { return: CODE, body "
         "}."},
        {"sites[].headers", CONFIG_DICT, "Response headers to add: name -> value."},
        {"sites[].websocket", CONFIG_BOOL, "Pass WebSocket upgrades to the upstream (default false)."},
        {"sites[].client_max_body_size", CONFIG_ANY, "Largest request body, like 10m (nginx's default 1m)."},
        {"sites[].proxy_connect_timeout", CONFIG_ANY, "Seconds (or 5s, 500ms) to connect to the upstream."},
        {"sites[].proxy_read_timeout", CONFIG_ANY, "Seconds (or 90s, 5m) to wait for the upstream's response."},
        {"sites[].proxy_send_timeout", CONFIG_ANY, "Seconds (or 90s, 5m) to send the request to the upstream."},
        {"sites[].default_server", CONFIG_BOOL, "Answer requests for names no site has (default false)."},
        {"sites[].tls", CONFIG_ANY, "acme, self-signed, none (default) or { cert: FILE, key: FILE }."},
        {"sites[].redirect_http", CONFIG_BOOL,
         "Redirect HTTP to HTTPS once a certificate is in place (default false)."},
        {"sites[].hsts", CONFIG_ANY,
         "Strict-Transport-Security: true (2 years), seconds, or { max_age, include_subdomains, preload }."},
        {"nginx", CONFIG_MAP, "Where and how nginx runs."},
        {"nginx.http_port", CONFIG_INT, "Port of the HTTP servers (default 80)."},
        {"nginx.https_port", CONFIG_INT, "Port of the HTTPS servers (default 443)."},
        {"nginx.status_port", CONFIG_INT, "Port on 127.0.0.1 serving /nginx_status (stub_status); 0 = off (default)."},
        {"nginx.binary", CONFIG_STRING, "The nginx program (default: nginx on the standard PATH)."},
        {"nginx.conf", CONFIG_STRING, "nginx's main config file (default /etc/nginx/nginx.conf)."},
        {"nginx.pid_file", CONFIG_STRING, "The nginx master's pid file (default /run/nginx.pid)."},
        {"nginx.install", CONFIG_BOOL, "Install nginx with the package manager when missing (default true)."},
        {"nginx.ipv6", CONFIG_BOOL, "Also listen on [::] (default: when the machine has IPv6)."},
        {"nginx.reload_timeout", CONFIG_NUMBER,
         "Seconds to wait for a reload to take before rolling back (default 10)."},
        {},
};

const struct kiln_module nginx_module = {
        .name = "nginx",
        .stage = STAGE_APPLY,
        .boot = nginx_boot,
        .reload = nginx_apply,
        .drain = nginx_drain,
        .validate = nginx_validate,
        .config_keys = nginx_keys,
        .commands = nginx_commands,
};
