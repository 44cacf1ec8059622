/* SPDX-License-Identifier: MIT */
#pragma once

#include "context.h"
#include "module.h"

/* /run/kiln/status.json: what the boot did, stage by stage.
 *   {"result": "running"|"done"|"degraded"|"error", "instance_id": ...,
 *    "boot_id": ..., "started": ISO8601, "finished": ..., "duration_ms": N,
 *    "stages": [{"name", "result": "ok"|"degraded"|"failed"|"skipped",
 *                "duration_ms", "errors": [...], "items": [...]}]} */

int status_begin(struct kiln_context *ctx);
void status_stage_begin(struct kiln_context *ctx, enum kiln_stage s);
void status_stage_end(struct kiln_context *ctx, int r);
int status_finish(struct kiln_context *ctx);
int status_write(const struct kiln_context *ctx);

/* "done" -> 0, "degraded" -> 2, "error" -> 1, anything else -> -1. */
int status_exit_code(const char *result);
int status_load(json_t **ret);
/* Prints status for a person. */
void status_print(const json_t *status, FILE *f);
