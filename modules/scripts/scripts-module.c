/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fileio.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "pkg.h"
#include "scripts/scripts.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"
#include "userdata/userdata.h"
#include "yaml-json.h"

#define DEFAULT_TIMEOUT_S 3600

static int env_push(char ***env, const char *key, const char *value) {
        _cleanup_free_ char *line = NULL;

        if (!value)
                return 0;
        line = strdup_printf("%s=%s", key, value);
        return line ? strv_push(env, line) : -ENOMEM;
}

int scripts_environment(const struct kiln_context *ctx, char ***ret) {
        static const char *const passed[] = {"AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                             "AWS_EC2_METADATA_DISABLED",
                                             "AWS_REGION",
                                             "http_proxy",
                                             "https_proxy",
                                             "no_proxy"};
        const struct instance_facts *f = &ctx->facts;
        _cleanup_strv_free_ char **env = NULL;
        int r = 0;

        r = r < 0 ? r : env_push(&env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        r = r < 0 ? r : env_push(&env, "LANG", "C.UTF-8");
        r = r < 0 ? r : env_push(&env, "HOME", "/root");
        r = r < 0 ? r : env_push(&env, "KILN_ROOT", root_get());
        r = r < 0 ? r : env_push(&env, "KILN_INSTANCE_ID", f->instance_id);
        /* As cloud-init gives boothooks and scripts. */
        r = r < 0 ? r : env_push(&env, "INSTANCE_ID", f->instance_id);
        r = r < 0 ? r : env_push(&env, "KILN_REGION", f->region);
        r = r < 0 ? r : env_push(&env, "KILN_AVAILABILITY_ZONE", f->availability_zone);
        r = r < 0 ? r : env_push(&env, "KILN_INSTANCE_TYPE", f->instance_type);
        r = r < 0 ? r : env_push(&env, "KILN_IMAGE_ID", f->image_id);
        r = r < 0 ? r : env_push(&env, "KILN_PRIVATE_IPV4", f->private_ipv4);
        r = r < 0 ? r : env_push(&env, "KILN_PUBLIC_IPV4", f->public_ipv4);
        r = r < 0 ? r : env_push(&env, "KILN_LOCAL_HOSTNAME", f->local_hostname);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(passed); i++)
                r = env_push(&env, passed[i], getenv(passed[i]));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(env);
        return 0;
}

static json_t *result_item(const char *name, enum frequency freq, const struct proc_result *res) {
        const char *result = res->timed_out ? "timeout" : res->exit_code == 0 ? "ok" : "failed";
        /* Output is bytes; a tail may also begin inside a character. */
        _cleanup_free_ char *output = res->output ? utf8_escape_invalid(res->output) : NULL;
        json_t *item = json_pack("{s:s, s:s, s:s, s:I, s:s?}", "name", name, "result", result, "frequency",
                                 frequency_name(freq), "duration_ms", (json_int_t) res->duration_ms, "output", output);

        if (!item)
                return NULL;
        if (res->exit_code >= 0)
                json_object_set_new(item, "exit_code", json_integer(res->exit_code));
        if (res->signal > 0)
                json_object_set_new(item, "signal", json_integer(res->signal));
        return item;
}

int scripts_run_recorded(struct kiln_context *ctx, const char *name, char *const *argv, const char *log_name,
                         enum frequency freq) {
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *log_path = NULL;
        struct proc_result res = {0};
        struct proc_options o = {
                .argv = argv,
                .log_name = name,
                .timeout_ms = config_int(ctx->config, "scripts.timeout", DEFAULT_TIMEOUT_S) * 1000L,
        };
        int r;

        r = scripts_environment(ctx, &env);
        if (r >= 0)
                r = root_path(&log_path, KILN_LOG_DIR "/%s.log", log_name);
        if (r >= 0)
                r = mkdir_parents(log_path, 0700);
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to prepare to run %s: %s", name, strerror(-r));
        o.envp = env;
        o.log_path = log_path;
        log_info("Running %s.", name);
        r = proc_run(&o, &res);
        if (r < 0) {
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", name, "result", "failed", "error", strerror(-r)));
                return kiln_fail(ctx, r, "Failed to start %s: %s", name, strerror(-r));
        }
        kiln_record(ctx, result_item(name, freq, &res));
        if (res.timed_out)
                r = kiln_degrade(ctx, "%s timed out after %ld s and was killed", name, o.timeout_ms / 1000);
        else if (res.exit_code != 0)
                r = res.signal ? kiln_degrade(ctx, "%s was killed by signal %d", name, res.signal)
                               : kiln_degrade(ctx, "%s exited with status %d", name, res.exit_code);
        else
                log_info("%s finished in %ld ms.", name, res.duration_ms);
        proc_result_done(&res);
        return r;
}

/* Writes a script part where it can be executed: a per-instance directory. */
static int materialize(struct kiln_context *ctx, const struct userdata_part *p, char **ret) {
        _cleanup_free_ char *rel = strdup_printf("scripts/%s", p->filename);
        _cleanup_free_ char *path = NULL;
        int r;

        if (!rel)
                return -ENOMEM;
        r = ctx->identified ? state_instance_path(ctx, rel, &path) : root_path(&path, KILN_RUN_DIR "/%s", rel);
        if (r < 0)
                return r;
        r = write_file_atomic(path, p->content, p->len, 0700);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(path);
        return 0;
}

/* Marks work done before it runs: a script that reboots the machine must
 * not run again on the way back up, as with cloud-init. 1: run it now. */
static int claim(struct kiln_context *ctx, const char *name, const char *marker, enum frequency freq) {
        int r = state_should_run(ctx, freq, marker);

        if (r == -ENXIO)
                return kiln_fail(ctx, r,
                                 "Not running %s: the instance is unknown, so per-instance work cannot "
                                 "be tracked",
                                 name);
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to check whether %s ran: %s", name, strerror(-r));
        if (r == 0) {
                log_info("%s already ran (%s), skipping.", name, frequency_name(freq));
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", name, "result", "skipped", "frequency",
                                           frequency_name(freq)));
                return 0;
        }
        r = state_mark_done(ctx, freq, marker);
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to record that %s ran: %s", name, strerror(-r));
        return 1;
}

int scripts_run_part(struct kiln_context *ctx, const struct userdata_part *p, const char *log_name) {
        _cleanup_free_ char *marker =
                strdup_printf("%s-%s", userdata_part_is_boothook(p) ? "boothook" : "script", p->filename);
        _cleanup_free_ char *path = NULL;
        char *argv[3] = {NULL, NULL, NULL};
        int r;

        if (!marker)
                return -ENOMEM;
        r = claim(ctx, p->filename, marker, p->freq);
        if (r <= 0)
                return r;
        r = materialize(ctx, p, &path);
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to write %s: %s", p->filename, strerror(-r));
        /* Without a #! line, the shell runs it (exec would fail). */
        if (p->len >= 2 && p->content[0] == '#' && p->content[1] == '!')
                argv[0] = path;
        else {
                argv[0] = (char *) "/bin/sh";
                argv[1] = path;
        }
        return scripts_run_recorded(ctx, p->filename, argv, log_name, p->freq);
}

/* argv[0] without a slash is looked up on the standard PATH. */
static int resolve_argv(const json_t *argv_json, char ***ret) {
        _cleanup_strv_free_ char **argv = NULL;
        json_t *w;
        size_t i;

        json_array_foreach(argv_json, i, w) {
                _cleanup_free_ char *found = NULL;
                const char *s = json_string_value(w);
                int r;
                if (!s)
                        return -EINVAL;
                if (i == 0 && !strchr(s, '/') && pkg_have_program(s, &found))
                        s = found;
                r = strv_push(&argv, s);
                if (r < 0)
                        return r;
        }
        if (!argv)
                return -EINVAL;
        *ret = TAKE_PTR(argv);
        return 0;
}

int scripts_run_command(struct kiln_context *ctx, const json_t *item, const char *log_name) {
        const char *name = json_string_value(json_object_get(item, "name"));
        const char *marker = json_string_value(json_object_get(item, "marker"));
        const char *freq_s = json_string_value(json_object_get(item, "frequency"));
        _cleanup_strv_free_ char **argv = NULL;
        enum frequency freq = FREQ_INSTANCE;
        int r;

        if (!name || !marker || !freq_s || frequency_from_string(freq_s, &freq) < 0)
                return -EINVAL;
        r = claim(ctx, name, marker, freq);
        if (r <= 0)
                return r;
        r = resolve_argv(json_object_get(item, "argv"), &argv);
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to prepare %s: %s", name, strerror(-r));
        return scripts_run_recorded(ctx, name, argv, log_name, freq);
}

/* Folds one step's result into the module's: failures make it degraded,
 * the work goes on. */
static int fold(int result, int r) {
        if (r < 0 || (r > 0 && result >= 0))
                return r < 0 ? KILN_DEGRADED : r;
        return result;
}

/* apply: the user-data's scripts, each at its frequency, in order; then
 * runcmd, each item on its own. */
static int scripts_boot(struct kiln_context *ctx) {
        _cleanup_json_ json_t *runcmd = system_plan_commands(
                ctx->config, "runcmd", userdata_scripts_user_frequency(ctx->config, FREQ_INSTANCE));
        json_t *item;
        size_t i;
        int result = 0;

        for (i = 0; i < ctx->n_parts; i++)
                if (userdata_part_is_script(&ctx->parts[i])) {
                        /* At scripts-user's frequency ([scripts-user, always]). */
                        struct userdata_part p = ctx->parts[i];
                        p.freq = userdata_script_frequency(ctx->config, &p);
                        result = fold(result, scripts_run_part(ctx, &p, "user-data"));
                }
        json_array_foreach(runcmd, i, item)
                result = fold(result, scripts_run_command(ctx, item, "runcmd"));
        return result;
}

static void scripts_validate(const json_t *config, struct config_report *rep) {
        system_validate_commands(config, rep, "runcmd");
}

static const struct config_key scripts_keys[] = {
        {"scripts", CONFIG_MAP, "How user-data scripts and commands run."},
        {"scripts.timeout", CONFIG_INT,
         "Seconds a script or command may run before its process group is killed (default 3600)."},
        {"runcmd", CONFIG_LIST,
         "Commands run once per instance after packages, files and scripts, each recorded on its own."},
        {"runcmd[]", CONFIG_COMMAND,
         "A shell string (run by /bin/sh -c), a list of words (executed directly), or a mapping."},
        {"runcmd[].command", CONFIG_ANY, "The command: a shell string or a list of words."},
        {"runcmd[].frequency", CONFIG_STRING, "per-boot, per-instance (default) or once."},
        {"runcmd[].name", CONFIG_STRING, "Name in `kiln status` and for its run-once marker."},
        {},
};

const struct kiln_module scripts_module = {
        .name = "scripts",
        .stage = STAGE_APPLY,
        .boot = scripts_boot,
        .validate = scripts_validate,
        .config_keys = scripts_keys,
};
