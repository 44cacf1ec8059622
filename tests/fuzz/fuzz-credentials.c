/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the instance role's credentials document, as IMDS (or a
 * container credentials endpoint) serves it: {"Code": "Success",
 * "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/credentials.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct aws_credentials c = {0};
        char *text = malloc(size + 1);

        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        if (aws_creds_parse_imds(text, &c) == 0) {
                /* What a parse returns must be usable as it is. */
                if (!c.access_key_id || !*c.access_key_id || !c.secret_access_key || !*c.secret_access_key ||
                    (c.session_token && !*c.session_token))
                        abort();
                aws_credentials_done(&c);
        }
        free(text);
        return 0;
}
