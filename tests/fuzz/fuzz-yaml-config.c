/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the YAML config loader (YAML to JSON with positions)
 * and schema validation with every module's checks. */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "strbuf.h"
#include "yaml-json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *doc = NULL, *positions = NULL;
        char *err = NULL, **warnings = NULL, **errors = NULL;

        if (yaml_parse_positions((const char *) data, size, "fuzz", 3, &doc, &positions, &err) >= 0) {
                if (json_is_object(doc)) {
                        (void) config_validate_at(doc, positions, &warnings, &errors);
                        strv_free(warnings);
                        strv_free(errors);
                }
                json_decref(doc);
                json_decref(positions);
        }
        free(err);
        return 0;
}
