/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Runs a program: posix_spawn with an explicit argv and environment, never
 * a shell string. The child gets its own process group so a timeout can end
 * everything it started. stdout and stderr go, line by line, to kiln's log
 * (prefixed with log_name) and appended to log_path. */

struct proc_options {
        char *const *argv; /* argv[0] is the path executed */
        char *const *envp; /* the whole environment; NULL: a minimal PATH only */
        const char *log_name; /* prefix of log lines; argv[0] if NULL */
        const char *log_path; /* appended to, created 0600; may be NULL */
        const char *cwd; /* default "/" */
        const void *stdin_data; /* written to stdin when set; stdin is /dev/null otherwise */
        size_t stdin_len;
        long timeout_ms; /* 0: none. SIGTERM to the group, SIGKILL 5 s later */
        bool quiet; /* keep output out of kiln's log (still in log_path) */
        size_t capture_max; /* keep the last capture_max bytes of output; 0: 4096 */
        int tee_fd; /* > 0: output also written there (cloud-config `output`); not closed */
        bool stderr_null; /* stderr to /dev/null: the output is stdout's alone */
};

struct proc_result {
        int exit_code; /* -1 when killed by a signal */
        int signal; /* the signal that ended it, 0 if none */
        bool timed_out;
        long duration_ms;
        char *output; /* tail of stdout+stderr, NUL-terminated, never NULL on success */
};

/* 0 when the program ran (whatever its exit code), negative errno when it
 * could not be started. A program that cannot be exec'd exits 127. */
int proc_run(const struct proc_options *o, struct proc_result *ret);
void proc_result_done(struct proc_result *r);
/* Runs and returns 0 only when the program exited 0; -EIO otherwise. */
int proc_run_simple(char *const *argv, long timeout_ms);
