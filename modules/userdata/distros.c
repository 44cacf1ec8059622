/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "path.h"
#include "strbuf.h"
#include "system/system.h"
#include "userdata/userdata.h"

/* cloud-init 22.4 runs a module only on the distributions its meta
 * "distros" names (config/modules.py run_section), unless the module is
 * named in `unverified_modules`; elsewhere it logs "Skipping modules ...
 * not verified on distro" and the module's keys change nothing. kiln does
 * the same for the keys it does not do: on such a distribution they are
 * accepted and ignored, never a degraded boot. Keys kiln does are not in
 * this table. The lists are the cc_*.py metas' of Debian 12's cloud-init. */

struct gated_module {
        const char *module; /* as form_module_name() spells it, without "cc_" */
        const char *keys[3];
        const char *distros; /* the meta's list, ", "-separated */
};

static const struct gated_module gated[] = {
        {"apk_configure", {"apk_repos"}, "alpine"},
        {"fan", {"fan"}, "ubuntu"},
        {"landscape", {"landscape"}, "ubuntu"},
        {"lxd", {"lxd"}, "ubuntu"},
        {"rh_subscription", {"rh_subscription"}, "fedora, rhel"},
        {"snap", {"snap"}, "ubuntu"},
        {"spacewalk", {"spacewalk"}, "rhel, fedora"},
        {"ubuntu_advantage", {"ubuntu_advantage", "ubuntu-advantage"}, "ubuntu"},
        {"ubuntu_autoinstall", {"autoinstall"}, "ubuntu"},
        {"ubuntu_drivers", {"drivers"}, "ubuntu"},
        {"wireguard", {"wireguard"}, "ubuntu"},
        {"zypper_add_repo", {"zypper"}, "opensuse, sles"},
};

/* os-release ID -> the distro cloud-init's image config names
 * (system_info.distro, rendered from util._get_variant(); Amazon's own
 * cloud-init says "amazon"). An ID not here is not guessed at. */
static const struct {
        const char *id;
        const char *distro;
} distro_ids[] = {
        {"almalinux", "almalinux"},
        {"alpine", "alpine"},
        {"amzn", "amazon"},
        {"arch", "arch"},
        {"centos", "centos"},
        {"cloudlinux", "cloudlinux"},
        {"cos", "cos"},
        {"debian", "debian"},
        {"eurolinux", "eurolinux"},
        {"fedora", "fedora"},
        {"gentoo", "gentoo"},
        {"linuxmint", "ubuntu"},
        {"mariner", "mariner"},
        {"mint", "ubuntu"},
        {"miraclelinux", "miraclelinux"},
        {"openeuler", "openEuler"},
        {"openmandriva", "openmandriva"},
        {"opensuse", "opensuse"},
        {"opensuse-leap", "opensuse"},
        {"opensuse-tumbleweed", "opensuse"},
        {"photon", "photon"},
        {"redhat", "rhel"},
        {"rhel", "rhel"},
        {"rocky", "rocky"},
        {"sle_hpc", "sles"},
        {"sles", "sles"},
        {"ubuntu", "ubuntu"},
        {"virtuozzo", "virtuozzo"},
};

const char *cloudconfig_distro_name(const char *os_id) {
        for (size_t i = 0; os_id && i < ELEMENTSOF(distro_ids); i++)
                if (strcasecmp(os_id, distro_ids[i].id) == 0)
                        return distro_ids[i].distro;
        return NULL;
}

/* form_module_name() without "cc_": '-' as '_', no ".py", trimmed; ""
 * when longer than any module name. */
static void canonical(char buf[static 64], const char *raw) {
        size_t n;

        buf[0] = 0;
        while (*raw == ' ' || *raw == '\t' || *raw == '\n')
                raw++;
        n = strlen(raw);
        while (n > 0 && strchr(" \t\n", raw[n - 1]))
                n--;
        if (n >= 3 && strncasecmp(raw + n - 3, ".py", 3) == 0)
                n -= 3;
        if (n >= 3 && strneq(raw, "cc_", 3)) {
                raw += 3;
                n -= 3;
        }
        if (n >= 64)
                return;
        for (size_t i = 0; i < n; i++)
                buf[i] = raw[i] == '-' ? '_' : raw[i];
        buf[n] = 0;
}

/* Whether unverified_modules names module. cloud-init tests `name in
 * unverified_modules` with the name its module list gives: an item of a
 * list, a key of a mapping, a substring of a string. Names are compared
 * as form_module_name() would make them, so "ubuntu-advantage" and
 * "ubuntu_advantage" both count (image lists use either). */
bool cloudconfig_module_unverified(const json_t *unverified, const char *module) {
        char buf[64];
        const char *key;
        const json_t *v;
        size_t i;

        if (json_is_string(unverified)) {
                _cleanup_free_ char *all = strdup(json_string_value(unverified));
                if (!all)
                        return false;
                for (char *c = all; *c; c++)
                        *c = *c == '-' ? '_' : *c;
                return strstr(all, module) != NULL;
        }
        json_array_foreach((json_t *) unverified, i, v) {
                if (!json_is_string(v))
                        continue;
                canonical(buf, json_string_value(v));
                if (streq(buf, module))
                        return true;
        }
        json_object_foreach((json_t *) unverified, key, v) {
                canonical(buf, key);
                if (streq(buf, module))
                        return true;
        }
        return false;
}

bool cloudconfig_distro_skips(const char *key, const char *distro, const json_t *unverified, const char **ret_module,
                              const char **ret_distros) {
        for (size_t i = 0; distro && i < ELEMENTSOF(gated); i++) {
                const struct gated_module *g = &gated[i];
                bool mine = false, runs = false;
                const char *d = g->distros;
                size_t dl = strlen(distro);
                for (size_t k = 0; k < ELEMENTSOF(g->keys) && g->keys[k]; k++)
                        mine = mine || streq(key, g->keys[k]);
                if (!mine)
                        continue;
                for (; *d; d += strspn(d, ", ")) {
                        size_t n = strcspn(d, ", ");
                        runs = runs || (n == dl && strneq(d, distro, n));
                        d += n;
                }
                if (runs || cloudconfig_module_unverified(unverified, g->module))
                        return false;
                *ret_module = g->module;
                *ret_distros = g->distros;
                return true;
        }
        return false;
}

int cloudconfig_distro_why(const char *key, const json_t *unverified, char **ret) {
        _cleanup_free_ char *id = system_os_release("ID"), *path = NULL;
        const char *distro = cloudconfig_distro_name(id), *module, *distros;

        *ret = NULL;
        if (!cloudconfig_distro_skips(key, distro, unverified, &module, &distros))
                return 0;
        if (root_path(&path, "/etc/os-release") < 0)
                return -ENOMEM;
        /* validate answers for the machine it runs on, which may be a build
         * machine and not the instance: say whose os-release it read. */
        *ret = strdup_printf("cloud-init 22.4 does not run its module %s on %s either, only on %s; %s is %s "
                             "distribution (ID=%s in %s)",
                             module, distro, distros, distro,
                             streq(root_get(), "/") ? "this machine's, not necessarily the instance's," : "--root's",
                             id, path);
        return *ret ? 0 : -ENOMEM;
}
