/* SPDX-License-Identifier: MIT */
#pragma once

/* Every path kiln reads or writes lives under one root: --root DIR, or
 * $KILN_ROOT, or "/". Paths below are given as on a real instance
 * ("/var/lib/kiln/...") and mapped here. */

int root_set(const char *root);
const char *root_get(void);

/* "/etc/kiln/kiln.yaml" -> "<root>/etc/kiln/kiln.yaml", formatted. */
int root_path(char **ret, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define KILN_STATE_DIR "/var/lib/kiln"
#define KILN_RUN_DIR "/run/kiln"
#define KILN_LOG_DIR "/var/log/kiln"
#define KILN_CONFIG_FILE "/etc/kiln/kiln.yaml"
#define KILN_CONFIG_DIR "/etc/kiln/kiln.d"
