/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "module.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* byobu_by_default as cloud-init 22.4's cc_byobu, once per instance:
 * user/enable-user: `sudo -Hu DEFAULT byobu-launcher-install` and, as
 * cloud-init also does, the system-wide launch-by-default set to true
 * through debconf and `dpkg-reconfigure byobu`; system/enable-system and
 * enable: the system-wide setting only; disable-user: the default user's
 * byobu-launcher-uninstall; disable-system: the system-wide setting false;
 * disable: both. The one shell command cloud-init runs, as it builds it. It
 * does not install byobu: without it, the command fails (cloud-init's
 * module fails the same way) after debconf-set-selections has recorded the
 * setting. Another value is warned about and does nothing (apart from
 * cloud-init's own fall-through: a value ending in -user or -system not
 * starting with enable disables that part). */

#define MARKER "byobu"

/* util.get_cfg_option_str: str() of what is given; NULL when nothing. */
static char *option_str(const json_t *v) {
        if (!v || json_is_null(v))
                return NULL;
        if (json_is_string(v))
                return strdup(json_string_value(v));
        if (json_is_boolean(v))
                return strdup(json_is_true(v) ? "True" : "False");
        if (json_is_integer(v))
                return strdup_printf("%lld", (long long) json_integer_value(v));
        return strdup("?");
}

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && streq(s + n - m, suffix);
}

/* The command cloud-init runs for value; NULL *ret when none. */
int system_byobu_command(const char *value, const char *default_user, char **ret, const char **ret_warning) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        _cleanup_free_ char *v = NULL;
        static const char *const valid[] = {"enable-user",  "enable-system",  "enable",
                                            "disable-user", "disable-system", "disable"};
        bool mod_user, mod_sys, known = false;
        const char *inst, *dc;

        *ret = NULL;
        *ret_warning = NULL;
        if (!value || !*value)
                return 0;
        v = streq(value, "user") || streq(value, "system") ? strdup_printf("enable-%s", value) : strdup(value);
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(valid); i++)
                known = known || streq(v, valid[i]);
        if (!known)
                *ret_warning = "unknown value";
        mod_user = ends_with(v, "-user");
        mod_sys = ends_with(v, "-system");
        if (strneq(v, "enable", 6)) {
                inst = "install";
                dc = "byobu byobu/launch-by-default boolean true";
                mod_sys = true;
        } else {
                if (streq(v, "disable"))
                        mod_user = mod_sys = true;
                inst = "uninstall";
                dc = "byobu byobu/launch-by-default boolean false";
        }
        if (mod_user) {
                if (!default_user)
                        *ret_warning = "no default user";
                else if (strbuf_printf(&b, " sudo -Hu \"%s\" byobu-launcher-%s || X=$(($X+1)); ", default_user, inst) <
                         0)
                        return -ENOMEM;
        }
        if (mod_sys && strbuf_printf(&b,
                                     "echo \"%s\" | debconf-set-selections && dpkg-reconfigure byobu "
                                     "--frontend=noninteractive || X=$(($X+1)); ",
                                     dc) < 0)
                return -ENOMEM;
        if (b.len == 0)
                return 0;
        *ret = strdup_printf("X=0; %s exit $X", b.data);
        return *ret ? 0 : -ENOMEM;
}

int system_apply_byobu(struct kiln_context *ctx, const json_t *config, const json_t *users) {
        _cleanup_free_ char *value = option_str(json_object_get(config, "byobu_by_default")), *cmd = NULL;
        const char *warning = NULL, *default_user = NULL;
        const json_t *u;
        size_t i;
        int r, result;

        if (!value || !*value)
                return 0;
        r = state_should_run(ctx, FREQ_INSTANCE, MARKER);
        if (r < 0)
                return kiln_fail(ctx, r, "Not doing byobu_by_default: %s", strerror(-r));
        if (r == 0)
                return 0;
        json_array_foreach(users, i, u)
                if (!default_user && json_is_true(json_object_get(u, "default")))
                        default_user = json_string_value(json_object_get(u, "name"));
        r = system_byobu_command(value, default_user, &cmd, &warning);
        if (r < 0)
                return kiln_fail(ctx, r, "Out of memory planning byobu_by_default.");
        if (warning && streq(warning, "unknown value"))
                log_warning("Unknown value %s for byobu_by_default", value);
        else if (warning)
                log_warning("byobu_by_default: no default user, the default user's byobu launcher is left alone.");
        result = cmd ? system_run_recorded(ctx, "byobu_by_default", (const char *const[]){"sh", "-c", cmd, NULL}, NULL)
                     : 0;
        /* cloud-init's semaphore is taken before the module runs: once, even when it failed. */
        r = state_mark_done(ctx, FREQ_INSTANCE, MARKER);
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that byobu_by_default was applied: %s", strerror(-r))
                     : result;
}
