/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "config.h"

/* Parses one YAML document into a JSON tree: mappings become objects,
 * sequences arrays, and plain scalars are typed as YAML 1.1 core does
 * (null, true/false/yes/no/on/off, integers, floats); quoted scalars stay
 * strings. Anchors and aliases are resolved, and "<<" merge keys applied.
 * An empty document gives an empty object. On a syntax error, returns
 * -EBADMSG and *ret_error says "origin:line:column: problem". */
int yaml_parse(const char *buf, size_t len, const char *origin, json_t **ret, char **ret_error);

/* The same, with line numbers shifted by line_offset (a document that starts
 * inside a larger file), and, when ret_positions is set, where each value
 * stands: an object from the value's path ("sites[0].name", as config
 * validation names keys) to "origin:line:column" (of its key in a mapping,
 * of the item in a list). Documents whose aliases expand beyond 200000
 * nodes, or nest deeper than 64 levels, are refused. */
int yaml_parse_positions(const char *buf, size_t len, const char *origin, size_t line_offset, json_t **ret,
                         json_t **ret_positions, char **ret_error);

/* The same for a cloud-config document, read as cloud-init's PyYAML reads
 * it: a key repeated in a mapping replaces the earlier one (kiln's own
 * config refuses it), and each is named in *ret_warnings (NULL if none);
 * plain scalars are typed by PyYAML's YAML 1.1 rules (0644 octal, 1:30
 * base 60, 1e5 and yEs strings; inf and nan as the strings "inf", "nan");
 * a !!binary scalar (bytes) becomes {"!!binary": "its base64"}, canonical. */
#define YAML_BINARY_KEY "!!binary"
int yaml_parse_cloud(const char *buf, size_t len, const char *origin, size_t line_offset, json_t **ret,
                     json_t **ret_positions, char ***ret_warnings, char **ret_error);
