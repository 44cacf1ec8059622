/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "config.h"
#include "strbuf.h"
#include "tap.h"
#include "yaml-json.h"

static json_t *parse(const char *text, char **error) {
        json_t *j = NULL;
        *error = NULL;
        if (yaml_parse(text, strlen(text), "test.yaml", &j, error) < 0)
                return NULL;
        return j;
}

static void test_scalars(void) {
        char *err;
        json_t *j = parse("a: 1\nb: true\nc: 'yes'\nd: 1.5\ne: ~\nf: hello\ng: on\nh: \"42\"\ni: 0755\n", &err);

        ok(j != NULL, "a simple mapping parses");
        ok(json_integer_value(json_object_get(j, "a")) == 1, "plain 1 is an integer");
        ok(json_is_true(json_object_get(j, "b")), "true is a boolean");
        is_str(json_string_value(json_object_get(j, "c")), "yes", "quoted yes stays a string");
        ok(json_real_value(json_object_get(j, "d")) == 1.5, "1.5 is a real");
        ok(json_is_null(json_object_get(j, "e")), "~ is null");
        is_str(json_string_value(json_object_get(j, "f")), "hello", "plain words are strings");
        ok(json_is_true(json_object_get(j, "g")), "YAML 1.1 'on' is true");
        is_str(json_string_value(json_object_get(j, "h")), "42", "quoted number stays a string");
        is_str(json_string_value(json_object_get(j, "i")), "0755", "leading-zero modes stay strings");
        json_decref(j);
}

static void test_structure(void) {
        char *err;
        json_t *j = parse("base: &b {x: 1, y: 2}\nsites:\n  - name: app\n    <<: *b\n    y: 3\n", &err);
        json_t *site = json_array_get(json_object_get(j, "sites"), 0);

        ok(j != NULL, "anchors and merge keys parse");
        is_int(json_integer_value(json_object_get(site, "x")), 1, "merge key brings x");
        is_int(json_integer_value(json_object_get(site, "y")), 3, "explicit key wins over merged");
        json_decref(j);

        j = parse("", &err);
        ok(json_is_object(j) && json_object_size(j) == 0, "an empty document is an empty mapping");
        json_decref(j);
}

static void test_errors(void) {
        char *err;
        json_t *j = parse("a: 1\nb: [1, 2\nc: 3\n", &err);

        ok(j == NULL, "an unclosed flow sequence is an error");
        ok(err && strncmp(err, "test.yaml:", 10) == 0, "error names the origin: %s", err ? err : "(none)");
        free(err);
        j = parse("a: 1\na: 2\n", &err);
        ok(j == NULL && err && strstr(err, "test.yaml:2:"), "duplicate keys are an error at their line: %s",
           err ? err : "(none)");
        free(err);
        j = parse("a: *nope\n", &err);
        ok(j == NULL && err && strstr(err, "unknown anchor"), "an unknown alias is an error");
        free(err);
}

static void test_merge(void) {
        char *err;
        json_t *a = parse("x: {a: 1, b: 2}\nl: [1, 2]\n", &err);
        json_t *b = parse("x: {b: 3, c: 4}\nl: [9]\n", &err);

        config_merge(a, b);
        is_int(json_integer_value(config_get(a, "x.a")), 1, "merge keeps keys only in the base");
        is_int(json_integer_value(config_get(a, "x.b")), 3, "merge overrides keys in both");
        is_int(json_integer_value(config_get(a, "x.c")), 4, "merge adds new keys");
        is_int(json_array_size(config_get(a, "l")), 1, "lists are replaced, not appended");
        json_decref(a);
        json_decref(b);
}

static void test_merge_named(void) {
        char *err;
        json_t *a = parse("sites:\n  - {name: a, upstream: x}\n  - {name: b, upstream: y}\n", &err);
        json_t *b = parse("sites:\n  - {name: b, upstream: z}\n  - {name: c, upstream: w}\n", &err);
        json_t *sites;

        config_merge(a, b);
        sites = config_get(a, "sites");
        is_int(json_array_size(sites), 3, "named lists merge by name: a, b and c");
        is_str(json_string_value(json_object_get(json_array_get(sites, 0), "upstream")), "x", "a kept");
        is_str(json_string_value(json_object_get(json_array_get(sites, 1), "upstream")), "z",
               "b replaced where it stood");
        is_str(json_string_value(json_object_get(json_array_get(sites, 2), "name")), "c", "c appended");
        json_decref(a);
        json_decref(b);
}

int main(void) {
        test_scalars();
        test_structure();
        test_errors();
        test_merge();
        test_merge_named();
        return tap_done();
}
