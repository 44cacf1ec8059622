/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "macro.h"

/* The metric spool, on disk under /var/lib/kiln/metrics/:
 *
 *   incoming/<ns>-<pid>-<rand>.json   datums handed over by `kiln put-metric`:
 *                                     {"namespace": "X" | null, "datums": [...]}
 *   queue/<seq>.json                  one commit of work, oldest first:
 *                                     {"sources": [incoming names],
 *                                      "requests": [{"namespace", "datums"}]}
 *
 * Every file is written atomically. A queue file names the incoming files it
 * took; they are removed only after it is on disk, and removed again at the
 * next start if a crash came between, so nothing is taken twice. A request
 * leaves the queue only once CloudWatch has accepted it (or rejected its
 * data as invalid): the file is rewritten without it, or removed. Datums are
 * thus sent once, across restarts and kill -9, except when a crash falls
 * between CloudWatch's answer and that rewrite. */

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

/* Reads up to max incoming files, oldest first: *ret is an array of
 * {"namespace", "datums"}, *ret_sources their names. Unreadable files are
 * removed and counted in *ret_bad. */
int spool_take_incoming(struct spool *s, size_t max, json_t **ret, char ***ret_sources, size_t *ret_bad);

/* Commits requests (an array of {"namespace", "datums"}) to the queue, then
 * removes the incoming sources. */
int spool_commit(struct spool *s, const json_t *requests, char *const *sources);

/* The oldest queued request: its commit's name and the request. -ENOENT
 * when the queue is empty. */
int spool_peek(struct spool *s, char **ret_name, json_t **ret_request);
/* Removes the oldest request of commit name (after CloudWatch took it). */
int spool_pop(struct spool *s, const char *name);

/* Drops the oldest commits while over the limits; *ret_datums says how many
 * datums went. Returns the number of commits dropped. */
int spool_trim(struct spool *s, size_t *ret_datums);
void spool_get_counts(struct spool *s, struct spool_counts *ret);
