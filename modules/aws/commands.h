/* SPDX-License-Identifier: MIT */
#pragma once

#include "context.h"

/* `kiln debug s3 get|put|delete|list ...`: S3 calls as fleet mode makes
 * them, by hand (argv[0] is "s3"). Returns an exit code. */
int aws_debug_s3(struct kiln_context *ctx, int argc, char **argv);

/* The lines of `kiln debug --help` about s3. */
extern const char aws_debug_s3_help[];
