/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>

#include "context.h"

/* nginx sites from the config (`sites:`, `nginx:`), for the other modules. */

/* Renders every site, checks the new set with `nginx -t` on a staging tree,
 * swaps it in, reloads nginx and checks the reload took; on any failure the
 * previous files are put back and nginx keeps serving them. Cheap and
 * without a reload when nothing changed, so it can be called whenever a
 * certificate changes. Returns 0, KILN_DEGRADED (some site could not be
 * applied as asked), or a negative errno; problems are recorded. */
int nginx_apply(struct kiln_context *ctx);

/* The same, handing the caller what status.json would record (timings,
 * sites, result) instead of recording it. *ret_record may be NULL. */
int nginx_apply_record(struct kiln_context *ctx, json_t **ret_record);

/* Reloads nginx as it is (systemctl or the master's SIGHUP) and checks the
 * reload took. */
int nginx_reload(struct kiln_context *ctx);

/* Checks `sites:` and `nginx:` beyond their types: names, domains,
 * upstreams, paths, header values. Returns the number of problems, each a
 * message naming its key ("sites[0].upstream: ..."), in *ret_errors. */
int nginx_validate_config(const json_t *config, char ***ret_errors);
