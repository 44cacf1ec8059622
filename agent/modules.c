/* SPDX-License-Identifier: MIT */
#include "module.h"

/* Every capability kiln has, in boot order. Adding one is adding a folder
 * under modules/ and a line here. */

extern const struct kiln_module imds_module;
extern const struct kiln_module userdata_module;
extern const struct kiln_module instance_module;
extern const struct kiln_module system_module;
extern const struct kiln_module scripts_module;
extern const struct kiln_module nginx_module;
extern const struct kiln_module acme_module;
extern const struct kiln_module cloudwatch_module;
extern const struct kiln_module logs_module;
extern const struct kiln_module phone_home_module;
extern const struct kiln_module power_module;
extern const struct kiln_module ec2_metadata_module;
extern const struct kiln_module lifecycle_module;

const struct kiln_module *const kiln_modules[] = {
        &imds_module,  &userdata_module,     &instance_module,   &system_module, &scripts_module,
        &nginx_module, &acme_module,         &cloudwatch_module, &logs_module,   &phone_home_module,
        &power_module, &ec2_metadata_module, &lifecycle_module,  NULL,
};
