/* SPDX-License-Identifier: MIT */
#pragma once

/* Walking paths as root without following what another user planted
 * (systemd's chase()/openat discipline). Every file kiln writes goes
 * through here (agent/fileio.c's write_file_atomic() too).
 *
 * A path is walked from the root (--root DIR, or "/") one component at a
 * time with openat(O_NOFOLLOW|O_DIRECTORY). A symbolic link is followed
 * only when root owns it and the directory it sits in is root's and not
 * writable by others (or sticky): /var/run -> /run is followed, a link a
 * user made in a home directory is never (-ELOOP). Targets resolve under
 * the root; ".." in them is resolved by name. A relative path is taken
 * from the working directory.
 *
 * Files are written into the directory fd: an O_TMPFILE (a named temp,
 * O_CREAT|O_EXCL|O_NOFOLLOW, where the file system has none), written,
 * fchown()ed and fchmod()ed, fsync()ed, then linked in and renamed over the
 * target. Nothing is chown()ed or chmod()ed by path. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum {
        CHASE_MKDIR = 1 << 0, /* create missing directories (0755, root's) */
        CHASE_FOLLOW_LAST = 1 << 1, /* the last component may be a (trusted) link too */
};

/* Opens the directory path names (all of it). */
int chase_dir(const char *path, unsigned flags, int *ret_fd);
/* Opens the directory that holds path's last component; ret_name is that
 * component. */
int chase_parent(const char *path, unsigned flags, int *ret_dirfd, char **ret_name);

/* Opens an existing file in dirfd for reading (or appending, with
 * O_WRONLY|O_APPEND in flags): O_NOFOLLOW|O_NONBLOCK|O_NOCTTY, and it must
 * be a regular file (-ELOOP for a link, -EISDIR, -EBADFD for a FIFO, socket
 * or device). In an untrusted directory the file must also have one link
 * and belong to root, the directory's owner or allowed_uid (-EPERM). */
int chase_open_regular(int dirfd, const char *name, int flags, uid_t allowed_uid, int *ret_fd);

struct write_options {
        mode_t mode;
        uid_t uid; /* (uid_t) -1: kiln's own */
        gid_t gid; /* (gid_t) -1: kiln's own */
        bool append;
        /* The path as on the instance ("/home/a/.ssh/authorized_keys"): a
         * new file gets the SELinux label policy gives it (chase_label_new()).
         * chase_write_file() sets it. */
        const char *label_path;
};

/* Writes data to name in dirfd atomically, owner and mode set on the fd
 * before it is linked in. append: adds to an existing file instead (opened
 * as chase_open_regular() does), or writes a new one. */
int write_file_at(int dirfd, const char *name, const void *data, size_t len, const struct write_options *o);
/* Reads name in dirfd (chase_open_regular()), at most max bytes. */
int read_file_at(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len);

/* The same by path: chase_parent() (flags: CHASE_MKDIR makes the parents),
 * then write_file_at() or read_file_at(). */
int chase_write_file(const char *path, unsigned flags, const void *data, size_t len, const struct write_options *o);
int chase_read_file(const char *path, size_t max, char **ret, size_t *ret_len);

/* The extended attribute that carries a file's security label: copied from
 * the file replaced onto its replacement. "security.selinux" when SELinux
 * is enabled (/sys/fs/selinux/enforce exists), else none; tests set a
 * "user." stand-in. NULL restores the default. */
void chase_set_label_xattr(const char *name);
const char *chase_label_xattr(void);

/* Whether new files are labelled by SELinux policy: SELinux is enabled and
 * kiln's root is "/" (the policy is the machine's, not a --root's). */
bool chase_label_new_wanted(void);
/* Sets the label SELinux policy gives path (as on the instance; a
 * directory if dir) on fd, asking `matchpathcon` (libselinux is not
 * linked): for a file or directory that did not exist, where the kernel
 * would give its parent's (~/.ssh must be ssh_home_t, not user_home_t, or
 * sshd cannot read it). 0 without anything done when not wanted. */
int chase_label_new(int fd, const char *path, bool dir);

/* Called by tests between the steps of a write ("linked", "renamed") and
 * after each directory of a walk is opened ("dir"), to swap things under
 * kiln's feet. NULL in kiln. */
extern void (*chase_test_hook)(const char *step, const char *name);
/* Tests: write as on a file system without O_TMPFILE. */
extern bool chase_test_no_tmpfile;
