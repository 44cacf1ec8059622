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
