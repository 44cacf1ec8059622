/* SPDX-License-Identifier: MIT */
/* Datums from JSON text, straight into struct metric_datum: a recursive
 * descent parser over the whole text (RFC 8259), that keeps the members a
 * datum has and skips the others. jansson would build a tree of some ten
 * allocations a datum first, which is most of the cost of a push. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloudwatch/metric.h"

#define CHUNK_MIN (64u * 1024)
#define MAX_DEPTH 64

struct metric_arena_chunk {
        struct metric_arena_chunk *next;
        size_t used, size;
        max_align_t data[];
};

void *metric_batch_alloc(struct metric_batch *b, size_t size) {
        struct metric_arena_chunk *c = b->chunks;
        size_t need = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
        void *p;

        if (need < size)
                return NULL;
        if (!c || c->size - c->used < need) {
                size_t n = need > CHUNK_MIN ? need : CHUNK_MIN;
                c = malloc(sizeof(*c) + n);
                if (!c)
                        return NULL;
                *c = (struct metric_arena_chunk){.next = b->chunks, .size = n};
                b->chunks = c;
        }
        p = (char *) c->data + c->used;
        c->used += need;
        return memset(p, 0, size);
}

struct metric_datum *metric_batch_add(struct metric_batch *b, const struct metric_datum *d) {
        if (b->n_items == b->cap) {
                size_t cap = b->cap ? b->cap * 2 : 64;
                struct metric_datum *p = reallocarray(b->items, cap, sizeof(*p));
                if (!p)
                        return NULL;
                b->items = p;
                b->cap = cap;
        }
        b->items[b->n_items] = *d;
        return &b->items[b->n_items++];
}

void metric_batch_done(struct metric_batch *b) {
        while (b->chunks) {
                struct metric_arena_chunk *c = b->chunks;
                b->chunks = c->next;
                free(c);
        }
        free(b->items);
        *b = (struct metric_batch){0};
}

/* --- the scanner --- */

struct parser {
        const char *p, *end;
        struct metric_batch *b;
        int depth;
};

static void skip_ws(struct parser *ps) {
        while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
                ps->p++;
}

/* Consumes c (after whitespace) if it is next. */
static bool eat(struct parser *ps, char c) {
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == c) {
                ps->p++;
                return true;
        }
        return false;
}

static bool peek_is(struct parser *ps, char c) {
        skip_ws(ps);
        return ps->p < ps->end && *ps->p == c;
}

static int hex4(const char *p, unsigned *ret) {
        unsigned v = 0;

        for (int i = 0; i < 4; i++) {
                char c = p[i];
                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= (unsigned) (c - '0');
                else if (c >= 'a' && c <= 'f')
                        v |= (unsigned) (c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        v |= (unsigned) (c - 'A' + 10);
                else
                        return -EBADMSG;
        }
        *ret = v;
        return 0;
}

static size_t put_utf8(char *out, unsigned cp) {
        if (cp < 0x80) {
                out[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char) (0xc0 | (cp >> 6));
                out[1] = (char) (0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char) (0xe0 | (cp >> 12));
                out[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                out[2] = (char) (0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | (cp >> 18));
        out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char) (0x80 | (cp & 0x3f));
        return 4;
}

/* One \uXXXX escape (a surrogate pair taken whole) at *in, after the 'u'. */
static int unicode_escape(struct parser *ps, const char **in, char *out, size_t *ret_n) {
        const char *p = *in;
        unsigned cp, lo;

        if (ps->end - p < 4 || hex4(p, &cp) < 0)
                return -EBADMSG;
        p += 4;
        if (cp >= 0xd800 && cp < 0xdc00) {
                if (ps->end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) < 0 || lo < 0xdc00 ||
                    lo > 0xdfff)
                        return -EBADMSG;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
        } else if ((cp >= 0xdc00 && cp < 0xe000) || cp == 0)
                return -EBADMSG; /* a lone low surrogate; NUL would cut the string */
        *in = p;
        *ret_n = put_utf8(out, cp);
        return 0;
}

static char unescape(char c) {
        switch (c) {
        case '"':
        case '\\':
        case '/': return c;
        case 'b': return '\b';
        case 'f': return '\f';
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        default: return 0;
        }
}

/* The end of a string that starts after its quote, and whether it has escapes. */
static int string_end(struct parser *ps, const char **ret_end, bool *ret_escaped) {
        bool escaped = false;

        for (const char *p = ps->p; p < ps->end; p++) {
                unsigned char c = (unsigned char) *p;
                if (c == '"') {
                        *ret_end = p;
                        *ret_escaped = escaped;
                        return 0;
                }
                if (c < 0x20)
                        return -EBADMSG;
                if (c == '\\') {
                        escaped = true;
                        if (++p == ps->end)
                                return -EBADMSG;
                }
        }
        return -EBADMSG;
}

/* A string, decoded into the arena when ret is not NULL. The text's own
 * UTF-8 is taken as it is: the checks want printable ASCII anyway. */
static int parse_string(struct parser *ps, const char **ret) {
        const char *end, *in;
        bool escaped;
        char *out, *o;
        int r;

        if (!eat(ps, '"'))
                return -EBADMSG;
        r = string_end(ps, &end, &escaped);
        if (r < 0)
                return r;
        if (!ret && !escaped) {
                ps->p = end + 1;
                return 0;
        }
        out = o = metric_batch_alloc(ps->b, (size_t) (end - ps->p) + 1);
        if (!out)
                return -ENOMEM;
        for (in = ps->p; in < end;) {
                if (*in != '\\') {
                        *o++ = *in++;
                        continue;
                }
                in++;
                if (*in == 'u') {
                        size_t n;
                        in++;
                        r = unicode_escape(ps, &in, o, &n);
                        if (r < 0)
                                return r;
                        o += n;
                } else if (!(*o++ = unescape(*in++)))
                        return -EBADMSG;
        }
        *o = 0;
        ps->p = end + 1;
        if (ret)
                *ret = out;
        return 0;
}

static bool digit(char c) {
        return c >= '0' && c <= '9';
}

/* A JSON number. *ret_integer says it has no fraction or exponent. */
static int parse_number(struct parser *ps, double *ret, bool *ret_integer) {
        const char *p, *start;
        uint64_t v = 0;
        bool neg, integer = true;
        int digits = 0;

        skip_ws(ps);
        p = start = ps->p;
        neg = p < ps->end && *p == '-';
        p += neg;
        if (p >= ps->end || !digit(*p))
                return -EBADMSG;
        if (*p == '0' && p + 1 < ps->end && digit(p[1]))
                return -EBADMSG;
        for (; p < ps->end && digit(*p); p++, digits++)
                v = v * 10 + (uint64_t) (*p - '0');
        if (p < ps->end && *p == '.') {
                integer = false;
                if (++p >= ps->end || !digit(*p))
                        return -EBADMSG;
                while (p < ps->end && digit(*p))
                        p++;
        }
        if (p < ps->end && (*p == 'e' || *p == 'E')) {
                integer = false;
                p++;
                if (p < ps->end && (*p == '+' || *p == '-'))
                        p++;
                if (p >= ps->end || !digit(*p))
                        return -EBADMSG;
                while (p < ps->end && digit(*p))
                        p++;
        }
        if (integer && digits <= 15)
                *ret = neg ? -(double) v : (double) v; /* exact below 2^53 */
        else {
                /* The text is NUL-terminated (read_file, json_dumps) or
                 * ends in something that is not part of a number. */
                char *e;
                *ret = strtod(start, &e);
                if (e != p)
                        return -EBADMSG;
        }
        ps->p = p;
        if (ret_integer)
                *ret_integer = integer;
        return 0;
}

static int skip_value(struct parser *ps);

static bool literal(struct parser *ps, const char *word) {
        size_t n = strlen(word);

        skip_ws(ps);
        if ((size_t) (ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
                return false;
        ps->p += n;
        return true;
}

/* Walks an array: each(ps, userdata) parses one element. */
static int parse_array(struct parser *ps, int (*each)(struct parser *ps, void *userdata), void *userdata) {
        int r;

        if (!eat(ps, '['))
                return -EBADMSG;
        if (++ps->depth > MAX_DEPTH)
                return -EBADMSG;
        if (!eat(ps, ']'))
                do {
                        r = each(ps, userdata);
                        if (r < 0)
                                return r;
                } while (eat(ps, ','));
        else {
                ps->depth--;
                return 0;
        }
        ps->depth--;
        return eat(ps, ']') ? 0 : -EBADMSG;
}

/* Walks an object: member(ps, key, userdata) parses each value. Keys are
 * compared raw: the ones kiln knows need no escapes. */
static int parse_object(struct parser *ps, int (*member)(struct parser *ps, const char *key, size_t n, void *userdata),
                        void *userdata) {
        int r;

        if (!eat(ps, '{'))
                return -EBADMSG;
        if (++ps->depth > MAX_DEPTH)
                return -EBADMSG;
        if (!eat(ps, '}')) {
                do {
                        const char *key;
                        size_t n;
                        skip_ws(ps);
                        key = ps->p + 1;
                        r = parse_string(ps, NULL);
                        if (r < 0)
                                return r;
                        n = (size_t) (ps->p - 1 - key);
                        if (!eat(ps, ':'))
                                return -EBADMSG;
                        r = member(ps, key, n, userdata);
                        if (r < 0)
                                return r;
                } while (eat(ps, ','));
                if (!eat(ps, '}'))
                        return -EBADMSG;
        }
        ps->depth--;
        return 0;
}

static int skip_element(struct parser *ps, void *userdata) {
        return skip_value(ps);
}

static int skip_member(struct parser *ps, const char *key, size_t n, void *userdata) {
        return skip_value(ps);
}

static int skip_value(struct parser *ps) {
        double d;

        skip_ws(ps);
        if (ps->p >= ps->end)
                return -EBADMSG;
        switch (*ps->p) {
        case '{': return parse_object(ps, skip_member, NULL);
        case '[': return parse_array(ps, skip_element, NULL);
        case '"': return parse_string(ps, NULL);
        case 't': return literal(ps, "true") ? 0 : -EBADMSG;
        case 'f': return literal(ps, "false") ? 0 : -EBADMSG;
        case 'n': return literal(ps, "null") ? 0 : -EBADMSG;
        default: return parse_number(ps, &d, NULL);
        }
}

/* --- datums --- */

static bool key_is(const char *key, size_t n, const char *want) {
        return strlen(want) == n && memcmp(key, want, n) == 0;
}

static void malformed(struct metric_datum *d, const char *why) {
        if (!d->malformed)
                d->malformed = why;
}

/* A string member; anything else leaves *ret NULL and marks the datum. */
static int string_member(struct parser *ps, struct metric_datum *d, const char **ret, const char *why) {
        *ret = NULL;
        if (peek_is(ps, '"'))
                return parse_string(ps, ret);
        malformed(d, why);
        return skip_value(ps);
}

static int number_member(struct parser *ps, struct metric_datum *d, double *ret, bool *ret_integer, const char *why) {
        skip_ws(ps);
        if (ps->p < ps->end && (*ps->p == '-' || digit(*ps->p)))
                return parse_number(ps, ret, ret_integer);
        malformed(d, why);
        return skip_value(ps);
}

struct dims_ctx {
        struct metric_datum *d;
        struct metric_dim dims[METRIC_MAX_DIMENSIONS];
        size_t n;
        struct metric_dim *cur;
};

static int dim_member(struct parser *ps, const char *key, size_t n, void *userdata) {
        struct dims_ctx *c = userdata;

        if (key_is(key, n, "Name"))
                return string_member(ps, c->d, &c->cur->name, "dimension name is not a string");
        if (key_is(key, n, "Value"))
                return string_member(ps, c->d, &c->cur->value, "dimension value is not a string");
        return skip_value(ps);
}

static int dim_element(struct parser *ps, void *userdata) {
        struct dims_ctx *c = userdata;
        struct metric_dim spare;
        int r;

        c->cur = c->n < METRIC_MAX_DIMENSIONS ? &c->dims[c->n] : &spare;
        *c->cur = (struct metric_dim){0};
        if (!peek_is(ps, '{')) {
                malformed(c->d, "a dimension must be an object");
                return skip_value(ps);
        }
        r = parse_object(ps, dim_member, c);
        if (r < 0)
                return r;
        if (c->n >= METRIC_MAX_DIMENSIONS)
                malformed(c->d, "at most 30 dimensions are allowed");
        else
                c->n++;
        return 0;
}

static int parse_dims(struct parser *ps, struct metric_datum *d) {
        struct dims_ctx c = {.d = d};
        struct metric_dim *out;
        int r;

        if (!peek_is(ps, '[')) {
                malformed(d, "at most 30 dimensions are allowed");
                return skip_value(ps);
        }
        r = parse_array(ps, dim_element, &c);
        if (r < 0)
                return r;
        out = metric_batch_alloc(ps->b, c.n * sizeof(*out));
        if (!out && c.n > 0)
                return -ENOMEM;
        memcpy(out, c.dims, c.n * sizeof(*out));
        d->dims = out;
        d->n_dims = c.n;
        return 0;
}

struct numbers_ctx {
        struct metric_datum *d;
        double *out; /* METRIC_MAX_VALUES of them */
        size_t n;
        bool too_many;
};

static int number_element(struct parser *ps, void *userdata) {
        struct numbers_ctx *c = userdata;
        double v;
        int r;

        r = number_member(ps, c->d, &v, NULL, "value is not a number");
        if (r < 0)
                return r;
        if (c->n >= METRIC_MAX_VALUES)
                c->too_many = true;
        else
                c->out[c->n++] = v;
        return 0;
}

static int parse_numbers(struct parser *ps, struct metric_datum *d, double **ret, size_t *ret_n, bool *ret_ok) {
        struct numbers_ctx c = {.d = d};
        int r;

        *ret_ok = false;
        if (!peek_is(ps, '['))
                return skip_value(ps);
        c.out = metric_batch_alloc(ps->b, METRIC_MAX_VALUES * sizeof(double));
        if (!c.out)
                return -ENOMEM;
        r = parse_array(ps, number_element, &c);
        if (r < 0)
                return r;
        *ret = c.out;
        *ret_n = c.n;
        *ret_ok = !c.too_many;
        return 0;
}

struct datum_ctx {
        struct metric_datum *d;
        bool has_values, has_counts, values_ok, counts_ok;
        size_t n_counts;
};

static int datum_value_member(struct parser *ps, struct datum_ctx *c, const char *key, size_t n) {
        struct metric_datum *d = c->d;
        bool integer = false;
        double v = 0;
        int r;

        if (key_is(key, n, "Value")) {
                d->has_value = true;
                return number_member(ps, d, &d->value, NULL, "value is not a number");
        }
        if (key_is(key, n, "Values")) {
                c->has_values = true;
                return parse_numbers(ps, d, &d->values, &d->n_values, &c->values_ok);
        }
        if (key_is(key, n, "Counts")) {
                c->has_counts = true;
                return parse_numbers(ps, d, &d->counts, &c->n_counts, &c->counts_ok);
        }
        /* StorageResolution */
        r = number_member(ps, d, &v, &integer, "storage resolution must be 1 or 60");
        d->resolution = integer && (v == 1 || v == 60) ? (int) v : -1;
        return r;
}

static int datum_member(struct parser *ps, const char *key, size_t n, void *userdata) {
        struct datum_ctx *c = userdata;
        struct metric_datum *d = c->d;

        if (key_is(key, n, "MetricName"))
                return string_member(ps, d, &d->name, "metric name is not a string");
        if (key_is(key, n, "Unit"))
                return string_member(ps, d, &d->unit, "unit is not a string");
        if (key_is(key, n, "Dimensions"))
                return parse_dims(ps, d);
        if (key_is(key, n, "Timestamp")) {
                d->has_timestamp = true;
                return number_member(ps, d, &d->timestamp, NULL, "timestamp is not a number");
        }
        if (key_is(key, n, "Value") || key_is(key, n, "Values") || key_is(key, n, "Counts") ||
            key_is(key, n, "StorageResolution"))
                return datum_value_member(ps, c, key, n);
        return skip_value(ps);
}

static void datum_finish(struct datum_ctx *c) {
        struct metric_datum *d = c->d;

        if (d->has_value && c->has_values)
                malformed(d, "Value and Values are exclusive");
        else if (!d->has_value && (!c->has_values || !c->values_ok || d->n_values < 1))
                malformed(d, "a datum needs a Value, or 1 to 150 Values");
        if (c->has_counts && (!c->counts_ok || !c->has_values || c->n_counts != d->n_values))
                malformed(d, "Counts must be as long as Values");
        if (!c->has_counts)
                d->counts = NULL;
        if (d->has_value) {
                d->values = d->counts = NULL;
                d->n_values = 0;
        }
}

struct datums_ctx {
        const char *ns;
};

static int datum_element(struct parser *ps, void *userdata) {
        struct datums_ctx *dc = userdata;
        struct metric_datum blank = {.ns = dc->ns}, *d;
        struct datum_ctx c = {0};
        int r;

        d = metric_batch_add(ps->b, &blank);
        if (!d)
                return -ENOMEM;
        if (!peek_is(ps, '{')) {
                d->malformed = "a datum must be an object";
                return skip_value(ps);
        }
        c.d = d;
        r = parse_object(ps, datum_member, &c);
        if (r < 0)
                return r;
        /* Nothing below adds to the batch's items, so d is still valid. */
        datum_finish(&c);
        return 0;
}

static int parse_text(struct metric_batch *b, const char *text, size_t len,
                      int (*top)(struct parser *ps, void *userdata), void *userdata) {
        struct parser ps = {.p = text, .end = text + len, .b = b};
        size_t n_before = b->n_items;
        int r;

        r = top(&ps, userdata);
        skip_ws(&ps);
        if (r >= 0 && ps.p != ps.end)
                r = -EBADMSG;
        if (r < 0)
                b->n_items = n_before; /* their arena memory goes with the batch */
        return r;
}

static int top_datums(struct parser *ps, void *userdata) {
        return parse_array(ps, datum_element, userdata);
}

int metric_parse_datums(struct metric_batch *b, const char *text, size_t len, const char *ns) {
        struct datums_ctx c = {.ns = ns};
        return parse_text(b, text, len, top_datums, &c);
}

struct incoming_ctx {
        struct datums_ctx datums;
        const char *ns;
        size_t first; /* the batch's first datum from this text */
        bool has_datums;
};

static int incoming_member(struct parser *ps, const char *key, size_t n, void *userdata) {
        struct incoming_ctx *c = userdata;

        if (key_is(key, n, "namespace")) {
                c->ns = NULL;
                if (literal(ps, "null"))
                        return 0;
                return parse_string(ps, &c->ns);
        }
        if (key_is(key, n, "datums")) {
                c->has_datums = true;
                return parse_array(ps, datum_element, &c->datums);
        }
        return skip_value(ps);
}

static int top_incoming(struct parser *ps, void *userdata) {
        struct incoming_ctx *c = userdata;
        int r;

        r = parse_object(ps, incoming_member, c);
        if (r < 0)
                return r;
        if (!c->has_datums)
                return -EBADMSG;
        /* "namespace" may come after "datums". */
        for (size_t i = c->first; i < ps->b->n_items; i++)
                ps->b->items[i].ns = c->ns;
        return 0;
}

int metric_parse_incoming(struct metric_batch *b, const char *text, size_t len) {
        struct incoming_ctx c = {.first = b->n_items};
        return parse_text(b, text, len, top_incoming, &c);
}

int metric_batch_add_json(struct metric_batch *b, const json_t *datums, const char *ns) {
        _cleanup_free_ char *text = NULL;
        char *copy = NULL;

        if (ns) {
                copy = metric_batch_alloc(b, strlen(ns) + 1);
                if (!copy)
                        return -ENOMEM;
                memcpy(copy, ns, strlen(ns) + 1);
        }
        text = json_dumps(datums, JSON_COMPACT | JSON_REAL_PRECISION(17));
        if (!text)
                return -ENOMEM;
        return metric_parse_datums(b, text, strlen(text), copy);
}
