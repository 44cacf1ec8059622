/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/* gzip streams (RFC 1952), through zlib loaded on first use: most kiln
 * processes, an nginx apply or a queued metric, never compress anything,
 * and a linked libz would cost each of them its loading at start-up.
 *
 * Both return -ENOPKG when libz.so.1 cannot be loaded (gzip_error() then
 * says why), -ENOMEM, or as given below. */

/* *ret = data gzipped at zlib's fastest level. */
int gzip_compress(const void *data, size_t len, struct strbuf *ret);

/* *ret = the first gzip member of data, inflated: -EBADMSG when it is
 * corrupt or ends early, -EFBIG when it inflates to more than max bytes. */
int gzip_decompress(const void *data, size_t len, size_t max, struct strbuf *ret);

/* Whether data starts as a gzip member does (its two magic bytes). */
bool gzip_looks(const void *data, size_t len);

/* Why libz could not be loaded, after -ENOPKG (static storage). */
const char *gzip_error(void);
