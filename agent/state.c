/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "fileio.h"
#include "path.h"
#include "state.h"
#include "strbuf.h"

/* Marker names come from script file names: keep them one safe component. */
static int marker_name_ok(const char *name) {
        if (!*name || streq(name, ".") || streq(name, "..") || strlen(name) > 200)
                return 0;
        for (const char *p = name; *p; p++)
                if (*p == '/' || (unsigned char) *p < 0x20)
                        return 0;
        return 1;
}

int state_read_instance_id(char **ret) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        char *id;
        int r;

        if (root_path(&path, KILN_STATE_DIR "/instance-id") < 0)
                return -ENOMEM;
        r = read_file(path, 4096, &buf, NULL);
        if (r < 0)
                return r;
        id = strstrip(buf);
        if (!*id)
                return -ENOENT;
        *ret = strdup(id);
        return *ret ? 0 : -ENOMEM;
}

int state_write_instance_id(const char *id) {
        _cleanup_free_ char *path = NULL, *line = NULL;

        if (root_path(&path, KILN_STATE_DIR "/instance-id") < 0 || !(line = strdup_printf("%s\n", id)))
                return -ENOMEM;
        return write_file_atomic(path, line, strlen(line), 0644);
}

static int marker_path(const struct kiln_context *ctx, enum frequency f, const char *name, char **ret) {
        if (!marker_name_ok(name))
                return -EINVAL;
        switch (f) {
        case FREQ_INSTANCE:
                if (!ctx->identified || !marker_name_ok(ctx->facts.instance_id))
                        return -ENXIO;
                return root_path(ret, KILN_STATE_DIR "/instances/%s/sem/%s", ctx->facts.instance_id, name);
        case FREQ_ONCE: return root_path(ret, KILN_STATE_DIR "/once/%s", name);
        case FREQ_BOOT: break;
        }
        return -EINVAL;
}

int state_should_run(const struct kiln_context *ctx, enum frequency f, const char *name) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (f == FREQ_BOOT)
                return 1;
        r = marker_path(ctx, f, name, &path);
        if (r < 0)
                return r;
        r = file_exists(path);
        if (r < 0)
                return r;
        return !r;
}

int state_mark_done(const struct kiln_context *ctx, enum frequency f, const char *name) {
        _cleanup_free_ char *path = NULL, *stamp = NULL;
        int r;

        if (f == FREQ_BOOT)
                return 0;
        r = marker_path(ctx, f, name, &path);
        if (r < 0)
                return r;
        stamp = strdup_printf("%lld\n", (long long) time(NULL));
        if (!stamp)
                return -ENOMEM;
        return write_file_atomic(path, stamp, strlen(stamp), 0644);
}

int state_instance_path(const struct kiln_context *ctx, const char *rel, char **ret) {
        if (!ctx->identified || !marker_name_ok(ctx->facts.instance_id))
                return -ENXIO;
        return root_path(ret, KILN_STATE_DIR "/instances/%s/%s", ctx->facts.instance_id, rel);
}

int state_clean(bool logs) {
        /* Everything: markers, the ACME account and keys, certificates and
         * the metric spool belong to this instance, never to an image. */
        static const char *const state_paths[] = {KILN_STATE_DIR, KILN_RUN_DIR};
        int r = 0;

        for (size_t i = 0; i < ELEMENTSOF(state_paths); i++) {
                _cleanup_free_ char *path = NULL;
                int k;
                if (root_path(&path, "%s", state_paths[i]) < 0)
                        return -ENOMEM;
                k = rm_rf(path);
                if (k < 0 && r == 0)
                        r = k;
        }
        if (logs) {
                _cleanup_free_ char *path = NULL;
                int k;
                if (root_path(&path, KILN_LOG_DIR) < 0)
                        return -ENOMEM;
                k = rm_rf(path);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}
