/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
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

/* The output tails of scripts may hold what a script printed (a token):
 * status.json, which any user may read, has everything but them; the
 * private file, root's only, has everything. */
#define STATUS_FILE KILN_RUN_DIR "/status.json"
#define STATUS_PRIVATE_FILE KILN_RUN_DIR "/status-private.json"

static int read_line_file(const char *path, char **ret) {
        _cleanup_free_ char *buf = NULL;
        int r;

        r = read_file(path, 128, &buf, NULL);
        if (r < 0)
                return r;
        strstrip(buf);
        *ret = TAKE_PTR(buf);
        return 0;
}

static json_t *boot_id(void) {
        _cleanup_free_ char *id = NULL;

        if (read_line_file("/proc/sys/kernel/random/boot_id", &id) < 0)
                return json_null();
        return json_string(id);
}

/* "pid:[4026531836]": pids mean something only within one namespace. */
static int pid_namespace(char **ret) {
        char buf[64];
        ssize_t n = readlink("/proc/self/ns/pid", buf, sizeof(buf) - 1);

        if (n < 0)
                return negative_errno();
        buf[n] = 0;
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

/* A process's state letter (field 3 of /proc/PID/stat) and start time
 * (field 22: clock ticks after boot), which tells it from a later process
 * given the same pid. */
static int process_stat(pid_t pid, char *ret_state, unsigned long long *ret_start) {
        _cleanup_free_ char *path = strdup_printf("/proc/%d/stat", (int) pid), *buf = NULL;
        unsigned long long start;
        const char *p;
        char state;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_file(path, 4096, &buf, NULL);
        if (r < 0)
                return r;
        /* The command name (field 2) may hold spaces and parentheses. */
        p = strrchr(buf, ')');
        if (!p || sscanf(p + 1, " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu",
                         &state, &start) != 2)
                return -EBADMSG;
        *ret_state = state;
        *ret_start = start;
        return 0;
}

/* Who writes this status, so readers can tell a boot that died from one
 * that runs: pid, its start time, its pid namespace (and boot_id). */
static void record_owner(json_t *st) {
        _cleanup_free_ char *ns = NULL;
        unsigned long long start;
        char state;

        json_object_set_new(st, "pid", json_integer(getpid()));
        if (process_stat(getpid(), &state, &start) >= 0 && start <= (unsigned long long) LLONG_MAX)
                json_object_set_new(st, "pid_start", json_integer((json_int_t) start));
        if (pid_namespace(&ns) >= 0)
                json_object_set_new(st, "pid_ns", json_string(ns));
}

int status_begin(struct kiln_context *ctx) {
        json_decref(ctx->status);
        ctx->status = json_pack("{s:s, s:o, s:o, s:I, s:[]}", "result", "running", "boot_id", boot_id(), "started",
                                iso8601_now(), "started_ms", (json_int_t) now_ms(CLOCK_MONOTONIC), "stages");
        ctx->stage = NULL;
        if (!ctx->status)
                return -ENOMEM;
        record_owner(ctx->status);
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

/* A copy of st without the output tails of its items. */
static json_t *public_copy(const json_t *st) {
        _cleanup_json_ json_t *copy = json_deep_copy(st);
        json_t *stage, *item;
        size_t i, j;

        if (!copy)
                return NULL;
        json_array_foreach(json_object_get(copy, "stages"), i, stage)
                json_array_foreach(json_object_get(stage, "items"), j, item)
                        json_object_del(item, "output");
        return TAKE_PTR(copy);
}

static int write_json(const char *file, const json_t *j, mode_t mode) {
        _cleanup_free_ char *path = NULL, *text = NULL;

        if (root_path(&path, "%s", file) < 0)
                return -ENOMEM;
        text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!text)
                return -ENOMEM;
        return write_file_atomic(path, text, strlen(text), mode);
}

/* The private file first: readers show it only while it agrees with
 * status.json, which is written second. */
int status_write(const struct kiln_context *ctx) {
        _cleanup_json_ json_t *pub = NULL;
        int r, q;

        if (!ctx->status)
                return 0;
        pub = public_copy(ctx->status);
        if (!pub)
                return -ENOMEM;
        r = write_json(STATUS_PRIVATE_FILE, ctx->status, 0600);
        q = write_json(STATUS_FILE, pub, 0644);
        return q < 0 ? q : r;
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

static int read_json(const char *file, json_t **ret) {
        _cleanup_free_ char *path = NULL;

        if (root_path(&path, "%s", file) < 0)
                return -ENOMEM;
        return json_read_file(path, 16u * 1024 * 1024, ret);
}

/* Whether the boot that wrote a "running" status has ended without
 * finishing: 1 if so (*ret_rebooted: by a reboot), 0 if it runs or nothing
 * can be told (an older kiln's status, a pid of another namespace, a
 * process hidden by hidepid). */
static int owner_died(const json_t *st, bool *ret_rebooted) {
        json_int_t pid = json_integer_value(json_object_get(st, "pid"));
        json_t *start = json_object_get(st, "pid_start");
        const char *boot = json_string_value(json_object_get(st, "boot_id"));
        const char *ns = json_string_value(json_object_get(st, "pid_ns"));
        _cleanup_free_ char *now_boot = NULL, *now_ns = NULL;
        unsigned long long now_start;
        char state;
        int r;

        *ret_rebooted = false;
        if (pid <= 0 || pid > INT_MAX || !json_is_integer(start))
                return 0;
        if (boot && read_line_file("/proc/sys/kernel/random/boot_id", &now_boot) >= 0 && !streq(boot, now_boot)) {
                *ret_rebooted = true;
                return 1;
        }
        if (!ns || pid_namespace(&now_ns) < 0 || !streq(ns, now_ns))
                return 0;
        if (kill((pid_t) pid, 0) < 0 && errno == ESRCH)
                return 1;
        r = process_stat((pid_t) pid, &state, &now_start);
        if (r < 0)
                return 0;
        return state == 'Z' || state == 'X' || now_start != (unsigned long long) json_integer_value(start);
}

/* A "running" status whose boot process is gone is an error. */
static void judge_owner(json_t *st) {
        const char *result = json_string_value(json_object_get(st, "result"));
        _cleanup_free_ char *msg = NULL;
        bool rebooted;

        if (!result || !streq(result, "running") || owner_died(st, &rebooted) <= 0)
                return;
        msg = strdup_printf("boot process %lld died without finishing%s",
                            (long long) json_integer_value(json_object_get(st, "pid")),
                            rebooted ? " (the machine has rebooted since)" : "");
        json_object_set_new(st, "result", json_string("error"));
        if (msg)
                json_object_set_new(st, "error", json_string(msg));
}

int status_load(json_t **ret) {
        _cleanup_json_ json_t *pub = NULL, *priv = NULL, *stripped = NULL;
        json_t *st;
        int r;

        r = read_json(STATUS_FILE, &pub);
        if (r < 0)
                return r;
        /* Unreadable (not root) or from another write: status.json alone. */
        if (read_json(STATUS_PRIVATE_FILE, &priv) >= 0 && (stripped = public_copy(priv)) && json_equal(stripped, pub))
                st = TAKE_PTR(priv);
        else
                st = TAKE_PTR(pub);
        judge_owner(st);
        *ret = st;
        return 0;
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

#define TAIL_LINES 10

/* The last lines of an item's output (root only: see status_load()). */
static void print_output(const json_t *item, FILE *f) {
        const char *out = json_string_value(json_object_get(item, "output"));
        const char *p, *end;
        unsigned lines = 0;

        if (!out || !*out)
                return;
        end = out + strlen(out);
        if (end[-1] == '\n')
                end--;
        for (p = end; p > out; p--)
                if (p[-1] == '\n' && ++lines == TAIL_LINES)
                        break;
        fputs("      | ", f);
        for (; p < end; p++)
                if (*p == '\n')
                        fputs("\n      | ", f);
                else /* no terminal control sequences from a script's output */
                        fputc((unsigned char) *p < 0x20 && *p != '\t' ? '?' : *p == 0x7f ? '?' : *p, f);
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
        if (json_is_string(json_object_get(st, "error")))
                fprintf(f, "error:    %s\n", json_string_value(json_object_get(st, "error")));
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
                json_array_foreach(json_object_get(s, "items"), j, e) {
                        print_item(e, f);
                        print_output(e, f);
                }
        }
        print_counters("metrics:", json_object_get(st, "metrics"), f);
}
