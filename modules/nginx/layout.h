/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "macro.h"

/* Where nginx's site files live, and which of them are kiln's.
 *   Debian/Ubuntu:       sites-available/NAME, linked from sites-enabled/NAME
 *   Amazon Linux/RHEL:   conf.d/NAME.conf
 * The layout is told by the directories next to the main config. */

enum nginx_layout {
        LAYOUT_DEBIAN,
        LAYOUT_RHEL,
};

struct nginx_paths {
        enum nginx_layout layout;
        char *conf; /* the main config file */
        char *conf_dir; /* its directory: relative includes start here */
        char *site_dir; /* where kiln's files are: sites-available or conf.d */
        char *include_dir; /* what the main config includes: sites-enabled or conf.d */
        char *staging; /* <conf_dir>/.kiln-staged: `nginx -t` reads <staging>-K for include_dir */
        char *test_conf; /* <conf_dir>/.kiln-test.conf: the main config, pointed at the staged files */
};

int layout_detect(const char *conf, struct nginx_paths *ret);
void layout_done(struct nginx_paths *p);
const char *layout_name(enum nginx_layout l);

/* "NAME" (Debian) or "NAME.conf" (RHEL). */
char *layout_file_name(const struct nginx_paths *p, const char *name);
/* The unit name of a file name in site_dir, NULL if not one of that layout's. */
char *layout_unit_name(const struct nginx_paths *p, const char *file);

/* 1 when path is a regular file whose first line is kiln's marker, 0 when
 * it is something else, -ENOENT when absent. */
int layout_file_is_kilns(const char *path);
/* The same, reading the whole file (at most max bytes) into *ret when it
 * is kiln's: one open for both. */
int layout_read_kilns(const char *path, size_t max, char **ret);
/* For Debian: 1 when include_dir/NAME is a link to site_dir/NAME, 0 if it
 * is something else, -ENOENT when absent. */
int layout_link_is_kilns(const struct nginx_paths *p, const char *name);
/* Every unit kiln owns now (sorted names), leaving out without a look
 * those for which known() is true (NULL: none). */
int layout_list_owned(const struct nginx_paths *p, bool (*known)(const char *unit, void *data), void *data,
                      char ***ret);

/* Copies the main config text, changing every `include` whose directory is
 * from_dir to read the file "<staged>-K" instead, K counting the distinct
 * file patterns from 1; *ret_patterns lists them ("*" for Debian's
 * sites-enabled, "*.conf" for RHEL's conf.d). Returns the number of
 * includes changed (0: the main config does not include from_dir at all). */
int conf_redirect_include(const char *text, const char *conf_dir, const char *from_dir, const char *staged, char **ret,
                          char ***ret_patterns);
