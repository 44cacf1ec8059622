/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "fileio.h"
#include "http.h"
#include "imds/imds.h"
#include "path.h"
#include "strbuf.h"

#define TOKEN_HEADER "X-aws-ec2-metadata-token"
#define TOKEN_TTL_HEADER "X-aws-ec2-metadata-token-ttl-seconds"
#define MAX_BODY (1024u * 1024)

struct imds {
        char *endpoint;
        struct imds_options o;
        char *token;
        long token_expires_ms; /* monotonic */
        bool v1; /* tokens unavailable, talking IMDSv1 */
        bool disabled_by_env;
        char error[512];
};

static bool env_true(const char *name) {
        const char *v = getenv(name);
        return v && (strcasecmp(v, "true") == 0 || streq(v, "1"));
}

void imds_options_from_config(const json_t *config, struct imds_options *ret) {
        const char *mode = config_string(config, "imds.endpoint_mode", "ipv4");
        const char *env_endpoint = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
        const char *env_mode = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
        struct imds_options o = {
                .endpoint = config_string(config, "imds.endpoint", NULL),
                .allow_v1 = config_bool(config, "imds.allow_v1", false),
                .token_ttl_s = config_int(config, "imds.token_ttl", 21600),
                .connect_timeout_ms = (long) (config_number(config, "imds.connect_timeout", 1.0) * 1000),
                .timeout_ms = (long) (config_number(config, "imds.request_timeout", 5.0) * 1000),
                .budget_ms = (long) (config_number(config, "imds.timeout", 60.0) * 1000),
        };

        if (env_mode)
                mode = env_mode;
        if (!o.endpoint)
                o.endpoint = strcasecmp(mode, "ipv6") == 0 ? IMDS_ENDPOINT_IPV6 : IMDS_ENDPOINT_IPV4;
        if (env_endpoint && *env_endpoint)
                o.endpoint = env_endpoint;
        if (o.token_ttl_s < 1 || o.token_ttl_s > 21600)
                o.token_ttl_s = 21600;
        *ret = o;
}

int imds_new(const struct imds_options *o, struct imds **ret) {
        struct imds *c = calloc(1, sizeof(*c));
        size_t n;

        if (!c)
                return -ENOMEM;
        c->o = *o;
        c->endpoint = strdup(o->endpoint ? o->endpoint : IMDS_ENDPOINT_IPV4);
        if (!c->endpoint) {
                free(c);
                return -ENOMEM;
        }
        n = strlen(c->endpoint);
        while (n > 0 && c->endpoint[n - 1] == '/')
                c->endpoint[--n] = 0;
        c->disabled_by_env = env_true("AWS_EC2_METADATA_DISABLED");
        *ret = c;
        return 0;
}

static void drop_token(struct imds *c) {
        erase_and_free(TAKE_PTR(c->token));
}

void imds_free(struct imds *c) {
        if (!c)
                return;
        drop_token(c);
        free(c->endpoint);
        free(c);
}

const char *imds_error(const struct imds *c) {
        return c->error;
}

const char *imds_endpoint(const struct imds *c) {
        return c->endpoint;
}

_printf_(2, 3) static void set_error(struct imds *c, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->error, sizeof(c->error), fmt, ap);
        va_end(ap);
}

static int send(struct imds *c, const char *method, const char *path, const char *const *headers, long deadline,
                struct http_response **ret) {
        _cleanup_free_ char *url = strdup_printf("%s/latest/%s", c->endpoint, path);
        char transport_error[HTTP_ERROR_MAX] = "";
        long left = deadline - now_ms();
        struct http_request req = {
                .method = method,
                .url = url,
                .headers = headers,
                .connect_timeout_ms = c->o.connect_timeout_ms,
                .timeout_ms = c->o.timeout_ms,
                .max_attempts = 1000, /* bounded by the budget */
                .budget_ms = left > 1 ? left : 1,
                .retry_on = HTTP_RETRY_NETWORK | HTTP_RETRY_5XX,
                .backoff_base_ms = 100,
                .backoff_max_ms = 2000,
                .max_body = MAX_BODY,
                .no_proxy = true,
                /* The token, in requests and in the answer to the PUT; role
                 * credentials in answers. */
                .secret = true,
                .error = transport_error,
        };
        int r;

        if (!url)
                return -ENOMEM;
        if (req.timeout_ms > req.budget_ms)
                req.timeout_ms = req.budget_ms;
        r = http_request(&req, ret);
        if (r < 0)
                set_error(c, "IMDS at %s unreachable: %s", c->endpoint,
                          transport_error[0] ? transport_error : strerror(-r));
        else if ((*ret)->status >= 500)
                set_error(c, "IMDS at %s answered %ld to %s /latest/%s", c->endpoint, (*ret)->status, method, path);
        return r;
}

static int fetch_token(struct imds *c, long deadline) {
        _cleanup_http_response_ struct http_response *resp = NULL;
        _cleanup_free_ char *ttl = strdup_printf(TOKEN_TTL_HEADER ": %ld", c->o.token_ttl_s);
        const char *headers[] = {ttl, NULL};
        int r;

        if (!ttl)
                return -ENOMEM;
        r = send(c, "PUT", "api/token", headers, deadline, &resp);
        if (r < 0)
                return r;
        switch (resp->status) {
        case 200:
                if (resp->body_len == 0 || resp->body_len > 4096 || strpbrk(resp->body, "\r\n")) {
                        set_error(c, "IMDS at %s returned an invalid token", c->endpoint);
                        return -EBADMSG;
                }
                drop_token(c);
                c->token = strndup(resp->body, resp->body_len);
                if (!c->token)
                        return -ENOMEM;
                /* Renew a minute early so a token never expires in flight. */
                c->token_expires_ms =
                        now_ms() + (c->o.token_ttl_s > 120 ? c->o.token_ttl_s - 60 : c->o.token_ttl_s) * 1000;
                return 0;
        case 403: set_error(c, "IMDS at %s is disabled for this instance (403 Forbidden)", c->endpoint); return -EACCES;
        case 404:
        case 405:
                if (c->o.allow_v1) {
                        c->v1 = true;
                        return 0;
                }
                set_error(c, "IMDS at %s does not offer IMDSv2 tokens (%ld) and IMDSv1 is not allowed (imds.allow_v1)",
                          c->endpoint, resp->status);
                return -EPROTONOSUPPORT;
        default:
                if (resp->status < 500)
                        set_error(c, "IMDS at %s refused a token: %ld", c->endpoint, resp->status);
                return -EPROTO;
        }
}

static int ensure_token(struct imds *c, long deadline) {
        if (c->v1 || (c->token && now_ms() < c->token_expires_ms))
                return 0;
        return fetch_token(c, deadline);
}

static int get_once(struct imds *c, const char *path, long deadline, struct http_response **ret) {
        _cleanup_erase_free_ char *auth = NULL;
        const char *headers[] = {NULL, NULL};
        int r;

        r = ensure_token(c, deadline);
        if (r < 0)
                return r;
        if (c->token) {
                auth = strdup_printf(TOKEN_HEADER ": %s", c->token);
                if (!auth)
                        return -ENOMEM;
                headers[0] = auth;
        }
        return send(c, "GET", path, headers, deadline, ret);
}

static int judge(struct imds *c, const char *path, struct http_response *resp) {
        switch (resp->status) {
        case 200: return 0;
        case 404: set_error(c, "/latest/%s is absent (404)", path); return -ENOENT;
        case 403: set_error(c, "IMDS at %s is disabled for this instance (403 Forbidden)", c->endpoint); return -EACCES;
        case 401:
                set_error(c, "IMDS at %s refused the token twice (401); IMDSv2 tokens may be blocked", c->endpoint);
                return -EPERM;
        default:
                if (resp->status < 500)
                        set_error(c, "IMDS at %s answered %ld for /latest/%s", c->endpoint, resp->status, path);
                return -EPROTO;
        }
}

int imds_get(struct imds *c, const char *path, char **ret, size_t *ret_len) {
        return imds_get_within(c, path, 0, ret, ret_len);
}

int imds_get_within(struct imds *c, const char *path, long budget_ms, char **ret, size_t *ret_len) {
        _cleanup_http_response_ struct http_response *resp = NULL;
        long own = c->o.budget_ms > 0 ? c->o.budget_ms : 60000, deadline;
        int r;

        c->error[0] = 0;
        if (c->disabled_by_env) {
                set_error(c, "IMDS is disabled by AWS_EC2_METADATA_DISABLED");
                return -ENODEV;
        }
        if (budget_ms < 0) {
                set_error(c, "no time left to ask IMDS for /latest/%s", path);
                return -ETIMEDOUT;
        }
        deadline = now_ms() + (budget_ms > 0 && budget_ms < own ? budget_ms : own);
        r = get_once(c, path, deadline, &resp);
        if (r >= 0 && resp->status == 401 && !c->v1) {
                /* The token expired or IMDS restarted: one new token, one retry. */
                http_response_free(TAKE_PTR(resp));
                drop_token(c);
                r = get_once(c, path, deadline, &resp);
        }
        if (r < 0)
                return r;
        r = judge(c, path, resp);
        if (r < 0)
                return r;
        if (ret_len)
                *ret_len = resp->body_len;
        *ret = TAKE_PTR(resp->body);
        return 0;
}

static int dup_field(const json_t *doc, const char *key, char **field) {
        const char *v = json_string_value(json_object_get(doc, key));
        if (!v)
                return 0;
        free(*field);
        *field = strdup(v);
        return *field ? 0 : -ENOMEM;
}

/* Optional keys: absent (404) is fine, anything else is an error. */
static int get_optional(struct imds *c, const char *path, char **field) {
        _cleanup_free_ char *v = NULL;
        int r = imds_get(c, path, &v, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        free(*field);
        *field = strdup(strstrip(v));
        return *field ? 0 : -ENOMEM;
}

int imds_identify(struct imds *c, struct instance_facts *ret) {
        _cleanup_free_ char *body = NULL;
        _cleanup_json_ json_t *doc = NULL;
        struct instance_facts f = {0};
        json_error_t jerr;
        int r;

        r = imds_get(c, "dynamic/instance-identity/document", &body, NULL);
        if (r < 0)
                return r;
        doc = json_loads(body, 0, &jerr);
        if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "instanceId"))) {
                set_error(c, "the instance identity document is not valid JSON with an instanceId");
                return -EBADMSG;
        }
        r = dup_field(doc, "instanceId", &f.instance_id);
        r = r < 0 ? r : dup_field(doc, "region", &f.region);
        r = r < 0 ? r : dup_field(doc, "availabilityZone", &f.availability_zone);
        r = r < 0 ? r : dup_field(doc, "instanceType", &f.instance_type);
        r = r < 0 ? r : dup_field(doc, "imageId", &f.image_id);
        r = r < 0 ? r : dup_field(doc, "accountId", &f.account_id);
        r = r < 0 ? r : dup_field(doc, "architecture", &f.architecture);
        r = r < 0 ? r : dup_field(doc, "privateIp", &f.private_ipv4);
        r = r < 0 ? r : get_optional(c, "meta-data/local-hostname", &f.local_hostname);
        r = r < 0 ? r : get_optional(c, "meta-data/public-ipv4", &f.public_ipv4);
        r = r < 0 ? r : get_optional(c, "meta-data/public-hostname", &f.public_hostname);
        if (r < 0) {
                instance_facts_done(&f);
                return r;
        }
        instance_facts_done(ret);
        *ret = f;
        return 0;
}

int imds_from_context(struct kiln_context *ctx, struct imds **ret) {
        struct imds_options o;
        int r;

        if (!ctx->imds) {
                imds_options_from_config(ctx->config, &o);
                r = imds_new(&o, &ctx->imds);
                if (r < 0)
                        return r;
        }
        *ret = ctx->imds;
        return 0;
}

static int env_line(struct strbuf *b, const char *key, const char *value) {
        if (!value)
                return 0;
        /* Values come from IMDS: keep them on one line and unquoted-safe. */
        for (const char *p = value; *p; p++)
                if (*p == '\n' || *p == '"' || *p == '\\' || *p == '$' || *p == '`')
                        return 0;
        return strbuf_printf(b, "%s=%s\n", key, value);
}

int imds_write_env(const struct instance_facts *f) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        _cleanup_free_ char *path = NULL;
        int r = 0;

        r = r < 0 ? r : env_line(&b, "KILN_INSTANCE_ID", f->instance_id);
        r = r < 0 ? r : env_line(&b, "KILN_REGION", f->region);
        r = r < 0 ? r : env_line(&b, "KILN_AVAILABILITY_ZONE", f->availability_zone);
        r = r < 0 ? r : env_line(&b, "KILN_INSTANCE_TYPE", f->instance_type);
        r = r < 0 ? r : env_line(&b, "KILN_IMAGE_ID", f->image_id);
        r = r < 0 ? r : env_line(&b, "KILN_ACCOUNT_ID", f->account_id);
        r = r < 0 ? r : env_line(&b, "KILN_PRIVATE_IPV4", f->private_ipv4);
        r = r < 0 ? r : env_line(&b, "KILN_PUBLIC_IPV4", f->public_ipv4);
        r = r < 0 ? r : env_line(&b, "KILN_LOCAL_HOSTNAME", f->local_hostname);
        r = r < 0 ? r : env_line(&b, "KILN_PUBLIC_HOSTNAME", f->public_hostname);
        if (r < 0)
                return r;
        if (root_path(&path, KILN_RUN_DIR "/metadata.env") < 0)
                return -ENOMEM;
        return write_file_atomic(path, b.data ? b.data : "", b.len, 0644);
}
