/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "path.h"

static char root[PATH_MAX] = "";

int root_set(const char *dir) {
        size_t n;

        if (!dir || !*dir)
                dir = "/";
        if (dir[0] != '/')
                return -EINVAL;
        n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
                n--;
        if (n >= sizeof(root))
                return -ENAMETOOLONG;
        /* "/" becomes "", so that root + "/etc" is "/etc". */
        if (n == 1)
                n = 0;
        memcpy(root, dir, n);
        root[n] = 0;
        return 0;
}

const char *root_get(void) {
        return root[0] ? root : "/";
}

const char *root_test_hook(const char *name) {
        static bool warned;
        const char *v = getenv(name);

        if (!v || root[0])
                return v;
        if (!warned)
                log_warning("Ignoring $%s: test hooks act only under --root.", name);
        warned = true;
        return NULL;
}

int root_path(char **ret, const char *fmt, ...) {
        _cleanup_free_ char *rel = NULL;
        char *p;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&rel, fmt, ap) < 0)
                rel = NULL;
        va_end(ap);
        if (!rel)
                return -ENOMEM;
        if (asprintf(&p, "%s%s%s", root, rel[0] == '/' ? "" : "/", rel) < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}
