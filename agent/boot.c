/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"
#include "config.h"
#include "console.h"
#include "libsystemd.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "pkg.h"
#include "proc.h"
#include "status.h"
#include "strbuf.h"
#include "yaml-json.h"

const char *stage_name(enum kiln_stage s) {
        static const char *const names[_STAGE_MAX] = {
                [STAGE_IDENTIFY] = "identify",
                [STAGE_FETCH] = "fetch",
                [STAGE_CONFIGURE] = "configure",
                [STAGE_APPLY] = "apply",
        };
        return names[s];
}

int boot_load_config(struct kiln_context *ctx) {
        _cleanup_free_ char *error = NULL;
        json_t *cfg = NULL;
        int r;

        r = config_load_baked(ctx->config_file, &cfg, &error);
        free(ctx->config_error);
        ctx->config_error = NULL;
        if (r < 0) {
                /* Kept for the configure stage to record; what loaded before stays. */
                ctx->config_error = error ? TAKE_PTR(error) : strdup(strerror(-r));
                log_error("Failed to load config: %s", ctx->config_error ? ctx->config_error : "out of memory");
                return r;
        }
        json_decref(ctx->config);
        ctx->config = cfg;
        return 0;
}

/* The core's own part of the configure stage: the baked config (loaded
 * once, before identify, which needs its imds: section) merged with the
 * user-data's, checked against every module's schema. */
int boot_configure(struct kiln_context *ctx) {
        _cleanup_strv_free_ char **warnings = NULL, **errors = NULL;
        _cleanup_json_ json_t *merged = NULL;
        int r, result = 0;

        if (ctx->config_error)
                result = kiln_fail(ctx, -EINVAL, "config: %s; going on without it", ctx->config_error);
        merged = json_deep_copy(ctx->config);
        if (!merged || config_merge(merged, ctx->userdata_config) < 0)
                return kiln_fail(ctx, -ENOMEM, "Out of memory merging config.");
        r = config_validate(merged, &warnings, &errors);
        for (char **w = warnings; w && *w; w++) {
                int k = kiln_degrade(ctx, "config: %s", *w);
                if (result >= 0)
                        result = k;
        }
        for (char **e = errors; e && *e; e++)
                result = kiln_fail(ctx, -EINVAL, "config: %s", *e);
        json_decref(ctx->config);
        ctx->config = TAKE_PTR(merged);
        return r > 0 ? -EINVAL : result;
}

static int combine(int a, int b) {
        if (a < 0)
                return a;
        if (b < 0)
                return b;
        return a > b ? a : b;
}

static int run_stage(struct kiln_context *ctx, enum kiln_stage s) {
        int result = 0;

        status_stage_begin(ctx, s);
        sd_notifyf(0, "STATUS=Boot: %s", stage_name(s));
        log_debug("Stage %s", stage_name(s));
        if (s == STAGE_CONFIGURE)
                result = boot_configure(ctx);
        for (const struct kiln_module *const *m = kiln_modules; *m; m++) {
                if ((*m)->stage != s || !(*m)->boot)
                        continue;
                /* A reboot is due now (packages needed one): the rest runs after it. */
                if (ctx->power_now)
                        break;
                kiln_keepalive();
                result = combine(result, (*m)->boot(ctx));
        }
        status_stage_end(ctx, result);
        return result;
}

/* The power change asked for, once the boot is recorded. Under --root the
 * machine is not kiln's: the command line is appended to the file
 * $KILN_POWER_LOG (a test hook) instead, or only logged. */
static void run_power(char **argv) {
        _cleanup_free_ char *line = NULL;
        struct strbuf b = STRBUF_INIT;
        const char *hook;
        int r;

        for (char **a = argv; *a; a++)
                (void) strbuf_printf(&b, "%s%s", a == argv ? "" : " ", *a);
        line = strbuf_steal(&b);
        if (streq(root_get(), "/")) {
                _cleanup_free_ char *path = NULL;
                /* "shutdown" as cloud-init runs it: found on the PATH. */
                if (!strchr(argv[0], '/') && pkg_have_program(argv[0], &path)) {
                        free(argv[0]);
                        argv[0] = TAKE_PTR(path);
                }
                log_info("Running %s.", line ? line : argv[0]);
                r = proc_run_simple(argv, 60 * 1000L);
                if (r < 0)
                        log_error_errno(r, "Failed to run %s: %m", line ? line : argv[0]);
                return;
        }
        hook = root_test_hook("KILN_POWER_LOG");
        log_info("Not running %s under --root%s.", line ? line : argv[0], hook ? " (recorded in $KILN_POWER_LOG)" : "");
        if (hook && line) {
                _cleanup_close_ int fd = open(hook, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
                if (fd < 0 || dprintf(fd, "%s\n", line) < 0)
                        log_warning("Failed to record the power change in %s.", hook);
        }
}

int boot_run(struct kiln_context *ctx) {
        const char *result, *error = NULL;
        int r;

        r = status_begin(ctx);
        if (r < 0)
                log_warning_errno(r, "Failed to write status, ignoring: %m");
        (void) boot_load_config(ctx);
        for (enum kiln_stage s = 0; s < _STAGE_MAX; s++)
                (void) run_stage(ctx, s);
        r = status_finish(ctx);
        if (r < 0)
                log_warning_errno(r, "Failed to write status, ignoring: %m");
        r = console_boot_summary(ctx->status, config_string(ctx->config, "final_message", NULL), &error);
        if (error)
                log_warning("Failed to render final_message, ignoring: %s", error);
        if (r < 0 && r != -ENODEV)
                log_warning_errno(r, "Failed to write to the console, ignoring: %m");
        result = json_string_value(json_object_get(ctx->status, "result"));
        log_info("Boot %s in %lld ms.", result,
                 (long long) json_integer_value(json_object_get(ctx->status, "duration_ms")));
        if (ctx->power_argv)
                run_power(ctx->power_argv);
        return status_exit_code(result);
}
