/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "acme/acme-internal.h"
#include "boot.h"
#include "cli.h"
#include "fileio.h"
#include "log.h"
#include "module.h"
#include "strbuf.h"

/* `kiln certs` and `kiln renew`. They run outside the boot, without IMDS:
 * the config is the baked one, with the user-data's config that the last
 * boot saved merged over it. */

#define EXIT_USAGE 64

static int load_config(struct kiln_context *ctx, json_t **ret) {
        _cleanup_json_ json_t *userdata = NULL, *merged = NULL;
        int r;

        r = boot_load_config(ctx);
        if (r < 0)
                return r;
        merged = json_deep_copy(ctx->config);
        if (!merged)
                return -ENOMEM;
        r = store_load_snapshot(&userdata);
        if (r >= 0)
                r = config_merge(merged, userdata);
        if (r < 0 && r != -ENOENT)
                return r;
        *ret = TAKE_PTR(merged);
        return 0;
}

static json_t *json_time(const json_t *state, const char *key) {
        json_int_t t = json_integer_value(json_object_get(state, key));
        _cleanup_free_ char *s = NULL;

        if (t <= 0)
                return json_null();
        s = format_time((time_t) t);
        return s ? json_string(s) : json_null();
}

static json_t *domains_json(char *const *domains) {
        json_t *a = json_array();

        for (char *const *d = domains; a && d && *d; d++)
                json_array_append_new(a, json_string(*d));
        return a;
}

/* Fleet mode: what the storage says about the site now (who ordered the
 * shared certificate, who holds the lock), else what the last check saw. */
static void fleet_json(struct acme_fleet *fleet, const char *fleet_error, const struct acme_site *site,
                       const json_t *state, const struct cert_info *ci, json_t *j) {
        _cleanup_json_ json_t *meta = NULL;
        _cleanup_free_ char *holder = NULL;
        time_t expires = 0;
        const char *error = fleet_error;
        int r = -EIO;

        if (fleet) {
                r = acme_fleet_meta_get(fleet, site->name, &meta);
                if (r >= 0)
                        r = acme_fleet_lock_peek(fleet, site->name, &holder, &expires);
                if (r < 0)
                        error = acme_fleet_error(fleet);
        }
        if (r >= 0) {
                const char *serial = json_string_value(json_object_get(meta, "serial"));
                json_object_set_new(j, "shared", json_boolean(serial && ci && ci->serial && streq(serial, ci->serial)));
                json_object_set(j, "ordered_by", json_object_get(meta, "ordered_by") ?: json_null());
                json_object_set_new(j, "lock_holder", r > 0 && holder ? json_string(holder) : json_null());
                json_object_set_new(j, "storage_error", json_null());
                return;
        }
        json_object_set(j, "shared", json_object_get(state, "shared") ?: json_false());
        json_object_set(j, "ordered_by", json_object_get(state, "ordered_by") ?: json_null());
        json_object_set(j, "lock_holder", json_object_get(state, "lock_holder") ?: json_null());
        json_object_set_new(j, "storage_error", json_string(error ? error : "storage not available"));
}

static json_t *site_json(const struct acme_site *site, struct acme_fleet *fleet, const char *fleet_error,
                         bool fleet_mode) {
        _cleanup_json_ json_t *state = NULL;
        _cleanup_free_ char *path = NULL, *pem = NULL;
        struct cert_info ci = {0};
        int real = acme_site_has_real_certificate(site->name);
        bool have = store_site_path(site->name, "fullchain.pem", &path) >= 0 &&
                    read_file(path, 1024 * 1024, &pem, NULL) >= 0 && cert_info_from_pem(pem, &ci) >= 0;
        json_t *j;

        if (store_state_load(site->name, &state) < 0)
                state = json_object();
        j = json_pack("{s:s, s:o, s:s}", "site", site->name, "domains", domains_json(site->domains), "certificate",
                      !have      ? "none"
                      : real > 0 ? "issued"
                                 : "placeholder");
        if (j && have) {
                _cleanup_free_ char *exp = format_time(ci.not_after);
                json_object_set_new(j, "issuer", json_string(ci.issuer));
                json_object_set_new(j, "serial", json_string(ci.serial));
                json_object_set_new(j, "not_after", json_integer((json_int_t) ci.not_after));
                json_object_set_new(j, "expires", exp ? json_string(exp) : json_null());
        }
        if (j) {
                json_object_set_new(j, "next_renewal", json_time(state, "next_check"));
                json_object_set_new(j, "next_check",
                                    json_integer(json_integer_value(json_object_get(state, "next_check"))));
                json_object_set_new(j, "failures",
                                    json_integer(json_integer_value(json_object_get(state, "failures"))));
                json_object_set(j, "last_error", json_object_get(state, "last_error") ?: json_null());
                if (fleet_mode)
                        fleet_json(fleet, fleet_error, site, state, have ? &ci : NULL, j);
        }
        cert_info_done(&ci);
        return j;
}

static void print_site(const json_t *s, time_t now) {
        json_int_t not_after = json_integer_value(json_object_get(s, "not_after"));
        const char *err = json_string_value(json_object_get(s, "last_error"));
        size_t i;
        json_t *d;

        printf("%s:", json_string_value(json_object_get(s, "site")));
        json_array_foreach(json_object_get(s, "domains"), i, d)
                printf(" %s", json_string_value(d));
        printf("\n  certificate:  %s", json_string_value(json_object_get(s, "certificate")));
        if (json_object_get(s, "issuer"))
                printf(", issued by '%s'", json_string_value(json_object_get(s, "issuer")));
        putchar('\n');
        if (not_after > 0)
                printf("  expires:      %s (in %lld days)\n", json_string_value(json_object_get(s, "expires")),
                       (long long) (not_after - now) / 86400);
        printf("  next renewal: %s\n", json_string_value(json_object_get(s, "next_renewal")) ?: "at the next check");
        if (json_integer_value(json_object_get(s, "failures")) > 0)
                printf("  failures:     %lld\n", (long long) json_integer_value(json_object_get(s, "failures")));
        if (err)
                printf("  last error:   %s\n", err);
        if (json_object_get(s, "shared")) {
                const char *by = json_string_value(json_object_get(s, "ordered_by"));
                const char *holder = json_string_value(json_object_get(s, "lock_holder"));
                const char *serr = json_string_value(json_object_get(s, "storage_error"));
                printf("  shared:       %s", json_is_true(json_object_get(s, "shared")) ? "yes" : "no");
                if (by)
                        printf(", ordered by %s", by);
                putchar('\n');
                if (holder)
                        printf("  lock holder:  %s\n", holder);
                if (serr)
                        printf("  storage:      %s\n", serr);
        }
}

static int cmd_certs(struct kiln_context *ctx, int argc, char **argv) {
        static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {}};
        _cleanup_json_ json_t *config = NULL, *out = json_array();
        _cleanup_free_ char *error = NULL;
        _cleanup_(acme_fleet_freep) struct acme_fleet *fleet = NULL;
        _cleanup_free_ char *fleet_error = NULL;
        struct acme_site *sites = NULL;
        bool json = false, fleet_mode = false;
        size_t n = 0, i;
        json_t *s;
        int c, r;

        if (cli_wants_help(argc, argv, "certs", "[--json]",
                           "Shows each tls: acme site's certificate: domains, issuer, expiry, next\n"
                           "renewal and the last error; in fleet mode (acme.storage) also whether it\n"
                           "is the fleet's, which instance ordered it, and the lock's holder.\n"
                           "  --json  as a JSON list"))
                return 0;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                if (c == 'j')
                        json = true;
                else
                        return EXIT_USAGE;
        r = load_config(ctx, &config);
        if (r >= 0)
                r = acme_sites_from_config(config, &sites, &n, &error);
        if (r < 0) {
                log_error("Failed to read the sites: %s", error ? error : strerror(-r));
                return 1;
        }
        if (n > 0 && config_string(config, "acme.storage", NULL)) {
                struct acme_config cfg = {0};
                fleet_mode = true;
                free(error);
                error = NULL;
                r = acme_config_parse(config, &cfg, &error);
                if (r >= 0)
                        r = acme_fleet_open(ctx, &cfg, &fleet);
                if (r < 0)
                        fleet_error = strdup_printf("storage: %s", fleet   ? acme_fleet_error(fleet)
                                                                   : error ? error
                                                                           : strerror(-r));
                acme_config_done(&cfg);
        }
        for (i = 0; i < n && out; i++)
                json_array_append_new(out, site_json(&sites[i], fleet, fleet_error, fleet_mode));
        acme_sites_free(sites, n);
        if (!out)
                return log_oom(), 1;
        if (json) {
                json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                putchar('\n');
                return 0;
        }
        if (n == 0)
                printf("No site has tls: acme.\n");
        json_array_foreach(out, i, s)
                print_site(s, time(NULL));
        return 0;
}

static void print_results(const json_t *stage) {
        size_t i;
        json_t *item;

        json_array_foreach(json_object_get(stage, "items"), i, item) {
                const char *err = json_string_value(json_object_get(item, "error"));
                /* nginx records its apply here too; its line is in the log. */
                if (!json_object_get(item, "site"))
                        continue;
                printf("%s: %s%s%s\n", json_string_value(json_object_get(item, "site")),
                       json_string_value(json_object_get(item, "result")), err ? ": " : "", err ? err : "");
        }
}

static int cmd_renew(struct kiln_context *ctx, int argc, char **argv) {
        static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {}};
        _cleanup_json_ json_t *config = NULL, *stage = json_object();
        bool force = false;
        int c, r;

        if (cli_wants_help(argc, argv, "renew", "[--force] [SITE]",
                           "Checks the tls: acme sites now, without waiting for the backoff after a\n"
                           "failure, and orders a certificate for those without one or due for renewal.\n"
                           "  --force  renew even when the certificate is not due\n"
                           "  SITE     only this site\n"
                           "Exit status: 0 all sites fine, 1 a site failed."))
                return 0;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                if (c == 'f')
                        force = true;
                else
                        return EXIT_USAGE;
        if (optind + 1 < argc) {
                log_error("renew takes at most one SITE.");
                return EXIT_USAGE;
        }
        r = load_config(ctx, &config);
        if (r < 0) {
                log_error_errno(r, "Failed to load the config: %m");
                return 1;
        }
        json_decref(ctx->config);
        ctx->config = json_incref(config);
        ctx->stage = stage;
        r = acme_run_sites(ctx, config, force, optind < argc ? argv[optind] : NULL, true, true);
        ctx->stage = NULL;
        print_results(stage);
        return r != 0 ? 1 : 0;
}

const struct kiln_command acme_commands[] = {
        {"certs", "[--json]", "certificates, expiry, next renewal", cmd_certs},
        {"renew", "[--force] [SITE]", "renew certificates now", cmd_renew},
        {},
};
