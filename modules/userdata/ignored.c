/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "macro.h"
#include "userdata/userdata.h"

/* cloud-config keys that change nothing on an EC2 instance under cloud-init
 * 22.4 either: settings of cloud-init itself (its datasources, cache, logs,
 * event reporting) and of what EC2 does not have. kiln accepts them, does
 * nothing, and `kiln validate` lists them once; they never make a boot
 * degraded. A key that changes the instance does not belong here, even when
 * kiln does not do it yet (that one is reported as unsupported). */

struct ignored_key {
        const char *key;
        const char *why;
};

static const struct ignored_key ignored_keys[] = {
        /* The datasource is found (and configured) from cloud-init's own
         * config before any user-data exists; kiln reads IMDS itself. */
        {"datasource", "cloud-init's datasource settings, read before user-data; kiln reads IMDS itself"},
        {"datasource_list", "cloud-init's datasource search list, read before user-data; kiln reads IMDS itself"},
        {"vendor_data", "EC2 gives no vendor-data"},
        {"reporting", "cloud-init's own event reporting"},
        {"manual_cache_clean", "cloud-init's own cache of instance data (kiln tracks the instance id)"},
        {"def_log_file", "cloud-init's own log file"},
        {"log_cfgs", "cloud-init's own logging"},
        {"syslog_fix_perms", "ownership of cloud-init's own log file"},
        {"migrate", "renames cloud-init's own semaphore files (cc_migrator)"},
        /* Only a datasource with publish_host_keys (GCE) uses it. */
        {"ssh_publish_hostkeys", "host keys are published only to datasources that take them, not EC2's"},
        /* cloud-init takes the network configuration from the datasource or
         * its own config, never from user-data. */
        {"network", "cloud-init never reads network configuration from user-data"},
        {"updates", "when cloud-init re-renders its network configuration; kiln leaves the network to the image"},
        /* cloud-init's old cloud-config.txt example puts it at the top level,
         * where 22.4 never reads it (not a v2 apt key either). */
        {"debconf_selections",
         "cloud-init 22.4 reads only apt.debconf_selections; at the top level it does nothing there either"},
};

const char *cloudconfig_ignored_why(const char *path) {
        size_t n = strcspn(path, ".[");

        for (size_t i = 0; i < ELEMENTSOF(ignored_keys); i++)
                if (strlen(ignored_keys[i].key) == n && strneq(path, ignored_keys[i].key, n))
                        return ignored_keys[i].why;
        return NULL;
}
