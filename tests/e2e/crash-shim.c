/* SPDX-License-Identifier: MIT */
/* An LD_PRELOAD shim for tests/e2e/crash-points.sh: counts the calls by
 * which a process changes what outlives it (data written to regular files,
 * renames, links, unlinks, syncs, truncations, mode and owner changes, and
 * signals sent) and kills the process with SIGKILL just before the Nth one:
 * what is on disk then is what a kill -9 at that point leaves.
 *
 *   KILN_CRASH_AT=N       SIGKILL before the Nth point (unset or 0: count only)
 *   KILN_CRASH_TRACE=FILE append "N call details" for each point reached
 *                         (in crash mode, the last line is where it died)
 *   KILN_CRASH_STRIP=DIR  paths under DIR are shown without it in the trace
 *   KILN_CRASH_COUNT=1    print "crash-shim: N points" on stderr at exit
 *
 * Only the process that loaded the shim counts: it takes LD_PRELOAD out of
 * the environment, so the programs kiln runs (nginx -t, scripts, useradd)
 * start without it, and a fork does not count. Writes to fds 0-2 (the log)
 * and to anything but a regular file (pipes, sockets) are not points, nor is
 * signal 0 (a probe). Calls inside the C library (stdio's writes) are not
 * seen. Built by the test, never installed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long crash_at;
static long points;
static int trace_fd = -1;
static pid_t owner;
static bool print_count;
static char strip[PATH_MAX];
static size_t strip_len;

/* The next definition of a symbol: the C library's, or the sanitizer's
 * interceptor's when that comes first. */
static void *next(const char *name) {
        void *p = dlsym(RTLD_NEXT, name);

        if (!p)
                abort();
        return p;
}

#define REAL(name)                            \
        static __typeof__(&name) real_##name; \
        if (!real_##name)                     \
        real_##name = (__typeof__(&name)) next(#name)

static long (*next_syscall)(long, ...);
static ssize_t (*trace_write)(int, const void *, size_t);

static void trace_out(const char *s, size_t len) {
        if (!trace_write)
                trace_write = (ssize_t(*)(int, const void *, size_t)) next("write");
        while (trace_fd >= 0 && len > 0) {
                ssize_t n = trace_write(trace_fd, s, len);
                if (n <= 0)
                        return;
                s += n;
                len -= (size_t) n;
        }
}

static const char *shown(const char *path) {
        if (path && strip_len > 0 && strncmp(path, strip, strip_len) == 0 && path[strip_len] == '/')
                return path + strip_len;
        return path ? path : "(null)";
}

static void fd_path(int fd, char *buf, size_t size) {
        char link[64];
        ssize_t n;

        if (fd == AT_FDCWD) {
                snprintf(buf, size, ".");
                return;
        }
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, buf, size - 1);
        if (n < 0)
                snprintf(buf, size, "fd%d", fd);
        else
                buf[n] = 0;
}

/* A path relative to dirfd, as one string for the trace. */
static void at_path(int dirfd, const char *path, char *buf, size_t size) {
        char dir[PATH_MAX];

        if (!path || path[0] == '/' || dirfd == AT_FDCWD) {
                snprintf(buf, size, "%s", shown(path));
                return;
        }
        fd_path(dirfd, dir, sizeof(dir));
        snprintf(buf, size, "%s/%s", shown(dir), path);
}

static void point(const char *call, const char *a, const char *b) {
        char line[2 * PATH_MAX + 128];
        long n;
        int len;

        if (getpid() != owner)
                return;
        n = __atomic_add_fetch(&points, 1, __ATOMIC_SEQ_CST);
        len = snprintf(line, sizeof(line), "%ld %s %s%s%s\n", n, call, a ? a : "", b ? " -> " : "", b ? b : "");
        if (len > 0)
                trace_out(line, (size_t) len < sizeof(line) ? (size_t) len : sizeof(line) - 1);
        if (n == crash_at) {
                if (!next_syscall)
                        next_syscall = (long (*)(long, ...)) next("syscall");
                next_syscall(SYS_kill, (long) owner, (long) SIGKILL);
                for (;;)
                        pause();
        }
}

static void fd_point(const char *call, int fd) {
        char path[PATH_MAX];

        fd_path(fd, path, sizeof(path));
        point(call, shown(path), NULL);
}

/* Data that reaches a regular file, not the log or a socket. */
static void write_point(const char *call, int fd) {
        struct stat st;

        if (fd <= 2 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return;
        fd_point(call, fd);
}

static void at_point(const char *call, int dirfd, const char *path, int dirfd2, const char *path2) {
        char a[PATH_MAX], b[PATH_MAX];

        at_path(dirfd, path, a, sizeof(a));
        if (path2)
                at_path(dirfd2, path2, b, sizeof(b));
        point(call, a, path2 ? b : NULL);
}

static void signal_point(const char *call, long pid, int sig) {
        char a[64];

        if (sig == 0)
                return;
        snprintf(a, sizeof(a), "%ld %s", pid, sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
        point(call, a, NULL);
}

__attribute__((constructor)) static void shim_init(void) {
        const char *s;

        owner = getpid();
        s = getenv("KILN_CRASH_AT");
        crash_at = s ? strtol(s, NULL, 10) : 0;
        s = getenv("KILN_CRASH_TRACE");
        if (s && *s)
                trace_fd = open(s, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        s = getenv("KILN_CRASH_STRIP");
        if (s && strlen(s) < sizeof(strip)) {
                strip_len = strlen(s);
                memcpy(strip, s, strip_len);
        }
        s = getenv("KILN_CRASH_COUNT");
        print_count = s && *s && *s != '0';
        unsetenv("LD_PRELOAD");
}

__attribute__((destructor)) static void shim_done(void) {
        char line[64];
        int len;

        if (!print_count || getpid() != owner)
                return;
        len = snprintf(line, sizeof(line), "crash-shim: %ld points\n", points);
        if (!trace_write)
                trace_write = (ssize_t(*)(int, const void *, size_t)) next("write");
        if (len > 0)
                (void) !trace_write(STDERR_FILENO, line, (size_t) len);
}

/* --- data --- */

ssize_t write(int fd, const void *buf, size_t len) {
        REAL(write);
        write_point("write", fd);
        return real_write(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off) {
        REAL(pwrite);
        write_point("pwrite", fd);
        return real_pwrite(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off) {
        REAL(pwrite64);
        write_point("pwrite", fd);
        return real_pwrite64(fd, buf, len, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n) {
        REAL(writev);
        write_point("writev", fd);
        return real_writev(fd, iov, n);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off) {
        REAL(pwritev);
        write_point("pwritev", fd);
        return real_pwritev(fd, iov, n, off);
}

int ftruncate(int fd, off_t len) {
        REAL(ftruncate);
        fd_point("ftruncate", fd);
        return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len) {
        REAL(ftruncate64);
        fd_point("ftruncate", fd);
        return real_ftruncate64(fd, len);
}

int truncate(const char *path, off_t len) {
        REAL(truncate);
        point("truncate", shown(path), NULL);
        return real_truncate(path, len);
}

int fsync(int fd) {
        REAL(fsync);
        fd_point("fsync", fd);
        return real_fsync(fd);
}

int fdatasync(int fd) {
        REAL(fdatasync);
        fd_point("fdatasync", fd);
        return real_fdatasync(fd);
}

int syncfs(int fd) {
        REAL(syncfs);
        fd_point("syncfs", fd);
        return real_syncfs(fd);
}

/* --- names --- */

int rename(const char *from, const char *to) {
        REAL(rename);
        at_point("rename", AT_FDCWD, from, AT_FDCWD, to);
        return real_rename(from, to);
}

int renameat(int fd1, const char *from, int fd2, const char *to) {
        REAL(renameat);
        at_point("renameat", fd1, from, fd2, to);
        return real_renameat(fd1, from, fd2, to);
}

int renameat2(int fd1, const char *from, int fd2, const char *to, unsigned flags) {
        REAL(renameat2);
        at_point("renameat2", fd1, from, fd2, to);
        return real_renameat2(fd1, from, fd2, to, flags);
}

int link(const char *from, const char *to) {
        REAL(link);
        at_point("link", AT_FDCWD, from, AT_FDCWD, to);
        return real_link(from, to);
}

int linkat(int fd1, const char *from, int fd2, const char *to, int flags) {
        REAL(linkat);
        if (flags & AT_EMPTY_PATH) {
                char a[PATH_MAX];
                fd_path(fd1, a, sizeof(a));
                at_point("linkat", AT_FDCWD, shown(a), fd2, to);
        } else
                at_point("linkat", fd1, from, fd2, to);
        return real_linkat(fd1, from, fd2, to, flags);
}

int symlink(const char *target, const char *path) {
        REAL(symlink);
        at_point("symlink", AT_FDCWD, path, AT_FDCWD, target);
        return real_symlink(target, path);
}

int symlinkat(const char *target, int fd, const char *path) {
        REAL(symlinkat);
        at_point("symlinkat", fd, path, AT_FDCWD, target);
        return real_symlinkat(target, fd, path);
}

int unlink(const char *path) {
        REAL(unlink);
        at_point("unlink", AT_FDCWD, path, AT_FDCWD, NULL);
        return real_unlink(path);
}

int unlinkat(int fd, const char *path, int flags) {
        REAL(unlinkat);
        at_point("unlinkat", fd, path, AT_FDCWD, NULL);
        return real_unlinkat(fd, path, flags);
}

int rmdir(const char *path) {
        REAL(rmdir);
        at_point("rmdir", AT_FDCWD, path, AT_FDCWD, NULL);
        return real_rmdir(path);
}

/* --- modes and owners --- */

int chmod(const char *path, mode_t mode) {
        REAL(chmod);
        at_point("chmod", AT_FDCWD, path, AT_FDCWD, NULL);
        return real_chmod(path, mode);
}

int fchmod(int fd, mode_t mode) {
        REAL(fchmod);
        fd_point("fchmod", fd);
        return real_fchmod(fd, mode);
}

int fchmodat(int fd, const char *path, mode_t mode, int flags) {
        REAL(fchmodat);
        at_point("fchmodat", fd, path, AT_FDCWD, NULL);
        return real_fchmodat(fd, path, mode, flags);
}

int chown(const char *path, uid_t uid, gid_t gid) {
        REAL(chown);
        at_point("chown", AT_FDCWD, path, AT_FDCWD, NULL);
        return real_chown(path, uid, gid);
}

int lchown(const char *path, uid_t uid, gid_t gid) {
        REAL(lchown);
        at_point("lchown", AT_FDCWD, path, AT_FDCWD, NULL);
        return real_lchown(path, uid, gid);
}

int fchown(int fd, uid_t uid, gid_t gid) {
        REAL(fchown);
        fd_point("fchown", fd);
        return real_fchown(fd, uid, gid);
}

int fchownat(int fd, const char *path, uid_t uid, gid_t gid, int flags) {
        REAL(fchownat);
        if ((flags & AT_EMPTY_PATH) && !*path)
                fd_point("fchownat", fd);
        else
                at_point("fchownat", fd, path, AT_FDCWD, NULL);
        return real_fchownat(fd, path, uid, gid, flags);
}

/* --- signals --- */

int kill(pid_t pid, int sig) {
        REAL(kill);
        signal_point("kill", (long) pid, sig);
        return real_kill(pid, sig);
}

int pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned flags) {
        REAL(pidfd_send_signal);
        signal_point("pidfd_send_signal", (long) pidfd, sig);
        return real_pidfd_send_signal(pidfd, sig, info, flags);
}

/* The same calls made through syscall(2), as code does where the C library
 * has no wrapper yet. Six arguments are passed on whatever the call takes,
 * as the C library's own syscall() does. */
long syscall(long nr, ...) {
        long a[6];
        va_list ap;

        if (!next_syscall)
                next_syscall = (long (*)(long, ...)) next("syscall");
        va_start(ap, nr);
        for (int i = 0; i < 6; i++)
                a[i] = va_arg(ap, long);
        va_end(ap);
        switch (nr) {
        case SYS_pidfd_send_signal: signal_point("pidfd_send_signal", a[0], (int) a[1]); break;
        case SYS_kill: signal_point("kill", a[0], (int) a[1]); break;
        case SYS_renameat2:
                at_point("renameat2", (int) a[0], (const char *) a[1], (int) a[2], (const char *) a[3]);
                break;
        case SYS_linkat: at_point("linkat", (int) a[0], (const char *) a[1], (int) a[2], (const char *) a[3]); break;
        case SYS_unlinkat: at_point("unlinkat", (int) a[0], (const char *) a[1], AT_FDCWD, NULL); break;
        case SYS_fsync: fd_point("fsync", (int) a[0]); break;
        case SYS_fdatasync: fd_point("fdatasync", (int) a[0]); break;
        case SYS_ftruncate: fd_point("ftruncate", (int) a[0]); break;
        case SYS_write:
        case SYS_pwrite64: write_point("write", (int) a[0]); break;
        default: break;
        }
        return next_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
