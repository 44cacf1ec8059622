/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "aws/aws.h"
#include "aws/credentials.h"
#include "aws/sigv4.h"
#include "cloudwatch/collect.h"
#include "cloudwatch/metric.h"
#include "cloudwatch/putmetric.h"
#include "cloudwatch/spool.h"
#include "fake.h"
#include "fileio.h"
#include "gzip.h"
#include "strbuf.h"
#include "tap.h"

static char *mfree_str(char *p) {
        free(p);
        return NULL;
}

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

/* Datums from JSON, as the daemon takes them. */
static void add_json(struct metric_batch *b, json_t *datums, const char *ns) {
        metric_batch_add_json(b, datums, ns);
        json_decref(datums);
}

/* refused(ITEM, ERROR, WHAT): metric_check() refuses ITEM, saying ERROR. */
static void refused(const struct metric_datum *item, const char *error, const char *what) {
        _cleanup_free_ char *err = NULL;

        is_int(metric_check(item, 1700000000, &err), -EINVAL, "%s", what);
        is_str(err, error, "and says so");
}

static void test_parse(void) {
        _cleanup_metric_batch_ struct metric_batch b = {0};
        const char *doc =
                " {\"datums\" : [ {\"MetricName\": \"A\\u00e9\\\"b\", \"Value\": -1.5e2, \"Unit\": \"Count\", "
                "\"Extra\": {\"x\": [1, true, null]}, \"Timestamp\": 1700000000, \"StorageResolution\": 1, "
                "\"Dimensions\": [{\"Name\": \"H\", \"Value\": \"h\\/1\"}]}, 7, {\"Values\": [1, 2], "
                "\"Counts\": [3]}, {\"MetricName\": 5, \"Value\": 1}, {\"MetricName\": \"R\", \"Value\": 1, "
                "\"StorageResolution\": 60.5}], \"namespace\": \"NS\"} ";
        char *err = NULL;

        is_int(metric_parse_incoming(&b, doc, strlen(doc)), 0, "a hand-over parses");
        is_int(b.n_items, 5, "into five datums, good or not");
        is_str(b.items[0].ns, "NS", "the namespace given after the datums applies to them");
        is_str(b.items[0].name, "A\xc3\xa9\"b", "escapes are decoded, \\u to UTF-8");
        ok(b.items[0].has_value && b.items[0].value == -150, "an exponent reads");
        ok(b.items[0].has_timestamp && b.items[0].timestamp == 1700000000 && b.items[0].resolution == 1,
           "timestamp and resolution read");
        ok(b.items[0].n_dims == 1 && streq(b.items[0].dims[0].value, "h/1"), "dimensions read");
        ok(!b.items[0].malformed, "unknown members are skipped");
        is_int(metric_check(&b.items[0], 1700000000, &err), -EINVAL, "a non-ASCII name is refused");
        free(err);
        err = NULL;
        refused(&b.items[1], "a datum must be an object", "a number is not a datum");
        refused(&b.items[2], "Counts must be as long as Values", "Counts shorter than Values are refused");
        refused(&b.items[3], "metric name is not a string", "a name that is not a string is refused");
        refused(&b.items[4], "storage resolution must be 1 or 60", "a fractional resolution is refused");

        static const char *const bad[] = {
                "",
                "[]",
                "{\"datums\": [}",
                "{\"datums\": [{\"Value\": 01}]}",
                "{\"datums\": [{\"Value\": .5}]}",
                "{\"datums\": [{\"Value\": 1,}]}",
                "{\"datums\": [\"\\ud800\"]}",
                "{\"datums\": [\"a\\u0000b\"]}",
                "{\"datums\": [\"tab\there\"]}",
                "{\"datums\": []} x",
                "{\"namespace\": \"X\"}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                is_int(metric_parse_incoming(&b, bad[i], strlen(bad[i])), -EBADMSG, "not a hand-over: '%s'", bad[i]);
        is_int(b.n_items, 5, "a refused text adds no datum");
        {
                _cleanup_free_ char *deep = calloc(1, 400);
                memcpy(deep, "{\"datums\": [{\"x\": ", 18);
                memset(deep + 18, '[', 300);
                is_int(metric_parse_incoming(&b, deep, strlen(deep)), -EBADMSG, "nesting is bounded");
        }
}

static void test_split_size(time_t now);

static void test_pack_split(void) {
        time_t now = time(NULL) - time(NULL) % 60;
        _cleanup_metric_batch_ struct metric_batch in = {0}, packed = {0}, many = {0};
        _cleanup_free_ struct metric_datum **ptrs = NULL;
        _cleanup_(json_decrefp) json_t *list = json_array();
        double lat = 0;
        size_t most = 0, first;

        for (int i = 0; i < 400; i++)
                json_array_append_new(list, metric_datum_new("Lat", (double) (i % 200), "Milliseconds", now, 60));
        json_array_append_new(list, metric_datum_new("Other", 1, NULL, now, 60));
        json_array_append_new(list,
                              json_pack("{s:s, s:[f, f], s:[i, i], s:I, s:i}", "MetricName", "Other", "Values", 1.0,
                                        2.0, "Counts", 2, 3, "Timestamp", (json_int_t) now, "StorageResolution", 60));
        metric_batch_add_json(&in, list, NULL);
        ptrs = calloc(in.n_items, sizeof(*ptrs));
        for (size_t i = 0; i < in.n_items; i++)
                ptrs[i] = &in.items[i];
        is_int(metric_pack(ptrs, in.n_items, &packed), 0, "pack");
        for (size_t i = 0; i < packed.n_items; i++) {
                if (streq(packed.items[i].name, "Lat"))
                        lat += metric_samples(&packed.items[i]);
                if (packed.items[i].n_values > most)
                        most = packed.items[i].n_values;
        }
        ok(packed.n_items <= 5, "402 datums of 2 metrics pack into a few datums (%zu)", packed.n_items);
        is_int((long long) lat, 400, "no sample is lost in packing");
        is_int(most, 150, "at most 150 values in one datum");
        is_int(metric_check(&packed.items[0], now, NULL), 0, "a packed datum is valid");
        {
                const struct metric_datum *o = &packed.items[packed.n_items - 1];
                ok(streq(o->name, "Other") && o->n_values == 2 && o->counts[0] == 3 && o->counts[1] == 3,
                   "a Value and Values/Counts of one series merge (1 x1 + 1 x2 + 2 x3)");
                is_int((long long) metric_samples(o), 6, "six samples");
        }

        for (int i = 0; i < 2500; i++)
                add_json(&many, json_pack("[o]", metric_datum_new("M", i, NULL, now - i, 1)), NULL);
        first = metric_split(METRIC_JSON, many.items, many.n_items, "NS");
        is_int(first, 1000, "2500 datums: the first request takes 1000");
        is_int(metric_split(METRIC_QUERY, many.items + 2000, 500, "NS"), 500, "the last the remaining 500");
        test_split_size(now);
}

/* A body as split: within CloudWatch's 1 MB, and full: the next item would
 * not have fit. */
static void split_fills(enum metric_protocol proto, const struct metric_batch *b, const char *ns, const char *what) {
        _cleanup_strbuf_ struct strbuf body = STRBUF_INIT, more = STRBUF_INIT;
        size_t k = metric_split(proto, b->items, b->n_items, ns);

        metric_encode(proto, ns, b->items, k, &body);
        metric_encode(proto, ns, b->items, k + 1, &more);
        ok(k > 1 && k < b->n_items && body.len <= METRIC_MAX_BODY && more.len > METRIC_MAX_BODY,
           "%s: %zu items, %zu bytes; one more would be %zu", what, k, body.len, more.len);
}

/* Requests are cut by their real size, not a worst case: a JSON body of
 * big datums reaches the megabyte (kiln stopped at ~300 KB). */
static void test_split_size(time_t now) {
        _cleanup_metric_batch_ struct metric_batch big = {0}, odd = {0};
        _cleanup_free_ char *v = calloc(1, 1025), *w = calloc(1, 1025);

        memset(v, 'x', 1024);
        /* Characters each encoding escapes: 3 bytes in a Query body, 2 or 6 in JSON. */
        for (size_t i = 0; i < 1024; i++)
                w[i] = "\\\"&= /\001a"[i % 8];
        for (int i = 0; i < 1000; i++) {
                json_t *d = metric_datum_new("Big", i, NULL, now, 60), *e = metric_datum_new("Odd", i, NULL, now, 60);
                metric_datum_add_dimension(d, "D", v);
                metric_datum_add_dimension(e, "D", w);
                add_json(&big, json_pack("[o]", d), NULL);
                add_json(&odd, json_pack("[o]", e), NULL);
        }
        split_fills(METRIC_JSON, &big, "NS", "JSON, 1 KiB dimension values");
        split_fills(METRIC_QUERY, &big, "NS", "Query, 1 KiB dimension values");
        split_fills(METRIC_JSON, &odd, "N S", "JSON, values full of escapes");
        split_fills(METRIC_QUERY, &odd, "N S", "Query, values full of escapes");
}

static void test_encode(void) {
        _cleanup_metric_batch_ struct metric_batch in = {0};
        _cleanup_strbuf_ struct strbuf q = STRBUF_INIT, js = STRBUF_INIT, z = STRBUF_INIT, back = STRBUF_INIT;
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *n1 = NULL, *n2 = NULL, *n3 = NULL;
        json_t *d = metric_datum_new("Queue Depth", 0.1, "Count", 1700000000, 60), *m;
        char buf[32];

        metric_datum_add_dimension(d, "Host", "a&b=c");
        add_json(&in,
                 json_pack("[o, {s:s, s:[f, f], s:[i, i]}]", d, "MetricName", "Lat\"\\", "Values", 1.5, 2e-9, "Counts",
                           2, 1),
                 NULL);
        is_int(metric_encode(METRIC_QUERY, "My App", in.items, 1, &q), 0, "Query encoding");
        is_str(q.data,
               "Action=PutMetricData&Version=2010-08-01&Namespace=My%20App&MetricData.member.1.MetricName=Queue%20Depth"
               "&MetricData.member.1.Dimensions.member.1.Name=Host&MetricData.member.1.Dimensions.member.1.Value="
               "a%26b%3Dc&MetricData.member.1.Timestamp=2023-11-14T22%3A13%3A20Z&MetricData.member.1.Value=0.1"
               "&MetricData.member.1.Unit=Count&MetricData.member.1.StorageResolution=60",
               "Query body as CloudWatch expects it");
        is_int(metric_encode(METRIC_JSON, "My App", in.items, 2, &js), 0, "JSON encoding");
        j = json_loads(js.data, 0, NULL);
        ok(j != NULL, "the JSON body is JSON");
        is_str(json_string_value(json_object_get(j, "Namespace")), "My App", "JSON body has the namespace");
        m = json_object_get(j, "MetricData");
        ok(json_number_value(json_object_get(json_array_get(m, 0), "Value")) == 0.1, "and the exact value");
        ok(json_number_value(json_object_get(json_array_get(m, 0), "Timestamp")) == 1700000000, "epoch timestamp");
        is_str(json_string_value(json_object_get(json_array_get(json_object_get(json_array_get(m, 0), "Dimensions"), 0),
                                                 "Value")),
               "a&b=c", "dimension values as they are");
        is_str(json_string_value(json_object_get(json_array_get(m, 1), "MetricName")), "Lat\"\\", "names escaped");
        ok(json_number_value(json_array_get(json_object_get(json_array_get(m, 1), "Values"), 1)) == 2e-9 &&
                   json_number_value(json_array_get(json_object_get(json_array_get(m, 1), "Counts"), 0)) == 2,
           "Values and Counts exact");
        metric_format_double(42, buf);
        is_str(buf, "42", "whole numbers print bare");
        metric_format_double(-1e15, buf);
        is_str(buf, "-1e+15", "big ones as printf does");
        metric_format_double(0.1, buf);
        is_str(buf, "0.1", "0.1 in its shortest form");
        is_int(metric_gzip("abc", 3, &z), -E2BIG, "gzip is skipped when it does not shrink");
        n1 = metric_body_item_name(METRIC_QUERY, q.data, q.len, 1);
        is_str(n1, "Queue Depth", "the query body names item 1");
        for (int i = 0; i < 500; i++)
                strbuf_puts(&js, " ");
        n2 = metric_body_item_name(METRIC_JSON, js.data, js.len, 2);
        is_str(n2, "Lat\"\\", "the JSON body names item 2");
        is_int(metric_gzip(js.data, js.len, &z), 0, "a repetitive body gzips");
        ok(z.len < js.len && (unsigned char) z.data[0] == 0x1f && (unsigned char) z.data[1] == 0x8b,
           "into a smaller gzip stream (%zu -> %zu)", js.len, z.len);
        is_int(gzip_decompress(z.data, z.len, 1 << 20, &back), 0, "it gunzips");
        ok(back.len == js.len && memcmp(back.data, js.data, js.len) == 0, "to the same bytes");
        n3 = metric_body_item_name(METRIC_JSON, z.data, z.len, 1);
        is_str(n3, "Queue Depth", "a gzipped body names its items too");
        ok(metric_body_item_name(METRIC_JSON, js.data, js.len, 3) == NULL, "no item 3");
}

static struct spool_request request(const char *ns, size_t datums, double when) {
        struct spool_request r = {.namespace = strdup(ns),
                                  .protocol = METRIC_JSON,
                                  .items = 1,
                                  .datums = datums,
                                  .oldest = when,
                                  .newest = when};
        r.body = strdup_printf("{\"Namespace\":\"%s\",\"MetricData\":[]}\n", ns);
        r.len = strlen(r.body);
        return r;
}

static void test_spool(void) {
        char dir[] = "/tmp/kiln-spool-XXXXXX";
        struct spool_limits lim = {.max_datums = 4, .max_bytes = 1 << 20};
        _cleanup_(json_decrefp) json_t *one = json_array();
        _cleanup_metric_batch_ struct metric_batch groups = {0};
        _cleanup_strv_free_ char **sources = NULL;
        _cleanup_free_ char *name = NULL, *legacy_name = NULL, *qdir = NULL;
        const struct spool_request *req = NULL;
        struct spool *s = NULL;
        struct spool_counts c;
        size_t bad = 0, dropped = 0;
        double now = (double) time(NULL);

        ok(mkdtemp(dir) != NULL, "scratch dir");
        json_array_append_new(one, metric_datum_new("A", 1, NULL, time(NULL), 60));
        is_int(spool_submit(dir, NULL, one, 100), 0, "submit a datum");
        is_int(spool_submit(dir, "NS", one, 100), 0, "submit another");
        is_int(spool_open(dir, &lim, &s), 0, "open the spool");
        is_int(spool_take_incoming(s, 100, &groups, &sources, &bad), 0, "take incoming");
        is_int(groups.n_items, 2, "both files taken");
        ok(groups.items[0].ns == NULL && streq(groups.items[1].ns, "NS"), "each datum with its file's namespace");
        {
                struct spool_request reqs[] = {request("X", 1, now), request("Y", 1, now)};
                /* A crash after the commit but before the sources went:
                 * simulate by committing without removing. */
                is_int(spool_commit(s, reqs, 2, NULL, NULL), 0, "commit two requests");
                ok(reqs[0].body == NULL && reqs[1].namespace == NULL, "the spool took the requests");
        }
        {
                char *const keep[] = {sources[0], sources[1], NULL};
                struct spool_request r2 = request("Z", 1, now);
                is_int(spool_commit(s, &r2, 1, keep, NULL), 0, "commit naming the sources");
        }
        spool_free(s);
        s = NULL;
        is_int(spool_submit(dir, NULL, one, 100), 0, "a new datum after the commit");
        is_int(spool_open(dir, &lim, &s), 0, "reopen");
        spool_get_counts(s, &c);
        is_int(c.requests, 3, "three requests queued after reopening");
        is_int(c.datums, 3, "three datums");
        is_int(c.incoming, 1, "only the new incoming file is left");
        is_int(spool_peek(s, &name, &req), 0, "peek the oldest");
        is_str(req->namespace, "X", "oldest first");
        is_str(req->body, "{\"Namespace\":\"X\",\"MetricData\":[]}\n", "its body as committed, byte for byte");
        ok(req->protocol == METRIC_JSON && !req->gzip && req->oldest == now, "and its header");
        is_int(spool_pop(s, name), 0, "pop it");
        name = mfree_str(name);
        is_int(spool_peek(s, &name, &req), 0, "peek the next");
        is_str(req->namespace, "Y", "the commit's second request");
        spool_free(s);
        s = NULL;
        is_int(spool_open(dir, &lim, &s), 0, "reopen after a pop");
        spool_get_counts(s, &c);
        is_int(c.requests, 2, "the popped request stays gone across a restart");
        for (int i = 0; i < 3; i++) {
                struct spool_request r3 = request("B", 1, now);
                spool_commit(s, &r3, 1, NULL, NULL);
        }
        is_int(spool_trim(s, &dropped), 1, "over 4 datums, the oldest commit is dropped");
        is_int(dropped, 1, "with its datum (the other request of that commit went already)");
        spool_free(s);
        s = NULL;

        /* A queue file of the format before is handed out to re-encode. */
        qdir = strdup_printf("%s/queue", dir);
        {
                _cleanup_free_ char *p = strdup_printf("%s/000000000099.json", qdir);
                const char *old = "{\"sources\": [], \"requests\": [{\"namespace\": \"L\", \"datums\": "
                                  "[{\"MetricName\": \"Old\", \"Value\": 2}]}]}";
                write_file_atomic(p, old, strlen(old), 0600);
        }
        is_int(spool_open(dir, &lim, &s), 0, "open with a legacy file");
        {
                _cleanup_(json_decrefp) json_t *commit = NULL;
                struct spool_request r4 = request("L", 1, now);
                is_int(spool_next_legacy(s, &legacy_name, &commit), 0, "the legacy file is handed out");
                is_str(legacy_name, "000000000099.json", "by name");
                is_str(json_string_value(
                               json_object_get(json_array_get(json_object_get(commit, "requests"), 0), "namespace")),
                       "L", "with its content");
                is_int(spool_commit(s, &r4, 1, NULL, legacy_name), 0, "committed again, replacing it");
        }
        {
                _cleanup_free_ char *p = strdup_printf("%s/000000000099.json", qdir);
                _cleanup_free_ char *q = strdup_printf("%s/000000000100.queue", qdir);
                is_int(file_exists(p), 0, "the legacy file is gone");
                is_int(file_exists(q), 1, "its successor numbered after it");
        }
        {
                _cleanup_free_ char *n2 = NULL;
                json_t *j = NULL;
                is_int(spool_next_legacy(s, &n2, &j), -ENOENT, "no legacy file is left");
        }
        spool_free(s);
        rm_rf(dir);
}

/* The daemon lists incoming/ while put-metric may be writing there. A
 * writer's temporary file lives while the writer holds its shared lock on
 * the directory, however old its mtime (a clock step at boot); without a
 * writer, leftovers go however new. put-metric itself leaves no named
 * temporary: its file is an O_TMPFILE until complete. */
static void test_spool_temp_files(void) {
        char dir[] = "/tmp/kiln-spool-XXXXXX";
        struct spool_limits lim = {.max_datums = 4, .max_bytes = 1 << 20};
        _cleanup_metric_batch_ struct metric_batch groups = {0};
        _cleanup_strv_free_ char **sources = NULL;
        _cleanup_free_ char *live = NULL, *fresh = NULL, *incoming = NULL;
        _cleanup_(json_decrefp) json_t *one = json_array();
        struct timespec then[2] = {{.tv_sec = time(NULL) - 365 * 86400}, {.tv_sec = time(NULL) - 365 * 86400}};
        struct spool *s = NULL;
        struct dirent **names = NULL;
        size_t bad = 0;
        int dfd, n, json = 0, temps = 0;

        ok(mkdtemp(dir) != NULL, "scratch dir");
        incoming = strdup_printf("%s/incoming", dir);
        live = strdup_printf("%s/0000000001000000000-1-0.json.kiln-AbCdEf", incoming);
        fresh = strdup_printf("%s/0000000002000000000-1-0.json.kiln-GhIjKl", incoming);
        is_int(spool_open(dir, &lim, &s), 0, "the daemon opens the spool");
        dfd = open(incoming, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        is_int(flock(dfd, LOCK_SH), 0, "a writer takes its lock on incoming/");
        is_int(write_file_atomic(live, "{", 1, 0600), 0, "and writes its temporary file");
        is_int(utimensat(AT_FDCWD, live, then, 0), 0, "its mtime a year ago (the clock stepped)");
        is_int(spool_take_incoming(s, 100, &groups, &sources, &bad), 0, "the daemon lists incoming/");
        is_int(groups.n_items + bad, 0, "the temporary is not taken as a datum");
        is_int(file_exists(live), 1, "a live writer's file stays, however old");
        is_int(flock(dfd, LOCK_UN), 0, "the writer dies (its lock goes with it)");
        close(dfd);
        is_int(write_file_atomic(fresh, "{", 1, 0600), 0, "another dead writer's leftover, just written");
        strv_free(sources);
        sources = NULL;
        is_int(spool_take_incoming(s, 100, &groups, &sources, &bad), 0, "the daemon lists incoming/ again");
        is_int(file_exists(live), 0, "the dead writer's old leftover is removed");
        is_int(file_exists(fresh), 0, "so is a new one: no writer holds the lock");

        json_array_append_new(one, metric_datum_new("A", 1, NULL, time(NULL), 60));
        is_int(spool_submit(dir, NULL, one, 100), 0, "put-metric hands a datum over");
        n = scandir(incoming, &names, NULL, alphasort);
        for (int i = 0; i < n; i++) {
                json += strstr(names[i]->d_name, ".json") && !strstr(names[i]->d_name, ".kiln-");
                temps += strstr(names[i]->d_name, ".kiln-") != NULL;
                free(names[i]);
        }
        free(names);
        ok(json == 1 && temps == 0, "one complete file and no temporary left (%d, %d)", json, temps);
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

static char *put(char *p, const char *s) {
        size_t n = strlen(s);

        memcpy(p, s, n + 1);
        return p + n;
}

/* A random secret of len hex characters, made in place on the heap (a copy
 * on the stack would be found by the scan), and the reverse of what to look
 * for: all but its first 24 characters, as malloc writes its free-list
 * pointers over the start of a freed block. */
#define SCAN_SKIP 24
static char *random_secret(size_t len, char **ret_reverse) {
        char *s = malloc(len + 1), *rev = malloc(len + 1);
        size_t k = len - SCAN_SKIP;

        for (size_t i = 0; i < len; i++) {
                unsigned char c = 0;
                (void) getrandom(&c, 1, 0);
                s[i] = "0123456789abcdef"[c & 15];
        }
        s[len] = 0;
        for (size_t i = 0; i < k; i++)
                rev[i] = s[len - 1 - i];
        rev[k] = 0;
        *ret_reverse = rev;
        return s;
}

static bool chunk_holds(const char *buf, size_t n, const char *rev, size_t len) {
        for (size_t i = 0; i + len <= n; i++) {
                size_t k = 0;
                while (k < len && buf[i + k] == rev[len - 1 - k])
                        k++;
                if (k == len)
                        return true;
        }
        return false;
}

/* Whether any writable memory of this process (heap, stack, freed blocks
 * included) holds the secret whose reverse is rev. */
static bool memory_holds(const char *rev) {
        static char buf[1 << 20];
        size_t len = strlen(rev);
        FILE *maps = fopen("/proc/self/maps", "re");
        int mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
        char line[512];
        bool found = false;

        while (maps && mem >= 0 && !found && fgets(line, sizeof(line), maps)) {
                unsigned long lo, hi;
                char perms[8];
                if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' || perms[1] != 'w' ||
                    strstr(line, "[vvar") || hi - lo > (256ul << 20))
                        continue;
                /* Chunks overlap by len - 1 bytes, so no match is cut in two. */
                for (unsigned long at = lo; at < hi && !found; at += sizeof(buf) - len) {
                        size_t want = hi - at < sizeof(buf) ? hi - at : sizeof(buf);
                        ssize_t n = pread(mem, buf, want, (off_t) at);
                        if (n <= 0)
                                break;
                        found = chunk_holds(buf, (size_t) n, rev, len);
                        if ((size_t) n < sizeof(buf))
                                break;
                }
        }
        memset(buf, 0, sizeof(buf));
        if (maps)
                fclose(maps);
        if (mem >= 0)
                close(mem);
        return found;
}

/* Secrets are wiped when freed: after signing with a session token and
 * after parsing IMDS's credentials document, nothing of the secret key or
 * the token is left in the process's memory. */
static void test_creds_wiped(void) {
        _cleanup_free_ char *rev_key = NULL, *rev_token = NULL, *rev_key2 = NULL, *rev_token2 = NULL;
        char *headers[] = {(char *) "Host: monitoring.us-east-1.amazonaws.com",
                           (char *) "Content-Type: application/x-amz-json-1.0", NULL};
        struct aws_credentials c = {.access_key_id = strdup("ASIAWIPETEST")}, d = {0};
        struct sigv4_request req = {.method = "POST", .target = "/", .headers = headers, .body = "{}", .body_len = 2};
        struct sigv4_result res = {0};
        char *doc, *p;

        c.secret_access_key = random_secret(40, &rev_key);
        c.session_token = random_secret(900, &rev_token);
        ok(memory_holds(rev_token) && memory_holds(rev_key), "the scan finds a live token and key");
        is_int(sigv4_sign(&req, &c, "us-east-1", "monitoring", 1700000000, &res), 0, "sign with a session token");
        ok(res.canonical_request && strstr(res.canonical_request, "x-amz-security-token:"),
           "the token is in the canonical request");
        sigv4_result_done(&res);
        aws_credentials_done(&c);
        ok(!memory_holds(rev_token), "once freed, the session token is nowhere in memory");
        ok(!memory_holds(rev_key), "nor the secret key");

        c.secret_access_key = random_secret(40, &rev_key2);
        c.session_token = random_secret(900, &rev_token2);
        /* Built in one allocation: vasprintf() would leave pieces in the blocks it grows through. */
        doc = calloc(1, 2048);
        p = put(doc, "{\"Code\": \"Success\", \"AccessKeyId\": \"ASIAWIPETEST\", \"SecretAccessKey\": \"");
        p = put(p, c.secret_access_key);
        p = put(p, "\", \"Token\": \"");
        p = put(p, c.session_token);
        put(p, "\", \"Expiration\": \"2030-01-02T03:04:05Z\"}");
        aws_credentials_done(&c);
        is_int(aws_creds_parse_imds(doc, &d), 0, "parse a credentials document");
        explicit_bzero(doc, strlen(doc)); /* as the provider does with what IMDS sent */
        free(doc);
        ok(d.session_token && strlen(d.session_token) == 900, "with its token");
        aws_credentials_done(&d);
        ok(!memory_holds(rev_token2), "once parsed and freed, the token is nowhere in memory");
        ok(!memory_holds(rev_key2), "nor the secret key");
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

        aws_error_code(NULL,
                       "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded"
                       "</Message></Error></ErrorResponse>",
                       code, sizeof(code), msg, sizeof(msg));
        is_str(code, "Throttling", "Query error code");
        is_str(msg, "Rate exceeded", "Query error message");
        aws_error_code("InvalidParameterValue;Sender",
                       "{\"__type\": \"com.amazonaws#InvalidParameterValueException\", "
                       "\"message\": \"bad\"}",
                       code, sizeof(code), msg, sizeof(msg));
        is_str(code, "InvalidParameterValue", "JSON error: the query-compatible code wins");
        is_str(msg, "bad", "JSON error message");
}

static void test_skew(void) {
        time_t t = 0;

        is_int(aws_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0, "an HTTP-date parses");
        is_int(t, 784111777, "to its instant");
        is_int(aws_parse_http_date("Sun, 06 Nov 1994 08:49:37", &t), -EINVAL, "without GMT it is refused");
        is_int(aws_parse_http_date("784111777", &t), -EINVAL, "so are seconds");
        is_int(aws_parse_http_date(NULL, &t), -EINVAL, "and no header");
        ok(aws_is_skew_error("RequestExpired", "Request has expired."), "RequestExpired is clock skew");
        ok(aws_is_skew_error("RequestTimeTooSkewed", ""), "RequestTimeTooSkewed too");
        ok(aws_is_skew_error("InvalidSignatureException",
                             "Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z "
                             "(20240101T001000Z - 5 min.)"),
           "InvalidSignatureException saying 'Signature expired'");
        ok(aws_is_skew_error("SignatureDoesNotMatch", "Signature not yet current: 20240101T002000Z is still later"),
           "SignatureDoesNotMatch saying 'Signature not yet current'");
        ok(!aws_is_skew_error("SignatureDoesNotMatch", "The request signature we calculated does not match"),
           "a wrong key is not clock skew");
        ok(!aws_is_skew_error("InvalidParameterValue", "Signature expired"), "nor is bad data");
}

static const char *dim_value(const struct metric_datum *d, const char *name) {
        for (size_t i = 0; i < d->n_dims; i++)
                if (streq(d->dims[i].name, name))
                        return d->dims[i].value;
        return NULL;
}

/* The copies of datum named name with exactly n dimensions. */
static size_t count_with(const struct metric_batch *b, const char *name, size_t n) {
        size_t c = 0;

        for (size_t i = 0; i < b->n_items; i++)
                c += b->items[i].name && streq(b->items[i].name, name) && b->items[i].n_dims == n;
        return c;
}

static void test_decorate(void) {
        _cleanup_metric_batch_ struct metric_batch b = {0}, q = {0};
        _cleanup_strbuf_ struct strbuf doc = STRBUF_INIT;
        const struct metric_dim append[] = {
                {"InstanceId", "i-1"}, {"InstanceType", "t3.micro"}, {"AutoScalingGroupName", "web"}};
        char *asg[] = {(char *) "AutoScalingGroupName", NULL},
             *it[] = {(char *) "InstanceId", (char *) "InstanceType", NULL},
             *missing[] = {(char *) "Mount", (char *) "Nope", NULL};
        const struct metric_rollup rollups[] = {{asg, 1}, {it, 2}, {NULL, 0}, {missing, 2}};
        time_t now = time(NULL);
        size_t cut = 99;

        ok(strbuf_printf(&doc, "[{\"MetricName\": \"A\", \"Value\": 1, \"Dimensions\": [{\"Name\": \"Mount\", "
                               "\"Value\": \"/\"}, {\"Name\": \"InstanceId\", \"Value\": \"i-old\"}]}, "
                               "{\"MetricName\": \"B\", \"Value\": 2}, {\"MetricName\": \"C\", \"Value\": 3, "
                               "\"Dimensions\": [") >= 0,
           "test datums");
        for (int i = 0; i < 29; i++)
                (void) strbuf_printf(&doc, "%s{\"Name\": \"D%02d\", \"Value\": \"v\"}", i ? ", " : "", i);
        (void) strbuf_printf(&doc, "]}, {\"MetricName\": \"D\", \"Value\": 4, \"Unit\": \"Parsecs\"}]");
        is_int(metric_parse_datums(&b, doc.data, doc.len, NULL), 0, "datums to decorate parse");
        is_int(metric_decorate(&b, append, ELEMENTSOF(append), rollups, ELEMENTSOF(rollups), now, &cut), 0,
               "append_dimensions and aggregation_dimensions applied");
        is_int(b.n_items, 4 + 3 + 3 + 2, "3 roll-ups of A and B, 2 of C (it lost InstanceId), none of the bad D");
        is_int(b.items[0].n_dims, 4, "A keeps its own dimension and gains the EC2 ones");
        is_str(dim_value(&b.items[0], "Mount"), "/", "... its Mount kept");
        is_str(dim_value(&b.items[0], "InstanceId"), "i-1", "... an appended dimension replaces one of its name");
        is_str(dim_value(&b.items[0], "AutoScalingGroupName"), "web", "... and the group is there");
        is_int(b.items[1].n_dims, 3, "B, without dimensions, gets the three EC2 ones");
        is_int(b.items[2].n_dims, 30, "C is cut to CloudWatch's 30 dimensions");
        ok(dim_value(&b.items[2], "AutoScalingGroupName") && dim_value(&b.items[2], "D28") &&
                   !dim_value(&b.items[2], "InstanceId") && !dim_value(&b.items[2], "InstanceType"),
           "... keeping the first 30 by name, as the agent");
        is_int(cut, 1, "one datum was cut");
        is_int(b.items[3].n_dims, 0, "a datum CloudWatch would refuse is left alone");
        is_int(count_with(&b, "A", 1), 1, "A rolled up to AutoScalingGroupName alone");
        is_int(count_with(&b, "A", 2), 1, "A rolled up to InstanceId and InstanceType");
        is_int(count_with(&b, "A", 0), 1, "A rolled up to no dimension ([])");
        is_int(count_with(&b, "C", 0) + count_with(&b, "C", 1), 2, "C rolled up to [] and the group");
        for (size_t i = 4; i < b.n_items; i++)
                if (b.items[i].n_dims == 2) {
                        is_str(b.items[i].dims[0].name, "InstanceId", "a roll-up keeps the names given");
                        is_str(dim_value(&b.items[i], "InstanceType"), "t3.micro", "... with the datum's values");
                        ok(b.items[i].has_value && (b.items[i].value == 1 || b.items[i].value == 2),
                           "... and its value");
                        break;
                }
        for (size_t i = 0; i < b.n_items; i++)
                if (metric_check(&b.items[i], now, NULL) < 0 && !streq(b.items[i].name, "D"))
                        ok(0, "decorated datum %zu (%s) is valid", i, b.items[i].name);

        /* A roll-up to every dimension of a datum would be the datum again. */
        const char *one = "[{\"MetricName\": \"E\", \"Value\": 5, \"Dimensions\": [{\"Name\": "
                          "\"AutoScalingGroupName\", \"Value\": \"g\"}]}, {\"MetricName\": \"F\", \"Value\": 6}]";
        is_int(metric_parse_datums(&q, one, strlen(one), NULL), 0, "more datums parse");
        is_int(metric_decorate(&q, NULL, 0, rollups, ELEMENTSOF(rollups), now, NULL), 0, "roll-ups alone");
        is_int(q.n_items, 3, "only [] rolls up a datum of one dimension; none rolls up one without");
        is_int(count_with(&q, "E", 0), 1, "... E without its dimension");
        is_int(count_with(&q, "E", 1), 1, "... and E as it was");
        is_int(metric_check_dimension("AutoScalingGroupName", "caf\xc3\xa9", NULL), -EINVAL,
               "a value CloudWatch refuses is found before it is appended");
}

int main(void) {
        test_sigv4_vector();
        test_check();
        test_parse();
        test_pack_split();
        test_encode();
        test_spool();
        test_spool_temp_files();
        test_creds_parse();
        test_creds_wiped();
        test_parsers();
        test_error_codes();
        test_skew();
        test_decorate();
        test_creds_imds();
        return tap_done();
}
