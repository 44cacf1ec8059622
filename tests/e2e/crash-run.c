/* SPDX-License-Identifier: MIT */
/* crash-run PROGRAM [ARG...]: runs PROGRAM as a child subreaper would, and
 * when it dies of a signal, kills with SIGKILL whatever it started that
 * still runs (a script, useradd, nginx -t), as systemd does to a unit's
 * cgroup when its main process dies: a crash takes the whole run with it.
 * $CRASH_RUN_PRELOAD becomes PROGRAM's LD_PRELOAD.
 * Exits with PROGRAM's exit status, or 128 + the signal that killed it.
 * For tests/e2e/crash-points.sh; built by the test, never installed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* The parent pid in /proc/PID/stat, after the command name. */
static pid_t parent_of(const char *pid) {
        char path[64], buf[1024], *p;
        FILE *f;
        size_t n;
        int ppid;

        snprintf(path, sizeof(path), "/proc/%s/stat", pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        p = strrchr(buf, ')');
        if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
                return -1;
        return ppid;
}

/* Kills this process's children (orphans reparented here included);
 * returns how many there were. */
static int kill_children(void) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        int n = 0;

        if (!d)
                return 0;
        while ((e = readdir(d)))
                if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && parent_of(e->d_name) == getpid()) {
                        kill((pid_t) strtol(e->d_name, NULL, 10), SIGKILL);
                        n++;
                }
        closedir(d);
        return n;
}

int main(int argc, char **argv) {
        pid_t child;
        int status;

        if (argc < 2) {
                fprintf(stderr, "usage: crash-run PROGRAM [ARG...]\n");
                return 64;
        }
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
                perror("crash-run: PR_SET_CHILD_SUBREAPER");
                return 70;
        }
        child = fork();
        if (child < 0) {
                perror("crash-run: fork");
                return 70;
        }
        if (child == 0) {
                /* Not LD_PRELOAD for this process: the shim would count it. */
                const char *preload = getenv("CRASH_RUN_PRELOAD");
                if (preload && setenv("LD_PRELOAD", preload, 1) < 0)
                        _exit(127);
                execvp(argv[1], argv + 1);
                perror("crash-run: exec");
                _exit(127);
        }
        while (waitpid(child, &status, 0) < 0)
                if (errno != EINTR) {
                        perror("crash-run: waitpid");
                        return 70;
                }
        /* Bounded: grandchildren come here as their parents die. */
        for (int i = 0; WIFSIGNALED(status) && i < 500; i++) {
                int n = kill_children();
                while (waitpid(-1, NULL, WNOHANG) > 0)
                        ;
                if (n == 0 && waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
                        break;
                usleep(10 * 1000);
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
