/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/aws.h"
#include "strbuf.h"

const struct aws_service aws_s3 = {.env_id = "S3", .signing_name = "s3", .host_prefix = "s3", .display = "S3"};
const struct aws_service aws_route53 = {.env_id = "ROUTE_53",
                                        .signing_name = "route53",
                                        .host_prefix = "route53",
                                        .global_region = "us-east-1",
                                        .global_host = "route53.amazonaws.com",
                                        .display = "Route 53"};
const struct aws_service aws_cloudwatch = {
        .env_id = "CLOUDWATCH", .signing_name = "monitoring", .host_prefix = "monitoring", .display = "CloudWatch"};
const struct aws_service aws_autoscaling = {.env_id = "AUTO_SCALING",
                                            .signing_name = "autoscaling",
                                            .host_prefix = "autoscaling",
                                            .display = "Auto Scaling"};
const struct aws_service aws_logs = {
        .env_id = "CLOUDWATCH_LOGS", .signing_name = "logs", .host_prefix = "logs", .display = "CloudWatch Logs"};

static bool env_true(const char *name) {
        const char *v = getenv(name);

        return v && (strcasecmp(v, "true") == 0 || streq(v, "1"));
}

static const char *env_nonempty(const char *name) {
        const char *v = getenv(name);

        return v && *v ? v : NULL;
}

int aws_endpoint(const struct aws_service *s, const char *region, const char *config_override, bool fips, char **ret,
                 bool *ret_custom) {
        _cleanup_free_ char *var = strdup_printf("AWS_ENDPOINT_URL_%s", s->env_id), *url = NULL;
        const char *given = NULL;
        struct http_url u;
        size_t n;

        if (!var)
                return -ENOMEM;
        /* As the SDKs: AWS_IGNORE_CONFIGURED_ENDPOINT_URLS turns off the
         * environment's endpoints, not the code's (here: the config's). */
        if (!env_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) {
                given = env_nonempty(var);
                if (!given)
                        given = env_nonempty("AWS_ENDPOINT_URL");
        }
        if (!given && config_override && *config_override)
                given = config_override;
        if (given)
                url = strdup(given);
        else if (s->global_host)
                url = strdup_printf("https://%s%s", s->global_host, region && strneq(region, "cn-", 3) ? ".cn" : "");
        else if (region && *region)
                url = strdup_printf("https://%s%s.%s.amazonaws.com%s", s->host_prefix, fips ? "-fips" : "", region,
                                    strneq(region, "cn-", 3) ? ".cn" : "");
        else
                return -EINVAL;
        if (!url)
                return -ENOMEM;
        n = strlen(url);
        while (n > 0 && url[n - 1] == '/')
                url[--n] = 0;
        if (http_url_parse(url, &u) < 0 || u.path_len > 0)
                return -EINVAL;
        if (ret_custom)
                *ret_custom = given != NULL;
        *ret = TAKE_PTR(url);
        return 0;
}

int aws_client_init(struct aws_client *c, const struct aws_service *s, const char *region, const char *config_override,
                    bool fips, struct aws_creds_provider *creds) {
        struct http_url u;
        int r;

        *c = (struct aws_client){.service = s, .creds = creds, .timeout_ms = 10000};
        if (!region && !s->global_region)
                return -EINVAL;
        r = aws_endpoint(s, region, config_override, fips, &c->endpoint, &c->custom_endpoint);
        if (r < 0)
                return r;
        r = http_url_parse(c->endpoint, &u);
        if (r < 0)
                return r;
        c->host = strdup(u.authority);
        /* A global service is signed for its one region, unless someone
         * else's endpoint (a China partition aside) says otherwise. */
        if (s->global_region && !(region && strneq(region, "cn-", 3)))
                c->region = strdup(s->global_region);
        else
                c->region = strdup(region);
        return c->host && c->region ? 0 : -ENOMEM;
}

void aws_client_done(struct aws_client *c) {
        free(c->endpoint);
        free(c->host);
        free(c->region);
        c->endpoint = c->host = c->region = NULL;
}

int aws_client_set_region(struct aws_client *c, const char *region) {
        struct aws_client n;
        int r;

        if (!region || !*region)
                return -EINVAL;
        if (c->custom_endpoint) {
                char *copy = strdup(region);

                if (!copy)
                        return -ENOMEM;
                free(c->region);
                c->region = copy;
                return 0;
        }
        r = aws_client_init(&n, c->service, region, NULL, false, c->creds);
        if (r < 0) {
                aws_client_done(&n);
                return r;
        }
        n.timeout_ms = c->timeout_ms;
        n.ca_file = c->ca_file;
        n.clock_offset_s = c->clock_offset_s;
        n.requests = c->requests;
        aws_client_done(c);
        *c = n;
        return 0;
}

void aws_result_done(struct aws_result *r) {
        http_response_free(r->response);
        r->response = NULL;
}

const char *aws_region(const char *explicit_region, const char *fallback) {
        const char *r;

        if (explicit_region && *explicit_region)
                return explicit_region;
        r = env_nonempty("AWS_REGION");
        if (!r)
                r = env_nonempty("AWS_DEFAULT_REGION");
        if (!r && fallback && *fallback)
                r = fallback;
        return r;
}

/* --- answers --- */

static void copy_until(char *dst, size_t size, const char *src, const char *stop) {
        size_t n = stop ? (size_t) (stop - src) : strlen(src);

        if (size == 0)
                return;
        if (n >= size)
                n = size - 1;
        memcpy(dst, src, n);
        dst[n] = 0;
}

static bool code_in(const char *code, const char *const *list) {
        for (; *list; list++)
                if (streq(code, *list))
                        return true;
        return false;
}

int aws_error_code(const char *error_header, const char *body, char *code, size_t code_size, char *msg,
                   size_t msg_size) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_(xml_freep) struct xml_node *x = NULL;
        const char *t;

        code[0] = msg[0] = 0;
        body = body ? body : "";
        while (*body == ' ' || *body == '\n' || *body == '\r' || *body == '\t')
                body++;
        if (*body == '{')
                j = json_loads(body, 0, NULL);
        if (json_is_object(j)) {
                t = json_string_value(json_object_get(j, "__type"));
                if (!t)
                        t = json_string_value(json_object_get(j, "code"));
                if (t)
                        copy_until(code, code_size, strchr(t, '#') ? strchr(t, '#') + 1 : t, strchr(t, ':'));
                t = json_string_value(json_object_get(j, "message"));
                if (!t)
                        t = json_string_value(json_object_get(j, "Message"));
                if (t)
                        copy_until(msg, msg_size, t, NULL);
        } else if (*body == '<' && xml_parse(body, strlen(body), &x) >= 0) {
                /* <Error> (S3), <ErrorResponse><Error> (query, Route 53). */
                const struct xml_node *e = streq(x->name, "Error") ? x : xml_child(x, "Error");

                if (e && (t = xml_text(e, "Code")))
                        copy_until(code, code_size, t, NULL);
                if (e && (t = xml_text(e, "Message")))
                        copy_until(msg, msg_size, t, NULL);
        }
        /* The query-compatible code is the one both protocols share. */
        if (error_header && *error_header)
                copy_until(code, code_size, error_header, strchr(error_header, ';'));
        return code[0] ? 0 : -ENOENT;
}

int aws_parse_http_date(const char *s, time_t *ret) {
        struct tm tm = {0};
        const char *end;

        if (!s)
                return -EINVAL;
        while (*s == ' ' || *s == '\t')
                s++;
        end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (!end)
                return -EINVAL;
        while (*end == ' ' || *end == '\t')
                end++;
        if (*end)
                return -EINVAL;
        *ret = timegm(&tm);
        return *ret == (time_t) -1 ? -EINVAL : 0;
}

/* The codes AWS answers a request signed too far from its clock with: the
 * Query and JSON protocols' signature errors say so only in the message
 * ("Signature expired: ... is now earlier than ...", "Signature not yet
 * current: ..."). */
bool aws_is_skew_error(const char *code, const char *msg) {
        static const char *const skew_codes[] = {"RequestExpired", "RequestTimeTooSkewed", "RequestInTheFuture", NULL};

        if (code_in(code, skew_codes))
                return true;
        return (streq(code, "InvalidSignatureException") || streq(code, "SignatureDoesNotMatch")) &&
               (strstr(msg, "Signature expired") || strstr(msg, "Signature not yet current"));
}

/* --- one call --- */

static int build_headers(const struct aws_client *c, const struct aws_call *call, char ***ret) {
        _cleanup_strv_free_ char **h = NULL;
        _cleanup_free_ char *host = strdup_printf("Host: %s", c->host), *sha = NULL;
        char hex[65];
        int r;

        if (!host)
                return -ENOMEM;
        r = strv_push(&h, host);
        /* S3 requires the payload's hash as a header; signing it costs the
         * others nothing and binds the body to the signature. */
        if (r >= 0 && c->service == &aws_s3) {
                if (call->unsigned_payload)
                        sha = strdup("x-amz-content-sha256: UNSIGNED-PAYLOAD");
                else {
                        sigv4_sha256_hex(call->body ? call->body : "", call->body_len, hex);
                        sha = strdup_printf("x-amz-content-sha256: %s", hex);
                }
                r = sha ? strv_push(&h, sha) : -ENOMEM;
        }
        for (const char *const *p = call->headers; r >= 0 && p && *p; p++)
                r = strv_push(&h, *p);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(h);
        return 0;
}

static void judge(const struct aws_client *c, const struct aws_call *call, struct aws_result *ret) {
        static const char *const auth_codes[] = {"ExpiredToken",
                                                 "ExpiredTokenException",
                                                 "InvalidClientTokenId",
                                                 "UnrecognizedClientException",
                                                 "SignatureDoesNotMatch",
                                                 "InvalidSignatureException",
                                                 "IncompleteSignature",
                                                 "MissingAuthenticationToken",
                                                 "InvalidAccessKeyId",
                                                 "TokenRefreshRequired",
                                                 NULL};
        static const char *const retry_codes[] = {"Throttling",
                                                  "ThrottlingException",
                                                  "ThrottledException",
                                                  "RequestLimitExceeded",
                                                  "TooManyRequestsException",
                                                  "SlowDown",
                                                  "PriorRequestNotComplete",
                                                  "ServiceUnavailable",
                                                  "InternalFailure",
                                                  "InternalError",
                                                  "InternalServiceError",
                                                  "RequestTimeout",
                                                  NULL};
        const struct http_response *resp = ret->response;
        const char *hdr;

        ret->status = resp->status;
        if (aws_ok(ret))
                return;
        hdr = http_response_header(resp, "x-amzn-query-error");
        (void) aws_error_code(hdr, resp->body, ret->code, sizeof(ret->code), ret->message, sizeof(ret->message));
        if (!ret->code[0] && (hdr = http_response_header(resp, "x-amzn-errortype")))
                copy_until(ret->code, sizeof(ret->code), hdr, strchr(hdr, ':'));
        ret->auth_failed =
                !aws_is_skew_error(ret->code, ret->message) && (code_in(ret->code, auth_codes) || resp->status == 401);
        ret->retry = resp->status >= 500 || resp->status == 429 || code_in(ret->code, retry_codes) ||
                     aws_is_skew_error(ret->code, ret->message) || ret->auth_failed;
        snprintf(ret->error, sizeof(ret->error), "%s %s %.200s: %ld%s%s%s%.300s", c->service->display, call->method,
                 call->path, resp->status, ret->code[0] ? " " : "", ret->code, ret->message[0] ? ": " : "",
                 ret->message);
}

static int send_once(struct aws_client *c, const struct aws_call *call, const struct aws_credentials *creds,
                     struct aws_result *ret) {
        _cleanup_strv_free_ char **hdrs = NULL;
        _cleanup_free_ char *target = NULL, *url = NULL;
        struct sigv4_result sig = {0};
        char err[HTTP_ERROR_MAX] = "";
        long timeout = call->timeout_ms > 0 ? call->timeout_ms : c->timeout_ms;
        int r;

        target = strdup_printf("%s%s%s", call->path, call->query && *call->query ? "?" : "",
                               call->query ? call->query : "");
        if (!target)
                return -ENOMEM;
        url = strdup_printf("%s%s", c->endpoint, target);
        if (!url)
                return -ENOMEM;
        r = build_headers(c, call, &hdrs);
        if (r < 0)
                return r;
        struct sigv4_request sreq = {.method = call->method,
                                     .target = target,
                                     .headers = hdrs,
                                     .body = call->body,
                                     .body_len = call->body_len};
        r = sigv4_sign(&sreq, creds, c->region, c->service->signing_name, time(NULL) + c->clock_offset_s, &sig);
        if (r < 0)
                return r;
        struct http_request req = {
                .method = call->method,
                .url = url,
                .headers = (const char *const *) sig.headers,
                .body = call->body,
                .body_len = call->body_len,
                .connect_timeout_ms = timeout < 3000 ? timeout : 3000,
                .timeout_ms = timeout,
                .max_attempts = 1, /* a re-sent signature would be stale: the caller retries */
                .max_body = call->max_body ? call->max_body : 4 * 1024 * 1024,
                .ca_file = c->ca_file,
                .secret = true, /* the session token is in the headers */
                .error = err,
        };
        c->requests++;
        r = http_request(&req, &ret->response);
        sigv4_result_done(&sig);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                ret->transport_error = r;
                ret->retry = r != -EFBIG;
                snprintf(ret->message, sizeof(ret->message), "%s", err[0] ? err : strerror(-r));
                snprintf(ret->error, sizeof(ret->error), "%s at %s unreachable: %s", c->service->display, c->endpoint,
                         ret->message);
                return 0;
        }
        /* Ours only when the caller said so: a token is in the headers, not
         * in most answers. */
        ret->response->secret = call->secret;
        judge(c, call, ret);
        return 0;
}

/* After a skew error: the service's clock from the answer's Date. True when
 * that changed the offset, so that signing again can help. */
static bool learn_offset(struct aws_client *c, const struct aws_result *res, time_t sent_at) {
        time_t server;
        long offset;

        if (!res->response || !aws_is_skew_error(res->code, res->message) ||
            aws_parse_http_date(http_response_header(res->response, "Date"), &server) < 0)
                return false;
        offset = (long) (server - sent_at);
        if (offset == c->clock_offset_s)
                return false;
        c->clock_offset_s = offset;
        return true;
}

int aws_call(struct aws_client *c, const struct aws_call *call, struct aws_result *ret) {
        const struct aws_credentials *creds = NULL;
        time_t sent_at;
        int r;

        *ret = (struct aws_result){0};
        if (!call->method || !call->path || call->path[0] != '/')
                return -EINVAL;
        r = aws_creds_get(c->creds, time(NULL), &creds);
        if (r < 0) {
                ret->auth_failed = ret->retry = true;
                snprintf(ret->message, sizeof(ret->message), "%s", aws_creds_error(c->creds));
                snprintf(ret->error, sizeof(ret->error), "no AWS credentials for %s: %s", c->service->display,
                         ret->message);
                return -ENOKEY;
        }
        sent_at = time(NULL);
        r = send_once(c, call, creds, ret);
        if (r >= 0 && learn_offset(c, ret, sent_at)) {
                aws_result_done(ret);
                *ret = (struct aws_result){0};
                r = send_once(c, call, creds, ret);
        }
        if (r < 0)
                return r;
        if (ret->auth_failed)
                aws_creds_invalidate(c->creds);
        return 0;
}
