/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "acme/acme-internal.h"
#include "clock.h"
#include "config.h"
#include "context.h"
#include "fileio.h"
#include "log.h"
#include "path.h"
#include "sha256.h"
#include "strbuf.h"

/* The RFC 8555 transport: the directory, a pool of nonces filled from every
 * Replay-Nonce, JWS-signed POSTs (RFC 7515 flattened JSON), problem
 * documents, and the account. */

#define NONCE_POOL_MAX 8
#define BAD_NONCE_RETRIES 20
/* A 5xx other than 503 (which says when, and is the caller's to wait):
 * a few more tries, with backoff, before the site's own backoff. */
#define SERVER_ERROR_RETRIES 3
#define SERVER_ERROR_BACKOFF_MS 500L
#define SERVER_ERROR_BACKOFF_MAX_MS 4000L
#define PROBLEM_PREFIX "urn:ietf:params:acme:error:"

int acme_errorf(struct acme_client *c, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(c->error, sizeof(c->error), fmt, ap);
        va_end(ap);
        return r;
}

int acme_client_new(const struct acme_config *cfg, struct acme_client **ret) {
        struct acme_client *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        c->cfg = cfg;
        c->retry = ACME_RETRY_BACKOFF;
        *ret = c;
        return 0;
}

void acme_client_begin_site(struct acme_client *c) {
        c->error[0] = 0;
        c->retry = ACME_RETRY_BACKOFF;
        c->retry_after_s = 0;
}

/* 0, or the error that took the CA down earlier in this run (in c->error). */
static int ca_down(struct acme_client *c) {
        if (c->down >= 0)
                return 0;
        memcpy(c->error, c->down_error, sizeof(c->error));
        return c->down;
}

static int mark_down(struct acme_client *c, int r) {
        c->down = r;
        memcpy(c->down_error, c->error, sizeof(c->down_error));
        return r;
}

void acme_client_free(struct acme_client *c) {
        if (!c)
                return;
        json_decref(c->directory);
        strv_free(c->nonces);
        key_free(c->account_key);
        free(c->account_path);
        free(c->kid);
        free(c->thumbprint);
        dns01_free(c->dns01);
        free(c);
}

void acme_http_defaults(const struct acme_client *c, struct http_request *req) {
        req->ca_file = c->cfg->ca_file;
        req->max_attempts = 4;
        req->retry_on = HTTP_RETRY_NETWORK | HTTP_RETRY_5XX;
        req->budget_ms = 20000;
        req->timeout_ms = 15000;
        req->connect_timeout_ms = 3000;
        req->backoff_base_ms = 250;
        req->max_body = 1024 * 1024;
}

/* Turns a transport failure into a sentence a person can act on. A CA
 * that cannot be reached (after the request's own retries) is down for
 * the rest of the run. */
static int transport_error(struct acme_client *c, int r, const char *url, const char *detail) {
        if (r == -EPROTO)
                return acme_errorf(c, r,
                                   "TLS with the ACME server %s failed: %s (its certificate is not trusted? set "
                                   "acme.ca_file for a test CA)",
                                   url, detail);
        acme_errorf(c, r, "ACME server %s unreachable: %s", url, detail[0] ? detail : strerror(-r));
        if (r == -ETIMEDOUT || r == -ECONNREFUSED || r == -ECONNRESET || r == -EHOSTUNREACH)
                return mark_down(c, r);
        return r;
}

static void nonce_save(struct acme_client *c, const struct http_response *resp) {
        const char *n = http_response_header(resp, "Replay-Nonce");

        if (n && *n && strv_length(c->nonces) < NONCE_POOL_MAX)
                (void) strv_push(&c->nonces, n);
}

int acme_directory(struct acme_client *c) {
        char err[HTTP_ERROR_MAX] = "";
        struct http_request req = {.url = c->cfg->directory, .error = err};
        _cleanup_http_response_ struct http_response *resp = NULL;
        json_t *dir;
        int r;

        r = ca_down(c);
        if (r < 0 || c->directory)
                return r;
        /* Whatever keeps the directory away is the CA down for this run. */
        acme_http_defaults(c, &req);
        r = http_request(&req, &resp);
        if (r < 0)
                return mark_down(c, transport_error(c, r, c->cfg->directory, err));
        c->requests++;
        if (resp->status != 200)
                return mark_down(c, acme_errorf(c, -EPROTO, "ACME directory %s answered HTTP %ld", c->cfg->directory,
                                                resp->status));
        dir = json_loadb(resp->body, resp->body_len, 0, NULL);
        if (!json_is_object(dir) || !json_is_string(json_object_get(dir, "newOrder"))) {
                json_decref(dir);
                return mark_down(
                        c, acme_errorf(c, -EBADMSG, "ACME directory %s is not an ACME directory", c->cfg->directory));
        }
        c->directory = dir;
        return 0;
}

const char *acme_directory_url(const struct acme_client *c, const char *name) {
        return json_string_value(json_object_get(c->directory, name));
}

static int nonce_fetch(struct acme_client *c) {
        char err[HTTP_ERROR_MAX] = "";
        struct http_request req = {.method = "HEAD", .error = err};
        _cleanup_http_response_ struct http_response *resp = NULL;
        int r;

        r = ca_down(c);
        if (r < 0)
                return r;
        req.url = acme_directory_url(c, "newNonce");
        if (!req.url)
                return acme_errorf(c, -EBADMSG, "ACME directory has no newNonce");
        acme_http_defaults(c, &req);
        r = http_request(&req, &resp);
        if (r < 0)
                return transport_error(c, r, req.url, err);
        c->requests++;
        nonce_save(c, resp);
        if (!c->nonces)
                return acme_errorf(c, -EPROTO, "ACME newNonce gave no Replay-Nonce (HTTP %ld)", resp->status);
        return 0;
}

static int nonce_take(struct acme_client *c, char **ret) {
        size_t n;
        int r;

        if (!c->nonces) {
                r = nonce_fetch(c);
                if (r < 0)
                        return r;
        }
        n = strv_length(c->nonces);
        *ret = c->nonces[n - 1];
        c->nonces[n - 1] = NULL;
        if (n == 1) {
                free(c->nonces);
                c->nonces = NULL;
        }
        return 0;
}

const char *acme_jws_alg(enum key_type t) {
        switch (t) {
        case KEY_EC_P256: return "ES256";
        case KEY_EC_P384: return "ES384";
        default: return "RS256";
        }
}

/* Flattened JWS JSON: {"protected", "payload", "signature"}. */
int acme_jws(const struct kiln_key *k, const char *protected_json, const char *payload, char **ret) {
        _cleanup_free_ char *p64 = NULL, *b64 = NULL, *input = NULL, *sig = NULL;
        _cleanup_json_ json_t *jws = NULL;
        const char *alg;
        int r;

        r = base64url_encode(protected_json, strlen(protected_json), &p64);
        if (r < 0)
                return r;
        r = base64url_encode(payload, strlen(payload), &b64);
        if (r < 0)
                return r;
        input = strdup_printf("%s.%s", p64, b64);
        if (!input)
                return -ENOMEM;
        r = key_sign_jws(k, input, strlen(input), &sig, &alg);
        if (r < 0)
                return r;
        jws = json_pack("{s:s, s:s, s:s}", "protected", p64, "payload", b64, "signature", sig);
        if (!jws)
                return -ENOMEM;
        *ret = json_dumps(jws, JSON_COMPACT);
        return *ret ? 0 : -ENOMEM;
}

static json_t *protected_header(struct acme_client *c, const char *url, const char *nonce, bool jwk) {
        json_t *h = json_pack("{s:s, s:s, s:s}", "alg", acme_jws_alg(key_get_type(c->account_key)), "nonce", nonce,
                              "url", url);
        json_t *k = NULL;

        if (!h)
                return NULL;
        if (jwk && key_public_jwk(c->account_key, &k) >= 0)
                json_object_set_new(h, "jwk", k);
        else if (!jwk && c->kid)
                json_object_set_new(h, "kid", json_string(c->kid));
        else {
                json_decref(h);
                return NULL;
        }
        return h;
}

static int problem_type(const struct http_response *resp, const char **ret_short, json_t **ret_doc) {
        json_t *doc = json_loadb(resp->body, resp->body_len, 0, NULL);
        const char *type = json_string_value(json_object_get(doc, "type"));

        *ret_doc = doc;
        *ret_short = type && strneq(type, PROBLEM_PREFIX, strlen(PROBLEM_PREFIX)) ? type + strlen(PROBLEM_PREFIX)
                                                                                  : (type ? type : "");
        return 0;
}

/* Describes a CA problem in c->error and sets how to retry. */
static int problem_error(struct acme_client *c, const char *url, const struct http_response *resp) {
        _cleanup_json_ json_t *doc = NULL;
        const char *type, *detail;
        int r = -EPROTO;

        problem_type(resp, &type, &doc);
        detail = json_string_value(json_object_get(doc, "detail"));
        c->retry = ACME_RETRY_BACKOFF;
        c->retry_after_s = 0;
        if (streq(type, "rateLimited") || resp->status == 503 || resp->status == 429) {
                c->retry = ACME_RETRY_AFTER;
                c->retry_after_s = resp->retry_after_ms > 0 ? resp->retry_after_ms / 1000 : 3600;
                r = -EBUSY;
        } else if (streq(type, "accountDoesNotExist") || streq(type, "unauthorized"))
                r = -EACCES;
        return acme_errorf(c, r, "ACME %s: HTTP %ld %s%s%s", url, resp->status, *type ? type : "error",
                           detail ? ": " : "", detail ? detail : "");
}

static int post_once(struct acme_client *c, const char *url, const char *payload, bool jwk, const char *accept,
                     struct http_response **ret) {
        _cleanup_free_ char *nonce = NULL, *prot = NULL, *body = NULL, *accept_h = NULL;
        _cleanup_json_ json_t *h = NULL;
        char err[HTTP_ERROR_MAX] = "";
        const char *headers[3] = {"Content-Type: application/jose+json", NULL, NULL};
        struct http_request req = {.method = "POST", .url = url, .error = err, .headers = headers};
        int r;

        r = ca_down(c);
        if (r >= 0)
                r = nonce_take(c, &nonce);
        if (r < 0)
                return r;
        h = protected_header(c, url, nonce, jwk);
        prot = h ? json_dumps(h, JSON_COMPACT) : NULL;
        if (!prot)
                return -ENOMEM;
        r = acme_jws(c->account_key, prot, payload, &body);
        if (r < 0)
                return acme_errorf(c, r, "Failed to sign an ACME request: %s", strerror(-r));
        if (accept) {
                accept_h = strdup_printf("Accept: %s", accept);
                headers[1] = accept_h;
        }
        acme_http_defaults(c, &req);
        req.body = body;
        req.body_len = strlen(body);
        /* A replayed POST with a used nonce is refused anyway; retry
         * transport errors only, 5xx go through the caller's badNonce loop. */
        req.retry_on = HTTP_RETRY_NETWORK;
        r = http_request(&req, ret);
        if (r < 0)
                return transport_error(c, r, url, err);
        c->requests++;
        nonce_save(c, *ret);
        return 0;
}

/* Before another try after a 5xx: backoff, or the CA's Retry-After when
 * longer (up to the cap). */
static void server_error_wait(const struct http_response *resp, unsigned n) {
        long delay = http_backoff_ms(n, SERVER_ERROR_BACKOFF_MS, SERVER_ERROR_BACKOFF_MAX_MS);

        if (resp->retry_after_ms > delay)
                delay = resp->retry_after_ms < SERVER_ERROR_BACKOFF_MAX_MS ? resp->retry_after_ms
                                                                           : SERVER_ERROR_BACKOFF_MAX_MS;
        kiln_keepalive();
        sleep_ms(delay);
}

int acme_post(struct acme_client *c, const char *url, const char *payload, bool jwk, const char *accept,
              struct http_response **ret) {
        unsigned bad_nonces = 0, server_errors = 0;

        for (;;) {
                _cleanup_http_response_ struct http_response *resp = NULL;
                _cleanup_json_ json_t *doc = NULL;
                const char *type;
                int r;

                if (c->tick && (r = c->tick(c->hook_userdata)) < 0)
                        return acme_errorf(c, r, "Order stopped: the fleet lock was lost");
                r = post_once(c, url, payload, jwk, accept, &resp);
                if (r < 0)
                        return r;
                if (resp->status >= 200 && resp->status < 300) {
                        *ret = TAKE_PTR(resp);
                        return 0;
                }
                problem_type(resp, &type, &doc);
                /* badNonce carries a fresh nonce: again at once (RFC 8555 6.5). */
                if (streq(type, "badNonce") && bad_nonces++ < BAD_NONCE_RETRIES) {
                        c->bad_nonces++;
                        continue;
                }
                if (resp->status >= 500 && resp->status != 503 && server_errors++ < SERVER_ERROR_RETRIES) {
                        server_error_wait(resp, server_errors);
                        continue;
                }
                return problem_error(c, url, resp);
        }
}

int acme_post_json(struct acme_client *c, const char *url, const char *payload, json_t **ret_json,
                   char **ret_location) {
        _cleanup_http_response_ struct http_response *resp = NULL;
        json_t *j;
        int r;

        r = acme_post(c, url, payload, false, NULL, &resp);
        if (r < 0)
                return r;
        j = json_loadb(resp->body, resp->body_len, 0, NULL);
        if (!json_is_object(j)) {
                json_decref(j);
                return acme_errorf(c, -EBADMSG, "ACME %s: the answer is not a JSON object", url);
        }
        if (ret_location) {
                const char *loc = http_response_header(resp, "Location");
                *ret_location = loc ? strdup(loc) : NULL;
        }
        *ret_json = j;
        return 0;
}

/* --- account --- */

int acme_account_dir(const char *directory, char **ret) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        const char *p = strstr(directory, "://");

        p = p ? p + 3 : directory;
        for (; *p; p++) {
                char ch = (char) ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                                                  *p == '.' || *p == '-'
                                          ? *p
                                          : '_');
                if (strbuf_append(&b, &ch, 1) < 0)
                        return -ENOMEM;
        }
        if (!b.data || b.data[0] == '.')
                return -EINVAL;
        return root_path(ret, ACME_ACCOUNTS_DIR "/%s", b.data);
}

/* The thumbprint is public (it is in every http-01 answer); kept next to
 * the key for web servers and tools that answer challenges. */
static void publish_thumbprint(struct acme_client *c) {
        _cleanup_free_ char *path = strdup_printf("%s/thumbprint", c->account_path), *old = NULL;

        if (!path || (read_file(path, 256, &old, NULL) >= 0 && streq(strstrip(old), c->thumbprint)))
                return;
        c->thumbprint_new = true;
        if (write_file_atomic(path, c->thumbprint, strlen(c->thumbprint), 0644) < 0)
                log_warning("Failed to write %s, ignoring.", path);
}

int acme_load_account_key(struct acme_client *c) {
        _cleanup_free_ char *key = NULL, *dir = NULL;
        int r;

        if (c->account_key)
                return 0;
        r = acme_account_dir(c->cfg->directory, &dir);
        if (r < 0)
                return acme_errorf(c, r, "Invalid ACME directory URL '%s'", c->cfg->directory);
        r = mkdir_p(dir, 0700);
        key = strdup_printf("%s/account.key", dir);
        if (r < 0 || !key)
                return acme_errorf(c, r < 0 ? r : -ENOMEM, "Failed to create %s: %s", dir, strerror(-r));
        /* The account key is always ECDSA P-256 (ES256). */
        r = key_load_or_create(key, KEY_EC_P256, &c->account_key);
        if (r < 0)
                return acme_errorf(c, r, "Failed to load or create the ACME account key: %s", strerror(-r));
        r = key_thumbprint(c->account_key, &c->thumbprint);
        if (r < 0)
                return acme_errorf(c, r, "Failed to compute the account key thumbprint");
        c->account_path = TAKE_PTR(dir);
        publish_thumbprint(c);
        return 0;
}

static int hmac_sha256_b64(const unsigned char *key, size_t key_len, const char *data, char **ret) {
        uint8_t mac[SHA256_DIGEST_SIZE];

        hmac_sha256(key, key_len, data, strlen(data), mac);
        return base64url_encode(mac, sizeof(mac), ret);
}

/* RFC 8555 7.3.4: a JWS over the account's JWK, MACed with the CA's key. */
int acme_eab_jws(const char *kid, const char *hmac_key_b64, const char *url, const json_t *jwk, json_t **ret) {
        _cleanup_free_ unsigned char *key = NULL;
        _cleanup_free_ char *prot = NULL, *payload = NULL, *p64 = NULL, *b64 = NULL, *input = NULL, *sig = NULL;
        _cleanup_json_ json_t *h = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", kid, "url", url);
        size_t key_len = 0;
        int r;

        r = base64url_decode(hmac_key_b64, &key, &key_len);
        if (r < 0)
                return r;
        prot = h ? json_dumps(h, JSON_COMPACT) : NULL;
        payload = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
        if (!prot || !payload || base64url_encode(prot, strlen(prot), &p64) < 0 ||
            base64url_encode(payload, strlen(payload), &b64) < 0 || !(input = strdup_printf("%s.%s", p64, b64)))
                return -ENOMEM;
        r = hmac_sha256_b64(key, key_len, input, &sig);
        explicit_bzero(key, key_len);
        if (r < 0)
                return r;
        *ret = json_pack("{s:s, s:s, s:s}", "protected", p64, "payload", b64, "signature", sig);
        return *ret ? 0 : -ENOMEM;
}

static int account_payload(struct acme_client *c, const char *url, char **ret) {
        _cleanup_json_ json_t *p = json_pack("{s:b}", "termsOfServiceAgreed", 1);
        json_t *eab = NULL, *jwk = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        if (c->cfg->email)
                json_object_set_new(p, "contact", json_pack("[s+]", "mailto:", c->cfg->email));
        if (c->cfg->eab_kid) {
                r = key_public_jwk(c->account_key, &jwk);
                if (r >= 0)
                        r = acme_eab_jws(c->cfg->eab_kid, c->cfg->eab_hmac_key, url, jwk, &eab);
                json_decref(jwk);
                if (r < 0)
                        return acme_errorf(c, r,
                                           "Failed to sign the external account binding (is acme.eab.hmac_key "
                                           "base64url?)");
                json_object_set_new(p, "externalAccountBinding", eab);
        }
        *ret = json_dumps(p, JSON_COMPACT);
        return *ret ? 0 : -ENOMEM;
}

static int account_cache_path(const struct acme_client *c, char **ret) {
        *ret = strdup_printf("%s/account.json", c->account_path);
        return *ret ? 0 : -ENOMEM;
}

static int account_load_cached(struct acme_client *c) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_json_ json_t *j = NULL;
        const char *kid;

        if (account_cache_path(c, &path) < 0 || read_file(path, 65536, &buf, NULL) < 0)
                return 0;
        j = json_loads(buf, 0, NULL);
        kid = json_string_value(json_object_get(j, "kid"));
        if (!kid)
                return 0;
        c->kid = strdup(kid);
        return c->kid ? 1 : -ENOMEM;
}

static int account_register(struct acme_client *c) {
        _cleanup_http_response_ struct http_response *resp = NULL;
        _cleanup_free_ char *payload = NULL, *path = NULL, *cache = NULL;
        _cleanup_json_ json_t *j = NULL;
        const char *url = acme_directory_url(c, "newAccount"), *loc;
        int r;

        if (!url)
                return acme_errorf(c, -EBADMSG, "ACME directory has no newAccount");
        r = account_payload(c, url, &payload);
        if (r < 0)
                return r;
        r = acme_post(c, url, payload, true, NULL, &resp);
        if (r < 0)
                return r;
        loc = http_response_header(resp, "Location");
        if (!loc)
                return acme_errorf(c, -EBADMSG, "ACME newAccount answered without a Location");
        free(c->kid);
        c->kid = strdup(loc);
        j = json_pack("{s:s, s:s}", "kid", loc, "directory", c->cfg->directory);
        cache = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (!c->kid || !cache || account_cache_path(c, &path) < 0)
                return -ENOMEM;
        r = write_file_atomic(path, cache, strlen(cache), 0600);
        if (r < 0)
                log_warning_errno(r, "Failed to cache the ACME account URL, ignoring: %m");
        return 0;
}

int acme_account(struct acme_client *c) {
        int r;

        r = acme_directory(c);
        if (r >= 0)
                r = acme_load_account_key(c);
        if (r < 0 || c->kid)
                return r;
        r = account_load_cached(c);
        if (r != 0)
                return r < 0 ? r : 0;
        return account_register(c);
}

int acme_account_forget(struct acme_client *c) {
        _cleanup_free_ char *path = NULL;

        free(c->kid);
        c->kid = NULL;
        if (!c->account_path)
                return 0;
        if (account_cache_path(c, &path) < 0)
                return -ENOMEM;
        if (unlink(path) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}
