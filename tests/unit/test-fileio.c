/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "chase.h"
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

static void test_relative(void) {
        _cleanup_free_ char *p = strdup_printf("%s/rel.txt", dir), *buf = NULL;
        char cwd[4096];

        ok(getcwd(cwd, sizeof(cwd)) && chdir(dir) == 0, "into the test directory");
        is_int(write_file_atomic("rel.txt", "r", 1, 0644), 0, "a relative path is taken from the working directory");
        is_int(read_file(p, 10, &buf, NULL), 0, "and is there");
        ok(chdir(cwd) == 0, "back");
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

/* The attacks of issue 13: a user (uid 4242, need not exist) owns a
 * directory kiln writes into, and plants links, FIFOs and hard links. */
#define USER_UID 4242
static char *udir, *outside, *secret;

static int count_temps(const char *d) {
        DIR *dd = opendir(d);
        struct dirent *e;
        int n = 0;

        if (!dd)
                return -1;
        while ((e = readdir(dd)))
                n += strstr(e->d_name, ".kiln-") != NULL;
        closedir(dd);
        return n;
}

static char *at(const char *d, const char *name) {
        return strdup_printf("%s/%s", d, name);
}

static void setup_attack(void) {
        udir = at(dir, "home-user");
        outside = at(dir, "outside");
        secret = at(dir, "outside/secret");
        mkdir(udir, 0755);
        (void) !chown(udir, USER_UID, USER_UID);
        mkdir(outside, 0700);
        (void) write_file_atomic(secret, "top secret\n", 11, 0600);
}

static bool secret_intact(void) {
        _cleanup_free_ char *buf = NULL;
        struct stat st;

        return stat(secret, &st) == 0 && st.st_uid == 0 && (st.st_mode & 07777) == 0600 &&
               read_file(secret, 100, &buf, NULL) == 0 && streq(buf, "top secret\n");
}

static void test_link_in_parent(void) {
        _cleanup_free_ char *link = at(udir, "sub"), *p = at(udir, "sub/x"), *escaped = at(outside, "x");

        ok(symlink(outside, link) == 0 && lchown(link, USER_UID, USER_UID) == 0, "user's link sub -> outside");
        is_int(write_file_atomic(p, "owned", 5, 0644), -ELOOP, "a link in a parent component is refused (-ELOOP)");
        ok(access(escaped, F_OK) < 0, "nothing was written through it");
        unlink(link);
}

static void test_link_at_name(void) {
        _cleanup_free_ char *p = at(udir, "f"), *buf = NULL;
        struct stat st;
        const struct write_options o = {.mode = 0640, .uid = USER_UID, .gid = USER_UID};

        ok(symlink(secret, p) == 0, "user's link f -> secret");
        is_int(chase_write_file(p, 0, "mine\n", 5, &o), 0, "a link at the final name is replaced");
        ok(lstat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == USER_UID && (st.st_mode & 0777) == 0640,
           "f is a regular file, the user's, 0640");
        ok(secret_intact(), "the link's target kept its owner, mode and content");
        is_int(count_temps(udir), 0, "no temp file left behind");
}

static void test_trusted_link(void) {
        _cleanup_free_ char *real = at(dir, "real"), *link = at(dir, "link"), *p = at(dir, "link/x");
        _cleanup_free_ char *rp = at(dir, "real/x");

        mkdir(real, 0755);
        ok(symlink("real", link) == 0, "root's link in root's directory");
        is_int(write_file_atomic(p, "x", 1, 0644), 0, "is followed (/var/run -> /run)");
        ok(access(rp, F_OK) == 0, "the file is in the link's target");
}

static void test_links_under_root(void) {
        _cleanup_free_ char *abs = at(dir, "abs"), *l1 = at(dir, "loop1"), *l2 = at(dir, "loop2"), *up = at(dir, "up");
        _cleanup_free_ char *p = at(dir, "abs/y"), *q = at(dir, "loop1/z"), *u = at(dir, "up/w"),
                            *rel = at(dir, "osrel");
        _cleanup_free_ char *ry = at(dir, "real/y"), *rw = at(dir, "real/w"), *buf = NULL;

        is_int(root_set(dir), 0, "under --root");
        ok(symlink("/real", abs) == 0, "an absolute link");
        is_int(write_file_atomic(p, "y", 1, 0644), 0, "resolves under the root");
        ok(access(ry, F_OK) == 0, "(the file is in <root>/real)");
        ok(symlink("loop2", l1) == 0 && symlink("loop1", l2) == 0, "a loop of links");
        is_int(write_file_atomic(q, "z", 1, 0644), -ELOOP, "ends with -ELOOP");
        ok(symlink("../../real/../real", up) == 0, "'..' in a target, past the root");
        is_int(write_file_atomic(u, "w", 1, 0644), 0, "stays under the root");
        ok(access(rw, F_OK) == 0, "(the file is in <root>/real)");
        ok(symlink("real/w", rel) == 0, "a root link at the final name (like /etc/os-release)");
        is_int(chase_read_file(rel, 10, &buf, NULL), 0, "is followed for reading");
        is_str(buf, "w", "to its target");
        is_int(root_set("/"), 0, "root back to /");
}

/* The hook swaps the directory kiln has opened for a link to outside. */
static char *swap_dir, *swap_aside, *swap_to;
static void swap_hook(const char *step, const char *name) {
        if (!swap_dir || !streq(step, "dir") || !streq(name, "victim"))
                return;
        (void) !rename(swap_dir, swap_aside);
        (void) !symlink(swap_to, swap_dir);
        swap_dir = NULL;
}

static void test_dir_swapped(void) {
        _cleanup_free_ char *d = at(udir, "victim"), *aside = at(udir, "victim.moved"), *p = at(udir, "victim/x");
        _cleanup_free_ char *escaped = at(outside, "x"), *landed = at(udir, "victim.moved/x");

        mkdir(d, 0755);
        (void) !chown(d, USER_UID, USER_UID);
        swap_dir = d, swap_aside = aside, swap_to = outside;
        chase_test_hook = swap_hook;
        is_int(write_file_atomic(p, "x", 1, 0644), 0, "write while the directory is swapped for a link");
        chase_test_hook = NULL;
        ok(access(escaped, F_OK) < 0, "nothing reached the link's target");
        ok(access(landed, F_OK) == 0, "the file went into the directory that was opened");
}

/* After the rename, the new name becomes a link to the secret: a chown by
 * path after it would give the secret away. */
static char *swap_file;
static void swap_file_hook(const char *step, const char *name) {
        if (!swap_file || !streq(step, "renamed"))
                return;
        (void) !unlink(swap_file);
        (void) !symlink(secret, swap_file);
        swap_file = NULL;
}

static void test_swap_after_rename(void) {
        _cleanup_free_ char *p = at(udir, "g");
        const struct write_options o = {.mode = 04755, .uid = USER_UID, .gid = USER_UID};

        swap_file = p;
        chase_test_hook = swap_file_hook;
        is_int(chase_write_file(p, 0, "x", 1, &o), 0, "write, swapped for a link right after the rename");
        chase_test_hook = NULL;
        ok(secret_intact(), "the secret is not chowned or chmodded: nothing by path after the rename");
        unlink(p);
}

static void test_owner_on_fd(void) {
        _cleanup_free_ char *p = at(udir, "h"), *left = at(udir, "h.kiln-tmp");
        const struct write_options o = {.mode = 02750, .uid = USER_UID, .gid = 0};
        struct stat st;

        is_int(chase_write_file(p, 0, "x", 1, &o), 0, "write with owner and set-gid mode");
        ok(stat(p, &st) == 0 && st.st_uid == USER_UID && st.st_gid == 0 && (st.st_mode & 07777) == 02750,
           "owner and mode (set-gid kept: mode after chown)");
        (void) write_file_atomic(left, "half", 4, 0600);
        is_int(write_file_atomic(p, "y", 1, 0644), 0, "replaced, with a crash's temp link beside it");
        is_int(count_temps(udir), 0, "no temp file left after a replace: the leftover is gone too");
}

static void test_no_tmpfile(void) {
        _cleanup_free_ char *p = at(udir, "named"), *buf = NULL;
        const struct write_options o = {.mode = 0640, .uid = USER_UID, .gid = USER_UID};
        struct stat st;

        chase_test_no_tmpfile = true;
        ok(symlink(secret, p) == 0, "without O_TMPFILE: a link at the name");
        is_int(chase_write_file(p, 0, "one", 3, &o), 0, "a named temp file replaces it");
        is_int(chase_write_file(p, 0, "two", 3, &o), 0, "and replaces the file");
        chase_test_no_tmpfile = false;
        ok(read_file(p, 10, &buf, NULL) == 0 && streq(buf, "two"), "content");
        ok(lstat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == USER_UID && (st.st_mode & 0777) == 0640,
           "a regular file, owner and mode");
        ok(secret_intact(), "the link's target untouched");
        is_int(count_temps(udir), 0, "no temp file left");
}

static void alarm_handler(int sig) {
        (void) sig;
        _exit(99);
}

static void test_fifo(void) {
        _cleanup_free_ char *p = at(udir, "fifo"), *buf = NULL;
        const struct write_options o = {.mode = 0644, .uid = USER_UID, .gid = USER_UID, .append = true};

        ok(mkfifo(p, 0644) == 0, "user's FIFO");
        signal(SIGALRM, alarm_handler);
        alarm(10);
        is_int(chase_read_file(p, 100, &buf, NULL), -EBADFD, "reading a FIFO is refused, not a hang");
        is_int(chase_write_file(p, 0, "x", 1, &o), -EBADFD, "appending to a FIFO too");
        alarm(0);
}

static void test_not_regular(void) {
        _cleanup_free_ char *d = at(udir, "adir"), *hl = at(udir, "hardlink"), *own = at(udir, "own");
        _cleanup_free_ char *buf = NULL, *l = at(udir, "l");
        const struct write_options o = {.mode = 0644, .uid = USER_UID, .gid = USER_UID, .append = true};
        struct stat st;

        mkdir(d, 0755);
        is_int(chase_read_file(d, 100, &buf, NULL), -EISDIR, "a directory is not read as a file");
        ok(link(secret, hl) == 0, "a hard link to the secret in the user's directory");
        is_int(chase_read_file(hl, 100, &buf, NULL), -EPERM, "is not read");
        is_int(chase_write_file(hl, 0, "x", 1, &o), -EPERM, "nor appended to");
        ok(secret_intact(), "the secret is untouched");
        ok(symlink(secret, l) == 0, "a link to the secret");
        is_int(chase_read_file(l, 100, &buf, NULL), -ELOOP, "is not followed for reading");
        is_int(chase_write_file(own, 0, "a\n", 2, &o), 0, "append creates a new file");
        is_int(chase_write_file(own, 0, "b\n", 2, &o), 0, "and adds to it");
        ok(stat(own, &st) == 0 && st.st_uid == USER_UID, "owned by the user");
        is_int(chase_read_file(own, 100, &buf, NULL), 0, "the user's own file is read");
        is_str(buf, "a\nb\n", "with both lines");
}

static void test_label(void) {
        _cleanup_free_ char *p = at(dir, "labelled"), *q = at(dir, "fresh");
        char v[64] = "";
        ssize_t n;

        chase_set_label_xattr("user.kiln-test-label");
        (void) write_file_atomic(p, "old", 3, 0644);
        if (setxattr(p, "user.kiln-test-label", "etc_t", 5, 0) < 0) {
                ok(0, "user xattrs on this file system: %m");
                return;
        }
        is_int(write_file_atomic(p, "new", 3, 0644), 0, "a labelled file replaced");
        n = getxattr(p, "user.kiln-test-label", v, sizeof(v) - 1);
        ok(n == 5 && strneq(v, "etc_t", 5), "the replacement has the old file's label");
        is_int(write_file_atomic(q, "new", 3, 0644), 0, "a new file");
        ok(getxattr(q, "user.kiln-test-label", v, sizeof(v)) < 0, "gets no label copied");
        ok(!chase_label_new_wanted(), "no policy lookup for new files without SELinux");
        chase_set_label_xattr("security.selinux");
        ok(chase_label_new_wanted(), "with SELinux and the root /, new files are labelled by policy");
        is_int(root_set(dir), 0, "under --root");
        ok(!chase_label_new_wanted(), "they are not (the policy is the machine's)");
        is_int(root_set("/"), 0, "root back to /");
        chase_set_label_xattr(NULL);
}

int main(void) {
        if (!mkdtemp(dir))
                return 1;
        test_atomic();
        test_mkdir();
        test_relative();
        setup_attack();
        test_link_in_parent();
        test_link_at_name();
        test_trusted_link();
        test_links_under_root();
        test_dir_swapped();
        test_swap_after_rename();
        test_owner_on_fd();
        test_no_tmpfile();
        test_fifo();
        test_not_regular();
        test_label();
        test_root();
        rm_rf(dir);
        return tap_done();
}
