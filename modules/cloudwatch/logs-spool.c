/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cloudwatch/logs.h"
#include "config.h"
#include "fileio.h"

#define SEGMENT_MAX (4 * 1024 * 1024)
/* A segment is read whole: one past SEGMENT_MAX by at most one event,
 * escaped (six bytes for one at worst). */
#define SEGMENT_READ_MAX (SEGMENT_MAX + 8 * LOGS_EVENT_MAX_BYTES)
#define STATE_MAX (1024 * 1024)

struct logs_spool {
        char *dir;
        size_t max_bytes;
        uint64_t write_seg;
        int write_fd;
        uint64_t write_size;
        bool dirty;
        uint64_t head_seg, head_off;
        uint64_t done_end; /* the window being shipped ends here; 0: none */
        json_t *done; /* [[group, stream]] of that window accepted */
};

static char *seg_path(struct logs_spool *s, uint64_t seg) {
        return strdup_printf("%s/%012" PRIu64 ".log", s->dir, seg);
}

static char *state_path(struct logs_spool *s, const char *name) {
        return strdup_printf("%s/%s", s->dir, name);
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* The segments on disk, sorted. */
static int list_segments(struct logs_spool *s, uint64_t **ret, size_t *ret_n) {
        _cleanup_(closedirp) DIR *d = opendir(s->dir);
        uint64_t *v = NULL;
        size_t n = 0;
        struct dirent *de;

        if (!d)
                return negative_errno();
        while ((de = readdir(d))) {
                unsigned long long seq;
                char *end;
                uint64_t *nv;
                if (!strchr("0123456789", de->d_name[0]))
                        continue;
                seq = strtoull(de->d_name, &end, 10);
                if (!streq(end, ".log"))
                        continue;
                nv = reallocarray(v, n + 1, sizeof(*v));
                if (!nv) {
                        free(v);
                        return -ENOMEM;
                }
                v = nv;
                v[n++] = seq;
        }
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && v[j] < v[j - 1]; j--) {
                        uint64_t t = v[j];
                        v[j] = v[j - 1];
                        v[j - 1] = t;
                }
        *ret = v;
        *ret_n = n;
        return 0;
}

static int save_head(struct logs_spool *s) {
        _cleanup_(json_decrefp) json_t *j =
                json_pack("{s:I, s:I, s:I, s:O}", "seg", (json_int_t) s->head_seg, "off", (json_int_t) s->head_off,
                          "end", (json_int_t) s->done_end, "done", s->done);
        _cleanup_free_ char *path = state_path(s, "head.json"), *text = NULL;

        if (!j || !path)
                return -ENOMEM;
        text = json_dumps(j, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        return write_file_atomic(path, text, strlen(text), 0600);
}

static void load_head(struct logs_spool *s) {
        _cleanup_free_ char *path = state_path(s, "head.json");
        _cleanup_(json_decrefp) json_t *j = NULL;
        json_t *done;

        if (!path || json_read_file(path, STATE_MAX, &j) < 0 || !json_is_object(j))
                return;
        s->head_seg = (uint64_t) json_integer_value(json_object_get(j, "seg"));
        s->head_off = (uint64_t) json_integer_value(json_object_get(j, "off"));
        s->done_end = (uint64_t) json_integer_value(json_object_get(j, "end"));
        done = json_object_get(j, "done");
        if (json_is_array(done) && s->done_end > s->head_off) {
                json_decref(s->done);
                s->done = json_incref(done);
        } else
                s->done_end = 0;
}

int logs_spool_open(const char *dir, size_t max_bytes, struct logs_spool **ret) {
        _cleanup_(logs_spool_freep) struct logs_spool *s = calloc(1, sizeof(*s));
        _cleanup_free_ uint64_t *segs = NULL;
        size_t n = 0;
        int r;

        if (!s)
                return -ENOMEM;
        s->write_fd = -1;
        s->max_bytes = max_bytes;
        s->dir = strdup(dir);
        s->done = json_array();
        if (!s->dir || !s->done)
                return -ENOMEM;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        r = list_segments(s, &segs, &n);
        if (r < 0)
                return r;
        load_head(s);
        /* Each start appends to a new segment: a line a crash cut stays
         * cut, and is skipped when read. */
        s->write_seg = n > 0 ? segs[n - 1] + 1 : 1;
        if (n == 0 || s->head_seg < segs[0] || s->head_seg > segs[n - 1]) {
                s->head_seg = n > 0 ? segs[0] : s->write_seg;
                s->head_off = 0;
                s->done_end = 0;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

void logs_spool_free(struct logs_spool *s) {
        if (!s)
                return;
        if (s->write_fd >= 0)
                close(s->write_fd);
        json_decref(s->done);
        free(s->dir);
        free(s);
}

static int open_write(struct logs_spool *s) {
        _cleanup_free_ char *path = NULL;
        struct stat st;

        if (s->write_fd >= 0 && s->write_size < SEGMENT_MAX)
                return 0;
        if (s->write_fd >= 0) {
                (void) fdatasync(s->write_fd);
                close(s->write_fd);
                s->write_fd = -1;
                s->write_seg++;
        }
        path = seg_path(s, s->write_seg);
        if (!path)
                return -ENOMEM;
        s->write_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (s->write_fd < 0)
                return negative_errno();
        if (fstat(s->write_fd, &st) < 0)
                return negative_errno();
        s->write_size = (uint64_t) st.st_size;
        return 0;
}

static int append_one(struct logs_spool *s, const char *group, const char *stream, int64_t ts_ms, const char *msg,
                      size_t len, bool marker) {
        _cleanup_strbuf_ struct strbuf line = STRBUF_INIT;
        int r;

        r = strbuf_printf(&line, "{\"t\":%lld,\"g\":", (long long) ts_ms);
        r = r < 0 ? r : logs_json_string(&line, group, strlen(group));
        r = r < 0 ? r : strbuf_puts(&line, ",\"s\":");
        r = r < 0 ? r : logs_json_string(&line, stream, strlen(stream));
        r = r < 0 ? r : strbuf_puts(&line, ",\"m\":");
        if (r >= 0 && marker) {
                _cleanup_free_ char *m = strdup_printf("%.*s%s", (int) len, msg, LOGS_TRUNCATED_MARKER);
                r = m ? logs_json_string(&line, m, strlen(m)) : -ENOMEM;
        } else if (r >= 0)
                r = logs_json_string(&line, msg, len);
        r = r < 0 ? r : strbuf_puts(&line, "}\n");
        r = r < 0 ? r : open_write(s);
        if (r < 0)
                return r;
        r = write_full(s->write_fd, line.data, line.len);
        if (r < 0) {
                /* Nothing half-written stays: the line is whole or gone. */
                if (ftruncate(s->write_fd, (off_t) s->write_size) < 0)
                        s->write_size = SEGMENT_MAX; /* the next append starts a segment */
                return r;
        }
        s->write_size += line.len;
        s->dirty = true;
        return 0;
}

int logs_spool_append(struct logs_spool *s, const char *group, const char *stream, int64_t ts_ms, const char *msg,
                      size_t len) {
        _cleanup_free_ char *clean = NULL;
        size_t clean_len, piece = LOGS_MESSAGE_MAX - strlen(LOGS_TRUNCATED_MARKER);
        int r;

        r = logs_utf8_clean(msg, len, &clean, &clean_len);
        if (r < 0)
                return r;
        if (clean_len <= LOGS_MESSAGE_MAX)
                return append_one(s, group, stream, ts_ms, clean, clean_len, false);
        /* Longer than an event may be: split, each piece but the last
         * marked. */
        for (size_t off = 0; off < clean_len;) {
                size_t k = logs_utf8_prefix(clean + off, clean_len - off, piece);
                bool last = off + k >= clean_len;
                if (k == 0)
                        k = 1;
                r = append_one(s, group, stream, ts_ms, clean + off, k, !last);
                if (r < 0)
                        return r;
                off += k;
        }
        return 0;
}

int logs_spool_sync(struct logs_spool *s) {
        if (!s->dirty || s->write_fd < 0)
                return 0;
        s->dirty = false;
        return fdatasync(s->write_fd) < 0 ? negative_errno() : 0;
}

void logs_window_done(struct logs_window *w) {
        for (size_t i = 0; i < w->n_streams; i++) {
                free(w->streams[i].group);
                free(w->streams[i].stream);
                free(w->streams[i].events);
        }
        free(w->streams);
        free(w->buf);
        *w = (struct logs_window){0};
}

static bool in_done(struct logs_spool *s, const char *g, const char *st) {
        size_t i;
        json_t *p;

        json_array_foreach(s->done, i, p)
                if (streq(json_string_value(json_array_get(p, 0)) ?: "", g) &&
                    streq(json_string_value(json_array_get(p, 1)) ?: "", st))
                        return true;
        return false;
}

static int window_stream(struct logs_window *w, const char *g, const char *st, struct logs_window_stream **ret) {
        struct logs_window_stream *v;

        for (size_t i = 0; i < w->n_streams; i++)
                if (streq(w->streams[i].group, g) && streq(w->streams[i].stream, st)) {
                        *ret = &w->streams[i];
                        return 0;
                }
        v = reallocarray(w->streams, w->n_streams + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        w->streams = v;
        v = &w->streams[w->n_streams];
        *v = (struct logs_window_stream){.group = strdup(g), .stream = strdup(st)};
        w->n_streams++;
        if (!v->group || !v->stream)
                return -ENOMEM;
        *ret = v;
        return 0;
}

/* Parses buf[off..len) into w, as far as one batch goes. The messages are
 * copied to w->buf (offsets first, pointers once it no longer moves). */
static int parse_window(struct logs_spool *s, const char *buf, size_t len, bool last_segment, struct logs_window *w) {
        _cleanup_strbuf_ struct strbuf msgs = STRBUF_INIT;
        struct logs_batch_acc acc = {0};
        uint64_t limit = s->done_end > w->off ? s->done_end : len;
        size_t pos = w->off;
        int r;

        while (pos < len && pos < limit) {
                const char *nl = memchr(buf + pos, '\n', len - pos);
                _cleanup_(json_decrefp) json_t *j = NULL;
                struct logs_window_stream *ws;
                const char *g, *st, *m;
                json_t *t;
                size_t mlen;

                if (!nl) {
                        if (last_segment)
                                break; /* not complete: left for later */
                        w->bad++; /* cut by a crash */
                        pos = len;
                        break;
                }
                j = json_loadb(buf + pos, (size_t) (nl - buf - pos), 0, NULL);
                g = json_string_value(json_object_get(j, "g"));
                st = json_string_value(json_object_get(j, "s"));
                m = json_string_value(json_object_get(j, "m"));
                t = json_object_get(j, "t");
                if (!g || !st || !m || !json_is_integer(t)) {
                        w->bad++;
                        pos = (size_t) (nl - buf) + 1;
                        continue;
                }
                mlen = json_string_length(json_object_get(j, "m"));
                if (!logs_batch_add(&acc, json_integer_value(t), mlen))
                        break;
                r = window_stream(w, g, st, &ws);
                if (r < 0)
                        return r;
                if (ws->n % 256 == 0) {
                        struct logs_event *e = reallocarray(ws->events, ws->n + 256, sizeof(*e));
                        if (!e)
                                return -ENOMEM;
                        ws->events = e;
                }
                /* The message's offset in msgs, for now. */
                ws->events[ws->n++] = (struct logs_event){
                        .ts_ms = json_integer_value(t), .message = (const char *) (uintptr_t) msgs.len, .len = mlen};
                r = strbuf_append(&msgs, m, mlen + 1);
                if (r < 0)
                        return r;
                w->events++;
                pos = (size_t) (nl - buf) + 1;
        }
        w->end = pos;
        w->len = msgs.len;
        w->buf = strbuf_steal(&msgs);
        if (msgs.len > 0 && !w->buf)
                return -ENOMEM;
        for (size_t i = 0; i < w->n_streams; i++) {
                struct logs_window_stream *ws = &w->streams[i];
                ws->done = in_done(s, ws->group, ws->stream);
                for (size_t k = 0; k < ws->n; k++)
                        ws->events[k].message = w->buf + (uintptr_t) ws->events[k].message;
                logs_events_sort(ws->events, ws->n);
        }
        return 0;
}

/* The first segment after seg on disk, else the one being written. */
static uint64_t next_segment(struct logs_spool *s, uint64_t seg) {
        _cleanup_free_ uint64_t *segs = NULL;
        size_t n = 0;

        if (list_segments(s, &segs, &n) < 0)
                return seg + 1;
        for (size_t i = 0; i < n; i++)
                if (segs[i] > seg)
                        return segs[i] < s->write_seg ? segs[i] : s->write_seg;
        return s->write_seg;
}

static void move_head(struct logs_spool *s, uint64_t seg, uint64_t off) {
        s->head_seg = seg;
        s->head_off = off;
        s->done_end = 0;
        json_array_clear(s->done);
}

int logs_spool_window(struct logs_spool *s, struct logs_window *ret) {
        for (unsigned tries = 0; tries < 1000; tries++) {
                _cleanup_free_ char *path = seg_path(s, s->head_seg), *buf = NULL;
                struct logs_window w = {.seg = s->head_seg, .off = s->head_off};
                bool last = s->head_seg >= s->write_seg;
                size_t len = 0;
                int r;

                if (!path)
                        return -ENOMEM;
                r = read_file(path, SEGMENT_READ_MAX, &buf, &len);
                if (r == -ENOENT) {
                        if (last)
                                return -ENOENT;
                        move_head(s, next_segment(s, s->head_seg), 0);
                        (void) save_head(s);
                        continue;
                }
                if (r < 0)
                        return r;
                if (s->head_off > len)
                        s->head_off = w.off = len;
                r = parse_window(s, buf, len, last, &w);
                if (r < 0) {
                        logs_window_done(&w);
                        return r;
                }
                if (w.events > 0) {
                        bool all = true;
                        for (size_t i = 0; i < w.n_streams; i++)
                                all = all && w.streams[i].done;
                        if (!all) {
                                *ret = w;
                                return 0;
                        }
                        /* Every stream of it was accepted before a restart. */
                }
                /* Nothing readable: past what was skipped, or on to the next segment. */
                if (w.end > w.off) {
                        move_head(s, s->head_seg, w.end);
                        logs_window_done(&w);
                        (void) save_head(s);
                        continue;
                }
                logs_window_done(&w);
                if (last)
                        return -ENOENT;
                (void) unlink(path);
                move_head(s, next_segment(s, s->head_seg), 0);
                (void) save_head(s);
        }
        return -ENOENT;
}

int logs_spool_ack(struct logs_spool *s, struct logs_window *w, size_t i) {
        bool all = true;

        if (i >= w->n_streams || w->seg != s->head_seg || w->off != s->head_off)
                return -EINVAL;
        w->streams[i].done = true;
        for (size_t k = 0; k < w->n_streams; k++)
                all = all && w->streams[k].done;
        if (all) {
                move_head(s, w->seg, w->end);
                return save_head(s);
        }
        s->done_end = w->end;
        if (json_array_append_new(s->done, json_pack("[s, s]", w->streams[i].group, w->streams[i].stream)) < 0)
                return -ENOMEM;
        return save_head(s);
}

static size_t count_lines(const char *path, uint64_t from) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, n = 0;

        if (read_file(path, SEGMENT_READ_MAX, &buf, &len) < 0)
                return 0;
        for (size_t i = from; i < len; i++)
                n += buf[i] == '\n';
        return n;
}

size_t logs_spool_trim(struct logs_spool *s) {
        _cleanup_free_ uint64_t *segs = NULL;
        size_t n = 0, dropped = 0;
        uint64_t total = 0;
        struct stat st;

        if (list_segments(s, &segs, &n) < 0)
                return 0;
        _cleanup_free_ uint64_t *sizes = calloc(n ? n : 1, sizeof(*sizes));
        if (!sizes)
                return 0;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *p = seg_path(s, segs[i]);
                sizes[i] = p && stat(p, &st) >= 0 ? (uint64_t) st.st_size : 0;
                total += sizes[i];
        }
        /* The oldest go, never the one being written. */
        for (size_t i = 0; i < n && total > s->max_bytes && segs[i] < s->write_seg; i++) {
                _cleanup_free_ char *p = seg_path(s, segs[i]);
                if (!p)
                        break;
                if (segs[i] >= s->head_seg)
                        dropped += count_lines(p, segs[i] == s->head_seg ? s->head_off : 0);
                if (unlink(p) < 0)
                        break;
                total -= sizes[i];
                if (segs[i] >= s->head_seg) {
                        move_head(s, segs[i] + 1, 0);
                        (void) save_head(s);
                }
        }
        return dropped;
}

void logs_spool_counts(struct logs_spool *s, struct logs_spool_counts *ret) {
        _cleanup_free_ uint64_t *segs = NULL;
        size_t n = 0;
        struct stat st;

        *ret = (struct logs_spool_counts){0};
        if (list_segments(s, &segs, &n) < 0)
                return;
        ret->segments = n;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *p = seg_path(s, segs[i]);
                if (p && stat(p, &st) >= 0)
                        ret->bytes += (size_t) st.st_size;
        }
}

int logs_spool_load_sources(struct logs_spool *s, json_t **ret) {
        _cleanup_free_ char *path = state_path(s, "sources.json");
        json_t *j = NULL;
        int r;

        if (!path)
                return -ENOMEM;
        r = json_read_file(path, STATE_MAX, &j);
        if (r < 0 || !json_is_object(j)) {
                json_decref(j);
                j = json_object();
        }
        *ret = j;
        return j ? 0 : -ENOMEM;
}

int logs_spool_save_sources(struct logs_spool *s, const json_t *sources) {
        _cleanup_free_ char *path = state_path(s, "sources.json"), *text = json_dumps(sources, JSON_COMPACT);

        if (!path || !text)
                return -ENOMEM;
        return write_file_atomic(path, text, strlen(text), 0600);
}
