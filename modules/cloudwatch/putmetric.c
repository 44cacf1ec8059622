/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/aws.h"
#include "aws/sigv4.h"
#include "cloudwatch/putmetric.h"
#include "http.h"
#include "strbuf.h"

#define SERVICE "monitoring"
#define JSON_TARGET "GraniteServiceVersion20100801.PutMetricData"

int cw_client_init(struct cw_client *c, const char *region, const char *override, bool fips) {
        struct http_url u;
        int r;

        c->region = strdup(region);
        if (!c->region)
                return -ENOMEM;
        r = aws_endpoint(&aws_cloudwatch, region, override, fips, &c->endpoint, NULL);
        if (r < 0)
                return r;
        r = http_url_parse(c->endpoint, &u);
        if (r < 0)
                return r;
        c->host = strdup(u.authority);
        return c->host ? 0 : -ENOMEM;
}

void cw_client_done(struct cw_client *c) {
        free(c->endpoint);
        free(c->host);
        free(c->region);
        c->endpoint = c->host = c->region = NULL;
}

static bool code_in(const char *code, const char *const *list) {
        for (; *list; list++)
                if (streq(code, *list))
                        return true;
        return false;
}

/* "... MetricData.member.3.Value ..." -> "datum 3 'Name'". */
static void name_bad_datum(const struct cw_body *body, const char *msg, char *out, size_t size) {
        const char *p = strstr(msg, "MetricData.member.");
        _cleanup_free_ char *name = NULL;
        long n;

        out[0] = 0;
        if (!p || sscanf(p + strlen("MetricData.member."), "%ld", &n) != 1 || n < 1)
                return;
        name = metric_body_item_name(body->protocol, body->data, body->len, (size_t) n);
        if (name)
                snprintf(out, size, "; the bad datum is #%ld, '%s'", n, name);
}

static void judge(struct cw_answer *a, const struct cw_body *body, const struct http_response *resp) {
        static const char *const auth_codes[] = {"ExpiredToken",          "ExpiredTokenException",
                                                 "InvalidClientTokenId",  "UnrecognizedClientException",
                                                 "SignatureDoesNotMatch", "InvalidSignatureException",
                                                 "IncompleteSignature",   "MissingAuthenticationToken",
                                                 "AccessDenied",          NULL};
        static const char *const retry_codes[] = {
                "Throttling",         "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
                "ServiceUnavailable", "InternalFailure",     "InternalServiceError", NULL};
        char code[128], msg[512], which[200];

        a->status = resp->status;
        a->retry_after_ms = resp->retry_after_ms;
        if (resp->status >= 200 && resp->status < 300) {
                a->outcome = CW_SENT;
                return;
        }
        (void) aws_error_code(http_response_header(resp, "x-amzn-query-error"), resp->body, code, sizeof(code), msg,
                              sizeof(msg));
        a->skewed = aws_is_skew_error(code, msg);
        a->auth_failed = !a->skewed && (code_in(code, auth_codes) || resp->status == 401 || resp->status == 403);
        if (a->skewed || a->auth_failed || resp->status >= 500 || resp->status == 429 || code_in(code, retry_codes) ||
            (resp->status != 400 && resp->status != 413)) {
                a->outcome = CW_RETRY;
                snprintf(a->message, sizeof(a->message), "CloudWatch answered %ld %s%s%.300s", resp->status,
                         code[0] ? code : "", msg[0] ? ": " : "", msg);
                return;
        }
        a->outcome = CW_REJECTED;
        name_bad_datum(body, msg, which, sizeof(which));
        snprintf(a->message, sizeof(a->message), "CloudWatch rejected the data (%ld %s: %.300s)%.200s", resp->status,
                 code[0] ? code : "?", msg[0] ? msg : "no message", which);
}

static int headers(const struct cw_client *c, const struct cw_body *body, char ***ret) {
        _cleanup_free_ char *host = strdup_printf("Host: %s", c->host);
        _cleanup_strv_free_ char **h = NULL;
        int r = 0;

        if (!host)
                return -ENOMEM;
        if (body->gzip)
                r = strv_push(&h, "Content-Encoding: gzip");
        r = r < 0 ? r : strv_push(&h, host);
        if (body->protocol == METRIC_JSON) {
                r = r < 0 ? r : strv_push(&h, "Content-Type: application/x-amz-json-1.0");
                r = r < 0 ? r : strv_push(&h, "X-Amz-Target: " JSON_TARGET);
        } else
                r = r < 0 ? r : strv_push(&h, "Content-Type: application/x-www-form-urlencoded; charset=utf-8");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(h);
        return 0;
}

static int send_signed(struct cw_client *c, const struct cw_body *body, char **hdrs,
                       const struct aws_credentials *creds, struct http_response **ret, char *err) {
        struct sigv4_request sreq = {
                .method = "POST", .target = "/", .headers = hdrs, .body = body->data, .body_len = body->len};
        _cleanup_free_ char *url = strdup_printf("%s/", c->endpoint);
        struct sigv4_result sig = {0};
        int r;

        if (!url)
                return -ENOMEM;
        r = sigv4_sign(&sreq, creds, c->region, SERVICE, time(NULL) + c->clock_offset_s, &sig);
        if (r < 0)
                return r;
        struct http_request req = {
                .method = "POST",
                .url = url,
                .headers = (const char *const *) sig.headers,
                .body = body->data,
                .body_len = body->len,
                .connect_timeout_ms = c->timeout_ms < 3000 ? c->timeout_ms : 3000,
                .timeout_ms = c->timeout_ms,
                .max_attempts = 1, /* the caller backs off; a re-sent signature would be stale anyway */
                .max_body = 1024 * 1024,
                .error = err,
        };
        r = http_request(&req, ret);
        sigv4_result_done(&sig);
        return r;
}

/* After a skew error: CloudWatch's clock from the answer's Date. True when
 * that changed the offset, so that signing again can help. */
static bool learn_offset(struct cw_client *c, const struct http_response *resp, time_t sent_at) {
        time_t server;
        long offset;

        if (aws_parse_http_date(http_response_header(resp, "Date"), &server) < 0)
                return false;
        offset = (long) (server - sent_at);
        if (offset == c->clock_offset_s)
                return false;
        c->clock_offset_s = offset;
        return true;
}

static int send_once(struct cw_client *c, const struct cw_body *body, const struct aws_credentials *creds,
                     struct cw_answer *ret) {
        _cleanup_http_response_ struct http_response *resp = NULL;
        _cleanup_strv_free_ char **hdrs = NULL;
        char err[HTTP_ERROR_MAX] = "";
        time_t sent_at = time(NULL);
        int r;

        r = headers(c, body, &hdrs);
        if (r >= 0)
                r = send_signed(c, body, hdrs, creds, &resp, err);
        if (r == -ENOMEM || r == -EINVAL)
                return r;
        if (r < 0) {
                snprintf(ret->message, sizeof(ret->message), "CloudWatch at %s unreachable: %s", c->endpoint,
                         err[0] ? err : strerror(-r));
                return 0;
        }
        judge(ret, body, resp);
        /* 1: sign again with the corrected clock. */
        return ret->skewed && learn_offset(c, resp, sent_at) ? 1 : 0;
}

int cw_put_metric_data(struct cw_client *c, const struct cw_body *body, struct cw_answer *ret) {
        const struct aws_credentials *creds = NULL;
        int r;

        *ret = (struct cw_answer){.outcome = CW_RETRY, .retry_after_ms = -1};
        r = aws_creds_get(c->creds, time(NULL), &creds);
        if (r < 0) {
                snprintf(ret->message, sizeof(ret->message), "no AWS credentials: %s", aws_creds_error(c->creds));
                return 0;
        }
        ret->body_len = body->len;
        ret->gzipped = body->gzip;
        r = send_once(c, body, creds, ret);
        /* Once: a second skew error with a Date that moved again is left
         * to the caller's backoff. */
        if (r > 0) {
                *ret = (struct cw_answer){
                        .outcome = CW_RETRY, .retry_after_ms = -1, .body_len = body->len, .gzipped = body->gzip};
                r = send_once(c, body, creds, ret);
        }
        if (r < 0)
                return r;
        if (ret->auth_failed)
                aws_creds_invalidate(c->creds);
        return 0;
}
