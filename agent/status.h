/* SPDX-License-Identifier: MIT */
#pragma once

#include "context.h"
#include "module.h"

/* /run/kiln/status.json: what the boot did, stage by stage.
 *   {"result": "running"|"done"|"degraded"|"error", "instance_id": ...,
 *    "boot_id": ..., "pid": N, "pid_start": N, "pid_ns": "pid:[N]",
 *    "started": ISO8601, "finished": ..., "duration_ms": N,
 *    "stages": [{"name", "result": "ok"|"degraded"|"failed"|"skipped",
 *                "duration_ms", "errors": [...], "items": [...]}]}
 * Every user may read it. The items' "output" (the tail of what a script
 * printed) is only in /run/kiln/status-private.json (0600), which is
 * otherwise the same. */

int status_begin(struct kiln_context *ctx);
void status_stage_begin(struct kiln_context *ctx, enum kiln_stage s);
void status_stage_end(struct kiln_context *ctx, int r);
int status_finish(struct kiln_context *ctx);
int status_write(const struct kiln_context *ctx);

/* "done" -> 0, "degraded" -> 2, "error" -> 1, anything else -> -1. */
int status_exit_code(const char *result);
/* The status as the caller may see it: with the output tails when it can
 * read the private file (root) and that agrees with status.json. A
 * "running" status whose boot process is gone (pid_start or boot_id no
 * longer match) comes back as "error", with "error" saying so. */
int status_load(json_t **ret);
/* Prints status for a person. */
void status_print(const json_t *status, FILE *f);
