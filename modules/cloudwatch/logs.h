/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "strbuf.h"

/* CloudWatch Logs: kiln's own log, the user-data scripts' output, files
 * and journal units shipped with PutLogEvents, spooled on disk first.
 *
 * The spool, under /var/lib/kiln/logs/:
 *
 *   <seq>.log    segments, oldest first; one event a line, as read:
 *                {"t": ms, "g": "group", "s": "stream", "m": "message"}\n
 *                A segment takes appends until it passes 1 MiB; each start
 *                of the daemon begins a new one, so a line cut by a crash
 *                is never appended to.
 *   head.json    where shipping stands: {"seg", "off", "end", "done"}: the
 *                events before seg:off were accepted; those of the window
 *                seg:off..end being shipped are, for the group/stream pairs
 *                in done. Written atomically after each accepted batch.
 *   sources.json how far each source was read: {"file:/path": {"ino",
 *                "off"}, "journal:unit": {"cursor"}}, written after the
 *                lines read are appended (and fdatasync'ed) to a segment.
 *
 * A source's lines are thus in the spool before its offset moves on, and
 * leave it only after CloudWatch Logs answered 2xx: a kill -9 loses
 * nothing, and sends again at most the batch that was in flight. */

#define LOGS_SPOOL_DIR "/var/lib/kiln/logs"

/* PutLogEvents' limits. */
#define LOGS_BATCH_MAX_BYTES 1048576 /* the messages' UTF-8 bytes plus 26 each */
#define LOGS_EVENT_OVERHEAD 26
#define LOGS_BATCH_MAX_EVENTS 10000
#define LOGS_BATCH_MAX_SPAN_MS (24LL * 3600 * 1000)
#define LOGS_EVENT_MAX_BYTES 262144 /* an event, overhead included */
#define LOGS_MESSAGE_MAX (LOGS_EVENT_MAX_BYTES - LOGS_EVENT_OVERHEAD)
#define LOGS_MAX_AGE_MS (14LL * 86400 * 1000)
#define LOGS_MAX_FUTURE_MS (2LL * 3600 * 1000)
#define LOGS_TRUNCATED_MARKER " [kiln: line split]"

/* --- batching (logs-batch.c), pure --- */

struct logs_batch_acc {
        size_t events;
        size_t bytes; /* as PutLogEvents counts them */
        int64_t oldest, newest;
};

/* Whether one more event of msg_len bytes at ts fits in the batch; when it
 * does, it is counted in. */
bool logs_batch_add(struct logs_batch_acc *acc, int64_t ts_ms, size_t msg_len);

/* Replaces invalid UTF-8 in s[0..len) by U+FFFD; *ret is NUL-terminated. */
int logs_utf8_clean(const char *s, size_t len, char **ret, size_t *ret_len);
/* How many bytes of s[0..len) fit in max bytes without cutting a UTF-8
 * character (s is valid UTF-8). */
size_t logs_utf8_prefix(const char *s, size_t len, size_t max);

struct logs_event {
        int64_t ts_ms;
        const char *message;
        size_t len;
};

/* Sorts events by time, stably (PutLogEvents wants them in order). */
void logs_events_sort(struct logs_event *ev, size_t n);

/* The PutLogEvents JSON body. */
int logs_encode_put(const char *group, const char *stream, const struct logs_event *ev, size_t n, struct strbuf *out);

/* Appends s[0..len) (valid UTF-8) as a JSON string. */
int logs_json_string(struct strbuf *out, const char *s, size_t len);

/* Whether days is a retention CloudWatch Logs accepts. */
bool logs_retention_valid(long days);

/* A source's name made a stream name part: "/var/log/app.log" -> "var-log-app.log". */
char *logs_stream_part(const char *path);

/* --- the spool (logs-spool.c) --- */

struct logs_spool;

struct logs_spool_counts {
        size_t segments;
        size_t bytes;
};

int logs_spool_open(const char *dir, size_t max_bytes, struct logs_spool **ret);
void logs_spool_free(struct logs_spool *s);
DEFINE_POINTER_CLEANUP(struct logs_spool, logs_spool_free)

/* Appends one event (message cleaned to UTF-8 and split beyond
 * LOGS_MESSAGE_MAX). Negative errno when it could not be written
 * (-ENOSPC...): nothing of it is in the spool then. */
int logs_spool_append(struct logs_spool *s, const char *group, const char *stream, int64_t ts_ms, const char *msg,
                      size_t len);
/* fdatasync()s what was appended. */
int logs_spool_sync(struct logs_spool *s);

struct logs_window_stream {
        char *group, *stream;
        struct logs_event *events; /* messages point into the window's buffer */
        size_t n;
        bool done;
};

/* The events from the head on, as many as one PutLogEvents batch holds
 * (see logs_batch_add()), by group and stream. */
struct logs_window {
        char *buf;
        size_t len;
        uint64_t seg;
        uint64_t off, end;
        struct logs_window_stream *streams;
        size_t n_streams;
        size_t events;
        size_t bad; /* unreadable lines skipped */
};

/* Reads the next window; -ENOENT when nothing is waiting. */
int logs_spool_window(struct logs_spool *s, struct logs_window *ret);
void logs_window_done(struct logs_window *w);
/* Records that stream i of w was accepted; when every one was, the head
 * moves past w and fully shipped segments are removed. */
int logs_spool_ack(struct logs_spool *s, struct logs_window *w, size_t i);
/* Drops the oldest segments while the spool is over its bound; returns how
 * many events went. */
size_t logs_spool_trim(struct logs_spool *s);
void logs_spool_counts(struct logs_spool *s, struct logs_spool_counts *ret);

/* sources.json, read and written whole. */
int logs_spool_load_sources(struct logs_spool *s, json_t **ret);
int logs_spool_save_sources(struct logs_spool *s, const json_t *sources);
