/* SPDX-License-Identifier: MIT */
#include "module.h"

/* Placeholder descriptor: the capability lands with its issue. */

const struct kiln_module acme_module = {
        .name = "acme",
        .stage = STAGE_APPLY,
};
