/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "macro.h"

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
        CONFIG_NUMBER, /* integer or real */
        CONFIG_LIST, /* list of anything; element keys as "key[]" / "key[].sub" */
        CONFIG_MAP, /* mapping with keys listed below it */
        CONFIG_DICT, /* mapping with free keys (values unchecked) */
        CONFIG_ANY,
        CONFIG_STRING_OR_LIST,
        CONFIG_STRING_OR_MAP, /* a string, or a mapping with keys listed below it */
        CONFIG_COMMAND, /* a shell string, an argv list of strings, or a mapping with keys below it */
};

struct config_key {
        const char *path; /* "imds.endpoint", "sites[].name", "sites[].locations" */
        enum config_type type;
        const char *doc; /* one line for docs and `kiln validate` */
};

/* Merges src into dst: mappings merge key by key, recursively; lists of
 * named mappings (every item has a "name": sites, users) merge by name, an
 * item of src replacing dst's item of that name; other lists and scalars in
 * src replace dst's. */
int config_merge(json_t *dst, json_t *src);

/* Loads the baked config: config_file (default /etc/kiln/kiln.yaml under
 * the root), then every *.yaml in /etc/kiln/kiln.d in name order. Absent
 * files are fine. Errors name the file and line. */
int config_load_baked(const char *config_file, json_t **ret, char **ret_error);

/* The same, and where each value came from: a table from the value's path
 * ("sites[0].name") to "file:line:column" (see yaml_parse_positions()). */
int config_load_baked_positions(const char *config_file, json_t **ret, json_t **ret_positions, char **ret_error);

/* Checks config against every module's keys, then runs every module's
 * validate() hook. Unknown keys become warnings ("unknown key
 * 'sites[0].upstrem' (did you mean 'upstream'?), ignoring"), wrong types
 * and the hooks' errors are errors. Both are lists of messages; either may
 * be returned empty. Messages start with "file:line:column: " when the
 * value's position is known: from the last config_load_baked() and from the
 * user-data positions given to config_set_userdata_positions(). Returns the
 * number of errors. */
int config_validate(const json_t *config, char ***ret_warnings, char ***ret_errors);
/* The same, with positions from this table only (NULL: none). */
int config_validate_at(const json_t *config, const json_t *positions, char ***ret_warnings, char ***ret_errors);

/* Remembers where the user-data's config values came from, for the
 * messages of config_validate() (takes a reference; NULL forgets). */
void config_set_userdata_positions(json_t *positions);

/* Merges positions tables as config_merge() merges the configs they
 * describe: entries under a replaced key are dropped first. */
int config_merge_positions(json_t *dst, const json_t *src);

/* What modules' validate() hooks report to. The path ("runcmd[2]") locates
 * the message; the message itself names the key. */
struct config_report;
void config_report_error(struct config_report *rep, const char *path, const char *fmt, ...) _printf_(3, 4);
void config_report_warning(struct config_report *rep, const char *path, const char *fmt, ...) _printf_(3, 4);

/* The schema as the Markdown table docs/CONFIG.md uses (`kiln validate --keys`). */
void config_print_keys(FILE *f);
const char *config_type_doc(enum config_type t);

/* Reads a JSON object from a file of at most max bytes: -ENOENT if absent,
 * -EBADMSG if it is not a JSON object. */
int json_read_file(const char *path, size_t max, json_t **ret);

/* Looks up a dotted path ("imds.timeout"); NULL when absent. */
json_t *config_get(const json_t *config, const char *path);

/* Levenshtein distance of two key names (SIZE_MAX beyond 64 characters),
 * for "did you mean" suggestions. */
size_t config_edit_distance(const char *a, const char *b);
const char *config_string(const json_t *config, const char *path, const char *def);
long config_int(const json_t *config, const char *path, long def);
bool config_bool(const json_t *config, const char *path, bool def);
double config_number(const json_t *config, const char *path, double def);
