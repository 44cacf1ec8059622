/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "base64.h"
#include "macro.h"
#include "strbuf.h"
#include "yaml-json.h"

#define MAX_DEPTH 64
/* Aliases share nodes, so a few lines can describe a tree of billions of
 * nodes ("billion laughs"); everything that walks the tree later (merging,
 * validation, copies) would pay for it. Nodes are counted as if every alias
 * were expanded, and a document beyond this is refused. */
#define MAX_NODES 200000
#define BINARY_TAG "tag:yaml.org,2002:binary"

struct parser {
        yaml_parser_t p;
        const char *origin;
        size_t line_offset;
        json_t *anchors; /* anchor name -> node */
        json_t *anchor_sizes; /* anchor name -> expanded node count */
        json_t *positions; /* path -> "origin:line:column", when asked for */
        struct strbuf path; /* path of the node being parsed */
        char *error;
        unsigned depth;
        size_t nodes;
        bool last_wins; /* a repeated key replaces the earlier one, warned about */
        char **warnings;
};

static int fail(struct parser *ps, size_t line, size_t col, const char *what) {
        free(ps->error);
        ps->error = strdup_printf("%s:%zu:%zu: %s", ps->origin, ps->line_offset + line + 1, col + 1, what);
        return -EBADMSG;
}

/* Forgets the positions of path and everything under it (a value that was
 * replaced). */
static void forget_positions(struct parser *ps) {
        size_t n = ps->path.data ? ps->path.len : 0;
        const char *key;
        json_t *v;
        void *tmp;

        if (!ps->positions || n == 0)
                return;
        json_object_foreach_safe(ps->positions, tmp, key, v) {
                if (strncmp(key, ps->path.data, n) == 0 && (key[n] == 0 || key[n] == '.' || key[n] == '['))
                        json_object_del(ps->positions, key);
        }
}

static void remember_position(struct parser *ps, const yaml_mark_t *mark) {
        _cleanup_free_ char *where = NULL;

        if (!ps->positions || !ps->path.data)
                return;
        where = strdup_printf("%s:%zu:%zu", ps->origin, ps->line_offset + mark->line + 1, mark->column + 1);
        if (where)
                json_object_set_new(ps->positions, ps->path.data, json_string(where));
}

/* Appends ".key" (or "key" at the top) or "[i]" to the path; returns the
 * length to truncate back to. */
static size_t path_push(struct parser *ps, const char *key, size_t index) {
        size_t old = ps->path.len;

        if (!ps->positions)
                return old;
        if (key)
                (void) strbuf_printf(&ps->path, "%s%s", old ? "." : "", key);
        else
                (void) strbuf_printf(&ps->path, "[%zu]", index);
        return old;
}

static void path_pop(struct parser *ps, size_t len) {
        if (ps->path.data && len <= ps->path.len) {
                ps->path.len = len;
                ps->path.data[len] = 0;
        }
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

/* A !!binary scalar, as PyYAML reads it (base64.decodebytes()): bytes,
 * which JSON cannot hold, so {"!!binary": canonical base64}. */
static int binary_value(struct parser *ps, const yaml_event_t *ev, json_t **ret) {
        _cleanup_free_ char *bytes = NULL, *b64 = NULL;
        size_t n;
        int r;

        r = base64_decode_python((const char *) ev->data.scalar.value, ev->data.scalar.length, false, &bytes, &n);
        if (r == -EBADMSG)
                return fail(ps, ev->start_mark.line, ev->start_mark.column,
                            "!!binary value is not base64 (as Python's base64.decodebytes() reads it)");
        if (r >= 0)
                r = base64_encode(bytes, n, false, &b64);
        if (r < 0)
                return r;
        *ret = json_pack("{s:s}", YAML_BINARY_KEY, b64);
        return *ret ? 0 : -ENOMEM;
}

static int next_event(struct parser *ps, yaml_event_t *ev) {
        if (!yaml_parser_parse(&ps->p, ev))
                return fail(ps, ps->p.problem_mark.line, ps->p.problem_mark.column,
                            ps->p.problem ? ps->p.problem : "invalid YAML");
        return 0;
}

static void remember_anchor(struct parser *ps, const char *anchor, json_t *node, size_t size) {
        if (!anchor || !node)
                return;
        json_object_set(ps->anchors, anchor, node);
        json_object_set_new(ps->anchor_sizes, anchor, json_integer((json_int_t) size));
}

/* An alias becomes a copy of its anchor's node: nothing downstream may
 * change one place of the tree through another. The copy is bounded by the
 * node count. */
static int resolve_alias(struct parser *ps, const char *anchor, const yaml_mark_t *mark, json_t **ret) {
        json_t *node = json_object_get(ps->anchors, anchor);
        size_t size = (size_t) json_integer_value(json_object_get(ps->anchor_sizes, anchor));

        if (!node)
                return fail(ps, mark->line, mark->column, "alias to an unknown anchor");
        ps->nodes += size;
        if (ps->nodes > MAX_NODES)
                return fail(ps, mark->line, mark->column, "aliases expand to too many nodes (more than 200000)");
        *ret = json_deep_copy(node);
        return *ret ? 0 : -ENOMEM;
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
        if (json_object_get(obj, k) && !streq(k, "<<")) {
                _cleanup_free_ char *w = NULL;
                if (!ps->last_wins)
                        return fail(ps, mark.line, mark.column, "duplicate key in mapping");
                w = strdup_printf("%s:%zu:%zu: duplicate key '%s': this one wins, as cloud-init's YAML reader "
                                  "keeps the last",
                                  ps->origin, ps->line_offset + mark.line + 1, mark.column + 1, k);
                if (!w || strv_push(&ps->warnings, w) < 0)
                        return -ENOMEM;
        }
        r = next_event(ps, &ev);
        if (r >= 0) {
                size_t old = path_push(ps, k, 0);
                if (json_object_get(obj, k))
                        forget_positions(ps);
                remember_position(ps, &mark);
                r = parse_node(ps, &ev, &value);
                path_pop(ps, old);
        }
        if (r < 0)
                return r;
        if (streq(k, "<<"))
                return json_array_append(merges, value) < 0 ? -ENOMEM : 0;
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
        for (size_t i = 0;; i++) {
                json_t *value = NULL;
                yaml_event_t ev;
                size_t old;
                int r;

                r = next_event(ps, &ev);
                if (r < 0)
                        return r;
                if (ev.type == YAML_SEQUENCE_END_EVENT) {
                        yaml_event_delete(&ev);
                        break;
                }
                old = path_push(ps, NULL, i);
                remember_position(ps, &ev.start_mark);
                r = parse_node(ps, &ev, &value);
                path_pop(ps, old);
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
        size_t first = ps->nodes;
        json_t *node = NULL;
        int r = 0;

        if (++ps->depth > MAX_DEPTH) {
                yaml_event_delete(ev);
                return fail(ps, mark.line, mark.column, "nesting too deep (more than 64 levels)");
        }
        if (ev->type != YAML_ALIAS_EVENT && ++ps->nodes > MAX_NODES) {
                yaml_event_delete(ev);
                return fail(ps, mark.line, mark.column, "too many nodes (more than 200000)");
        }
        switch (ev->type) {
        case YAML_SCALAR_EVENT:
                if (ps->last_wins && ev->data.scalar.tag && streq((const char *) ev->data.scalar.tag, BINARY_TAG)) {
                        r = binary_value(ps, ev, &node);
                        remember_anchor(ps, (const char *) ev->data.scalar.anchor, node, 1);
                        break;
                }
                node = scalar_value(ev);
                r = node ? 0 : fail(ps, mark.line, mark.column, "scalar is not valid UTF-8");
                remember_anchor(ps, (const char *) ev->data.scalar.anchor, node, 1);
                break;
        case YAML_ALIAS_EVENT: r = resolve_alias(ps, (const char *) ev->data.alias.anchor, &mark, &node); break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
                if (ev->data.mapping_start.anchor)
                        anchor = strdup((const char *) ev->data.mapping_start.anchor);
                r = ev->type == YAML_MAPPING_START_EVENT ? parse_mapping(ps, &node) : parse_sequence(ps, &node);
                if (r >= 0)
                        remember_anchor(ps, anchor, node, ps->nodes - first);
                break;
        default: r = fail(ps, mark.line, mark.column, "unexpected YAML event");
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

static void parser_done(struct parser *ps) {
        json_decref(ps->anchors);
        json_decref(ps->anchor_sizes);
        json_decref(ps->positions);
        strbuf_done(&ps->path);
        free(ps->error);
        strv_free(ps->warnings);
}

static int parse_with(struct parser ps, const char *buf, size_t len, json_t **ret, json_t **ret_positions,
                      char ***ret_warnings, char **ret_error) {
        json_t *root = NULL;
        int r;

        ps.anchors = json_object();
        ps.anchor_sizes = json_object();
        ps.positions = ret_positions ? json_object() : NULL;
        if (!ps.anchors || !ps.anchor_sizes || (ret_positions && !ps.positions) ||
            (ret_positions && strbuf_puts(&ps.path, "") < 0) || !yaml_parser_initialize(&ps.p)) {
                parser_done(&ps);
                return -ENOMEM;
        }
        yaml_parser_set_input_string(&ps.p, (const unsigned char *) buf, len);
        r = parse_document(&ps, &root);
        yaml_parser_delete(&ps.p);
        if (r < 0) {
                if (ret_error && ps.error)
                        *ret_error = TAKE_PTR(ps.error);
                parser_done(&ps);
                return r;
        }
        if (ret_positions)
                *ret_positions = TAKE_PTR(ps.positions);
        if (ret_warnings)
                *ret_warnings = TAKE_PTR(ps.warnings);
        parser_done(&ps);
        *ret = root;
        return 0;
}

int yaml_parse_positions(const char *buf, size_t len, const char *origin, size_t line_offset, json_t **ret,
                         json_t **ret_positions, char **ret_error) {
        return parse_with((struct parser){.origin = origin ? origin : "<input>", .line_offset = line_offset}, buf, len,
                          ret, ret_positions, NULL, ret_error);
}

int yaml_parse_cloud(const char *buf, size_t len, const char *origin, size_t line_offset, json_t **ret,
                     json_t **ret_positions, char ***ret_warnings, char **ret_error) {
        return parse_with(
                (struct parser){.origin = origin ? origin : "<input>", .line_offset = line_offset, .last_wins = true},
                buf, len, ret, ret_positions, ret_warnings, ret_error);
}

int yaml_parse(const char *buf, size_t len, const char *origin, json_t **ret, char **ret_error) {
        return yaml_parse_positions(buf, len, origin, 0, ret, NULL, ret_error);
}
