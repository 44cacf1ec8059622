/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "acme/acme-internal.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "strbuf.h"

/* One order, RFC 8555 section 7.4: newOrder, each authorization's http-01
 * challenge (checked locally first) or dns-01 challenge (every TXT record
 * published first, see dns01.c), finalize with a CSR, the chain. */

#define POLL_FIRST_MS 50L
#define POLL_MAX_MS 3000L

struct order {
        struct acme_client *c;
        long deadline_ms; /* CLOCK_MONOTONIC */
        char *url;
        json_t *body;
};

const char *acme_order_profile(const json_t *directory, const char *profile) {
        json_t *profiles = json_object_get(json_object_get(directory, "meta"), "profiles");

        if (!profile || !json_object_get(profiles, profile))
                return NULL;
        return profile;
}

static int order_payload(struct acme_client *c, char *const *domains, const char *replaces, char **ret) {
        _cleanup_json_ json_t *p = json_pack("{s:[]}", "identifiers");
        json_t *ids = json_object_get(p, "identifiers");
        const char *profile = acme_order_profile(c->directory, c->cfg->profile);

        for (char *const *d = domains; ids && *d; d++)
                if (json_array_append_new(ids, json_pack("{s:s, s:s}", "type", "dns", "value", *d)) < 0)
                        return -ENOMEM;
        if (!ids)
                return -ENOMEM;
        if (c->cfg->profile && !profile)
                log_warning("ACME profile '%s' is not offered by %s, ordering without it.", c->cfg->profile,
                            c->cfg->directory);
        if (profile)
                json_object_set_new(p, "profile", json_string(profile));
        if (replaces)
                json_object_set_new(p, "replaces", json_string(replaces));
        *ret = json_dumps(p, JSON_COMPACT);
        return *ret ? 0 : -ENOMEM;
}

/* POST-as-GET url until its "status" leaves pending/processing. */
static int poll_status(struct order *o, const char *url, json_t **ret) {
        long delay = POLL_FIRST_MS;

        for (;;) {
                _cleanup_http_response_ struct http_response *resp = NULL;
                json_t *j;
                const char *st;
                int r;

                kiln_keepalive();
                r = acme_post(o->c, url, "", false, NULL, &resp);
                if (r < 0)
                        return r;
                j = json_loadb(resp->body, resp->body_len, 0, NULL);
                st = json_string_value(json_object_get(j, "status"));
                if (!st) {
                        json_decref(j);
                        return acme_errorf(o->c, -EBADMSG, "ACME %s: no status in the answer", url);
                }
                if (!streq(st, "pending") && !streq(st, "processing")) {
                        *ret = j;
                        return 0;
                }
                json_decref(j);
                /* Start fast, back off, honour the CA's Retry-After. */
                if (resp->retry_after_ms > delay)
                        delay = resp->retry_after_ms;
                if (now_ms() + delay > o->deadline_ms)
                        return acme_errorf(o->c, -ETIMEDOUT, "ACME %s still '%s' at the order's time limit", url, st);
                sleep_ms(delay);
                delay = delay * 2 > POLL_MAX_MS ? POLL_MAX_MS : delay * 2;
        }
}

static json_t *find_challenge(json_t *authz, const char *type) {
        size_t i;
        json_t *ch;

        json_array_foreach(json_object_get(authz, "challenges"), i, ch)
                if (streq(json_string_value(json_object_get(ch, "type")) ?: "", type))
                        return ch;
        return NULL;
}

/* Fetches our own challenge URL through the local web server, as the CA
 * will, so a broken setup fails here and not as a failed validation. */
static int self_check(struct acme_client *c, const char *domain, const char *token, const char *keyauth) {
        _cleanup_free_ char *url = NULL, *resolve = NULL;
        _cleanup_http_response_ struct http_response *resp = NULL;
        char err[HTTP_ERROR_MAX] = "";
        const char *res[] = {NULL, NULL};
        struct http_request req = {.error = err,
                                   .max_attempts = 3,
                                   .retry_on = HTTP_RETRY_NETWORK | HTTP_RETRY_5XX,
                                   .budget_ms = 5000,
                                   .timeout_ms = 3000,
                                   .connect_timeout_ms = 1000,
                                   .backoff_base_ms = 200,
                                   .max_body = 4096,
                                   .no_proxy = true};
        int r;

        url = strdup_printf("http://%s:%d/.well-known/acme-challenge/%s", domain, c->cfg->http_port, token);
        resolve = strdup_printf("%s:%d:127.0.0.1", domain, c->cfg->http_port);
        if (!url || !resolve)
                return -ENOMEM;
        res[0] = resolve;
        req.url = url;
        req.resolve = res;
        r = http_request(&req, &resp);
        if (r < 0)
                return acme_errorf(c, r, "http-01 self-check: %s does not answer locally: %s", url,
                                   err[0] ? err : strerror(-r));
        if (resp->status != 200 || !streq(strstrip(resp->body), keyauth))
                return acme_errorf(c, -EREMOTEIO,
                                   "http-01 self-check: %s answers HTTP %ld without the key authorization "
                                   "(is the challenge location in the web server?)",
                                   url, resp->status);
        return 0;
}

static int challenge_error(struct order *o, const char *domain, json_t *authz, const char *ch_type) {
        json_t *ch = find_challenge(authz, ch_type);
        json_t *err = json_object_get(ch, "error");
        const char *detail = json_string_value(json_object_get(err, "detail"));
        const char *type = json_string_value(json_object_get(err, "type"));

        return acme_errorf(o->c, -EREMOTEIO, "ACME validation of '%s' failed: %s%s%s", domain, type ? type : "invalid",
                           detail ? ": " : "", detail ? detail : "");
}

static int authorize(struct order *o, const char *url) {
        _cleanup_json_ json_t *authz = NULL, *done = NULL, *ignored = NULL;
        _cleanup_free_ char *keyauth = NULL;
        const char *domain, *token, *ch_url;
        json_t *ch;
        int r;

        r = acme_post_json(o->c, url, "", &authz, NULL);
        if (r < 0)
                return r;
        domain = json_string_value(json_object_get(json_object_get(authz, "identifier"), "value")) ?: "?";
        if (streq(json_string_value(json_object_get(authz, "status")) ?: "", "valid"))
                return 0;
        ch = find_challenge(authz, "http-01");
        token = json_string_value(json_object_get(ch, "token"));
        ch_url = json_string_value(json_object_get(ch, "url"));
        if (!token || !ch_url)
                return acme_errorf(o->c, -EOPNOTSUPP, "ACME offers no http-01 challenge for '%s'", domain);
        keyauth = strdup_printf("%s.%s", token, o->c->thumbprint);
        if (!keyauth)
                return -ENOMEM;
        r = self_check(o->c, domain, token, keyauth);
        if (r >= 0 && o->c->on_http01)
                r = o->c->on_http01(o->c->hook_userdata, token, keyauth);
        if (r < 0)
                return r;
        r = acme_post_json(o->c, ch_url, "{}", &ignored, NULL);
        if (r < 0)
                return r;
        r = poll_status(o, url, &done);
        if (o->c->on_http01)
                (void) o->c->on_http01(o->c->hook_userdata, token, NULL);
        if (r < 0)
                return r;
        if (!streq(json_string_value(json_object_get(done, "status")), "valid"))
                return challenge_error(o, domain, done, "http-01");
        return 0;
}

static int order_refresh(struct order *o, const char *want) {
        json_t *j = NULL;
        int r;

        r = poll_status(o, o->url, &j);
        if (r < 0)
                return r;
        json_decref(o->body);
        o->body = j;
        if (!streq(json_string_value(json_object_get(j, "status")), want)) {
                json_t *err = json_object_get(j, "error");
                return acme_errorf(o->c, -EREMOTEIO, "ACME order is '%s', not '%s'%s%s",
                                   json_string_value(json_object_get(j, "status")), want, err ? ": " : "",
                                   err ? json_string_value(json_object_get(err, "detail")) ?: "" : "");
        }
        return 0;
}

/* dns-01: each pending authorization's TXT value collected, all published
 * and INSYNC, then every challenge answered, then each polled; the records
 * deleted whatever happened. */
struct dns_authz {
        const char *url;
        char *domain;
        char *ch_url;
};

static int dns_collect(struct order *o, struct dns_authz *pending, size_t *n) {
        size_t i;
        json_t *a;
        int r;

        json_array_foreach(json_object_get(o->body, "authorizations"), i, a) {
                _cleanup_json_ json_t *authz = NULL;
                _cleanup_free_ char *value = NULL;
                json_t *id, *ch;
                const char *domain, *token, *ch_url;

                if (!json_is_string(a))
                        return acme_errorf(o->c, -EBADMSG, "ACME order has an invalid authorization");
                r = acme_post_json(o->c, json_string_value(a), "", &authz, NULL);
                if (r < 0)
                        return r;
                if (streq(json_string_value(json_object_get(authz, "status")) ?: "", "valid"))
                        continue;
                id = json_object_get(authz, "identifier");
                domain = json_string_value(json_object_get(id, "value"));
                ch = find_challenge(authz, "dns-01");
                token = json_string_value(json_object_get(ch, "token"));
                ch_url = json_string_value(json_object_get(ch, "url"));
                if (!domain)
                        return acme_errorf(o->c, -EBADMSG, "ACME authorization without an identifier");
                if (!token || !ch_url)
                        return acme_errorf(o->c, -EOPNOTSUPP, "ACME offers no dns-01 challenge for '%s%s'",
                                           json_is_true(json_object_get(authz, "wildcard")) ? "*." : "", domain);
                r = dns01_txt_value(token, o->c->thumbprint, &value);
                if (r < 0)
                        return r;
                r = dns01_add(o->c->dns01, domain, value);
                if (r < 0)
                        return r;
                struct dns_authz *p = &pending[(*n)++];
                *p = (struct dns_authz){
                        .url = json_string_value(a),
                        .domain = strdup_printf("%s%s", json_is_true(json_object_get(authz, "wildcard")) ? "*." : "",
                                                domain),
                        .ch_url = strdup(ch_url)};
                if (!p->domain || !p->ch_url)
                        return -ENOMEM;
        }
        return 0;
}

static int dns_validate(struct order *o, struct dns_authz *pending, size_t n) {
        int r;

        r = dns01_publish(o->c->dns01, o->c, o->deadline_ms);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_json_ json_t *ignored = NULL;
                r = acme_post_json(o->c, pending[i].ch_url, "{}", &ignored, NULL);
        }
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_json_ json_t *done = NULL;
                r = poll_status(o, pending[i].url, &done);
                if (r >= 0 && !streq(json_string_value(json_object_get(done, "status")) ?: "", "valid"))
                        r = challenge_error(o, pending[i].domain, done, "dns-01");
        }
        return r;
}

static int authorize_dns01(struct order *o) {
        size_t total = json_array_size(json_object_get(o->body, "authorizations")), n = 0;
        _cleanup_free_ struct dns_authz *pending = calloc(total + 1, sizeof(*pending));
        _cleanup_free_ char *error = NULL;
        int r;

        if (!pending)
                return -ENOMEM;
        if (!o->c->dns01) {
                r = dns01_new(o->c->cfg, &o->c->dns01, &error);
                if (r < 0)
                        return acme_errorf(o->c, r, "dns-01: %s", error ? error : strerror(-r));
        }
        dns01_begin(o->c->dns01);
        r = dns_collect(o, pending, &n);
        if (r >= 0 && n > 0)
                r = dns_validate(o, pending, n);
        dns01_cleanup(o->c->dns01);
        for (size_t i = 0; i < n; i++) {
                free(pending[i].domain);
                free(pending[i].ch_url);
        }
        return r;
}

static int authorize_all(struct order *o) {
        size_t i;
        json_t *a;
        int r;

        if (o->c->challenge == ACME_CHALLENGE_DNS01)
                return authorize_dns01(o);

        json_array_foreach(json_object_get(o->body, "authorizations"), i, a) {
                if (!json_is_string(a))
                        return acme_errorf(o->c, -EBADMSG, "ACME order has an invalid authorization");
                r = authorize(o, json_string_value(a));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int finalize(struct order *o, char *const *domains, const struct kiln_key *key) {
        _cleanup_free_ char *csr = NULL, *payload = NULL;
        _cleanup_json_ json_t *ignored = NULL;
        const char *url = json_string_value(json_object_get(o->body, "finalize"));
        int r;

        if (!url)
                return acme_errorf(o->c, -EBADMSG, "ACME order has no finalize URL");
        r = key_csr(key, domains, &csr);
        if (r < 0)
                return acme_errorf(o->c, r, "Failed to make the CSR: %s", strerror(-r));
        payload = strdup_printf("{\"csr\":\"%s\"}", csr);
        if (!payload)
                return -ENOMEM;
        r = acme_post_json(o->c, url, payload, &ignored, NULL);
        if (r < 0)
                return r;
        return order_refresh(o, "valid");
}

static int download(struct order *o, char **ret) {
        _cleanup_http_response_ struct http_response *resp = NULL;
        const char *url = json_string_value(json_object_get(o->body, "certificate"));
        int r;

        if (!url)
                return acme_errorf(o->c, -EBADMSG, "ACME order is valid without a certificate URL");
        r = acme_post(o->c, url, "", false, "application/pem-certificate-chain", &resp);
        if (r < 0)
                return r;
        if (!strstr(resp->body, "-----BEGIN CERTIFICATE-----"))
                return acme_errorf(o->c, -EBADMSG, "ACME certificate %s is not a PEM chain", url);
        *ret = TAKE_PTR(resp->body);
        return 0;
}

static int new_order(struct order *o, char *const *domains, const char *replaces) {
        _cleanup_free_ char *payload = NULL;
        const char *url = acme_directory_url(o->c, "newOrder");
        int r;

        r = order_payload(o->c, domains, replaces, &payload);
        if (r < 0)
                return r;
        r = acme_post_json(o->c, url, payload, &o->body, &o->url);
        if (r < 0)
                return r;
        if (!o->url)
                return acme_errorf(o->c, -EBADMSG, "ACME newOrder answered without a Location");
        return 0;
}

static int issue_once(struct acme_client *c, char *const *domains, const struct kiln_key *key, const char *replaces,
                      char **ret) {
        struct order o = {.c = c, .deadline_ms = now_ms() + c->cfg->order_timeout_ms};
        int r;

        r = new_order(&o, domains, replaces);
        if (r < 0 && replaces && r != -EBUSY && r != -EACCES) {
                /* RFC 9773: a CA may refuse `replaces`; order without it. */
                log_info("ACME refused 'replaces' (%s), ordering without it.", c->error);
                r = new_order(&o, domains, NULL);
        }
        if (r >= 0 && !streq(json_string_value(json_object_get(o.body, "status")) ?: "", "ready") &&
            !streq(json_string_value(json_object_get(o.body, "status")) ?: "", "valid"))
                r = authorize_all(&o);
        if (r >= 0 && !streq(json_string_value(json_object_get(o.body, "status")) ?: "", "valid")) {
                r = order_refresh(&o, "ready");
                if (r >= 0)
                        r = finalize(&o, domains, key);
        }
        if (r >= 0)
                r = download(&o, ret);
        free(o.url);
        json_decref(o.body);
        return r;
}

int acme_issue(struct acme_client *c, char *const *domains, const struct kiln_key *key, const char *replaces,
               char **ret) {
        int r;

        r = acme_account(c);
        if (r < 0)
                return r;
        r = issue_once(c, domains, key, replaces, ret);
        if (r != -EACCES)
                return r;
        /* The CA forgot our account (a test CA restarted): register again, once. */
        log_info("ACME account unknown to the CA (%s), registering again.", c->error);
        r = acme_account_forget(c);
        if (r >= 0)
                r = acme_account(c);
        if (r < 0)
                return r;
        return issue_once(c, domains, key, replaces, ret);
}
