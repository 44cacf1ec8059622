/* SPDX-License-Identifier: MIT */
/* libFuzzer target: Retry-After values (RFC 9110 10.2.3: delta-seconds or
 * an HTTP-date), as http_request() reads them from any server. The result
 * is -1 or a wait in [0, 7 days], whatever the clock. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const long nows[] = {0, 1000, 784111777, 1767225600, 4102444800L, -1};
        char *s = malloc(size + 1);

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = 0;
        for (size_t i = 0; i < sizeof(nows) / sizeof(nows[0]); i++) {
                long ms = http_parse_retry_after(s, nows[i]);
                if (ms != -1 && (ms < 0 || ms > 7 * 86400L * 1000))
                        abort();
        }
        free(s);
        return 0;
}
