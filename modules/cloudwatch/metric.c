/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cloudwatch/metric.h"
#include "cloudwatch/sigv4.h"

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

void metric_format_double(double v, char buf[static 32]) {
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

static int check_label(const json_t *v, const char *what, size_t max, char **ret_error) {
        const char *s = json_string_value(v);
        size_t n = s ? strlen(s) : 0;

        if (!s)
                return fail(ret_error, "%s is missing", what);
        if (n < 1 || n > max)
                return fail(ret_error, "%s must be 1 to %zu characters long", what, max);
        if (!printable_ascii(s) || blank(s))
                return fail(ret_error, "%s '%s' must be printable ASCII and not blank", what, s);
        return 0;
}

static int check_dimensions(const json_t *dims, char **ret_error) {
        size_t i, j;
        json_t *d, *e;

        if (!dims)
                return 0;
        if (!json_is_array(dims) || json_array_size(dims) > METRIC_MAX_DIMENSIONS)
                return fail(ret_error, "at most %d dimensions are allowed", METRIC_MAX_DIMENSIONS);
        json_array_foreach(dims, i, d) {
                const char *name = json_string_value(json_object_get(d, "Name"));
                if (check_label(json_object_get(d, "Name"), "dimension name", 255, ret_error) < 0 ||
                    check_label(json_object_get(d, "Value"), "dimension value", 1024, ret_error) < 0)
                        return -EINVAL;
                if (name[0] == ':')
                        return fail(ret_error, "dimension name '%s' must not start with ':'", name);
                json_array_foreach(dims, j, e)
                        if (j < i && streq(name, json_string_value(json_object_get(e, "Name"))))
                                return fail(ret_error, "dimension '%s' is given twice", name);
        }
        return 0;
}

static int check_value(const json_t *v, const char *what, char **ret_error) {
        double x = json_number_value(v);

        if (!json_is_number(v))
                return fail(ret_error, "%s is not a number", what);
        if (isnan(x) || isinf(x))
                return fail(ret_error, "%s must be a finite number", what);
        if (x != 0 && (fabs(x) > 0x1p360 || fabs(x) < 0x1p-360))
                return fail(ret_error, "%s %g is out of range (2^-360 to 2^360 in magnitude, or 0)", what, x);
        return 0;
}

static int check_values(const json_t *datum, char **ret_error) {
        json_t *values = json_object_get(datum, "Values"), *counts = json_object_get(datum, "Counts"), *v;
        size_t i;

        if (json_object_get(datum, "Value"))
                return values ? fail(ret_error, "Value and Values are exclusive")
                              : check_value(json_object_get(datum, "Value"), "value", ret_error);
        if (!json_is_array(values) || json_array_size(values) < 1 || json_array_size(values) > METRIC_MAX_VALUES)
                return fail(ret_error, "a datum needs a Value, or 1 to %d Values", METRIC_MAX_VALUES);
        if (counts && (!json_is_array(counts) || json_array_size(counts) != json_array_size(values)))
                return fail(ret_error, "Counts must be as long as Values");
        json_array_foreach(values, i, v)
                if (check_value(v, "value", ret_error) < 0)
                        return -EINVAL;
        json_array_foreach(counts, i, v)
                if (check_value(v, "count", ret_error) < 0 || json_number_value(v) < 0)
                        return fail(ret_error, "counts must be finite and not negative");
        return 0;
}

static int check_time(const json_t *datum, time_t now, char **ret_error) {
        json_t *ts = json_object_get(datum, "Timestamp");
        json_t *res = json_object_get(datum, "StorageResolution");
        double t = json_number_value(ts);

        if (res && (!json_is_integer(res) || (json_integer_value(res) != 1 && json_integer_value(res) != 60)))
                return fail(ret_error, "storage resolution must be 1 or 60");
        if (!ts)
                return 0;
        if (!json_is_number(ts))
                return fail(ret_error, "timestamp is not a number");
        if (t < (double) (now - METRIC_MAX_AGE_S))
                return fail(ret_error, "timestamp is more than two weeks old");
        if (t > (double) (now + METRIC_MAX_AHEAD_S))
                return fail(ret_error, "timestamp is more than two hours ahead");
        return 0;
}

int metric_check_datum(const json_t *datum, time_t now, char **ret_error) {
        json_t *unit = json_object_get(datum, "Unit");

        if (!json_is_object(datum))
                return fail(ret_error, "a datum must be an object");
        if (check_label(json_object_get(datum, "MetricName"), "metric name", 255, ret_error) < 0)
                return -EINVAL;
        if (unit && !metric_unit_valid(json_string_value(unit)))
                return fail(ret_error, "unit '%s' is not one of CloudWatch's units",
                            json_string_value(unit) ? json_string_value(unit) : "?");
        if (check_dimensions(json_object_get(datum, "Dimensions"), ret_error) < 0 ||
            check_values(datum, ret_error) < 0 || check_time(datum, now, ret_error) < 0)
                return -EINVAL;
        return 0;
}

double metric_datum_samples(const json_t *datum) {
        json_t *counts = json_object_get(datum, "Counts"), *values = json_object_get(datum, "Values"), *c;
        double n = 0;
        size_t i;

        if (!values)
                return 1;
        if (!counts)
                return (double) json_array_size(values);
        json_array_foreach(counts, i, c)
                n += json_number_value(c);
        return n;
}

/* --- packing --- */

static long period_of(const json_t *d) {
        long res = json_integer_value(json_object_get(d, "StorageResolution"));
        long t = (long) json_number_value(json_object_get(d, "Timestamp"));

        return res == 1 ? t : t - t % 60;
}

/* Both absent counts as equal, unlike json_equal(). */
static bool same_member(const json_t *a, const json_t *b, const char *key) {
        json_t *x = json_object_get(a, key), *y = json_object_get(b, key);
        return (!x && !y) || (x && y && json_equal(x, y));
}

/* Same metric and same period: the identity Values/Counts packing keys on. */
static bool same_series(const json_t *a, const json_t *b) {
        return same_member(a, b, "MetricName") && same_member(a, b, "Dimensions") && same_member(a, b, "Unit") &&
               same_member(a, b, "StorageResolution") && period_of(a) == period_of(b);
}

/* Turns a single-Value datum into the Values/Counts form. */
static int to_values(json_t *d) {
        json_t *v = json_object_get(d, "Value");

        if (!v)
                return 0;
        if (json_object_set_new(d, "Values", json_pack("[O]", v)) < 0 ||
            json_object_set_new(d, "Counts", json_pack("[i]", 1)) < 0)
                return -ENOMEM;
        return json_object_del(d, "Value") < 0 ? -EIO : 0;
}

/* Adds `count` samples of `value` to a packed datum; 0 when it is full. */
static int add_sample(json_t *packed, json_t *value, double count) {
        json_t *values = json_object_get(packed, "Values"), *counts = json_object_get(packed, "Counts"), *v;
        size_t i;

        json_array_foreach(values, i, v)
                if (json_number_value(v) == json_number_value(value)) {
                        json_t *c = json_array_get(counts, i);
                        return json_array_set_new(counts, i, json_real(json_number_value(c) + count)) < 0 ? -ENOMEM : 1;
                }
        if (json_array_size(values) >= METRIC_MAX_VALUES)
                return 0;
        if (json_array_append(values, value) < 0 || json_array_append_new(counts, json_real(count)) < 0)
                return -ENOMEM;
        return 1;
}

/* Merges every sample of d into packed; 0 when packed has no room. */
static int merge(json_t *packed, const json_t *d) {
        json_t *values = json_object_get(d, "Values"), *counts = json_object_get(d, "Counts"), *v;
        size_t i;
        int r;

        if (json_object_get(d, "Value"))
                return add_sample(packed, json_object_get(d, "Value"), 1);
        if (json_array_size(json_object_get(packed, "Values")) + json_array_size(values) > METRIC_MAX_VALUES)
                return 0;
        json_array_foreach(values, i, v) {
                r = add_sample(packed, v, counts ? json_number_value(json_array_get(counts, i)) : 1);
                if (r <= 0)
                        return r < 0 ? r : -EIO;
        }
        return 1;
}

/* The series a datum belongs to, as a string: name, dimensions, unit,
 * resolution and period. */
static char *series_key(const json_t *d) {
        _cleanup_(json_decrefp) json_t *k = json_pack(
                "[O?, O?, O?, O?, I]", json_object_get(d, "MetricName"), json_object_get(d, "Dimensions"),
                json_object_get(d, "Unit"), json_object_get(d, "StorageResolution"), (json_int_t) period_of(d));

        return k ? json_dumps(k, JSON_COMPACT) : NULL;
}

/* Packs d into the newest datum of its series, or starts a new one. An
 * index from series key to that datum's position keeps this linear. */
static int pack_one(json_t *out, json_t *index, const json_t *d) {
        _cleanup_free_ char *key = series_key(d);
        json_t *pos, *p;
        int r;

        if (!key)
                return -ENOMEM;
        pos = json_object_get(index, key);
        if (pos) {
                p = json_array_get(out, (size_t) json_integer_value(pos));
                if (!same_series(p, d))
                        return -EIO;
                r = to_values(p);
                r = r < 0 ? r : merge(p, d);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        if (json_array_append_new(out, json_deep_copy(d)) < 0 ||
            json_object_set_new(index, key, json_integer((json_int_t) json_array_size(out) - 1)) < 0)
                return -ENOMEM;
        return 0;
}

json_t *metric_pack(const json_t *datums) {
        _cleanup_(json_decrefp) json_t *out = json_array(), *index = json_object();
        size_t i;
        json_t *d;

        if (!out || !index)
                return NULL;
        json_array_foreach(datums, i, d)
                if (pack_one(out, index, d) < 0)
                        return NULL;
        return TAKE_PTR(out);
}

/* --- encoding --- */

static int put_param(struct strbuf *b, const char *prefix, const char *name, const char *value) {
        _cleanup_free_ char *v = sigv4_uri_encode(value, strlen(value), false);

        if (!v)
                return -ENOMEM;
        return strbuf_printf(b, "&%s%s=%s", prefix, name, v);
}

static int put_number(struct strbuf *b, const char *prefix, const char *name, double v) {
        char buf[32];

        metric_format_double(v, buf);
        return put_param(b, prefix, name, buf);
}

static int put_list(struct strbuf *b, const char *prefix, const char *name, const json_t *list) {
        char key[64];
        size_t i;
        json_t *v;

        json_array_foreach(list, i, v) {
                int r;
                snprintf(key, sizeof(key), "%s.member.%zu", name, i + 1);
                r = put_number(b, prefix, key, json_number_value(v));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int iso8601(double epoch, char buf[static 32]) {
        time_t t = (time_t) epoch;
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return -EINVAL;
        return 0;
}

static int query_datum(struct strbuf *b, size_t n, const json_t *d) {
        _cleanup_free_ char *p = strdup_printf("MetricData.member.%zu.", n);
        json_t *dim, *v;
        char key[64], ts[32];
        size_t i;
        int r;

        if (!p)
                return -ENOMEM;
        r = put_param(b, p, "MetricName", json_string_value(json_object_get(d, "MetricName")));
        json_array_foreach(json_object_get(d, "Dimensions"), i, dim) {
                snprintf(key, sizeof(key), "Dimensions.member.%zu.Name", i + 1);
                r = r < 0 ? r : put_param(b, p, key, json_string_value(json_object_get(dim, "Name")));
                snprintf(key, sizeof(key), "Dimensions.member.%zu.Value", i + 1);
                r = r < 0 ? r : put_param(b, p, key, json_string_value(json_object_get(dim, "Value")));
        }
        if (r >= 0 && (v = json_object_get(d, "Timestamp")))
                r = iso8601(json_number_value(v), ts) < 0 ? -EINVAL : put_param(b, p, "Timestamp", ts);
        if (r >= 0 && (v = json_object_get(d, "Value")))
                r = put_number(b, p, "Value", json_number_value(v));
        r = r < 0 ? r : put_list(b, p, "Values", json_object_get(d, "Values"));
        r = r < 0 ? r : put_list(b, p, "Counts", json_object_get(d, "Counts"));
        if (r >= 0 && (v = json_object_get(d, "Unit")))
                r = put_param(b, p, "Unit", json_string_value(v));
        if (r >= 0 && (v = json_object_get(d, "StorageResolution")))
                r = put_number(b, p, "StorageResolution", (double) json_integer_value(v));
        return r;
}

static int encode_query(const char *ns, const json_t *datums, struct strbuf *b) {
        size_t i;
        json_t *d;
        int r;

        r = strbuf_puts(b, "Action=PutMetricData&Version=2010-08-01");
        r = r < 0 ? r : put_param(b, "", "Namespace", ns);
        json_array_foreach(datums, i, d)
                if (r >= 0)
                        r = query_datum(b, i + 1, d);
        return r;
}

static int encode_json(const char *ns, const json_t *datums, struct strbuf *b) {
        _cleanup_(json_decrefp) json_t *req = json_pack("{s:s, s:O}", "Namespace", ns, "MetricData", datums);
        _cleanup_free_ char *text = NULL;

        if (!req)
                return -ENOMEM;
        text = json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(17));
        return text ? strbuf_puts(b, text) : -ENOMEM;
}

int metric_encode(enum metric_protocol proto, const char *ns, const json_t *datums, struct strbuf *ret) {
        return proto == METRIC_JSON ? encode_json(ns, datums, ret) : encode_query(ns, datums, ret);
}

static size_t str_len(const json_t *v) {
        return json_is_string(v) ? json_string_length(v) : 0;
}

/* An upper bound of a datum's size in either encoding, without encoding
 * it: every string percent-encoded in full (3 bytes a byte), every key as
 * long as the Query protocol's longest ("MetricData.member.1000.Dimensions
 * .member.30.Value="), every number as 32 characters. */
static size_t item_size(const json_t *d) {
        const size_t key = 64, number = 32;
        size_t n = 4 * key + 3 * str_len(json_object_get(d, "MetricName")) + 3 * str_len(json_object_get(d, "Unit"));
        size_t i,
                values = json_array_size(json_object_get(d, "Values")) + json_array_size(json_object_get(d, "Counts"));
        json_t *dim;

        json_array_foreach(json_object_get(d, "Dimensions"), i, dim)
                n += 2 * key + 3 * (str_len(json_object_get(dim, "Name")) + str_len(json_object_get(dim, "Value")));
        return n + (values + 3) * (key + number);
}

json_t *metric_split(const json_t *datums, const char *ns) {
        _cleanup_(json_decrefp) json_t *out = json_array();
        size_t base = 64 + strlen(ns) * 3, size = base, i;
        json_t *cur = NULL, *d;

        if (!out)
                return NULL;
        json_array_foreach(datums, i, d) {
                size_t n = item_size(d);
                if (!cur || json_array_size(cur) >= METRIC_MAX_ITEMS || size + n > METRIC_MAX_BODY) {
                        cur = json_array();
                        if (!cur || json_array_append_new(out, cur) < 0)
                                return NULL;
                        size = base;
                }
                if (json_array_append(cur, d) < 0)
                        return NULL;
                size += n;
        }
        return TAKE_PTR(out);
}

int metric_gzip(const void *data, size_t len, struct strbuf *ret) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        z_stream z = {0};
        uLong bound;
        int r;

        if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                return -ENOMEM;
        bound = deflateBound(&z, (uLong) len) + 32;
        r = strbuf_append(&b, "", 0);
        if (r >= 0 && bound > b.cap) {
                char *p = realloc(b.data, bound);
                if (p) {
                        b.data = p;
                        b.cap = bound;
                } else
                        r = -ENOMEM;
        }
        if (r >= 0) {
                z.next_in = (Bytef *) data;
                z.avail_in = (uInt) len;
                z.next_out = (Bytef *) b.data;
                z.avail_out = (uInt) (b.cap - 1);
                r = deflate(&z, Z_FINISH) == Z_STREAM_END ? 0 : -EIO;
                b.len = z.total_out;
                b.data[b.len] = 0;
        }
        deflateEnd(&z);
        if (r < 0)
                return r;
        if (b.len >= len)
                return -E2BIG;
        *ret = b;
        b = (struct strbuf) STRBUF_INIT;
        return 0;
}
