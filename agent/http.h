/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* The one HTTP client of kiln. Modules describe a request; this file owns
 * libcurl, timeouts, retries with exponential backoff and jitter, and
 * Retry-After. No other file includes <curl/curl.h>. */

enum {
        HTTP_RETRY_NETWORK = 1 << 0, /* connection refused/reset, timeouts, DNS */
        HTTP_RETRY_5XX = 1 << 1, /* 500..599 */
        HTTP_RETRY_429 = 1 << 2, /* 429 Too Many Requests */
};

#define HTTP_ERROR_MAX 256

struct http_request {
        const char *method; /* "GET" when NULL; "HEAD", "POST", "PUT", ... */
        const char *url;
        const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
        const void *body; /* sent when body or body_len is set */
        size_t body_len;
        long connect_timeout_ms; /* default 3000 */
        long timeout_ms; /* per attempt, default 30000 */
        unsigned max_attempts; /* default 1: no retry */
        long budget_ms; /* all attempts and waits together; 0: unbounded */
        unsigned retry_on; /* HTTP_RETRY_* */
        long backoff_base_ms; /* first backoff, default 200 */
        long backoff_max_ms; /* cap on one backoff, default 10000 */
        size_t max_body; /* default 16 MiB; more is -EFBIG */
        const char *ca_file; /* extra trust anchors, replaces the system store */
        const char *const *resolve; /* curl "host:port:addr" overrides */
        const char *pin_address; /* numeric IP: connect there only (the URL's port), whatever the URL's host says */
        bool no_proxy; /* never through a proxy (IMDS) */
        bool secret; /* headers or bodies hold a secret (a token): kiln's copies are wiped when freed */
        char *error; /* optional HTTP_ERROR_MAX buffer for the transport error */
};

struct http_response {
        long status;
        char *body; /* NUL-terminated */
        size_t body_len;
        char **headers; /* "Name: value" of the final response */
        unsigned attempts;
        long retry_after_ms; /* from Retry-After, -1 when absent */
        bool secret; /* the request's: body wiped when freed */
};

/* 0 with *ret set for any HTTP status (the caller judges 4xx/5xx), or a
 * negative errno when no response came: -ETIMEDOUT, -ECONNREFUSED,
 * -ECONNRESET, -EHOSTUNREACH, -EFBIG, -EPROTO, ... */
int http_request(const struct http_request *req, struct http_response **ret);

const char *http_response_header(const struct http_response *r, const char *name);
void http_response_free(struct http_response *r);
DEFINE_POINTER_CLEANUP(struct http_response, http_response_free)
#define _cleanup_http_response_ _cleanup_(http_response_freep)

/* A URL as kiln reads one: http or https, no userinfo, a host of letters,
 * digits, dots and dashes or an IPv6 literal in brackets, a port 1..65535,
 * no blanks or control characters, 2048 bytes at most. */
#define HTTP_URL_MAX 2048
struct http_url {
        bool https;
        char host[256]; /* IPv6 without its brackets */
        unsigned port; /* 80 or 443 when not given */
        char authority[270]; /* as written: "host:port", "[::1]:80" */
        const char *path; /* into the URL, before any '#'; may be "" or start with '?' */
        size_t path_len;
};
int http_url_parse(const char *url, struct http_url *ret);

/* Parses a Retry-After value: delta-seconds or an HTTP-date. -1 if invalid. */
long http_parse_retry_after(const char *value, long now_s);
/* The backoff before attempt n (1-based retry count), with full jitter in
 * [base*2^(n-1)/2, base*2^(n-1)], capped at max. */
long http_backoff_ms(unsigned n, long base_ms, long max_ms);
/* Percent-encodes s per RFC 3986 unreserved characters. */
char *http_urlencode(const char *s);

void http_global_init(void);
void http_global_cleanup(void);
