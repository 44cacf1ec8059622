/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "path.h"
#include "strbuf.h"
#include "system/system.h"

/* Hostname and time zone are files under the root (/etc/hostname,
 * /etc/hosts, /etc/localtime, /etc/timezone); the running kernel's hostname
 * is set only when the root is the machine's own. */

#define HOSTS_MARK "# kiln"

/* /etc/hosts with our one line (marked) replaced; other lines kept. */
static char *hosts_with(const char *old, const char *line) {
        struct strbuf b = STRBUF_INIT;

        for (const char *l = old; l && *l;) {
                size_t n = strcspn(l, "\n"), m = strlen(HOSTS_MARK);
                if (!(n >= m && strneq(l + n - m, HOSTS_MARK, m)))
                        (void) strbuf_printf(&b, "%.*s\n", (int) n, l);
                l += n + (l[n] == '\n');
        }
        (void) strbuf_printf(&b, "%s\n", line);
        return strbuf_steal(&b);
}

/* Whether the root's distribution is of Debian's family (cloud-init's
 * osfamily "debian"), whose /etc/hosts names the host as 127.0.1.1; the
 * others kiln runs on (Amazon Linux, RHEL, Fedora) are of Red Hat's. */
static bool debian_family(void) {
        _cleanup_free_ char *id = system_os_release("ID"), *like = system_os_release("ID_LIKE");

        const char *both[] = {id, like};

        for (size_t i = 0; i < ELEMENTSOF(both); i++)
                if (both[i] && (strstr(both[i], "debian") || strstr(both[i], "ubuntu")))
                        return true;
        return false;
}

/* The file cloud-init renders from hosts.debian.tmpl or hosts.redhat.tmpl
 * for manage_etc_hosts: true: the same lines. */
static char *hosts_rendered(const char *fqdn, const char *short_name) {
        if (debian_family())
                return strdup_printf("# Written by kiln at every boot (manage_etc_hosts: true): change the config,\n"
                                     "# not this file.\n"
                                     "127.0.1.1 %s %s\n"
                                     "127.0.0.1 localhost\n\n"
                                     "# The following lines are desirable for IPv6 capable hosts\n"
                                     "::1 localhost ip6-localhost ip6-loopback\n"
                                     "ff02::1 ip6-allnodes\n"
                                     "ff02::2 ip6-allrouters\n",
                                     fqdn, short_name);
        return strdup_printf("# Written by kiln at every boot (manage_etc_hosts: true): change the config,\n"
                             "# not this file.\n"
                             "# The following lines are desirable for IPv4 capable hosts\n"
                             "127.0.0.1 %s %s\n"
                             "127.0.0.1 localhost.localdomain localhost\n"
                             "127.0.0.1 localhost4.localdomain4 localhost4\n\n"
                             "# The following lines are desirable for IPv6 capable hosts\n"
                             "::1 %s %s\n"
                             "::1 localhost.localdomain localhost\n"
                             "::1 localhost6.localdomain6 localhost6\n",
                             fqdn, short_name, fqdn, short_name);
}

/* /etc/hosts as manage_etc_hosts asks (see etc_hosts_mode() in plan.c):
 * mode NULL leaves it alone, as cloud-init does without the key. */
static int write_hosts(const char *mode, const char *fqdn, const char *short_name) {
        _cleanup_free_ char *path = NULL, *old = NULL, *line = NULL, *text = NULL;
        int r;

        if (!mode)
                return 0;
        if (root_path(&path, "/etc/hosts") < 0)
                return -ENOMEM;
        r = read_file(path, 1024 * 1024, &old, NULL);
        if (r < 0 && r != -ENOENT)
                return r;
        if (streq(mode, "template")) {
                text = hosts_rendered(fqdn, short_name);
                if (!text)
                        return -ENOMEM;
                return old && streq(old, text) ? 0 : write_file_atomic(path, text, strlen(text), 0644);
        }
        line = streq(fqdn, short_name) ? strdup_printf("127.0.1.1 %s %s", short_name, HOSTS_MARK)
                                       : strdup_printf("127.0.1.1 %s %s %s", fqdn, short_name, HOSTS_MARK);
        text = line ? hosts_with(old ? old : "127.0.0.1 localhost\n", line) : NULL;
        if (!text)
                return -ENOMEM;
        if (old && streq(old, text))
                return 0;
        return write_file_atomic(path, text, strlen(text), 0644);
}

static int set_hostname(const char *name, const char *fqdn, const char *short_name, const char *hosts) {
        _cleanup_free_ char *path = NULL, *line = strdup_printf("%s\n", name);
        int r;

        if (!line || root_path(&path, "/etc/hostname") < 0)
                return -ENOMEM;
        r = write_file_atomic(path, line, strlen(line), 0644);
        if (r >= 0)
                r = write_hosts(hosts, fqdn, short_name);
        if (r >= 0 && streq(root_get(), "/") && sethostname(name, strlen(name)) < 0)
                r = negative_errno();
        return r;
}

int system_apply_hostname(struct kiln_context *ctx, const json_t *plan) {
        const char *source = json_string_value(json_object_get(plan, "source"));
        const char *fqdn = json_string_value(json_object_get(plan, "fqdn"));
        const char *name = json_string_value(json_object_get(plan, "hostname"));
        _cleanup_free_ char *short_name = NULL;
        int r;

        if (json_is_true(json_object_get(plan, "preserve")) || !source)
                return 0;
        if (streq(source, "imds")) {
                fqdn = ctx->facts.local_hostname;
                if (!fqdn || !*fqdn) {
                        log_info("No hostname in config or IMDS, leaving it.");
                        return 0;
                }
        }
        short_name = strndup(name ? name : fqdn, strcspn(name ? name : fqdn, "."));
        if (!short_name)
                return -ENOMEM;
        if (!fqdn)
                fqdn = name;
        name = json_is_true(json_object_get(plan, "prefer_fqdn")) ? fqdn : short_name;
        r = set_hostname(name, fqdn, short_name, json_string_value(json_object_get(plan, "manage_etc_hosts")));
        kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "hostname", "result", r < 0 ? "failed" : "ok", "hostname",
                                   name));
        if (r < 0)
                return kiln_degrade(ctx, "Failed to set the hostname to '%s': %s", name, strerror(-r));
        log_info("Hostname %s (%s).", name, fqdn);
        return 0;
}

static bool zone_name_ok(const char *z) {
        return *z && *z != '/' && !strstr(z, "..") && strlen(z) < 128;
}

static int set_timezone(const char *zone) {
        _cleanup_free_ char *zonefile = NULL, *link = NULL, *tmp = NULL, *target = NULL, *tzfile = NULL, *line = NULL;
        struct stat st;
        int r;

        if (root_path(&zonefile, "/usr/share/zoneinfo/%s", zone) < 0 || root_path(&link, "/etc/localtime") < 0 ||
            root_path(&tzfile, "/etc/timezone") < 0 || !(tmp = strdup_printf("%s.kiln-new", link)) ||
            !(target = strdup_printf("/usr/share/zoneinfo/%s", zone)) || !(line = strdup_printf("%s\n", zone)))
                return -ENOMEM;
        if (stat(zonefile, &st) < 0 || !S_ISREG(st.st_mode))
                return -ENOENT;
        r = mkdir_parents(link, 0755);
        if (r < 0)
                return r;
        /* A new link renamed over the old one: never a moment without it. */
        (void) unlink(tmp);
        if (symlink(target, tmp) < 0 || rename(tmp, link) < 0) {
                r = negative_errno();
                (void) unlink(tmp);
                return r;
        }
        return write_file_atomic(tzfile, line, strlen(line), 0644);
}

int system_apply_timezone(struct kiln_context *ctx, const char *zone) {
        int r;

        if (!zone)
                return 0;
        r = zone_name_ok(zone) ? set_timezone(zone) : -EINVAL;
        kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "timezone", "result", r < 0 ? "failed" : "ok", "timezone",
                                   zone));
        if (r == -ENOENT)
                return kiln_degrade(ctx, "Unknown time zone '%s' (no /usr/share/zoneinfo/%s), leaving the time zone",
                                    zone, zone);
        if (r < 0)
                return kiln_degrade(ctx, "Failed to set the time zone to '%s': %s", zone, strerror(-r));
        log_info("Time zone %s.", zone);
        return 0;
}
