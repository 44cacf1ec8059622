/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "chase.h"
#include "fileio.h"
#include "log.h"
#include "path.h"
#include "sha256.h"
#include "state.h"
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

/* owner[0..k) is the user, what follows owner[k] the group (none: the
 * user's primary group). */
static int resolve_pair(const char *owner, size_t k, uid_t *ret_uid, gid_t *ret_gid) {
        _cleanup_free_ char *user = strndup(owner, k);
        const char *group = owner[k] ? owner + k + 1 : NULL;
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

/* "user:group", "user" (its primary group), numbers too. Split at ':' only:
 * "john.doe:john.doe" is user john.doe. Like chown(1), "user.group" is
 * read as such only when no user has the whole name. */
static int resolve_owner(const char *owner, uid_t *ret_uid, gid_t *ret_gid) {
        size_t k = strcspn(owner, ":");
        int r = resolve_pair(owner, k, ret_uid, ret_gid);

        if (r == -ENOENT && !owner[k] && strchr(owner, '.'))
                r = resolve_pair(owner, strcspn(owner, "."), ret_uid, ret_gid);
        return r;
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
        struct write_options o;
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
        /* Directories named here may be a user's: walked by fd, owner and
         * mode set on the file's fd before it has its name. */
        o = (struct write_options){
                .mode = (mode_t) mode, .uid = uid, .gid = gid, .append = json_is_true(json_object_get(f, "append"))};
        r = chase_write_file(full, CHASE_MKDIR, bytes ? bytes : content ? content : "", len, &o);
        if (r == -ELOOP)
                *ret_error = "a symbolic link on its path that root did not make, not followed";
        else if (r == -EBADFD || r == -EPERM)
                *ret_error = "it is not a regular file of its own (a FIFO, device, or hard link), not appended to";
        return r;
}

/* Each file is marked done once it is written (a kill between two files
 * leaves the rest to the next boot, never a file missing under a "done"):
 * "write_files-<index>-<hash of path>", so an edited list is not mistaken
 * for the old one. */
static char *file_marker(size_t i, const char *path) {
        uint8_t d[SHA256_DIGEST_SIZE];
        char hex[2 * SHA256_DIGEST_SIZE + 1];

        sha256(path, strlen(path), d);
        sha256_hex(d, hex);
        hex[16] = 0;
        return strdup_printf("write_files-%zu-%s", i, hex);
}

int system_apply_files(struct kiln_context *ctx, const json_t *files, bool deferred) {
        json_t *f;
        size_t i;
        int result = 0;

        json_array_foreach(files, i, f) {
                const char *path = json_string_value(json_object_get(f, "path"));
                const char *err = json_string_value(json_object_get(f, "error"));
                _cleanup_free_ char *name = strdup_printf("write_files %s", path), *marker = NULL;
                int r = 0;
                if (json_is_true(json_object_get(f, "defer")) != deferred || !name)
                        continue;
                marker = file_marker(i, path ? path : "");
                if (!marker)
                        return -ENOMEM;
                if (state_should_run(ctx, FREQ_INSTANCE, marker) == 0) {
                        kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", name, "result", "skipped", "frequency",
                                                   "per-instance"));
                        continue;
                }
                if (!err)
                        r = write_one(f, &err);
                if (!err && r >= 0 && (r = state_mark_done(ctx, FREQ_INSTANCE, marker)) < 0)
                        err = "cannot record that it was written";
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
