/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fileio.h"
#include "path.h"
#include "state.h"
#include "strbuf.h"
#include "tap.h"

static char dir[] = "/tmp/kiln-test-fileio-XXXXXX";

static void test_atomic(void) {
        _cleanup_free_ char *path = strdup_printf("%s/a/b/c.txt", dir), *buf = NULL;
        struct stat st;
        size_t len;

        is_int(write_file_atomic(path, "hello", 5, 0600), 0, "atomic write creates parents");
        is_int(read_file(path, 100, &buf, &len), 0, "file reads back");
        ok(len == 5 && streq(buf, "hello"), "content is what was written");
        ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode is 0600");
        free(buf);
        buf = NULL;
        is_int(read_file(path, 3, &buf, &len), -EFBIG, "reading past max is -EFBIG");
        is_int(write_file_atomic(path, "bye", 3, 0644), 0, "overwrite works");
        ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644, "mode follows the new write");
}

static void test_mkdir(void) {
        _cleanup_free_ char *deep = strdup_printf("%s/m/n/o/", dir), *file = strdup_printf("%s/m/f", dir);
        _cleanup_free_ char *under = strdup_printf("%s/m/f/x", dir);
        struct stat st;

        is_int(mkdir_p(deep, 0755), 0, "mkdir_p makes every missing parent");
        ok(stat(deep, &st) == 0 && S_ISDIR(st.st_mode), "the directory is there");
        is_int(mkdir_p(deep, 0755), 0, "and is fine when it is there already");
        is_int(write_file_atomic(file, "", 0, 0644), 0, "a file");
        is_int(mkdir_p(under, 0755), -ENOTDIR, "a file in the way is an error");
}

static void test_root(void) {
        _cleanup_free_ char *p = NULL, *id = NULL;
        struct kiln_context ctx = {0};

        is_int(root_set(dir), 0, "root set");
        root_path(&p, "/var/lib/kiln/x");
        ok(strncmp(p, dir, strlen(dir)) == 0 && strstr(p, "/var/lib/kiln/x"), "paths live under the root");
        is_int(root_set("relative"), -EINVAL, "relative roots are refused");

        is_int(state_read_instance_id(&id), -ENOENT, "no instance-id at first");
        is_int(state_write_instance_id("i-0123"), 0, "instance-id stored");
        is_int(state_read_instance_id(&id), 0, "instance-id read back");
        is_str(id, "i-0123", "same instance-id");

        ctx.identified = true;
        ctx.facts.instance_id = (char *) "i-0123";
        is_int(state_should_run(&ctx, FREQ_INSTANCE, "script-a"), 1, "per-instance work runs at first");
        is_int(state_mark_done(&ctx, FREQ_INSTANCE, "script-a"), 0, "marked done");
        is_int(state_should_run(&ctx, FREQ_INSTANCE, "script-a"), 0, "and not again on the same instance");
        ctx.facts.instance_id = (char *) "i-0456";
        is_int(state_should_run(&ctx, FREQ_INSTANCE, "script-a"), 1, "but again on a new instance");
        is_int(state_should_run(&ctx, FREQ_BOOT, "script-a"), 1, "per-boot work always runs");
        is_int(state_mark_done(&ctx, FREQ_ONCE, "x"), 0, "once marker set");
        is_int(state_should_run(&ctx, FREQ_ONCE, "x"), 0, "once work does not run again on any instance");
        is_int(state_should_run(&ctx, FREQ_INSTANCE, "../evil"), -EINVAL, "marker names cannot escape");
        ctx.identified = false;
        is_int(state_should_run(&ctx, FREQ_INSTANCE, "a"), -ENXIO, "unknown instance cannot track per-instance");
        is_int(state_clean(true), 0, "clean succeeds");
        is_int(state_read_instance_id(&id), -ENOENT, "clean removes the instance-id");
}

int main(void) {
        if (!mkdtemp(dir))
                return 1;
        test_atomic();
        test_mkdir();
        test_root();
        rm_rf(dir);
        return tap_done();
}
