/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "fileio.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "pkg.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* ntp as cloud-init's cc_ntp does it on Debian and Ubuntu, once per
 * instance: the client is ntp_client, or ("auto") the first of chrony and
 * systemd-timesyncd installed, else chrony (installed). Its config file,
 * if there, is renamed <file>.dist, then written from servers, pools,
 * peers and allow (with neither servers nor pools: pools 0-3.<distro>.pool.ntp.org),
 * as cloud-init's templates lay them out: chrony to
 * /etc/chrony/chrony.conf ("# pools", "pool X iburst", "# servers",
 * "server X iburst", "peer X", "allow X", then the template's directives:
 * keyfile, driftfile, logdir, maxupdateskew, rtcsync, makestep; its
 * comments are not copied), timesyncd to
 * /etc/systemd/timesyncd.conf.d/cloud-init.conf ("[Time]", "NTP=" the
 * servers then pools, each followed by a space); then `systemctl
 * reload-or-restart` the service. The ntp and ntpdate clients and
 * ntp.config (a user template) are not done: the boot is degraded. */

struct client {
        const char *name, *check_exe, *confpath, *package, *service;
};

static const struct client clients[] = {
        {"chrony", "chronyd", "/etc/chrony/chrony.conf", "chrony", "chrony"},
        {"systemd-timesyncd", "/lib/systemd/systemd-timesyncd", "/etc/systemd/timesyncd.conf.d/cloud-init.conf", NULL,
         "systemd-timesyncd"},
};

/* subp.which() in the root: an absolute path, or a name on PATH. */
static bool installed(const char *exe) {
        static const char *const dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                           "/usr/bin",        "/sbin",          "/bin"};
        for (size_t i = 0; i < (exe[0] == '/' ? 1 : ELEMENTSOF(dirs)); i++) {
                _cleanup_free_ char *p = NULL;
                struct stat st;
                if (exe[0] == '/' ? root_path(&p, "%s", exe) < 0 : root_path(&p, "%s/%s", dirs[i], exe) < 0)
                        return false;
                if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
                        return true;
        }
        return false;
}

static int push_items(struct strbuf *out, const json_t *list, const char *fmt_prefix, const char *suffix) {
        size_t i;
        json_t *v;

        json_array_foreach((json_t *) list, i, v) {
                const char *s = json_string_value(v);
                if (!s)
                        return -EINVAL;
                if (strbuf_printf(out, "%s%s%s", fmt_prefix, s, suffix) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int system_ntp_render(const char *client, const json_t *servers, const json_t *pools, const json_t *peers,
                      const json_t *allow, char **ret) {
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        int r = 0;

        if (streq(client, "systemd-timesyncd")) {
                if (strbuf_printf(&out,
                                  "# cloud-init generated file\n# See timesyncd.conf(5) for details.\n\n[Time]\n") < 0)
                        return -ENOMEM;
                if (json_array_size(servers) + json_array_size(pools) > 0) {
                        r = strbuf_printf(&out, "NTP=");
                        if (r >= 0)
                                r = push_items(&out, servers, "", " ");
                        if (r >= 0)
                                r = push_items(&out, pools, "", " ");
                        if (r >= 0)
                                r = strbuf_printf(&out, "\n");
                }
        } else {
                r = strbuf_printf(&out, "# chrony configuration written by kiln as cloud-init writes it. See "
                                        "chrony.conf(5).\n");
                if (r >= 0 && json_array_size(pools) > 0)
                        r = strbuf_printf(&out, "# pools\n");
                if (r >= 0)
                        r = push_items(&out, pools, "pool ", " iburst\n");
                if (r >= 0 && json_array_size(servers) > 0)
                        r = strbuf_printf(&out, "# servers\n");
                if (r >= 0)
                        r = push_items(&out, servers, "server ", " iburst\n");
                if (r >= 0)
                        r = push_items(&out, peers, "peer ", "\n");
                if (r >= 0)
                        r = push_items(&out, allow, "allow ", "\n");
                if (r >= 0)
                        r = strbuf_printf(&out,
                                          "\nkeyfile /etc/chrony/chrony.keys\ndriftfile /var/lib/chrony/chrony.drift\n"
                                          "logdir /var/log/chrony\nmaxupdateskew 100.0\nrtcsync\nmakestep 1 3\n");
        }
        if (r < 0)
                return r;
        *ret = strbuf_steal(&out);
        return 0;
}

static bool python_false(const json_t *v) {
        const char *s = json_string_value(v);
        if (json_is_boolean(v))
                return json_is_false(v);
        if (json_is_integer(v))
                return json_integer_value(v) == 0;
        _cleanup_free_ char *copy = s ? strdup(s) : NULL;
        char *t = copy ? strstrip(copy) : NULL;
        /* util.is_false(): str(v).lower().strip() in (off, 0, no, false) */
        return t &&
               (strcasecmp(t, "off") == 0 || strcasecmp(t, "no") == 0 || strcasecmp(t, "false") == 0 || streq(t, "0"));
}

int system_apply_ntp(struct kiln_context *ctx, const json_t *config) {
        const json_t *ntp = json_object_get(config, "ntp"), *servers, *pools;
        const char *want;
        const struct client *c = NULL;
        _cleanup_free_ char *id = NULL, *text = NULL, *conf = NULL, *dist = NULL;
        _cleanup_json_ json_t *default_pools = NULL;
        struct stat st;
        int r;

        if (!json_object_get(config, "ntp"))
                return 0;
        if (!json_is_null(ntp) && !json_is_object(ntp))
                return kiln_degrade(ctx, "ntp: not a mapping (cloud-init fails on it too)");
        if (json_object_get(ntp, "enabled") && python_false(json_object_get(ntp, "enabled")))
                return 0;
        id = system_os_release("ID");
        if (!id || (!streq(id, "debian") && !streq(id, "ubuntu")))
                return kiln_degrade(ctx, "ntp: not done by kiln on this distribution (%s)", id ? id : "unknown");
        if (json_object_get(ntp, "config"))
                return kiln_degrade(ctx, "ntp: ntp.config (a client definition of your own) is not done by kiln");
        want = json_string_value(json_object_get(ntp, "ntp_client"));
        if (want && !streq(want, "auto")) {
                for (size_t i = 0; i < ELEMENTSOF(clients); i++)
                        if (streq(want, clients[i].name))
                                c = &clients[i];
                if (!c)
                        return kiln_degrade(
                                ctx, "ntp: the %s client is not done by kiln (chrony and systemd-timesyncd are)", want);
        } else {
                for (size_t i = 0; !c && i < ELEMENTSOF(clients); i++)
                        if (installed(clients[i].check_exe))
                                c = &clients[i];
                if (!c)
                        c = &clients[0];
        }
        r = state_should_run(ctx, FREQ_INSTANCE, "ntp");
        if (r < 0)
                return kiln_fail(ctx, r, "Not doing ntp: %s", strerror(-r));
        if (r == 0)
                return 0;

        servers = json_object_get(ntp, "servers");
        pools = json_object_get(ntp, "pools");
        if (json_array_size(servers) == 0 && json_array_size(pools) == 0) {
                default_pools = json_array();
                for (int i = 0; default_pools && i < 4; i++) {
                        char name[64];
                        snprintf(name, sizeof(name), "%d.%s.pool.ntp.org", i, id);
                        if (json_array_append_new(default_pools, json_string(name)) < 0)
                                return -ENOMEM;
                }
                if (!default_pools)
                        return -ENOMEM;
                pools = default_pools;
        }
        r = system_ntp_render(c->name, servers, pools, json_object_get(ntp, "peers"), json_object_get(ntp, "allow"),
                              &text);
        if (r == -EINVAL)
                return kiln_degrade(ctx, "ntp: servers, pools, peers and allow must be lists of strings");
        if (r < 0)
                return r;
        if (root_path(&conf, "%s", c->confpath) < 0 || !(dist = strdup_printf("%s.dist", conf)))
                return -ENOMEM;
        if (lstat(conf, &st) == 0 && rename(conf, dist) < 0)
                return kiln_degrade(ctx, "ntp: renaming %s: %m", c->confpath);
        r = mkdir_parents(conf, 0755);
        if (r >= 0)
                r = write_file_atomic(conf, text, strlen(text), 0644);
        if (r < 0)
                return kiln_degrade(ctx, "ntp: writing %s: %s", c->confpath, strerror(-r));
        log_info("ntp: %s configured in %s.", c->name, c->confpath);
        if (c->package && !installed(c->check_exe)) {
                char *const names[] = {(char *) c->package, NULL};
                r = pkg_install(names);
                kiln_record(ctx, json_pack("{s:s, s:s}", "name", "ntp install", "result", r < 0 ? "failed" : "ok"));
                if (r < 0)
                        return kiln_degrade(ctx, "ntp: installing %s: %s", c->package, strerror(-r));
        }
        r = system_run_tool((const char *const[]){"systemctl", "reload-or-restart", c->service, NULL}, NULL);
        kiln_record(ctx,
                    json_pack("{s:s, s:s, s:s}", "name", "ntp", "result", r < 0 ? "failed" : "ok", "client", c->name));
        if (r < 0)
                return kiln_degrade(ctx, "ntp: systemctl reload-or-restart %s: %s", c->service, strerror(-r));
        r = state_mark_done(ctx, FREQ_INSTANCE, "ntp");
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that ntp ran: %s", strerror(-r)) : 0;
}
