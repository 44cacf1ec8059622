/* SPDX-License-Identifier: MIT */
#pragma once

#include "context.h"

/* `kiln daemon`: boot, READY=1, then the event loop with the modules'
 * timers until SIGTERM; SIGHUP re-reads the config. */
int daemon_run(struct kiln_context *ctx);
