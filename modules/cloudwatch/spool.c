/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cloudwatch/metric.h"
#include "cloudwatch/spool.h"
#include "fileio.h"
#include "strbuf.h"

#define MAX_FILE (16u * 1024 * 1024)
#define MAGIC "kiln-queue 1\n"

struct entry {
        char *name; /* "000000000042.queue" */
        size_t requests;
        size_t datums;
        size_t bytes;
        struct spool_request *reqs; /* the requests still queued, when in memory */
        size_t n_reqs;
        bool in_memory; /* its file could not be written (ENOSPC, ...): only here */
        char **sources; /* in memory: the incoming files it took, sorted; removed once sent */
};

struct spool {
        char *incoming;
        char *queue;
        struct spool_limits limits;
        struct entry *entries; /* oldest first */
        size_t n_entries;
        char **legacy; /* queue files of the format before, oldest first */
        unsigned long long next_seq;
};

void spool_request_done(struct spool_request *r) {
        free(r->namespace);
        free(r->body);
        *r = (struct spool_request){0};
}

void spool_requests_free(struct spool_request *reqs, size_t n) {
        for (size_t i = 0; i < n; i++)
                spool_request_done(&reqs[i]);
        free(reqs);
}

static void requests_free(struct spool_request *reqs, size_t n) {
        spool_requests_free(reqs, n);
}

static bool has_suffix(const char *name, const char *suffix) {
        size_t n = strlen(name), k = strlen(suffix);
        return name[0] != '.' && n > k && streq(name + n - k, suffix);
}

/* --- files --- */

/* A temporary file's name: "<name>.kiln-XXXXXX", as write_file_atomic()
 * names them too (kiln before this spool format wrote them with it). */
static bool is_temp(const char *name) {
        return strstr(name, ".kiln-") != NULL;
}

/* flock(2) on the directory, retried on EINTR. */
static int lock_dir(int dfd, int how) {
        while (flock(dfd, how) < 0)
                if (errno != EINTR)
                        return negative_errno();
        return 0;
}

/* Gives the anonymous file fd the name `name` in dfd (which must not exist). */
static int link_tmpfile(int fd, int dfd, const char *name) {
        char proc[64];

        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, proc, dfd, name, AT_SYMLINK_FOLLOW) >= 0)
                return 0;
        /* Without /proc: AT_EMPTY_PATH, which needs CAP_DAC_READ_SEARCH. */
        if (errno == ENOENT && linkat(fd, "", dfd, name, AT_EMPTY_PATH) >= 0)
                return 0;
        return negative_errno();
}

/* An O_TMPFILE in dfd, written and made durable: nothing half-written ever
 * has a name. -EOPNOTSUPP when the file system cannot. */
static int write_tmpfile(int dfd, const void *data, size_t len) {
        int fd = openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600), r;

        if (fd < 0)
                return errno == EISDIR || errno == EINVAL || errno == EOPNOTSUPP ? -EOPNOTSUPP : negative_errno();
        r = write_full(fd, data, len);
        if (r >= 0 && fsync(fd) < 0)
                r = negative_errno();
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

/* A temporary name in dfd for name, holding data: the O_TMPFILE fd linked,
 * or (fd < 0) a file created and written. */
static int named_temp(int dfd, int fd, const char *name, const void *data, size_t len, char **ret) {
        _cleanup_close_ int out = -1;
        _cleanup_free_ char *tmp = NULL;
        unsigned rnd = 0;
        int r;

        (void) getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK);
        tmp = strdup_printf("%s.kiln-%08x", name, rnd);
        if (!tmp)
                return -ENOMEM;
        r = fd >= 0 ? link_tmpfile(fd, dfd, tmp) : -ENOENT;
        /* Not linked (no fd, or neither /proc nor CAP_DAC_READ_SEARCH): written here. */
        if (r == -ENOENT || r == -EPERM || r == -EACCES) {
                out = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                r = out < 0 ? negative_errno() : write_full(out, data, len);
                if (r >= 0 && fsync(out) < 0)
                        r = negative_errno();
                if (r < 0 && out >= 0)
                        (void) unlinkat(dfd, tmp, 0);
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(tmp);
        return 0;
}

/* Writes dir/name with data, atomically and durably. A new name
 * (!replace) is linked from an O_TMPFILE: nothing half-written ever has a
 * name. A file replaced (rename needs a name to move), or any file where
 * O_TMPFILE is not to be had, goes through a named temporary; while it has
 * a name, the writer holds a shared flock(2) on the directory, and
 * list_dir() removes temporaries only when it gets that lock exclusively:
 * when no writer is between its temporary and its rename, whatever the
 * clock says. */
static int spool_write(const char *dir, const char *name, const void *data, size_t len, bool replace) {
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd = -1;
        _cleanup_free_ char *tmp = NULL;
        int r = 0;

        if (dfd < 0)
                return negative_errno();
        fd = write_tmpfile(dfd, data, len);
        if (fd < 0 && fd != -EOPNOTSUPP)
                return fd;
        if (fd >= 0 && !replace) {
                r = link_tmpfile(fd, dfd, name);
                /* Neither /proc nor CAP_DAC_READ_SEARCH: a named temporary, then. */
                if (r == -ENOENT || r == -EPERM || r == -EACCES) {
                        close(fd);
                        fd = -1;
                }
        }
        if (fd < 0 || replace) {
                r = lock_dir(dfd, LOCK_SH);
                if (r < 0)
                        return r;
                r = named_temp(dfd, fd, name, data, len, &tmp);
                if (r >= 0 && (replace ? renameat(dfd, tmp, dfd, name) : linkat(dfd, tmp, dfd, name, 0)) < 0)
                        r = negative_errno();
                if (tmp && (r < 0 || !replace))
                        (void) unlinkat(dfd, tmp, 0);
                (void) lock_dir(dfd, LOCK_UN);
        }
        if (r < 0)
                return r;
        return fsync(dfd) < 0 ? negative_errno() : 0;
}

/* Removes the temporaries of writers that died: only when no writer holds
 * the directory's lock, that is when none is writing. */
static void remove_dead_temps(const char *dir, char **temps) {
        _cleanup_close_ int dfd = -1;

        if (!temps || !*temps)
                return;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || flock(dfd, LOCK_EX | LOCK_NB) < 0)
                return;
        for (char **t = temps; *t; t++)
                (void) unlinkat(dfd, *t, 0);
        (void) flock(dfd, LOCK_UN);
}

/* Names of dir's files ending in suffix (or in suffix2, when not NULL),
 * sorted; leftovers of writers that died are removed on the way. */
static int list_dir(const char *dir, const char *suffix, const char *suffix2, char ***ret) {
        _cleanup_strv_free_ char **l = NULL, **temps = NULL;
        struct dirent **names = NULL;
        int n, r = 0;

        n = scandir(dir, &names, NULL, alphasort);
        if (n < 0)
                return negative_errno();
        for (int i = 0; i < n; i++) {
                const char *name = names[i]->d_name;
                if (is_temp(name))
                        r = r < 0 ? r : strv_push(&temps, name);
                else if (r >= 0 && (has_suffix(name, suffix) || (suffix2 && has_suffix(name, suffix2))))
                        r = strv_push(&l, name);
                free(names[i]);
        }
        free(names);
        if (r < 0)
                return r;
        remove_dead_temps(dir, temps);
        if (!l && !(l = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

static int remove_in(const char *dir, const char *name) {
        _cleanup_free_ char *p = strdup_printf("%s/%s", dir, name);

        if (!p)
                return -ENOMEM;
        return unlink(p) < 0 && errno != ENOENT ? negative_errno() : 0;
}

/* --- queue files --- */

static const char *protocol_name(enum metric_protocol p) {
        return p == METRIC_QUERY ? "query" : "json";
}

static int put_request(struct strbuf *b, const struct spool_request *r) {
        _cleanup_(json_decrefp) json_t *h = json_pack(
                "{s:s, s:s, s:b, s:I, s:I, s:f, s:f, s:I}", "namespace", r->namespace, "protocol",
                protocol_name(r->protocol), "gzip", r->gzip, "items", (json_int_t) r->items, "datums",
                (json_int_t) r->datums, "oldest", r->oldest, "newest", r->newest, "length", (json_int_t) r->len);
        _cleanup_free_ char *text = h ? json_dumps(h, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
        int k;

        if (!text)
                return -ENOMEM;
        k = strbuf_puts(b, text);
        k = k < 0 ? k : strbuf_append(b, "\n", 1);
        k = k < 0 ? k : strbuf_append(b, r->body, r->len);
        return k < 0 ? k : strbuf_append(b, "\n", 1);
}

static int write_queue_file(struct spool *s, const char *name, const json_t *head, const struct spool_request *reqs,
                            size_t n, bool replace, size_t *ret_size) {
        _cleanup_free_ char *text = json_dumps(head, JSON_COMPACT);
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        int r;

        if (!text)
                return -ENOMEM;
        r = strbuf_puts(&b, MAGIC);
        r = r < 0 ? r : strbuf_puts(&b, text);
        r = r < 0 ? r : strbuf_append(&b, "\n", 1);
        for (size_t i = 0; i < n && r >= 0; i++)
                r = put_request(&b, &reqs[i]);
        if (r < 0)
                return r;
        *ret_size = b.len;
        return spool_write(s->queue, name, b.data, b.len, replace);
}

/* The line at *p (up to end), parsed as a JSON object; *p moves past it. */
static int json_line(const char **p, const char *end, json_t **ret) {
        const char *nl = memchr(*p, '\n', (size_t) (end - *p));
        json_t *j;

        if (!nl)
                return -EBADMSG;
        j = json_loadb(*p, (size_t) (nl - *p), 0, NULL);
        if (!json_is_object(j)) {
                json_decref(j);
                return -EBADMSG;
        }
        *p = nl + 1;
        *ret = j;
        return 0;
}

static int parse_request(const char **p, const char *end, struct spool_request *ret) {
        _cleanup_(json_decrefp) json_t *h = NULL;
        const char *ns, *proto;
        json_int_t len, items, datums;
        int r;

        r = json_line(p, end, &h);
        if (r < 0)
                return r;
        ns = json_string_value(json_object_get(h, "namespace"));
        proto = json_string_value(json_object_get(h, "protocol"));
        len = json_integer_value(json_object_get(h, "length"));
        items = json_integer_value(json_object_get(h, "items"));
        datums = json_integer_value(json_object_get(h, "datums"));
        if (!ns || !proto || (!streq(proto, "json") && !streq(proto, "query")) || len < 0 || items < 0 || datums < 0 ||
            (size_t) len >= (size_t) (end - *p) || (*p)[len] != '\n')
                return -EBADMSG;
        *ret = (struct spool_request){
                .namespace = strdup(ns),
                .protocol = streq(proto, "query") ? METRIC_QUERY : METRIC_JSON,
                .gzip = json_is_true(json_object_get(h, "gzip")),
                .items = (size_t) items,
                .datums = (size_t) datums,
                .oldest = json_number_value(json_object_get(h, "oldest")),
                .newest = json_number_value(json_object_get(h, "newest")),
                .body = malloc((size_t) len + 1),
                .len = (size_t) len,
        };
        if (!ret->namespace || !ret->body) {
                spool_request_done(ret);
                return -ENOMEM;
        }
        memcpy(ret->body, *p, (size_t) len);
        ret->body[len] = 0;
        *p += len + 1;
        return 0;
}

int spool_parse_queue(const char *buf, size_t len, json_t **ret_head, struct spool_request **ret_reqs, size_t *ret_n) {
        _cleanup_(json_decrefp) json_t *head = NULL;
        struct spool_request *reqs = NULL;
        const char *p, *end;
        size_t n = 0;
        int r;

        if (len < strlen(MAGIC) || memcmp(buf, MAGIC, strlen(MAGIC)) != 0)
                return -EBADMSG;
        p = buf + strlen(MAGIC);
        end = buf + len;
        r = json_line(&p, end, &head);
        while (r >= 0 && p < end) {
                struct spool_request *q = reallocarray(reqs, n + 1, sizeof(*q));
                if (!q) {
                        r = -ENOMEM;
                        break;
                }
                reqs = q;
                r = parse_request(&p, end, &reqs[n]);
                if (r >= 0)
                        n++;
        }
        if (r < 0) {
                requests_free(reqs, n);
                return r;
        }
        if (ret_head)
                *ret_head = TAKE_PTR(head);
        *ret_reqs = reqs;
        *ret_n = n;
        return 0;
}

/* Reads a queue file: its head line and its requests. */
static int load_queue_file(struct spool *s, const char *name, json_t **ret_head, struct spool_request **ret_reqs,
                           size_t *ret_n, size_t *ret_size) {
        _cleanup_free_ char *path = strdup_printf("%s/%s", s->queue, name), *buf = NULL;
        size_t len;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_file(path, MAX_FILE, &buf, &len);
        if (r < 0)
                return r;
        r = spool_parse_queue(buf, len, ret_head, ret_reqs, ret_n);
        if (r < 0)
                return r;
        *ret_size = len;
        return 0;
}

/* Incoming files named by a commit that a crash left behind are taken already. */
static void drop_sources(struct spool *s, const json_t *head) {
        const char *replaces = json_string_value(json_object_get(head, "replaces"));
        size_t i;
        json_t *v;

        json_array_foreach(json_object_get(head, "sources"), i, v)
                if (json_is_string(v) && !strchr(json_string_value(v), '/'))
                        (void) remove_in(s->incoming, json_string_value(v));
        if (replaces && !strchr(replaces, '/') && has_suffix(replaces, ".json"))
                (void) remove_in(s->queue, replaces);
}

static void entry_set(struct entry *e, struct spool_request *reqs, size_t n, size_t bytes) {
        e->requests = n;
        e->datums = 0;
        for (size_t i = 0; i < n; i++)
                e->datums += reqs[i].datums;
        e->bytes = bytes;
}

/* Removes the incoming files a commit in memory took: it was sent or dropped. */
static void entry_drop_sources(struct spool *s, struct entry *e) {
        for (char **p = e->sources; p && *p; p++)
                (void) remove_in(s->incoming, *p);
        strv_free(e->sources);
        e->sources = NULL;
}

static void entry_unload(struct entry *e) {
        requests_free(e->reqs, e->n_reqs);
        e->reqs = NULL;
        e->n_reqs = 0;
}

static int add_entry(struct spool *s, const char *name, struct spool_request *reqs, size_t n, size_t bytes) {
        struct entry *e = reallocarray(s->entries, s->n_entries + 1, sizeof(*e));

        if (!e)
                return -ENOMEM;
        s->entries = e;
        e = &s->entries[s->n_entries];
        *e = (struct entry){.name = strdup(name)};
        if (!e->name)
                return -ENOMEM;
        entry_set(e, reqs, n, bytes);
        s->n_entries++;
        return 0;
}

static void note_seq(struct spool *s, const char *name) {
        unsigned long long seq;

        if (sscanf(name, "%llu", &seq) == 1 && seq >= s->next_seq)
                s->next_seq = seq + 1;
}

static int load_one(struct spool *s, const char *name) {
        _cleanup_(json_decrefp) json_t *head = NULL;
        struct spool_request *reqs = NULL;
        size_t n = 0, size = 0;
        int r;

        note_seq(s, name);
        if (load_queue_file(s, name, &head, &reqs, &n, &size) < 0)
                return remove_in(s->queue, name); /* torn files cannot happen; junk can */
        drop_sources(s, head);
        r = add_entry(s, name, reqs, n, size);
        requests_free(reqs, n); /* read again when it is its turn */
        return r;
}

/* A queue file of the format before: listed to be re-encoded, and the
 * incoming files it took are removed as for any commit. */
static int load_legacy(struct spool *s, const char *name) {
        _cleanup_free_ char *p = strdup_printf("%s/%s", s->queue, name), *buf = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL;
        size_t len;

        if (!p)
                return -ENOMEM;
        note_seq(s, name);
        if (read_file(p, MAX_FILE, &buf, &len) < 0)
                return 0; /* replaced already */
        j = json_loadb(buf, len, 0, NULL);
        if (json_is_object(j))
                drop_sources(s, j);
        return strv_push(&s->legacy, name);
}

static int load_queue(struct spool *s) {
        _cleanup_strv_free_ char **names = NULL;
        int r;

        r = list_dir(s->queue, ".queue", ".json", &names);
        if (r < 0)
                return r;
        for (char **n = names; *n; n++)
                if (has_suffix(*n, ".queue")) {
                        r = load_one(s, *n);
                        if (r < 0)
                                return r;
                }
        /* After the new files: those replaced already went. */
        for (char **n = names; *n; n++)
                if (has_suffix(*n, ".json")) {
                        r = load_legacy(s, *n);
                        if (r < 0)
                                return r;
                }
        return 0;
}

int spool_open(const char *dir, const struct spool_limits *limits, struct spool **ret) {
        _cleanup_(spool_freep) struct spool *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return -ENOMEM;
        s->limits = *limits;
        s->next_seq = 1;
        s->incoming = strdup_printf("%s/incoming", dir);
        s->queue = strdup_printf("%s/queue", dir);
        if (!s->incoming || !s->queue)
                return -ENOMEM;
        r = mkdir_p(s->incoming, 0700);
        r = r < 0 ? r : mkdir_p(s->queue, 0700);
        r = r < 0 ? r : load_queue(s);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

void spool_free(struct spool *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_entries; i++) {
                free(s->entries[i].name);
                entry_unload(&s->entries[i]);
                strv_free(s->entries[i].sources); /* not removed: taken again at the next start */
        }
        free(s->entries);
        strv_free(s->legacy);
        free(s->incoming);
        free(s->queue);
        free(s);
}

/* --- put-metric's side --- */

/* Removes the oldest incoming files until fewer than max remain. */
static int make_room(const char *incoming, size_t max) {
        _cleanup_strv_free_ char **names = NULL;
        size_t n;
        int r, dropped = 0;

        r = list_dir(incoming, ".json", NULL, &names);
        if (r < 0)
                return r;
        n = strv_length(names);
        for (size_t i = 0; max > 0 && n - i >= max; i++) {
                r = remove_in(incoming, names[i]);
                if (r < 0)
                        return r;
                dropped = 1;
        }
        return dropped;
}

int spool_submit(const char *dir, const char *ns, const json_t *datums, size_t max_files) {
        _cleanup_free_ char *incoming = strdup_printf("%s/incoming", dir), *name = NULL, *text = NULL;
        _cleanup_(json_decrefp) json_t *doc = NULL;
        struct timespec ts;
        unsigned rnd = 0;
        int r, dropped;

        if (!incoming)
                return -ENOMEM;
        r = mkdir_p(incoming, 0700);
        if (r < 0)
                return r;
        dropped = make_room(incoming, max_files);
        if (dropped < 0)
                return dropped;
        clock_gettime(CLOCK_REALTIME, &ts);
        (void) getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK);
        /* Names sort by time, so the daemon takes them in order. */
        name = strdup_printf("%010lld%09ld-%d-%08x.json", (long long) ts.tv_sec, ts.tv_nsec, (int) getpid(), rnd);
        doc = json_pack("{s:s?, s:O}", "namespace", ns, "datums", datums);
        if (!doc || !name)
                return -ENOMEM;
        if (!ns && json_object_set_new(doc, "namespace", json_null()) < 0)
                return -ENOMEM;
        text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
        if (!text)
                return -ENOMEM;
        r = spool_write(incoming, name, text, strlen(text), false);
        return r < 0 ? r : dropped;
}

/* --- the daemon's side --- */

static int parse_incoming(struct spool *s, const char *name, struct metric_batch *batch) {
        _cleanup_free_ char *path = strdup_printf("%s/%s", s->incoming, name), *buf = NULL;
        size_t len;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_file(path, MAX_FILE, &buf, &len);
        return r < 0 ? r : metric_parse_incoming(batch, buf, len);
}

/* Whether a commit held in memory took incoming file name already. */
static bool held(const struct spool *s, const char *name) {
        for (size_t i = 0; i < s->n_entries; i++) {
                const struct entry *e = &s->entries[i];
                if (e->sources && bsearch(&name, e->sources, strv_length(e->sources), sizeof(char *), strv_cmp))
                        return true;
        }
        return false;
}

int spool_take_incoming(struct spool *s, size_t max, struct metric_batch *batch, char ***ret_sources, size_t *ret_bad) {
        _cleanup_strv_free_ char **names = NULL, **taken = NULL;
        size_t bad = 0, n = 0;
        int r;

        r = list_dir(s->incoming, ".json", NULL, &names);
        if (r < 0)
                return r;
        for (char **name = names; *name && n < max; name++) {
                if (held(s, *name))
                        continue;
                n++;
                r = parse_incoming(s, *name, batch);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        (void) remove_in(s->incoming, *name);
                        bad++;
                        continue;
                }
                if (strv_push(&taken, *name) < 0)
                        return -ENOMEM;
        }
        *ret_sources = TAKE_PTR(taken);
        *ret_bad = bad;
        return 0;
}

static json_t *commit_head(char *const *sources, const char *replaces) {
        _cleanup_(json_decrefp) json_t *head = json_pack("{s:[]}", "sources");

        if (!head)
                return NULL;
        for (char *const *p = sources; p && *p; p++)
                if (json_array_append_new(json_object_get(head, "sources"), json_string(*p)) < 0)
                        return NULL;
        if (replaces && json_object_set_new(head, "replaces", json_string(replaces)) < 0)
                return NULL;
        return TAKE_PTR(head);
}

/* Moves reqs[] into a new array owned by the spool. */
static struct spool_request *take_requests(struct spool_request *reqs, size_t n) {
        struct spool_request *own = calloc(n ? n : 1, sizeof(*own));

        if (own && n > 0)
                memcpy(own, reqs, n * sizeof(*own));
        for (size_t i = 0; i < n; i++)
                reqs[i] = own ? (struct spool_request){0} : reqs[i];
        return own;
}

static size_t bodies_size(const struct spool_request *reqs, size_t n) {
        size_t size = 0;

        for (size_t i = 0; i < n; i++)
                size += reqs[i].len;
        return size;
}

/* A commit whose file could not be written, kept in memory with the names
 * of the incoming files it took: they stay on disk until it is sent. */
static int keep_in_memory(struct spool *s, const char *name, struct spool_request *own, size_t n,
                          char *const *sources) {
        _cleanup_strv_free_ char **copy = NULL;
        struct entry *e;
        int r = 0;

        for (char *const *p = sources; p && *p && r >= 0; p++)
                r = strv_push(&copy, *p);
        if (r >= 0)
                r = add_entry(s, name, own, n, bodies_size(own, n));
        if (r < 0) {
                requests_free(own, n);
                return r;
        }
        if (copy)
                qsort(copy, strv_length(copy), sizeof(char *), strv_cmp);
        e = &s->entries[s->n_entries - 1];
        e->in_memory = true;
        e->reqs = own;
        e->n_reqs = n;
        e->sources = TAKE_PTR(copy);
        return 0;
}

int spool_commit(struct spool *s, struct spool_request *reqs, size_t n, char *const *sources, const char *replaces) {
        _cleanup_free_ char *name = strdup_printf("%012llu.queue", s->next_seq);
        _cleanup_(json_decrefp) json_t *head = commit_head(sources, replaces);
        struct spool_request *own = take_requests(reqs, n);
        size_t size;
        int r, k;

        if (!own || !name || !head) {
                requests_free(own, own ? n : 0);
                for (size_t i = 0; !own && i < n; i++)
                        spool_request_done(&reqs[i]);
                return -ENOMEM;
        }
        if (n == 0 && !replaces) {
                /* Nothing to send (the sources held no valid datum): no file
                 * needed, which a full disk could refuse. */
                free(own);
                for (char *const *p = sources; p && *p; p++)
                        (void) remove_in(s->incoming, *p);
                return 0;
        }
        r = write_queue_file(s, name, head, own, n, false, &size);
        if (r < 0 && (r == -ENOMEM || replaces)) {
                /* A legacy file stays for the next start. */
                requests_free(own, n);
                return r;
        }
        s->next_seq++;
        if (r < 0) {
                k = keep_in_memory(s, name, own, n, sources);
                return k < 0 ? k : -r;
        }
        r = add_entry(s, name, own, n, size);
        /* Kept in memory when it is the next to go, as it usually is. */
        if (r >= 0 && s->n_entries == 1) {
                s->entries[0].reqs = own;
                s->entries[0].n_reqs = n;
        } else
                requests_free(own, n);
        for (char *const *p = sources; p && *p; p++)
                (void) remove_in(s->incoming, *p);
        if (replaces)
                (void) remove_in(s->queue, replaces);
        return r;
}

int spool_persist(struct spool *s, size_t *ret_datums) {
        size_t left = 0;
        int r = 0;

        for (size_t i = 0; i < s->n_entries; i++) {
                struct entry *e = &s->entries[i];
                _cleanup_(json_decrefp) json_t *head = NULL;
                size_t size;
                if (!e->in_memory)
                        continue;
                if (r >= 0) {
                        head = commit_head(e->sources, NULL);
                        r = head ? write_queue_file(s, e->name, head, e->reqs, e->n_reqs, true, &size) : -ENOMEM;
                }
                if (r < 0) {
                        left += e->datums;
                        continue;
                }
                e->in_memory = false;
                e->bytes = size;
                entry_drop_sources(s, e);
        }
        *ret_datums = left;
        return r;
}

static void forget_first(struct spool *s) {
        entry_drop_sources(s, &s->entries[0]);
        free(s->entries[0].name);
        entry_unload(&s->entries[0]);
        memmove(s->entries, s->entries + 1, (s->n_entries - 1) * sizeof(*s->entries));
        s->n_entries--;
}

/* Reads the oldest commit's requests unless they are in memory. */
static int load_first(struct spool *s) {
        struct entry *e = &s->entries[0];
        size_t size;
        int r;

        if (e->reqs)
                return 0;
        r = load_queue_file(s, e->name, NULL, &e->reqs, &e->n_reqs, &size);
        if (r < 0)
                return r;
        entry_set(e, e->reqs, e->n_reqs, size);
        return 0;
}

int spool_peek(struct spool *s, char **ret_name, const struct spool_request **ret) {
        while (s->n_entries > 0) {
                int r = load_first(s);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 || s->entries[0].n_reqs == 0) {
                        if (!s->entries[0].in_memory && remove_in(s->queue, s->entries[0].name) < 0)
                                return -EIO;
                        forget_first(s);
                        continue;
                }
                *ret_name = strdup(s->entries[0].name);
                if (!*ret_name)
                        return -ENOMEM;
                *ret = &s->entries[0].reqs[0];
                return 0;
        }
        return -ENOENT;
}

int spool_pop(struct spool *s, const char *name) {
        _cleanup_(json_decrefp) json_t *head = NULL;
        struct entry *e;
        size_t size;
        int r = 0;

        if (s->n_entries == 0 || !streq(s->entries[0].name, name))
                return -ESTALE;
        e = &s->entries[0];
        if (load_first(s) < 0 || e->n_reqs <= 1) {
                /* Removing needs no room: a full disk gets some back. */
                r = e->in_memory ? 0 : remove_in(s->queue, name);
                if (r >= 0)
                        forget_first(s);
                return r;
        }
        size = e->bytes;
        if (!e->in_memory) {
                /* The sources were removed when the commit was written;
                 * naming them again would only cost space. */
                head = commit_head(NULL, NULL);
                r = head ? write_queue_file(s, name, head, e->reqs + 1, e->n_reqs - 1, true, &size) : -ENOMEM;
                if (r == -ENOMEM)
                        return r;
                /* Without room for the rewrite, the progress is kept here:
                 * the file is behind until a later rewrite or its removal,
                 * and a crash meanwhile sends those requests again. */
                if (r < 0)
                        size = e->bytes;
        }
        spool_request_done(&e->reqs[0]);
        memmove(e->reqs, e->reqs + 1, (e->n_reqs - 1) * sizeof(*e->reqs));
        e->n_reqs--;
        entry_set(e, e->reqs, e->n_reqs, size);
        return r < 0 ? -r : 0;
}

/* Takes the first name off the legacy list. */
static char *next_legacy_name(struct spool *s) {
        size_t n = strv_length(s->legacy);
        char *name;

        if (n == 0)
                return NULL;
        name = s->legacy[0];
        memmove(s->legacy, s->legacy + 1, n * sizeof(char *));
        return name;
}

int spool_next_legacy(struct spool *s, char **ret_name, json_t **ret_commit) {
        for (;;) {
                _cleanup_free_ char *name = next_legacy_name(s), *path = NULL, *buf = NULL;
                json_t *j;
                size_t len;
                if (!name)
                        return -ENOENT;
                path = strdup_printf("%s/%s", s->queue, name);
                if (!path)
                        return -ENOMEM;
                /* Not json_is_object(j = ...): the macro evaluates its argument twice. */
                j = read_file(path, MAX_FILE, &buf, &len) >= 0 ? json_loadb(buf, len, 0, NULL) : NULL;
                if (json_is_object(j)) {
                        *ret_name = TAKE_PTR(name);
                        *ret_commit = j;
                        return 0;
                }
                json_decref(j);
                (void) spool_drop_legacy(s, name);
        }
}

int spool_drop_legacy(struct spool *s, const char *name) {
        return remove_in(s->queue, name);
}

static void totals(const struct spool *s, struct spool_counts *c) {
        *c = (struct spool_counts){.commits = s->n_entries};
        for (size_t i = 0; i < s->n_entries; i++) {
                c->requests += s->entries[i].requests;
                c->datums += s->entries[i].datums;
                c->bytes += s->entries[i].bytes;
                if (s->entries[i].in_memory)
                        c->memory_datums += s->entries[i].datums;
        }
}

int spool_trim(struct spool *s, size_t *ret_datums) {
        struct spool_counts c;
        size_t datums = 0;
        int n = 0;

        for (;;) {
                totals(s, &c);
                /* The newest commit stays, whatever its size: it is what we came for. */
                if (s->n_entries <= 1 || (c.datums <= s->limits.max_datums && c.bytes <= s->limits.max_bytes))
                        break;
                if (!s->entries[0].in_memory && remove_in(s->queue, s->entries[0].name) < 0)
                        break;
                datums += s->entries[0].datums;
                forget_first(s);
                n++;
        }
        *ret_datums = datums;
        return n;
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* Files waiting in incoming/, counted without sorting or copying names. */
static size_t count_incoming(const char *dir) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        while (d && (de = readdir(d)))
                if (has_suffix(de->d_name, ".json") && !is_temp(de->d_name))
                        n++;
        return n;
}

void spool_get_counts(struct spool *s, struct spool_counts *ret) {
        struct spool_counts c;

        totals(s, &c);
        c.incoming = count_incoming(s->incoming);
        *ret = c;
}
