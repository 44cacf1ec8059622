/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chase.h"
#include "fileio.h"
#include "http.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "pkg.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* puppet as cloud-init 22.4's cc_puppet does it, once per instance (its
 * final stage, after packages and deferred files):
 * - install (default true): with install_type packages (the default) the
 *   package package_name (default puppet), package_name=version when a
 *   version is given, through the package manager (apt-get update first,
 *   as cloud-init's distro does); install_type aio: puppetlabs' install
 *   script fetched from aio_install_url (6 tries, redirects followed) and
 *   run from a new directory in /var/tmp/cloud-init with -v VERSION, -c
 *   COLLECTION and --cleanup (cleanup, default true); puppet is then
 *   /opt/puppetlabs/bin/puppet and its user root. Another install_type is
 *   warned about and exec is not done.
 * - `puppet config print config`, `... ssldir`, `... csr_attributes` are
 *   always run (cloud-init evaluates them even when conf_file, ssl_dir and
 *   csr_attributes_path are given, so without puppet the key fails).
 * - conf: puppet.conf read as ConfigParser does (each line lstripped), each
 *   section's options set (certname: %f the fqdn as Python's
 *   socket.getfqdn(), %i the instance id, lowercased), and after each
 *   section the file renamed to puppet.conf.old and written (0644) again;
 *   conf.ca_cert goes to <ssl_dir>/certs/ca.pem (ssl_dir 0771, certs and
 *   ca.pem owned by puppet:root).
 * - csr_attributes: yaml.dump()ed to csr_attributes_path (0644).
 * - start_service (default true): START=yes in /etc/default/puppet if it
 *   exists, else `systemctl enable puppet.service`, else `/sbin/chkconfig
 *   puppet on`; exec: `puppet agent` with exec_args (a list, or a string
 *   split at white space; default --test); then `service puppet start`.
 * A step that fails stops the rest (as cloud-init's exception would) and
 * degrades the boot; as cloud-init's semaphore, the key is not tried again
 * on this instance. */

#define MARKER "puppet"
#define AIO_INSTALL_URL "https://raw.githubusercontent.com/puppetlabs/install-puppet/main/install.sh"
#define AIO_TRIES 6 /* readurl(retries=5) */
#define AIO_REDIRECTS 30 /* requests' default */

static bool in_root(const char *path, bool exe) {
        _cleanup_free_ char *p = NULL;
        struct stat st;
        return root_path(&p, "%s", path) >= 0 && stat(p, &st) == 0 &&
               (!exe || (S_ISREG(st.st_mode) && (st.st_mode & 0111)));
}

/* subp.which() in the root. */
static bool which(const char *name) {
        static const char *const dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                           "/usr/bin",        "/sbin",          "/bin"};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *p = strdup_printf("%s/%s", dirs[i], name);
                if (p && in_root(p, true))
                        return true;
        }
        return false;
}

/* util.get_cfg_option_str(): str() of the value when the key is there. */
static int opt_str(const json_t *cfg, const char *key, const char *def, char **ret) {
        const json_t *v = json_object_get(cfg, key);
        *ret = v ? system_py_str(v) : def ? strdup(def) : NULL;
        if (v && !*ret)
                return json_is_array(v) || json_is_object(v) ? -EINVAL : -ENOMEM;
        return (def || v) && !*ret ? -ENOMEM : 0;
}

static bool opt_bool(const json_t *cfg, const char *key, bool def) {
        const json_t *v = json_object_get(cfg, key);
        return v ? system_is_true(v) : def;
}

/* Python's socket.getfqdn(). */
char *system_getfqdn(void) {
        char host[256] = "";
        struct addrinfo *ai = NULL, hints = {.ai_family = AF_UNSPEC};
        struct hostent *h = NULL;

        if (gethostname(host, sizeof(host) - 1) < 0)
                return strdup("");
        if (getaddrinfo(host, NULL, &hints, &ai) == 0 && ai) {
                const void *addr = ai->ai_family == AF_INET6
                                           ? (const void *) &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr
                                           : (const void *) &((struct sockaddr_in *) ai->ai_addr)->sin_addr;
                h = gethostbyaddr(addr, ai->ai_family == AF_INET6 ? 16 : 4, ai->ai_family);
        }
        if (ai)
                freeaddrinfo(ai);
        if (!h || !h->h_name)
                return strdup(host);
        if (strchr(h->h_name, '.'))
                return strdup(h->h_name);
        for (char **a = h->h_aliases; a && *a; a++)
                if (strchr(*a, '.'))
                        return strdup(*a);
        return strdup(h->h_name);
}

static char *replace_all(const char *s, const char *what, const char *with) {
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        size_t n = strlen(what);
        const char *hit;

        if (strbuf_puts(&out, "") < 0)
                return NULL;
        while ((hit = strstr(s, what))) {
                if (strbuf_append(&out, s, (size_t) (hit - s)) < 0 || strbuf_puts(&out, with) < 0)
                        return NULL;
                s = hit + n;
        }
        return strbuf_puts(&out, s) < 0 ? NULL : strbuf_steal(&out);
}

/* The uid or gid of name in the root's passwd or group; -ENOENT. */
static int id_of(const char *file, const char *name, unsigned *ret) {
        _cleanup_free_ char *f = NULL;
        int r = system_colon_field(file, name, 2, &f), v;
        if (r < 0)
                return r;
        r = safe_atoi(f, &v);
        if (r < 0 || v < 0)
                return -EBADMSG;
        *ret = (unsigned) v;
        return 0;
}

/* `puppet config print setting`, right-stripped. */
static int config_value(struct kiln_context *ctx, const char *bin, const char *setting, char **ret) {
        _cleanup_free_ char *out = NULL;
        int r = system_run_tool_stdout((const char *const[]){bin, "config", "print", setting, NULL}, &out);
        size_t n;

        kiln_record(ctx, json_pack("{s:s, s:s, s:s?}", "name", "puppet config print", "result", r < 0 ? "failed" : "ok",
                                   "setting", setting));
        if (r == -EROFS)
                return kiln_degrade(ctx, "puppet: not running %s under --root (KILN_SYSTEM_COMMAND is for tests)", bin);
        if (r < 0)
                return kiln_degrade(ctx, "puppet: `%s config print %s` failed: %s (is puppet installed?)", bin, setting,
                                    strerror(-r));
        n = strlen(out);
        while (n > 0 && strchr(" \t\n\r\v\f", out[n - 1]))
                out[--n] = 0;
        if (n == 0 || out[0] != '/')
                return kiln_degrade(ctx, "puppet: `%s config print %s` gave no absolute path", bin, setting);
        *ret = TAKE_PTR(out);
        return 0;
}

/* conf.ca_cert: <ssl_dir> (0771) and its certs/ owned by user:root, then
 * certs/ca.pem (0644, user:root). */
static int write_ca_cert(const char *ssl_dir, const char *user, const char *pem) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int fd = -1, certs = -1;
        unsigned uid, gid;
        bool made;
        int r;

        r = id_of("/etc/passwd", user, &uid);
        if (r >= 0)
                r = id_of("/etc/group", "root", &gid);
        if (r < 0)
                return r;
        if (root_path(&dir, "%s", ssl_dir) < 0)
                return -ENOMEM;
        r = chase_dir(dir, CHASE_MKDIR, &fd);
        if (r < 0)
                return r;
        if (fchmod(fd, 0771) < 0 || fchown(fd, uid, gid) < 0)
                return -errno;
        made = mkdirat(fd, "certs", 0755) == 0;
        if (!made && errno != EEXIST)
                return -errno;
        certs = openat(fd, "certs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (certs < 0)
                return -errno;
        /* made as os.makedirs() makes it under cloud-init's umask 022 */
        if ((made && fchmod(certs, 0755) < 0) || fchown(certs, uid, gid) < 0)
                return -errno;
        return write_file_at(certs, "ca.pem", pem, strlen(pem),
                             &(struct write_options){.mode = 0644, .uid = uid, .gid = gid});
}

/* The whole of `conf`: read, merged section by section, rewritten. */
static int apply_conf(struct kiln_context *ctx, const json_t *conf, const char *conf_file, const char *ssl_dir,
                      const char *user) {
        _cleanup_free_ char *path = NULL, *text = NULL, *error = NULL, *fqdn = NULL, *name = NULL, *old = NULL;
        _cleanup_json_ json_t *ini = NULL;
        _cleanup_close_ int dirfd = -1;
        const char *section, *opt;
        json_t *cfg, *v;
        size_t len;
        int r;

        if (!json_is_object(conf))
                return kiln_degrade(ctx, "puppet: conf is not a mapping (cloud-init fails on it too)");
        if (root_path(&path, "%s", conf_file) < 0)
                return -ENOMEM;
        r = chase_parent(path, 0, &dirfd, &name);
        if (r >= 0)
                r = read_file_at(dirfd, name, SYSTEM_INI_MAX + 1, &text, &len);
        if (r < 0)
                return kiln_degrade(ctx, "puppet: reading %s: %s", conf_file, strerror(-r));
        r = system_ini_parse(text, len, &ini, &error);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return kiln_degrade(ctx, "puppet: %s is not read as ConfigParser reads it: %s", conf_file,
                                    error ? error : strerror(-r));
        old = strdup_printf("%s.old", name);
        if (!old)
                return -ENOMEM;
        json_object_foreach((json_t *) conf, section, cfg) {
                _cleanup_free_ char *out = NULL;
                if (streq(section, "ca_cert")) {
                        if (!json_is_string(cfg))
                                return kiln_degrade(ctx, "puppet: conf.ca_cert is not a string");
                        r = write_ca_cert(ssl_dir, user, json_string_value(cfg));
                        if (r < 0)
                                return kiln_degrade(ctx, "puppet: writing %s/certs/ca.pem: %s", ssl_dir,
                                                    r == -ENOENT ? "no such user or group" : strerror(-r));
                        log_info("puppet: wrote %s/certs/ca.pem.", ssl_dir);
                } else {
                        if (!json_is_object(cfg))
                                return kiln_degrade(ctx, "puppet: conf.%s is not a mapping", section);
                        json_object_foreach(cfg, opt, v) {
                                _cleanup_free_ char *s = system_py_str(v), *t = NULL, *u = NULL;
                                if (!s)
                                        return kiln_degrade(ctx,
                                                            "puppet: conf.%s.%s is a list or mapping (not done by "
                                                            "kiln; cloud-init writes its Python repr)",
                                                            section, opt);
                                if (streq(opt, "certname")) {
                                        if (!json_is_string(v))
                                                return kiln_degrade(
                                                        ctx,
                                                        "puppet: conf.%s.certname is not a string (cloud-init "
                                                        "fails on it too)",
                                                        section);
                                        if (!fqdn && !(fqdn = system_getfqdn()))
                                                return -ENOMEM;
                                        t = replace_all(s, "%f", fqdn);
                                        u = t ? replace_all(t, "%i",
                                                            ctx->facts.instance_id ? ctx->facts.instance_id : "")
                                              : NULL;
                                        if (!u)
                                                return -ENOMEM;
                                        for (char *c = u; *c; c++)
                                                if (*c >= 'A' && *c <= 'Z')
                                                        *c = (char) (*c - 'A' + 'a');
                                        free(s);
                                        s = TAKE_PTR(u);
                                }
                                r = system_ini_set(ini, section, opt, s);
                                if (r == -ENOENT)
                                        return kiln_degrade(ctx,
                                                            "puppet: conf section '%s': no such section "
                                                            "(ConfigParser's NoSectionError: only DEFAULT is the "
                                                            "defaults)",
                                                            section);
                                if (r < 0)
                                        return r;
                        }
                }
                /* As cloud-init: after each section, puppet.conf.old and a new puppet.conf. */
                out = system_ini_render(ini);
                if (!out)
                        return -ENOMEM;
                if (renameat(dirfd, name, dirfd, old) < 0 && errno != ENOENT)
                        return kiln_degrade(ctx, "puppet: renaming %s to %s.old: %m", conf_file, conf_file);
                r = write_file_at(dirfd, name, out, strlen(out),
                                  &(struct write_options){.mode = 0644, .uid = 0, .gid = 0, .label_path = conf_file});
                if (r < 0)
                        return kiln_degrade(ctx, "puppet: writing %s: %s", conf_file, strerror(-r));
        }
        log_info("puppet: %s written (the old one kept as %s.old).", conf_file, conf_file);
        return 0;
}

/* url_helper.readurl(url, retries=5): 6 tries a second apart, any
 * failure (no answer, a status of 400 or more) tried again; redirects
 * followed (absolute or /path Locations). */
static int fetch_script(const char *url, char **ret, size_t *ret_len, char **ret_error) {
        _cleanup_free_ char *cur = strdup(url);
        int r = -EIO;

        *ret_error = NULL;
        for (unsigned attempt = 0; cur && attempt < AIO_TRIES; attempt++) {
                unsigned hops = 0;
                if (attempt > 0)
                        sleep(1);
                free(cur);
                cur = strdup(url);
                while (cur) {
                        _cleanup_http_response_ struct http_response *resp = NULL;
                        char err[HTTP_ERROR_MAX] = "";
                        const char *loc;
                        r = http_request(
                                &(struct http_request){
                                        .url = cur, .timeout_ms = 60000, .max_body = 4u << 20, .error = err},
                                &resp);
                        free(*ret_error);
                        *ret_error = NULL;
                        if (r < 0) {
                                *ret_error = strdup_printf("%s: %s", cur, *err ? err : strerror(-r));
                                break;
                        }
                        loc = http_response_header(resp, "Location");
                        if (resp->status >= 300 && resp->status < 400 && loc && hops++ < AIO_REDIRECTS) {
                                struct http_url u;
                                char *next = NULL;
                                if (strneq(loc, "http://", 7) || strneq(loc, "https://", 8))
                                        next = strdup(loc);
                                else if (loc[0] == '/' && loc[1] != '/' && http_url_parse(cur, &u) == 0)
                                        next = strdup_printf("%s://%s%s", u.https ? "https" : "http", u.authority, loc);
                                if (!next) {
                                        *ret_error =
                                                strdup_printf("%s: a redirect to '%s' kiln does not follow", cur, loc);
                                        r = -EPROTO;
                                        break;
                                }
                                free(cur);
                                cur = next;
                                continue;
                        }
                        if (resp->status >= 400 || resp->status < 200 || resp->status >= 300) {
                                *ret_error = strdup_printf("%s: HTTP status %ld", cur, resp->status);
                                r = -EIO;
                                break;
                        }
                        *ret = malloc(resp->body_len + 1);
                        if (!*ret)
                                return -ENOMEM;
                        memcpy(*ret, resp->body, resp->body_len);
                        (*ret)[resp->body_len] = 0;
                        *ret_len = resp->body_len;
                        return 0;
                }
        }
        return cur ? r : -ENOMEM;
}

/* install_puppet_aio(): the script fetched, written to a new directory in
 * /var/tmp/cloud-init (made 1777 when missing, as cloud-init's tempfile
 * use does) as puppet-install (0700) and run with -v VERSION, -c
 * COLLECTION, --cleanup; the directory removed. */
static int install_aio(struct kiln_context *ctx, const json_t *pc, const char *version) {
        _cleanup_free_ char *url = NULL, *collection = NULL, *script = NULL, *error = NULL, *top = NULL, *tmpdir = NULL,
                            *rooted_tmp = NULL, *exe = NULL;
        _cleanup_close_ int topfd = -1, dfd = -1;
        _cleanup_strv_free_ char **argv = NULL;
        size_t len = 0;
        struct stat st;
        bool made;
        int r;

        if (opt_str(pc, "aio_install_url", AIO_INSTALL_URL, &url) < 0 ||
            opt_str(pc, "collection", NULL, &collection) < 0)
                return kiln_degrade(ctx, "puppet: aio_install_url and collection must be strings");
        log_info("puppet: fetching the install script %s.", url);
        r = fetch_script(url, &script, &len, &error);
        kiln_record(ctx, json_pack("{s:s, s:s, s:s, s:s?}", "name", "puppet aio download", "url", url, "result",
                                   r < 0 ? "failed" : "ok", "error", error));
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return kiln_degrade(ctx, "puppet: fetching the aio install script failed: %s",
                                    error ? error : strerror(-r));
        if (root_path(&top, "/var/tmp/cloud-init") < 0)
                return -ENOMEM;
        made = lstat(top, &st) < 0;
        r = chase_dir(top, CHASE_MKDIR, &topfd);
        if (r >= 0 && made && fchmod(topfd, 01777) < 0)
                r = -errno;
        for (unsigned i = 0; r >= 0 && !tmpdir && i < 100; i++) {
                unsigned char rnd[6];
                char name[32];
                if (getentropy(rnd, sizeof(rnd)) < 0)
                        return -errno;
                snprintf(name, sizeof(name), "tmp%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
                         rnd[5]);
                if (mkdirat(topfd, name, 0700) < 0) {
                        r = errno == EEXIST ? 0 : -errno;
                        continue;
                }
                tmpdir = strdup_printf("/var/tmp/cloud-init/%s", name);
                if (!tmpdir)
                        return -ENOMEM;
                dfd = openat(topfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                r = dfd < 0 ? -errno : 0;
        }
        if (r >= 0 && !tmpdir)
                r = -EEXIST;
        if (r >= 0)
                r = write_file_at(dfd, "puppet-install", script, len,
                                  &(struct write_options){.mode = 0700, .uid = 0, .gid = 0});
        if (r < 0) {
                if (tmpdir && root_path(&rooted_tmp, "%s", tmpdir) >= 0)
                        (void) rm_rf(rooted_tmp);
                return kiln_degrade(ctx, "puppet: writing the aio install script to /var/tmp/cloud-init: %s",
                                    strerror(-r));
        }
        if (root_path(&rooted_tmp, "%s", tmpdir) < 0)
                return -ENOMEM;
        /* on the instance the script runs from there; under --root the test hook gets its path */
        exe = strdup_printf("%s/puppet-install", streq(root_get(), "/") ? rooted_tmp : tmpdir);
        r = exe ? strv_push(&argv, exe) : -ENOMEM;
        if (r >= 0 && version)
                r = strv_push(&argv, "-v") >= 0 ? strv_push(&argv, version) : -ENOMEM;
        if (r >= 0 && collection)
                r = strv_push(&argv, "-c") >= 0 ? strv_push(&argv, collection) : -ENOMEM;
        if (r >= 0 && opt_bool(pc, "cleanup", true))
                r = strv_push(&argv, "--cleanup");
        if (r >= 0)
                r = system_run_recorded(ctx, "puppet", (const char *const *) argv, NULL);
        (void) rm_rf(rooted_tmp);
        return r;
}

/* _autostart_puppet() */
static int autostart(struct kiln_context *ctx) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        struct stat st;
        size_t len;
        int r;

        if (root_path(&path, "/etc/default/puppet") < 0)
                return -ENOMEM;
        if (stat(path, &st) == 0) {
                /* sed -i -e 's/^START=.*\/START=yes/' */
                r = chase_read_file(path, 1u << 20, &text, &len);
                if (r < 0)
                        return kiln_degrade(ctx, "puppet: reading /etc/default/puppet: %s", strerror(-r));
                for (const char *p = text; p < text + len;) {
                        const char *nl = memchr(p, '\n', (size_t) (text + len - p));
                        size_t n = nl ? (size_t) (nl - p) : (size_t) (text + len - p);
                        if (n >= 6 && strneq(p, "START=", 6))
                                r = strbuf_puts(&out, "START=yes");
                        else
                                r = strbuf_append(&out, p, n);
                        if (r >= 0 && nl)
                                r = strbuf_puts(&out, "\n");
                        if (r < 0)
                                return -ENOMEM;
                        p += n + (nl ? 1 : 0);
                }
                r = chase_write_file(path, 0, out.data ? out.data : "", out.len,
                                     &(struct write_options){.mode = st.st_mode & 07777,
                                                             .uid = st.st_uid,
                                                             .gid = st.st_gid,
                                                             .label_path = "/etc/default/puppet"});
                if (r < 0)
                        return kiln_degrade(ctx, "puppet: writing /etc/default/puppet: %s", strerror(-r));
                log_info("puppet: START=yes in /etc/default/puppet.");
                return 0;
        }
        if (which("systemctl"))
                return system_run_recorded(ctx, "puppet",
                                           (const char *const[]){"systemctl", "enable", "puppet.service", NULL}, NULL);
        if (in_root("/sbin/chkconfig", false))
                return system_run_recorded(ctx, "puppet",
                                           (const char *const[]){"/sbin/chkconfig", "puppet", "on", NULL}, NULL);
        log_warning("puppet: Sorry we do not know how to enable puppet services on this system");
        return 0;
}

static int run_agent(struct kiln_context *ctx, const json_t *pc, const char *bin) {
        _cleanup_strv_free_ char **argv = NULL;
        const json_t *args = json_object_get(pc, "exec_args"), *a;
        size_t i;
        int r;

        r = strv_push(&argv, bin);
        if (r >= 0)
                r = strv_push(&argv, "agent");
        if (r < 0)
                return r;
        if (json_is_array(args)) {
                json_array_foreach(args, i, a) {
                        if (!json_is_string(a))
                                return kiln_degrade(ctx,
                                                    "puppet: exec_args[%zu] is not a string (cloud-init fails "
                                                    "on it too)",
                                                    i);
                        if (strv_push(&argv, json_string_value(a)) < 0)
                                return -ENOMEM;
                }
        } else if (json_is_string(args)) {
                _cleanup_free_ char *copy = strdup(json_string_value(args));
                char *save = NULL;
                if (!copy)
                        return -ENOMEM;
                /* str.split(): runs of white space */
                for (char *w = strtok_r(copy, " \t\n\r\v\f\x1c\x1d\x1e\x1f", &save); w;
                     w = strtok_r(NULL, " \t\n\r\v\f\x1c\x1d\x1e\x1f", &save))
                        if (strv_push(&argv, w) < 0)
                                return -ENOMEM;
        } else {
                if (args)
                        log_warning("puppet: Unknown type %s provided for puppet 'exec_args' expected list, tuple, "
                                    "or string",
                                    json_is_object(args) ? "dict" : "scalar");
                if (strv_push(&argv, "--test") < 0)
                        return -ENOMEM;
        }
        return system_run_recorded(ctx, "puppet", (const char *const *) argv, NULL);
}

static int puppet(struct kiln_context *ctx, const json_t *pc) {
        _cleanup_free_ char *version = NULL, *install_type = NULL, *package_name = NULL, *conf_file = NULL,
                            *ssl_dir = NULL, *csr_path = NULL, *p_conf = NULL, *p_ssl = NULL, *p_csr = NULL;
        bool install, run, start;
        const char *bin, *user, *package;
        int r;

        install = opt_bool(pc, "install", true);
        run = opt_bool(pc, "exec", false);
        start = opt_bool(pc, "start_service", true);
        if (opt_str(pc, "version", NULL, &version) < 0 || opt_str(pc, "install_type", "packages", &install_type) < 0)
                return kiln_degrade(ctx, "puppet: version and install_type must be strings");
        if (streq(install_type, "aio")) {
                user = "root";
                bin = "/opt/puppetlabs/bin/puppet";
                package = "puppet-agent";
        } else {
                user = "puppet";
                bin = "puppet";
                package = "puppet";
        }
        if (opt_str(pc, "package_name", package, &package_name) < 0)
                return kiln_degrade(ctx, "puppet: package_name must be a string");
        if (!install && version)
                log_warning("puppet: Puppet install set to false but version supplied, doing nothing.");
        else if (install && streq(install_type, "packages")) {
                _cleanup_free_ char *spec =
                        version && *version ? strdup_printf("%s=%s", package_name, version) : strdup(package_name);
                char *const names[] = {spec, NULL};
                if (!spec)
                        return -ENOMEM;
                log_info("puppet: installing %s.", spec);
                r = pkg_update();
                if (r >= 0)
                        r = pkg_install(names);
                kiln_record(ctx, json_pack("{s:s, s:s, s:s, s:s?}", "name", "puppet install", "package", spec, "result",
                                           r < 0 ? "failed" : "ok", "error", r < 0 ? strerror(-r) : NULL));
                if (r == -EROFS)
                        return kiln_degrade(ctx,
                                            "puppet: not installing %s under --root (KILN_PKG_COMMAND is for "
                                            "tests)",
                                            spec);
                if (r < 0)
                        return kiln_degrade(ctx, "puppet: installing the package %s failed: %s", spec, strerror(-r));
        } else if (install && streq(install_type, "aio")) {
                r = install_aio(ctx, pc, version);
                if (r != 0)
                        return r;
        } else if (install) {
                log_warning("puppet: Unknown puppet install type '%s'", install_type);
                run = false;
        }

        r = config_value(ctx, bin, "config", &p_conf);
        if (r == 0)
                r = config_value(ctx, bin, "ssldir", &p_ssl);
        if (r == 0)
                r = config_value(ctx, bin, "csr_attributes", &p_csr);
        if (r != 0)
                return r;
        if (opt_str(pc, "conf_file", p_conf, &conf_file) < 0 || opt_str(pc, "ssl_dir", p_ssl, &ssl_dir) < 0 ||
            opt_str(pc, "csr_attributes_path", p_csr, &csr_path) < 0)
                return kiln_degrade(ctx, "puppet: conf_file, ssl_dir and csr_attributes_path must be strings");
        if (conf_file[0] != '/' || ssl_dir[0] != '/' || csr_path[0] != '/')
                return kiln_degrade(ctx, "puppet: conf_file, ssl_dir and csr_attributes_path must be absolute paths");

        if (json_object_get(pc, "conf")) {
                r = apply_conf(ctx, json_object_get(pc, "conf"), conf_file, ssl_dir, user);
                if (r != 0)
                        return r;
        }
        if (json_object_get(pc, "csr_attributes")) {
                _cleanup_free_ char *yaml = NULL, *path = NULL;
                r = system_yaml_dump(json_object_get(pc, "csr_attributes"), false, &yaml);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return kiln_degrade(ctx, "puppet: csr_attributes cannot be written as YAML: %s", strerror(-r));
                if (root_path(&path, "%s", csr_path) < 0)
                        return -ENOMEM;
                r = chase_write_file(path, CHASE_MKDIR, yaml, strlen(yaml),
                                     &(struct write_options){.mode = 0644, .uid = 0, .gid = 0});
                if (r < 0)
                        return kiln_degrade(ctx, "puppet: writing %s: %s", csr_path, strerror(-r));
                log_info("puppet: wrote %s.", csr_path);
        }
        if (start) {
                r = autostart(ctx);
                if (r != 0)
                        return r;
        }
        if (run) {
                r = run_agent(ctx, pc, bin);
                if (r != 0)
                        return r;
        }
        if (start)
                return system_run_recorded(ctx, "puppet", (const char *const[]){"service", "puppet", "start", NULL},
                                           NULL);
        return 0;
}

int system_apply_puppet(struct kiln_context *ctx, const json_t *config) {
        const json_t *pc = json_object_get(config, "puppet");

        return pc ? system_apply_once(ctx, MARKER, pc, true, puppet) : 0;
}

void system_validate_cm(const json_t *config, struct config_report *rep) {
        const json_t *pc = json_object_get(config, "puppet"), *v;
        const char *type = json_string_value(json_object_get(pc, "install_type")), *section;

        if (type && !streq(type, "packages") && !streq(type, "aio"))
                config_report_warning(rep, "puppet.install_type",
                                      "puppet.install_type '%s' is neither packages nor aio: nothing is installed and "
                                      "exec is not done (as cloud-init)",
                                      type);
        json_object_foreach((json_t *) json_object_get(pc, "conf"), section, v) {
                _cleanup_free_ char *path = strdup_printf("puppet.conf.%s", section);
                if (!path)
                        return;
                if (streq(section, "ca_cert") ? !json_is_string(v) : !json_is_object(v))
                        config_report_error(rep, path, "'%s' must be %s", path,
                                            streq(section, "ca_cert") ? "a string (a PEM certificate)"
                                                                      : "a mapping of options");
        }
}
