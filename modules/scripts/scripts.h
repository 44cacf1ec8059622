/* SPDX-License-Identifier: MIT */
#pragma once

#include "context.h"
#include "proc.h"

/* The environment every script and command kiln runs gets: a fixed PATH,
 * the instance facts as KILN_*, and the AWS SDK variables kiln was given.
 * NULL-terminated; free with strv_free(). */
int scripts_environment(const struct kiln_context *ctx, char ***ret);

/* Runs one program as a recorded item of the current stage: logs its output
 * to /var/log/kiln/<log_name>.log and kiln's log, records name, exit code,
 * duration and the tail of its output. Returns 0 if it exited 0,
 * KILN_DEGRADED otherwise (recorded), or a negative errno if it could not be
 * started (also recorded). */
int scripts_run_recorded(struct kiln_context *ctx, const char *name, char *const *argv, const char *log_name,
                         enum frequency freq);
