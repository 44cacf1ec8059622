/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "config.h"
#include "log.h"
#include "module.h"
#include "pkg.h"
#include "system/system.h"

/* disable_ec2_metadata as cloud-init 22.4's cc_disable_ec2_metadata: at
 * every boot, the route to the instance metadata service is rejected with
 * `ip route add prohibit 169.254.169.254`, or, without ip but with
 * ifconfig, `route add -host 169.254.169.254 reject`. cloud-init does it in
 * its config stage; kiln needs the service during its own boot (user-data,
 * credentials), so it does it last, when the boot is done. From then on
 * nothing on the instance reaches the service: kiln's CloudWatch metrics
 * and whatever needs the instance role's credentials stop working. With
 * metrics configured that is kiln breaking its own job: kiln validate
 * warns and the boot is recorded as degraded. Without, it is what the
 * user asked for, as under cloud-init: the boot log says it, nothing more.
 * The route lasts until the next reboot. */

#define IMDS_ADDRESS "169.254.169.254"
#define WARNING                                                                                            \
        "the instance metadata service (" IMDS_ADDRESS ") is blocked at the end of every boot: after it, " \
        "kiln's CloudWatch metrics, credential renewals and anything else using the instance role's "      \
        "credentials stop working"

static bool metrics_configured(const json_t *config) {
        return config_get(config, "metrics") != NULL;
}

static int ec2_metadata_boot(struct kiln_context *ctx) {
        const char *const ip[] = {"ip", "route", "add", "prohibit", IMDS_ADDRESS, NULL};
        const char *const route[] = {"route", "add", "-host", IMDS_ADDRESS, "reject", NULL};
        const char *const *argv;

        if (!system_is_true(config_get(ctx->config, "disable_ec2_metadata")))
                return 0;
        /* With metrics, the warning is validate's, in the boot's config
         * messages (so the boot is degraded). */
        if (!metrics_configured(ctx->config))
                log_warning("disable_ec2_metadata: %s.", WARNING);
        log_info("disable_ec2_metadata: rejecting the route to " IMDS_ADDRESS ", the boot being done.");
        if (pkg_have_program("ip", NULL))
                argv = ip;
        else if (pkg_have_program("ifconfig", NULL))
                argv = route;
        else
                return kiln_degrade(ctx, "disable_ec2_metadata: neither ip nor route found, the route to " IMDS_ADDRESS
                                         " is left open");
        return system_run_recorded(ctx, "disable_ec2_metadata", argv, NULL);
}

static void ec2_metadata_validate(const json_t *config, struct config_report *rep) {
        if (system_is_true(config_get(config, "disable_ec2_metadata")) && metrics_configured(config))
                config_report_warning(rep, "disable_ec2_metadata", "disable_ec2_metadata: %s", WARNING);
}

/* Last in the boot order (agent/modules.c). */
const struct kiln_module ec2_metadata_module = {
        .name = "ec2_metadata",
        .stage = STAGE_APPLY,
        .boot = ec2_metadata_boot,
        .validate = ec2_metadata_validate,
};
