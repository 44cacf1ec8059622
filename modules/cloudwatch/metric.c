/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudwatch/metric.h"
#include "gzip.h"
#include "strbuf.h"

static const char *const units[] = {
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
};

bool metric_unit_valid(const char *unit) {
        for (size_t i = 0; unit && i < ELEMENTSOF(units); i++)
                if (streq(unit, units[i]))
                        return true;
        return false;
}

json_t *metric_datum_new(const char *name, double value, const char *unit, time_t when, int resolution) {
        json_t *d = json_pack("{s:s, s:I, s:f, s:i}", "MetricName", name, "Timestamp", (json_int_t) when, "Value",
                              value, "StorageResolution", resolution == 1 ? 1 : 60);

        if (d && unit && json_object_set_new(d, "Unit", json_string(unit)) < 0) {
                json_decref(d);
                return NULL;
        }
        return d;
}

int metric_datum_add_dimension(json_t *datum, const char *name, const char *value) {
        json_t *dims = json_object_get(datum, "Dimensions");

        if (!dims) {
                dims = json_array();
                if (!dims || json_object_set_new(datum, "Dimensions", dims) < 0)
                        return -ENOMEM;
        }
        return json_array_append_new(dims, json_pack("{s:s, s:s}", "Name", name, "Value", value)) < 0 ? -ENOMEM : 0;
}

/* Digits of n, which is below 10^15, and their count. */
static size_t format_uint(uint64_t n, char *out) {
        char tmp[24];
        size_t k = 0, i;

        do {
                tmp[k++] = (char) ('0' + n % 10);
                n /= 10;
        } while (n > 0);
        for (i = 0; i < k; i++)
                out[i] = tmp[k - 1 - i];
        return k;
}

void metric_format_double(double v, char buf[static 32]) {
        /* Whole numbers, the most common values and every timestamp,
         * without printf: they print exactly the same. */
        if (fabs(v) < 1e15 && v == (double) (int64_t) v && !(v == 0 && signbit(v))) {
                size_t n = 0;
                if (v < 0)
                        buf[n++] = '-';
                n += format_uint((uint64_t) fabs(v), buf + n);
                buf[n] = 0;
                return;
        }
        snprintf(buf, 32, "%.15g", v);
        if (strtod(buf, NULL) != v)
                snprintf(buf, 32, "%.17g", v);
}

_printf_(2, 3) static int fail(char **ret_error, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return -EINVAL;
}

static bool printable_ascii(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 32 || (unsigned char) *s > 126)
                        return false;
        return true;
}

static bool blank(const char *s) {
        return strspn(s, " \t") == strlen(s);
}

int metric_check_namespace(const char *ns, char **ret_error) {
        size_t n = ns ? strlen(ns) : 0;

        if (n < 1 || n > 255)
                return fail(ret_error, "namespace must be 1 to 255 characters long");
        if (!printable_ascii(ns) || ns[0] == ':' || blank(ns))
                return fail(ret_error, "namespace '%s' must be printable ASCII, not starting with ':'", ns);
        if (strneq(ns, "AWS/", 4))
                return fail(ret_error, "namespace '%s' is reserved for AWS services", ns);
        return 0;
}

/* --- checks --- */

static int check_label(const char *s, const char *what, size_t max, char **ret_error) {
        size_t n = s ? strlen(s) : 0;

        if (!s)
                return fail(ret_error, "%s is missing", what);
        if (n < 1 || n > max)
                return fail(ret_error, "%s must be 1 to %zu characters long", what, max);
        if (!printable_ascii(s) || blank(s))
                return fail(ret_error, "%s '%s' must be printable ASCII and not blank", what, s);
        return 0;
}

static int check_dimensions(const struct metric_datum *d, char **ret_error) {
        for (size_t i = 0; i < d->n_dims; i++) {
                const char *name = d->dims[i].name;
                if (check_label(name, "dimension name", 255, ret_error) < 0 ||
                    check_label(d->dims[i].value, "dimension value", 1024, ret_error) < 0)
                        return -EINVAL;
                if (name[0] == ':')
                        return fail(ret_error, "dimension name '%s' must not start with ':'", name);
                for (size_t j = 0; j < i; j++)
                        if (streq(name, d->dims[j].name))
                                return fail(ret_error, "dimension '%s' is given twice", name);
        }
        return 0;
}

int metric_check_dimension(const char *name, const char *value, char **ret_error) {
        struct metric_dim dim = {.name = name, .value = value};

        return check_dimensions(&(struct metric_datum){.dims = &dim, .n_dims = 1}, ret_error);
}

static int check_value(double x, const char *what, char **ret_error) {
        if (isnan(x) || isinf(x))
                return fail(ret_error, "%s must be a finite number", what);
        if (x != 0 && (fabs(x) > 0x1p360 || fabs(x) < 0x1p-360))
                return fail(ret_error, "%s %g is out of range (2^-360 to 2^360 in magnitude, or 0)", what, x);
        return 0;
}

static int check_values(const struct metric_datum *d, char **ret_error) {
        if (d->has_value)
                return check_value(d->value, "value", ret_error);
        for (size_t i = 0; i < d->n_values; i++)
                if (check_value(d->values[i], "value", ret_error) < 0)
                        return -EINVAL;
        for (size_t i = 0; d->counts && i < d->n_values; i++) {
                if (check_value(d->counts[i], "count", ret_error) < 0)
                        return -EINVAL;
                if (d->counts[i] < 0)
                        return fail(ret_error, "count %g is negative", d->counts[i]);
        }
        return 0;
}

static int check_time(const struct metric_datum *d, time_t now, char **ret_error) {
        if (d->resolution < 0)
                return fail(ret_error, "storage resolution must be 1 or 60");
        if (!d->has_timestamp)
                return 0;
        if (d->timestamp < (double) (now - METRIC_MAX_AGE_S))
                return fail(ret_error, "timestamp is more than two weeks old");
        if (d->timestamp > (double) (now + METRIC_MAX_AHEAD_S))
                return fail(ret_error, "timestamp is more than two hours ahead");
        return 0;
}

int metric_check(const struct metric_datum *d, time_t now, char **ret_error) {
        if (d->malformed)
                return fail(ret_error, "%s", d->malformed);
        if (check_label(d->name, "metric name", 255, ret_error) < 0)
                return -EINVAL;
        if (d->unit && !metric_unit_valid(d->unit))
                return fail(ret_error, "unit '%s' is not one of CloudWatch's units", d->unit);
        if (check_dimensions(d, ret_error) < 0 || check_values(d, ret_error) < 0 || check_time(d, now, ret_error) < 0)
                return -EINVAL;
        return 0;
}

int metric_check_datum(const json_t *datum, time_t now, char **ret_error) {
        _cleanup_metric_batch_ struct metric_batch b = {0};
        _cleanup_(json_decrefp) json_t *list = json_pack("[O]", datum);
        int r;

        if (!list)
                return -ENOMEM;
        r = metric_batch_add_json(&b, list, NULL);
        if (r < 0)
                return r;
        return metric_check(&b.items[0], now, ret_error);
}

double metric_samples(const struct metric_datum *d) {
        double n = 0;

        if (d->has_value)
                return 1;
        if (!d->counts)
                return (double) d->n_values;
        for (size_t i = 0; i < d->n_values; i++)
                n += d->counts[i];
        return n;
}

/* --- packing --- */

static long period_of(const struct metric_datum *d) {
        long t = d->has_timestamp ? (long) d->timestamp : 0;

        return d->resolution == 1 ? t : t - t % 60;
}

static bool same_str(const char *a, const char *b) {
        return a == b || (a && b && streq(a, b));
}

/* Same metric and same period: the identity Values/Counts packing keys on. */
static bool same_series(const struct metric_datum *a, const struct metric_datum *b) {
        if (!same_str(a->name, b->name) || !same_str(a->unit, b->unit) || a->resolution != b->resolution ||
            a->n_dims != b->n_dims || period_of(a) != period_of(b))
                return false;
        for (size_t i = 0; i < a->n_dims; i++)
                if (!streq(a->dims[i].name, b->dims[i].name) || !streq(a->dims[i].value, b->dims[i].value))
                        return false;
        return true;
}

static uint64_t hash_str(uint64_t h, const char *s) {
        for (; s && *s; s++)
                h = (h ^ (unsigned char) *s) * 0x100000001b3ULL;
        return (h ^ 0xff) * 0x100000001b3ULL; /* a separator, so "ab","c" differs from "a","bc" */
}

static uint64_t series_hash(const struct metric_datum *d) {
        uint64_t h = 0xcbf29ce484222325ULL;

        h = hash_str(h, d->name);
        h = hash_str(h, d->unit);
        for (size_t i = 0; i < d->n_dims; i++)
                h = hash_str(hash_str(h, d->dims[i].name), d->dims[i].value);
        h = (h ^ (uint64_t) period_of(d)) * 0x100000001b3ULL;
        return (h ^ (uint64_t) (d->resolution + 2)) * 0x100000001b3ULL;
}

/* Turns a single-Value datum into the Values/Counts form, with room for
 * every value it may take. */
static int to_values(struct metric_batch *b, struct metric_datum *d) {
        if (!d->has_value)
                return 0;
        d->values = metric_batch_alloc(b, METRIC_MAX_VALUES * sizeof(double));
        d->counts = metric_batch_alloc(b, METRIC_MAX_VALUES * sizeof(double));
        if (!d->values || !d->counts)
                return -ENOMEM;
        d->values[0] = d->value;
        d->counts[0] = 1;
        d->n_values = 1;
        d->has_value = false;
        return 0;
}

/* Adds `count` samples of `value` to a packed datum; 0 when it is full. */
static int add_sample(struct metric_datum *p, double value, double count) {
        for (size_t i = 0; i < p->n_values; i++)
                if (p->values[i] == value) {
                        p->counts[i] += count;
                        return 1;
                }
        if (p->n_values >= METRIC_MAX_VALUES)
                return 0;
        p->values[p->n_values] = value;
        p->counts[p->n_values++] = count;
        return 1;
}

/* Merges every sample of d into p; 0 when p has no room. */
static int merge(struct metric_batch *b, struct metric_datum *p, const struct metric_datum *d) {
        int r;

        if (!d->has_value && (p->has_value ? 1 : p->n_values) + d->n_values > METRIC_MAX_VALUES)
                return 0;
        r = to_values(b, p);
        if (r < 0)
                return r;
        if (d->has_value)
                return add_sample(p, d->value, 1);
        for (size_t i = 0; i < d->n_values; i++)
                if (add_sample(p, d->values[i], d->counts ? d->counts[i] : 1) <= 0)
                        return -EIO; /* checked for room above */
        return 1;
}

/* A packed datum owns its Values/Counts: the input's arrays are copied the
 * first time one is merged into, by to_values(). A datum that arrives with
 * Values is copied into arrays of full size right away. */
static int start_series(struct metric_batch *out, const struct metric_datum *d, size_t *ret_index) {
        struct metric_datum *p = metric_batch_add(out, d);

        if (!p)
                return -ENOMEM;
        if (!d->has_value) {
                p->values = metric_batch_alloc(out, METRIC_MAX_VALUES * sizeof(double));
                p->counts = metric_batch_alloc(out, METRIC_MAX_VALUES * sizeof(double));
                if (!p->values || !p->counts)
                        return -ENOMEM;
                for (size_t i = 0; i < d->n_values; i++) {
                        p->values[i] = d->values[i];
                        p->counts[i] = d->counts ? d->counts[i] : 1;
                }
        }
        *ret_index = out->n_items - 1;
        return 0;
}

struct slot {
        uint64_t hash;
        size_t index_plus_1; /* 0: empty */
};

int metric_pack(struct metric_datum *const *in, size_t n, struct metric_batch *out) {
        _cleanup_free_ struct slot *slots = NULL;
        size_t n_slots = 16;
        int r;

        while (n_slots < 2 * n)
                n_slots *= 2;
        slots = calloc(n_slots, sizeof(*slots));
        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                uint64_t h = series_hash(in[i]);
                size_t k = (size_t) h & (n_slots - 1), at;
                /* The newest datum of the series is in the slot; a full one
                 * is replaced by a new one. */
                for (; slots[k].index_plus_1; k = (k + 1) & (n_slots - 1))
                        if (slots[k].hash == h && same_series(&out->items[slots[k].index_plus_1 - 1], in[i]))
                                break;
                if (slots[k].index_plus_1) {
                        r = merge(out, &out->items[slots[k].index_plus_1 - 1], in[i]);
                        if (r != 0) {
                                if (r < 0)
                                        return r;
                                continue;
                        }
                }
                r = start_series(out, in[i], &at);
                if (r < 0)
                        return r;
                slots[k] = (struct slot){.hash = h, .index_plus_1 = at + 1};
        }
        return 0;
}

/* --- append_dimensions, aggregation_dimensions --- */

static int dim_cmp(const void *x, const void *y) {
        return strcmp(((const struct metric_dim *) x)->name, ((const struct metric_dim *) y)->name);
}

static const struct metric_dim *find_dim(const struct metric_datum *d, const char *name) {
        for (size_t i = 0; i < d->n_dims; i++)
                if (streq(d->dims[i].name, name))
                        return &d->dims[i];
        return NULL;
}

/* Sets append[] on d; true in *ret_cut when more than 30 were left. */
static int append_dims(struct metric_batch *b, struct metric_datum *d, const struct metric_dim *append, size_t n_append,
                       bool *ret_cut) {
        struct metric_dim *dims;
        size_t n = d->n_dims;

        if (n_append == 0)
                return 0;
        dims = metric_batch_alloc(b, (n + n_append) * sizeof(*dims));
        if (!dims)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                dims[i] = d->dims[i];
        for (size_t i = 0; i < n_append; i++) {
                size_t k = 0;
                while (k < n && !streq(dims[k].name, append[i].name))
                        k++;
                dims[k] = append[i];
                if (k == n)
                        n++;
        }
        if (n > METRIC_MAX_DIMENSIONS) {
                qsort(dims, n, sizeof(*dims), dim_cmp);
                n = METRIC_MAX_DIMENSIONS;
                *ret_cut = true;
        }
        d->dims = dims;
        d->n_dims = n;
        return 0;
}

/* Adds the copy of b->items[i] rolled up to r, when there is one. */
static int add_rollup(struct metric_batch *b, size_t i, const struct metric_rollup *r) {
        struct metric_datum copy = b->items[i];
        struct metric_dim *dims = NULL;

        if (r->n >= copy.n_dims)
                return 0;
        for (size_t j = 0; j < r->n; j++)
                if (!find_dim(&copy, r->names[j]))
                        return 0;
        if (r->n > 0) {
                dims = metric_batch_alloc(b, r->n * sizeof(*dims));
                if (!dims)
                        return -ENOMEM;
        }
        for (size_t j = 0; j < r->n; j++)
                dims[j] = *find_dim(&copy, r->names[j]);
        copy.dims = dims;
        copy.n_dims = r->n;
        return metric_batch_add(b, &copy) ? 0 : -ENOMEM;
}

int metric_decorate(struct metric_batch *b, const struct metric_dim *append, size_t n_append,
                    const struct metric_rollup *rollups, size_t n_rollups, time_t now, size_t *ret_cut) {
        size_t n = b->n_items, cut = 0;
        int r;

        for (size_t i = 0; i < n; i++) {
                bool c = false;
                if (metric_check(&b->items[i], now, NULL) < 0)
                        continue;
                r = append_dims(b, &b->items[i], append, n_append, &c);
                cut += c;
                /* add_rollup() may move b->items: i, not a pointer. */
                for (size_t j = 0; r >= 0 && j < n_rollups; j++)
                        r = add_rollup(b, i, &rollups[j]);
                if (r < 0)
                        return r;
        }
        if (ret_cut)
                *ret_cut = cut;
        return 0;
}

/* --- encoding --- */

static bool unreserved(unsigned char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '.' || c == '~';
}

/* Percent-encodes value as SigV4 wants form values: all but RFC 3986's
 * unreserved characters, in upper-case hex. */
static int put_encoded(struct strbuf *b, const char *value) {
        static const char hex[] = "0123456789ABCDEF";
        const char *run = value, *s;
        int r = 0;

        for (s = value; *s && r >= 0; s++) {
                unsigned char c = (unsigned char) *s;
                char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
                if (unreserved(c))
                        continue;
                r = strbuf_append(b, run, (size_t) (s - run));
                r = r < 0 ? r : strbuf_append(b, esc, sizeof(esc));
                run = s + 1;
        }
        return r < 0 ? r : strbuf_append(b, run, (size_t) (s - run));
}

/* "&MetricData.member.N." then key parts, '=' and the value. */
static int put_param(struct strbuf *b, const char *prefix, const char *name, const char *value) {
        int r = strbuf_append(b, "&", 1);

        r = r < 0 ? r : strbuf_puts(b, prefix);
        r = r < 0 ? r : strbuf_puts(b, name);
        r = r < 0 ? r : strbuf_append(b, "=", 1);
        return r < 0 ? r : put_encoded(b, value);
}

static int put_number(struct strbuf *b, const char *prefix, const char *name, double v) {
        char buf[32];

        metric_format_double(v, buf);
        return put_param(b, prefix, name, buf); /* digits, '.', '-', '+', 'e' need no encoding */
}

static int put_list(struct strbuf *b, const char *prefix, const char *name, const double *list, size_t n) {
        char key[64];
        int r = 0;

        for (size_t i = 0; i < n && r >= 0; i++) {
                snprintf(key, sizeof(key), "%s.member.%zu", name, i + 1);
                r = put_number(b, prefix, key, list ? list[i] : 1);
        }
        return r;
}

static int iso8601(double epoch, char buf[static 32]) {
        time_t t = (time_t) epoch;
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return -EINVAL;
        return 0;
}

static int query_datum(struct strbuf *b, size_t n, const struct metric_datum *d) {
        char p[48], key[64], ts[32];
        int r;

        snprintf(p, sizeof(p), "MetricData.member.%zu.", n);
        r = put_param(b, p, "MetricName", d->name);
        for (size_t i = 0; i < d->n_dims && r >= 0; i++) {
                snprintf(key, sizeof(key), "Dimensions.member.%zu.Name", i + 1);
                r = put_param(b, p, key, d->dims[i].name);
                snprintf(key, sizeof(key), "Dimensions.member.%zu.Value", i + 1);
                r = r < 0 ? r : put_param(b, p, key, d->dims[i].value);
        }
        if (r >= 0 && d->has_timestamp)
                r = iso8601(d->timestamp, ts) < 0 ? -EINVAL : put_param(b, p, "Timestamp", ts);
        if (r >= 0 && d->has_value)
                r = put_number(b, p, "Value", d->value);
        if (r >= 0 && !d->has_value) {
                r = put_list(b, p, "Values", d->values, d->n_values);
                r = r < 0 || !d->counts ? r : put_list(b, p, "Counts", d->counts, d->n_values);
        }
        if (r >= 0 && d->unit)
                r = put_param(b, p, "Unit", d->unit);
        if (r >= 0 && d->resolution > 0)
                r = put_number(b, p, "StorageResolution", d->resolution);
        return r;
}

static int encode_query(const char *ns, const struct metric_datum *datums, size_t n, struct strbuf *b) {
        int r;

        r = strbuf_puts(b, "Action=PutMetricData&Version=2010-08-01");
        r = r < 0 ? r : put_param(b, "", "Namespace", ns);
        for (size_t i = 0; i < n && r >= 0; i++)
                r = query_datum(b, i + 1, &datums[i]);
        return r;
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static int json_str(struct strbuf *b, const char *s) {
        const char *run = s;
        int r = strbuf_append(b, "\"", 1);

        for (; r >= 0 && *s; s++) {
                unsigned char c = (unsigned char) *s;
                char esc[8];
                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                r = strbuf_append(b, run, (size_t) (s - run));
                snprintf(esc, sizeof(esc), c == '"' || c == '\\' ? "\\%c" : "\\u%04x", c);
                r = r < 0 ? r : strbuf_puts(b, esc);
                run = s + 1;
        }
        r = r < 0 ? r : strbuf_append(b, run, (size_t) (s - run));
        return r < 0 ? r : strbuf_append(b, "\"", 1);
}

static int json_num(struct strbuf *b, double v) {
        char buf[32];

        metric_format_double(v, buf);
        return strbuf_puts(b, buf);
}

static int json_list(struct strbuf *b, const char *key, const double *list, size_t n) {
        int r = strbuf_puts(b, key);

        for (size_t i = 0; i < n && r >= 0; i++) {
                r = i > 0 ? strbuf_append(b, ",", 1) : 0;
                r = r < 0 ? r : json_num(b, list ? list[i] : 1);
        }
        return r < 0 ? r : strbuf_append(b, "]", 1);
}

static int json_datum(struct strbuf *b, const struct metric_datum *d) {
        int r = strbuf_puts(b, "{\"MetricName\":");

        r = r < 0 ? r : json_str(b, d->name);
        if (r >= 0 && d->n_dims > 0) {
                r = strbuf_puts(b, ",\"Dimensions\":[");
                for (size_t i = 0; i < d->n_dims && r >= 0; i++) {
                        r = strbuf_puts(b, i > 0 ? ",{\"Name\":" : "{\"Name\":");
                        r = r < 0 ? r : json_str(b, d->dims[i].name);
                        r = r < 0 ? r : strbuf_puts(b, ",\"Value\":");
                        r = r < 0 ? r : json_str(b, d->dims[i].value);
                        r = r < 0 ? r : strbuf_append(b, "}", 1);
                }
                r = r < 0 ? r : strbuf_append(b, "]", 1);
        }
        if (r >= 0 && d->has_timestamp) {
                r = strbuf_puts(b, ",\"Timestamp\":");
                r = r < 0 ? r : json_num(b, d->timestamp);
        }
        if (r >= 0 && d->has_value) {
                r = strbuf_puts(b, ",\"Value\":");
                r = r < 0 ? r : json_num(b, d->value);
        } else if (r >= 0) {
                r = json_list(b, ",\"Values\":[", d->values, d->n_values);
                r = r < 0 || !d->counts ? r : json_list(b, ",\"Counts\":[", d->counts, d->n_values);
        }
        if (r >= 0 && d->unit) {
                r = strbuf_puts(b, ",\"Unit\":");
                r = r < 0 ? r : json_str(b, d->unit);
        }
        if (r >= 0 && d->resolution > 0)
                r = strbuf_printf(b, ",\"StorageResolution\":%d", d->resolution);
        return r < 0 ? r : strbuf_append(b, "}", 1);
}

static int encode_json(const char *ns, const struct metric_datum *datums, size_t n, struct strbuf *b) {
        int r = strbuf_puts(b, "{\"Namespace\":");

        r = r < 0 ? r : json_str(b, ns);
        r = r < 0 ? r : strbuf_puts(b, ",\"MetricData\":[");
        for (size_t i = 0; i < n && r >= 0; i++) {
                r = i > 0 ? strbuf_append(b, ",", 1) : 0;
                r = r < 0 ? r : json_datum(b, &datums[i]);
        }
        return r < 0 ? r : strbuf_puts(b, "]}");
}

int metric_encode(enum metric_protocol proto, const char *ns, const struct metric_datum *datums, size_t n,
                  struct strbuf *ret) {
        return proto == METRIC_JSON ? encode_json(ns, datums, n, ret) : encode_query(ns, datums, n, ret);
}

/* --- splitting --- */

/* The bytes datum d adds to a request as the n-th item (1-based), measured
 * by encoding it into scratch: the Query protocol's keys carry n, the JSON
 * body a comma between items. */
static int item_size(enum metric_protocol proto, const struct metric_datum *d, size_t n, struct strbuf *scratch,
                     size_t *ret) {
        int r;

        scratch->len = 0;
        if (proto == METRIC_JSON)
                r = json_datum(scratch, d);
        else
                r = query_datum(scratch, n, d);
        if (r < 0)
                return r;
        *ret = scratch->len + (proto == METRIC_JSON && n > 1);
        return 0;
}

size_t metric_split(enum metric_protocol proto, const struct metric_datum *datums, size_t n, const char *ns) {
        _cleanup_strbuf_ struct strbuf scratch = STRBUF_INIT;
        size_t size, i;

        /* The body with no item: the namespace and the frame around the items. */
        if (metric_encode(proto, ns, NULL, 0, &scratch) < 0)
                return n > 0;
        size = scratch.len;
        for (i = 0; i < n && i < METRIC_MAX_ITEMS; i++) {
                size_t k;
                /* Without memory to measure, one item a request still goes. */
                if (item_size(proto, &datums[i], i + 1, &scratch, &k) < 0)
                        return i > 0 ? i : 1;
                size += k;
                if (i > 0 && size > METRIC_MAX_BODY)
                        break;
        }
        return i;
}

/* --- gzip --- */

int metric_gzip(const void *data, size_t len, struct strbuf *ret) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        int r;

        r = gzip_compress(data, len, &b);
        if (r < 0)
                return r;
        if (b.len >= len)
                return -E2BIG;
        *ret = b;
        b = (struct strbuf) STRBUF_INIT;
        return 0;
}

static char *query_item_name(const char *body, size_t n) {
        _cleanup_free_ char *key = strdup_printf("&MetricData.member.%zu.MetricName=", n);
        const char *p, *end;
        char *out, *o;

        if (!key || !(p = strstr(body, key)))
                return NULL;
        p += strlen(key);
        end = p + strcspn(p, "&");
        out = o = malloc((size_t) (end - p) + 1);
        if (!out)
                return NULL;
        for (; p < end; p++) {
                unsigned v;
                if (*p == '%' && end - p >= 3 && sscanf(p + 1, "%2x", &v) == 1) {
                        *o++ = (char) v;
                        p += 2;
                } else
                        *o++ = *p;
        }
        *o = 0;
        return out;
}

char *metric_body_item_name(enum metric_protocol proto, const char *body, size_t len, size_t n) {
        _cleanup_strbuf_ struct strbuf plain = STRBUF_INIT;
        _cleanup_(json_decrefp) json_t *j = NULL;
        const char *name;

        if (gzip_looks(body, len)) {
                if (gzip_decompress(body, len, 16u * 1024 * 1024, &plain) < 0)
                        return NULL;
                body = plain.data;
                len = plain.len;
        } else if (strbuf_append(&plain, body, len) < 0)
                return NULL;
        else
                body = plain.data; /* NUL-terminated */
        if (n < 1)
                return NULL;
        if (proto == METRIC_QUERY)
                return query_item_name(body, n);
        j = json_loadb(body, len, 0, NULL);
        name = json_string_value(
                json_object_get(json_array_get(json_object_get(j, "MetricData"), n - 1), "MetricName"));
        return name ? strdup(name) : NULL;
}
