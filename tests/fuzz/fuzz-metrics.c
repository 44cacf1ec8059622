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

static void encode_all(const struct metric_batch *packed) {
        for (size_t i = 0; i < packed->n_items;) {
                size_t k = metric_split(packed->items + i, packed->n_items - i, "Fuzz");
                struct strbuf q = STRBUF_INIT, j = STRBUF_INIT;
                (void) metric_encode(METRIC_QUERY, "Fuzz", packed->items + i, k, &q);
                (void) metric_encode(METRIC_JSON, "Fuzz", packed->items + i, k, &j);
                free(metric_body_item_name(METRIC_JSON, j.data ? j.data : "", j.len, 1));
                strbuf_done(&q);
                strbuf_done(&j);
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
        if (good && metric_pack(good, n, &packed) == 0)
                encode_all(&packed);
        free(good);
        metric_batch_done(&packed);
        metric_batch_done(&b);
        free(text);
        return 0;
}
