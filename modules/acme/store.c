/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acme/acme-internal.h"
#include "fileio.h"
#include "path.h"
#include "strbuf.h"

/* Per-site files under /var/lib/kiln/acme/sites/NAME (see acme.h). Every
 * write is atomic; a certificate being replaced is kept as *.bak. */

#define STATE_MAX (256 * 1024)

int store_site_path(const char *site, const char *file, char **ret) {
        return root_path(ret, ACME_SITES_DIR "/%s/%s", site, file);
}

int store_state_load(const char *site, json_t **ret) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        json_t *j;
        int r;

        if (store_site_path(site, "state.json", &path) < 0)
                return -ENOMEM;
        r = read_file(path, STATE_MAX, &buf, NULL);
        if (r == -ENOENT) {
                *ret = json_object();
                return *ret ? 0 : -ENOMEM;
        }
        if (r < 0)
                return r;
        j = json_loads(buf, 0, NULL);
        if (!json_is_object(j)) {
                /* A damaged state file must not stop renewals: start over. */
                json_decref(j);
                j = json_object();
        }
        *ret = j;
        return j ? 0 : -ENOMEM;
}

int store_state_save(const char *site, const json_t *state) {
        _cleanup_free_ char *path = NULL, *buf = NULL;

        if (store_site_path(site, "state.json", &path) < 0)
                return -ENOMEM;
        buf = json_dumps(state, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!buf)
                return -ENOMEM;
        return write_file_atomic(path, buf, strlen(buf), 0644);
}

int store_backup(const char *path) {
        _cleanup_free_ char *bak = strdup_printf("%s.bak", path);

        if (!bak)
                return -ENOMEM;
        if (unlink(bak) < 0 && errno != ENOENT)
                return negative_errno();
        if (link(path, bak) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

/* A new set of files is written whole into new/ first, then committed by
 * the marker new/complete, then moved into place one by one, fullchain.pem
 * last: kill -9 before the commit leaves the files before (new/ is thrown
 * away), after it the next run finishes the moves (store_recover()). A new
 * key never meets the certificate before in the site's directory, where
 * nginx reads them as a pair. */
#define STAGE "new"
#define STAGE_DONE STAGE "/complete"

static const char *const set_files[] = {"privkey.pem", "cert.pem", "chain.pem", "fullchain.pem"};

static int fsync_dir(const char *dir) {
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0 || fsync(fd) < 0)
                return negative_errno();
        return 0;
}

static int stage_file(const char *site, const char *name, const char *data) {
        _cleanup_free_ char *path = NULL;

        if (store_site_path(site, name, &path) < 0)
                return -ENOMEM;
        return write_file_atomic(path, data, strlen(data), 0644);
}

/* Moves the committed files of new/ into place. The *.bak of a file that
 * is not replaced goes: store_rollback() puts back what this install
 * replaced, and only that. */
static int finish(const char *site) {
        _cleanup_free_ char *dir = NULL, *stage = NULL, *done = NULL, *marker = NULL;
        int r;

        if (store_site_path(site, "", &dir) < 0 || store_site_path(site, STAGE, &stage) < 0 ||
            store_site_path(site, STAGE_DONE, &done) < 0 || store_site_path(site, "placeholder", &marker) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(set_files); i++) {
                _cleanup_free_ char *from = strdup_printf("%s/%s", stage, set_files[i]),
                                    *to = strdup_printf("%s%s", dir, set_files[i]),
                                    *bak = strdup_printf("%s%s.bak", dir, set_files[i]);
                if (!from || !to || !bak)
                        return -ENOMEM;
                r = file_exists(from);
                if (r == 0 && unlink(bak) < 0 && errno != ENOENT)
                        return negative_errno();
                if (r <= 0)
                        continue;
                r = store_backup(to);
                if (r >= 0 && rename(from, to) < 0)
                        r = negative_errno();
                if (r < 0)
                        return r;
        }
        r = fsync_dir(dir);
        if (r >= 0 && unlink(marker) < 0 && errno != ENOENT)
                r = negative_errno();
        if (r >= 0 && unlink(done) < 0 && errno != ENOENT)
                r = negative_errno();
        if (r >= 0 && rmdir(stage) < 0 && errno != ENOENT)
                r = negative_errno();
        return r;
}

int store_recover(const char *site) {
        _cleanup_free_ char *stage = NULL, *done = NULL;
        int r;

        if (store_site_path(site, STAGE, &stage) < 0 || store_site_path(site, STAGE_DONE, &done) < 0)
                return -ENOMEM;
        r = file_exists(stage);
        if (r <= 0)
                return r;
        r = file_exists(done);
        if (r < 0)
                return r;
        if (r == 0)
                return rm_rf(stage);
        r = finish(site);
        return r < 0 ? r : 1;
}

int store_install(const char *site, const struct kiln_key *key, const char *fullchain) {
        _cleanup_free_ char *cert = NULL, *chain = NULL, *stage = NULL, *path = NULL;
        int r;

        r = cert_split_chain(fullchain, &cert, &chain);
        if (r < 0)
                return r;
        if (store_site_path(site, STAGE, &stage) < 0)
                return -ENOMEM;
        r = rm_rf(stage);
        if (r >= 0 && mkdir(stage, 0700) < 0)
                r = negative_errno();
        if (r >= 0 && key)
                r = store_site_path(site, STAGE "/privkey.pem", &path) < 0 ? -ENOMEM : key_save(key, path);
        if (r >= 0)
                r = stage_file(site, STAGE "/cert.pem", cert);
        if (r >= 0)
                r = stage_file(site, STAGE "/chain.pem", chain);
        if (r >= 0)
                r = stage_file(site, STAGE "/fullchain.pem", fullchain);
        if (r >= 0)
                r = stage_file(site, STAGE_DONE, "");
        if (r < 0) {
                (void) rm_rf(stage);
                return r;
        }
        /* Committed: from here on, what is not done now is done by the next run. */
        return finish(site);
}

static int restore(const char *site, const char *name) {
        _cleanup_free_ char *path = NULL, *bak = NULL;

        if (store_site_path(site, name, &path) < 0 || !(bak = strdup_printf("%s.bak", path)))
                return -ENOMEM;
        if (rename(bak, path) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

int store_rollback(const char *site) {
        static const char *const files[] = {"privkey.pem", "cert.pem", "chain.pem", "fullchain.pem"};
        int r = 0;

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                int k = restore(site, files[i]);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

/* One renewal at a time: the daemon's timer and `kiln renew` may race. */
int store_lock(int *ret_fd) {
        _cleanup_free_ char *path = NULL;
        int fd, r;

        if (root_path(&path, ACME_DIR "/lock") < 0)
                return -ENOMEM;
        r = mkdir_parents(path, 0700);
        if (r < 0)
                return r;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return negative_errno();
        for (int i = 0; i < 600; i++) {
                if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
                        *ret_fd = fd;
                        return 0;
                }
                if (errno != EWOULDBLOCK)
                        break;
                usleep(500 * 1000);
        }
        r = negative_errno();
        close(fd);
        return r;
}

/* /var/lib/kiln/acme holds account keys: 0700, whoever made it first. */
int store_prepare(void) {
        _cleanup_free_ char *dir = NULL;
        int r;

        if (root_path(&dir, ACME_DIR) < 0)
                return -ENOMEM;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        return chmod(dir, 0700) < 0 ? negative_errno() : 0;
}

/* The user-data's part of the config, for `kiln certs` and `kiln renew`,
 * which run without IMDS and merge it over the baked config of the moment. */
int store_snapshot_config(const json_t *config) {
        _cleanup_json_ json_t *snap = json_object();
        _cleanup_free_ char *path = NULL, *buf = NULL;
        static const char *const keys[] = {"acme", "sites", "nginx"};

        if (!snap)
                return -ENOMEM;
        (void) store_prepare();
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                json_t *v = json_object_get(config, keys[i]);
                if (v)
                        json_object_set(snap, keys[i], v);
        }
        buf = json_dumps(snap, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!buf || root_path(&path, ACME_DIR "/config.json") < 0)
                return -ENOMEM;
        return write_file_atomic(path, buf, strlen(buf), 0600);
}

int store_load_snapshot(json_t **ret) {
        _cleanup_free_ char *path = NULL;

        if (root_path(&path, ACME_DIR "/config.json") < 0)
                return -ENOMEM;
        return json_read_file(path, 4 * 1024 * 1024, ret);
}
