/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "fileio.h"
#include "imds/imds.h"
#include "log.h"
#include "module.h"
#include "state.h"
#include "userdata/userdata.h"

/* Keeps a copy of what the instance was launched with, readable by root only:
 * user-data often holds secrets. */
static void save_copy(struct kiln_context *ctx, const char *data, size_t len) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = state_instance_path(ctx, "user-data", &path);
        if (r >= 0)
                r = write_file_atomic(path, data, len, 0600);
        if (r < 0)
                log_warning_errno(r, "Failed to keep a copy of the user-data, ignoring: %m");
}

/* fetch: the user-data, decoded into parts and config. None is fine. */
static int userdata_boot(struct kiln_context *ctx) {
        _cleanup_free_ char *data = NULL, *error = NULL;
        struct imds *c;
        size_t len;
        int r;

        r = imds_from_context(ctx, &c);
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to set up the IMDS client: %s", strerror(-r));
        r = imds_get(c, "user-data", &data, &len);
        if (r == -ENOENT) {
                log_info("No user-data.");
                return 0;
        }
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to fetch user-data: %s", imds_error(c));
        if (len == 0) {
                log_info("Empty user-data.");
                return 0;
        }
        save_copy(ctx, data, len);
        r = userdata_decode(ctx, data, len, &error);
        if (r < 0)
                return kiln_fail(ctx, r, "Invalid user-data: %s", error ? error : strerror(-r));
        log_info("User-data: %zu bytes, %zu part(s).", len, ctx->n_parts);
        return 0;
}

static const struct config_key userdata_keys[] = {
        {},
};

const struct kiln_module userdata_module = {
        .name = "userdata",
        .stage = STAGE_FETCH,
        .boot = userdata_boot,
        .config_keys = userdata_keys,
};
