/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the cloud-config mapping onto kiln's config, the plan
 * made of it, and validation; and the whole user-data decoder (no
 * network: includes are listed, not fetched). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "path.h"
#include "strbuf.h"
#include "system/system.h"
#include "userdata/userdata.h"
#include "yaml-json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An instance of launch index 1 (parts for another are dropped). */
static char *index_one(void *userdata, char **ret_problem) {
        (void) userdata;
        *ret_problem = NULL;
        return strdup("1");
}

static void map_and_plan(const json_t *doc, const json_t *positions) {
        json_t *cfg = NULL, *cfg_pos = NULL, *plan;
        char **skipped = NULL, **warnings = NULL, **errors = NULL;

        if (cloudconfig_map(doc, positions, &cfg, &cfg_pos, &skipped) < 0)
                return;
        for (char **s = skipped; s && *s; s++)
                free(cloudconfig_skip_message(*s));
        plan = system_plan(cfg, NULL, 0, "admin");
        (void) config_validate_at(cfg, cfg_pos, &warnings, &errors);
        json_decref(plan);
        json_decref(cfg);
        json_decref(cfg_pos);
        strv_free(skipped);
        strv_free(warnings);
        strv_free(errors);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct userdata_options o = {.origin = "fuzz", .fetch_includes = false};
        struct userdata u = {0};
        json_t *doc = NULL, *positions = NULL, *plan;
        char *err = NULL;

        /* Half the inputs as on an instance (the launch index known), half as validate reads them. */
        if (size & 1)
                o.launch_index = index_one;

        (void) root_set("/nonexistent-fuzz-root");
        char **dups = NULL;

        /* As cloud-config is read: repeated keys, !!binary. */
        if (yaml_parse_cloud((const char *) data, size, "fuzz", 0, &doc, &positions, &dups, &err) >= 0) {
                if (json_is_object(doc))
                        map_and_plan(doc, positions);
                json_decref(doc);
                json_decref(positions);
        }
        strv_free(dups);
        free(err);
        if (userdata_parse((const char *) data, size, &o, &u) >= 0) {
                plan = system_plan(u.config, u.parts, u.n_parts, "admin");
                json_decref(plan);
                userdata_done(&u);
        }
        return 0;
}
