/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "context.h"

#define USERDATA_MAX_SIZE (16u * 1024 * 1024)

/* Decodes raw user-data into ctx->parts and ctx->userdata_config: gzip,
 * base64, MIME multipart, #! scripts, #kiln-config and #cloud-config. An
 * error names what was wrong and where; *ret_error is set then. */
int userdata_decode(struct kiln_context *ctx, const char *data, size_t len, char **ret_error);
