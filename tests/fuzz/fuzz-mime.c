/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the MIME splitter and base64 decoder. */
#include <stdint.h>
#include <stdlib.h>

#include "userdata/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct mime_message m = {0};
        char *err = NULL, *out = NULL;
        size_t len;

        if (mime_split((const char *) data, size, &m, &err) >= 0)
                mime_message_done(&m);
        free(err);
        if (base64_decode((const char *) data, size, &out, &len) >= 0)
                free(out);
        return 0;
}
