/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "path.h"
#include "pkg.h"
#include "proc.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* A system tool (update-ca-certificates, locale-gen, systemctl...) run as
 * cloud-init runs it. On the real root only; under --root DIR it is not
 * run (-EROFS) unless KILN_SYSTEM_COMMAND names a program to run instead,
 * with the tool's argv after it (tests record the call; the hook is
 * ignored on the real root, see root_test_hook()). */
int system_run_tool(const char *const *argv, const char *stdin_data) {
        return system_run_tool_env(argv, stdin_data, NULL);
}

/* ret_output: the tool's output, kept out of kiln's log; with stdout_only
 * its stdout alone (stderr to /dev/null), and only when it succeeded. */
static int run_tool(const char *const *argv, const char *stdin_data, const char *extra_env, char **ret_output,
                    bool stdout_only) {
        const char *override = root_test_hook("KILN_SYSTEM_COMMAND");
        /* cloud-init runs update-locale and locale-gen with LANG, LANGUAGE
         * and LC_ALL at the default locale: all tools get that here. */
        static char path_var[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    lang[] = "LANG=C.UTF-8", language[] = "LANGUAGE=C.UTF-8", lc_all[] = "LC_ALL=C.UTF-8";
        char *const env[] = {path_var, lang, language, lc_all, (char *) extra_env, NULL};
        _cleanup_strv_free_ char **args = NULL;
        _cleanup_free_ char *tool = NULL;
        struct proc_result res;
        int r = 0;

        if (override)
                r = strv_push(&args, override);
        else if (!streq(root_get(), "/"))
                return -EROFS;
        else if (argv[0][0] == '/' ? access(argv[0], X_OK) < 0 || !(tool = strdup(argv[0]))
                                   : !pkg_have_program(argv[0], &tool))
                return -ENOENT; /* an absolute path is run as it is */
        else
                r = strv_push(&args, tool);
        for (size_t i = override ? 0 : 1; r >= 0 && argv[i]; i++)
                r = strv_push(&args, argv[i]);
        if (r < 0)
                return r;
        r = proc_run(&(struct proc_options){.argv = args,
                                            .envp = env,
                                            .log_name = argv[0],
                                            .stdin_data = stdin_data,
                                            .stdin_len = stdin_data ? strlen(stdin_data) : 0,
                                            .timeout_ms = 10 * 60 * 1000,
                                            .quiet = ret_output != NULL,
                                            .stderr_null = stdout_only,
                                            .capture_max = ret_output ? 65536 : 0},
                     &res);
        if (r < 0)
                return r;
        r = res.exit_code == 0 ? 0 : -EIO;
        if (ret_output && (r == 0 || !stdout_only))
                *ret_output = TAKE_PTR(res.output);
        proc_result_done(&res);
        return r;
}

int system_run_tool_env(const char *const *argv, const char *stdin_data, const char *extra_env) {
        return run_tool(argv, stdin_data, extra_env, NULL, false);
}

int system_run_tool_output(const char *const *argv, const char *stdin_data, const char *extra_env, char **ret_output) {
        return run_tool(argv, stdin_data, extra_env, ret_output, false);
}

int system_run_tool_stdout(const char *const *argv, char **ret) {
        return run_tool(argv, NULL, NULL, ret, true);
}

int system_apply_once(struct kiln_context *ctx, const char *key, const json_t *cfg, bool mapping,
                      int (*apply)(struct kiln_context *ctx, const json_t *cfg)) {
        int r = state_should_run(ctx, FREQ_INSTANCE, key), result;

        if (r < 0)
                return kiln_fail(ctx, r, "Not doing %s: %s", key, strerror(-r));
        if (r == 0) {
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", key, "result", "skipped", "frequency",
                                           "per-instance"));
                return 0;
        }
        if (!mapping)
                result = apply(ctx, cfg);
        else if (!json_is_object(cfg))
                result = kiln_degrade(ctx, "%s: not a mapping (cloud-init fails on it too)", key);
        else if ((result = apply(ctx, cfg)) == 0)
                kiln_record(ctx, json_pack("{s:s, s:s}", "name", key, "result", "ok"));
        r = state_mark_done(ctx, FREQ_INSTANCE, key);
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that %s ran: %s", key, strerror(-r)) : result;
}

char *system_os_release(const char *field) {
        _cleanup_free_ char *buf = NULL, *path = NULL;
        size_t fl = strlen(field);

        if (root_path(&path, "/etc/os-release") < 0 || read_file(path, 65536, &buf, NULL) < 0)
                return NULL;
        for (char *line = buf; line && *line;) {
                char *nl = strchr(line, '\n'), *v;
                if (nl)
                        *nl = 0;
                if (strneq(line, field, fl) && line[fl] == '=') {
                        v = line + fl + 1;
                        if (*v == '"' || *v == '\'')
                                v++;
                        v[strcspn(v, "\"'")] = 0;
                        return strdup(v);
                }
                line = nl ? nl + 1 : NULL;
        }
        return NULL;
}

int system_run_recorded(struct kiln_context *ctx, const char *key, const char *const *argv, const char *stdin_data) {
        int r = system_run_tool(argv, stdin_data);

        kiln_record(ctx, json_pack("{s:s, s:s, s:s?}", "name", argv[0], "result", r < 0 ? "failed" : "ok", "error",
                                   r < 0 ? strerror(-r) : NULL));
        if (r == -EROFS)
                return kiln_degrade(ctx, "%s: not running %s under --root (KILN_SYSTEM_COMMAND is for tests)", key,
                                    argv[0]);
        return r < 0 ? kiln_degrade(ctx, "%s: %s failed: %s", key, argv[0], strerror(-r)) : 0;
}
