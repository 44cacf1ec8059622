/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>

#include "macro.h"

/* The instance's console: what `aws ec2 get-console-output` shows, and how
 * people debug an instance they cannot reach. kiln writes there what
 * cloud-init writes: the SSH host keys between cloud-init's markers (tools
 * parse them), each failed step and one final line.
 *
 * With root "/" that is /dev/console. Under --root (tests, demos) it is the
 * file $KILN_CONSOLE, appended to, when that is set, else nothing: a test
 * never writes to the machine's own console. */

/* Appends text as it is. 0, -ENODEV when there is no console to write to,
 * or a negative errno. */
int console_write(const char *text);
int console_printf(const char *fmt, ...) _printf_(1, 2);

/* cloud-init's final_message template rendered (its templater): "basic"
 * replaces $name and ${name}, a first line "## template: jinja" allows
 * {{ name }} (and only that: any other Jinja is refused). Names: uptime,
 * timestamp, version, datasource, and the same in capitals; an unknown
 * $name is an error (cloud-init's KeyError), an unknown {{ name }} renders
 * as CI_MISSING_JINJA_VAR/name as with cloud-init. -EINVAL with *ret_error
 * set when it cannot be rendered. */
struct final_message_values {
        const char *uptime, *timestamp, *version, *datasource;
};
int console_render_final_message(const char *tmpl, const struct final_message_values *v, char **ret,
                                 const char **ret_error);

/* The failed steps of a boot and its final line, from status.json's tree:
 *   kiln: apply: degraded: user-data exited with status 7
 *   kiln v. 1.0 finished at Mon, 07 Dec 2026 17:30:00 +0000. Result: degraded in 1234 ms. Up 23.45 seconds.
 * and, when final_message is set, it rendered, on a line of its own.
 * *ret_error: why final_message could not be rendered (then it is not
 * written; the rest is). */
int console_boot_summary(const json_t *status, const char *final_message, const char **ret_error);
