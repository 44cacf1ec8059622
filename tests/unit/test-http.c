/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "fake.h"
#include "http.h"
#include "log.h"
#include "path.h"
#include "strbuf.h"
#include "tap.h"

static struct fake srv;

/* The fake IMDS with tokens optional is a plain HTTP server with faults. */
static int get(const char *path, unsigned attempts, unsigned retry_on, long timeout_ms, long budget_ms,
               struct http_response **ret) {
        _cleanup_free_ char *url = strdup_printf("%s%s", srv.url, path);
        struct http_request req = {
                .url = url,
                .max_attempts = attempts,
                .retry_on = retry_on,
                .timeout_ms = timeout_ms,
                .budget_ms = budget_ms,
                .backoff_base_ms = 20,
        };
        return http_request(&req, ret);
}

static void test_plain(void) {
        struct http_response *resp = NULL;

        is_int(get("/latest/meta-data/instance-id", 1, 0, 0, 0, &resp), 0, "GET succeeds");
        is_int(resp->status, 200, "status 200");
        is_str(resp->body, "i-http", "body is the instance-id");
        ok(http_response_header(resp, "content-type") != NULL, "headers are looked up case-insensitively");
        http_response_free(resp);
        resp = NULL;
        is_int(get("/latest/meta-data/nope", 3, HTTP_RETRY_5XX, 0, 0, &resp), 0, "404 is a response");
        is_int(resp->status, 404, "status 404, not retried");
        is_int(resp->attempts, 1, "one attempt");
        http_response_free(resp);
}

static void test_retries(void) {
        struct http_response *resp = NULL;

        fake_post(&srv, "/_fake/config", "{\"fail_5xx\": 2}");
        is_int(get("/latest/meta-data/instance-id", 5, HTTP_RETRY_5XX, 0, 0, &resp), 0, "5xx retried");
        is_int(resp->status, 200, "then 200");
        is_int(resp->attempts, 3, "after three attempts");
        http_response_free(resp);
        resp = NULL;

        fake_post(&srv, "/_fake/config", "{\"fail_5xx\": 1}");
        is_int(get("/latest/meta-data/instance-id", 5, 0, 0, 0, &resp), 0, "without retry_on");
        is_int(resp->status, 503, "5xx is returned as is");
        http_response_free(resp);
        resp = NULL;

        /* A fresh connection each time: curl itself retries once when a
         * reused keep-alive connection turns out dead. */
        fake_post(&srv, "/_fake/config", "{\"reset\": 1}");
        http_global_cleanup();
        http_global_init();
        is_int(get("/latest/meta-data/instance-id", 3, HTTP_RETRY_NETWORK, 0, 0, &resp), 0,
               "a reset connection is retried");
        ok(resp && resp->attempts == 2, "on the second attempt");
        http_response_free(resp);
        resp = NULL;

        fake_post(&srv, "/_fake/config", "{\"reset\": 1}");
        http_global_cleanup();
        http_global_init();
        is_int(get("/latest/meta-data/instance-id", 3, 0, 0, 0, &resp), -ECONNRESET,
               "without retry_on, a reset is -ECONNRESET");
}

static void test_limits(void) {
        struct http_response *resp = NULL;
        long t0;
        int r;

        fake_post(&srv, "/_fake/config", "{\"hang_ms\": 3000, \"hang_count\": 1}");
        t0 = now_ms();
        is_int(get("/latest/meta-data/instance-id", 1, 0, 300, 0, &resp), -ETIMEDOUT, "a hang times out");
        ok(now_ms() - t0 < 2000, "within the per-attempt timeout (%ld ms)", now_ms() - t0);
        fake_post(&srv, "/_fake/reset", "{}");

        fake_post(&srv, "/_fake/config", "{\"fail_5xx\": 1000}");
        t0 = now_ms();
        r = get("/latest/meta-data/instance-id", 1000, HTTP_RETRY_5XX, 0, 800, &resp);
        ok(r == 0 && resp->status == 503, "an endless 5xx gives up with the last response");
        ok(now_ms() - t0 < 1500, "within the budget (%ld ms, %u attempts)", now_ms() - t0, resp ? resp->attempts : 0);
        http_response_free(resp);
        fake_post(&srv, "/_fake/reset", "{}");
}

static void test_helpers(void) {
        _cleanup_free_ char *enc = http_urlencode("a b/c~d=é");
        long d;

        is_int(http_parse_retry_after("120", 1000), 120000, "Retry-After seconds");
        is_int(http_parse_retry_after("Thu, 01 Jan 1970 00:20:00 GMT", 1000), 200000, "Retry-After HTTP-date");
        is_int(http_parse_retry_after("soon", 1000), -1, "invalid Retry-After");
        is_int(http_parse_retry_after("Thu, 01 Jan 1970 00:00:01 GMT", 1000), 0, "past date means now");
        d = http_backoff_ms(1, 100, 10000);
        ok(d >= 50 && d <= 100, "first backoff in [base/2, base] (%ld)", d);
        d = http_backoff_ms(20, 100, 10000);
        ok(d >= 5000 && d <= 10000, "backoff is capped (%ld)", d);
        is_str(enc, "a%20b%2Fc~d%3D%C3%A9", "RFC 3986 encoding");
}

int main(void) {
        const char *args[] = {"--instance-id", "i-http", "--no-v2-required", NULL};
        int r;

        log_setup(false);
        /* http-transports.sh gives a root: its KILN_HTTP_CURL acts only under one. */
        root_set(getenv("KILN_ROOT"));
        http_global_init();
        r = fake_start(&srv, "imds.py", args);
        if (!ok(r == 0, "fake server started"))
                return tap_done();
        test_plain();
        test_retries();
        test_limits();
        test_helpers();
        fake_stop(&srv);
        http_global_cleanup();
        return tap_done();
}
