/* SPDX-License-Identifier: MIT */
#pragma once

#include "context.h"

/* Loads the baked config into ctx->config. Problems are logged; a broken
 * baked config leaves an empty one and returns the error. */
int boot_load_config(struct kiln_context *ctx);

/* Runs the boot pipeline: identify, fetch, configure, apply. Every stage
 * runs and is recorded in status.json; returns 0 done, 1 error, 2 degraded
 * (the exit code of `kiln boot`). */
int boot_run(struct kiln_context *ctx);

/* Re-merges the baked config with the user-data's and validates it. */
int boot_configure(struct kiln_context *ctx);
