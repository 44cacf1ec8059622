/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "context.h"

int cli_main(int argc, char **argv);

/* For commands: true when argv holds -h or --help; prints usage then. */
bool cli_wants_help(int argc, char **argv, const char *name, const char *usage, const char *text);
