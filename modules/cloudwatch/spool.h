/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "cloudwatch/metric.h"
#include "macro.h"

/* The metric spool, on disk under /var/lib/kiln/metrics/:
 *
 *   incoming/<ns>-<pid>-<rand>.json   datums handed over by `kiln put-metric`:
 *                                     {"namespace": "X" | null, "datums": [...]}
 *   queue/<seq>.queue                 one commit of work, oldest first: requests
 *                                     ready to send, encoded (and gzipped):
 *       kiln-queue 1\n
 *       {"sources": [incoming names], "replaces": "<seq>.json"}\n
 *       then for each request, a header line and the body:
 *       {"namespace", "protocol": "json"|"query", "gzip", "items", "datums",
 *        "oldest", "newest", "length"}\n<length bytes>\n
 *   queue/<seq>.json                  a commit of kiln before this format
 *                                     ({"sources", "requests": [{"namespace",
 *                                     "datums"}]}), re-encoded at start
 *
 * Every file is written atomically, a new one from an O_TMPFILE linked in
 * once complete, so that nothing half-written has a name. A file replaced,
 * or written where O_TMPFILE is not supported, goes through a named
 * "<name>.kiln-XXXXXXXX" while its writer holds a shared flock(2) on the
 * directory; such files are removed only under the exclusive lock, when no
 * writer can be between its temporary and its rename: liveness by lock,
 * never by the clock. A queue file names the incoming files it
 * took; they are removed only after it is on disk, and removed again at the
 * next start if a crash came between, so nothing is taken twice. A request
 * leaves the queue only once CloudWatch has accepted it (or rejected its
 * data as invalid): the file is rewritten without it, or removed. Datums are
 * thus sent once, across restarts and kill -9, except when a crash falls
 * between CloudWatch's answer and that rewrite. A request is sent as it was
 * encoded: a protocol changed by a reload applies to new commits. The
 * requests of the commit being sent are kept in memory, so a send reads
 * nothing back. When the disk is full, commits are kept in memory and sent
 * from there (the incoming files they took stay until then), and the
 * queue still drains: see spool_commit() and spool_pop(). */

#define SPOOL_DIR "/var/lib/kiln/metrics"

struct spool_limits {
        size_t max_datums; /* queued samples; the oldest commits go first beyond */
        size_t max_bytes; /* queue files' size */
};

struct spool_counts {
        size_t commits;
        size_t requests;
        size_t datums;
        size_t bytes;
        size_t incoming; /* files waiting in incoming/ */
        size_t memory_datums; /* of datums, those only in memory: their commit could not be written */
};

struct spool;

/* Opens (creating) the spool at dir (a full path), removes leftovers of
 * interrupted writes and the incoming files a queue file already took. */
int spool_open(const char *dir, const struct spool_limits *limits, struct spool **ret);
void spool_free(struct spool *s);
DEFINE_POINTER_CLEANUP(struct spool, spool_free)

/* For `kiln put-metric`: drops datums (an array) into dir's incoming/. ns
 * may be NULL: the daemon's configured namespace. When incoming/ already
 * holds max_files, the oldest is removed and 1 returned. */
int spool_submit(const char *dir, const char *ns, const json_t *datums, size_t max_files);

/* One request, ready to send. */
struct spool_request {
        char *namespace;
        enum metric_protocol protocol;
        bool gzip; /* body is gzipped */
        size_t items; /* MetricData items */
        size_t datums; /* samples */
        double oldest, newest; /* the datums' timestamps, for the two-week check at send time */
        char *body;
        size_t len;
};
void spool_request_done(struct spool_request *r);

/* Parses the content of a queue file (buf[len], NUL-terminated as
 * read_file() hands it over): its head line (ret_head may be NULL) and its
 * requests. -EBADMSG when it is not one. */
int spool_parse_queue(const char *buf, size_t len, json_t **ret_head, struct spool_request **ret_reqs, size_t *ret_n);
void spool_requests_free(struct spool_request *reqs, size_t n);

/* Parses up to max incoming files, oldest first, into batch (each datum
 * tagged with its file's namespace); *ret_sources are their names.
 * Unreadable files are removed and counted in *ret_bad. */
int spool_take_incoming(struct spool *s, size_t max, struct metric_batch *batch, char ***ret_sources, size_t *ret_bad);

/* Commits requests to the queue, then removes the incoming sources (and the
 * legacy queue file it replaces, or NULL). Takes the requests' contents:
 * reqs[] is left zeroed, on failure too. When the file cannot be written
 * (ENOSPC, EIO, ...), the commit is kept in memory, queued in its turn,
 * and the positive errno is returned: it is sent from there, and its
 * incoming sources stay on disk, not taken again, until it is sent. A
 * commit replacing a legacy file is not kept: the negative errno. */
int spool_commit(struct spool *s, struct spool_request *reqs, size_t n, char *const *sources, const char *replaces);
/* Writes the commits held in memory to disk, oldest first, as room allows;
 * *ret_datums: how many datums are still only in memory. */
int spool_persist(struct spool *s, size_t *ret_datums);

/* The oldest queued request: its commit's name and the request, valid
 * until the next call that changes the spool. -ENOENT when the queue is
 * empty. */
int spool_peek(struct spool *s, char **ret_name, const struct spool_request **ret);
/* Removes the oldest request of commit name (after CloudWatch took it).
 * When its file cannot be rewritten without it (ENOSPC), it is removed in
 * memory and the positive errno returned: a crash before the file is
 * rewritten or removed sends the requests after it again. */
int spool_pop(struct spool *s, const char *name);

/* The oldest queue file of the format before, taken off the list: its name
 * and content ({"sources", "requests": [{"namespace", "datums"}]}).
 * -ENOENT when none is left. The caller commits it again, naming it as
 * replaced; one left on disk is seen again at the next start. */
int spool_next_legacy(struct spool *s, char **ret_name, json_t **ret_commit);
/* Removes a legacy file that cannot be re-encoded. */
int spool_drop_legacy(struct spool *s, const char *name);

/* Drops the oldest commits (on disk or in memory) while over the limits;
 * *ret_datums says how many datums went. Returns the number of commits
 * dropped. */
int spool_trim(struct spool *s, size_t *ret_datums);
void spool_get_counts(struct spool *s, struct spool_counts *ret);
