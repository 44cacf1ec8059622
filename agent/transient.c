/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "path.h"
#include "pkg.h"
#include "strbuf.h"
#include "transient.h"

#define UNIT_NAME_PART_MAX 64

bool transient_wanted(char **ret_systemd_run) {
        if (!streq(root_get(), "/") || access("/run/systemd/system", F_OK) < 0)
                return false;
        return pkg_have_program("systemd-run", ret_systemd_run);
}

/* A unit name keeps [A-Za-z0-9:_.-]; anything else becomes '_'. */
static char *unit_name(const char *name, unsigned long long unique) {
        char part[UNIT_NAME_PART_MAX + 1];
        size_t n = 0;

        for (const char *p = name ? name : "script"; *p && n < UNIT_NAME_PART_MAX; p++) {
                char c = *p;
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
                          c == '_' || c == '.' || c == '-';
                part[n++] = ok ? c : '_';
        }
        part[n] = 0;
        return strdup_printf("kiln-%s-%llx.service", n ? part : "script", unique);
}

static int push_printf(char ***l, char *s) {
        int r = s ? strv_push(l, s) : -ENOMEM;

        free(s);
        return r;
}

int transient_argv(const struct transient_options *o, char ***ret) {
        _cleanup_strv_free_ char **a = NULL;
        int r;

        if (!o->systemd_run || !o->argv || !o->argv[0])
                return -EINVAL;
        r = strv_push(&a, o->systemd_run);
        if (r >= 0) {
                _cleanup_free_ char *unit = unit_name(o->name, o->unique);
                r = push_printf(&a, unit ? strdup_printf("--unit=%s", unit) : NULL);
        }
        r = r < 0 ? r : push_printf(&a, strdup_printf("--description=kiln: %s", o->name ? o->name : "script"));
        /* --wait: its exit status is the command's; --pipe: our stdin, stdout
         * and stderr are the command's; --collect: unloaded even if it failed. */
        static const char *const fixed[] = {"--quiet", "--wait", "--pipe", "--collect", "--service-type=exec",
                                            /* cloud-final.service's: background processes outlive the script */
                                            "--property=KillMode=process", "--property=TasksMax=infinity",
                                            /* kiln bounds it (RuntimeMaxSec= below), not the start timeout */
                                            "--property=TimeoutStartSec=infinity", NULL};
        for (size_t i = 0; r >= 0 && fixed[i]; i++)
                r = strv_push(&a, fixed[i]);
        if (r >= 0 && o->timeout_ms > 0)
                r = push_printf(&a, strdup_printf("--property=RuntimeMaxSec=%ld", (o->timeout_ms + 999) / 1000));
        r = r < 0 ? r : push_printf(&a, strdup_printf("--working-directory=%s", o->cwd ? o->cwd : "/"));
        for (char *const *e = o->envp; r >= 0 && e && *e; e++)
                r = push_printf(&a, strdup_printf("--setenv=%s", *e));
        r = r < 0 ? r : strv_push(&a, "--");
        for (char *const *v = o->argv; r >= 0 && *v; v++)
                r = strv_push(&a, *v);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(a);
        return 0;
}
