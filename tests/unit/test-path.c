/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "path.h"
#include "tap.h"

static void test_root_path(void) {
        _cleanup_free_ char *p = NULL, *q = NULL;

        is_int(root_set("/srv/r//"), 0, "a root with trailing slashes");
        is_str(root_get(), "/srv/r", "... is kept without them");
        is_int(root_path(&p, "/etc/%s", "kiln"), 0, "root_path");
        is_str(p, "/srv/r/etc/kiln", "... maps a path under the root");
        is_int(root_set("relative"), -EINVAL, "a relative root is refused");
        is_int(root_set("/"), 0, "the real root");
        is_int(root_path(&q, "/etc/kiln"), 0, "root_path on /");
        is_str(q, "/etc/kiln", "... leaves the path as it is");
}

/* Test hooks swap the package manager or the HTTP transport: they act
 * under --root only, never on an instance's real root. */
static void test_hooks(void) {
        setenv("KILN_PKG_COMMAND", "/tmp/fake-pkg", 1);
        root_set("/tmp/some-root");
        is_str(root_test_hook("KILN_PKG_COMMAND"), "/tmp/fake-pkg", "a test hook acts under --root");
        root_set("/");
        ok(root_test_hook("KILN_PKG_COMMAND") == NULL, "... and is ignored on the real root");
        root_set(NULL);
        ok(root_test_hook("KILN_PKG_COMMAND") == NULL, "... also when no root is given");
        unsetenv("KILN_PKG_COMMAND");
        root_set("/tmp/some-root");
        ok(root_test_hook("KILN_PKG_COMMAND") == NULL, "an unset hook is NULL under --root too");
}

int main(void) {
        log_setup(false);
        test_root_path();
        test_hooks();
        return tap_done();
}
