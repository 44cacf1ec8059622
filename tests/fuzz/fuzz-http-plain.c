/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the plain-HTTP transport's response parser (status
 * line, fields, 1xx, chunked, Content-Length), on a buffer as read from the
 * connection. Checks what the parser promises: at most 100 fields, no body
 * larger than the input, a NUL after the body. The same bytes as a URL for
 * http_url_parse(): a host it accepts has no '@', '/', blank or control. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http-plain.h"

static void url(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);
        struct http_url u;

        if (!s)
                return;
        memcpy(s, data, size);
        s[size] = 0;
        if (http_url_parse(s, &u) == 0 && (!u.host[0] || strpbrk(u.host, "@/\\ \t\r\n?#") || u.port == 0 ||
                                           u.port > 65535 || u.path < s || u.path + u.path_len > s + size))
                abort();
        free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        for (int head_only = 0; head_only <= 1; head_only++) {
                struct http_response resp = {0};

                if (http_plain_parse_response((const char *) data, size, head_only, &resp) < 0)
                        continue;
                if (resp.status < 100 || resp.status > 999 || !resp.body || resp.body_len > size ||
                    resp.body[resp.body_len] != 0 || strv_length(resp.headers) > HTTP_MAX_HEADER_LINES ||
                    (head_only && resp.body_len != 0))
                        abort();
                for (char **h = resp.headers; h && *h; h++)
                        if (!strchr(*h, ':') || strpbrk(*h, "\r\n"))
                                abort();
                free(resp.body);
                strv_free(resp.headers);
        }
        url(data, size);
        return 0;
}
