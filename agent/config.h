/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>

/* json_decrefp() comes with jansson. */
#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))

/* The config is one JSON tree: the image's baked YAML files merged, then the
 * user-data's config merged over them. Each module declares the keys it owns
 * in its descriptor (struct config_key); together they are the schema that
 * validation and docs/CONFIG.md's key list come from. */

enum config_type {
        CONFIG_STRING,
        CONFIG_INT,
        CONFIG_BOOL,
        CONFIG_NUMBER,    /* integer or real */
        CONFIG_LIST,      /* list of anything; element keys as "key[]" / "key[].sub" */
        CONFIG_MAP,       /* mapping with keys listed below it */
        CONFIG_DICT,      /* mapping with free keys (values unchecked) */
        CONFIG_ANY,
        CONFIG_STRING_OR_LIST,
};

struct config_key {
        const char *path; /* "imds.endpoint", "sites[].name", "sites[].locations" */
        enum config_type type;
        const char *doc;  /* one line for docs and `kiln validate` */
};

/* Merges src into dst: mappings merge key by key, recursively; lists and
 * scalars in src replace dst's. */
int config_merge(json_t *dst, json_t *src);

/* Loads the baked config: config_file (default /etc/kiln/kiln.yaml under
 * the root), then every *.yaml in /etc/kiln/kiln.d in name order. Absent
 * files are fine. Errors name the file and line. */
int config_load_baked(const char *config_file, json_t **ret, char **ret_error);

/* Checks config against every module's keys. Unknown keys become warnings
 * ("unknown key 'sites[0].upstrem', ignoring"), wrong types errors. Both are
 * lists of messages; either may be returned empty. Returns the number of
 * errors. */
int config_validate(const json_t *config, char ***ret_warnings, char ***ret_errors);

/* Looks up a dotted path ("imds.timeout"); NULL when absent. */
json_t *config_get(const json_t *config, const char *path);
const char *config_string(const json_t *config, const char *path, const char *def);
long config_int(const json_t *config, const char *path, long def);
bool config_bool(const json_t *config, const char *path, bool def);
double config_number(const json_t *config, const char *path, double def);
