/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "acme/acme.h"
#include "cloudwatch/collect.h"
#include "cloudwatch/metric.h"
#include "config.h"
#include "fileio.h"
#include "http.h"
#include "openssl.h"
#include "path.h"
#include "strbuf.h"

#define BYTES_PER_KIB 1024ULL

static double mono_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int add(json_t *out, const struct collect_env *env, const char *name, double v, const char *unit,
               const char *dim, const char *dim_value) {
        json_t *d = metric_datum_new(name, v, unit, env->now, env->resolution);

        if (!d)
                return -ENOMEM;
        if (dim && metric_datum_add_dimension(d, dim, dim_value) < 0) {
                json_decref(d);
                return -ENOMEM;
        }
        return json_array_append_new(out, d) < 0 ? -ENOMEM : 1;
}

static int read_proc(const struct collect_env *env, const char *rel, char **ret) {
        _cleanup_free_ char *path = strdup_printf("%s/%s", env->proc ? env->proc : "/proc", rel);

        return path ? read_file(path, 1024 * 1024, ret, NULL) : -ENOMEM;
}

static int collect_cpu(struct collect_state *st, const struct collect_env *env, json_t *out) {
        _cleanup_free_ char *buf = NULL;
        unsigned long long v[8] = {0}, total = 0, busy;
        int r;

        r = read_proc(env, "stat", &buf);
        if (r < 0)
                return r;
        if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]) < 4)
                return -EBADMSG;
        for (size_t i = 0; i < 8; i++)
                total += v[i];
        busy = total - v[3] - v[4]; /* idle and iowait are not busy */
        r = 0;
        if (st->cpu_total && total > st->cpu_total && busy >= st->cpu_busy)
                r = add(out, env, "CPUUtilization",
                        100.0 * (double) (busy - st->cpu_busy) / (double) (total - st->cpu_total), "Percent", NULL,
                        NULL);
        st->cpu_busy = busy;
        st->cpu_total = total;
        return r;
}

static unsigned long long meminfo(const char *buf, const char *key) {
        const char *p = strstr(buf, key);
        unsigned long long v = 0;

        if (p && sscanf(p + strlen(key), " %llu", &v) == 1)
                return v * BYTES_PER_KIB;
        return 0;
}

static int collect_memory(struct collect_state *st, const struct collect_env *env, json_t *out) {
        _cleanup_free_ char *buf = NULL;
        unsigned long long total, avail;
        int r;

        r = read_proc(env, "meminfo", &buf);
        if (r < 0)
                return r;
        total = meminfo(buf, "MemTotal:");
        avail = meminfo(buf, "MemAvailable:");
        if (total == 0 || avail > total)
                return -EBADMSG;
        r = add(out, env, "MemoryUsed", (double) (total - avail), "Bytes", NULL, NULL);
        r = r < 0 ? r : add(out, env, "MemoryAvailable", (double) avail, "Bytes", NULL, NULL);
        r = r < 0 ? r
                  : add(out, env, "MemoryUtilization", 100.0 * (double) (total - avail) / (double) total, "Percent",
                        NULL, NULL);
        return r < 0 ? r : 3;
}

static bool disk_fs(const char *type) {
        static const char *const real[] = {"ext2", "ext3", "ext4", "xfs", "btrfs", "vfat",
                                           "f2fs", "zfs",  "jfs",  "nfs", "nfs4"};
        for (size_t i = 0; i < ELEMENTSOF(real); i++)
                if (streq(type, real[i]))
                        return true;
        return false;
}

static int disk_one(const struct collect_env *env, const char *mnt, json_t *out) {
        struct statvfs sv;
        double total, avail, used;
        int r;

        if (statvfs(mnt, &sv) < 0 || sv.f_blocks == 0)
                return 0;
        total = (double) sv.f_blocks * (double) sv.f_frsize;
        avail = (double) sv.f_bavail * (double) sv.f_frsize;
        used = total - (double) sv.f_bfree * (double) sv.f_frsize;
        r = add(out, env, "DiskUsed", used, "Bytes", "Mount", mnt);
        /* As df computes Use%: used over what users can use. */
        r = r < 0 ? r
                  : add(out, env, "DiskUsedPercent", used + avail > 0 ? 100.0 * used / (used + avail) : 0, "Percent",
                        "Mount", mnt);
        return r < 0 ? r : 2;
}

static int collect_disk(struct collect_state *st, const struct collect_env *env, json_t *out) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_strv_free_ char **seen = NULL;
        char *line, *p;
        int r, n = 0;

        r = read_proc(env, "self/mounts", &buf);
        if (r < 0)
                return r;
        for (p = buf; (line = strsep(&p, "\n"));) {
                char dev[512], mnt[512], type[64];
                bool dup = false;
                if (sscanf(line, "%511s %511s %63s", dev, mnt, type) != 3 || !disk_fs(type) || strchr(mnt, '\\'))
                        continue;
                for (char **s = seen; s && *s; s++)
                        dup = dup || streq(*s, dev);
                if (dup || strv_push(&seen, dev) < 0)
                        continue;
                r = disk_one(env, mnt, out);
                if (r < 0)
                        return r;
                n += r;
        }
        return n;
}

static int collect_network(struct collect_state *st, const struct collect_env *env, json_t *out) {
        _cleanup_free_ char *buf = NULL;
        unsigned long long in = 0, out_b = 0;
        double now = mono_s();
        char *line, *p;
        int r = 0;

        r = read_proc(env, "net/dev", &buf);
        if (r < 0)
                return r;
        for (p = buf; (line = strsep(&p, "\n"));) {
                char ifname[64];
                unsigned long long rx, tx, skip;
                char *colon = strchr(line, ':');
                if (!colon || sscanf(line, " %63[^:]", ifname) != 1 || streq(ifname, "lo"))
                        continue;
                if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &rx, &skip, &skip, &skip, &skip,
                           &skip, &skip, &skip, &tx) == 9) {
                        in += rx;
                        out_b += tx;
                }
        }
        r = 0;
        if (st->net_at > 0 && in >= st->net_in && out_b >= st->net_out) {
                r = add(out, env, "NetworkIn", (double) (in - st->net_in), "Bytes", NULL, NULL);
                r = r < 0 ? r : add(out, env, "NetworkOut", (double) (out_b - st->net_out), "Bytes", NULL, NULL);
                r = r < 0 ? r : 2;
        }
        st->net_in = in;
        st->net_out = out_b;
        st->net_at = now;
        return r;
}

static int collect_load(struct collect_state *st, const struct collect_env *env, json_t *out) {
        _cleanup_free_ char *buf = NULL;
        double l1, l5, l15;
        int r;

        r = read_proc(env, "loadavg", &buf);
        if (r < 0)
                return r;
        if (sscanf(buf, "%lf %lf %lf", &l1, &l5, &l15) != 3)
                return -EBADMSG;
        r = add(out, env, "LoadAverage1Min", l1, "None", NULL, NULL);
        r = r < 0 ? r : add(out, env, "LoadAverage5Min", l5, "None", NULL, NULL);
        r = r < 0 ? r : add(out, env, "LoadAverage15Min", l15, "None", NULL, NULL);
        return r < 0 ? r : 3;
}

int collect_parse_stub_status(const char *text, long *ret_active, unsigned long long *ret_requests, long *ret_reading,
                              long *ret_writing, long *ret_waiting) {
        const char *p = strstr(text, "Active connections:"), *q = strstr(text, "requests");
        unsigned long long accepts, handled, requests;
        long active, reading = 0, writing = 0, waiting = 0;
        const char *rw = strstr(text, "Reading:");

        if (!p || !q || sscanf(p, "Active connections: %ld", &active) != 1 ||
            sscanf(q + strlen("requests"), " %llu %llu %llu", &accepts, &handled, &requests) != 3)
                return -EBADMSG;
        if (rw && sscanf(rw, "Reading: %ld Writing: %ld Waiting: %ld", &reading, &writing, &waiting) != 3)
                return -EBADMSG;
        *ret_active = active;
        *ret_requests = requests;
        *ret_reading = reading;
        *ret_writing = writing;
        *ret_waiting = waiting;
        return 0;
}

static int fetch_stub_status(const char *url, char **ret) {
        _cleanup_http_response_ struct http_response *resp = NULL;
        struct http_request req = {
                .url = url, .connect_timeout_ms = 1000, .timeout_ms = 2000, .no_proxy = true, .max_body = 64 * 1024};
        int r;

        r = http_request(&req, &resp);
        if (r < 0)
                return r;
        if (resp->status != 200)
                return -EPROTO;
        *ret = TAKE_PTR(resp->body);
        return 0;
}

static int collect_nginx(struct collect_state *st, const struct collect_env *env, json_t *out) {
        _cleanup_free_ char *body = NULL;
        long active, reading, writing, waiting;
        unsigned long long requests;
        double now = mono_s();
        int r;

        if (!env->nginx_status_url)
                return -ENOENT;
        r = fetch_stub_status(env->nginx_status_url, &body);
        if (r >= 0)
                r = collect_parse_stub_status(body, &active, &requests, &reading, &writing, &waiting);
        if (r < 0)
                return r;
        r = add(out, env, "NginxActiveConnections", (double) active, "Count", NULL, NULL);
        r = r < 0 ? r : add(out, env, "NginxReading", (double) reading, "Count", NULL, NULL);
        r = r < 0 ? r : add(out, env, "NginxWriting", (double) writing, "Count", NULL, NULL);
        r = r < 0 ? r : add(out, env, "NginxWaiting", (double) waiting, "Count", NULL, NULL);
        if (r >= 0 && st->nginx_at > 0 && requests >= st->nginx_requests && now > st->nginx_at)
                r = add(out, env, "NginxRequestsPerSecond",
                        (double) (requests - st->nginx_requests) / (now - st->nginx_at), "Count/Second", NULL, NULL);
        st->nginx_requests = requests;
        st->nginx_at = now;
        return r < 0 ? r : 1;
}

/* Days until the first certificate in path expires (negative once past). */
static int cert_days_left(const char *path, double *ret) {
        FILE *f;
        X509 *x;
        int days = 0, secs = 0, ok;

        if (openssl_load(false, NULL) < 0)
                return -ENOPKG;
        f = fopen(path, "re");
        if (!f)
                return negative_errno();
        x = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
        if (!x)
                return -EBADMSG;
        ok = ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x));
        X509_free(x);
        if (!ok)
                return -EBADMSG;
        /* Days to two decimals, rounded down; integer maths spares kiln libm. */
        {
                long long hundredths = ((long long) days * 86400 + secs) * 100;
                long long q = hundredths / 86400 - (hundredths % 86400 < 0);
                *ret = (double) q / 100.0;
        }
        return 0;
}

static int site_failures(const char *dir, const char *site, double *ret) {
        _cleanup_free_ char *path = strdup_printf("%s/%s/state.json", dir, site);
        _cleanup_(json_decrefp) json_t *j = NULL;
        int r;

        if (!path)
                return -ENOMEM;
        r = json_read_file(path, 1024 * 1024, &j);
        if (r < 0)
                return r;
        if (!json_is_number(json_object_get(j, "failures")))
                return -EBADMSG;
        *ret = json_number_value(json_object_get(j, "failures"));
        return 0;
}

static int collect_certificates(struct collect_state *st, const struct collect_env *env, json_t *out) {
        _cleanup_free_ char *dir = NULL;
        struct dirent **names = NULL;
        int n, r = 0, count = 0;

        if (root_path(&dir, ACME_SITES_DIR) < 0)
                return -ENOMEM;
        n = scandir(dir, &names, NULL, alphasort);
        if (n < 0)
                return errno == ENOENT ? 0 : negative_errno();
        for (int i = 0; i < n; i++) {
                const char *site = names[i]->d_name;
                _cleanup_free_ char *pem = strdup_printf("%s/%s/fullchain.pem", dir, site);
                double days = 0, failures = 0;
                if (r >= 0 && site[0] != '.' && pem && cert_days_left(pem, &days) == 0) {
                        r = add(out, env, "CertificateDaysToExpiry", days, "None", "Site", site);
                        count++;
                }
                if (r >= 0 && site[0] != '.' && site_failures(dir, site, &failures) == 0) {
                        r = add(out, env, "CertificateRenewalFailures", failures, "Count", "Site", site);
                        count++;
                }
                free(names[i]);
        }
        free(names);
        return r < 0 ? r : count;
}

static int collect_kiln(struct collect_state *st, const struct collect_env *env, json_t *out) {
        const char *key;
        json_t *v;
        int n = 0;

        json_object_foreach(env->kiln_health, key, v) {
                _cleanup_free_ char *name = strdup_printf("Kiln%s", key);
                int r = name ? add(out, env, name, json_number_value(v), "Count", NULL, NULL) : -ENOMEM;
                if (r < 0)
                        return r;
                n++;
        }
        return n;
}

static const struct {
        const char *name;
        int (*fn)(struct collect_state *st, const struct collect_env *env, json_t *out);
} collectors[] = {
        {"cpu", collect_cpu},
        {"memory", collect_memory},
        {"disk", collect_disk},
        {"network", collect_network},
        {"load", collect_load},
        {"nginx", collect_nginx},
        {"certificates", collect_certificates},
        {"kiln", collect_kiln},
};

bool collect_known(const char *name) {
        for (size_t i = 0; name && i < ELEMENTSOF(collectors); i++)
                if (streq(name, collectors[i].name))
                        return true;
        return false;
}

int collect_run(const char *name, struct collect_state *st, const struct collect_env *env, json_t *out) {
        for (size_t i = 0; i < ELEMENTSOF(collectors); i++)
                if (streq(name, collectors[i].name))
                        return collectors[i].fn(st, env, out);
        return -EINVAL;
}

static int parse_number(const char *s, double *ret) {
        char *end = NULL;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || end == s || *end || !isfinite(v))
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_line(char *line, const char *unit, time_t now, int resolution, json_t *out) {
        char *fields[4] = {0}, *t;
        size_t n = 0;
        double v;
        json_t *d;

        while (n < 4 && (t = strsep(&line, " \t")))
                if (*t)
                        fields[n++] = t;
        if (line && line[strspn(line, " \t")])
                return -EBADMSG; /* a fifth field */
        if (n < 2 || n > 3 || parse_number(fields[1], &v) < 0 || (n == 3 && !metric_unit_valid(fields[2])))
                return -EBADMSG;
        d = metric_datum_new(fields[0], v, n == 3 ? fields[2] : unit, now, resolution);
        return d && json_array_append_new(out, d) == 0 ? 1 : -ENOMEM;
}

int collect_parse_command_output(const char *output, const char *name, const char *unit, time_t now, int resolution,
                                 json_t *out, char **ret_error) {
        _cleanup_free_ char *copy = strdup(output ? output : "");
        char *line, *p;
        double v;
        int n = 0;

        if (!copy)
                return -ENOMEM;
        if (parse_number(strstrip(copy), &v) == 0) {
                json_t *d = metric_datum_new(name, v, unit, now, resolution);
                return d && json_array_append_new(out, d) == 0 ? 1 : -ENOMEM;
        }
        for (p = copy; (line = strsep(&p, "\n"));) {
                int r;
                line = strstrip(line);
                if (!*line || line[0] == '#')
                        continue;
                r = parse_line(line, unit, now, resolution, out);
                if (r == -EBADMSG) {
                        *ret_error = strdup_printf("'%s' is neither a number nor 'NAME VALUE [UNIT]'", line);
                        return r;
                }
                if (r < 0)
                        return r;
                n++;
        }
        if (n == 0) {
                *ret_error = strdup("no output, expected a number");
                return -EBADMSG;
        }
        return n;
}
