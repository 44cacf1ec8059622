/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cloudwatch/metric.h"
#include "cloudwatch/spool.h"
#include "fileio.h"
#include "strbuf.h"

#define MAX_FILE (16u * 1024 * 1024)

struct entry {
        char *name; /* "000000000042.json" */
        size_t requests;
        size_t datums;
        size_t bytes;
};

struct spool {
        char *incoming;
        char *queue;
        struct spool_limits limits;
        struct entry *entries; /* oldest first */
        size_t n_entries;
        unsigned long long next_seq;
};

static bool json_name(const char *name) {
        size_t n = strlen(name);
        return name[0] != '.' && n > 5 && streq(name + n - 5, ".json");
}

static int name_filter(const struct dirent *d) {
        return json_name(d->d_name);
}

/* Names of dir's *.json files, sorted; leftovers of interrupted atomic
 * writes are removed on the way. */
static int list_dir(const char *dir, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        struct dirent **names = NULL;
        int n, r = 0;

        n = scandir(dir, &names, NULL, alphasort);
        if (n < 0)
                return negative_errno();
        for (int i = 0; i < n; i++) {
                if (strstr(names[i]->d_name, ".kiln-")) {
                        _cleanup_free_ char *p = strdup_printf("%s/%s", dir, names[i]->d_name);
                        if (p)
                                (void) unlink(p);
                } else if (r >= 0 && name_filter(names[i]))
                        r = strv_push(&l, names[i]->d_name);
                free(names[i]);
        }
        free(names);
        if (r < 0)
                return r;
        if (!l && !(l = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

static int load_json(const char *dir, const char *name, json_t **ret, size_t *ret_size) {
        _cleanup_free_ char *path = strdup_printf("%s/%s", dir, name), *buf = NULL;
        json_t *j;
        size_t len;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_file(path, MAX_FILE, &buf, &len);
        if (r < 0)
                return r;
        j = json_loadb(buf, len, 0, NULL);
        if (!json_is_object(j)) {
                json_decref(j);
                return -EBADMSG;
        }
        *ret = j;
        if (ret_size)
                *ret_size = len;
        return 0;
}

static size_t count_datums(const json_t *requests) {
        double n = 0;
        size_t i, j;
        json_t *req, *d;

        json_array_foreach(requests, i, req)
                json_array_foreach(json_object_get(req, "datums"), j, d)
                        n += metric_datum_samples(d);
        return (size_t) (n + 0.5);
}

static int remove_in(const char *dir, const char *name) {
        _cleanup_free_ char *p = strdup_printf("%s/%s", dir, name);

        if (!p)
                return -ENOMEM;
        return unlink(p) < 0 && errno != ENOENT ? negative_errno() : 0;
}

/* Incoming files named by a commit that a crash left behind are taken already. */
static void drop_sources(struct spool *s, const json_t *sources) {
        size_t i;
        json_t *v;

        json_array_foreach(sources, i, v)
                if (json_is_string(v) && !strchr(json_string_value(v), '/'))
                        (void) remove_in(s->incoming, json_string_value(v));
}

static int add_entry(struct spool *s, const char *name, const json_t *commit, size_t bytes) {
        struct entry *e = realloc(s->entries, (s->n_entries + 1) * sizeof(*e));

        if (!e)
                return -ENOMEM;
        s->entries = e;
        e = &s->entries[s->n_entries];
        *e = (struct entry){
                .name = strdup(name),
                .requests = json_array_size(json_object_get(commit, "requests")),
                .datums = count_datums(json_object_get(commit, "requests")),
                .bytes = bytes,
        };
        if (!e->name)
                return -ENOMEM;
        s->n_entries++;
        return 0;
}

static int load_queue(struct spool *s) {
        _cleanup_strv_free_ char **names = NULL;
        int r;

        r = list_dir(s->queue, &names);
        if (r < 0)
                return r;
        for (char **n = names; *n; n++) {
                _cleanup_(json_decrefp) json_t *commit = NULL;
                unsigned long long seq;
                size_t size;
                if (load_json(s->queue, *n, &commit, &size) < 0) {
                        (void) remove_in(s->queue, *n); /* torn files cannot happen; junk can */
                        continue;
                }
                drop_sources(s, json_object_get(commit, "sources"));
                if (sscanf(*n, "%llu", &seq) == 1 && seq >= s->next_seq)
                        s->next_seq = seq + 1;
                r = add_entry(s, *n, commit, size);
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
        for (size_t i = 0; i < s->n_entries; i++)
                free(s->entries[i].name);
        free(s->entries);
        free(s->incoming);
        free(s->queue);
        free(s);
}

/* Removes the oldest incoming files until fewer than max remain. */
static int make_room(const char *incoming, size_t max) {
        _cleanup_strv_free_ char **names = NULL;
        size_t n;
        int r, dropped = 0;

        r = list_dir(incoming, &names);
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
        _cleanup_free_ char *incoming = strdup_printf("%s/incoming", dir), *path = NULL, *text = NULL;
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
        path = strdup_printf("%s/%010lld%09ld-%d-%08x.json", incoming, (long long) ts.tv_sec, ts.tv_nsec,
                             (int) getpid(), rnd);
        doc = json_pack("{s:s?, s:O}", "namespace", ns, "datums", datums);
        if (!doc || !path)
                return -ENOMEM;
        if (!ns && json_object_set_new(doc, "namespace", json_null()) < 0)
                return -ENOMEM;
        text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
        if (!text)
                return -ENOMEM;
        r = write_file_atomic(path, text, strlen(text), 0600);
        return r < 0 ? r : dropped;
}

int spool_take_incoming(struct spool *s, size_t max, json_t **ret, char ***ret_sources, size_t *ret_bad) {
        _cleanup_strv_free_ char **names = NULL, **taken = NULL;
        _cleanup_(json_decrefp) json_t *out = json_array();
        size_t bad = 0, n = 0;
        int r;

        if (!out)
                return -ENOMEM;
        r = list_dir(s->incoming, &names);
        if (r < 0)
                return r;
        for (char **name = names; *name && n < max; name++, n++) {
                json_t *doc = NULL;
                if (load_json(s->incoming, *name, &doc, NULL) < 0 || !json_is_array(json_object_get(doc, "datums"))) {
                        json_decref(doc);
                        (void) remove_in(s->incoming, *name);
                        bad++;
                        continue;
                }
                if (json_array_append_new(out, doc) < 0 || strv_push(&taken, *name) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(out);
        *ret_sources = TAKE_PTR(taken);
        *ret_bad = bad;
        return 0;
}

static int write_commit(struct spool *s, const char *name, const json_t *commit, size_t *ret_size) {
        _cleanup_free_ char *path = strdup_printf("%s/%s", s->queue, name), *text = NULL;

        text = json_dumps(commit, JSON_COMPACT | JSON_REAL_PRECISION(17));
        if (!path || !text)
                return -ENOMEM;
        *ret_size = strlen(text);
        return write_file_atomic(path, text, *ret_size, 0600);
}

int spool_commit(struct spool *s, const json_t *requests, char *const *sources) {
        _cleanup_(json_decrefp) json_t *commit = json_pack("{s:[], s:O}", "sources", "requests", requests);
        _cleanup_free_ char *name = strdup_printf("%012llu.json", s->next_seq);
        size_t size;
        int r;

        if (!commit || !name)
                return -ENOMEM;
        for (char *const *p = sources; p && *p; p++)
                if (json_array_append_new(json_object_get(commit, "sources"), json_string(*p)) < 0)
                        return -ENOMEM;
        if (json_array_size(requests) == 0 && !(sources && *sources))
                return 0;
        r = write_commit(s, name, commit, &size);
        if (r < 0)
                return r;
        s->next_seq++;
        r = add_entry(s, name, commit, size);
        for (char *const *p = sources; p && *p; p++)
                (void) remove_in(s->incoming, *p);
        return r;
}

int spool_peek(struct spool *s, char **ret_name, json_t **ret_request) {
        while (s->n_entries > 0) {
                _cleanup_(json_decrefp) json_t *commit = NULL;
                json_t *req;
                if (load_json(s->queue, s->entries[0].name, &commit, NULL) < 0 ||
                    !(req = json_array_get(json_object_get(commit, "requests"), 0))) {
                        (void) spool_pop(s, s->entries[0].name);
                        continue;
                }
                *ret_name = strdup(s->entries[0].name);
                if (!*ret_name)
                        return -ENOMEM;
                *ret_request = json_incref(req);
                return 0;
        }
        return -ENOENT;
}

static void forget_first(struct spool *s) {
        free(s->entries[0].name);
        memmove(s->entries, s->entries + 1, (s->n_entries - 1) * sizeof(*s->entries));
        s->n_entries--;
}

int spool_pop(struct spool *s, const char *name) {
        _cleanup_(json_decrefp) json_t *commit = NULL;
        json_t *requests;
        size_t size;
        int r;

        if (s->n_entries == 0 || !streq(s->entries[0].name, name))
                return -ESTALE;
        r = load_json(s->queue, name, &commit, NULL);
        requests = json_object_get(commit, "requests");
        if (r < 0 || json_array_size(requests) <= 1) {
                r = remove_in(s->queue, name);
                if (r >= 0)
                        forget_first(s);
                return r;
        }
        /* The sources were removed when the commit was written; keeping
         * their names would only cost space. */
        if (json_array_remove(requests, 0) < 0 || json_object_set_new(commit, "sources", json_array()) < 0)
                return -ENOMEM;
        r = write_commit(s, name, commit, &size);
        if (r < 0)
                return r;
        s->entries[0].requests = json_array_size(requests);
        s->entries[0].datums = count_datums(requests);
        s->entries[0].bytes = size;
        return 0;
}

static void totals(const struct spool *s, struct spool_counts *c) {
        *c = (struct spool_counts){.commits = s->n_entries};
        for (size_t i = 0; i < s->n_entries; i++) {
                c->requests += s->entries[i].requests;
                c->datums += s->entries[i].datums;
                c->bytes += s->entries[i].bytes;
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
                datums += s->entries[0].datums;
                if (remove_in(s->queue, s->entries[0].name) < 0)
                        break;
                forget_first(s);
                n++;
        }
        *ret_datums = datums;
        return n;
}

void spool_get_counts(struct spool *s, struct spool_counts *ret) {
        _cleanup_strv_free_ char **names = NULL;
        struct spool_counts c;

        totals(s, &c);
        if (list_dir(s->incoming, &names) >= 0)
                c.incoming = strv_length(names);
        *ret = c;
}
