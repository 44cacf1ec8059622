/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>

#include "boot.h"
#include "config.h"
#include "daemon.h"
#include "libsystemd.h"
#include "log.h"
#include "module.h"
#include "status.h"

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct kiln_context *ctx = userdata;
        _cleanup_json_ json_t *running = NULL;
        int r;

        sd_notify(0, "RELOADING=1\nSTATUS=Reloading config");
        log_info("Reloading config.");
        ctx->stage = NULL;
        running = json_incref(ctx->config);
        r = boot_load_config(ctx);
        if (r >= 0)
                r = boot_configure(ctx);
        if (r < 0) {
                log_error_errno(r, "Config is invalid, keeping what runs now: %m");
                json_decref(ctx->config);
                ctx->config = TAKE_PTR(running);
        } else
                for (const struct kiln_module *const *m = kiln_modules; *m; m++)
                        if ((*m)->reload && (*m)->reload(ctx) < 0)
                                log_warning("Module %s failed to reload, ignoring.", (*m)->name);
        sd_notify(0, "READY=1\nSTATUS=Running");
        return 0;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
        log_info("Stopping on %s.", si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int setup_event(struct kiln_context *ctx) {
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return negative_errno();
        r = sd_event_default(&ctx->event);
        if (r < 0)
                return r;
        r = sd_event_add_signal(ctx->event, NULL, SIGTERM, on_exit_signal, ctx);
        if (r >= 0)
                r = sd_event_add_signal(ctx->event, NULL, SIGINT, on_exit_signal, ctx);
        if (r >= 0)
                r = sd_event_add_signal(ctx->event, NULL, SIGHUP, on_sighup, ctx);
        if (r >= 0)
                r = sd_event_set_watchdog(ctx->event, true);
        return r < 0 ? r : 0;
}

static void start_modules(struct kiln_context *ctx) {
        for (const struct kiln_module *const *m = kiln_modules; *m; m++) {
                int r;
                if (!(*m)->start)
                        continue;
                r = (*m)->start(ctx);
                if (r < 0)
                        log_warning_errno(r, "Module %s failed to start its timers, continuing without: %m",
                                          (*m)->name);
        }
}

int daemon_run(struct kiln_context *ctx) {
        const char *result, *error;
        int r;

        /* The event loop is libsystemd's: without it there is no daemon, and
         * saying so now beats an abort at the first call. */
        r = libsystemd_load(&error);
        if (r < 0)
                return log_error_errno(r, "%s.", error);
        ctx->daemon = true;
        r = setup_event(ctx);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the event loop: %m");
        (void) boot_run(ctx);
        result = json_string_value(json_object_get(ctx->status, "result"));
        start_modules(ctx);
        sd_notifyf(0, "READY=1\nSTATUS=Boot %s; running timers", result ? result : "finished");
        log_info("Ready.");
        r = sd_event_loop(ctx->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}
