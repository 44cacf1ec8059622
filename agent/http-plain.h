/* SPDX-License-Identifier: MIT */
#pragma once

#include "http.h"

/* Plain-HTTP transport of agent/http.c, for http:// URLs that need no proxy
 * (IMDS on its link-local address, services on loopback). One request per
 * connection, HTTP/1.1 with "Connection: close". It exists so that a boot
 * that only talks to IMDS does not load libcurl and the thirty-odd
 * libraries behind it (7 MB of RSS and most of kiln's start-up CPU).
 * Fills resp->status, body and headers; returns 0 or a negative errno, with
 * the reason in `error` (HTTP_ERROR_MAX bytes). */
int http_plain_perform(const struct http_request *req, struct http_response *resp, char *error);

/* True when the URL can go through http_plain_perform(). */
bool http_plain_eligible(const struct http_request *req);

/* The most kiln reads of a response's head (status line, fields, blank
 * line), on either transport. */
#define HTTP_MAX_HEADER_BYTES (64u * 1024)
#define HTTP_MAX_HEADER_LINES 100

/* Parses one whole response as read from the connection until the server
 * closed it: status line, fields (1xx interim answers skipped), then the
 * body by Transfer-Encoding: chunked, Content-Length or the end. Sets
 * resp->status, headers ("Name: value"), body and body_len on success.
 * -ECONNRESET when it was cut short, -EMSGSIZE past the header limits,
 * -EPROTO when malformed. For tests/fuzz too. */
int http_plain_parse_response(const char *raw, size_t len, bool head_only, struct http_response *resp);

/* A header list that grows by doubling, NULL-terminated at every step;
 * refuses the field past HTTP_MAX_HEADER_LINES with -EMSGSIZE. */
struct http_header_list {
        char **v;
        size_t n, cap;
};
int http_header_list_add(struct http_header_list *l, const char *line, size_t len);
void http_header_list_clear(struct http_header_list *l);
