/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme/acme-internal.h"
#include "aws/route53.h"
#include "aws/s3.h"
#include "config.h"
#include "fileio.h"
#include "keys.h"
#include "lifecycle/lifecycle.h"
#include "log.h"
#include "module.h"
#include "openssl.h"
#include "path.h"
#include "strbuf.h"

/* The ACME module: a certificate for every `tls: acme` site, from the CA in
 * `acme.directory`, renewed by the daemon's timer. Until a CA has issued
 * one, the site serves a self-signed placeholder, so nginx can start. */

#define PLACEHOLDER_DAYS 90
#define PLACEHOLDER_RENEW_S (7 * 86400L)
#define DEFAULT_ORDER_TIMEOUT_S 120L
#define TIMER_MIN_S 10L
#define TIMER_MAX_S (12 * 3600L)
#define FLEET_CHECK_S 3600L
#define DEFAULT_LOCK_LEASE_S 120L
#define LOCK_LEASE_MIN_S 10L
#define LOCK_LEASE_MAX_S 3600L

static sd_event_source *renew_timer;

/* --- config --- */

static int parse_duration(const json_t *v, long *ret) {
        const char *s = json_string_value(v);
        long n, mult = 86400;
        char *end = NULL;

        if (json_is_integer(v) && json_integer_value(v) >= 0) {
                *ret = (long) json_integer_value(v) * 86400;
                return 0;
        }
        if (!s)
                return -EINVAL;
        errno = 0;
        n = strtol(s, &end, 10);
        if (errno || end == s || n < 0 || n > 3650L * 24)
                return -EINVAL;
        if (streq(end, "d") || streq(end, ""))
                mult = 86400;
        else if (streq(end, "h"))
                mult = 3600;
        else if (streq(end, "m"))
                mult = 60;
        else if (streq(end, "s"))
                mult = 1;
        else
                return -EINVAL;
        *ret = n * mult;
        return 0;
}

static char *directory_url(const char *d) {
        if (!d || streq(d, "letsencrypt") || streq(d, "production"))
                return strdup(ACME_LE_PRODUCTION);
        if (streq(d, "letsencrypt-staging") || streq(d, "staging"))
                return strdup(ACME_LE_STAGING);
        if (strneq(d, "https://", 8) || strneq(d, "http://", 7))
                return strdup(d);
        return NULL;
}

static char *dup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

_printf_(2, 3) static int config_error(char **ret_error, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        *ret_error = strdup_vprintf(fmt, ap);
        va_end(ap);
        return -EINVAL;
}

int acme_config_parse(const json_t *config, struct acme_config *ret, char **ret_error) {
        const char *d = config_string(config, "acme.directory", NULL);
        const char *kt = config_string(config, "acme.key_type", "ecdsa-p256");
        const char *kid = config_string(config, "acme.eab.kid", NULL);
        const char *hmac = config_string(config, "acme.eab.hmac_key", NULL);
        json_t *rb = config_get(config, "acme.renew_before");
        struct acme_config c = {0};

        if (!config_get(config, "acme"))
                return config_error(ret_error, "sites have tls: acme, but there is no acme: section");
        if (key_type_from_string(kt, &c.key_type) < 0)
                return config_error(ret_error,
                                    "acme.key_type '%s' is not one of ecdsa-p256, ecdsa-p384, rsa2048, "
                                    "rsa3072, rsa4096",
                                    kt);
        if (!kid != !hmac)
                return config_error(ret_error, "acme.eab needs both kid and hmac_key");
        if (rb && parse_duration(rb, &c.renew_before_s) < 0)
                return config_error(ret_error, "acme.renew_before must be days, or a number with d, h, m or s");
        c.directory = directory_url(d);
        if (!c.directory)
                return config_error(ret_error, "acme.directory '%s' is not letsencrypt, letsencrypt-staging or a URL",
                                    d);
        c.email = config_string(config, "acme.email", NULL) ? strdup(config_string(config, "acme.email", NULL)) : NULL;
        c.ca_file = config_string(config, "acme.ca_file", NULL) ? strdup(config_string(config, "acme.ca_file", NULL))
                                                                : NULL;
        c.profile = config_string(config, "acme.profile", NULL) ? strdup(config_string(config, "acme.profile", NULL))
                                                                : NULL;
        c.eab_kid = kid ? strdup(kid) : NULL;
        c.eab_hmac_key = hmac ? strdup(hmac) : NULL;
        c.order_timeout_ms = config_int(config, "acme.timeout", DEFAULT_ORDER_TIMEOUT_S) * 1000L;
        if (config_string(config, "acme.storage", NULL)) {
                _cleanup_free_ char *bucket = NULL, *prefix = NULL, *why = NULL;
                if (s3_url_parse(config_string(config, "acme.storage", NULL), &bucket, &prefix, &why) < 0) {
                        acme_config_done(&c);
                        return config_error(ret_error, "acme.storage: %s", why ? why : "not s3://BUCKET/PREFIX");
                }
        }
        c.lock_lease_s = config_int(config, "acme.lock_lease", DEFAULT_LOCK_LEASE_S);
        if (c.lock_lease_s < LOCK_LEASE_MIN_S || c.lock_lease_s > LOCK_LEASE_MAX_S) {
                acme_config_done(&c);
                return config_error(ret_error, "acme.lock_lease must be %ld to %ld seconds", LOCK_LEASE_MIN_S,
                                    LOCK_LEASE_MAX_S);
        }
        c.storage = dup_or_null(config_string(config, "acme.storage", NULL));
        c.storage_region = dup_or_null(config_string(config, "acme.storage_region", NULL));
        c.storage_endpoint = dup_or_null(config_string(config, "acme.storage_endpoint", NULL));
        c.storage_kms_key_id = dup_or_null(config_string(config, "acme.storage_kms_key_id", NULL));
        c.http_port = (int) config_int(config, "nginx.http_port", 80);
        c.https_port = (int) config_int(config, "nginx.https_port", 443);
        c.route53_zone_id = config_string(config, "acme.route53.hosted_zone_id", NULL)
                                    ? strdup(config_string(config, "acme.route53.hosted_zone_id", NULL))
                                    : NULL;
        c.route53_endpoint = config_string(config, "acme.route53.endpoint", NULL)
                                     ? strdup(config_string(config, "acme.route53.endpoint", NULL))
                                     : NULL;
        imds_options_from_config(config, &c.imds);
        *ret = c;
        return 0;
}

void acme_config_done(struct acme_config *c) {
        free(c->directory);
        free(c->email);
        free(c->ca_file);
        free(c->profile);
        free(c->eab_kid);
        free(c->eab_hmac_key);
        free(c->route53_zone_id);
        free(c->route53_endpoint);
        free(c->storage);
        free(c->storage_region);
        free(c->storage_endpoint);
        free(c->storage_kms_key_id);
        *c = (struct acme_config){0};
}

int acme_challenge_from_string(const char *s, enum acme_challenge *ret) {
        if (!s || streq(s, "http-01"))
                *ret = ACME_CHALLENGE_HTTP01;
        else if (streq(s, "dns-01"))
                *ret = ACME_CHALLENGE_DNS01;
        else
                return -EINVAL;
        return 0;
}

/* A name ACME can order: "*." only as the whole first label, and only
 * with dns-01 (http-01 cannot prove a wildcard, RFC 8555 7.1.3). */
static bool acme_domain_valid(const char *s, enum acme_challenge ch) {
        if (ch == ACME_CHALLENGE_DNS01 && strneq(s, "*.", 2))
                s += 2;
        return *s && !strchr(s, '*') && !strchr(s, '/');
}

static int site_domains(const json_t *site, enum acme_challenge ch, char ***ret) {
        json_t *d = json_object_get(site, "domains");
        char **l = NULL;
        size_t i;
        json_t *v;

        if (json_is_string(d)) {
                if (!acme_domain_valid(json_string_value(d), ch))
                        return -EINVAL;
                return strv_push(ret, json_string_value(d));
        }
        json_array_foreach(d, i, v) {
                const char *s = json_string_value(v);
                if (!s || !acme_domain_valid(s, ch) || strv_push(&l, s) < 0) {
                        strv_free(l);
                        return -EINVAL;
                }
        }
        *ret = l;
        return 0;
}

void acme_sites_free(struct acme_site *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(s[i].name);
                strv_free(s[i].domains);
        }
        free(s);
}

static int site_add(struct acme_site **sites, size_t *n, const json_t *site, char **ret_error) {
        const char *name = json_string_value(json_object_get(site, "name"));
        const char *ch = json_string_value(json_object_get(site, "challenge"));
        struct acme_site s = {0}, *l;

        if (acme_challenge_from_string(ch, &s.challenge) < 0)
                return config_error(ret_error, "site '%s': challenge '%s' is not http-01 or dns-01", name ? name : "?",
                                    ch);
        if (site_domains(site, s.challenge, &s.domains) < 0 || !s.domains) {
                strv_free(s.domains);
                return config_error(ret_error,
                                    s.challenge == ACME_CHALLENGE_DNS01
                                            ? "site '%s' needs domains for tls: acme"
                                            : "site '%s' needs domains (no wildcards: they need challenge: dns-01) "
                                              "for tls: acme",
                                    name ? name : "?");
        }
        s.name = strdup(name ? name : s.domains[0]);
        l = realloc(*sites, (*n + 1) * sizeof(**sites));
        if (!s.name || !l || strchr(s.name, '/') || s.name[0] == '.') {
                if (l)
                        *sites = l;
                free(s.name);
                strv_free(s.domains);
                return config_error(ret_error, "invalid site name '%s'", name);
        }
        l[(*n)++] = s;
        *sites = l;
        return 0;
}

int acme_sites_from_config(const json_t *config, struct acme_site **ret, size_t *ret_n, char **ret_error) {
        struct acme_site *sites = NULL;
        size_t n = 0, i;
        json_t *site;
        int r;

        json_array_foreach(config_get(config, "sites"), i, site) {
                if (!streq(json_string_value(json_object_get(site, "tls")) ?: "", "acme"))
                        continue;
                r = site_add(&sites, &n, site, ret_error);
                if (r < 0) {
                        acme_sites_free(sites, n);
                        return r;
                }
        }
        *ret = sites;
        *ret_n = n;
        return 0;
}

static bool has_acme_sites(const json_t *config) {
        size_t i;
        json_t *site;

        json_array_foreach(config_get(config, "sites"), i, site)
                if (streq(json_string_value(json_object_get(site, "tls")) ?: "", "acme"))
                        return true;
        return false;
}

/* --- what nginx asks --- */

/* Fleet mode: nginx must answer http-01 with the fleet's thumbprint from
 * its first render, as a load balancer sends the CA to any instance. The
 * account key is taken from storage (or this one stored) before. A
 * storage that does not answer leaves the local key: the renewal that
 * follows fails on the storage, orders nothing, and renders again. */
static void fleet_account(struct kiln_context *ctx, const struct acme_config *cfg) {
        _cleanup_(acme_fleet_freep) struct acme_fleet *f = NULL;
        int r;

        r = acme_fleet_open(ctx, cfg, &f);
        if (r >= 0 && f)
                r = acme_fleet_account(f, cfg);
        if (r < 0)
                log_warning("acme: the fleet's account key is not available (%s), ignoring for now.",
                            f ? acme_fleet_error(f) : strerror(-r));
}

int acme_thumbprint(struct kiln_context *ctx, char **ret) {
        _cleanup_(acme_client_freep) struct acme_client *c = NULL;
        _cleanup_free_ char *error = NULL;
        struct acme_config cfg = {0};
        int r;

        if (!config_get(ctx->config, "acme"))
                return -ENOENT;
        r = acme_config_parse(ctx->config, &cfg, &error);
        if (r >= 0 && cfg.storage)
                fleet_account(ctx, &cfg);
        if (r >= 0)
                r = acme_client_new(&cfg, &c);
        if (r >= 0)
                r = acme_load_account_key(c);
        if (r >= 0) {
                *ret = strdup(c->thumbprint);
                r = *ret ? 0 : -ENOMEM;
        }
        acme_client_free(TAKE_PTR(c));
        acme_config_done(&cfg);
        return r;
}

static int site_path(const char *site, const char *file, char **ret) {
        return root_path(ret, ACME_SITES_DIR "/%s/%s", site, file);
}

int acme_site_has_real_certificate(const char *site) {
        _cleanup_free_ char *cert = NULL, *marker = NULL;
        int r;

        if (site_path(site, "fullchain.pem", &cert) < 0 || site_path(site, "placeholder", &marker) < 0)
                return -ENOMEM;
        r = file_exists(cert);
        if (r <= 0)
                return r;
        r = file_exists(marker);
        return r < 0 ? r : !r;
}

/* The placeholder's marker file says what the placeholder was made for:
 * {"domains": [...], "not_after": epoch}. Reading that, an apply of many
 * sites needs neither OpenSSL nor a certificate parse per site. */
static int write_placeholder(const char *site, char *const *domains, const char *key_path, const char *cert_path) {
        _cleanup_(key_freep) struct kiln_key *key = NULL;
        _cleanup_free_ char *pem = NULL, *marker = NULL, *about = NULL;
        _cleanup_json_ json_t *names = json_array(), *m = NULL;
        /* Taken before the certificate: its notAfter is no earlier. */
        time_t not_after = time(NULL) + PLACEHOLDER_DAYS * 86400L;
        int r;

        for (char *const *d = domains; names && d && *d; d++)
                if (json_array_append_new(names, json_string(*d)) < 0)
                        return -ENOMEM;
        m = names ? json_pack("{s:O, s:I}", "domains", names, "not_after", (json_int_t) not_after) : NULL;
        about = m ? json_dumps(m, JSON_COMPACT) : NULL;
        if (!about || site_path(site, "placeholder", &marker) < 0)
                return -ENOMEM;
        r = key_load_or_create(key_path, KEY_EC_P256, &key);
        if (r < 0)
                return r;
        r = key_self_signed_pem(key, domains, PLACEHOLDER_DAYS, &pem);
        if (r < 0)
                return r;
        r = write_file_atomic(marker, about, strlen(about), 0644);
        if (r < 0)
                return r;
        return write_file_atomic(cert_path, pem, strlen(pem), 0644);
}

/* What the marker says: 1 stale, 0 fine, -ENODATA when it says nothing (an
 * older kiln's empty marker). */
static int marker_stale(const char *marker, char *const *domains) {
        _cleanup_json_ json_t *m = NULL;
        _cleanup_strv_free_ char **names = NULL;
        json_t *list, *v;
        size_t i;
        int r;

        r = json_read_file(marker, 64 * 1024, &m);
        list = r >= 0 ? json_object_get(m, "domains") : NULL;
        if (!json_is_array(list) || !json_is_integer(json_object_get(m, "not_after")))
                return -ENODATA;
        json_array_foreach(list, i, v)
                if (!json_is_string(v) || strv_push(&names, json_string_value(v)) < 0)
                        return -ENODATA;
        return !acme_same_names(names, domains) ||
               json_integer_value(json_object_get(m, "not_after")) < time(NULL) + PLACEHOLDER_RENEW_S;
}

/* 1 when the placeholder in cert_path must be made again: it names other
 * domains than the site has now, or it is about to expire (a site that
 * cannot get a certificate for months still serves a valid one). */
static int placeholder_stale(const char *site, char *const *domains, const char *cert_path) {
        _cleanup_free_ char *marker = NULL, *pem = NULL;
        struct cert_info ci = {0};
        int r;

        if (site_path(site, "placeholder", &marker) < 0)
                return -ENOMEM;
        r = file_exists(marker);
        if (r <= 0)
                return r;
        r = marker_stale(marker, domains);
        if (r != -ENODATA)
                return r;
        r = read_file(cert_path, 1024 * 1024, &pem, NULL);
        if (r >= 0)
                r = cert_info_from_pem(pem, &ci);
        if (r < 0)
                return 1;
        r = !acme_same_names(ci.domains, domains) || ci.not_after < time(NULL) + PLACEHOLDER_RENEW_S;
        cert_info_done(&ci);
        return r;
}

int acme_site_certificate(struct kiln_context *ctx, const char *site, char *const *domains, char **ret_fullchain,
                          char **ret_key) {
        _cleanup_free_ char *cert = NULL, *key = NULL, *dir = NULL, *top = NULL;
        int r;

        if (site_path(site, "fullchain.pem", &cert) < 0 || site_path(site, "privkey.pem", &key) < 0 ||
            root_path(&dir, ACME_SITES_DIR "/%s", site) < 0 || root_path(&top, ACME_DIR) < 0)
                return -ENOMEM;
        r = store_recover(site);
        if (r < 0)
                return r;
        if (r > 0)
                log_info("Site '%s': finished installing the certificate that an interrupted run had committed.", site);
        r = file_exists(cert);
        if (r > 0)
                r = placeholder_stale(site, domains, cert) > 0 ? 0 : 1;
        if (r == 0) {
                /* Only a new placeholder needs the directories made. */
                r = mkdir_p(top, 0700);
                if (r >= 0)
                        r = mkdir_p(dir, 0700);
                if (r >= 0)
                        r = write_placeholder(site, domains, key, cert);
        }
        if (r < 0)
                return r;
        *ret_fullchain = TAKE_PTR(cert);
        *ret_key = TAKE_PTR(key);
        return 0;
}

/* --- boot and daemon --- */

/* OpenSSL is loaded only by the instances that order certificates (see
 * openssl.h); one that cannot load it says so here, once. */
static int load_openssl(void) {
        const char *error;
        int r;

        r = openssl_load(true, &error);
        if (r < 0)
                log_error("acme: %s; no certificate can be ordered or checked.", error);
        return r;
}

static int acme_boot(struct kiln_context *ctx) {
        bool force;
        int r;

        if (!config_get(ctx->config, "acme") && !has_acme_sites(ctx->config))
                return 0;
        /* A warm pool's instance orders nothing until it goes InService. */
        if (lifecycle_warmed())
                return 0;
        r = load_openssl();
        if (r < 0)
                return r;
        r = store_snapshot_config(ctx->userdata_config);
        if (r < 0)
                log_warning_errno(r, "Failed to save the user-data's ACME config for kiln certs/renew, ignoring: %m");
        /* Certificates belong to an instance, like its SSH host keys: a disk
         * booted as a new instance-id orders its own. The old ones keep
         * serving until the new ones are in place. */
        force = ctx->new_instance && ctx->previous_instance_id && !config_string(ctx->config, "acme.storage", NULL);
        if (force)
                log_info("acme: new instance (was %s), ordering new certificates.", ctx->previous_instance_id);
        /* In fleet mode, a lock another instance holds is waited for. */
        r = acme_run_sites(ctx, ctx->config, force, NULL, force, true);
        if (r < 0)
                return r;
        return r > 0 ? KILN_DEGRADED : 0;
}

static int schedule(struct kiln_context *ctx);

static int on_renew_timer(struct kiln_context *ctx, void *userdata) {
        if (!lifecycle_warmed())
                (void) acme_run_sites(ctx, ctx->config, false, NULL, false, false);
        return schedule(ctx);
}

static int schedule(struct kiln_context *ctx) {
        _cleanup_free_ char *error = NULL;
        struct acme_site *sites = NULL;
        time_t now = time(NULL), next;
        long delay, max;
        size_t n = 0;
        int r;

        r = acme_sites_from_config(ctx->config, &sites, &n, &error);
        if (r >= 0 && n > 0)
                r = load_openssl();
        if (r < 0 || n == 0) {
                acme_sites_free(sites, n);
                return r;
        }
        next = acme_next_check(sites, n, now);
        acme_sites_free(sites, n);
        /* Never a fast loop: at least 10 s between checks (a failure backs off a
         * minute or more, see backoff_seconds()); at least one
         * check every 12 h, for ARI and clock jumps. */
        max = TIMER_MAX_S;
        /* Fleet mode: another instance may renew any time; its certificate
         * is installed within the hour (jittered, not all at once). */
        if (config_string(ctx->config, "acme.storage", NULL))
                max = FLEET_CHECK_S - (long) (random_u32() % (FLEET_CHECK_S / 6));
        delay = next - now < TIMER_MIN_S ? TIMER_MIN_S : next - now > max ? max : next - now;
        log_debug("Next certificate check in %ld s.", delay);
        return kiln_timer_schedule(ctx, &renew_timer, (uint64_t) delay * USEC_PER_SEC, on_renew_timer, NULL);
}

static int acme_start(struct kiln_context *ctx) {
        return schedule(ctx);
}

static int acme_reload(struct kiln_context *ctx) {
        int r = store_snapshot_config(ctx->userdata_config);

        if (r < 0)
                log_warning_errno(r, "Failed to save the ACME config, ignoring: %m");
        return schedule(ctx);
}

static void acme_done(struct kiln_context *ctx) {
        renew_timer = sd_event_source_disable_unref(renew_timer);
}

/* --- kiln validate --- */

static void validate_site(struct config_report *rep, size_t index, const json_t *site) {
        const char *ch = json_string_value(json_object_get(site, "challenge"));
        json_t *d = json_object_get(site, "domains"), *v;
        enum acme_challenge c = ACME_CHALLENGE_HTTP01;
        _cleanup_free_ char *key = strdup_printf("sites[%zu].challenge", index);
        size_t i;

        if (!key)
                return;
        if (json_object_get(site, "challenge") && acme_challenge_from_string(ch, &c) < 0) {
                config_report_error(rep, key, "%s: must be http-01 or dns-01", key);
                return;
        }
        if (!streq(json_string_value(json_object_get(site, "tls")) ?: "", "acme")) {
                if (json_object_get(site, "challenge"))
                        config_report_warning(rep, key, "%s: only used with tls: acme, ignoring", key);
                return;
        }
        if (c == ACME_CHALLENGE_DNS01)
                return;
        /* The nginx module checks the names themselves. */
        for (i = 0; i < (json_is_array(d) ? json_array_size(d) : 1); i++) {
                _cleanup_free_ char *path = json_is_array(d) ? strdup_printf("sites[%zu].domains[%zu]", index, i)
                                                             : strdup_printf("sites[%zu].domains", index);
                v = json_is_array(d) ? json_array_get(d, i) : d;
                if (path && json_is_string(v) && strchr(json_string_value(v), '*'))
                        config_report_error(rep, path,
                                            "%s: '%s' is a wildcard: tls: acme proves it only with "
                                            "'challenge: dns-01' (Route 53), not http-01",
                                            path, json_string_value(v));
        }
}

static void acme_validate(const json_t *config, struct config_report *rep) {
        const char *zone = config_string(config, "acme.route53.hosted_zone_id", NULL);
        _cleanup_free_ char *id = NULL;
        size_t i;
        json_t *site;

        if (zone && route53_zone_id_parse(zone, &id) < 0)
                config_report_error(rep, "acme.route53.hosted_zone_id",
                                    "acme.route53.hosted_zone_id: '%s' is not a hosted zone ID (Z... or "
                                    "/hostedzone/Z...)",
                                    zone);
        json_array_foreach(config_get(config, "sites"), i, site)
                if (json_is_object(site))
                        validate_site(rep, i, site);
}

static const struct config_key acme_keys[] = {
        {"acme", CONFIG_MAP, "The ACME CA that issues certificates for sites with tls: acme."},
        {"acme.email", CONFIG_STRING, "Contact address of the ACME account (expiry notices)."},
        {"acme.directory", CONFIG_STRING,
         "letsencrypt (default), letsencrypt-staging, or the directory URL of another ACME CA."},
        {"acme.ca_file", CONFIG_STRING, "PEM bundle that replaces the system trust store for the CA (test CAs)."},
        {"acme.key_type", CONFIG_STRING,
         "Certificate key: ecdsa-p256 (default), ecdsa-p384, rsa2048, rsa3072, rsa4096."},
        {"acme.profile", CONFIG_STRING, "Certificate profile to order, when the CA's directory lists it."},
        {"acme.eab", CONFIG_MAP, "External Account Binding, for CAs that require one."},
        {"acme.eab.kid", CONFIG_STRING, "EAB key identifier given by the CA."},
        {"acme.eab.hmac_key", CONFIG_STRING, "EAB MAC key given by the CA (base64url)."},
        {"acme.renew_before", CONFIG_ANY,
         "Renew this long before expiry: days, or 30d/12h/90m; default a third of the lifetime (ARI wins)."},
        {"acme.timeout", CONFIG_INT, "Seconds one order may take, polling included (default 120)."},
        {"acme.route53", CONFIG_MAP, "Route 53, for sites with challenge: dns-01."},
        {"acme.route53.hosted_zone_id", CONFIG_STRING,
         "The hosted zone for every dns-01 record (Z... or /hostedzone/Z...); default: the most specific public "
         "zone of each name."},
        {"acme.route53.endpoint", CONFIG_STRING,
         "Route 53's URL (AWS_ENDPOINT_URL_ROUTE_53 and AWS_ENDPOINT_URL win); default AWS's."},
        {"sites[].challenge", CONFIG_STRING,
         "tls: acme: http-01 (default) or dns-01 (a TXT record in Route 53; needed for wildcards)."},
        {"acme.storage", CONFIG_STRING,
         "Fleet mode: s3://BUCKET/PREFIX shared by the instances that share account, certificates and lock."},
        {"acme.storage_region", CONFIG_STRING,
         "Region of the storage bucket (default AWS_REGION, then the instance's)."},
        {"acme.storage_endpoint", CONFIG_STRING,
         "S3 endpoint URL for the storage (AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL win); path-style when set."},
        {"acme.storage_kms_key_id", CONFIG_STRING,
         "KMS key for the storage's server-side encryption (aws:kms); default AES256."},
        {"acme.lock_lease", CONFIG_INT,
         "Seconds a fleet lock holder that stopped extending it keeps the lock (10 to 3600, default 120)."},
        {},
};

extern const struct kiln_command acme_commands[];

const struct kiln_module acme_module = {
        .name = "acme",
        .stage = STAGE_APPLY,
        .boot = acme_boot,
        .start = acme_start,
        .reload = acme_reload,
        .done = acme_done,
        .config_keys = acme_keys,
        .commands = acme_commands,
        .validate = acme_validate,
};
