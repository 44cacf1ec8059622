/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the plain-HTTP transport's response parser (status
 * line, fields, 1xx, chunked, Content-Length), on a buffer as read from the
 * connection. Checks what the parser promises: at most 100 fields, no body
 * larger than the input, a NUL after the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http-plain.h"

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
        return 0;
}
