/* SPDX-License-Identifier: MIT */
/* LD_PRELOAD shim for tests/e2e/files-crash.sh: SIGKILLs the process right
 * after a rename or link gives a file the name $KILN_KILL_AFTER (its last
 * component; "prefix*" matches a prefix): a crash between two steps. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void maybe_die(int r, const char *path) {
        const char *want = getenv("KILN_KILL_AFTER"), *base = strrchr(path, '/');
        size_t n = want ? strlen(want) : 0;

        base = base ? base + 1 : path;
        if (r != 0 || n == 0)
                return;
        if (want[n - 1] == '*' ? strncmp(base, want, n - 1) == 0 : strcmp(base, want) == 0)
                kill(getpid(), SIGKILL);
}

int rename(const char *from, const char *to) {
        int (*real)(const char *, const char *) = (int (*)(const char *, const char *)) dlsym(RTLD_NEXT, "rename");
        int r = real(from, to);

        maybe_die(r, to);
        return r;
}

int renameat(int fd1, const char *from, int fd2, const char *to) {
        int (*real)(int, const char *, int, const char *) =
                (int (*)(int, const char *, int, const char *)) dlsym(RTLD_NEXT, "renameat");
        int r = real(fd1, from, fd2, to);

        maybe_die(r, to);
        return r;
}

int linkat(int fd1, const char *from, int fd2, const char *to, int flags) {
        int (*real)(int, const char *, int, const char *, int) =
                (int (*)(int, const char *, int, const char *, int)) dlsym(RTLD_NEXT, "linkat");
        int r = real(fd1, from, fd2, to, flags);

        maybe_die(r, to);
        return r;
}
