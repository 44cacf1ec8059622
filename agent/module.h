/* SPDX-License-Identifier: MIT */
#pragma once

#include "config.h"
#include "context.h"

/* A capability is a module: one folder under modules/ and one const
 * descriptor, listed in agent/modules.c. The core runs each module's boot
 * step in its stage, in list order; in the daemon it calls start() once the
 * boot is done (to register timers), reload() on SIGHUP, and drain() when
 * the instance is about to be terminated (modules/lifecycle). */

enum kiln_stage {
        STAGE_IDENTIFY,
        STAGE_FETCH,
        STAGE_CONFIGURE,
        STAGE_APPLY,
        _STAGE_MAX,
};

/* A boot step returns 0 when all went well, KILN_DEGRADED when it did what
 * it could and recorded what it could not, or a negative errno when it
 * failed; in both latter cases it has recorded why with kiln_fail(). */
#define KILN_DEGRADED 1

struct kiln_command {
        const char *name; /* "metadata" */
        const char *usage; /* "[PATH] [--json]" */
        const char *summary; /* one line for `kiln --help` */
        int (*run)(struct kiln_context *ctx, int argc, char **argv);
};

struct kiln_module {
        const char *name;
        enum kiln_stage stage;
        int (*boot)(struct kiln_context *ctx);
        int (*start)(struct kiln_context *ctx);
        int (*reload)(struct kiln_context *ctx);
        void (*done)(struct kiln_context *ctx);
        /* The instance is going away (an Auto Scaling termination, a spot
         * interruption): stop taking work and send what is spooled, before
         * deadline_ms (now_ms()'s clock). Called in list order, daemon only. */
        int (*drain)(struct kiln_context *ctx, long deadline_ms);
        const struct config_key *config_keys; /* terminated by {NULL} */
        const struct kiln_command *commands; /* terminated by {NULL} */
        /* Checks beyond the schema's types (value ranges, one key needing
         * another), on the merged config, at boot and in `kiln validate`.
         * Values of the wrong type were already reported: skip them. */
        void (*validate)(const json_t *config, struct config_report *report);
};

/* NULL-terminated, in boot order. */
extern const struct kiln_module *const kiln_modules[];

const char *stage_name(enum kiln_stage s);
