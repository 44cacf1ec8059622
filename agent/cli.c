/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <time.h>

#include "boot.h"
#include "cli.h"
#include "clock.h"
#include "daemon.h"
#include "http.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "state.h"
#include "status.h"
#include "strbuf.h"

/* Exit codes beyond status's 0/1/2. */
#define EXIT_USAGE 64

static bool args_want_help(int argc, char **argv) {
        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--"))
                        break;
                if (streq(argv[i], "-h") || streq(argv[i], "--help"))
                        return true;
        }
        return false;
}

bool cli_wants_help(int argc, char **argv, const char *name, const char *usage, const char *text) {
        if (!args_want_help(argc, argv))
                return false;
        printf("Usage: kiln [OPTIONS] %s %s\n\n%s\n", name, usage, text);
        return true;
}

static int cmd_boot(struct kiln_context *ctx, int argc, char **argv) {
        if (cli_wants_help(argc, argv, "boot", "",
                           "Runs the boot pipeline once (identify, fetch, configure, apply) and exits.\n"
                           "Exit status: 0 done, 1 error, 2 degraded."))
                return 0;
        if (argc > 1) {
                log_error("boot takes no arguments.");
                return EXIT_USAGE;
        }
        return boot_run(ctx);
}

static int cmd_daemon(struct kiln_context *ctx, int argc, char **argv) {
        if (cli_wants_help(argc, argv, "daemon", "",
                           "Runs the boot pipeline, tells systemd READY=1, then keeps running the\n"
                           "modules' timers (renewals, metrics). SIGHUP re-reads the config."))
                return 0;
        return daemon_run(ctx) < 0 ? 1 : 0;
}

/* `status --wait` without --timeout: an hour, the default scripts.timeout
 * (kiln.service itself has no start timeout, as cloud-init's units). A
 * boot that dies ends the wait sooner (status_load() tells). */
#define WAIT_DEFAULT_TIMEOUT_S 3600 /* status --help says so */

/* Waits for status.json to say the boot ended; -ETIME past the timeout
 * (0: none). */
static int wait_for_boot(double timeout_s, json_t **ret) {
        long long deadline = timeout_s > 0 ? now_ms() + (long long) (timeout_s * 1000) : 0;

        for (;;) {
                json_t *st = NULL;
                struct timespec ts = {0, 100 * 1000000L};
                if (status_load(&st) >= 0) {
                        if (status_exit_code(json_string_value(json_object_get(st, "result"))) >= 0) {
                                *ret = st;
                                return 0;
                        }
                        json_decref(st);
                }
                if (deadline && now_ms() >= deadline)
                        return -ETIME;
                nanosleep(&ts, NULL);
        }
}

static int parse_seconds(const char *s, double *ret) {
        char *end = NULL;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || !end || *end || v < 0 || v > 86400 * 365)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int cmd_status(struct kiln_context *ctx, int argc, char **argv) {
        static const struct option opts[] = {
                {"wait", no_argument, NULL, 'w'},
                {"timeout", required_argument, NULL, 't'},
                {"json", no_argument, NULL, 'j'},
                {},
        };
        bool wait = false, json = false;
        double timeout = WAIT_DEFAULT_TIMEOUT_S;
        json_t *st = NULL;
        int c, r;

        if (cli_wants_help(argc, argv, "status", "[--wait [--timeout S]] [--json]",
                           "Shows what the last boot did, stage by stage.\n"
                           "  --wait        block until the boot has finished (or died)\n"
                           "  --timeout S   give up waiting after S seconds (exit 1); default 3600, 0: never\n"
                           "  --json        print /run/kiln/status.json as is (with output tails for root)\n"
                           "Exit status: 0 done, 1 error (also: the boot's process died, the wait timed\n"
                           "out), 2 degraded; 3 when no boot has run, or one runs and --wait was not given."))
                return 0;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'w': wait = true; break;
                case 'j': json = true; break;
                case 't':
                        if (parse_seconds(optarg, &timeout) < 0) {
                                log_error("Invalid --timeout '%s'.", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                default: return EXIT_USAGE;
                }
        if (wait) {
                r = wait_for_boot(timeout, &st);
                if (r == -ETIME) {
                        log_error("Boot did not finish within %g s.", timeout);
                        return 1;
                }
        } else {
                r = status_load(&st);
                if (r == -ENOENT) {
                        log_error("No boot has run yet (no " KILN_RUN_DIR "/status.json).");
                        return 3;
                }
                if (r < 0) {
                        log_error_errno(r, "Failed to read status: %m");
                        return 1;
                }
        }
        if (json)
                json_dumpf(st, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER), putchar('\n');
        else
                status_print(st, stdout);
        r = status_exit_code(json_string_value(json_object_get(st, "result")));
        json_decref(st);
        return r < 0 ? 3 : r;
}

static int clean_machine_id(void) {
        _cleanup_free_ char *path = NULL;
        FILE *f;

        /* An empty /etc/machine-id makes systemd generate a new one at first
         * boot, which is what every instance of an image needs. */
        if (root_path(&path, "/etc/machine-id") < 0)
                return -ENOMEM;
        f = fopen(path, "we");
        if (!f)
                return negative_errno();
        return fclose(f) < 0 ? negative_errno() : 0;
}

static int cmd_clean(struct kiln_context *ctx, int argc, char **argv) {
        static const struct option opts[] = {
                {"logs", no_argument, NULL, 'l'},
                {"machine-id", no_argument, NULL, 'm'},
                {},
        };
        bool logs = false, machine_id = false;
        int c, r;

        if (cli_wants_help(argc, argv, "clean", "[--logs] [--machine-id]",
                           "Resets kiln's state so this disk can be baked into an image: every\n"
                           "instance of it will then boot as a new instance.\n"
                           "  --logs         also remove " KILN_LOG_DIR "\n"
                           "  --machine-id   empty /etc/machine-id so each instance gets its own"))
                return 0;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'l': logs = true; break;
                case 'm': machine_id = true; break;
                default: return EXIT_USAGE;
                }
        r = state_clean(logs);
        if (r < 0) {
                log_error_errno(r, "Failed to remove state: %m");
                return 1;
        }
        if (machine_id && (r = clean_machine_id()) < 0) {
                log_error_errno(r, "Failed to empty /etc/machine-id: %m");
                return 1;
        }
        return 0;
}

static int cmd_version(struct kiln_context *ctx, int argc, char **argv) {
        if (cli_wants_help(argc, argv, "version", "", "Prints kiln's version."))
                return 0;
        printf("kiln %s\n", PACKAGE_VERSION);
        return 0;
}

static const struct kiln_command core_commands[] = {
        {"boot", "", "run the boot pipeline once, then exit", cmd_boot},
        {"daemon", "", "run the boot pipeline, tell systemd READY=1, keep running timers", cmd_daemon},
        {"status", "[--wait [--timeout S]] [--json]", "show what the boot did; exit 0 done, 1 error, 2 degraded",
         cmd_status},
        {"clean", "[--logs] [--machine-id]", "reset state before baking an image", cmd_clean},
        {"version", "", "print the version", cmd_version},
        {},
};

static void usage(FILE *f) {
        fprintf(f, "Usage: kiln [--root DIR] [--config FILE] [-v] COMMAND [ARGS]\n\n"
                   "Turns an EC2 instance into a web server at boot, from its metadata and user-data.\n\n"
                   "Commands:\n");
        for (const struct kiln_command *c = core_commands; c->name; c++)
                fprintf(f, "  %-12s %s\n", c->name, c->summary);
        for (const struct kiln_module *const *m = kiln_modules; *m; m++)
                for (const struct kiln_command *c = (*m)->commands; c && c->name; c++)
                        fprintf(f, "  %-12s %s\n", c->name, c->summary);
        fprintf(f, "\nOptions:\n"
                   "  --root DIR     read and write every file under DIR (env KILN_ROOT)\n"
                   "  --config FILE  read this config instead of /etc/kiln/kiln.yaml and kiln.d\n"
                   "  -v, --verbose  log debug messages\n"
                   "  -h, --help     this help; COMMAND --help for a command's\n");
}

static const struct kiln_command *find_command(const char *name) {
        for (const struct kiln_command *c = core_commands; c->name; c++)
                if (streq(c->name, name))
                        return c;
        for (const struct kiln_module *const *m = kiln_modules; *m; m++)
                for (const struct kiln_command *c = (*m)->commands; c && c->name; c++)
                        if (streq(c->name, name))
                                return c;
        return NULL;
}

struct globals {
        const char *root;
        const char *config;
        bool verbose;
};

/* Global options come before the command; returns the command's index. */
static int parse_globals(int argc, char **argv, struct globals *g) {
        static const struct option opts[] = {
                {"root", required_argument, NULL, 'r'}, {"config", required_argument, NULL, 'c'},
                {"verbose", no_argument, NULL, 'v'},    {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},    {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) >= 0)
                switch (c) {
                case 'r': g->root = optarg; break;
                case 'c': g->config = optarg; break;
                case 'v': g->verbose = true; break;
                case 'h': usage(stdout); return -1;
                case 'V': printf("kiln %s\n", PACKAGE_VERSION); return -1;
                default: usage(stderr); return -EXIT_USAGE;
                }
        return optind;
}

/* jansson seeds its hash function (against collision floods) from
 * /dev/urandom at the first object: an open, a read and a close in every
 * process. getrandom() gives the same bytes in one call; 0 would mean
 * "seed yourself", so it is never passed. */
static void seed_json(void) {
        uint32_t seed;

        if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t) sizeof(seed))
                json_object_seed(seed | 1);
}

int cli_main(int argc, char **argv) {
        _cleanup_(context_freep) struct kiln_context *ctx = NULL;
        struct globals g = {.root = getenv("KILN_ROOT")};
        const struct kiln_command *cmd;
        int i, r, no_dump;

        /* kiln holds IMDS tokens, AWS credentials and ACME keys: no core
         * dump of it, no ptrace but with CAP_SYS_PTRACE, its /proc/PID files
         * root's. Every command, from the start: modules add commands, and
         * a list of those that fetch secrets would go stale. The programs
         * kiln runs are dumpable again after their execve(). */
        no_dump = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ? negative_errno() : 0;
        i = parse_globals(argc, argv, &g);
        if (i < 0)
                return i == -1 ? 0 : EXIT_USAGE;
        log_setup(g.verbose);
        if (no_dump < 0)
                log_warning_errno(no_dump, "Failed to make kiln non-dumpable, ignoring: %m");
        if (i >= argc) {
                usage(stderr);
                return EXIT_USAGE;
        }
        cmd = find_command(argv[i]);
        if (!cmd) {
                log_error("Unknown command '%s'; see kiln --help.", argv[i]);
                return EXIT_USAGE;
        }
        r = root_set(g.root);
        if (r < 0) {
                log_error("Invalid --root '%s': it must be an absolute path.", g.root);
                return EXIT_USAGE;
        }
        signal(SIGPIPE, SIG_IGN);
        seed_json();
        http_global_init();
        r = context_new(&ctx);
        if (r < 0) {
                log_oom();
                return 1;
        }
        ctx->config_file = g.config;
        ctx->verbose = g.verbose;
        /* Commands parse their own options from argv[i] on; 0 makes glibc start
         * afresh, so the "+" (stop at the command) of the global options does
         * not stick and options may follow a command's arguments. */
        optind = 0;
        /* COMMAND [SUBCOMMAND] ... --help: the command's help whatever else
         * is on the line, from every command and subcommand alike (a
         * subcommand's own parser would refuse the option). */
        if (args_want_help(argc - i, argv + i)) {
                char *help_argv[] = {argv[i], (char *) "--help", NULL};
                r = cmd->run(ctx, 2, help_argv);
        } else
                r = cmd->run(ctx, argc - i, argv + i);
        context_free(TAKE_PTR(ctx));
        http_global_cleanup();
        return r;
}
