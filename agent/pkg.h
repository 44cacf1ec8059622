/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

/* The system's package manager, detected once: apt-get on Debian/Ubuntu,
 * dnf or yum on Amazon Linux/RHEL. Installs run non-interactively, with
 * retries (mirrors and locks fail transiently at boot). Only when kiln runs
 * on the real root: under --root DIR nothing is installed and -EROFS is
 * returned, unless KILN_PKG_COMMAND names a program to run instead (tests;
 * ignored on the real root, see root_test_hook()). */

enum pkg_manager {
        PKG_NONE,
        PKG_APT,
        PKG_DNF,
        PKG_YUM,
};

enum pkg_manager pkg_detect(void);
const char *pkg_manager_name(enum pkg_manager m);

/* Refreshes the package index (apt-get update / dnf makecache). */
int pkg_update(void);
int pkg_upgrade(void);
/* Installs names (NULL-terminated); already installed is fine. */
int pkg_install(char *const *names);
/* Whether a program is on the standard PATH. */
bool pkg_have_program(const char *name, char **ret_path);
