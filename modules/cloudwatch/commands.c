/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/commands.h"
#include "aws/credentials.h"
#include "aws/sigv4.h"
#include "boot.h"
#include "cli.h"
#include "cloudwatch/cloudwatch.h"
#include "log.h"
#include "path.h"
#include "strbuf.h"

#define EXIT_USAGE 64
#define MAX_RAW_REQUEST (16u * 1024 * 1024)

/* --- kiln put-metric --- */

struct put_args {
        const char *name, *value;
        const char *unit;
        const char *ns;
        char **dims;
        time_t when;
        bool high_res;
};

static int parse_when(const char *s, time_t *ret) {
        long v;

        if (safe_atol(s, &v) == 0) {
                *ret = (time_t) v;
                return 0;
        }
        return aws_parse_iso8601(s, ret);
}

static const struct option put_options[] = {
        {"unit", required_argument, NULL, 'u'},      {"dimension", required_argument, NULL, 'd'},
        {"namespace", required_argument, NULL, 'n'}, {"timestamp", required_argument, NULL, 't'},
        {"high-resolution", no_argument, NULL, 'H'}, {},
};
#define PUT_SHORT_WITH_ARG "udnt"

/* Whether arg is an option whose value is the next argument: "-u", "-Hd",
 * "--unit", or an abbreviation getopt takes ("--dim"). */
static bool takes_next(const char *arg) {
        if (arg[0] != '-' || !arg[1])
                return false;
        if (arg[1] != '-') {
                for (const char *c = arg + 1; *c; c++)
                        if (strchr(PUT_SHORT_WITH_ARG, *c))
                                return !c[1];
                return false;
        }
        if (!arg[2] || strchr(arg, '='))
                return false;
        for (const struct option *o = put_options; o->name; o++)
                if (o->has_arg == required_argument && strneq(o->name, arg + 2, strlen(arg + 2)))
                        return true;
        return false;
}

static bool is_number(const char *s) {
        char *end = NULL;

        errno = 0;
        (void) strtod(s, &end);
        return end != s && !*end;
}

/* getopt takes "-3.5" for options -3 and -.: the arguments reordered so
 * that every operand (NAME, VALUE, a negative number among them) follows
 * a "--", in the order given. ret[] points into argv. */
static int operands_last(int argc, char **argv, int *ret_argc, char ***ret) {
        _cleanup_free_ char **operands = calloc((size_t) argc + 1, sizeof(char *));
        char **out = calloc((size_t) argc + 2, sizeof(char *));
        int n = 0, k = 0;
        bool rest = false;

        if (!out || !operands) {
                free(out);
                return -ENOMEM;
        }
        out[n++] = argv[0];
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (!rest && streq(a, "--"))
                        rest = true;
                else if (rest || a[0] != '-' || !a[1] || is_number(a))
                        operands[k++] = argv[i];
                else {
                        out[n++] = argv[i];
                        if (takes_next(a) && i + 1 < argc)
                                out[n++] = argv[++i];
                }
        }
        out[n++] = (char *) "--";
        for (int i = 0; i < k; i++)
                out[n++] = operands[i];
        *ret_argc = n;
        *ret = out;
        return 0;
}

static int parse_put_args(int argc, char **argv, struct put_args *a) {
        _cleanup_free_ char **args = NULL;
        int c, n, r;

        r = operands_last(argc, argv, &n, &args);
        if (r < 0)
                return r;
        optind = 0; /* a full reset: options may follow NAME and VALUE */
        while ((c = getopt_long(n, args, "u:d:n:t:H", put_options, NULL)) >= 0)
                switch (c) {
                case 'u': a->unit = optarg; break;
                case 'n': a->ns = optarg; break;
                case 'H': a->high_res = true; break;
                case 'd':
                        if (!strchr(optarg, '=') || optarg[0] == '=') {
                                log_error("Invalid --dimension '%s': expected NAME=VALUE.", optarg);
                                return -EINVAL;
                        }
                        if (strv_push(&a->dims, optarg) < 0)
                                return -ENOMEM;
                        break;
                case 't':
                        if (parse_when(optarg, &a->when) < 0) {
                                log_error("Invalid --timestamp '%s': expected epoch seconds or ISO 8601.", optarg);
                                return -EINVAL;
                        }
                        break;
                default: return -EINVAL;
                }
        if (n - optind != 2) {
                log_error("put-metric takes NAME and VALUE; see kiln put-metric --help.");
                return -EINVAL;
        }
        a->name = args[optind];
        a->value = args[optind + 1];
        return 0;
}

static int parse_value(const char *s, double *ret) {
        char *end = NULL;

        errno = 0;
        *ret = strtod(s, &end);
        /* NaN and infinities: CloudWatch takes neither. */
        return errno == 0 && end != s && !*end && isfinite(*ret) ? 0 : -EINVAL;
}

static json_t *build_datum(const char *name, double value, const struct put_args *a) {
        json_t *d = metric_datum_new(name, value, a->unit, a->when, a->high_res ? 1 : 60);

        for (char **p = a->dims; d && p && *p; p++) {
                _cleanup_free_ char *k = strndup(*p, (size_t) (strchr(*p, '=') - *p));
                if (!k || metric_datum_add_dimension(d, k, strchr(*p, '=') + 1) < 0) {
                        json_decref(d);
                        return NULL;
                }
        }
        return d;
}

static int cmd_put_metric(struct kiln_context *ctx, int argc, char **argv) {
        _cleanup_(json_decrefp) json_t *datum = NULL, *list = NULL;
        _cleanup_free_ char *dir = NULL, *error = NULL;
        struct put_args a = {.when = time(NULL)};
        double value;
        int r;

        if (cli_wants_help(
                    argc, argv, "put-metric",
                    "NAME VALUE [--unit U] [--dimension K=V]... [--namespace NS] [--timestamp T] "
                    "[--high-resolution]",
                    "Hands one datum to kiln's daemon, which batches it with the other metrics and\n"
                    "pushes it to CloudWatch; it waits in the spool (" SPOOL_DIR ") until then,\n"
                    "across restarts, so this works when the daemon is not running too.\n"
                    "  --unit U            a CloudWatch unit: Count, Percent, Seconds, Bytes, ... (default none)\n"
                    "  --dimension K=V     a dimension (repeatable; none by default)\n"
                    "  --namespace NS      default: metrics.namespace of the daemon's config\n"
                    "  --timestamp T       epoch seconds or ISO 8601 (default now)\n"
                    "  --high-resolution   store at 1-second resolution\n"
                    "Exit status: 0 queued, 1 could not queue, 64 invalid datum or usage."))
                return 0;
        r = parse_put_args(argc, argv, &a);
        if (r >= 0 && parse_value(a.value, &value) < 0) {
                log_error("Invalid VALUE '%s': expected a finite number.", a.value);
                r = -EINVAL;
        }
        if (r < 0) {
                strv_free(a.dims);
                return r == -ENOMEM ? 1 : EXIT_USAGE;
        }
        datum = build_datum(a.name, value, &a);
        strv_free(a.dims);
        if (!datum)
                return log_oom(), 1;
        if (metric_check_datum(datum, time(NULL), &error) < 0 || (a.ns && metric_check_namespace(a.ns, &error) < 0)) {
                log_error("Invalid metric '%s': %s.", a.name, error ? error : "invalid");
                return EXIT_USAGE;
        }
        (void) boot_load_config(ctx);
        list = json_pack("[O]", datum);
        if (!list || root_path(&dir, SPOOL_DIR) < 0)
                return log_oom(), 1;
        r = spool_submit(dir, a.ns, list,
                         (size_t) config_int(ctx->config, "metrics.spool.max_datums", CW_DEFAULT_MAX_DATUMS));
        if (r < 0) {
                log_error_errno(r, "Failed to queue metric '%s' in %s: %m", a.name, dir);
                return 1;
        }
        if (r > 0)
                log_warning("The metrics spool's incoming/ is full: dropped the oldest datum to make room.");
        return 0;
}

/* --- kiln debug sigv4 --- */

static int read_stdin(struct strbuf *b) {
        char buf[65536];
        size_t n;

        while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
                if (b->len + n > MAX_RAW_REQUEST)
                        return -EFBIG;
                if (strbuf_append(b, buf, n) < 0)
                        return -ENOMEM;
        }
        return ferror(stdin) ? -EIO : 0;
}

struct raw_request {
        char *method, *target, *version;
        char **headers;
        const char *body;
        size_t body_len;
};

static void raw_request_done(struct raw_request *r) {
        free(r->method);
        free(r->target);
        free(r->version);
        strv_free(r->headers);
}

static int parse_request_line(char *line, struct raw_request *ret) {
        char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;

        if (!sp1 || sp1 == line)
                return -EBADMSG;
        ret->method = strndup(line, (size_t) (sp1 - line));
        ret->target = sp2 ? strndup(sp1 + 1, (size_t) (sp2 - sp1 - 1)) : strdup(sp1 + 1);
        ret->version = strdup(sp2 ? sp2 + 1 : "HTTP/1.1");
        return ret->method && ret->target && ret->version ? 0 : -ENOMEM;
}

/* A request as on the wire: request line, headers, empty line, body.
 * Lines may end in CRLF or LF. */
static int parse_raw(const struct strbuf *in, struct raw_request *ret) {
        const char *p = in->data ? in->data : "", *end = p + in->len;
        bool first = true;
        int r;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t len = nl ? (size_t) (nl - p) : (size_t) (end - p);
                _cleanup_free_ char *line = NULL;
                if (len > 0 && p[len - 1] == '\r')
                        len--;
                line = strndup(p, len);
                p = nl ? nl + 1 : end;
                if (!line)
                        return -ENOMEM;
                if (first) {
                        r = parse_request_line(line, ret);
                        if (r < 0)
                                return r;
                        first = false;
                        continue;
                }
                if (!*line)
                        break;
                if (!strchr(line, ':') || strv_push(&ret->headers, line) < 0)
                        return strchr(line, ':') ? -ENOMEM : -EBADMSG;
        }
        if (first)
                return -EBADMSG;
        ret->body = p;
        ret->body_len = (size_t) (end - p);
        return 0;
}

struct sigv4_args {
        const char *date, *region, *service;
};

static int parse_sigv4_args(int argc, char **argv, struct sigv4_args *a) {
        static const struct option opts[] = {
                {"date", required_argument, NULL, 'd'},
                {"region", required_argument, NULL, 'r'},
                {"service", required_argument, NULL, 's'},
                {},
        };
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'd': a->date = optarg; break;
                case 'r': a->region = optarg; break;
                case 's': a->service = optarg; break;
                default: return -EINVAL;
                }
        if (!a->date || !a->region || !a->service || optind != argc) {
                log_error("debug sigv4 needs --date YYYYMMDDTHHMMSSZ, --region and --service.");
                return -EINVAL;
        }
        return 0;
}

static void print_signed(const struct raw_request *req, const struct sigv4_result *res) {
        printf("=== canonical request ===\n%s\n=== string to sign ===\n%s\n=== signed request ===\n",
               res->canonical_request, res->string_to_sign);
        printf("%s %s %s\r\n", req->method, req->target, req->version);
        for (char **h = res->headers; h && *h; h++)
                printf("%s\r\n", *h);
        printf("\r\n");
        fwrite(req->body, 1, req->body_len, stdout);
}

static int debug_sigv4(int argc, char **argv) {
        _cleanup_strbuf_ struct strbuf in = STRBUF_INIT;
        struct raw_request req = {0};
        struct sigv4_result res = {0};
        struct aws_credentials creds = {
                .access_key_id = getenv("AWS_ACCESS_KEY_ID"),
                .secret_access_key = getenv("AWS_SECRET_ACCESS_KEY"),
                .session_token = getenv("AWS_SESSION_TOKEN"),
        };
        struct sigv4_args a = {0};
        time_t when;
        int r;

        if (parse_sigv4_args(argc, argv, &a) < 0)
                return EXIT_USAGE;
        if (sigv4_parse_date(a.date, &when) < 0) {
                log_error("Invalid --date '%s': expected YYYYMMDDTHHMMSSZ.", a.date);
                return EXIT_USAGE;
        }
        if (!creds.access_key_id || !*creds.access_key_id || !creds.secret_access_key) {
                log_error("Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) to sign.");
                return 1;
        }
        if (creds.session_token && !*creds.session_token)
                creds.session_token = NULL;
        r = read_stdin(&in);
        r = r < 0 ? r : parse_raw(&in, &req);
        if (r < 0) {
                raw_request_done(&req);
                log_error_errno(r, "Failed to read an HTTP request on stdin: %m");
                return 1;
        }
        struct sigv4_request sreq = {.method = req.method,
                                     .target = req.target,
                                     .headers = req.headers,
                                     .body = req.body,
                                     .body_len = req.body_len};
        r = sigv4_sign(&sreq, &creds, a.region, a.service, when, &res);
        if (r < 0)
                log_error_errno(r, r == -EINVAL ? "The request has no Host header." : "Failed to sign: %m");
        else
                print_signed(&req, &res);
        sigv4_result_done(&res);
        raw_request_done(&req);
        return r < 0 ? 1 : 0;
}

static int cmd_debug(struct kiln_context *ctx, int argc, char **argv) {
        if (argc < 2 || streq(argv[1], "-h") || streq(argv[1], "--help")) {
                printf("Usage: kiln debug sigv4 | s3 ARGS...\n\n"
                       "  kiln debug sigv4 --date YYYYMMDDTHHMMSSZ --region R --service S < request\n"
                       "  kiln debug s3 get|put|delete|list s3://BUCKET/KEY [OPTIONS]\n\n"
                       "kiln debug sigv4 reads a raw HTTP request on stdin, signs it with AWS Signature\n"
                       "Version 4 using AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN at\n"
                       "the given time, and prints the canonical request, the string to sign and the\n"
                       "signed request: compare them with what AWS says in a SignatureDoesNotMatch error.\n\n"
                       "%s",
                       aws_debug_s3_help);
                return argc < 2 ? EXIT_USAGE : 0;
        }
        if (streq(argv[1], "s3"))
                return aws_debug_s3(ctx, argc - 1, argv + 1);
        if (!streq(argv[1], "sigv4")) {
                log_error("Unknown debug command '%s'; see kiln debug --help.", argv[1]);
                return EXIT_USAGE;
        }
        return debug_sigv4(argc - 1, argv + 1);
}

const struct kiln_command cw_commands[] = {
        {"put-metric", "NAME VALUE [--unit U] [--dimension K=V]... [--namespace NS]",
         "queue a metric for the daemon to push to CloudWatch", cmd_put_metric},
        {"debug", "sigv4 --date D --region R --service S | s3 get|put|delete|list URL",
         "show how a request is signed (SigV4); make S3 calls by hand", cmd_debug},
        {},
};
