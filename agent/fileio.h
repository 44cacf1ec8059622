/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Writes data to path atomically: a temp file in the same directory, fsync,
 * rename, fsync of the directory. Parents are created (0755). The file is
 * created 0600 and gets mode on its fd before it has a name. The path is
 * walked as agent/chase.h says: links only where root made them. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Writes all of data to fd, going on after short writes and EINTR. */
int write_full(int fd, const void *data, size_t len);

/* Reads a whole file, at most max bytes (-EFBIG beyond). The result is
 * NUL-terminated; ret_len may be NULL. -ENOENT if absent. */
int read_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* The same from an open file, read to its end. */
int read_fd(int fd, size_t max, char **ret, size_t *ret_len);

int mkdir_p(const char *path, mode_t mode);
int mkdir_parents(const char *path, mode_t mode);
/* Removes a tree; absent is fine. Does not cross into other mounts' files by
 * following symlinks (links are removed, never followed). */
int rm_rf(const char *path);
int file_exists(const char *path);
