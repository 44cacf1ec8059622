/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cloudwatch/cloudwatch.h"
#include "cloudwatch/collect.h"
#include "cloudwatch/credentials.h"
#include "cloudwatch/metric.h"
#include "cloudwatch/putmetric.h"
#include "cloudwatch/spool.h"
#include "config.h"
#include "http.h"
#include "imds/imds.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "proc.h"
#include "scripts/scripts.h"
#include "status.h"
#include "strbuf.h"

#define RETRY_BASE_MS 1000L
#define RETRY_MAX_MS (5 * 60 * 1000L)
#define INCOMING_PER_TICK 20000
#define CUSTOM_TIMEOUT_S 10

struct cw_state {
        struct cw_settings set;
        struct spool *spool;
        struct imds *imds;
        struct aws_creds_provider *creds;
        struct cw_client client;
        bool client_ready;
        struct collect_state cst;
        sd_event_source *tick, *retry;
        unsigned failures;
        bool retry_pending;
        bool outage_logged;
        unsigned long long sent_datums, sent_requests, rejected_datums, dropped_datums, invalid_datums;
        char last_error[1024];
        time_t last_sent;
};

static struct cw_state *state;

static void cw_state_free(struct cw_state *s) {
        if (!s)
                return;
        sd_event_source_disable_unref(s->tick);
        sd_event_source_disable_unref(s->retry);
        cw_settings_done(&s->set);
        spool_free(s->spool);
        cw_client_done(&s->client);
        aws_creds_provider_free(s->creds);
        imds_free(s->imds);
        free(s);
}
DEFINE_POINTER_CLEANUP(struct cw_state, cw_state_free)

/* --- the batch: collectors, custom commands, put-metric's files --- */

static json_t *kiln_health(struct kiln_context *ctx, struct cw_state *s) {
        const char *result = json_string_value(json_object_get(ctx->status, "result"));
        struct spool_counts c;
        int code = status_exit_code(result);

        spool_get_counts(s->spool, &c);
        return json_pack("{s:i, s:I, s:I}", "BootResult", code < 0 ? 1 : code, "SpooledDatums", (json_int_t) c.datums,
                         "DroppedDatums", (json_int_t) s->dropped_datums);
}

static void run_collectors(struct kiln_context *ctx, struct cw_state *s, time_t now, json_t *out) {
        _cleanup_(json_decrefp) json_t *health = kiln_health(ctx, s);
        struct collect_env env = {.now = now,
                                  .resolution = s->set.resolution,
                                  .nginx_status_url = s->set.nginx_url,
                                  .kiln_health = health};

        for (char **c = s->set.collect; c && *c; c++) {
                int r = collect_run(*c, &s->cst, &env, out);
                if (r < 0 && streq(*c, "nginx")) {
                        if (s->cst.nginx_last_error != r)
                                log_warning_errno(r, "Failed to read nginx's stub_status at '%s', ignoring: %m",
                                                  s->set.nginx_url ? s->set.nginx_url
                                                                   : "(metrics.nginx_status_url unset)");
                        s->cst.nginx_last_error = r;
                } else if (r < 0)
                        log_warning_errno(r, "Metrics collector %s failed, ignoring: %m", *c);
                else if (streq(*c, "nginx"))
                        s->cst.nginx_last_error = 0;
        }
}

static int custom_argv(const json_t *cmd, char ***ret) {
        _cleanup_strv_free_ char **argv = NULL;
        size_t i;
        json_t *v;

        if (json_is_string(cmd))
                return strv_push(ret, json_string_value(cmd));
        json_array_foreach(cmd, i, v)
                if (!json_is_string(v) || strv_push(&argv, json_string_value(v)) < 0)
                        return -EINVAL;
        if (!argv)
                return -EINVAL;
        *ret = TAKE_PTR(argv);
        return 0;
}

static void run_custom(struct kiln_context *ctx, struct cw_state *s, const json_t *item, time_t now, json_t *out) {
        const char *name = json_string_value(json_object_get(item, "name"));
        const char *unit = json_string_value(json_object_get(item, "unit"));
        _cleanup_strv_free_ char **argv = NULL, **env = NULL;
        _cleanup_free_ char *error = NULL;
        struct proc_result res = {0};
        struct proc_options o = {.log_name = name, .quiet = true};
        int r;

        if (custom_argv(json_object_get(item, "command"), &argv) < 0 || scripts_environment(ctx, &env) < 0)
                return (void) log_oom();
        o.argv = argv;
        o.envp = env;
        o.timeout_ms = (long) (json_number_value(json_object_get(item, "timeout")) * 1000);
        if (o.timeout_ms <= 0)
                o.timeout_ms = CUSTOM_TIMEOUT_S * 1000;
        r = proc_run(&o, &res);
        if (r < 0) {
                log_warning_errno(r, "Failed to run the command of metric %s, ignoring: %m", name);
                return;
        }
        if (res.exit_code != 0)
                log_warning("The command of metric %s %s, ignoring its output.", name,
                            res.timed_out ? "timed out" : "failed");
        else if (collect_parse_command_output(res.output, name, unit ? unit : "None", now, s->set.resolution, out,
                                              &error) < 0)
                log_warning("The command of metric %s printed %s, ignoring.", name, error ? error : "nothing usable");
        proc_result_done(&res);
}

static void add_dimensions(struct cw_state *s, json_t *datums) {
        size_t i, j;
        json_t *d, *dim;

        json_array_foreach(datums, i, d)
                json_array_foreach(s->set.dimensions, j, dim)
                        (void) metric_datum_add_dimension(d, json_string_value(json_object_get(dim, "Name")),
                                                          json_string_value(json_object_get(dim, "Value")));
}

static json_t *collect_all(struct kiln_context *ctx, struct cw_state *s, time_t now) {
        json_t *out = json_array();
        size_t i;
        json_t *item;

        if (!out || !s->set.enabled)
                return out;
        run_collectors(ctx, s, now, out);
        json_array_foreach(s->set.custom, i, item)
                run_custom(ctx, s, item, now, out);
        add_dimensions(s, out);
        return out;
}

/* Drops datums CloudWatch would refuse, with a warning naming each. */
static json_t *valid_only(struct cw_state *s, const char *ns, const json_t *datums, time_t now) {
        json_t *out = json_array();
        size_t i;
        json_t *d;

        json_array_foreach(datums, i, d) {
                _cleanup_free_ char *error = NULL;
                if (metric_check_datum(d, now, &error) < 0) {
                        log_warning("Dropping metric '%s' in namespace '%s': %s.",
                                    json_string_value(json_object_get(d, "MetricName")) ?: "?", ns,
                                    error ? error : "invalid");
                        s->invalid_datums += (unsigned long long) metric_datum_samples(d);
                        continue;
                }
                json_array_append(out, d);
        }
        return out;
}

/* Groups {"namespace", "datums"} items by namespace, packs, splits. */
static int build_requests(struct cw_state *s, const json_t *groups, time_t now, json_t *requests) {
        _cleanup_(json_decrefp) json_t *by_ns = json_object();
        const char *ns;
        size_t i, j;
        json_t *g, *list, *part;

        if (!by_ns)
                return -ENOMEM;
        json_array_foreach(groups, i, g) {
                ns = json_string_value(json_object_get(g, "namespace"));
                ns = ns ? ns : s->set.namespace;
                list = json_object_get(by_ns, ns);
                if (!list && (json_object_set_new(by_ns, ns, list = json_array()) < 0 || !list))
                        return -ENOMEM;
                json_array_extend(list, json_object_get(g, "datums"));
        }
        json_object_foreach(by_ns, ns, list) {
                _cleanup_(json_decrefp) json_t *good = valid_only(s, ns, list, now);
                _cleanup_(json_decrefp) json_t *packed = good ? metric_pack(good) : NULL;
                _cleanup_(json_decrefp) json_t *parts = packed ? metric_split(packed, ns) : NULL;
                if (!parts)
                        return -ENOMEM;
                json_array_foreach(parts, j, part)
                        json_array_append_new(requests, json_pack("{s:s, s:O}", "namespace", ns, "datums", part));
        }
        return 0;
}

/* Takes this interval's datums into the spool, in one commit. */
static void gather(struct kiln_context *ctx, struct cw_state *s, time_t now) {
        _cleanup_(json_decrefp) json_t *groups = NULL, *collected = collect_all(ctx, s, now);
        _cleanup_(json_decrefp) json_t *requests = json_array();
        _cleanup_strv_free_ char **sources = NULL;
        size_t bad = 0, dropped = 0;
        int r;

        r = spool_take_incoming(s->spool, INCOMING_PER_TICK, &groups, &sources, &bad);
        if (r < 0)
                log_warning_errno(r, "Failed to read the metrics handed over by put-metric, ignoring: %m");
        if (bad > 0)
                log_warning("Removed %zu unreadable file(s) from the metrics spool's incoming/.", bad);
        if (!groups)
                groups = json_array();
        if (!collected || !requests || !groups)
                return (void) log_oom();
        if (json_array_size(collected) > 0)
                json_array_append_new(groups, json_pack("{s:n, s:O}", "namespace", "datums", collected));
        r = build_requests(s, groups, now, requests);
        if (r >= 0)
                r = spool_commit(s->spool, requests, sources);
        if (r < 0)
                log_error_errno(r, "Failed to spool metrics: %m");
        r = spool_trim(s->spool, &dropped);
        if (r > 0) {
                s->dropped_datums += dropped;
                log_warning("Metrics spool is full: dropped the %d oldest batch(es), %zu datum(s).", r, dropped);
        }
}

/* --- sending --- */

static int client_ready(struct kiln_context *ctx, struct cw_state *s) {
        int r;

        if (s->client_ready)
                return 0;
        if (!s->set.region) {
                snprintf(s->last_error, sizeof(s->last_error), "no region: set metrics.region or AWS_REGION");
                return -ENXIO;
        }
        r = cw_client_init(&s->client, s->set.region, s->set.endpoint, s->set.fips);
        if (r < 0) {
                cw_client_done(&s->client);
                snprintf(s->last_error, sizeof(s->last_error), "invalid metrics.endpoint '%s'", s->set.endpoint);
                return r;
        }
        s->client.protocol = s->set.protocol;
        s->client.gzip = s->set.gzip;
        s->client.timeout_ms = s->set.timeout_ms;
        s->client.creds = s->creds;
        s->client_ready = true;
        return 0;
}

static int on_retry(struct kiln_context *ctx, void *userdata);
static void flush(struct kiln_context *ctx, struct cw_state *s);

static void schedule_retry(struct kiln_context *ctx, struct cw_state *s, long retry_after_ms) {
        long delay = http_backoff_ms(++s->failures, RETRY_BASE_MS, RETRY_MAX_MS);

        if (retry_after_ms > delay)
                delay = retry_after_ms;
        s->retry_pending = kiln_timer_schedule(ctx, &s->retry, (uint64_t) delay * USEC_PER_MSEC, on_retry, s) >= 0;
        log_debug("Next metrics push attempt in %ld ms.", delay);
}

static void failed(struct kiln_context *ctx, struct cw_state *s, const char *msg, long retry_after_ms) {
        struct spool_counts c;

        snprintf(s->last_error, sizeof(s->last_error), "%s", msg);
        spool_get_counts(s->spool, &c);
        if (!s->outage_logged)
                log_warning("Failed to push metrics, keeping %zu datum(s) spooled and retrying: %s", c.datums, msg);
        else
                log_debug("Metrics push failed again: %s", msg);
        s->outage_logged = true;
        schedule_retry(ctx, s, retry_after_ms);
}

/* Sends the oldest request. 1 when it left the queue, 0 to stop for now. */
static int send_one(struct kiln_context *ctx, struct cw_state *s) {
        _cleanup_(json_decrefp) json_t *req = NULL, *good = NULL;
        _cleanup_free_ char *name = NULL;
        struct cw_answer a;
        const char *ns;
        double n;
        int r;

        r = spool_peek(s->spool, &name, &req);
        if (r < 0)
                return 0;
        ns = json_string_value(json_object_get(req, "namespace"));
        /* Datums that waited past CloudWatch's two weeks would sink the batch. */
        good = valid_only(s, ns ? ns : "?", json_object_get(req, "datums"), time(NULL));
        if (!ns || !good || json_array_size(good) == 0)
                return spool_pop(s->spool, name) < 0 ? 0 : 1;
        r = cw_put_metric_data(&s->client, ns, good, &a);
        if (r < 0) {
                failed(ctx, s, strerror(-r), -1);
                return 0;
        }
        n = 0;
        for (size_t i = 0; i < json_array_size(good); i++)
                n += metric_datum_samples(json_array_get(good, i));
        if (a.outcome == CW_RETRY) {
                failed(ctx, s, a.message, a.retry_after_ms);
                return 0;
        }
        r = spool_pop(s->spool, name);
        if (r < 0)
                log_error_errno(r, "Failed to remove a sent batch from the metrics spool: %m");
        if (a.outcome == CW_REJECTED) {
                log_error("Dropping a batch of %.0f datum(s) in namespace '%s': %s", n, ns, a.message);
                s->rejected_datums += (unsigned long long) n;
                snprintf(s->last_error, sizeof(s->last_error), "%s", a.message);
        } else {
                s->sent_datums += (unsigned long long) n;
                s->sent_requests++;
                s->last_sent = time(NULL);
                log_debug("Pushed %.0f datum(s) to namespace '%s' (%zu bytes%s).", n, ns, a.body_len,
                          a.gzipped ? ", gzip" : "");
        }
        return r < 0 ? 0 : 1;
}

static void flush(struct kiln_context *ctx, struct cw_state *s) {
        struct spool_counts c;

        spool_get_counts(s->spool, &c);
        if (c.requests == 0 || s->retry_pending)
                return;
        if (client_ready(ctx, s) < 0) {
                failed(ctx, s, s->last_error, -1);
                return;
        }
        while (send_one(ctx, s) > 0) {
                kiln_keepalive();
                if (s->outage_logged) {
                        log_info("Metrics push works again.");
                        s->outage_logged = false;
                }
                s->failures = 0;
        }
}

static void publish_status(struct kiln_context *ctx, struct cw_state *s) {
        struct spool_counts c;
        json_t *m;

        spool_get_counts(s->spool, &c);
        m = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s?}", "queued_datums", (json_int_t) c.datums,
                      "queued_requests", (json_int_t) c.requests, "incoming", (json_int_t) c.incoming, "sent_datums",
                      (json_int_t) s->sent_datums, "sent_requests", (json_int_t) s->sent_requests, "dropped_datums",
                      (json_int_t) s->dropped_datums, "rejected_datums", (json_int_t) s->rejected_datums,
                      "invalid_datums", (json_int_t) s->invalid_datums, "credentials", aws_creds_source(s->creds),
                      "last_error", s->last_error[0] ? s->last_error : NULL);
        if (!m || !ctx->status)
                return (void) json_decref(m);
        if (s->last_sent)
                json_object_set_new(m, "last_sent", json_integer((json_int_t) s->last_sent));
        /* status.json is written (and fsync'ed) only when something changed. */
        if (json_equal(m, json_object_get(ctx->status, "metrics"))) {
                json_decref(m);
                return;
        }
        json_object_set_new(ctx->status, "metrics", m);
        (void) status_write(ctx);
}

static int on_retry(struct kiln_context *ctx, void *userdata) {
        struct cw_state *s = userdata;

        s->retry_pending = false;
        flush(ctx, s);
        publish_status(ctx, s);
        return 0;
}

static int on_tick(struct kiln_context *ctx, void *userdata) {
        struct cw_state *s = userdata;
        int r;

        r = kiln_timer_schedule(ctx, &s->tick, (uint64_t) s->set.interval_s * USEC_PER_SEC, on_tick, s);
        if (r < 0)
                log_error_errno(r, "Failed to re-arm the metrics timer: %m");
        gather(ctx, s, time(NULL));
        flush(ctx, s);
        publish_status(ctx, s);
        return 0;
}

/* --- module hooks --- */

static int own_imds(struct kiln_context *ctx, struct imds **ret) {
        struct imds_options o;

        imds_options_from_config(ctx->config, &o);
        /* A credential refresh must not hold the daemon for IMDS's minute. */
        if (o.budget_ms > 5000)
                o.budget_ms = 5000;
        return imds_new(&o, ret);
}

static int cloudwatch_start(struct kiln_context *ctx) {
        _cleanup_(cw_state_freep) struct cw_state *s = calloc(1, sizeof(*s));
        _cleanup_free_ char *dir = NULL;
        int r;

        if (!s)
                return -ENOMEM;
        r = cw_settings_load(ctx, &s->set);
        if (r < 0)
                return r;
        if (root_path(&dir, SPOOL_DIR) < 0)
                return -ENOMEM;
        r = spool_open(dir, &s->set.limits, &s->spool);
        if (r < 0)
                return log_error_errno(r, "Failed to open the metrics spool %s: %m", dir);
        r = own_imds(ctx, &s->imds);
        r = r < 0 ? r : aws_creds_provider_new(s->imds, &s->creds);
        if (r < 0)
                return r;
        /* A first reading soon: rates need two, and the spool may hold data. */
        r = kiln_timer_schedule(ctx, &s->tick, USEC_PER_SEC, on_tick, s);
        if (r < 0)
                return r;
        if (s->set.enabled)
                log_info("Pushing metrics to namespace '%s' every %ld s.", s->set.namespace, s->set.interval_s);
        cw_state_free(state);
        state = TAKE_PTR(s);
        return 0;
}

static int cloudwatch_reload(struct kiln_context *ctx) {
        struct cw_settings set = {0};
        int r;

        if (!state)
                return 0;
        r = cw_settings_load(ctx, &set);
        if (r < 0)
                return r;
        cw_settings_done(&state->set);
        state->set = set;
        cw_client_done(&state->client);
        state->client_ready = false;
        return kiln_timer_schedule(ctx, &state->tick, USEC_PER_SEC, on_tick, state);
}

static void cloudwatch_done(struct kiln_context *ctx) {
        cw_state_free(state);
        state = NULL;
}

/* apply: the metrics config is checked here, so mistakes show in kiln status. */
static int cloudwatch_boot(struct kiln_context *ctx) {
        _cleanup_strv_free_ char **errors = NULL;
        int r = 0;

        if (!config_get(ctx->config, "metrics"))
                return 0;
        cw_config_check(ctx->config, &errors);
        for (char **e = errors; e && *e; e++)
                r = kiln_fail(ctx, -EINVAL, "metrics: %s", *e);
        return r;
}

const struct kiln_module cloudwatch_module = {
        .name = "cloudwatch",
        .stage = STAGE_APPLY,
        .boot = cloudwatch_boot,
        .start = cloudwatch_start,
        .reload = cloudwatch_reload,
        .done = cloudwatch_done,
        .config_keys = cw_config_keys,
        .commands = cw_commands,
};
