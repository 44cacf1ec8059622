/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/credentials.h"
#include "clock.h"
#include "cloudwatch/cloudwatch.h"
#include "cloudwatch/collect.h"
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
        struct aws_client client;
        bool client_ready;
        struct collect_state cst;
        sd_event_source *tick, *retry;
        unsigned failures;
        bool retry_pending;
        bool outage_logged;
        bool spool_unwritable; /* commits are held in memory: the spool could not be written */
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
        aws_client_done(&s->client);
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

/* The requests of one commit, as they are built. */
struct request_list {
        struct spool_request *items;
        size_t n;
};

static void request_list_done(struct request_list *l) {
        for (size_t i = 0; i < l->n; i++)
                spool_request_done(&l->items[i]);
        free(l->items);
        *l = (struct request_list){0};
}

/* A datum in the order requests are cut: by namespace, then by the clock
 * hour of its timestamp, then as it came. Requests hold datums of one hour
 * each, so the two-week check at send time drops no more than that hour. */
struct sorted {
        struct metric_datum *d;
        long hour;
        size_t index;
};

static int sorted_cmp(const void *x, const void *y) {
        const struct sorted *a = x, *b = y;
        int c = strcmp(a->d->ns, b->d->ns);

        if (c != 0)
                return c;
        if (a->hour != b->hour)
                return a->hour < b->hour ? -1 : 1;
        return a->index < b->index ? -1 : a->index > b->index;
}

/* The datums CloudWatch would take, with a warning naming each other one,
 * each tagged with its namespace, sorted. */
static int valid_sorted(struct cw_state *s, struct metric_batch *in, time_t now, struct sorted **ret, size_t *ret_n) {
        struct sorted *out = calloc(in->n_items ? in->n_items : 1, sizeof(*out));
        size_t n = 0;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < in->n_items; i++) {
                _cleanup_free_ char *error = NULL;
                struct metric_datum *d = &in->items[i];
                if (!d->ns)
                        d->ns = s->set.namespace;
                if (metric_check(d, now, &error) < 0) {
                        log_warning("Dropping metric '%s' in namespace '%s': %s.", d->name ?: "?", d->ns,
                                    error ? error : "invalid");
                        s->invalid_datums += (unsigned long long) metric_samples(d);
                        continue;
                }
                out[n++] = (struct sorted){
                        .d = d, .hour = d->has_timestamp ? (long) (d->timestamp / 3600) : LONG_MAX, .index = i};
        }
        qsort(out, n, sizeof(*out), sorted_cmp);
        *ret = out;
        *ret_n = n;
        return 0;
}

static void time_range(const struct metric_datum *d, size_t n, double *ret_oldest, double *ret_newest) {
        double oldest = 0, newest = 0;

        for (size_t i = 0; i < n; i++) {
                if (!d[i].has_timestamp)
                        continue;
                if (oldest == 0 || d[i].timestamp < oldest)
                        oldest = d[i].timestamp;
                if (d[i].timestamp > newest)
                        newest = d[i].timestamp;
        }
        *ret_oldest = oldest;
        *ret_newest = newest;
}

/* Encodes datums[0..n) as one request, gzipped when that pays. */
static int add_request(struct cw_state *s, const char *ns, const struct metric_datum *d, size_t n,
                       struct request_list *out) {
        _cleanup_strbuf_ struct strbuf body = STRBUF_INIT, zipped = STRBUF_INIT;
        struct spool_request *q = reallocarray(out->items, out->n + 1, sizeof(*q));
        bool gz;
        int r;

        if (!q)
                return -ENOMEM;
        out->items = q;
        r = metric_encode(s->set.protocol, ns, d, n, &body);
        if (r < 0)
                return r;
        gz = s->set.gzip && body.len >= METRIC_GZIP_MIN && metric_gzip(body.data, body.len, &zipped) == 0;
        q = &out->items[out->n];
        *q = (struct spool_request){.namespace = strdup(ns), .protocol = s->set.protocol, .gzip = gz, .items = n};
        if (!q->namespace)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                q->datums += (size_t) (metric_samples(&d[i]) + 0.5);
        time_range(d, n, &q->oldest, &q->newest);
        q->len = gz ? zipped.len : body.len;
        q->body = strbuf_steal(gz ? &zipped : &body);
        out->n++;
        return q->body ? 0 : -ENOMEM;
}

/* Packs one run of datums (one namespace, one hour) and cuts it into requests. */
static int build_run(struct cw_state *s, const struct sorted *run, size_t n, struct request_list *out) {
        _cleanup_metric_batch_ struct metric_batch packed = {0};
        _cleanup_free_ struct metric_datum **in = calloc(n, sizeof(*in));
        int r;

        if (!in)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                in[i] = run[i].d;
        r = metric_pack(in, n, &packed);
        for (size_t i = 0; r >= 0 && i < packed.n_items;) {
                size_t k = metric_split(s->set.protocol, packed.items + i, packed.n_items - i, run[0].d->ns);
                r = add_request(s, run[0].d->ns, packed.items + i, k, out);
                i += k;
        }
        return r;
}

static int build_requests(struct cw_state *s, struct metric_batch *in, time_t now, struct request_list *out) {
        _cleanup_free_ struct sorted *v = NULL;
        size_t n = 0, start = 0;
        int r;

        r = valid_sorted(s, in, now, &v, &n);
        for (size_t i = 1; r >= 0 && i <= n; i++)
                if (i == n || v[i].hour != v[start].hour || !streq(v[i].d->ns, v[start].d->ns)) {
                        r = build_run(s, v + start, i - start, out);
                        start = i;
                }
        return r;
}

/* A commit the spool could not write is held in memory and sent from
 * there; said once until the spool takes writes again. */
static void note_unwritable(struct cw_state *s, int error) {
        struct spool_counts c;

        spool_get_counts(s->spool, &c);
        if (!s->spool_unwritable)
                log_warning_errno(-error,
                                  "Failed to write the metrics spool, holding %zu datum(s) in memory and sending them "
                                  "from there: %m",
                                  c.memory_datums);
        s->spool_unwritable = true;
}

/* Commits in; on failure, the collected datums of it (the others stay in
 * incoming/ or their legacy file) are lost and counted as dropped. */
static int commit(struct cw_state *s, struct metric_batch *in, time_t now, char *const *sources, const char *replaces,
                  size_t collected) {
        _cleanup_(request_list_done) struct request_list reqs = {0};
        size_t dropped = 0;
        int r, k;

        r = build_requests(s, in, now, &reqs);
        if (r >= 0)
                r = spool_commit(s->spool, reqs.items, reqs.n, sources, replaces);
        if (r > 0)
                note_unwritable(s, r);
        else if (r < 0) {
                log_error_errno(r, "Failed to spool metrics, dropping %zu collected datum(s): %m", collected);
                s->dropped_datums += collected;
        }
        k = spool_trim(s->spool, &dropped);
        if (k > 0) {
                s->dropped_datums += dropped;
                log_warning("Metrics spool is full: dropped the %d oldest batch(es), %zu datum(s).", k, dropped);
        }
        return r < 0 ? r : 0;
}

/* Commits held in memory go to disk once it has room again. */
static void persist(struct cw_state *s) {
        size_t left = 0;

        if (!s->spool_unwritable)
                return;
        if (spool_persist(s->spool, &left) >= 0 && left == 0) {
                log_info("The metrics spool takes writes again; nothing is held in memory any more.");
                s->spool_unwritable = false;
        }
}

/* Takes this interval's datums into the spool, in one commit. */
static void gather(struct kiln_context *ctx, struct cw_state *s, time_t now) {
        _cleanup_(json_decrefp) json_t *collected = collect_all(ctx, s, now);
        _cleanup_metric_batch_ struct metric_batch in = {0};
        _cleanup_strv_free_ char **sources = NULL;
        size_t bad = 0, cut = 0;
        int r;

        r = spool_take_incoming(s->spool, INCOMING_PER_TICK, &in, &sources, &bad);
        if (r < 0)
                log_warning_errno(r, "Failed to read the metrics handed over by put-metric, ignoring: %m");
        if (bad > 0)
                log_warning("Removed %zu unreadable file(s) from the metrics spool's incoming/.", bad);
        if (!collected)
                return (void) log_oom();
        if (json_array_size(collected) > 0 && metric_batch_add_json(&in, collected, NULL) < 0)
                return (void) log_oom();
        if (metric_decorate(&in, s->set.append, s->set.n_append, s->set.rollups, s->set.n_rollups, now, &cut) < 0)
                return (void) log_oom();
        if (cut > 0)
                log_warning("%zu datum(s) had more than %d dimensions with metrics.append_dimensions: kept the first "
                            "%d by name, as the CloudWatch agent does.",
                            cut, METRIC_MAX_DIMENSIONS, METRIC_MAX_DIMENSIONS);
        persist(s);
        (void) commit(s, &in, now, sources, NULL, json_array_size(collected));
}

/* Queue files of the kiln before are encoded again, in the new format. A
 * file whose commit fails stays for the next start. */
static void migrate_legacy(struct cw_state *s, time_t now) {
        for (;;) {
                _cleanup_metric_batch_ struct metric_batch in = {0};
                _cleanup_(json_decrefp) json_t *old = NULL;
                _cleanup_free_ char *name = NULL;
                size_t i;
                json_t *req;
                int r = 0;

                if (spool_next_legacy(s->spool, &name, &old) < 0)
                        return;
                json_array_foreach(json_object_get(old, "requests"), i, req) {
                        const char *ns = json_string_value(json_object_get(req, "namespace"));
                        json_t *datums = json_object_get(req, "datums");
                        r = r < 0 || !json_is_array(datums) ? r : metric_batch_add_json(&in, datums, ns);
                }
                if (r < 0) {
                        log_warning_errno(r, "Dropping the unreadable metrics spool file '%s': %m", name);
                        (void) spool_drop_legacy(s->spool, name);
                } else
                        (void) commit(s, &in, now, NULL, name, 0);
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
        r = aws_client_init(&s->client, &aws_cloudwatch, s->set.region, s->set.endpoint, s->set.fips, s->creds);
        if (r < 0) {
                aws_client_done(&s->client);
                snprintf(s->last_error, sizeof(s->last_error), "invalid metrics.endpoint '%s'", s->set.endpoint);
                return r;
        }
        s->client.timeout_ms = s->set.timeout_ms;
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

        /* msg may be last_error itself (client_ready() wrote it): copying
         * a string onto itself with snprintf() is undefined, and emptied it. */
        if (msg != s->last_error)
                snprintf(s->last_error, sizeof(s->last_error), "%s", msg);
        spool_get_counts(s->spool, &c);
        if (!s->outage_logged)
                log_warning("Failed to push metrics, keeping %zu datum(s) spooled and retrying: %s", c.datums, msg);
        else
                log_debug("Metrics push failed again: %s", msg);
        s->outage_logged = true;
        schedule_retry(ctx, s, retry_after_ms);
}

/* A request whose oldest datum passed CloudWatch's two weeks would sink
 * whole; it holds datums of one hour, so it goes whole. */
static bool too_old(const struct spool_request *q, time_t now) {
        return q->oldest > 0 && q->oldest < (double) (now - METRIC_MAX_AGE_S);
}

/* Sends the oldest request. 1 when it left the queue, 0 to stop for now. */
static int send_one(struct kiln_context *ctx, struct cw_state *s) {
        _cleanup_free_ char *name = NULL, *ns = NULL;
        const struct spool_request *q;
        struct cw_answer a;
        long offset;
        size_t n;
        int r;

        r = spool_peek(s->spool, &name, &q);
        if (r < 0)
                return 0;
        ns = strdup(q->namespace);
        if (!ns)
                return 0;
        n = q->datums;
        if (too_old(q, time(NULL))) {
                log_warning("Dropping a batch of %zu datum(s) in namespace '%s': its oldest timestamp is more than "
                            "two weeks old.",
                            n, ns);
                s->invalid_datums += n;
                return spool_pop(s->spool, name) < 0 ? 0 : 1;
        }
        offset = s->client.clock_offset_s;
        r = cw_put_metric_data(
                &s->client, &(struct cw_body){.protocol = q->protocol, .gzip = q->gzip, .data = q->body, .len = q->len},
                &a);
        if (s->client.clock_offset_s != offset)
                log_warning("CloudWatch refused a request for the time it was signed at: CloudWatch's clock is %ld s "
                            "%s of this one; signing with CloudWatch's time from now on.",
                            labs(s->client.clock_offset_s), s->client.clock_offset_s > 0 ? "ahead" : "behind");
        if (r < 0) {
                failed(ctx, s, strerror(-r), -1);
                return 0;
        }
        if (a.outcome == CW_RETRY) {
                failed(ctx, s, a.message, a.retry_after_ms);
                return 0;
        }
        r = spool_pop(s->spool, name);
        if (r < 0)
                log_error_errno(r, "Failed to remove a sent batch from the metrics spool: %m");
        else if (r > 0)
                log_debug_errno(-r,
                                "Could not rewrite the metrics spool file %s without a sent batch, keeping that in "
                                "memory: %m",
                                name);
        if (a.outcome == CW_REJECTED) {
                log_error("Dropping a batch of %zu datum(s) in namespace '%s': %s", n, ns, a.message);
                s->rejected_datums += n;
                snprintf(s->last_error, sizeof(s->last_error), "%s", a.message);
        } else {
                s->sent_datums += n;
                s->sent_requests++;
                s->last_sent = time(NULL);
                log_debug("Pushed %zu datum(s) to namespace '%s' (%zu bytes%s).", n, ns, a.body_len,
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
        m = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s?}", "queued_datums",
                      (json_int_t) c.datums, "memory_datums", (json_int_t) c.memory_datums, "queued_requests",
                      (json_int_t) c.requests, "incoming", (json_int_t) c.incoming, "sent_datums",
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

static int cloudwatch_start(struct kiln_context *ctx) {
        _cleanup_(cw_state_freep) struct cw_state *s = calloc(1, sizeof(*s));
        _cleanup_free_ char *dir = NULL;
        struct imds_options o;
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
        migrate_legacy(s, time(NULL));
        imds_options_from_config(ctx->config, &o);
        r = aws_creds_provider_new_imds(&o, &s->imds, &s->creds);
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
        aws_client_done(&state->client);
        state->client_ready = false;
        return kiln_timer_schedule(ctx, &state->tick, USEC_PER_SEC, on_tick, state);
}

static void cloudwatch_done(struct kiln_context *ctx) {
        size_t left = 0;

        if (state && state->spool_unwritable && spool_persist(state->spool, &left) < 0 && left > 0)
                log_warning("Stopping with %zu metric datum(s) that the spool had no room for: they are lost.", left);
        cw_state_free(state);
        state = NULL;
}

/* The instance is going away: this interval's datums and what is spooled
 * go now, whatever backoff was pending, each request within what is left
 * of the deadline. What could not be sent stays spooled on the disk. */
static int cloudwatch_drain(struct kiln_context *ctx, long deadline_ms) {
        struct cw_state *s = state;
        struct spool_counts c;

        if (!s)
                return 0;
        gather(ctx, s, time(NULL));
        s->retry_pending = false;
        if (client_ready(ctx, s) < 0)
                return log_error_errno(-ENXIO, "Failed to flush the metrics spool: %s", s->last_error);
        while (now_ms() < deadline_ms) {
                long left = deadline_ms - now_ms();
                s->client.timeout_ms = left < s->set.timeout_ms ? left : s->set.timeout_ms;
                if (send_one(ctx, s) <= 0)
                        break;
                s->failures = 0;
        }
        s->client.timeout_ms = s->set.timeout_ms;
        publish_status(ctx, s);
        spool_get_counts(s->spool, &c);
        if (c.requests > 0)
                return log_error_errno(-ETIMEDOUT, "Flushed the metrics spool only in part: %zu datum(s) left.",
                                       c.datums);
        log_info("Metrics spool flushed: %llu datum(s) sent since start.", s->sent_datums);
        return 0;
}

int cloudwatch_count_event(struct kiln_context *ctx, const char *name) {
        _cleanup_(json_decrefp) json_t *list = NULL;
        _cleanup_free_ char *dir = NULL;
        json_t *d;
        int r;

        if (!config_get(ctx->config, "metrics"))
                return 0;
        d = metric_datum_new(name, 1, "Count", time(NULL), 60);
        list = d ? json_pack("[o]", d) : NULL;
        if (!list || root_path(&dir, SPOOL_DIR) < 0)
                return -ENOMEM;
        if (state)
                add_dimensions(state, list);
        r = spool_submit(dir, NULL, list,
                         (size_t) config_int(ctx->config, "metrics.spool.max_datums", CW_DEFAULT_MAX_DATUMS));
        return r < 0 ? r : 0;
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
        .drain = cloudwatch_drain,
        .config_keys = cw_config_keys,
        .commands = cw_commands,
        .validate = cw_validate,
};
