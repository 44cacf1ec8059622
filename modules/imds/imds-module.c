/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "boot.h"
#include "cli.h"
#include "imds/imds.h"
#include "log.h"
#include "module.h"
#include "state.h"
#include "strbuf.h"
#include "yaml-json.h"

/* identify: who is this instance, and is it the one we booted last time? */
static int imds_boot(struct kiln_context *ctx) {
        struct imds *c;
        int r;

        r = imds_from_context(ctx, &c);
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to set up the IMDS client: %s", strerror(-r));
        r = imds_identify(c, &ctx->facts);
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to identify the instance: %s", imds_error(c));
        ctx->identified = true;

        r = state_read_instance_id(&ctx->previous_instance_id);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Failed to read the previous instance-id, treating this as a new instance: %m");
        ctx->new_instance = !ctx->previous_instance_id || !streq(ctx->previous_instance_id, ctx->facts.instance_id);
        if (ctx->new_instance)
                log_info("First boot of instance %s%s%s.", ctx->facts.instance_id,
                         ctx->previous_instance_id ? ", was " : "",
                         ctx->previous_instance_id ? ctx->previous_instance_id : "");
        else
                log_info("Instance %s, booted before.", ctx->facts.instance_id);

        /* Written (and fsync'd) only when it changes, not at every boot. */
        r = ctx->new_instance ? state_write_instance_id(ctx->facts.instance_id) : 0;
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to store the instance-id: %s", strerror(-r));
        r = imds_write_env(&ctx->facts);
        if (r < 0)
                return kiln_fail(ctx, r, "Failed to write /run/kiln/metadata.env: %s", strerror(-r));
        return 0;
}

/* "instance-id" -> "meta-data/instance-id"; "user-data", "dynamic/..." and
 * "meta-data/..." as they are; a leading "/latest/" is dropped. */
static char *metadata_path(const char *arg) {
        if (strneq(arg, "/latest/", 8))
                arg += 8;
        while (*arg == '/')
                arg++;
        if (strneq(arg, "meta-data", 9) || strneq(arg, "dynamic", 7) || strneq(arg, "user-data", 9) ||
            strneq(arg, "api/", 4))
                return strdup(arg);
        return strdup_printf("meta-data/%s", arg);
}

static json_t *facts_json(const struct instance_facts *f) {
        return json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "instance_id",
                         f->instance_id, "region", f->region, "availability_zone", f->availability_zone,
                         "instance_type", f->instance_type, "image_id", f->image_id, "account_id", f->account_id,
                         "architecture", f->architecture, "private_ipv4", f->private_ipv4, "public_ipv4",
                         f->public_ipv4, "local_hostname", f->local_hostname, "public_hostname", f->public_hostname);
}

static int metadata_summary(struct imds *c, bool json) {
        struct instance_facts f = {0};
        _cleanup_json_ json_t *j = NULL;
        const char *key;
        json_t *v;
        int r;

        r = imds_identify(c, &f);
        if (r < 0) {
                log_error("%s", imds_error(c));
                return 1;
        }
        j = facts_json(&f);
        instance_facts_done(&f);
        if (!j)
                return log_oom(), 1;
        if (json) {
                json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                putchar('\n');
                return 0;
        }
        json_object_foreach(j, key, v)
                printf("%s: %s\n", key, json_is_string(v) ? json_string_value(v) : "-");
        return 0;
}

static int cmd_metadata(struct kiln_context *ctx, int argc, char **argv) {
        static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {}};
        _cleanup_free_ char *path = NULL, *body = NULL;
        bool json = false;
        struct imds *c;
        size_t len;
        int opt, r;

        if (cli_wants_help(argc, argv, "metadata", "[PATH] [--json]",
                           "Reads instance metadata over IMDSv2, as ec2-metadata does.\n"
                           "  PATH    e.g. instance-id, placement/region, public-keys/0/openssh-key,\n"
                           "          user-data, dynamic/instance-identity/document\n"
                           "  --json  without PATH: a summary from the identity document as JSON\n"
                           "Exit status: 0 found, 1 error, 4 absent (404)."))
                return 0;
        while ((opt = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                if (opt == 'j')
                        json = true;
                else
                        return 64;
        (void) boot_load_config(ctx);
        r = imds_from_context(ctx, &c);
        if (r < 0)
                return log_oom(), 1;
        if (optind >= argc)
                return metadata_summary(c, json);
        path = metadata_path(argv[optind]);
        if (!path)
                return log_oom(), 1;
        r = imds_get(c, path, &body, &len);
        if (r < 0) {
                log_error("%s", imds_error(c));
                return r == -ENOENT ? 4 : 1;
        }
        fwrite(body, 1, len, stdout);
        if (len > 0 && body[len - 1] != '\n' && !strneq(path, "user-data", 9))
                putchar('\n');
        return 0;
}

static const struct config_key imds_keys[] = {
        {"imds", CONFIG_MAP, "How kiln reaches the instance metadata service."},
        {"imds.endpoint", CONFIG_STRING,
         "Base URL of IMDS (default http://169.254.169.254; AWS_EC2_METADATA_SERVICE_ENDPOINT wins)."},
        {"imds.endpoint_mode", CONFIG_STRING, "ipv4 (default) or ipv6 (http://[fd00:ec2::254])."},
        {"imds.allow_v1", CONFIG_BOOL, "Fall back to IMDSv1 when IMDSv2 tokens are unavailable (default false)."},
        {"imds.token_ttl", CONFIG_INT, "IMDSv2 token lifetime in seconds, 1..21600 (default 21600)."},
        {"imds.timeout", CONFIG_NUMBER, "Total seconds to keep trying one IMDS read, retries included (default 60)."},
        {"imds.connect_timeout", CONFIG_NUMBER, "Seconds to wait for a connection (default 1)."},
        {"imds.request_timeout", CONFIG_NUMBER, "Seconds to wait for one response (default 5)."},
        {},
};

static const struct kiln_command imds_commands[] = {
        {"metadata", "[PATH] [--json]", "read instance metadata (IMDSv2), like ec2-metadata", cmd_metadata},
        {},
};

static void imds_done(struct kiln_context *ctx) {
        imds_free(ctx->imds);
        ctx->imds = NULL;
}

const struct kiln_module imds_module = {
        .name = "imds",
        .stage = STAGE_IDENTIFY,
        .boot = imds_boot,
        .done = imds_done,
        .config_keys = imds_keys,
        .commands = imds_commands,
};
