/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "module.h"
#include "path.h"
#include "pkg.h"
#include "proc.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* ansible as cloud-init 22.4's cc_ansible, once per instance (its
 * semaphore is taken before the module runs: once, even when it failed).
 * In cloud-init's order: the checks of its validate_config(); ansible
 * installed unless there (distro: the `ansible` program on PATH, else the
 * package_name package through the package manager; pip: `python3 -m pip
 * list` showing "ansible", else pip bootstrapped and `python3 -m pip
 * install [--user] --upgrade pip`, then `... install [--user] NAME`); the
 * same check again ("not installed" is an error); ANSIBLE_CONFIG; the
 * galaxy actions; ansible-pull; the controller's clones and playbooks. The
 * first failure ends the key (the boot is degraded), as the exception ends
 * cloud-init's module.
 *
 * Commands run as cloud-init runs them: without run_user directly (HOME
 * /root); with it through `su - USER -c "[cd DIR && ]env PATH=$PATH ARGS"`,
 * the words joined with spaces, unquoted, as cloud-init's Distro.do_as()
 * joins them (su - also drops ANSIBLE_CONFIG from the environment there, as
 * under cloud-init). Under --root nothing runs unless the
 * KILN_SYSTEM_COMMAND test hook names a program to run the argv. */

#define MARKER "ansible"
#define ANSIBLE_TIMEOUT_MS (60L * 60 * 1000)
#define PYTHON "/usr/bin/python3"
/* The key's failure recorded (the boot degraded); -EIO for the caller. */
#define FAIL(ctx, ...) (kiln_degrade(ctx, __VA_ARGS__), -EIO)

static const char *const pull_keys[] = {"accept_host_key",
                                        "clean",
                                        "full",
                                        "diff",
                                        "ssh_common_args",
                                        "scp_extra_args",
                                        "sftp_extra_args",
                                        "private_key",
                                        "checkout",
                                        "module_path",
                                        "timeout",
                                        "url",
                                        "connection",
                                        "vault_id",
                                        "vault_password_file",
                                        "module_name",
                                        "sleep",
                                        "tags",
                                        "skip_tags",
                                        "playbook_name",
                                        NULL};

static bool in_list(const char *const *l, const char *s) {
        for (; *l; l++)
                if (streq(*l, s))
                        return true;
        return false;
}

/* Python's truth of a YAML value (cloud-init's `if value:`). */
static bool truthy(const json_t *v) {
        if (!v || json_is_null(v) || json_is_false(v))
                return false;
        if (json_is_string(v))
                return json_string_length(v) > 0;
        if (json_is_integer(v))
                return json_integer_value(v) != 0;
        if (json_is_real(v))
                return json_real_value(v) != 0;
        if (json_is_array(v))
                return json_array_size(v) > 0;
        if (json_is_object(v))
                return json_object_size(v) > 0;
        return true;
}

/* The checks cloud-init's validate_config() makes before anything runs,
 * and the shapes its code needs (a list or map where it indexes one); a
 * static message naming the setting, NULL when fine. kiln applies the
 * schema's defaults (install_method distro, package_name ansible) where
 * cloud-init 22.4.2's code, unlike its schema and docs, requires both. */
const char *system_ansible_problem(const json_t *a) {
        const json_t *v, *pull, *ctl, *galaxy, *item;
        const char *key;
        size_t i;

        if (!json_is_object(a))
                return "ansible is not a mapping";
        v = json_object_get(a, "install_method");
        if (v && !(json_is_string(v) && (streq(json_string_value(v), "pip") || streq(json_string_value(v), "distro"))))
                return "ansible.install_method is neither distro nor pip";
        v = json_object_get(a, "package_name");
        if (v && !(json_is_string(v) && json_string_length(v) > 0))
                return "ansible.package_name is not a package name";
        json_object_foreach((json_t *) a, key, v)
                if ((streq(key, "run_user") || streq(key, "ansible_config")) && !json_is_string(v))
                        return "ansible.run_user and ansible.ansible_config are strings";
        v = json_object_get(a, "run_user");
        if (v && json_string_length(v) == 0)
                return "ansible.run_user is empty";
        pull = json_object_get(a, "pull");
        if (truthy(pull)) {
                if (!json_is_object(pull))
                        return "ansible.pull is not a mapping";
                if (!truthy(json_object_get(pull, "url")))
                        return "Missing required key 'pull/url'";
                if (!truthy(json_object_get(pull, "playbook_name")))
                        return "Missing required key 'pull/playbook_name'";
                json_object_foreach((json_t *) pull, key, v)
                        if (!json_is_string(v) && !json_is_boolean(v) && !json_is_number(v))
                                return "ansible.pull's values are strings or booleans";
                if (!json_is_string(json_object_get(pull, "playbook_name")))
                        return "ansible.pull.playbook_name is not a string";
        }
        galaxy = json_object_get(a, "galaxy");
        if (truthy(galaxy)) {
                if (!json_is_object(galaxy) ||
                    (json_object_get(galaxy, "actions") && !json_is_array(json_object_get(galaxy, "actions"))))
                        return "ansible.galaxy.actions is not a list of commands";
                json_array_foreach(json_object_get(galaxy, "actions"), i, item) {
                        const json_t *w;
                        size_t j;
                        if (!json_is_array(item) || json_array_size(item) == 0)
                                return "ansible.galaxy.actions[] is not a command (a list of words)";
                        json_array_foreach(item, j, w)
                                if (!json_is_string(w))
                                        return "ansible.galaxy.actions[] has a word that is not a string";
                }
        }
        ctl = json_object_get(a, "setup_controller");
        if (truthy(ctl)) {
                if (!json_is_object(ctl))
                        return "ansible.setup_controller is not a mapping";
                if (!truthy(json_object_get(ctl, "repositories")) && !truthy(json_object_get(ctl, "run_ansible")))
                        return "Missing required key from setup_controller (repositories or run_ansible)";
                v = json_object_get(ctl, "repositories");
                if (v && !json_is_array(v))
                        return "ansible.setup_controller.repositories is not a list";
                json_array_foreach(v, i, item)
                        if (!json_is_string(json_object_get(item, "source")) ||
                            !json_is_string(json_object_get(item, "path")))
                                return "ansible.setup_controller.repositories[] needs source and path (strings)";
                v = json_object_get(ctl, "run_ansible");
                if (v && !json_is_array(v))
                        return "ansible.setup_controller.run_ansible is not a list";
                json_array_foreach(v, i, item) {
                        const json_t *x;
                        if (!json_is_string(json_object_get(item, "playbook_dir")) ||
                            !json_is_string(json_object_get(item, "playbook_name")))
                                return "ansible.setup_controller.run_ansible[] needs playbook_dir and playbook_name "
                                       "(strings)";
                        json_object_foreach((json_t *) item, key, x)
                                if (json_is_array(x) || json_is_object(x))
                                        return "ansible.setup_controller.run_ansible[]'s values are scalars";
                }
        }
        return NULL;
}

/* text with the user and password of its URLs (https://USER:TOKEN@host/)
 * masked: how commands and their output are shown (status, log). */
static char *masked(const char *text) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        const char *p = text, *scheme;

        while ((scheme = strstr(p, "://"))) {
                const char *host = scheme + 3, *end = host + strcspn(host, "/ \t'\"<>"), *at = NULL;
                for (const char *q = host; q < end; q++)
                        if (*q == '@')
                                at = q;
                if (strbuf_append(&b, p, host - p) < 0 || (at && strbuf_puts(&b, "***") < 0))
                        return NULL;
                p = at ? at : host;
                if (!at && strbuf_append(&b, host, end - host) < 0)
                        return NULL;
                if (!at)
                        p = end;
        }
        if (strbuf_puts(&b, p) < 0)
                return NULL;
        return strdup(b.data ? b.data : "");
}

static int shown_word(struct strbuf *b, const char *w, bool space) {
        _cleanup_free_ char *m = masked(w);

        if (!m || (space && strbuf_puts(b, " ") < 0))
                return -ENOMEM;
        return strbuf_puts(b, m);
}

/* The output into kiln's log, line by line, masked. */
static void log_output(char *out) {
        for (char *line = out; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl)
                        *nl = 0;
                _cleanup_free_ char *m = masked(line);
                if (*line)
                        log_info("ansible: %s", m ? m : "(out of memory)");
                if (nl)
                        *nl = '\n';
                line = nl ? nl + 1 : NULL;
        }
}

/* The line of a failed command's output that says why: the last of
 * ansible's "ERROR!" lines (usage text follows it), else the last line. */
static const char *why(char *out) {
        const char *last = NULL, *error = NULL;

        for (char *line = out; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl)
                        *nl = 0;
                if (*line) {
                        last = line;
                        if (strneq(line, "ERROR!", 6) || strstr(line, " ERROR! ") || strstr(line, "\"msg\": "))
                                error = line;
                }
                line = nl ? nl + 1 : NULL;
        }
        return error ? error : last ? last : "";
}

void system_validate_ansible(const json_t *config, struct config_report *rep) {
        const json_t *a = json_object_get(config, "ansible"), *v;
        const char *problem, *key;

        if (!truthy(a))
                return;
        problem = system_ansible_problem(a);
        if (problem)
                config_report_warning(rep, "ansible", "'ansible': %s (the boot does nothing of it)", problem);
        /* cloud-init's schema knows these; the others go to ansible-pull all the same */
        if (json_is_object(json_object_get(a, "pull")))
                json_object_foreach(json_object_get(a, "pull"), key, v)
                        if (!in_list(pull_keys, key))
                                config_report_warning(rep, "ansible.pull",
                                                      "'ansible.pull.%s' is not in cloud-init's schema; passed to "
                                                      "ansible-pull as a flag all the same, as cloud-init does",
                                                      key);
}

struct runner {
        struct kiln_context *ctx;
        const char *user; /* run_user, or NULL */
        const char *config; /* ANSIBLE_CONFIG, or NULL */
        bool probe; /* a failure is an answer: not recorded, nothing degraded */
};

/* argv run as cloud-init runs it (see the top); ret_output: the output
 * (quiet, kept whole up to 1 MiB) when set. 0 when it exited 0; -EIO with
 * the key's failure recorded and the boot degraded otherwise. */
static int run(struct runner *rn, const char *const *argv, const char *cwd, char **ret_output) {
        const char *override = root_test_hook("KILN_SYSTEM_COMMAND");
        static char path_var[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    home[] = "HOME=/root", lang[] = "LANG=C.UTF-8";
        _cleanup_free_ char *config_var = rn->config ? strdup_printf("ANSIBLE_CONFIG=%s", rn->config) : NULL;
        char *const env[] = {path_var, home, lang, config_var, NULL};
        _cleanup_strbuf_ struct strbuf cmd = STRBUF_INIT, shown = STRBUF_INIT;
        _cleanup_strv_free_ char **args = NULL;
        _cleanup_free_ char *tool = NULL;
        struct proc_result res;
        _cleanup_free_ char *why_text = NULL;
        const char *last;
        int r = 0;

        if (rn->config && !config_var)
                return -ENOMEM;
        for (size_t i = 0; argv[i]; i++)
                if (shown_word(&shown, argv[i], i > 0) < 0)
                        return -ENOMEM;
        if (override)
                r = strv_push(&args, override);
        else if (!streq(root_get(), "/")) {
                kiln_record(rn->ctx,
                            json_pack("{s:s, s:s, s:s}", "name", "ansible", "command", shown.data, "result", "failed"));
                return FAIL(rn->ctx, "ansible: not running %s under --root (KILN_SYSTEM_COMMAND is for tests)",
                            argv[0]);
        }
        if (r >= 0 && rn->user) {
                if ((cwd && strbuf_printf(&cmd, "cd %s && ", cwd) < 0) || strbuf_puts(&cmd, "env PATH=$PATH") < 0)
                        return -ENOMEM;
                for (size_t i = 0; argv[i]; i++)
                        if (strbuf_printf(&cmd, " %s", argv[i]) < 0)
                                return -ENOMEM;
                if (!override && !pkg_have_program("su", &tool))
                        r = -ENOENT;
                const char *su[] = {tool ? tool : "su", "-", rn->user, "-c", cmd.data, NULL};
                for (size_t i = 0; r >= 0 && su[i]; i++)
                        r = strv_push(&args, su[i]);
        } else if (r >= 0) {
                if (!override && !strchr(argv[0], '/') && !pkg_have_program(argv[0], &tool))
                        r = -ENOENT;
                for (size_t i = 0; r >= 0 && argv[i]; i++)
                        r = strv_push(&args, i == 0 && tool ? tool : argv[i]);
        }
        if (r == -ENOENT) {
                kiln_record(rn->ctx,
                            json_pack("{s:s, s:s, s:s}", "name", "ansible", "command", shown.data, "result", "failed"));
                return FAIL(rn->ctx, "ansible: %s: command not found", rn->user ? "su" : argv[0]);
        }
        if (r < 0)
                return r;
        r = proc_run(&(struct proc_options){.argv = args,
                                            .envp = env,
                                            .log_name = "ansible",
                                            .cwd = rn->user ? NULL : cwd,
                                            .timeout_ms = ANSIBLE_TIMEOUT_MS,
                                            .quiet = true, /* logged below, masked */
                                            .capture_max = ret_output ? 1024 * 1024 : 256 * 1024},
                     &res);
        if (r < 0) {
                kiln_record(rn->ctx,
                            json_pack("{s:s, s:s, s:s}", "name", "ansible", "command", shown.data, "result", "failed"));
                return FAIL(rn->ctx, "ansible: could not run %s: %s", shown.data, strerror(-r));
        }
        if (!ret_output && !rn->probe)
                log_output(res.output);
        if (rn->probe && res.exit_code != 0) {
                proc_result_done(&res);
                return -EIO;
        }
        kiln_record(rn->ctx, json_pack("{s:s, s:s, s:s, s:i}", "name", "ansible", "command", shown.data, "result",
                                       res.exit_code == 0 ? "ok" : "failed", "exit_code", res.exit_code));
        if (res.exit_code != 0) {
                why_text = masked(why(res.output));
                last = why_text ? why_text : "";
                r = FAIL(rn->ctx, "ansible: %s%s%s failed (%s %d)%s%.300s", shown.data, rn->user ? " as " : "",
                         rn->user ? rn->user : "",
                         res.timed_out ? "timed out, signal"
                         : res.signal  ? "signal"
                                       : "exit",
                         res.signal ? res.signal : res.exit_code, *last ? ": " : "", last);
                proc_result_done(&res);
                return r;
        }
        if (ret_output)
                *ret_output = TAKE_PTR(res.output);
        proc_result_done(&res);
        return 0;
}

/* `ansible` on the root's PATH (cloud-init's which("ansible")). */
static bool have_ansible(void) {
        static const char *const dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                           "/usr/bin",        "/sbin",          "/bin"};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *p = NULL;
                if (root_path(&p, "%s/ansible", dirs[i]) >= 0 && access(p, X_OK) == 0)
                        return true;
        }
        return false;
}

static int pip_installed(struct runner *rn, bool *ret) {
        _cleanup_free_ char *out = NULL;
        int r = run(rn, (const char *const[]){PYTHON, "-m", "pip", "list", NULL}, NULL, &out);

        if (r < 0)
                return r;
        *ret = strstr(out, "ansible") != NULL;
        return 0;
}

static int pkg_result(struct kiln_context *ctx, const char *what, int r) {
        kiln_record(ctx, json_pack("{s:s, s:s, s:s, s:s?}", "name", "ansible", "command", what, "result",
                                   r < 0 ? "failed" : "ok", "error", r < 0 ? strerror(-r) : NULL));
        if (r == -EROFS)
                return kiln_degrade(ctx, "ansible: not installing %s under --root (KILN_PKG_COMMAND is for tests)",
                                    what);
        if (r == -ENOENT)
                return kiln_degrade(ctx, "ansible: no package manager to install %s", what);
        return r < 0 ? kiln_degrade(ctx, "ansible: installing %s failed: %s", what, strerror(-r)) : 0;
}

/* cloud-init's Distro.install_packages(): apt refreshes its index first. */
static int install_package(struct kiln_context *ctx, const char *name) {
        char *names[] = {(char *) name, NULL};
        int r;

        if (pkg_detect() == PKG_APT) {
                r = pkg_result(ctx, "apt-get update", pkg_update());
                if (r != 0)
                        return -EIO;
        }
        return pkg_result(ctx, name, pkg_install(names)) != 0 ? -EIO : 0;
}

static int install(struct runner *rn, bool pip, const char *package) {
        bool installed = false;
        int r;

        if (!pip) {
                if (!have_ansible() && install_package(rn->ctx, package) < 0)
                        return -EIO;
                if (!have_ansible())
                        return FAIL(rn->ctx, "ansible: command: ansible is not installed (package %s)", package);
                return 0;
        }
        r = pip_installed(rn, &installed);
        if (r < 0 || installed)
                return r;
        /* cloud-init bootstraps pip when its own python lacks it */
        struct runner root = {.ctx = rn->ctx, .config = rn->config, .probe = true};
        if (run(&root, (const char *const[]){PYTHON, "-c", "import pip", NULL}, NULL, NULL) < 0 &&
            install_package(rn->ctx, "python3-pip") < 0)
                return -EIO;
        /* --user only with run_user */
        const char *user = rn->user;
        const char *up[] = {PYTHON,
                            "-m",
                            "pip",
                            "install",
                            user ? "--user" : "--upgrade",
                            user ? "--upgrade" : "pip",
                            user ? "pip" : NULL,
                            NULL};
        const char *in[] = {PYTHON, "-m", "pip", "install", user ? "--user" : package, user ? package : NULL, NULL};
        r = run(rn, up, NULL, NULL);
        if (r >= 0)
                r = run(rn, in, NULL, NULL);
        if (r >= 0)
                r = pip_installed(rn, &installed);
        if (r >= 0 && !installed)
                return FAIL(rn->ctx, "ansible: command: ansible is not installed (pip)");
        return r;
}

/* cloud-init's Version: a.b.c.d compared its own way (_compare_version:
 * greater as soon as any part is greater, in order). */
static int parse_version(const char *s, size_t n, long v[4]) {
        size_t part = 0;

        v[0] = v[1] = v[2] = v[3] = -1;
        for (size_t i = 0; i <= n; part++) {
                char *end;
                if (part >= 4 || i == n || s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v[part] = strtol(s + i, &end, 10);
                i = end - s;
                if (i < n && s[i] != '.')
                        return -EINVAL;
                if (i == n)
                        break;
                i++;
        }
        return 0;
}

static bool version_less(const long v[4], const long w[4]) {
        bool eq = true;
        for (size_t i = 0; i < 4; i++)
                eq = eq && v[i] == w[i];
        if (eq)
                return false;
        for (size_t i = 0; i < 4; i++)
                if (v[i] > w[i])
                        return false;
        return true;
}

/* `--key` for true, `--key=value` else, key's '_' as '-'; false left out
 * (cloud-init's filter_args); true_flag: true is `--key` (pull) rather
 * than `--key=True` (run_ansible). */
static int push_flags(char ***args, const json_t *map, const char *const *skip, bool true_flag) {
        const char *key;
        json_t *v;

        json_object_foreach((json_t *) map, key, v) {
                _cleanup_free_ char *k = strdup(key), *value = NULL, *flag = NULL;
                if (!k)
                        return -ENOMEM;
                if (in_list(skip, key) || json_is_false(v))
                        continue;
                for (char *p = k; *p; p++)
                        if (*p == '_')
                                *p = '-';
                if (json_is_true(v) && true_flag)
                        flag = strdup_printf("--%s", k);
                else {
                        value = system_py_str(v); /* f"--{key}={value}" */
                        if (!value)
                                return -EINVAL;
                        flag = strdup_printf("--%s=%s", k, value);
                }
                if (!flag || strv_push(args, flag) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int pull(struct runner *rn, const json_t *cfg) {
        static const char *const skip[] = {"playbook_name", NULL};
        _cleanup_strv_free_ char **args = NULL;
        _cleanup_free_ char *out = NULL;
        long v[4], min[4] = {2, 7, 0, -1};
        int r;

        r = run(rn, (const char *const[]){"ansible-pull", "--version", NULL}, NULL, &out);
        if (r < 0)
                return r;
        /* cloud-init: the first [\d.]+ of the first line */
        size_t line = strcspn(out, "\n"), at = strcspn(out, "0123456789."), len;
        if (!*out)
                return FAIL(rn->ctx, "ansible: ansible-pull --version printed nothing");
        len = at < line ? strspn(out + at, "0123456789.") : 0;
        if (at >= line)
                log_warning("ansible: Cannot parse ansible version");
        else if (parse_version(out + at, len, v) < 0)
                return FAIL(rn->ctx, "ansible: cannot read the version '%.*s' of ansible-pull", (int) len, out + at);
        else if (version_less(v, min) && truthy(json_object_get(cfg, "diff")))
                return FAIL(rn->ctx, "ansible: ansible %.*s does not support pull.diff (--diff), exiting", (int) len,
                            out + at);
        r = strv_push(&args, "ansible-pull");
        if (r >= 0)
                r = push_flags(&args, cfg, skip, true);
        if (r >= 0)
                r = strv_push(&args, json_string_value(json_object_get(cfg, "playbook_name")));
        if (r < 0)
                return r;
        return run(rn, (const char *const *) args, NULL, NULL);
}

static int controller(struct runner *rn, const json_t *cfg) {
        static const char *const skip[] = {"playbook_dir", "playbook_name", NULL};
        const json_t *item;
        size_t i;
        int r;

        json_array_foreach(json_object_get(cfg, "repositories"), i, item) {
                r = run(rn,
                        (const char *const[]){"git", "clone", json_string_value(json_object_get(item, "source")),
                                              json_string_value(json_object_get(item, "path")), NULL},
                        NULL, NULL);
                if (r < 0)
                        return r;
        }
        json_array_foreach(json_object_get(cfg, "run_ansible"), i, item) {
                _cleanup_strv_free_ char **args = NULL;
                r = strv_push(&args, "ansible-playbook");
                if (r >= 0)
                        r = strv_push(&args, json_string_value(json_object_get(item, "playbook_name")));
                if (r >= 0)
                        r = push_flags(&args, item, skip, false);
                if (r < 0)
                        return r;
                r = run(rn, (const char *const *) args, json_string_value(json_object_get(item, "playbook_dir")), NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int apply(struct kiln_context *ctx, const json_t *a) {
        const char *problem = system_ansible_problem(a);
        const json_t *galaxy = json_object_get(a, "galaxy"), *action;
        const char *method = json_string_value(json_object_get(a, "install_method"));
        const char *package = json_string_value(json_object_get(a, "package_name"));
        const char *config = json_string_value(json_object_get(a, "ansible_config"));
        struct runner rn = {.ctx = ctx, .user = json_string_value(json_object_get(a, "run_user"))};
        size_t i;
        int r;

        if (problem)
                return FAIL(ctx, "ansible: %s; nothing done", problem);
        r = install(&rn, method && streq(method, "pip"), package ? package : "ansible");
        if (r < 0)
                return r;
        if (config && *config)
                rn.config = config;
        if (truthy(galaxy)) {
                if (!truthy(json_object_get(galaxy, "actions")))
                        log_warning("ansible: galaxy has no actions");
                json_array_foreach(json_object_get(galaxy, "actions"), i, action) {
                        _cleanup_strv_free_ char **argv = NULL;
                        const json_t *w;
                        size_t j;
                        json_array_foreach(action, j, w)
                                if (strv_push(&argv, json_string_value(w)) < 0)
                                        return -ENOMEM;
                        r = run(&rn, (const char *const *) argv, NULL, NULL);
                        if (r < 0)
                                return r;
                }
        }
        if (truthy(json_object_get(a, "pull"))) {
                r = pull(&rn, json_object_get(a, "pull"));
                if (r < 0)
                        return r;
        }
        if (truthy(json_object_get(a, "setup_controller")))
                return controller(&rn, json_object_get(a, "setup_controller"));
        return 0;
}

static int apply_ansible(struct kiln_context *ctx, const json_t *a) {
        int r = apply(ctx, a);

        if (r == -ENOMEM)
                return kiln_fail(ctx, r, "Out of memory doing ansible.");
        if (r == -EINVAL)
                return kiln_degrade(ctx, "ansible: a flag's value is a list or a mapping");
        return r != 0 ? KILN_DEGRADED : 0;
}

int system_apply_ansible(struct kiln_context *ctx, const json_t *config) {
        const json_t *a = json_object_get(config, "ansible");

        return truthy(a) ? system_apply_once(ctx, MARKER, a, false, apply_ansible) : 0;
}
