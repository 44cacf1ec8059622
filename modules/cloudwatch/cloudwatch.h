/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "cloudwatch/metric.h"
#include "cloudwatch/spool.h"
#include "config.h"
#include "context.h"
#include "module.h"

/* The metrics: section, read once per start or reload. */
struct cw_settings {
        bool enabled; /* a metrics: section is there */
        char *namespace;
        long interval_s;
        int resolution; /* 1 with high_resolution, else 60 */
        char **collect;
        json_t *custom; /* metrics.custom, a reference */
        json_t *dimensions; /* [{"Name", "Value"}] added to collected datums */
        /* append_dimensions and aggregation_dimensions, for metric_decorate():
         * append[] points into append_json ([{"Name", "Value"}]). */
        json_t *append_json;
        struct metric_dim *append;
        size_t n_append;
        struct metric_rollup *rollups;
        size_t n_rollups;
        char *region;
        char *endpoint; /* metrics.endpoint, NULL for AWS's */
        bool fips;
        enum metric_protocol protocol;
        bool gzip;
        long timeout_ms;
        char *nginx_url;
        struct spool_limits limits;
};

#define CW_DEFAULT_NAMESPACE "Kiln"
#define CW_DEFAULT_MAX_DATUMS 100000
#define CW_DEFAULT_MAX_MB 32

int cw_settings_load(struct kiln_context *ctx, struct cw_settings *ret);
void cw_settings_done(struct cw_settings *s);
/* What is wrong with the metrics: section beyond types; empty when fine. */
void cw_config_check(const json_t *config, char ***ret_errors);
/* Warnings for kiln validate: append_dimensions values the agent ignores. */
void cw_validate(const json_t *config, struct config_report *report);

extern const struct config_key cw_config_keys[];
extern const struct kiln_command cw_commands[];

/* Counts one event (NAME: "SpotInterruption", ...) as a datum of value 1,
 * unit Count, in the configured namespace with its dimensions, through the
 * spool as `kiln put-metric` does. 0 without a metrics: section. */
int cloudwatch_count_event(struct kiln_context *ctx, const char *name);
