/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the metrics hand-over parser (put-metric's incoming
 * files) and what the daemon does with its datums: check, pack, split and
 * encode in both protocols. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cloudwatch/metric.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Each request as split for its protocol must stay within the limit. */
static void encode_all(const struct metric_batch *packed, enum metric_protocol proto) {
        for (size_t i = 0; i < packed->n_items;) {
                size_t k = metric_split(proto, packed->items + i, packed->n_items - i, "Fuzz");
                struct strbuf b = STRBUF_INIT;
                if (metric_encode(proto, "Fuzz", packed->items + i, k, &b) == 0 && k > 1 && b.len > METRIC_MAX_BODY)
                        abort();
                free(metric_body_item_name(proto, b.data ? b.data : "", b.len, 1));
                strbuf_done(&b);
                i += k;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct metric_batch b = {0}, packed = {0};
        struct metric_datum **good;
        char *text = malloc(size + 1);
        size_t n = 0;

        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0; /* as read_file() hands it over */
        if (metric_parse_incoming(&b, text, size) < 0)
                (void) metric_parse_datums(&b, text, size, NULL);
        good = calloc(b.n_items + 1, sizeof(*good));
        for (size_t i = 0; good && i < b.n_items; i++) {
                char *err = NULL;
                if (metric_check(&b.items[i], 1700000000, &err) == 0)
                        good[n++] = &b.items[i];
                free(err);
        }
        if (good && metric_pack(good, n, &packed) == 0) {
                encode_all(&packed, METRIC_QUERY);
                encode_all(&packed, METRIC_JSON);
        }
        free(good);
        metric_batch_done(&packed);
        metric_batch_done(&b);
        free(text);
        return 0;
}
