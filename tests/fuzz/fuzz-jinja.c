/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the jinja subset (parser and renderer), with instance
 * data shaped as cloud-init's (lists, nested mappings, hyphenated keys). */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "macro.h"
#include "userdata/jinja.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static json_t *vars;
        char *out = NULL, *err = NULL, **missing = NULL;
        size_t len = 0, hl = 0;

        if (!vars)
                vars = json_loads("{\"v1\": {\"instance_id\": \"i-0abc\", \"region\": \"eu-west-1\", \"n\": 3,"
                                  " \"keys\": [\"a\", \"b\", \"c\"], \"x\": 2.5, \"t\": true, \"z\": null},"
                                  " \"ds\": {\"meta_data\": {\"local-hostname\": \"ip-1\", \"tags\": {\"instance\":"
                                  " {\"Name\": \"web\"}}, \"l\": [[1, 2], [3, 4]]}}}",
                                  0, NULL);
        (void) jinja_header_len((const char *) data, size, &hl);
        if (jinja_render((const char *) data, size, vars, &out, &len, &missing, &err) >= 0) {
                free(out);
                strv_free(missing);
        }
        free(err);
        return 0;
}
