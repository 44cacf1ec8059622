/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "macro.h"

/* AWS Signature Version 4, for any AWS service called over HTTP: the
 * canonical request, the string to sign, the derived key and the
 * Authorization header. Written once; nothing here knows CloudWatch. The
 * secret key goes into the HMAC and nowhere else; nothing here logs. */

struct aws_credentials {
        char *access_key_id;
        char *secret_access_key;
        char *session_token; /* NULL for long-term keys */
        time_t expiration; /* 0: does not expire */
};

void aws_credentials_done(struct aws_credentials *c);
int aws_credentials_copy(const struct aws_credentials *src, struct aws_credentials *ret);

struct sigv4_request {
        const char *method; /* "POST" */
        const char *target; /* the request target as sent: "/path?query" */
        char **headers; /* "Name: value", NULL-terminated; must hold Host */
        const void *body;
        size_t body_len;
};

struct sigv4_result {
        char *canonical_request;
        char *string_to_sign;
        char *signature; /* lower-case hex */
        char *authorization; /* the Authorization header's value */
        char *amz_date; /* YYYYMMDDTHHMMSSZ */
        char **headers; /* the request's headers, signed: X-Amz-Date,
                              * X-Amz-Security-Token and Authorization added */
};

void sigv4_result_done(struct sigv4_result *r);

/* Signs req for region and service at time `when`. For service "s3" the
 * path is encoded once and not normalized, as S3 wants; for every other
 * service it is normalized and encoded twice. Existing X-Amz-Date,
 * X-Amz-Security-Token and Authorization headers are replaced. Every header
 * is signed except those that proxies and HTTP stacks rewrite (Expect,
 * User-Agent, X-Amzn-Trace-Id), as the AWS SDKs do. -EINVAL when the request
 * has no Host header. */
int sigv4_sign(const struct sigv4_request *req, const struct aws_credentials *creds, const char *region,
               const char *service, time_t when, struct sigv4_result *ret);

/* "20150830T123600Z" -> seconds since the epoch. */
int sigv4_parse_date(const char *s, time_t *ret);

/* Lower-case hex SHA-256 of data (65 bytes with the NUL). */
void sigv4_sha256_hex(const void *data, size_t len, char ret[static 65]);

/* RFC 3986 percent-encoding of all but unreserved characters, upper-case
 * hex; '/' is kept when keep_slash. */
char *sigv4_uri_encode(const char *s, size_t len, bool keep_slash);
