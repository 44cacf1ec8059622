/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "macro.h"
#include "strbuf.h"
#include "yaml-json.h"

#define MAX_DEPTH 64

struct parser {
        yaml_parser_t p;
        const char *origin;
        json_t *anchors; /* anchor name -> node */
        char *error;
        unsigned depth;
};

static int fail(struct parser *ps, size_t line, size_t col, const char *what) {
        free(ps->error);
        ps->error = strdup_printf("%s:%zu:%zu: %s", ps->origin, line + 1, col + 1, what);
        return -EBADMSG;
}

static bool is_null(const char *s) {
        return !*s || streq(s, "~") || strcasecmp(s, "null") == 0;
}

static int bool_value(const char *s) {
        static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        }
        return -1;
}

static json_t *number_value(const char *s) {
        char *end = NULL;
        long long i;
        double d;

        if (!*s || strchr(" \t", s[0]))
                return NULL;
        errno = 0;
        i = strtoll(s, &end, 0);
        if (errno == 0 && *end == 0 && end != s && !(s[0] == '0' && s[1] && s[1] != 'x' && s[1] != 'X'))
                return json_integer(i);
        errno = 0;
        d = strtod(s, &end);
        if (errno == 0 && *end == 0 && end != s && isfinite(d) && strpbrk(s, ".eE"))
                return json_real(d);
        return NULL;
}

static json_t *scalar_value(const yaml_event_t *ev) {
        const char *s = (const char *) ev->data.scalar.value;
        const char *tag = (const char *) ev->data.scalar.tag;
        json_t *n;
        int b;

        if (tag && streq(tag, YAML_STR_TAG))
                return json_stringn(s, ev->data.scalar.length);
        if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return json_stringn(s, ev->data.scalar.length);
        if (is_null(s))
                return json_null();
        b = bool_value(s);
        if (b >= 0)
                return json_boolean(b);
        n = number_value(s);
        return n ? n : json_stringn(s, ev->data.scalar.length);
}

static int parse_node(struct parser *ps, yaml_event_t *ev, json_t **ret);

static int next_event(struct parser *ps, yaml_event_t *ev) {
        if (!yaml_parser_parse(&ps->p, ev))
                return fail(ps, ps->p.problem_mark.line, ps->p.problem_mark.column,
                            ps->p.problem ? ps->p.problem : "invalid YAML");
        return 0;
}

static void remember_anchor(struct parser *ps, const yaml_char_t *anchor, json_t *node) {
        if (anchor)
                json_object_set(ps->anchors, (const char *) anchor, node);
}

/* "<<: *base" (or a list of them) merges keys that are not already set. */
static int merge_key(struct parser *ps, json_t *obj, json_t *value, const yaml_mark_t *mark) {
        json_t *item;
        size_t i;

        if (json_is_object(value))
                return json_object_update_missing(obj, value) < 0 ? -ENOMEM : 0;
        if (!json_is_array(value))
                return fail(ps, mark->line, mark->column, "merge key '<<' needs a mapping or a list of mappings");
        json_array_foreach(value, i, item) {
                int r = merge_key(ps, obj, item, mark);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Reads one key and its value; "<<" values are collected in merges. */
static int parse_pair(struct parser *ps, yaml_event_t *key, json_t *obj, json_t *merges) {
        _cleanup_json_ json_t *value = NULL;
        yaml_mark_t mark = key->start_mark;
        _cleanup_free_ char *k = NULL;
        yaml_event_t ev;
        int r;

        if (key->type != YAML_SCALAR_EVENT) {
                yaml_event_delete(key);
                return fail(ps, mark.line, mark.column, "mapping keys must be plain strings");
        }
        k = strdup((const char *) key->data.scalar.value);
        yaml_event_delete(key);
        if (!k)
                return -ENOMEM;
        r = next_event(ps, &ev);
        if (r >= 0)
                r = parse_node(ps, &ev, &value);
        if (r < 0)
                return r;
        if (streq(k, "<<"))
                return json_array_append(merges, value) < 0 ? -ENOMEM : 0;
        if (json_object_get(obj, k))
                return fail(ps, mark.line, mark.column, "duplicate key in mapping");
        return json_object_set(obj, k, value) < 0 ? -ENOMEM : 0;
}

static int parse_mapping(struct parser *ps, json_t **ret) {
        _cleanup_json_ json_t *obj = json_object(), *merges = json_array();
        yaml_mark_t mark = ps->p.mark;
        json_t *m;
        size_t i;

        if (!obj || !merges)
                return -ENOMEM;
        for (;;) {
                yaml_event_t key;
                int r;

                r = next_event(ps, &key);
                if (r < 0)
                        return r;
                if (key.type == YAML_MAPPING_END_EVENT) {
                        yaml_event_delete(&key);
                        break;
                }
                r = parse_pair(ps, &key, obj, merges);
                if (r < 0)
                        return r;
        }
        /* Keys given explicitly win over merged ones, wherever "<<" stood. */
        json_array_foreach(merges, i, m) {
                int r = merge_key(ps, obj, m, &mark);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(obj);
        return 0;
}

static int parse_sequence(struct parser *ps, json_t **ret) {
        _cleanup_json_ json_t *arr = json_array();

        if (!arr)
                return -ENOMEM;
        for (;;) {
                json_t *value = NULL;
                yaml_event_t ev;
                int r;

                r = next_event(ps, &ev);
                if (r < 0)
                        return r;
                if (ev.type == YAML_SEQUENCE_END_EVENT) {
                        yaml_event_delete(&ev);
                        break;
                }
                r = parse_node(ps, &ev, &value);
                if (r < 0)
                        return r;
                if (json_array_append_new(arr, value) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(arr);
        return 0;
}

/* Consumes ev (deleting it) and whatever events make up its node. */
static int parse_node(struct parser *ps, yaml_event_t *ev, json_t **ret) {
        yaml_mark_t mark = ev->start_mark;
        _cleanup_free_ char *anchor = NULL;
        json_t *node = NULL;
        int r = 0;

        if (++ps->depth > MAX_DEPTH) {
                yaml_event_delete(ev);
                return fail(ps, mark.line, mark.column, "nesting too deep");
        }
        switch (ev->type) {
        case YAML_SCALAR_EVENT:
                node = scalar_value(ev);
                r = node ? 0 : fail(ps, mark.line, mark.column, "scalar is not valid UTF-8");
                remember_anchor(ps, ev->data.scalar.anchor, node);
                break;
        case YAML_ALIAS_EVENT:
                node = json_incref(json_object_get(ps->anchors, (const char *) ev->data.alias.anchor));
                r = node ? 0 : fail(ps, mark.line, mark.column, "alias to an unknown anchor");
                break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
                if (ev->data.mapping_start.anchor)
                        anchor = strdup((const char *) ev->data.mapping_start.anchor);
                r = ev->type == YAML_MAPPING_START_EVENT ? parse_mapping(ps, &node) : parse_sequence(ps, &node);
                if (r >= 0 && anchor)
                        remember_anchor(ps, (const yaml_char_t *) anchor, node);
                break;
        default:
                r = fail(ps, mark.line, mark.column, "unexpected YAML event");
        }
        yaml_event_delete(ev);
        ps->depth--;
        if (r < 0) {
                json_decref(node);
                return r;
        }
        *ret = node;
        return 0;
}

/* Skips stream/document start, parses the root, checks there is one document. */
static int parse_document(struct parser *ps, json_t **ret) {
        _cleanup_json_ json_t *root = NULL;
        yaml_event_t ev;
        int r;

        for (;;) {
                r = next_event(ps, &ev);
                if (r < 0)
                        return r;
                if (ev.type == YAML_STREAM_END_EVENT) {
                        yaml_event_delete(&ev);
                        break;
                }
                if (ev.type == YAML_STREAM_START_EVENT || ev.type == YAML_DOCUMENT_END_EVENT) {
                        yaml_event_delete(&ev);
                        continue;
                }
                if (ev.type == YAML_DOCUMENT_START_EVENT) {
                        yaml_mark_t mark = ev.start_mark;
                        yaml_event_delete(&ev);
                        if (root)
                                return fail(ps, mark.line, mark.column, "only one YAML document is allowed");
                        continue;
                }
                r = parse_node(ps, &ev, &root);
                if (r < 0)
                        return r;
        }
        *ret = root && !json_is_null(root) ? TAKE_PTR(root) : json_object();
        return *ret ? 0 : -ENOMEM;
}

int yaml_parse(const char *buf, size_t len, const char *origin, json_t **ret, char **ret_error) {
        struct parser ps = {.origin = origin ? origin : "<input>"};
        json_t *root = NULL;
        int r;

        ps.anchors = json_object();
        if (!ps.anchors || !yaml_parser_initialize(&ps.p)) {
                json_decref(ps.anchors);
                return -ENOMEM;
        }
        yaml_parser_set_input_string(&ps.p, (const unsigned char *) buf, len);
        r = parse_document(&ps, &root);
        yaml_parser_delete(&ps.p);
        json_decref(ps.anchors);
        if (r < 0) {
                if (ret_error && ps.error)
                        *ret_error = TAKE_PTR(ps.error);
                free(ps.error);
                return r;
        }
        free(ps.error);
        *ret = root;
        return 0;
}
