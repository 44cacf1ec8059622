/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64.h"
#include "fileio.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "pkg.h"
#include "proc.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* apt: as cloud-init 22.4+'s cc_apt_configure does it, once per instance
 * on Debian and Ubuntu: first debconf_selections (debconf-set-selections,
 * then cloud-init reconfigured when it is installed and named), then the
 * proxy settings to
 * /etc/apt/apt.conf.d/90cloud-init-aptproxy and conf to
 * 94cloud-init-config (each removed when not given), then each of sources:
 * its key (ASCII-armoured, dearmored as `gpg --dearmor` does) to
 * /etc/apt/trusted.gpg.d/<name>.gpg, or to /etc/apt/cloud-init.gpg.d/ when
 * the source names $KEY_FILE (signed-by), and its source line, with
 * $RELEASE, $MIRROR, $PRIMARY, $SECURITY and $KEY_FILE replaced, appended to
 * (or, with append: false, written as) its file under
 * /etc/apt/sources.list.d/ (".list" added), or, when it matches
 * add_apt_repo_match (ppa:...), given to add-apt-repository --no-update;
 * then apt-get update. A
 * keyid is fetched from its keyserver with gpg, as cloud-init does. */

#define APT_PROXY_FILE "/etc/apt/apt.conf.d/90cloud-init-aptproxy"
#define APT_CONFIG_FILE "/etc/apt/apt.conf.d/94cloud-init-config"
/* What cloud-init leaves in sources.list on Ubuntu when it writes deb822. */
#define UBUNTU_SOURCES_LIST                                                           \
        "# Ubuntu sources have moved to the /etc/apt/sources.list.d/ubuntu.sources\n" \
        "# file, which uses the deb822 format. Use deb822-formatted .sources files\n" \
        "# to manage package sources in the /etc/apt/sources.list.d/ directory.\n"    \
        "# See the sources.list(5) manual page for details.\n"

/* The binary packets of an ASCII-armoured key, as gpg --dearmor gives them:
 * the base64 between the armour headers' empty line and the checksum line. */
int system_apt_dearmor(const char *armored, char **ret, size_t *ret_len) {
        const char *begin = strstr(armored, "-----BEGIN PGP PUBLIC KEY BLOCK-----"), *p, *end;
        _cleanup_strbuf_ struct strbuf b64 = STRBUF_INIT;

        if (!begin)
                return -EBADMSG;
        end = strstr(begin, "-----END PGP PUBLIC KEY BLOCK-----");
        if (!end)
                return -EBADMSG;
        p = strchr(begin, '\n');
        /* headers ("Version: x") up to an empty line */
        while (p && p < end) {
                const char *line = p + 1, *nl = strchr(line, '\n');
                size_t n = nl ? (size_t) (nl - line) : strlen(line);
                while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
                        n--;
                p = nl;
                if (n == 0)
                        break;
                if (!memchr(line, ':', n)) { /* no headers, no empty line: this is data */
                        p = line - 1;
                        break;
                }
        }
        while (p && p < end) {
                const char *line = p + 1, *nl = strchr(line, '\n');
                size_t n = nl ? (size_t) (nl - line) : strlen(line);
                if (line >= end || *line == '=')
                        break; /* the CRC-24 line, or the end */
                for (size_t i = 0; i < n; i++)
                        if (!isspace((unsigned char) line[i]) && strbuf_printf(&b64, "%c", line[i]) < 0)
                                return -ENOMEM;
                p = nl;
        }
        if (b64.len == 0)
                return -EBADMSG;
        return base64_decode(b64.data, b64.len, ret, ret_len);
}

/* cloud-init's templater.basic_render(): $NAME and ${NAME}; a name it does
 * not know is an error (cloud-init's KeyError ends the module). */
int system_apt_render(const char *in, const json_t *params, char **ret, char **ret_error) {
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;

        *ret_error = NULL;
        for (const char *p = in; *p;) {
                const char *name = NULL, *v;
                size_t n = 0, skip = 0;
                _cleanup_free_ char *key = NULL;
                if (p[0] == '$' && p[1] == '{') {
                        n = strspn(p + 2, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.");
                        if (n > 0 && p[2 + n] == '}') {
                                name = p + 2;
                                skip = n + 3;
                        }
                } else if (p[0] == '$') {
                        n = strspn(p + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.");
                        if (n > 0) {
                                name = p + 1;
                                skip = n + 1;
                        }
                }
                if (!name) {
                        if (strbuf_printf(&out, "%c", *p) < 0)
                                return -ENOMEM;
                        p++;
                        continue;
                }
                key = strndup(name, n);
                if (!key)
                        return -ENOMEM;
                v = json_string_value(json_object_get(params, key));
                if (!v) {
                        *ret_error = strdup_printf("'$%s' is not a variable cloud-init knows here "
                                                   "(RELEASE, MIRROR, PRIMARY, SECURITY, KEY_FILE)",
                                                   key);
                        return -EINVAL;
                }
                if (strbuf_printf(&out, "%s", v) < 0)
                        return -ENOMEM;
                p += skip;
        }
        *ret = strbuf_steal(&out);
        if (!*ret)
                *ret = strdup("");
        return *ret ? 0 : -ENOMEM;
}

static int write_root(const char *path, const void *data, size_t len, mode_t mode, bool append) {
        _cleanup_free_ char *rooted = NULL, *old = NULL, *both = NULL;
        size_t old_len = 0;
        int r;

        if (root_path(&rooted, "%s", path) < 0)
                return -ENOMEM;
        r = mkdir_parents(rooted, 0755);
        if (r < 0)
                return r;
        if (append) {
                r = read_file(rooted, 16u << 20, &old, &old_len);
                if (r < 0 && r != -ENOENT)
                        return r;
                if (r >= 0) {
                        both = malloc(old_len + len + 1);
                        if (!both)
                                return -ENOMEM;
                        memcpy(both, old, old_len);
                        memcpy(both + old_len, data, len);
                        return write_file_atomic(rooted, both, old_len + len, mode);
                }
        }
        return write_file_atomic(rooted, data, len, mode);
}

static int remove_root(const char *path) {
        _cleanup_free_ char *rooted = NULL;

        if (root_path(&rooted, "%s", path) < 0)
                return -ENOMEM;
        return unlink(rooted) < 0 && errno != ENOENT ? -errno : 0;
}

/* The mirror of apt.primary / apt.security for this architecture (or
 * "default"); NULL when none gives a uri. */
static const char *mirror_uri(const json_t *apt, const char *which, const char *arch) {
        const json_t *list = json_object_get(apt, which), *m, *def = NULL;
        size_t i;

        json_array_foreach((json_t *) list, i, m) {
                const json_t *arches = json_object_get(m, "arches"), *a;
                size_t k;
                json_array_foreach((json_t *) arches, k, a) {
                        if (arch && streq(json_string_value(a) ?: "", arch))
                                return json_string_value(json_object_get(m, "uri"));
                        if (streq(json_string_value(a) ?: "", "default") && !def)
                                def = m;
                }
        }
        return def ? json_string_value(json_object_get(def, "uri")) : NULL;
}

static int fail(struct kiln_context *ctx, const char *what, const char *why) {
        kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "apt", "result", "failed", "error", why));
        return kiln_degrade(ctx, "apt: %s: %s", what, why);
}

static int gpg(const char *home, const char *const *args) {
        _cleanup_free_ char *tool = NULL, *env_home = strdup_printf("GNUPGHOME=%s", home);
        _cleanup_strv_free_ char **argv = NULL;
        static char path_var[] = "PATH=/usr/local/bin:/usr/bin:/bin";
        char *env[] = {path_var, env_home, NULL};
        struct proc_result res;
        int r;

        if (!env_home)
                return -ENOMEM;
        if (!pkg_have_program(args[0], &tool))
                return -ENOENT;
        r = strv_push(&argv, tool);
        for (size_t i = 1; r >= 0 && args[i]; i++)
                r = strv_push(&argv, args[i]);
        if (r < 0)
                return r;
        r = proc_run(&(struct proc_options){.argv = argv, .envp = env, .log_name = "gpg", .timeout_ms = 120000}, &res);
        if (r < 0)
                return r;
        r = res.exit_code == 0 ? 0 : -EIO;
        proc_result_done(&res);
        return r;
}

/* gpg.getkeybyid(): `gpg --no-tty --keyserver=KS --recv-keys ID` in a
 * keyring of its own (3 tries, 1 s apart), then the key exported: the
 * bytes `gpg --dearmor` gives of its armour. */
int system_apt_fetch_key(const char *keyid, const char *keyserver, char **ret, size_t *ret_len) {
        char home[] = "/tmp/kiln-gpg.XXXXXX";
        _cleanup_free_ char *ks = strdup_printf("--keyserver=%s", keyserver), *out = NULL;
        int r = -EIO;

        if (!ks)
                return -ENOMEM;
        if (!mkdtemp(home))
                return -errno;
        out = strdup_printf("%s/key.gpg", home);
        if (!out) {
                (void) rm_rf(home);
                return -ENOMEM;
        }
        for (int attempt = 0; attempt < 3 && r < 0; attempt++) {
                if (attempt > 0)
                        sleep(1);
                r = gpg(home, (const char *const[]){"gpg", "--no-tty", ks, "--recv-keys", keyid, NULL});
        }
        if (r >= 0)
                r = gpg(home, (const char *const[]){"gpg", "--batch", "--output", out, "--export", keyid, NULL});
        if (r >= 0)
                r = read_file(out, 1u << 20, ret, ret_len);
        if (r >= 0 && *ret_len == 0) {
                free(*ret);
                r = -ENOENT;
        }
        (void) gpg(home, (const char *const[]){"gpgconf", "--kill", "all", NULL});
        (void) rm_rf(home);
        return r;
}

static int add_key(struct kiln_context *ctx, const char *name, const json_t *ent, bool hardened, char **ret_path) {
        const char *key = json_string_value(json_object_get(ent, "key"));
        _cleanup_free_ char *bytes = NULL, *stem = NULL, *path = NULL;
        const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name, *dot;
        size_t n;
        int r;

        *ret_path = NULL;
        if (!key && !json_object_get(ent, "keyid"))
                return 0;
        /* pathlib's stem: the last component without its last suffix */
        dot = strrchr(base, '.');
        stem = dot && dot != base ? strndup(base, (size_t) (dot - base)) : strdup(base);
        if (!stem)
                return -ENOMEM;
        if (key) {
                r = system_apt_dearmor(key, &bytes, &n);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail(ctx, name, "its key is not an ASCII-armoured OpenPGP public key block");
        } else {
                const char *keyid = json_string_value(json_object_get(ent, "keyid"));
                const char *server = json_string_value(json_object_get(ent, "keyserver"));
                if (!keyid)
                        return fail(ctx, name, "keyid is not a string");
                r = system_apt_fetch_key(keyid, server ? server : "keyserver.ubuntu.com", &bytes, &n);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail(ctx, name, "its keyid could not be fetched from the key server (gpg --recv-keys)");
        }
        path = strdup_printf("%s%s.gpg", hardened ? "/etc/apt/cloud-init.gpg.d/" : "/etc/apt/trusted.gpg.d/", stem);
        if (!path)
                return -ENOMEM;
        r = write_root(path, bytes, n, 0644, false);
        if (r < 0)
                return fail(ctx, path, strerror(-r));
        log_info("apt: key written to %s.", path);
        *ret_path = TAKE_PTR(path);
        return 0;
}

/* cloud-init's is_deb822_sources_format() */
static bool deb822(const char *s) {
        for (const char *l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strneq(l, "deb ", 4) || strneq(l, "deb-src ", 8))
                        return false;
        for (const char *l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strneq(l, "Types: ", 7) || strneq(l, "Suites: ", 8) || strneq(l, "Components: ", 12) ||
                    strneq(l, "URIs: ", 6))
                        return true;
        return false;
}

/* disable_suites() on one-line sources: a line whose suite is one of them
 * becomes "# suite disabled by cloud-init: <line>". */
static int disable_suites(const json_t *disabled, const char *release, char **text) {
        static const char *const known[][2] = {{"updates", "$RELEASE-updates"},
                                               {"backports", "$RELEASE-backports"},
                                               {"security", "$RELEASE-security"},
                                               {"proposed", "$RELEASE-proposed"},
                                               {"release", "$RELEASE"}};
        size_t i;
        json_t *d;

        json_array_foreach((json_t *) disabled, i, d) {
                const char *suite = json_string_value(d);
                _cleanup_free_ char *rendered = NULL, *err = NULL;
                _cleanup_json_ json_t *p = json_pack("{s:s}", "RELEASE", release);
                _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
                int r;
                if (!suite || !p)
                        return !p ? -ENOMEM : -EINVAL;
                for (size_t k = 0; k < ELEMENTSOF(known); k++)
                        if (streq(suite, known[k][0]))
                                suite = known[k][1];
                r = system_apt_render(suite, p, &rendered, &err);
                if (r < 0)
                        return r;
                for (char *l = *text; l && *l;) {
                        char *nl = strchr(l, '\n');
                        size_t n = nl ? (size_t) (nl - l + 1) : strlen(l);
                        bool hit = false;
                        if (*l != '#') {
                                /* cols = line.split(); the suite is cols[2], or after a [ ... ] */
                                char *cols[64];
                                size_t nc = 0;
                                _cleanup_free_ char *copy = strndup(l, n);
                                if (!copy)
                                        return -ENOMEM;
                                for (char *c = copy; nc < ELEMENTSOF(cols);) {
                                        c += strspn(c, " \t\r\n\f\v");
                                        if (!*c)
                                                break;
                                        cols[nc++] = c;
                                        c += strcspn(c, " \t\r\n\f\v");
                                        if (*c)
                                                *c++ = 0;
                                }
                                if (nc > 1) {
                                        size_t pcol = 2;
                                        if (cols[1][0] == '[')
                                                for (size_t k = 1; k < nc; k++) {
                                                        pcol++;
                                                        if (cols[k][strlen(cols[k]) - 1] == ']')
                                                                break;
                                                }
                                        hit = pcol < nc && streq(cols[pcol], rendered);
                                }
                        }
                        if ((hit && strbuf_printf(&out, "# suite disabled by cloud-init: ") < 0) ||
                            strbuf_append(&out, l, n) < 0)
                                return -ENOMEM;
                        l = nl ? nl + 1 : NULL;
                }
                free(*text);
                *text = strbuf_steal(&out);
                if (!*text && !(*text = strdup("")))
                        return -ENOMEM;
        }
        return 0;
}

/* apt.sources_list rendered ($RELEASE, $MIRROR, $PRIMARY, $SECURITY, their
 * lowercase, codename, primary_key/security_key) and written as cloud-init
 * does: deb822 content to /etc/apt/sources.list.d/<distro>.sources (then
 * sources.list removed on Debian, or replaced by cloud-init's pointer text
 * on Ubuntu), one-line content to /etc/apt/sources.list. */
static int generate_sources_list(struct kiln_context *ctx, const json_t *apt, const char *id, const json_t *base) {
        const char *tmpl = json_string_value(json_object_get(apt, "sources_list"));
        _cleanup_json_ json_t *params = json_deep_copy(base);
        _cleanup_free_ char *text = NULL, *err = NULL, *path = NULL;
        const char *body = tmpl;
        static const char *const mirrors[] = {"PRIMARY", "SECURITY", "MIRROR"};
        int r;

        if (!tmpl)
                return fail(ctx, "sources_list", "not a string");
        if (!params)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(mirrors); i++) {
                char lower[16];
                size_t k;
                for (k = 0; mirrors[i][k] && k < sizeof(lower) - 1; k++)
                        lower[k] = (char) (mirrors[i][k] - 'A' + 'a');
                lower[k] = 0;
                if (json_object_set(params, lower, json_object_get(params, mirrors[i])) < 0)
                        return -ENOMEM;
        }
        if (json_object_set(params, "codename", json_object_get(params, "RELEASE")) < 0)
                return -ENOMEM;
        /* add_mirror_keys(): primary/security entries' keys, as "primary"/"security" */
        for (int k = 0; k < 2; k++) {
                const char *which = k ? "security" : "primary";
                size_t i;
                json_t *m;
                json_array_foreach(json_object_get(apt, which), i, m) {
                        _cleanup_free_ char *kp = NULL, *kn = strdup_printf("%s_key", which);
                        if (!kn)
                                return -ENOMEM;
                        r = add_key(ctx, which, m, false, &kp);
                        if (r != 0)
                                return r;
                        if (kp && json_object_set_new(params, kn, json_string(kp)) < 0)
                                return -ENOMEM;
                }
        }
        /* "## template: basic" is dropped; jinja is not rendered by kiln */
        if (strncasecmp(body, "## template:", 12) == 0 ||
            (strneq(body, "##", 2) && strstr(body, "template:") && strstr(body, "template:") < strchrnul(body, '\n'))) {
                const char *t = strstr(body, "template:") + 9;
                t += strspn(t, " \t");
                if (strncasecmp(t, "jinja", 5) == 0)
                        return fail(ctx, "sources_list", "a jinja template is not rendered by kiln");
                body = strchr(body, '\n') ? strchr(body, '\n') + 1 : "";
        }
        r = system_apt_render(body, params, &text, &err);
        if (r == -EINVAL)
                return fail(ctx, "sources_list", err);
        if (r < 0)
                return r;
        if (json_object_get(apt, "disable_suites")) {
                if (deb822(text))
                        return fail(ctx, "disable_suites", "not done by kiln on deb822 sources");
                r = disable_suites(json_object_get(apt, "disable_suites"),
                                   json_string_value(json_object_get(params, "RELEASE")), &text);
                if (r == -EINVAL)
                        return fail(ctx, "disable_suites", "not a list of strings");
                if (r < 0)
                        return r;
        }
        if (deb822(text)) {
                path = strdup_printf("/etc/apt/sources.list.d/%s.sources", id);
                if (!path)
                        return -ENOMEM;
                r = write_root(path, text, strlen(text), 0644, false);
                if (r >= 0 && streq(id, "ubuntu"))
                        r = write_root("/etc/apt/sources.list", UBUNTU_SOURCES_LIST, strlen(UBUNTU_SOURCES_LIST), 0644,
                                       false);
                else if (r >= 0)
                        r = remove_root("/etc/apt/sources.list");
        } else {
                path = strdup("/etc/apt/sources.list");
                r = path ? write_root(path, text, strlen(text), 0644, false) : -ENOMEM;
        }
        if (r < 0)
                return fail(ctx, path ? path : "sources_list", strerror(-r));
        log_info("apt: sources_list written to %s.", path);
        return 0;
}

/* The last non-empty line of a tool's output (for a message); never NULL
 * unless out of memory. */
static char *last_line(const char *out) {
        const char *end, *start;

        if (!out)
                return strdup("");
        end = out + strlen(out);
        while (end > out && isspace((unsigned char) end[-1]))
                end--;
        start = end;
        while (start > out && start[-1] != '\n')
                start--;
        return strndup(start, (size_t) (end - start));
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Whether dpkg lists the package as installed: state ii or hi, as
 * cloud-init's util.get_installed_packages() reads `dpkg-query --list`. */
static bool dpkg_installed(const char *pkg) {
        _cleanup_free_ char *out = NULL;
        int r = system_run_tool_output(
                (const char *const[]){"dpkg-query", "--show", "--showformat=${db:Status-Abbrev}\\n", pkg, NULL}, NULL,
                NULL, &out);

        if (r < 0 || !out)
                return false;
        /* its warnings (stderr) may come first */
        for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strneq(l, "ii", 2) || strneq(l, "hi", 2))
                        return true;
        return false;
}

/* cloud-init's clean_cloud_init(): /etc/cloud/cloud.cfg.d/ *dpkg* removed
 * before `dpkg-reconfigure cloud-init`. */
static int clean_cloud_init(void) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r = 0;

        if (root_path(&dir, "/etc/cloud/cloud.cfg.d") < 0)
                return -ENOMEM;
        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                if (!strstr(de->d_name, "dpkg") || de->d_name[0] == '.')
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
                        r = -errno;
                else
                        log_info("apt: debconf_selections: removed /etc/cloud/cloud.cfg.d/%s.", de->d_name);
        }
        return r;
}

/* apt.debconf_selections, as cloud-init's apply_debconf_selections(): the
 * values joined by newlines in the order of their sorted names, fed to
 * debconf-set-selections; then of the packages they name (each line's
 * first word, up to a ':'), the installed ones are reconfigured: only
 * cloud-init can be (its dpkg config removed first, then `dpkg-reconfigure
 * --frontend=noninteractive cloud-init`); the others get a warning, as in
 * cloud-init. */
static int apply_debconf_selections(struct kiln_context *ctx, const json_t *apt) {
        const json_t *sel = json_object_get(apt, "debconf_selections"), *v;
        _cleanup_free_ const char **names = NULL;
        _cleanup_strbuf_ struct strbuf text = STRBUF_INIT, unhandled = STRBUF_INIT;
        _cleanup_strv_free_ char **pkgs = NULL;
        bool reconfigure_cloud_init = false;
        size_t n = 0, i;
        const char *name;
        int r;

        if (!sel || json_is_null(sel) || (json_is_object(sel) && json_object_size(sel) == 0))
                return 0; /* cloud-init: "not set in config" */
        if (!json_is_object(sel))
                return fail(ctx, "debconf_selections", "not a map of names to selection lines");
        names = calloc(json_object_size(sel), sizeof(*names));
        if (!names)
                return -ENOMEM;
        json_object_foreach((json_t *) sel, name, v) {
                if (!json_is_string(v))
                        return fail(ctx, "debconf_selections", "a value is not a string of selection lines");
                names[n++] = name;
        }
        qsort(names, n, sizeof(*names), cmp_str);
        for (i = 0; i < n; i++)
                if (strbuf_printf(&text, "%s%s", i ? "\n" : "", json_string_value(json_object_get(sel, names[i]))) < 0)
                        return -ENOMEM;
        if ((text.len == 0 || text.data[text.len - 1] != '\n') && strbuf_printf(&text, "\n") < 0)
                return -ENOMEM;
        r = system_run_tool((const char *const[]){"debconf-set-selections", NULL}, text.data);
        kiln_record(ctx, json_pack("{s:s, s:s, s:s?}", "name", "debconf-set-selections", "result",
                                   r < 0 ? "failed" : "ok", "error", r < 0 ? strerror(-r) : NULL));
        if (r == -EROFS)
                return fail(ctx, "debconf_selections",
                            "not running debconf-set-selections under --root (KILN_SYSTEM_COMMAND is for tests)");
        if (r < 0)
                return fail(ctx, "debconf_selections",
                            r == -ENOENT ? "debconf-set-selections is not installed (package debconf)"
                                         : "debconf-set-selections failed (see the log for its output)");
        log_info("apt: debconf_selections: %zu set(s) given to debconf-set-selections.", n);

        /* the packages named: each line not starting with '#', up to ':' or a space */
        for (i = 0; i < n; i++) {
                const char *s = json_string_value(json_object_get(sel, names[i]));
                for (const char *l = s; l && *l;) {
                        size_t len = strcspn(l, "\r\n"), w = strcspn(l, ": \t\v\f\r\n");
                        _cleanup_free_ char *pkg = NULL;
                        bool seen = false;
                        if (*l != '#' && w > 0) {
                                pkg = strndup(l, w);
                                if (!pkg)
                                        return -ENOMEM;
                                for (char **p = pkgs; p && *p; p++)
                                        seen = seen || streq(*p, pkg);
                                if (!seen && strv_push(&pkgs, pkg) < 0)
                                        return -ENOMEM;
                        }
                        l += len;
                        l += strspn(l, "\r\n") > 0 ? (l[0] == '\r' && l[1] == '\n' ? 2 : 1) : 0;
                }
        }
        for (char **p = pkgs; p && *p; p++) {
                if (!dpkg_installed(*p))
                        continue;
                if (streq(*p, "cloud-init"))
                        reconfigure_cloud_init = true;
                else if (strbuf_printf(&unhandled, "%s%s", unhandled.len ? ", " : "", *p) < 0)
                        return -ENOMEM;
        }
        if (unhandled.len > 0)
                log_warning("apt: debconf_selections: these packages are installed and preseeded, but cannot be "
                            "unconfigured (as in cloud-init, not reconfigured): %s",
                            unhandled.data);
        if (reconfigure_cloud_init) {
                r = clean_cloud_init();
                if (r < 0)
                        return fail(ctx, "debconf_selections", "removing /etc/cloud/cloud.cfg.d/*dpkg* failed");
                r = system_run_tool(
                        (const char *const[]){"dpkg-reconfigure", "--frontend=noninteractive", "cloud-init", NULL},
                        NULL);
                kiln_record(ctx, json_pack("{s:s, s:s, s:s?}", "name", "dpkg-reconfigure cloud-init", "result",
                                           r < 0 ? "failed" : "ok", "error", r < 0 ? strerror(-r) : NULL));
                if (r < 0)
                        return fail(ctx, "debconf_selections",
                                    "dpkg-reconfigure --frontend=noninteractive cloud-init failed");
        }
        return 0;
}

/* The default add_apt_repo_match, ^[\w-]+:\w: a word (letters, digits, _,
 * -; bytes of non-ASCII letters counted in, as Python's Unicode \w), a
 * colon, a word character. */
static bool is_word(unsigned char c) {
        return isalnum(c) || c == '_' || c >= 0x80;
}

static bool default_repo_match(const char *s) {
        size_t w = 0;

        while (is_word((unsigned char) s[w]) || s[w] == '-')
                w++;
        return w > 0 && s[w] == ':' && is_word((unsigned char) s[w + 1]);
}

/* A Python regular expression (add_apt_repo_match, used with re.search())
 * as a POSIX extended one for regcomp(): \w \d \s (and \W \D \S outside
 * brackets) become classes, lazy quantifiers greedy ones (the same for
 * whether it matches); what has no POSIX form ((?...), \b, \A, \1,
 * possessive a*+) is refused with a message. glibc's regcomp() copies a
 * repeated part once per repetition, so what could blow up is refused too:
 * a quantifier on a group with one inside, a bound over 16, more than 32
 * quantifiers or groups nested deeper than 16. At most 1024 bytes. */
#define REPO_REGEX_MAX_BOUND 16
#define REPO_REGEX_MAX_QUANT 32
#define REPO_REGEX_MAX_DEPTH 16

static int regex_refuse(char **ret_error, const char *why) {
        *ret_error = strdup(why);
        return *ret_error ? -EINVAL : -ENOMEM;
}

/* A {m}, {m,}, {,n} or {m,n} bound at p: its length and values, or 0 when
 * it is not one (Python then reads a literal '{'). */
static size_t regex_bound(const char *p, unsigned *ret_min, unsigned *ret_max, bool *ret_open) {
        size_t i = 1, d1, d2 = 0;
        unsigned long m = 0, n = 0;

        d1 = strspn(p + i, "0123456789");
        if (d1 > 0)
                m = strtoul(p + i, NULL, 10);
        i += d1;
        *ret_open = false;
        if (p[i] == ',') {
                i++;
                d2 = strspn(p + i, "0123456789");
                if (d2 > 0)
                        n = strtoul(p + i, NULL, 10);
                i += d2;
                *ret_open = d2 == 0;
        } else
                n = m;
        if (p[i] != '}' || (d1 == 0 && d2 == 0) || d1 > 5 || d2 > 5)
                return 0;
        *ret_min = (unsigned) m;
        *ret_max = (unsigned) n;
        return i + 1;
}

int system_apt_repo_regex(const char *py, char **ret, char **ret_error) {
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        bool group_quant[REPO_REGEX_MAX_DEPTH + 1] = {false};
        bool atom = false, atom_quant = false, after_quant = false;
        size_t depth = 0, n_quant = 0;
        const char *p = py;

        *ret = NULL;
        *ret_error = NULL;
        if (strlen(py) > 1024)
                return regex_refuse(ret_error, "longer than 1024 bytes");
        while (*p) {
                unsigned lo = 0, hi = 0;
                bool open = false;
                size_t blen = p[0] == '{' ? regex_bound(p, &lo, &hi, &open) : 0;
                int r = 0;

                if (p[0] == '*' || p[0] == '+' || p[0] == '?' || blen > 0) {
                        if (after_quant)
                                return regex_refuse(ret_error, "a quantifier on a quantifier (a++, a*?+) has no "
                                                               "POSIX form");
                        if (!atom)
                                return regex_refuse(ret_error, "a quantifier with nothing to repeat");
                        if (atom_quant)
                                return regex_refuse(ret_error, "a quantifier on a group with a quantifier inside "
                                                               "(nested repetition) is refused: it can blow up");
                        if (++n_quant > REPO_REGEX_MAX_QUANT)
                                return regex_refuse(ret_error, "more than 32 quantifiers");
                        if (blen > 0) {
                                if (lo > REPO_REGEX_MAX_BOUND || hi > REPO_REGEX_MAX_BOUND || (!open && hi < lo))
                                        return regex_refuse(ret_error, "a {m,n} bound over 16 (or with n < m)");
                                r = open ? strbuf_printf(&out, "{%u,}", lo) : strbuf_printf(&out, "{%u,%u}", lo, hi);
                                p += blen;
                        } else
                                r = strbuf_append(&out, p++, 1);
                        if (*p == '?')
                                p++; /* lazy: the same for re.search()'s truth */
                        group_quant[depth] = true;
                        after_quant = true;
                        if (r < 0)
                                return -ENOMEM;
                        continue;
                }
                after_quant = false;
                atom_quant = false;
                if (p[0] == '(' && p[1] == '?')
                        return regex_refuse(ret_error, "(?...) groups have no POSIX form");
                if (p[0] == '(') {
                        if (depth >= REPO_REGEX_MAX_DEPTH)
                                return regex_refuse(ret_error, "groups nested deeper than 16");
                        group_quant[++depth] = false;
                        atom = false;
                        r = strbuf_append(&out, p++, 1);
                } else if (p[0] == ')') {
                        if (depth == 0)
                                return regex_refuse(ret_error, "a ) with no (");
                        atom_quant = group_quant[depth--];
                        group_quant[depth] = group_quant[depth] || atom_quant;
                        atom = true;
                        r = strbuf_append(&out, p++, 1);
                } else if (p[0] == '|' || p[0] == '^' || p[0] == '$') {
                        atom = false;
                        r = strbuf_append(&out, p++, 1);
                } else if (p[0] == '{') {
                        atom = true;
                        r = strbuf_printf(&out, "\\{");
                        p++;
                } else if (p[0] == '\\') {
                        char c = p[1];
                        const char *cls = c == 'w'   ? "[[:alnum:]_]"
                                          : c == 'W' ? "[^[:alnum:]_]"
                                          : c == 'd' ? "[0-9]"
                                          : c == 'D' ? "[^0-9]"
                                          : c == 's' ? "[[:space:]]"
                                          : c == 'S' ? "[^[:space:]]"
                                                     : NULL;
                        if (cls)
                                r = strbuf_printf(&out, "%s", cls);
                        else if (c && !isalnum((unsigned char) c))
                                r = strbuf_append(&out, p, 2);
                        else {
                                *ret_error = c ? strdup_printf("\\%c has no POSIX form", c) : strdup("ends in \\");
                                return *ret_error ? -EINVAL : -ENOMEM;
                        }
                        atom = true;
                        p += 2;
                } else if (p[0] == '[') {
                        /* a set: its members rebuilt, ']' first, '-' last */
                        _cleanup_strbuf_ struct strbuf m = STRBUF_INIT;
                        bool neg = false, rbr = false, dash = false;
                        p++;
                        if (*p == '^') {
                                neg = true;
                                p++;
                        }
                        if (*p == ']') {
                                rbr = true;
                                p++;
                        }
                        while (*p && *p != ']') {
                                if (p[0] == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '='))
                                        return regex_refuse(ret_error, "[: [. [= in a set have no POSIX form");
                                if (p[0] == '\\') {
                                        char c = p[1];
                                        const char *cls = c == 'w'   ? "[:alnum:]_"
                                                          : c == 'd' ? "0-9"
                                                          : c == 's' ? "[:space:]"
                                                                     : NULL;
                                        if (cls)
                                                r = strbuf_printf(&m, "%s", cls);
                                        else if (c == '-')
                                                dash = true;
                                        else if (c == ']')
                                                rbr = true;
                                        else if (c == '\\' || (c && !isalnum((unsigned char) c)))
                                                r = strbuf_append(&m, p + 1, 1);
                                        else {
                                                *ret_error = c ? strdup_printf("\\%c in a set has no POSIX form", c)
                                                               : strdup("ends in \\");
                                                return *ret_error ? -EINVAL : -ENOMEM;
                                        }
                                        p += 2;
                                } else if (p[0] == '-' && (m.len == 0 || p[1] == ']')) {
                                        dash = true;
                                        p++;
                                } else
                                        r = strbuf_append(&m, p++, 1);
                                if (r < 0)
                                        return -ENOMEM;
                        }
                        if (*p != ']')
                                return regex_refuse(ret_error, "a set [ is not closed");
                        p++;
                        if (m.len == 0 && !rbr && !dash)
                                return regex_refuse(ret_error, "an empty set");
                        atom = true;
                        r = strbuf_printf(&out, "[%s%s%s%s]", neg ? "^" : "", rbr ? "]" : "", m.len ? m.data : "",
                                          dash ? "-" : "");
                } else {
                        atom = true;
                        r = strbuf_append(&out, p++, 1);
                }
                if (r < 0)
                        return -ENOMEM;
        }
        if (depth > 0)
                return regex_refuse(ret_error, "a ( is not closed");
        *ret = strbuf_steal(&out);
        if (!*ret && !(*ret = strdup("")))
                return -ENOMEM;
        return 0;
}

/* A matcher for sources that go to add-apt-repository. */
struct repo_matcher {
        bool custom;
        regex_t re;
};

static int repo_matcher_init(const json_t *apt, struct repo_matcher *m, char **ret_error) {
        const json_t *v = json_object_get(apt, "add_apt_repo_match");
        _cleanup_free_ char *ere = NULL;
        int r;

        *ret_error = NULL;
        m->custom = false;
        if (!v)
                return 0;
        /* cloud-init: a false value leaves no matcher and the sources fail */
        if (!json_is_string(v) || !*json_string_value(v)) {
                *ret_error = strdup("add_apt_repo_match is empty or not a string (cloud-init fails the sources too)");
                return -EINVAL;
        }
        r = system_apt_repo_regex(json_string_value(v), &ere, ret_error);
        if (r < 0)
                return r;
        if (regcomp(&m->re, ere, REG_EXTENDED | REG_NOSUB) != 0) {
                *ret_error = strdup_printf("add_apt_repo_match '%s' is not a regular expression kiln can use",
                                           json_string_value(v));
                return -EINVAL;
        }
        m->custom = true;
        return 0;
}

static bool repo_matcher_match(const struct repo_matcher *m, const char *s) {
        return m->custom ? regexec(&m->re, s, 0, NULL, 0) == 0 : default_repo_match(s);
}

static void repo_matcher_done(struct repo_matcher *m) {
        if (m->custom)
                regfree(&m->re);
        m->custom = false;
}

/* `add-apt-repository --no-update SOURCE`, as cloud-init runs it. */
static int add_apt_repository(struct kiln_context *ctx, const char *name, const char *source) {
        _cleanup_free_ char *out = NULL, *line = NULL, *why = NULL;
        int r = system_run_tool_output((const char *const[]){"add-apt-repository", "--no-update", source, NULL}, NULL,
                                       NULL, &out);

        kiln_record(ctx, json_pack("{s:s, s:s, s:s, s:s?}", "name", "add-apt-repository", "source", source, "result",
                                   r < 0 ? "failed" : "ok", "error", r < 0 ? strerror(-r) : NULL));
        if (r >= 0) {
                log_info("apt: %s: add-apt-repository --no-update '%s' done.", name, source);
                return 0;
        }
        line = last_line(out);
        if (r == -ENOENT)
                why = strdup_printf("add-apt-repository --no-update '%s': add-apt-repository is not installed (package "
                                    "software-properties-common; cloud-init does not install it either)",
                                    source);
        else if (r == -EROFS)
                why = strdup_printf("add-apt-repository --no-update '%s': not run under --root (KILN_SYSTEM_COMMAND is "
                                    "for tests)",
                                    source);
        else
                why = strdup_printf("add-apt-repository --no-update '%s' failed: %s", source,
                                    line && *line ? line : strerror(-r));
        if (!why)
                return -ENOMEM;
        return fail(ctx, name, why);
}

int system_apply_apt(struct kiln_context *ctx, const json_t *config) {
        const json_t *apt = json_object_get(config, "apt"), *sources, *ent;
        static const char *const proxies[][2] = {
                {"proxy", "http"}, {"http_proxy", "http"}, {"ftp_proxy", "ftp"}, {"https_proxy", "https"}};
        _cleanup_free_ char *id = NULL, *release = NULL, *arch = NULL;
        _cleanup_strbuf_ struct strbuf proxy = STRBUF_INIT;
        _cleanup_json_ json_t *params = NULL;
        const char *conf, *primary, *security, *name;
        _cleanup_(repo_matcher_done) struct repo_matcher matcher = {};
        _cleanup_free_ char *matcher_error = NULL;
        bool any_source = false;
        int r, result = 0;

        if (!json_is_object(apt))
                return 0;
        id = system_os_release("ID");
        if (!id || (!streq(id, "debian") && !streq(id, "ubuntu"))) {
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "apt", "result", "skipped", "reason",
                                           "not Debian or Ubuntu (cloud-init skips it too)"));
                log_info("apt: not Debian or Ubuntu, skipped as cloud-init skips it.");
                return 0;
        }
        /* What cloud-init does with these, kiln does not: say so, never skip
         * silently. On Debian, cloud-init's cloud.cfg says
         * preserve_sources_list: true, which a user's apt merges with: then
         * cloud-init does not rewrite sources.list either. */
        {
                const json_t *pv = json_object_get(apt, "preserve_sources_list");
                bool preserve = pv ? json_is_true(pv) : streq(id, "debian");
                if (!preserve && !json_object_get(apt, "sources_list") &&
                    (json_object_get(apt, "primary") || json_object_get(apt, "security") ||
                     json_object_get(apt, "disable_suites")))
                        result = fail(ctx, "primary/security/disable_suites",
                                      "without sources_list, kiln does not rewrite sources.list from cloud-init's "
                                      "built-in template; primary and security are used only for $MIRROR, "
                                      "$PRIMARY and $SECURITY in sources");
        }
        r = state_should_run(ctx, FREQ_INSTANCE, "apt");
        if (r < 0)
                return kiln_fail(ctx, r, "Not doing apt: %s", strerror(-r));
        if (r == 0)
                return 0;
        /* cloud-init: debconf_selections first, then the rest of apt */
        r = apply_debconf_selections(ctx, apt);
        if (r < 0)
                return r;
        if (r > 0)
                result = r;
        r = repo_matcher_init(apt, &matcher, &matcher_error);
        if (r == -ENOMEM)
                return r;

        for (size_t i = 0; i < ELEMENTSOF(proxies); i++) {
                const char *v = json_string_value(json_object_get(apt, proxies[i][0]));
                if (v && *v &&
                    strbuf_printf(&proxy, "%sAcquire::%s::Proxy \"%s\";", proxy.len ? "\n" : "", proxies[i][1], v) < 0)
                        return -ENOMEM;
        }
        if (proxy.len > 0 && strbuf_printf(&proxy, "\n") < 0)
                return -ENOMEM;
        r = proxy.len > 0 ? write_root(APT_PROXY_FILE, proxy.data, proxy.len, 0644, false)
                          : remove_root(APT_PROXY_FILE);
        if (r < 0)
                result = fail(ctx, APT_PROXY_FILE, strerror(-r));
        conf = json_string_value(json_object_get(apt, "conf"));
        r = conf && *conf ? write_root(APT_CONFIG_FILE, conf, strlen(conf), 0644, false) : remove_root(APT_CONFIG_FILE);
        if (r < 0)
                result = fail(ctx, APT_CONFIG_FILE, strerror(-r));

        release = system_os_release("VERSION_CODENAME");
        arch = NULL; /* dpkg's architecture: only "default" mirrors are matched without it */
        primary = mirror_uri(apt, "primary", arch);
        security = mirror_uri(apt, "security", arch);
        if (!primary)
                primary = streq(id, "ubuntu") ? "http://archive.ubuntu.com/ubuntu/" : "http://deb.debian.org/debian";
        if (!security)
                security = mirror_uri(apt, "primary", arch)
                                   ? primary
                                   : (streq(id, "ubuntu") ? "http://security.ubuntu.com/ubuntu/"
                                                          : "http://deb.debian.org/debian-security");
        params = json_pack("{s:s, s:s, s:s, s:s}", "RELEASE", release ? release : "", "MIRROR", primary, "PRIMARY",
                           primary, "SECURITY", security);
        if (!params)
                return -ENOMEM;

        if (!json_is_true(json_object_get(apt, "preserve_sources_list")) && json_object_get(apt, "sources_list")) {
                r = generate_sources_list(ctx, apt, id, params);
                if (r < 0)
                        return r;
                if (r > 0)
                        result = r;
        }

        sources = json_object_get(apt, "sources");
        json_object_foreach((json_t *) sources, name, ent) {
                const char *source = json_string_value(json_object_get(ent, "source"));
                const char *filename = json_string_value(json_object_get(ent, "filename"));
                _cleanup_free_ char *key_path = NULL, *line = NULL, *err = NULL, *path = NULL, *text = NULL;
                bool hardened = source && strstr(source, "$KEY_FILE");
                if (!filename)
                        filename = name;
                r = add_key(ctx, filename, ent, hardened, &key_path);
                if (r < 0)
                        return r;
                if (r > 0 || (!key_path && (json_object_get(ent, "key") || json_object_get(ent, "keyid")))) {
                        result = KILN_DEGRADED;
                        continue;
                }
                if (key_path && hardened && json_object_set_new(params, "KEY_FILE", json_string(key_path)) < 0)
                        return -ENOMEM;
                if (!source)
                        continue;
                r = system_apt_render(source, params, &line, &err);
                if (r == -EINVAL) {
                        result = fail(ctx, name, err);
                        continue;
                }
                if (r < 0)
                        return r;
                /* ppa:owner/name and the like (add_apt_repo_match) go to add-apt-repository */
                if (matcher_error) {
                        result = fail(ctx, name, matcher_error);
                        continue;
                }
                if (repo_matcher_match(&matcher, line)) {
                        r = add_apt_repository(ctx, name, line);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                result = r;
                        continue;
                }
                path = strdup_printf(
                        "%s%s%s", filename[0] == '/' ? "" : "/etc/apt/sources.list.d/", filename,
                        strlen(filename) >= 5 && streq(filename + strlen(filename) - 5, ".list") ? "" : ".list");
                text = strdup_printf("%s\n", line);
                if (!path || !text)
                        return -ENOMEM;
                r = write_root(path, text, strlen(text), 0644,
                               !(json_object_get(ent, "append") && json_is_false(json_object_get(ent, "append"))));
                if (r < 0) {
                        result = fail(ctx, path, strerror(-r));
                        continue;
                }
                any_source = true;
                log_info("apt: source written to %s.", path);
        }
        if (json_is_object(sources)) {
                (void) any_source;
                r = pkg_update();
                kiln_record(ctx, json_pack("{s:s, s:s}", "name", "apt update", "result", r < 0 ? "failed" : "ok"));
                if (r < 0)
                        result = kiln_degrade(ctx, "apt: apt-get update failed: %s", strerror(-r));
        }
        if (result != 0)
                return result;
        kiln_record(ctx, json_pack("{s:s, s:s}", "name", "apt", "result", "ok"));
        r = state_mark_done(ctx, FREQ_INSTANCE, "apt");
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that apt ran: %s", strerror(-r)) : 0;
}

/* apt_pipelining: as cloud-init 22.4's cc_apt_pipelining, once per instance
 * on Debian and Ubuntu. The value is read as Python's str(value).lower():
 * false writes depth 0, 0 to 5 that depth; os, none and unchanged leave
 * apt's default (and any earlier file) alone; anything else (true, 6) is an
 * error, where cloud-init only logs a warning. */
#define APT_PIPELINING_FILE "/etc/apt/apt.conf.d/90cloud-init-pipelining"

int system_apply_apt_pipelining(struct kiln_context *ctx, const json_t *config) {
        const json_t *v = json_object_get(config, "apt_pipelining");
        _cleanup_free_ char *id = NULL, *s = NULL, *text = NULL;
        const char *depth = NULL;
        int r;

        if (!v || json_is_null(v))
                return 0; /* cloud-init's default is "os": nothing */
        id = system_os_release("ID");
        if (!id || (!streq(id, "debian") && !streq(id, "ubuntu"))) {
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "apt_pipelining", "result", "skipped", "reason",
                                           "not Debian or Ubuntu (cloud-init skips it too)"));
                log_info("apt_pipelining: not Debian or Ubuntu, skipped as cloud-init skips it.");
                return 0;
        }
        if (json_is_false(v))
                depth = "0";
        else if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 5) {
                s = strdup_printf("%d", (int) json_integer_value(v));
                if (!s)
                        return -ENOMEM;
        } else if (json_is_string(v)) {
                s = strdup(json_string_value(v));
                if (!s)
                        return -ENOMEM;
                /* str(value).lower().strip() */
                for (char *p = s; *p; p++)
                        *p = (char) tolower((unsigned char) *p);
                size_t n = strlen(s), b = strspn(s, " \t\n\r\f\v");
                while (n > b && isspace((unsigned char) s[n - 1]))
                        n--;
                memmove(s, s + b, n - b);
                s[n - b] = '\0';
                if (streq(s, "none") || streq(s, "unchanged") || streq(s, "os"))
                        return 0;
                if (streq(s, "false"))
                        depth = "0";
                else if (!(strlen(s) == 1 && s[0] >= '0' && s[0] <= '5')) {
                        free(s);
                        s = NULL;
                }
        }
        if (!depth)
                depth = s;
        if (!depth) {
                _cleanup_free_ char *shown = json_dumps(v, JSON_ENCODE_ANY);
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "apt_pipelining", "result", "failed", "error",
                                           "not false, 0-5, os, none or unchanged"));
                return kiln_degrade(ctx, "apt_pipelining: %s is not false, 0-5, os, none or unchanged; not done",
                                    shown ? shown : "the value");
        }

        r = state_should_run(ctx, FREQ_INSTANCE, "apt_pipelining");
        if (r < 0)
                return kiln_fail(ctx, r, "Not doing apt_pipelining: %s", strerror(-r));
        if (r == 0)
                return 0;
        text = strdup_printf("//Written by cloud-init per 'apt_pipelining'\nAcquire::http::Pipeline-Depth \"%s\";\n",
                             depth);
        if (!text)
                return -ENOMEM;
        r = write_root(APT_PIPELINING_FILE, text, strlen(text), 0644, false);
        if (r < 0) {
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "apt_pipelining", "result", "failed", "error",
                                           strerror(-r)));
                return kiln_degrade(ctx, "apt_pipelining: %s: %s", APT_PIPELINING_FILE, strerror(-r));
        }
        log_info("apt_pipelining: pipeline depth %s written to %s.", depth, APT_PIPELINING_FILE);
        kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "apt_pipelining", "result", "ok", "depth", depth));
        r = state_mark_done(ctx, FREQ_INSTANCE, "apt_pipelining");
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that apt_pipelining ran: %s", strerror(-r)) : 0;
}

/* str(value) as Python prints a YAML scalar (cloud-init's
 * get_cfg_option_str()); -EINVAL for a list or map. */
static int pystr(const json_t *v, char **ret) {
        switch (json_typeof(v)) {
        case JSON_STRING: *ret = strdup(json_string_value(v)); break;
        case JSON_TRUE: *ret = strdup("True"); break;
        case JSON_FALSE: *ret = strdup("False"); break;
        case JSON_NULL: *ret = strdup("None"); break;
        case JSON_INTEGER: *ret = strdup_printf("%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
        case JSON_REAL: *ret = strdup_printf("%.17g", json_real_value(v)); break;
        default: return -EINVAL;
        }
        return *ret ? 0 : -ENOMEM;
}

/* util.is_true()/is_false(): a boolean, or str(value).lower().strip() in
 * the true/false words. */
static bool pybool_is(const json_t *v, bool want) {
        static const char *const t[] = {"true", "1", "on", "yes"}, *const f[] = {"off", "0", "no", "false"};
        _cleanup_free_ char *s = NULL;
        size_t b, n;

        if (json_is_boolean(v))
                return json_is_true(v) == want;
        if (pystr(v, &s) < 0)
                return false;
        for (char *p = s; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        b = strspn(s, " \t\n\r\f\v");
        n = strlen(s);
        while (n > b && isspace((unsigned char) s[n - 1]))
                n--;
        s[n] = 0;
        for (size_t i = 0; i < 4; i++)
                if (streq(s + b, want ? t[i] : f[i]))
                        return true;
        return false;
}

/* Python truth of a YAML value. */
static bool pytruth(const json_t *v) {
        if (!v)
                return false; /* no such key */
        switch (json_typeof(v)) {
        case JSON_NULL:
        case JSON_FALSE: return false;
        case JSON_STRING: return json_string_length(v) > 0;
        case JSON_INTEGER: return json_integer_value(v) != 0;
        case JSON_REAL: return json_real_value(v) != 0;
        case JSON_ARRAY: return json_array_size(v) > 0;
        case JSON_OBJECT: return json_object_size(v) > 0;
        default: return true;
        }
}

/* cloud-init's fetch_idevs(): the disk /boot is on (grub-probe), named by
 * its first /dev/disk/by-id link (udevadm) or else as it is; "" when
 * grub-probe is missing or cannot see the disk (containers). -EIO (with
 * *ret_error) when grub-probe fails otherwise: cloud-init's module fails. */
static int grub_idevs(char **ret, char **ret_error) {
        _cleanup_free_ char *out = NULL, *disk = NULL, *links = NULL, *rooted = NULL;
        const char *best = NULL;
        int r;

        *ret = NULL;
        *ret_error = NULL;
        r = system_run_tool_output((const char *const[]){"grub-probe", "-t", "disk", "/boot", NULL}, NULL, NULL, &out);
        if (r == -ENOENT || (r == -EIO && out && strstr(out, "failed to get canonical path"))) {
                log_info("grub_dpkg: grub-probe %s; no install device.",
                         r == -ENOENT ? "is not installed" : "cannot see the disk of /boot");
                *ret = strdup("");
                return *ret ? 0 : -ENOMEM;
        }
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                _cleanup_free_ char *line = last_line(out);
                *ret_error = strdup_printf("grub-probe -t disk /boot failed: %s", line && *line ? line : strerror(-r));
                return r == -EROFS ? -EROFS : -EIO;
        }
        disk = last_line(out);
        if (!disk)
                return -ENOMEM;
        if (!*disk || root_path(&rooted, "%s", disk) < 0 || access(rooted, F_OK) < 0) {
                *ret = strdup("");
                return *ret ? 0 : -ENOMEM;
        }
        r = system_run_tool_output((const char *const[]){"udevadm", "info", "--root", "--query=symlink", disk, NULL},
                                   NULL, NULL, &links);
        if (r < 0)
                log_warning("grub_dpkg: udevadm's symlink query for %s failed; using the disk's name.", disk);
        for (char *tok = r >= 0 && links ? links : NULL, *save = NULL; (tok = strtok_r(tok, " \t\r\n", &save));
             tok = NULL)
                if (strstr(tok, "disk/by-id") && (!best || strcmp(tok, best) < 0))
                        best = tok;
        *ret = strdup(best ? best : disk);
        return *ret ? 0 : -ENOMEM;
}

/* grub_dpkg (or grub-dpkg): as cloud-init 22.4's cc_grub_dpkg, once per
 * instance on Debian and Ubuntu, by default (no key needed; enabled: false
 * turns it off): grub-pc/install_devices (given, or probed) and
 * grub-pc/install_devices_empty (given, or whether no device) set with
 * debconf-set-selections. */
int system_apply_grub_dpkg(struct kiln_context *ctx, const json_t *config) {
        const json_t *cfg = json_object_get(config, "grub_dpkg"), *v;
        _cleanup_free_ char *id = NULL, *idevs = NULL, *err = NULL, *sel = NULL;
        bool given, empty;
        int r;

        if (!json_object_get(config, "grub_dpkg"))
                cfg = json_object_get(config, "grub-dpkg");
        given = cfg != NULL;
        id = system_os_release("ID");
        if (!id || (!streq(id, "debian") && !streq(id, "ubuntu"))) {
                if (given)
                        kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "grub_dpkg", "result", "skipped",
                                                   "reason", "not Debian or Ubuntu (cloud-init skips it too)"));
                return 0;
        }
        /* Under --root (tests) it runs only when the key is given. */
        if (!given && !streq(root_get(), "/"))
                return 0;
        if (!pytruth(cfg))
                cfg = NULL; /* cloud-init: "if not mycfg: mycfg = {}" */
        if (cfg && !json_is_object(cfg)) {
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "grub_dpkg", "result", "failed", "error",
                                           "not a map"));
                return kiln_degrade(ctx, "grub_dpkg: not a map (enabled, grub-pc/install_devices, "
                                         "grub-pc/install_devices_empty); not done");
        }
        r = state_should_run(ctx, FREQ_INSTANCE, "grub_dpkg");
        if (r < 0)
                return kiln_fail(ctx, r, "Not doing grub_dpkg: %s", strerror(-r));
        if (r == 0)
                return 0;
        v = json_object_get(cfg, "enabled");
        if (v && pybool_is(v, false)) {
                log_info("grub_dpkg: disabled by grub_dpkg.enabled.");
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "grub_dpkg", "result", "skipped", "reason",
                                           "enabled: false"));
                goto done;
        }
        v = json_object_get(cfg, "grub-pc/install_devices");
        if (v)
                r = pystr(v, &idevs);
        else
                r = grub_idevs(&idevs, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "grub_dpkg", "result", "failed", "error",
                                           err ? err : "grub-pc/install_devices is a list or map"));
                return kiln_degrade(ctx, "grub_dpkg: %s; not done",
                                    err ? err : "grub-pc/install_devices is a list or map, not a device");
        }
        v = json_object_get(cfg, "grub-pc/install_devices_empty");
        if (!v || json_is_null(v))
                empty = !*idevs;
        else if (json_is_boolean(v))
                empty = json_is_true(v);
        else
                empty = pytruth(v) && pybool_is(v, true); /* util.translate_bool() */
        sel = strdup_printf("grub-pc grub-pc/install_devices string %s\n"
                            "grub-pc grub-pc/install_devices_empty boolean %s\n",
                            idevs, empty ? "true" : "false");
        if (!sel)
                return -ENOMEM;
        r = system_run_tool((const char *const[]){"debconf-set-selections", NULL}, sel);
        kiln_record(ctx, json_pack("{s:s, s:s, s:s, s:b, s:s?}", "name", "grub_dpkg", "result", r < 0 ? "failed" : "ok",
                                   "install_devices", idevs, "install_devices_empty", empty, "error",
                                   r < 0 ? strerror(-r) : NULL));
        if (r == -EROFS)
                return kiln_degrade(ctx, "grub_dpkg: not running debconf-set-selections under --root "
                                         "(KILN_SYSTEM_COMMAND is for tests)");
        if (r < 0)
                return kiln_degrade(ctx, "grub_dpkg: debconf-set-selections failed: %s", strerror(-r));
        log_info("grub_dpkg: grub-pc/install_devices '%s', install_devices_empty %s set in debconf.", idevs,
                 empty ? "true" : "false");
done:
        r = state_mark_done(ctx, FREQ_INSTANCE, "grub_dpkg");
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that grub_dpkg ran: %s", strerror(-r)) : 0;
}

/* Checks of apt and grub_dpkg for kiln validate. */
void system_validate_apt(const json_t *config, struct config_report *rep) {
        const json_t *apt = json_object_get(config, "apt"), *sel = json_object_get(apt, "debconf_selections"), *v;
        const json_t *grub = json_object_get(config, "grub_dpkg") ? json_object_get(config, "grub_dpkg")
                                                                  : json_object_get(config, "grub-dpkg");
        const char *name;

        if (sel && !json_is_null(sel)) {
                if (!json_is_object(sel))
                        config_report_error(rep, "apt.debconf_selections",
                                            "'apt.debconf_selections' must be a map of names to selection lines");
                json_object_foreach((json_t *) sel, name, v) {
                        _cleanup_free_ char *path = strdup_printf("apt.debconf_selections.%s", name);
                        if (!json_is_string(v))
                                config_report_error(rep, path ? path : "apt.debconf_selections",
                                                    "'apt.debconf_selections.%s' must be a string of selection lines",
                                                    name);
                }
        }
        v = json_object_get(apt, "add_apt_repo_match");
        if (v) {
                _cleanup_free_ char *ere = NULL, *err = NULL;
                regex_t re;
                if (!json_is_string(v) || !*json_string_value(v))
                        config_report_error(rep, "apt.add_apt_repo_match",
                                            "'apt.add_apt_repo_match' must be a non-empty regular expression");
                else if (system_apt_repo_regex(json_string_value(v), &ere, &err) < 0)
                        config_report_error(rep, "apt.add_apt_repo_match", "'apt.add_apt_repo_match': %s",
                                            err ? err : "not usable");
                else if (regcomp(&re, ere, REG_EXTENDED | REG_NOSUB) != 0)
                        config_report_error(rep, "apt.add_apt_repo_match",
                                            "'apt.add_apt_repo_match' is not a regular expression kiln can use");
                else
                        regfree(&re);
        }
        if (grub && pytruth(grub) && !json_is_object(grub))
                config_report_error(rep, "grub_dpkg",
                                    "'grub_dpkg' must be a map (enabled, grub-pc/install_devices, "
                                    "grub-pc/install_devices_empty)");
        if (json_is_object(grub)) {
                v = json_object_get(grub, "grub-pc/install_devices");
                if (v && (json_is_array(v) || json_is_object(v)))
                        config_report_error(rep, "grub_dpkg.grub-pc/install_devices",
                                            "'grub-pc/install_devices' must be a device path string");
                json_object_foreach((json_t *) grub, name, v)
                        if (!streq(name, "enabled") && !streq(name, "grub-pc/install_devices") &&
                            !streq(name, "grub-pc/install_devices_empty"))
                                config_report_warning(rep, "grub_dpkg",
                                                      "'grub_dpkg.%s' is not a grub_dpkg key (cloud-init ignores it)",
                                                      name);
        }
}
