/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "fake.h"
#include "http.h"
#include "imds/imds.h"
#include "log.h"
#include "path.h"
#include "strbuf.h"
#include "tap.h"

static struct fake srv;

/* Every block kiln's code hands back to the allocator while `watching` is
 * scanned for an IMDS token ("AQAEA" and base64, as the fake issues them):
 * none may still hold one. The program is linked with -Wl,--wrap=free and
 * -Wl,--wrap=realloc (tests/local.mk), so kiln's own free() and realloc()
 * calls come here; realloc() is made to move, so the block it leaves is
 * scanned too. */
void __real_free(void *p);
void *__real_realloc(void *p, size_t n);
void __wrap_free(void *p);
void *__wrap_realloc(void *p, size_t n);
static bool watching;
static unsigned unwiped;

static bool holds_token(const char *p, size_t n) {
        static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *m;

        while (n >= 45 && (m = memmem(p, n, "AQAEA", 5))) {
                size_t i = 5;
                while (i < 45 && (size_t) (m - p) + i < n && m[i] && strchr(b64, m[i]))
                        i++;
                if (i == 45)
                        return true;
                n -= (size_t) (m - p) + 1;
                p = m + 1;
        }
        return false;
}

void __wrap_free(void *p) {
        if (watching && p && holds_token(p, malloc_usable_size(p)))
                unwiped++;
        __real_free(p);
}

void *__wrap_realloc(void *p, size_t n) {
        size_t old;
        void *q;

        if (!watching || !p)
                return __real_realloc(p, n);
        q = __real_realloc(NULL, n);
        if (!q)
                return NULL;
        old = malloc_usable_size(p);
        memcpy(q, p, old < n ? old : n);
        __wrap_free(p);
        return q;
}

static struct imds *client(bool allow_v1, long budget_ms) {
        struct imds_options o = {
                .endpoint = srv.url,
                .allow_v1 = allow_v1,
                .token_ttl_s = 21600,
                .connect_timeout_ms = 500,
                .timeout_ms = 1000,
                .budget_ms = budget_ms,
        };
        struct imds *c = NULL;
        imds_new(&o, &c);
        return c;
}

static long stat_of(const char *key) {
        json_t *j = fake_get(&srv, "/_fake/stats");
        long v = (long) json_integer_value(json_object_get(j, key));
        json_decref(j);
        return v;
}

static int get(struct imds *c, const char *path, char **ret) {
        free(*ret);
        *ret = NULL;
        return imds_get(c, path, ret, NULL);
}

static void test_tokens(void) {
        _cleanup_(imds_freep) struct imds *c = client(false, 5000);
        struct instance_facts f = {0};
        _cleanup_free_ char *v = NULL;

        fake_post(&srv, "/_fake/reset", "{}");
        is_int(imds_identify(c, &f), 0, "identify over IMDSv2");
        is_str(f.instance_id, "i-unit", "instance-id from the identity document");
        is_str(f.region, "eu-west-3", "region from the identity document");
        ok(f.local_hostname != NULL, "local hostname read");
        instance_facts_done(&f);
        is_int(get(c, "meta-data/instance-id", &v), 0, "plain GET");
        is_int(stat_of("token_puts"), 1, "the token is fetched once and reused");
        is_int(stat_of("gets_without_token"), 0, "every GET carries the token");

        fake_post(&srv, "/_fake/config", "{\"expire_tokens\": true}");
        is_int(get(c, "meta-data/instance-id", &v), 0, "a 401 on an expired token is recovered");
        is_int(stat_of("token_puts"), 2, "by fetching one new token");
        is_int(get(c, "user-data", &v), -ENOENT, "absent user-data is -ENOENT");
}

/* Tokens are wiped from every buffer that held one (the client's copy,
 * the request that sent it, the answer that brought it) when freed. */
static void test_wipe(void) {
        struct imds *c = client(false, 5000);
        struct instance_facts f = {0};
        char *v = NULL, *planted = strdup("token=AQAEAabcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH");

        fake_post(&srv, "/_fake/reset", "{}");
        watching = true;
        free(planted);
        ok(unwiped == 1, "the check sees a token left in freed memory");
        unwiped = 0;
        is_int(imds_identify(c, &f), 0, "identify");
        is_int(get(c, "meta-data/instance-id", &v), 0, "a GET with the token");
        watching = false;
        fake_post(&srv, "/_fake/config", "{\"expire_tokens\": true}");
        watching = true;
        is_int(get(c, "meta-data/instance-id", &v), 0, "a GET after the token expired (a new token)");
        imds_free(c);
        instance_facts_done(&f);
        free(v);
        watching = false;
        ok(unwiped == 0, "no token left in memory freed by kiln (%u blocks)", unwiped);
}

static void test_modes(void) {
        _cleanup_(imds_freep) struct imds *c = client(false, 5000);
        _cleanup_(imds_freep) struct imds *v1 = client(true, 5000);
        _cleanup_free_ char *v = NULL;
        long t0;

        fake_post(&srv, "/_fake/config", "{\"disabled\": true}");
        t0 = now_ms();
        is_int(get(c, "meta-data/instance-id", &v), -EACCES, "403 means disabled");
        ok(now_ms() - t0 < 1000, "and fails fast");
        ok(strstr(imds_error(c), "disabled") != NULL, "with a clear message: %s", imds_error(c));
        fake_post(&srv, "/_fake/reset", "{}");

        fake_post(&srv, "/_fake/config", "{\"v1_only\": true}");
        is_int(get(c, "meta-data/instance-id", &v), -EPROTONOSUPPORT, "no tokens and v1 not allowed: refused");
        ok(strstr(imds_error(c), "allow_v1") != NULL, "the message names the setting");
        is_int(get(v1, "meta-data/instance-id", &v), 0, "with allow_v1, IMDSv1 works");
        is_str(v, "i-unit", "and reads the value");
        fake_post(&srv, "/_fake/reset", "{}");

        setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
        {
                _cleanup_(imds_freep) struct imds *off = client(false, 5000);
                is_int(get(off, "meta-data/instance-id", &v), -ENODEV, "AWS_EC2_METADATA_DISABLED is honoured");
        }
        unsetenv("AWS_EC2_METADATA_DISABLED");
}

static void test_faults(void) {
        _cleanup_(imds_freep) struct imds *c = client(false, 5000);
        _cleanup_(imds_freep) struct imds *quick = client(false, 1200);
        _cleanup_free_ char *v = NULL;
        long t0;

        fake_post(&srv, "/_fake/config", "{\"fail_5xx\": 3}");
        is_int(get(c, "meta-data/instance-id", &v), 0, "recovers from 5xx");
        fake_post(&srv, "/_fake/config", "{\"reset\": 2}");
        is_int(get(c, "meta-data/instance-id", &v), 0, "recovers from connection resets");
        fake_post(&srv, "/_fake/config", "{\"delay_ms\": 300}");
        is_int(get(c, "meta-data/instance-id", &v), 0, "tolerates a slow IMDS");
        fake_post(&srv, "/_fake/reset", "{}");

        fake_post(&srv, "/_fake/config", "{\"hang_ms\": 5000}");
        t0 = now_ms();
        ok(get(quick, "meta-data/instance-id", &v) == -ETIMEDOUT, "a hanging IMDS times out");
        ok(now_ms() - t0 < 2500, "within the budget (%ld ms)", now_ms() - t0);
        ok(strstr(imds_error(quick), "unreachable") != NULL, "message: %s", imds_error(quick));
        fake_post(&srv, "/_fake/reset", "{}");

        fake_post(&srv, "/_fake/config", "{\"fail_5xx\": 100000}");
        t0 = now_ms();
        is_int(get(quick, "meta-data/instance-id", &v), -EPROTO, "endless 5xx gives up");
        ok(now_ms() - t0 < 2500, "within the budget (%ld ms)", now_ms() - t0);
        fake_post(&srv, "/_fake/reset", "{}");
}

static void test_unreachable(void) {
        struct imds_options o = {.endpoint = "http://127.0.0.1:1",
                                 .connect_timeout_ms = 200,
                                 .timeout_ms = 500,
                                 .budget_ms = 1000,
                                 .token_ttl_s = 60};
        _cleanup_(imds_freep) struct imds *c = NULL;
        _cleanup_free_ char *v = NULL;
        long t0 = now_ms();

        imds_new(&o, &c);
        is_int(get(c, "meta-data/instance-id", &v), -ECONNREFUSED, "no IMDS: connection refused");
        ok(now_ms() - t0 < 2000, "retried only within the budget (%ld ms)", now_ms() - t0);
}

static void test_env(void) {
        struct imds_options o;
        json_t *cfg = json_pack("{s:{s:s}}", "imds", "endpoint", "http://config:1");

        imds_options_from_config(cfg, &o);
        is_str(o.endpoint, "http://config:1", "endpoint from config");
        setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://env:2", 1);
        imds_options_from_config(cfg, &o);
        is_str(o.endpoint, "http://env:2", "the SDK environment variable wins");
        unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
        setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6", 1);
        imds_options_from_config(NULL, &o);
        is_str(o.endpoint, IMDS_ENDPOINT_IPV6, "IPv6 endpoint mode");
        unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
        imds_options_from_config(NULL, &o);
        is_str(o.endpoint, IMDS_ENDPOINT_IPV4, "IPv4 by default");
        is_int(o.token_ttl_s, 21600, "token TTL 21600 by default");
        json_decref(cfg);
}

int main(void) {
        const char *args[] = {"--instance-id", "i-unit", "--region", "eu-west-3", NULL};

        log_setup(false);
        /* http-transports.sh gives a root: its KILN_HTTP_CURL acts only under one. */
        root_set(getenv("KILN_ROOT"));
        http_global_init();
        unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
        unsetenv("AWS_EC2_METADATA_DISABLED");
        if (!ok(fake_start(&srv, "imds.py", args) == 0, "fake IMDS started"))
                return tap_done();
        test_tokens();
        test_wipe();
        test_modes();
        test_faults();
        test_unreachable();
        test_env();
        fake_stop(&srv);
        http_global_cleanup();
        return tap_done();
}
