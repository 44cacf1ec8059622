/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/sigv4.h"
#include "sha256.h"
#include "strbuf.h"

#define ALGORITHM "AWS4-HMAC-SHA256"

/* Headers a proxy or HTTP stack may add or rewrite on the way: signing them
 * would break the signature (the AWS SDKs leave the same ones out). */
static const char *const unsigned_headers[] = {"expect", "user-agent", "x-amzn-trace-id"};

/* Strings that held a key or the session token are wiped before they are
 * freed: a core dump or a later heap read must not find them. */
static void erase_free(char *p) {
        if (!p)
                return;
        explicit_bzero(p, strlen(p));
        free(p);
}

/* prefix followed by secret, in one allocation of its size: printf would
 * leave copies of the secret in its buffers. */
static char *secret_concat(const char *prefix, const char *secret) {
        size_t a = strlen(prefix), b = strlen(secret);
        char *p = malloc(a + b + 1);

        if (!p)
                return NULL;
        memcpy(p, prefix, a);
        memcpy(p + a, secret, b + 1);
        return p;
}

static void strv_erase_free(char **l) {
        for (char **p = l; p && *p; p++)
                erase_free(*p);
        free(l);
}

/* A buffer that will hold a secret, sized once: a realloc as it grows would
 * leave copies behind in freed memory. */
static int secret_buf(struct strbuf *b, size_t size) {
        b->data = calloc(1, size + 1);
        if (!b->data)
                return -ENOMEM;
        b->len = 0;
        b->cap = size + 1;
        return 0;
}

static void secret_buf_done(struct strbuf *b) {
        if (b->data)
                explicit_bzero(b->data, b->cap);
        strbuf_done(b);
}

void aws_credentials_done(struct aws_credentials *c) {
        if (!c)
                return;
        erase_free(c->access_key_id);
        erase_free(c->secret_access_key);
        erase_free(c->session_token);
        *c = (struct aws_credentials){0};
}

int aws_credentials_copy(const struct aws_credentials *src, struct aws_credentials *ret) {
        struct aws_credentials c = {.expiration = src->expiration};

        c.access_key_id = strdup(src->access_key_id);
        c.secret_access_key = strdup(src->secret_access_key);
        c.session_token = src->session_token ? strdup(src->session_token) : NULL;
        if (!c.access_key_id || !c.secret_access_key || (src->session_token && !c.session_token)) {
                aws_credentials_done(&c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

void sigv4_result_done(struct sigv4_result *r) {
        /* The canonical request and the headers hold the session token. */
        erase_free(r->canonical_request);
        erase_free(r->string_to_sign);
        erase_free(r->signature);
        erase_free(r->authorization);
        free(r->amz_date);
        strv_erase_free(r->headers);
        *r = (struct sigv4_result){0};
}

void sigv4_sha256_hex(const void *data, size_t len, char ret[static 65]) {
        uint8_t md[SHA256_DIGEST_SIZE];

        sha256(data, len, md);
        sha256_hex(md, ret);
}

static void hmac(const void *key, size_t key_len, const char *data, uint8_t out[static SHA256_DIGEST_SIZE]) {
        hmac_sha256(key, key_len, data, strlen(data), out);
}

static bool unreserved(unsigned char c) {
        return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

char *sigv4_uri_encode(const char *s, size_t len, bool keep_slash) {
        static const char digits[] = "0123456789ABCDEF";
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;

        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                char enc[3] = {'%', digits[c >> 4], digits[c & 15]};
                int r = unreserved(c) || (keep_slash && c == '/') ? strbuf_append(&b, &c, 1)
                                                                  : strbuf_append(&b, enc, 3);
                if (r < 0)
                        return NULL;
        }
        return strbuf_steal(&b);
}

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char) tolower((unsigned char) c);
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s[0..len); invalid escapes are kept as they are. */
static char *uri_decode(const char *s, size_t len, size_t *ret_len) {
        char *out = malloc(len + 1);
        size_t n = 0;

        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] == '%' && i + 2 < len && unhex(s[i + 1]) >= 0 && unhex(s[i + 2]) >= 0) {
                        out[n++] = (char) (unhex(s[i + 1]) * 16 + unhex(s[i + 2]));
                        i += 2;
                } else
                        out[n++] = s[i];
        }
        out[n] = 0;
        *ret_len = n;
        return out;
}

/* RFC 3986 5.2.4 dot-segment removal; AWS also folds runs of slashes. */
static char *normalize_path(const char *path, size_t len) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        size_t *starts = calloc(len + 1, sizeof(size_t)), depth = 0;
        int r = 0;

        if (!starts)
                return NULL;
        for (size_t i = 0; i < len && r >= 0;) {
                size_t j = i;
                while (j < len && path[j] != '/')
                        j++;
                if (j - i == 2 && path[i] == '.' && path[i + 1] == '.') {
                        if (depth > 0)
                                b.len = starts[--depth], b.data[b.len] = 0;
                } else if (j > i && !(j - i == 1 && path[i] == '.')) {
                        starts[depth++] = b.len;
                        r = strbuf_puts(&b, "/");
                        r = r < 0 ? r : strbuf_append(&b, path + i, j - i);
                }
                i = j + 1;
        }
        if (r >= 0 && depth > 0 && len > 0 && path[len - 1] == '/')
                r = strbuf_puts(&b, "/");
        if (r >= 0 && b.len == 0)
                r = strbuf_puts(&b, "/");
        free(starts);
        return r < 0 ? NULL : sigv4_uri_encode(b.data, b.len, true);
}

struct pair {
        char *key, *value;
};

static int pair_cmp(const void *a, const void *b) {
        const struct pair *x = a, *y = b;
        int c = strcmp(x->key, y->key);
        return c ? c : strcmp(x->value, y->value);
}

static char *encode_component(const char *s, size_t len) {
        _cleanup_free_ char *raw = NULL;
        size_t n;

        raw = uri_decode(s, len, &n);
        return raw ? sigv4_uri_encode(raw, n, false) : NULL;
}

/* Each name and value decoded, encoded again canonically, then sorted. */
static char *canonical_query(const char *q) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        struct pair *pairs = NULL;
        size_t n = 0, cap = 0;
        int r = 0;

        for (const char *p = q; p && *p && r >= 0;) {
                size_t len = strcspn(p, "&"), klen = strcspn(p, "=");
                if (klen > len)
                        klen = len;
                if (n == cap) {
                        struct pair *np = realloc(pairs, (cap = cap ? cap * 2 : 8) * sizeof(*pairs));
                        if (!np) {
                                r = -ENOMEM;
                                break;
                        }
                        pairs = np;
                }
                pairs[n].key = encode_component(p, klen);
                pairs[n].value = klen < len ? encode_component(p + klen + 1, len - klen - 1) : strdup("");
                if (!pairs[n].key || !pairs[n].value)
                        r = -ENOMEM;
                n++;
                p += len;
                if (*p == '&')
                        p++;
        }
        if (r >= 0 && n > 0)
                qsort(pairs, n, sizeof(*pairs), pair_cmp);
        for (size_t i = 0; i < n; i++) {
                if (r >= 0)
                        r = strbuf_printf(&b, "%s%s=%s", i ? "&" : "", pairs[i].key, pairs[i].value);
                free(pairs[i].key);
                free(pairs[i].value);
        }
        free(pairs);
        return r < 0 ? NULL : strbuf_steal(&b);
}

struct header {
        char *name; /* lower case */
        char *value; /* trimmed, inner whitespace runs folded */
};

static int header_cmp(const void *a, const void *b) {
        return strcmp(((const struct header *) a)->name, ((const struct header *) b)->name);
}

/* Header values may be the session token: built in a buffer of their size. */
static char *trim_all(const char *v) {
        struct strbuf b = STRBUF_INIT;
        bool space = false;

        if (secret_buf(&b, strlen(v)) < 0)
                return NULL;
        for (; *v; v++) {
                if (isspace((unsigned char) *v)) {
                        space = b.len > 0;
                        continue;
                }
                if ((space && strbuf_puts(&b, " ") < 0) || strbuf_append(&b, v, 1) < 0) {
                        secret_buf_done(&b);
                        return NULL;
                }
                space = false;
        }
        return strbuf_steal(&b);
}

static bool is_unsigned_header(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(unsigned_headers); i++)
                if (streq(name, unsigned_headers[i]))
                        return true;
        return false;
}

static void headers_free(struct header *h, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(h[i].name);
                erase_free(h[i].value);
        }
        free(h);
}

/* Parses "Name: value" lines into sorted, lower-cased, trimmed headers. */
static int parse_headers(char **lines, struct header **ret, size_t *ret_n) {
        size_t n = strv_length(lines), k = 0;
        struct header *h = calloc(n + 1, sizeof(*h));

        if (!h)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *colon = strchr(lines[i], ':');
                if (!colon || colon == lines[i])
                        continue;
                h[k].name = strndup(lines[i], (size_t) (colon - lines[i]));
                h[k].value = trim_all(colon + 1);
                if (!h[k].name || !h[k].value) {
                        headers_free(h, k + 1);
                        return -ENOMEM;
                }
                for (char *c = h[k].name; *c; c++)
                        *c = (char) tolower((unsigned char) *c);
                if (is_unsigned_header(h[k].name)) {
                        free(h[k].name);
                        erase_free(h[k].value);
                        h[k] = (struct header){0};
                        continue;
                }
                k++;
        }
        /* qsort is not stable: repeated headers must keep their order. */
        for (size_t i = 1; i < k; i++)
                for (size_t j = i; j > 0 && header_cmp(&h[j - 1], &h[j]) > 0; j--) {
                        struct header t = h[j];
                        h[j] = h[j - 1];
                        h[j - 1] = t;
                }
        *ret = h;
        *ret_n = k;
        return 0;
}

/* "name:v1,v2\n" lines, and the "a;b;c" signed header list. */
static int canonical_headers(struct header *h, size_t n, struct strbuf *canon, struct strbuf *signed_list) {
        int r = 0;

        for (size_t i = 0; i < n && r >= 0; i++) {
                bool repeat = i > 0 && streq(h[i].name, h[i - 1].name);
                if (repeat)
                        r = strbuf_printf(canon, ",%s", h[i].value);
                else {
                        if (i > 0)
                                r = strbuf_puts(canon, "\n");
                        r = r < 0 ? r : strbuf_printf(canon, "%s:%s", h[i].name, h[i].value);
                        r = r < 0 ? r : strbuf_printf(signed_list, "%s%s", signed_list->len ? ";" : "", h[i].name);
                }
        }
        return r < 0 ? r : strbuf_puts(canon, "\n");
}

static const char *find_header(struct header *h, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(h[i].name, name))
                        return h[i].value;
        return NULL;
}

static bool header_named(const char *line, const char *name) {
        size_t n = strlen(name);
        return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

/* The request's headers without those signing sets, then the new ones. */
static int signing_headers(const struct sigv4_request *req, const struct aws_credentials *creds, const char *amz_date,
                           char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *date = NULL, *token = NULL;
        int r = 0;

        for (char **h = req->headers; h && *h && r >= 0; h++)
                if (!header_named(*h, "x-amz-date") && !header_named(*h, "x-amz-security-token") &&
                    !header_named(*h, "authorization"))
                        r = strv_push(&l, *h);
        date = strdup_printf("X-Amz-Date: %s", amz_date);
        if (r < 0 || !date)
                return -ENOMEM;
        r = strv_push(&l, date);
        if (r >= 0 && creds->session_token) {
                token = secret_concat("X-Amz-Security-Token: ", creds->session_token);
                r = token ? strv_push(&l, token) : -ENOMEM;
        }
        if (token)
                explicit_bzero(token, strlen(token));
        if (r < 0) {
                strv_erase_free(TAKE_PTR(l));
                return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* The canonical headers' size: "name:value\n" each. */
static size_t headers_size(const struct header *h, size_t n) {
        size_t size = 1;

        for (size_t i = 0; i < n; i++)
                size += strlen(h[i].name) + strlen(h[i].value) + 2;
        return size;
}

/* S3's canonical URI is the path as sent (S3 clients encode it once):
 * no dot segments removed, no slashes folded (a key may hold "//" or "./"),
 * and not encoded a second time as every other service's is. */
static char *s3_path(const char *path, size_t len) {
        return len == 0 ? strdup("/") : strndup(path, len);
}

static int build_canonical(const struct sigv4_request *req, char **headers, bool s3, char **ret, char **ret_signed) {
        _cleanup_(secret_buf_done) struct strbuf b = STRBUF_INIT, canon = STRBUF_INIT;
        _cleanup_strbuf_ struct strbuf list = STRBUF_INIT;
        _cleanup_free_ char *path = NULL, *query = NULL;
        const char *target = req->target && *req->target ? req->target : "/", *q, *payload;
        struct header *h = NULL;
        char body_hash[65];
        size_t n = 0;
        int r;

        q = strchr(target, '?');
        path = (s3 ? s3_path : normalize_path)(target, q ? (size_t) (q - target) : strlen(target));
        query = canonical_query(q ? q + 1 : NULL);
        if (!path || !query)
                return -ENOMEM;
        r = parse_headers(headers, &h, &n);
        if (r < 0)
                return r;
        if (!find_header(h, n, "host")) {
                headers_free(h, n);
                return -EINVAL;
        }
        payload = find_header(h, n, "x-amz-content-sha256");
        if (!payload)
                sigv4_sha256_hex(req->body ? req->body : "", req->body_len, body_hash);
        /* Both hold the session token's header: sized once (see secret_buf()). */
        r = secret_buf(&canon, headers_size(h, n));
        r = r < 0 ? r
                  : secret_buf(&b, strlen(req->method ? req->method : "GET") + strlen(path) + strlen(query) +
                                           2 * headers_size(h, n) + 64 + 6);
        r = r < 0 ? r : canonical_headers(h, n, &canon, &list);
        if (r >= 0)
                r = strbuf_printf(&b, "%s\n%s\n%s\n%s\n%s\n%s", req->method ? req->method : "GET", path, query,
                                  canon.data, list.data, payload ? payload : body_hash);
        headers_free(h, n);
        if (r < 0)
                return r;
        *ret = strbuf_steal(&b);
        *ret_signed = strbuf_steal(&list);
        return 0;
}

static int derive_key(const char *secret, const char *date, const char *region, const char *service,
                      uint8_t key[static SHA256_DIGEST_SIZE]) {
        _cleanup_free_ char *k0 = secret_concat("AWS4", secret);
        uint8_t a[SHA256_DIGEST_SIZE], b[SHA256_DIGEST_SIZE];

        if (!k0)
                return -ENOMEM;
        hmac(k0, strlen(k0), date, a);
        hmac(a, sizeof(a), region, b);
        hmac(b, sizeof(b), service, a);
        hmac(a, sizeof(a), "aws4_request", key);
        explicit_bzero(k0, strlen(k0));
        explicit_bzero(a, sizeof(a));
        explicit_bzero(b, sizeof(b));
        return 0;
}

static int format_date(time_t when, char out[static 17]) {
        struct tm tm;

        if (!gmtime_r(&when, &tm) || strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
                return -EINVAL;
        return 0;
}

int sigv4_parse_date(const char *s, time_t *ret) {
        struct tm tm = {0};
        const char *end;

        if (!s || strlen(s) != 16)
                return -EINVAL;
        end = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
        if (!end || *end)
                return -EINVAL;
        *ret = timegm(&tm);
        return 0;
}

static int sign_string(const struct sigv4_result *res, const struct aws_credentials *creds, const char *region,
                       const char *service, char **ret_signature) {
        uint8_t key[SHA256_DIGEST_SIZE], sig[SHA256_DIGEST_SIZE];
        char date[9], out[2 * SHA256_DIGEST_SIZE + 1];
        int r;

        memcpy(date, res->amz_date, 8);
        date[8] = 0;
        r = derive_key(creds->secret_access_key, date, region, service, key);
        if (r < 0)
                return r;
        hmac(key, sizeof(key), res->string_to_sign, sig);
        explicit_bzero(key, sizeof(key));
        sha256_hex(sig, out);
        *ret_signature = strdup(out);
        return *ret_signature ? 0 : -ENOMEM;
}

int sigv4_sign(const struct sigv4_request *req, const struct aws_credentials *creds, const char *region,
               const char *service, time_t when, struct sigv4_result *ret) {
        _cleanup_free_ char *signed_headers = NULL, *auth_line = NULL;
        struct sigv4_result res = {0};
        char amz_date[17], cr_hash[65];
        int r;

        if (!creds || !creds->access_key_id || !creds->secret_access_key || !region || !service)
                return -EINVAL;
        r = format_date(when, amz_date);
        if (r < 0)
                return r;
        res.amz_date = strdup(amz_date);
        r = res.amz_date ? signing_headers(req, creds, amz_date, &res.headers) : -ENOMEM;
        if (r >= 0)
                r = build_canonical(req, res.headers, streq(service, "s3"), &res.canonical_request, &signed_headers);
        if (r >= 0) {
                sigv4_sha256_hex(res.canonical_request, strlen(res.canonical_request), cr_hash);
                res.string_to_sign = strdup_printf(ALGORITHM "\n%s\n%.8s/%s/%s/aws4_request\n%s", amz_date, amz_date,
                                                   region, service, cr_hash);
                r = res.string_to_sign ? sign_string(&res, creds, region, service, &res.signature) : -ENOMEM;
        }
        if (r >= 0) {
                res.authorization =
                        strdup_printf(ALGORITHM " Credential=%s/%.8s/%s/%s/aws4_request, "
                                                "SignedHeaders=%s, Signature=%s",
                                      creds->access_key_id, amz_date, region, service, signed_headers, res.signature);
                auth_line = res.authorization ? strdup_printf("Authorization: %s", res.authorization) : NULL;
                r = auth_line ? strv_push(&res.headers, auth_line) : -ENOMEM;
        }
        if (r < 0) {
                sigv4_result_done(&res);
                return r;
        }
        *ret = res;
        return 0;
}
