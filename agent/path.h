/* SPDX-License-Identifier: MIT */
#pragma once

/* Every path kiln reads or writes lives under one root: --root DIR, or
 * $KILN_ROOT, or "/". Paths below are given as on a real instance
 * ("/var/lib/kiln/...") and mapped here. */

int root_set(const char *root);
const char *root_get(void);

/* A test hook from the environment (KILN_PKG_COMMAND, KILN_HTTP_CURL): its
 * value under --root DIR, where kiln works on a tree of files; NULL on a
 * real root ("/"), where whoever sets kiln's environment must not swap
 * the package manager or the HTTP transport (a warning says so, once). */
const char *root_test_hook(const char *name);

/* "/etc/kiln/kiln.yaml" -> "<root>/etc/kiln/kiln.yaml", formatted. */
int root_path(char **ret, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define KILN_STATE_DIR "/var/lib/kiln"
#define KILN_RUN_DIR "/run/kiln"
#define KILN_LOG_DIR "/var/log/kiln"
#define KILN_CONFIG_FILE "/etc/kiln/kiln.yaml"
#define KILN_CONFIG_DIR "/etc/kiln/kiln.d"
