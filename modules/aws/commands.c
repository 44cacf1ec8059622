/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/commands.h"
#include "aws/s3.h"
#include "imds/imds.h"
#include "log.h"
#include "strbuf.h"

#define EXIT_USAGE 64
#define MAX_OBJECT (16u * 1024 * 1024)

const char aws_debug_s3_help[] =
        "kiln debug s3 makes the S3 calls of fleet mode (acme.storage) by hand:\n"
        "  get s3://BUCKET/KEY            print the object (--etag: its ETag instead)\n"
        "  put s3://BUCKET/KEY < DATA     store stdin, with server-side encryption; print the\n"
        "                                 new ETag. --if-absent: only if the key does not exist\n"
        "                                 (If-None-Match: *); --if-match ETAG: only if it is\n"
        "                                 still ETAG\n"
        "  delete s3://BUCKET/KEY         delete it (--if-match ETAG: only if still ETAG)\n"
        "  list s3://BUCKET/PREFIX        the keys under PREFIX, one a line (--max-keys N, at\n"
        "                                 most N; --page-size N, N keys an answer)\n"
        "  --region R        the bucket's region (else AWS_REGION, AWS_DEFAULT_REGION); a bucket\n"
        "                    in another region is followed\n"
        "  --endpoint URL    S3's endpoint when AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL are\n"
        "                    not set; a given endpoint is addressed path-style\n"
        "  --kms-key-id ID   put: aws:kms with this key instead of AES256\n"
        "Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, else the\n"
        "instance role. Exit status: 0 done, 1 error, 2 no such key, 3 the key exists\n"
        "(--if-absent), 4 the ETag did not match (--if-match), 5 a conflicting request: try\n"
        "again, 6 access denied.\n";

struct s3_args {
        const char *verb, *url;
        const char *region, *endpoint, *kms_key_id, *if_match;
        bool if_absent, etag_only;
        size_t max_keys, page_size;
};

static int parse_size(const char *s, size_t *ret) {
        unsigned long long v;

        if (safe_atou64(s, &v) < 0 || v == 0 || v > 1000000)
                return -EINVAL;
        *ret = (size_t) v;
        return 0;
}

static int parse_args(int argc, char **argv, struct s3_args *a) {
        static const struct option opts[] = {
                {"region", required_argument, NULL, 'r'},
                {"endpoint", required_argument, NULL, 'e'},
                {"kms-key-id", required_argument, NULL, 'k'},
                {"if-match", required_argument, NULL, 'm'},
                {"if-absent", no_argument, NULL, 'a'},
                {"etag", no_argument, NULL, 't'},
                {"max-keys", required_argument, NULL, 'n'},
                {"page-size", required_argument, NULL, 'p'},
                {},
        };
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'r': a->region = optarg; break;
                case 'e': a->endpoint = optarg; break;
                case 'k': a->kms_key_id = optarg; break;
                case 'm': a->if_match = optarg; break;
                case 'a': a->if_absent = true; break;
                case 't': a->etag_only = true; break;
                case 'n':
                case 'p':
                        if (parse_size(optarg, c == 'n' ? &a->max_keys : &a->page_size) < 0) {
                                log_error("Invalid --%s '%s': expected 1 to 1000000.",
                                          c == 'n' ? "max-keys" : "page-size", optarg);
                                return -EINVAL;
                        }
                        break;
                default: return -EINVAL;
                }
        if (argc - optind != 2) {
                log_error("debug s3 needs get|put|delete|list and an s3:// URL; see kiln debug --help.");
                return -EINVAL;
        }
        a->verb = argv[optind];
        a->url = argv[optind + 1];
        if (!streq(a->verb, "get") && !streq(a->verb, "put") && !streq(a->verb, "delete") && !streq(a->verb, "list")) {
                log_error("Unknown debug s3 command '%s': get, put, delete or list.", a->verb);
                return -EINVAL;
        }
        if (a->if_absent && a->if_match) {
                log_error("--if-absent and --if-match exclude each other.");
                return -EINVAL;
        }
        return 0;
}

/* s3://BUCKET/KEY: the key as written (list: the prefix as s3_url_parse()
 * reads it). */
static int split_url(const struct s3_args *a, char **ret_bucket, char **ret_key) {
        _cleanup_free_ char *error = NULL, *bucket = NULL, *prefix = NULL, *only = NULL;
        const char *slash = strneq(a->url, "s3://", 5) ? strchr(a->url + 5, '/') : NULL;
        int r;

        /* A key is taken as written ("a/./b" is a key like any other); the
         * bucket is checked alone. */
        if (!streq(a->verb, "list")) {
                only = slash ? strndup(a->url, (size_t) (slash - a->url)) : strdup(a->url);
                if (!only)
                        return log_oom();
        }
        r = s3_url_parse(only ? only : a->url, &bucket, &prefix, &error);
        if (r < 0)
                return log_error_errno(r, "Invalid URL '%s': %s.", a->url, error ? error : "out of memory");
        if (only) {
                free(prefix);
                prefix = slash && slash[1] ? strdup(slash + 1) : NULL;
                if (!prefix)
                        return log_error_errno(-EINVAL, "'%s' names no key.", a->url);
        }
        *ret_bucket = TAKE_PTR(bucket);
        *ret_key = TAKE_PTR(prefix);
        return 0;
}

static int read_stdin(struct strbuf *b) {
        char buf[65536];
        size_t n;

        while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
                if (b->len + n > MAX_OBJECT)
                        return -EFBIG;
                if (strbuf_append(b, buf, n) < 0)
                        return -ENOMEM;
        }
        return ferror(stdin) ? -EIO : 0;
}

static int exit_code(int r) {
        switch (r) {
        case 0: return 0;
        case -ENOENT: return 2;
        case -EEXIST: return 3;
        case -ESTALE: return 4;
        case -EAGAIN: return 5;
        case -EACCES: return 6;
        default: return 1;
        }
}

static int run(struct s3 *s, const struct s3_args *a, const char *key, struct aws_result *res) {
        _cleanup_strbuf_ struct strbuf in = STRBUF_INIT;
        struct s3_object o = {0};
        char etag[130] = "";
        char **keys = NULL;
        int r;

        if (streq(a->verb, "get")) {
                r = s3_get(s, key, MAX_OBJECT, &o, res);
                if (r >= 0 && a->etag_only)
                        printf("%s\n", o.etag);
                else if (r >= 0)
                        fwrite(o.data, 1, o.len, stdout);
                s3_object_done(&o);
        } else if (streq(a->verb, "put")) {
                r = read_stdin(&in);
                if (r < 0)
                        return r;
                r = s3_put(s, key, in.data, in.len,
                           a->if_absent  ? S3_PUT_IF_ABSENT
                           : a->if_match ? S3_PUT_IF_MATCH
                                         : S3_PUT_ALWAYS,
                           a->if_match, etag, res);
                if (r >= 0)
                        printf("%s\n", etag);
        } else if (streq(a->verb, "delete"))
                r = s3_delete(s, key, a->if_match, res);
        else {
                s->page_size = a->page_size;
                r = s3_list(s, key, a->max_keys ? a->max_keys : (size_t) -1, &keys, res);
                for (char **k = keys; k && *k; k++)
                        printf("%s\n", *k);
                strv_free(keys);
        }
        return r;
}

int aws_debug_s3(struct kiln_context *ctx, int argc, char **argv) {
        _cleanup_(aws_creds_provider_freep) struct aws_creds_provider *creds = NULL;
        _cleanup_(imds_freep) struct imds *imds = NULL;
        _cleanup_free_ char *bucket = NULL, *key = NULL;
        struct aws_result res = {0};
        struct imds_options o;
        struct s3_args a = {0};
        struct s3 s;
        const char *region;
        int r;

        if (parse_args(argc, argv, &a) < 0 || split_url(&a, &bucket, &key) < 0)
                return EXIT_USAGE;
        region = aws_region(a.region, NULL);
        if (!region) {
                log_error("No region: give --region, or set AWS_REGION.");
                return EXIT_USAGE;
        }
        imds_options_from_config(ctx->config, &o);
        r = aws_creds_provider_new_imds(&o, &imds, &creds);
        if (r < 0)
                return log_error_errno(r, "Failed to set up credentials: %m"), 1;
        r = s3_init(&s, bucket, region, a.endpoint, a.kms_key_id, creds);
        if (r < 0) {
                log_error_errno(r, "Failed to set up S3 (bucket '%s', region '%s'%s%s): %m", bucket, region,
                                a.endpoint ? ", endpoint " : "", a.endpoint ? a.endpoint : "");
                return r == -EINVAL ? EXIT_USAGE : 1;
        }
        r = run(&s, &a, key, &res);
        if (r < 0 && res.error[0])
                log_error_errno(r, "debug s3 %s %s: %m: %s", a.verb, a.url, res.error);
        else if (r < 0)
                log_error_errno(r, "debug s3 %s %s: %m", a.verb, a.url);
        log_debug("%u S3 requests, signed for %s.", s.client.requests, s.client.region);
        aws_result_done(&res);
        s3_done(&s);
        return exit_code(r);
}
