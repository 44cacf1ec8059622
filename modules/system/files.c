/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "fileio.h"
#include "log.h"
#include "path.h"
#include "strbuf.h"
#include "system/system.h"
#include "userdata/mime.h"

/* write_files: each file written under the root with its owner and mode,
 * atomically (or appended to), and recorded on its own. */

/* A numeric field of name's line in a colon file (uid, gid). */
static int colon_lookup(const char *file, const char *name, unsigned field, unsigned *ret) {
        _cleanup_free_ char *v = NULL;
        unsigned long long n;
        int r;

        r = system_colon_field(file, name, field, &v);
        if (r < 0)
                return r;
        if (safe_atou64(v, &n) < 0 || n > UINT32_MAX)
                return -EBADMSG;
        *ret = (unsigned) n;
        return 0;
}

static int id_of(const char *file, const char *name, unsigned *ret) {
        unsigned long long v;

        if (safe_atou64(name, &v) >= 0 && v <= UINT32_MAX) {
                *ret = (unsigned) v;
                return 0;
        }
        return colon_lookup(file, name, 2, ret);
}

/* "user:group", "user" (its primary group), numbers too. */
static int resolve_owner(const char *owner, uid_t *ret_uid, gid_t *ret_gid) {
        _cleanup_free_ char *user = strndup(owner, strcspn(owner, ":."));
        const char *group = owner[strcspn(owner, ":.")] ? owner + strcspn(owner, ":.") + 1 : NULL;
        unsigned uid, gid;
        int r;

        if (!user)
                return -ENOMEM;
        r = id_of("/etc/passwd", user, &uid);
        if (r >= 0)
                r = group ? id_of("/etc/group", group, &gid) : colon_lookup("/etc/passwd", user, 3, &gid);
        if (r < 0)
                return r;
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

static int append_file(const char *path, const char *data, size_t len, mode_t mode) {
        _cleanup_close_ int fd = -1;
        int r = mkdir_parents(path, 0755);

        if (r < 0)
                return r;
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return negative_errno();
        while (len > 0) {
                ssize_t n = write(fd, data, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                data += n;
                len -= (size_t) n;
        }
        return fsync(fd) < 0 ? negative_errno() : 0;
}

static int write_one(const json_t *f, const char **ret_error) {
        const char *path = json_string_value(json_object_get(f, "path"));
        const char *content = json_string_value(json_object_get(f, "content"));
        const char *b64 = json_string_value(json_object_get(f, "content_base64"));
        _cleanup_free_ char *full = NULL, *bytes = NULL;
        size_t len = content ? json_string_length(json_object_get(f, "content")) : 0;
        const char *perm = json_string_value(json_object_get(f, "permissions"));
        unsigned long mode;
        char *end = NULL;
        uid_t uid;
        gid_t gid;
        int r;

        if (!path || path[0] != '/' || strstr(path, "/../") || !perm)
                return -EINVAL;
        mode = strtoul(perm, &end, 8);
        if (!end || *end || mode > 07777)
                return -EINVAL;
        if (b64 && (r = base64_decode(b64, strlen(b64), &bytes, &len)) < 0)
                return r;
        r = resolve_owner(json_string_value(json_object_get(f, "owner")), &uid, &gid);
        if (r < 0) {
                *ret_error = "unknown owner";
                return r;
        }
        if (root_path(&full, "%s", path) < 0)
                return -ENOMEM;
        if (json_is_true(json_object_get(f, "append")))
                r = append_file(full, bytes ? bytes : content ? content : "", len, (mode_t) mode);
        else
                r = write_file_atomic(full, bytes ? bytes : content ? content : "", len, (mode_t) mode);
        /* chown clears set-id bits: the mode goes on last. */
        if (r >= 0 && (chown(full, uid, gid) < 0 || chmod(full, (mode_t) mode) < 0))
                r = negative_errno();
        return r;
}

int system_apply_files(struct kiln_context *ctx, const json_t *files, bool deferred) {
        json_t *f;
        size_t i;
        int result = 0;

        json_array_foreach(files, i, f) {
                const char *path = json_string_value(json_object_get(f, "path"));
                const char *err = json_string_value(json_object_get(f, "error"));
                _cleanup_free_ char *name = strdup_printf("write_files %s", path);
                int r = 0;
                if (json_is_true(json_object_get(f, "defer")) != deferred || !name)
                        continue;
                if (!err)
                        r = write_one(f, &err);
                kiln_record(ctx, json_pack("{s:s, s:s, s:s?}", "name", name, "result", err || r < 0 ? "failed" : "ok",
                                           "error",
                                           err     ? err
                                           : r < 0 ? strerror(-r)
                                                   : NULL));
                if (err || r < 0)
                        result = kiln_degrade(ctx, "Failed to write '%s': %s", path, err ? err : strerror(-r));
                else
                        log_info("Wrote %s.", path);
        }
        return result;
}
