/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "cloudwatch/collect.h"
#include "cloudwatch/credentials.h"
#include "cloudwatch/metric.h"
#include "cloudwatch/putmetric.h"
#include "cloudwatch/sigv4.h"
#include "cloudwatch/spool.h"
#include "fake.h"
#include "fileio.h"
#include "strbuf.h"
#include "tap.h"

static void test_sigv4_vector(void) {
        /* get-vanilla from AWS's SigV4 test suite. */
        char *headers[] = {(char *) "Host:example.amazonaws.com", NULL};
        struct aws_credentials c = {.access_key_id = (char *) "AKIDEXAMPLE",
                                    .secret_access_key = (char *) "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};
        struct sigv4_request req = {.method = "GET", .target = "/", .headers = headers};
        struct sigv4_result res = {0};
        time_t when;

        is_int(sigv4_parse_date("20150830T123600Z", &when), 0, "parse the SigV4 date");
        is_int(sigv4_sign(&req, &c, "us-east-1", "service", when, &res), 0, "sign get-vanilla");
        is_str(res.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
               "get-vanilla signature matches AWS's test suite");
        is_str(res.authorization,
               "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
               "SignedHeaders=host;x-amz-date, "
               "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
               "and so does the Authorization header");
        sigv4_result_done(&res);
        headers[0] = (char *) "X-Other: 1";
        is_int(sigv4_sign(&req, &c, "us-east-1", "service", when, &res), -EINVAL, "a request without Host is refused");
}

static void test_check(void) {
        time_t now = time(NULL);
        _cleanup_(json_decrefp) json_t *d = metric_datum_new("Q", 1.5, "Count", now, 60);
        char *err = NULL;

        is_int(metric_check_datum(d, now, NULL), 0, "a plain datum is valid");
        json_object_set_new(d, "Timestamp", json_integer(now - 15 * 86400));
        is_int(metric_check_datum(d, now, &err), -EINVAL, "15 days old is refused");
        ok(err && strstr(err, "two weeks"), "with a reason: %s", err ? err : "");
        free(err);
        json_object_set_new(d, "Timestamp", json_integer(now + 3 * 3600));
        is_int(metric_check_datum(d, now, NULL), -EINVAL, "3 hours ahead is refused");
        json_object_set_new(d, "Timestamp", json_integer(now));
        json_object_set_new(d, "Unit", json_string("Parsecs"));
        is_int(metric_check_datum(d, now, NULL), -EINVAL, "an unknown unit is refused");
        json_object_set_new(d, "Unit", json_string("Count"));
        json_object_set_new(d, "Value", json_real(0x1p400));
        is_int(metric_check_datum(d, now, NULL), -EINVAL, "2^400 is out of range");
        json_object_set_new(d, "Value", json_real(1));
        metric_datum_add_dimension(d, "A", "x");
        metric_datum_add_dimension(d, "A", "y");
        is_int(metric_check_datum(d, now, NULL), -EINVAL, "a dimension given twice is refused");
        is_int(metric_check_namespace("AWS/EC2", NULL), -EINVAL, "AWS/ namespaces are reserved");
        is_int(metric_check_namespace("MyApp", NULL), 0, "MyApp is a fine namespace");
}

static void test_pack_split(void) {
        time_t now = time(NULL) - time(NULL) % 60;
        _cleanup_(json_decrefp) json_t *in = json_array(), *packed = NULL, *parts = NULL;

        for (int i = 0; i < 400; i++)
                json_array_append_new(in, metric_datum_new("Lat", (double) (i % 200), "Milliseconds", now, 60));
        json_array_append_new(in, metric_datum_new("Other", 1, NULL, now, 60));
        packed = metric_pack(in);
        {
                double lat = 0;
                size_t most = 0, i;
                json_t *p;
                json_array_foreach(packed, i, p) {
                        if (streq(json_string_value(json_object_get(p, "MetricName")), "Lat"))
                                lat += metric_datum_samples(p);
                        if (json_array_size(json_object_get(p, "Values")) > most)
                                most = json_array_size(json_object_get(p, "Values"));
                }
                ok(json_array_size(packed) <= 5, "401 samples of 2 metrics pack into a few datums (%zu)",
                   json_array_size(packed));
                is_int((long long) lat, 400, "no sample is lost in packing");
                is_int(most, 150, "at most 150 values in one datum");
        }
        is_int(metric_check_datum(json_array_get(packed, 0), now, NULL), 0, "a packed datum is valid");

        json_array_clear(in);
        for (int i = 0; i < 2500; i++)
                json_array_append_new(in, metric_datum_new("M", i, NULL, now - i, 1));
        parts = metric_split(in, "NS");
        is_int(json_array_size(parts), 3, "2500 datums split into 3 requests of at most 1000");
}

static void test_encode(void) {
        _cleanup_(json_decrefp) json_t *in = json_array(), *j = NULL;
        _cleanup_strbuf_ struct strbuf q = STRBUF_INIT, js = STRBUF_INIT, z = STRBUF_INIT;
        json_t *d = metric_datum_new("Queue Depth", 0.1, "Count", 1700000000, 60);

        metric_datum_add_dimension(d, "Host", "a&b=c");
        json_array_append_new(in, d);
        is_int(metric_encode(METRIC_QUERY, "My App", in, &q), 0, "Query encoding");
        is_str(q.data,
               "Action=PutMetricData&Version=2010-08-01&Namespace=My%20App&MetricData.member.1.MetricName=Queue%20Depth"
               "&MetricData.member.1.Dimensions.member.1.Name=Host&MetricData.member.1.Dimensions.member.1.Value="
               "a%26b%3Dc&MetricData.member.1.Timestamp=2023-11-14T22%3A13%3A20Z&MetricData.member.1.Value=0.1"
               "&MetricData.member.1.Unit=Count&MetricData.member.1.StorageResolution=60",
               "Query body as CloudWatch expects it");
        is_int(metric_encode(METRIC_JSON, "My App", in, &js), 0, "JSON encoding");
        j = json_loads(js.data, 0, NULL);
        is_str(json_string_value(json_object_get(j, "Namespace")), "My App", "JSON body has the namespace");
        ok(json_number_value(json_object_get(json_array_get(json_object_get(j, "MetricData"), 0), "Value")) == 0.1,
           "and the exact value");
        is_int(metric_gzip("abc", 3, &z), -E2BIG, "gzip is skipped when it does not shrink");
        for (int i = 0; i < 500; i++)
                strbuf_puts(&js, "MetricData.member.1.Value=1&");
        is_int(metric_gzip(js.data, js.len, &z), 0, "a repetitive body gzips");
        ok(z.len < js.len / 5 && (unsigned char) z.data[0] == 0x1f && (unsigned char) z.data[1] == 0x8b,
           "into a smaller gzip stream (%zu -> %zu)", js.len, z.len);
}

static void test_spool(void) {
        char dir[] = "/tmp/kiln-spool-XXXXXX";
        struct spool_limits lim = {.max_datums = 4, .max_bytes = 1 << 20};
        _cleanup_(json_decrefp) json_t *one = json_array(), *groups = NULL, *req = NULL, *reqs = NULL;
        _cleanup_strv_free_ char **sources = NULL;
        _cleanup_free_ char *name = NULL;
        struct spool *s = NULL;
        struct spool_counts c;
        size_t bad = 0, dropped = 0;

        ok(mkdtemp(dir) != NULL, "scratch dir");
        json_array_append_new(one, metric_datum_new("A", 1, NULL, time(NULL), 60));
        is_int(spool_submit(dir, NULL, one, 100), 0, "submit a datum");
        is_int(spool_submit(dir, "NS", one, 100), 0, "submit another");
        is_int(spool_open(dir, &lim, &s), 0, "open the spool");
        is_int(spool_take_incoming(s, 100, &groups, &sources, &bad), 0, "take incoming");
        is_int(json_array_size(groups), 2, "both files taken");
        reqs = json_pack("[{s:s, s:O}, {s:s, s:O}]", "namespace", "X", "datums", one, "namespace", "Y", "datums", one);
        /* A crash after the commit but before the sources went: simulate by
         * committing without removing (write, then reopen). */
        is_int(spool_commit(s, reqs, NULL), 0, "commit two requests");
        {
                char *const keep[] = {sources[0], sources[1], NULL};
                _cleanup_(json_decrefp) json_t *r2 = json_pack("[{s:s, s:O}]", "namespace", "Z", "datums", one);
                /* A commit naming the sources, whose removal we undo. */
                is_int(spool_commit(s, r2, keep), 0, "commit naming the sources");
        }
        spool_free(s);
        s = NULL;
        is_int(spool_submit(dir, NULL, one, 100), 0, "a new datum after the commit");
        is_int(spool_open(dir, &lim, &s), 0, "reopen");
        spool_get_counts(s, &c);
        is_int(c.requests, 3, "three requests queued after reopening");
        is_int(c.incoming, 1, "only the new incoming file is left");
        is_int(spool_peek(s, &name, &req), 0, "peek the oldest");
        is_str(json_string_value(json_object_get(req, "namespace")), "X", "oldest first");
        is_int(spool_pop(s, name), 0, "pop it");
        json_decref(req);
        free(name);
        req = NULL;
        name = NULL;
        is_int(spool_peek(s, &name, &req), 0, "peek the next");
        is_str(json_string_value(json_object_get(req, "namespace")), "Y", "the commit's second request");
        spool_free(s);
        s = NULL;
        is_int(spool_open(dir, &lim, &s), 0, "reopen after a pop");
        spool_get_counts(s, &c);
        is_int(c.requests, 2, "the popped request stays gone across a restart");
        for (int i = 0; i < 3; i++) {
                _cleanup_(json_decrefp) json_t *r3 = json_pack("[{s:s, s:O}]", "namespace", "B", "datums", one);
                spool_commit(s, r3, NULL);
        }
        is_int(spool_trim(s, &dropped), 1, "over 4 datums, the oldest commit is dropped");
        is_int(dropped, 1, "with its datum");
        spool_free(s);
        rm_rf(dir);
}

static void test_creds_parse(void) {
        struct aws_credentials c = {0};
        time_t t;

        is_int(aws_creds_parse_imds("{\"AccessKeyId\": \"ASIA\", \"SecretAccessKey\": \"s\", \"Token\": \"t\", "
                                    "\"Expiration\": \"2030-01-02T03:04:05Z\"}",
                                    &c),
               0, "credentials without Code parse");
        aws_parse_iso8601("2030-01-02T03:04:05Z", &t);
        is_int(c.expiration, t, "expiration read");
        is_str(c.session_token, "t", "token read");
        aws_credentials_done(&c);
        is_int(aws_creds_parse_imds("{\"Code\": \"Failure\", \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\"}", &c),
               -EACCES, "Code other than Success is refused");
        is_int(aws_parse_iso8601("2030-01-02T04:04:05.123+01:00", &t), 0, "offsets and fractions parse");
        is_int(t, 1893553445, "to the same instant");
}

static void test_creds_imds(void) {
        const char *args[] = {"--role", "unit-role", "--cred-ttl", "4", NULL};
        struct imds_options o = {
                .token_ttl_s = 21600, .connect_timeout_ms = 500, .timeout_ms = 1000, .budget_ms = 1500};
        const struct aws_credentials *c = NULL;
        struct aws_creds_provider *p = NULL;
        struct imds *imds = NULL;
        struct fake f = {0};
        char *first = NULL;
        time_t now;

        unsetenv("AWS_ACCESS_KEY_ID");
        unsetenv("AWS_SECRET_ACCESS_KEY");
        if (fake_start(&f, "imds.py", args) < 0) {
                ok(0, "fake IMDS starts");
                return;
        }
        o.endpoint = f.url;
        imds_new(&o, &imds);
        aws_creds_provider_new(imds, &p);
        now = time(NULL);
        is_int(aws_creds_get(p, now, &c), 0, "role credentials from IMDS");
        is_str(aws_creds_source(p), "instance role 'unit-role'", "source named");
        ok(c && c->session_token && c->expiration > now, "with a token and an expiration");
        first = strdup(c->access_key_id);
        ok(aws_creds_refresh_at(p) > now && aws_creds_refresh_at(p) < c->expiration, "refresh planned before expiry");
        is_int(aws_creds_get(p, now, &c), 0, "asking again");
        is_str(c->access_key_id, first, "reuses them before the refresh time");
        fake_post(&f, "/_fake/config", "{\"fail_5xx\": 1000}");
        is_int(aws_creds_get(p, aws_creds_refresh_at(p), &c), 0, "IMDS failing at refresh time");
        is_str(c->access_key_id, first, "the current credentials are kept");
        is_int(aws_creds_get(p, now + 10, &c), -ENOKEY, "once expired and IMDS still down: none");
        fake_post(&f, "/_fake/config", "{\"fail_5xx\": 0}");
        sleep(5); /* the fake mints new keys once the old ones expired */
        aws_creds_invalidate(p); /* as after CloudWatch's ExpiredToken: no waiting for the backoff */
        is_int(aws_creds_get(p, time(NULL), &c), 0, "IMDS back: fresh credentials");
        ok(c && !streq(c->access_key_id, first), "new keys");
        free(first);
        aws_creds_provider_free(p);
        imds_free(imds);
        fake_stop(&f);
}

static void test_parsers(void) {
        _cleanup_(json_decrefp) json_t *out = json_array();
        unsigned long long req;
        long active, rd, wr, wt;
        char *err = NULL;

        is_int(collect_parse_stub_status("Active connections: 291 \nserver accepts handled requests\n 16630948 "
                                         "16630948 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n",
                                         &active, &req, &rd, &wr, &wt),
               0, "stub_status parses");
        ok(active == 291 && req == 31070465ULL && rd == 6 && wr == 179 && wt == 106, "with every field");
        is_int(collect_parse_stub_status("<html>", &active, &req, &rd, &wr, &wt), -EBADMSG, "junk is refused");
        is_int(collect_parse_command_output(" 42\n", "Q", "Count", 0, 60, out, &err), 1, "a bare number");
        is_int(collect_parse_command_output("A 1\nB 2.5 Seconds\n", "Q", "None", 0, 60, out, &err), 2,
               "NAME VALUE lines");
        is_str(json_string_value(json_object_get(json_array_get(out, 2), "Unit")), "Seconds", "unit per line");
        is_int(collect_parse_command_output("oops", "Q", "None", 0, 60, out, &err), -EBADMSG, "junk output refused");
        ok(err && strstr(err, "oops"), "naming the line");
        free(err);
}

static void test_error_codes(void) {
        char code[64], msg[256];

        cw_error_code(NULL,
                      "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded"
                      "</Message></Error></ErrorResponse>",
                      code, sizeof(code), msg, sizeof(msg));
        is_str(code, "Throttling", "Query error code");
        is_str(msg, "Rate exceeded", "Query error message");
        cw_error_code("InvalidParameterValue;Sender",
                      "{\"__type\": \"com.amazonaws#InvalidParameterValueException\", "
                      "\"message\": \"bad\"}",
                      code, sizeof(code), msg, sizeof(msg));
        is_str(code, "InvalidParameterValue", "JSON error: the query-compatible code wins");
        is_str(msg, "bad", "JSON error message");
}

int main(void) {
        test_sigv4_vector();
        test_check();
        test_pack_split();
        test_encode();
        test_spool();
        test_creds_parse();
        test_parsers();
        test_error_codes();
        test_creds_imds();
        return tap_done();
}
