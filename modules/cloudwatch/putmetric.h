/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "aws/credentials.h"
#include "cloudwatch/metric.h"

/* One PutMetricData call: sign a body encoded beforehand (metric_encode(),
 * gzipped when it paid), send it, and judge CloudWatch's answer. */

struct cw_client {
        char *endpoint; /* "https://monitoring.us-east-1.amazonaws.com" */
        char *host; /* the Host header: "host[:port]" */
        char *region;
        long timeout_ms;
        struct aws_creds_provider *creds; /* not owned */
        long clock_offset_s; /* CloudWatch's clock minus ours, learnt from a skew error's Date */
};

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

/* The endpoint as aws_endpoint() finds it: AWS_ENDPOINT_URL_CLOUDWATCH,
 * AWS_ENDPOINT_URL, override (metrics.endpoint), else
 * "https://monitoring[-fips].<region>.amazonaws.com[.cn]". */
int cw_client_init(struct cw_client *c, const char *region, const char *override, bool fips);
void cw_client_done(struct cw_client *c);

/* A request body as metric_encode() made it. */
struct cw_body {
        enum metric_protocol protocol;
        bool gzip; /* data is gzipped */
        const char *data;
        size_t len;
};

/* Signs (at our clock plus c->clock_offset_s), sends, judges. An answer
 * that says our clock is off corrects c->clock_offset_s from its Date
 * header, as the AWS SDKs do, and the request is signed again and sent
 * once more; credentials are not refreshed for it. */
int cw_put_metric_data(struct cw_client *c, const struct cw_body *body, struct cw_answer *ret);
