/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/s3.h"
#include "strbuf.h"

/* Keys are at most 1024 bytes: a prefix leaves room for kiln's names. */
#define S3_URL_MAX 1024
#define S3_PREFIX_MAX 900
#define S3_LIST_PAGES_MAX 10000
#define S3_ERROR_BODY_MIN (64 * 1024)

/* --- names --- */

static bool bucket_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

static bool alnum_lower(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool ends_with(const char *s, size_t len, const char *suffix) {
        size_t n = strlen(suffix);

        return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static bool looks_like_ipv4(const char *s, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '.')
                        return false;
        return true;
}

/* AWS's general purpose bucket naming rules; NULL when name[0..len) follows
 * them, else why not. */
static const char *bucket_name_error(const char *name, size_t len) {
        static const char *const bad_prefixes[] = {"xn--", "sthree-", "amzn-s3-demo-"};
        static const char *const bad_suffixes[] = {"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"};

        if (len < 3 || len > 63)
                return "a bucket name has 3 to 63 characters";
        for (size_t i = 0; i < len; i++)
                if (!bucket_char(name[i]))
                        return "a bucket name has only lower-case letters, digits, '.' and '-'";
        if (!alnum_lower(name[0]) || !alnum_lower(name[len - 1]))
                return "a bucket name begins and ends with a letter or a digit";
        if (memmem(name, len, "..", 2))
                return "a bucket name has no two '.' in a row";
        if (looks_like_ipv4(name, len))
                return "a bucket name is not an IP address";
        for (size_t i = 0; i < ELEMENTSOF(bad_prefixes); i++)
                if (len >= strlen(bad_prefixes[i]) && strneq(name, bad_prefixes[i], strlen(bad_prefixes[i])))
                        return "the bucket name's prefix is reserved by AWS";
        for (size_t i = 0; i < ELEMENTSOF(bad_suffixes); i++)
                if (ends_with(name, len, bad_suffixes[i]))
                        return "the bucket name's suffix is reserved by AWS (access point or directory bucket)";
        return NULL;
}

/* NULL when the prefix (without its trailing '/'s) is fine as the start of
 * keys, else why not. */
static const char *prefix_error(const char *p, size_t len) {
        if (len > S3_PREFIX_MAX)
                return "the prefix is too long";
        for (size_t i = 0; i < len; i++)
                if ((unsigned char) p[i] < 0x20 || p[i] == 0x7f)
                        return "the prefix has a control character";
        for (size_t i = 0; i < len;) {
                size_t j = i;

                while (j < len && p[j] != '/')
                        j++;
                if (j == i)
                        return "the prefix has an empty path segment ('//')";
                if ((j - i == 1 && p[i] == '.') || (j - i == 2 && p[i] == '.' && p[i + 1] == '.'))
                        return "the prefix has a '.' or '..' segment";
                i = j + 1;
        }
        return NULL;
}

static int url_fail(char **ret_error, const char *why) {
        if (ret_error)
                *ret_error = strdup(why);
        return ret_error && !*ret_error ? -ENOMEM : -EINVAL;
}

int s3_url_parse(const char *url, char **ret_bucket, char **ret_prefix, char **ret_error) {
        _cleanup_free_ char *bucket = NULL, *prefix = NULL;
        const char *b, *slash, *why;
        size_t blen, plen;

        if (!url || !strneq(url, "s3://", 5))
                return url_fail(ret_error, "expected s3://BUCKET/PREFIX");
        if (strlen(url) > S3_URL_MAX)
                return url_fail(ret_error, "the URL is too long");
        b = url + 5;
        slash = strchr(b, '/');
        blen = slash ? (size_t) (slash - b) : strlen(b);
        why = bucket_name_error(b, blen);
        if (why)
                return url_fail(ret_error, why);
        plen = slash ? strlen(slash + 1) : 0;
        while (plen > 0 && slash[plen] == '/')
                plen--;
        why = plen > 0 ? prefix_error(slash + 1, plen) : NULL;
        if (why)
                return url_fail(ret_error, why);
        bucket = strndup(b, blen);
        prefix = plen > 0 ? strdup_printf("%.*s/", (int) plen, slash + 1) : strdup("");
        if (!bucket || !prefix)
                return -ENOMEM;
        if (ret_bucket)
                *ret_bucket = TAKE_PTR(bucket);
        if (ret_prefix)
                *ret_prefix = TAKE_PTR(prefix);
        return 0;
}

/* --- the client --- */

/* Virtual-hosted addressing: the bucket's name before the endpoint's host. */
static int apply_virtual_host(struct s3 *s) {
        const char *sep;
        char *endpoint, *host;

        if (s->path_style)
                return 0;
        sep = strstr(s->client.endpoint, "://");
        if (!sep)
                return -EINVAL;
        endpoint = strdup_printf("%.*s%s.%s", (int) (sep + 3 - s->client.endpoint), s->client.endpoint, s->bucket,
                                 sep + 3);
        host = strdup_printf("%s.%s", s->bucket, s->client.host);
        if (!endpoint || !host) {
                free(endpoint);
                free(host);
                return -ENOMEM;
        }
        free(s->client.endpoint);
        free(s->client.host);
        s->client.endpoint = endpoint;
        s->client.host = host;
        return 0;
}

int s3_init(struct s3 *s, const char *bucket, const char *region, const char *endpoint_override, const char *kms_key_id,
            struct aws_creds_provider *creds) {
        int r;

        *s = (struct s3){0};
        if (!bucket || bucket_name_error(bucket, strlen(bucket)) || !region || !*region)
                return -EINVAL;
        r = aws_client_init(&s->client, &aws_s3, region, endpoint_override, false, creds);
        if (r < 0) {
                s3_done(s);
                return r;
        }
        s->bucket = strdup(bucket);
        s->kms_key_id = kms_key_id && *kms_key_id ? strdup(kms_key_id) : NULL;
        if (!s->bucket || (kms_key_id && *kms_key_id && !s->kms_key_id)) {
                s3_done(s);
                return -ENOMEM;
        }
        /* A given endpoint is path-style, as the SDKs do it; so is a bucket
         * with a '.' over AWS's TLS (its wildcard certificate covers one
         * label only). */
        s->path_style = s->client.custom_endpoint || strchr(bucket, '.');
        r = apply_virtual_host(s);
        if (r < 0)
                s3_done(s);
        return r;
}

void s3_done(struct s3 *s) {
        if (!s)
                return;
        aws_client_done(&s->client);
        free(s->bucket);
        free(s->kms_key_id);
        s->bucket = s->kms_key_id = NULL;
}

void s3_object_done(struct s3_object *o) {
        if (!o)
                return;
        if (o->data)
                explicit_bzero(o->data, o->len);
        free(o->data);
        *o = (struct s3_object){0};
}

/* "/KEY" or "/BUCKET/KEY", each byte but unreserved ones and '/' encoded. */
static char *object_path(const struct s3 *s, const char *key) {
        _cleanup_free_ char *enc = NULL;

        if (!key || !*key || strlen(key) > 1024)
                return NULL;
        enc = sigv4_uri_encode(key, strlen(key), true);
        if (!enc)
                return NULL;
        return s->path_style ? strdup_printf("/%s/%s", s->bucket, enc) : strdup_printf("/%s", enc);
}

/* --- answers --- */

static bool region_name_ok(const char *r) {
        size_t n = r ? strlen(r) : 0;

        if (n == 0 || n > 32)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!alnum_lower(r[i]) && r[i] != '-')
                        return false;
        return true;
}

/* The bucket's region when S3 said the request went to the wrong one:
 * x-amz-bucket-region, else the error's <Region>. Copied into buf. */
static bool redirect_region(const struct aws_result *res, char *buf, size_t size) {
        static const char *const codes[] = {"PermanentRedirect", "TemporaryRedirect", "AuthorizationHeaderMalformed",
                                            "IllegalLocationConstraintException"};
        _cleanup_(xml_freep) struct xml_node *x = NULL;
        const char *region = NULL;
        bool coded = false;

        if (!res->response || !(res->status == 301 || res->status == 307 || res->status == 400))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(codes); i++)
                coded = coded || streq(res->code, codes[i]);
        region = http_response_header(res->response, "x-amz-bucket-region");
        if (!region && coded && res->response->body && xml_parse(res->response->body, res->response->body_len, &x) >= 0)
                region = xml_text(x, "Region");
        if (!region || !region_name_ok(region) || (!coded && res->status == 400))
                return false;
        snprintf(buf, size, "%s", region);
        return true;
}

/* One call, following the bucket to its region once (and for good). */
static int s3_call(struct s3 *s, const struct aws_call *call, struct aws_result *res) {
        char region[40];
        int r;

        r = aws_call(&s->client, call, res);
        if (r < 0 || !redirect_region(res, region, sizeof(region)) || streq(region, s->client.region))
                return r;
        r = aws_client_set_region(&s->client, region);
        r = r < 0 ? r : apply_virtual_host(s);
        if (r < 0)
                return r;
        aws_result_done(res);
        return aws_call(&s->client, call, res);
}

/* What an answer means, as s3.h lists. precondition: what a 412 means. */
static int outcome(const struct aws_result *res, int r, int precondition) {
        if (r == -ENOKEY)
                return -EACCES;
        if (r < 0)
                return r;
        if (aws_ok(res))
                return 0;
        if (res->status == 0)
                return res->transport_error == -EFBIG ? -EFBIG : -EIO;
        if (res->status == 412 && precondition)
                return precondition;
        if (res->status == 409 && streq(res->code, "ConditionalRequestConflict"))
                return -EAGAIN;
        /* A missing bucket is a broken setup, not a missing key. */
        if (res->status == 404 && !streq(res->code, "NoSuchBucket"))
                return -ENOENT;
        if (res->status == 403 || res->auth_failed)
                return -EACCES;
        return -EIO;
}

static void copy_etag(const struct http_response *resp, char *ret) {
        const char *e = http_response_header(resp, "ETag");

        ret[0] = 0;
        if (e && strlen(e) < 130 && !strpbrk(e, "\r\n"))
                memcpy(ret, e, strlen(e) + 1);
}

static bool etag_ok(const char *etag) {
        return etag && *etag && strlen(etag) < 130 && !strpbrk(etag, "\r\n");
}

/* --- calls --- */

int s3_get(struct s3 *s, const char *key, size_t max_len, struct s3_object *ret, struct aws_result *res) {
        _cleanup_free_ char *path = object_path(s, key);
        struct aws_result own;
        const struct http_response *resp;
        int r;

        if (!path)
                return key && *key && strlen(key) <= 1024 ? -ENOMEM : -EINVAL;
        if (!res)
                res = &own;
        struct aws_call call = {
                .method = "GET",
                .path = path,
                .max_body = max_len < S3_ERROR_BODY_MIN ? S3_ERROR_BODY_MIN : max_len,
                .secret = true, /* a shared private key, maybe */
        };
        r = outcome(res, s3_call(s, &call, res), 0);
        resp = res->response;
        if (r >= 0 && resp->body_len > max_len)
                r = -EFBIG;
        if (r >= 0) {
                struct s3_object o = {.len = resp->body_len};

                o.data = malloc(resp->body_len + 1);
                if (!o.data)
                        r = -ENOMEM;
                else {
                        memcpy(o.data, resp->body ? resp->body : "", resp->body_len);
                        o.data[o.len] = 0;
                        copy_etag(resp, o.etag);
                        if (aws_parse_http_date(http_response_header(resp, "Last-Modified"), &o.last_modified) < 0)
                                o.last_modified = 0;
                        *ret = o;
                }
        }
        if (res == &own)
                aws_result_done(&own);
        return r;
}

int s3_put(struct s3 *s, const char *key, const void *data, size_t len, enum s3_put_condition cond, const char *etag,
           char *ret_etag, struct aws_result *res) {
        _cleanup_free_ char *path = object_path(s, key), *kms = NULL, *match = NULL;
        const char *headers[6] = {"Content-Type: application/octet-stream"};
        size_t n = 1;
        struct aws_result own;
        int r;

        if (!path)
                return key && *key && strlen(key) <= 1024 ? -ENOMEM : -EINVAL;
        if (cond == S3_PUT_IF_MATCH && !etag_ok(etag))
                return -EINVAL;
        if (s->kms_key_id) {
                kms = strdup_printf("x-amz-server-side-encryption-aws-kms-key-id: %s", s->kms_key_id);
                if (!kms)
                        return -ENOMEM;
                headers[n++] = "x-amz-server-side-encryption: aws:kms";
                headers[n++] = kms;
        } else
                headers[n++] = "x-amz-server-side-encryption: AES256";
        if (cond == S3_PUT_IF_ABSENT)
                headers[n++] = "If-None-Match: *";
        else if (cond == S3_PUT_IF_MATCH) {
                match = strdup_printf("If-Match: %s", etag);
                if (!match)
                        return -ENOMEM;
                headers[n++] = match;
        }
        if (!res)
                res = &own;
        struct aws_call call = {
                .method = "PUT",
                .path = path,
                .headers = headers,
                .body = data ? data : "",
                .body_len = len,
                .secret = true,
        };
        r = outcome(res, s3_call(s, &call, res),
                    cond == S3_PUT_IF_ABSENT  ? -EEXIST
                    : cond == S3_PUT_IF_MATCH ? -ESTALE
                                              : 0);
        if (r >= 0 && ret_etag)
                copy_etag(res->response, ret_etag);
        if (res == &own)
                aws_result_done(&own);
        return r;
}

int s3_delete(struct s3 *s, const char *key, const char *etag, struct aws_result *res) {
        _cleanup_free_ char *path = object_path(s, key), *match = NULL;
        const char *headers[2] = {};
        struct aws_result own;
        int r;

        if (!path)
                return key && *key && strlen(key) <= 1024 ? -ENOMEM : -EINVAL;
        if (etag) {
                if (!etag_ok(etag))
                        return -EINVAL;
                match = strdup_printf("If-Match: %s", etag);
                if (!match)
                        return -ENOMEM;
                headers[0] = match;
        }
        if (!res)
                res = &own;
        struct aws_call call = {.method = "DELETE", .path = path, .headers = headers};
        r = outcome(res, s3_call(s, &call, res), -ESTALE);
        if (r == -ENOENT && !etag)
                r = 0;
        if (res == &own)
                aws_result_done(&own);
        return r;
}

/* --- listing --- */

int s3_list_parse(const char *xml, size_t len, const char *prefix, size_t max_keys, char ***keys, size_t *n_keys,
                  bool *ret_truncated, char **ret_token) {
        _cleanup_(xml_freep) struct xml_node *x = NULL;
        const char *t;
        size_t plen = prefix ? strlen(prefix) : 0;
        int r;

        r = xml_parse(xml, len, &x);
        if (r < 0)
                return r;
        if (!streq(x->name, "ListBucketResult"))
                return -EBADMSG;
        for (const struct xml_node *c = xml_child(x, "Contents"); c && *n_keys < max_keys; c = xml_next(c)) {
                t = xml_text(c, "Key");
                if (!t || !*t || (plen && !strneq(t, prefix, plen)))
                        return -EBADMSG;
                r = strv_push(keys, t);
                if (r < 0)
                        return r;
                (*n_keys)++;
        }
        t = xml_text(x, "IsTruncated");
        *ret_truncated = t && streq(t, "true");
        t = xml_text(x, "NextContinuationToken");
        *ret_token = NULL;
        if (*ret_truncated) {
                if (!t || !*t || strlen(t) > 4096)
                        return -EBADMSG;
                *ret_token = strdup(t);
                if (!*ret_token)
                        return -ENOMEM;
        }
        return 0;
}

static char *list_query(const struct s3 *s, const char *prefix, const char *token, size_t page) {
        _cleanup_free_ char *p = sigv4_uri_encode(prefix, strlen(prefix), false), *t = NULL;

        if (!p)
                return NULL;
        if (token) {
                t = sigv4_uri_encode(token, strlen(token), false);
                if (!t)
                        return NULL;
        }
        return strdup_printf("%s%s%slist-type=2&max-keys=%zu&prefix=%s", t ? "continuation-token=" : "", t ? t : "",
                             t ? "&" : "", page > 0 && page < 1000 ? page : (size_t) 1000, p);
}

int s3_list(struct s3 *s, const char *prefix, size_t max_keys, char ***ret_keys, struct aws_result *res) {
        _cleanup_strv_free_ char **keys = NULL;
        _cleanup_free_ char *token = NULL, *path = NULL;
        struct aws_result own;
        size_t n = 0;
        bool more = true;
        int r = 0;

        prefix = prefix ? prefix : "";
        if (strlen(prefix) > 1024)
                return -EINVAL;
        path = s->path_style ? strdup_printf("/%s", s->bucket) : strdup("/");
        if (!path)
                return -ENOMEM;
        if (!res)
                res = &own;
        *res = (struct aws_result){0};
        for (unsigned page = 0; more && n < max_keys && r >= 0; page++) {
                _cleanup_free_ char *query = NULL, *next = NULL;
                size_t want = max_keys - n;

                if (page >= S3_LIST_PAGES_MAX) {
                        r = -E2BIG;
                        break;
                }
                query = list_query(s, prefix, token, s->page_size && s->page_size < want ? s->page_size : want);
                if (!query) {
                        r = -ENOMEM;
                        break;
                }
                aws_result_done(res);
                struct aws_call call = {.method = "GET", .path = path, .query = query, .max_body = 8 * 1024 * 1024};
                r = outcome(res, s3_call(s, &call, res), 0);
                if (r < 0)
                        break;
                r = s3_list_parse(res->response->body, res->response->body_len, prefix, max_keys, &keys, &n, &more,
                                  &next);
                if (r == -EBADMSG) {
                        snprintf(res->error, sizeof(res->error), "S3 ListObjectsV2 %s: an answer kiln cannot read",
                                 s->bucket);
                        r = -EIO;
                }
                free(token);
                token = TAKE_PTR(next);
        }
        if (res == &own)
                aws_result_done(&own);
        if (r < 0)
                return r;
        if (!keys) {
                keys = calloc(1, sizeof(char *));
                if (!keys)
                        return -ENOMEM;
        }
        *ret_keys = TAKE_PTR(keys);
        return 0;
}
