/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* ca_certs (and the old ca-certs, which ca_certs overrides) as cloud-init
 * 22.4+'s cc_ca_certs does it, once per instance. Debian and Ubuntu:
 * remove_defaults puts a '!' before each entry of /etc/ca-certificates.conf
 * (under cloud-init's header line) and tells debconf not to trust new
 * ones; each of trusted goes to
 * /usr/local/share/ca-certificates/cloud-init-ca-cert-<N>.crt (from 1,
 * 0644); then update-ca-certificates. RHEL family:
 * /usr/share/pki/ca-trust-source/anchors/cloud-init-ca-cert-<N>.crt and
 * update-ca-trust; remove_defaults empties /etc/pki/ca-trust/ and
 * /usr/share/pki/ca-trust-source/ on RHEL and Amazon Linux only (as
 * cloud-init, which does nothing for it on Rocky, Fedora...). */

#define CA_HEADER "# Modified by cloud-init to deselect certs due to user-data"

static int disable_system_certs(void) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        bool header = false, first = true;
        size_t len;
        int r;

        if (root_path(&path, "/etc/ca-certificates.conf") < 0)
                return -ENOMEM;
        r = read_file(path, 16u << 20, &buf, &len);
        if (r == -ENOENT || (r >= 0 && len == 0))
                return 0;
        if (r < 0)
                return r;
        /* Python's splitlines(): a last line without its newline counts */
        for (char *line = buf; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl)
                        *nl = 0;
                if (nl && nl > line && nl[-1] == '\r')
                        nl[-1] = 0;
                if (!first && strbuf_printf(&out, "\n") < 0)
                        return -ENOMEM;
                first = false;
                if (streq(line, CA_HEADER)) {
                        header = true;
                        r = strbuf_printf(&out, "%s", line);
                } else if (!*line || *line == '#' || *line == '!')
                        r = strbuf_printf(&out, "%s", line);
                else {
                        r = header ? 0 : strbuf_printf(&out, CA_HEADER "\n");
                        header = true;
                        if (r >= 0)
                                r = strbuf_printf(&out, "!%s", line);
                }
                if (r < 0)
                        return -ENOMEM;
                line = nl ? nl + 1 : NULL;
        }
        if (strbuf_printf(&out, "\n") < 0)
                return -ENOMEM;
        return write_file_atomic(path, out.data, out.len, 0644);
}

/* util.delete_dir_contents(): everything in dir, dir kept. */
static int empty_dir(const char *dir) {
        _cleanup_free_ char *path = NULL;
        DIR *d;
        struct dirent *e;
        int r = 0;

        if (root_path(&path, "%s", dir) < 0)
                return -ENOMEM;
        d = opendir(path);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while (r >= 0 && (e = readdir(d))) {
                _cleanup_free_ char *p = NULL;
                if (streq(e->d_name, ".") || streq(e->d_name, ".."))
                        continue;
                p = strdup_printf("%s/%s", path, e->d_name);
                r = p ? rm_rf(p) : -ENOMEM;
        }
        closedir(d);
        return r;
}

int system_apply_ca_certs(struct kiln_context *ctx, const json_t *config) {
        const json_t *ca = json_object_get(config, "ca_certs"), *trusted, *remove, *c;
        static const char *const rhel[] = {"almalinux", "amzn", "centos", "cloudlinux", "fedora", "rocky", "rhel"};
        _cleanup_free_ char *id = NULL;
        _cleanup_json_ json_t *list = NULL;
        bool is_rhel = false, is_debian;
        size_t i;
        int r, result = 0;

        if (!ca)
                ca = json_object_get(config, "ca-certs");
        if (!ca)
                return 0;
        if (!json_is_object(ca))
                return kiln_degrade(ctx, "ca_certs: not a mapping (cloud-init fails on it too)");
        id = system_os_release("ID");
        for (i = 0; id && i < ELEMENTSOF(rhel); i++)
                is_rhel = is_rhel || streq(id, rhel[i]);
        is_debian = id && (streq(id, "debian") || streq(id, "ubuntu") || streq(id, "raspbian"));
        if (!is_rhel && !is_debian) {
                kiln_record(ctx, json_pack("{s:s, s:s}", "name", "ca_certs", "result", "skipped"));
                return kiln_degrade(ctx, "ca_certs: not done on this distribution (%s) by kiln", id ? id : "unknown");
        }
        r = state_should_run(ctx, FREQ_INSTANCE, "ca_certs");
        if (r < 0)
                return kiln_fail(ctx, r, "Not doing ca_certs: %s", strerror(-r));
        if (r == 0)
                return 0;

        remove = json_object_get(ca, "remove_defaults");
        if (!remove)
                remove = json_object_get(ca, "remove-defaults");
        /* Python truth: true, non-empty strings and lists, non-zero numbers */
        if (remove && !json_is_false(remove) && !json_is_null(remove) &&
            !(json_is_string(remove) && !*json_string_value(remove)) &&
            !(json_is_integer(remove) && json_integer_value(remove) == 0)) {
                if (is_debian) {
                        r = disable_system_certs();
                        if (r < 0)
                                return kiln_degrade(ctx, "ca_certs: /etc/ca-certificates.conf: %s", strerror(-r));
                        result = system_run_recorded(ctx, "ca_certs",
                                                     (const char *const[]){"debconf-set-selections", "-", NULL},
                                                     "ca-certificates ca-certificates/trust_new_crts select no");
                } else if (streq(id, "rhel") || streq(id, "amzn")) {
                        r = empty_dir("/etc/pki/ca-trust");
                        if (r >= 0)
                                r = empty_dir("/usr/share/pki/ca-trust-source");
                        if (r < 0)
                                return kiln_degrade(ctx, "ca_certs: removing the default certificates: %s",
                                                    strerror(-r));
                }
        }
        /* util.get_cfg_option_list(): a string is a list of one */
        trusted = json_object_get(ca, "trusted");
        list = json_is_array(trusted) ? json_incref((json_t *) trusted) : json_array();
        if (!list)
                return -ENOMEM;
        if (json_is_string(trusted) && json_array_append(list, (json_t *) trusted) < 0)
                return -ENOMEM;
        json_array_foreach(list, i, c) {
                _cleanup_free_ char *path = NULL, *rooted = NULL;
                const char *text = json_string_value(c);
                if (!text)
                        return kiln_degrade(ctx, "ca_certs: trusted[%zu] is not a string", i);
                path = strdup_printf("%scloud-init-ca-cert-%zu.crt",
                                     is_rhel ? "/usr/share/pki/ca-trust-source/anchors/"
                                             : "/usr/local/share/ca-certificates/",
                                     i + 1);
                if (!path || root_path(&rooted, "%s", path) < 0)
                        return -ENOMEM;
                r = mkdir_parents(rooted, 0755);
                if (r >= 0)
                        r = write_file_atomic(rooted, text, strlen(text), 0644);
                if (r < 0)
                        return kiln_degrade(ctx, "ca_certs: writing %s: %s", path, strerror(-r));
                log_info("ca_certs: wrote %s.", path);
        }
        r = system_run_recorded(ctx, "ca_certs",
                                (const char *const[]){is_rhel ? "update-ca-trust" : "update-ca-certificates", NULL},
                                NULL);
        if (r != 0 || result != 0)
                return r != 0 ? r : result;
        kiln_record(ctx, json_pack("{s:s, s:s}", "name", "ca_certs", "result", "ok"));
        r = state_mark_done(ctx, FREQ_INSTANCE, "ca_certs");
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that ca_certs ran: %s", strerror(-r)) : 0;
}
