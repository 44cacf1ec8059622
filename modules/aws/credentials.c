/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "aws/credentials.h"
#include "http.h"
#include "strbuf.h"

#define REFRESH_MIN_S (5 * 60)
#define REFRESH_MAX_S (15 * 60)
#define RETRY_BASE_MS 5000L
#define RETRY_MAX_MS (5 * 60 * 1000L)
#define ROLE_PATH "meta-data/iam/security-credentials/"

struct aws_creds_provider {
        struct imds *imds;
        struct aws_credentials current;
        bool have;
        bool from_env;
        char *role;
        time_t refresh_at; /* fetch again from then on */
        time_t retry_at; /* after a failure, not before then */
        unsigned failures;
        char source[300];
        char error[512];
};

static unsigned random_u32(void) {
        unsigned r = 0;
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
                r = (unsigned) rand();
        return r;
}

static int from_env(struct aws_credentials *ret) {
        const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
        const char *token = getenv("AWS_SESSION_TOKEN");
        struct aws_credentials c = {0};

        if (!ak || !*ak || !sk || !*sk)
                return -ENOENT;
        c.access_key_id = strdup(ak);
        c.secret_access_key = strdup(sk);
        c.session_token = token && *token ? strdup(token) : NULL;
        if (!c.access_key_id || !c.secret_access_key || (token && *token && !c.session_token)) {
                aws_credentials_done(&c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

int aws_creds_provider_new(struct imds *imds, struct aws_creds_provider **ret) {
        struct aws_creds_provider *p = calloc(1, sizeof(*p));
        int r;

        if (!p)
                return -ENOMEM;
        p->imds = imds;
        r = from_env(&p->current);
        if (r == -ENOMEM) {
                free(p);
                return r;
        }
        p->have = p->from_env = r == 0;
        snprintf(p->source, sizeof(p->source), "%s", p->have ? "environment" : "none");
        *ret = p;
        return 0;
}

int aws_creds_provider_new_imds(const struct imds_options *o, struct imds **ret_imds, struct aws_creds_provider **ret) {
        struct imds_options bounded = *o;
        struct imds *imds = NULL;
        int r;

        if (bounded.budget_ms <= 0 || bounded.budget_ms > AWS_CREDS_IMDS_BUDGET_MS)
                bounded.budget_ms = AWS_CREDS_IMDS_BUDGET_MS;
        r = imds_new(&bounded, &imds);
        if (r < 0)
                return r;
        r = aws_creds_provider_new(imds, ret);
        if (r < 0) {
                imds_free(imds);
                return r;
        }
        *ret_imds = imds;
        return 0;
}

void aws_creds_provider_free(struct aws_creds_provider *p) {
        if (!p)
                return;
        aws_credentials_done(&p->current);
        free(p->role);
        free(p);
}

int aws_parse_iso8601(const char *s, time_t *ret) {
        struct tm tm = {0};
        const char *end;
        long off = 0;

        if (!s)
                return -EINVAL;
        end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!end)
                return -EINVAL;
        if (*end == '.')
                for (end++; *end >= '0' && *end <= '9'; end++)
                        ;
        if ((*end == '+' || *end == '-') && strlen(end) == 6 && end[3] == ':')
                off = (end[0] == '-' ? -1 : 1) *
                      ((end[1] - '0') * 36000L + (end[2] - '0') * 3600L + (end[4] - '0') * 600L + (end[5] - '0') * 60L);
        else if (!streq(end, "Z"))
                return -EINVAL;
        *ret = timegm(&tm) - off;
        return 0;
}

static int dup_member(json_t *doc, const char *key, bool required, char **ret) {
        json_t *v = json_object_get(doc, key);

        if (!json_is_string(v) || !*json_string_value(v))
                return required ? -EBADMSG : 0;
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

/* Jansson's parser copies what it reads (its token buffer, the strings of
 * the tree) and frees the copies as they are: while the credentials
 * document is parsed, each block jansson frees is wiped first. */
static void wiping_free(void *p) {
        if (!p)
                return;
        explicit_bzero(p, malloc_usable_size(p));
        free(p);
}

static int parse_imds(const char *text, struct aws_credentials *ret) {
        _cleanup_(json_decrefp) json_t *doc = json_loads(text, 0, NULL);
        struct aws_credentials c = {0};
        const char *code;
        int r;

        if (!json_is_object(doc))
                return -EBADMSG;
        /* "Code" is optional: some IMDS implementations leave it out. */
        code = json_string_value(json_object_get(doc, "Code"));
        if (code && !streq(code, "Success"))
                return -EACCES;
        r = dup_member(doc, "AccessKeyId", true, &c.access_key_id);
        r = r < 0 ? r : dup_member(doc, "SecretAccessKey", true, &c.secret_access_key);
        r = r < 0 ? r : dup_member(doc, "Token", false, &c.session_token);
        if (r >= 0 && json_is_string(json_object_get(doc, "Expiration")))
                r = aws_parse_iso8601(json_string_value(json_object_get(doc, "Expiration")), &c.expiration) < 0
                            ? -EBADMSG
                            : 0;
        if (r < 0) {
                aws_credentials_done(&c);
                return r;
        }
        *ret = c;
        return 0;
}

int aws_creds_parse_imds(const char *text, struct aws_credentials *ret) {
        json_malloc_t old_malloc;
        json_free_t old_free;
        int r;

        json_get_alloc_funcs(&old_malloc, &old_free);
        /* Only where jansson uses the C library's allocator, as kiln does. */
        if (old_malloc != malloc || old_free != free)
                return parse_imds(text, ret);
        json_set_alloc_funcs(malloc, wiping_free);
        r = parse_imds(text, ret);
        json_set_alloc_funcs(old_malloc, old_free);
        return r;
}

_printf_(2, 3) static void set_error(struct aws_creds_provider *p, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->error, sizeof(p->error), fmt, ap);
        va_end(ap);
}

static int fetch_role(struct aws_creds_provider *p) {
        _cleanup_free_ char *body = NULL;
        int r;

        if (p->role)
                return 0;
        r = imds_get(p->imds, ROLE_PATH, &body, NULL);
        if (r == -ENOENT) {
                set_error(p, "no credentials: none in the environment (AWS_ACCESS_KEY_ID) and the instance "
                             "has no IAM role");
                return r;
        }
        if (r < 0) {
                set_error(p, "failed to read the instance's IAM role: %s", imds_error(p->imds));
                return r;
        }
        body[strcspn(body, "\r\n")] = 0;
        if (!*body || strchr(body, '/')) {
                set_error(p, "IMDS returned an invalid IAM role name");
                return -EBADMSG;
        }
        p->role = strdup(body);
        return p->role ? 0 : -ENOMEM;
}

static int fetch(struct aws_creds_provider *p, struct aws_credentials *ret) {
        _cleanup_free_ char *path = NULL, *body = NULL;
        int r;

        r = fetch_role(p);
        if (r < 0)
                return r;
        path = strdup_printf(ROLE_PATH "%s", p->role);
        if (!path)
                return -ENOMEM;
        r = imds_get(p->imds, path, &body, NULL);
        if (r == -ENOENT) {
                /* The role changed (instance profile replaced): look it up again. */
                free(p->role);
                p->role = NULL;
                set_error(p, "IMDS has no credentials for the IAM role any more");
                return r;
        }
        if (r < 0) {
                set_error(p, "failed to read the IAM role's credentials: %s", imds_error(p->imds));
                return r;
        }
        r = aws_creds_parse_imds(body, ret);
        explicit_bzero(body, strlen(body));
        if (r < 0)
                set_error(p, "IMDS returned unusable credentials for IAM role '%s' (%s)", p->role,
                          r == -EACCES ? "Code is not Success" : "invalid document");
        return r;
}

/* 5 to 15 minutes before expiry, but never later than half the life left. */
static time_t refresh_time(time_t now, time_t expiration) {
        time_t window = REFRESH_MIN_S + (time_t) (random_u32() % (REFRESH_MAX_S - REFRESH_MIN_S + 1));

        if (expiration == 0)
                return 0;
        if (expiration - now < 2 * window)
                window = (expiration - now) / 2;
        return expiration - (window > 0 ? window : 0);
}

/* A second of margin: a request signed now must not arrive expired. */
static bool usable(const struct aws_creds_provider *p, time_t now) {
        return p->have && (p->current.expiration == 0 || now + 1 < p->current.expiration);
}

static int refresh(struct aws_creds_provider *p, time_t now) {
        struct aws_credentials c;
        int r;

        if (!p->imds) {
                set_error(p, "no credentials: none in the environment and IMDS is not available");
                return -ENOKEY;
        }
        r = fetch(p, &c);
        if (r < 0) {
                p->failures++;
                p->retry_at = now + (http_backoff_ms(p->failures, RETRY_BASE_MS, RETRY_MAX_MS) + 999) / 1000;
                return r;
        }
        aws_credentials_done(&p->current);
        p->current = c;
        p->have = true;
        p->failures = 0;
        p->retry_at = 0;
        p->refresh_at = refresh_time(now, c.expiration);
        snprintf(p->source, sizeof(p->source), "instance role '%s'", p->role);
        return 0;
}

int aws_creds_get(struct aws_creds_provider *p, time_t now, const struct aws_credentials **ret) {
        bool due = !p->have || (p->refresh_at != 0 && now >= p->refresh_at);

        if (!p->from_env && due && now >= p->retry_at) {
                time_t after;
                (void) refresh(p, now);
                /* IMDS may have taken seconds to fail: judge expiry after it. */
                after = time(NULL);
                if (after > now)
                        now = after;
        }
        if (!usable(p, now)) {
                char why[sizeof(p->error)];
                if (p->have) {
                        snprintf(why, sizeof(why), "%s", p->error[0] ? p->error : "unknown error");
                        set_error(p, "the credentials from %s expired and could not be refreshed: %s", p->source, why);
                }
                return -ENOKEY;
        }
        *ret = &p->current;
        return 0;
}

void aws_creds_invalidate(struct aws_creds_provider *p) {
        if (p->from_env)
                return;
        p->refresh_at = 1;
        p->retry_at = 0;
}

time_t aws_creds_refresh_at(const struct aws_creds_provider *p) {
        return p->refresh_at;
}

const char *aws_creds_source(const struct aws_creds_provider *p) {
        return p->source;
}

const char *aws_creds_error(const struct aws_creds_provider *p) {
        return p->error;
}
