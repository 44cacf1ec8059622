/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "nginx/layout.h"
#include "nginx/render.h"
#include "strbuf.h"
#include "tap.h"

static void test_redirect_include(void) {
        static const char debian[] = "user www-data;\n"
                                     "include /etc/nginx/modules-enabled/*.conf;\n"
                                     "http {\n"
                                     "    # include /etc/nginx/sites-enabled/* in a comment stays\n"
                                     "    include /etc/nginx/conf.d/*.conf;\n"
                                     "    include /etc/nginx/sites-enabled/*;\n"
                                     "}\n";
        static const char rhel[] = "http {\n"
                                   "    include       mime.types;\n"
                                   "    server { listen 80; include default.d/*.conf; }\n"
                                   "    include 'conf.d/*.conf';\n"
                                   "    log_format main '$remote_addr include conf.d/x;';\n"
                                   "}\n";
        static const char twice[] = "http { include sites-enabled/*; include sites-enabled/*.conf;\n"
                                    "       include /etc/nginx/sites-enabled/*; }\n";
        _cleanup_free_ char *out = NULL, *out2 = NULL, *out3 = NULL, *out4 = NULL;
        _cleanup_strv_free_ char **pat = NULL, **pat2 = NULL, **pat3 = NULL, **pat4 = NULL;

        is_int(conf_redirect_include(debian, "/etc/nginx", "/etc/nginx/sites-enabled", "/S", &out, &pat), 1,
               "Debian: one include of sites-enabled found");
        ok(out && strstr(out, "include \"/S-1\";"), "pointed at the first staged file");
        ok(pat && streq(pat[0], "*") && !pat[1], "with its pattern");
        ok(out && strstr(out, "# include /etc/nginx/sites-enabled/* in a comment"), "comments left alone");
        ok(out && strstr(out, "include /etc/nginx/conf.d/*.conf;"), "other includes left alone");
        is_int(conf_redirect_include(rhel, "/etc/nginx", "/etc/nginx/conf.d", "/S", &out2, &pat2), 1,
               "RHEL: the relative, quoted include of conf.d found");
        ok(out2 && strstr(out2, "include \"/S-1\";"), "pointed at the staged file");
        ok(pat2 && streq(pat2[0], "*.conf") && !pat2[1], "with its pattern");
        ok(out2 && strstr(out2, "'$remote_addr include conf.d/x;'"), "a string with 'include' inside is not one");
        ok(out2 && strstr(out2, "include default.d/*.conf;"), "default.d left alone");
        is_int(conf_redirect_include("http { }\n", "/etc/nginx", "/etc/nginx/conf.d", "/S", &out3, &pat3), 0,
               "a main config that includes nothing");
        is_int(conf_redirect_include(twice, "/etc/nginx", "/etc/nginx/sites-enabled", "/S", &out4, &pat4), 3,
               "three includes of one directory");
        is_str(out4, "http { include \"/S-1\"; include \"/S-2\";\n       include \"/S-1\"; }\n",
               "one staged file per pattern");
        ok(pat4 && streq(pat4[0], "*") && streq(pat4[1], "*.conf") && !pat4[2], "both patterns listed");

        /* Words as nginx reads them (nginx -t accepts this config with no
         * include at all): an escaped ';', "${", and a '}' inside a word
         * do not end it, so no "include" starts a statement here. */
        static const char words[] = "http { log_format x a\\;include sites-enabled/*;\n"
                                    "       log_format y ${remote_addr}include sites-enabled/*;\n"
                                    "       server { return 200 a}include; } }\n";
        _cleanup_free_ char *out5 = NULL;
        _cleanup_strv_free_ char **pat5 = NULL;
        is_int(conf_redirect_include(words, "/etc/nginx", "/etc/nginx/sites-enabled", "/S", &out5, &pat5), 0,
               "an 'include' inside an nginx word is not one");
        is_str(out5, words, "and the text is left as it was");
}

static void touch(const char *dir, const char *name, const char *content) {
        _cleanup_free_ char *p = strdup_printf("%s/%s", dir, name);
        write_file_atomic(p, content, strlen(content), 0644);
}

static void test_read_kilns(const char *avail, const char *link) {
        _cleanup_free_ char *app = strdup_printf("%s/app", avail), *legacy = strdup_printf("%s/legacy", avail);
        _cleanup_free_ char *none = strdup_printf("%s/none", avail), *text = NULL, *other = NULL;

        is_int(layout_read_kilns(app, 4096, &text), 1, "kiln's file is read");
        is_str(text, NGINX_MARKER " (site 'app')\n", "whole");
        is_int(layout_read_kilns(legacy, 4096, &other), 0, "someone else's file is not kiln's");
        ok(!other, "and is not returned");
        is_int(layout_read_kilns(link, 4096, &other), 0, "nor is a link to kiln's file");
        is_int(layout_read_kilns(none, 4096, &other), -ENOENT, "an absent file is -ENOENT");
        is_int(layout_read_kilns(app, 8, &other), -EFBIG, "a file beyond max is -EFBIG");
        is_int(layout_read_kilns(avail, 4096, &other), 0, "a directory is not kiln's");
}

static bool is_mine(const char *unit, void *data) {
        (*(int *) data)++;
        return streq(unit, "mine");
}

static void test_layouts(void) {
        char dir[] = "/tmp/kiln-test-nginx-layout-XXXXXX";
        _cleanup_free_ char *conf = NULL, *avail = NULL, *enabled = NULL, *confd = NULL, *link = NULL;
        _cleanup_strv_free_ char **owned = NULL, **owned2 = NULL, **unknown = NULL;
        struct nginx_paths p = {0};
        int asked = 0;

        if (!mkdtemp(dir))
                return;
        conf = strdup_printf("%s/nginx.conf", dir);
        avail = strdup_printf("%s/sites-available", dir);
        enabled = strdup_printf("%s/sites-enabled", dir);
        confd = strdup_printf("%s/conf.d", dir);
        mkdir(confd, 0755);
        is_int(layout_detect(conf, &p), 0, "detects");
        is_int(p.layout, LAYOUT_RHEL, "conf.d only: the RHEL layout");
        is_str(p.include_dir, confd, "RHEL includes conf.d");
        touch(confd, "mine.conf", NGINX_MARKER " (site 'mine')\nserver {}\n");
        touch(confd, "theirs.conf", "server {}\n");
        touch(confd, "notes.txt", NGINX_MARKER "\n");
        is_int(layout_list_owned(&p, NULL, NULL, &owned), 0, "lists kiln's files");
        ok(owned && streq(owned[0], "mine") && !owned[1], "only the marked .conf file");
        is_int(layout_list_owned(&p, is_mine, &asked, &unknown), 0, "lists, leaving out the known");
        ok(!unknown, "the one kiln file is known, so none is listed");
        is_int(asked, 2, "asked about each .conf file, not about notes.txt");
        layout_done(&p);

        mkdir(avail, 0755);
        mkdir(enabled, 0755);
        is_int(layout_detect(conf, &p), 0, "detects again");
        is_int(p.layout, LAYOUT_DEBIAN, "sites-enabled: the Debian layout");
        is_str(p.site_dir, avail, "files in sites-available");
        touch(avail, "app", NGINX_MARKER " (site 'app')\n");
        touch(avail, "legacy", "server {}\n");
        link = strdup_printf("%s/app", enabled);
        ok(symlink("../sites-available/app", link) == 0, "link made");
        is_int(layout_link_is_kilns(&p, "app"), 1, "a relative link to sites-available is kiln's");
        is_int(layout_link_is_kilns(&p, "none"), -ENOENT, "no link");
        touch(enabled, "legacy", "server {}\n");
        is_int(layout_link_is_kilns(&p, "legacy"), 0, "a plain file in sites-enabled is not");
        is_int(layout_file_is_kilns(link), 0, "a link is never taken for a kiln file");
        test_read_kilns(avail, link);
        is_int(layout_list_owned(&p, NULL, NULL, &owned2), 0, "lists");
        ok(owned2 && streq(owned2[0], "app") && !owned2[1], "only app");
        layout_done(&p);
        rm_rf(dir);
}

int main(void) {
        test_redirect_include();
        test_layouts();
        return tap_done();
}
