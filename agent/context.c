/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "context.h"
#include "libsystemd.h"
#include "log.h"
#include "module.h"
#include "strbuf.h"

int context_new(struct kiln_context **ret) {
        struct kiln_context *ctx = calloc(1, sizeof(*ctx));

        if (!ctx)
                return -ENOMEM;
        ctx->config = json_object();
        ctx->userdata_config = json_object();
        if (!ctx->config || !ctx->userdata_config) {
                context_free(ctx);
                return -ENOMEM;
        }
        *ret = ctx;
        return 0;
}

void instance_facts_done(struct instance_facts *f) {
        char **fields[] = {&f->instance_id, &f->region,         &f->availability_zone, &f->instance_type,
                           &f->image_id,    &f->account_id,     &f->architecture,      &f->private_ipv4,
                           &f->public_ipv4, &f->local_hostname, &f->public_hostname};
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                free(*fields[i]);
                *fields[i] = NULL;
        }
}

void context_free(struct kiln_context *ctx) {
        if (!ctx)
                return;
        for (const struct kiln_module *const *m = kiln_modules; *m; m++)
                if ((*m)->done)
                        (*m)->done(ctx);
        for (size_t i = 0; i < ctx->n_parts; i++) {
                free(ctx->parts[i].type);
                free(ctx->parts[i].filename);
                free(ctx->parts[i].content);
        }
        free(ctx->parts);
        instance_facts_done(&ctx->facts);
        free(ctx->previous_instance_id);
        free(ctx->config_error);
        strv_free(ctx->power_argv);
        json_decref(ctx->config);
        json_decref(ctx->userdata_config);
        json_decref(ctx->status);
        sd_event_unref(ctx->event);
        free(ctx);
}

int context_add_part(struct kiln_context *ctx, const char *type, const char *filename, const char *content, size_t len,
                     enum frequency freq) {
        struct userdata_part *parts, *p;

        parts = realloc(ctx->parts, (ctx->n_parts + 1) * sizeof(*parts));
        if (!parts)
                return -ENOMEM;
        ctx->parts = parts;
        p = &parts[ctx->n_parts];
        *p = (struct userdata_part){.len = len, .freq = freq};
        p->type = strdup(type);
        p->filename = filename ? strdup(filename) : strdup_printf("part-%03zu", ctx->n_parts + 1);
        p->content = malloc(len + 1);
        if (!p->type || !p->filename || !p->content) {
                free(p->type);
                free(p->filename);
                free(p->content);
                return -ENOMEM;
        }
        memcpy(p->content, content, len);
        p->content[len] = 0;
        ctx->n_parts++;
        return 0;
}

static const char *const frequency_names[] = {
        [FREQ_BOOT] = "per-boot",
        [FREQ_INSTANCE] = "per-instance",
        [FREQ_ONCE] = "once",
};

const char *frequency_name(enum frequency f) {
        return frequency_names[f];
}

int frequency_from_string(const char *s, enum frequency *ret) {
        static const struct {
                const char *name;
                enum frequency f;
        } names[] = {
                {"per-boot", FREQ_BOOT},     {"always", FREQ_BOOT},
                {"boot", FREQ_BOOT},         {"per-instance", FREQ_INSTANCE},
                {"instance", FREQ_INSTANCE}, {"once-per-instance", FREQ_INSTANCE},
                {"once", FREQ_ONCE},         {"per-once", FREQ_ONCE},
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (streq(s, names[i].name)) {
                        *ret = names[i].f;
                        return 0;
                }
        return -EINVAL;
}

static void stage_append(struct kiln_context *ctx, const char *field, const char *msg) {
        json_t *list;

        if (!ctx->stage || !msg)
                return;
        list = json_object_get(ctx->stage, field);
        if (!list) {
                list = json_array();
                json_object_set_new(ctx->stage, field, list);
        }
        json_array_append_new(list, json_string(msg));
}

/* Logs msg at level and records it in the running stage's errors. */
_printf_(3, 0) static void stage_report(struct kiln_context *ctx, int level, const char *fmt, va_list ap) {
        _cleanup_free_ char *msg = strdup_vprintf(fmt, ap);

        log_full(level, "%s", msg ? msg : "out of memory");
        stage_append(ctx, "errors", msg);
}

int kiln_fail(struct kiln_context *ctx, int r, const char *fmt, ...) {
        va_list ap;

        errno = abs(r);
        va_start(ap, fmt);
        stage_report(ctx, LOG_ERR, fmt, ap);
        va_end(ap);
        return r < 0 ? r : -EIO;
}

int kiln_degrade(struct kiln_context *ctx, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        stage_report(ctx, LOG_WARNING, fmt, ap);
        va_end(ap);
        return KILN_DEGRADED;
}

void kiln_record(struct kiln_context *ctx, json_t *item) {
        json_t *list;

        if (!ctx->stage || !item) {
                json_decref(item);
                return;
        }
        list = json_object_get(ctx->stage, "items");
        if (!list) {
                list = json_array();
                json_object_set_new(ctx->stage, "items", list);
        }
        json_array_append_new(list, item);
}

struct timer_thunk {
        struct kiln_context *ctx;
        kiln_timer_fn fn;
        void *userdata;
};

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct timer_thunk *t = userdata;
        return t->fn(t->ctx, t->userdata) < 0 ? 0 : 0; /* a failing timer must not end the loop */
}

int kiln_timer_schedule(struct kiln_context *ctx, sd_event_source **source, uint64_t usec, kiln_timer_fn fn,
                        void *userdata) {
        struct timer_thunk *t;
        uint64_t now;
        int r;

        if (!ctx->event)
                return -ESTALE;
        if (*source) {
                t = sd_event_source_get_userdata(*source);
                t->fn = fn;
                t->userdata = userdata;
                r = sd_event_now(ctx->event, CLOCK_BOOTTIME, &now);
                if (r < 0)
                        return r;
                r = sd_event_source_set_time(*source, now + usec);
                if (r < 0)
                        return r;
                return sd_event_source_set_enabled(*source, SD_EVENT_ONESHOT);
        }
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        *t = (struct timer_thunk){ctx, fn, userdata};
        r = sd_event_add_time_relative(ctx->event, source, CLOCK_BOOTTIME, usec, 1000 * USEC_PER_MSEC, on_timer, t);
        if (r < 0) {
                free(t);
                return r;
        }
        return sd_event_source_set_destroy_callback(*source, free);
}

void kiln_keepalive(void) {
        static uint64_t interval_usec, last;
        static int enabled = -1;
        struct timespec ts;
        uint64_t now;

        if (enabled < 0)
                enabled = sd_watchdog_enabled(false, &interval_usec) > 0;
        if (!enabled)
                return;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
        if (now - last < interval_usec / 4)
                return;
        last = now;
        sd_notify(0, "WATCHDOG=1");
}
