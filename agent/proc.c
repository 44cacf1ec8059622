/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "proc.h"
#include "strbuf.h"

#define KILL_GRACE_MS 5000L

static char *const default_env[] = {
        (char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        (char *) "LANG=C.UTF-8",
        NULL,
};

/* The child: its own process group, default SIGPIPE and SIGCHLD (kiln
 * ignores the first and may handle the second), no signal blocked (the
 * daemon blocks the ones it reads from a signalfd), stdin from in_fd or
 * /dev/null, stdout and stderr to out_fd, in cwd. 0, or a positive errno
 * as posix_spawn's own functions return. */
static int spawn_setup(const struct proc_options *o, int out_fd, int in_fd, posix_spawn_file_actions_t *fa,
                       posix_spawnattr_t *attr) {
        sigset_t none, reset;
        int r;

        sigemptyset(&none);
        sigemptyset(&reset);
        sigaddset(&reset, SIGPIPE);
        sigaddset(&reset, SIGCHLD);
        r = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
        if (r == 0)
                r = posix_spawnattr_setpgroup(attr, 0);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(attr, &reset);
        if (r == 0)
                r = posix_spawnattr_setsigmask(attr, &none);
        if (r == 0)
                r = in_fd >= 0 ? posix_spawn_file_actions_adddup2(fa, in_fd, STDIN_FILENO)
                               : posix_spawn_file_actions_addopen(fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(fa, out_fd, STDOUT_FILENO);
        if (r == 0)
                r = o->stderr_null ? posix_spawn_file_actions_addopen(fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0)
                                   : posix_spawn_file_actions_adddup2(fa, out_fd, STDERR_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_addchdir_np(fa, o->cwd ? o->cwd : "/");
        return r;
}

/* posix_spawn (a vfork, not a copy of kiln's memory): the child execs at
 * once, and kiln does not pay for copying its page tables and then
 * faulting in its own pages again. 0 with *ret_pid, or a positive errno
 * when the program could not be started. */
static int spawn(const struct proc_options *o, int out_fd, int in_fd, pid_t *ret_pid) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        int r;

        if (posix_spawn_file_actions_init(&fa) != 0)
                return ENOMEM;
        if (posix_spawnattr_init(&attr) != 0) {
                posix_spawn_file_actions_destroy(&fa);
                return ENOMEM;
        }
        r = spawn_setup(o, out_fd, in_fd, &fa, &attr);
        if (r == 0)
                r = posix_spawn(ret_pid, o->argv[0], &fa, &attr, o->argv, o->envp ? o->envp : default_env);
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&fa);
        return r;
}

struct output {
        const struct proc_options *o;
        int log_fd;
        struct strbuf line;
        struct strbuf tail;
        size_t tail_max;
};

static void output_line(struct output *out) {
        if (!out->o->quiet && out->line.len > 0)
                log_info("%s: %s", out->o->log_name ? out->o->log_name : out->o->argv[0], out->line.data);
        out->line.len = 0;
}

static void output_feed(struct output *out, const char *buf, size_t n) {
        if (out->log_fd >= 0 && write(out->log_fd, buf, n) < 0)
                log_debug_errno(negative_errno(), "Failed to write script log: %m");
        if (out->o->tee_fd > 0 && write(out->o->tee_fd, buf, n) < 0)
                log_debug_errno(negative_errno(), "Failed to write the output file: %m");
        for (size_t i = 0; i < n; i++) {
                if (buf[i] == '\n')
                        output_line(out);
                else if (out->line.len < 4096)
                        (void) strbuf_append(&out->line, buf + i, 1);
        }
        (void) strbuf_append(&out->tail, buf, n);
        if (out->tail.len > out->tail_max * 2) {
                size_t drop = out->tail.len - out->tail_max;
                memmove(out->tail.data, out->tail.data + drop, out->tail.len - drop + 1);
                out->tail.len -= drop;
        }
}

static void status_to_result(int status, struct proc_result *res) {
        if (WIFEXITED(status)) {
                res->exit_code = WEXITSTATUS(status);
                res->signal = 0;
        } else {
                res->exit_code = -1;
                res->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        }
}

/* Reads whatever is buffered in the pipe without blocking. */
static void drain(struct output *out, int fd) {
        char buf[4096];
        ssize_t n;

        if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
                return;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                output_feed(out, buf, (size_t) n);
}

/* Pumps output until the child exits, killing its group at the deadline.
 * Children it left running in the background keep running (as with a
 * cloud-init script), but are no longer waited for. */
static int pump(struct output *out, int fd, pid_t pid, long deadline, struct proc_result *res) {
        long kill_at = -1;
        bool eof = false;
        long nap_ms = 1;
        char buf[4096];
        int status;

        for (;;) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                long now = now_ms();
                ssize_t n;
                pid_t w;

                w = waitpid(pid, &status, WNOHANG);
                if (w == pid) {
                        drain(out, fd);
                        status_to_result(status, res);
                        return 0;
                }
                if (w < 0 && errno != EINTR)
                        return negative_errno();
                if (deadline > 0 && now >= deadline && kill_at < 0) {
                        res->timed_out = true;
                        kill(-pid, SIGTERM);
                        kill_at = now + KILL_GRACE_MS;
                }
                if (kill_at > 0 && now >= kill_at) {
                        kill(-pid, SIGKILL);
                        kill_at = now + 3600 * 1000L;
                }
                if (eof) {
                        /* Output closed: the child is exiting. Short naps
                         * first, so a quick program is not waited on for
                         * a whole 20 ms. */
                        struct timespec ts = {0, nap_ms * 1000000L};
                        nanosleep(&ts, NULL);
                        nap_ms = nap_ms < 20 ? nap_ms * 2 : 20;
                        continue;
                }
                if (poll(&p, 1, 50) < 0 && errno != EINTR)
                        return negative_errno();
                if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
                        continue;
                n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        eof = true;
                else
                        output_feed(out, buf, (size_t) n);
        }
}

static int feed_stdin(const struct proc_options *o, int *ret_fd) {
        int p[2];
        ssize_t n;

        *ret_fd = -1;
        if (!o->stdin_data)
                return 0;
        /* Small inputs only: the whole of it must fit the pipe buffer. */
        if (o->stdin_len > 65536)
                return -E2BIG;
        if (pipe2(p, O_CLOEXEC) < 0)
                return negative_errno();
        n = write(p[1], o->stdin_data, o->stdin_len);
        close(p[1]);
        if (n < 0 || (size_t) n != o->stdin_len) {
                close(p[0]);
                return -EIO;
        }
        *ret_fd = p[0];
        return 0;
}

int proc_run(const struct proc_options *o, struct proc_result *ret) {
        struct output out = {.o = o, .log_fd = -1, .line = STRBUF_INIT, .tail = STRBUF_INIT};
        struct proc_result res = {0};
        _cleanup_close_ int in_fd = -1;
        int pipefd[2] = {-1, -1}, r;
        long started = now_ms();
        pid_t pid;

        out.tail_max = o->capture_max ? o->capture_max : 4096;
        if (o->log_path) {
                out.log_fd = open(o->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
                if (out.log_fd < 0)
                        log_warning_errno(negative_errno(), "Failed to open %s, ignoring: %m", o->log_path);
        }
        r = feed_stdin(o, &in_fd);
        if (r < 0)
                goto out;
        if (pipe2(pipefd, O_CLOEXEC) < 0) {
                r = negative_errno();
                goto out;
        }
        r = spawn(o, pipefd[1], in_fd, &pid);
        if (r == ENOMEM || r == EAGAIN) {
                r = -r;
                goto out;
        }
        if (r != 0) {
                /* As a forked child that failed to exec would have said. */
                _cleanup_free_ char *msg = strdup_printf("%s: %s\n", o->argv[0], strerror(r));
                if (msg)
                        output_feed(&out, msg, strlen(msg));
                res.exit_code = 127;
                r = 0;
                goto done;
        }
        close(TAKE_FD(pipefd[1]));

        r = pump(&out, pipefd[0], pid, o->timeout_ms > 0 ? started + o->timeout_ms : 0, &res);
        if (r < 0) {
                kill(-pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
        }
done:
        output_line(&out);
        res.duration_ms = now_ms() - started;
        if (r >= 0) {
                size_t keep = out.tail.len > out.tail_max ? out.tail_max : out.tail.len;
                res.output = strndup(out.tail.data ? out.tail.data + out.tail.len - keep : "", keep);
                if (!res.output)
                        r = -ENOMEM;
        }
out:
        if (pipefd[0] >= 0)
                close(pipefd[0]);
        if (pipefd[1] >= 0)
                close(pipefd[1]);
        if (out.log_fd >= 0)
                close(out.log_fd);
        strbuf_done(&out.line);
        strbuf_done(&out.tail);
        if (r < 0)
                return r;
        *ret = res;
        return 0;
}

void proc_result_done(struct proc_result *r) {
        free(r->output);
        r->output = NULL;
}

int proc_run_simple(char *const *argv, long timeout_ms) {
        struct proc_options o = {.argv = argv, .timeout_ms = timeout_ms};
        struct proc_result res;
        int r;

        r = proc_run(&o, &res);
        if (r < 0)
                return r;
        r = res.exit_code == 0 ? 0 : -EIO;
        proc_result_done(&res);
        return r;
}
