/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
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
        bool pyyaml; /* cloud-config: read as PyYAML (repeated keys, types, !!binary) */
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

/* PyYAML's implicit types (its YAML 1.1 resolver and constructors), as
 * cloud-init's yaml.safe_load() gives them: the regular expressions of
 * yaml/resolver.py, spelt out. */

static int py_bool(const char *s) {
        static const char *const yes[] = {"yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"};
        static const char *const no[] = {"no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"};

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (streq(s, yes[i]))
                        return 1;
                if (streq(s, no[i]))
                        return 0;
        }
        return -1;
}

static bool py_null(const char *s) {
        return !*s || streq(s, "~") || streq(s, "null") || streq(s, "Null") || streq(s, "NULL");
}

/* s without its '_', lowercased: what the constructors convert. */
static char *py_clean(const char *s) {
        char *out = malloc(strlen(s) + 1), *o = out;

        for (; out && *s; s++)
                if (*s != '_')
                        *o++ = (char) (*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
        if (out)
                *o = 0;
        return out;
}

/* (?::[0-5]?[0-9])+ up to the end, or up to a '.' when frac. */
static bool py_sexagesimal_tail(const char *p, bool frac) {
        if (*p != ':')
                return false;
        while (*p == ':') {
                p++;
                if (p[0] >= '0' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9')
                        p += 2;
                else if (p[0] >= '0' && p[0] <= '9')
                        p++;
                else
                        return false;
        }
        return frac ? *p == '.' && p[1 + strspn(p + 1, "0123456789_")] == 0 : *p == 0;
}

/* Digits in base with '_' skipped; false on overflow (Python's ints have
 * none: kiln then keeps the text) or when there is no digit. */
static bool py_digits(const char *p, unsigned base, unsigned long long *ret) {
        const unsigned long long max = (unsigned long long) LLONG_MAX + 1; /* -LLONG_MIN */
        unsigned long long v = 0;
        bool any = false;

        for (; *p; p++) {
                unsigned d;
                if (*p == '_')
                        continue;
                d = *p <= '9' ? (unsigned) (*p - '0') : (unsigned) ((*p | 0x20) - 'a' + 10);
                if (d >= base || v > (max - d) / base)
                        return false;
                v = v * base + d;
                any = true;
        }
        *ret = v;
        return any;
}

/* "1:30:05" as PyYAML's base-60 int: 5405. */
static bool py_base60(const char *p, unsigned long long *ret) {
        unsigned long long v = 0;

        for (;;) {
                _cleanup_free_ char *group = strndup(p, strcspn(p, ":"));
                unsigned long long part;
                if (!group || !py_digits(group, 10, &part) || v > ((unsigned long long) LLONG_MAX - part) / 60)
                        return false;
                v = v * 60 + part;
                p += strlen(group);
                if (*p++ != ':')
                        break;
        }
        *ret = v;
        return true;
}

static json_t *py_int(const char *s) {
        const char *p = s + (*s == '-' || *s == '+');
        unsigned long long v = 0;
        bool ok;

        if (strneq(p, "0b", 2))
                ok = p[2 + strspn(p + 2, "01_")] == 0 && py_digits(p + 2, 2, &v);
        else if (strneq(p, "0x", 2))
                ok = p[2 + strspn(p + 2, "0123456789abcdefABCDEF_")] == 0 && py_digits(p + 2, 16, &v);
        else if (p[0] == '0')
                ok = p[1] == 0 || (p[1 + strspn(p + 1, "01234567_")] == 0 && py_digits(p, 8, &v));
        else if (p[0] >= '1' && p[0] <= '9') {
                size_t n = strspn(p, "0123456789_");
                ok = p[n] == 0 ? py_digits(p, 10, &v) : py_sexagesimal_tail(p + n, false) && py_base60(p, &v);
        } else
                ok = false;
        if (!ok || (*s != '-' && v > (unsigned long long) LLONG_MAX))
                return NULL; /* beyond 64 bits: kept as text */
        return json_integer(*s == '-' ? (json_int_t) (0 - v) : (json_int_t) v);
}

/* [eE][-+][0-9]+ at p, to the end. */
static bool py_exponent(const char *p) {
        return (*p == 'e' || *p == 'E') && (p[1] == '-' || p[1] == '+') && p[2] >= '0' && p[2] <= '9' &&
               p[2 + strspn(p + 2, "0123456789")] == 0;
}

/* A float value as JSON; what JSON cannot hold (inf, nan) as the text
 * Python's str() gives it. */
static json_t *py_real(double d) {
        if (isnan(d))
                return json_string("nan");
        if (isinf(d))
                return json_string(d < 0 ? "-inf" : "inf");
        return json_real(d);
}

static json_t *py_float(const char *s) {
        const char *p = s + (*s == '-' || *s == '+');
        _cleanup_free_ char *clean = NULL;
        size_t n;

        if (streq(p, ".inf") || streq(p, ".Inf") || streq(p, ".INF"))
                return py_real(*s == '-' ? -INFINITY : INFINITY);
        if (streq(s, ".nan") || streq(s, ".NaN") || streq(s, ".NAN"))
                return py_real(NAN);
        if (p[0] == '.' && p == s) { /* \.[0-9_]+(exp)? */
                n = 1 + strspn(p + 1, "0123456789_");
                if (n == 1 || !(p[n] == 0 || py_exponent(p + n)))
                        return NULL;
        } else if (p[0] >= '0' && p[0] <= '9') {
                n = strspn(p, "0123456789_");
                if (p[n] == ':') {
                        double v = 0;
                        if (!py_sexagesimal_tail(p + n, true) || !(clean = py_clean(p)))
                                return NULL;
                        for (char *q = clean, *colon; q; q = colon ? colon + 1 : NULL) {
                                colon = strchr(q, ':');
                                v = v * 60 + strtod(q, NULL);
                        }
                        return py_real(*s == '-' ? -v : v);
                }
                if (p[n] != '.')
                        return NULL;
                n += 1 + strspn(p + n + 1, "0123456789_");
                if (!(p[n] == 0 || py_exponent(p + n)))
                        return NULL;
        } else
                return NULL;
        clean = py_clean(s);
        return clean ? py_real(strtod(clean, NULL)) : NULL;
}

static json_t *py_scalar(const char *s, size_t len) {
        json_t *n;
        int b;

        if (strlen(s) != len) /* a NUL inside: only ever a string */
                return json_stringn(s, len);
        if (py_null(s))
                return json_null();
        b = py_bool(s);
        if (b >= 0)
                return json_boolean(b);
        n = py_int(s);
        if (!n)
                n = py_float(s);
        return n ? n : json_stringn(s, len);
}

static json_t *scalar_value(const yaml_event_t *ev, bool pyyaml) {
        const char *s = (const char *) ev->data.scalar.value;
        const char *tag = (const char *) ev->data.scalar.tag;
        json_t *n;
        int b;

        if (tag && streq(tag, YAML_STR_TAG))
                return json_stringn(s, ev->data.scalar.length);
        if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return json_stringn(s, ev->data.scalar.length);
        if (pyyaml)
                return py_scalar(s, ev->data.scalar.length);
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
                if (!ps->pyyaml)
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
                if (ps->pyyaml && ev->data.scalar.tag && streq((const char *) ev->data.scalar.tag, BINARY_TAG)) {
                        r = binary_value(ps, ev, &node);
                        remember_anchor(ps, (const char *) ev->data.scalar.anchor, node, 1);
                        break;
                }
                node = scalar_value(ev, ps->pyyaml);
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
                (struct parser){.origin = origin ? origin : "<input>", .line_offset = line_offset, .pyyaml = true}, buf,
                len, ret, ret_positions, ret_warnings, ret_error);
}

int yaml_parse(const char *buf, size_t len, const char *origin, json_t **ret, char **ret_error) {
        return yaml_parse_positions(buf, len, origin, 0, ret, NULL, ret_error);
}
