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
        {"metrics.append_dimensions", CONFIG_MAP,
         "EC2 dimensions added to every metric (collected and put-metric), as the CloudWatch agent's; also drops "
         "the default of metrics.dimensions."},
        {"metrics.append_dimensions.InstanceId", CONFIG_STRING, "\"${aws:InstanceId}\": the instance's ID."},
        {"metrics.append_dimensions.InstanceType", CONFIG_STRING, "\"${aws:InstanceType}\": the instance type."},
        {"metrics.append_dimensions.ImageId", CONFIG_STRING, "\"${aws:ImageId}\": the AMI's ID."},
        {"metrics.append_dimensions.AutoScalingGroupName", CONFIG_STRING,
         "\"${aws:AutoScalingGroupName}\": the instance's aws:autoscaling:groupName tag in IMDS."},
        {"metrics.aggregation_dimensions", CONFIG_LIST,
         "Dimension sets every metric is also pushed with, as the CloudWatch agent's roll-ups: "
         "[[AutoScalingGroupName], [InstanceId, InstanceType], []]."},
        {"metrics.aggregation_dimensions[]", CONFIG_LIST, "The dimension names one roll-up keeps ([]: none)."},
        {"metrics.aggregation_dimensions[][]", CONFIG_STRING, "A dimension name."},
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

static const char *const ec2_dimensions[] = {"InstanceId", "InstanceType", "ImageId", "AutoScalingGroupName"};

static bool known_dimension(const char *d) {
        for (size_t i = 0; i < ELEMENTSOF(ec2_dimensions); i++)
                if (streq(d, ec2_dimensions[i]))
                        return true;
        return false;
}

/* What the agent takes for append_dimensions' key: "${aws:KEY}", only. */
static bool append_value_ok(const char *key, const char *value) {
        _cleanup_free_ char *want = strdup_printf("${aws:%s}", key);

        return want && value && streq(value, want);
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
        if (json_array_size(config_get(config, "metrics.dimensions")) > METRIC_MAX_DIMENSIONS)
                push_error(&errors, strdup_printf("dimensions has more than %d entries", METRIC_MAX_DIMENSIONS));
        json_array_foreach(config_get(config, "metrics.aggregation_dimensions"), i, v)
                if (json_array_size(v) > METRIC_MAX_DIMENSIONS)
                        push_error(&errors, strdup_printf("aggregation_dimensions[%zu] names more than %d dimensions",
                                                          i, METRIC_MAX_DIMENSIONS));
        check_custom(config_get(config, "metrics.custom"), &errors);
        *ret_errors = errors;
}

void cw_validate(const json_t *config, struct config_report *report) {
        const json_t *append = config_get(config, "metrics.append_dimensions");

        for (size_t i = 0; json_is_object(append) && i < ELEMENTSOF(ec2_dimensions); i++) {
                const char *k = ec2_dimensions[i];
                json_t *v = json_object_get(append, k);
                _cleanup_free_ char *path = strdup_printf("metrics.append_dimensions.%s", k);
                if (json_is_string(v) && !append_value_ok(k, json_string_value(v)) && path)
                        config_report_warning(report, path,
                                              "'%s' is not \"${aws:%s}\", the only value the CloudWatch agent takes "
                                              "for %s: ignoring it",
                                              path, k, k);
        }
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

/* Adds a dimension (NAME or NAME=VALUE) to dims; an EC2 one unknown here is
 * left out, said at info level when optional (the agent's
 * append_dimensions leaves AutoScalingGroupName out quietly). */
static int add_dimension(struct kiln_context *ctx, json_t *dims, const char *spec, bool optional) {
        const char *eq = strchr(spec, '=');
        _cleanup_free_ char *name = eq ? strndup(spec, (size_t) (eq - spec)) : strdup(spec), *value = NULL;
        int r;

        if (!name)
                return -ENOMEM;
        if (eq)
                value = strdup(eq + 1);
        else {
                _cleanup_free_ char *why = NULL;
                r = dimension_value(ctx, name, &value);
                if (r == -ENOMEM)
                        return r;
                if (r >= 0 && metric_check_dimension(name, value, &why) < 0) {
                        log_warning("Metrics dimension %s: CloudWatch would refuse %s, leaving it out.", name,
                                    why ? why : "its value");
                        return 0;
                }
                if (r < 0) {
                        log_full(optional ? LOG_INFO : LOG_WARNING,
                                 "Metrics dimension %s is unknown on this instance (%s), leaving it out.", name,
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
        /* The agent's append_dimensions replace its default dimension
         * (host); here they replace the default InstanceId. */
        if (!list && !config_get(ctx->config, "metrics.append_dimensions"))
                return (r = add_dimension(ctx, dims, "InstanceId", false)) < 0 ? r : (*ret = TAKE_PTR(dims), 0);
        json_array_foreach(list, i, v)
                if (json_is_string(v) && (r = add_dimension(ctx, dims, json_string_value(v), false)) < 0)
                        return r;
        *ret = TAKE_PTR(dims);
        return 0;
}

/* append_dimensions as the agent reads them: the four keys with their
 * "${aws:KEY}" value, anything else ignored (kiln validate says so). */
static int load_append(struct kiln_context *ctx, struct cw_settings *s) {
        const json_t *append = config_get(ctx->config, "metrics.append_dimensions");
        size_t i;
        json_t *v;
        int r;

        s->append_json = json_array();
        if (!s->append_json)
                return -ENOMEM;
        for (i = 0; json_is_object(append) && i < ELEMENTSOF(ec2_dimensions); i++) {
                const char *k = ec2_dimensions[i];
                if (!json_object_get(append, k))
                        continue;
                if (!append_value_ok(k, json_string_value(json_object_get(append, k)))) {
                        log_warning("metrics.append_dimensions.%s is not \"${aws:%s}\", ignoring it.", k, k);
                        continue;
                }
                r = add_dimension(ctx, s->append_json, k, true);
                if (r < 0)
                        return r;
        }
        s->append = calloc(json_array_size(s->append_json) + 1, sizeof(*s->append));
        if (!s->append)
                return -ENOMEM;
        json_array_foreach(s->append_json, i, v)
                s->append[s->n_append++] = (struct metric_dim){.name = json_string_value(json_object_get(v, "Name")),
                                                               .value = json_string_value(json_object_get(v, "Value"))};
        return 0;
}

static bool same_names(const struct metric_rollup *a, const struct metric_rollup *b) {
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (!streq(a->names[i], b->names[i]))
                        return false;
        return true;
}

/* One aggregation_dimensions entry as the agent reads it: names sorted,
 * each once. */
static int load_rollup(const json_t *names, struct metric_rollup *ret) {
        _cleanup_strv_free_ char **v = NULL;
        size_t i;
        json_t *name;

        json_array_foreach(names, i, name)
                if (json_is_string(name) && strv_push(&v, json_string_value(name)) < 0)
                        return -ENOMEM;
        *ret = (struct metric_rollup){.n = strv_sort_uniq(v)};
        ret->names = TAKE_PTR(v);
        return 0;
}

/* aggregation_dimensions: each distinct set once. */
static int load_rollups(const json_t *config, struct cw_settings *s) {
        const json_t *list = config_get(config, "metrics.aggregation_dimensions");
        size_t i;
        json_t *names;
        int r;

        if (json_array_size(list) == 0)
                return 0;
        s->rollups = calloc(json_array_size(list), sizeof(*s->rollups));
        if (!s->rollups)
                return -ENOMEM;
        json_array_foreach(list, i, names) {
                struct metric_rollup *ro = &s->rollups[s->n_rollups];
                bool seen = false;
                if (!json_is_array(names) || json_array_size(names) > METRIC_MAX_DIMENSIONS)
                        continue;
                r = load_rollup(names, ro);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < s->n_rollups && !seen; j++)
                        seen = same_names(&s->rollups[j], ro);
                if (seen)
                        strv_free(TAKE_PTR(ro->names));
                else
                        s->n_rollups++;
        }
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
        r = r < 0 ? r : load_append(ctx, &s);
        r = r < 0 ? r : load_rollups(cfg, &s);
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
        json_decref(s->append_json);
        free(s->append);
        for (size_t i = 0; i < s->n_rollups; i++)
                strv_free(s->rollups[i].names);
        free(s->rollups);
        free(s->region);
        free(s->endpoint);
        free(s->nginx_url);
        *s = (struct cw_settings){0};
}
