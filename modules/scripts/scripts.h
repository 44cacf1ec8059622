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

/* Runs a user-data part (a script, a boothook) at its frequency: written
 * to the instance's state dir, executed itself (as cloud-init does: the
 * decoder keeps only parts with a #! line), recorded. 0 when it ran fine
 * or was not due. */
int scripts_run_part(struct kiln_context *ctx, const struct userdata_part *p, const char *log_name);

/* Runs one planned command (see system_plan_commands()) at its frequency,
 * recorded on its own. */
int scripts_run_command(struct kiln_context *ctx, const json_t *item, const char *log_name);
