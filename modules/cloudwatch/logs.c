/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aws/aws.h"
#include "aws/credentials.h"
#include "clock.h"
#include "cloudwatch/logs.h"
#include "config.h"
#include "http.h"
#include "imds/imds.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "proc.h"
#include "status.h"
#include "strbuf.h"

/* The logs: section: kiln's log, the user-data scripts' output
 * (/var/log/kiln/NAME.log), files and journal units, shipped to CloudWatch
 * Logs through the spool (see logs.h). */

#define DEFAULT_GROUP "/kiln/boot"
#define DEFAULT_FLUSH_S 5
#define DEFAULT_MAX_MB 64
#define READ_PER_TICK (4 * 1024 * 1024) /* bytes of one file a tick */
#define PARTIAL_AFTER_S 5 /* a last line without '\n' is taken once the file rests that long */
#define JOURNAL_PER_TICK 5000
#define WINDOWS_PER_TICK 64
#define RETRY_BASE_MS 1000L
#define RETRY_MAX_MS (5 * 60 * 1000L)
#define STREAM_NAME_MAX 512
#define LOG_TARGET "Logs_20140328."

struct file_source {
        char *path;
        char *group;
        char *stream;
        bool script; /* found in /var/log/kiln/ */
};

struct logs_state {
        bool enabled;
        char *group;
        long retention_days;
        long flush_s;
        long timeout_ms;
        char *region, *endpoint;
        bool ship_kiln, ship_scripts;
        char *instance_id;
        char *kiln_stream;
        struct file_source *files;
        size_t n_files;
        char **units;
        char *journalctl;
        size_t max_bytes;
        long retry_max_ms;

        struct logs_spool *spool;
        json_t *sources;
        struct imds *imds;
        struct aws_creds_provider *creds;
        struct aws_client client;
        bool client_ready;
        char **groups_ready; /* created (or found) and retention set, this run */
        sd_event_source *tick;
        unsigned failures;
        uint64_t next_send_usec;
        bool outage_logged;

        unsigned long long sent_events, sent_batches, dropped_events, unspooled_events, too_old, too_new,
                rejected_events, bad_lines;
        char last_error[1024];
        time_t last_sent;
};

static struct logs_state *state;

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static int64_t wall_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void file_sources_free(struct file_source *f, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(f[i].path);
                free(f[i].group);
                free(f[i].stream);
        }
        free(f);
}

static void logs_state_free(struct logs_state *s) {
        if (!s)
                return;
        sd_event_source_disable_unref(s->tick);
        free(s->group);
        free(s->region);
        free(s->endpoint);
        free(s->instance_id);
        free(s->kiln_stream);
        file_sources_free(s->files, s->n_files);
        strv_free(s->units);
        free(s->journalctl);
        logs_spool_free(s->spool);
        json_decref(s->sources);
        aws_client_done(&s->client);
        aws_creds_provider_free(s->creds);
        imds_free(s->imds);
        strv_free(s->groups_ready);
        free(s);
}
DEFINE_POINTER_CLEANUP(struct logs_state, logs_state_free)

/* --- settings --- */

static const struct config_key logs_config_keys[] = {
        {"logs", CONFIG_MAP, "Boot and agent logs shipped to CloudWatch Logs."},
        {"logs.group", CONFIG_STRING, "Log group (default /kiln/boot)."},
        {"logs.retention_days", CONFIG_INT,
         "Days CloudWatch Logs keeps the group's events: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, "
         "731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653 (default: never expire)."},
        {"logs.kiln", CONFIG_BOOL, "Ship kiln's own log to stream INSTANCE/kiln (default true)."},
        {"logs.scripts", CONFIG_BOOL,
         "Ship each user-data script's output (/var/log/kiln/NAME.log) to stream INSTANCE/script/NAME (default "
         "true)."},
        {"logs.files", CONFIG_LIST, "Files to ship, read from where they were left."},
        {"logs.files[]", CONFIG_MAP, "One file."},
        {"logs.files[].path", CONFIG_STRING, "The file's path."},
        {"logs.files[].stream", CONFIG_STRING,
         "Log stream; {instance_id} is replaced (default INSTANCE/file/PATH, '/' as '-')."},
        {"logs.files[].group", CONFIG_STRING, "Log group (default logs.group)."},
        {"logs.journal_units", CONFIG_LIST,
         "systemd units whose journal is shipped to stream INSTANCE/journal/UNIT (read with journalctl)."},
        {"logs.force_flush_interval", CONFIG_INT,
         "Seconds between reading the sources and shipping, 1..3600 (default 5)."},
        {"logs.region", CONFIG_STRING, "AWS region (default AWS_REGION, then the instance's region)."},
        {"logs.endpoint", CONFIG_STRING, "CloudWatch Logs endpoint URL, replacing https://logs.REGION.amazonaws.com."},
        {"logs.timeout", CONFIG_NUMBER, "Seconds to wait for CloudWatch Logs' answer (default 10)."},
        {"logs.spool", CONFIG_MAP, "Bound of the on-disk spool of unsent log events."},
        {"logs.spool.max_mb", CONFIG_INT, "Megabytes kept at most; the oldest events go first (default 64)."},
        {},
};

static void logs_validate(const json_t *config, struct config_report *rep) {
        const json_t *ret = config_get(config, "logs.retention_days");
        long flush = config_int(config, "logs.force_flush_interval", DEFAULT_FLUSH_S);
        const char *group = config_string(config, "logs.group", DEFAULT_GROUP);
        size_t i;
        json_t *f;

        if (!config_get(config, "logs"))
                return;
        if (json_is_integer(ret) && !logs_retention_valid((long) json_integer_value(ret)))
                config_report_error(rep, "logs.retention_days",
                                    "logs.retention_days: %lld is not a retention CloudWatch Logs accepts (1, 3, 5, "
                                    "7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, "
                                    "2922, 3288, 3653)",
                                    (long long) json_integer_value(ret));
        if (flush < 1 || flush > 3600)
                config_report_error(rep, "logs.force_flush_interval", "logs.force_flush_interval: 1..3600");
        if (!*group || strlen(group) > 512)
                config_report_error(rep, "logs.group", "logs.group: 1 to 512 characters");
        json_array_foreach(config_get(config, "logs.files"), i, f)
                if (json_is_object(f) && !json_is_string(json_object_get(f, "path")))
                        config_report_error(rep, "logs.files", "logs.files[%zu] needs a path", i);
}

/* "{instance_id}" in a configured stream name is replaced, as the
 * CloudWatch agent does; names are cut to CloudWatch's 512 bytes. */
static char *stream_name(const struct logs_state *s, const char *fmt, ...) _printf_(2, 3);
static char *stream_name(const struct logs_state *s, const char *fmt, ...) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        _cleanup_free_ char *raw = NULL;
        va_list ap;
        const char *p, *q;

        va_start(ap, fmt);
        raw = strdup_vprintf(fmt, ap);
        va_end(ap);
        if (!raw)
                return NULL;
        for (p = raw; (q = strstr(p, "{instance_id}")); p = q + strlen("{instance_id}"))
                if (strbuf_append(&b, p, (size_t) (q - p)) < 0 || strbuf_puts(&b, s->instance_id) < 0)
                        return NULL;
        if (strbuf_puts(&b, p) < 0)
                return NULL;
        if (b.len > STREAM_NAME_MAX)
                b.data[logs_utf8_prefix(b.data, b.len, STREAM_NAME_MAX)] = 0;
        for (char *c = b.data; *c; c++)
                if (*c == ':' || *c == '*')
                        *c = '-';
        return strbuf_steal(&b);
}

static int add_file(struct logs_state *s, const char *path, const char *group, const char *stream, bool script) {
        struct file_source *v = reallocarray(s->files, s->n_files + 1, sizeof(*v));
        _cleanup_free_ char *part = NULL;

        if (!v)
                return -ENOMEM;
        s->files = v;
        v = &s->files[s->n_files];
        *v = (struct file_source){.path = strdup(path), .group = strdup(group ? group : s->group), .script = script};
        s->n_files++;
        if (stream)
                v->stream = stream_name(s, "%s", stream);
        else if (script) {
                const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
                v->stream = stream_name(s, "%s/script/%.*s", s->instance_id, (int) (strlen(base) - 4), base);
        } else {
                part = logs_stream_part(path);
                v->stream = part ? stream_name(s, "%s/file/%s", s->instance_id, part) : NULL;
        }
        return v->path && v->group && v->stream ? 0 : -ENOMEM;
}

static char *region_of(struct kiln_context *ctx) {
        const char *r = aws_region(config_string(ctx->config, "logs.region", NULL), ctx->facts.region);

        return r ? strdup(r) : NULL;
}

static int settings_load(struct kiln_context *ctx, struct logs_state *s) {
        const json_t *cfg = ctx->config;
        const char *jc = root_test_hook("KILN_TEST_JOURNALCTL");
        size_t i;
        json_t *v;
        int r;

        s->enabled = config_get(cfg, "logs") != NULL;
        s->group = strdup(config_string(cfg, "logs.group", DEFAULT_GROUP));
        s->retention_days = config_int(cfg, "logs.retention_days", 0);
        if (!logs_retention_valid(s->retention_days))
                s->retention_days = 0;
        s->flush_s = config_int(cfg, "logs.force_flush_interval", DEFAULT_FLUSH_S);
        if (s->flush_s < 1 || s->flush_s > 3600)
                s->flush_s = DEFAULT_FLUSH_S;
        s->timeout_ms = (long) (config_number(cfg, "logs.timeout", 10) * 1000);
        if (s->timeout_ms < 100)
                s->timeout_ms = 10000;
        s->region = region_of(ctx);
        s->endpoint =
                config_string(cfg, "logs.endpoint", NULL) ? strdup(config_string(cfg, "logs.endpoint", "")) : NULL;
        s->ship_kiln = config_bool(cfg, "logs.kiln", true);
        s->ship_scripts = config_bool(cfg, "logs.scripts", true);
        s->instance_id =
                strdup(ctx->facts.instance_id && *ctx->facts.instance_id ? ctx->facts.instance_id : "unknown-instance");
        s->journalctl = strdup(jc && *jc ? jc : "journalctl");
        s->max_bytes = (size_t) config_int(cfg, "logs.spool.max_mb", DEFAULT_MAX_MB) << 20;
        /* Tests make an hour's outage a minute's: the same attempts, closer. */
        jc = root_test_hook("KILN_TEST_LOGS_RETRY_MAX_MS");
        s->retry_max_ms = jc && atol(jc) >= RETRY_BASE_MS ? atol(jc) : RETRY_MAX_MS;
        if (!s->group || !s->instance_id || !s->journalctl)
                return -ENOMEM;
        s->kiln_stream = stream_name(s, "%s/kiln", s->instance_id);
        if (!s->kiln_stream)
                return -ENOMEM;
        json_array_foreach(config_get(cfg, "logs.files"), i, v) {
                const char *path = json_string_value(json_object_get(v, "path"));
                if (!path)
                        continue;
                r = add_file(s, path, json_string_value(json_object_get(v, "group")),
                             json_string_value(json_object_get(v, "stream")), false);
                if (r < 0)
                        return r;
        }
        json_array_foreach(config_get(cfg, "logs.journal_units"), i, v)
                if (json_is_string(v) && (r = strv_push(&s->units, json_string_value(v))) < 0)
                        return r;
        return 0;
}

/* --- reading the sources into the spool --- */

static void kiln_sink(int level, unsigned long long usec, const char *message, void *userdata) {
        struct logs_state *s = userdata;
        static const char *const prefix[] = {
                [LOG_WARNING] = "warning: ", [LOG_ERR] = "error: ", [LOG_CRIT] = "error: "};
        const char *pre = level >= 0 && level <= LOG_WARNING && prefix[level] ? prefix[level] : "";
        _cleanup_free_ char *line = strdup_printf("%s%s", pre, message);

        if (!line ||
            logs_spool_append(s->spool, s->group, s->kiln_stream, (int64_t) (usec / 1000), line, strlen(line)) < 0)
                s->unspooled_events++;
}

/* The scripts' logs in /var/log/kiln/ not yet known, added as sources. */
static void find_scripts(struct logs_state *s) {
        _cleanup_free_ char *dir = NULL;
        DIR *d;
        struct dirent *de;

        if (!s->ship_scripts || root_path(&dir, KILN_LOG_DIR) < 0 || !(d = opendir(dir)))
                return;
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                size_t n = strlen(de->d_name);
                bool known = false;
                if (n <= 4 || !streq(de->d_name + n - 4, ".log") || de->d_name[0] == '.')
                        continue;
                path = strdup_printf("%s/%s", dir, de->d_name);
                for (size_t i = 0; path && i < s->n_files; i++)
                        known = known || streq(s->files[i].path, path);
                if (path && !known)
                        (void) add_file(s, path, NULL, NULL, true);
        }
        closedir(d);
}

/* Appends the complete lines of buf[0..len) (and the partial last one when
 * take_partial); returns the bytes consumed, or a negative errno when the
 * spool refused one (what came before it counts). */
static ssize_t spool_lines(struct logs_state *s, const struct file_source *f, const char *buf, size_t len,
                           bool take_partial) {
        int64_t ts = wall_ms();
        size_t pos = 0;

        while (pos < len) {
                const char *nl = memchr(buf + pos, '\n', len - pos);
                size_t end = nl ? (size_t) (nl - buf) : len, mlen = end - pos;
                int r;
                if (!nl && !take_partial)
                        break;
                if (mlen > 0 && buf[end - 1] == '\r')
                        mlen--;
                r = logs_spool_append(s->spool, f->group, f->stream, ts, buf + pos, mlen);
                if (r < 0)
                        return pos > 0 ? (ssize_t) pos : r;
                pos = nl ? end + 1 : len;
        }
        return (ssize_t) pos;
}

static void read_file_source(struct logs_state *s, const struct file_source *f) {
        _cleanup_free_ char *key = strdup_printf("file:%s", f->path), *buf = NULL;
        _cleanup_close_ int fd = -1;
        json_t *pos;
        struct stat st;
        uint64_t off, ino;
        ssize_t n, used;

        if (!key)
                return;
        if (f->script) /* found under the root already */
                fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        else {
                _cleanup_free_ char *p = NULL;
                if (root_path(&p, "%s", f->path) < 0)
                        return;
                fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        }
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return;
        pos = json_object_get(s->sources, key);
        off = (uint64_t) json_integer_value(json_object_get(pos, "off"));
        ino = (uint64_t) json_integer_value(json_object_get(pos, "ino"));
        /* Another file (rotated) or a shorter one (truncated): from its start. */
        if (ino != (uint64_t) st.st_ino || off > (uint64_t) st.st_size)
                off = 0;
        if (off == (uint64_t) st.st_size)
                return;
        buf = malloc(READ_PER_TICK);
        if (!buf)
                return;
        n = pread(fd, buf, READ_PER_TICK, (off_t) off);
        if (n <= 0)
                return;
        used = spool_lines(s, f, buf, (size_t) n,
                           off + (uint64_t) n == (uint64_t) st.st_size && time(NULL) - st.st_mtime >= PARTIAL_AFTER_S);
        /* A line longer than a read: split where the read ended. */
        if (used == 0 && n == READ_PER_TICK)
                used = spool_lines(s, f, buf, (size_t) n, true);
        if (used < 0) {
                s->unspooled_events++;
                snprintf(s->last_error, sizeof(s->last_error), "spool: %s", strerror((int) -used));
                return;
        }
        if (used == 0)
                return;
        (void) json_object_set_new(
                s->sources, key,
                json_pack("{s:I, s:I}", "ino", (json_int_t) st.st_ino, "off", (json_int_t) (off + (uint64_t) used)));
}

/* One journal entry's MESSAGE: a string, or an array of bytes when it is
 * not UTF-8. */
static int journal_message(json_t *m, char **ret, size_t *ret_len) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        size_t i;
        json_t *c;

        if (json_is_string(m)) {
                *ret = strndup(json_string_value(m), json_string_length(m));
                *ret_len = json_string_length(m);
                return *ret ? 0 : -ENOMEM;
        }
        if (!json_is_array(m))
                return -EINVAL;
        json_array_foreach(m, i, c) {
                char ch = (char) json_integer_value(c);
                if (strbuf_append(&b, &ch, 1) < 0)
                        return -ENOMEM;
        }
        *ret_len = b.len;
        *ret = strbuf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

static void read_journal(struct logs_state *s, const char *unit) {
        _cleanup_free_ char *key = strdup_printf("journal:%s", unit), *after = NULL, *stream = NULL,
                            *limit = strdup_printf("%d", JOURNAL_PER_TICK), *cursor = NULL;
        const char *saved;
        struct proc_result res = {0};
        char *argv[12];
        size_t n = 0;
        const char *p;

        if (!key || !limit)
                return;
        saved = json_string_value(json_object_get(json_object_get(s->sources, key), "cursor"));
        argv[n++] = s->journalctl;
        argv[n++] = (char *) "-o";
        argv[n++] = (char *) "json";
        argv[n++] = (char *) "--no-pager";
        argv[n++] = (char *) "-u";
        argv[n++] = (char *) unit;
        argv[n++] = (char *) "-n";
        argv[n++] = limit;
        if (saved) {
                after = strdup_printf("--after-cursor=%s", saved);
                if (!after)
                        return;
                argv[n++] = after;
        } else
                argv[n++] = (char *) "--boot";
        argv[n] = NULL;
        stream = stream_name(s, "%s/journal/%s", s->instance_id, unit);
        if (!stream)
                return;
        struct proc_options o = {.argv = argv, .quiet = true, .timeout_ms = 10000, .capture_max = 64 * 1024 * 1024};
        if (proc_run(&o, &res) < 0 || res.exit_code != 0) {
                proc_result_done(&res);
                return;
        }
        for (p = res.output; p && *p;) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t) (nl - p) : strlen(p);
                _cleanup_(json_decrefp) json_t *j = json_loadb(p, len, 0, NULL);
                _cleanup_free_ char *msg = NULL;
                const char *c = json_string_value(json_object_get(j, "__CURSOR"));
                const char *ts = json_string_value(json_object_get(j, "__REALTIME_TIMESTAMP"));
                size_t mlen = 0;
                p = nl ? nl + 1 : p + len;
                if (!c)
                        continue;
                if (journal_message(json_object_get(j, "MESSAGE"), &msg, &mlen) >= 0 &&
                    logs_spool_append(s->spool, s->group, stream,
                                      ts ? (int64_t) (strtoull(ts, NULL, 10) / 1000) : wall_ms(), msg, mlen) < 0) {
                        s->unspooled_events++;
                        break;
                }
                free(cursor);
                cursor = strdup(c);
        }
        proc_result_done(&res);
        if (cursor)
                (void) json_object_set_new(s->sources, key, json_pack("{s:s}", "cursor", cursor));
}

/* Every source's new lines into the spool; then, once they are on disk,
 * how far each was read. */
static void read_sources(struct logs_state *s) {
        _cleanup_(json_decrefp) json_t *before = json_deep_copy(s->sources);

        find_scripts(s);
        for (size_t i = 0; i < s->n_files; i++)
                read_file_source(s, &s->files[i]);
        for (char **u = s->units; u && *u; u++)
                read_journal(s, *u);
        if (logs_spool_sync(s->spool) < 0)
                return; /* the offsets stay: read again next time */
        if (!json_equal(before, s->sources))
                (void) logs_spool_save_sources(s->spool, s->sources);
}

/* --- shipping --- */

static int client_ready(struct logs_state *s) {
        int r;

        if (s->client_ready)
                return 0;
        if (!s->region) {
                snprintf(s->last_error, sizeof(s->last_error), "no region: set logs.region or AWS_REGION");
                return -ENXIO;
        }
        r = aws_client_init(&s->client, &aws_logs, s->region, s->endpoint, false, s->creds);
        if (r < 0) {
                aws_client_done(&s->client);
                snprintf(s->last_error, sizeof(s->last_error), "invalid logs.endpoint '%s'", s->endpoint ?: "");
                return r;
        }
        s->client.timeout_ms = s->timeout_ms;
        s->client_ready = true;
        return 0;
}

static int logs_call(struct logs_state *s, const char *action, const char *body, size_t len, struct aws_result *res) {
        _cleanup_free_ char *target = strdup_printf("X-Amz-Target: " LOG_TARGET "%s", action);
        const char *headers[] = {target, "Content-Type: application/x-amz-json-1.1", NULL};
        struct aws_call call = {.method = "POST", .path = "/", .headers = headers, .body = body, .body_len = len};

        if (!target)
                return -ENOMEM;
        return aws_call(&s->client, &call, res);
}

/* A call whose answer is judged by code alone; ok_code is fine too. 0 when
 * it worked, 1 to retry later (res->error says why), -EIO when refused. */
static int simple_call(struct logs_state *s, const char *action, json_t *req, const char *ok_code) {
        _cleanup_free_ char *body = json_dumps(req, JSON_COMPACT);
        struct aws_result res;
        int r;

        json_decref(req);
        if (!body)
                return -ENOMEM;
        r = logs_call(s, action, body, strlen(body), &res);
        if (r == -ENOKEY || (r >= 0 && !aws_ok(&res) && res.retry)) {
                snprintf(s->last_error, sizeof(s->last_error), "%s", res.error);
                aws_result_done(&res);
                return 1;
        }
        if (r < 0)
                return r;
        if (!aws_ok(&res) && !(ok_code && streq(res.code, ok_code))) {
                snprintf(s->last_error, sizeof(s->last_error), "%s", res.error);
                r = -EIO;
        }
        aws_result_done(&res);
        return r < 0 ? r : 0;
}

static bool group_ready(struct logs_state *s, const char *group) {
        for (char **g = s->groups_ready; g && *g; g++)
                if (streq(*g, group))
                        return true;
        return false;
}

/* The group (with its retention) and the stream, when PutLogEvents said
 * one is missing. */
static int create_missing(struct logs_state *s, const char *group, const char *stream) {
        int r;

        r = simple_call(s, "CreateLogGroup", json_pack("{s:s}", "logGroupName", group),
                        "ResourceAlreadyExistsException");
        if (r == 0 && s->retention_days > 0)
                r = simple_call(s, "PutRetentionPolicy",
                                json_pack("{s:s, s:I}", "logGroupName", group, "retentionInDays",
                                          (json_int_t) s->retention_days),
                                NULL);
        if (r == 0 && !group_ready(s, group))
                (void) strv_push(&s->groups_ready, group);
        if (r == 0)
                r = simple_call(s, "CreateLogStream",
                                json_pack("{s:s, s:s}", "logGroupName", group, "logStreamName", stream),
                                "ResourceAlreadyExistsException");
        if (r == 0)
                log_info("Created CloudWatch Logs stream %s in group %s.", stream, group);
        return r;
}

/* Retention is set once a run for a group that already existed. */
static int ensure_retention(struct logs_state *s, const char *group) {
        int r;

        if (s->retention_days <= 0 || group_ready(s, group))
                return 0;
        r = simple_call(
                s, "PutRetentionPolicy",
                json_pack("{s:s, s:I}", "logGroupName", group, "retentionInDays", (json_int_t) s->retention_days),
                NULL);
        if (r == -EIO && strstr(s->last_error, "ResourceNotFoundException"))
                return 0; /* created, with it, on the first PutLogEvents */
        if (r == 0)
                (void) strv_push(&s->groups_ready, group);
        return r;
}

static void count_rejected(struct logs_state *s, const struct aws_result *res, size_t n) {
        _cleanup_(json_decrefp) json_t *j =
                res->response ? json_loadb(res->response->body, res->response->body_len, 0, NULL) : NULL;
        json_t *info = json_object_get(j, "rejectedLogEventsInfo");
        json_t *v;
        size_t rejected = 0;

        if (!info)
                return;
        if ((v = json_object_get(info, "tooOldLogEventEndIndex")) && json_is_integer(v))
                rejected += (size_t) json_integer_value(v) + 1,
                        s->too_old += (unsigned long long) json_integer_value(v) + 1;
        if ((v = json_object_get(info, "expiredLogEventEndIndex")) && json_is_integer(v))
                rejected += (size_t) json_integer_value(v) + 1;
        if ((v = json_object_get(info, "tooNewLogEventStartIndex")) && json_is_integer(v) &&
            (size_t) json_integer_value(v) < n) {
                rejected += n - (size_t) json_integer_value(v);
                s->too_new += n - (unsigned long long) json_integer_value(v);
        }
        s->rejected_events += rejected;
}

enum { SENT, RETRY, DROPPED };

/* One PutLogEvents for one stream of the window. */
static int put_stream(struct logs_state *s, struct logs_window_stream *ws) {
        _cleanup_strbuf_ struct strbuf body = STRBUF_INIT;
        _cleanup_free_ struct logs_event *ev = calloc(ws->n ? ws->n : 1, sizeof(*ev));
        int64_t now = wall_ms();
        struct aws_result res;
        size_t n = 0;
        int r;

        if (!ev)
                return RETRY;
        /* What CloudWatch Logs would refuse is not sent: older than 14
         * days, more than 2 hours ahead. */
        for (size_t i = 0; i < ws->n; i++) {
                if (ws->events[i].ts_ms < now - LOGS_MAX_AGE_MS)
                        s->too_old++;
                else if (ws->events[i].ts_ms > now + LOGS_MAX_FUTURE_MS)
                        s->too_new++;
                else
                        ev[n++] = ws->events[i];
        }
        if (n == 0)
                return SENT;
        if (ensure_retention(s, ws->group) > 0)
                return RETRY;
        r = logs_encode_put(ws->group, ws->stream, ev, n, &body);
        if (r < 0)
                return RETRY;
        for (int attempt = 0; attempt < 2; attempt++) {
                r = logs_call(s, "PutLogEvents", body.data, body.len, &res);
                if (r == -ENOKEY || (r >= 0 && !aws_ok(&res) && res.retry)) {
                        snprintf(s->last_error, sizeof(s->last_error), "%s", res.error);
                        aws_result_done(&res);
                        return RETRY;
                }
                if (r < 0)
                        return RETRY;
                if (aws_ok(&res)) {
                        count_rejected(s, &res, n);
                        aws_result_done(&res);
                        s->sent_events += n;
                        s->sent_batches++;
                        s->last_sent = time(NULL);
                        return SENT;
                }
                if (attempt == 0 && streq(res.code, "ResourceNotFoundException")) {
                        aws_result_done(&res);
                        r = create_missing(s, ws->group, ws->stream);
                        if (r > 0)
                                return RETRY;
                        if (r < 0)
                                break;
                        continue;
                }
                snprintf(s->last_error, sizeof(s->last_error), "%s", res.error);
                /* Not allowed (yet): the policy may be fixed; keep the events. */
                if (strstr(res.code, "AccessDenied")) {
                        aws_result_done(&res);
                        return RETRY;
                }
                aws_result_done(&res);
                break;
        }
        log_error("CloudWatch Logs refused %zu event(s) for %s/%s, dropping them: %s", n, ws->group, ws->stream,
                  s->last_error);
        s->rejected_events += n;
        return DROPPED;
}

static void ship(struct logs_state *s) {
        if (now_usec() < s->next_send_usec)
                return;
        if (client_ready(s) < 0) {
                s->failures++;
                s->next_send_usec =
                        now_usec() + (uint64_t) http_backoff_ms(s->failures, RETRY_BASE_MS, s->retry_max_ms) * 1000;
                return;
        }
        for (unsigned k = 0; k < WINDOWS_PER_TICK; k++) {
                struct logs_window w = {0};
                bool failed = false;
                int r = logs_spool_window(s->spool, &w);

                if (r < 0) {
                        if (r != -ENOENT)
                                snprintf(s->last_error, sizeof(s->last_error), "spool: %s", strerror(-r));
                        return;
                }
                s->bad_lines += w.bad;
                for (size_t i = 0; i < w.n_streams && !failed; i++) {
                        if (w.streams[i].done)
                                continue;
                        if (put_stream(s, &w.streams[i]) == RETRY)
                                failed = true;
                        else
                                (void) logs_spool_ack(s->spool, &w, i);
                        kiln_keepalive();
                }
                logs_window_done(&w);
                if (failed) {
                        long delay = http_backoff_ms(++s->failures, RETRY_BASE_MS, s->retry_max_ms);
                        if (!s->outage_logged)
                                log_warning("Failed to ship logs to CloudWatch Logs, keeping them spooled and "
                                            "retrying: %s",
                                            s->last_error);
                        s->outage_logged = true;
                        s->next_send_usec = now_usec() + (uint64_t) delay * 1000;
                        return;
                }
                if (s->outage_logged)
                        log_info("Shipping logs to CloudWatch Logs works again.");
                s->outage_logged = false;
                s->failures = 0;
        }
}

/* For a termination or spot interruption: every source read once more, and
 * the spool shipped whatever the backoff says, attempt after attempt until
 * it is empty or the deadline (monotonic ms) passes; what is not sent stays
 * spooled for the next start. */
static int logs_drain(struct kiln_context *ctx, long deadline_ms) {
        struct logs_window w = {0};
        int r;

        (void) ctx;
        if (!state)
                return 0;
        read_sources(state);
        for (;;) {
                state->next_send_usec = 0;
                ship(state);
                r = logs_spool_window(state->spool, &w);
                logs_window_done(&w);
                w = (struct logs_window){0};
                if (r == -ENOENT) {
                        log_info("Logs spool flushed: %llu event(s) sent since start.",
                                 (unsigned long long) state->sent_events);
                        return 0;
                }
                if (now_ms() + 250 >= deadline_ms)
                        break;
                sleep_ms(250);
        }
        return log_error_errno(-ETIMEDOUT, "Flushed the logs spool only in part: %s",
                               state->last_error[0] ? state->last_error : "out of time");
}

static void publish_status(struct kiln_context *ctx, struct logs_state *s) {
        struct logs_spool_counts c;
        json_t *m;

        logs_spool_counts(s->spool, &c);
        m = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s?}", "group", s->group,
                      "spooled_bytes", (json_int_t) c.bytes, "segments", (json_int_t) c.segments, "sent_events",
                      (json_int_t) s->sent_events, "sent_batches", (json_int_t) s->sent_batches, "dropped_events",
                      (json_int_t) s->dropped_events, "unspooled_events",
                      (json_int_t) (s->unspooled_events + log_capture_lost()), "too_old_events",
                      (json_int_t) s->too_old, "too_new_events", (json_int_t) s->too_new, "rejected_events",
                      (json_int_t) s->rejected_events, "bad_lines", (json_int_t) s->bad_lines, "failures",
                      (json_int_t) s->failures, "last_error", s->last_error[0] ? s->last_error : NULL);
        if (!m || !ctx->status)
                return (void) json_decref(m);
        if (s->last_sent)
                json_object_set_new(m, "last_sent", json_integer((json_int_t) s->last_sent));
        if (json_equal(m, json_object_get(ctx->status, "logs"))) {
                json_decref(m);
                return;
        }
        json_object_set_new(ctx->status, "logs", m);
        (void) status_write(ctx);
}

static int on_tick(struct kiln_context *ctx, void *userdata) {
        struct logs_state *s = userdata;
        size_t dropped;
        int r;

        r = kiln_timer_schedule(ctx, &s->tick, (uint64_t) s->flush_s * USEC_PER_SEC, on_tick, s);
        if (r < 0)
                log_error_errno(r, "Failed to re-arm the logs timer: %m");
        read_sources(s);
        dropped = logs_spool_trim(s->spool);
        if (dropped > 0) {
                s->dropped_events += dropped;
                log_warning("Logs spool is full: dropped the %zu oldest event(s).", dropped);
        }
        ship(s);
        publish_status(ctx, s);
        return 0;
}

/* --- module hooks --- */

static int logs_start(struct kiln_context *ctx) {
        _cleanup_(logs_state_freep) struct logs_state *s = calloc(1, sizeof(*s));
        _cleanup_free_ char *dir = NULL;
        struct imds_options o;
        int r;

        if (!s)
                return -ENOMEM;
        r = settings_load(ctx, s);
        if (r < 0)
                return r;
        if (!s->enabled) {
                log_capture_stop();
                return 0;
        }
        if (root_path(&dir, LOGS_SPOOL_DIR) < 0)
                return -ENOMEM;
        r = logs_spool_open(dir, s->max_bytes, &s->spool);
        if (r < 0) {
                log_capture_stop();
                return log_error_errno(r, "Failed to open the logs spool %s: %m", dir);
        }
        r = logs_spool_load_sources(s->spool, &s->sources);
        imds_options_from_config(ctx->config, &o);
        r = r < 0 ? r : aws_creds_provider_new_imds(&o, &s->imds, &s->creds);
        r = r < 0 ? r : kiln_timer_schedule(ctx, &s->tick, USEC_PER_SEC, on_tick, s);
        if (r < 0)
                return r;
        log_set_sink(NULL, NULL);
        logs_state_free(state);
        state = TAKE_PTR(s);
        if (state->ship_kiln)
                log_set_sink(kiln_sink, state);
        else
                log_capture_stop();
        log_info("Shipping logs to CloudWatch Logs group %s every %ld s.", state->group, state->flush_s);
        return 0;
}

static int logs_reload(struct kiln_context *ctx) {
        /* Everything read so far is on disk: start again from there. */
        log_set_sink(NULL, NULL);
        if (state) {
                (void) logs_spool_sync(state->spool);
                logs_state_free(state);
                state = NULL;
        }
        return logs_start(ctx);
}

static void logs_done(struct kiln_context *ctx) {
        log_set_sink(NULL, NULL);
        if (state) {
                (void) logs_spool_sync(state->spool);
                (void) logs_spool_save_sources(state->spool, state->sources);
        }
        logs_state_free(state);
        state = NULL;
}

const struct kiln_module logs_module = {
        .name = "logs",
        .stage = STAGE_APPLY,
        .start = logs_start,
        .reload = logs_reload,
        .done = logs_done,
        .drain = logs_drain,
        .config_keys = logs_config_keys,
        .validate = logs_validate,
};
