/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

/* The user's scripts, bootcmd and runcmd are not kiln: they run outside
 * kiln.service's sandbox (ProtectKernelModules=, PrivateTmp=,
 * RestrictNamespaces=, the syscall filter would block `modprobe
 * br_netfilter`, container builds, `unshare`, and a /tmp shared with other
 * services), each in a transient service of its own started with
 * systemd-run, with a root environment like cloud-final.service's:
 * no sandbox, KillMode=process (what a script starts in the background
 * outlives it, as under cloud-init), TasksMax=infinity.
 *
 * Only when kiln's root is "/" and systemd runs the machine; under --root
 * (tests, demos) and without systemd the program is spawned directly, as
 * a child of kiln. systemd-run --pipe passes stdin, stdout and stderr
 * through and --wait its exit status, so proc_run() sees the same output
 * and result either way. */

struct transient_options {
        const char *systemd_run; /* the program's path */
        const char *name; /* what runs ("runcmd", "part-001"): in the unit's name and description */
        char *const *argv; /* the command */
        char *const *envp; /* its whole environment: --setenv each */
        const char *cwd; /* NULL: "/" */
        long timeout_ms; /* 0: none; else RuntimeMaxSec=, rounded up to seconds */
        unsigned long long unique; /* makes the unit's name unique (a time, a counter) */
};

/* Whether scripts run in transient units here; sets *ret_systemd_run (the
 * path to systemd-run, to free) when they do. */
bool transient_wanted(char **ret_systemd_run);

/* The argv that runs o->argv in a transient unit: systemd-run --unit=...
 * --wait --pipe --collect ... -- argv. NULL-terminated, strv_free(). */
int transient_argv(const struct transient_options *o, char ***ret);
