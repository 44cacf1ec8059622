/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "pkg.h"
#include "proc.h"
#include "scripts/scripts.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* power_state and package_reboot_if_required, as cloud-init 22.4 does them
 * (cc_power_state_change, cc_package_update_upgrade_install):
 *
 * - power_state {mode: reboot|poweroff|halt, delay: now|N|"+N" (minutes),
 *   message, timeout, condition}: `shutdown -r|-P|-H now|+N [message]`,
 *   once per instance, after everything else. cloud-init waits (timeout,
 *   default 30 s) for itself to finish, then checks condition (true/false,
 *   a shell string, or a command list: exit 0 is met, anything else not)
 *   and runs the command. kiln is the last module of the boot: it checks
 *   the condition there and the command runs once the boot's status is
 *   written, so timeout has nothing to wait for (it is still checked).
 *   A bad mode, delay or timeout: nothing is done, and said so.
 * - package_reboot_if_required (or apt_reboot_if_required): when packages
 *   were installed or upgraded in this boot and /var/run/reboot-required
 *   exists, reboot right away (/sbin/reboot): the rest of the boot runs at
 *   the next one.
 *
 * Under --root the machine is not kiln's: the command is recorded instead
 * (boot_run(), $KILN_POWER_LOG). */

#define MARKER "power_state"
#define REBOOT_REQUIRED "/var/run/reboot-required"
#define CONDITION_TIMEOUT_MS (600L * 1000)

/* Python's int(s) for a delay: blanks around, an optional sign, digits. */
static int parse_minutes(const json_t *v, long long *ret) {
        _cleanup_free_ char *copy = NULL;
        char *s, *end;

        if (json_is_integer(v)) {
                *ret = json_integer_value(v);
                return 0;
        }
        if (!json_is_string(v) || !(copy = strdup(json_string_value(v))))
                return -EINVAL;
        s = strstrip(copy);
        if (!*s || !strchr("+-0123456789", *s))
                return -EINVAL;
        errno = 0;
        *ret = strtoll(s, &end, 10);
        return errno || *end || end == s || (end == s + 1 && !strchr("0123456789", *s)) ? -EINVAL : 0;
}

static bool timeout_ok(const json_t *t) {
        _cleanup_free_ char *copy = NULL;
        char *end;
        double d;

        if (!t || json_is_number(t))
                return true;
        if (!json_is_string(t) || !(copy = strdup(json_string_value(t))))
                return false;
        errno = 0;
        d = strtod(strstrip(copy), &end);
        return !errno && end != copy && !*end && !isnan(d);
}

json_t *system_power_plan(const json_t *config) {
        static const char *const modes[][2] = {{"halt", "-H"}, {"poweroff", "-P"}, {"reboot", "-r"}};
        const json_t *ps = json_object_get(config, "power_state"), *delay, *cond;
        const char *mode, *flag = NULL, *message;
        _cleanup_free_ char *when = NULL;
        long long minutes;

        if (!ps || json_is_null(ps))
                return NULL;
        if (!json_is_object(ps))
                return json_pack("{s:s}", "error", "power_state must be a mapping");
        mode = json_string_value(json_object_get(ps, "mode"));
        for (size_t i = 0; mode && i < ELEMENTSOF(modes); i++)
                if (streq(mode, modes[i][0]))
                        flag = modes[i][1];
        if (!flag)
                return json_pack("{s:s}", "error", "power_state.mode must be one of halt, poweroff, reboot");
        delay = json_object_get(ps, "delay");
        if (!delay || (json_is_string(delay) && streq(json_string_value(delay), "now")))
                when = strdup("now");
        else if (parse_minutes(delay, &minutes) >= 0)
                when = strdup_printf("+%lld", minutes);
        else
                return json_pack("{s:s}", "error", "power_state.delay must be 'now' or '+m' (minutes)");
        if (!timeout_ok(json_object_get(ps, "timeout")))
                return json_pack("{s:s}", "error", "power_state.timeout must be a number of seconds");
        cond = json_object_get(ps, "condition");
        if (cond && !json_is_boolean(cond) && !json_is_string(cond) && !json_is_array(cond))
                return json_pack("{s:s}", "error", "power_state.condition must be true/false, a string or a list");
        message = json_string_value(json_object_get(ps, "message"));
        return json_pack("{s:s, s:[s, s, s, s*], s:O*}", "mode", mode, "argv", "shutdown", flag, when ? when : "now",
                         message && *message ? message : NULL, "condition", cond);
}

/* cloud-init's check_condition(): 1 met, 0 not. */
static int condition_met(struct kiln_context *ctx, const json_t *cond) {
        _cleanup_strv_free_ char **argv = NULL, **env = NULL;
        _cleanup_free_ char *path = NULL;
        struct proc_options o = {.log_name = "power_state condition", .timeout_ms = CONDITION_TIMEOUT_MS};
        struct proc_result res = {0};
        json_t *w;
        size_t i;
        int r;

        if (!cond || json_is_boolean(cond))
                return !cond || json_is_true(cond);
        if (json_is_string(cond)) {
                r = strv_push(&argv, "/bin/sh");
                if (r >= 0)
                        r = strv_push(&argv, "-c");
                if (r >= 0)
                        r = strv_push(&argv, json_string_value(cond));
        } else {
                r = 0;
                json_array_foreach(cond, i, w) {
                        const char *s = json_string_value(w);
                        if (!s) {
                                log_warning("power_state condition: not a list of words, not met.");
                                return 0;
                        }
                        if (i == 0 && !strchr(s, '/') && pkg_have_program(s, &path))
                                s = path;
                        if ((r = strv_push(&argv, s)) < 0)
                                break;
                }
        }
        if (r < 0 || !argv)
                return r < 0 ? r : 0;
        o.argv = argv;
        r = scripts_environment(ctx, &env);
        o.envp = env;
        if (r >= 0)
                r = proc_run(&o, &res);
        if (r < 0) {
                log_warning("power_state condition: cannot run it (%s), not met.", strerror(-r));
                return 0;
        }
        r = res.exit_code == 0;
        if (res.exit_code != 0 && res.exit_code != 1)
                log_warning("power_state condition: unexpected exit %d, not met.", res.exit_code);
        proc_result_done(&res);
        return r;
}

static int power_boot(struct kiln_context *ctx) {
        _cleanup_json_ json_t *plan = system_power_plan(ctx->config);
        const char *err = json_string_value(json_object_get(plan, "error"));
        json_t *a;
        size_t i;
        int r;

        if (!plan || ctx->power_now)
                return 0;
        if (err)
                return kiln_degrade(ctx, "Not changing the power state: %s", err);
        r = state_should_run(ctx, FREQ_INSTANCE, MARKER);
        if (r <= 0) {
                if (r == 0)
                        kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", MARKER, "result", "skipped", "frequency",
                                                   "per-instance"));
                return r < 0 ? kiln_fail(ctx, r, "Not changing the power state: %s", strerror(-r)) : 0;
        }
        r = state_mark_done(ctx, FREQ_INSTANCE, MARKER);
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to record the power state change: %s", strerror(-r));
        r = condition_met(ctx, json_object_get(plan, "condition"));
        if (r <= 0) {
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", MARKER, "result", "skipped", "why",
                                           "condition not met"));
                log_info("power_state: condition not met, no %s.", json_string_value(json_object_get(plan, "mode")));
                return r < 0 ? kiln_fail(ctx, r, "power_state: %s", strerror(-r)) : 0;
        }
        strv_free(ctx->power_argv);
        ctx->power_argv = NULL;
        json_array_foreach(json_object_get(plan, "argv"), i, a)
                if (strv_push(&ctx->power_argv, json_string_value(a)) < 0)
                        return -ENOMEM;
        kiln_record(ctx, json_pack("{s:s, s:s, s:O}", "name", MARKER, "result", "ok", "command",
                                   json_object_get(plan, "argv")));
        log_info("power_state: %s once the boot is done.", json_string_value(json_object_get(plan, "mode")));
        return 0;
}

int system_reboot_if_required(struct kiln_context *ctx, const json_t *config, bool packages_ran) {
        _cleanup_free_ char *path = NULL;

        if (!packages_ran || (!config_bool(config, "package_reboot_if_required", false) &&
                              !config_bool(config, "apt_reboot_if_required", false)))
                return 0;
        if (root_path(&path, REBOOT_REQUIRED) < 0)
                return -ENOMEM;
        if (access(path, F_OK) < 0)
                return 0;
        log_warning("Rebooting after upgrade or install per %s; the rest of the boot runs after it.", REBOOT_REQUIRED);
        strv_free(ctx->power_argv);
        ctx->power_argv = NULL;
        if (strv_push(&ctx->power_argv, "/sbin/reboot") < 0)
                return -ENOMEM;
        ctx->power_now = true;
        kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "package_reboot_if_required", "result", "ok", "command",
                                   "/sbin/reboot"));
        return 0;
}

static const struct config_key power_keys[] = {
        {"power_state", CONFIG_MAP, "Reboot, power off or halt once per instance after the boot (cloud-init's keys)."},
        {"power_state.mode", CONFIG_STRING, "reboot, poweroff or halt (required)."},
        {"power_state.delay", CONFIG_ANY, "now (default) or minutes: 5 or '+5'."},
        {"power_state.message", CONFIG_STRING, "Message for shutdown's wall."},
        {"power_state.timeout", CONFIG_ANY,
         "Seconds cloud-init waits for itself to end (kiln runs it after its boot)."},
        {"power_state.condition", CONFIG_ANY,
         "true/false, a shell string or a command list: only when it exits 0 (default true)."},
        {"package_reboot_if_required", CONFIG_BOOL,
         "Reboot right after packages when they left /var/run/reboot-required."},
        {"apt_reboot_if_required", CONFIG_BOOL, "Old name of package_reboot_if_required."},
        {},
};

/* Last of all the modules: "after everything else", as cloud-init's final stage. */
const struct kiln_module power_module = {
        .name = "power",
        .stage = STAGE_APPLY,
        .boot = power_boot,
        .config_keys = power_keys,
};
