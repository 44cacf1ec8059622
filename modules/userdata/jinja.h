/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stddef.h>

/* User-data that starts with "## template: jinja" is a jinja template,
 * rendered with the instance's data before it is read (cloud-init's
 * JinjaTemplatePartHandler). kiln renders the subset of jinja user-data
 * uses, by hand:
 *
 *   {{ EXPR }}  {% if %} {% elif %} {% else %} {% endif %}
 *   {% for X in EXPR %} {% for K, V in EXPR %} {% else %} {% endfor %}
 *   {% raw %} {% endraw %}  {# comments #}  {%- -%} {{- -}} whitespace control
 *
 * EXPR: names (v1.region, ds.meta_data["local-hostname"], list[0]),
 * strings, numbers, true/false/none, lists, ( ), and, or, not, == != < <=
 * > >= in, not in, ~, +, -, A if C else B, tests (is [not] defined,
 * undefined, none, string, number), .items() .keys() .values(), loop.index
 * and friends, and the filters default (d), lower, upper, replace, trim,
 * length (count), string, join, first, last, int.
 *
 * As cloud-init renders (jinja2 with trim_blocks, its DebugUndefined): the
 * first newline after a block tag is dropped; an undefined variable
 * printed becomes "CI_MISSING_JINJA_VAR/NAME" and is named in
 * *ret_missing; an attribute or item of an undefined value is an error,
 * and so is what kiln's subset does not render. */

#define JINJA_MAX_OUTPUT (16u * 1024 * 1024)
#define JINJA_MAX_INPUT (16u * 1024 * 1024)
#define JINJA_MISSING_PREFIX "CI_MISSING_JINJA_VAR/"

/* Renders tmpl (the text after the "## template: jinja" line) with vars
 * (a JSON object: the instance data's names). On success *ret is the
 * rendered text (NUL-terminated, *ret_len bytes) and *ret_missing the
 * undefined variables printed (NULL when none, each once). -EINVAL: the
 * template cannot be rendered, *ret_error says why as "LINE:COLUMN:
 * message" (1-based, in tmpl). -EFBIG: the input or the output is larger
 * than its cap. -ENOMEM. */
int jinja_render(const char *tmpl, size_t len, const json_t *vars, char **ret, size_t *ret_len, char ***ret_missing,
                 char **ret_error);

/* Whether text is a jinja template: its first line is "## template: jinja"
 * as cloud-init detects it (any case, blanks before allowed). */
int jinja_header_len(const char *data, size_t len, size_t *ret_len);
