/* SPDX-License-Identifier: MIT */
#include "module.h"

/* Placeholder descriptor: the capability lands with its issue. */

const struct kiln_module nginx_module = {
        .name = "nginx",
        .stage = STAGE_APPLY,
};
