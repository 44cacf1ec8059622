/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "strbuf.h"

/* A datum is created and handed around (collectors, put-metric) as the
 * JSON object PutMetricData's JSON 1.0 protocol takes:
 *   {"MetricName": "X", "Dimensions": [{"Name": "k", "Value": "v"}],
 *    "Timestamp": epoch-seconds, "Value": 1.5 | "Values": [..], "Counts": [..],
 *    "Unit": "Count", "StorageResolution": 60}
 * The daemon's bulk path (checking, packing, splitting, encoding) works on
 * struct metric_datum instead, parsed straight from that JSON text into an
 * arena: a thousand datums would otherwise cost ten thousand small
 * allocations. Limits are CloudWatch's. */

#define METRIC_MAX_ITEMS 1000 /* MetricData items per request */
#define METRIC_MAX_BODY (1000u * 1000) /* bytes per request (1 MB, with room) */
#define METRIC_MAX_VALUES 150 /* Values per item */
#define METRIC_MAX_DIMENSIONS 30
#define METRIC_GZIP_MIN (10u * 1024) /* bodies this big are gzipped when it helps */
#define METRIC_MAX_AGE_S (14 * 86400L)
#define METRIC_MAX_AHEAD_S (2 * 3600L)

enum metric_protocol {
        METRIC_QUERY,
        METRIC_JSON,
};

/* A new datum with one value; dims and unit may be NULL. */
json_t *metric_datum_new(const char *name, double value, const char *unit, time_t when, int resolution);
int metric_datum_add_dimension(json_t *datum, const char *name, const char *value);

bool metric_unit_valid(const char *unit);
/* The namespace CloudWatch accepts from a customer. */
int metric_check_namespace(const char *ns, char **ret_error);
/* Checks one datum (JSON) against CloudWatch's rules at time now; *ret_error
 * says what is wrong, naming the field. */
int metric_check_datum(const json_t *datum, time_t now, char **ret_error);

struct metric_dim {
        const char *name;
        const char *value;
};

/* One datum, its strings and arrays in the batch's arena. */
struct metric_datum {
        const char *ns; /* the namespace it was handed over for; NULL: the configured one */
        const char *name; /* NULL when missing */
        const char *unit; /* NULL: none */
        const struct metric_dim *dims;
        size_t n_dims;
        bool has_timestamp;
        double timestamp; /* epoch seconds */
        bool has_value; /* a single Value, else Values (and Counts) */
        double value;
        double *values;
        double *counts; /* NULL: one of each value */
        size_t n_values;
        int resolution; /* 1 or 60, 0 when absent, -1 when neither */
        const char *malformed; /* a member of the wrong type or size, said as an error */
};

struct metric_arena_chunk;

/* Datums and the memory behind them, freed at once. */
struct metric_batch {
        struct metric_arena_chunk *chunks;
        struct metric_datum *items;
        size_t n_items;
        size_t cap;
};

void metric_batch_done(struct metric_batch *b);
static inline void metric_batch_donep(struct metric_batch *b) {
        metric_batch_done(b);
}
#define _cleanup_metric_batch_ _cleanup_(metric_batch_donep)

/* Allocates from the batch's arena (zeroed); NULL without memory. */
void *metric_batch_alloc(struct metric_batch *b, size_t size);
/* Appends a copy of *d (sharing its arena memory); NULL without memory. */
struct metric_datum *metric_batch_add(struct metric_batch *b, const struct metric_datum *d);

/* Parses JSON text of an array of datums into b, each tagged with ns (NULL
 * for the configured namespace). Members of the wrong type make a datum
 * malformed, not the text: metric_check() says what is wrong. -EBADMSG
 * when the text is not JSON or not an array. */
int metric_parse_datums(struct metric_batch *b, const char *text, size_t len, const char *ns);
/* The same for a put-metric hand-over: {"namespace": "X" | null, "datums": [...]}. */
int metric_parse_incoming(struct metric_batch *b, const char *text, size_t len);
/* Adds JSON datums (an array) to b, as metric_parse_datums(). */
int metric_batch_add_json(struct metric_batch *b, const json_t *datums, const char *ns);

/* Checks one datum against CloudWatch's rules at time now. */
int metric_check(const struct metric_datum *d, time_t now, char **ret_error);
/* How many samples a datum carries: 1, or the sum of its Counts. */
double metric_samples(const struct metric_datum *d);

/* Checks one dimension as metric_check() does. */
int metric_check_dimension(const char *name, const char *value, char **ret_error);

/* The dimensions to roll a datum up to: one of the CloudWatch agent's
 * aggregation_dimensions, its names distinct. n == 0 rolls up to none. */
struct metric_rollup {
        char **names;
        size_t n;
};

/* The CloudWatch agent's append_dimensions and aggregation_dimensions, on
 * each datum of b that metric_check() takes at now. append[] is set on it,
 * a value replacing one of the same name; beyond 30 dimensions the first 30
 * by name are kept, as the agent keeps them, and *ret_cut (may be NULL)
 * counts such datums. Then, per rollup, a copy of it with only the rollup's
 * dimensions is added to b, when it has all of them and more besides (a
 * rollup to all of its dimensions would be the datum again). */
int metric_decorate(struct metric_batch *b, const struct metric_dim *append, size_t n_append,
                    const struct metric_rollup *rollups, size_t n_rollups, time_t now, size_t *ret_cut);

/* Packs samples of one metric (same name, dimensions, unit, resolution and
 * period: the minute, or the second for high resolution) into one datum
 * with Values and Counts, up to 150 distinct values each. in[] are checked
 * datums; the packed ones go to out (in's arena memory is shared, so in
 * must outlive out). */
int metric_pack(struct metric_datum *const *in, size_t n, struct metric_batch *out);

/* How many of datums[0..n) fit one request of protocol proto, at least 1:
 * at most 1000 items and METRIC_MAX_BODY bytes of body as encoded (before
 * gzip), measured. */
size_t metric_split(enum metric_protocol proto, const struct metric_datum *datums, size_t n, const char *ns);

/* The request body for one batch. */
int metric_encode(enum metric_protocol proto, const char *ns, const struct metric_datum *datums, size_t n,
                  struct strbuf *ret);
/* Gzips data; -E2BIG when that would not make it smaller. */
int metric_gzip(const void *data, size_t len, struct strbuf *ret);
/* The MetricName of the n-th (1-based) item of an encoded body, for error
 * messages; NULL when it cannot be found. */
char *metric_body_item_name(enum metric_protocol proto, const char *body, size_t len, size_t n);
/* "%.17g" without the noise: the shortest form that reads back the same. */
void metric_format_double(double v, char buf[static 32]);
