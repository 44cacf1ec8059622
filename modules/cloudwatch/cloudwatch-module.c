/* SPDX-License-Identifier: MIT */
#include "module.h"

/* Placeholder descriptor: the capability lands with its issue. */

const struct kiln_module cloudwatch_module = {
        .name = "cloudwatch",
        .stage = STAGE_APPLY,
};
