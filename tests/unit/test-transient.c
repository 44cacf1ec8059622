/* SPDX-License-Identifier: MIT */
/* The systemd-run command line scripts run under (agent/transient.h): the
 * properties of cloud-final.service, the environment passed word by word,
 * a unit name systemd accepts whatever the script's name. */
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "path.h"
#include "strbuf.h"
#include "tap.h"
#include "transient.h"

static bool has(char **a, const char *s) {
        for (; a && *a; a++)
                if (streq(*a, s))
                        return true;
        return false;
}

static ssize_t index_of(char **a, const char *s) {
        for (ssize_t i = 0; a && a[i]; i++)
                if (streq(a[i], s))
                        return i;
        return -1;
}

int main(void) {
        char *argv[] = {(char *) "/bin/sh", (char *) "-c", (char *) "modprobe br_netfilter; echo --setenv=x", NULL};
        char *envp[] = {(char *) "PATH=/usr/sbin:/usr/bin", (char *) "KILN_INSTANCE_ID=i-0abc", (char *) "X=a b", NULL};
        struct transient_options o = {.systemd_run = "/usr/bin/systemd-run",
                                      .name = "runcmd /etc/x; rm -rf /",
                                      .argv = argv,
                                      .envp = envp,
                                      .timeout_ms = 3600 * 1000L + 1,
                                      .unique = 0xabc};
        _cleanup_strv_free_ char **a = NULL, **b = NULL;
        char *no_root = NULL;
        ssize_t dd;

        is_int(transient_argv(&o, &a), 0, "argv built");
        is_str(a ? a[0] : NULL, "/usr/bin/systemd-run", "systemd-run runs it");
        ok(has(a, "--unit=kiln-runcmd__etc_x__rm_-rf__-abc.service"), "unit name sanitised and made unique");
        ok(has(a, "--wait") && has(a, "--pipe") && has(a, "--collect") && has(a, "--quiet"),
           "waits, pipes stdio through, collected");
        ok(has(a, "--service-type=exec"), "exec: a command that cannot start fails the run");
        ok(has(a, "--property=KillMode=process"), "KillMode=process as cloud-final: background processes outlive it");
        ok(has(a, "--property=TasksMax=infinity"), "TasksMax=infinity as cloud-final");
        ok(has(a, "--property=RuntimeMaxSec=3601"), "RuntimeMaxSec is the script timeout, rounded up");
        ok(has(a, "--property=TimeoutStartSec=infinity"), "no start timeout of its own");
        ok(has(a, "--working-directory=/"), "runs from /");
        ok(has(a, "--setenv=KILN_INSTANCE_ID=i-0abc") && has(a, "--setenv=X=a b") &&
                   has(a, "--setenv=PATH=/usr/sbin:/usr/bin"),
           "the whole environment, each variable one word");
        ok(!has(a, "--property=PrivateTmp=yes") && !has(a, "--property=ProtectKernelModules=yes"),
           "none of kiln's sandbox");
        dd = index_of(a, "--");
        ok(dd > 0 && a[dd + 1] && streq(a[dd + 1], "/bin/sh") && streq(a[dd + 2], "-c") && streq(a[dd + 3], argv[2]) &&
                   !a[dd + 4],
           "the command after --, as it was");
        ok(index_of(a, "--setenv=x") < 0, "words of the command are not options to systemd-run");

        o.timeout_ms = 0;
        o.name = NULL;
        o.cwd = "/srv";
        is_int(transient_argv(&o, &b), 0, "argv without timeout");
        ok(b && !has(b, "--property=RuntimeMaxSec=0"), "no RuntimeMaxSec without a timeout");
        ok(has(b, "--unit=kiln-script-abc.service"), "a default name");
        ok(has(b, "--working-directory=/srv"), "working directory passed");

        root_set("/tmp");
        ok(!transient_wanted(&no_root), "under --root: spawned directly, never a unit");
        free(no_root);
        return tap_done();
}
