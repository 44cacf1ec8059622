/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cloudwatch/cloudwatch.h"
#include "cloudwatch/collect.h"
#include "imds/imds.h"
#include "log.h"
#include "strbuf.h"

#define ASG_TAG "meta-data/tags/instance/aws:autoscaling:groupName"

const struct config_key cw_config_keys[] = {
        {"metrics", CONFIG_MAP, "Metrics pushed to CloudWatch."},
        {"metrics.namespace", CONFIG_STRING, "CloudWatch namespace of the metrics (default Kiln)."},
        {"metrics.interval", CONFIG_INT, "Seconds between collections and pushes, 1..86400 (default 60)."},
        {"metrics.collect", CONFIG_LIST,
         "Built-in collectors: cpu, memory, disk, network, load, nginx, certificates, kiln (default cpu, memory, "
         "disk)."},
        {"metrics.custom", CONFIG_LIST, "Metrics read from commands run every interval."},
        {"metrics.custom[]", CONFIG_MAP, "One command metric."},
        {"metrics.custom[].name", CONFIG_STRING, "Metric name for a command that prints one number."},
        {"metrics.custom[].command", CONFIG_STRING_OR_LIST, "Program and arguments (no shell)."},
        {"metrics.custom[].unit", CONFIG_STRING, "CloudWatch unit, e.g. Count, Percent, Seconds (default None)."},
        {"metrics.custom[].timeout", CONFIG_NUMBER, "Seconds the command may run (default 10)."},
        {"metrics.dimensions", CONFIG_LIST,
         "Dimensions added to collected metrics: InstanceId, ImageId, InstanceType, AutoScalingGroupName, or "
         "Name=Value (default [InstanceId])."},
        {"metrics.high_resolution", CONFIG_BOOL, "Store at 1-second resolution (StorageResolution 1; default false)."},
        {"metrics.region", CONFIG_STRING, "AWS region (default AWS_REGION, then the instance's region)."},
        {"metrics.endpoint", CONFIG_STRING,
         "CloudWatch endpoint URL, replacing https://monitoring.REGION.amazonaws.com."},
        {"metrics.fips", CONFIG_BOOL, "Use the FIPS endpoint monitoring-fips.REGION.amazonaws.com (default false)."},
        {"metrics.protocol", CONFIG_STRING, "Wire protocol: json (JSON 1.0, default) or query (AWS Query)."},
        {"metrics.gzip", CONFIG_BOOL,
         "Gzip request bodies of 10 KiB or more when it makes them smaller (default true)."},
        {"metrics.timeout", CONFIG_NUMBER, "Seconds to wait for CloudWatch's answer (default 10)."},
        {"metrics.nginx_status_url", CONFIG_STRING,
         "nginx stub_status URL for the nginx collector (default from nginx.status_port)."},
        {"metrics.spool", CONFIG_MAP, "Bounds of the on-disk spool of unsent metrics."},
        {"metrics.spool.max_datums", CONFIG_INT, "Datums kept at most; the oldest go first (default 100000)."},
        {"metrics.spool.max_mb", CONFIG_INT, "Megabytes kept at most (default 32)."},
        {},
};

static bool known_dimension(const char *d) {
        return streq(d, "InstanceId") || streq(d, "ImageId") || streq(d, "InstanceType") ||
               streq(d, "AutoScalingGroupName");
}

static void push_error(char ***errors, char *msg) {
        if (msg)
                (void) strv_push(errors, msg);
        free(msg);
}

static void check_custom(const json_t *custom, char ***errors) {
        size_t i;
        json_t *c;

        json_array_foreach(custom, i, c) {
                const char *unit = json_string_value(json_object_get(c, "unit"));
                json_t *cmd = json_object_get(c, "command");
                if (!json_is_string(json_object_get(c, "name")))
                        push_error(errors, strdup_printf("custom[%zu] needs a name", i));
                if (!cmd || (json_is_array(cmd) && json_array_size(cmd) == 0))
                        push_error(errors, strdup_printf("custom[%zu] needs a command", i));
                if (unit && !metric_unit_valid(unit))
                        push_error(errors, strdup_printf("custom[%zu]: unit '%s' is not a CloudWatch unit", i, unit));
        }
}

void cw_config_check(const json_t *config, char ***ret_errors) {
        const char *ns = config_string(config, "metrics.namespace", CW_DEFAULT_NAMESPACE);
        const char *proto = config_string(config, "metrics.protocol", "json");
        long interval = config_int(config, "metrics.interval", 60);
        _cleanup_free_ char *why = NULL;
        char **errors = NULL;
        size_t i;
        json_t *v;

        if (metric_check_namespace(ns, &why) < 0)
                push_error(&errors, TAKE_PTR(why));
        if (interval < 1 || interval > 86400)
                push_error(&errors, strdup_printf("interval %ld is not within 1..86400", interval));
        if (!streq(proto, "json") && !streq(proto, "query"))
                push_error(&errors, strdup_printf("protocol '%s' is neither json nor query", proto));
        json_array_foreach(config_get(config, "metrics.collect"), i, v)
                if (!collect_known(json_string_value(v)))
                        push_error(&errors, strdup_printf("unknown collector '%s'", json_string_value(v) ?: "?"));
        json_array_foreach(config_get(config, "metrics.dimensions"), i, v) {
                const char *d = json_string_value(v);
                if (!d || (!known_dimension(d) && (!strchr(d, '=') || d[0] == '=')))
                        push_error(&errors, strdup_printf("dimension '%s' is not one of InstanceId, ImageId, "
                                                          "InstanceType, AutoScalingGroupName or Name=Value",
                                                          d ?: "?"));
        }
        check_custom(config_get(config, "metrics.custom"), &errors);
        *ret_errors = errors;
}

static int dimension_value(struct kiln_context *ctx, const char *name, char **ret) {
        const struct instance_facts *f = &ctx->facts;
        const char *v = streq(name, "InstanceId")     ? f->instance_id
                        : streq(name, "ImageId")      ? f->image_id
                        : streq(name, "InstanceType") ? f->instance_type
                                                      : NULL;
        struct imds *imds;
        int r;

        if (v) {
                *ret = strdup(v);
                return *ret ? 0 : -ENOMEM;
        }
        if (!streq(name, "AutoScalingGroupName"))
                return -ENXIO;
        r = imds_from_context(ctx, &imds);
        r = r < 0 ? r : imds_get(imds, ASG_TAG, ret, NULL);
        return r;
}

static int add_dimension(struct kiln_context *ctx, json_t *dims, const char *spec) {
        const char *eq = strchr(spec, '=');
        _cleanup_free_ char *name = eq ? strndup(spec, (size_t) (eq - spec)) : strdup(spec), *value = NULL;
        int r;

        if (!name)
                return -ENOMEM;
        if (eq)
                value = strdup(eq + 1);
        else {
                r = dimension_value(ctx, name, &value);
                if (r < 0) {
                        log_warning("Metrics dimension %s is unknown on this instance (%s), leaving it out.", name,
                                    streq(name, "AutoScalingGroupName") ? "no aws:autoscaling:groupName tag in IMDS"
                                                                        : "the instance was not identified");
                        return 0;
                }
        }
        if (!value)
                return -ENOMEM;
        return json_array_append_new(dims, json_pack("{s:s, s:s}", "Name", name, "Value", value)) < 0 ? -ENOMEM : 0;
}

static int load_dimensions(struct kiln_context *ctx, json_t **ret) {
        json_t *list = config_get(ctx->config, "metrics.dimensions"), *v;
        _cleanup_(json_decrefp) json_t *dims = json_array();
        size_t i;
        int r;

        if (!dims)
                return -ENOMEM;
        if (!list)
                return (r = add_dimension(ctx, dims, "InstanceId")) < 0 ? r : (*ret = TAKE_PTR(dims), 0);
        json_array_foreach(list, i, v)
                if (json_is_string(v) && (r = add_dimension(ctx, dims, json_string_value(v))) < 0)
                        return r;
        *ret = TAKE_PTR(dims);
        return 0;
}

static int load_collect(const json_t *config, char ***ret) {
        static const char *const defaults[] = {"cpu", "memory", "disk"};
        json_t *list = config_get(config, "metrics.collect"), *v;
        size_t i;
        int r = 0;

        if (!list) {
                for (i = 0; r >= 0 && i < ELEMENTSOF(defaults); i++)
                        r = strv_push(ret, defaults[i]);
                return r;
        }
        json_array_foreach(list, i, v)
                if (collect_known(json_string_value(v)) && (r = strv_push(ret, json_string_value(v))) < 0)
                        return r;
        return 0;
}

static char *nginx_url(const json_t *config) {
        const char *url = config_string(config, "metrics.nginx_status_url", NULL);
        long port = config_int(config, "nginx.status_port", 0);

        if (url)
                return strdup(url);
        return port > 0 && port < 65536 ? strdup_printf("http://127.0.0.1:%ld/nginx_status", port) : NULL;
}

static char *region_of(struct kiln_context *ctx) {
        const char *r = config_string(ctx->config, "metrics.region", NULL);

        if (!r)
                r = getenv("AWS_REGION");
        if (!r || !*r)
                r = getenv("AWS_DEFAULT_REGION");
        if (!r || !*r)
                r = ctx->facts.region;
        return r && *r ? strdup(r) : NULL;
}

int cw_settings_load(struct kiln_context *ctx, struct cw_settings *ret) {
        const json_t *cfg = ctx->config;
        struct cw_settings s = {
                .enabled = config_get(cfg, "metrics") != NULL,
                .interval_s = config_int(cfg, "metrics.interval", 60),
                .resolution = config_bool(cfg, "metrics.high_resolution", false) ? 1 : 60,
                .fips = config_bool(cfg, "metrics.fips", false),
                .protocol = streq(config_string(cfg, "metrics.protocol", "json"), "query") ? METRIC_QUERY : METRIC_JSON,
                .gzip = config_bool(cfg, "metrics.gzip", true),
                .timeout_ms = (long) (config_number(cfg, "metrics.timeout", 10) * 1000),
                .limits = {.max_datums = (size_t) config_int(cfg, "metrics.spool.max_datums", CW_DEFAULT_MAX_DATUMS),
                           .max_bytes = (size_t) config_int(cfg, "metrics.spool.max_mb", CW_DEFAULT_MAX_MB) << 20},
        };
        int r;

        if (s.interval_s < 1 || s.interval_s > 86400)
                s.interval_s = 60;
        if (s.timeout_ms < 100)
                s.timeout_ms = 10000;
        s.namespace = strdup(config_string(cfg, "metrics.namespace", CW_DEFAULT_NAMESPACE));
        s.custom = json_incref(config_get(cfg, "metrics.custom"));
        s.region = region_of(ctx);
        s.endpoint = config_string(cfg, "metrics.endpoint", NULL) ? strdup(config_string(cfg, "metrics.endpoint", ""))
                                                                  : NULL;
        s.nginx_url = nginx_url(cfg);
        r = s.namespace ? load_collect(cfg, &s.collect) : -ENOMEM;
        r = r < 0 || !s.enabled ? r : load_dimensions(ctx, &s.dimensions);
        if (r < 0) {
                cw_settings_done(&s);
                return r;
        }
        *ret = s;
        return 0;
}

void cw_settings_done(struct cw_settings *s) {
        free(s->namespace);
        strv_free(s->collect);
        json_decref(s->custom);
        json_decref(s->dimensions);
        free(s->region);
        free(s->endpoint);
        free(s->nginx_url);
        *s = (struct cw_settings){0};
}
