/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "strbuf.h"

/* A datum is kept as the JSON object PutMetricData's JSON 1.0 protocol
 * takes, so the spool, the JSON encoder and the checks share one shape:
 *   {"MetricName": "X", "Dimensions": [{"Name": "k", "Value": "v"}],
 *    "Timestamp": epoch-seconds, "Value": 1.5 | "Values": [..], "Counts": [..],
 *    "Unit": "Count", "StorageResolution": 60}
 * Limits are CloudWatch's. */

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
/* Checks one datum against CloudWatch's rules at time now; *ret_error says
 * what is wrong, naming the field. */
int metric_check_datum(const json_t *datum, time_t now, char **ret_error);
/* How many samples a datum carries: 1, or the sum of its Counts. */
double metric_datum_samples(const json_t *datum);

/* Packs samples of one metric (same name, dimensions, unit, resolution and
 * period: the minute, or the second for high resolution) into one datum
 * with Values and Counts, up to 150 distinct values each. Returns a new
 * array. */
json_t *metric_pack(const json_t *datums);

/* Splits datums (already packed) into groups that fit one request: at most
 * 1000 items and about 1 MB however encoded. Returns an array of arrays. */
json_t *metric_split(const json_t *datums, const char *ns);

/* The request body for one batch. */
int metric_encode(enum metric_protocol proto, const char *ns, const json_t *datums, struct strbuf *ret);
/* Gzips data; -E2BIG when that would not make it smaller. */
int metric_gzip(const void *data, size_t len, struct strbuf *ret);
/* "%.17g" without the noise: the shortest form that reads back the same. */
void metric_format_double(double v, char buf[static 32]);
