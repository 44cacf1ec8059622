/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "chase.h"
#include "fileio.h"
#include "macro.h"
#include "path.h"
#include "pkg.h"
#include "proc.h"
#include "strbuf.h"

#define MAX_LINKS 32
#define TMP_TRIES 16
#define LABEL_MAX 4096

void (*chase_test_hook)(const char *step, const char *name) = NULL;
bool chase_test_no_tmpfile = false;

static void hook(const char *step, const char *name) {
        if (chase_test_hook)
                chase_test_hook(step, name);
}

/* Root, or kiln itself when it runs as someone else (`kiln put-metric`). */
static bool trusted_uid(uid_t uid) {
        return uid == 0 || uid == geteuid();
}

static bool untrusted(const struct stat *dir) {
        return !trusted_uid(dir->st_uid) || (dir->st_mode & 0022);
}

/* A link is followed when root made it where only root could put it or
 * swap it (a sticky directory lets only an entry's owner move it). */
static bool link_trusted(int dirfd, const struct stat *link) {
        struct stat st;

        return trusted_uid(link->st_uid) && fstat(dirfd, &st) >= 0 && trusted_uid(st.st_uid) &&
               (!(st.st_mode & 0022) || (st.st_mode & S_ISVTX));
}

static int read_link_at(int dirfd, const char *name, char **ret) {
        char buf[PATH_MAX];
        ssize_t n = readlinkat(dirfd, name, buf, sizeof(buf) - 1);

        if (n < 0)
                return negative_errno();
        buf[n] = 0;
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

/* The components of path, "." dropped and ".." taking one off (never
 * above the root). */
static int split_path(const char *path, char ***ret, size_t *ret_n) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        for (const char *p = path; *p;) {
                size_t k = strcspn(p, "/");
                _cleanup_free_ char *c = strndup(p, k);
                if (!c)
                        return -ENOMEM;
                if (streq(c, "..")) {
                        if (n > 0)
                                free(l[--n]), l[n] = NULL;
                } else if (k > 0 && !streq(c, ".")) {
                        int r = strv_push(&l, c);
                        if (r < 0)
                                return r;
                        n++;
                }
                p += k;
                p += *p == '/';
        }
        if (!l && !(l = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
}

/* The path to walk after the link at comps[i]: its target in place of it. */
static char *relink(char **comps, size_t i, size_t n, const char *target) {
        struct strbuf b = STRBUF_INIT;
        int r = 0;

        for (size_t j = 0; target[0] != '/' && j < i && r >= 0; j++)
                r = strbuf_printf(&b, "/%s", comps[j]);
        if (r >= 0)
                r = strbuf_printf(&b, "/%s", target);
        for (size_t j = i + 1; j < n && r >= 0; j++)
                r = strbuf_printf(&b, "/%s", comps[j]);
        if (r < 0) {
                strbuf_done(&b);
                return NULL;
        }
        return strbuf_steal(&b);
}

/* One directory down from dirfd. A link comes back as its target. */
static int step(int dirfd, const char *name, unsigned flags, int *ret_fd, char **ret_target) {
        const int oflags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
        struct stat st;
        int fd = openat(dirfd, name, oflags);

        if (fd < 0 && errno == ENOENT && (flags & CHASE_MKDIR)) {
                if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
                        return negative_errno();
                fd = openat(dirfd, name, oflags);
        }
        if (fd >= 0) {
                *ret_fd = fd;
                return 0;
        }
        if (errno != ELOOP && errno != ENOTDIR)
                return negative_errno();
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
        if (!S_ISLNK(st.st_mode))
                return -ENOTDIR;
        if (!link_trusted(dirfd, &st))
                return -ELOOP;
        return read_link_at(dirfd, name, ret_target);
}

/* The last component when it is a link that may be followed: its target. */
static int last_link(int dirfd, const char *name, char **ret_target) {
        struct stat st;

        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode))
                return 0;
        if (!link_trusted(dirfd, &st))
                return -ELOOP;
        return read_link_at(dirfd, name, ret_target);
}

/* Where a walk starts: kiln's root when path lies under it, else "/";
 * ret_rest is path below that (absolute, a relative path made so). */
static int walk_start(const char *path, const char **ret_root, char **ret_rest) {
        _cleanup_free_ char *abs = NULL;
        const char *root = root_get();
        size_t rn = strlen(root);

        if (!path || !*path)
                return -EINVAL;
        if (path[0] != '/') {
                char cwd[PATH_MAX];
                if (!getcwd(cwd, sizeof(cwd)))
                        return negative_errno();
                abs = strdup_printf("%s/%s", cwd, path);
                if (!abs)
                        return -ENOMEM;
                path = abs;
        }
        if (!streq(root, "/") && strneq(path, root, rn) && (path[rn] == '/' || path[rn] == 0))
                path += rn;
        else
                root = "/";
        *ret_rest = strdup(path);
        *ret_root = root;
        return *ret_rest ? 0 : -ENOMEM;
}

/* One walk of todo from root: the fd (and the last name, if parent), or
 * the path to walk instead when a link was met (ret_todo). */
static int walk_once(const char *root, const char *todo, unsigned flags, bool parent, int *ret_fd, char **ret_name,
                     char **ret_todo) {
        _cleanup_strv_free_ char **comps = NULL;
        _cleanup_free_ char *target = NULL;
        _cleanup_close_ int fd = -1;
        size_t n, i, last;
        int r = split_path(todo, &comps, &n);

        if (r < 0)
                return r;
        if (parent && n == 0)
                return -EISDIR;
        fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        last = parent ? n - 1 : n;
        for (i = 0; i < last && !target; i++) {
                int next = -1;
                r = step(fd, comps[i], flags, &next, &target);
                if (r < 0)
                        return r;
                if (next >= 0) {
                        close(fd);
                        fd = next;
                        hook("dir", comps[i]);
                }
        }
        if (target)
                i--;
        else if (parent && (flags & CHASE_FOLLOW_LAST) && (r = last_link(fd, comps[i], &target)) < 0)
                return r;
        if (target) {
                *ret_todo = relink(comps, i, n, target);
                return *ret_todo ? 0 : -ENOMEM;
        }
        if (parent && !(*ret_name = strdup(comps[n - 1])))
                return -ENOMEM;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int walk(const char *path, unsigned flags, bool parent, int *ret_fd, char **ret_name) {
        _cleanup_free_ char *todo = NULL;
        const char *root;
        int r = walk_start(path, &root, &todo);

        for (unsigned links = 0; r >= 0 && links <= MAX_LINKS; links++) {
                char *next = NULL;
                r = walk_once(root, todo, flags, parent, ret_fd, ret_name, &next);
                if (r < 0 || !next)
                        return r;
                free(todo);
                todo = next;
        }
        return r < 0 ? r : -ELOOP;
}

int chase_dir(const char *path, unsigned flags, int *ret_fd) {
        return walk(path, flags, false, ret_fd, NULL);
}

int chase_parent(const char *path, unsigned flags, int *ret_dirfd, char **ret_name) {
        return walk(path, flags, true, ret_dirfd, ret_name);
}

static int check_regular(const struct stat *st) {
        if (S_ISREG(st->st_mode))
                return 0;
        if (S_ISLNK(st->st_mode))
                return -ELOOP;
        return S_ISDIR(st->st_mode) ? -EISDIR : -EBADFD;
}

int chase_open_regular(int dirfd, const char *name, int flags, uid_t allowed_uid, int *ret_fd) {
        _cleanup_close_ int fd = -1;
        struct stat st, dst;
        int r;

        /* Devices are not even opened (a tape rewinds on open). */
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
        if ((r = check_regular(&st)) < 0)
                return r;
        fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0 || fstat(dirfd, &dst) < 0)
                return negative_errno();
        if ((r = check_regular(&st)) < 0)
                return r;
        /* A hard link to a file elsewhere (/etc/shadow), or someone else's
         * file moved here, is not the owner's to have read or changed. */
        if (untrusted(&dst) &&
            (st.st_nlink != 1 || (st.st_uid != 0 && st.st_uid != dst.st_uid && st.st_uid != allowed_uid)))
                return -EPERM;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int read_file_at(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -1;
        int r = chase_open_regular(dirfd, name, O_RDONLY, (uid_t) -1, &fd);

        if (r < 0)
                return r;
        return read_fd(fd, max, ret, ret_len);
}

static const char *label_xattr;
static bool label_known;

void chase_set_label_xattr(const char *name) {
        label_xattr = name;
        label_known = name != NULL;
}

const char *chase_label_xattr(void) {
        if (!label_known) {
                label_xattr = access("/sys/fs/selinux/enforce", F_OK) == 0 ? "security.selinux" : NULL;
                label_known = true;
        }
        return label_xattr;
}

bool chase_label_new_wanted(void) {
        const char *x = chase_label_xattr();

        return x && streq(x, "security.selinux") && streq(root_get(), "/");
}

int chase_label_new(int fd, const char *path, bool dir) {
        _cleanup_free_ char *prog = NULL;
        char *argv[] = {NULL, (char *) "-n", (char *) "-m", (char *) (dir ? "dir" : "file"), (char *) path, NULL};
        struct proc_options o = {.argv = argv, .log_name = "matchpathcon", .timeout_ms = 10000, .quiet = true};
        struct proc_result res = {0};
        int r;

        if (!chase_label_new_wanted())
                return 0;
        if (!pkg_have_program("matchpathcon", &prog))
                return -ENOENT;
        argv[0] = prog;
        r = proc_run(&o, &res);
        if (r < 0)
                return r;
        r = res.exit_code == 0 && *strstrip(res.output) ? 0 : -EIO;
        if (r >= 0 && fsetxattr(fd, "security.selinux", strstrip(res.output), strlen(strstrip(res.output)) + 1, 0) < 0)
                r = negative_errno();
        proc_result_done(&res);
        return r;
}

/* The replaced file's label goes onto its replacement (a file made anew
 * would get its directory's: label_path, when given, asks the policy).
 * Best effort, as cloud-init's: the file is written either way. */
static void copy_label(int dirfd, const char *name, int fd, const char *label_path) {
        const char *x = chase_label_xattr();
        _cleanup_close_ int old = -1;
        char proc[64], buf[LABEL_MAX];
        struct stat st;
        ssize_t n;

        if (!x)
                return;
        old = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (old < 0 && errno == ENOENT && label_path)
                (void) chase_label_new(fd, label_path, false);
        if (old < 0 || fstat(old, &st) < 0 || !S_ISREG(st.st_mode))
                return;
        /* fgetxattr() on an O_PATH fd is EBADF before Linux 6.x: by /proc. */
        n = fgetxattr(old, x, buf, sizeof(buf));
        if (n < 0 && errno == EBADF) {
                (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%d", old);
                n = getxattr(proc, x, buf, sizeof(buf));
        }
        if (n > 0)
                (void) fsetxattr(fd, x, buf, (size_t) n, 0);
}

/* Owner, then mode (chown clears set-id bits), both on the fd. */
static int set_owner_mode(int fd, const struct write_options *o) {
        if ((o->uid != (uid_t) -1 || o->gid != (gid_t) -1) && fchown(fd, o->uid, o->gid) < 0)
                return negative_errno();
        return fchmod(fd, o->mode & 07777) < 0 ? negative_errno() : 0;
}

static int tmp_name(const char *name, char **ret) {
        static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
        unsigned char rnd[6];
        char s[sizeof(rnd) + 1];

        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
                return -EIO;
        for (size_t i = 0; i < sizeof(rnd); i++)
                s[i] = chars[rnd[i] % (sizeof(chars) - 1)];
        s[sizeof(rnd)] = 0;
        *ret = strdup_printf("%s.kiln-%s", name, s);
        return *ret ? 0 : -ENOMEM;
}

/* An unnamed file in dirfd, or (no O_TMPFILE there) a named one, returned
 * in ret_tmp. */
static int open_tmp(int dirfd, const char *name, int *ret_fd, char **ret_tmp) {
        int fd = chase_test_no_tmpfile ? (errno = EOPNOTSUPP, -1)
                                       : openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);

        if (fd >= 0) {
                *ret_fd = fd;
                *ret_tmp = NULL;
                return 0;
        }
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                return negative_errno();
        for (unsigned i = 0; i < TMP_TRIES; i++) {
                _cleanup_free_ char *tmp = NULL;
                int r = tmp_name(name, &tmp);
                if (r < 0)
                        return r;
                fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        *ret_fd = fd;
                        *ret_tmp = TAKE_PTR(tmp);
                        return 0;
                }
                if (errno != EEXIST)
                        return negative_errno();
        }
        return -EEXIST;
}

/* Gives the O_TMPFILE fd a name in dirfd. Without CAP_DAC_READ_SEARCH
 * AT_EMPTY_PATH is refused: /proc's link to the fd does the same. */
static int link_fd(int fd, int dirfd, const char *name) {
        char proc[64];

        if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) >= 0)
                return 0;
        if (errno != ENOENT && errno != EPERM)
                return negative_errno();
        (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        return linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) < 0 ? negative_errno() : 0;
}

static int rename_in(int dirfd, const char *tmp, const char *name) {
        hook("linked", name);
        if (renameat(dirfd, tmp, dirfd, name) < 0) {
                int r = negative_errno();
                if (r != -ENOENT)
                        (void) unlinkat(dirfd, tmp, 0);
                return r;
        }
        return 0;
}

/* A new name is linked straight in (nothing is left on a crash); an
 * existing file is replaced through a temp link and a rename. The temp
 * name is fixed, "<name>.kiln-tmp", so that what a crash between the two
 * leaves is removed by the next write of the same file. Two writers of one
 * file at once: one may remove the other's temp, whose rename then finds
 * none (-ENOENT): the other's complete file is in place, as if it had come
 * last, and that is success. */
static int install_tmpfile(int fd, int dirfd, const char *name) {
        _cleanup_free_ char *tmp = NULL;
        int r = link_fd(fd, dirfd, name);

        if (r != -EEXIST)
                return r;
        tmp = strdup_printf("%s.kiln-tmp", name);
        if (!tmp)
                return -ENOMEM;
        for (unsigned i = 0; i < TMP_TRIES; i++) {
                r = link_fd(fd, dirfd, tmp);
                if (r != -EEXIST)
                        break;
                if (unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT)
                        return negative_errno();
        }
        if (r < 0)
                return r;
        r = rename_in(dirfd, tmp, name);
        return r == -ENOENT ? 0 : r;
}

static int append_at(int dirfd, const char *name, const void *data, size_t len, const struct write_options *o) {
        _cleanup_close_ int fd = -1;
        int r = chase_open_regular(dirfd, name, O_WRONLY | O_APPEND, o->uid, &fd);

        if (r >= 0)
                r = write_full(fd, data, len);
        if (r >= 0)
                r = set_owner_mode(fd, o);
        if (r >= 0 && fsync(fd) < 0)
                r = negative_errno();
        return r;
}

int write_file_at(int dirfd, const char *name, const void *data, size_t len, const struct write_options *o) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        if (o->append) {
                r = append_at(dirfd, name, data, len, o);
                if (r != -ENOENT)
                        return r;
        }
        r = open_tmp(dirfd, name, &fd, &tmp);
        if (r < 0)
                return r;
        r = write_full(fd, data, len);
        if (r >= 0)
                r = set_owner_mode(fd, o);
        if (r >= 0) {
                copy_label(dirfd, name, fd, o->label_path);
                if (fsync(fd) < 0)
                        r = negative_errno();
        }
        if (r >= 0)
                r = tmp ? rename_in(dirfd, tmp, name) : install_tmpfile(fd, dirfd, name);
        else if (tmp)
                (void) unlinkat(dirfd, tmp, 0);
        if (r < 0)
                return r;
        hook("renamed", name);
        return fsync(dirfd) < 0 ? negative_errno() : 0;
}

int chase_write_file(const char *path, unsigned flags, const void *data, size_t len, const struct write_options *o) {
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int dirfd = -1;
        struct write_options lo = *o;
        int r = chase_parent(path, flags, &dirfd, &name);

        if (!lo.label_path)
                lo.label_path = path;
        return r < 0 ? r : write_file_at(dirfd, name, data, len, &lo);
}

int chase_read_file(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int dirfd = -1;
        int r = chase_parent(path, CHASE_FOLLOW_LAST, &dirfd, &name);

        return r < 0 ? r : read_file_at(dirfd, name, max, ret, ret_len);
}
