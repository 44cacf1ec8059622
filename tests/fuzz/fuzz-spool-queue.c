/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the metric spool's queue-file parser (what the daemon
 * reads back from /var/lib/kiln/metrics/queue/ at start and when a commit
 * comes to be sent), and the name of a bad datum read out of each request
 * body, as an error message would. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloudwatch/metric.h"
#include "cloudwatch/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct spool_request *reqs = NULL;
        json_t *head = NULL;
        char *text = malloc(size + 1);
        size_t n = 0;

        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0; /* as read_file() hands it over */
        if (spool_parse_queue(text, size, &head, &reqs, &n) == 0) {
                if (!json_is_object(head))
                        abort();
                for (size_t i = 0; i < n; i++) {
                        if (!reqs[i].namespace || !reqs[i].body || reqs[i].body[reqs[i].len] != 0)
                                abort();
                        free(metric_body_item_name(reqs[i].protocol, reqs[i].body, reqs[i].len, 1));
                }
                spool_requests_free(reqs, n);
                json_decref(head);
        }
        free(text);
        return 0;
}
