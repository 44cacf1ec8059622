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

