/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
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
#include "transient.h"
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

/* The item of a command script (see system_plan_commands()) that the shell's
 * last error message points at: dash writes "PATH: 3: ...", bash "PATH: line
 * 3: ...". NULL when the output names no line of the script. */
static const char *erring_item(const char *output, const char *script_path, const json_t *items) {
        const char *found = NULL, *name = NULL;
        size_t n = strlen(script_path), line = 0;
        json_t *it;
        size_t i;

        for (const char *p = output ? strstr(output, script_path) : NULL; p; p = strstr(p + 1, script_path))
                if (strneq(p + n, ": ", 2))
                        found = p + n + 2;
        if (!found)
                return NULL;
        if (strneq(found, "line ", 5))
                found += 5;
        for (; *found >= '0' && *found <= '9' && line < 100000000; found++)
                line = line * 10 + (size_t) (*found - '0');
        if (*found != ':' || line == 0)
                return NULL;
        json_array_foreach(items, i, it)
                if ((size_t) json_integer_value(json_object_get(it, "line")) <= line)
                        name = json_string_value(json_object_get(it, "name"));
        return name;
}

/* A command script's failure, with the item the shell complained about. */
static int degrade_script(struct kiln_context *ctx, const char *name, const struct proc_result *res,
                          const char *script_path, const json_t *items) {
        const char *item = erring_item(res->output, script_path, items);

        if (!item)
                return kiln_degrade(ctx, "%s exited with status %d", name, res->exit_code);
        return kiln_degrade(ctx, "%s exited with status %d; the shell's last error is in %s", name, res->exit_code,
                            item);
}

/* Outside kiln's sandbox when systemd runs the machine (agent/transient.h). */
static int wrap_transient(const char *name, char *const *argv, char *const *env, long timeout_ms, char ***ret) {
        static unsigned counter;
        _cleanup_free_ char *systemd_run = NULL;
        struct transient_options t = {.name = name, .argv = argv, .envp = env, .timeout_ms = timeout_ms};

        if (!transient_wanted(&systemd_run))
                return 0;
        t.systemd_run = systemd_run;
        t.unique = ((unsigned long long) now_ms() << 8) | (counter++ & 0xff);
        return transient_argv(&t, ret);
}

static int run_recorded(struct kiln_context *ctx, const char *name, char *const *argv, const char *log_name,
                        enum frequency freq, const json_t *items) {
        _cleanup_strv_free_ char **env = NULL, **wrapped = NULL;
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
        if (r >= 0)
                r = wrap_transient(name, argv, env, o.timeout_ms, &wrapped);
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to prepare to run %s: %s", name, strerror(-r));
        if (wrapped)
                o.argv = wrapped;
        o.envp = env;
        o.log_path = log_path;
        o.tee_fd = system_output_fd(ctx, strneq(log_name, "boot", 4) ? "init" : "final");
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
                    : items    ? degrade_script(ctx, name, &res, argv[1], items)
                               : kiln_degrade(ctx, "%s exited with status %d", name, res.exit_code);
        else
                log_info("%s finished in %ld ms.", name, res.duration_ms);
        proc_result_done(&res);
        return r;
}

int scripts_run_recorded(struct kiln_context *ctx, const char *name, char *const *argv, const char *log_name,
                         enum frequency freq) {
        return run_recorded(ctx, name, argv, log_name, freq, NULL);
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
        char *argv[2] = {NULL, NULL};
        int r;

        if (!marker)
                return -ENOMEM;
        /* Written before the claim, as cloud-init writes its parts at every
         * boot: killed between the two, the file is still there. */
        r = materialize(ctx, p, &path);
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to write %s: %s", p->filename, strerror(-r));
        r = claim(ctx, p->filename, marker, p->freq);
        if (r <= 0)
                return r;
        /* Executed itself, as cloud-init's runparts executes it: the
         * decoder keeps no part without a #! line (exec would fail). */
        argv[0] = path;
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

/* A command script as cloud-init runs it (`/bin/sh FILE`), written where
 * it can be read afterwards: commands/MARKER in the instance's state dir. */
static int script_argv(struct kiln_context *ctx, const json_t *item, const char *marker, char ***ret) {
        const json_t *script = json_object_get(item, "script");
        _cleanup_free_ char *rel = strdup_printf("commands/%s", marker), *path = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        int r;

        if (!rel)
                return -ENOMEM;
        r = ctx->identified ? state_instance_path(ctx, rel, &path) : root_path(&path, KILN_RUN_DIR "/%s", rel);
        if (r >= 0)
                r = write_file_atomic(path, json_string_value(script), json_string_length(script), 0700);
        if (r >= 0)
                r = strv_push(&argv, "/bin/sh");
        if (r >= 0)
                r = strv_push(&argv, path);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(argv);
        return 0;
}

int scripts_run_command(struct kiln_context *ctx, const json_t *item, const char *log_name) {
        const char *name = json_string_value(json_object_get(item, "name"));
        const char *marker = json_string_value(json_object_get(item, "marker"));
        const char *freq_s = json_string_value(json_object_get(item, "frequency"));
        const json_t *items = json_object_get(item, "items");
        _cleanup_strv_free_ char **argv = NULL;
        enum frequency freq = FREQ_INSTANCE;
        int r;

        if (!name || !marker || !freq_s || frequency_from_string(freq_s, &freq) < 0)
                return -EINVAL;
        /* The script is written before the claim (see scripts_run_part()). */
        r = json_is_string(json_object_get(item, "script")) ? script_argv(ctx, item, marker, &argv)
                                                            : resolve_argv(json_object_get(item, "argv"), &argv);
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to prepare %s: %s", name, strerror(-r));
        r = claim(ctx, name, marker, freq);
        if (r <= 0)
                return r;
        return run_recorded(ctx, name, argv, log_name, freq, json_is_array(items) ? items : NULL);
}

/* Folds one step's result into the module's: failures make it degraded,
 * the work goes on. */
static int fold(int result, int r) {
        if (r < 0 || (r > 0 && result >= 0))
                return r < 0 ? KILN_DEGRADED : r;
        return result;
}

/* What runs in one of cloud-init's script modules, by file name. */
struct step {
        const char *key;
        const struct userdata_part *part; /* NULL: runcmd */
};

static int step_cmp(const void *a, const void *b) {
        int c = strcmp(((const struct step *) a)->key, ((const struct step *) b)->key);
        /* Equal names keep the document's order. */
        return c ? c : (((const struct step *) a)->part > ((const struct step *) b)->part) ? 1 : -1;
}

/* The name cloud-init's runparts sorts a part by: its file name; a whole
 * user-data that is one script is cloud-init's "part-001". */
static const char *part_key(const struct userdata_part *p) {
        return streq(p->filename, "user-data") ? "part-001" : p->filename;
}

/* One of cloud-init's script modules: the parts of type (and runcmd, for
 * scripts-user), sorted by name as its runparts() sorts them. */
static int run_module(struct kiln_context *ctx, const char *type, const json_t *runcmd) {
        _cleanup_free_ struct step *steps = calloc(ctx->n_parts + 1, sizeof(*steps));
        size_t n = 0, i, k;
        json_t *item;
        int result = 0;

        if (!steps)
                return kiln_fail(ctx, -ENOMEM, "Out of memory ordering scripts.");
        for (i = 0; i < ctx->n_parts; i++)
                if (streq(ctx->parts[i].type, type))
                        steps[n++] = (struct step){part_key(&ctx->parts[i]), &ctx->parts[i]};
        if (runcmd && json_array_size(runcmd) > 0)
                steps[n++] = (struct step){"runcmd", NULL};
        qsort(steps, n, sizeof(*steps), step_cmp);
        for (i = 0; i < n; i++) {
                if (steps[i].part) {
                        /* At scripts-user's frequency ([scripts-user, always]). */
                        struct userdata_part p = *steps[i].part;
                        p.freq = userdata_script_frequency(ctx->config, &p);
                        result = fold(result, scripts_run_part(ctx, &p, "user-data"));
                        continue;
                }
                json_array_foreach(runcmd, k, item)
                        result = fold(result, scripts_run_command(ctx, item, "runcmd"));
        }
        return result;
}

/* apply: the user-data's scripts and runcmd in the order of cloud-init's
 * cloud_final_modules: scripts-per-once, scripts-per-boot and
 * scripts-per-instance (parts whose MIME type names a frequency), then
 * scripts-user: the other scripts and runcmd's one script, together, by
 * file name ("part-001" < "runcmd" < "userdata.sh"). */
static int scripts_boot(struct kiln_context *ctx) {
        static const char *const typed[] = {"text/x-shellscript-per-once", "text/x-shellscript-per-boot",
                                            "text/x-shellscript-per-instance"};
        _cleanup_json_ json_t *runcmd = system_plan_commands(
                ctx->config, "runcmd", userdata_scripts_user_frequency(ctx->config, FREQ_INSTANCE));
        int result = 0;

        for (size_t i = 0; i < ELEMENTSOF(typed); i++)
                result = fold(result, run_module(ctx, typed[i], NULL));
        return fold(result, run_module(ctx, "text/x-shellscript", runcmd));
}

static void scripts_validate(const json_t *config, struct config_report *rep) {
        system_validate_commands(config, rep, "runcmd");
}

static const struct config_key scripts_keys[] = {
        {"scripts", CONFIG_MAP, "How user-data scripts and commands run."},
        {"scripts.timeout", CONFIG_INT,
         "Seconds a script or command may run before its process group is killed (default 3600)."},
        {"runcmd", CONFIG_LIST,
         "Commands run once per instance after packages, files and scripts, as one shell script."},
        {"runcmd[]", CONFIG_COMMAND,
         "A line of the script, a list of words (quoted into one line), or a mapping (run on its own)."},
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
