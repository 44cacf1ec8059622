/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "context.h"

/* IMDSv2 client. Tokens are fetched with PUT /latest/api/token, cached, and
 * fetched again when IMDS answers 401. Connection errors, timeouts and 5xx
 * are retried with backoff inside a total time budget; nothing else is. */

#define IMDS_ENDPOINT_IPV4 "http://169.254.169.254"
#define IMDS_ENDPOINT_IPV6 "http://[fd00:ec2::254]"

struct imds_options {
        const char *endpoint; /* base URL without /latest */
        bool allow_v1; /* fall back to IMDSv1 when tokens are unavailable */
        long token_ttl_s; /* 1..21600 */
        long connect_timeout_ms; /* per attempt */
        long timeout_ms; /* per attempt */
        long budget_ms; /* per call, all attempts together */
};

/* Options from the config's imds: section, then the AWS SDK environment
 * (AWS_EC2_METADATA_SERVICE_ENDPOINT, ..._ENDPOINT_MODE), which wins. The
 * strings point into config or the environment. */
void imds_options_from_config(const json_t *config, struct imds_options *ret);

int imds_new(const struct imds_options *o, struct imds **ret);
void imds_free(struct imds *c);
DEFINE_POINTER_CLEANUP(struct imds, imds_free)

/* GETs /latest/<path> ("meta-data/instance-id", "user-data", ...).
 *   -ENOENT  absent (404)
 *   -EACCES  IMDS disabled (403)
 *   -ENODEV  AWS_EC2_METADATA_DISABLED is set
 *   -EPROTONOSUPPORT  no IMDSv2 and IMDSv1 not allowed
 *   -ETIMEDOUT, -ECONNREFUSED, ...  unreachable within the budget
 * imds_error() then says what happened, in words, for the log. */
int imds_get(struct imds *c, const char *path, char **ret, size_t *ret_len);
/* The same within budget_ms (retries included) when that is shorter than
 * imds.timeout; 0: imds.timeout; < 0: no time left, -ETIMEDOUT at once. */
int imds_get_within(struct imds *c, const char *path, long budget_ms, char **ret, size_t *ret_len);
const char *imds_error(const struct imds *c);
const char *imds_endpoint(const struct imds *c);

/* The identity document and the few keys kiln needs. */
int imds_identify(struct imds *c, struct instance_facts *ret);

/* ctx->imds, created from ctx->config on first use. */
int imds_from_context(struct kiln_context *ctx, struct imds **ret);

/* Writes /run/kiln/metadata.env from the facts. */
int imds_write_env(const struct instance_facts *f);
