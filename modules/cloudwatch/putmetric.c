/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"
#include "cloudwatch/putmetric.h"
#include "http.h"
#include "strbuf.h"

#define JSON_TARGET "GraniteServiceVersion20100801.PutMetricData"
#define MAX_ANSWER (1024 * 1024)

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

/* aws_call() judged the answer for every service; what is CloudWatch's own:
 * a 400 or 413 is bad data unless the code says otherwise, anything else
 * goes again later, and a 403 of any code counts as refused credentials
 * (an instance profile swapped for one that may put metrics shows only
 * with new credentials). */
static void judge(struct cw_answer *a, const struct cw_body *body, const struct aws_result *res) {
        char which[200];

        a->status = res->status;
        a->retry_after_ms = res->response ? res->response->retry_after_ms : -1;
        if (aws_ok(res)) {
                a->outcome = CW_SENT;
                return;
        }
        if (!res->response) {
                snprintf(a->message, sizeof(a->message), "%s", res->error);
                return;
        }
        a->skewed = aws_is_skew_error(res->code, res->message);
        a->auth_failed = res->auth_failed || (!a->skewed && res->status == 403);
        if (res->retry || a->auth_failed || (res->status != 400 && res->status != 413)) {
                snprintf(a->message, sizeof(a->message), "CloudWatch answered %ld %s%s%.300s", res->status, res->code,
                         res->message[0] ? ": " : "", res->message);
                return;
        }
        a->outcome = CW_REJECTED;
        name_bad_datum(body, res->message, which, sizeof(which));
        snprintf(a->message, sizeof(a->message), "CloudWatch rejected the data (%ld %s: %.300s)%.200s", res->status,
                 res->code[0] ? res->code : "?", res->message[0] ? res->message : "no message", which);
}

int cw_put_metric_data(struct aws_client *c, const struct cw_body *body, struct cw_answer *ret) {
        const char *headers[] = {
                body->protocol == METRIC_JSON ? "Content-Type: application/x-amz-json-1.0"
                                              : "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
                body->protocol == METRIC_JSON ? "X-Amz-Target: " JSON_TARGET : NULL,
                NULL,
                NULL,
        };
        struct aws_result res;
        int r;

        if (body->gzip)
                headers[body->protocol == METRIC_JSON ? 2 : 1] = "Content-Encoding: gzip";
        *ret = (struct cw_answer){
                .outcome = CW_RETRY, .retry_after_ms = -1, .body_len = body->len, .gzipped = body->gzip};
        r = aws_call(c,
                     &(struct aws_call){.method = "POST",
                                        .path = "/",
                                        .headers = headers,
                                        .body = body->data,
                                        .body_len = body->len,
                                        .max_body = MAX_ANSWER},
                     &res);
        if (r == -ENOKEY) {
                snprintf(ret->message, sizeof(ret->message), "%s", res.error);
                return 0;
        }
        if (r >= 0) {
                judge(ret, body, &res);
                /* aws_call() told the provider about credentials it refused. */
                if (ret->auth_failed && !res.auth_failed)
                        aws_creds_invalidate(c->creds);
        }
        aws_result_done(&res);
        return r;
}
