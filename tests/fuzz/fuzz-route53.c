/* SPDX-License-Identifier: MIT */
/* libFuzzer target: Route 53's answers as kiln reads them: a
 * ListHostedZonesByName page (zones, the next page), the zone choice made
 * from it, and an error body's code and message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/route53.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct route53_zone *z = NULL;
        char *text = malloc(size + 1), *next_name = NULL, *next_id = NULL, *id = NULL, code[128], msg[512];
        size_t n = 0, i;

        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        if (route53_parse_zones(text, size, &z, &n, &next_name, &next_id) == 0) {
                /* What a parse returns must be usable as it is. */
                for (i = 0; i < n; i++)
                        if (!z[i].id || !*z[i].id || !z[i].name || route53_zone_id_parse(z[i].id, &id) < 0)
                                abort();
                        else {
                                free(id);
                                id = NULL;
                        }
                if (!next_name != !next_id)
                        abort();
                if (route53_pick_zone(z, n, "_acme-challenge.www.example.com", &i) >= 0 &&
                    (i >= n || z[i].private_zone))
                        abort();
                route53_zones_free(z, n);
                free(next_name);
                free(next_id);
        }
        (void) aws_error_code(NULL, text, code, sizeof(code), msg, sizeof(msg));
        if (route53_zone_id_parse(text, &id) == 0)
                free(id);
        free(text);
        return 0;
}
