/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "fileio.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "strbuf.h"
#include "system/system.h"
#include "userdata/userdata.h"

/* `kiln validate`: decodes user-data (or a config file) as the boot would,
 * checks it against the schema and the modules' own checks, and prints each
 * problem as FILE:LINE:COLUMN: severity: message. Nothing is applied. */

#define EXIT_USAGE 64

struct options {
        bool keys, plan, fetch, config;
        const char *file;
};

/* Length of a leading "origin:LINE:COL: " in msg, 0 if none. */
static size_t position_prefix(const char *msg) {
        for (const char *p = strchr(msg, ':'); p; p = strchr(p + 1, ':')) {
                const char *q = p + 1;
                size_t digits = strspn(q, "0123456789");
                if (digits == 0 || q[digits] != ':')
                        continue;
                q += digits + 1;
                digits = strspn(q, "0123456789");
                if (digits > 0 && q[digits] == ':' && q[digits + 1] == ' ')
                        return (size_t) (q + digits + 2 - msg);
        }
        return 0;
}

static void print_messages(FILE *f, const char *origin, char **msgs, const char *severity) {
        for (char **m = msgs; m && *m; m++) {
                size_t n = position_prefix(*m);
                if (n > 0)
                        fprintf(f, "%.*s%s: %s\n", (int) n, *m, severity, *m + n);
                else
                        fprintf(f, "%s: %s: %s\n", origin, severity, *m);
        }
}

/* The cloud-config keys accepted and ignored, on one line: not problems. */
static void print_ignored(FILE *f, const char *origin, char **ignored) {
        if (!ignored)
                return;
        fprintf(f, "%s: note: cloud-config keys accepted and ignored, as cloud-init on EC2 would:", origin);
        for (char **i = ignored; *i; i++)
                fprintf(f, "%s %s", i == ignored ? "" : ";", *i);
        fputc('\n', f);
}

static json_t *example_instance_data(void *userdata, char **ret_problem) {
        (void) userdata;
        *ret_problem = NULL;
        return userdata_instance_data_example();
}

static int read_input(const char *file, char **ret, size_t *ret_len) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        char buf[65536];
        ssize_t n;

        if (!streq(file, "-"))
                return read_file(file, USERDATA_MAX_SIZE, ret, ret_len);
        while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if (b.len + (size_t) n > USERDATA_MAX_SIZE)
                        return -EFBIG;
                if (strbuf_append(&b, buf, (size_t) n) < 0)
                        return -ENOMEM;
        }
        *ret_len = b.len;
        *ret = b.data ? strbuf_steal(&b) : strdup("");
        return *ret ? 0 : -ENOMEM;
}

static bool yaml_name(const char *file) {
        size_t n = strlen(file);
        return (n > 5 && streq(file + n - 5, ".yaml")) || (n > 4 && streq(file + n - 4, ".yml"));
}

/* A config file is read as the boot reads /etc/kiln/kiln.yaml and kiln.d:
 * one asked for with --config, or one there. Anything else is read as the
 * boot reads user-data, whatever its name: YAML needs its #cloud-config or
 * #kiln-config line there, so it needs it here. */
static bool config_file(const struct options *o) {
        const char *root = root_get(), *f = o->file;
        size_t n = strlen(root);

        if (o->config)
                return true;
        if (!streq(root, "/") && strneq(f, root, n) && f[n] == '/')
                f += n;
        return strneq(f, "/etc/kiln/", 10) && yaml_name(f);
}

static void print_plan(const struct userdata *u) {
        _cleanup_json_ json_t *plan = system_plan(u->config, u->parts, u->n_parts, system_default_user_name());

        if (!plan)
                return;
        system_plan_redact(plan);
        if (u->includes)
                json_object_set_new(plan, "includes", json_pack("o", json_array()));
        for (char **i = u->includes; i && *i; i++)
                json_array_append_new(json_object_get(plan, "includes"), json_string(*i));
        json_dumpf(plan, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
}

static void print_parts(const char *origin, const struct userdata *u) {
        for (size_t i = 0; i < u->n_parts; i++)
                printf("%s: %s '%s': %s, %zu bytes\n", origin,
                       userdata_part_is_boothook(&u->parts[i]) ? "boothook" : "script", u->parts[i].filename,
                       frequency_name(u->parts[i].freq), u->parts[i].len);
}

static int validate_file(const struct options *o) {
        const char *origin = streq(o->file, "-") ? "<stdin>" : o->file;
        _cleanup_strv_free_ char **warnings = NULL, **errors = NULL;
        _cleanup_free_ char *data = NULL;
        struct userdata u = {};
        struct userdata_options uo = {
                .origin = origin,
                .fetch_includes = o->fetch,
                .yaml_is_config = config_file(o),
                .instance_data = example_instance_data,
                .instance_data_note = "jinja templates rendered with an example instance's data (i-0123456789abcdef0 "
                                      "in us-east-1a); the boot renders them with the instance's own",
        };
        FILE *out = o->plan ? stderr : stdout;
        size_t len = 0, n_errors;
        int r;

        uo.ca_file = userdata_ca_file(NULL);
        r = read_input(o->file, &data, &len);
        if (r < 0) {
                log_error("Failed to read '%s': %s", o->file, r == -EFBIG ? "larger than 16 MiB" : strerror(-r));
                return 1;
        }
        r = userdata_parse(data, len, &uo, &u);
        if (r < 0) {
                log_error("Failed to decode '%s': %s", o->file, strerror(-r));
                return 1;
        }
        (void) config_validate_at(u.config, u.positions, &warnings, &errors);
        print_messages(out, origin, u.errors, "error");
        print_messages(out, origin, errors, "error");
        print_messages(out, origin, u.warnings, "warning");
        print_messages(out, origin, warnings, "warning");
        print_ignored(out, origin, u.ignored);
        for (char **n = u.notes; n && *n; n++)
                fprintf(out, "%s: note: %s\n", origin, *n);
        /* a difference from cloud-init on Debian (docs/CONFIG.md, apt) */
        if (json_is_object(json_object_get(u.config, "apt")) &&
            json_object_get(json_object_get(u.config, "apt"), "sources_list") &&
            !json_object_get(json_object_get(u.config, "apt"), "preserve_sources_list"))
                fprintf(out,
                        "%s: note: kiln writes apt.sources_list; cloud-init on Debian ignores it unless "
                        "preserve_sources_list: false is given (Debian's cloud.cfg sets it true)\n",
                        origin);
        n_errors = strv_length(u.errors) + strv_length(errors);
        if (n_errors && yaml_name(o->file) && !uo.yaml_is_config && json_object_size(u.config) == 0)
                fprintf(out,
                        "%s: note: read as user-data, as the boot would read it; a config file for "
                        "/etc/kiln/kiln.d is checked with `kiln validate --config FILE`\n",
                        origin);
        if (o->plan)
                print_plan(&u);
        else
                print_parts(origin, &u);
        fprintf(out, "%s: %s: %zu error(s), %zu warning(s), %zu part(s) to run, %zu config key(s)\n", origin,
                n_errors ? "invalid" : "valid", n_errors, strv_length(u.warnings) + strv_length(warnings), u.n_parts,
                json_object_size(u.config));
        userdata_done(&u);
        return n_errors ? 1 : 0;
}

/* Without FILE: the image's baked config, as the boot reads it. */
static int validate_baked(struct kiln_context *ctx) {
        _cleanup_strv_free_ char **warnings = NULL, **errors = NULL;
        _cleanup_json_ json_t *cfg = NULL, *positions = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = config_load_baked_positions(ctx->config_file, &cfg, &positions, &error);
        if (r < 0) {
                printf("%s\n", error ? error : strerror(-r));
                return 1;
        }
        r = config_validate_at(cfg, positions, &warnings, &errors);
        print_messages(stdout, ctx->config_file ? ctx->config_file : "/etc/kiln/kiln.yaml", errors, "error");
        print_messages(stdout, ctx->config_file ? ctx->config_file : "/etc/kiln/kiln.yaml", warnings, "warning");
        printf("baked config: %s: %d error(s), %zu warning(s)\n", r ? "invalid" : "valid", r, strv_length(warnings));
        return r ? 1 : 0;
}

int userdata_cmd_validate(struct kiln_context *ctx, int argc, char **argv);
int userdata_cmd_validate(struct kiln_context *ctx, int argc, char **argv) {
        static const struct option opts[] = {
                {"keys", no_argument, NULL, 'k'},
                {"plan", no_argument, NULL, 'p'},
                {"no-fetch", no_argument, NULL, 'n'},
                {"config", no_argument, NULL, 'c'},
                {},
        };
        struct options o = {.fetch = true};
        int c;

        if (cli_wants_help(argc, argv, "validate", "[--keys] [--plan] [--no-fetch] [--config] [FILE|-]",
                           "Checks user-data in any format kiln reads (MIME, #cloud-config, #kiln-config,\n"
                           "scripts, gzip, base64, #include), as the boot reads it, without applying it.\n"
                           "Without FILE, checks the baked config (/etc/kiln/kiln.yaml and kiln.d).\n"
                           "  --config    FILE is a config file (as in /etc/kiln/kiln.d, read so there)\n"
                           "  --keys      print every config key kiln knows, as a Markdown table\n"
                           "  --plan      print what the boot would do (JSON): files, users, packages, commands\n"
                           "  --no-fetch  list #include URLs instead of fetching them\n"
                           "Each problem is printed as FILE:LINE:COLUMN: error|warning: message.\n"
                           "Exit status: 0 valid, 1 invalid."))
                return 0;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'k': o.keys = true; break;
                case 'p': o.plan = true; break;
                case 'n': o.fetch = false; break;
                case 'c': o.config = true; break;
                default: return EXIT_USAGE;
                }
        if (argc - optind > 1) {
                log_error("validate takes one FILE at most.");
                return EXIT_USAGE;
        }
        if (o.keys) {
                config_print_keys(stdout);
                return 0;
        }
        if (optind < argc) {
                o.file = argv[optind];
                return validate_file(&o);
        }
        return validate_baked(ctx);
}
