/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fileio.h"
#include "imds/imds.h"
#include "log.h"
#include "module.h"
#include "state.h"
#include "strbuf.h"
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

const char *userdata_ca_file(const json_t *config) {
        const char *env = getenv("KILN_CA_FILE");
        return env && *env ? env : config_string(config, "userdata.ca_file", NULL);
}

/* Hands the decoded parts and config to the context; records every problem. */
static int take(struct kiln_context *ctx, struct userdata *u) {
        int result = 0, r;

        for (size_t i = 0; i < u->n_parts; i++) {
                const struct userdata_part *p = &u->parts[i];
                r = context_add_part(ctx, p->type, p->filename, p->content, p->len, p->freq);
                if (r < 0)
                        return kiln_fail(ctx, r, "Out of memory keeping the user-data parts.");
        }
        if (config_merge(ctx->userdata_config, u->config) < 0)
                return kiln_fail(ctx, -ENOMEM, "Out of memory merging the user-data config.");
        config_set_userdata_positions(u->positions);
        for (char **p = u->dropped; p && *p; p++)
                log_info("%s", *p);
        for (char **i = u->ignored; i && *i; i++)
                log_info("cloud-config: %s accepted and ignored, as cloud-init on EC2 would.", *i);
        for (char **w = u->warnings; w && *w; w++)
                result = kiln_degrade(ctx, "%s", *w);
        for (char **e = u->errors; e && *e; e++)
                result = kiln_fail(ctx, -EINVAL, "%s", *e);
        return result;
}

/* One line on what the user-data holds, with its problems counted as
 * `kiln validate` counts them: decoding's and its config's (which the
 * configure stage reports, merged with the baked config). */
static void log_summary(const struct userdata *u, size_t len) {
        _cleanup_strv_free_ char **warnings = NULL, **errors = NULL;

        (void) config_validate_at(u->config, u->positions, &warnings, &errors);
        log_info("User-data: %zu bytes, %zu part(s) to run, %zu config key(s), %zu error(s), %zu warning(s).", len,
                 u->n_parts, json_object_size(u->config), strv_length(u->errors) + strv_length(errors),
                 strv_length(u->warnings) + strv_length(warnings));
}

/* The context's IMDS client, or NULL with *ret_problem saying why. */
static struct imds *context_imds(struct kiln_context *ctx, char **ret_problem) {
        struct imds *c;
        int r = imds_from_context(ctx, &c);

        *ret_problem = r < 0 ? strdup_printf("no IMDS client: %s", strerror(-r)) : NULL;
        return r < 0 ? NULL : c;
}

/* The instance data for jinja templates, crawled from IMDS when the
 * first template is met. */
static json_t *instance_data(void *userdata, char **ret_problem) {
        struct imds *c = context_imds(userdata, ret_problem);

        return c ? userdata_instance_data_from_imds(c, ret_problem) : NULL;
}

/* This instance's ami-launch-index, read when a part has one. */
static char *launch_index(void *userdata, char **ret_problem) {
        struct imds *c = context_imds(userdata, ret_problem);

        return c ? userdata_launch_index_from_imds(c, ret_problem) : NULL;
}

/* fetch: the user-data, decoded into parts and config. None is fine. */
static int userdata_boot(struct kiln_context *ctx) {
        _cleanup_free_ char *data = NULL;
        struct userdata u = {};
        struct userdata_options o = {
                .origin = "user-data",
                .fetch_includes = config_bool(ctx->config, "userdata.fetch_includes", true),
                .ca_file = userdata_ca_file(ctx->config),
                .instance_data = instance_data,
                .instance_data_userdata = ctx,
                .launch_index = launch_index,
                .launch_index_userdata = ctx,
        };
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
        r = userdata_parse(data, len, &o, &u);
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to decode the user-data: %s", strerror(-r));
        log_summary(&u, len);
        r = take(ctx, &u);
        userdata_done(&u);
        return r;
}

int userdata_cmd_validate(struct kiln_context *ctx, int argc, char **argv);

static const struct kiln_command userdata_commands[] = {
        {"validate", "[--keys] [--plan] [--no-fetch] [--config] [FILE|-]",
         "check user-data or a config file (any format) without applying it", userdata_cmd_validate},
        {},
};

static const struct config_key userdata_keys[] = {
        {"userdata", CONFIG_MAP, "How user-data is read."},
        {"userdata.fetch_includes", CONFIG_BOOL, "Fetch #include / text/x-include-url URLs (default true)."},
        {"userdata.ca_file", CONFIG_STRING,
         "PEM trust anchors for include URLs instead of the system's (env KILN_CA_FILE wins)."},
        {},
};

const struct kiln_module userdata_module = {
        .name = "userdata",
        .stage = STAGE_FETCH,
        .boot = userdata_boot,
        .config_keys = userdata_keys,
        .commands = userdata_commands,
};
