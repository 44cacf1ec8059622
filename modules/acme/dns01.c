/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme-internal.h"
#include "aws/credentials.h"
#include "aws/route53.h"
#include "base64.h"
#include "clock.h"
#include "context.h"
#include "imds/imds.h"
#include "log.h"
#include "sha256.h"
#include "strbuf.h"

/* dns-01 through Route 53 (RFC 8555 section 8.4): every TXT record of an
 * order is published first, each name's values in one record set (a
 * wildcard and its apex share _acme-challenge.NAME), Route 53's changes are
 * followed until INSYNC, and the records are deleted after validation,
 * whatever its outcome. Credentials: the environment, then the instance
 * role. */

#define INSYNC_FIRST_MS 1000L
#define INSYNC_MAX_MS 5000L

struct dns01_record {
        char *name; /* "_acme-challenge.example.com" */
        char *zone_id;
        char **values;
        char *change_id; /* of the UPSERT; NULL once INSYNC */
        bool published;
};

struct dns01 {
        struct imds *imds;
        struct aws_creds_provider *creds;
        struct route53 r53;
        char *zone_id; /* acme.route53.hosted_zone_id, normalized; NULL: looked up */
        struct dns01_record *records;
        size_t n;
};

int dns01_txt_value(const char *token, const char *thumbprint, char **ret) {
        _cleanup_free_ char *keyauth = strdup_printf("%s.%s", token, thumbprint);
        uint8_t digest[SHA256_DIGEST_SIZE];

        if (!keyauth)
                return -ENOMEM;
        sha256(keyauth, strlen(keyauth), digest);
        return base64url_encode(digest, sizeof(digest), ret);
}

static void records_clear(struct dns01 *d) {
        for (size_t i = 0; i < d->n; i++) {
                free(d->records[i].name);
                free(d->records[i].zone_id);
                strv_free(d->records[i].values);
                free(d->records[i].change_id);
        }
        free(d->records);
        d->records = NULL;
        d->n = 0;
}

void dns01_free(struct dns01 *d) {
        if (!d)
                return;
        records_clear(d);
        route53_done(&d->r53);
        free(d->zone_id);
        aws_creds_provider_free(d->creds);
        imds_free(d->imds);
        free(d);
}

int dns01_new(const struct acme_config *cfg, struct dns01 **ret, char **ret_error) {
        _cleanup_(dns01_freep) struct dns01 *d = calloc(1, sizeof(*d));
        int r;

        if (!d)
                return -ENOMEM;
        r = aws_creds_provider_new_imds(&cfg->imds, &d->imds, &d->creds);
        if (r < 0)
                return r;
        if (cfg->route53_zone_id && route53_zone_id_parse(cfg->route53_zone_id, &d->zone_id) < 0) {
                *ret_error = strdup_printf("acme.route53.hosted_zone_id '%s' is not Z... or /hostedzone/Z...",
                                           cfg->route53_zone_id);
                return -EINVAL;
        }
        r = route53_init(&d->r53, cfg->route53_endpoint, d->creds);
        if (r == -EINVAL) {
                *ret_error = strdup("the Route 53 endpoint (AWS_ENDPOINT_URL_ROUTE_53, AWS_ENDPOINT_URL or "
                                    "acme.route53.endpoint) is not an http(s) URL without a path");
                return r;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 0;
}

void dns01_begin(struct dns01 *d) {
        records_clear(d);
}

int dns01_add(struct dns01 *d, const char *domain, const char *value) {
        _cleanup_free_ char *name = NULL;
        struct dns01_record *l;

        /* A wildcard's identifier comes without "*." (RFC 8555 7.1.3). */
        if (strneq(domain, "*.", 2))
                domain += 2;
        name = strdup_printf("_acme-challenge.%s", domain);

        if (!name)
                return -ENOMEM;
        for (size_t i = 0; i < d->n; i++)
                if (strcasecmp(d->records[i].name, name) == 0) {
                        for (char **v = d->records[i].values; v && *v; v++)
                                if (streq(*v, value))
                                        return 0;
                        return strv_push(&d->records[i].values, value);
                }
        l = realloc(d->records, (d->n + 1) * sizeof(*l));
        if (!l)
                return -ENOMEM;
        d->records = l;
        l[d->n] = (struct dns01_record){.name = TAKE_PTR(name)};
        if (strv_push(&l[d->n].values, value) < 0) {
                free(l[d->n].name);
                return -ENOMEM;
        }
        d->n++;
        return 0;
}

/* Waits for every published change to be INSYNC, until deadline_ms. */
static int wait_insync(struct dns01 *d, struct acme_client *c, long deadline_ms) {
        long delay = INSYNC_FIRST_MS;
        int r;

        for (;;) {
                bool pending = false;

                for (size_t i = 0; i < d->n; i++) {
                        struct dns01_record *rec = &d->records[i];
                        if (!rec->change_id)
                                continue;
                        r = route53_change_insync(&d->r53, rec->change_id);
                        if (r < 0)
                                return acme_errorf(c, r, "dns-01: %s", d->r53.error);
                        if (r > 0) {
                                log_debug("Route 53 change %s (%s) is INSYNC.", rec->change_id, rec->name);
                                free(rec->change_id);
                                rec->change_id = NULL;
                        } else
                                pending = true;
                }
                if (!pending)
                        return 0;
                if (now_ms() + delay > deadline_ms)
                        return acme_errorf(c, -ETIMEDOUT,
                                           "dns-01: Route 53 did not say INSYNC for the TXT records within the "
                                           "order's time limit (acme.timeout)");
                kiln_keepalive();
                sleep_ms(delay);
                delay = delay * 2 > INSYNC_MAX_MS ? INSYNC_MAX_MS : delay * 2;
        }
}

int dns01_publish(struct dns01 *d, struct acme_client *c, long deadline_ms) {
        int r;

        for (size_t i = 0; i < d->n; i++) {
                struct dns01_record *rec = &d->records[i];
                bool insync = false;

                if (d->zone_id)
                        rec->zone_id = strdup(d->zone_id);
                else {
                        /* The names of one order often share a zone. */
                        for (size_t j = 0; j < i && !rec->zone_id; j++)
                                if (d->records[j].zone_id && strcasecmp(d->records[j].name, rec->name) == 0)
                                        rec->zone_id = strdup(d->records[j].zone_id);
                        if (!rec->zone_id) {
                                _cleanup_free_ char *zname = NULL;
                                r = route53_find_zone(&d->r53, rec->name, &rec->zone_id, &zname);
                                if (r < 0)
                                        return acme_errorf(c, r, "dns-01: %s", d->r53.error);
                                log_debug("Route 53 hosted zone for %s: %s (%s).", rec->name, rec->zone_id, zname);
                        }
                }
                if (!rec->zone_id)
                        return -ENOMEM;
                r = route53_change(&d->r53, rec->zone_id, "UPSERT", rec->name, rec->values, ROUTE53_TXT_TTL,
                                   &rec->change_id, &insync);
                if (r < 0)
                        return acme_errorf(c, r, "dns-01: %s", d->r53.error);
                rec->published = true;
                log_info("Published the TXT record %s (%zu value(s)) in Route 53 zone %s.", rec->name,
                         strv_length(rec->values), rec->zone_id);
                if (insync) {
                        free(rec->change_id);
                        rec->change_id = NULL;
                }
        }
        return wait_insync(d, c, deadline_ms);
}

void dns01_cleanup(struct dns01 *d) {
        for (size_t i = 0; i < d->n; i++) {
                struct dns01_record *rec = &d->records[i];
                _cleanup_free_ char *change = NULL;
                bool insync;
                int r;

                if (!rec->published)
                        continue;
                /* The DELETE names the record set exactly as published. */
                r = route53_change(&d->r53, rec->zone_id, "DELETE", rec->name, rec->values, ROUTE53_TXT_TTL, &change,
                                   &insync);
                if (r < 0)
                        log_warning("dns-01: failed to delete the TXT record %s, ignoring: %s", rec->name,
                                    d->r53.error);
                else
                        log_debug("Deleted the TXT record %s from Route 53 zone %s.", rec->name, rec->zone_id);
                rec->published = false;
        }
        records_clear(d);
}
