/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "fileio.h"
#include "log.h"
#include "path.h"
#include "status.h"
#include "strbuf.h"
#include "yaml-json.h"

static long long now_ms(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *iso8601_now(void) {
        char buf[32];
        time_t t = time(NULL);
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        return json_string(buf);
}

static json_t *boot_id(void) {
        _cleanup_free_ char *buf = NULL;

        if (read_file("/proc/sys/kernel/random/boot_id", 128, &buf, NULL) < 0)
                return json_null();
        return json_string(strstrip(buf));
}

int status_begin(struct kiln_context *ctx) {
        json_decref(ctx->status);
        ctx->status = json_pack("{s:s, s:o, s:o, s:I, s:[]}", "result", "running", "boot_id", boot_id(), "started",
                                iso8601_now(), "started_ms", (json_int_t) now_ms(CLOCK_MONOTONIC), "stages");
        ctx->stage = NULL;
        if (!ctx->status)
                return -ENOMEM;
        return status_write(ctx);
}

void status_stage_begin(struct kiln_context *ctx, enum kiln_stage s) {
        json_t *stage = json_pack("{s:s, s:s, s:I}", "name", stage_name(s), "result", "running", "started_ms",
                                  (json_int_t) now_ms(CLOCK_MONOTONIC));

        if (!stage)
                return;
        json_array_append_new(json_object_get(ctx->status, "stages"), stage);
        ctx->stage = stage;
        (void) status_write(ctx);
}

static const char *result_of(int r) {
        if (r < 0)
                return "failed";
        return r == KILN_DEGRADED ? "degraded" : "ok";
}

void status_stage_end(struct kiln_context *ctx, int r) {
        json_t *stage = ctx->stage;
        long long started;

        if (!stage)
                return;
        started = json_integer_value(json_object_get(stage, "started_ms"));
        json_object_set_new(stage, "result", json_string(result_of(r)));
        json_object_set_new(stage, "duration_ms", json_integer(now_ms(CLOCK_MONOTONIC) - started));
        json_object_del(stage, "started_ms");
        ctx->stage = NULL;
        (void) status_write(ctx);
}

/* Early stages failing means kiln did not know what to do: an error. A
 * failure while applying is recoverable: degraded. */
static const char *overall_result(const json_t *stages) {
        const char *result = "done";
        size_t i;
        json_t *s;

        json_array_foreach(stages, i, s) {
                const char *name = json_string_value(json_object_get(s, "name"));
                const char *res = json_string_value(json_object_get(s, "result"));
                if (!res || streq(res, "ok") || streq(res, "skipped"))
                        continue;
                if (streq(res, "failed") && name && !streq(name, "apply"))
                        return "error";
                result = "degraded";
        }
        return result;
}

/* Peak RSS of this process's own memory. Not ru_maxrss: that also counts
 * the memory of whoever forked us, up to our execve. */
static long peak_rss_kb(void) {
        _cleanup_free_ char *buf = NULL;
        const char *p;
        long kb;

        if (read_file("/proc/self/status", 64 * 1024, &buf, NULL) < 0 || !(p = strstr(buf, "\nVmHWM:")))
                return -1;
        return sscanf(p + 7, "%ld", &kb) == 1 ? kb : -1;
}

static json_int_t rusage_ms(int who) {
        struct rusage ru;

        if (getrusage(who, &ru) < 0)
                return -1;
        return (json_int_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
               (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/* kiln's own cost (what bench/boot reports), and apart from it that of the
 * programs it ran and waited for (nginx -t, useradd, scripts...). */
static void record_usage(json_t *st) {
        json_object_set_new(st, "cpu_ms", json_integer(rusage_ms(RUSAGE_SELF)));
        json_object_set_new(st, "children_cpu_ms", json_integer(rusage_ms(RUSAGE_CHILDREN)));
        json_object_set_new(st, "max_rss_kb", json_integer(peak_rss_kb()));
}

int status_finish(struct kiln_context *ctx) {
        json_t *st = ctx->status;
        long long started = json_integer_value(json_object_get(st, "started_ms"));

        json_object_set_new(st, "result", json_string(overall_result(json_object_get(st, "stages"))));
        json_object_set_new(st, "finished", iso8601_now());
        json_object_set_new(st, "duration_ms", json_integer(now_ms(CLOCK_MONOTONIC) - started));
        json_object_del(st, "started_ms");
        if (ctx->identified)
                json_object_set_new(st, "instance_id", json_string(ctx->facts.instance_id));
        json_object_set_new(st, "new_instance", json_boolean(ctx->new_instance));
        record_usage(st);
        return status_write(ctx);
}

int status_write(const struct kiln_context *ctx) {
        _cleanup_free_ char *path = NULL, *text = NULL;

        if (!ctx->status)
                return 0;
        if (root_path(&path, KILN_RUN_DIR "/status.json") < 0)
                return -ENOMEM;
        text = json_dumps(ctx->status, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!text)
                return -ENOMEM;
        return write_file_atomic(path, text, strlen(text), 0644);
}

int status_exit_code(const char *result) {
        if (!result)
                return -1;
        if (streq(result, "done"))
                return 0;
        if (streq(result, "error"))
                return 1;
        if (streq(result, "degraded"))
                return 2;
        return -1;
}

int status_load(json_t **ret) {
        _cleanup_free_ char *path = NULL;

        if (root_path(&path, KILN_RUN_DIR "/status.json") < 0)
                return -ENOMEM;
        return json_read_file(path, 16u * 1024 * 1024, ret);
}

static void print_item(const json_t *item, FILE *f) {
        const char *name = json_string_value(json_object_get(item, "name"));
        const char *res = json_string_value(json_object_get(item, "result"));
        json_t *code = json_object_get(item, "exit_code");
        json_t *dur = json_object_get(item, "duration_ms");

        if (!name)
                name = json_string_value(json_object_get(item, "site"));
        fprintf(f, "    %-8s %s", res ? res : "?", name ? name : "(unnamed)");
        if (json_is_integer(code) && json_is_integer(dur))
                fprintf(f, " (exit %lld, %lld ms)", (long long) json_integer_value(code),
                        (long long) json_integer_value(dur));
        else if (json_is_integer(code))
                fprintf(f, " (exit %lld)", (long long) json_integer_value(code));
        else if (json_is_integer(dur))
                fprintf(f, " (%lld ms)", (long long) json_integer_value(dur));
        fputc('\n', f);
}

static void print_counters(const char *title, const json_t *obj, FILE *f) {
        const char *key;
        json_t *v;
        bool first = true;

        if (!json_is_object(obj))
                return;
        fprintf(f, "%-9s", title);
        json_object_foreach((json_t *) obj, key, v)
                if (json_is_integer(v)) {
                        fprintf(f, "%s %s %lld", first ? "" : ",", key, (long long) json_integer_value(v));
                        first = false;
                }
        fprintf(f, "\n");
        json_object_foreach((json_t *) obj, key, v)
                if (json_is_string(v))
                        fprintf(f, "  %s: %s\n", key, json_string_value(v));
}

void status_print(const json_t *st, FILE *f) {
        const char *iid = json_string_value(json_object_get(st, "instance_id"));
        json_t *stages = json_object_get(st, "stages"), *s, *e;
        size_t i, j;

        fprintf(f, "result:   %s\n", json_string_value(json_object_get(st, "result")));
        fprintf(f, "instance: %s%s\n", iid ? iid : "(unknown)",
                json_is_true(json_object_get(st, "new_instance")) ? " (first boot of this instance)" : "");
        if (json_is_string(json_object_get(st, "finished")))
                fprintf(f, "finished: %s (%lld ms)\n", json_string_value(json_object_get(st, "finished")),
                        (long long) json_integer_value(json_object_get(st, "duration_ms")));
        json_array_foreach(stages, i, s) {
                fprintf(f, "  %-10s %-9s %5lld ms\n", json_string_value(json_object_get(s, "name")),
                        json_string_value(json_object_get(s, "result")),
                        (long long) json_integer_value(json_object_get(s, "duration_ms")));
                json_array_foreach(json_object_get(s, "errors"), j, e)
                        fprintf(f, "    ! %s\n", json_string_value(e));
                json_array_foreach(json_object_get(s, "items"), j, e)
                        print_item(e, f);
        }
        print_counters("metrics:", json_object_get(st, "metrics"), f);
}
