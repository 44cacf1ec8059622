/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloudwatch/logs.h"
#include "fileio.h"
#include "strbuf.h"
#include "tap.h"

/* 10,000 events is the most a batch holds, whatever their size. */
static void test_batch_events(void) {
        struct logs_batch_acc acc = {0};
        size_t n = 0;

        while (n < 20000 && logs_batch_add(&acc, 1000, 0))
                n++;
        is_int((long) n, 10000, "a batch holds 10,000 empty events, not one more");
        is_int((long) acc.bytes, 10000 * 26, "each counted as 26 bytes");
}

/* 1,048,576 bytes, each event's message plus 26. */
static void test_batch_bytes(void) {
        struct logs_batch_acc acc = {0};
        size_t n = 0;

        /* 1000 + 26 = 1026 bytes an event: 1022 fit (1,048,572 bytes), the
         * 1023rd would make 1,049,598. */
        while (n < 5000 && logs_batch_add(&acc, 1000, 1000))
                n++;
        is_int((long) n, 1022, "1,022 events of 1,000 bytes fit in 1 MiB");
        is_int((long) acc.bytes, 1022 * 1026, "counted as 1,048,572 bytes");
        /* Exactly at the limit. */
        acc = (struct logs_batch_acc){0};
        ok(logs_batch_add(&acc, 1, LOGS_BATCH_MAX_BYTES - 26), "one event of 1,048,550 bytes is exactly 1 MiB: fits");
        ok(!logs_batch_add(&acc, 1, 0), "then not even an empty one");
        acc = (struct logs_batch_acc){0};
        ok(!logs_batch_add(&acc, 1, LOGS_BATCH_MAX_BYTES - 25), "1,048,551 bytes do not fit");
        /* Many sizes: the sum stays within the limit and the next one would pass it. */
        acc = (struct logs_batch_acc){0};
        n = 0;
        while (n < 100000 && logs_batch_add(&acc, 5, (n * 7919) % 3000))
                n++;
        ok(acc.bytes <= LOGS_BATCH_MAX_BYTES && acc.bytes + ((n * 7919) % 3000) + 26 > LOGS_BATCH_MAX_BYTES,
           "mixed sizes: %zu events, %zu bytes, the next would not fit", n, acc.bytes);
}

static void test_batch_span(void) {
        struct logs_batch_acc acc = {0};
        int64_t t0 = 1700000000000LL;

        ok(logs_batch_add(&acc, t0, 1), "first event");
        ok(logs_batch_add(&acc, t0 + LOGS_BATCH_MAX_SPAN_MS - 1, 1), "one just under 24 h later fits");
        ok(!logs_batch_add(&acc, t0 + LOGS_BATCH_MAX_SPAN_MS, 1), "24 h after the first does not");
        ok(!logs_batch_add(&acc, t0 - 1, 1), "nor one before the first, 24 h from the newest");
        is_int((long) acc.events, 2, "two events in");
}

static void test_utf8(void) {
        char *out = NULL;
        size_t len = 0;

        is_int(logs_utf8_clean("abc", 3, &out, &len), 0, "clean ASCII");
        is_str(out, "abc", "unchanged");
        free(out);
        is_int(logs_utf8_clean("a\xff"
                               "b\xc3\xa9",
                               5, &out, &len),
               0, "clean invalid byte");
        is_str(out,
               "a\xef\xbf\xbd"
               "b\xc3\xa9",
               "replaced by U+FFFD, valid é kept");
        free(out);
        is_int(logs_utf8_clean("\xed\xa0\x80", 3, &out, &len), 0, "a surrogate");
        is_str(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "is invalid UTF-8");
        free(out);
        is_int(logs_utf8_clean("\xc3", 1, &out, &len), 0, "a cut character");
        is_str(out, "\xef\xbf\xbd", "replaced");
        free(out);
        is_int((long) logs_utf8_prefix("a\xc3\xa9", 3, 2), 1, "a prefix does not cut é");
        is_int((long) logs_utf8_prefix("a\xc3\xa9", 3, 3), 3, "whole when it fits");
}

static void test_encode(void) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        struct logs_event ev[] = {{2, "b \"q\"\n\x01", 7}, {1, "a", 1}};
        _cleanup_(json_decrefp) json_t *j = NULL;

        logs_events_sort(ev, 2);
        is_int(ev[0].ts_ms, 1, "sorted by time");
        is_int(logs_encode_put("/g", "i-1/kiln", ev, 2, &b), 0, "encode");
        j = json_loadb(b.data, b.len, 0, NULL);
        ok(j != NULL, "valid JSON: %s", b.data);
        is_str(json_string_value(json_object_get(j, "logGroupName")), "/g", "group");
        is_str(json_string_value(json_object_get(json_array_get(json_object_get(j, "logEvents"), 1), "message")),
               "b \"q\"\n\x01", "escapes round-trip");
        ok(logs_retention_valid(14) && logs_retention_valid(3653) && !logs_retention_valid(2) &&
                   !logs_retention_valid(0),
           "retention values");
        char *p = logs_stream_part("/var/log/app.log");
        is_str(p, "var-log-app.log", "stream part of a path");
        free(p);
}

static int count_window(struct logs_spool *s, size_t *ret_events, size_t *ret_streams) {
        struct logs_window w = {0};
        int r = logs_spool_window(s, &w);

        if (r < 0)
                return r;
        *ret_events = w.events;
        *ret_streams = w.n_streams;
        for (size_t i = 0; i < w.n_streams; i++)
                (void) logs_spool_ack(s, &w, i);
        logs_window_done(&w);
        return 0;
}

static void test_spool(void) {
        char tmpl[] = "/tmp/test-logs-XXXXXX";
        char *dir = mkdtemp(tmpl);
        struct logs_spool *s = NULL;
        struct logs_window w = {0};
        size_t events = 0, streams = 0, total = 0, windows = 0;
        char big[300000];

        ok(dir != NULL, "temp dir");
        is_int(logs_spool_open(dir, 64 << 20, &s), 0, "open the spool");
        is_int(logs_spool_window(s, &w), -ENOENT, "empty: nothing to ship");
        for (int i = 0; i < 25000; i++) {
                char m[32];
                snprintf(m, sizeof(m), "line %d", i);
                if (logs_spool_append(s, "/g", i % 2 ? "a" : "b", 1700000000000LL + i, m, strlen(m)) < 0)
                        break;
        }
        is_int(logs_spool_window(s, &w), 0, "a window");
        is_int((long) w.events, 10000, "of 10,000 events");
        is_int((long) w.n_streams, 2, "in two streams");
        is_str(w.streams[0].events[0].message, "line 0", "first message");
        /* One stream accepted, then a crash. */
        is_int(logs_spool_ack(s, &w, 0), 0, "ack the first stream");
        logs_window_done(&w);
        logs_spool_free(s);
        s = NULL;
        is_int(logs_spool_open(dir, 64 << 20, &s), 0, "open again after a crash");
        is_int(logs_spool_window(s, &w), 0, "the same window");
        ok(w.events == 10000 && w.streams[0].done && !w.streams[1].done, "with its first stream already accepted");
        is_int(logs_spool_ack(s, &w, 1), 0, "ack the second");
        logs_window_done(&w);
        total = 10000;
        while (windows < 10 && count_window(s, &events, &streams) == 0) {
                total += events;
                windows++;
        }
        is_int((long) total, 25000, "every event shipped once");
        is_int((long) windows, 2, "in two more windows");
        /* A long line is split; a batch's bytes stay in bounds. */
        memset(big, 'x', sizeof(big));
        is_int(logs_spool_append(s, "/g", "big", 1700000000000LL, big, sizeof(big)), 0, "append a 300,000-byte line");
        is_int(logs_spool_window(s, &w), 0, "window");
        is_int((long) w.events, 2, "split in two events");
        ok(w.n_streams == 1 && w.streams[0].events[0].len == LOGS_MESSAGE_MAX &&
                   strstr(w.streams[0].events[0].message, LOGS_TRUNCATED_MARKER) != NULL,
           "the first piece is 262,118 bytes and ends with the marker");
        is_int((long) (w.streams[0].events[0].len + w.streams[0].events[1].len - strlen(LOGS_TRUNCATED_MARKER)),
               (long) sizeof(big), "no byte lost");
        (void) logs_spool_ack(s, &w, 0);
        logs_window_done(&w);
        /* 1 MiB: 2,000 events of 1,000 bytes make two windows. */
        logs_spool_free(s);
        s = NULL;
        (void) rm_rf(dir);
        is_int(logs_spool_open(dir, 64 << 20, &s), 0, "a new spool");
        memset(big, 'y', 1000);
        for (int i = 0; i < 2000; i++)
                (void) logs_spool_append(s, "/g", "mib", 1700000000000LL, big, 1000);
        is_int(count_window(s, &events, &streams), 0, "window");
        is_int((long) events, 1022, "1,022 events of 1,000 bytes: 1 MiB");
        is_int(count_window(s, &events, &streams), 0, "window");
        is_int((long) events, 978, "the other 978");
        /* A line cut by a crash (no newline) in an older segment is skipped. */
        logs_spool_free(s);
        s = NULL;
        {
                _cleanup_free_ char *p = strdup_printf("%s/000000000100.log", dir);
                int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                ok(fd >= 0 && write(fd, "{\"t\":1,\"g\":\"/g\",\"s\":\"c\",\"m\":\"ok\"}\n{\"t\":1,\"g\"", 45) == 45,
                   "a segment with a cut line");
                if (fd >= 0)
                        close(fd);
        }
        is_int(logs_spool_open(dir, 64 << 20, &s), 0, "open");
        (void) logs_spool_append(s, "/g", "c", 2, "after", 5);
        is_int(count_window(s, &events, &streams), 0, "window");
        is_int((long) events, 1, "the whole line before the cut");
        is_int(count_window(s, &events, &streams), 0, "window");
        is_int((long) events, 1, "then the next segment's");
        is_int(logs_spool_window(s, &w), -ENOENT, "then nothing");
        logs_spool_free(s);
        /* The bound: the oldest segments go, counted. */
        s = NULL;
        is_int(logs_spool_open(dir, 2 << 20, &s), 0, "open with a 2 MiB bound");
        for (int i = 0; i < 5000; i++)
                (void) logs_spool_append(s, "/g", "bound", 1700000000000LL, big, 1000);
        events = logs_spool_trim(s);
        ok(events > 0 && events < 5000, "over the bound, %zu old events dropped", events);
        total = 0;
        windows = 0;
        while (windows < 20 && count_window(s, &streams, &streams) == 0)
                windows++;
        ok(windows > 0, "the rest is still shipped");
        logs_spool_free(s);
        (void) rm_rf(dir);
}

int main(void) {
        test_batch_events();
        test_batch_bytes();
        test_batch_span();
        test_utf8();
        test_encode();
        test_spool();
        return tap_done();
}
