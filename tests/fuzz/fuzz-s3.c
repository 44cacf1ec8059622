/* SPDX-License-Identifier: MIT */
/* libFuzzer target: what kiln reads for S3: an acme.storage URL
 * (s3://BUCKET/PREFIX, from the config) and a ListObjectsV2 answer (from
 * the network). The first byte picks which. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/s3.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void url(const char *text) {
        char *bucket = NULL, *prefix = NULL, *error = NULL;
        size_t n;

        if (s3_url_parse(text, &bucket, &prefix, &error) == 0) {
                /* A prefix is "" or ends in exactly one '/'. */
                n = strlen(prefix);
                if (!*bucket || (n > 0 && (prefix[n - 1] != '/' || (n > 1 && prefix[n - 2] == '/'))))
                        abort();
        } else if (!error || !*error)
                abort();
        free(bucket);
        free(prefix);
        free(error);
}

static void list(const char *text, size_t len) {
        char **keys = NULL, *token = NULL;
        size_t n = 0;
        bool more = false;

        if (s3_list_parse(text, len, "p/", 50, &keys, &n, &more, &token) == 0) {
                if (n > 50 || strv_length(keys) != n || (more && !token))
                        abort();
                for (size_t i = 0; i < n; i++)
                        if (!strneq(keys[i], "p/", 2))
                                abort();
        }
        strv_free(keys);
        free(token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text;

        if (size < 1)
                return 0;
        text = malloc(size);
        if (!text)
                return 0;
        memcpy(text, data + 1, size - 1);
        text[size - 1] = 0;
        if (data[0] & 1)
                list(text, size - 1);
        else
                url(text);
        free(text);
        return 0;
}
