/* SPDX-License-Identifier: MIT */
/* libFuzzer target: what kiln reads from other programs for metrics:
 * nginx's stub_status page, and a custom metric command's output (one
 * number, or "NAME VALUE [UNIT]" lines). Every datum made from the output
 * is checked as CloudWatch would, and encoded. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloudwatch/collect.h"
#include "cloudwatch/metric.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_all(json_t *out) {
        struct metric_batch b = {0};
        size_t i;
        json_t *d;

        json_array_foreach(out, i, d) {
                char *err = NULL;
                (void) metric_check_datum(d, 1700000000, &err);
                free(err);
        }
        if (metric_batch_add_json(&b, out, "Fuzz") == 0 && b.n_items > 0) {
                struct strbuf q = STRBUF_INIT;
                (void) metric_encode(METRIC_QUERY, "Fuzz", b.items, b.n_items, &q);
                strbuf_done(&q);
        }
        metric_batch_done(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        unsigned long long requests;
        long active, reading, writing, waiting;
        json_t *out = json_array();
        char *text = malloc(size + 1), *err = NULL;
        int n;

        if (!text || !out) {
                free(text);
                json_decref(out);
                return 0;
        }
        memcpy(text, data, size);
        text[size] = 0;
        (void) collect_parse_stub_status(text, &active, &requests, &reading, &writing, &waiting);
        n = collect_parse_command_output(text, "Fuzz", "None", 1700000000, 60, out, &err);
        if (n >= 0 && (size_t) n > json_array_size(out))
                abort();
        if (n == -EBADMSG && !err)
                abort();
        check_all(out);
        free(err);
        json_decref(out);
        free(text);
        return 0;
}
