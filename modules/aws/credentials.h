/* SPDX-License-Identifier: MIT */
#pragma once

#include <time.h>

#include "aws/sigv4.h"
#include "imds/imds.h"

/* AWS credentials, in the SDKs' order: the environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), then the instance role from
 * IMDS (meta-data/iam/security-credentials/<role>). Role credentials are
 * fetched again 5 to 15 minutes (with jitter; at most half their remaining
 * life) before they expire. When IMDS cannot be reached, the current
 * credentials are kept while they last, and IMDS is tried again with
 * backoff and jitter. Nothing here logs, and no error message holds a key. */

struct aws_creds_provider;

/* imds may be NULL: environment only. The provider does not own imds. */
int aws_creds_provider_new(struct imds *imds, struct aws_creds_provider **ret);
void aws_creds_provider_free(struct aws_creds_provider *p);
/* The usual pair: an IMDS client from o (the config's imds settings) with
 * its budget capped at AWS_CREDS_IMDS_BUDGET_MS, since a credential refresh
 * must not hold a renewal, a flush or the daemon for IMDS's minute, and a
 * provider over it. The caller frees both (the provider first). */
#define AWS_CREDS_IMDS_BUDGET_MS 5000
int aws_creds_provider_new_imds(const struct imds_options *o, struct imds **ret_imds, struct aws_creds_provider **ret);
DEFINE_POINTER_CLEANUP(struct aws_creds_provider, aws_creds_provider_free)

/* Credentials usable at `now` (seconds since the epoch), fetched or
 * refreshed when due. -ENOKEY when there are none: then
 * aws_creds_error() says why. The pointer stays valid until the next call. */
int aws_creds_get(struct aws_creds_provider *p, time_t now, const struct aws_credentials **ret);
/* The service refused the current credentials: fetch again at the next get. */
void aws_creds_invalidate(struct aws_creds_provider *p);
/* When the current credentials will be refreshed; 0 when never. */
time_t aws_creds_refresh_at(const struct aws_creds_provider *p);
/* "environment", "instance role 'NAME'", or "none". */
const char *aws_creds_source(const struct aws_creds_provider *p);
const char *aws_creds_error(const struct aws_creds_provider *p);

/* Parses IMDS's credentials document. */
int aws_creds_parse_imds(const char *json, struct aws_credentials *ret);
/* "2024-05-01T12:00:00Z" (fractions and offsets accepted) -> epoch seconds. */
int aws_parse_iso8601(const char *s, time_t *ret);
