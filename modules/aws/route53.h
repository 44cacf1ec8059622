/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "aws/aws.h"

/* Amazon Route 53 (REST-XML, API 2013-04-01), what ACME's dns-01 needs: the
 * hosted zone of a name, a TXT record set published (UPSERT) and deleted
 * again, and a change followed until Route 53 says INSYNC. Route 53 is
 * global: signed for us-east-1 whatever the instance's region. No DNS
 * query of kiln's own: Route 53's word is trusted. */

#define ROUTE53_TXT_TTL 10L
#define ROUTE53_MAX_VALUES 100 /* values in one TXT record set */
#define ROUTE53_MAX_ANSWER (1024 * 1024)

struct route53 {
        struct aws_client client;
        char error[768]; /* the last failure, one line for the log */
        bool retry; /* the last failure is worth trying again later */
};

/* endpoint_override: acme.route53.endpoint (may be NULL); the environment's
 * AWS_ENDPOINT_URL_ROUTE_53 and AWS_ENDPOINT_URL win (see aws_endpoint()). */
int route53_init(struct route53 *r, const char *endpoint_override, struct aws_creds_provider *creds);
void route53_done(struct route53 *r);

/* "Z123ABC" or "/hostedzone/Z123ABC" -> "Z123ABC". -EINVAL for anything
 * else (letters and digits only, at most 32). */
int route53_zone_id_parse(const char *s, char **ret);

/* A hosted zone as ListHostedZonesByName gives it. */
struct route53_zone {
        char *id; /* "Z123", without "/hostedzone/" */
        char *name; /* lowercase, without the trailing dot */
        bool private_zone;
};
void route53_zones_free(struct route53_zone *z, size_t n);

/* A ListHostedZonesByName answer: the zones, and where the next page starts
 * (*ret_next_name and *ret_next_id NULL on the last page). -EBADMSG for an
 * answer that is not one. */
int route53_parse_zones(const char *xml, size_t len, struct route53_zone **ret, size_t *ret_n, char **ret_next_name,
                        char **ret_next_id);

/* The most specific public zone that holds name (the zone's name is name, or
 * a suffix of it at a label boundary; case and trailing dots ignored): its
 * index. -ENOENT when none, -ENOTUNIQ when two public zones of that name
 * exist (then *ret is one of them). Private zones are never chosen: the CA
 * asks the public DNS. */
int route53_pick_zone(const struct route53_zone *z, size_t n, const char *name, size_t *ret);

/* The zone for record name: ListHostedZonesByName for name, then each of its
 * parents, most specific first, until a public zone is found. *ret_id
 * ("Z..."), *ret_name (may be NULL). On failure r->error says why. */
int route53_find_zone(struct route53 *r, const char *name, char **ret_id, char **ret_name);

/* The ChangeResourceRecordSets body: one change, action ("UPSERT",
 * "DELETE") of the TXT record set name (a trailing '.' is added) holding
 * every value, each quoted, with ttl. */
int route53_change_body(const char *action, const char *name, char *const *values, long ttl, char **ret);

/* POSTs that change to zone_id; *ret_change_id ("C..."), and *ret_insync
 * when Route 53 says it is done already. */
int route53_change(struct route53 *r, const char *zone_id, const char *action, const char *name, char *const *values,
                   long ttl, char **ret_change_id, bool *ret_insync);

/* GetChange: 1 INSYNC, 0 PENDING, negative on failure (r->error). */
int route53_change_insync(struct route53 *r, const char *change_id);
