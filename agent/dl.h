/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "macro.h"

/* Shared libraries kiln loads only when it needs them (libcurl, OpenSSL):
 * a table of function pointers, filled by name. */

struct dl_symbol {
        const char *name;
        size_t offset; /* of the pointer in the table */
};

/* dlopen()s soname and stores each symbol's address in table. On failure
 * nothing stays loaded, and *ret_error (static storage) says what failed. */
int dl_load(const char *soname, const struct dl_symbol *symbols, size_t n, void *table, void **ret_handle,
            const char **ret_error);

/* For a call through a table no load came before: logs error and aborts,
 * as a missing linked library would have stopped kiln at start-up. */
_noreturn_ void dl_load_failed(const char *error);
