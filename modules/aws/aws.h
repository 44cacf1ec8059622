/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "aws/credentials.h"
#include "aws/sigv4.h"
#include "http.h"

/* Calling any AWS service: where it is (endpoint resolution as the AWS SDKs
 * and CLI do it), signing, sending, and reading the answer's error in any of
 * AWS's protocols (query/XML, REST-XML, JSON). Service clients (S3, Route 53,
 * Auto Scaling, CloudWatch Logs) describe a request and judge the result;
 * this file owns what they have in common. Nothing here logs, and no error
 * text holds a key or a signature. */

struct aws_service {
        const char *env_id; /* AWS_ENDPOINT_URL_<env_id>: "S3", "ROUTE_53", "AUTO_SCALING", ... */
        const char *signing_name; /* SigV4 service: "s3", "route53", "autoscaling", "logs" */
        const char *host_prefix; /* "s3" -> https://s3.REGION.amazonaws.com */
        const char *global_region; /* signed for this region whatever the caller's ("us-east-1" for Route 53) */
        const char *global_host; /* "route53.amazonaws.com": one endpoint for every region */
        const char *display; /* "S3", "Route 53": for messages */
};

extern const struct aws_service aws_s3, aws_route53, aws_cloudwatch, aws_autoscaling, aws_logs;

/* The endpoint for service in region: AWS_ENDPOINT_URL_<ID>, else
 * AWS_ENDPOINT_URL, else config_override (may be NULL), else AWS's own
 * ("https://PREFIX.REGION.amazonaws.com", ".com.cn" in China, fips when
 * asked). *ret_custom (may be NULL) is true when the endpoint is not AWS's:
 * S3 then uses path-style addressing. No trailing '/'. -EINVAL when the
 * chosen URL is not a valid http(s) URL without a path. */
int aws_endpoint(const struct aws_service *s, const char *region, const char *config_override, bool fips, char **ret,
                 bool *ret_custom);

struct aws_client {
        const struct aws_service *service;
        char *endpoint; /* "https://s3.us-east-1.amazonaws.com", no trailing '/' */
        char *host; /* "host[:port]" for the Host header */
        char *region; /* signing region */
        bool custom_endpoint;
        long timeout_ms; /* per request; default 10000 */
        const char *ca_file; /* extra trust anchors (tests); may be NULL */
        struct aws_creds_provider *creds; /* not owned */
        long clock_offset_s; /* the service's clock minus ours, learnt from a skew error's Date */
        unsigned requests; /* sent, for figures */
};

/* Resolves the endpoint (see aws_endpoint()). -EINVAL for a bad endpoint. */
int aws_client_init(struct aws_client *c, const struct aws_service *s, const char *region, const char *config_override,
                    bool fips, struct aws_creds_provider *creds);
void aws_client_done(struct aws_client *c);
/* Points c at another region (S3's x-amz-bucket-region): the endpoint is
 * resolved again unless it was given. */
int aws_client_set_region(struct aws_client *c, const char *region);

struct aws_call {
        const char *method; /* "GET", "PUT", "POST", "DELETE", "HEAD" */
        const char *path; /* "/" or "/bucket/key": already percent-encoded as it goes on the wire */
        const char *query; /* canonical: "a=1&b=x%20y", keys sorted; may be NULL */
        const char *const *headers; /* extra "Name: value", NULL-terminated; may be NULL */
        const void *body;
        size_t body_len;
        bool unsigned_payload; /* S3: x-amz-content-sha256 is always sent; this is for streaming only */
        size_t max_body; /* of the answer; default 4 MiB */
        bool secret; /* the body (sent or received) holds a secret: copies wiped */
        long timeout_ms; /* 0: the client's */
};

struct aws_result {
        long status; /* HTTP status; 0 when no answer came */
        int transport_error; /* when no answer came: why (-ETIMEDOUT, -EFBIG, ...) */
        struct http_response *response; /* owned; NULL when no answer came */
        char code[128]; /* the service's error code: "NoSuchKey", "PreconditionFailed", "Throttling", ... */
        char message[512]; /* its message, or the transport error */
        bool retry; /* worth trying again later: network, 5xx, throttling, clock skew */
        bool auth_failed; /* credentials refused (or none): the provider was told */
        char error[768]; /* one line for the log: "S3 PUT /b/k: 403 AccessDenied: ..." */
};

void aws_result_done(struct aws_result *r);

/* Signs (at our clock plus the learnt offset) and sends one request; a 2xx
 * answer is success. Any answer, or none, is described in *ret: 0 is
 * returned whenever the service could be asked, whatever it said; a
 * negative errno only for -ENOMEM, -EINVAL (a malformed call), and -ENOKEY
 * when there are no credentials (ret->error says why). An answer that says
 * our clock is off corrects the offset from its Date and the request is
 * signed and sent once more, as the SDKs do. One attempt otherwise: the
 * caller decides about retries. */
int aws_call(struct aws_client *c, const struct aws_call *call, struct aws_result *ret);
/* True for 2xx. */
static inline bool aws_ok(const struct aws_result *r) {
        return r->status >= 200 && r->status < 300;
}

/* The error code and message of an AWS answer: the x-amzn-query-error
 * header (error_header; the query-compatible code both protocols share), a
 * JSON "__type" and "message", or the XML <Code> and <Message>. -ENOENT,
 * with empty strings, when none. */
int aws_error_code(const char *error_header, const char *body, char *code, size_t code_size, char *msg,
                   size_t msg_size);
/* Whether an error code and message say the request's time was off. */
bool aws_is_skew_error(const char *code, const char *msg);
/* An HTTP-date ("Sun, 06 Nov 1994 08:49:37 GMT") -> epoch seconds. */
int aws_parse_http_date(const char *s, time_t *ret);

/* The region of the instance for AWS calls: explicit (config) when set,
 * else AWS_REGION, else AWS_DEFAULT_REGION, else fallback (the instance's,
 * from IMDS). NULL when none. Points into its arguments or the environment. */
const char *aws_region(const char *explicit_region, const char *fallback);

/* --- XML answers (S3, Route 53, Auto Scaling), read with expat into a small
 * tree. Namespaces are dropped from names. Bounded: at most 8 MiB of input,
 * 64 levels, 100000 elements; -EBADMSG for malformed or over-limit XML. */
struct xml_node {
        char *name;
        char *text; /* the element's own character data, "" when none */
        struct xml_node *parent, *first_child, *next;
};

int xml_parse(const char *data, size_t len, struct xml_node **ret);
void xml_free(struct xml_node *n);
DEFINE_POINTER_CLEANUP(struct xml_node, xml_free)
/* The first child named name; NULL when none. */
const struct xml_node *xml_child(const struct xml_node *n, const char *name);
/* The next sibling after n with n's name. */
const struct xml_node *xml_next(const struct xml_node *n);
/* Follows a '/'-separated path of child names from n: "ChangeInfo/Status". */
const struct xml_node *xml_path(const struct xml_node *n, const char *path);
/* xml_path()'s text, or NULL. */
const char *xml_text(const struct xml_node *n, const char *path);

/* XML-escapes s (&, <, >, ", ') for a request body. */
char *xml_escape(const char *s);
