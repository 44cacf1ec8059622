/* SPDX-License-Identifier: MIT */
#pragma once

#include "context.h"

/* State under /var/lib/kiln: the last instance-id seen, and the markers
 * that make per-instance and once work run only once:
 *   /var/lib/kiln/instance-id
 *   /var/lib/kiln/instances/<instance-id>/sem/<name>
 *   /var/lib/kiln/once/<name>
 */

int state_read_instance_id(char **ret);
int state_write_instance_id(const char *id);

/* 1 if the work named `name` should run now at frequency f, 0 if it already
 * ran, -ENXIO if f is per-instance and the instance is unknown. */
int state_should_run(const struct kiln_context *ctx, enum frequency f, const char *name);
int state_mark_done(const struct kiln_context *ctx, enum frequency f, const char *name);

/* A path under this instance's state dir: /var/lib/kiln/instances/<id>/<rel>. */
int state_instance_path(const struct kiln_context *ctx, const char *rel, char **ret);

/* Removes state so the disk can become an image (`kiln clean`). */
int state_clean(bool logs);
