/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "fileio.h"
#include "log.h"
#include "proc.h"
#include "strbuf.h"
#include "tap.h"

static int run(const char *script, long timeout_ms, const char *log_path, struct proc_result *res) {
        char *argv[] = {(char *) "/bin/sh", (char *) "-c", (char *) script, NULL};
        struct proc_options o = {.argv = argv, .timeout_ms = timeout_ms, .log_path = log_path, .quiet = true};
        return proc_run(&o, res);
}

int main(void) {
        char dir[] = "/tmp/kiln-test-proc-XXXXXX";
        _cleanup_free_ char *log = NULL, *buf = NULL;
        struct proc_result res;
        char *missing[] = {(char *) "/nonexistent/prog", NULL};
        struct proc_options o = {.argv = missing, .quiet = true};

        log_setup(false);
        if (!mkdtemp(dir))
                return 1;
        log = strdup_printf("%s/out.log", dir);

        is_int(run("echo hello; echo oops >&2; exit 3", 0, log, &res), 0, "program runs");
        is_int(res.exit_code, 3, "exit code recorded");
        ok(strstr(res.output, "hello") && strstr(res.output, "oops"), "stdout and stderr captured");
        ok(read_file(log, 4096, &buf, NULL) == 0 && strstr(buf, "hello\noops\n"), "output appended to the log");
        proc_result_done(&res);

        is_int(run("sleep 30 & sleep 30; echo never", 300, NULL, &res), 0, "hanging program runs");
        ok(res.timed_out, "timeout is reported");
        is_int(res.signal, SIGTERM, "killed by SIGTERM");
        ok(res.duration_ms < 5000, "killed promptly (%ld ms)", res.duration_ms);
        ok(!strstr(res.output, "never"), "nothing ran after the kill");
        proc_result_done(&res);

        is_int(run("trap '' TERM; sleep 30", 200, NULL, &res), 0, "TERM-ignoring program runs");
        is_int(res.signal, SIGKILL, "escalates to SIGKILL");
        proc_result_done(&res);

        is_int(run("(sleep 5 >/dev/null 2>&1 &); echo done", 0, NULL, &res), 0, "program leaving a daemon");
        ok(res.duration_ms < 3000, "is not waited for beyond its own exit (%ld ms)", res.duration_ms);
        proc_result_done(&res);

        is_int(proc_run(&o, &res), 0, "a missing program still forks");
        is_int(res.exit_code, 127, "and exits 127");
        proc_result_done(&res);

        rm_rf(dir);
        return tap_done();
}
