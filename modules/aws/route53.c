/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "aws/route53.h"
#include "clock.h"
#include "strbuf.h"

#define API "/2013-04-01"
#define XMLNS "https://route53.amazonaws.com/doc/2013-04-01/"
#define MAX_ATTEMPTS 3
#define RETRY_BASE_MS 400L
#define MAX_PAGES 10
#define MAX_ZONE_ID 32

_printf_(3, 4) static int fail(struct route53 *r, int err, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(r->error, sizeof(r->error), fmt, ap);
        va_end(ap);
        return err;
}

int route53_init(struct route53 *r, const char *endpoint_override, struct aws_creds_provider *creds) {
        *r = (struct route53){0};
        return aws_client_init(&r->client, &aws_route53, NULL, endpoint_override, false, creds);
}

void route53_done(struct route53 *r) {
        aws_client_done(&r->client);
}

int route53_zone_id_parse(const char *s, char **ret) {
        size_t n;

        if (!s)
                return -EINVAL;
        if (strneq(s, "/hostedzone/", 12))
                s += 12;
        n = strlen(s);
        if (n == 0 || n > MAX_ZONE_ID)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!isupper((unsigned char) s[i]) && !isdigit((unsigned char) s[i]))
                        return -EINVAL;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

void route53_zones_free(struct route53_zone *z, size_t n) {
        for (size_t i = 0; z && i < n; i++) {
                free(z[i].id);
                free(z[i].name);
        }
        free(z);
}

/* Lowercase, without a trailing dot. */
static char *dns_name(const char *s) {
        char *c = strdup(s);
        size_t n;

        if (!c)
                return NULL;
        for (char *p = c; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        n = strlen(c);
        if (n > 0 && c[n - 1] == '.')
                c[n - 1] = 0;
        return c;
}

int route53_parse_zones(const char *xml, size_t len, struct route53_zone **ret, size_t *ret_n, char **ret_next_name,
                        char **ret_next_id) {
        _cleanup_(xml_freep) struct xml_node *x = NULL;
        struct route53_zone *zones = NULL;
        const struct xml_node *z;
        const char *truncated, *next_name, *next_id;
        size_t n = 0;
        int r;

        r = xml_parse(xml, len, &x);
        if (r < 0)
                return r;
        if (!streq(x->name, "ListHostedZonesByNameResponse"))
                return -EBADMSG;
        for (z = xml_path(x, "HostedZones/HostedZone"); z; z = xml_next(z)) {
                const char *id = xml_text(z, "Id"), *name = xml_text(z, "Name");
                const char *priv = xml_text(z, "Config/PrivateZone");
                struct route53_zone *l;
                char *zid = NULL;

                if (!id || !name || route53_zone_id_parse(id, &zid) < 0) {
                        route53_zones_free(zones, n);
                        return -EBADMSG;
                }
                l = realloc(zones, (n + 1) * sizeof(*zones));
                if (!l) {
                        free(zid);
                        route53_zones_free(zones, n);
                        return -ENOMEM;
                }
                zones = l;
                zones[n] = (struct route53_zone){
                        .id = zid, .name = dns_name(name), .private_zone = priv && streq(priv, "true")};
                if (!zones[n++].name) {
                        route53_zones_free(zones, n);
                        return -ENOMEM;
                }
        }
        truncated = xml_text(x, "IsTruncated");
        next_name = xml_text(x, "NextDNSName");
        next_id = xml_text(x, "NextHostedZoneId");
        *ret_next_name = *ret_next_id = NULL;
        if (truncated && streq(truncated, "true") && next_name && next_id) {
                *ret_next_name = strdup(next_name);
                *ret_next_id = strdup(next_id);
                if (!*ret_next_name || !*ret_next_id) {
                        free(*ret_next_name);
                        free(*ret_next_id);
                        *ret_next_name = *ret_next_id = NULL;
                        route53_zones_free(zones, n);
                        return -ENOMEM;
                }
        }
        *ret = zones;
        *ret_n = n;
        return 0;
}

/* Whether zone (normalized) is name or a suffix of it at a label boundary. */
static bool zone_holds(const char *zone, const char *name) {
        size_t zn = strlen(zone), nn = strlen(name);

        if (nn > 0 && name[nn - 1] == '.')
                nn--;
        if (zn == 0 || zn > nn || strncasecmp(name + nn - zn, zone, zn) != 0)
                return false;
        return zn == nn || name[nn - zn - 1] == '.';
}

int route53_pick_zone(const struct route53_zone *z, size_t n, const char *name, size_t *ret) {
        size_t best = SIZE_MAX;
        bool twice = false;

        for (size_t i = 0; i < n; i++) {
                if (z[i].private_zone || !zone_holds(z[i].name, name))
                        continue;
                if (best != SIZE_MAX && strlen(z[i].name) == strlen(z[best].name)) {
                        twice = true;
                        continue;
                }
                if (best == SIZE_MAX || strlen(z[i].name) > strlen(z[best].name)) {
                        best = i;
                        twice = false;
                }
        }
        if (best == SIZE_MAX)
                return -ENOENT;
        *ret = best;
        return twice ? -ENOTUNIQ : 0;
}

/* --- calls --- */

/* One call, tried again (up to MAX_ATTEMPTS, backing off with jitter) while
 * Route 53 says it is worth it: throttling, PriorRequestNotComplete, 5xx,
 * no answer. 0 for a 2xx answer in *res; otherwise r->error. */
static int call(struct route53 *r, const struct aws_call *c, struct aws_result *res) {
        long delay = RETRY_BASE_MS;
        int k;

        for (int attempt = 1;; attempt++) {
                k = aws_call(&r->client, c, res);
                if (k == -ENOMEM || k == -EINVAL)
                        return k;
                if (k >= 0 && aws_ok(res))
                        return 0;
                r->retry = res->retry;
                snprintf(r->error, sizeof(r->error), "%s", res->error);
                if (!res->retry || res->auth_failed || attempt >= MAX_ATTEMPTS)
                        break;
                aws_result_done(res);
                uint32_t jitter = 0;
                if (getrandom(&jitter, sizeof(jitter), GRND_NONBLOCK) != sizeof(jitter))
                        jitter = 0;
                sleep_ms(delay + (long) (jitter % (uint32_t) delay));
                delay *= 2;
        }
        if (k == -ENOKEY || res->auth_failed || res->status == 403)
                return -EACCES;
        if (streq(res->code, "NoSuchHostedZone"))
                return -ENOENT;
        return -EIO;
}

static int list_zones_page(struct route53 *r, const char *dnsname, const char *zone_id, struct route53_zone **ret,
                           size_t *ret_n, char **ret_next_name, char **ret_next_id) {
        _cleanup_free_ char *query = NULL;
        struct aws_result res = {0};
        int k;

        /* Canonical: keys sorted. Names are letters, digits, '-', '_', '.', '*'. */
        for (const char *p = dnsname; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("-_.", *p))
                        return fail(r, -EINVAL, "Route 53: cannot look up a zone for '%s'", dnsname);
        if (zone_id)
                query = strdup_printf("dnsname=%s&hostedzoneid=%s&maxitems=100", dnsname, zone_id);
        else
                query = strdup_printf("dnsname=%s&maxitems=100", dnsname);
        if (!query)
                return -ENOMEM;
        struct aws_call c = {
                .method = "GET", .path = API "/hostedzonesbyname", .query = query, .max_body = ROUTE53_MAX_ANSWER};
        k = call(r, &c, &res);
        if (k >= 0) {
                k = route53_parse_zones(res.response->body, res.response->body_len, ret, ret_n, ret_next_name,
                                        ret_next_id);
                if (k == -EBADMSG)
                        fail(r, k, "Route 53 ListHostedZonesByName: an answer kiln cannot read");
        }
        aws_result_done(&res);
        return k;
}

/* The zones named exactly suffix (all pages), picked for name. */
static int zone_for_suffix(struct route53 *r, const char *suffix, const char *name, char **ret_id, char **ret_name) {
        _cleanup_free_ char *next_name = NULL, *next_id = NULL;
        int k = -ENOENT;

        for (int page = 0; page < MAX_PAGES; page++) {
                struct route53_zone *zones = NULL;
                size_t n = 0, i;
                char *nn = NULL, *ni = NULL;
                bool more;

                k = list_zones_page(r, next_name ? next_name : suffix, next_id, &zones, &n, &nn, &ni);
                if (k < 0)
                        return k;
                free(next_name);
                free(next_id);
                next_name = nn;
                next_id = ni;
                k = route53_pick_zone(zones, n, name, &i);
                if (k == -ENOTUNIQ)
                        fail(r, k,
                             "Route 53 has two public hosted zones named '%s' (%s and another): set "
                             "acme.route53.hosted_zone_id",
                             zones[i].name, zones[i].id);
                else if (k >= 0) {
                        *ret_id = strdup(zones[i].id);
                        *ret_name = strdup(zones[i].name);
                        if (!*ret_id || !*ret_name)
                                k = -ENOMEM;
                }
                /* Zones come sorted by name: more of this name can only
                 * follow when the page ended on one. */
                more = next_name && n > 0 && streq(zones[n - 1].name, suffix);
                route53_zones_free(zones, n);
                if (k != -ENOENT || !more)
                        return k;
        }
        return k;
}

int route53_find_zone(struct route53 *r, const char *name, char **ret_id, char **ret_name) {
        _cleanup_free_ char *n = dns_name(name);
        _cleanup_free_ char *id = NULL, *zone = NULL;
        int k = -ENOENT;

        if (!n)
                return -ENOMEM;
        r->retry = false;
        /* Most specific first: NAME, then each parent. */
        for (const char *s = n; s && *s; s = strchr(s, '.') ? strchr(s, '.') + 1 : NULL) {
                k = zone_for_suffix(r, s, n, &id, &zone);
                if (k != -ENOENT)
                        break;
        }
        if (k == -ENOENT)
                return fail(r, k,
                            "Route 53: no public hosted zone holds '%s' (none named after it or a parent "
                            "domain); create one, or set acme.route53.hosted_zone_id",
                            n);
        if (k < 0)
                return k;
        *ret_id = TAKE_PTR(id);
        if (ret_name)
                *ret_name = TAKE_PTR(zone);
        return 0;
}

int route53_change_body(const char *action, const char *name, char *const *values, long ttl, char **ret) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        _cleanup_free_ char *ename = xml_escape(name);
        size_t n = strlen(name);
        int r;

        if (!ename)
                return -ENOMEM;
        if (n == 0 || !values || !values[0] || strv_length(values) > ROUTE53_MAX_VALUES)
                return -EINVAL;
        r = strbuf_printf(&b,
                          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                          "<ChangeResourceRecordSetsRequest xmlns=\"" XMLNS "\">"
                          "<ChangeBatch><Comment>kiln ACME dns-01</Comment><Changes><Change>"
                          "<Action>%s</Action><ResourceRecordSet><Name>%s%s</Name><Type>TXT</Type>"
                          "<TTL>%ld</TTL><ResourceRecords>",
                          action, ename, name[n - 1] == '.' ? "" : ".", ttl);
        for (char *const *v = values; r >= 0 && *v; v++) {
                _cleanup_free_ char *q = NULL, *e = NULL;
                /* A TXT value is one or more quoted strings: ours are
                 * base64url, with no quote or backslash to escape. */
                if (strpbrk(*v, "\"\\") || strlen(*v) > 255)
                        return -EINVAL;
                q = strdup_printf("\"%s\"", *v);
                e = q ? xml_escape(q) : NULL;
                if (!e)
                        return -ENOMEM;
                r = strbuf_printf(&b, "<ResourceRecord><Value>%s</Value></ResourceRecord>", e);
        }
        if (r >= 0)
                r = strbuf_puts(&b, "</ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch>"
                                    "</ChangeResourceRecordSetsRequest>\n");
        if (r < 0)
                return r;
        *ret = strbuf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

/* "/change/C123" -> "C123". */
static int change_id(const char *s, char **ret) {
        if (!s)
                return -EBADMSG;
        if (strneq(s, "/change/", 8))
                s += 8;
        if (!*s || strchr(s, '/'))
                return -EBADMSG;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p))
                        return -EBADMSG;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int route53_change(struct route53 *r, const char *zone_id, const char *action, const char *name, char *const *values,
                   long ttl, char **ret_change_id, bool *ret_insync) {
        _cleanup_free_ char *body = NULL, *path = NULL;
        _cleanup_(xml_freep) struct xml_node *x = NULL;
        struct aws_result res = {0};
        const char *st;
        int k;

        r->retry = false;
        k = route53_change_body(action, name, values, ttl, &body);
        if (k == -EINVAL)
                return fail(r, k, "Route 53: cannot publish the TXT record of '%s'", name);
        if (k < 0)
                return k;
        path = strdup_printf(API "/hostedzone/%s/rrset/", zone_id);
        if (!path)
                return -ENOMEM;
        const char *const headers[] = {"Content-Type: text/xml", NULL};
        struct aws_call c = {.method = "POST",
                             .path = path,
                             .headers = headers,
                             .body = body,
                             .body_len = strlen(body),
                             .max_body = ROUTE53_MAX_ANSWER};
        k = call(r, &c, &res);
        /* A DELETE tried again after an answer that got lost: gone is done. */
        if (k < 0 && streq(action, "DELETE") && streq(res.code, "InvalidChangeBatch") &&
            strstr(res.message, "not found")) {
                aws_result_done(&res);
                *ret_change_id = NULL;
                *ret_insync = true;
                return 0;
        }
        if (k == -ENOENT)
                fail(r, k,
                     "Route 53: hosted zone %s does not exist (NoSuchHostedZone): check acme.route53.hosted_zone_id",
                     zone_id);
        if (k >= 0 && (xml_parse(res.response->body, res.response->body_len, &x) < 0 ||
                       change_id(xml_text(x, "ChangeInfo/Id"), ret_change_id) < 0))
                k = fail(r, -EBADMSG, "Route 53 ChangeResourceRecordSets: an answer without a change ID");
        if (k >= 0) {
                st = xml_text(x, "ChangeInfo/Status");
                *ret_insync = st && streq(st, "INSYNC");
        }
        aws_result_done(&res);
        return k;
}

int route53_change_insync(struct route53 *r, const char *change_id) {
        _cleanup_free_ char *path = strdup_printf(API "/change/%s", change_id);
        _cleanup_(xml_freep) struct xml_node *x = NULL;
        struct aws_result res = {0};
        const char *st = NULL;
        int k;

        if (!path)
                return -ENOMEM;
        r->retry = false;
        struct aws_call c = {.method = "GET", .path = path, .max_body = ROUTE53_MAX_ANSWER};
        k = call(r, &c, &res);
        if (k >= 0 && xml_parse(res.response->body, res.response->body_len, &x) >= 0)
                st = xml_text(x, "ChangeInfo/Status");
        aws_result_done(&res);
        if (k < 0)
                return k;
        if (!st)
                return fail(r, -EBADMSG, "Route 53 GetChange %s: an answer without a status", change_id);
        return streq(st, "INSYNC") ? 1 : 0;
}
