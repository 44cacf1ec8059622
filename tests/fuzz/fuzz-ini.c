/* SPDX-License-Identifier: MIT */
/* libFuzzer target: puppet.conf as kiln reads it the way cloud-init's
 * ConfigParser does (system_ini_parse, size-capped), then an option set
 * and the file written back. What kiln writes must read back to the same
 * file: parse(render(x)) renders to render(x). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "system/system.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *ini = NULL, *again = NULL;
        char *err = NULL, *out = NULL, *out2 = NULL;
        int r = system_ini_parse((const char *) data, size, &ini, &err);

        if (r < 0) {
                if (r != -ENOMEM && !err)
                        abort(); /* a refusal always says why */
                free(err);
                return 0;
        }
        if (system_ini_set(ini, "agent", "Server", "puppet.example.org") < 0)
                abort();
        out = system_ini_render(ini);
        if (!out || system_ini_parse(out, strlen(out), &again, &err) < 0)
                abort();
        out2 = system_ini_render(again);
        if (!out2 || strcmp(out, out2) != 0)
                abort();
        /* a value with a newline is written on continuation lines */
        if (system_ini_set(ini, "DEFAULT", "x", "multi\nline") < 0)
                abort();
        free(out2);
        out2 = system_ini_render(ini);
        if (!out2 || !strstr(out2, "x = multi\n\tline\n"))
                abort();
        free(out);
        free(out2);
        free(err);
        json_decref(ini);
        json_decref(again);
        return 0;
}
