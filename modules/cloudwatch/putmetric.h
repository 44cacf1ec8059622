/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "aws/aws.h"
#include "cloudwatch/metric.h"

/* One PutMetricData call: a body encoded beforehand (metric_encode(),
 * gzipped when it paid) signed and sent by aws_call() with a client made by
 * aws_client_init(&aws_cloudwatch, ...), and CloudWatch's answer judged. */

enum cw_outcome {
        CW_SENT, /* 2xx: CloudWatch has the data */
        CW_REJECTED, /* the data is invalid (400): drop this batch */
        CW_RETRY, /* throttled, 5xx, network, no credentials: try again later */
};

struct cw_answer {
        enum cw_outcome outcome;
        long status; /* HTTP status, 0 when none came */
        long retry_after_ms; /* -1 when not given */
        bool auth_failed; /* credentials refused: refreshed before the retry */
        bool skewed; /* refused for our clock (RequestExpired, "Signature expired", ...) */
        size_t body_len; /* bytes sent */
        bool gzipped;
        char message[768]; /* what went wrong, for the log; names the bad datum */
};

/* A request body as metric_encode() made it. */
struct cw_body {
        enum metric_protocol protocol;
        bool gzip; /* data is gzipped */
        const char *data;
        size_t len;
};

/* Sends one request and judges the answer. As aws_call(): signed at our
 * clock plus c->clock_offset_s, and an answer that says our clock is off
 * corrects that offset from its Date header and the request goes once
 * more; credentials are not refreshed for it. 0 whatever CloudWatch said
 * (ret says it), a negative errno only for -ENOMEM and -EINVAL. */
int cw_put_metric_data(struct aws_client *c, const struct cw_body *body, struct cw_answer *ret);
